//! Hosts for the `cpu-only` and `devops` data sets: TSBS's host tags and the fields of its
//! nine system measurements.

use super::lp::LineBuf;
use super::{FieldSpec, Format, MeasurementSim, Simulation};
use crate::rng::Rng;

/// Regions and their datacenters, as TSBS names them.
const REGIONS: &[(&str, &[&str])] = &[
    (
        "us-east-1",
        &["us-east-1a", "us-east-1b", "us-east-1c", "us-east-1e"],
    ),
    ("us-west-1", &["us-west-1a", "us-west-1b"]),
    ("us-west-2", &["us-west-2a", "us-west-2b", "us-west-2c"]),
    ("eu-west-1", &["eu-west-1a", "eu-west-1b", "eu-west-1c"]),
    ("eu-central-1", &["eu-central-1a", "eu-central-1b"]),
    ("ap-southeast-1", &["ap-southeast-1a", "ap-southeast-1b"]),
    ("ap-southeast-2", &["ap-southeast-2a", "ap-southeast-2b"]),
    ("ap-northeast-1", &["ap-northeast-1a", "ap-northeast-1c"]),
    ("sa-east-1", &["sa-east-1a", "sa-east-1b", "sa-east-1c"]),
];
const TEAMS: &[&str] = &["SF", "NYC", "LON", "CHI"];
const OSES: &[&str] = &["Ubuntu16.10", "Ubuntu16.04LTS", "Ubuntu15.10"];
const ARCHES: &[&str] = &["x64", "x86"];
const ENVIRONMENTS: &[&str] = &["production", "staging", "test"];

const fn pct(name: &'static str) -> FieldSpec {
    FieldSpec::clamped(name, 1.0, 0.0, 100.0, Format::Int)
}

/// The ten `cpu` fields: clamped percentages written as integers, as TSBS does.
pub(crate) const CPU_FIELDS: &[FieldSpec] = &[
    pct("usage_user"),
    pct("usage_system"),
    pct("usage_idle"),
    pct("usage_nice"),
    pct("usage_iowait"),
    pct("usage_irq"),
    pct("usage_softirq"),
    pct("usage_steal"),
    pct("usage_guest"),
    pct("usage_guest_nice"),
];

const DISKIO_FIELDS: &[FieldSpec] = &[
    FieldSpec::counter("reads", 50.0, 1e6),
    FieldSpec::counter("writes", 50.0, 1e6),
    FieldSpec::counter("read_bytes", 100_000.0, 1e9),
    FieldSpec::counter("write_bytes", 100_000.0, 1e9),
    FieldSpec::counter("read_time", 50.0, 1e6),
    FieldSpec::counter("write_time", 50.0, 1e6),
    FieldSpec::counter("io_time", 50.0, 1e6),
];

const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

const DISK_FIELDS: &[FieldSpec] = &[
    FieldSpec::clamped("total", 0.0, 500.0 * GIB, 500.0 * GIB, Format::Int),
    FieldSpec::clamped(
        "free",
        50.0 * 1024.0 * 1024.0,
        0.0,
        500.0 * GIB,
        Format::Int,
    ),
    FieldSpec::clamped(
        "used",
        50.0 * 1024.0 * 1024.0,
        0.0,
        500.0 * GIB,
        Format::Int,
    ),
    FieldSpec::clamped("used_percent", 1.0, 0.0, 100.0, Format::Int),
    FieldSpec::clamped("inodes_total", 0.0, 32_768_000.0, 32_768_000.0, Format::Int),
    FieldSpec::clamped("inodes_free", 50.0, 0.0, 32_768_000.0, Format::Int),
    FieldSpec::clamped("inodes_used", 50.0, 0.0, 32_768_000.0, Format::Int),
];

const KERNEL_FIELDS: &[FieldSpec] = &[
    FieldSpec::clamped(
        "boot_time",
        0.0,
        1_451_000_000.0,
        1_451_600_000.0,
        Format::Int,
    ),
    FieldSpec::counter("interrupts", 5.0, 1e6),
    FieldSpec::counter("context_switches", 5.0, 1e6),
    FieldSpec::counter("processes_forked", 5.0, 1e5),
    FieldSpec::counter("disk_pages_in", 5.0, 1e6),
    FieldSpec::counter("disk_pages_out", 5.0, 1e6),
];

const MEM_FIELDS: &[FieldSpec] = &[
    FieldSpec::clamped("total", 0.0, 8.0 * GIB, 32.0 * GIB, Format::Int),
    FieldSpec::clamped(
        "available",
        10.0 * 1024.0 * 1024.0,
        0.0,
        8.0 * GIB,
        Format::Int,
    ),
    FieldSpec::clamped("used", 10.0 * 1024.0 * 1024.0, 0.0, 8.0 * GIB, Format::Int),
    FieldSpec::clamped("free", 10.0 * 1024.0 * 1024.0, 0.0, 8.0 * GIB, Format::Int),
    FieldSpec::clamped(
        "cached",
        10.0 * 1024.0 * 1024.0,
        0.0,
        8.0 * GIB,
        Format::Int,
    ),
    FieldSpec::clamped(
        "buffered",
        10.0 * 1024.0 * 1024.0,
        0.0,
        8.0 * GIB,
        Format::Int,
    ),
    FieldSpec::clamped("used_percent", 1.0, 0.0, 100.0, Format::Float(4)),
    FieldSpec::clamped("available_percent", 1.0, 0.0, 100.0, Format::Float(4)),
    FieldSpec::clamped("buffered_percent", 1.0, 0.0, 100.0, Format::Float(4)),
];

const NET_FIELDS: &[FieldSpec] = &[
    FieldSpec::counter("bytes_sent", 100_000.0, 1e9),
    FieldSpec::counter("bytes_recv", 100_000.0, 1e9),
    FieldSpec::counter("packets_sent", 50.0, 1e6),
    FieldSpec::counter("packets_recv", 50.0, 1e6),
    FieldSpec::counter("err_in", 0.5, 100.0),
    FieldSpec::counter("err_out", 0.5, 100.0),
    FieldSpec::counter("drop_in", 0.5, 100.0),
    FieldSpec::counter("drop_out", 0.5, 100.0),
];

const NGINX_FIELDS: &[FieldSpec] = &[
    FieldSpec::counter("accepts", 5.0, 1e5),
    FieldSpec::clamped("active", 5.0, 0.0, 100.0, Format::Int),
    FieldSpec::counter("handled", 5.0, 1e5),
    FieldSpec::clamped("reading", 5.0, 0.0, 100.0, Format::Int),
    FieldSpec::counter("requests", 5.0, 1e5),
    FieldSpec::clamped("waiting", 5.0, 0.0, 100.0, Format::Int),
    FieldSpec::clamped("writing", 5.0, 0.0, 100.0, Format::Int),
];

const POSTGRESQL_FIELDS: &[FieldSpec] = &[
    FieldSpec::clamped("numbackends", 5.0, 0.0, 1000.0, Format::Int),
    FieldSpec::counter("xact_commit", 5.0, 1e5),
    FieldSpec::counter("xact_rollback", 5.0, 1e5),
    FieldSpec::counter("blks_read", 50.0, 1e6),
    FieldSpec::counter("blks_hit", 50.0, 1e6),
    FieldSpec::counter("tup_returned", 50.0, 1e6),
    FieldSpec::counter("tup_fetched", 50.0, 1e6),
    FieldSpec::counter("tup_inserted", 50.0, 1e6),
    FieldSpec::counter("tup_updated", 50.0, 1e6),
    FieldSpec::counter("tup_deleted", 50.0, 1e6),
    FieldSpec::counter("conflicts", 0.5, 100.0),
    FieldSpec::counter("temp_files", 0.5, 100.0),
    FieldSpec::counter("temp_bytes", 1024.0, 1e6),
    FieldSpec::counter("deadlocks", 0.5, 100.0),
    FieldSpec::counter("blk_read_time", 5.0, 1e5),
    FieldSpec::counter("blk_write_time", 5.0, 1e5),
];

const REDIS_FIELDS: &[FieldSpec] = &[
    // uptime_in_seconds grows by exactly the interval in TSBS; a counter is close enough.
    FieldSpec::counter("uptime_in_seconds", 10.0, 1e6),
    FieldSpec::counter("total_connections_received", 5.0, 1e5),
    FieldSpec::counter("expired_keys", 50.0, 1e5),
    FieldSpec::counter("evicted_keys", 50.0, 1e5),
    FieldSpec::counter("keyspace_hits", 50.0, 1e6),
    FieldSpec::counter("keyspace_misses", 50.0, 1e6),
    FieldSpec::clamped("instantaneous_ops_per_sec", 1.0, 0.0, 10_000.0, Format::Int),
    FieldSpec::clamped("instantaneous_input_kbps", 1.0, 0.0, 10_000.0, Format::Int),
    FieldSpec::clamped("instantaneous_output_kbps", 1.0, 0.0, 10_000.0, Format::Int),
    FieldSpec::clamped("connected_clients", 50.0, 0.0, 10_000.0, Format::Int),
    FieldSpec::clamped("used_memory", 50.0, 0.0, 16.0 * GIB, Format::Int),
    FieldSpec::clamped("used_memory_rss", 50.0, 0.0, 16.0 * GIB, Format::Int),
    FieldSpec::clamped("used_memory_peak", 50.0, 0.0, 16.0 * GIB, Format::Int),
    FieldSpec::clamped("used_memory_lua", 50.0, 0.0, 16.0 * GIB, Format::Int),
    FieldSpec::clamped(
        "rdb_changes_since_last_save",
        50.0,
        0.0,
        10_000.0,
        Format::Int,
    ),
    FieldSpec::clamped("sync_full", 5.0, 0.0, 1000.0, Format::Int),
    FieldSpec::clamped("sync_partial_ok", 5.0, 0.0, 1000.0, Format::Int),
    FieldSpec::clamped("sync_partial_err", 5.0, 0.0, 1000.0, Format::Int),
    FieldSpec::clamped("pubsub_channels", 5.0, 0.0, 1000.0, Format::Int),
    FieldSpec::clamped("pubsub_patterns", 5.0, 0.0, 1000.0, Format::Int),
    FieldSpec::clamped("latest_fork_usec", 5.0, 0.0, 1000.0, Format::Int),
    FieldSpec::clamped("connected_slaves", 5.0, 0.0, 1000.0, Format::Int),
    FieldSpec::clamped("master_repl_offset", 5.0, 0.0, 1000.0, Format::Int),
    FieldSpec::clamped("repl_backlog_active", 5.0, 0.0, 1000.0, Format::Int),
    FieldSpec::clamped("repl_backlog_size", 5.0, 0.0, 1000.0, Format::Int),
    FieldSpec::clamped("repl_backlog_histlen", 5.0, 0.0, 1000.0, Format::Int),
    FieldSpec::clamped("mem_fragmentation_ratio", 5.0, 0.0, 100.0, Format::Int),
    FieldSpec::clamped("used_cpu_sys", 5.0, 0.0, 1000.0, Format::Int),
    FieldSpec::clamped("used_cpu_user", 5.0, 0.0, 1000.0, Format::Int),
    FieldSpec::clamped("used_cpu_sys_children", 5.0, 0.0, 1000.0, Format::Int),
    FieldSpec::clamped("used_cpu_user_children", 5.0, 0.0, 1000.0, Format::Int),
];

/// Every simulated host, each with its measurements.
#[derive(Debug)]
pub(crate) struct Hosts {
    measurements: Vec<MeasurementSim>,
}

impl Hosts {
    /// `count` hosts with the `cpu` measurement only, or all nine when `devops`.
    pub(crate) fn new(count: u64, devops: bool, rng: &mut Rng) -> Self {
        let mut measurements = Vec::new();
        for id in 0..count {
            let (region, datacenters) = *rng.choose(REGIONS);
            let datacenter = *rng.choose(datacenters);
            let rack = rng.below(100);
            let arch = *rng.choose(ARCHES);
            let os = *rng.choose(OSES);
            let service = rng.below(20);
            let service_version = rng.below(2);
            let environment = *rng.choose(ENVIRONMENTS);
            let team = *rng.choose(TEAMS);
            let tags = format!(
                "hostname=host_{id},region={region},datacenter={datacenter},rack={rack},os={os},\
                 arch={arch},team={team},service={service},service_version={service_version},\
                 service_environment={environment}"
            );
            measurements.push(MeasurementSim::new(format!("cpu,{tags}"), CPU_FIELDS, rng));
            if !devops {
                continue;
            }
            let serial = format!(
                "{:03}-{:03}-{:04}",
                rng.below(1000),
                rng.below(1000),
                rng.below(10_000)
            );
            measurements.push(MeasurementSim::new(
                format!("diskio,{tags},serial={serial}"),
                DISKIO_FIELDS,
                rng,
            ));
            let path = format!("/dev/sd{}", char::from(b'a' + rng.below(26) as u8));
            let fstype = *rng.choose(&["ext3", "ext4", "btrfs"]);
            measurements.push(MeasurementSim::new(
                format!("disk,{tags},path={path},fstype={fstype}"),
                DISK_FIELDS,
                rng,
            ));
            measurements.push(MeasurementSim::new(
                format!("kernel,{tags}"),
                KERNEL_FIELDS,
                rng,
            ));
            measurements.push(MeasurementSim::new(format!("mem,{tags}"), MEM_FIELDS, rng));
            let interface = format!("eth{}", rng.below(4));
            measurements.push(MeasurementSim::new(
                format!("net,{tags},interface={interface}"),
                NET_FIELDS,
                rng,
            ));
            let (port, server) = (rng.below(20_000) + 1024, rng.below(100_000));
            measurements.push(MeasurementSim::new(
                format!("nginx,{tags},port={port},server=nginx_{server}"),
                NGINX_FIELDS,
                rng,
            ));
            measurements.push(MeasurementSim::new(
                format!("postgresql,{tags}"),
                POSTGRESQL_FIELDS,
                rng,
            ));
            let (port, server) = (rng.below(20_000) + 1024, rng.below(100_000));
            measurements.push(MeasurementSim::new(
                format!("redis,{tags},port={port},server=redis_{server}"),
                REDIS_FIELDS,
                rng,
            ));
        }
        Self { measurements }
    }
}

impl Simulation for Hosts {
    fn step(&mut self, timestamp_ns: i64, rng: &mut Rng, out: &mut LineBuf) -> (u64, u64) {
        let mut values = 0;
        for m in &mut self.measurements {
            values += m.write_all(timestamp_ns, out);
            m.tick(rng);
        }
        (self.measurements.len() as u64, values)
    }

    fn finish(&mut self, _out: &mut LineBuf) -> (u64, u64) {
        (0, 0)
    }
}
