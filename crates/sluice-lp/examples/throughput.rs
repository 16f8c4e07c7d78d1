//! Parse throughput by CPU time rather than wall time, for a machine shared with other
//! work: `cargo run --release -p sluice-lp --example throughput -- [iterations [filter]]`
//! (filter: run only the cases whose name contains it, e.g. `cpu/sluice`, or, after a
//! leading `=`, only the case of exactly that name).
//!
//! Runs the bench's inputs and parse loops a fixed number of times and reports MB/s of
//! this thread's CPU time (from `/proc/thread-self/schedstat`) next to wall-clock MB/s.

#[path = "../benches/support/data.rs"]
mod data;

use std::hint::black_box;
use std::time::{Duration, Instant};

/// This thread's time on a CPU so far.
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap_or_default();
    let nanos = stat.split_whitespace().next().and_then(|n| n.parse().ok());
    Duration::from_nanos(nanos.unwrap_or(0))
}

fn measure(name: &str, bytes: usize, iterations: u32, mut run: impl FnMut() -> usize) {
    let filter = std::env::args().nth(2).unwrap_or_default();
    let wanted = match filter.strip_prefix('=') {
        Some(exact) => name == exact,
        None => name.contains(&filter),
    };
    if !wanted {
        return;
    }
    black_box(run());
    let (wall, cpu) = (Instant::now(), cpu_time());
    for _ in 0..iterations {
        black_box(run());
    }
    let (wall, cpu) = (wall.elapsed(), cpu_time() - cpu);
    let mb = bytes as f64 * f64::from(iterations) / 1e6;
    println!(
        "{name:<32} {:>8.1} MB/s cpu  {:>8.1} MB/s wall  ({bytes} bytes)",
        mb / cpu.as_secs_f64(),
        mb / wall.as_secs_f64()
    );
}

fn main() {
    let iterations = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(100);
    for (name, input) in [
        ("cpu", data::cpu_lines(100, 100)),
        ("mixed", data::mixed_lines(10_000)),
    ] {
        measure(
            &format!("{name}/sluice-lp"),
            input.len(),
            iterations,
            || data::sluice(black_box(input.as_bytes())),
        );
        measure(
            &format!("{name}/sluice-lp next_into"),
            input.len(),
            iterations,
            || data::sluice_reused(black_box(input.as_bytes())),
        );
        measure(
            &format!("{name}/influxdb-line-protocol"),
            input.len(),
            iterations,
            || data::influx(black_box(&input)),
        );
    }
}
