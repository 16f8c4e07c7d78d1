//! `inputs.diskio`: block device I/O counters from `/proc/diskstats`.

use serde::Deserialize;

use crate::error::{Error, Result};
use crate::filter::glob_match;
use crate::metric::Metric;
use crate::plugins::{Accumulator, Input};

/// `[[inputs.diskio]]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DiskIoConfig {
    /// Only devices whose name matches one of these globs; empty means all. Default: `[]`.
    pub devices: Vec<String>,
}

/// The fields Telegraf documents for `diskio`.
pub const FIELDS: [&str; 11] = [
    "io_time",
    "iops_in_progress",
    "merged_reads",
    "merged_writes",
    "read_bytes",
    "read_time",
    "reads",
    "weighted_io_time",
    "write_bytes",
    "write_time",
    "writes",
];

/// Parses `/proc/diskstats` into metrics (sectors are 512 bytes).
pub fn parse_diskstats(text: &str, devices: &[String], time: i64) -> Vec<Metric> {
    let mut out = Vec::new();
    for line in text.lines() {
        let p: Vec<&str> = line.split_whitespace().collect();
        if p.len() < 14 {
            continue;
        }
        let name = p[2];
        if !devices.is_empty() && !devices.iter().any(|d| glob_match(d, name)) {
            continue;
        }
        let v = |i: usize| p[i].parse::<i64>().unwrap_or(0);
        out.push(
            Metric::new("diskio", time)
                .with_tag("name", name)
                .with_field("reads", v(3))
                .with_field("merged_reads", v(4))
                .with_field("read_bytes", v(5) * 512)
                .with_field("read_time", v(6))
                .with_field("writes", v(7))
                .with_field("merged_writes", v(8))
                .with_field("write_bytes", v(9) * 512)
                .with_field("write_time", v(10))
                .with_field("iops_in_progress", v(11))
                .with_field("io_time", v(12))
                .with_field("weighted_io_time", v(13)),
        );
    }
    out
}

/// The `diskio` input.
#[derive(Debug)]
pub struct DiskIo {
    config: DiskIoConfig,
}

impl DiskIo {
    /// A diskio input.
    pub fn new(config: DiskIoConfig) -> DiskIo {
        DiskIo { config }
    }
}

impl Input for DiskIo {
    fn gather(&mut self, acc: &mut Accumulator) -> Result<()> {
        let text = std::fs::read_to_string("/proc/diskstats")
            .map_err(|e| Error::io("/proc/diskstats", e))?;
        for m in parse_diskstats(&text, &self.config.devices, acc.time()) {
            acc.add(m);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metric::FieldValue;

    #[test]
    fn diskstats_fields_and_device_globs() {
        let text = "   8       0 sda 100 5 2000 30 200 6 4000 50 1 70 80 0 0 0 0\n   7       0 loop0 1 0 2 0 0 0 0 0 0 0 0\n";
        let all = parse_diskstats(text, &[], 1);
        assert_eq!(all.len(), 2);
        let m = &all[0];
        assert_eq!(m.tags["name"], "sda");
        assert_eq!(m.field("reads"), Some(&FieldValue::Integer(100)));
        assert_eq!(
            m.field("read_bytes"),
            Some(&FieldValue::Integer(2000 * 512))
        );
        assert_eq!(
            m.field("write_bytes"),
            Some(&FieldValue::Integer(4000 * 512))
        );
        assert_eq!(m.field("weighted_io_time"), Some(&FieldValue::Integer(80)));
        assert_eq!(parse_diskstats(text, &["sd*".into()], 1).len(), 1);
    }

    #[test]
    fn fields_are_exactly_telegrafs_set() {
        let text = "   8       0 sda 100 5 2000 30 200 6 4000 50 1 70 80 0 0 0 0\n";
        let m = &parse_diskstats(text, &[], 1)[0];
        assert_eq!(m.name, "diskio");
        let mut names: Vec<&str> = m.fields.iter().map(|(k, _)| k.as_str()).collect();
        names.sort_unstable();
        assert_eq!(names, FIELDS.to_vec());
        assert!(
            m.fields
                .iter()
                .all(|(_, v)| matches!(v, FieldValue::Integer(_)))
        );
        assert_eq!(m.tags.keys().collect::<Vec<_>>(), vec!["name"]);
    }

    #[test]
    fn every_device_of_proc_diskstats_is_reported() {
        let text = std::fs::read_to_string("/proc/diskstats").unwrap();
        let mut acc = Accumulator::new(1);
        DiskIo::new(DiskIoConfig::default())
            .gather(&mut acc)
            .unwrap();
        assert_eq!(
            acc.metrics().len(),
            text.lines()
                .filter(|l| l.split_whitespace().count() >= 14)
                .count()
        );
    }
}
