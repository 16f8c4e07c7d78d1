//! The batching writer: points in, batches out over several connections, with a bounded
//! queue, retries, an optional disk spool and metrics.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use sluice_lp::{Point, Precision};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::batch::{Batch, encode_point};
use crate::client::Client;
use crate::error::{Error, Result, WriteFailure};
use crate::lines::{LineKind, lines};
use crate::retry::{RetryOptions, random_unit};
use crate::spool::Spool;

/// What [`BatchWriter`] does with a new batch when its queue is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum QueueFullPolicy {
    /// The write waits until there is room: backpressure to the caller. The default.
    #[default]
    Block,
    /// The oldest queued batches are dropped (and counted) to make room.
    DropOldest,
    /// The write fails with [`Error::QueueFull`] and its points are dropped.
    Error,
}

/// How a [`BatchWriter`] batches, queues and retries. Defaults follow the official
/// InfluxDB clients (the Go client's batch size; the retry settings all share).
#[derive(Debug, Clone, PartialEq)]
pub struct WriteOptions {
    /// Points per batch. Default: 5,000.
    pub batch_size: usize,
    /// A batch that is not full is sent after at most this long. Default: 1 s.
    pub flush_interval: Duration,
    /// A random delay of up to this much is added to each flush interval, so that many
    /// writers do not send at the same instant. Default: 0.
    pub jitter_interval: Duration,
    /// The delay before the first retry when the server sent no `Retry-After`.
    /// Default: 5 s.
    pub retry_interval: Duration,
    /// Retries of a batch after its first attempt. Default: 5.
    pub max_retries: u32,
    /// The longest delay between two attempts. Default: 125 s.
    pub max_retry_delay: Duration,
    /// The longest time from a batch's first attempt to its last. Default: 180 s.
    pub max_retry_time: Duration,
    /// The base of the exponential backoff. Default: 2.
    pub exponential_base: u32,
    /// The largest request body; a batch is sealed before it would grow past this, and
    /// a batch the server still answers 413 is split in halves. Default: 9.5 MiB (under
    /// the 10 MiB that sluice and InfluxDB accept).
    pub max_batch_bytes: usize,
    /// Batches in flight at once, over a pool of keep-alive connections. Default: 4.
    pub concurrency: usize,
    /// Points that may wait in the queue (batches in flight not counted). Default:
    /// 100,000.
    pub max_queued_points: usize,
    /// What to do when the queue is full. Default: [`QueueFullPolicy::Block`].
    pub queue_full: QueueFullPolicy,
    /// A directory for batches that cannot be delivered (retries exhausted, or the queue
    /// full); they are replayed, oldest first, when the server is back, also by the next
    /// writer opened on the same directory. Default: none (such batches are dropped and
    /// reported by [`BatchWriter::flush`]).
    pub spool_dir: Option<PathBuf>,
}

impl Default for WriteOptions {
    fn default() -> Self {
        let retry = RetryOptions::default();
        Self {
            batch_size: 5_000,
            flush_interval: Duration::from_secs(1),
            jitter_interval: Duration::ZERO,
            retry_interval: retry.retry_interval,
            max_retries: retry.max_retries,
            max_retry_delay: retry.max_retry_delay,
            max_retry_time: retry.max_retry_time,
            exponential_base: retry.exponential_base,
            max_batch_bytes: 9 * 1024 * 1024 + 512 * 1024,
            concurrency: 4,
            max_queued_points: 100_000,
            queue_full: QueueFullPolicy::Block,
            spool_dir: None,
        }
    }
}

impl WriteOptions {
    /// The retry settings as [`RetryOptions`].
    pub fn retry_options(&self) -> RetryOptions {
        RetryOptions {
            retry_interval: self.retry_interval,
            max_retries: self.max_retries,
            max_retry_delay: self.max_retry_delay,
            max_retry_time: self.max_retry_time,
            exponential_base: self.exponential_base,
            retry_after_jitter: self.jitter_interval,
        }
    }
}

/// A snapshot of a writer's counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriterMetrics {
    /// Points the server accepted.
    pub points_written: u64,
    /// Points dropped because the queue was full (`DropOldest`, `Error`).
    pub points_dropped: u64,
    /// Points sent again after a failed attempt (once per retry).
    pub points_retried: u64,
    /// Points the server rejected line by line, or that could not be delivered.
    pub points_failed: u64,
    /// Points written to the spool.
    pub points_spooled: u64,
    /// Points waiting in the spool now.
    pub spool_depth: u64,
    /// Batches the server accepted (fully or partly).
    pub batches_written: u64,
    /// Points waiting in the queue now.
    pub queue_depth: u64,
    /// The most recent error, as text.
    pub last_error: Option<String>,
}

#[derive(Debug, Default)]
struct Counters {
    written: AtomicU64,
    dropped: AtomicU64,
    retried: AtomicU64,
    failed: AtomicU64,
    spooled: AtomicU64,
    batches: AtomicU64,
}

#[derive(Debug, Default)]
struct Queue {
    batches: VecDeque<Batch>,
    points: usize,
    in_flight: usize,
    closed: bool,
}

/// Failures since the last flush.
#[derive(Debug, Default)]
struct Failures {
    rejected_points: u64,
    undelivered_points: u64,
    errors: Vec<Error>,
}

#[derive(Debug)]
struct Shared {
    client: Client,
    options: WriteOptions,
    retry: RetryOptions,
    pending: Mutex<Batch>,
    queue: Mutex<Queue>,
    /// Signalled when batches are queued or the writer closes.
    items: Notify,
    /// Signalled when queue room frees up or a batch finishes.
    progress: Notify,
    /// Signalled when the spool gets a record.
    spooled: Notify,
    counters: Counters,
    failures: Mutex<Failures>,
    last_error: Mutex<Option<String>>,
    spool: Option<Mutex<Spool>>,
}

/// Collects points into batches and sends them, `concurrency` at a time, retrying
/// failures and spooling what cannot be delivered. Dropping it without
/// [`BatchWriter::close`] abandons unsent points.
#[derive(Debug)]
pub struct BatchWriter {
    shared: Arc<Shared>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl BatchWriter {
    /// Starts a writer that sends through `client` (whose own retry settings are
    /// replaced by those of `options`). Must be called inside a tokio runtime.
    ///
    /// # Errors
    /// [`Error::Spool`] when `options.spool_dir` cannot be opened.
    pub fn new(client: Client, options: WriteOptions) -> Result<BatchWriter> {
        let spool = match &options.spool_dir {
            Some(dir) => Some(Mutex::new(Spool::open(dir)?)),
            None => None,
        };
        let shared = Arc::new(Shared {
            pending: Mutex::new(Batch::new(client.precision())),
            client,
            retry: options.retry_options(),
            options,
            queue: Mutex::new(Queue::default()),
            items: Notify::new(),
            progress: Notify::new(),
            spooled: Notify::new(),
            counters: Counters::default(),
            failures: Mutex::new(Failures::default()),
            last_error: Mutex::new(None),
            spool,
        });
        let mut tasks = Vec::new();
        for _ in 0..shared.options.concurrency.max(1) {
            tasks.push(tokio::spawn(sender(Arc::clone(&shared))));
        }
        tasks.push(tokio::spawn(ticker(Arc::clone(&shared))));
        if shared.spool.is_some() {
            tasks.push(tokio::spawn(replayer(Arc::clone(&shared))));
        }
        Ok(BatchWriter {
            shared,
            tasks: Mutex::new(tasks),
        })
    }

    /// Adds one point (nanosecond timestamp).
    ///
    /// # Errors
    /// [`Error::QueueFull`] under [`QueueFullPolicy::Error`], [`Error::Closed`] after
    /// close, [`Error::Spool`] when spooling fails.
    pub async fn write_point(&self, point: &Point) -> Result<()> {
        let mut line = String::with_capacity(64);
        encode_point(point, &mut line);
        self.push_line(line.as_bytes(), Precision::Nanosecond).await
    }

    /// Adds points (nanosecond timestamps).
    ///
    /// # Errors
    /// As [`BatchWriter::write_point`].
    pub async fn write_points(&self, points: &[Point]) -> Result<()> {
        let mut line = String::with_capacity(64);
        for point in points {
            line.clear();
            encode_point(point, &mut line);
            self.push_line(line.as_bytes(), Precision::Nanosecond)
                .await?;
        }
        Ok(())
    }

    /// Adds raw line protocol in the client's precision; blank and comment lines are
    /// skipped and a final line without a newline is taken whole.
    ///
    /// # Errors
    /// As [`BatchWriter::write_point`].
    pub async fn write_lp(&self, text: impl AsRef<[u8]>) -> Result<()> {
        let text = text.as_ref();
        let precision = self.shared.client.precision();
        for span in lines(text) {
            if span.kind != LineKind::Point {
                continue;
            }
            let line = &text[span.start..span.end];
            if line.last() == Some(&b'\n') {
                self.push_line(line, precision).await?;
            } else {
                let mut owned = line.to_vec();
                owned.push(b'\n');
                self.push_line(&owned, precision).await?;
            }
        }
        Ok(())
    }

    /// Queues an already complete batch as it is (it is still split on 413).
    ///
    /// # Errors
    /// As [`BatchWriter::write_point`].
    pub async fn write_batch(&self, batch: Batch) -> Result<()> {
        enqueue(&self.shared, batch).await
    }

    async fn push_line(&self, line: &[u8], precision: Precision) -> Result<()> {
        let options = &self.shared.options;
        let mut sealed = Vec::new();
        {
            let mut pending = lock(&self.shared.pending);
            if pending.precision() != precision
                || (!pending.is_empty()
                    && pending.len_bytes() + line.len() > options.max_batch_bytes)
            {
                sealed.push(std::mem::replace(&mut *pending, Batch::new(precision)));
            }
            pending.push_point_line(line);
            if pending.points() >= options.batch_size.max(1)
                || pending.len_bytes() >= options.max_batch_bytes
            {
                sealed.push(std::mem::replace(&mut *pending, Batch::new(precision)));
            }
        }
        for batch in sealed {
            enqueue(&self.shared, batch).await?;
        }
        Ok(())
    }

    /// Sends everything written so far and waits until it is delivered, spooled, or
    /// failed.
    ///
    /// # Errors
    /// [`Error::Undelivered`] with what was rejected or could not be delivered since the
    /// last flush (spooled points are not failures: they are kept).
    pub async fn flush(&self) -> Result<()> {
        seal_pending(&self.shared).await?;
        loop {
            let notified = self.shared.progress.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let queue = lock(&self.shared.queue);
                if queue.batches.is_empty() && queue.in_flight == 0 {
                    break;
                }
            }
            notified.await;
        }
        let failures = std::mem::take(&mut *lock(&self.shared.failures));
        if failures.rejected_points == 0 && failures.undelivered_points == 0 {
            return Ok(());
        }
        Err(Error::Undelivered(Box::new(WriteFailure {
            rejected_points: failures.rejected_points,
            undelivered_points: failures.undelivered_points,
            errors: failures.errors,
        })))
    }

    /// Flushes, then stops the writer's tasks. Points still in the spool stay there for
    /// the next writer on the same directory.
    ///
    /// # Errors
    /// As [`BatchWriter::flush`].
    pub async fn close(&self) -> Result<()> {
        let result = self.flush().await;
        lock(&self.shared.queue).closed = true;
        self.shared.items.notify_waiters();
        self.shared.spooled.notify_waiters();
        let tasks = std::mem::take(&mut *lock(&self.tasks));
        for task in tasks {
            task.abort();
            let _ = task.await;
        }
        self.log_metrics();
        result
    }

    /// Waits until the spool is empty (every spooled batch replayed), or `timeout`.
    /// Returns true when it is empty.
    pub async fn wait_for_spool_drained(&self, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if self.metrics().spool_depth == 0 {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The writer's counters now.
    pub fn metrics(&self) -> WriterMetrics {
        let c = &self.shared.counters;
        WriterMetrics {
            points_written: c.written.load(Ordering::Relaxed),
            points_dropped: c.dropped.load(Ordering::Relaxed),
            points_retried: c.retried.load(Ordering::Relaxed),
            points_failed: c.failed.load(Ordering::Relaxed),
            points_spooled: c.spooled.load(Ordering::Relaxed),
            spool_depth: self.shared.spool.as_ref().map_or(0, |s| lock(s).points()),
            batches_written: c.batches.load(Ordering::Relaxed),
            queue_depth: lock(&self.shared.queue).points as u64,
            last_error: lock(&self.shared.last_error).clone(),
        }
    }

    /// Writes the counters to the log (`tracing`, info level).
    pub fn log_metrics(&self) {
        let m = self.metrics();
        tracing::info!(
            points_written = m.points_written,
            points_dropped = m.points_dropped,
            points_retried = m.points_retried,
            points_failed = m.points_failed,
            points_spooled = m.points_spooled,
            spool_depth = m.spool_depth,
            batches_written = m.batches_written,
            queue_depth = m.queue_depth,
            last_error = m.last_error.as_deref().unwrap_or(""),
            "sluice writer metrics"
        );
    }
}

impl Drop for BatchWriter {
    fn drop(&mut self) {
        for task in lock(&self.tasks).iter() {
            task.abort();
        }
    }
}

async fn seal_pending(shared: &Arc<Shared>) -> Result<()> {
    let batch = {
        let mut pending = lock(&shared.pending);
        if pending.is_empty() {
            return Ok(());
        }
        let precision = pending.precision();
        std::mem::replace(&mut *pending, Batch::new(precision))
    };
    enqueue(shared, batch).await
}

fn record_error(shared: &Shared, err: &Error) {
    *lock(&shared.last_error) = Some(err.to_string());
}

/// Puts a sealed batch in the queue, applying the full-queue policy.
async fn enqueue(shared: &Arc<Shared>, batch: Batch) -> Result<()> {
    if batch.is_empty() {
        return Ok(());
    }
    let capacity = shared.options.max_queued_points.max(1);
    loop {
        let notified = shared.progress.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let full_to_spool = {
            let mut queue = lock(&shared.queue);
            if queue.closed {
                return Err(Error::Closed);
            }
            if queue.points + batch.points() <= capacity || queue.batches.is_empty() {
                queue.points += batch.points();
                queue.batches.push_back(batch);
                drop(queue);
                shared.items.notify_one();
                return Ok(());
            }
            let to_spool = shared.spool.is_some();
            if !to_spool {
                match shared.options.queue_full {
                    QueueFullPolicy::Block => {}
                    QueueFullPolicy::DropOldest => {
                        let mut dropped = 0;
                        while queue.points + batch.points() > capacity
                            && let Some(old) = queue.batches.pop_front()
                        {
                            queue.points -= old.points();
                            dropped += old.points() as u64;
                        }
                        queue.points += batch.points();
                        queue.batches.push_back(batch);
                        drop(queue);
                        shared
                            .counters
                            .dropped
                            .fetch_add(dropped, Ordering::Relaxed);
                        let err = Error::QueueFull {
                            queued_points: capacity,
                        };
                        tracing::warn!(dropped, "write queue full: dropped the oldest points");
                        record_error(shared, &err);
                        let mut failures = lock(&shared.failures);
                        failures.undelivered_points += dropped;
                        push_error(&mut failures, err);
                        drop(failures);
                        shared.items.notify_one();
                        return Ok(());
                    }
                    QueueFullPolicy::Error => {
                        drop(queue);
                        shared
                            .counters
                            .dropped
                            .fetch_add(batch.points() as u64, Ordering::Relaxed);
                        let err = Error::QueueFull {
                            queued_points: capacity,
                        };
                        record_error(shared, &err);
                        return Err(err);
                    }
                }
            }
            to_spool
        };
        if full_to_spool {
            return spool_batch(shared, &batch).await;
        }
        notified.await;
    }
}

fn push_error(failures: &mut Failures, err: Error) {
    if failures.errors.len() < 100 {
        failures.errors.push(err);
    }
}

/// Appends a batch to the spool; if even that fails, counts it undelivered.
async fn spool_batch(shared: &Arc<Shared>, batch: &Batch) -> Result<()> {
    let result = match &shared.spool {
        Some(spool) => lock(spool).append(batch),
        None => return Ok(()),
    };
    match result {
        Ok(()) => {
            shared
                .counters
                .spooled
                .fetch_add(batch.points() as u64, Ordering::Relaxed);
            shared.spooled.notify_one();
            Ok(())
        }
        Err(err) => {
            tracing::error!(error = %err, "cannot spool a batch; its points are lost");
            record_error(shared, &err);
            shared
                .counters
                .failed
                .fetch_add(batch.points() as u64, Ordering::Relaxed);
            let mut failures = lock(&shared.failures);
            failures.undelivered_points += batch.points() as u64;
            Err(err)
        }
    }
}

/// Takes batches from the queue and delivers them.
async fn sender(shared: Arc<Shared>) {
    loop {
        let notified = shared.items.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let batch = {
            let mut queue = lock(&shared.queue);
            match queue.batches.pop_front() {
                Some(batch) => {
                    queue.points -= batch.points();
                    queue.in_flight += 1;
                    Some(batch)
                }
                None if queue.closed => return,
                None => None,
            }
        };
        let Some(batch) = batch else {
            notified.await;
            continue;
        };
        shared.progress.notify_waiters();
        // While older batches wait in the spool, newer ones queue up behind them there,
        // so that the server receives everything in order.
        let spool_waiting = shared.spool.as_ref().is_some_and(|s| !lock(s).is_empty());
        if spool_waiting {
            let _ = spool_batch(&shared, &batch).await;
        } else {
            deliver(&shared, &batch, true).await;
        }
        lock(&shared.queue).in_flight -= 1;
        shared.progress.notify_waiters();
    }
}

/// Sends one batch with retries and accounts for the outcome. Returns true when the
/// batch needs no further attempt (delivered or rejected); false when it could not be
/// delivered (and was spooled if `spool_on_failure` and a spool exists).
async fn deliver(shared: &Arc<Shared>, batch: &Batch, spool_on_failure: bool) -> bool {
    let counters = &shared.counters;
    let observer = |err: &Error, _delay: Duration, points: usize| {
        counters.retried.fetch_add(points as u64, Ordering::Relaxed);
        record_error(shared, err);
    };
    let result = shared
        .client
        .deliver_with(batch, &shared.retry, &observer)
        .await;
    match result {
        Ok(()) => {
            counters
                .written
                .fetch_add(batch.points() as u64, Ordering::Relaxed);
            counters.batches.fetch_add(1, Ordering::Relaxed);
            true
        }
        Err(err @ Error::Rejected { .. }) => {
            let rejected = err.rejected_lines().len().max(1) as u64;
            let written = (batch.points() as u64).saturating_sub(rejected);
            counters.written.fetch_add(written, Ordering::Relaxed);
            counters.failed.fetch_add(rejected, Ordering::Relaxed);
            counters.batches.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(rejected, error = %err, "server rejected lines");
            record_error(shared, &err);
            let mut failures = lock(&shared.failures);
            failures.rejected_points += rejected;
            push_error(&mut failures, err);
            true
        }
        Err(err) => {
            record_error(shared, &err);
            let retryable = matches!(err, Error::RetriesExhausted { .. }) || err.is_retryable();
            if spool_on_failure && retryable && shared.spool.is_some() {
                tracing::warn!(error = %err, points = batch.points(), "spooling undelivered batch");
                let _ = spool_batch(shared, batch).await;
                return false;
            }
            if !spool_on_failure && retryable {
                // A replayed batch stays in the spool for the next round.
                return false;
            }
            tracing::error!(error = %err, points = batch.points(), "batch undelivered");
            counters
                .failed
                .fetch_add(batch.points() as u64, Ordering::Relaxed);
            let mut failures = lock(&shared.failures);
            failures.undelivered_points += batch.points() as u64;
            push_error(&mut failures, err);
            true
        }
    }
}

/// Seals the pending batch every flush interval (plus jitter).
async fn ticker(shared: Arc<Shared>) {
    loop {
        let jitter = shared.options.jitter_interval.mul_f64(random_unit());
        tokio::time::sleep(shared.options.flush_interval + jitter).await;
        if let Err(err) = seal_pending(&shared).await {
            if matches!(err, Error::Closed) {
                return;
            }
            tracing::warn!(error = %err, "periodic flush failed");
        }
    }
}

/// Replays spooled batches, oldest first, one at a time.
async fn replayer(shared: Arc<Shared>) {
    let Some(spool) = shared.spool.as_ref() else {
        return;
    };
    loop {
        let notified = shared.spooled.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let next = lock(spool).peek();
        let (batch, pos) = match next {
            Ok(Some(next)) => next,
            Ok(None) => {
                notified.await;
                continue;
            }
            Err(err) => {
                tracing::error!(error = %err, "cannot read the spool");
                record_error(&shared, &err);
                tokio::time::sleep(shared.retry.retry_interval).await;
                continue;
            }
        };
        if deliver(&shared, &batch, false).await {
            if let Err(err) = lock(spool).ack(pos, batch.points()) {
                tracing::error!(error = %err, "cannot record spool progress");
                record_error(&shared, &err);
            }
            shared.progress.notify_waiters();
        } else {
            // The server is still away: try again later.
            tokio::time::sleep(shared.retry.retry_interval).await;
        }
    }
}
