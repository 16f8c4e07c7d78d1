//! A query node's view of the whole bucket: every `query_refresh_interval` it lists the
//! node prefixes, reads the catalog and manifest of each node whose copies changed, and
//! installs their union as the catalog and manifest its scans read.
//!
//! ```text
//!   bucket:  n1/catalog.json n1/manifest.json n1/dbs/…   n2/catalog.json n2/manifest.json n2/dbs/…
//!                  │               │                           │               │
//!                  └──────── merge (catalogs: union; files: each node's, banded) ──┘
//!                                            ▼
//!   query node: Inner::catalog, State::manifest  →  scans as on one node
//! ```
//!
//! Only a node that does not ingest does this ([`NodeModes::reads_peers`]), so the view
//! it installs replaces nothing of its own: it has no rows, and it neither persists,
//! compacts, enforces retention nor publishes a catalog or manifest (the background task
//! and `node::publish` skip those for it), so nothing it holds is ever written back.
//!
//! **Which write wins.** Files are merged by write order, newest last, field by field
//! (`merge_keep_last`). Each node's files keep their order among themselves and are
//! placed in a band of their own: the bands follow the node ids' byte order. So where two
//! nodes hold the same series and time, each field takes the value of the node whose id
//! sorts last among those that have one; a field only one node has is kept.
//!
//! **Types.** A column two nodes created with different types gets one type, by InfluxDB
//! 1.x's precedence for fields whose type differs across shards (float, integer,
//! unsigned, string, boolean), and a tag wins over a field; in files of a node where the
//! column has another type it reads as null (`merge::conform`).
//!
//! **Consistency.** A node publishes its manifest only after the files it names are
//! uploaded, and deletes the files it dropped only after the manifest without them is
//! published. A scan reads one merged manifest, so it sees each node's files of one
//! manifest: all rows once. When a file is gone (compacted away since), the scan fails
//! with `NotFound`; the scan then calls [`after_missing_file`], which reads the changed
//! manifests now, and starts again.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::{Duration, SystemTime};

use object_store::path::Path as ObjectPath;
use object_store::{ObjectMeta, ObjectStore, ObjectStoreExt};

use super::ingest_peers::IngestNode;
use super::node::node_id_problem;
use super::{Inner, Storage};
use crate::batch::ColumnType;
use crate::catalog::{Catalog, DatabaseDef};
use crate::config::{ObjectStoreConfig, StorageConfig};
use crate::error::{Error, Result};
use crate::manifest::Manifest;
use sluice_lp::FieldType;

/// Low bits of a merged file's write order and id that hold the node's own; the bits
/// above hold the node's place in id order.
const NODE_BAND_BITS: u32 = 40;

/// What a query node knows of the other nodes, and how often it looks again.
#[derive(Debug)]
pub(super) struct Peers {
    own_id: String,
    interval: Duration,
    /// Held by a refresh from its listing until its view is installed, so refreshes
    /// install in order.
    view: tokio::sync::Mutex<View>,
    /// The nodes of the last installed view, for operators and error messages.
    nodes: parking_lot::Mutex<Vec<NodeInfo>>,
    /// Why the last refresh failed; cleared by one that succeeds.
    fault: parking_lot::Mutex<Option<String>>,
    /// The ingest nodes asked for the rows they hold in memory (`--ingest-peers`).
    pub(super) ingest: super::ingest_peers::IngestState,
}

/// The nodes whose files a query node's merged manifest holds, in band order (a file's
/// band is `order >> NODE_BAND_BITS`), each with the `persisted_seq` of the copy of its
/// manifest that was merged and the URL it advertises.
#[derive(Debug, Default)]
pub(super) struct Bands {
    nodes: Vec<(String, u64, Option<String>)>,
}

impl Bands {
    /// The id of the node whose file `order` is, in a merged manifest.
    pub(super) fn owner(&self, order: u64) -> &str {
        self.nodes
            .get((order >> NODE_BAND_BITS) as usize)
            .map_or("", |(id, _, _)| id.as_str())
    }

    /// The `persisted_seq` of node `id`'s merged manifest: 0 for a node not merged.
    pub(super) fn persisted_seq(&self, id: &str) -> u64 {
        self.nodes
            .iter()
            .find(|(n, _, _)| n == id)
            .map_or(0, |(_, seq, _)| *seq)
    }

    /// The merged nodes, each with the URL its manifest advertises.
    pub(super) fn ingest_nodes(&self) -> Vec<IngestNode> {
        self.nodes
            .iter()
            .map(|(id, _, url)| IngestNode {
                node_id: id.clone(),
                url: url.clone(),
            })
            .collect()
    }
}

/// One node: this one, or another in the bucket as this node's last refresh saw it
/// (`system.nodes`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeInfo {
    /// Its node id (its prefix in the bucket); `None` for a node without a cloud store.
    pub node_id: Option<String>,
    /// This node's `--mode`; for the others `ingest` (a node whose manifest is in the
    /// bucket ingests: its mode is `ingest` or `all`).
    pub mode: String,
    /// Live Parquet files of its own.
    pub parquet_files: u64,
    /// Their bytes.
    pub size_bytes: u64,
    /// For another node: when this node last read its manifest from the bucket.
    pub manifest_read_at: Option<SystemTime>,
    /// Where other nodes reach it (`--advertise-url`), if it says.
    pub advertise_url: Option<String>,
}

#[derive(Debug, Default)]
struct View {
    nodes: BTreeMap<String, NodeCopies>,
    /// Merged database ids by name: kept for the life of the process, so that an id
    /// names the same database in every view.
    database_ids: HashMap<String, u32>,
}

/// The copies of one node's catalog and manifest, with the versions they were read at.
#[derive(Debug)]
pub(super) struct NodeCopies {
    catalog: Catalog,
    catalog_version: String,
    pub(super) manifest: Manifest,
    manifest_version: String,
    manifest_read_at: SystemTime,
}

impl Peers {
    /// The peers of a node that reads them (see [`crate::NodeModes::reads_peers`]), or
    /// `None`.
    ///
    /// # Errors
    /// [`Error::Catalog`] when such a node has no cloud store: there is no bucket of
    /// other nodes to read.
    pub(super) fn for_config(config: &StorageConfig) -> Result<Option<Peers>> {
        if !config.modes.reads_peers() {
            return Ok(None);
        }
        let ObjectStoreConfig::Cloud(cloud) = &config.object_store else {
            return Err(Error::Catalog(format!(
                "a node in mode {} reads the other nodes' files from their bucket: it needs \
                 a cloud object store (s3, google or azure)",
                config.modes
            )));
        };
        Ok(Some(Peers {
            own_id: cloud.node_id.clone(),
            interval: config.query_refresh_interval.max(Duration::from_millis(10)),
            view: tokio::sync::Mutex::new(View::default()),
            nodes: parking_lot::Mutex::new(Vec::new()),
            fault: parking_lot::Mutex::new(None),
            ingest: super::ingest_peers::IngestState::default(),
        }))
    }
}

/// Reads the bucket once (the node does not start without it), then again every
/// refresh interval in a task of its own, until the engine is closed or dropped.
///
/// # Errors
/// [`Error::ObjectStore`] when the first listing or read fails.
pub(super) async fn start(storage: &Storage) -> Result<()> {
    let inner = &storage.inner;
    let Some(peers) = &inner.peers else {
        return Ok(());
    };
    // Its rows would be neither persisted (it does not persist) nor read from the
    // bucket (it reads the other nodes only).
    never_ingested(inner, &peers.own_id, "a query node")?;
    refresh(inner).await?;
    let interval = peers.interval;
    let weak: Weak<Inner> = Arc::downgrade(inner);
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(interval).await;
            let Some(inner) = weak.upgrade() else { return };
            if inner.closed.load(Ordering::Relaxed) {
                return;
            }
            let result = refresh(&inner).await;
            if let (Err(e), Some(peers)) = (&result, &inner.peers) {
                tracing::warn!("reading the other nodes' catalogs and manifests failed: {e}");
                *peers.fault.lock() = Some(format!(
                    "the other nodes' catalogs and manifests cannot be read from the bucket \
                     ({e}); queries are answered from what was read last"
                ));
            } else if let Some(peers) = &inner.peers {
                peers.fault.lock().take();
            }
        }
    });
    Ok(())
}

/// Refuses a node id that holds rows it ingested (in its data directory or under its
/// prefix in the bucket) for a node in a mode that does not ingest (`role`, "a query
/// node" or "a compactor"): nothing would persist or read those rows.
///
/// # Errors
/// [`Error::Catalog`] saying so.
pub(super) fn never_ingested(inner: &Inner, id: &str, role: &str) -> Result<()> {
    let ingested = {
        let state = inner.state.read();
        !state.manifest.files.is_empty() || !state.active.is_empty()
    };
    if ingested {
        return Err(Error::Catalog(format!(
            "node {id} holds rows it ingested (in its data directory or under {id}/ in the \
             bucket): {role} needs a node id that never ingested; start this one with \
             --mode ingest or all, and {role} with another --node-id"
        )));
    }
    Ok(())
}

/// What a scan calls when a file its manifest named is gone: on a query node, the
/// manifests that changed are read now, so that the scan's next attempt sees the files
/// that replaced it. Elsewhere nothing is done (the node's own manifest is current).
///
/// # Errors
/// [`Error::ObjectStore`] when the bucket cannot be read.
pub(super) async fn after_missing_file(inner: &Inner) -> Result<()> {
    if inner.peers.is_some() {
        refresh(inner).await?;
    }
    Ok(())
}

/// Lists the node prefixes, reads what changed, and installs the merged view when
/// anything did.
pub(super) async fn refresh(inner: &Inner) -> Result<()> {
    let Some(peers) = &inner.peers else {
        return Ok(());
    };
    let store = inner.store.as_ref();
    let mut view = peers.view.lock().await;
    let ids = node_ids(store, &peers.own_id).await?;
    let mut changed = false;
    let before = view.nodes.len();
    view.nodes.retain(|id, _| ids.contains(id));
    changed |= view.nodes.len() != before;
    for id in &ids {
        match read_node(store, id, view.nodes.get(id)).await {
            Ok(Read::Unchanged) => {}
            Ok(Read::Absent) => changed |= view.nodes.remove(id).is_some(),
            Ok(Read::Changed(copies)) => {
                view.nodes.insert(id.clone(), *copies);
                changed = true;
            }
            // A node's unreadable copies are its own problem: the others are still read.
            Err(e @ Error::Catalog(_)) => {
                tracing::warn!(node_id = %id, "skipping a node's catalog or manifest: {e}");
            }
            Err(e) => return Err(e),
        }
    }
    if !changed {
        return Ok(());
    }
    let View {
        nodes,
        database_ids,
    } = &mut *view;
    let (catalog, manifest) = merge(nodes, database_ids);
    let files = manifest.files.len() as u64;
    {
        // Lock order: catalog, then state.
        let mut installed = inner.catalog.lock();
        let mut state = inner.state.write();
        *installed = catalog;
        state.manifest = Arc::new(manifest);
        state.bands = Arc::new(Bands {
            nodes: nodes
                .iter()
                .map(|(id, copies)| {
                    (
                        id.clone(),
                        copies.manifest.persisted_seq,
                        copies.manifest.advertise_url.clone(),
                    )
                })
                .collect(),
        });
    }
    inner.metrics.parquet_files.store(files, Ordering::Relaxed);
    *peers.nodes.lock() = nodes
        .iter()
        .map(|(id, copies)| NodeInfo {
            node_id: Some(id.clone()),
            mode: "ingest".to_owned(),
            parquet_files: copies.manifest.files.len() as u64,
            size_bytes: copies.manifest.files.iter().map(|f| f.bytes).sum(),
            manifest_read_at: Some(copies.manifest_read_at),
            advertise_url: copies.manifest.advertise_url.clone(),
        })
        .collect();
    tracing::debug!(nodes = nodes.len(), files, "installed the bucket's view");
    Ok(())
}

/// The ids of the nodes in the bucket (its prefixes that are node ids) other than
/// `own_id`.
///
/// # Errors
/// [`Error::ObjectStore`] when the bucket cannot be listed.
pub(super) async fn node_ids(store: &dyn ObjectStore, own_id: &str) -> Result<Vec<String>> {
    let listing = store.list_with_delimiter(None).await?;
    Ok(listing
        .common_prefixes
        .iter()
        .map(|p| p.as_ref().trim_end_matches('/').to_owned())
        .filter(|id| id != own_id && node_id_problem(id).is_none())
        .collect())
}

/// What reading one node's copies found.
pub(super) enum Read {
    Unchanged,
    /// The node has no manifest (a query node, or one that never persisted).
    Absent,
    Changed(Box<NodeCopies>),
}

/// Reads node `id`'s manifest and then its catalog (the node puts its catalog first, so
/// the catalog read after a manifest knows every database that manifest's files
/// belong to), each only when its version differs from `known`'s.
pub(super) async fn read_node(
    store: &dyn ObjectStore,
    id: &str,
    known: Option<&NodeCopies>,
) -> Result<Read> {
    let manifest_path = ObjectPath::from(format!("{id}/manifest.json"));
    let catalog_path = ObjectPath::from(format!("{id}/catalog.json"));
    // One listing of the objects right under the prefix finds both (a HEAD each would
    // count a failed request in the metrics, every refresh, for a node without them).
    let listing = store
        .list_with_delimiter(Some(&ObjectPath::from(id)))
        .await?;
    let meta_of = |path: &ObjectPath| listing.objects.iter().find(|m| m.location == *path);
    let (Some(manifest_meta), Some(catalog_meta)) =
        (meta_of(&manifest_path), meta_of(&catalog_path))
    else {
        return Ok(Read::Absent);
    };
    let manifest_version = version(manifest_meta);
    let catalog_version = version(catalog_meta);
    if let Some(known) = known
        && known.manifest_version == manifest_version
        && known.catalog_version == catalog_version
    {
        return Ok(Read::Unchanged);
    }
    let (manifest, manifest_version, manifest_read_at) = match known {
        Some(k) if k.manifest_version == manifest_version => {
            (k.manifest.clone(), manifest_version, k.manifest_read_at)
        }
        _ => {
            let Some((bytes, version)) = get(store, &manifest_path).await? else {
                return Ok(Read::Absent);
            };
            let manifest = Manifest::from_json(&bytes, manifest_path.as_ref())?;
            (manifest, version, SystemTime::now())
        }
    };
    let (catalog, catalog_version) = match known {
        Some(k) if k.catalog_version == catalog_version => (k.catalog.clone(), catalog_version),
        _ => {
            let Some((bytes, version)) = get(store, &catalog_path).await? else {
                return Ok(Read::Absent);
            };
            (Catalog::from_json(&bytes, catalog_path.as_ref())?, version)
        }
    };
    Ok(Read::Changed(Box::new(NodeCopies {
        catalog,
        catalog_version,
        manifest,
        manifest_version,
        manifest_read_at,
    })))
}

/// An object's bytes and the version they are, or `None` when it is gone.
async fn get(store: &dyn ObjectStore, path: &ObjectPath) -> Result<Option<(bytes::Bytes, String)>> {
    match store.get(path).await {
        Ok(got) => {
            let version = version(&got.meta);
            Ok(Some((got.bytes().await?, version)))
        }
        Err(object_store::Error::NotFound { .. }) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// What tells two contents of an object apart: its ETag with its time and size (some
/// S3-compatible servers send no ETag).
fn version(meta: &ObjectMeta) -> String {
    format!(
        "{}/{}/{}",
        meta.e_tag.as_deref().unwrap_or(""),
        meta.last_modified.timestamp_nanos_opt().unwrap_or_default(),
        meta.size
    )
}

/// The union of the nodes' catalogs and their files (see the module docs for the rules).
fn merge(
    nodes: &BTreeMap<String, NodeCopies>,
    database_ids: &mut HashMap<String, u32>,
) -> (Catalog, Manifest) {
    let mut catalog = Catalog::new();
    for copies in nodes.values() {
        for (name, def) in &copies.catalog.databases {
            let next = database_ids.len() as u32 + 1;
            let id = *database_ids.entry(name.clone()).or_insert(next);
            let merged = catalog
                .databases
                .entry(name.clone())
                .or_insert_with(|| DatabaseDef {
                    id,
                    retention_ns: def.retention_ns,
                    tables: BTreeMap::new(),
                    policy: def.policy.clone(),
                    parent: def.parent.clone(),
                    default_policy: def.default_policy.clone(),
                });
            // The longest retention: no node's kept rows are hidden (each node drops
            // its own expired files).
            merged.retention_ns = match (merged.retention_ns, def.retention_ns) {
                (Some(a), Some(b)) => Some(a.max(b)),
                _ => None,
            };
            for (table, table_def) in &def.tables {
                let columns = &mut merged.tables.entry(table.clone()).or_default().columns;
                for (column, kind) in &table_def.columns {
                    let chosen = columns.entry(column.clone()).or_insert(*kind);
                    if precedence(*kind) < precedence(*chosen) {
                        *chosen = *kind;
                    }
                }
            }
        }
    }
    catalog.next_database_id = database_ids.values().max().map_or(1, |m| m + 1);
    let mut files = Vec::new();
    for (rank, copies) in nodes.values().enumerate() {
        let band = (rank as u64) << NODE_BAND_BITS;
        let low = |v: u64| v & ((1 << NODE_BAND_BITS) - 1);
        let names: HashMap<u32, (&String, &DatabaseDef)> = copies
            .catalog
            .databases
            .iter()
            .map(|(name, def)| (def.id, (name, def)))
            .collect();
        for file in &copies.manifest.files {
            // Files of a database or table the node's catalog no longer has (dropped
            // after this manifest was published) are left out.
            let Some((name, def)) = names.get(&file.db_id) else {
                continue;
            };
            if !def.tables.contains_key(&file.table) {
                continue;
            }
            let mut file = file.clone();
            file.db_id = database_ids[*name];
            file.order = band | low(file.order);
            file.id = band | low(file.id);
            files.push(file);
        }
    }
    let manifest = Manifest {
        version: 1,
        files,
        ..Manifest::default()
    };
    (catalog, manifest)
}

/// The rank of a column type when nodes disagree: lower wins.
fn precedence(kind: ColumnType) -> u8 {
    match kind {
        ColumnType::Tag => 0,
        ColumnType::Field(FieldType::Float) => 1,
        ColumnType::Field(FieldType::Integer) => 2,
        ColumnType::Field(FieldType::UInteger) => 3,
        ColumnType::Field(FieldType::String) => 4,
        ColumnType::Field(FieldType::Boolean) => 5,
    }
}

impl Storage {
    /// The other nodes of the bucket as this node's last refresh saw them, in id order;
    /// empty on a node that does not read them.
    pub fn peer_nodes(&self) -> Vec<NodeInfo> {
        self.inner
            .peers
            .as_ref()
            .map(|p| p.nodes.lock().clone())
            .unwrap_or_default()
    }

    /// Why this query node's last reading of the bucket failed, if it did.
    pub(super) fn peers_fault(&self) -> Option<String> {
        self.inner
            .peers
            .as_ref()
            .and_then(|p| p.fault.lock().clone())
    }

    /// This node, then the others it reads ([`Storage::peer_nodes`]).
    pub fn nodes(&self) -> Vec<NodeInfo> {
        let inner = &self.inner;
        // A node that reads the others has no files of its own: its manifest is theirs.
        let (parquet_files, size_bytes) = if inner.peers.is_some() {
            (0, 0)
        } else {
            let state = inner.state.read();
            let files = &state.manifest.files;
            (files.len() as u64, files.iter().map(|f| f.bytes).sum())
        };
        let mut nodes = vec![NodeInfo {
            node_id: inner
                .node
                .as_ref()
                .map(|n| n.prefix.trim_end_matches('/').to_owned()),
            mode: inner.config.modes.to_string(),
            parquet_files,
            size_bytes,
            manifest_read_at: None,
            advertise_url: inner.state.read().manifest.advertise_url.clone(),
        }];
        nodes.extend(self.peer_nodes());
        nodes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::TableDef;
    use crate::manifest::ParquetFile;

    /// A database's name, id and the columns of its table `cpu`.
    type DatabaseSpec<'a> = (&'a str, u32, &'a [(&'a str, ColumnType)]);

    /// A node's copies: `databases`, and `files` of table `cpu` as (database id, id).
    fn node(databases: &[DatabaseSpec<'_>], files: &[(u32, u64)]) -> NodeCopies {
        let mut catalog = Catalog::new();
        for (name, id, columns) in databases {
            catalog.create_database(name, None);
            let def = catalog.databases.get_mut(*name).unwrap();
            def.id = *id;
            let mut table = TableDef::default();
            for (c, kind) in *columns {
                table.columns.insert((*c).to_owned(), *kind);
            }
            def.tables.insert("cpu".into(), table);
        }
        let files = files
            .iter()
            .map(|&(db_id, id)| ParquetFile {
                id,
                order: id,
                db_id,
                table: "cpu".into(),
                day: 0,
                path: format!("x/{db_id}/{id}"),
                min_time: 0,
                max_time: 1,
                rows: 1,
                bytes: 10,
            })
            .collect();
        NodeCopies {
            catalog,
            catalog_version: String::new(),
            manifest: Manifest {
                files,
                ..Manifest::default()
            },
            manifest_version: String::new(),
            manifest_read_at: SystemTime::UNIX_EPOCH,
        }
    }

    const FLOAT: ColumnType = ColumnType::Field(FieldType::Float);
    const INTEGER: ColumnType = ColumnType::Field(FieldType::Integer);
    const STRING: ColumnType = ColumnType::Field(FieldType::String);

    #[test]
    fn databases_merge_by_name_and_files_take_the_merged_ids() {
        let mut nodes = BTreeMap::new();
        nodes.insert(
            "a".to_owned(),
            node(&[("db", 7, &[("v", FLOAT)])], &[(7, 1)]),
        );
        nodes.insert(
            "b".to_owned(),
            node(
                &[("db", 1, &[("w", STRING)]), ("other", 2, &[])],
                &[(1, 1), (2, 2), (9, 3)],
            ),
        );
        let mut ids = HashMap::new();
        let (catalog, manifest) = merge(&nodes, &mut ids);
        let db = &catalog.databases["db"];
        assert_eq!(
            db.tables["cpu"].columns.keys().collect::<Vec<_>>(),
            ["v", "w"]
        );
        let other = catalog.databases["other"].id;
        // Node b's file of a database its catalog lacks (9) is left out.
        let placed: Vec<(u32, u64)> = manifest.files.iter().map(|f| (f.db_id, f.order)).collect();
        assert_eq!(
            placed,
            [(db.id, 1), (db.id, (1 << 40) | 1), (other, (1 << 40) | 2)]
        );
        assert!(catalog.next_database_id > other.max(db.id));

        // Ids stay with their names when a node goes away.
        nodes.remove("a");
        let (again, _) = merge(&nodes, &mut ids);
        assert_eq!(again.databases["db"].id, db.id);
    }

    #[test]
    fn a_column_typed_differently_on_two_nodes_takes_the_type_of_higher_precedence() {
        let mut nodes = BTreeMap::new();
        nodes.insert(
            "a".to_owned(),
            node(
                &[("db", 1, &[("v", INTEGER), ("s", STRING), ("h", STRING)])],
                &[],
            ),
        );
        nodes.insert(
            "b".to_owned(),
            node(
                &[(
                    "db",
                    1,
                    &[("v", FLOAT), ("s", INTEGER), ("h", ColumnType::Tag)],
                )],
                &[],
            ),
        );
        let (catalog, _) = merge(&nodes, &mut HashMap::new());
        let columns = &catalog.databases["db"].tables["cpu"].columns;
        assert_eq!(columns["v"], FLOAT);
        assert_eq!(columns["s"], INTEGER);
        assert_eq!(columns["h"], ColumnType::Tag);
    }
}
