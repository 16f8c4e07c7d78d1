//! The background task: persistence when the buffer is large or old enough,
//! retention, compaction, cache eviction, and deleting the objects no longer in the
//! manifest.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use object_store::ObjectStoreExt;
use object_store::path::Path as ObjectPath;
use tokio::sync::Notify;

use super::compactor::{self, CompactorWatch};
use super::shared_catalog::{self, SyncClock};
use super::table_files::may_delete;
use super::{Inner, PersistFault, State, compact, node, now_ns, persist_buffer};
use crate::config::StorageConfig;
use crate::error::{Error, Result};

/// How often a step that keeps failing (say, while the object store is away) is logged
/// again after its first failure.
const REPEAT_LOG_INTERVAL: Duration = Duration::from_secs(60);

/// The log of one step of the background task that runs every round: its first failure,
/// then at most one line per [`REPEAT_LOG_INTERVAL`] while it keeps failing, and its
/// recovery, rather than a line per round (once a second) through an outage.
#[derive(Debug, Default)]
struct StepLog {
    /// Failures since the step last succeeded.
    failures: u64,
    last_logged: Option<Instant>,
}

impl StepLog {
    /// Counts a failure at `now`; returns whether it was logged.
    fn failed(&mut self, step: &str, error: &Error, now: Instant) -> bool {
        self.failures += 1;
        if self.failures == 1 {
            tracing::error!("{step} failed: {error}");
        } else if self
            .last_logged
            .is_none_or(|t| now.duration_since(t) >= REPEAT_LOG_INTERVAL)
        {
            tracing::error!(
                failures = self.failures,
                "{step} still failing (retried every round): {error}"
            );
        } else {
            return false;
        }
        self.last_logged = Some(now);
        true
    }

    /// Logs a step's outcome (see [`StepLog::failed`]).
    fn record(&mut self, step: &str, result: &Result<()>) {
        match result {
            Ok(()) => self.succeeded(step),
            Err(e) => {
                let _ = self.failed(step, e, Instant::now());
            }
        }
    }

    fn succeeded(&mut self, step: &str) {
        if self.failures > 0 {
            tracing::info!(failures = self.failures, "{step} works again");
        }
        *self = StepLog::default();
    }
}

/// When to give the memory that persisted buffers held back to the operating system:
/// once writes pause after a persistence. Under a steady load the next buffers reuse it
/// (trimming after every persistence cost 6–9 % of the ingest rate, the pages faulted
/// in again); after the load, RSS falls to what is still buffered.
#[derive(Debug, Default)]
struct Trim {
    /// A persistence freed buffers since the last trim.
    pending: bool,
    /// The active buffer's bytes the round before.
    last_active: Option<usize>,
}

impl Trim {
    fn persisted(&mut self) {
        self.pending = true;
    }

    /// Whether to trim this round, given the active buffer's bytes: when a persistence
    /// freed memory and nothing was written since the round before.
    fn due(&mut self, active: usize) -> bool {
        let quiet = self.last_active.replace(active) == Some(active);
        let due = self.pending && quiet;
        self.pending &= !due;
        due
    }
}

/// Whether the buffer is due to be persisted: a frozen buffer waits; or the active
/// one's rows reached `persist_buffer_bytes`, or the whole of it (its series too) half
/// of `max_buffer_bytes`, or its oldest write `persist_interval`; or all buffers
/// together are over `max_buffer_bytes`.
///
/// The series are left out of the first measure: a load of many series (a million
/// hosts, a row or two each) would otherwise persist after a few hundred thousand rows,
/// a file with a row per series each time and every series made again in the next
/// buffer; InfluxDB sizes its cache snapshots by values alone too. The half bounds
/// what they may add: one buffer persisted while the next fills stays within the
/// ceiling.
fn persistence_due(inner: &Inner) -> bool {
    let state = inner.state.read();
    !state.frozen.is_empty()
        || active_buffer_full(&state, &inner.config)
        || state.buffer_bytes() > inner.config.max_buffer_bytes
        || state
            .active_since
            .is_some_and(|t| t.elapsed() >= inner.config.persist_interval)
}

/// Whether the active buffer is large enough to be persisted (see [`persistence_due`]):
/// its rows reached `persist_buffer_bytes`, or the whole of it half of
/// `max_buffer_bytes`.
pub(super) fn active_buffer_full(state: &State, config: &StorageConfig) -> bool {
    state.active.row_bytes() >= config.persist_buffer_bytes
        || state.active.bytes >= config.max_buffer_bytes / 2
}

/// The background task: persistence triggers, retention, compaction, deferred deletes.
pub(super) async fn background(inner: Weak<Inner>, wakeup: Arc<Notify>) {
    let mut persist_log = StepLog::default();
    let mut publish_log = StepLog::default();
    let mut trim = Trim::default();
    let mut compactors = CompactorWatch::default();
    let mut adopt_log = StepLog::default();
    let mut sync_clock = SyncClock::default();
    let mut sync_log = StepLog::default();
    loop {
        let Some(me) = inner.upgrade() else { return };
        if me.closed.load(Ordering::Relaxed) {
            return;
        }
        let interval = me.config.background_interval;
        if me.check_lease().is_err() {
            // Another process holds the node id now: its prefix is not ours to change.
            drop(me);
            tokio::time::sleep(interval).await;
            continue;
        }
        let mut persist_failed = false;
        if persistence_due(&me) {
            // A failure keeps the frozen buffers (and the WAL covering them), so the
            // next round retries.
            let result = persist_buffer(&me).await;
            match &result {
                Ok(()) => {
                    persist_log.succeeded("persisting the write buffer");
                    trim.persisted();
                }
                Err(e) => {
                    let _ = persist_log.failed("persisting the write buffer", e, Instant::now());
                    persist_failed = true;
                }
            }
            *me.persist_fault.lock() = result.err().map(|e| persist_fault(&e));
        }
        me.caches.lock().evict(now_ns());
        if trim.due(me.state.read().active.bytes) {
            tokio::task::spawn_blocking(compact::release_freed_memory);
        }
        // A node that does not ingest holds the other nodes' files: theirs to expire
        // and compact.
        if me.config.modes.ingest {
            sync_log.record(
                "reconciling databases with the bucket's shared record",
                &shared_catalog::sync(&me, &mut sync_clock).await,
            );
            if let Err(e) = enforce_retention(&me) {
                tracing::error!("enforcing retention failed: {e}");
            }
            // A compactor's outputs replace files; while one runs, the node leaves its
            // files to it.
            adopt_log.record(
                "looking for a compactor's outputs to adopt",
                &compactor::adopt(&me, &mut compactors).await,
            );
            if !compactors.running {
                start_compaction(&me);
            }
        }
        // A cloud node's bucket gets the catalog and manifest changes of this round; the
        // files they dropped are deleted only once its manifest no longer lists them.
        // (Taken first: each was dropped from a manifest that this publication covers.)
        let mut deletes = std::mem::take(&mut *me.pending_deletes.lock());
        const PUBLISH: &str = "publishing the catalog and manifest to the bucket";
        match node::publish(&me).await {
            Ok(()) => publish_log.succeeded(PUBLISH),
            Err(e) => {
                let _ = publish_log.failed(PUBLISH, &e, Instant::now());
                me.pending_deletes.lock().append(&mut deletes);
            }
        }
        let deletes = release_published(&me, deletes);
        for path in deletes {
            me.file_metadata.lock().remove(&path);
            me.last_rows.lock().retain(|k, _| k.path != path);
            match me.store.delete(&ObjectPath::from(path.as_str())).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {
                    if let Some(cache) = &me.file_cache {
                        cache.remove(&path);
                    }
                }
                Err(e) => {
                    tracing::error!(path, "deleting a parquet file failed: {e}");
                    me.pending_deletes.lock().push(path);
                }
            }
        }
        drop(me);
        if persist_failed {
            // Writes wake the task as the buffer grows; after a failure the next attempt
            // waits the whole interval, so a failing store is not retried per write.
            tokio::time::sleep(interval).await;
        } else {
            let _ = tokio::time::timeout(interval, wakeup.notified()).await;
        }
    }
}

/// Starts a compaction on a task of its own unless one is running, so that persistence
/// goes on while it merges (see `compact`).
fn start_compaction(inner: &Arc<Inner>) {
    let mut running = inner.compaction.lock();
    if running.as_ref().is_some_and(|task| !task.is_finished()) {
        return;
    }
    let engine = Arc::downgrade(inner);
    *running = Some(tokio::spawn(async move {
        let Some(inner) = engine.upgrade() else {
            return;
        };
        if let Err(e) = compact(&inner).await {
            tracing::error!("compaction failed: {e}");
        }
    }));
}

/// Of the files dropped from the manifest (`dropped`, all dropped by the current
/// generation or earlier) and those held before, the ones a files publisher no longer
/// lists; the others are held until it does (see `table_files`).
fn release_published(inner: &Inner, dropped: Vec<String>) -> Vec<String> {
    let publisher = inner.publisher.lock().clone();
    let Some(publisher) = publisher else {
        return dropped;
    };
    let generation = inner.manifest_generation.load(Ordering::Acquire);
    let mut held = inner.held_deletes.lock();
    held.extend(dropped.into_iter().map(|path| (generation, path)));
    let (released, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut *held)
        .into_iter()
        .partition(|(at, _)| may_delete(Some(publisher.as_ref()), *at));
    *held = kept;
    released.into_iter().map(|(_, path)| path).collect()
}

/// What `/health` says about a failed persistence: the error itself when it is a full
/// disk (it names no path) or the object store failing, a summary otherwise (details
/// are in the log).
fn persist_fault(error: &Error) -> PersistFault {
    if let Error::ObjectStore(e) = error
        && !is_disk_full_object_error(e)
    {
        return PersistFault {
            message: format!(
                "the object store is failing ({e}); acknowledged writes are kept in the WAL \
                 and the buffer, and persistence is retried"
            ),
            store_failing: true,
        };
    }
    PersistFault {
        message: persist_fault_message(error),
        store_failing: false,
    }
}

fn persist_fault_message(error: &Error) -> String {
    match error {
        Error::DiskFull { .. } | Error::WalUnavailable { .. } => {
            format!("persisting buffered data failed: {error}")
        }
        Error::Io { source, .. } if crate::error::is_disk_full(source) => format!(
            "persisting buffered data failed: insufficient storage ({source}); \
             the data stays buffered and persistence is retried"
        ),
        Error::ObjectStore(e) if is_disk_full_object_error(e) => {
            "persisting buffered data failed: insufficient storage (the object store's \
             disk is full); the data stays buffered and persistence is retried"
                .to_owned()
        }
        _ => "persisting buffered data failed (see the server log); the data stays \
              buffered and persistence is retried"
            .to_owned(),
    }
}

/// Whether an object store error comes from a full disk (its I/O error is a source).
fn is_disk_full_object_error(error: &object_store::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = source {
        if let Some(io) = e.downcast_ref::<std::io::Error>()
            && crate::error::is_disk_full(io)
        {
            return true;
        }
        source = e.source();
    }
    false
}

/// Drops buffered partitions and Parquet files older than each database's retention.
pub(super) fn enforce_retention(inner: &Inner) -> Result<()> {
    let now = now_ns();
    let cutoffs: Vec<(u32, i64)> = inner
        .catalog
        .lock()
        .databases
        .values()
        .filter_map(|d| Some((d.id, d.first_kept_day(now)?)))
        .collect();
    if cutoffs.is_empty() {
        return Ok(());
    }
    let mut state = inner.state.write();
    for (db_id, first_kept) in &cutoffs {
        state.active.drop_before(*db_id, *first_kept);
    }
    inner.edit_manifest(&mut state, |f| {
        !cutoffs
            .iter()
            .any(|(db, first)| f.db_id == *db && f.day < *first)
    })?;
    state.publish_buffer_bytes(&inner.metrics);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn freed_memory_is_trimmed_once_writes_pause_after_a_persistence() {
        let mut trim = Trim::default();
        // Writes keep coming: nothing to trim yet, even after a persistence.
        assert!(!trim.due(100));
        trim.persisted();
        assert!(!trim.due(200));
        assert!(!trim.due(300));
        // A round without writes: trimmed once.
        assert!(trim.due(300));
        assert!(!trim.due(300));
        // Quiet, but no persistence freed anything since.
        assert!(!trim.due(300));
        trim.persisted();
        assert!(trim.due(300));
    }

    #[test]
    fn a_step_failing_every_round_is_logged_once_a_minute_and_again_at_once_after_a_recovery() {
        let mut log = StepLog::default();
        let error = Error::Closed;
        let t0 = Instant::now();
        let at = |secs: u64| t0 + Duration::from_secs(secs);
        assert!(log.failed("step", &error, at(0)), "the first failure");
        assert!(!log.failed("step", &error, at(1)));
        assert!(!log.failed("step", &error, at(59)));
        assert!(
            log.failed("step", &error, at(60)),
            "a minute after the last line"
        );
        assert!(!log.failed("step", &error, at(61)));
        assert_eq!(log.failures, 5);
        log.succeeded("step");
        assert!(
            log.failed("step", &error, at(62)),
            "a new outage is logged at once"
        );
    }
}
