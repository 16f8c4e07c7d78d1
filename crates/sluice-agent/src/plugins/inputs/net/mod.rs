//! `inputs.net`: per-interface counters from `/proc/net/dev`.

use serde::Deserialize;

use crate::error::{Error, Result};
use crate::filter::glob_match;
use crate::metric::Metric;
use crate::plugins::{Accumulator, Input};

/// `[[inputs.net]]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NetConfig {
    /// Only interfaces matching these globs. Default: `[]`, which means every interface
    /// that is up and not a loopback.
    pub interfaces: Vec<String>,
}

/// Parses `/proc/net/dev` into `(interface, counters)`.
pub fn parse_net_dev(text: &str) -> Vec<(String, Vec<i64>)> {
    text.lines()
        .skip(2)
        .filter_map(|line| {
            let (name, rest) = line.split_once(':')?;
            let v: Vec<i64> = rest
                .split_whitespace()
                .map(|x| x.parse().unwrap_or(0))
                .collect();
            (v.len() >= 16).then(|| (name.trim().to_owned(), v))
        })
        .collect()
}

fn flags(interface: &str) -> u32 {
    std::fs::read_to_string(format!("/sys/class/net/{interface}/flags"))
        .ok()
        .and_then(|s| u32::from_str_radix(s.trim().trim_start_matches("0x"), 16).ok())
        .unwrap_or(0)
}

/// The `net` input.
#[derive(Debug)]
pub struct Net {
    config: NetConfig,
}

impl Net {
    /// A net input.
    pub fn new(config: NetConfig) -> Net {
        Net { config }
    }
}

impl Input for Net {
    fn gather(&mut self, acc: &mut Accumulator) -> Result<()> {
        let text =
            std::fs::read_to_string("/proc/net/dev").map_err(|e| Error::io("/proc/net/dev", e))?;
        for (name, v) in parse_net_dev(&text) {
            if self.config.interfaces.is_empty() {
                let f = flags(&name);
                const UP: u32 = 0x1;
                const LOOPBACK: u32 = 0x8;
                if f & LOOPBACK != 0 || f & UP == 0 {
                    continue;
                }
            } else if !self.config.interfaces.iter().any(|p| glob_match(p, &name)) {
                continue;
            }
            acc.add(
                Metric::new("net", acc.time())
                    .with_tag("interface", name)
                    .with_field("bytes_recv", v[0])
                    .with_field("packets_recv", v[1])
                    .with_field("err_in", v[2])
                    .with_field("drop_in", v[3])
                    .with_field("bytes_sent", v[8])
                    .with_field("packets_sent", v[9])
                    .with_field("err_out", v[10])
                    .with_field("drop_out", v[11]),
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metric::FieldValue;

    #[test]
    fn loopback_counters_match_proc_net_dev() {
        let mut acc = Accumulator::new(1);
        Net::new(NetConfig {
            interfaces: vec!["lo".into()],
        })
        .gather(&mut acc)
        .unwrap();
        let m = &acc.metrics()[0];
        assert_eq!(m.tags["interface"], "lo");
        let after = parse_net_dev(&std::fs::read_to_string("/proc/net/dev").unwrap());
        let lo = &after.iter().find(|(n, _)| n == "lo").unwrap().1;
        match m.field("bytes_recv") {
            Some(FieldValue::Integer(v)) => assert!(*v <= lo[0]),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn loopback_is_skipped_without_an_interface_list() {
        let mut acc = Accumulator::new(1);
        Net::new(NetConfig::default()).gather(&mut acc).unwrap();
        assert!(acc.metrics().iter().all(|m| m.tags["interface"] != "lo"));
    }
}
