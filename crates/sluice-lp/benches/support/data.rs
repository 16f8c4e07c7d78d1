//! Seeded bench input and the two parse loops, shared by `benches/parse.rs` and
//! `examples/throughput.rs` so that both measure the same work.

use sluice_lp::{FieldValue, Line, ParseOptions, Parser};

/// A small deterministic generator (splitmix64), so every run parses the same bytes.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }
}

/// TSBS `cpu-only` lines as its influx serializer writes them: 10 tags per host, 10
/// integer fields with the `i` suffix, nanosecond timestamps 10 s apart, every host at
/// each timestamp.
pub(crate) fn cpu_lines(hosts: usize, steps: usize) -> String {
    const REGIONS: [&str; 9] = [
        "us-east-1",
        "us-west-1",
        "us-west-2",
        "eu-west-1",
        "eu-central-1",
        "ap-southeast-1",
        "ap-southeast-2",
        "ap-northeast-1",
        "sa-east-1",
    ];
    const FIELDS: [&str; 10] = [
        "usage_user",
        "usage_system",
        "usage_idle",
        "usage_nice",
        "usage_iowait",
        "usage_irq",
        "usage_softirq",
        "usage_steal",
        "usage_guest",
        "usage_guest_nice",
    ];
    let mut rng = Rng(42);
    let tags: Vec<String> = (0..hosts)
        .map(|h| {
            let region = rng.pick(&REGIONS);
            let zone = rng.pick(&["a", "b", "c"]);
            format!(
                "hostname=host_{h},region={region},datacenter={region}{zone},rack={},os={},arch={},team={},service={},service_version={},service_environment={}",
                rng.below(100),
                rng.pick(&["Ubuntu16.10", "Ubuntu16.04LTS", "Ubuntu15.10"]),
                rng.pick(&["x64", "x86"]),
                rng.pick(&["SF", "NYC", "LON", "CHI"]),
                rng.below(20),
                rng.below(2),
                rng.pick(&["production", "staging", "test"]),
            )
        })
        .collect();
    let mut out = String::new();
    for step in 0..steps {
        let ts = 1_451_606_400_000_000_000_i64 + step as i64 * 10_000_000_000;
        for tag_set in &tags {
            out.push_str("cpu,");
            out.push_str(tag_set);
            for (i, field) in FIELDS.iter().enumerate() {
                out.push(if i == 0 { ' ' } else { ',' });
                out.push_str(&format!("{field}={}i", rng.below(101)));
            }
            out.push_str(&format!(" {ts}\n"));
        }
    }
    out
}

/// Lines with every field type, escaped names and escaped strings.
pub(crate) fn mixed_lines(count: usize) -> String {
    let mut rng = Rng(7);
    let mut out = String::new();
    for i in 0..count {
        let measurement = rng.pick(&["weather", r"disk\ io", r"net\,if", "http_requests"]);
        out.push_str(measurement);
        out.push_str(&format!(
            ",host=server{:02},path=/var/{},zone={}",
            rng.below(50),
            rng.pick(&["log", r"lib\ data", "tmp"]),
            rng.pick(&["us", r"eu\,west", r"k\=v"])
        ));
        let float = (rng.next() % 2_000_000) as f64 / 1000.0 - 1000.0;
        out.push_str(&format!(
            " temperature={float},count={}i,bytes={}u,ok={},ratio={}e-{},msg=\"{}\",hum\\ idity={}.{}",
            rng.below(1 << 40) as i64 - (1 << 39),
            rng.next(),
            rng.pick(&["true", "f", "T", "false"]),
            rng.below(1000),
            rng.below(20),
            rng.pick(&[
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
