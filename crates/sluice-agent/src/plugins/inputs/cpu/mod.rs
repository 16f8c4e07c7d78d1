//! `inputs.cpu`: CPU time and usage per CPU and in total, from `/proc/stat`.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::error::{Error, Result};
use crate::metric::Metric;
use crate::plugins::{Accumulator, Input};

/// `[[inputs.cpu]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CpuConfig {
    /// Report each CPU (`cpu=cpu0`, ...). Default: true.
    pub percpu: bool,
    /// Report all CPUs together (`cpu=cpu-total`). Default: true.
    pub totalcpu: bool,
    /// Report cumulative times (`time_*`, seconds). Default: false.
    pub collect_cpu_time: bool,
    /// Also report `usage_active` / `time_active` (everything but idle). Default: false.
    pub report_active: bool,
    /// Tag each per-CPU metric with `core_id` and `physical_id` from `/proc/cpuinfo`
    /// (`cpu-total` gets neither). Default: false.
    pub core_tags: bool,
}

/// The `usage_*` fields Telegraf documents (`usage_active` only with `report_active`).
pub const USAGE_FIELDS: [&str; 11] = [
    "usage_active",
    "usage_guest",
    "usage_guest_nice",
    "usage_idle",
    "usage_iowait",
    "usage_irq",
    "usage_nice",
    "usage_softirq",
    "usage_steal",
    "usage_system",
    "usage_user",
];

/// The `time_*` fields Telegraf documents (`time_active` only with `report_active`).
pub const TIME_FIELDS: [&str; 11] = [
    "time_active",
    "time_guest",
    "time_guest_nice",
    "time_idle",
    "time_iowait",
    "time_irq",
    "time_nice",
    "time_softirq",
    "time_steal",
    "time_system",
    "time_user",
];

/// Parses `/proc/cpuinfo` into `cpuN -> (core id, physical id)` for the processors that
/// list both.
pub fn parse_cpuinfo(text: &str) -> BTreeMap<String, (String, String)> {
    let mut out = BTreeMap::new();
    for block in text.split("\n\n") {
        let mut processor = None;
        let mut core = None;
        let mut physical = None;
        for line in block.lines() {
            let Some((key, value)) = line.split_once(':') else {
                continue;
            };
            let value = value.trim().to_owned();
            match key.trim() {
                "processor" => processor = Some(value),
                "core id" => core = Some(value),
                "physical id" => physical = Some(value),
                _ => {}
            }
        }
        if let (Some(p), Some(c), Some(ph)) = (processor, core, physical) {
            out.insert(format!("cpu{p}"), (c, ph));
        }
    }
    out
}

impl Default for CpuConfig {
    fn default() -> Self {
        CpuConfig {
            percpu: true,
            totalcpu: true,
            collect_cpu_time: false,
            report_active: false,
            core_tags: false,
        }
    }
}

/// One CPU's times, in seconds (`USER_HZ` ticks / 100).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CpuTimes {
    pub user: f64,
    pub nice: f64,
    pub system: f64,
    pub idle: f64,
    pub iowait: f64,
    pub irq: f64,
    pub softirq: f64,
    pub steal: f64,
    pub guest: f64,
    pub guest_nice: f64,
}

impl CpuTimes {
    /// Everything but guest time (which the kernel already counts in user and nice).
    pub fn total(&self) -> f64 {
        self.user
            + self.system
            + self.nice
            + self.iowait
            + self.irq
            + self.softirq
            + self.steal
            + self.idle
    }

    /// Everything but idle.
    pub fn active(&self) -> f64 {
        self.total() - self.idle
    }
}

/// Parses `/proc/stat` into `(tag, times)`: `cpu-total` for the `cpu` line, `cpuN` for
/// the others.
pub fn parse_proc_stat(text: &str) -> Vec<(String, CpuTimes)> {
    const TICKS: f64 = 100.0;
    let mut out = Vec::new();
    for line in text.lines() {
        let mut parts = line.split_whitespace();
        let Some(label) = parts.next() else { continue };
        if !label.starts_with("cpu") {
            continue;
        }
        let v: Vec<f64> = parts
            .map(|p| p.parse::<f64>().unwrap_or(0.0) / TICKS)
            .collect();
        let at = |i: usize| v.get(i).copied().unwrap_or(0.0);
        let name = if label == "cpu" {
            "cpu-total".to_owned()
        } else {
            label.to_owned()
        };
        out.push((
            name,
            CpuTimes {
                user: at(0),
                nice: at(1),
                system: at(2),
                idle: at(3),
                iowait: at(4),
                irq: at(5),
                softirq: at(6),
                steal: at(7),
                guest: at(8),
                guest_nice: at(9),
            },
        ));
    }
    out
}

/// The `cpu` input.
#[derive(Debug)]
pub struct Cpu {
    config: CpuConfig,
    last: BTreeMap<String, CpuTimes>,
    path: std::path::PathBuf,
    cores: BTreeMap<String, (String, String)>,
}

impl Cpu {
    /// A cpu input reading `/proc/stat`.
    pub fn new(config: CpuConfig) -> Cpu {
        Cpu::with_path(config, "/proc/stat".into())
    }

    /// A cpu input reading another file (for tests).
    pub fn with_path(config: CpuConfig, path: std::path::PathBuf) -> Cpu {
        // Telegraf reads the core layout once, at start; a missing file means no tags.
        let cores = if config.core_tags {
            parse_cpuinfo(&std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default())
        } else {
            BTreeMap::new()
        };
        Cpu {
            config,
            last: BTreeMap::new(),
            path,
            cores,
        }
    }
}

impl Input for Cpu {
    fn needs_two_gathers(&self) -> bool {
        true
    }

    fn gather(&mut self, acc: &mut Accumulator) -> Result<()> {
        let text =
            std::fs::read_to_string(&self.path).map_err(|e| Error::io(self.path.display(), e))?;
        let mut all = parse_proc_stat(&text);
        // Per-CPU lines first, then the total, as Telegraf emits them.
        let first = usize::from(!all.is_empty());
        all.rotate_left(first);
        let mut current = BTreeMap::new();
        for (name, t) in all {
            let is_total = name == "cpu-total";
            if (is_total && !self.config.totalcpu) || (!is_total && !self.config.percpu) {
                continue;
            }
            let tagged = |m: Metric| match self.cores.get(&name) {
                Some((core, physical)) => m
                    .with_tag("core_id", core.clone())
                    .with_tag("physical_id", physical.clone()),
                None => m,
            };
            if self.config.collect_cpu_time {
                let mut m = tagged(Metric::new("cpu", acc.time()))
                    .with_tag("cpu", name.clone())
                    .with_field("time_user", t.user)
                    .with_field("time_system", t.system)
                    .with_field("time_idle", t.idle)
                    .with_field("time_nice", t.nice)
                    .with_field("time_iowait", t.iowait)
                    .with_field("time_irq", t.irq)
                    .with_field("time_softirq", t.softirq)
                    .with_field("time_steal", t.steal)
                    .with_field("time_guest", t.guest)
                    .with_field("time_guest_nice", t.guest_nice);
                if self.config.report_active {
                    m.set_field("time_active", t.active());
                }
                acc.add(m);
            }
            if let Some(last) = self.last.get(&name) {
                let delta = t.total() - last.total();
                if delta < 0.0 {
                    acc.add_error("current total cpu time is less than previous total cpu time");
                } else if delta > 0.0 {
                    let pct = |now: f64, before: f64| 100.0 * (now - before) / delta;
                    let mut m = tagged(Metric::new("cpu", acc.time()))
                        .with_tag("cpu", name.clone())
                        .with_field("usage_user", pct(t.user - t.guest, last.user - last.guest))
                        .with_field("usage_system", pct(t.system, last.system))
                        .with_field("usage_idle", pct(t.idle, last.idle))
                        .with_field(
                            "usage_nice",
                            pct(t.nice - t.guest_nice, last.nice - last.guest_nice),
                        )
                        .with_field("usage_iowait", pct(t.iowait, last.iowait))
                        .with_field("usage_irq", pct(t.irq, last.irq))
                        .with_field("usage_softirq", pct(t.softirq, last.softirq))
                        .with_field("usage_steal", pct(t.steal, last.steal))
                        .with_field("usage_guest", pct(t.guest, last.guest))
                        .with_field("usage_guest_nice", pct(t.guest_nice, last.guest_nice));
                    if self.config.report_active {
                        m.set_field("usage_active", pct(t.active(), last.active()));
                    }
                    acc.add(m);
                }
            }
            current.insert(name, t);
        }
        self.last = current;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metric::FieldValue;

    const STAT1: &str =
        "cpu  100 10 50 800 20 5 5 0 0 0\ncpu0 100 10 50 800 20 5 5 0 0 0\nintr 1\n";
    const STAT2: &str =
        "cpu  150 10 100 1000 20 5 5 0 10 0\ncpu0 150 10 100 1000 20 5 5 0 10 0\nintr 1\n";

    fn float(m: &Metric, k: &str) -> f64 {
        match m.field(k) {
            Some(FieldValue::Float(v)) => *v,
            other => panic!("{k}: {other:?}"),
        }
    }

    #[test]
    fn usage_appears_from_the_second_gather_as_percent_of_the_delta() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("stat");
        std::fs::write(&path, STAT1).unwrap();
        let config = CpuConfig {
            report_active: true,
            ..CpuConfig::default()
        };
        let mut cpu = Cpu::with_path(config, path.clone());
        let mut acc = Accumulator::new(1);
        cpu.gather(&mut acc).unwrap();
        assert!(acc.metrics().is_empty());
        std::fs::write(&path, STAT2).unwrap();
        let mut acc = Accumulator::new(2);
        cpu.gather(&mut acc).unwrap();
        let tags: Vec<&str> = acc
            .metrics()
            .iter()
            .map(|m| m.tags["cpu"].as_str())
            .collect();
        assert_eq!(tags, vec!["cpu0", "cpu-total"]);
        let m = &acc.metrics()[1];
        // total delta (guest excluded) = 50 + 50 + 200 = 300 ticks
        assert!((float(m, "usage_user") - 100.0 * 40.0 / 300.0).abs() < 1e-9);
        assert!((float(m, "usage_system") - 100.0 * 50.0 / 300.0).abs() < 1e-9);
        assert!((float(m, "usage_idle") - 100.0 * 200.0 / 300.0).abs() < 1e-9);
        assert!((float(m, "usage_guest") - 100.0 * 10.0 / 300.0).abs() < 1e-9);
        assert!((float(m, "usage_active") - 100.0 * 100.0 / 300.0).abs() < 1e-9);
    }

    fn sorted_fields(m: &Metric) -> Vec<&str> {
        let mut names: Vec<&str> = m.fields.iter().map(|(k, _)| k.as_str()).collect();
        names.sort_unstable();
        names
    }

    #[test]
    fn fields_are_exactly_telegrafs_set() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("stat");
        for report_active in [false, true] {
            std::fs::write(&path, STAT1).unwrap();
            let config = CpuConfig {
                collect_cpu_time: true,
                report_active,
                ..CpuConfig::default()
            };
            let mut cpu = Cpu::with_path(config, path.clone());
            cpu.gather(&mut Accumulator::new(1)).unwrap();
            std::fs::write(&path, STAT2).unwrap();
            let mut acc = Accumulator::new(2);
            cpu.gather(&mut acc).unwrap();
            let skip = |f: &&str| report_active || !f.ends_with("_active");
            let time: Vec<&str> = TIME_FIELDS.iter().copied().filter(skip).collect();
            let usage: Vec<&str> = USAGE_FIELDS.iter().copied().filter(skip).collect();
            let m = acc.metrics();
            assert_eq!(m.len(), 4);
            assert_eq!(sorted_fields(&m[0]), time);
            assert_eq!(sorted_fields(&m[1]), usage);
            assert!(
                m.iter()
                    .flat_map(|m| m.fields.iter())
                    .all(|(_, v)| matches!(v, FieldValue::Float(_)))
            );
        }
    }

    #[test]
    fn core_tags_come_from_cpuinfo_for_each_cpu_but_not_the_total() {
        let info = "processor\t: 0\nphysical id\t: 0\ncore id\t\t: 3\n\nprocessor\t: 1\nphysical id\t: 1\ncore id\t\t: 0\n\n";
        let cores = parse_cpuinfo(info);
        assert_eq!(cores["cpu0"], ("3".to_owned(), "0".to_owned()));
        assert_eq!(cores["cpu1"], ("0".to_owned(), "1".to_owned()));

        let config = CpuConfig {
            collect_cpu_time: true,
            core_tags: true,
            ..CpuConfig::default()
        };
        let mut cpu = Cpu::new(config);
        let mut acc = Accumulator::new(1);
        cpu.gather(&mut acc).unwrap();
        let real = parse_cpuinfo(&std::fs::read_to_string("/proc/cpuinfo").unwrap());
        for m in acc.metrics() {
            let name = &m.tags["cpu"];
            match real.get(name) {
                Some((core, physical)) => {
                    assert_eq!(&m.tags["core_id"], core);
                    assert_eq!(&m.tags["physical_id"], physical);
                }
                None => assert!(!m.tags.contains_key("core_id"), "{name}"),
            }
        }
        let total = acc.metrics().iter().find(|m| m.tags["cpu"] == "cpu-total");
        assert!(!total.unwrap().tags.contains_key("core_id"));
    }

    #[test]
    fn cpu_times_match_proc_stat_in_seconds() {
        let config = CpuConfig {
            collect_cpu_time: true,
            percpu: false,
            ..CpuConfig::default()
        };
        let mut cpu = Cpu::new(config);
        let before = parse_proc_stat(&std::fs::read_to_string("/proc/stat").unwrap())[0].1;
        let mut acc = Accumulator::new(1);
        cpu.gather(&mut acc).unwrap();
        let after = parse_proc_stat(&std::fs::read_to_string("/proc/stat").unwrap())[0].1;
        let m = &acc.metrics()[0];
        assert_eq!(m.tags["cpu"], "cpu-total");
        let user = float(m, "time_user");
        assert!(
            before.user <= user && user <= after.user,
            "{} {user} {}",
            before.user,
            after.user
        );
        let idle = float(m, "time_idle");
        assert!(before.idle <= idle && idle <= after.idle);
    }
}
