//! Write admission: lines validated against the catalog (types, limits, new tables and
//! columns saved first), logged in the WAL and acknowledged once durable; and the WAL's
//! side of the buffer, which applies logged writes and deletes in log order.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use parking_lot::{Mutex, RwLock};
use tokio::sync::RwLockReadGuard;

use super::{Frozen, Inner, State, Storage, background, claims, node, now_ns};
use crate::batch::LoggedBatch;
use crate::cache::Caches;
use crate::catalog::{
    Catalog, Claims, NewColumn, Unclaimed, Validated, Validation, check_database_name,
};
use crate::config::WalSync;
use crate::error::{Error, Result};
use crate::metrics::Metrics;
use crate::predicate::DeleteOp;
use crate::types::{RejectedLine, WriteOptions, WriteOutcome};
use crate::wal::Applier;

/// How long a client is told to wait after [`Error::Backpressure`].
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// Applies what the WAL logged to the active buffer (and deletes to the frozen ones
/// too), on the WAL's apply thread.
pub(super) struct BufferApplier {
    pub(super) state: Arc<RwLock<State>>,
    pub(super) metrics: Arc<Metrics>,
    /// Fed in the same step as the buffer, so a cache read sees what a scan sees.
    pub(super) caches: Arc<Mutex<Caches>>,
}

impl Applier for BufferApplier {
    fn apply(&mut self, _seq: u64, batch: LoggedBatch) {
        let mut state = self.state.write();
        self.caches.lock().apply(batch.batch());
        state.active.apply(batch.view());
        state.active_since.get_or_insert_with(Instant::now);
        state.publish_buffer_bytes(&self.metrics);
    }

    fn delete(&mut self, _seq: u64, op: &DeleteOp) {
        let mut state = self.state.write();
        self.caches.lock().delete(op);
        state.active.delete(op);
        // Deletes run under the persist lock, so no persistence holds these buffers and
        // `make_mut` does not copy.
        let state = &mut *state;
        for frozen in state.frozen.iter_mut().chain(&mut state.unpublished) {
            Arc::make_mut(frozen).buffer.delete(op);
        }
        state.publish_buffer_bytes(&self.metrics);
    }

    fn snapshot(&mut self, last_seq: u64) {
        let mut state = self.state.write();
        if state.active.is_empty() {
            return;
        }
        let buffer = std::mem::take(&mut state.active);
        state.active_since = None;
        state.frozen.push(Arc::new(Frozen { last_seq, buffer }));
    }
}

impl Storage {
    /// Validates `lines` against the catalog (types, limits, retention), appends the
    /// accepted ones to the WAL and returns once they are durable (fdatasync'ed, group
    /// committed), or once handed to the OS when `options.no_sync` or [`WalSync::None`].
    /// Accepted data is visible to scans on return.
    ///
    /// Lines that fail catalog checks are listed in `rejected` and the rest are written,
    /// unless `!options.accept_partial`, in which case nothing is written when any line
    /// fails. Lines without a timestamp get the server's current time.
    ///
    /// # Errors
    /// [`Error::DatabaseNotFound`] (auto-create off and no such database),
    /// [`Error::Backpressure`] (buffer over `max_buffer_bytes`; nothing written),
    /// [`Error::InvalidDatabaseName`], [`Error::Io`], [`Error::Closed`].
    pub async fn write(
        &self,
        db: &str,
        lines: &[sluice_lp::Line<'_>],
        options: WriteOptions,
    ) -> Result<WriteOutcome> {
        let inner = &self.inner;
        let gate = self.admit_write(db).await?;
        let now = now_ns();
        let validated = loop {
            let mut validation = Validation::new(now);
            let columns = {
                let mut catalog = inner.catalog.lock();
                let stopped = validate(inner, &mut catalog, &mut validation, db, lines)?;
                match stopped {
                    // New columns to claim first: undone before anyone sees them, and
                    // validated again from the start once claimed.
                    Some(unclaimed) => {
                        catalog.rollback(db, std::mem::take(&mut validation.changes));
                        unclaimed.columns
                    }
                    None => {
                        let mut v = validation.finish();
                        if !options.accept_partial && !v.rejected.is_empty() {
                            catalog.rollback(db, std::mem::take(&mut v.changes));
                            Metrics::add(&inner.metrics.lines_rejected, lines.len() as u64);
                            return Ok(WriteOutcome {
                                accepted: 0,
                                rejected: v.rejected,
                            });
                        }
                        if !v.changes.is_empty()
                            && let Err(e) = inner.save_catalog(&catalog)
                        {
                            catalog.rollback(db, std::mem::take(&mut v.changes));
                            return Err(e);
                        }
                        break v;
                    }
                }
            };
            self.claim_columns(db, columns).await?;
        };
        self.log_write(validated, gate, options.no_sync).await
    }

    /// The lines of `lines` a write to `db` would reject by the catalog's checks (a
    /// field's type, the limits), writing nothing and leaving the catalog as it was: what
    /// an all-or-nothing write that failed for other reasons still reports. On a node whose
    /// columns are claimed in a bucket, a line adding a column not yet claimed ends the
    /// check (claiming it would be a change); the lines before it are checked.
    ///
    /// # Errors
    /// [`Error::DatabaseNotFound`] (auto-create off and no such database),
    /// [`Error::InvalidDatabaseName`].
    pub fn check(&self, db: &str, lines: &[sluice_lp::Line<'_>]) -> Result<Vec<RejectedLine>> {
        let inner = &self.inner;
        let mut validation = Validation::new(now_ns());
        let mut catalog = inner.catalog.lock();
        if !catalog.databases.contains_key(db) {
            check_database_name(db)?;
        }
        let stopped = validate(inner, &mut catalog, &mut validation, db, lines);
        catalog.rollback(db, std::mem::take(&mut validation.changes));
        stopped?;
        Ok(validation.rejected)
    }

    /// Claims `columns` of `db` in the bucket and remembers the types claimed, which
    /// validations then give them (see `claims`).
    ///
    /// # Errors
    /// [`Error::ClaimUnavailable`], [`Error::Catalog`].
    async fn claim_columns(&self, db: &str, columns: Vec<NewColumn>) -> Result<()> {
        let claimed = claims::claim(&self.inner, db, columns).await?;
        let mut catalog = self.inner.catalog.lock();
        let known = catalog.claims.get_or_insert_with(Claims::default);
        for c in claimed {
            known.insert(db, &c.table, &c.column, c.kind);
        }
        Ok(())
    }

    /// Starts a write whose lines are given chunk by chunk ([`ChunkedWrite::add`]), so a
    /// caller parsing a large request can reuse one chunk of parsed lines instead of
    /// holding them all; [`ChunkedWrite::commit`] logs it. Always accepts partially: a
    /// rejected line does not stop the others, and the tables and columns a chunk adds
    /// stay in the catalog.
    ///
    /// Durability and visibility are those of [`Storage::write`]: nothing is logged
    /// before `commit`, and when `commit` returns the accepted lines are durable (unless
    /// `no_sync`) and visible to scans. Table drops wait while the write is open.
    ///
    /// # Errors
    /// As [`Storage::write`] before any line is read: [`Error::Closed`],
    /// [`Error::InvalidDatabaseName`], [`Error::Backpressure`].
    pub async fn begin_write(&self, db: &str, no_sync: bool) -> Result<ChunkedWrite<'_>> {
        let gate = self.admit_write(db).await?;
        Ok(ChunkedWrite {
            storage: self,
            gate,
            db: db.to_owned(),
            no_sync,
            validation: Validation::new(now_ns()),
        })
    }

    /// The checks every write passes before its lines are validated; returns the gate
    /// to hold until the write is queued (see `Inner::ddl`).
    async fn admit_write(&self, db: &str) -> Result<RwLockReadGuard<'_, ()>> {
        let inner = &self.inner;
        if inner.closed.load(Ordering::Relaxed) {
            return Err(Error::Closed);
        }
        inner.check_lease()?;
        // The storage of a retention policy (`D/r`) exists: only new names are checked.
        if !inner.catalog.lock().databases.contains_key(db) {
            check_database_name(db)?;
        }
        if inner.metrics.buffer_bytes.load(Ordering::Relaxed) as usize
            > inner.config.max_buffer_bytes
        {
            Metrics::add(&inner.metrics.backpressure_events, 1);
            inner.wakeup.notify_one();
            return Err(Error::Backpressure {
                retry_after: RETRY_AFTER,
            });
        }
        Ok(inner.ddl.read().await)
    }

    /// Logs a validated batch: queues it to the WAL, releases `gate`, and waits until it
    /// is durable (or written, with `no_sync`) and applied to the buffer.
    async fn log_write(
        &self,
        validated: Validated,
        gate: RwLockReadGuard<'_, ()>,
        no_sync: bool,
    ) -> Result<WriteOutcome> {
        let inner = &self.inner;
        let accepted = validated.batch.rows();
        Metrics::add(
            &inner.metrics.lines_rejected,
            validated.rejected.len() as u64,
        );
        if accepted > 0 {
            let sync = inner.config.wal_sync == WalSync::Fsync && !no_sync;
            let ticket = inner.wal.submit(validated.batch, validated.bytes, sync)?;
            drop(gate);
            ticket.wait().await?;
            if inner.config.wal_object_store {
                node::publish_catalog_for_wal(inner).await?;
            }
            Metrics::add(&inner.metrics.lines_written, accepted as u64);
            // The background task is woken by the measure it persists by, not by the
            // total: the series of a load of many count only toward half the ceiling,
            // and a round (retention, compaction, publication) per write would be waste.
            // The total is at least the rows, so below the size nothing is looked at.
            if inner.metrics.buffer_bytes.load(Ordering::Relaxed) as usize
                >= inner.config.persist_buffer_bytes
                && background::active_buffer_full(&inner.state.read(), &inner.config)
            {
                inner.wakeup.notify_one();
            }
        }
        Ok(WriteOutcome {
            accepted,
            rejected: validated.rejected,
        })
    }
}

/// Validates `lines` of `db` into `validation` with the engine's limits and its
/// auto-creation of databases, under the catalog lock the caller holds.
fn validate(
    inner: &Inner,
    catalog: &mut Catalog,
    validation: &mut Validation,
    db: &str,
    lines: &[sluice_lp::Line<'_>],
) -> Result<Option<Unclaimed>> {
    let (limits, auto_create) = (&inner.config.limits, inner.config.auto_create_databases);
    catalog.validate_chunk(validation, db, lines, limits, auto_create)
}

/// A write being assembled chunk by chunk; see [`Storage::begin_write`].
pub struct ChunkedWrite<'s> {
    storage: &'s Storage,
    gate: RwLockReadGuard<'s, ()>,
    db: String,
    no_sync: bool,
    validation: Validation,
}

impl std::fmt::Debug for ChunkedWrite<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChunkedWrite")
            .field("db", &self.db)
            .finish()
    }
}

impl ChunkedWrite<'_> {
    /// Validates the next chunk of lines (in input order) into the write; the lines
    /// may be reused once this returns. Rejected lines are reported by `commit`. On a
    /// node sharing its bucket, new columns are claimed there first (see `claims`).
    ///
    /// # Errors
    /// [`Error::DatabaseNotFound`] when the database is missing (and auto-creation is
    /// off) or was dropped since an earlier chunk; [`Error::Io`] when a new table or
    /// column cannot be saved to the catalog, [`Error::ClaimUnavailable`] when a new
    /// column cannot be claimed (the write is then abandoned).
    pub async fn add(&mut self, lines: &[sluice_lp::Line<'_>]) -> Result<()> {
        let inner = &self.storage.inner;
        let mut rest = lines;
        loop {
            let stopped = {
                let mut catalog = inner.catalog.lock();
                let stopped = validate(inner, &mut catalog, &mut self.validation, &self.db, rest)?;
                let changes = std::mem::take(&mut self.validation.changes);
                if !changes.is_empty()
                    && let Err(e) = inner.save_catalog(&catalog)
                {
                    catalog.rollback(&self.db, changes);
                    return Err(e);
                }
                stopped
            };
            // The lines before the first one adding an unclaimed column are in; the
            // rest follow once its columns are claimed.
            let Some(Unclaimed { consumed, columns }) = stopped else {
                return Ok(());
            };
            rest = &rest[consumed..];
            self.storage.claim_columns(&self.db, columns).await?;
        }
    }

    /// Logs the accepted lines of every chunk as one WAL record (see
    /// [`Storage::write`] for when that returns).
    ///
    /// # Errors
    /// As [`Storage::write`] once validated: [`Error::Closed`], [`Error::Io`].
    pub async fn commit(self) -> Result<WriteOutcome> {
        let ChunkedWrite {
            storage,
            gate,
            no_sync,
            validation,
            ..
        } = self;
        storage.log_write(validation.finish(), gate, no_sync).await
    }
}
