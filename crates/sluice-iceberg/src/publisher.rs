//! The publisher: a task that keeps every sluice table's Iceberg table current, woken by
//! the storage engine at each manifest change and retrying with backoff while the
//! catalog or the object store fails. Ingest never waits for it.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use iceberg::CatalogBuilder as _;
use iceberg::io::FileIOBuilder;
use iceberg_catalog_sql::{SqlBindStyle, SqlCatalogBuilder};
use parking_lot::Mutex;
use sluice_storage::{FilesPublisher, LiveFiles, PublisherCounts, Storage, TableFiles};
use sqlx::postgres::PgPoolOptions;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::config::IcebergConfig;
use crate::error::{Error, Result};
use crate::object_io::ObjectStoreIo;
use crate::table::{Published, Target};

/// Publishes sluice's tables to an Iceberg SQL catalog (see the crate documentation).
#[derive(Debug)]
pub struct IcebergPublisher {
    shared: Arc<Shared>,
    task: Mutex<Option<JoinHandle<()>>>,
}

#[derive(Debug, Default)]
struct Shared {
    wake: Notify,
    /// The newest manifest generation the engine announced.
    announced: AtomicU64,
    /// The newest generation all of whose tables are published.
    published: AtomicU64,
    fault: Mutex<Option<String>>,
    commits: AtomicU64,
    failures: AtomicU64,
}

impl IcebergPublisher {
    /// Starts publishing `storage`'s tables as configured; the catalog is connected to in
    /// the background (and again after failures), so a catalog that is down delays the
    /// Iceberg tables, never sluice.
    ///
    /// # Errors
    /// [`Error::Config`] when the object store has no URL other programs can read (the
    /// in-memory store).
    pub fn start(config: IcebergConfig, storage: Storage) -> Result<Arc<IcebergPublisher>> {
        let base = storage.object_store_url().ok_or_else(|| {
            Error::Config(
                "Iceberg tables need an object store other programs can read; the in-memory \
                 store is not"
                    .to_owned(),
            )
        })?;
        let warehouse = format!("{base}{}iceberg", storage.object_prefix());
        let io = ObjectStoreIo::new(storage.object_store(), base);
        let shared = Arc::new(Shared::default());
        let publisher = Arc::new(IcebergPublisher {
            shared: shared.clone(),
            task: Mutex::new(None),
        });
        storage.set_files_publisher(publisher.clone());
        let task = tokio::spawn(run(shared, config, warehouse, io, storage));
        *publisher.task.lock() = Some(task);
        Ok(publisher)
    }

    /// Stops the task (publications in flight are abandoned; the next start publishes
    /// what is live then).
    pub async fn stop(&self) {
        let task = self.task.lock().take();
        if let Some(task) = task {
            task.abort();
            let _ = task.await;
        }
    }
}

impl FilesPublisher for IcebergPublisher {
    fn files_changed(&self, generation: u64) {
        self.shared
            .announced
            .fetch_max(generation, Ordering::AcqRel);
        self.shared.wake.notify_one();
    }

    fn published_generation(&self) -> u64 {
        self.shared.published.load(Ordering::Acquire)
    }

    fn fault(&self) -> Option<String> {
        self.shared.fault.lock().clone()
    }

    fn counts(&self) -> PublisherCounts {
        PublisherCounts {
            published: self.shared.commits.load(Ordering::Relaxed),
            failed: self.shared.failures.load(Ordering::Relaxed),
        }
    }
}

impl Shared {
    fn failed(&self, what: String) {
        tracing::warn!("publishing to the Iceberg catalog failed (retrying): {what}");
        self.failures.fetch_add(1, Ordering::Relaxed);
        *self.fault.lock() = Some(format!("Iceberg catalog: {what}"));
    }

    /// Waits for the next announcement, or at most `delay` when given.
    async fn wait(&self, delay: Option<std::time::Duration>) {
        match delay {
            Some(delay) => {
                let _ = tokio::time::timeout(delay, self.wake.notified()).await;
            }
            None => self.wake.notified().await,
        }
    }
}

async fn connect(
    config: &IcebergConfig,
    warehouse: &str,
    io: &ObjectStoreIo,
    storage: &Storage,
) -> Result<Target> {
    let catalog = SqlCatalogBuilder::default()
        .uri(config.catalog_url.clone())
        .warehouse_location(warehouse.to_owned())
        .sql_bind_style(SqlBindStyle::DollarNumeric)
        .with_storage_factory(Arc::new(io.clone()))
        .load(config.catalog_name.clone(), HashMap::new())
        .await?;
    let pool = PgPoolOptions::new()
        .max_connections(2)
        .connect(&config.catalog_url)
        .await?;
    Ok(Target {
        catalog,
        pool,
        catalog_name: config.catalog_name.clone(),
        file_io: FileIOBuilder::new(Arc::new(io.clone())).build(),
        warehouse: warehouse.to_owned(),
        base: storage.object_store_url().unwrap_or_default(),
        storage: storage.clone(),
    })
}

async fn run(
    shared: Arc<Shared>,
    config: IcebergConfig,
    warehouse: String,
    io: ObjectStoreIo,
    storage: Storage,
) {
    let mut backoff = config.min_retry_interval;
    let target = loop {
        match connect(&config, &warehouse, &io, &storage).await {
            Ok(target) => break target,
            Err(e) => {
                shared.failed(format!("connecting: {e}"));
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(config.max_retry_interval);
            }
        }
    };
    tracing::info!(catalog = %config.catalog_name, warehouse, "publishing tables to the Iceberg catalog");
    // What each table was last published as, so a manifest change republishes only the
    // tables it touched (the first round compares every table with the catalog).
    let mut fingerprints: HashMap<(String, String), u64> = HashMap::new();
    backoff = config.min_retry_interval;
    loop {
        let live: LiveFiles = storage.live_files();
        let mut failure = None;
        for table in &live.tables {
            let key = (table.database.clone(), table.table.clone());
            let fingerprint = fingerprint(table);
            if fingerprints.get(&key) == Some(&fingerprint) {
                continue;
            }
            match target.publish(table).await {
                Ok(published) => {
                    if published == Published::Committed {
                        shared.commits.fetch_add(1, Ordering::Relaxed);
                        tracing::debug!(
                            database = table.database,
                            table = table.table,
                            files = table.files.len(),
                            "published a new Iceberg snapshot"
                        );
                    }
                    fingerprints.insert(key, fingerprint);
                }
                Err(e) => {
                    shared.failed(format!("{}.{}: {e}", table.database, table.table));
                    failure.get_or_insert(e);
                }
            }
        }
        // Tables gone from sluice (a dropped database or table) leave the catalog: their
        // files are about to be deleted.
        let gone: Vec<(String, String)> = fingerprints
            .keys()
            .filter(|key| {
                !live
                    .tables
                    .iter()
                    .any(|t| t.database == key.0 && t.table == key.1)
            })
            .cloned()
            .collect();
        for key in gone {
            match target.drop(&key.0, &key.1).await {
                Ok(()) => {
                    fingerprints.remove(&key);
                }
                Err(e) => {
                    shared.failed(format!("dropping {}.{}: {e}", key.0, key.1));
                    failure.get_or_insert(e);
                }
            }
        }
        if failure.is_none() {
            shared
                .published
                .fetch_max(live.generation, Ordering::AcqRel);
            *shared.fault.lock() = None;
            backoff = config.min_retry_interval;
            if shared.announced.load(Ordering::Acquire) <= live.generation {
                shared.wait(None).await;
            }
        } else {
            shared.wait(Some(backoff)).await;
            backoff = (backoff * 2).min(config.max_retry_interval);
        }
    }
}

/// A hash of what a table's publication depends on: its columns and its files.
fn fingerprint(table: &TableFiles) -> u64 {
    let mut hasher = DefaultHasher::new();
    for field in table.schema.fields() {
        field.name().hash(&mut hasher);
        field.data_type().to_string().hash(&mut hasher);
    }
    for file in &table.files {
        file.url.hash(&mut hasher);
    }
    hasher.finish()
}
