//! Seeded bench input and the two parse loops, shared by `benches/parse.rs` and
//! `examples/throughput.rs` so that both measure the same work.

use sluice_bench::generate::{GenerateConfig, UseCase, generate};
use sluice_bench::rng::Rng;
use sluice_lp::{FieldValue, Line, ParseOptions, Parser};

/// TSBS `cpu-only` lines as `sluice-bench generate` writes them (its influx serializer's
/// shape: 10 tags per host, 10 integer fields, nanosecond timestamps 10 s apart, every
/// host at each timestamp), seeded so every run parses the same bytes.
pub(crate) fn cpu_lines(hosts: usize, steps: usize) -> String {
    let config = GenerateConfig {
        use_case: UseCase::CpuOnly,
        scale: hosts as u64,
        steps: steps as u64,
        seed: 42,
        ..GenerateConfig::default()
    };
    let mut out = Vec::new();
    generate(&config, &mut out).expect("generating into memory");
    String::from_utf8(out).expect("generated line protocol is UTF-8")
}

/// Lines with every field type, escaped names and escaped strings.
pub(crate) fn mixed_lines(count: usize) -> String {
    let mut rng = Rng::new(7);
    let mut out = String::new();
    for i in 0..count {
        let measurement = *rng.choose(&["weather", r"disk\ io", r"net\,if", "http_requests"]);
        out.push_str(measurement);
        out.push_str(&format!(
            ",host=server{:02},path=/var/{},zone={}",
            rng.below(50),
            *rng.choose(&["log", r"lib\ data", "tmp"]),
            *rng.choose(&["us", r"eu\,west", r"k\=v"])
        ));
        let float = (rng.next_u64() % 2_000_000) as f64 / 1000.0 - 1000.0;
        out.push_str(&format!(
            " temperature={float},count={}i,bytes={}u,ok={},ratio={}e-{},msg=\"{}\",hum\\ idity={}.{}",
            rng.below(1 << 40) as i64 - (1 << 39),
            rng.next_u64(),
            *rng.choose(&["true", "f", "T", "false"]),
            rng.below(1000),
            rng.below(20),
            *rng.choose(&[
                "ok",
                r#"said \"hi\" to C:\\temp"#,
                "request completed in 12 ms, status=200",
                "",
            ]),
            rng.below(100),
            rng.below(100),
        ));
        out.push_str(&format!(" {}\n", 1_700_000_000_000_000_000_i64 + i as i64));
    }
    out
}

/// Adds up every value of `line`, so that no parse work can be optimised away.
fn consume(line: &Line<'_>) -> usize {
    let mut acc = line.measurement.len();
    for (k, v) in &line.tags {
        acc += k.len() + v.len();
    }
    for (k, v) in &line.fields {
        acc += k.len();
        acc = acc.wrapping_add(match v {
            FieldValue::Float(f) => f.to_bits() as usize,
            FieldValue::Integer(i) => *i as usize,
            FieldValue::UInteger(u) => *u as usize,
            FieldValue::String(s) => s.len(),
            FieldValue::Boolean(b) => usize::from(*b),
        });
    }
    acc.wrapping_add(line.timestamp.unwrap_or(0) as usize)
}

/// Full parse with sluice-lp's iterator (a new `Line` per point), touching every value.
pub(crate) fn sluice(input: &[u8]) -> usize {
    let mut acc = 0usize;
    for line in Parser::new(input, ParseOptions::default()) {
        acc = acc.wrapping_add(consume(&line.expect("bench input is valid")));
    }
    acc
}

/// Full parse with sluice-lp's `next_into` (one `Line` reused), touching every value.
pub(crate) fn sluice_reused(input: &[u8]) -> usize {
    let mut acc = 0usize;
    let mut parser = Parser::new(input, ParseOptions::default());
    let mut line = Line {
        line_number: 0,
        measurement: "".into(),
        tags: Vec::new(),
        fields: Vec::new(),
        timestamp: None,
    };
    while let Some(result) = parser.next_into(&mut line) {
        result.expect("bench input is valid");
        acc = acc.wrapping_add(consume(&line));
    }
    acc
}

/// Full parse with the `influxdb-line-protocol` crate, touching every value.
pub(crate) fn influx(input: &str) -> usize {
    use influxdb_line_protocol::FieldValue as V;
    let mut acc = 0usize;
    for line in influxdb_line_protocol::parse_lines(input) {
        let line = line.expect("bench input is valid");
        acc += line.series.measurement.len();
        if let Some(tags) = &line.series.tag_set {
            for (k, v) in tags {
                acc += k.len() + v.len();
            }
        }
        for (k, v) in &line.field_set {
            acc += k.len();
            acc += match v {
                V::F64(f) => f.to_bits() as usize,
                V::I64(i) => *i as usize,
                V::U64(u) => *u as usize,
                V::String(s) => s.len(),
                V::Boolean(b) => usize::from(*b),
            };
        }
        acc = acc.wrapping_add(line.timestamp.unwrap_or(0) as usize);
    }
    acc
}
