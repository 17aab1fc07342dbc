//! A PostgreSQL database per test: from `TEST_DATABASE_URL`, else from a
//! throwaway cluster of the local `initdb`/`pg_ctl`; dropped after the test.

use std::sync::OnceLock;

use sea_orm::{ConnectionTrait, Database, DatabaseConnection};

use super::in_ci;

/// A database created for one test and dropped after it.
pub struct PgDatabase {
    /// Its URL.
    pub url: String,
    name: String,
    server: String,
}

/// The server URL (without database), found once per test process.
fn pg_server() -> Option<&'static str> {
    static SERVER: OnceLock<Option<String>> = OnceLock::new();
    SERVER
        .get_or_init(|| {
            if let Ok(url) = std::env::var("TEST_DATABASE_URL") {
                return Some(url);
            }
            match throwaway_cluster() {
                Ok(url) => Some(url),
                Err(why) => {
                    eprintln!("PostgreSQL tests skipped: {why}; set TEST_DATABASE_URL to run them");
                    None
                }
            }
        })
        .as_deref()
}

/// Starts a private PostgreSQL with the local initdb/pg_ctl; stopped at exit
/// only by the OS cleaning its temp dir (it is small and idles).
fn throwaway_cluster() -> Result<String, String> {
    let which = |tool: &str| {
        std::process::Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
    };
    let (Some(initdb), Some(pg_ctl)) = (which("initdb"), which("pg_ctl")) else {
        return Err("TEST_DATABASE_URL is unset and initdb/pg_ctl are not on PATH".into());
    };
    let uid = std::process::Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    if uid == "0" {
        return Err("initdb refuses to run as root".into());
    }
    let dir = std::env::temp_dir().join(format!("um-pg-{}", std::process::id()));
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
        listener.local_addr().map_err(|e| e.to_string())?.port()
    };
    let ok = |cmd: &mut std::process::Command| {
        cmd.output().map_err(|e| e.to_string()).and_then(|o| {
            if o.status.success() {
                Ok(())
            } else {
                Err(String::from_utf8_lossy(&o.stderr).into_owned())
            }
        })
    };
    ok(std::process::Command::new(&initdb)
        .args(["-D"])
        .arg(&dir)
        .args(["-U", "postgres", "--auth=trust", "-E", "UTF8"]))?;
    ok(std::process::Command::new(&pg_ctl)
        .arg("-D")
        .arg(&dir)
        .arg("-o")
        .arg(format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1",
            dir.display()
        ))
        .args(["-w", "start", "-l"])
        .arg(dir.join("log")))?;
    Ok(format!("postgres://postgres@127.0.0.1:{port}/postgres"))
}

impl PgDatabase {
    /// A new, empty database (`None` when PostgreSQL is unavailable outside CI).
    pub async fn create_empty() -> Option<PgDatabase> {
        let Some(server) = pg_server() else {
            assert!(
                !in_ci(),
                "CI=true but PostgreSQL is unavailable: set TEST_DATABASE_URL"
            );
            return None;
        };
        let name = format!("um_test_{}", uuid::Uuid::new_v4().simple());
        let admin = connect_admin(server).await;
        admin
            .execute_unprepared(&format!("CREATE DATABASE {name}"))
            .await
            .expect("create test database");
        admin.close().await.expect("close");
        let url = with_database(server, &name);
        Some(PgDatabase {
            url,
            name,
            server: server.to_owned(),
        })
    }
}

async fn connect_admin(server: &str) -> DatabaseConnection {
    let mut options = sea_orm::ConnectOptions::new(server.to_owned());
    options.max_connections(1).sqlx_logging(false);
    Database::connect(options)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to TEST_DATABASE_URL PostgreSQL: {e}"))
}

/// `server` with its database path replaced by `name`.
fn with_database(server: &str, name: &str) -> String {
    let mut url = url::Url::parse(server).expect("TEST_DATABASE_URL is a URL");
    url.set_path(&format!("/{name}"));
    url.to_string()
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let server = self.server.clone();
        let name = self.name.clone();
        // The test's runtime is going away; drop the database from a thread of its own.
        let _ = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async move {
                let admin = connect_admin(&server).await;
                let _ = admin
                    .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .await;
                let _ = admin.close().await;
            });
        })
        .join();
    }
}
