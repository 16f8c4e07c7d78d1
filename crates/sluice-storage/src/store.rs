//! The object store Parquet files are kept in: the configured cloud backend, built once
//! at start-up, behind a wrapper that counts and times every request for `/metrics`, and
//! the upload of a staged file.

use std::fmt;
use std::os::unix::fs::FileExt as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use futures::future::BoxFuture;
use futures::stream::{self, BoxStream, StreamExt};
use object_store::aws::AmazonS3Builder;
use object_store::azure::MicrosoftAzureBuilder;
use object_store::gcp::GoogleCloudStorageBuilder;
use object_store::limit::LimitStore;
use object_store::path::Path as ObjectPath;
use object_store::{
    BackoffConfig, ClientOptions, CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload,
    ObjectMeta, ObjectStore, ObjectStoreExt, PutMultipartOptions, PutOptions, PutPayload,
    PutResult, RetryConfig, UploadPart, WriteMultipart,
};

use crate::config::{CloudProvider, CloudStore};
use crate::error::{Error, Result};
use crate::metrics::{Metrics, StoreOperation};

/// Files up to this size are uploaded in one request; larger ones in parts of this size.
const UPLOAD_PART_BYTES: usize = 8 << 20;

/// Parts of one upload in flight at once.
const UPLOAD_CONCURRENCY: usize = 4;

/// Builds the client of a cloud bucket: retries with exponential backoff, per-attempt
/// timeouts, at most `connection_limit` requests at once. Nothing is sent yet.
pub(crate) fn cloud_store(cloud: &CloudStore) -> Result<Arc<dyn ObjectStore>> {
    let retry = RetryConfig {
        backoff: BackoffConfig::default(),
        max_retries: cloud.max_retries,
        retry_timeout: cloud.retry_timeout,
    };
    let client = ClientOptions::new()
        .with_timeout(cloud.request_timeout)
        .with_connect_timeout(cloud.request_timeout.min(Duration::from_secs(5)));
    let store: Arc<dyn ObjectStore> = match &cloud.provider {
        CloudProvider::S3(options) => {
            let mut builder = AmazonS3Builder::from_env()
                .with_client_options(client)
                .with_bucket_name(&cloud.bucket)
                .with_retry(retry)
                .with_allow_http(options.allow_http);
            if let Some(endpoint) = &options.endpoint {
                builder = builder.with_endpoint(endpoint);
            }
            if let Some(region) = &options.region {
                builder = builder.with_region(region);
            }
            if let Some(key_id) = &options.access_key_id {
                builder = builder.with_access_key_id(key_id);
            }
            if let Some(secret) = &options.secret_access_key {
                builder = builder.with_secret_access_key(secret);
            }
            if let Some(token) = &options.session_token {
                builder = builder.with_token(token);
            }
            Arc::new(builder.build()?)
        }
        CloudProvider::Google { service_account } => {
            // `http://` allowed, as object_store's own Google client options do: the URL
            // is Google's https one unless the service account's key names another
            // (`gcs_base_url`, an emulator's on loopback), which would be refused
            // otherwise ("URL scheme is not allowed").
            let mut builder = GoogleCloudStorageBuilder::from_env()
                .with_client_options(client.with_allow_http(true))
                .with_bucket_name(&cloud.bucket)
                .with_retry(retry);
            if let Some(path) = service_account {
                builder = builder.with_service_account_path(path.display().to_string());
            }
            Arc::new(builder.build()?)
        }
        CloudProvider::Azure {
            account,
            access_key,
        } => {
            let mut builder = MicrosoftAzureBuilder::from_env()
                .with_client_options(client)
                .with_container_name(&cloud.bucket)
                .with_retry(retry);
            if let Some(account) = account {
                builder = builder.with_account(account);
            }
            if let Some(key) = access_key {
                builder = builder.with_access_key(key);
            }
            Arc::new(builder.build()?)
        }
    };
    Ok(Arc::new(LimitStore::new(
        store,
        cloud.connection_limit.max(1),
    )))
}

/// Uploads the local file `staging` as the object `location`: in one request when it is
/// small, in parts otherwise, so memory holds a few parts, never the file.
pub(crate) async fn upload_file(
    store: &dyn ObjectStore,
    location: &ObjectPath,
    staging: &Path,
) -> Result<()> {
    let file = std::fs::File::open(staging)
        .map_err(|e| Error::io(format!("opening {}", staging.display()), e))?;
    let len = file
        .metadata()
        .map_err(|e| Error::io(format!("reading {}", staging.display()), e))?
        .len();
    let file = Arc::new(file);
    if len <= UPLOAD_PART_BYTES as u64 {
        let bytes = read_part(&file, staging, 0, len as usize).await?;
        store.put(location, PutPayload::from(bytes)).await?;
        return Ok(());
    }
    let upload = store.put_multipart(location).await?;
    let mut writer = WriteMultipart::new_with_chunk_size(upload, UPLOAD_PART_BYTES);
    let mut offset = 0;
    while offset < len {
        let part = UPLOAD_PART_BYTES.min((len - offset) as usize);
        let read = match writer.wait_for_capacity(UPLOAD_CONCURRENCY).await {
            Ok(()) => read_part(&file, staging, offset, part).await,
            Err(e) => Err(e.into()),
        };
        match read {
            Ok(bytes) => writer.put(bytes.into()),
            Err(e) => {
                let _ = writer.abort().await;
                return Err(e);
            }
        }
        offset += part as u64;
    }
    writer.finish().await?;
    Ok(())
}

/// `len` bytes of `file` (the staged file `path`) from `offset`, read on a blocking thread.
async fn read_part(
    file: &Arc<std::fs::File>,
    path: &Path,
    offset: u64,
    len: usize,
) -> Result<Vec<u8>> {
    let file = file.clone();
    let read = tokio::task::spawn_blocking(move || {
        let mut bytes = vec![0; len];
        file.read_exact_at(&mut bytes, offset).map(|()| bytes)
    })
    .await
    .map_err(|e| Error::Catalog(format!("upload task failed: {e}")))?;
    read.map_err(|e| Error::io(format!("reading {}", path.display()), e))
}

/// The directory new files are written to before their upload to a cloud store.
pub(crate) fn staging_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("staging")
}

/// An object store whose every request is counted and timed in the engine's metrics.
#[derive(Debug)]
pub(crate) struct Instrumented {
    inner: Arc<dyn ObjectStore>,
    metrics: Arc<Metrics>,
}

impl Instrumented {
    pub(crate) fn new(inner: Arc<dyn ObjectStore>, metrics: Arc<Metrics>) -> Instrumented {
        Instrumented { inner, metrics }
    }

    /// Runs one request, recording how long it took and whether it failed.
    async fn timed<T>(
        &self,
        operation: StoreOperation,
        request: impl Future<Output = object_store::Result<T>>,
    ) -> object_store::Result<T> {
        observed(self.metrics.clone(), operation, request).await
    }
}

/// Awaits `request`, then records it in `metrics`.
async fn observed<T>(
    metrics: Arc<Metrics>,
    operation: StoreOperation,
    request: impl Future<Output = object_store::Result<T>>,
) -> object_store::Result<T> {
    let started = Instant::now();
    let result = request.await;
    metrics.observe_store_request(operation, started.elapsed(), result.is_ok());
    result
}

impl fmt::Display for Instrumented {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.fmt(f)
    }
}

#[async_trait]
impl ObjectStore for Instrumented {
    async fn put_opts(
        &self,
        location: &ObjectPath,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        self.timed(
            StoreOperation::Put,
            self.inner.put_opts(location, payload, opts),
        )
        .await
    }

    async fn put_multipart_opts(
        &self,
        location: &ObjectPath,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        let upload = self
            .timed(
                StoreOperation::CreateUpload,
                self.inner.put_multipart_opts(location, opts),
            )
            .await?;
        Ok(Box::new(InstrumentedUpload {
            inner: upload,
            metrics: self.metrics.clone(),
        }))
    }

    async fn get_opts(
        &self,
        location: &ObjectPath,
        options: GetOptions,
    ) -> object_store::Result<GetResult> {
        self.timed(StoreOperation::Get, self.inner.get_opts(location, options))
            .await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<ObjectPath>>,
    ) -> BoxStream<'static, object_store::Result<ObjectPath>> {
        // One request per object, so each is timed on its own.
        let inner = self.inner.clone();
        let metrics = self.metrics.clone();
        locations
            .then(move |location| {
                let inner = inner.clone();
                let metrics = metrics.clone();
                async move {
                    let location = location?;
                    observed(metrics, StoreOperation::Delete, inner.delete(&location)).await?;
                    Ok(location)
                }
            })
            .boxed()
    }

    fn list(
        &self,
        prefix: Option<&ObjectPath>,
    ) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        // A listing counts as one request, timed until its last page.
        let started = Instant::now();
        let failed = Arc::new(AtomicBool::new(false));
        let seen = failed.clone();
        let metrics = self.metrics.clone();
        let done = stream::once(async move {
            let ok = !seen.load(Ordering::Relaxed);
            metrics.observe_store_request(StoreOperation::List, started.elapsed(), ok);
        })
        .filter_map(|()| async { None });
        self.inner
            .list(prefix)
            .inspect(move |item| {
                if item.is_err() {
                    failed.store(true, Ordering::Relaxed);
                }
            })
            .chain(done)
            .boxed()
    }

    async fn list_with_delimiter(
        &self,
        prefix: Option<&ObjectPath>,
    ) -> object_store::Result<ListResult> {
        self.timed(StoreOperation::List, self.inner.list_with_delimiter(prefix))
            .await
    }

    async fn copy_opts(
        &self,
        from: &ObjectPath,
        to: &ObjectPath,
        options: CopyOptions,
    ) -> object_store::Result<()> {
        self.timed(
            StoreOperation::Copy,
            self.inner.copy_opts(from, to, options),
        )
        .await
    }
}

/// A multipart upload whose part, completion and abort requests are counted and timed.
#[derive(Debug)]
struct InstrumentedUpload {
    inner: Box<dyn MultipartUpload>,
    metrics: Arc<Metrics>,
}

#[async_trait]
impl MultipartUpload for InstrumentedUpload {
    fn put_part(&mut self, data: PutPayload) -> UploadPart {
        let part: BoxFuture<'static, object_store::Result<()>> = self.inner.put_part(data);
        Box::pin(observed(
            self.metrics.clone(),
            StoreOperation::UploadPart,
            part,
        ))
    }

    async fn complete(&mut self) -> object_store::Result<PutResult> {
        let metrics = self.metrics.clone();
        observed(
            metrics,
            StoreOperation::CompleteUpload,
            self.inner.complete(),
        )
        .await
    }

    async fn abort(&mut self) -> object_store::Result<()> {
        let metrics = self.metrics.clone();
        observed(metrics, StoreOperation::AbortUpload, self.inner.abort()).await
    }
}

#[cfg(test)]
mod tests {
    use object_store::memory::InMemory;

    use super::*;

    /// A store whose requests are counted, over memory.
    fn counted() -> (Instrumented, Arc<Metrics>) {
        let metrics = Arc::new(Metrics::default());
        (
            Instrumented::new(Arc::new(InMemory::new()), metrics.clone()),
            metrics,
        )
    }

    fn requests(metrics: &Metrics, operation: &str) -> (u64, u64) {
        let snapshot = metrics.snapshot();
        let r = snapshot
            .object_store_requests
            .iter()
            .find(|r| r.operation == operation)
            .unwrap();
        (r.seconds.count, r.errors)
    }

    async fn upload_and_read_back(len: usize) -> (Vec<u8>, Vec<u8>, Arc<Metrics>) {
        let dir = tempfile::tempdir().unwrap();
        let staging = dir.path().join("1.parquet");
        // Bytes that differ from part to part, so a part out of place shows.
        let data: Vec<u8> = (0..len)
            .map(|i| (i % 251) as u8 ^ (i >> 20) as u8)
            .collect();
        std::fs::write(&staging, &data).unwrap();
        let (store, metrics) = counted();
        let location = ObjectPath::from("dbs/1/2/3.parquet");
        upload_file(&store, &location, &staging).await.unwrap();
        let back = store.get(&location).await.unwrap().bytes().await.unwrap();
        (data, back.to_vec(), metrics)
    }

    #[tokio::test]
    async fn a_small_file_is_uploaded_in_one_put() {
        let (data, back, metrics) = upload_and_read_back(1000).await;
        assert_eq!(back, data);
        assert_eq!(requests(&metrics, "put"), (1, 0));
        assert_eq!(requests(&metrics, "create_upload"), (0, 0));
        assert_eq!(requests(&metrics, "get"), (1, 0));
    }

    #[tokio::test]
    async fn a_large_file_is_uploaded_in_parts_and_reads_back_whole() {
        let len = 2 * UPLOAD_PART_BYTES + 12_345;
        let (data, back, metrics) = upload_and_read_back(len).await;
        assert_eq!(back.len(), data.len());
        assert!(back == data, "the object differs from the file");
        assert_eq!(requests(&metrics, "put"), (0, 0));
        assert_eq!(requests(&metrics, "create_upload"), (1, 0));
        assert_eq!(requests(&metrics, "upload_part"), (3, 0));
        assert_eq!(requests(&metrics, "complete_upload"), (1, 0));
    }

    #[tokio::test]
    async fn listings_and_deletes_are_counted_and_failures_marked() {
        let (store, metrics) = counted();
        store
            .put(&ObjectPath::from("a/1"), PutPayload::from_static(b"x"))
            .await
            .unwrap();
        let listed: Vec<_> = store.list(Some(&ObjectPath::from("a"))).collect().await;
        assert_eq!(listed.len(), 1);
        assert_eq!(requests(&metrics, "list"), (1, 0));
        store.delete(&ObjectPath::from("a/1")).await.unwrap();
        assert_eq!(requests(&metrics, "delete"), (1, 0));
        let missing = store.get(&ObjectPath::from("a/1")).await;
        assert!(missing.is_err());
        assert_eq!(requests(&metrics, "get"), (1, 1));
    }
}
