//! A query node's ingest peers (`--ingest-peers`): the rows the ingest nodes hold only in
//! memory, asked for at every scan and merged as each node's newest data.
//!
//! ```text
//!   scan of T on a query node:
//!     1. manifest + bands  ◄── one snapshot (State)
//!     2. IngestPeers::buffered_rows(T)  ──►  n1: rows, published_seq 7
//!                                       ──►  n2: rows, published_seq 3
//!     3. a node whose published_seq is above its band's copy: read the bucket, go to 1
//!     4. sources: n1's files, n1's rows, n2's files, n2's rows  ──► merge_keep_last
//! ```
//!
//! The storage engine does not know how peers are reached: the server implements
//! [`IngestPeers`] (over Arrow Flight) and hands it over with
//! [`Storage::set_ingest_peers`].
//!
//! **Exactly once.** A node's buffered rows complete the manifest with `persisted_seq`
//! equal to the `published_seq` it answers with (`buffered`). The query node takes its
//! manifest snapshot before it asks, so its copy of a node's manifest is never newer than
//! what that node had published when it answered; when it is older, the rows the node
//! persisted in between are in neither, and the query node reads the bucket and starts
//! again. Rows both in a node's files and its buffers (a copy newer than the node's
//! answer) merge into one: the buffers sit above the node's files in its band.
//!
//! **Which write wins** is the rule of `peers`, buffers included: field by field, the
//! node whose id sorts last; within one node, its buffers over its files.
//!
//! **A peer that does not answer** (down, unreachable, refusing the token, not yet
//! published since it started): the scan goes on without its buffered rows (its
//! persisted rows are still read from the bucket), a warning is logged, the failure is
//! counted, and `/health` says degraded (`storage.ingest_peers`) until it answers again.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use arrow::array::RecordBatch;
use futures::future::BoxFuture;

use super::buffered::BufferedRows;
use super::peers::Bands;
use super::{Inner, Storage};
use crate::error::{Error, Result};
use crate::merge::{TableSchema, conform, merge_keep_last};
use crate::persist::filter;
use crate::types::TagMatch;

/// What a scan asks every ingest peer for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerRowsRequest {
    /// The database's name.
    pub database: String,
    /// The table's name.
    pub table: String,
    /// Only rows in `[start, end)` (nanoseconds) when set.
    pub time_range: Option<(i64, i64)>,
}

/// One peer's answer to a [`PeerRowsRequest`].
#[derive(Debug, Clone)]
pub struct PeerAnswer {
    /// The peer as configured (its URL).
    pub peer: String,
    /// Its rows (from [`Storage::buffered_rows`] on that node), or what failed.
    pub rows: Result<BufferedRows, String>,
}

/// An ingest node as a query node's view of the bucket has it: its id and the URL its
/// manifest advertises (`--advertise-url`), if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngestNode {
    /// Its node id.
    pub node_id: String,
    /// Where it says it is reached.
    pub url: Option<String>,
}

/// The ingest nodes a query node asks for their buffered rows: the seam between the
/// storage engine and the protocol that reaches them.
pub trait IngestPeers: Send + Sync + fmt::Debug {
    /// Every peer's answer to `request`, complete when the future resolves (a peer that
    /// does not answer in time has failed); their order does not matter. `nodes` are the
    /// ingest nodes of the scan's view of the bucket, for an implementation that finds
    /// its peers there rather than being given a list.
    fn buffered_rows<'a>(
        &'a self,
        request: &'a PeerRowsRequest,
        nodes: &'a [IngestNode],
    ) -> BoxFuture<'a, Vec<PeerAnswer>>;
}

/// A query node's ingest peers and what the last answers said.
#[derive(Debug, Default)]
pub(super) struct IngestState {
    peers: parking_lot::Mutex<Option<Arc<dyn IngestPeers>>>,
    /// Why each peer that failed its last request did, by peer.
    faults: parking_lot::Mutex<BTreeMap<String, String>>,
}

/// The rows of the ingest peers for one scan, or what keeps the scan from using them.
pub(super) enum PeerRows {
    /// Each answering node's batches (in the scan's schema, oldest first), by node id.
    Rows(BTreeMap<String, Vec<RecordBatch>>),
    /// A node answered for a manifest newer than the scan's copy of it, or with a tag
    /// the scan's schema lacks: the bucket must be read again first.
    Behind,
}

impl Storage {
    /// Makes this query node ask `peers` for their buffered rows at every scan (see the
    /// module docs).
    ///
    /// # Errors
    /// [`Error::Catalog`] on a node that does not read the other nodes' files
    /// ([`crate::NodeModes::reads_peers`]).
    pub fn set_ingest_peers(&self, peers: Arc<dyn IngestPeers>) -> Result<()> {
        let Some(known) = &self.inner.peers else {
            return Err(Error::Catalog(format!(
                "ingest peers are read by a query node (--mode query), not in mode {}",
                self.inner.config.modes
            )));
        };
        *known.ingest.peers.lock() = Some(peers);
        Ok(())
    }

    /// Why ingest peers failed their last request, one line per peer, if any did.
    pub(super) fn ingest_peers_fault(&self) -> Option<String> {
        let peers = self.inner.peers.as_ref()?;
        let faults = peers.ingest.faults.lock();
        if faults.is_empty() {
            return None;
        }
        let lines: Vec<String> = faults
            .iter()
            .map(|(peer, message)| format!("{peer}: {message}"))
            .collect();
        Some(format!(
            "ingest peers did not answer; queries read only their persisted rows ({})",
            lines.join("; ")
        ))
    }
}

impl Inner {
    /// Whether scans ask ingest peers (a query node given some).
    pub(super) fn has_ingest_peers(&self) -> bool {
        self.peers
            .as_ref()
            .is_some_and(|p| p.ingest.peers.lock().is_some())
    }
}

/// What a scan keeps of the peers' rows.
#[derive(Debug, Clone, Copy)]
pub(super) struct Wanted<'a> {
    /// The scan's columns.
    pub(super) schema: &'a TableSchema,
    /// Rows every one of these matches.
    pub(super) tag_matches: &'a [TagMatch],
    /// The newest rows of each series only, when set.
    pub(super) keep_last: Option<usize>,
}

/// The ingest peers' buffered rows of `request`'s table for a scan whose manifest
/// snapshot holds `bands`, as `wanted` (conformed to its schema, filtered, cut). `Behind`
/// when a node is ahead of its band's copy, or has tags the schema lacks (unless
/// `last_attempt`: then such rows are taken as they are).
///
/// # Errors
/// [`Error::Arrow`] when a peer's batch does not fit the schema.
pub(super) async fn fetch(
    inner: &Inner,
    request: &PeerRowsRequest,
    bands: &Bands,
    wanted: Wanted<'_>,
    last_attempt: bool,
) -> Result<PeerRows> {
    let Wanted {
        schema,
        tag_matches,
        keep_last,
    } = wanted;
    let Some(state) = inner.peers.as_ref().map(|p| &p.ingest) else {
        return Ok(PeerRows::Rows(BTreeMap::new()));
    };
    let Some(peers) = state.peers.lock().clone() else {
        return Ok(PeerRows::Rows(BTreeMap::new()));
    };
    let nodes = bands.ingest_nodes();
    let answers = peers.buffered_rows(request, &nodes).await;
    // A peer no longer asked (a node gone from the bucket, an advertised URL changed)
    // has no fault to report.
    state
        .faults
        .lock()
        .retain(|peer, _| answers.iter().any(|a| a.peer == *peer));
    let arrow_schema = schema.arrow_schema();
    let mut rows = BTreeMap::new();
    for PeerAnswer { peer, rows: answer } in answers {
        let answered = answer.and_then(|b| match (b.node_id.clone(), b.published_seq) {
            (Some(id), Some(seq)) => Ok((id, seq, b)),
            (None, _) => Err("the peer has no node id (no cloud object store)".to_owned()),
            (Some(_), None) => {
                Err("the peer has not published its manifest since it started".to_owned())
            }
        });
        let (node_id, published_seq, buffered) = match answered {
            Ok(ok) => ok,
            Err(message) => {
                note_failure(inner, state, peer, message);
                continue;
            }
        };
        state.faults.lock().remove(&peer);
        let known = bands.persisted_seq(&node_id);
        if published_seq > known {
            tracing::debug!(
                node_id,
                published_seq,
                known,
                "an ingest peer's rows complete a newer manifest than this node's copy"
            );
            return Ok(PeerRows::Behind);
        }
        let unknown_tag = TableSchema::of_arrow(&buffered.schema)
            .tags
            .iter()
            .any(|t| !schema.tags.contains(t));
        if unknown_tag && !last_attempt {
            return Ok(PeerRows::Behind);
        }
        let mut batches = buffered
            .batches
            .iter()
            .filter(|b| b.num_rows() > 0)
            .map(|b| filter(&conform(b, &arrow_schema)?, None, tag_matches))
            .filter(|b| b.as_ref().map_or(true, |b| b.num_rows() > 0))
            .collect::<Result<Vec<_>>>()?;
        if let Some(k) = keep_last
            && !batches.is_empty()
        {
            batches = vec![merge_keep_last(schema, batches, Some(k), None)?];
        }
        rows.entry(node_id).or_insert(batches);
    }
    Ok(PeerRows::Rows(rows))
}

fn note_failure(inner: &Inner, state: &IngestState, peer: String, message: String) {
    tracing::warn!(
        %peer,
        "an ingest peer did not give its buffered rows; answering from its persisted rows: {message}"
    );
    inner
        .metrics
        .ingest_peer_failures
        .fetch_add(1, Ordering::Relaxed);
    state.faults.lock().insert(peer, message);
}
