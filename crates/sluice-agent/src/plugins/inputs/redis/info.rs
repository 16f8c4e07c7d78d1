//! Turns the text of `INFO ALL` into Telegraf's redis measurements: `redis`,
//! `redis_keyspace`, `redis_cmdstat`, `redis_latency_percentiles_usec`,
//! `redis_replication` and `redis_errorstat`.

use std::collections::BTreeMap;

use crate::metric::{FieldValue, Metric};

/// The type Telegraf gives a field of the `redis` measurement it knows; fields it does
/// not know keep the type their text parses as (integer, else float, else string).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Integer,
    Float,
    Text,
}

/// Fields Telegraf writes as floats even when Redis prints an integer (`used_cpu_sys:3`).
const FLOAT_FIELDS: &[&str] = &[
    "allocator_frag_bytes",
    "allocator_frag_ratio",
    "allocator_rss_ratio",
    "expired_stale_perc",
    "instantaneous_input_kbps",
    "instantaneous_output_kbps",
    "mem_fragmentation_ratio",
    "rss_overhead_ratio",
    "used_cpu_sys",
    "used_cpu_sys_children",
    "used_cpu_user",
    "used_cpu_user_children",
    "used_memory_dataset_perc",
    "used_memory_peak_perc",
];

/// Fields Telegraf writes as strings.
const TEXT_FIELDS: &[&str] = &[
    "aof_last_bgrewrite_status",
    "aof_last_write_status",
    "maxmemory_policy",
    "rdb_last_bgsave_status",
    "redis_version",
];

/// Fields Telegraf writes as integers (a float value is truncated, text becomes 0).
const INTEGER_FIELDS: &[&str] = &[
    "active_defrag_hits",
    "active_defrag_key_hits",
    "active_defrag_key_misses",
    "active_defrag_misses",
    "active_defrag_running",
    "allocator_active",
    "allocator_allocated",
    "allocator_resident",
    "allocator_rss_bytes",
    "aof_current_rewrite_time_sec",
    "aof_enabled",
    "aof_last_cow_size",
    "aof_last_rewrite_time_sec",
    "aof_rewrite_in_progress",
    "aof_rewrite_scheduled",
    "blocked_clients",
    "client_recent_max_input_buffer",
    "client_recent_max_output_buffer",
    "clients",
    "clients_in_timeout_table",
    "cluster_enabled",
    "connected_slaves",
    "evicted_keys",
    "expire_cycle_cpu_milliseconds",
    "expired_keys",
    "expired_time_cap_reached_count",
    "instantaneous_ops_per_sec",
    "io_threaded_reads_processed",
    "io_threaded_writes_processed",
    "keyspace_hits",
    "keyspace_misses",
    "latest_fork_usec",
    "lazyfree_pending_objects",
    "loading",
    "lru_clock",
    "master_repl_offset",
    "maxmemory",
    "mem_aof_buffer",
    "mem_clients_normal",
    "mem_clients_slaves",
    "mem_fragmentation_bytes",
    "mem_not_counted_for_evict",
    "mem_replication_backlog",
    "migrate_cached_sockets",
    "module_fork_in_progress",
    "module_fork_last_cow_size",
    "number_of_cached_scripts",
    "pubsub_channels",
    "pubsub_patterns",
    "rdb_bgsave_in_progress",
    "rdb_changes_since_last_save",
    "rdb_current_bgsave_time_sec",
    "rdb_last_bgsave_time_sec",
    "rdb_last_cow_size",
    "rdb_last_save_time",
    "rdb_last_save_time_elapsed",
    "rejected_connections",
    "repl_backlog_active",
    "repl_backlog_first_byte_offset",
    "repl_backlog_histlen",
    "repl_backlog_size",
    "rss_overhead_bytes",
    "second_repl_offset",
    "slave_expires_tracked_keys",
    "sync_full",
    "sync_partial_err",
    "sync_partial_ok",
    "total_commands_processed",
    "total_connections_received",
    "total_net_input_bytes",
    "total_net_output_bytes",
    "total_reads_processed",
    "total_system_memory",
    "total_writes_processed",
    "tracking_clients",
    "tracking_total_items",
    "tracking_total_keys",
    "tracking_total_prefixes",
    "unexpected_error_replies",
    "uptime",
    "used_memory",
    "used_memory_dataset",
    "used_memory_lua",
    "used_memory_overhead",
    "used_memory_peak",
    "used_memory_rss",
    "used_memory_scripts",
    "used_memory_startup",
];

fn known_kind(field: &str) -> Option<Kind> {
    if FLOAT_FIELDS.contains(&field) {
        Some(Kind::Float)
    } else if TEXT_FIELDS.contains(&field) {
        Some(Kind::Text)
    } else if INTEGER_FIELDS.contains(&field) {
        Some(Kind::Integer)
    } else {
        None
    }
}

/// Renames Telegraf applies to `INFO` keys.
fn renamed(key: &str) -> &str {
    match key {
        "uptime_in_seconds" => "uptime",
        "connected_clients" => "clients",
        other => other,
    }
}

/// A value as Telegraf reads it: integer, else float, else text.
fn parse_value(text: &str) -> FieldValue<'static> {
    if let Ok(i) = text.parse::<i64>() {
        FieldValue::Integer(i)
    } else if let Some(f) = parse_float(text) {
        FieldValue::Float(f)
    } else {
        FieldValue::String(text.to_owned().into())
    }
}

/// A finite float (Go's ParseFloat accepts `inf`/`nan`, which line protocol cannot
/// carry, so they stay text here).
fn parse_float(text: &str) -> Option<f64> {
    text.parse::<f64>().ok().filter(|f| f.is_finite())
}

/// Converts a known field's value to the type Telegraf declares for it.
fn coerce(value: FieldValue<'static>, kind: Kind) -> FieldValue<'static> {
    match (kind, value) {
        (Kind::Integer, FieldValue::Integer(i)) => FieldValue::Integer(i),
        (Kind::Integer, FieldValue::Float(f)) => FieldValue::Integer(f as i64),
        (Kind::Integer, FieldValue::String(s)) => FieldValue::Integer(s.parse().unwrap_or(0)),
        (Kind::Float, FieldValue::Integer(i)) => FieldValue::Float(i as f64),
        (Kind::Float, FieldValue::Float(f)) => FieldValue::Float(f),
        (Kind::Float, FieldValue::String(s)) => FieldValue::Float(parse_float(&s).unwrap_or(0.0)),
        (Kind::Text, FieldValue::Integer(i)) => FieldValue::String(i.to_string().into()),
        (Kind::Text, FieldValue::Float(f)) => FieldValue::String(format!("{f:.6}").into()),
        (_, other) => other,
    }
}

/// `a=1,b=2` as pairs.
fn pairs(text: &str) -> impl Iterator<Item = (&str, &str)> {
    text.split(',').filter_map(|part| part.split_once('='))
}

/// Parses `INFO ALL` text into metrics at `time`, with `tags` (`server`/`port` or
/// `socket`) on every one plus `replication_role`. `now_secs` is the current Unix time,
/// for `rdb_last_save_time_elapsed`.
pub fn parse_info(
    text: &str,
    tags: &BTreeMap<String, String>,
    time: i64,
    now_secs: i64,
) -> (Vec<Metric>, Vec<String>) {
    let mut tags = tags.clone();
    // The role is a tag of every measurement, wherever its line comes.
    if let Some(role) = text
        .lines()
        .find_map(|l| l.trim_end().strip_prefix("role:"))
    {
        tags.insert("replication_role".to_owned(), role.trim().to_owned());
    }
    let tagged = |name: &str, key: &str, value: &str| {
        let mut m = Metric::new(name, time);
        m.tags.clone_from(&tags);
        m.tags.insert(key.to_owned(), value.to_owned());
        m
    };
    let mut main = Metric::new("redis", time);
    main.tags.clone_from(&tags);
    let mut others = Vec::new();
    let mut errors = Vec::new();
    let (mut hits, mut misses) = (0i64, 0i64);
    let mut section = "";
    for line in text.lines() {
        let line = line.trim_end_matches('\r');
        if line.is_empty() {
            continue;
        }
        if let Some(name) = line.strip_prefix('#') {
            section = name.trim();
            continue;
        }
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if section == "Server"
            && !matches!(key, "lru_clock" | "uptime_in_seconds" | "redis_version")
        {
            continue;
        }
        if key.starts_with("master_replid") || key == "mem_allocator" || key.ends_with("_human") {
            continue;
        }
        if key == "role" {
            continue; // the replication_role tag
        }
        match section {
            "Keyspace" => {
                if value.contains("keys=") {
                    let mut m = tagged("redis_keyspace", "database", key);
                    for (k, v) in pairs(value) {
                        if let Ok(i) = v.parse::<i64>() {
                            m.set_field(k, i);
                        }
                    }
                    others.push(m);
                }
                continue;
            }
            "Commandstats" => {
                if let Some(command) = key.strip_prefix("cmdstat_") {
                    let mut m = tagged("redis_cmdstat", "command", command);
                    for (k, v) in pairs(value) {
                        match k {
                            "calls" | "usec" | "rejected_calls" | "failed_calls" => {
                                if let Ok(i) = v.parse::<i64>() {
                                    m.set_field(k, i);
                                }
                            }
                            "usec_per_call" => {
                                if let Some(f) = parse_float(v) {
                                    m.set_field(k, f);
                                }
                            }
                            _ => {}
                        }
                    }
                    others.push(m);
                }
                continue;
            }
            "Latencystats" => {
                if let Some(command) = key.strip_prefix("latency_percentiles_usec_") {
                    let mut m = tagged("redis_latency_percentiles_usec", "command", command);
                    for (k, v) in pairs(value) {
                        if matches!(k, "p50" | "p99" | "p99.9")
                            && let Some(f) = parse_float(v)
                        {
                            m.set_field(k, f);
                        }
                    }
                    others.push(m);
                }
                continue;
            }
            "Errorstats" => {
                let err = key.strip_prefix("errorstat_").unwrap_or(key);
                match value.split_once('=').map(|(_, v)| v.parse::<i64>()) {
                    Some(Ok(total)) => others
                        .push(tagged("redis_errorstat", "err", err).with_field("total", total)),
                    _ => errors.push(format!("invalid line for {key:?}: {value}")),
                }
                continue;
            }
            "Replication" if is_replica_line(key) => {
                let mut m = tagged(
                    "redis_replication",
                    "replica_id",
                    key.trim_start_matches(['s', 'l', 'a', 'v', 'e']),
                );
                m.tags
                    .insert("replication_role".to_owned(), "slave".to_owned());
                for (k, v) in pairs(value) {
                    match k {
                        "ip" => {
                            m.tags.insert("replica_ip".to_owned(), v.to_owned());
                        }
                        "port" => {
                            m.tags.insert("replica_port".to_owned(), v.to_owned());
                        }
                        "state" => {
                            m.tags.insert("state".to_owned(), v.to_owned());
                        }
                        _ => {
                            if let Ok(i) = v.parse::<i64>() {
                                m.set_field(k, i);
                            }
                        }
                    }
                }
                others.push(m);
                continue;
            }
            _ => {}
        }
        let value = value.strip_suffix('%').unwrap_or(value);
        let parsed = parse_value(value);
        if let FieldValue::Integer(i) = parsed {
            match key {
                "keyspace_hits" => hits = i,
                "keyspace_misses" => misses = i,
                "rdb_last_save_time" => main.set_field("rdb_last_save_time_elapsed", now_secs - i),
                _ => {}
            }
        }
        main.set_field(renamed(key), parsed);
    }
    let hitrate = if hits != 0 || misses != 0 {
        hits as f64 / (hits + misses) as f64
    } else {
        0.0
    };
    main.set_field("keyspace_hitrate", hitrate);
    for (key, value) in &mut main.fields {
        if let Some(kind) = known_kind(key) {
            *value = coerce(value.clone(), kind);
        }
    }
    let mut metrics = vec![main];
    metrics.extend(others.into_iter().filter(|m| !m.fields.is_empty()));
    (metrics, errors)
}

/// `slave0`, `slave12`: one line per attached replica.
fn is_replica_line(key: &str) -> bool {
    key.strip_prefix("slave")
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const INFO: &str = "# Server\r\nredis_version:7.0.15\r\nredis_mode:standalone\r\nuptime_in_seconds:2822\r\nlru_clock:16706281\r\n\r\n# Clients\r\nconnected_clients:2\r\nblocked_clients:0\r\n\r\n# Memory\r\nused_memory:842448\r\nused_memory_human:822.70K\r\nused_memory_peak_perc:99.88%\r\nmem_fragmentation_ratio:11.35\r\nmem_allocator:jemalloc-5.3.0\r\nmaxmemory_policy:noeviction\r\n\r\n# Persistence\r\nrdb_last_save_time:1000\r\n\r\n# Stats\r\nkeyspace_hits:3\r\nkeyspace_misses:1\r\ninstantaneous_input_kbps:0.00\r\nnew_unknown_counter:5\r\nnew_unknown_ratio:0.5\r\nnew_unknown_text:yes\r\n\r\n# Replication\r\nrole:master\r\nconnected_slaves:1\r\nslave0:ip=127.0.0.1,port=7379,state=online,offset=4556468,lag=0\r\nmaster_replid:abc\r\n\r\n# CPU\r\nused_cpu_sys:3\r\nused_cpu_user:1.33\r\n\r\n# Commandstats\r\ncmdstat_publish:calls=33791,usec=208789,usec_per_call=6.18,rejected_calls=0,failed_calls=0\r\n\r\n# Errorstats\r\nerrorstat_ERR:count=37\r\n\r\n# Latencystats\r\nlatency_percentiles_usec_zadd:p50=9.023,p99=28.031,p99.9=43.007\r\n\r\n# Keyspace\r\ndb0:keys=2,expires=1,avg_ttl=5\r\n";

    fn parsed() -> Vec<Metric> {
        let tags = BTreeMap::from([
            ("server".to_owned(), "localhost".to_owned()),
            ("port".to_owned(), "6379".to_owned()),
        ]);
        let (metrics, errors) = parse_info(INFO, &tags, 1, 1100);
        assert!(errors.is_empty(), "{errors:?}");
        metrics
    }

    fn find<'a>(metrics: &'a [Metric], name: &str) -> &'a Metric {
        metrics.iter().find(|m| m.name == name).unwrap()
    }

    #[test]
    fn the_redis_measurement_takes_telegrafs_names_and_types() {
        let metrics = parsed();
        let redis = find(&metrics, "redis");
        let f = |k: &str| redis.field(k).cloned();
        assert_eq!(f("uptime"), Some(FieldValue::Integer(2822)));
        assert_eq!(f("clients"), Some(FieldValue::Integer(2)));
        assert_eq!(
            f("redis_version"),
            Some(FieldValue::String("7.0.15".into()))
        );
        assert_eq!(f("used_cpu_sys"), Some(FieldValue::Float(3.0)));
        assert_eq!(f("used_memory_peak_perc"), Some(FieldValue::Float(99.88)));
        assert_eq!(f("instantaneous_input_kbps"), Some(FieldValue::Float(0.0)));
        assert_eq!(f("keyspace_hitrate"), Some(FieldValue::Float(0.75)));
        assert_eq!(
            f("rdb_last_save_time_elapsed"),
            Some(FieldValue::Integer(100))
        );
        assert_eq!(f("new_unknown_counter"), Some(FieldValue::Integer(5)));
        assert_eq!(f("new_unknown_ratio"), Some(FieldValue::Float(0.5)));
        assert_eq!(
            f("new_unknown_text"),
            Some(FieldValue::String("yes".into()))
        );
        for gone in [
            "redis_mode",
            "used_memory_human",
            "mem_allocator",
            "master_replid",
            "role",
            "slave0",
        ] {
            assert_eq!(f(gone), None, "{gone}");
        }
        assert_eq!(redis.tags["replication_role"], "master");
    }

    #[test]
    fn the_other_measurements_carry_their_own_tag_and_the_common_ones() {
        let metrics = parsed();
        let keyspace = find(&metrics, "redis_keyspace");
        assert_eq!(keyspace.tags["database"], "db0");
        assert_eq!(keyspace.field("keys"), Some(&FieldValue::Integer(2)));
        let cmd = find(&metrics, "redis_cmdstat");
        assert_eq!(cmd.tags["command"], "publish");
        assert_eq!(cmd.field("usec_per_call"), Some(&FieldValue::Float(6.18)));
        assert_eq!(cmd.field("calls"), Some(&FieldValue::Integer(33791)));
        let err = find(&metrics, "redis_errorstat");
        assert_eq!(err.tags["err"], "ERR");
        assert_eq!(err.field("total"), Some(&FieldValue::Integer(37)));
        let latency = find(&metrics, "redis_latency_percentiles_usec");
        assert_eq!(latency.field("p99.9"), Some(&FieldValue::Float(43.007)));
        let replica = find(&metrics, "redis_replication");
        assert_eq!(replica.tags["replica_id"], "0");
        assert_eq!(replica.tags["replica_port"], "7379");
        assert_eq!(replica.tags["state"], "online");
        assert_eq!(replica.tags["replication_role"], "slave");
        assert_eq!(replica.field("lag"), Some(&FieldValue::Integer(0)));
        for m in &metrics {
            assert_eq!(m.tags["server"], "localhost", "{}", m.name);
            assert_eq!(m.tags["port"], "6379", "{}", m.name);
            assert!(m.tags.contains_key("replication_role"), "{}", m.name);
        }
    }

    #[test]
    fn a_malformed_errorstat_line_is_reported() {
        let (_, errors) = parse_info(
            "# Errorstats\nerrorstat_ERR:count=x\n",
            &BTreeMap::new(),
            1,
            1,
        );
        assert_eq!(errors.len(), 1);
    }
}
