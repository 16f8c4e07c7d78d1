//! Bounds on one query: how long it may run, how much memory it may hold, and InfluxDB
//! 1.x's `max-select-point`, `max-select-series` and `max-select-buckets` guards; plus
//! the [`Budget`] a running query checks them against, which also carries its
//! cancellation.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

/// The bounds every query runs under. Zero turns a bound off (as in InfluxDB 1.x).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueryLimits {
    /// How long a query may run before it is stopped with
    /// [`Error::QueryTimeout`]. Default 60 s.
    pub timeout: Duration,
    /// Memory one query may hold: for SQL, DataFusion's memory pool of the query plus the
    /// result it collects; for InfluxQL, the scanned batches plus the rows it builds.
    /// Over it the query fails with [`Error::MemoryLimit`]. Default 1 GiB.
    pub memory_limit_bytes: usize,
    /// InfluxQL: most points one `SELECT` may read from storage. Default 100,000,000.
    pub max_select_point: u64,
    /// InfluxQL: most series one `SELECT` may produce. Default 100,000.
    pub max_select_series: u64,
    /// InfluxQL: most `GROUP BY time()` buckets one `SELECT` may produce, counted over
    /// all its series (stricter than InfluxDB 1.x, which counts one series: a million
    /// buckets times a thousand hosts is what takes memory). Default 1,000,000.
    pub max_select_buckets: u64,
}

impl Default for QueryLimits {
    fn default() -> Self {
        QueryLimits {
            timeout: Duration::from_secs(60),
            memory_limit_bytes: 1 << 30,
            max_select_point: 100_000_000,
            max_select_series: 100_000,
            max_select_buckets: 1_000_000,
        }
    }
}

/// How often (in loop iterations) the executors look at the clock and the cancel flag.
pub(crate) const CHECK_EVERY: u32 = 4096;

/// One running query's bounds and what it has used of them. Shared by reference with the
/// executor's loops, which call [`Budget::check`] every [`CHECK_EVERY`] rows so that a
/// query that timed out or whose client went away stops using CPU.
#[derive(Debug)]
pub(crate) struct Budget {
    limits: QueryLimits,
    deadline: Option<Instant>,
    cancelled: Arc<AtomicBool>,
    points: AtomicU64,
    buckets: AtomicU64,
    memory: AtomicUsize,
}

impl Budget {
    /// A budget starting now, stopped early when `cancelled` is set.
    pub(crate) fn new(limits: QueryLimits, cancelled: Arc<AtomicBool>) -> Self {
        Budget {
            limits,
            deadline: (!limits.timeout.is_zero()).then(|| Instant::now() + limits.timeout),
            cancelled,
            points: AtomicU64::new(0),
            buckets: AtomicU64::new(0),
            memory: AtomicUsize::new(0),
        }
    }

    /// A budget without bounds (for tests and internal callers).
    #[cfg(test)]
    pub(crate) fn unlimited() -> Self {
        Budget::new(
            QueryLimits {
                timeout: Duration::ZERO,
                memory_limit_bytes: 0,
                max_select_point: 0,
                max_select_series: 0,
                max_select_buckets: 0,
            },
            Arc::default(),
        )
    }

    /// Starts counting points and buckets afresh: InfluxDB's guards bound each statement
    /// (memory and time are the whole query's).
    pub(crate) fn start_statement(&self) {
        self.points.store(0, Ordering::Relaxed);
        self.buckets.store(0, Ordering::Relaxed);
    }

    /// Whether the query is cancelled or past its deadline, for storage's scans on the
    /// query's thread (`sluice_storage::with_inline_reads`).
    pub(crate) fn stop_signal(&self) -> sluice_storage::StopSignal {
        let (cancelled, deadline) = (self.cancelled.clone(), self.deadline);
        Arc::new(move || {
            cancelled.load(Ordering::Relaxed) || deadline.is_some_and(|d| Instant::now() >= d)
        })
    }

    /// The reason a query that failed with `error` stopped: the budget's, when it is
    /// cancelled or past its deadline (whatever failed then failed because of that,
    /// such as a scan told to stop), else `error`.
    pub(crate) fn explain(&self, error: Error) -> Error {
        self.check().err().unwrap_or(error)
    }

    /// Fails once the query is cancelled or past its deadline.
    ///
    /// # Errors
    /// [`Error::Cancelled`], [`Error::QueryTimeout`].
    pub(crate) fn check(&self) -> Result<()> {
        if self.cancelled.load(Ordering::Relaxed) {
            return Err(Error::Cancelled);
        }
        if self.deadline.is_some_and(|d| Instant::now() >= d) {
            return Err(Error::QueryTimeout {
                limit: self.limits.timeout,
            });
        }
        Ok(())
    }

    /// [`Budget::check`] every [`CHECK_EVERY`] calls; `counter` is the loop's own.
    ///
    /// # Errors
    /// As [`Budget::check`].
    #[inline]
    pub(crate) fn tick(&self, counter: &mut u32) -> Result<()> {
        *counter += 1;
        if *counter >= CHECK_EVERY {
            *counter = 0;
            self.check()?;
        }
        Ok(())
    }

    /// Counts `n` more points read from storage against `max-select-point`.
    ///
    /// # Errors
    /// [`Error::LimitExceeded`] over the limit.
    pub(crate) fn add_points(&self, n: u64) -> Result<()> {
        let total = self.points.fetch_add(n, Ordering::Relaxed) + n;
        over("max-select-point", total, self.limits.max_select_point)
    }

    /// Checks a statement's series count against `max-select-series`.
    ///
    /// # Errors
    /// [`Error::LimitExceeded`] over the limit.
    pub(crate) fn check_series(&self, n: u64) -> Result<()> {
        over("max-select-series", n, self.limits.max_select_series)
    }

    /// Counts `n` more `GROUP BY time()` buckets against `max-select-buckets`.
    ///
    /// # Errors
    /// [`Error::LimitExceeded`] over the limit.
    pub(crate) fn add_buckets(&self, n: u64) -> Result<()> {
        let total = self
            .buckets
            .fetch_add(n, Ordering::Relaxed)
            .saturating_add(n);
        over("max-select-buckets", total, self.limits.max_select_buckets)
    }

    /// Counts `bytes` more memory held by the query.
    ///
    /// # Errors
    /// [`Error::MemoryLimit`] over `--query-memory-limit`.
    pub(crate) fn grow(&self, bytes: usize) -> Result<()> {
        let total = self
            .memory
            .fetch_add(bytes, Ordering::Relaxed)
            .saturating_add(bytes);
        let limit = self.limits.memory_limit_bytes;
        if limit != 0 && total > limit {
            // Not taken: a caller that gets the error holds nothing to give back, and
            // one that carries on without these bytes (a query read in smaller parts)
            // has the rest of its budget.
            self.shrink(bytes);
            return Err(Error::MemoryLimit { limit });
        }
        Ok(())
    }

    /// The memory the query may still take, for a storage scan's `max_bytes`; `None`
    /// without a memory limit.
    pub(crate) fn memory_left(&self) -> Option<usize> {
        let limit = self.limits.memory_limit_bytes;
        (limit != 0).then(|| limit.saturating_sub(self.memory.load(Ordering::Relaxed)))
    }

    /// The query's error for a failed storage scan: a scan stopped at its `max_bytes`
    /// ([`Budget::memory_left`]) is the query over its memory limit.
    pub(crate) fn scan_failed(&self, error: sluice_storage::Error) -> Error {
        match error {
            sluice_storage::Error::ScanTooLarge { .. } => Error::MemoryLimit {
                limit: self.limits.memory_limit_bytes,
            },
            other => other.into(),
        }
    }

    /// Returns `bytes` counted by [`Budget::grow`] that the query no longer holds.
    pub(crate) fn shrink(&self, bytes: usize) {
        let _ = self
            .memory
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |m| {
                Some(m.saturating_sub(bytes))
            });
    }
}

fn over(name: &'static str, value: u64, limit: u64) -> Result<()> {
    if limit != 0 && value > limit {
        return Err(Error::LimitExceeded { name, value, limit });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_name_themselves_as_influxdb_does() {
        let budget = Budget::new(
            QueryLimits {
                max_select_point: 10,
                max_select_series: 2,
                max_select_buckets: 5,
                memory_limit_bytes: 100,
                ..QueryLimits::default()
            },
            Arc::default(),
        );
        budget.add_points(10).unwrap();
        let e = budget.add_points(1).unwrap_err();
        assert_eq!(e.to_string(), "max-select-point limit exceeded: (11/10)");
        budget.check_series(2).unwrap();
        let e = budget.check_series(3).unwrap_err();
        assert_eq!(e.to_string(), "max-select-series limit exceeded: (3/2)");
        budget.add_buckets(3).unwrap();
        let e = budget.add_buckets(3).unwrap_err();
        assert_eq!(e.to_string(), "max-select-buckets limit exceeded: (6/5)");
        budget.start_statement();
        budget.add_points(10).unwrap();
        budget.add_buckets(5).unwrap();
        budget.grow(60).unwrap();
        budget.shrink(60);
        budget.grow(100).unwrap();
        assert!(matches!(
            budget.grow(1),
            Err(Error::MemoryLimit { limit: 100 })
        ));
        // A refused grow takes nothing.
        budget.shrink(40);
        assert_eq!(budget.memory_left(), Some(40));
        assert!(budget.grow(41).is_err());
        assert_eq!(budget.memory_left(), Some(40));
        budget.grow(40).unwrap();
    }

    #[test]
    fn zero_turns_a_bound_off() {
        let budget = Budget::unlimited();
        budget.add_points(u64::MAX / 2).unwrap();
        budget.check_series(u64::MAX).unwrap();
        budget.add_buckets(u64::MAX).unwrap();
        budget.grow(usize::MAX / 2).unwrap();
        budget.check().unwrap();
    }

    #[test]
    fn cancel_and_deadline_stop_the_query() {
        let flag = Arc::new(AtomicBool::new(false));
        let budget = Budget::new(QueryLimits::default(), flag.clone());
        budget.check().unwrap();
        flag.store(true, Ordering::Relaxed);
        assert!(matches!(budget.check(), Err(Error::Cancelled)));
        let late = Budget::new(
            QueryLimits {
                timeout: Duration::from_nanos(1),
                ..QueryLimits::default()
            },
            Arc::default(),
        );
        std::thread::sleep(Duration::from_millis(2));
        let e = late.check().unwrap_err();
        assert!(
            e.to_string().starts_with("query-timeout limit exceeded"),
            "{e}"
        );
    }
}
