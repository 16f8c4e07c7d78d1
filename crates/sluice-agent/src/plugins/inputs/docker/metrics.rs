//! Engine, container-state and container-stats JSON turned into Telegraf's `docker*`
//! metrics: names, tags, fields and types as Telegraf's docker input documents (unsigned
//! counters are written as integers, as Telegraf's InfluxDB outputs write them).

use std::collections::BTreeMap;

use serde_json::Value;

use crate::metric::{FieldValue, Metric};

/// Which per-device and total metrics to emit (`perdevice_include`, `total_include`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Classes {
    /// `cpu`.
    pub cpu: bool,
    /// `blkio`.
    pub blkio: bool,
    /// `network`.
    pub network: bool,
}

impl Classes {
    /// The classes named in `names`.
    ///
    /// # Errors
    /// A name other than `cpu`, `blkio`, `network`.
    pub fn parse(names: &[String], key: &str) -> Result<Classes, String> {
        let mut classes = Classes::default();
        for name in names {
            match name.as_str() {
                "cpu" => classes.cpu = true,
                "blkio" => classes.blkio = true,
                "network" => classes.network = true,
                other => {
                    return Err(format!(
                        "invalid `{key}` setting {other:?}: use cpu, blkio or network"
                    ));
                }
            }
        }
        Ok(classes)
    }
}

/// A JSON number as an integer field (unsigned values above `i64::MAX` saturate).
pub(crate) fn int(value: &Value) -> Option<i64> {
    value
        .as_i64()
        .or_else(|| value.as_u64().map(|u| i64::try_from(u).unwrap_or(i64::MAX)))
        .or_else(|| value.as_f64().map(|f| f as i64))
}

fn int_at(value: &Value, path: &[&str]) -> Option<i64> {
    let mut v = value;
    for key in path {
        v = v.get(key)?;
    }
    int(v)
}

fn int_or_zero(value: &Value, path: &[&str]) -> FieldValue<'static> {
    FieldValue::Integer(int_at(value, path).unwrap_or(0))
}

/// Nanoseconds of an RFC 3339 time; `None` for Go's zero time or an unreadable one.
pub(crate) fn rfc3339_nanos(text: &str) -> Option<i64> {
    let t = chrono::DateTime::parse_from_rfc3339(text).ok()?;
    if t.timestamp() <= -62_135_596_800 {
        return None; // 0001-01-01T00:00:00Z, Go's zero time
    }
    t.timestamp_nanos_opt()
}

/// Splits an image reference into name and version as Telegraf does
/// (`registry:5000/app:1.2` → `registry:5000/app`, `1.2`; no tag → `unknown`).
pub fn parse_image(image: &str) -> (String, String) {
    let (domain, remainder) = match image.split_once('/') {
        Some((first, rest)) if first.contains(['.', ':']) || first == "localhost" => {
            (Some(first), rest)
        }
        _ => (None, image),
    };
    let (name, version) = match remainder.rsplit_once(':') {
        Some((name, version)) => (name, version),
        None => (remainder, "unknown"),
    };
    let name = match domain {
        Some(domain) => format!("{domain}/{name}"),
        None => name.to_owned(),
    };
    (name, version.to_owned())
}

/// Parses a size as the engine writes it in `DriverStatus` (`"107.4 GB"`, `"65.54kB"`),
/// with decimal units.
pub fn parse_size(text: &str) -> Option<i64> {
    let text = text.trim();
    let digits_end = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let number: f64 = text[..digits_end].parse().ok()?;
    let unit = text[digits_end..].trim_start();
    let unit = unit.strip_suffix(['b', 'B']).unwrap_or(unit);
    let factor = match unit.to_ascii_lowercase().as_str() {
        "" => 1.0,
        "k" => 1e3,
        "m" => 1e6,
        "g" => 1e9,
        "t" => 1e12,
        "p" => 1e15,
        _ => return None,
    };
    Some((number * factor) as i64)
}

/// `GET /info` → `docker` (counts, then `memory_total` alone), `docker` with `unit=bytes`
/// (`pool_blocksize`), `docker_data`, `docker_metadata` and `docker_devicemapper` (the
/// last three only for storage drivers that report them, such as devicemapper).
pub fn engine_metrics(info: &Value, tags: &BTreeMap<String, String>, now: i64) -> Vec<Metric> {
    let with_tags = |name: &str, tags: &BTreeMap<String, String>| {
        let mut m = Metric::new(name, now);
        m.tags = tags.clone();
        m
    };
    let mut out = Vec::new();
    let mut counts = with_tags("docker", tags);
    for (field, key) in [
        ("n_cpus", "NCPU"),
        ("n_used_file_descriptors", "NFd"),
        ("n_containers", "Containers"),
        ("n_containers_running", "ContainersRunning"),
        ("n_containers_stopped", "ContainersStopped"),
        ("n_containers_paused", "ContainersPaused"),
        ("n_images", "Images"),
        ("n_goroutines", "NGoroutines"),
        ("n_listener_events", "NEventsListener"),
    ] {
        counts.set_field(field, int_or_zero(info, &[key]));
    }
    out.push(counts);
    out.push(
        with_tags("docker", tags).with_field("memory_total", int_or_zero(info, &["MemTotal"])),
    );

    let mut unit_tags = tags.clone();
    unit_tags.insert("unit".to_owned(), "bytes".to_owned());
    let mut data = with_tags("docker_data", &unit_tags);
    let mut metadata = with_tags("docker_metadata", &unit_tags);
    let mut devicemapper = with_tags("docker_devicemapper", tags);
    let pairs = info
        .get("DriverStatus")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for pair in pairs {
        let (Some(key), Some(value)) = (
            pair.get(0).and_then(Value::as_str),
            pair.get(1).and_then(Value::as_str),
        ) else {
            continue;
        };
        let name = key.to_ascii_lowercase().replace(' ', "_");
        if name == "pool_name" {
            devicemapper
                .tags
                .insert("pool_name".to_owned(), value.to_owned());
            continue;
        }
        let Some(bytes) = parse_size(value) else {
            continue;
        };
        if matches!(
            name.as_str(),
            "pool_blocksize"
                | "base_device_size"
                | "data_space_used"
                | "data_space_total"
                | "data_space_available"
                | "metadata_space_used"
                | "metadata_space_total"
                | "metadata_space_available"
                | "thin_pool_minimum_free_space"
        ) {
            devicemapper.set_field(format!("{name}_bytes"), bytes);
        }
        if name == "pool_blocksize" {
            out.push(with_tags("docker", &unit_tags).with_field("pool_blocksize", bytes));
        } else if let Some(field) = name.strip_prefix("data_space_") {
            data.set_field(field, bytes);
        } else if let Some(field) = name.strip_prefix("metadata_space_") {
            metadata.set_field(field, bytes);
        }
    }
    out.extend(
        [data, metadata, devicemapper]
            .into_iter()
            .filter(|m| !m.fields.is_empty()),
    );
    out
}

/// `GET /containers/{id}/json` → `docker_container_status` and, when the container has a
/// health check, `docker_container_health`.
pub fn state_metrics(
    inspect: &Value,
    tags: &BTreeMap<String, String>,
    id: &str,
    now: i64,
) -> Vec<Metric> {
    let Some(state) = inspect.get("State").filter(|s| s.is_object()) else {
        return Vec::new();
    };
    let mut status = Metric::new("docker_container_status", now);
    status.tags = tags.clone();
    status.set_field(
        "oomkilled",
        state
            .get("OOMKilled")
            .and_then(Value::as_bool)
            .unwrap_or(false),
    );
    status.set_field("pid", int_or_zero(state, &["Pid"]));
    status.set_field("exitcode", int_or_zero(state, &["ExitCode"]));
    status.set_field("restart_count", int_or_zero(inspect, &["RestartCount"]));
    status.set_field("container_id", FieldValue::from(id.to_owned()));
    let finished = state
        .get("FinishedAt")
        .and_then(Value::as_str)
        .and_then(rfc3339_nanos);
    if let Some(finished) = finished {
        status.set_field("finished_at", finished);
    }
    if let Some(started) = state
        .get("StartedAt")
        .and_then(Value::as_str)
        .and_then(rfc3339_nanos)
    {
        status.set_field("started_at", started);
        let end = finished.filter(|f| *f >= started).unwrap_or(now);
        status.set_field("uptime_ns", end - started);
    }
    let mut out = vec![status];
    if let Some(health) = state.get("Health").filter(|h| h.is_object()) {
        let mut m = Metric::new("docker_container_health", now);
        m.tags = tags.clone();
        m.set_field(
            "health_status",
            FieldValue::from(
                health
                    .get("Status")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned(),
            ),
        );
        m.set_field("failing_streak", int_or_zero(health, &["FailingStreak"]));
        out.push(m);
    }
    out
}

const MEM_STATS: &[&str] = &[
    "active_anon",
    "active_file",
    "cache",
    "hierarchical_memory_limit",
    "inactive_anon",
    "inactive_file",
    "mapped_file",
    "pgfault",
    "pgmajfault",
    "pgpgin",
    "pgpgout",
    "rss",
    "rss_huge",
    "total_active_anon",
    "total_active_file",
    "total_cache",
    "total_inactive_anon",
    "total_inactive_file",
    "total_mapped_file",
    "total_pgfault",
    "total_pgmajfault",
    "total_pgpgin",
    "total_pgpgout",
    "total_rss",
    "total_rss_huge",
    "total_unevictable",
    "total_writeback",
    "unevictable",
    "writeback",
];

/// The previous CPU reading of a container, for `usage_percent` when the engine sends no
/// `precpu_stats` (Podman).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CpuSample {
    /// `cpu_stats.cpu_usage.total_usage`.
    pub total: u64,
    /// `cpu_stats.system_cpu_usage`.
    pub system: u64,
}

impl CpuSample {
    /// The sample in `cpu` (a `cpu_stats` or `precpu_stats` object).
    pub fn of(cpu: &Value) -> CpuSample {
        let u = |path: &[&str]| {
            let mut v = cpu;
            for k in path {
                v = match v.get(k) {
                    Some(v) => v,
                    None => return 0,
                };
            }
            v.as_u64().unwrap_or(0)
        };
        CpuSample {
            total: u(&["cpu_usage", "total_usage"]),
            system: u(&["system_cpu_usage"]),
        }
    }
}

/// `GET /containers/{id}/stats?stream=false` → `docker_container_mem`,
/// `docker_container_cpu`, `docker_container_net`, `docker_container_blkio`. `previous`
/// replaces an empty `precpu_stats`.
pub fn stats_metrics(
    stats: &Value,
    tags: &BTreeMap<String, String>,
    id: &str,
    now: i64,
    perdevice: Classes,
    total: Classes,
    previous: Option<CpuSample>,
) -> Vec<Metric> {
    let time = stats
        .get("read")
        .and_then(Value::as_str)
        .and_then(rfc3339_nanos)
        .filter(|t| *t > 0)
        .unwrap_or(now);
    let metric = |name: &str, extra: Option<(&str, String)>| {
        let mut m = Metric::new(name, time);
        m.tags = tags.clone();
        if let Some((k, v)) = extra {
            m.tags.insert(k.to_owned(), v);
        }
        m
    };
    let container_id = || FieldValue::from(id.to_owned());
    let windows = stats.get("os_type").and_then(Value::as_str) == Some("windows");
    let mut out = Vec::new();

    // Memory.
    let memory = stats.get("memory_stats").cloned().unwrap_or(Value::Null);
    let mut mem = metric("docker_container_mem", None);
    mem.set_field("container_id", container_id());
    let mem_stats = memory.get("stats").cloned().unwrap_or(Value::Null);
    for key in MEM_STATS {
        if let Some(v) = mem_stats.get(key).and_then(int) {
            mem.set_field(*key, v);
        }
    }
    if let Some(failcnt) = int_at(&memory, &["failcnt"]).filter(|f| *f != 0) {
        mem.set_field("fail_count", failcnt);
    }
    if windows {
        mem.set_field("commit_bytes", int_or_zero(&memory, &["commitbytes"]));
        mem.set_field(
            "commit_peak_bytes",
            int_or_zero(&memory, &["commitpeakbytes"]),
        );
        mem.set_field(
            "private_working_set",
            int_or_zero(&memory, &["privateworkingset"]),
        );
    } else {
        let usage = memory.get("usage").and_then(Value::as_u64).unwrap_or(0);
        let limit = memory.get("limit").and_then(Value::as_u64).unwrap_or(0);
        // Usage without the page cache, as `docker stats` shows it.
        let stat = |k: &str| mem_stats.get(k).and_then(Value::as_u64);
        let cache = [
            stat("cache"),
            stat("total_inactive_file"),
            stat("inactive_file"),
        ]
        .into_iter()
        .flatten()
        .find(|c| *c < usage)
        .unwrap_or(0);
        let used = usage - cache;
        mem.set_field("limit", int_or_zero(&memory, &["limit"]));
        mem.set_field("max_usage", int_or_zero(&memory, &["max_usage"]));
        mem.set_field("usage", i64::try_from(used).unwrap_or(i64::MAX));
        mem.set_field(
            "usage_percent",
            if limit == 0 {
                0.0
            } else {
                used as f64 / limit as f64 * 100.0
            },
        );
    }
    out.push(mem);

    // CPU.
    let cpu = stats.get("cpu_stats").cloned().unwrap_or(Value::Null);
    if total.cpu {
        let mut m = metric(
            "docker_container_cpu",
            Some(("cpu", "cpu-total".to_owned())),
        );
        m.set_field(
            "usage_total",
            int_or_zero(&cpu, &["cpu_usage", "total_usage"]),
        );
        m.set_field(
            "usage_in_usermode",
            int_or_zero(&cpu, &["cpu_usage", "usage_in_usermode"]),
        );
        m.set_field(
            "usage_in_kernelmode",
            int_or_zero(&cpu, &["cpu_usage", "usage_in_kernelmode"]),
        );
        m.set_field("usage_system", int_or_zero(&cpu, &["system_cpu_usage"]));
        m.set_field(
            "throttling_periods",
            int_or_zero(&cpu, &["throttling_data", "periods"]),
        );
        m.set_field(
            "throttling_throttled_periods",
            int_or_zero(&cpu, &["throttling_data", "throttled_periods"]),
        );
        m.set_field(
            "throttling_throttled_time",
            int_or_zero(&cpu, &["throttling_data", "throttled_time"]),
        );
        m.set_field("usage_percent", cpu_percent(stats, &cpu, previous, windows));
        m.set_field("container_id", container_id());
        out.push(m);
    }
    let percpu: Vec<i64> = cpu
        .get("cpu_usage")
        .and_then(|u| u.get("percpu_usage"))
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(int).collect())
        .unwrap_or_default();
    if perdevice.cpu && !percpu.is_empty() {
        let online = int_at(&cpu, &["online_cpus"]).unwrap_or(0);
        let count = if online > 0 {
            percpu.len().min(online as usize)
        } else {
            percpu.len()
        };
        for (i, usage) in percpu.iter().take(count).enumerate() {
            let mut m = metric("docker_container_cpu", Some(("cpu", format!("cpu{i}"))));
            m.set_field("usage_total", *usage);
            m.set_field("container_id", container_id());
            out.push(m);
        }
    }

    // Network.
    const NET: &[&str] = &[
        "rx_dropped",
        "rx_bytes",
        "rx_errors",
        "tx_packets",
        "tx_dropped",
        "rx_packets",
        "tx_errors",
        "tx_bytes",
    ];
    let mut net_total: BTreeMap<&str, i64> = BTreeMap::new();
    if let Some(networks) = stats.get("networks").and_then(Value::as_object) {
        for (name, counters) in networks {
            let mut m = metric("docker_container_net", Some(("network", name.clone())));
            for field in NET {
                let v = int_at(counters, &[*field]).unwrap_or(0);
                m.set_field(*field, v);
                *net_total.entry(*field).or_default() += v;
            }
            m.set_field("container_id", container_id());
            if perdevice.network {
                out.push(m);
            }
        }
    }
    if total.network && !net_total.is_empty() {
        let mut m = metric(
            "docker_container_net",
            Some(("network", "total".to_owned())),
        );
        m.set_field("container_id", container_id());
        for field in NET {
            m.set_field(*field, net_total[field]);
        }
        out.push(m);
    }

    // Block I/O.
    let blkio = stats.get("blkio_stats").cloned().unwrap_or(Value::Null);
    let mut devices: BTreeMap<String, Vec<(String, i64)>> = BTreeMap::new();
    for (list, prefix, with_op) in [
        (
            "io_service_bytes_recursive",
            "io_service_bytes_recursive_",
            true,
        ),
        ("io_serviced_recursive", "io_serviced_recursive_", true),
        ("io_queue_recursive", "io_queue_recursive_", true),
        (
            "io_service_time_recursive",
            "io_service_time_recursive_",
            true,
        ),
        ("io_wait_time_recursive", "io_wait_time_", true),
        ("io_merged_recursive", "io_merged_recursive_", true),
        ("io_time_recursive", "io_time_recursive", false),
        ("sectors_recursive", "sectors_recursive", false),
    ] {
        for entry in blkio
            .get(list)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let device = format!(
                "{}:{}",
                int_at(entry, &["major"]).unwrap_or(0),
                int_at(entry, &["minor"]).unwrap_or(0)
            );
            let field = if with_op {
                format!(
                    "{prefix}{}",
                    entry
                        .get("op")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_ascii_lowercase()
                )
            } else {
                prefix.to_owned()
            };
            let value = int_at(entry, &["value"]).unwrap_or(0);
            let fields = devices.entry(device).or_default();
            match fields.iter_mut().find(|(k, _)| *k == field) {
                Some(slot) => slot.1 = value,
                None => fields.push((field, value)),
            }
        }
    }
    let mut blk_total: Vec<(String, i64)> = Vec::new();
    for (device, fields) in &devices {
        if perdevice.blkio {
            let mut m = metric("docker_container_blkio", Some(("device", device.clone())));
            for (k, v) in fields {
                m.set_field(k.clone(), *v);
            }
            m.set_field("container_id", container_id());
            out.push(m);
        }
        for (k, v) in fields {
            match blk_total.iter_mut().find(|(name, _)| name == k) {
                Some(slot) => slot.1 = slot.1.saturating_add(*v),
                None => blk_total.push((k.clone(), *v)),
            }
        }
    }
    if total.blkio {
        let mut m = metric(
            "docker_container_blkio",
            Some(("device", "total".to_owned())),
        );
        m.set_field("container_id", container_id());
        for (k, v) in blk_total {
            m.set_field(k, v);
        }
        out.push(m);
    }
    out
}

/// CPU use in percent of one CPU times the online CPUs, between the previous and this
/// reading (as `docker stats` computes it).
fn cpu_percent(stats: &Value, cpu: &Value, previous: Option<CpuSample>, windows: bool) -> f64 {
    let now = CpuSample::of(cpu);
    if windows {
        let read = stats
            .get("read")
            .and_then(Value::as_str)
            .and_then(rfc3339_nanos);
        let preread = stats
            .get("preread")
            .and_then(Value::as_str)
            .and_then(rfc3339_nanos);
        let procs = int_at(stats, &["num_procs"]).unwrap_or(0);
        let pre = CpuSample::of(stats.get("precpu_stats").unwrap_or(&Value::Null));
        return match (read, preread) {
            (Some(r), Some(p)) if r > p && procs > 0 => {
                let intervals = ((r - p) / 100) as f64 * procs as f64;
                now.total.saturating_sub(pre.total) as f64 / intervals * 100.0
            }
            _ => 0.0,
        };
    }
    let mut pre = CpuSample::of(stats.get("precpu_stats").unwrap_or(&Value::Null));
    if pre.system == 0
        && let Some(previous) = previous
    {
        pre = previous;
    }
    let online = match int_at(cpu, &["online_cpus"]).unwrap_or(0) {
        0 => cpu
            .get("cpu_usage")
            .and_then(|u| u.get("percpu_usage"))
            .and_then(Value::as_array)
            .map_or(0, Vec::len) as f64,
        n => n as f64,
    };
    let cpu_delta = now.total as f64 - pre.total as f64;
    let system_delta = now.system as f64 - pre.system as f64;
    if system_delta > 0.0 && cpu_delta > 0.0 {
        cpu_delta / system_delta * online * 100.0
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn images_split_into_name_and_version_as_telegraf_does() {
        let p = |s: &str| parse_image(s);
        assert_eq!(
            p("quay.io/influxdb/telegraf:1.2"),
            ("quay.io/influxdb/telegraf".into(), "1.2".into())
        );
        assert_eq!(
            p("localhost:5000/app"),
            ("localhost:5000/app".into(), "unknown".into())
        );
        assert_eq!(p("localhost/bb:1.0"), ("localhost/bb".into(), "1.0".into()));
        assert_eq!(p("nginx"), ("nginx".into(), "unknown".into()));
        assert_eq!(
            p("library/nginx:alpine"),
            ("library/nginx".into(), "alpine".into())
        );
    }

    #[test]
    fn sizes_parse_with_decimal_units() {
        assert_eq!(parse_size("65.54 kB"), Some(65_540));
        assert_eq!(parse_size("107.4 GB"), Some(107_400_000_000));
        assert_eq!(parse_size("12"), Some(12));
        assert_eq!(parse_size("extfs"), None);
    }

    /// Telegraf's documented example of a devicemapper engine.
    #[test]
    fn engine_info_becomes_the_docker_measurements() {
        let info = json!({
            "NCPU": 8, "NFd": 15, "Containers": 7, "ContainersRunning": 7,
            "ContainersStopped": 0, "ContainersPaused": 0, "Images": 152,
            "NGoroutines": 36, "NEventsListener": 0, "MemTotal": 18935443456u64,
            "DriverStatus": [["Pool Name", "docker-8:1-1182287-pool"], ["Pool Blocksize", "65.54 kB"],
                ["Data Space Used", "17.3 GB"], ["Data Space Total", "107.4 GB"],
                ["Data Space Available", "36.53 GB"], ["Metadata Space Used", "20.97 MB"],
                ["Metadata Space Total", "2.147 GB"], ["Metadata Space Available", "2.127 GB"]]
        });
        let tags = BTreeMap::from([("engine_host".to_owned(), "h".to_owned())]);
        let m = engine_metrics(&info, &tags, 1);
        let names: Vec<&str> = m.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(
            names,
            vec![
                "docker",
                "docker",
                "docker",
                "docker_data",
                "docker_metadata",
                "docker_devicemapper"
            ]
        );
        assert_eq!(m[0].field("n_cpus"), Some(&FieldValue::Integer(8)));
        assert_eq!(
            m[1].fields,
            vec![("memory_total".into(), FieldValue::Integer(18_935_443_456))]
        );
        assert_eq!(m[2].tags["unit"], "bytes");
        assert_eq!(
            m[2].field("pool_blocksize"),
            Some(&FieldValue::Integer(65_540))
        );
        assert_eq!(
            m[3].field("total"),
            Some(&FieldValue::Integer(107_400_000_000))
        );
        assert_eq!(m[5].tags["pool_name"], "docker-8:1-1182287-pool");
        assert_eq!(
            m[5].field("data_space_used_bytes"),
            Some(&FieldValue::Integer(17_300_000_000))
        );
    }

    #[test]
    fn stats_become_mem_cpu_net_and_blkio_metrics() {
        let stats = json!({
            "read": "2023-11-14T22:13:20Z",
            "cpu_stats": {"cpu_usage": {"total_usage": 300, "percpu_usage": [100, 200, 0], "usage_in_usermode": 200, "usage_in_kernelmode": 100},
                          "system_cpu_usage": 2000, "online_cpus": 2, "throttling_data": {"periods": 1, "throttled_periods": 0, "throttled_time": 0}},
            "precpu_stats": {"cpu_usage": {"total_usage": 100}, "system_cpu_usage": 1000},
            "memory_stats": {"usage": 1000, "limit": 4000, "max_usage": 2000, "stats": {"cache": 200, "rss": 800}},
            "networks": {"eth0": {"rx_bytes": 5, "tx_bytes": 6}, "eth1": {"rx_bytes": 1}},
            "blkio_stats": {"io_service_bytes_recursive": [{"major": 8, "minor": 0, "op": "Read", "value": 10}, {"major": 8, "minor": 0, "op": "Total", "value": 10}],
                            "io_serviced_recursive": [{"major": 8, "minor": 0, "op": "Read", "value": 2}]}
        });
        let all = Classes {
            cpu: true,
            blkio: true,
            network: true,
        };
        let m = stats_metrics(&stats, &BTreeMap::new(), "abc", 9, all, all, None);
        let key = |m: &Metric| {
            let tag = m.tags.values().next().cloned().unwrap_or_default();
            format!("{} {tag}", m.name)
        };
        let keys: Vec<String> = m.iter().map(key).collect();
        assert_eq!(
            keys,
            vec![
                "docker_container_mem ",
                "docker_container_cpu cpu-total",
                "docker_container_cpu cpu0",
                "docker_container_cpu cpu1",
                "docker_container_net eth0",
                "docker_container_net eth1",
                "docker_container_net total",
                "docker_container_blkio 8:0",
                "docker_container_blkio total",
            ]
        );
        assert_eq!(m[0].time, 1_700_000_000_000_000_000);
        assert_eq!(m[0].field("usage"), Some(&FieldValue::Integer(800)));
        assert_eq!(m[0].field("usage_percent"), Some(&FieldValue::Float(20.0)));
        assert_eq!(m[0].field("cache"), Some(&FieldValue::Integer(200)));
        assert_eq!(m[1].field("usage_percent"), Some(&FieldValue::Float(40.0)));
        assert_eq!(m[6].field("rx_bytes"), Some(&FieldValue::Integer(6)));
        assert_eq!(
            m[7].field("io_service_bytes_recursive_read"),
            Some(&FieldValue::Integer(10))
        );
        assert_eq!(
            m[7].field("io_serviced_recursive_read"),
            Some(&FieldValue::Integer(2))
        );
        assert_eq!(
            m[8].field("container_id"),
            Some(&FieldValue::String("abc".into()))
        );

        let only_cpu_total = Classes {
            cpu: true,
            ..Classes::default()
        };
        let m = stats_metrics(
            &stats,
            &BTreeMap::new(),
            "abc",
            9,
            Classes::default(),
            only_cpu_total,
            None,
        );
        let names: Vec<&str> = m.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, vec!["docker_container_mem", "docker_container_cpu"]);
    }

    #[test]
    fn podman_stats_without_precpu_use_the_previous_reading() {
        let stats = json!({"cpu_stats": {"cpu_usage": {"total_usage": 300}, "system_cpu_usage": 2000, "online_cpus": 1},
                           "precpu_stats": {"cpu_usage": {"total_usage": 0}}});
        let total = Classes {
            cpu: true,
            ..Classes::default()
        };
        let pct = |previous| {
            stats_metrics(
                &stats,
                &BTreeMap::new(),
                "x",
                1,
                Classes::default(),
                total,
                previous,
            )[1]
            .field("usage_percent")
            .cloned()
        };
        assert_eq!(pct(None), Some(FieldValue::Float(15.0)));
        assert_eq!(
            pct(Some(CpuSample {
                total: 100,
                system: 1000
            })),
            Some(FieldValue::Float(20.0))
        );
    }

    #[test]
    fn state_becomes_status_and_health() {
        let inspect = json!({"RestartCount": 2, "State": {"Status": "running", "OOMKilled": false, "Pid": 42, "ExitCode": 0,
            "StartedAt": "2023-11-14T22:13:20Z", "FinishedAt": "0001-01-01T00:00:00Z",
            "Health": {"Status": "healthy", "FailingStreak": 0}}});
        let now = 1_700_000_010_000_000_000;
        let m = state_metrics(&inspect, &BTreeMap::new(), "abc", now);
        assert_eq!(m[0].name, "docker_container_status");
        let names: Vec<&str> = m[0].fields.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            names,
            vec![
                "oomkilled",
                "pid",
                "exitcode",
                "restart_count",
                "container_id",
                "started_at",
                "uptime_ns"
            ]
        );
        assert_eq!(
            m[0].field("uptime_ns"),
            Some(&FieldValue::Integer(10_000_000_000))
        );
        assert_eq!(m[1].name, "docker_container_health");
        assert_eq!(
            m[1].field("health_status"),
            Some(&FieldValue::String("healthy".into()))
        );
    }
}
