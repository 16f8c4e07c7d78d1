//! A cloud node's catalog and manifest kept in its bucket, so that the bucket holds the
//! truth and the node's disk only its WAL and caches.
//!
//! Everything node `N` keeps in the bucket is under `N/`: `N/catalog.json`,
//! `N/manifest.json`, the Parquet files `N/dbs/{db}/{day}/{id}.parquet`, and the server's
//! own files (`N/files/tokens.json`, `N/files/continuous_queries.json`), which the server
//! hands over with [`Storage::publish_server_file`] and takes back on an empty data
//! directory with [`Storage::restore_server_file`].
//!
//! The local copies in `DATA_DIR/catalog` are saved first, so they are never older than
//! the bucket's; [`publish`] then puts the catalog and the manifest (in that order, as one
//! snapshot) into the bucket. The WAL segments a manifest covers are deleted, and the
//! files it no longer lists are deleted, only after it is published: the bucket's manifest
//! names only files that exist, and together with the bucket's catalog it holds every row
//! that no WAL holds any more. A node started on an empty data directory with the same
//! node id therefore recovers everything that was persisted ([`restore`]).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

use super::{Inner, Storage};
use crate::durable::write_atomic;
use crate::error::{Error, Result};

/// The catalog's and the manifest's file names, locally and under the node's prefix.
const CATALOG: &str = "catalog.json";
const MANIFEST: &str = "manifest.json";

/// The file in the catalog directory saying which bucket and node this data directory
/// belongs to.
const CLAIM: &str = "object-store.json";

/// Why `id` cannot name a node, if it cannot: node ids are 1 to 64 ASCII letters,
/// digits, `-`, `_` and `.`, not starting with `.` (they become an object prefix).
pub fn node_id_problem(id: &str) -> Option<&'static str> {
    if id.is_empty() {
        Some("must not be empty")
    } else if id.len() > 64 {
        Some("is longer than 64 characters")
    } else if id.starts_with('.') {
        Some("must not start with '.'")
    } else if id.starts_with('_') {
        Some("must not start with '_' (kept for what the nodes of a bucket share)")
    } else if !id
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    {
        Some("may hold only ASCII letters, digits, '-', '_' and '.'")
    } else {
        None
    }
}

/// A cloud node's place in its bucket, and how far its publications got.
#[derive(Debug)]
pub(super) struct Node {
    /// `node_id/`: the prefix of everything the node keeps in the bucket.
    pub(super) prefix: String,
    /// The catalog and manifest generations last published; held across a publication so
    /// that publications reach the bucket in order.
    published: tokio::sync::Mutex<Generations>,
    /// The catalog generation last published, readable without waiting for a
    /// publication in progress.
    catalog_published: AtomicU64,
    /// The server's own files (tokens, continuous queries) saved since the last
    /// publication: the newest content of each, by name.
    files: parking_lot::Mutex<BTreeMap<String, Bytes>>,
}

#[derive(Debug, Default)]
struct Generations {
    catalog: u64,
    manifest: u64,
}

impl Node {
    pub(super) fn new(node_id: &str) -> Node {
        Node {
            prefix: format!("{node_id}/"),
            published: tokio::sync::Mutex::new(Generations::default()),
            catalog_published: AtomicU64::new(0),
            files: parking_lot::Mutex::new(BTreeMap::new()),
        }
    }

    fn object(&self, name: &str) -> ObjectPath {
        ObjectPath::from(format!("{}{name}", self.prefix))
    }

    /// Where a file of the server's own (`tokens.json`) is kept in the bucket.
    fn server_file(&self, name: &str) -> ObjectPath {
        self.object(&format!("{SERVER_FILES}{name}"))
    }
}

/// The folder under the node's prefix holding the server's own files.
const SERVER_FILES: &str = "files/";

/// Makes the catalog directory node `node_id`'s in `bucket` before the catalog and
/// manifest are loaded from it:
/// - one that belongs to another bucket or node is refused;
/// - one holding a manifest of files but no claim wrote them to a local object store,
///   which the bucket does not have: refused;
/// - a catalog or manifest missing from it (an empty directory: a new disk) is taken from
///   the bucket when the bucket has it: the node is recovered. Copies it holds are kept:
///   they are never older than the bucket's.
///
/// A directory claimed before node ids existed (its files under `dbs/` at the bucket's
/// root) is taken as the node's; its files keep their names.
pub(super) async fn restore(
    store: &dyn ObjectStore,
    catalog_dir: &Path,
    bucket: &str,
    node_id: &str,
) -> Result<()> {
    let claim = check_claim(catalog_dir, bucket, node_id)?;
    let node = Node::new(node_id);
    let mut recovered = Vec::new();
    for name in [CATALOG, MANIFEST] {
        if !catalog_dir.join(name).exists()
            && let Some(bytes) = get_if_present(store, &node.object(name)).await?
        {
            write_atomic(catalog_dir, name, &bytes)?;
            recovered.push(name);
        }
    }
    if !recovered.is_empty() {
        tracing::info!(
            node_id,
            bucket,
            ?recovered,
            "recovered the node from the bucket"
        );
    }
    if claim.is_some_and(|c| c.node_id.is_some()) {
        return Ok(());
    }
    let claim = Claim {
        bucket: bucket.to_owned(),
        node_id: Some(node_id.to_owned()),
    };
    let bytes = serde_json::to_vec(&claim).map_err(|e| Error::Catalog(e.to_string()))?;
    write_atomic(catalog_dir, CLAIM, &bytes)
}

/// Checks that the catalog directory may be node `node_id`'s in `bucket` (reading only
/// the directory, see [`restore`]); the directory's claim, if it has one.
///
/// # Errors
/// [`Error::Catalog`] saying why not.
pub(super) fn check_claim(
    catalog_dir: &Path,
    bucket: &str,
    node_id: &str,
) -> Result<Option<Claim>> {
    if let Some(problem) = node_id_problem(node_id) {
        return Err(Error::Catalog(format!("the node id {node_id:?} {problem}")));
    }
    let claim_path = catalog_dir.join(CLAIM);
    let claim = match std::fs::read(&claim_path) {
        Ok(bytes) => Some(
            serde_json::from_slice::<Claim>(&bytes)
                .map_err(|e| Error::Catalog(format!("{}: {e}", claim_path.display())))?,
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(Error::io(format!("reading {}", claim_path.display()), e)),
    };
    match &claim {
        Some(claim) if claim.bucket != bucket => {
            return Err(Error::Catalog(format!(
                "this data directory belongs to the bucket {}, not {bucket}: start it with \
                 --bucket {}, or start node {node_id} on an empty data directory to recover \
                 it from {bucket}",
                claim.bucket, claim.bucket
            )));
        }
        Some(Claim {
            node_id: Some(owner),
            ..
        }) if owner != node_id => {
            return Err(Error::Catalog(format!(
                "this data directory belongs to node {owner}, not {node_id}: start it with \
                 --node-id {owner}, or start node {node_id} on an empty data directory"
            )));
        }
        Some(_) => {}
        None if local_files(catalog_dir)? => {
            return Err(Error::Catalog(format!(
                "this data directory's Parquet files are in a local object store (see {}), \
                 not in the bucket {bucket}: keep --object-store local for it, or start \
                 node {node_id} on an empty data directory",
                catalog_dir.join(MANIFEST).display()
            )));
        }
        None => {}
    }
    Ok(claim)
}

#[derive(serde::Serialize, serde::Deserialize)]
pub(super) struct Claim {
    bucket: String,
    /// Absent in claims written before node ids.
    #[serde(default)]
    node_id: Option<String>,
}

/// Whether the local manifest lists any file.
fn local_files(catalog_dir: &Path) -> Result<bool> {
    Ok(!crate::manifest::Manifest::load(catalog_dir)?
        .files
        .is_empty())
}

async fn get_if_present(store: &dyn ObjectStore, path: &ObjectPath) -> Result<Option<Bytes>> {
    match store.get(path).await {
        Ok(got) => Ok(Some(got.bytes().await?)),
        Err(object_store::Error::NotFound { .. }) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Puts the catalog and the manifest into the bucket when either changed since the last
/// publication (the catalog first, so the bucket's catalog always knows the databases of
/// the bucket's manifest), then the server's files saved since. Without a cloud store
/// there is nothing to do.
///
/// # Errors
/// [`Error::ObjectStore`] when a put fails; the next call tries again.
pub(super) async fn publish(inner: &Inner) -> Result<()> {
    let Some(node) = &inner.node else {
        return Ok(());
    };
    // A node that does not ingest has no catalog or manifest of its own to publish (a
    // query node's are the other nodes', see `peers`).
    if inner.config.modes.ingest {
        publish_catalog_and_manifest(inner, node).await?;
    }
    publish_server_files(inner, node).await
}

/// With the WAL in the bucket (`wal_object_store`), a write is acknowledged only once
/// the bucket's catalog knows its database (replay skips records of databases the
/// catalog does not hold): puts the catalog (and manifest) when the catalog changed since
/// the last publication.
///
/// # Errors
/// [`Error::WalUnavailable`] naming the catalog when the put fails; the write is logged,
/// but not acknowledged.
pub(super) async fn publish_catalog_for_wal(inner: &Inner) -> Result<()> {
    let Some(node) = &inner.node else {
        return Ok(());
    };
    if node.catalog_published.load(Ordering::Acquire)
        == inner.catalog_generation.load(Ordering::Acquire)
    {
        return Ok(());
    }
    publish_catalog_and_manifest(inner, node)
        .await
        .map_err(|e| match e {
            Error::ObjectStore(e) => Error::WalUnavailable {
                path: node.object(CATALOG).as_ref().into(),
                source: std::io::Error::other(e),
                retry_after: crate::wal::UNAVAILABLE_RETRY_AFTER,
            },
            other => other,
        })
}

async fn publish_catalog_and_manifest(inner: &Inner, node: &Node) -> Result<()> {
    let mut published = node.published.lock().await;
    // Read before the snapshot: a change after it is published by a later call.
    let catalog_generation = inner.catalog_generation.load(Ordering::Acquire);
    let manifest_generation = inner.manifest_generation.load(Ordering::Acquire);
    if catalog_generation == published.catalog && manifest_generation == published.manifest {
        return Ok(());
    }
    // Right before the bucket's manifest changes: still this node id's holder?
    if let Some(lease) = &inner.lease {
        lease.check_current(inner.store.as_ref()).await?;
    }
    let (catalog, manifest, persisted_seq) = {
        // One snapshot of both (lock order: catalog, then state).
        let catalog = inner.catalog.lock();
        let state = inner.state.read();
        (
            catalog.to_json()?,
            state.manifest.to_json()?,
            state.manifest.persisted_seq,
        )
    };
    if catalog_generation != published.catalog {
        inner
            .store
            .put(&node.object(CATALOG), PutPayload::from(catalog))
            .await?;
        published.catalog = catalog_generation;
        node.catalog_published
            .store(catalog_generation, Ordering::Release);
    }
    if manifest_generation != published.manifest {
        inner
            .store
            .put(&node.object(MANIFEST), PutPayload::from(manifest))
            .await?;
        published.manifest = manifest_generation;
        // The rows this manifest's files hold may leave memory now, in the same step as
        // the number the buffers are consistent with moves on (see `buffered`).
        let mut state = inner.state.write();
        state.published_seq = Some(state.published_seq.unwrap_or(0).max(persisted_seq));
        state.unpublished.retain(|f| f.last_seq > persisted_seq);
        state.publish_buffer_bytes(&inner.metrics);
    }
    Ok(())
}

/// Puts the server's files saved since the last call into the bucket; one that fails
/// stays queued (unless a newer content of it was queued meanwhile).
async fn publish_server_files(inner: &Inner, node: &Node) -> Result<()> {
    inner.check_lease()?;
    let files = std::mem::take(&mut *node.files.lock());
    let mut failure = None;
    for (name, bytes) in files {
        let put = inner
            .store
            .put(&node.server_file(&name), PutPayload::from(bytes.clone()))
            .await;
        if let Err(e) = put {
            node.files.lock().entry(name).or_insert(bytes);
            failure.get_or_insert(e);
        }
    }
    match failure {
        Some(e) => Err(e.into()),
        None => Ok(()),
    }
}

impl Storage {
    /// Queues `bytes`, the new content of the server's file `name` in the data directory
    /// (its tokens, its continuous queries), for the bucket of a cloud node, where the
    /// background task puts it within a second. Without a cloud store it does nothing:
    /// the data directory is the only copy.
    pub fn publish_server_file(&self, name: &str, bytes: Vec<u8>) {
        if let Some(node) = &self.inner.node {
            node.files
                .lock()
                .insert(name.to_owned(), Bytes::from(bytes));
            self.inner.wakeup.notify_one();
        }
    }

    /// Makes sure the data directory has the server's file `name` when the bucket of a
    /// cloud node has it: on an empty data directory, the node's tokens and continuous
    /// queries come back with its data. A file the data directory has is kept (it is
    /// never older than the bucket's). The file is created readable by its owner only.
    /// True when the file was taken from the bucket.
    ///
    /// # Errors
    /// [`Error::ObjectStore`] when the bucket cannot be read, [`Error::Io`] when the file
    /// cannot be written.
    pub async fn restore_server_file(&self, name: &str) -> Result<bool> {
        let Some(node) = &self.inner.node else {
            return Ok(false);
        };
        let dir = &self.inner.config.data_dir;
        if dir.join(name).exists() {
            return Ok(false);
        }
        let Some(bytes) =
            get_if_present(self.inner.store.as_ref(), &node.server_file(name)).await?
        else {
            return Ok(false);
        };
        write_private(dir, name, &bytes)?;
        tracing::info!(file = name, "recovered a server file from the bucket");
        Ok(true)
    }
}

/// [`write_atomic`], then the file made readable by its owner only (on Unix).
fn write_private(dir: &Path, name: &str, bytes: &[u8]) -> Result<()> {
    write_atomic(dir, name, bytes)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let path = dir.join(name);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| Error::io(format!("restricting {}", path.display()), e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use object_store::memory::InMemory;

    use super::*;

    async fn put(store: &InMemory, path: &str, body: &str) {
        store
            .put(&ObjectPath::from(path), PutPayload::from(body.to_owned()))
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn an_empty_directory_takes_the_nodes_copies_and_a_used_one_keeps_its_own() {
        let store = InMemory::new();
        put(&store, "n1/catalog.json", "bucket catalog").await;
        put(&store, "n1/manifest.json", "bucket manifest").await;
        put(&store, "n2/manifest.json", "other node").await;
        let dir = tempfile::tempdir().unwrap();
        restore(&store, dir.path(), "b", "n1").await.unwrap();
        let read = |name: &str| std::fs::read_to_string(dir.path().join(name)).unwrap();
        assert_eq!(read(CATALOG), "bucket catalog");
        assert_eq!(read(MANIFEST), "bucket manifest");

        // Local copies are never older than the bucket's: they stay.
        std::fs::write(dir.path().join(CATALOG), "newer local catalog").unwrap();
        put(&store, "n1/catalog.json", "older bucket catalog").await;
        restore(&store, dir.path(), "b", "n1").await.unwrap();
        assert_eq!(read(CATALOG), "newer local catalog");

        let other_node = restore(&store, dir.path(), "b", "n2").await.unwrap_err();
        assert!(
            other_node
                .to_string()
                .contains("belongs to node n1, not n2"),
            "{other_node}"
        );
        let other_bucket = restore(&store, dir.path(), "c", "n1").await.unwrap_err();
        assert!(
            other_bucket.to_string().contains("belongs to the bucket b"),
            "{other_bucket}"
        );
    }

    #[tokio::test]
    async fn a_claim_from_before_node_ids_is_taken_by_the_node_without_fetching() {
        let store = InMemory::new();
        put(&store, "n1/catalog.json", "bucket catalog").await;
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(CLAIM), r#"{"bucket":"b"}"#).unwrap();
        std::fs::write(dir.path().join(CATALOG), "local catalog").unwrap();
        restore(&store, dir.path(), "b", "n1").await.unwrap();
        let claim = std::fs::read_to_string(dir.path().join(CLAIM)).unwrap();
        assert!(claim.contains(r#""node_id":"n1""#), "{claim}");
        let catalog = std::fs::read_to_string(dir.path().join(CATALOG)).unwrap();
        assert_eq!(catalog, "local catalog");
    }

    #[test]
    fn node_ids_are_safe_object_prefixes() {
        for good in ["a", "node-1", "ingest_2.eu", &"x".repeat(64)] {
            assert_eq!(node_id_problem(good), None, "{good}");
        }
        for bad in ["", ".hidden", "_shared", "a/b", "a b", "é", &"x".repeat(65)] {
            assert!(node_id_problem(bad).is_some(), "{bad}");
        }
    }
}
