//! Parse throughput of sluice-lp against the `influxdb-line-protocol` crate on the same
//! seeded input: TSBS-like cpu lines and a mixed-type corpus, reported in bytes/s.
//!
//! Run: `cargo bench -p sluice-lp --bench parse -- --warm-up-time 1 --measurement-time 3`

#[path = "support/data.rs"]
mod data;

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use data::{cpu_lines, influx, mixed_lines, sluice, sluice_reused};
use sluice_lp::{ParseOptions, Parser};

fn bench(c: &mut Criterion) {
    let inputs = [("cpu", cpu_lines(100, 100)), ("mixed", mixed_lines(10_000))];
    for (name, input) in &inputs {
        // Both parsers must read every line, so that they do the same work.
        let lines = input.lines().count();
        assert_eq!(
            Parser::new(input.as_bytes(), ParseOptions::default())
                .filter(Result::is_ok)
                .count(),
            lines
        );
        assert_eq!(
            influxdb_line_protocol::parse_lines(input)
                .filter(Result::is_ok)
                .count(),
            lines
        );
        let mut group = c.benchmark_group(*name);
        group.throughput(Throughput::Bytes(input.len() as u64));
        group.bench_function("sluice-lp", |b| {
            b.iter(|| sluice(black_box(input.as_bytes())))
        });
        group.bench_function("sluice-lp next_into", |b| {
            b.iter(|| sluice_reused(black_box(input.as_bytes())))
        });
        group.bench_function("influxdb-line-protocol", |b| {
            b.iter(|| influx(black_box(input)))
        });
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
