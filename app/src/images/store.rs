//! Where picture files live: any `object_store` backend behind one small type.
//!
//! - By default a directory, `images/` in the data directory (`COUPAN_DATA_DIR`, `.data`
//!   like the scripts): nothing to configure on one machine.
//! - `COUPAN_IMAGE_STORE=s3://bucket/prefix`: any S3-compatible store, with the standard
//!   `AWS_*` variables (credentials, region, `AWS_ENDPOINT` for MinIO and the like). Needed
//!   as soon as several replicas serve: a directory is per pod.
//! - `COUPAN_IMAGE_STORE=/some/dir` (or `file:///some/dir`): another directory.
//!
//! Opening a store touches neither the disk nor the network (a missing directory is made
//! on the first upload); a store that cannot work fails the first upload, logged.

use std::path::{Path as FsPath, PathBuf};
use std::sync::Arc;

use object_store::path::Path;
use object_store::prefix::PrefixStore;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

use crate::error::AppError;

/// The `AWS_*` variables passed to the S3 client (besides those it reads from the
/// process environment itself); the server lists them with its other settings.
pub const AWS_VARS: &[&str] = &[
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ENDPOINT",
    "AWS_ENDPOINT_URL",
    "AWS_ALLOW_HTTP",
    "AWS_VIRTUAL_HOSTED_STYLE_REQUEST",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_ROLE_ARN",
    "AWS_ROLE_SESSION_NAME",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
];

/// The picture files.
#[derive(Clone)]
pub struct ImageStore {
    inner: Arc<dyn ObjectStore>,
    /// Where, for the start-up log line (no secrets).
    describe: String,
}

impl std::fmt::Debug for ImageStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe)
    }
}

impl ImageStore {
    /// The store named by `COUPAN_IMAGE_STORE` (`setting`), or `data_dir/images` without
    /// one. `aws` are `AWS_*` settings (name, value) for an `s3://` store.
    pub fn from_setting(
        setting: Option<&str>,
        data_dir: &FsPath,
        aws: &[(String, String)],
    ) -> Result<ImageStore, String> {
        let Some(setting) = setting.map(str::trim).filter(|s| !s.is_empty()) else {
            return ImageStore::directory(&data_dir.join("images"));
        };
        if let Some(rest) = setting.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            return ImageStore::s3(bucket, prefix, aws);
        }
        if let Some(path) = setting.strip_prefix("file://") {
            return ImageStore::directory(FsPath::new(path));
        }
        if setting.contains("://") {
            return Err(format!(
                "{setting:?} is neither a directory nor s3://bucket/prefix"
            ));
        }
        ImageStore::directory(FsPath::new(setting))
    }

    /// Files under `dir` (made absolute against the working directory now, created on the
    /// first upload).
    pub fn directory(dir: &FsPath) -> Result<ImageStore, String> {
        let dir: PathBuf = std::path::absolute(dir)
            .map_err(|e| format!("{} is not a usable path: {e}", dir.display()))?;
        let prefix = Path::from_absolute_path(&dir)
            .map_err(|e| format!("{} is not a usable path: {e}", dir.display()))?;
        Ok(ImageStore {
            inner: Arc::new(PrefixStore::new(
                object_store::local::LocalFileSystem::new(),
                prefix,
            )),
            describe: format!("directory {}", dir.display()),
        })
    }

    /// Objects in an S3 bucket, under `prefix`.
    pub fn s3(bucket: &str, prefix: &str, aws: &[(String, String)]) -> Result<ImageStore, String> {
        use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
        if bucket.is_empty() {
            return Err("s3:// needs a bucket name (s3://bucket/prefix)".into());
        }
        let mut builder = AmazonS3Builder::from_env();
        for (name, value) in aws {
            let key: AmazonS3ConfigKey = name
                .to_ascii_lowercase()
                .parse()
                .map_err(|_| format!("{name} is not an S3 setting"))?;
            builder = builder.with_config(key, value);
        }
        let s3 = builder
            .with_bucket_name(bucket)
            .build()
            .map_err(|e| format!("the S3 store cannot be set up: {e}"))?;
        let prefix = prefix.trim_matches('/');
        let describe = format!("s3://{bucket}/{prefix}");
        let inner: Arc<dyn ObjectStore> = if prefix.is_empty() {
            Arc::new(s3)
        } else {
            let prefix = Path::parse(prefix)
                .map_err(|e| format!("{prefix:?} is not a usable key prefix: {e}"))?;
            Arc::new(PrefixStore::new(s3, prefix))
        };
        Ok(ImageStore { inner, describe })
    }

    /// Where the files go (for the start-up log).
    pub fn describe(&self) -> &str {
        &self.describe
    }

    pub async fn put(&self, key: &str, bytes: Vec<u8>) -> Result<(), AppError> {
        self.inner
            .put(&Path::from(key), PutPayload::from(bytes))
            .await
            .map(|_| ())
            .map_err(|e| {
                tracing::error!(error = %e, key, "could not store a picture");
                AppError::Internal
            })
    }

    /// The file, or `None` when there is none under `key`.
    pub async fn get(&self, key: &str) -> Result<Option<axum::body::Bytes>, AppError> {
        let found = match self.inner.get(&Path::from(key)).await {
            Ok(found) => found.bytes().await,
            Err(e) => Err(e),
        };
        match found {
            Ok(bytes) => Ok(Some(bytes)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => {
                tracing::error!(error = %e, key, "could not read a picture");
                Err(AppError::Internal)
            }
        }
    }

    /// Removes the file; one already gone is fine.
    pub async fn delete(&self, key: &str) -> Result<(), AppError> {
        match self.inner.delete(&Path::from(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => {
                tracing::error!(error = %e, key, "could not delete a picture");
                Err(AppError::Internal)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_name_a_directory_or_a_bucket() {
        let data = FsPath::new("/srv/coupan-data");
        let default = ImageStore::from_setting(None, data, &[]).unwrap();
        assert_eq!(default.describe(), "directory /srv/coupan-data/images");
        let blank = ImageStore::from_setting(Some("  "), data, &[]).unwrap();
        assert_eq!(blank.describe(), "directory /srv/coupan-data/images");
        let dir = ImageStore::from_setting(Some("/var/lib/pictures"), data, &[]).unwrap();
        assert_eq!(dir.describe(), "directory /var/lib/pictures");
        let file = ImageStore::from_setting(Some("file:///var/lib/pics"), data, &[]).unwrap();
        assert_eq!(file.describe(), "directory /var/lib/pics");

        let aws = [
            ("AWS_REGION".to_string(), "ap-northeast-2".to_string()),
            ("AWS_ENDPOINT".to_string(), "http://minio:9000".to_string()),
            ("AWS_ALLOW_HTTP".to_string(), "true".to_string()),
        ];
        let s3 = ImageStore::from_setting(Some("s3://coupan-images/coupons/"), data, &aws);
        assert_eq!(s3.unwrap().describe(), "s3://coupan-images/coupons");

        for bad in ["gs://bucket/x", "s3://", "s3:///prefix"] {
            assert!(
                ImageStore::from_setting(Some(bad), data, &[]).is_err(),
                "{bad}"
            );
        }
        let unknown = [("AWS_FAVOURITE_COLOUR".to_string(), "blue".to_string())];
        assert!(ImageStore::from_setting(Some("s3://b"), data, &unknown).is_err());
    }

    #[tokio::test]
    async fn a_directory_store_keeps_and_forgets_files() {
        let dir = std::env::temp_dir().join(format!("coupan-store-{}", uuid::Uuid::new_v4()));
        let store = ImageStore::directory(&dir).unwrap();
        assert!(!dir.exists(), "opening creates nothing");
        store.put("a.jpg", b"jpeg bytes".to_vec()).await.unwrap();
        assert_eq!(std::fs::read(dir.join("a.jpg")).unwrap(), b"jpeg bytes");
        assert_eq!(
            store.get("a.jpg").await.unwrap().as_deref(),
            Some(&b"jpeg bytes"[..])
        );
        assert_eq!(store.get("b.jpg").await.unwrap(), None);
        store.delete("a.jpg").await.unwrap();
        assert!(!dir.join("a.jpg").exists());
        store.delete("a.jpg").await.unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
