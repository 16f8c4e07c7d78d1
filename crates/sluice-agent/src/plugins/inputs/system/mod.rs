//! `inputs.system`: load averages, CPU and user counts, and uptime.

use serde::Deserialize;

use crate::error::{Error, Result};
use crate::metric::Metric;
use crate::plugins::{Accumulator, Input};

/// `[[inputs.system]]` (no options).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SystemConfig {}

/// Uptime as Telegraf formats it: `"N days, HH:MM"` (`"day"` for one, no days when 0).
pub fn format_uptime(uptime: u64) -> String {
    let days = uptime / 86_400;
    let mut out = String::new();
    if days != 0 {
        out.push_str(&format!("{days} day{}, ", if days > 1 { "s" } else { "" }));
    }
    let minutes = uptime / 60;
    out.push_str(&format!("{:2}:{:02}", (minutes / 60) % 24, minutes % 60));
    out
}

/// The fields Telegraf's `system` input writes on Linux (over three metrics: loads and
/// counts, `uptime`, `uptime_format`); `n_users` and `n_unique_users` only when utmp is
/// readable.
pub const LINUX_FIELDS: [&str; 8] = [
    "load1",
    "load15",
    "load5",
    "n_cpus",
    "n_unique_users",
    "n_users",
    "uptime",
    "uptime_format",
];

/// Counts logged-in users in a utmp file: `(sessions, unique user names)`, from its
/// `USER_PROCESS` records (glibc layout: 384-byte records, `ut_user` at byte 44, 32 bytes).
pub fn count_users(utmp: &[u8]) -> (i64, i64) {
    const RECORD: usize = 384;
    const USER_PROCESS: i32 = 7;
    const USER: std::ops::Range<usize> = 44..76;
    let mut sessions = 0;
    let mut names = std::collections::BTreeSet::new();
    for r in utmp.chunks_exact(RECORD) {
        if i32::from_ne_bytes([r[0], r[1], r[2], r[3]]) != USER_PROCESS {
            continue;
        }
        sessions += 1;
        let user = &r[USER];
        let len = user.iter().position(|&b| b == 0).unwrap_or(user.len());
        names.insert(&user[..len]);
    }
    (sessions, names.len() as i64)
}

/// Counts the `cpuN` lines of `/proc/stat`.
pub fn count_cpus(stat: &str) -> i64 {
    stat.lines()
        .filter(|l| l.starts_with("cpu") && l.as_bytes().get(3).is_some_and(u8::is_ascii_digit))
        .count() as i64
}

/// The `system` input.
#[derive(Debug, Default)]
pub struct System;

impl Input for System {
    fn gather(&mut self, acc: &mut Accumulator) -> Result<()> {
        let read = |p: &str| std::fs::read_to_string(p).map_err(|e| Error::io(p, e));
        let load = read("/proc/loadavg")?;
        let loads: Vec<f64> = load
            .split_whitespace()
            .take(3)
            .map(|v| v.parse().unwrap_or(0.0))
            .collect();
        let n_cpus = count_cpus(&read("/proc/stat")?);
        let mut m = Metric::new("system", acc.time())
            .with_field("load1", loads.first().copied().unwrap_or(0.0))
            .with_field("load5", loads.get(1).copied().unwrap_or(0.0))
            .with_field("load15", loads.get(2).copied().unwrap_or(0.0))
            .with_field("n_cpus", n_cpus);
        for path in ["/var/run/utmp", "/run/utmp"] {
            if let Ok(bytes) = std::fs::read(path) {
                let (sessions, unique) = count_users(&bytes);
                m.set_field("n_users", sessions);
                m.set_field("n_unique_users", unique);
                break;
            }
        }
        acc.add(m);
        let uptime = read("/proc/uptime")?
            .split_whitespace()
            .next()
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0) as u64;
        acc.add(Metric::new("system", acc.time()).with_field("uptime", uptime as i64));
        acc.add(
            Metric::new("system", acc.time()).with_field("uptime_format", format_uptime(uptime)),
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metric::FieldValue;

    #[test]
    fn uptime_is_formatted_as_telegraf_does() {
        assert_eq!(format_uptime(59), " 0:00");
        assert_eq!(format_uptime(3 * 3600 + 7 * 60), " 3:07");
        assert_eq!(format_uptime(86_400 + 600), "1 day,  0:10");
        assert_eq!(format_uptime(2 * 86_400 + 13 * 3600), "2 days, 13:00");
    }

    #[test]
    fn fields_follow_proc() {
        let mut acc = Accumulator::new(1);
        System.gather(&mut acc).unwrap();
        let stat = std::fs::read_to_string("/proc/stat").unwrap();
        let m = &acc.metrics()[0];
        assert_eq!(
            m.field("n_cpus"),
            Some(&FieldValue::Integer(count_cpus(&stat)))
        );
        assert!(count_cpus(&stat) >= 1);
        let load1: f64 = std::fs::read_to_string("/proc/loadavg")
            .unwrap()
            .split_whitespace()
            .next()
            .unwrap()
            .parse()
            .unwrap();
        match m.field("load1") {
            Some(FieldValue::Float(v)) => assert!((v - load1).abs() < 2.0),
            other => panic!("{other:?}"),
        }
        let uptime: f64 = std::fs::read_to_string("/proc/uptime")
            .unwrap()
            .split_whitespace()
            .next()
            .unwrap()
            .parse()
            .unwrap();
        match acc.metrics()[1].field("uptime") {
            Some(FieldValue::Integer(v)) => assert!((*v as f64 - uptime).abs() <= 2.0),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            acc.metrics()[2].field("uptime_format"),
            Some(FieldValue::String(_))
        ));
    }

    #[test]
    fn users_are_counted_from_user_process_records() {
        let mut utmp = vec![0u8; 384 * 4];
        let records = [(7i32, "alice"), (8, "bob"), (7, "alice"), (7, "carol")];
        for (i, (kind, user)) in records.iter().enumerate() {
            let at = i * 384;
            utmp[at..at + 4].copy_from_slice(&kind.to_ne_bytes());
            utmp[at + 44..at + 44 + user.len()].copy_from_slice(user.as_bytes());
        }
        assert_eq!(count_users(&utmp), (3, 2));
    }

    #[test]
    fn fields_are_exactly_telegrafs_linux_set() {
        let mut acc = Accumulator::new(1);
        System.gather(&mut acc).unwrap();
        let mut names: Vec<&str> = acc
            .metrics()
            .iter()
            .flat_map(|m| m.fields.iter().map(|(k, _)| k.as_str()))
            .collect();
        names.sort_unstable();
        let utmp = ["/var/run/utmp", "/run/utmp"]
            .iter()
            .any(|p| std::fs::read(p).is_ok());
        let expected: Vec<&str> = LINUX_FIELDS
            .iter()
            .copied()
            .filter(|f| utmp || !f.starts_with("n_u"))
            .collect();
        assert_eq!(names, expected);
        let m = &acc.metrics()[0];
        for f in ["load1", "load5", "load15"] {
            assert!(matches!(m.field(f), Some(FieldValue::Float(_))), "{f}");
        }
        assert!(acc.metrics().iter().all(|m| m.name == "system"));
    }
}
