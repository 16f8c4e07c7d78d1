//! Iceberg's file IO over sluice's own object store, so that the Iceberg metadata goes
//! where the Parquet files are (a local directory or a bucket) through the same client,
//! credentials, retries and `/metrics` request counts.
//!
//! Iceberg names files by absolute URL (`file:///…/objects/iceberg/…`,
//! `s3://bucket/node/iceberg/…`); the store's paths are those URLs without the store's
//! base URL ([`sluice_storage::Storage::object_store_url`]).

use std::ops::Range;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt as _;
use futures::stream::BoxStream;
use iceberg::io::{
    FileMetadata, FileRead, FileWrite, InputFile, OutputFile, Storage, StorageConfig,
    StorageFactory,
};
use iceberg::{Error, ErrorKind, Result};
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt as _, PutPayload};
use serde::{Deserialize, Serialize};

/// An Iceberg [`Storage`] (and its own [`StorageFactory`]) over an object store whose
/// paths are URLs under `base`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ObjectStoreIo {
    /// The store's base URL, ending in `/`.
    base: String,
    /// Not carried across processes: a deserialized copy has no store and fails every
    /// operation (sluice never serializes it; the trait requires that it could).
    #[serde(skip)]
    store: Option<Arc<dyn ObjectStore>>,
}

impl ObjectStoreIo {
    pub(crate) fn new(store: Arc<dyn ObjectStore>, base: String) -> ObjectStoreIo {
        ObjectStoreIo {
            base,
            store: Some(store),
        }
    }

    fn store(&self) -> Result<&Arc<dyn ObjectStore>> {
        self.store.as_ref().ok_or_else(|| {
            Error::new(
                ErrorKind::Unexpected,
                "sluice's object store IO was deserialized without its store",
            )
        })
    }

    /// The store path of `url`.
    fn path(&self, url: &str) -> Result<ObjectPath> {
        let relative = url.strip_prefix(&self.base).ok_or_else(|| {
            Error::new(
                ErrorKind::DataInvalid,
                format!("{url} is not under the object store {}", self.base),
            )
        })?;
        ObjectPath::parse(relative)
            .map_err(|e| Error::new(ErrorKind::DataInvalid, format!("{url}: {e}")).with_source(e))
    }
}

fn store_error(url: &str, error: object_store::Error) -> Error {
    let kind = match error {
        object_store::Error::NotFound { .. } => ErrorKind::DataInvalid,
        _ => ErrorKind::Unexpected,
    };
    Error::new(kind, format!("object store: {url}")).with_source(error)
}

#[async_trait]
#[typetag::serde(name = "sluice-object-store")]
impl Storage for ObjectStoreIo {
    async fn exists(&self, path: &str) -> Result<bool> {
        match self.store()?.head(&self.path(path)?).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(store_error(path, e)),
        }
    }

    async fn metadata(&self, path: &str) -> Result<FileMetadata> {
        let meta = self
            .store()?
            .head(&self.path(path)?)
            .await
            .map_err(|e| store_error(path, e))?;
        Ok(FileMetadata { size: meta.size })
    }

    async fn read(&self, path: &str) -> Result<Bytes> {
        let got = self
            .store()?
            .get(&self.path(path)?)
            .await
            .map_err(|e| store_error(path, e))?;
        got.bytes().await.map_err(|e| store_error(path, e))
    }

    async fn reader(&self, path: &str) -> Result<Box<dyn FileRead>> {
        Ok(Box::new(ObjectRead {
            store: self.store()?.clone(),
            path: self.path(path)?,
            url: path.to_owned(),
        }))
    }

    async fn write(&self, path: &str, bs: Bytes) -> Result<()> {
        self.store()?
            .put(&self.path(path)?, PutPayload::from(bs))
            .await
            .map_err(|e| store_error(path, e))?;
        Ok(())
    }

    async fn writer(&self, path: &str) -> Result<Box<dyn FileWrite>> {
        Ok(Box::new(ObjectWrite {
            io: self.clone(),
            url: path.to_owned(),
            buffer: Vec::new(),
        }))
    }

    async fn delete(&self, path: &str) -> Result<()> {
        match self.store()?.delete(&self.path(path)?).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(store_error(path, e)),
        }
    }

    async fn delete_prefix(&self, path: &str) -> Result<()> {
        let prefix = self.path(path.trim_end_matches('/'))?;
        let store = self.store()?;
        let mut listed = store.list(Some(&prefix));
        while let Some(meta) = listed.next().await {
            let meta = meta.map_err(|e| store_error(path, e))?;
            match store.delete(&meta.location).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(store_error(path, e)),
            }
        }
        Ok(())
    }

    async fn delete_stream(&self, mut paths: BoxStream<'static, String>) -> Result<()> {
        while let Some(path) = paths.next().await {
            self.delete(&path).await?;
        }
        Ok(())
    }

    fn new_input(&self, path: &str) -> Result<InputFile> {
        Ok(InputFile::new(Arc::new(self.clone()), path.to_owned()))
    }

    fn new_output(&self, path: &str) -> Result<OutputFile> {
        Ok(OutputFile::new(Arc::new(self.clone()), path.to_owned()))
    }
}

#[typetag::serde(name = "sluice-object-store")]
impl StorageFactory for ObjectStoreIo {
    fn build(&self, _config: &StorageConfig) -> Result<Arc<dyn Storage>> {
        Ok(Arc::new(self.clone()))
    }
}

/// Ranged reads of one object.
struct ObjectRead {
    store: Arc<dyn ObjectStore>,
    path: ObjectPath,
    url: String,
}

#[async_trait]
impl FileRead for ObjectRead {
    async fn read(&self, range: Range<u64>) -> Result<Bytes> {
        self.store
            .get_range(&self.path, range)
            .await
            .map_err(|e| store_error(&self.url, e))
    }
}

/// A file written whole at `close` (Iceberg's metadata files are small: metadata JSON,
/// manifest lists and manifests).
struct ObjectWrite {
    io: ObjectStoreIo,
    url: String,
    buffer: Vec<u8>,
}

#[async_trait]
impl FileWrite for ObjectWrite {
    async fn write(&mut self, bs: Bytes) -> Result<()> {
        self.buffer.extend_from_slice(&bs);
        Ok(())
    }

    async fn close(&mut self) -> Result<()> {
        let bytes = Bytes::from(std::mem::take(&mut self.buffer));
        self.io.write(&self.url, bytes).await
    }
}

#[cfg(test)]
mod tests {
    use object_store::memory::InMemory;

    use super::*;

    #[tokio::test]
    async fn files_are_written_read_and_deleted_by_url() {
        let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
        let io = ObjectStoreIo::new(store.clone(), "s3://bucket/".to_owned());
        let url = "s3://bucket/n1/iceberg/db/t/metadata/v1.json";
        let mut writer = io.writer(url).await.unwrap();
        writer.write(Bytes::from_static(b"hello ")).await.unwrap();
        writer.write(Bytes::from_static(b"world")).await.unwrap();
        writer.close().await.unwrap();
        let key = ObjectPath::from("n1/iceberg/db/t/metadata/v1.json");
        let stored = store.get(&key).await.unwrap().bytes().await.unwrap();
        assert_eq!(stored, "hello world");
        assert!(io.exists(url).await.unwrap());
        assert_eq!(io.metadata(url).await.unwrap().size, 11);
        let reader = io.reader(url).await.unwrap();
        assert_eq!(reader.read(6..11).await.unwrap(), "world");
        io.delete_prefix("s3://bucket/n1/iceberg/db/")
            .await
            .unwrap();
        assert!(!io.exists(url).await.unwrap());
        assert!(io.read("s3://other/x").await.is_err());
    }
}
