//! The figures behind `internal_memstats`: a counting global allocator (installed by the
//! `sluice-agent` binary) and glibc's `mallinfo2`.
//!
//! Telegraf reads Go's `runtime.MemStats`; this process has no Go runtime, so only the
//! figures with a meaning here are written (see [`FIELDS`] and docs/agent.md):
//! `num_gc`, `pointer_lookups` (no garbage collector) and `heap_released_bytes` (glibc
//! does not count memory returned to the system) are not. The live-object count is
//! `heap_objects`, the name Telegraf's code writes (its README says
//! `heap_objects_bytes`).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::metric::Metric;

static MALLOCS: AtomicU64 = AtomicU64::new(0);
static FREES: AtomicU64 = AtomicU64::new(0);
static TOTAL_BYTES: AtomicU64 = AtomicU64::new(0);
static LIVE_BYTES: AtomicU64 = AtomicU64::new(0);
static INSTALLED: AtomicBool = AtomicBool::new(false);

/// The fields of `internal_memstats`, all integers, sorted.
pub const FIELDS: [&str; 10] = [
    "alloc_bytes",
    "frees",
    "heap_alloc_bytes",
    "heap_idle_bytes",
    "heap_in_use_bytes",
    "heap_objects",
    "heap_sys_bytes",
    "mallocs",
    "sys_bytes",
    "total_alloc_bytes",
];

/// The system allocator, counting allocations and bytes. The binary installs it with
/// `#[global_allocator]`; without it `internal_memstats` has only the `mallinfo2` and
/// `/proc` figures.
#[derive(Debug, Clone, Copy, Default)]
pub struct CountingAllocator;

impl CountingAllocator {
    fn count_alloc(size: usize) {
        INSTALLED.store(true, Ordering::Relaxed);
        MALLOCS.fetch_add(1, Ordering::Relaxed);
        TOTAL_BYTES.fetch_add(size as u64, Ordering::Relaxed);
        LIVE_BYTES.fetch_add(size as u64, Ordering::Relaxed);
    }

    fn count_free(size: usize) {
        FREES.fetch_add(1, Ordering::Relaxed);
        LIVE_BYTES.fetch_sub(size as u64, Ordering::Relaxed);
    }
}

// SAFETY: every call is passed on unchanged to `System`, which upholds `GlobalAlloc`'s
// contract; the counters only observe sizes.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller upholds `alloc`'s contract, which `System` needs.
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            Self::count_alloc(layout.size());
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as for `alloc`.
        let ptr = unsafe { System.alloc_zeroed(layout) };
        if !ptr.is_null() {
            Self::count_alloc(layout.size());
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by this allocator (so by `System`) with `layout`.
        unsafe { System.dealloc(ptr, layout) };
        Self::count_free(layout.size());
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller upholds `realloc`'s contract, which `System` needs.
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            // Counted as Go counts a grown slice: one free and one new allocation.
            Self::count_free(layout.size());
            Self::count_alloc(new_size);
        }
        new
    }
}

/// Resident memory of this process in bytes, from `/proc/self/statm`.
fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    Some(pages * u64::try_from(page).ok()?)
}

/// glibc's heap figures: (in use, free inside the heap, obtained from the system).
fn heap() -> (u64, u64, u64) {
    // SAFETY: mallinfo2 only reads the allocator's statistics.
    let info = unsafe { libc::mallinfo2() };
    let in_use = (info.uordblks + info.hblkhd) as u64;
    let idle = info.fordblks as u64;
    let sys = (info.arena + info.hblkhd) as u64;
    (in_use, idle, sys)
}

/// The `internal_memstats` metric at `time` (untagged, as Telegraf writes it).
pub fn metric(time: i64) -> Metric {
    let int = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
    let (heap_in_use, heap_idle, heap_sys) = heap();
    let mut m = Metric::new("internal_memstats", time);
    if INSTALLED.load(Ordering::Relaxed) {
        let mallocs = MALLOCS.load(Ordering::Relaxed);
        let frees = FREES.load(Ordering::Relaxed);
        m.set_field("alloc_bytes", int(LIVE_BYTES.load(Ordering::Relaxed)));
        m.set_field(
            "total_alloc_bytes",
            int(TOTAL_BYTES.load(Ordering::Relaxed)),
        );
        m.set_field("mallocs", int(mallocs));
        m.set_field("frees", int(frees));
        m.set_field("heap_objects", int(mallocs.saturating_sub(frees)));
    }
    m.set_field("heap_alloc_bytes", int(heap_in_use));
    m.set_field("heap_in_use_bytes", int(heap_in_use));
    m.set_field("heap_idle_bytes", int(heap_idle));
    m.set_field("heap_sys_bytes", int(heap_sys));
    if let Some(rss) = resident_bytes() {
        m.set_field("sys_bytes", int(rss));
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_heap_and_process_figures_are_there_without_the_counting_allocator() {
        let m = metric(1);
        for field in ["heap_alloc_bytes", "heap_sys_bytes", "sys_bytes"] {
            assert!(m.field(field).is_some(), "{field}");
        }
        assert!(m.fields.iter().all(|(k, _)| FIELDS.contains(&k.as_str())));
    }

    #[test]
    fn the_counting_allocator_counts_what_passes_through_it() {
        let before_mallocs = MALLOCS.load(Ordering::Relaxed);
        let before_total = TOTAL_BYTES.load(Ordering::Relaxed);
        let layout = Layout::from_size_align(100, 8).unwrap();
        // SAFETY: a valid, non-zero layout, freed with the same layout.
        unsafe {
            let p = CountingAllocator.alloc(layout);
            assert!(!p.is_null());
            CountingAllocator.dealloc(p, layout);
        }
        assert!(MALLOCS.load(Ordering::Relaxed) > before_mallocs);
        assert!(TOTAL_BYTES.load(Ordering::Relaxed) >= before_total + 100);
        let m = metric(1);
        let mut names: Vec<&str> = m.fields.iter().map(|(k, _)| k.as_str()).collect();
        names.sort_unstable();
        assert_eq!(names, FIELDS.to_vec());
    }
}
