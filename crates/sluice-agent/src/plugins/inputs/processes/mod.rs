//! `inputs.processes`: process counts by state, from `/proc/[pid]/stat`.

use serde::Deserialize;

use crate::error::{Error, Result};
use crate::metric::Metric;
use crate::plugins::{Accumulator, Input};

/// `[[inputs.processes]]` (no options).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProcessesConfig {}

/// The fields Telegraf writes on Linux for every gather (`parked` is added only when a
/// process is in state `P`, as Telegraf does). Telegraf's README spells `zombie`, but the
/// plugin writes `zombies`.
pub const LINUX_FIELDS: [&str; 11] = [
    "blocked",
    "dead",
    "idle",
    "paging",
    "running",
    "sleeping",
    "stopped",
    "total",
    "total_threads",
    "unknown",
    "zombies",
];

/// Counts `(state, threads)` pairs into the `processes` metric.
pub fn processes_metric(states: &[(char, i64)], time: i64) -> Metric {
    let names = [
        "blocked", "running", "sleeping", "stopped", "zombies", "dead", "paging", "idle", "parked",
        "unknown",
    ];
    let mut counts = [0i64; 10];
    let mut threads = 0;
    for (state, n) in states {
        let i = match state {
            'D' => 0,
            'R' => 1,
            'S' => 2,
            'T' | 't' => 3,
            'Z' => 4,
            'X' | 'x' => 5,
            'W' => 6,
            'I' => 7,
            'P' => 8,
            _ => 9,
        };
        counts[i] += 1;
        threads += n;
    }
    let mut m = Metric::new("processes", time);
    for (name, count) in names.iter().zip(counts) {
        if *name != "parked" || count > 0 {
            m.set_field(*name, count);
        }
    }
    m.set_field("total", states.len() as i64);
    m.set_field("total_threads", threads);
    m
}

/// The `processes` input.
#[derive(Debug, Default)]
pub struct Processes;

impl Input for Processes {
    fn gather(&mut self, acc: &mut Accumulator) -> Result<()> {
        let mut states = Vec::new();
        for entry in std::fs::read_dir("/proc")
            .map_err(|e| Error::io("/proc", e))?
            .flatten()
        {
            let name = entry.file_name();
            if !name.to_string_lossy().bytes().all(|b| b.is_ascii_digit()) {
                continue;
            }
            // A process may exit between listing and reading.
            let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
                continue;
            };
            let Some(close) = stat.rfind(')') else {
                continue;
            };
            let rest: Vec<&str> = stat[close + 1..].split_whitespace().collect();
            let state = rest.first().and_then(|s| s.chars().next()).unwrap_or('?');
            let threads = rest.get(17).and_then(|t| t.parse().ok()).unwrap_or(1);
            states.push((state, threads));
        }
        acc.add(processes_metric(&states, acc.time()));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metric::FieldValue;

    #[test]
    fn states_are_counted_by_telegraf_names() {
        let m = processes_metric(
            &[('R', 2), ('S', 1), ('S', 4), ('Z', 1), ('I', 1), ('D', 1)],
            0,
        );
        assert_eq!(m.field("running"), Some(&FieldValue::Integer(1)));
        assert_eq!(m.field("sleeping"), Some(&FieldValue::Integer(2)));
        assert_eq!(m.field("zombies"), Some(&FieldValue::Integer(1)));
        assert_eq!(m.field("blocked"), Some(&FieldValue::Integer(1)));
        assert_eq!(m.field("total"), Some(&FieldValue::Integer(6)));
        assert_eq!(m.field("total_threads"), Some(&FieldValue::Integer(10)));
    }

    fn field_names(m: &Metric) -> Vec<&str> {
        let mut names: Vec<&str> = m.fields.iter().map(|(k, _)| k.as_str()).collect();
        names.sort_unstable();
        names
    }

    #[test]
    fn fields_are_exactly_telegrafs_linux_set() {
        let m = processes_metric(&[('R', 1), ('S', 3)], 0);
        assert_eq!(field_names(&m), LINUX_FIELDS.to_vec());
        assert!(
            m.fields
                .iter()
                .all(|(_, v)| matches!(v, FieldValue::Integer(_)))
        );
    }

    #[test]
    fn parked_appears_only_when_a_process_is_parked() {
        let m = processes_metric(&[('P', 1), ('P', 1), ('S', 1)], 0);
        assert_eq!(m.field("parked"), Some(&FieldValue::Integer(2)));
        let mut expected = LINUX_FIELDS.to_vec();
        expected.push("parked");
        expected.sort_unstable();
        assert_eq!(field_names(&m), expected);
    }

    #[test]
    fn this_process_is_counted() {
        let mut acc = Accumulator::new(1);
        Processes.gather(&mut acc).unwrap();
        let pids = std::fs::read_dir("/proc")
            .unwrap()
            .flatten()
            .filter(|e| {
                e.file_name()
                    .to_string_lossy()
                    .bytes()
                    .all(|b| b.is_ascii_digit())
            })
            .count() as i64;
        match acc.metrics()[0].field("total") {
            Some(FieldValue::Integer(total)) => assert!(
                *total >= 1 && (*total - pids).abs() < 50,
                "{total} vs {pids}"
            ),
            other => panic!("{other:?}"),
        }
    }
}
