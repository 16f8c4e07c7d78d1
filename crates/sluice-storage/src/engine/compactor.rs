//! One compactor for every ingest node of a bucket (`--mode compact`), and the ingest
//! nodes' side of it: adopting what the compactor wrote.
//!
//! ```text
//!   compactor c:  read n1/manifest.json ─► merge n1's small files ─► c/compacted/n1/E/dbs/…
//!                 PUT _shared/compactions/n1/ID.json (inputs and outputs; create-if-absent)
//!   ingest n1:    LIST _shared/compactions/n1/ ─► HEAD the outputs ─► under its persist
//!                 lock, in one manifest: inputs out, outputs in ─► publish ─► delete the
//!                 inputs and the request
//! ```
//!
//! **Why requests.** Only an ingest node changes its manifest, so the compactor never
//! races it: it writes the merged files under its own prefix and asks. The node adopts a
//! group of outputs only when every input the compactor read is still in its manifest
//! (same id, same path) and every output is in the bucket: then the outputs hold
//! exactly those rows, and they take the newest write order of their inputs, as the
//! node's own compaction gives them, so precedence between points is unchanged. When an
//! input is gone (the node compacted, deleted or expired it meanwhile), or an output,
//! the group's outputs are deleted instead and its inputs kept. A query node sees one
//! manifest or the next, so each row once, before and after.
//!
//! **What is deleted when.** The node deletes the inputs, and the request, only once a
//! manifest without the inputs and with the outputs is in the bucket (the same deferred
//! deletes as its own compaction), so a request still present always means its outputs
//! may still be adopted: a compactor starting up deletes under its prefix only files
//! that no request and no node's manifest names, listing the requests before reading the
//! manifests. A request whose outputs the manifest already names was adopted before a
//! restart: only the request is deleted.
//!
//! **A request PUT that fails** may have stored the request all the same (the store
//! failed after writing, or the reply was lost): the compactor reads it back and, if it
//! is there, counts it as made; it deletes the outputs only when the request is not
//! there, and leaves them when it cannot tell (the node adopts or turns the request
//! down, or the compactor's next start deletes them). A request naming outputs that are
//! gone anyway is turned down, as above, so no node adopts a file that is not there.
//!
//! **One compactor at a time per node's files.** The compactor leaves a node alone
//! while a request of its own for that node waits, and an ingest node does not compact
//! its own files while a compactor's heartbeat (`_shared/compactors/ID`, rewritten every
//! `compaction_check_interval`) has changed within three intervals, as this node saw
//! it (no clocks are compared). Should both compact the same files anyway, the second
//! adoption finds its inputs gone and drops its outputs.
//!
//! **Names.** Outputs are named `C/compacted/N/E/dbs/DB/DAY/ID.parquet`: compactor `C`,
//! node `N`, the epoch `E` of `C`'s lease (a new one each start), ids counting up from 1
//! in the process, so no two outputs ever share a name. The node gives them ids of its
//! own when it adopts them.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use futures::TryStreamExt;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectMeta, ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};
use serde::{Deserialize, Serialize};

use super::compact::{Activity, merge_files, plan};
use super::peers::{NodeCopies, Read, never_ingested, node_ids, read_node};
use super::{Inner, Storage};
use crate::config::{ObjectStoreConfig, StorageConfig};
use crate::error::{Error, Result};
use crate::manifest::ParquetFile;

/// Where compactors put their requests, one directory per ingest node.
const REQUESTS: &str = "_shared/compactions";
/// Where compactors keep their heartbeats.
const HEARTBEATS: &str = "_shared/compactors";
/// The directory under a compactor's prefix that holds its outputs.
const OUTPUTS: &str = "compacted";

/// A compactor's state (`compact` among the node's modes).
#[derive(Debug)]
pub(super) struct Compactor {
    own_id: String,
    interval: Duration,
    /// The next id of an output file (see the module docs, "Names").
    next_id: Arc<AtomicU64>,
    /// Heartbeats written: what makes each one differ from the last.
    beats: AtomicU64,
    /// The ingest nodes' catalogs and manifests as last read.
    nodes: tokio::sync::Mutex<BTreeMap<String, NodeCopies>>,
    /// Since when each ingest node's partitions last got a file from its persistence
    /// (what tells a cold partition), by node id.
    activity: parking_lot::Mutex<BTreeMap<String, Activity>>,
    /// Why the last round failed; cleared by one that succeeds.
    pub(super) fault: parking_lot::Mutex<Option<String>>,
}

/// What a compactor asks node `N` to adopt: `_shared/compactions/N/ID.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Request {
    /// The compactor's node id.
    compactor: String,
    groups: Vec<Group>,
}

/// The merge of one partition's files.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Group {
    /// The files merged, as the node's manifest named them.
    inputs: Vec<Input>,
    /// The files they were merged into, under the compactor's prefix (their ids are the
    /// compactor's; the node gives them its own).
    outputs: Vec<ParquetFile>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Input {
    id: u64,
    path: String,
}

impl Input {
    /// The input that is `file` of the node's manifest.
    fn of(file: &ParquetFile) -> Input {
        Input {
            id: file.id,
            path: file.path.clone(),
        }
    }
}

impl Compactor {
    /// The compactor of a node whose modes include `compact`, or `None`.
    ///
    /// # Errors
    /// [`Error::Catalog`] when such a node has no cloud store.
    pub(super) fn for_config(config: &StorageConfig) -> Result<Option<Compactor>> {
        if !config.modes.compact {
            return Ok(None);
        }
        let ObjectStoreConfig::Cloud(cloud) = &config.object_store else {
            return Err(Error::Catalog(format!(
                "a node in mode {} merges the ingest nodes' files in their bucket: it needs a \
                 cloud object store (s3, google or azure)",
                config.modes
            )));
        };
        Ok(Some(Compactor {
            own_id: cloud.node_id.clone(),
            interval: config
                .compaction_check_interval
                .max(Duration::from_millis(10)),
            next_id: Arc::new(AtomicU64::new(1)),
            beats: AtomicU64::new(0),
            nodes: tokio::sync::Mutex::new(BTreeMap::new()),
            activity: parking_lot::Mutex::new(BTreeMap::new()),
            fault: parking_lot::Mutex::new(None),
        }))
    }

    /// Where this process writes node `node`'s outputs.
    fn output_prefix(&self, inner: &Inner, node: &str) -> String {
        let epoch = inner.lease.as_ref().map_or(0, |l| l.epoch());
        format!("{}/{OUTPUTS}/{node}/{epoch}/", self.own_id)
    }
}

/// Whether the object at `path` is a compactor's output for node `node` (see the
/// module docs, "Names"): once adopted, that node's to list and delete.
pub(super) fn is_output_for(path: &str, node: &str) -> bool {
    let mut parts = path.split('/');
    let (_, outputs, for_node) = (parts.next(), parts.next(), parts.next());
    outputs == Some(OUTPUTS) && for_node == Some(node)
}

/// Starts a compactor: deletes what an earlier process left unasked, then runs a round
/// every `compaction_check_interval`, and a heartbeat as often, in tasks of their own.
///
/// # Errors
/// [`Error::Catalog`] when the node id ingested rows; [`Error::ObjectStore`] when the
/// bucket cannot be read.
pub(super) async fn start(storage: &Storage) -> Result<()> {
    let inner = &storage.inner;
    let Some(compactor) = &inner.compactor else {
        return Ok(());
    };
    never_ingested(inner, &compactor.own_id, "a compactor")?;
    delete_unasked(inner, compactor).await?;
    let interval = compactor.interval;
    let weak: Weak<Inner> = Arc::downgrade(inner);
    tokio::spawn(every(interval, weak.clone(), |inner| async move {
        let Some(compactor) = &inner.compactor else {
            return;
        };
        if let Err(e) = beat(&inner, compactor).await {
            tracing::warn!("the compactor's heartbeat failed: {e}");
        }
    }));
    tokio::spawn(every(interval, weak, |inner| async move {
        let Some(compactor) = &inner.compactor else {
            return;
        };
        let result = round(&inner, compactor).await;
        if let Err(e) = &result {
            tracing::warn!("compacting the ingest nodes' files failed: {e}");
        }
        *compactor.fault.lock() = result.err().map(|e| {
            format!("compacting the ingest nodes' files failed ({e}); retried every round")
        });
    }));
    Ok(())
}

/// Runs `step` every `interval` until the engine is closed or dropped.
async fn every<F, Fut>(interval: Duration, inner: Weak<Inner>, step: F)
where
    F: Fn(Arc<Inner>) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    loop {
        let Some(me) = inner.upgrade() else { return };
        if me.closed.load(Ordering::Relaxed) {
            return;
        }
        step(me).await;
        tokio::time::sleep(interval).await;
    }
}

/// Rewrites the compactor's heartbeat, with a count that changes every time.
async fn beat(inner: &Inner, compactor: &Compactor) -> Result<()> {
    let body = serde_json::json!({
        "node_id": compactor.own_id,
        "epoch": inner.lease.as_ref().map_or(0, |l| l.epoch()),
        "beat": compactor.beats.fetch_add(1, Ordering::Relaxed),
    });
    inner
        .store
        .put(
            &ObjectPath::from(format!("{HEARTBEATS}/{}", compactor.own_id)),
            PutPayload::from(body.to_string().into_bytes()),
        )
        .await?;
    Ok(())
}

/// One round: each ingest node without a request waiting has its manifest read (when it
/// changed) and gets a request for the partitions it has too many files in.
async fn round(inner: &Arc<Inner>, compactor: &Compactor) -> Result<()> {
    inner.check_lease()?;
    let store = inner.store.as_ref();
    let ids = node_ids(store, &compactor.own_id).await?;
    let mut nodes = compactor.nodes.lock().await;
    nodes.retain(|id, _| ids.contains(id));
    compactor.activity.lock().retain(|id, _| ids.contains(id));
    for id in &ids {
        // Requests before the manifest: a node publishes the manifest that adopts a
        // request before deleting the request, so a manifest read after a listing that
        // found none already holds every adoption. Read the other way round, a request
        // adopted between the two reads would leave a manifest naming its inputs,
        // which the node has replaced, and a merge of those would only be turned down.
        if !requests(store, id).await?.is_empty() {
            // The node has not adopted the last one yet.
            continue;
        }
        match read_node(store, id, nodes.get(id)).await {
            Ok(Read::Unchanged) => {}
            Ok(Read::Absent) => {
                nodes.remove(id);
                continue;
            }
            Ok(Read::Changed(copies)) => {
                nodes.insert(id.clone(), *copies);
            }
            Err(e @ Error::Catalog(_)) => {
                tracing::warn!(node_id = %id, "skipping a node's catalog or manifest: {e}");
                continue;
            }
            Err(e) => return Err(e),
        }
        let Some(copies) = nodes.get(id) else {
            continue;
        };
        compact_node(inner, compactor, id, &copies.manifest).await?;
    }
    Ok(())
}

/// The requests waiting for node `id`.
async fn requests(store: &dyn ObjectStore, id: &str) -> Result<Vec<ObjectMeta>> {
    Ok(store
        .list(Some(&ObjectPath::from(format!("{REQUESTS}/{id}"))))
        .try_collect()
        .await?)
}

/// Merges the partitions of node `id` that need it and asks the node to adopt them.
/// Outputs written for a request that is not made are deleted.
async fn compact_node(
    inner: &Arc<Inner>,
    compactor: &Compactor,
    id: &str,
    manifest: &crate::manifest::Manifest,
) -> Result<()> {
    // The node's buffer is not visible from here: a partition is cold once the node's
    // persistence gave it no file for `compact_cold_after`, whatever it has buffered.
    let work = {
        let mut activity = compactor.activity.lock();
        let node = activity.entry(id.to_owned()).or_default();
        node.observe(manifest);
        let quiet = node.quiet_for(inner.config.compact_cold_after);
        plan(manifest, &inner.config, quiet)
    };
    if work.is_empty() {
        return Ok(());
    }
    let prefix = compactor.output_prefix(inner, id);
    let mut groups: Vec<Group> = Vec::new();
    let written = async {
        for (key, inputs) in work {
            let ids = compactor.next_id.clone();
            let written = merge_files(inner, prefix.clone(), key.clone(), &inputs, ids).await;
            let written = match written {
                Ok(w) => w,
                // The node compacted or deleted a file since its manifest was read: the
                // next round reads the new one.
                Err(Error::ObjectStore(object_store::Error::NotFound { .. })) => break,
                Err(e) => return Err(e),
            };
            super::files::note_peak(inner, written.peak, written.writer_peak);
            tracing::info!(
                node_id = id,
                table = key.1,
                day = key.2,
                files = inputs.len(),
                outputs = written.files.len(),
                "compacted an ingest node's partition"
            );
            groups.push(Group {
                inputs: inputs.iter().map(Input::of).collect(),
                outputs: written.files,
            });
        }
        Ok(())
    }
    .await;
    let Some(first) = groups.iter().flat_map(|g| &g.outputs).next() else {
        return written;
    };
    let request = Request {
        compactor: compactor.own_id.clone(),
        groups: groups.clone(),
    };
    let path = ObjectPath::from(format!("{REQUESTS}/{id}/{:020}.json", first.id));
    let body = serde_json::to_vec(&request).map_err(|e| Error::Catalog(e.to_string()))?;
    let put = inner
        .store
        .put_opts(
            &path,
            PutPayload::from(body),
            PutOptions::from(PutMode::Create),
        )
        .await;
    if let Err(e) = put {
        // A failed PUT may still have stored the request (its reply lost, or a retry
        // refused as AlreadyExists by the first attempt's request): the node may adopt
        // it, so its outputs stay unless the request is known not to be there.
        match read_request(inner.store.as_ref(), &path).await {
            Ok(Some(stored)) if stored == request => {
                tracing::info!(%path, "a compaction request whose PUT failed is stored: {e}");
                return written;
            }
            // Absent, or another's request of that name (a create-if-absent PUT does
            // not replace it).
            Ok(_) => {
                let outputs = groups.into_iter().flat_map(|g| g.outputs);
                delete_paths(inner.store.as_ref(), outputs.map(|f| f.path)).await;
            }
            Err(read) => tracing::warn!(
                %path,
                "a compaction request's PUT failed and reading it back failed too ({read}): \
                 its outputs are left for the node to adopt or turn down, or for the \
                 compactor's next start to delete"
            ),
        }
        return Err(e.into());
    }
    written
}

/// Deletes objects, logging what fails (the next start of the compactor deletes what
/// is left).
async fn delete_paths(store: &dyn ObjectStore, paths: impl Iterator<Item = String>) {
    for path in paths {
        match store.delete(&ObjectPath::from(path.as_str())).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => tracing::warn!(path, "deleting a compactor's output failed: {e}"),
        }
    }
}

/// Deletes the files under the compactor's prefix that no request and no node's
/// manifest names: outputs of a process that ended before it asked, or whose request
/// was turned down.
async fn delete_unasked(inner: &Inner, compactor: &Compactor) -> Result<()> {
    let store = inner.store.as_ref();
    let outputs: Vec<ObjectMeta> = store
        .list(Some(&ObjectPath::from(format!(
            "{}/{OUTPUTS}",
            compactor.own_id
        ))))
        .try_collect()
        .await?;
    if outputs.is_empty() {
        return Ok(());
    }
    // Requests first: a request deleted after this listing was adopted, and the
    // manifest naming its outputs is in the bucket before the request is deleted.
    let mut named: HashSet<String> = HashSet::new();
    let asked: Vec<ObjectMeta> = store
        .list(Some(&ObjectPath::from(REQUESTS)))
        .try_collect()
        .await?;
    for meta in asked {
        if let Some(request) = read_request(store, &meta.location).await? {
            named.extend(
                request
                    .groups
                    .into_iter()
                    .flat_map(|g| g.outputs)
                    .map(|f| f.path),
            );
        }
    }
    for id in node_ids(store, &compactor.own_id).await? {
        if let Read::Changed(copies) = read_node(store, &id, None).await? {
            named.extend(copies.manifest.files.into_iter().map(|f| f.path));
        }
    }
    for meta in outputs {
        if !named.contains(meta.location.as_ref()) {
            tracing::warn!(path = %meta.location, "deleting a compactor output nobody adopted");
            store.delete(&meta.location).await?;
        }
    }
    Ok(())
}

/// A request's content, or `None` when it is gone; one that does not parse is logged and
/// read as gone.
async fn read_request(store: &dyn ObjectStore, path: &ObjectPath) -> Result<Option<Request>> {
    let bytes = match store.get(path).await {
        Ok(got) => got.bytes().await?,
        Err(object_store::Error::NotFound { .. }) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    match serde_json::from_slice(&bytes) {
        Ok(request) => Ok(Some(request)),
        Err(e) => {
            tracing::warn!(%path, "ignoring a compaction request that does not parse: {e}");
            Ok(None)
        }
    }
}

/// What an ingest node knows of the compactors in its bucket: the version of each
/// heartbeat and when it last saw it change.
#[derive(Debug, Default)]
pub(super) struct CompactorWatch {
    beats: HashMap<String, (String, Instant)>,
    last_check: Option<Instant>,
    /// A compactor's heartbeat changed within three check intervals.
    pub(super) running: bool,
}

/// An ingest node's look at the bucket, at most every `compaction_check_interval`:
/// whether a compactor runs, and the requests for it, adopted or turned down.
///
/// # Errors
/// [`Error::ObjectStore`] when the bucket cannot be read; [`Error::Io`] when the
/// manifest cannot be saved.
pub(super) async fn adopt(inner: &Arc<Inner>, watch: &mut CompactorWatch) -> Result<()> {
    let Some(node) = &inner.node else {
        return Ok(());
    };
    if !inner.config.modes.ingest {
        return Ok(());
    }
    let interval = inner.config.compaction_check_interval;
    let now = Instant::now();
    if watch
        .last_check
        .is_some_and(|t| now.duration_since(t) < interval)
    {
        return Ok(());
    }
    watch.last_check = Some(now);
    let store = inner.store.as_ref();
    let beats: Vec<ObjectMeta> = store
        .list(Some(&ObjectPath::from(HEARTBEATS)))
        .try_collect()
        .await?;
    watch
        .beats
        .retain(|path, _| beats.iter().any(|m| m.location.as_ref() == path));
    for meta in &beats {
        let version = format!("{:?}/{}", meta.e_tag, meta.last_modified);
        let seen = watch
            .beats
            .entry(meta.location.to_string())
            .or_insert_with(|| (String::new(), now));
        if seen.0 != version {
            *seen = (version, now);
        }
    }
    watch.running = watch
        .beats
        .values()
        .any(|(_, at)| now.duration_since(*at) < 3 * interval);
    let id = node.prefix.trim_end_matches('/');
    for meta in requests(store, id).await? {
        let Some(request) = read_request(store, &meta.location).await? else {
            continue;
        };
        apply(inner, &request).await?;
        // Deleted once the manifest this round publishes is in the bucket.
        inner.pending_deletes.lock().push(meta.location.to_string());
    }
    Ok(())
}

/// The outputs of `request` that are in the bucket (a HEAD each).
async fn stored_outputs(store: &dyn ObjectStore, request: &Request) -> Result<HashSet<String>> {
    let mut stored = HashSet::new();
    for output in request.groups.iter().flat_map(|g| &g.outputs) {
        match store.head(&ObjectPath::from(output.path.as_str())).await {
            Ok(_) => {
                stored.insert(output.path.clone());
            }
            Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(stored)
}

/// What becomes of one group of a request, given the node's manifest and the outputs
/// in the bucket.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    /// Adopted before (its outputs are in the manifest): nothing to do.
    Adopted,
    /// Every input is in the manifest and every output in the bucket: swap them.
    Adopt,
    /// An input is gone: the outputs are deleted.
    Refuse,
    /// An output is not in the bucket (the compactor deleted its outputs, taking its
    /// request for not made): the inputs stay, the outputs left are deleted.
    Incomplete,
}

fn verdict(files: &[ParquetFile], group: &Group, stored: &HashSet<String>) -> Verdict {
    let live: HashSet<(u64, &str)> = files.iter().map(|f| (f.id, f.path.as_str())).collect();
    let paths: HashSet<&str> = files.iter().map(|f| f.path.as_str()).collect();
    if group
        .outputs
        .iter()
        .any(|o| paths.contains(o.path.as_str()))
    {
        Verdict::Adopted
    } else if !group
        .inputs
        .iter()
        .all(|i| live.contains(&(i.id, i.path.as_str())))
    {
        Verdict::Refuse
    } else if !group.outputs.iter().all(|o| stored.contains(&o.path)) {
        Verdict::Incomplete
    } else {
        Verdict::Adopt
    }
}

/// Adopts the groups of `request` whose inputs are all in the manifest and whose
/// outputs are all in the bucket (one manifest change for all), deletes the outputs of
/// the others.
async fn apply(inner: &Arc<Inner>, request: &Request) -> Result<()> {
    let stored = stored_outputs(inner.store.as_ref(), request).await?;
    let _guard = inner.persist_lock.lock().await;
    inner.check_lease()?;
    let mut refused: Vec<String> = Vec::new();
    let mut dropped: Vec<String> = Vec::new();
    let (mut adopted, mut rows, mut incomplete) = (0, 0, 0);
    {
        let mut state = inner.state.write();
        let mut m = (*state.manifest).clone();
        for group in &request.groups {
            match verdict(&m.files, group, &stored) {
                Verdict::Adopted => {}
                v @ (Verdict::Refuse | Verdict::Incomplete) => {
                    incomplete += usize::from(v == Verdict::Incomplete);
                    refused.extend(group.outputs.iter().map(|o| o.path.clone()));
                }
                Verdict::Adopt => {
                    let inputs: HashSet<u64> = group.inputs.iter().map(|i| i.id).collect();
                    let (gone, kept): (Vec<_>, Vec<_>) =
                        m.files.into_iter().partition(|f| inputs.contains(&f.id));
                    let order = gone.iter().map(|f| f.order).max().unwrap_or_default();
                    m.files = kept;
                    dropped.extend(gone.into_iter().map(|f| f.path));
                    for output in &group.outputs {
                        let id = inner.file_ids.fetch_add(1, Ordering::AcqRel);
                        rows += output.rows;
                        m.files.push(ParquetFile {
                            id,
                            order,
                            ..output.clone()
                        });
                    }
                    adopted += 1;
                }
            }
        }
        if adopted > 0 {
            inner.install_manifest(&mut state, m)?;
        }
    }
    if adopted > 0 {
        tracing::info!(
            compactor = request.compactor,
            partitions = adopted,
            files = dropped.len(),
            rows,
            "adopted a compactor's outputs"
        );
        inner.pending_deletes.lock().extend(dropped);
    }
    if !refused.is_empty() {
        tracing::info!(
            compactor = request.compactor,
            files = refused.len(),
            partitions_with_outputs_gone = incomplete,
            "turned down a compactor's outputs: their inputs changed meanwhile, or some \
             outputs are not in the bucket"
        );
        // After this round's publication, as the node's own deletes: a manifest in the
        // bucket may still name one (adopted before a restart, then compacted away here
        // in a manifest not yet published).
        inner.pending_deletes.lock().extend(refused);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::fmt;
    use std::path::Path;

    use async_trait::async_trait;
    use futures::stream::BoxStream;
    use object_store::memory::InMemory;
    use object_store::{
        CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, PutMultipartOptions,
        PutResult,
    };

    use super::*;
    use crate::engine::test_bucket::{copy, exists, node_config, published, until, write_points};
    use crate::manifest::Manifest;
    use crate::{NodeModes, ScanRequest};

    fn file(id: u64, path: &str) -> ParquetFile {
        ParquetFile {
            id,
            order: id,
            db_id: 1,
            table: "cpu".into(),
            day: 0,
            path: path.into(),
            min_time: 0,
            max_time: 0,
            rows: 1,
            bytes: 10,
        }
    }

    fn group(inputs: &[(u64, &str)], outputs: &[&str]) -> Group {
        Group {
            inputs: inputs
                .iter()
                .map(|(id, path)| Input {
                    id: *id,
                    path: (*path).into(),
                })
                .collect(),
            outputs: outputs.iter().map(|p| file(1, p)).collect(),
        }
    }

    #[test]
    fn a_group_is_adopted_only_while_every_input_is_live_and_once() {
        let files = vec![file(1, "n/a"), file(2, "n/b"), file(3, "n/c")];
        let g = group(&[(1, "n/a"), (2, "n/b")], &["c/x", "c/y"]);
        let stored: HashSet<String> = ["c/x".into(), "c/y".into()].into();
        assert_eq!(verdict(&files, &g, &stored), Verdict::Adopt);
        // An input gone (compacted or rewritten by a delete under a new id).
        let rewritten = vec![file(4, "n/a2"), file(2, "n/b")];
        assert_eq!(verdict(&rewritten, &g, &stored), Verdict::Refuse);
        // The same id under another path is not the file the compactor read.
        let moved = vec![file(1, "n/other"), file(2, "n/b")];
        assert_eq!(verdict(&moved, &g, &stored), Verdict::Refuse);
        // An output not in the bucket.
        let one: HashSet<String> = ["c/x".into()].into();
        assert_eq!(verdict(&files, &g, &one), Verdict::Incomplete);
        // Adopted before a restart: its outputs are live, its inputs gone.
        let after = vec![file(3, "n/c"), file(9, "c/x"), file(10, "c/y")];
        assert_eq!(verdict(&after, &g, &stored), Verdict::Adopted);
    }

    #[test]
    fn a_request_reads_back_as_written() {
        let request = Request {
            compactor: "c".into(),
            groups: vec![group(&[(1, "n/a")], &["c/x", "c/y"])],
        };
        let json = serde_json::to_vec(&request).unwrap();
        assert_eq!(serde_json::from_slice::<Request>(&json).unwrap(), request);
    }

    /// Node `node_id` on `dir` in modes `modes`, checking for compactors every 10 ms.
    fn config(dir: &Path, node_id: &str, modes: NodeModes) -> StorageConfig {
        StorageConfig {
            modes,
            compaction_check_interval: Duration::from_millis(10),
            // The compactor merges more than two files; the ingest node fewer than nine.
            compact_max_files: if modes.compact { 2 } else { 8 },
            ..node_config(dir, node_id)
        }
    }

    const COMPACT: NodeModes = NodeModes {
        ingest: false,
        query: false,
        compact: true,
    };

    /// Node `n1` holding points `0..10 × files` of `cpu` in `files` files, once its
    /// bucket's manifest names them all.
    async fn n1_with_files(dir: &Path, bucket: Arc<InMemory>, files: i64) -> Storage {
        let n1 = Storage::open_with_bucket(config(dir, "n1", NodeModes::ALL), Some(bucket.clone()))
            .await
            .unwrap();
        for file in 0..files {
            write_points(&n1, file * 10, file * 10 + 10).await;
            n1.persist_now().await.unwrap();
        }
        until("n1 publishes its files", || async {
            published(&bucket, "n1")
                .await
                .is_some_and(|m| m.files.len() as i64 == files)
        })
        .await;
        n1
    }

    /// Once no request waits for n1: every file its bucket's manifest names is in the
    /// bucket, and every row of `files` files reads back; returns that manifest.
    async fn no_row_lost(n1: &Storage, bucket: &InMemory, files: i64) -> Manifest {
        until("n1 answers the request", || async {
            requests(bucket, "n1").await.unwrap().is_empty()
        })
        .await;
        let manifest = published(bucket, "n1").await.unwrap();
        for f in &manifest.files {
            assert!(
                exists(bucket, &f.path).await,
                "{} is named by n1's manifest in the bucket, but gone",
                f.path
            );
        }
        let scanned = n1.scan("db", "cpu", &ScanRequest::default()).await.unwrap();
        assert_eq!(scanned.num_rows() as i64, files * 10);
        manifest
    }

    /// A bucket that misbehaves in one way ([`Fault`]) and is `inner` otherwise.
    #[derive(Debug)]
    struct Faulty {
        inner: Arc<InMemory>,
        fault: Fault,
        /// Compaction requests put (answered with an error under [`Fault::LostReplies`]).
        requests: AtomicU64,
    }

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Fault {
        /// The compaction requests put are stored, but each is answered with an error,
        /// as when the store fails right after writing or the reply is lost.
        LostReplies,
        /// Node n1's requests are deleted whenever its manifest is read, as when n1
        /// adopts them right after that read: the manifest read is the one before.
        AdoptedRightAfterRead,
    }

    impl Faulty {
        fn new(inner: Arc<InMemory>, fault: Fault) -> Arc<Faulty> {
            Arc::new(Faulty {
                inner,
                fault,
                requests: AtomicU64::new(0),
            })
        }
    }

    impl fmt::Display for Faulty {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "Faulty({:?}, {})", self.fault, self.inner)
        }
    }

    #[async_trait]
    impl ObjectStore for Faulty {
        async fn put_opts(
            &self,
            location: &ObjectPath,
            payload: PutPayload,
            opts: PutOptions,
        ) -> object_store::Result<PutResult> {
            let put = self.inner.put_opts(location, payload, opts).await?;
            if location.as_ref().starts_with(REQUESTS) {
                self.requests.fetch_add(1, Ordering::Relaxed);
                if self.fault == Fault::LostReplies {
                    return Err(object_store::Error::Generic {
                        store: "Faulty",
                        source: "connection reset by peer".into(),
                    });
                }
            }
            Ok(put)
        }

        async fn put_multipart_opts(
            &self,
            location: &ObjectPath,
            opts: PutMultipartOptions,
        ) -> object_store::Result<Box<dyn MultipartUpload>> {
            self.inner.put_multipart_opts(location, opts).await
        }

        async fn get_opts(
            &self,
            location: &ObjectPath,
            options: GetOptions,
        ) -> object_store::Result<GetResult> {
            let got = self.inner.get_opts(location, options).await;
            if self.fault == Fault::AdoptedRightAfterRead && location.as_ref() == "n1/manifest.json"
            {
                let prefix = ObjectPath::from(format!("{REQUESTS}/n1"));
                let waiting: Vec<ObjectMeta> = self.inner.list(Some(&prefix)).try_collect().await?;
                for request in waiting {
                    self.inner.delete(&request.location).await?;
                }
            }
            got
        }

        fn delete_stream(
            &self,
            locations: BoxStream<'static, object_store::Result<ObjectPath>>,
        ) -> BoxStream<'static, object_store::Result<ObjectPath>> {
            self.inner.delete_stream(locations)
        }

        fn list(
            &self,
            prefix: Option<&ObjectPath>,
        ) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
            self.inner.list(prefix)
        }

        async fn list_with_delimiter(
            &self,
            prefix: Option<&ObjectPath>,
        ) -> object_store::Result<ListResult> {
            self.inner.list_with_delimiter(prefix).await
        }

        async fn copy_opts(
            &self,
            from: &ObjectPath,
            to: &ObjectPath,
            options: CopyOptions,
        ) -> object_store::Result<()> {
            self.inner.copy_opts(from, to, options).await
        }
    }

    #[tokio::test]
    async fn a_request_stored_though_its_put_failed_keeps_its_outputs_and_is_adopted() {
        let bucket = Arc::new(InMemory::new());
        let (n1_dir, c_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let n1 = n1_with_files(n1_dir.path(), bucket.clone(), 4).await;
        let lossy = Faulty::new(bucket.clone(), Fault::LostReplies);
        let c = Storage::open_with_bucket(config(c_dir.path(), "c", COMPACT), Some(lossy.clone()))
            .await
            .unwrap();
        until("the compactor makes a request", || async {
            lossy.requests.load(Ordering::Relaxed) > 0
        })
        .await;
        let manifest = no_row_lost(&n1, &bucket, 4).await;
        assert_eq!(manifest.files.len(), 1, "{:?}", manifest.files);
        assert!(
            is_output_for(&manifest.files[0].path, "n1"),
            "n1 adopted the compactor's output: {}",
            manifest.files[0].path
        );
        c.shutdown().await.unwrap();
        n1.shutdown().await.unwrap();
    }

    #[tokio::test]
    async fn a_request_whose_outputs_are_not_all_in_the_bucket_is_turned_down() {
        let bucket = Arc::new(InMemory::new());
        let dir = tempfile::tempdir().unwrap();
        let n1 = n1_with_files(dir.path(), bucket.clone(), 3).await;
        let inputs = n1.inner.state.read().manifest.files.clone();
        // Two outputs, as a compactor writes them; the second is not in the bucket.
        let outputs: Vec<ParquetFile> = inputs[..2]
            .iter()
            .enumerate()
            .map(|(i, f)| ParquetFile {
                path: Manifest::object_path("c/compacted/n1/1/", f.db_id, f.day, i as u64 + 1),
                ..f.clone()
            })
            .collect();
        copy(&bucket, &inputs[0].path, &outputs[0].path).await;
        let request = Request {
            compactor: "c".into(),
            groups: vec![Group {
                inputs: inputs.iter().map(Input::of).collect(),
                outputs: outputs.clone(),
            }],
        };
        bucket
            .put(
                &ObjectPath::from(format!("{REQUESTS}/n1/{:020}.json", 1)),
                serde_json::to_vec(&request).unwrap().into(),
            )
            .await
            .unwrap();
        let manifest = no_row_lost(&n1, &bucket, 3).await;
        assert_eq!(manifest.files, inputs, "n1 kept its files");
        assert!(
            !exists(&bucket, &outputs[0].path).await,
            "the output turned down is deleted"
        );
        n1.shutdown().await.unwrap();
    }

    /// A node adopts a request between the compactor's reading its manifest and looking
    /// for its requests: the compactor, reading them the other way round, would merge
    /// files the node has already replaced, for a request the node can only turn down.
    #[tokio::test]
    async fn a_compactor_reads_a_nodes_manifest_only_once_no_request_of_its_waits() {
        let bucket = Arc::new(InMemory::new());
        let (n1_dir, c_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let n1 = n1_with_files(n1_dir.path(), bucket.clone(), 3).await;
        n1.shutdown().await.unwrap();
        // A request of an earlier round, waiting.
        let waiting = ObjectPath::from(format!("{REQUESTS}/n1/{:020}.json", 1));
        let request = Request {
            compactor: "c".into(),
            groups: vec![group(&[(1, "n1/a")], &["c/compacted/n1/1/x"])],
        };
        let body = serde_json::to_vec(&request).unwrap();
        bucket.put(&waiting, body.into()).await.unwrap();
        let faulty = Faulty::new(bucket.clone(), Fault::AdoptedRightAfterRead);
        let c_config = StorageConfig {
            compaction_check_interval: Duration::from_secs(3600),
            ..config(c_dir.path(), "c", COMPACT)
        };
        let c = Storage::open_with_bucket(c_config, Some(faulty.clone()))
            .await
            .unwrap();
        // Rounds run one at a time: once this one is over, so is the one the compactor
        // started with.
        round(&c.inner, c.inner.compactor.as_ref().unwrap())
            .await
            .unwrap();
        assert_eq!(faulty.requests.load(Ordering::Relaxed), 0, "no new request");
        let outputs: Vec<ObjectMeta> = bucket
            .list(Some(&ObjectPath::from(format!("c/{OUTPUTS}"))))
            .try_collect()
            .await
            .unwrap();
        assert!(outputs.is_empty(), "nothing merged: {outputs:?}");
        c.shutdown().await.unwrap();
    }

    #[tokio::test]
    async fn a_compactor_merges_the_few_files_of_a_partition_that_went_cold() {
        let bucket = Arc::new(InMemory::new());
        let (n1_dir, c_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let n1 = n1_with_files(n1_dir.path(), bucket.clone(), 2).await;
        let cold = StorageConfig {
            compact_max_files: 8,
            compact_cold_after: Duration::from_millis(300),
            ..config(c_dir.path(), "c", COMPACT)
        };
        let c = Storage::open_with_bucket(cold, Some(bucket.clone()))
            .await
            .unwrap();
        until("n1 adopts the merge of its two files", || async {
            published(&bucket, "n1")
                .await
                .is_some_and(|m| m.files.len() == 1)
        })
        .await;
        let manifest = no_row_lost(&n1, &bucket, 2).await;
        assert!(
            is_output_for(&manifest.files[0].path, "n1"),
            "the compactor's output: {}",
            manifest.files[0].path
        );
        c.shutdown().await.unwrap();
        n1.shutdown().await.unwrap();
    }
}
