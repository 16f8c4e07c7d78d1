//! Opening the engine: the data directory, catalog and manifest loaded, the WAL
//! replayed into the buffer, deletes the files missed applied, leftovers of a crash
//! (unnamed objects, interrupted uploads) removed, the caches filled, the WAL writer and
//! background task started.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

use futures::TryStreamExt;
use object_store::memory::InMemory;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectMeta, ObjectStore, ObjectStoreExt};
use parking_lot::{Mutex, RwLock};
use tokio::sync::{Notify, Semaphore};

use super::background::background;
use super::lease::{self, Lease};
use super::node::{self, Node};
use super::write::BufferApplier;
use super::{
    FILE_WRITER_PERMITS, Inner, State, Storage, compact, compactor, delete, peers, shared_catalog,
    warm,
};
use crate::buffer::Buffer;
use crate::cache::Caches;
use crate::catalog::{Catalog, Claims};
use crate::config::{ObjectStoreConfig, StorageConfig};
use crate::durable::create_dir;
use crate::error::{Error, Result};
use crate::file_cache::FileCache;
use crate::lock::DirLock;
use crate::manifest::Manifest;
use crate::metrics::Metrics;
use crate::store;
use crate::wal::{self, ObjectWal, Record, Wal, WalOptions};

impl Storage {
    /// Opens (creating if needed) the data directory, loads the catalog and manifest,
    /// replays the WAL and starts the WAL writer and the background task (persistence,
    /// retention, compaction). Must be called inside a tokio runtime.
    ///
    /// # Errors
    /// [`Error::WalCorrupt`] naming the file and offset when a WAL file is damaged in the
    /// middle (unless `skip_corrupt_wal_records`), [`Error::Io`] / [`Error::Catalog`] when
    /// files cannot be read or written, [`Error::ObjectStore`] when the store fails.
    pub async fn open(config: StorageConfig) -> Result<Storage> {
        Storage::open_with_bucket(config, None).await
    }

    /// [`Storage::open`], with `bucket` as a cloud node's bucket instead of a client of
    /// the configured service (tests keep a cloud node's bucket in memory).
    pub(crate) async fn open_with_bucket(
        config: StorageConfig,
        bucket: Option<Arc<dyn ObjectStore>>,
    ) -> Result<Storage> {
        if config.wal_object_store && !matches!(config.object_store, ObjectStoreConfig::Cloud(_)) {
            return Err(Error::Catalog(
                "the wal can go to the object store only with a cloud store (s3, google or \
                 azure) and a node id"
                    .into(),
            ));
        }
        let wal_dir = config.data_dir.join("wal");
        let catalog_dir = config.data_dir.join("catalog");
        create_dir(&wal_dir)?;
        create_dir(&catalog_dir)?;
        let dir_lock = DirLock::acquire_waiting(&config.data_dir).await?;
        let peers = peers::Peers::for_config(&config)?;
        let compactor = compactor::Compactor::for_config(&config)?;
        let metrics = Arc::new(Metrics::default());
        let (local_root, upload_staging, backend): (_, _, Arc<dyn ObjectStore>) =
            match &config.object_store {
                ObjectStoreConfig::Memory => (None, None, Arc::new(InMemory::new())),
                ObjectStoreConfig::Local => {
                    let root = config.data_dir.join("objects");
                    (Some(root.clone()), None, local_store(root)?)
                }
                ObjectStoreConfig::LocalPath(root) => {
                    (Some(root.clone()), None, local_store(root.clone())?)
                }
                ObjectStoreConfig::Cloud(cloud) => (
                    None,
                    Some(store::staging_dir(&config.data_dir)),
                    match bucket {
                        Some(bucket) => bucket,
                        None => store::cloud_store(cloud)?,
                    },
                ),
            };
        let store: Arc<dyn ObjectStore> =
            Arc::new(store::Instrumented::new(backend, metrics.clone()));
        let (node, lease) = match &config.object_store {
            ObjectStoreConfig::Cloud(cloud) => {
                node::check_claim(&catalog_dir, &cloud.bucket, &cloud.node_id)?;
                let node = Node::new(&cloud.node_id);
                // Before anything is read from or deleted under the prefix: one process
                // per node id.
                let lease = Lease::acquire(
                    store.as_ref(),
                    &node.prefix,
                    &catalog_dir,
                    cloud.lease_timeout,
                )
                .await?;
                let restored =
                    node::restore(store.as_ref(), &catalog_dir, &cloud.bucket, &cloud.node_id)
                        .await;
                if let Err(e) = restored {
                    lease.release(store.as_ref()).await;
                    return Err(e);
                }
                (Some(node), Some(Arc::new(lease)))
            }
            _ => (None, None),
        };
        let mut catalog = Catalog::load(&catalog_dir)?;
        if node.is_some() && config.modes.ingest {
            // Nodes ingesting into one bucket agree on new columns' types there.
            catalog.claims = Some(Claims::default());
            // And reconcile their databases (`shared_catalog`).
            catalog.shared.get_or_insert_default();
        }
        let mut manifest = Manifest::load(&catalog_dir)?;
        let prefix = node.as_ref().map_or("", |n| n.prefix.as_str());
        let stored: Vec<ObjectMeta> = store
            .list(Some(&ObjectPath::from(format!("{prefix}dbs"))))
            .try_collect()
            .await?;
        // New files are numbered above every file stored, named by the manifest or not:
        // a process that ended between an upload and saving the manifest naming it left
        // a file at the manifest's next id, which is deleted below (in a bucket, after
        // the next publication), and a new file of that name would be deleted with it.
        manifest.next_file_id = manifest.next_file_id.max(first_id_above(&stored));
        if let Some(lease) = &lease {
            manifest.next_file_id = lease.first_file_id(manifest.next_file_id);
        }
        if let ObjectStoreConfig::Cloud(cloud) = &config.object_store {
            // Published with the first manifest after the start.
            manifest.advertise_url = cloud.advertise_url.clone();
        }
        // In a bucket, the manifest there may still name files the one here dropped (a
        // compaction saved here but not yet published when the process ended): those go
        // once this node's manifest is published, with the other deferred deletes.
        let orphans = delete_orphans(store.as_ref(), stored, &manifest, node.is_some()).await?;
        if let Some(root) = &local_root {
            remove_interrupted_uploads(&root.join("dbs"), false)?;
        }
        if let Some(dir) = &upload_staging {
            remove_interrupted_uploads(dir, true)?;
            create_dir(dir)?;
        }
        let file_cache = match &config.object_store {
            ObjectStoreConfig::Cloud(cloud) if cloud.cache_bytes > 0 => Some(FileCache::open(
                config.data_dir.join("cache"),
                cloud.cache_bytes,
            )?),
            _ => None,
        };

        // A cloud node's WAL objects are replayed whether or not it logs to them now, so
        // that none is left behind when the node switches to its local WAL.
        let wal_objects = node
            .as_ref()
            .map(|n| Arc::new(ObjectWal::new(store.clone(), &n.prefix)));
        let fetched = match &wal_objects {
            Some(objects) => objects.fetch(manifest.persisted_seq).await?,
            None => Vec::new(),
        };
        let live_ids: HashSet<u32> = catalog.databases.values().map(|d| d.id).collect();
        let mut buffer = Buffer::default();
        let mut catalog_changed = false;
        let mut replayed = 0u64;
        let mut file_deletes = Vec::new();
        let replay_started = Instant::now();
        let mut replay = wal::replay(
            &wal_dir,
            fetched,
            config.skip_corrupt_wal_records,
            |seq, record| match record {
                Record::Write(batch) => {
                    if seq <= manifest.persisted_seq || !live_ids.contains(&batch.db_id) {
                        return;
                    }
                    catalog_changed |= catalog.absorb(&batch);
                    replayed += batch.rows() as u64;
                    buffer.apply(&batch);
                }
                Record::Delete(op) => {
                    if seq <= manifest.persisted_seq || !live_ids.contains(&op.db_id) {
                        return;
                    }
                    buffer.delete(&op);
                    catalog_changed |= catalog.absorb_delete(&op);
                    if seq > manifest.deletes_applied_seq {
                        file_deletes.push((seq, op));
                    }
                }
            },
        )?;
        buffer.forget_logged_series();
        // With every segment persisted and deleted, the manifest alone remembers how far
        // sequence numbers went; new records must sort after it or replay would skip them.
        replay.last_seq = replay.last_seq.max(manifest.persisted_seq);
        if catalog_changed {
            catalog.save(&catalog_dir)?;
        }
        if replayed > 0 {
            tracing::info!(
                rows = replayed,
                segments = replay.segments.len(),
                objects = replay.objects.len(),
                buffer_bytes = buffer.bytes,
                elapsed_ms = replay_started.elapsed().as_millis() as u64,
                "replayed the wal"
            );
        }
        metrics
            .buffer_bytes
            .store(buffer.bytes as u64, Ordering::Relaxed);
        metrics
            .parquet_files
            .store(manifest.files.len() as u64, Ordering::Relaxed);
        let mut activity = compact::Activity::default();
        activity.observe(&manifest);
        let file_ids = Arc::new(AtomicU64::new(manifest.next_file_id));
        let state = Arc::new(RwLock::new(State {
            active_since: (!buffer.is_empty()).then(Instant::now),
            active: buffer,
            frozen: Vec::new(),
            manifest: Arc::new(manifest),
            unpublished: Vec::new(),
            published_seq: None,
            bands: Arc::default(),
        }));
        let caches = Arc::new(Mutex::new(Caches::default()));
        let wal = Wal::start(
            WalOptions {
                dir: wal_dir,
                background_sync_interval: config.wal_background_sync_interval,
                segment_bytes: config.wal_segment_bytes,
                segment_age: config.wal_segment_age,
                objects: wal_objects,
                object_flush_interval: config.wal_object_store.then_some(config.wal_flush_interval),
            },
            replay,
            BufferApplier {
                state: state.clone(),
                metrics: metrics.clone(),
                caches: caches.clone(),
            },
            metrics.clone(),
        )?;
        let inner = Arc::new(Inner {
            config,
            catalog_dir,
            catalog: Mutex::new(catalog),
            state,
            wal,
            store,
            local_root,
            upload_staging,
            file_cache,
            node,
            lease: lease.clone(),
            lease_task: Mutex::new(None),
            // Above what a node has published (nothing yet), so its first round publishes.
            catalog_generation: AtomicU64::new(1),
            manifest_generation: AtomicU64::new(1),
            metrics,
            persist_lock: tokio::sync::Mutex::new(()),
            compact_lock: tokio::sync::Mutex::new(()),
            compaction: Mutex::new(None),
            file_ids,
            file_writers: Arc::new(Semaphore::new(FILE_WRITER_PERMITS as usize)),
            wakeup: Arc::new(Notify::new()),
            closed: AtomicBool::new(false),
            background: Mutex::new(None),
            pending_deletes: Mutex::new(orphans),
            held_deletes: Mutex::new(Vec::new()),
            publisher: Mutex::new(None),
            ddl: tokio::sync::RwLock::new(()),
            persist_fault: Mutex::new(None),
            unapplied_deletes: Mutex::new(file_deletes),
            file_metadata: Mutex::new(HashMap::new()),
            last_rows: Mutex::new(HashMap::new()),
            activity: Mutex::new(activity),
            dir_lock: Mutex::new(Some(dir_lock)),
            caches,
            peers,
            compactor,
            shared_records: Mutex::new(HashMap::new()),
        });
        delete::recover(&inner).await?;
        let storage = Storage { inner };
        storage.load_caches().await;
        let inner = &storage.inner;
        let task = tokio::spawn(background(Arc::downgrade(inner), inner.wakeup.clone()));
        *inner.background.lock() = Some(task);
        if let Some(lease) = lease {
            let engine = Arc::downgrade(inner);
            let renewing = tokio::spawn(lease::keep(lease, inner.store.clone(), move || {
                engine.strong_count() > 0
            }));
            *inner.lease_task.lock() = Some(renewing);
        }
        peers::start(&storage).await?;
        compactor::start(&storage).await?;
        // The databases other ingest nodes created, changed or dropped meanwhile, before
        // the first write (the background task goes on from there).
        if let Err(e) = shared_catalog::sync(&storage.inner, &mut Default::default()).await {
            tracing::warn!("reconciling databases with the bucket's shared record failed: {e}");
        }
        warm::start(&storage.inner);
        Ok(storage)
    }
}

fn local_store(dir: PathBuf) -> Result<Arc<dyn ObjectStore>> {
    create_dir(&dir)?;
    Ok(Arc::new(
        object_store::local::LocalFileSystem::new_with_prefix(&dir)?,
    ))
}

/// Removes, under `dir` and its subdirectories, the files uploads interrupted by the
/// end of the process left behind: with `every_file`, all of them (the staging directory
/// of a cloud store), otherwise only the temporary files (`name#N`) a local object store's
/// put writes before its rename, which the store's listing does not show.
fn remove_interrupted_uploads(dir: &Path, every_file: bool) -> Result<()> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io(format!("listing {}", dir.display()), e)),
    };
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(format!("listing {}", dir.display()), e))?;
        let path = entry.path();
        if path.is_dir() {
            remove_interrupted_uploads(&path, every_file)?;
        } else if every_file || is_local_put_temporary(&path) {
            tracing::warn!(path = %path.display(), "removing an interrupted parquet upload");
            fs::remove_file(&path)
                .map_err(|e| Error::io(format!("removing {}", path.display()), e))?;
        }
    }
    Ok(())
}

/// Whether a file is named as a local object store's put names its temporary file.
fn is_local_put_temporary(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .and_then(|name| name.rsplit_once('#'))
        .is_some_and(|(_, suffix)| !suffix.is_empty() && suffix.bytes().all(|b| b.is_ascii_digit()))
}

/// The lowest file id above the ids of the Parquet files among `objects`.
fn first_id_above(objects: &[ObjectMeta]) -> u64 {
    objects
        .iter()
        .filter_map(|meta| Manifest::file_id(meta.location.as_ref()))
        .max()
        .map_or(0, |id| id.saturating_add(1))
}

/// Deletes the Parquet files among `objects` (those stored under the node's prefix:
/// a cloud node's `node_id/`, else none) that the manifest does not name (a crash
/// between writing a file and saving the manifest leaves them, or one after saving a
/// manifest that dropped them); with `deferred`, returns them instead, for deletion
/// after the next publication.
async fn delete_orphans(
    store: &dyn ObjectStore,
    objects: Vec<ObjectMeta>,
    manifest: &Manifest,
    deferred: bool,
) -> Result<Vec<String>> {
    let live: HashSet<&str> = manifest.files.iter().map(|f| f.path.as_str()).collect();
    let mut later = Vec::new();
    for meta in objects {
        if !live.contains(meta.location.as_ref()) {
            tracing::warn!(path = %meta.location, "deleting parquet file not in the manifest");
            if deferred {
                later.push(meta.location.to_string());
            } else {
                store.delete(&meta.location).await?;
            }
        }
    }
    Ok(later)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ScanRequest;
    use crate::engine::test_bucket::{copy, exists, node_config, published, until, write_points};

    /// Node `n1` on `dir`, persisting at `persist_buffer_bytes`.
    fn node_n1(dir: &Path, persist_buffer_bytes: usize) -> StorageConfig {
        StorageConfig {
            persist_buffer_bytes,
            ..node_config(dir, "n1")
        }
    }

    #[tokio::test]
    async fn a_file_a_crash_left_in_the_bucket_is_deleted_without_the_new_files_of_the_restart() {
        let bucket = Arc::new(InMemory::new());
        let dir = tempfile::tempdir().unwrap();
        let storage =
            Storage::open_with_bucket(node_n1(dir.path(), 64 << 20), Some(bucket.clone()))
                .await
                .unwrap();
        write_points(&storage, 0, 10).await;
        storage.persist_now().await.unwrap();
        // Only in the WAL: persisted by the first round after the restart.
        write_points(&storage, 10, 25).await;
        storage.shutdown().await.unwrap();
        drop(storage);

        // The process ended between uploading its next file and saving the manifest
        // naming it: the file is in the bucket, at the manifest's next id, named by no
        // manifest.
        let manifest = Manifest::load(&dir.path().join("catalog")).unwrap();
        let named = &manifest.files[0];
        let left = Manifest::object_path("n1/", named.db_id, named.day, manifest.next_file_id);
        copy(&bucket, &named.path, &left).await;

        // Started again on its disk: the rows of its WAL go to a new file, and the file
        // left behind is deleted once the manifest without it is published.
        let storage = Storage::open_with_bucket(node_n1(dir.path(), 1), Some(bucket.clone()))
            .await
            .unwrap();
        until("the file left behind is deleted", || async {
            !exists(&bucket, &left).await
        })
        .await;
        let published = published(&bucket, "n1").await.unwrap();
        assert!(
            published.persisted_seq > manifest.persisted_seq,
            "the restart persisted"
        );
        for f in &published.files {
            assert!(
                exists(&bucket, &f.path).await,
                "{} is named by the bucket's manifest, but gone",
                f.path
            );
        }
        let scanned = storage
            .scan("db", "cpu", &ScanRequest::default())
            .await
            .unwrap();
        assert_eq!(scanned.num_rows(), 25);
        storage.shutdown().await.unwrap();
    }
}
