//! Seeded, streaming generation of TSBS-like data sets as line protocol.
//!
//! The shapes follow the Time Series Benchmark Suite: `cpu-only` (one `cpu` line of ten
//! fields per host per step), `devops` (nine measurements per host per step) and `iot`
//! (truck `readings` and `diagnostics`, with missing fields and late, out-of-order lines).
//! Values are random walks, so the data compresses like real metrics rather than noise.

mod devops;
mod iot;
pub mod lp;

use std::io::Write;

use serde::Serialize;

use crate::rng::Rng;
use crate::{Error, Result};
use lp::LineBuf;

/// Which TSBS data set to generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum UseCase {
    /// `cpu` only: ten integer usage fields per host per step.
    CpuOnly,
    /// `cpu`, `diskio`, `disk`, `kernel`, `mem`, `net`, `nginx`, `postgresql`, `redis`.
    Devops,
    /// Trucks: `readings` and `diagnostics`, some fields missing, some lines late.
    Iot,
}

/// What to generate. Defaults: cpu-only, 100 hosts, 10,000 steps of 10 s from
/// 2016-01-01T00:00:00Z, seed 1 (1,000,000 lines).
#[derive(Debug, Clone)]
pub struct GenerateConfig {
    /// The data set shape.
    pub use_case: UseCase,
    /// Number of hosts (trucks for `iot`).
    pub scale: u64,
    /// Timestamp of the first step, nanoseconds since the Unix epoch.
    pub start_ns: i64,
    /// Time between steps, nanoseconds.
    pub interval_ns: i64,
    /// Number of steps; every host writes each of its measurements once per step.
    pub steps: u64,
    /// Seed for every random choice; equal configs give byte-identical output.
    pub seed: u64,
}

impl Default for GenerateConfig {
    fn default() -> Self {
        Self {
            use_case: UseCase::CpuOnly,
            scale: 100,
            start_ns: 1_451_606_400_000_000_000,
            interval_ns: 10_000_000_000,
            steps: 10_000,
            seed: 1,
        }
    }
}

/// What a generation run wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct GenerateStats {
    /// Lines of line protocol.
    pub lines: u64,
    /// Field values over all lines.
    pub values: u64,
    /// Bytes of line protocol (before any gzip).
    pub bytes: u64,
}

/// How a simulated value moves from one step to the next.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Walk {
    /// A random walk with normal steps of the given deviation, clamped to `[lo, hi]`.
    Clamped { sigma: f64, lo: f64, hi: f64 },
    /// A counter growing by the absolute value of a normal step of the given deviation.
    Counter { sigma: f64 },
}

/// How a simulated value is written.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Format {
    /// Truncated to an integer field (`12i`).
    Int,
    /// A float field with this many decimals.
    Float(u32),
}

/// The static description of one field.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FieldSpec {
    pub(crate) name: &'static str,
    pub(crate) walk: Walk,
    /// The first value is drawn uniformly from this range.
    pub(crate) start: (f64, f64),
    pub(crate) format: Format,
}

impl FieldSpec {
    pub(crate) const fn clamped(
        name: &'static str,
        sigma: f64,
        lo: f64,
        hi: f64,
        format: Format,
    ) -> Self {
        Self {
            name,
            walk: Walk::Clamped { sigma, lo, hi },
            start: (lo, hi),
            format,
        }
    }

    pub(crate) const fn counter(name: &'static str, sigma: f64, start_hi: f64) -> Self {
        Self {
            name,
            walk: Walk::Counter { sigma },
            start: (0.0, start_hi),
            format: Format::Int,
        }
    }
}

/// One field's running state.
#[derive(Debug, Clone)]
pub(crate) struct FieldSim {
    /// `name=` (or `,name=`), pre-rendered.
    prefix: Vec<u8>,
    walk: Walk,
    format: Format,
    value: f64,
}

impl FieldSim {
    fn new(spec: &FieldSpec, rng: &mut Rng) -> Self {
        let (lo, hi) = spec.start;
        Self {
            prefix: format!("{}=", spec.name).into_bytes(),
            walk: spec.walk,
            format: spec.format,
            value: lo + (hi - lo) * rng.next_f64(),
        }
    }

    fn tick(&mut self, rng: &mut Rng) {
        match self.walk {
            Walk::Clamped { sigma, lo, hi } => {
                self.value = (self.value + rng.normal(0.0, sigma)).clamp(lo, hi);
            }
            Walk::Counter { sigma } => self.value += rng.normal(0.0, sigma).abs(),
        }
    }

    fn write(&self, out: &mut LineBuf) {
        out.raw(&self.prefix);
        match self.format {
            Format::Int => out.int_value(self.value as i64),
            Format::Float(decimals) => out.float_value(self.value, decimals),
        }
    }
}

/// One measurement of one host: a pre-rendered series key and its fields.
#[derive(Debug, Clone)]
pub(crate) struct MeasurementSim {
    /// `measurement,tag=v,... ` including the trailing space.
    key: Vec<u8>,
    fields: Vec<FieldSim>,
}

impl MeasurementSim {
    pub(crate) fn new(key: String, specs: &[FieldSpec], rng: &mut Rng) -> Self {
        let mut key = key.into_bytes();
        key.push(b' ');
        Self {
            key,
            fields: specs.iter().map(|s| FieldSim::new(s, rng)).collect(),
        }
    }

    pub(crate) fn tick(&mut self, rng: &mut Rng) {
        for field in &mut self.fields {
            field.tick(rng);
        }
    }

    /// Writes every field; returns the number of values written.
    pub(crate) fn write_all(&self, timestamp_ns: i64, out: &mut LineBuf) -> u64 {
        out.raw(&self.key);
        for (i, field) in self.fields.iter().enumerate() {
            if i > 0 {
                out.byte(b',');
            }
            field.write(out);
        }
        out.end_line(timestamp_ns);
        self.fields.len() as u64
    }

    /// Writes the fields for which `keep(i)` holds (at least one must); returns the number
    /// of values written.
    pub(crate) fn write_some(&self, timestamp_ns: i64, keep: &[bool], out: &mut LineBuf) -> u64 {
        out.raw(&self.key);
        let mut written = 0;
        for (field, _) in self.fields.iter().zip(keep).filter(|(_, k)| **k) {
            if written > 0 {
                out.byte(b',');
            }
            field.write(out);
            written += 1;
        }
        out.end_line(timestamp_ns);
        written
    }

    pub(crate) fn field_count(&self) -> usize {
        self.fields.len()
    }
}

/// A source of lines, one step at a time.
pub(crate) trait Simulation {
    /// Advances every entity by one step and writes the lines due at `timestamp_ns`;
    /// returns the (lines, values) written.
    fn step(&mut self, timestamp_ns: i64, rng: &mut Rng, out: &mut LineBuf) -> (u64, u64);

    /// Writes whatever lines are still held back (late lines) at the end; returns the
    /// (lines, values) written.
    fn finish(&mut self, out: &mut LineBuf) -> (u64, u64);
}

/// Flush the buffer to the writer once it holds this many bytes.
const FLUSH_BYTES: usize = 256 * 1024;

/// Validates `config` and streams the data set to `out`.
///
/// # Errors
///
/// [`Error::InvalidConfig`] for a zero scale, step count or interval, or a time range past
/// the year 2262; [`Error::Io`] when writing fails.
pub fn generate<W: Write>(config: &GenerateConfig, mut out: W) -> Result<GenerateStats> {
    if config.scale == 0 {
        return Err(Error::InvalidConfig("--hosts must be at least 1".into()));
    }
    if config.steps == 0 {
        return Err(Error::InvalidConfig(
            "the data set must have at least one step".into(),
        ));
    }
    if config.interval_ns <= 0 {
        return Err(Error::InvalidConfig("--interval must be positive".into()));
    }
    let last = i64::try_from(config.steps - 1)
        .ok()
        .and_then(|s| s.checked_mul(config.interval_ns))
        .and_then(|d| d.checked_add(config.start_ns));
    if last.is_none() {
        return Err(Error::InvalidConfig(
            "the time range does not fit in nanosecond timestamps".into(),
        ));
    }

    let mut rng = Rng::new(config.seed);
    let mut sim: Box<dyn Simulation> = match config.use_case {
        UseCase::CpuOnly => Box::new(devops::Hosts::new(config.scale, false, &mut rng)),
        UseCase::Devops => Box::new(devops::Hosts::new(config.scale, true, &mut rng)),
        UseCase::Iot => Box::new(iot::Trucks::new(config.scale, &mut rng)),
    };
    let mut stats = GenerateStats::default();
    let mut buf = LineBuf::with_capacity(FLUSH_BYTES + 64 * 1024);
    let flush = |buf: &mut LineBuf, stats: &mut GenerateStats, out: &mut W| -> Result<()> {
        out.write_all(buf.as_bytes())?;
        stats.bytes += buf.len() as u64;
        buf.clear();
        Ok(())
    };
    for step in 0..config.steps {
        let timestamp = config.start_ns + step as i64 * config.interval_ns;
        let (lines, values) = sim.step(timestamp, &mut rng, &mut buf);
        stats.lines += lines;
        stats.values += values;
        if buf.len() >= FLUSH_BYTES {
            flush(&mut buf, &mut stats, &mut out)?;
        }
    }
    let (lines, values) = sim.finish(&mut buf);
    stats.lines += lines;
    stats.values += values;
    flush(&mut buf, &mut stats, &mut out)?;
    out.flush()?;
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_lp::{ParseOptions, Parser};
    use std::collections::{BTreeSet, HashMap};

    fn run(use_case: UseCase, scale: u64, steps: u64, seed: u64) -> (Vec<u8>, GenerateStats) {
        let config = GenerateConfig {
            use_case,
            scale,
            steps,
            seed,
            ..GenerateConfig::default()
        };
        let mut out = Vec::new();
        let stats = generate(&config, &mut out).unwrap();
        (out, stats)
    }

    /// Parses everything with sluice-lp and returns (lines, values), failing on any error.
    fn parse_all(data: &[u8]) -> (u64, u64) {
        let mut lines = 0;
        let mut values = 0;
        for line in Parser::new(data, ParseOptions::default()) {
            let line = line.unwrap_or_else(|e| panic!("generated line does not parse: {e}"));
            lines += 1;
            values += line.fields.len() as u64;
        }
        (lines, values)
    }

    #[test]
    fn cpu_only_writes_one_cpu_line_per_host_per_step_that_sluice_lp_parses() {
        let (data, stats) = run(UseCase::CpuOnly, 7, 13, 1);
        assert_eq!(stats.lines, 7 * 13);
        assert_eq!(stats.values, 7 * 13 * 10);
        assert_eq!(stats.bytes, data.len() as u64);
        assert_eq!(parse_all(&data), (stats.lines, stats.values));
        let first = Parser::new(&data, ParseOptions::default())
            .next()
            .unwrap()
            .unwrap();
        assert_eq!(first.measurement, "cpu");
        let tag_keys: BTreeSet<&str> = first.tags.iter().map(|(k, _)| k.as_ref()).collect();
        let expected: BTreeSet<&str> = [
            "hostname",
            "region",
            "datacenter",
            "rack",
            "os",
            "arch",
            "team",
            "service",
            "service_version",
            "service_environment",
        ]
        .into_iter()
        .collect();
        assert_eq!(tag_keys, expected);
        let fields: Vec<&str> = first.fields.iter().map(|(k, _)| k.as_ref()).collect();
        assert_eq!(
            fields,
            [
                "usage_user",
                "usage_system",
                "usage_idle",
                "usage_nice",
                "usage_iowait",
                "usage_irq",
                "usage_softirq",
                "usage_steal",
                "usage_guest",
                "usage_guest_nice"
            ]
        );
        assert_eq!(first.tag("hostname"), Some("host_0"));
        assert_eq!(first.timestamp, Some(1_451_606_400_000_000_000));
    }

    #[test]
    fn timestamps_advance_by_the_interval() {
        let (data, _) = run(UseCase::CpuOnly, 2, 3, 1);
        let times: Vec<i64> = Parser::new(&data, ParseOptions::default())
            .map(|l| l.unwrap().timestamp.unwrap())
            .collect();
        let t0 = 1_451_606_400_000_000_000;
        let s10 = 10_000_000_000;
        assert_eq!(
            times,
            [t0, t0, t0 + s10, t0 + s10, t0 + 2 * s10, t0 + 2 * s10]
        );
    }

    #[test]
    fn same_seed_gives_identical_output_and_another_seed_differs() {
        for use_case in [UseCase::CpuOnly, UseCase::Devops, UseCase::Iot] {
            let (a, _) = run(use_case, 5, 20, 42);
            let (b, _) = run(use_case, 5, 20, 42);
            let (c, _) = run(use_case, 5, 20, 43);
            assert_eq!(a, b);
            assert_ne!(a, c);
        }
    }

    #[test]
    fn cpu_values_stay_within_zero_and_one_hundred() {
        let (data, _) = run(UseCase::CpuOnly, 5, 500, 9);
        for line in Parser::new(&data, ParseOptions::default()) {
            for (_, value) in &line.unwrap().fields {
                match value {
                    sluice_lp::FieldValue::Integer(v) => assert!((0..=100).contains(v)),
                    other => panic!("cpu field is not an integer: {other:?}"),
                }
            }
        }
    }

    #[test]
    fn devops_writes_nine_measurements_per_host_per_step() {
        let (data, stats) = run(UseCase::Devops, 3, 4, 1);
        assert_eq!(stats.lines, 3 * 4 * 9);
        assert_eq!(parse_all(&data), (stats.lines, stats.values));
        let mut per_measurement: HashMap<String, (u64, usize)> = HashMap::new();
        for line in Parser::new(&data, ParseOptions::default()) {
            let line = line.unwrap();
            let entry = per_measurement
                .entry(line.measurement.to_string())
                .or_default();
            entry.0 += 1;
            entry.1 = line.fields.len();
            assert!(line.tag("hostname").is_some());
        }
        let expected = [
            ("cpu", 10),
            ("diskio", 7),
            ("disk", 7),
            ("kernel", 6),
            ("mem", 9),
            ("net", 8),
            ("nginx", 7),
            ("postgresql", 16),
            ("redis", 31),
        ];
        assert_eq!(per_measurement.len(), expected.len());
        for (name, fields) in expected {
            assert_eq!(per_measurement[name], (12, fields), "{name}");
        }
    }

    #[test]
    fn iot_has_missing_fields_and_out_of_order_lines_but_loses_none() {
        let (data, stats) = run(UseCase::Iot, 20, 200, 5);
        assert_eq!(stats.lines, 20 * 200 * 2);
        assert_eq!(parse_all(&data), (stats.lines, stats.values));
        let full = 20 * 200 * (7 + 3);
        assert!(stats.values < full, "some fields should be missing");
        assert!(
            stats.values > full * 9 / 10,
            "most fields should be present"
        );
        let mut last_seen: HashMap<String, i64> = HashMap::new();
        let mut out_of_order = 0;
        let mut per_series: HashMap<String, u64> = HashMap::new();
        for line in Parser::new(&data, ParseOptions::default()) {
            let line = line.unwrap();
            assert!(matches!(
                line.measurement.as_ref(),
                "readings" | "diagnostics"
            ));
            let key = line.series_key();
            let ts = line.timestamp.unwrap();
            if last_seen.get(&key).is_some_and(|prev| ts < *prev) {
                out_of_order += 1;
            }
            let entry = last_seen.entry(key.clone()).or_insert(ts);
            *entry = (*entry).max(ts);
            *per_series.entry(key).or_default() += 1;
        }
        assert!(out_of_order > 0, "some lines should arrive late");
        assert_eq!(per_series.len(), 40);
        assert!(per_series.values().all(|n| *n == 200));
    }

    #[test]
    fn rejects_empty_configurations() {
        for config in [
            GenerateConfig {
                scale: 0,
                ..GenerateConfig::default()
            },
            GenerateConfig {
                steps: 0,
                ..GenerateConfig::default()
            },
            GenerateConfig {
                interval_ns: 0,
                ..GenerateConfig::default()
            },
            GenerateConfig {
                steps: u64::MAX,
                ..GenerateConfig::default()
            },
        ] {
            assert!(matches!(
                generate(&config, std::io::sink()),
                Err(Error::InvalidConfig(_))
            ));
        }
    }
}
