//! `inputs.net`: per-interface counters from `/proc/net/dev` and protocol counters from `/proc/net/snmp`.

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
    /// Skip the system-wide protocol counters (`/proc/net/snmp`, reported with
    /// `interface=all`). Default: false.
    pub ignore_protocol_stats: bool,
}

/// The per-interface fields Telegraf writes on Linux.
pub const INTERFACE_FIELDS: [&str; 8] = [
    "bytes_recv",
    "bytes_sent",
    "drop_in",
    "drop_out",
    "err_in",
    "err_out",
    "packets_recv",
    "packets_sent",
];

/// Parses `/proc/net/snmp` (a header line then a value line per protocol) into Telegraf's
/// field names: protocol and counter lower-cased and joined by `_` (`tcp_activeopens`).
pub fn parse_net_snmp(text: &str) -> Vec<(String, i64)> {
    let mut out = Vec::new();
    let mut lines = text.lines();
    while let (Some(header), Some(values)) = (lines.next(), lines.next()) {
        let (Some((proto, names)), Some((proto2, values))) =
            (header.split_once(':'), values.split_once(':'))
        else {
            continue;
        };
        if proto != proto2 {
            continue;
        }
        let proto = proto.trim().to_lowercase();
        for (name, value) in names.split_whitespace().zip(values.split_whitespace()) {
            if let Ok(v) = value.parse::<i64>() {
                out.push((format!("{proto}_{}", name.to_lowercase()), v));
            }
        }
    }
    out
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
        if !self.config.ignore_protocol_stats {
            // Telegraf skips the protocol counters silently when the file cannot be read.
            if let Ok(text) = std::fs::read_to_string("/proc/net/snmp") {
                let stats = parse_net_snmp(&text);
                if !stats.is_empty() {
                    let mut m = Metric::new("net", acc.time()).with_tag("interface", "all");
                    for (name, value) in stats {
                        m.set_field(name, value);
                    }
                    acc.add(m);
                }
            }
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
            ignore_protocol_stats: false,
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

    #[test]
    fn interface_fields_are_exactly_telegrafs_set() {
        let mut acc = Accumulator::new(1);
        Net::new(NetConfig {
            interfaces: vec!["lo".into()],
            ignore_protocol_stats: true,
        })
        .gather(&mut acc)
        .unwrap();
        assert_eq!(acc.metrics().len(), 1);
        let m = &acc.metrics()[0];
        let mut names: Vec<&str> = m.fields.iter().map(|(k, _)| k.as_str()).collect();
        names.sort_unstable();
        assert_eq!(names, INTERFACE_FIELDS.to_vec());
        assert!(
            m.fields
                .iter()
                .all(|(_, v)| matches!(v, FieldValue::Integer(_)))
        );
    }

    #[test]
    fn snmp_counters_are_named_protocol_underscore_counter() {
        let text = "Ip: Forwarding DefaultTTL InReceives\nIp: 2 64 4172969\nTcp: RtoAlgorithm MaxConn ActiveOpens\nTcp: 1 -1 55965\nIcmpMsg: InType3 OutType8\nIcmpMsg: 11005 1965\nUdpLite: InDatagrams\nUdpLite: 0\n";
        let stats = parse_net_snmp(text);
        let get = |k: &str| stats.iter().find(|(n, _)| n == k).map(|(_, v)| *v);
        assert_eq!(get("ip_forwarding"), Some(2));
        assert_eq!(get("ip_defaultttl"), Some(64));
        assert_eq!(get("tcp_maxconn"), Some(-1));
        assert_eq!(get("tcp_activeopens"), Some(55965));
        assert_eq!(get("icmpmsg_intype3"), Some(11005));
        assert_eq!(get("udplite_indatagrams"), Some(0));
        assert_eq!(stats.len(), 9);
    }

    #[test]
    fn protocol_counters_are_reported_with_interface_all() {
        let mut acc = Accumulator::new(1);
        Net::new(NetConfig {
            interfaces: vec!["lo".into()],
            ignore_protocol_stats: false,
        })
        .gather(&mut acc)
        .unwrap();
        let all = acc
            .metrics()
            .iter()
            .find(|m| m.tags.get("interface").map(String::as_str) == Some("all"))
            .expect("an interface=all metric");
        assert_eq!(all.name, "net");
        let snmp = parse_net_snmp(&std::fs::read_to_string("/proc/net/snmp").unwrap());
        assert_eq!(all.fields.len(), snmp.len());
        assert!(all.field("tcp_activeopens").is_some());
        assert!(all.field("udp_indatagrams").is_some());
    }
}
