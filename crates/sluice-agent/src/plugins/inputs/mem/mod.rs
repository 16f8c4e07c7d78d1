//! `inputs.mem`: memory and swap from `/proc/meminfo`, with Telegraf's Linux fields.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::error::{Error, Result};
use crate::metric::Metric;
use crate::plugins::{Accumulator, Input};

/// `[[inputs.mem]]` (no options).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemConfig {}

/// Parses `/proc/meminfo` into values in bytes (`kB` lines) or counts (others).
pub fn parse_meminfo(text: &str) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let Some((key, rest)) = line.split_once(':') else {
            continue;
        };
        let mut parts = rest.split_whitespace();
        let Some(value) = parts.next().and_then(|v| v.parse::<u64>().ok()) else {
            continue;
        };
        let scale = if parts.next() == Some("kB") { 1024 } else { 1 };
        out.insert(key.trim().to_owned(), value * scale);
    }
    out
}

/// The fields Telegraf documents for `mem` on Linux (its README minus the BSD/Darwin-only
/// `laundry` and `wired`).
pub const LINUX_FIELDS: [&str; 34] = [
    "active",
    "available",
    "available_percent",
    "buffered",
    "cached",
    "commit_limit",
    "committed_as",
    "dirty",
    "free",
    "high_free",
    "high_total",
    "huge_page_size",
    "huge_pages_free",
    "huge_pages_total",
    "inactive",
    "low_free",
    "low_total",
    "mapped",
    "page_tables",
    "shared",
    "slab",
    "sreclaimable",
    "sunreclaim",
    "swap_cached",
    "swap_free",
    "swap_total",
    "total",
    "used",
    "used_percent",
    "vmalloc_chunk",
    "vmalloc_total",
    "vmalloc_used",
    "write_back",
    "write_back_tmp",
];

/// Builds the `mem` metric from `/proc/meminfo` values.
pub fn mem_metric(info: &BTreeMap<String, u64>, time: i64) -> Metric {
    let get = |k: &str| info.get(k).copied().unwrap_or(0);
    let int = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
    let total = get("MemTotal");
    let free = get("MemFree");
    let buffered = get("Buffers");
    let cached = get("Cached") + get("SReclaimable");
    let available = info.get("MemAvailable").copied().unwrap_or(cached + free);
    let used = total.saturating_sub(free + buffered + cached);
    let pct = |v: u64| {
        if total == 0 {
            0.0
        } else {
            100.0 * v as f64 / total as f64
        }
    };
    let pairs = [
        ("active", "Active"),
        ("commit_limit", "CommitLimit"),
        ("committed_as", "Committed_AS"),
        ("dirty", "Dirty"),
        ("high_free", "HighFree"),
        ("high_total", "HighTotal"),
        ("huge_page_size", "Hugepagesize"),
        ("huge_pages_free", "HugePages_Free"),
        ("huge_pages_total", "HugePages_Total"),
        ("inactive", "Inactive"),
        ("low_free", "LowFree"),
        ("low_total", "LowTotal"),
        ("mapped", "Mapped"),
        ("page_tables", "PageTables"),
        ("shared", "Shmem"),
        ("slab", "Slab"),
        ("sreclaimable", "SReclaimable"),
        ("sunreclaim", "SUnreclaim"),
        ("swap_cached", "SwapCached"),
        ("swap_free", "SwapFree"),
        ("swap_total", "SwapTotal"),
        ("vmalloc_chunk", "VmallocChunk"),
        ("vmalloc_total", "VmallocTotal"),
        ("vmalloc_used", "VmallocUsed"),
        ("write_back", "Writeback"),
        ("write_back_tmp", "WritebackTmp"),
    ];
    let mut m = Metric::new("mem", time)
        .with_field("total", int(total))
        .with_field("available", int(available))
        .with_field("used", int(used))
        .with_field("free", int(free))
        .with_field("cached", int(cached))
        .with_field("buffered", int(buffered))
        .with_field("available_percent", pct(available))
        .with_field("used_percent", pct(used));
    for (field, key) in pairs {
        m.set_field(field, int(get(key)));
    }
    m
}

/// The `mem` input.
#[derive(Debug, Default)]
pub struct Mem;

impl Input for Mem {
    fn gather(&mut self, acc: &mut Accumulator) -> Result<()> {
        let text =
            std::fs::read_to_string("/proc/meminfo").map_err(|e| Error::io("/proc/meminfo", e))?;
        acc.add(mem_metric(&parse_meminfo(&text), acc.time()));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metric::FieldValue;

    fn int(m: &Metric, k: &str) -> i64 {
        match m.field(k) {
            Some(FieldValue::Integer(v)) => *v,
            other => panic!("{k}: {other:?}"),
        }
    }

    #[test]
    fn fields_follow_proc_meminfo() {
        let mut acc = Accumulator::new(1);
        Mem.gather(&mut acc).unwrap();
        let info = parse_meminfo(&std::fs::read_to_string("/proc/meminfo").unwrap());
        let m = &acc.metrics()[0];
        assert_eq!(m.name, "mem");
        assert_eq!(int(m, "total") as u64, info["MemTotal"]);
        assert_eq!(int(m, "swap_total") as u64, info["SwapTotal"]);
        assert_eq!(int(m, "huge_page_size") as u64, info["Hugepagesize"]);
        assert_eq!(m.fields.len(), 34);
    }

    #[test]
    fn fields_are_exactly_telegrafs_linux_set() {
        let m = mem_metric(&parse_meminfo("MemTotal: 10 kB\n"), 0);
        let mut names: Vec<&str> = m.fields.iter().map(|(k, _)| k.as_str()).collect();
        names.sort_unstable();
        assert_eq!(names, LINUX_FIELDS.to_vec());
        for (k, v) in &m.fields {
            let float = k.ends_with("_percent");
            assert_eq!(matches!(v, FieldValue::Float(_)), float, "{k}");
            assert_eq!(matches!(v, FieldValue::Integer(_)), !float, "{k}");
        }
    }

    #[test]
    fn used_excludes_free_buffers_and_reclaimable_cache() {
        let text = "MemTotal: 1000 kB\nMemFree: 100 kB\nMemAvailable: 600 kB\nBuffers: 50 kB\nCached: 300 kB\nSReclaimable: 50 kB\nHugePages_Total: 4\n";
        let m = mem_metric(&parse_meminfo(text), 0);
        assert_eq!(int(&m, "used"), 500 * 1024);
        assert_eq!(int(&m, "cached"), 350 * 1024);
        assert_eq!(int(&m, "huge_pages_total"), 4);
        assert_eq!(m.field("available_percent"), Some(&FieldValue::Float(60.0)));
        assert_eq!(m.field("used_percent"), Some(&FieldValue::Float(50.0)));
    }
}
