//! Test helpers for cloud nodes on an in-memory bucket ([`Storage::open_with_bucket`]).

use std::path::Path;
use std::time::Duration;

use object_store::ObjectStoreExt;
use object_store::memory::InMemory;
use object_store::path::Path as ObjectPath;

use crate::config::{CloudProvider, CloudStore, ObjectStoreConfig, S3Options, StorageConfig};
use crate::manifest::Manifest;
use crate::{Storage, WriteOptions};

/// Node `node_id` on `dir`, in bucket `b`, without a file cache (scans read the bucket),
/// its background round every 10 ms; the rest as `StorageConfig::default()`.
pub(crate) fn node_config(dir: &Path, node_id: &str) -> StorageConfig {
    StorageConfig {
        data_dir: dir.to_owned(),
        object_store: ObjectStoreConfig::Cloud(Box::new(CloudStore {
            cache_bytes: 0,
            ..CloudStore::new(CloudProvider::S3(S3Options::default()), "b", node_id)
        })),
        background_interval: Duration::from_millis(10),
        ..StorageConfig::default()
    }
}

/// Writes points `from..to` of `cpu` (`v` = the time, all in one day) to `db`.
pub(crate) async fn write_points(storage: &Storage, from: i64, to: i64) {
    let text: String = (from..to).map(|t| format!("cpu v={t} {t}\n")).collect();
    let lines: Vec<_> = sluice_lp::parse_lines(text.as_bytes())
        .map(|l| l.unwrap())
        .collect();
    storage
        .write("db", &lines, WriteOptions::default())
        .await
        .unwrap();
}

/// Whether `path` is in `bucket`.
pub(crate) async fn exists(bucket: &InMemory, path: &str) -> bool {
    match bucket.head(&ObjectPath::from(path)).await {
        Ok(_) => true,
        Err(object_store::Error::NotFound { .. }) => false,
        Err(e) => panic!("{path}: {e}"),
    }
}

/// Puts a copy of `from` at `to`.
pub(crate) async fn copy(bucket: &InMemory, from: &str, to: &str) {
    let bytes = bucket
        .get(&ObjectPath::from(from))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    bucket
        .put(&ObjectPath::from(to), bytes.into())
        .await
        .unwrap();
}

/// The manifest node `node_id` published in `bucket`, if any.
pub(crate) async fn published(bucket: &InMemory, node_id: &str) -> Option<Manifest> {
    let path = format!("{node_id}/manifest.json");
    let got = bucket.get(&ObjectPath::from(path.as_str())).await.ok()?;
    let bytes = got.bytes().await.unwrap();
    Some(Manifest::from_json(&bytes, &path).unwrap())
}

/// Waits until `done`, for at most a minute (a guard, not a measure).
pub(crate) async fn until<F, Fut>(what: &str, done: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let waited = async {
        while !done().await {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(60), waited)
        .await
        .unwrap_or_else(|_| panic!("{what}"));
}
