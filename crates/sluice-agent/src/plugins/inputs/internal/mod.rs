//! `inputs.internal`: the agent's own counters, as Telegraf names them, and (with
//! `collect_memstats`, the default) the process's memory as `internal_memstats`.

pub mod memstats;

use std::sync::Arc;

use serde::Deserialize;

use crate::error::Result;
use crate::metric::Metric;
use crate::plugins::{Accumulator, Input};
use crate::stats::Stats;

/// `[[inputs.internal]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InternalConfig {
    /// Write `internal_memstats`. Default: `true`.
    pub collect_memstats: bool,
    /// Accepted for compatibility: Telegraf's Go runtime metrics have no counterpart
    /// here, so nothing more is written. Default: `false`.
    pub collect_gostats: bool,
}

impl Default for InternalConfig {
    fn default() -> Self {
        InternalConfig {
            collect_memstats: true,
            collect_gostats: false,
        }
    }
}

/// The fields written per measurement: Telegraf's documented ones, plus `errors` on
/// `internal_gather`/`internal_write` (which Telegraf also writes), and without
/// `gather_timeouts` (this agent does not time gathers out; see docs/agent.md).
pub const FIELDS: [(&str, &[&str]); 3] = [
    (
        "internal_agent",
        &[
            "gather_errors",
            "metrics_dropped",
            "metrics_gathered",
            "metrics_written",
        ],
    ),
    (
        "internal_gather",
        &["errors", "gather_time_ns", "metrics_gathered"],
    ),
    (
        "internal_write",
        &[
            "buffer_limit",
            "buffer_size",
            "errors",
            "metrics_added",
            "metrics_dropped",
            "metrics_filtered",
            "metrics_written",
            "write_time_ns",
        ],
    ),
];

/// The `internal` input.
#[derive(Debug)]
pub struct Internal {
    stats: Arc<Stats>,
    collect_memstats: bool,
}

impl Internal {
    /// An internal input reporting `stats`, and memory figures when `collect_memstats`.
    pub fn new(stats: Arc<Stats>, collect_memstats: bool) -> Internal {
        Internal {
            stats,
            collect_memstats,
        }
    }
}

impl Input for Internal {
    fn gather(&mut self, acc: &mut Accumulator) -> Result<()> {
        let int = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        let version = env!("CARGO_PKG_VERSION");
        let (mut gathered, mut written, mut dropped) = (0, 0, 0);
        for (name, s) in self.stats.inputs() {
            gathered += s.metrics_gathered.get();
            acc.add(
                Metric::new("internal_gather", acc.time())
                    .with_tag("input", name)
                    .with_tag("version", version)
                    .with_field("metrics_gathered", int(s.metrics_gathered.get()))
                    .with_field("gather_time_ns", int(s.gather_time_ns.get()))
                    .with_field("errors", int(s.errors.get())),
            );
        }
        for (plugin, fields) in self.stats.plugins() {
            let mut metric =
                Metric::new(format!("internal_{plugin}"), acc.time()).with_tag("version", version);
            for (field, value) in fields {
                metric = metric.with_field(field, int(value));
            }
            acc.add(metric);
        }
        for (name, s) in self.stats.outputs() {
            written += s.metrics_written.get();
            dropped += s.metrics_dropped.get();
            acc.add(
                Metric::new("internal_write", acc.time())
                    .with_tag("output", name)
                    .with_tag("version", version)
                    .with_field("buffer_limit", int(s.buffer_limit.get()))
                    .with_field("buffer_size", int(s.buffer_size.get()))
                    .with_field("metrics_added", int(s.metrics_added.get()))
                    .with_field("metrics_written", int(s.metrics_written.get()))
                    .with_field("metrics_dropped", int(s.metrics_dropped.get()))
                    .with_field("metrics_filtered", int(s.metrics_filtered.get()))
                    .with_field("write_time_ns", int(s.write_time_ns.get()))
                    .with_field("errors", int(s.errors.get())),
            );
        }
        acc.add(
            Metric::new("internal_agent", acc.time())
                .with_tag("version", version)
                .with_field("metrics_gathered", int(gathered))
                .with_field("metrics_written", int(written))
                .with_field("metrics_dropped", int(dropped))
                .with_field("gather_errors", int(self.stats.gather_errors.get())),
        );
        if self.collect_memstats {
            acc.add(memstats::metric(acc.time()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metric::FieldValue;

    #[test]
    fn fields_are_exactly_the_documented_set() {
        let stats = Arc::new(Stats::default());
        stats.input("cpu").metrics_gathered.add(1);
        stats.output("file").metrics_written.add(1);
        let mut acc = Accumulator::new(1);
        Internal::new(stats, false).gather(&mut acc).unwrap();
        assert_eq!(acc.metrics().len(), FIELDS.len());
        for (name, expected) in FIELDS {
            let m = acc.metrics().iter().find(|m| m.name == name).unwrap();
            let mut names: Vec<&str> = m.fields.iter().map(|(k, _)| k.as_str()).collect();
            names.sort_unstable();
            assert_eq!(names, expected.to_vec(), "{name}");
            assert!(
                m.fields
                    .iter()
                    .all(|(_, v)| matches!(v, FieldValue::Integer(_)))
            );
            assert!(m.tags.contains_key("version"));
        }
    }

    #[test]
    fn memstats_are_written_when_asked_for() {
        let mut acc = Accumulator::new(1);
        Internal::new(Arc::default(), true)
            .gather(&mut acc)
            .unwrap();
        let m = acc
            .metrics()
            .iter()
            .find(|m| m.name == "internal_memstats")
            .unwrap();
        assert!(m.field("heap_sys_bytes").is_some());
    }

    #[test]
    fn counters_are_reported_per_plugin_and_summed_for_the_agent() {
        let stats = Arc::new(Stats::default());
        stats.input("cpu").metrics_gathered.add(5);
        stats.input("mem").metrics_gathered.add(2);
        stats.output("file").metrics_dropped.add(3);
        let mut acc = Accumulator::new(1);
        Internal::new(stats, false).gather(&mut acc).unwrap();
        let agent = acc
            .metrics()
            .iter()
            .find(|m| m.name == "internal_agent")
            .unwrap();
        assert_eq!(
            agent.field("metrics_gathered"),
            Some(&FieldValue::Integer(7))
        );
        assert_eq!(
            agent.field("metrics_dropped"),
            Some(&FieldValue::Integer(3))
        );
        let write = acc
            .metrics()
            .iter()
            .find(|m| m.name == "internal_write")
            .unwrap();
        assert_eq!(write.tags["output"], "file");
    }
}
