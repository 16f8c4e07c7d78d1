//! The live Parquet files of every table, for a publisher outside the engine (an Iceberg
//! catalog) that lists them for other query engines.
//!
//! The engine tells the publisher when the manifest changed ([`FilesPublisher::files_changed`],
//! a notification only: the publisher reads [`Storage::live_files`] when it is ready), and
//! keeps the files a newer manifest dropped (compaction inputs, files rewritten by a
//! delete, expired days) until the publisher has published a manifest generation that no
//! longer lists them ([`FilesPublisher::published_generation`]): a reader of the
//! published list never finds a file missing because sluice deleted it first. A publisher
//! that keeps failing therefore holds those files on disk; writes and persistence go on.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use arrow::datatypes::SchemaRef;

use super::Storage;
use crate::config::{CloudProvider, ObjectStoreConfig};
use crate::merge::TableSchema;

/// Something outside the engine that publishes the engine's live files (see the module
/// documentation). Installed with [`Storage::set_files_publisher`].
pub trait FilesPublisher: Send + Sync + fmt::Debug {
    /// The manifest changed; it is now at `generation`. Called with the engine's locks
    /// held, on the persistence and compaction paths: it must only take note (wake a
    /// task), never wait.
    fn files_changed(&self, generation: u64);

    /// The newest manifest generation whose files the publisher has published (0 before
    /// its first publication). A file dropped from the manifest is deleted only once this
    /// reaches the generation that dropped it.
    fn published_generation(&self) -> u64;

    /// What is failing, if anything: reported by [`Storage::faults`] as the degraded
    /// component `"publisher"` (writes are not affected).
    fn fault(&self) -> Option<String>;

    /// Publications that succeeded and that failed since start, for `/metrics`.
    fn counts(&self) -> PublisherCounts;
}

/// A publisher's counters (see [`FilesPublisher::counts`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PublisherCounts {
    /// Table publications that succeeded since start.
    pub published: u64,
    /// Table publications that failed since start (each is retried).
    pub failed: u64,
}

/// One live Parquet file of a table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveFile {
    /// The file's absolute URL: `file:///…` for a local object store, `s3://bucket/…`,
    /// `gs://bucket/…` or `az://container/…` for a cloud one.
    pub url: String,
    /// The file's size in bytes.
    pub bytes: u64,
    /// Rows the file holds.
    pub rows: u64,
    /// The earliest `time` in the file, nanoseconds since the epoch.
    pub min_time: i64,
    /// The latest `time` in the file, nanoseconds since the epoch.
    pub max_time: i64,
}

/// One table's schema and live files.
#[derive(Debug, Clone)]
pub struct TableFiles {
    /// The storage database: a database, or `db/rp` for one of its other retention
    /// policies.
    pub database: String,
    /// The table (measurement).
    pub table: String,
    /// The table's columns as its Parquet files hold them: tags (`Dictionary(Int32,
    /// Utf8)`), fields (Float64, Int64, UInt64, Utf8, Boolean), then `time`
    /// (`Timestamp(Nanosecond, None)`). A file written before a column existed lacks it.
    pub schema: SchemaRef,
    /// The live files, oldest write first. Two files may hold the same point (series and
    /// time) until compaction merges them: the later one holds the newer value.
    pub files: Vec<LiveFile>,
}

/// Every table's live files as of one manifest generation.
#[derive(Debug, Clone)]
pub struct LiveFiles {
    /// The manifest generation these files are from (counts manifest changes since the
    /// engine opened).
    pub generation: u64,
    /// Every table of every database, including tables without files.
    pub tables: Vec<TableFiles>,
}

impl Storage {
    /// Installs `publisher`, which is told of every manifest change from now on (and
    /// once right away, so it publishes what is live at start), and holds the deletion of
    /// files until it has published their removal.
    pub fn set_files_publisher(&self, publisher: Arc<dyn FilesPublisher>) {
        let generation = self.inner.manifest_generation.load(Ordering::Acquire);
        *self.inner.publisher.lock() = Some(publisher.clone());
        publisher.files_changed(generation);
    }

    /// The base URL of the object store's paths (`file:///abs/objects/`, `s3://bucket/`),
    /// or `None` for the in-memory store, whose files no other program can read.
    pub fn object_store_url(&self) -> Option<String> {
        if let Some(root) = &self.inner.local_root {
            let root = std::fs::canonicalize(root).unwrap_or_else(|_| root.clone());
            return Some(format!("file://{}/", root.display()));
        }
        match &self.inner.config.object_store {
            ObjectStoreConfig::Cloud(cloud) => {
                let scheme = match cloud.provider {
                    CloudProvider::S3(_) => "s3",
                    CloudProvider::Google { .. } => "gs",
                    CloudProvider::Azure { .. } => "az",
                };
                Some(format!("{scheme}://{}/", cloud.bucket))
            }
            _ => None,
        }
    }

    /// The object store the Parquet files are in (counted in the `/metrics` request
    /// figures like the engine's own requests): a publisher writes its files through it.
    pub fn object_store(&self) -> Arc<dyn object_store::ObjectStore> {
        self.inner.store.clone()
    }

    /// The object prefix under which this node keeps its files (`node_id/` for a cloud
    /// node, empty otherwise): a publisher keeps its own files under it too.
    pub fn object_prefix(&self) -> &str {
        self.inner.object_prefix()
    }

    /// Whether this node's manifest is the one that may name the object at `path`: one
    /// under its own prefix, or a compactor's output for it (`C/compacted/NODE/…`, see
    /// `compactor`). Every path on a node without a cloud store. Nodes that share a
    /// table elsewhere (an Iceberg table) change only the entries they own.
    pub fn owns_object(&self, path: &str) -> bool {
        let prefix = self.inner.object_prefix();
        if prefix.is_empty() || path.starts_with(prefix) {
            return true;
        }
        super::compactor::is_output_for(path, prefix.trim_end_matches('/'))
    }

    /// Every table's schema and live files now, with the manifest generation they are
    /// from. Empty for the in-memory object store.
    pub fn live_files(&self) -> LiveFiles {
        let base = self.object_store_url();
        // Lock order: catalog, then state.
        let catalog = self.inner.catalog.lock();
        let state = self.inner.state.read();
        let generation = self.inner.manifest_generation.load(Ordering::Acquire);
        let Some(base) = base else {
            return LiveFiles {
                generation,
                tables: Vec::new(),
            };
        };
        let mut tables = Vec::new();
        for (name, db) in &catalog.databases {
            for (table, def) in &db.tables {
                let files = state
                    .manifest
                    .table_files(db.id, table)
                    .into_iter()
                    .map(|f| LiveFile {
                        url: format!("{base}{}", f.path),
                        bytes: f.bytes,
                        rows: f.rows,
                        min_time: f.min_time,
                        max_time: f.max_time,
                    })
                    .collect();
                tables.push(TableFiles {
                    database: name.clone(),
                    table: table.clone(),
                    schema: TableSchema::from_def(def).arrow_schema(),
                    files,
                });
            }
        }
        LiveFiles { generation, tables }
    }
}

/// Whether a file dropped at manifest generation `dropped_at` may be deleted now.
pub(super) fn may_delete(publisher: Option<&dyn FilesPublisher>, dropped_at: u64) -> bool {
    publisher.is_none_or(|p| p.published_generation() >= dropped_at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Fixed(u64);

    impl FilesPublisher for Fixed {
        fn files_changed(&self, _: u64) {}
        fn published_generation(&self) -> u64 {
            self.0
        }
        fn fault(&self) -> Option<String> {
            None
        }
        fn counts(&self) -> PublisherCounts {
            PublisherCounts::default()
        }
    }

    #[test]
    fn files_are_deleted_once_the_publisher_caught_up() {
        assert!(may_delete(None, 9));
        assert!(!may_delete(Some(&Fixed(3)), 4));
        assert!(may_delete(Some(&Fixed(4)), 4));
    }
}
