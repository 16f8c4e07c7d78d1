//! Threads that may read files themselves. A scan on local disk is blocking work (copying
//! buffered rows under the state lock, reading files, merging), which the engine hands to
//! the blocking pool so that async workers never wait on it. A query that already runs
//! on a thread of its own gains nothing from that hand-over and pays two thread
//! wake-ups for it (about a tenth of a small query's time): [`with_inline_reads`] marks
//! such a thread, and scans started on it read there.
//!
//! A scan done in place cannot be dropped midway as an awaited task can, so it asks the
//! marker's `stop` between files and fails with [`Error::Stopped`] once it says so.

use std::cell::RefCell;
use std::sync::Arc;

use crate::error::{Error, Result};

/// Says whether the query a scan belongs to was stopped (timed out, or its client left).
pub type StopSignal = Arc<dyn Fn() -> bool + Send + Sync>;

thread_local! {
    static INLINE_READS: RefCell<Option<StopSignal>> = const { RefCell::new(None) };
}

/// Runs `f` with the calling thread marked as one that may block: scans of local files
/// that `f` awaits on this thread (not in tasks it spawns) are done here instead of on
/// the blocking pool. For threads that are not async workers (a query's own thread).
/// Each such scan asks `stop` between files and fails with [`Error::Stopped`] once it
/// returns true.
pub fn with_inline_reads<R>(stop: StopSignal, f: impl FnOnce() -> R) -> R {
    struct Restore(Option<StopSignal>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let previous = self.0.take();
            INLINE_READS.with(|cell| *cell.borrow_mut() = previous);
        }
    }
    let previous = INLINE_READS.with(|cell| cell.borrow_mut().replace(stop));
    let _restore = Restore(previous);
    f()
}

/// The stop signal of the calling thread when it may read files itself
/// ([`with_inline_reads`]).
pub(super) fn inline_reads() -> Option<StopSignal> {
    INLINE_READS.with(|cell| cell.borrow().clone())
}

/// Fails with [`Error::Stopped`] once `stop` says so.
pub(super) fn check(stop: Option<&StopSignal>) -> Result<()> {
    match stop {
        Some(stop) if stop() => Err(Error::Stopped),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mark_holds_inside_and_is_restored_after_even_a_panic() {
        assert!(inline_reads().is_none());
        let outer: StopSignal = Arc::new(|| false);
        with_inline_reads(outer, || {
            assert!(check(inline_reads().as_ref()).is_ok());
            let inner: StopSignal = Arc::new(|| true);
            let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                with_inline_reads(inner, || {
                    assert!(matches!(
                        check(inline_reads().as_ref()),
                        Err(Error::Stopped)
                    ));
                    panic!("a scan failed");
                })
            }));
            assert!(panicked.is_err());
            assert!(
                check(inline_reads().as_ref()).is_ok(),
                "the outer mark is back"
            );
        });
        assert!(inline_reads().is_none());
    }
}
