//! A real S3-compatible server (`s3s-fs`) on loopback for the picture store,
//! and our own S3 client to check what the service stored.

use std::time::Duration;

use secrecy::SecretString;
use user_management::config::Config;

use super::binary::free_port;
use super::in_ci;

/// A real S3-compatible server (`s3s-fs`) on loopback, with one bucket,
/// started for one test; `stop`/`start` simulate an outage.
pub struct S3Server {
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
    /// The bucket name.
    pub bucket: String,
    port: u16,
    root: tempfile::TempDir,
    child: std::sync::Mutex<Option<std::process::Child>>,
}

/// The S3 test server's credentials.
pub const S3_ACCESS_KEY: &str = "test-access-key";
/// The S3 test server's secret.
pub const S3_SECRET_KEY: &str = "test-secret-key-123";

fn s3s_fs_binary() -> Option<String> {
    if let Ok(path) = std::env::var("S3S_FS_BIN") {
        return Some(path);
    }
    let home = std::env::var("HOME").unwrap_or_default();
    let candidates = [format!("{home}/.cargo/bin/s3s-fs"), "s3s-fs".to_owned()];
    candidates.into_iter().find(|c| {
        std::process::Command::new(c)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    })
}

impl S3Server {
    /// Starts the server; `None` (with a message) when `s3s-fs` is not
    /// installed, except under `CI=true`, where that fails the test.
    pub async fn start() -> Option<S3Server> {
        let Some(_) = s3s_fs_binary() else {
            assert!(
                !in_ci(),
                "CI=true but s3s-fs is not installed: run .ci/services.sh"
            );
            eprintln!(
                "S3 tests skipped: install s3s-fs (`cargo install s3s-fs@0.14.1 --features binary --locked`)"
            );
            return None;
        };
        let root = tempfile::tempdir().expect("s3 root");
        let bucket = "avatars".to_owned();
        std::fs::create_dir(root.path().join(&bucket)).expect("bucket dir");
        let port = free_port();
        let server = S3Server {
            endpoint: format!("http://127.0.0.1:{port}"),
            bucket,
            port,
            root,
            child: std::sync::Mutex::new(None),
        };
        server.resume().await;
        Some(server)
    }

    /// Starts (again) on the same port and data.
    pub async fn resume(&self) {
        let binary = s3s_fs_binary().expect("s3s-fs");
        let child = std::process::Command::new(binary)
            .args(["--host", "127.0.0.1", "--port", &self.port.to_string()])
            .args(["--access-key", S3_ACCESS_KEY, "--secret-key", S3_SECRET_KEY])
            .arg(self.root.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start s3s-fs");
        *self.child.lock().expect("lock") = Some(child);
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while tokio::net::TcpStream::connect(("127.0.0.1", self.port))
            .await
            .is_err()
        {
            assert!(std::time::Instant::now() < deadline, "s3s-fs did not start");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Stops the server (an outage).
    pub fn stop(&self) {
        if let Some(mut child) = self.child.lock().expect("lock").take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Points `config` at this server.
    pub fn configure(&self, config: &mut Config) {
        config.storage_url = format!("s3://{}", self.bucket);
        config.s3_endpoint = Some(self.endpoint.clone());
        config.s3_region = "us-east-1".into();
        config.s3_access_key_id = Some(S3_ACCESS_KEY.into());
        config.s3_secret_access_key = Some(SecretString::from(S3_SECRET_KEY.to_owned()));
    }

    /// An S3 client of our own (not the service) on the bucket.
    pub fn client(&self) -> object_store::aws::AmazonS3 {
        object_store::aws::AmazonS3Builder::new()
            .with_bucket_name(&self.bucket)
            .with_endpoint(&self.endpoint)
            .with_allow_http(true)
            .with_region("us-east-1")
            .with_access_key_id(S3_ACCESS_KEY)
            .with_secret_access_key(S3_SECRET_KEY)
            .with_virtual_hosted_style_request(false)
            .build()
            .expect("s3 client")
    }

    /// Keys of every object in the bucket, via our own S3 client.
    pub async fn keys(&self) -> Vec<String> {
        use futures_util::StreamExt;
        use object_store::ObjectStore;
        let client = self.client();
        let mut keys: Vec<String> = client
            .list(None)
            .map(|meta| meta.expect("list").location.to_string())
            .collect()
            .await;
        keys.sort();
        keys
    }

    /// The bytes of one object, via our own S3 client.
    pub async fn object(&self, key: &str) -> Vec<u8> {
        use object_store::ObjectStoreExt;
        self.client()
            .get(&object_store::path::Path::from(key))
            .await
            .expect("get object")
            .bytes()
            .await
            .expect("bytes")
            .to_vec()
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        self.stop();
    }
}
