//! Object storage for profile pictures: a local directory (`file://…`, the
//! embedded default) or an S3-compatible bucket (`s3://bucket`: MinIO,
//! Garage, Ceph, AWS), through the `object_store` crate.
//!
//! Content types are not stored as object attributes (the local backend
//! has none); keys end in the format's extension and serving derives the
//! type from it.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::body::Bytes;
use futures_util::StreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{
    BackoffConfig, ClientOptions, GetResult, ObjectStore, ObjectStoreExt, PutPayload, RetryConfig,
};
use secrecy::ExposeSecret;

use crate::config::Config;

/// Why a storage call failed.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// No such object.
    #[error("no such object")]
    NotFound,
    /// The store could not be reached or refused the request.
    #[error("object storage unavailable: {0}")]
    Unavailable(String),
}

impl From<object_store::Error> for StorageError {
    fn from(err: object_store::Error) -> Self {
        match err {
            object_store::Error::NotFound { .. } => StorageError::NotFound,
            other => StorageError::Unavailable(other.to_string()),
        }
    }
}

impl From<StorageError> for crate::error::AppError {
    fn from(err: StorageError) -> Self {
        match err {
            StorageError::NotFound => Self::NotFound("no such picture".into()),
            StorageError::Unavailable(cause) => {
                tracing::warn!(error = %cause, "object storage unavailable");
                Self::Unavailable("object storage is unavailable; try again shortly".into())
            }
        }
    }
}

/// A bucket or directory of objects.
#[derive(Clone)]
pub struct Storage {
    store: Arc<dyn ObjectStore>,
    description: String,
}

impl std::fmt::Debug for Storage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.description)
    }
}

/// A failed request gives up quickly: a request waiting on storage should
/// answer 503 in seconds, not hang on retries.
fn retry() -> RetryConfig {
    RetryConfig {
        backoff: BackoffConfig {
            init_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(1),
            base: 2.0,
        },
        max_retries: 2,
        retry_timeout: Duration::from_secs(5),
    }
}

/// Names the first S3 variable missing for `STORAGE_URL=s3://…`; without
/// them the client would look for cloud instance credentials and fail with
/// a message about a metadata address.
fn check_s3_settings(config: &Config) -> anyhow::Result<()> {
    let missing = [
        (
            "S3_ENDPOINT",
            config.s3_endpoint.as_deref().is_none_or(str::is_empty),
        ),
        (
            "S3_ACCESS_KEY_ID",
            config.s3_access_key_id.as_deref().is_none_or(str::is_empty),
        ),
        (
            "S3_SECRET_ACCESS_KEY",
            config
                .s3_secret_access_key
                .as_ref()
                .is_none_or(|s| s.expose_secret().is_empty()),
        ),
    ];
    if let Some((variable, _)) = missing.iter().find(|(_, missing)| *missing) {
        anyhow::bail!(
            "{variable}: must be set when STORAGE_URL is {} (S3_ENDPOINT, S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY are all needed)",
            config.storage_url
        );
    }
    Ok(())
}

impl Storage {
    /// The store named by `STORAGE_URL` (and `S3_*`).
    pub fn from_config(config: &Config) -> anyhow::Result<Self> {
        let url = config.storage_url.as_str();
        if let Some(dir) = url.strip_prefix("file://") {
            let dir = std::path::Path::new(dir);
            std::fs::create_dir_all(dir)
                .with_context(|| format!("STORAGE_URL: cannot create {}", dir.display()))?;
            let store = LocalFileSystem::new_with_prefix(dir)
                .with_context(|| format!("STORAGE_URL: cannot use {}", dir.display()))?
                .with_automatic_cleanup(true);
            return Ok(Self {
                store: Arc::new(store),
                description: format!("local directory {}", dir.display()),
            });
        }
        if let Some(bucket) = url.strip_prefix("s3://") {
            let bucket = bucket.trim_end_matches('/');
            anyhow::ensure!(!bucket.is_empty(), "STORAGE_URL: s3:// needs a bucket name");
            check_s3_settings(config)?;
            let mut builder = AmazonS3Builder::new()
                .with_bucket_name(bucket)
                .with_region(&config.s3_region)
                .with_virtual_hosted_style_request(false)
                .with_retry(retry())
                .with_client_options(
                    ClientOptions::new()
                        .with_timeout(Duration::from_secs(10))
                        .with_connect_timeout(Duration::from_secs(3)),
                );
            if let Some(endpoint) = &config.s3_endpoint {
                builder = builder
                    .with_endpoint(endpoint)
                    .with_allow_http(endpoint.starts_with("http://"));
            }
            if let Some(key) = &config.s3_access_key_id {
                builder = builder.with_access_key_id(key);
            }
            if let Some(secret) = &config.s3_secret_access_key {
                builder = builder.with_secret_access_key(secret.expose_secret());
            }
            let store = builder
                .build()
                .context("STORAGE_URL/S3_*: invalid S3 settings")?;
            return Ok(Self {
                store: Arc::new(store),
                description: format!("S3 bucket {bucket}"),
            });
        }
        anyhow::bail!("STORAGE_URL: must start with file:// or s3://")
    }

    /// An in-memory store (unit tests).
    pub fn in_memory() -> Self {
        Self {
            store: Arc::new(object_store::memory::InMemory::new()),
            description: "memory".into(),
        }
    }

    /// Where objects go, for the start-up banner.
    pub fn describe(&self) -> &str {
        &self.description
    }

    /// Checks that the bucket (or directory) exists and answers.
    pub async fn check(&self) -> Result<(), StorageError> {
        self.store
            .list_with_delimiter(Some(&Path::from("avatars")))
            .await
            .map(|_| ())
            .map_err(|e| StorageError::Unavailable(e.to_string()))
    }

    /// Stores `bytes` under `key`, replacing any object there.
    pub async fn put(&self, key: &str, bytes: Bytes) -> Result<(), StorageError> {
        self.store
            .put(&Path::from(key), PutPayload::from_bytes(bytes))
            .await?;
        Ok(())
    }

    /// Opens the object at `key` for streaming.
    pub async fn get(&self, key: &str) -> Result<GetResult, StorageError> {
        Ok(self.store.get(&Path::from(key)).await?)
    }

    /// Deletes the object at `key`; a missing object is not an error.
    pub async fn delete(&self, key: &str) -> Result<(), StorageError> {
        match self.store.delete(&Path::from(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// The keys of every object under `prefix` (whole path segments:
    /// `avatars/a` holds `avatars/a/x.png`, not `avatars/ab/x.png`).
    pub async fn keys_under(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        let mut listing = self.store.list(Some(&Path::from(prefix)));
        let mut keys = Vec::new();
        while let Some(meta) = listing.next().await {
            match meta {
                Ok(meta) => keys.push(meta.location.to_string()),
                Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(keys)
    }

    /// Whether an object exists at `key`.
    pub async fn exists(&self, key: &str) -> Result<bool, StorageError> {
        match self.store.head(&Path::from(key)).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn put_get_delete_round_trip() {
        let storage = Storage::in_memory();
        storage
            .put("avatars/a/x.png", Bytes::from_static(b"img"))
            .await
            .expect("put");
        assert!(storage.exists("avatars/a/x.png").await.expect("head"));
        let got = storage
            .get("avatars/a/x.png")
            .await
            .expect("get")
            .bytes()
            .await
            .expect("bytes");
        assert_eq!(&got[..], b"img");
        storage.delete("avatars/a/x.png").await.expect("delete");
        storage
            .delete("avatars/a/x.png")
            .await
            .expect("deleting twice is fine");
        assert!(matches!(
            storage.get("avatars/a/x.png").await,
            Err(StorageError::NotFound)
        ));
    }

    #[tokio::test]
    async fn keys_under_a_prefix_are_its_whole_segments() {
        let storage = Storage::in_memory();
        for key in ["avatars/a/1.png", "avatars/a/2.jpg", "avatars/ab/3.png"] {
            storage
                .put(key, Bytes::from_static(b"x"))
                .await
                .expect("put");
        }
        let mut keys = storage.keys_under("avatars/a").await.expect("list");
        keys.sort();
        assert_eq!(keys, ["avatars/a/1.png", "avatars/a/2.jpg"]);
        assert!(
            storage
                .keys_under("avatars/z")
                .await
                .expect("list")
                .is_empty()
        );
    }
}
