//! The query driver: TSBS-style InfluxQL queries over the `cpu` data set, sent to `/query`
//! one after another and timed.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::http::{Connection, Target, url_encode};
use crate::rng::Rng;
use crate::stats::LatencySummary;
use crate::time::format_rfc3339;
use crate::{Error, Result};

const HOUR_NS: i64 = 3_600_000_000_000;

/// A TSBS query type for the cpu data set (the 15 cpu-only types of TSBS, in their InfluxQL
/// form, and a Grafana panel).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum, Serialize)]
pub enum QueryKind {
    /// The max of every metric of one host over 8 hours, per hour.
    #[value(name = "cpu-max-all-1")]
    #[serde(rename = "cpu-max-all-1")]
    CpuMaxAll1,
    /// The max of every metric of 8 hosts over 8 hours, per hour.
    #[value(name = "cpu-max-all-8")]
    #[serde(rename = "cpu-max-all-8")]
    CpuMaxAll8,
    /// Mean of one metric over 12 hours, per hour and per host.
    #[value(name = "double-groupby-1")]
    #[serde(rename = "double-groupby-1")]
    DoubleGroupby1,
    /// Mean of five metrics over 12 hours, per hour and per host.
    #[value(name = "double-groupby-5")]
    #[serde(rename = "double-groupby-5")]
    DoubleGroupby5,
    /// Mean of every metric over 12 hours, per hour and per host.
    #[value(name = "double-groupby-all")]
    #[serde(rename = "double-groupby-all")]
    DoubleGroupbyAll,
    /// The last five minutes' max before a random time.
    #[value(name = "groupby-orderby-limit")]
    #[serde(rename = "groupby-orderby-limit")]
    GroupbyOrderbyLimit,
    /// Every reading of one host over 12 hours where usage_user is above 90.
    #[value(name = "high-cpu-1")]
    #[serde(rename = "high-cpu-1")]
    HighCpu1,
    /// Every reading of every host over 12 hours where usage_user is above 90.
    #[value(name = "high-cpu-all")]
    #[serde(rename = "high-cpu-all")]
    HighCpuAll,
    /// The last point of every host.
    #[value(name = "lastpoint")]
    #[serde(rename = "lastpoint")]
    Lastpoint,
    /// Max of one metric for one host over one hour, per minute.
    #[value(name = "single-groupby-1-1-1")]
    #[serde(rename = "single-groupby-1-1-1")]
    SingleGroupby111,
    /// Max of one metric for one host over 12 hours, per minute.
    #[value(name = "single-groupby-1-1-12")]
    #[serde(rename = "single-groupby-1-1-12")]
    SingleGroupby1112,
    /// Max of one metric for 8 hosts over one hour, per minute.
    #[value(name = "single-groupby-1-8-1")]
    #[serde(rename = "single-groupby-1-8-1")]
    SingleGroupby181,
    /// Max of five metrics for one host over one hour, per minute.
    #[value(name = "single-groupby-5-1-1")]
    #[serde(rename = "single-groupby-5-1-1")]
    SingleGroupby511,
    /// Max of five metrics for one host over 12 hours, per minute.
    #[value(name = "single-groupby-5-1-12")]
    #[serde(rename = "single-groupby-5-1-12")]
    SingleGroupby5112,
    /// Max of five metrics for 8 hosts over one hour, per minute.
    #[value(name = "single-groupby-5-8-1")]
    #[serde(rename = "single-groupby-5-8-1")]
    SingleGroupby581,
    /// A Grafana rate panel: the per-second rate of each host's per-minute mean over one
    /// hour, every host (not a TSBS query).
    #[value(name = "grafana-rate")]
    #[serde(rename = "grafana-rate")]
    GrafanaRate,
}

/// The cpu data set's metrics, in the order TSBS takes the first N of them.
const METRICS: [&str; 10] = [
    "usage_user",
    "usage_system",
    "usage_idle",
    "usage_nice",
    "usage_iowait",
    "usage_irq",
    "usage_softirq",
    "usage_steal",
    "usage_guest",
    "usage_guest_nice",
];

impl QueryKind {
    /// Every kind, in report order.
    pub const ALL: [QueryKind; 16] = [
        QueryKind::CpuMaxAll1,
        QueryKind::CpuMaxAll8,
        QueryKind::DoubleGroupby1,
        QueryKind::DoubleGroupby5,
        QueryKind::DoubleGroupbyAll,
        QueryKind::GroupbyOrderbyLimit,
        QueryKind::HighCpu1,
        QueryKind::HighCpuAll,
        QueryKind::Lastpoint,
        QueryKind::SingleGroupby111,
        QueryKind::SingleGroupby1112,
        QueryKind::SingleGroupby181,
        QueryKind::SingleGroupby511,
        QueryKind::SingleGroupby5112,
        QueryKind::SingleGroupby581,
        QueryKind::GrafanaRate,
    ];

    /// The TSBS name, such as `single-groupby-1-1-1`.
    pub fn as_str(self) -> &'static str {
        match self {
            QueryKind::CpuMaxAll1 => "cpu-max-all-1",
            QueryKind::CpuMaxAll8 => "cpu-max-all-8",
            QueryKind::DoubleGroupby1 => "double-groupby-1",
            QueryKind::DoubleGroupby5 => "double-groupby-5",
            QueryKind::DoubleGroupbyAll => "double-groupby-all",
            QueryKind::GroupbyOrderbyLimit => "groupby-orderby-limit",
            QueryKind::HighCpu1 => "high-cpu-1",
            QueryKind::HighCpuAll => "high-cpu-all",
            QueryKind::Lastpoint => "lastpoint",
            QueryKind::SingleGroupby111 => "single-groupby-1-1-1",
            QueryKind::SingleGroupby1112 => "single-groupby-1-1-12",
            QueryKind::SingleGroupby181 => "single-groupby-1-8-1",
            QueryKind::SingleGroupby511 => "single-groupby-5-1-1",
            QueryKind::SingleGroupby5112 => "single-groupby-5-1-12",
            QueryKind::SingleGroupby581 => "single-groupby-5-8-1",
            QueryKind::GrafanaRate => "grafana-rate",
        }
    }
}

/// Produces seeded random query texts over a data set's hosts and time range.
#[derive(Debug, Clone)]
pub struct QueryGenerator {
    hosts: u64,
    start_ns: i64,
    end_ns: i64,
    rng: Rng,
}

impl QueryGenerator {
    /// Queries over `hosts` hosts (`host_0`…) and `[start_ns, end_ns)`.
    pub fn new(hosts: u64, start_ns: i64, end_ns: i64, seed: u64) -> Self {
        Self {
            hosts: hosts.max(1),
            start_ns,
            end_ns: end_ns.max(start_ns + 1),
            rng: Rng::new(seed),
        }
    }

    /// A window of `len_ns` placed uniformly inside the range (at its start when the range
    /// is shorter).
    fn window(&mut self, len_ns: i64) -> (String, String) {
        let (from, to) = self.window_ns(len_ns);
        (format_rfc3339(from), format_rfc3339(to))
    }

    /// [`Self::window`] in nanoseconds.
    fn window_ns(&mut self, len_ns: i64) -> (i64, i64) {
        let slack = (self.end_ns - self.start_ns - len_ns).max(0) as u64;
        let from = self.start_ns + self.rng.below(slack + 1) as i64;
        (from, from + len_ns)
    }

    fn host(&mut self) -> String {
        format!("host_{}", self.rng.below(self.hosts))
    }

    /// `(hostname = 'a' OR hostname = 'b' …)` over `n` distinct random hosts (every host
    /// when the data set has fewer), as TSBS writes it.
    fn hosts_clause(&mut self, n: u64) -> String {
        let n = n.min(self.hosts);
        let mut picked: Vec<u64> = Vec::new();
        while (picked.len() as u64) < n {
            let h = self.rng.below(self.hosts);
            if !picked.contains(&h) {
                picked.push(h);
            }
        }
        let terms: Vec<String> = picked
            .iter()
            .map(|h| format!("hostname = 'host_{h}'"))
            .collect();
        format!("({})", terms.join(" OR "))
    }

    /// `f(m1), f(m2), …` over the first `n` metrics.
    fn aggregates(function: &str, n: usize) -> String {
        let list: Vec<String> = METRICS[..n]
            .iter()
            .map(|m| format!("{function}({m})"))
            .collect();
        list.join(", ")
    }

    /// TSBS `single-groupby-M-H-T`: max of `metrics` for `hosts` hosts over `hours`, per
    /// minute.
    fn single_groupby(&mut self, metrics: usize, hosts: u64, hours: i64) -> String {
        let select = Self::aggregates("max", metrics);
        let hosts = self.hosts_clause(hosts);
        let (from, to) = self.window(hours * HOUR_NS);
        format!(
            "SELECT {select} FROM cpu WHERE {hosts} AND time >= '{from}' AND time < '{to}' GROUP BY time(1m)"
        )
    }

    /// TSBS `cpu-max-all-H`: max of every metric of `hosts` hosts over 8 hours, per hour.
    fn cpu_max_all(&mut self, hosts: u64) -> String {
        let select = Self::aggregates("max", METRICS.len());
        let hosts = self.hosts_clause(hosts);
        let (from, to) = self.window(8 * HOUR_NS);
        format!(
            "SELECT {select} FROM cpu WHERE {hosts} AND time >= '{from}' AND time < '{to}' GROUP BY time(1h)"
        )
    }

    /// TSBS `double-groupby-N`: mean of `metrics` over 12 hours, per hour and per host.
    fn double_groupby(&mut self, metrics: usize) -> String {
        let select = Self::aggregates("mean", metrics);
        let (from, to) = self.window(12 * HOUR_NS);
        format!(
            "SELECT {select} FROM cpu WHERE time >= '{from}' AND time < '{to}' GROUP BY time(1h),hostname"
        )
    }

    /// The next InfluxQL text of `kind`.
    pub fn next(&mut self, kind: QueryKind) -> String {
        match kind {
            QueryKind::Lastpoint => {
                r#"SELECT * FROM cpu GROUP BY "hostname" ORDER BY time DESC LIMIT 1"#.to_owned()
            }
            QueryKind::SingleGroupby111 => self.single_groupby(1, 1, 1),
            QueryKind::SingleGroupby1112 => self.single_groupby(1, 1, 12),
            QueryKind::SingleGroupby181 => self.single_groupby(1, 8, 1),
            QueryKind::SingleGroupby511 => self.single_groupby(5, 1, 1),
            QueryKind::SingleGroupby5112 => self.single_groupby(5, 1, 12),
            QueryKind::SingleGroupby581 => self.single_groupby(5, 8, 1),
            QueryKind::CpuMaxAll1 => self.cpu_max_all(1),
            QueryKind::CpuMaxAll8 => self.cpu_max_all(8),
            QueryKind::DoubleGroupby1 => self.double_groupby(1),
            QueryKind::DoubleGroupby5 => self.double_groupby(5),
            QueryKind::DoubleGroupbyAll => self.double_groupby(METRICS.len()),
            QueryKind::HighCpuAll => {
                let (from, to) = self.window(12 * HOUR_NS);
                format!(
                    "SELECT * FROM cpu WHERE usage_user > 90.0 AND time >= '{from}' AND time < '{to}'"
                )
            }
            QueryKind::HighCpu1 => {
                let host = self.host();
                let (from, to) = self.window(12 * HOUR_NS);
                format!(
                    "SELECT * FROM cpu WHERE usage_user > 90.0 AND (hostname = '{host}') AND time >= '{from}' AND time < '{to}'"
                )
            }
            QueryKind::GroupbyOrderbyLimit => {
                let (_, to) = self.window(0);
                // A lower bound keeps the minute buckets finite; TSBS leaves it open.
                let from = format_rfc3339(self.start_ns);
                format!(
                    "SELECT max(usage_user) FROM cpu WHERE time >= '{from}' AND time < '{to}' GROUP BY time(1m) ORDER BY time DESC LIMIT 5"
                )
            }
            QueryKind::GrafanaRate => {
                let (from, to) = self.window_ns(HOUR_NS);
                let (from, to) = (from / 1_000_000, to / 1_000_000);
                // As Grafana's InfluxDB 1.x data source writes it: quoted names, the
                // time filter in epoch milliseconds, `fill(null)`.
                format!(
                    "SELECT non_negative_derivative(mean(\"usage_user\"), 1s) FROM \"cpu\" WHERE time >= {from}ms and time <= {to}ms GROUP BY time(1m), \"hostname\" fill(null)"
                )
            }
        }
    }
}

/// How to run queries. Defaults: `http://127.0.0.1:8086`, database `bench`, every kind,
/// 20 iterations each, seed 1, 100 hosts, 2016-01-01T00:00:00Z plus 10,000 × 10 s.
#[derive(Debug, Clone)]
pub struct QueryConfig {
    /// Base URL of the server.
    pub url: String,
    /// Database to query.
    pub db: String,
    /// Token, sent as `Authorization: Token …`.
    pub token: Option<String>,
    /// Which query kinds to run.
    pub kinds: Vec<QueryKind>,
    /// Queries per kind.
    pub iterations: u64,
    /// Seed for hosts and time windows.
    pub seed: u64,
    /// Hosts in the data set.
    pub hosts: u64,
    /// Start of the data set, nanoseconds.
    pub start_ns: i64,
    /// End of the data set (exclusive), nanoseconds.
    pub end_ns: i64,
    /// Socket timeout per read/write.
    pub timeout: Duration,
}

impl Default for QueryConfig {
    fn default() -> Self {
        Self {
            url: "http://127.0.0.1:8086".into(),
            db: "bench".into(),
            token: None,
            kinds: QueryKind::ALL.to_vec(),
            iterations: 20,
            seed: 1,
            hosts: 100,
            start_ns: 1_451_606_400_000_000_000,
            end_ns: 1_451_606_400_000_000_000 + 10_000 * 10_000_000_000,
            timeout: Duration::from_secs(60),
        }
    }
}

/// Results of one query kind.
#[derive(Debug, Clone, Serialize)]
pub struct KindReport {
    /// TSBS query name.
    pub query: QueryKind,
    /// Queries answered without error.
    pub ok: u64,
    /// Queries that failed (status, InfluxQL error or transport).
    pub failed: u64,
    /// Rows returned over all successful queries.
    pub rows: u64,
    /// Latency of every query.
    pub latency: LatencySummary,
    /// The first query text, for the record.
    pub example: String,
    /// The first failure, to say why.
    pub first_error: Option<String>,
    /// A digest of every successful answer ([`answer_digest`], in order, as 16 hex
    /// digits): two servers given the same seed and data answered the same when their
    /// digests match.
    pub digest: String,
}

/// Results of a query run.
#[derive(Debug, Clone, Serialize)]
pub struct QueryReport {
    /// One entry per kind, in the order run.
    pub kinds: Vec<KindReport>,
}

impl QueryReport {
    /// Whether any query failed.
    pub fn has_failures(&self) -> bool {
        self.kinds.iter().any(|k| k.failed > 0)
    }

    /// A markdown table.
    pub fn to_text(&self) -> String {
        let mut out = String::from(
            "| query | ok | failed | rows | p50 ms | p99 ms | max ms |\n| --- | --- | --- | --- | --- | --- | --- |\n",
        );
        for k in &self.kinds {
            out.push_str(&format!(
                "| {} | {} | {} | {} | {:.2} | {:.2} | {:.2} |\n",
                k.query.as_str(),
                k.ok,
                k.failed,
                k.rows,
                k.latency.p50_ms,
                k.latency.p99_ms,
                k.latency.max_ms
            ));
        }
        for k in &self.kinds {
            if let Some(e) = &k.first_error {
                out.push_str(&format!("first error ({}): {e}\n", k.query.as_str()));
            }
        }
        out
    }
}

/// Checks an InfluxDB 1.x `/query` answer; returns the rows it holds.
///
/// # Errors
///
/// A lower-case description when the status is not 200, the body is not JSON or a
/// statement carries an `error`.
pub fn check_influxql_response(status: u16, body: &[u8]) -> std::result::Result<u64, String> {
    let text = String::from_utf8_lossy(body);
    if status != 200 {
        return Err(format!("status {status}: {}", text.trim()));
    }
    let json: serde_json::Value = serde_json::from_slice(body)
        .map_err(|e| format!("response is not json ({e}): {}", text.trim()))?;
    if let Some(err) = json.get("error") {
        return Err(format!("query error: {err}"));
    }
    let mut rows = 0u64;
    for result in json
        .get("results")
        .and_then(|r| r.as_array())
        .into_iter()
        .flatten()
    {
        if let Some(err) = result.get("error") {
            return Err(format!("statement error: {err}"));
        }
        for series in result
            .get("series")
            .and_then(|s| s.as_array())
            .into_iter()
            .flatten()
        {
            rows += series
                .get("values")
                .and_then(|v| v.as_array())
                .map_or(0, |v| v.len() as u64);
        }
    }
    Ok(rows)
}

/// A digest of an InfluxDB 1.x `/query` answer that two servers agree on when they return
/// the same series: names, tags, columns and values in order, numbers compared to 9
/// significant digits (sums taken in another order may differ in the last bits; an
/// integer and a float of the same value are the same number, as InfluxDB prints `5` for
/// the float 5.0).
pub fn answer_digest(body: &[u8]) -> u64 {
    let mut canonical = String::new();
    if let Ok(json) = serde_json::from_slice::<serde_json::Value>(body) {
        for result in json["results"].as_array().into_iter().flatten() {
            for series in result["series"].as_array().into_iter().flatten() {
                canonical.push('\u{1}');
                canonical_value(&series["name"], &mut canonical);
                canonical_value(&series["tags"], &mut canonical);
                canonical_value(&series["columns"], &mut canonical);
                canonical_value(&series["values"], &mut canonical);
            }
        }
    }
    // FNV-1a: stable across platforms and versions.
    canonical.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn canonical_value(value: &serde_json::Value, out: &mut String) {
    use serde_json::Value;
    match value {
        Value::Null => out.push('~'),
        Value::Bool(b) => out.push_str(if *b { "T" } else { "F" }),
        Value::Number(n) => match n.as_f64() {
            Some(0.0) => out.push('0'),
            Some(f) => out.push_str(&format!("{f:.8e}")),
            None => out.push_str(&n.to_string()),
        },
        Value::String(s) => {
            out.push('"');
            out.push_str(s);
            out.push('"');
        }
        Value::Array(items) => {
            out.push('[');
            for item in items {
                canonical_value(item, out);
                out.push(',');
            }
            out.push(']');
        }
        // Sorted keys, so tags compare whatever order they came in.
        Value::Object(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_by_key(|(k, _)| *k);
            out.push('{');
            for (k, v) in entries {
                out.push_str(k);
                out.push('=');
                canonical_value(v, out);
                out.push(',');
            }
            out.push('}');
        }
    }
}

/// Runs `config.iterations` queries of each kind, one at a time on one connection.
///
/// # Errors
///
/// [`Error::InvalidUrl`] for a bad URL, [`Error::InvalidConfig`] for zero iterations,
/// [`Error::Io`] when the first connection cannot be opened.
pub fn run(config: &QueryConfig) -> Result<QueryReport> {
    if config.iterations == 0 {
        return Err(Error::InvalidConfig(
            "--iterations must be at least 1".into(),
        ));
    }
    let target = Target::parse(&config.url)?;
    let mut conn = Connection::new(&target, config.timeout);
    conn.connect()?;
    let auth = config.token.as_ref().map(|t| format!("Token {t}"));
    let mut headers: Vec<(&str, &str)> = vec![("Accept", "application/json")];
    if let Some(auth) = &auth {
        headers.push(("Authorization", auth));
    }
    let mut generator =
        QueryGenerator::new(config.hosts, config.start_ns, config.end_ns, config.seed);
    let mut kinds = Vec::new();
    for &kind in &config.kinds {
        let mut report = KindReport {
            query: kind,
            ok: 0,
            failed: 0,
            rows: 0,
            latency: LatencySummary::default(),
            example: String::new(),
            first_error: None,
            digest: String::new(),
        };
        let mut digest = 0u64;
        let mut latencies = Vec::new();
        let mut errors: BTreeMap<String, u64> = BTreeMap::new();
        for i in 0..config.iterations {
            let text = generator.next(kind);
            if i == 0 {
                report.example = text.clone();
            }
            let path = format!(
                "/query?db={}&q={}",
                url_encode(&config.db),
                url_encode(&text)
            );
            let request = target.render_request("GET", &path, &headers, b"");
            let t0 = Instant::now();
            let outcome = conn.send(&request);
            latencies.push(t0.elapsed().as_nanos() as u64);
            let checked = match outcome {
                Ok(r) => check_influxql_response(r.status, &r.body).inspect(|_| {
                    digest = digest.rotate_left(5) ^ answer_digest(&r.body);
                }),
                Err(e) => Err(e.to_string()),
            };
            match checked {
                Ok(rows) => {
                    report.ok += 1;
                    report.rows += rows;
                }
                Err(e) => {
                    report.failed += 1;
                    *errors.entry(e.clone()).or_default() += 1;
                    report.first_error.get_or_insert(e);
                }
            }
        }
        report.latency = LatencySummary::from_nanos(&mut latencies);
        report.digest = format!("{digest:016x}");
        kinds.push(report);
    }
    Ok(QueryReport { kinds })
}

#[cfg(test)]
mod tests {
    use super::*;

    const START: i64 = 1_451_606_400_000_000_000;

    #[test]
    fn single_groupby_picks_a_known_host_and_a_one_hour_window_inside_the_data() {
        let mut g = QueryGenerator::new(10, START, START + 24 * HOUR_NS, 1);
        for _ in 0..50 {
            let q = g.next(QueryKind::SingleGroupby111);
            assert!(
                q.starts_with("SELECT max(usage_user) FROM cpu WHERE (hostname = 'host_"),
                "{q}"
            );
            let host: u64 = q
                .split("host_")
                .nth(1)
                .unwrap()
                .split('\'')
                .next()
                .unwrap()
                .parse()
                .unwrap();
            assert!(host < 10);
            let times: Vec<i64> = q
                .split('\'')
                .filter(|s| s.starts_with("2016-"))
                .map(|s| crate::time::parse_rfc3339(s).unwrap())
                .collect();
            assert_eq!(times.len(), 2);
            assert_eq!(times[1] - times[0], HOUR_NS);
            assert!(times[0] >= START && times[1] <= START + 24 * HOUR_NS);
            assert!(q.ends_with("GROUP BY time(1m)"));
        }
    }

    #[test]
    fn every_kind_has_its_tsbs_shape() {
        let mut g = QueryGenerator::new(4, START, START + 48 * HOUR_NS, 2);
        assert_eq!(
            g.next(QueryKind::Lastpoint),
            r#"SELECT * FROM cpu GROUP BY "hostname" ORDER BY time DESC LIMIT 1"#
        );
        assert!(
            g.next(QueryKind::DoubleGroupby1)
                .ends_with("GROUP BY time(1h),hostname")
        );
        let high = g.next(QueryKind::HighCpu1);
        assert!(
            high.starts_with("SELECT * FROM cpu WHERE usage_user > 90.0 AND (hostname = 'host_")
        );
        let limit = g.next(QueryKind::GroupbyOrderbyLimit);
        assert!(limit.contains("time >= '2016-01-01T00:00:00Z'"), "{limit}");
        assert!(limit.ends_with("GROUP BY time(1m) ORDER BY time DESC LIMIT 5"));
        let rate = g.next(QueryKind::GrafanaRate);
        assert!(
            rate.starts_with("SELECT non_negative_derivative(mean(\"usage_user\"), 1s) FROM \"cpu\" WHERE time >= 14516"),
            "{rate}"
        );
        assert!(
            rate.ends_with("ms GROUP BY time(1m), \"hostname\" fill(null)"),
            "{rate}"
        );
    }

    #[test]
    fn windows_longer_than_the_data_start_at_its_beginning() {
        let mut g = QueryGenerator::new(1, START, START + HOUR_NS, 3);
        let q = g.next(QueryKind::DoubleGroupby1);
        assert!(
            q.contains("time >= '2016-01-01T00:00:00Z' AND time < '2016-01-01T12:00:00Z'"),
            "{q}"
        );
    }

    #[test]
    fn same_seed_gives_the_same_queries() {
        let mut a = QueryGenerator::new(100, START, START + 100 * HOUR_NS, 9);
        let mut b = QueryGenerator::new(100, START, START + 100 * HOUR_NS, 9);
        for kind in QueryKind::ALL {
            assert_eq!(a.next(kind), b.next(kind));
        }
    }

    #[test]
    fn the_eight_host_kinds_name_eight_distinct_hosts() {
        let mut g = QueryGenerator::new(20, START, START + 48 * HOUR_NS, 5);
        for kind in [QueryKind::SingleGroupby181, QueryKind::CpuMaxAll8] {
            let q = g.next(kind);
            let mut hosts: Vec<&str> = q
                .split("hostname = '")
                .skip(1)
                .map(|s| s.split('\'').next().unwrap())
                .collect();
            hosts.sort();
            hosts.dedup();
            assert_eq!(hosts.len(), 8, "{q}");
        }
        let q = QueryGenerator::new(3, START, START + 48 * HOUR_NS, 5).next(QueryKind::CpuMaxAll8);
        assert_eq!(q.matches("hostname = ").count(), 3, "{q}");
        let five = g.next(QueryKind::SingleGroupby5112);
        assert!(
            five.starts_with("SELECT max(usage_user), max(usage_system), max(usage_idle), max(usage_nice), max(usage_iowait) FROM cpu"),
            "{five}"
        );
        assert!(
            g.next(QueryKind::DoubleGroupbyAll)
                .contains("mean(usage_guest_nice)")
        );
        assert!(!g.next(QueryKind::HighCpuAll).contains("hostname"));
    }

    #[test]
    fn answers_digest_alike_when_only_number_spelling_and_tag_order_differ() {
        let a = br#"{"results":[{"statement_id":0,"series":[{"name":"cpu","tags":{"a":"1","b":"2"},"columns":["time","max"],"values":[[1,5],[2,0.30000000000000004]]}]}]}"#;
        let b = br#"{"results":[{"statement_id":0,"series":[{"name":"cpu","tags":{"b":"2","a":"1"},"columns":["time","max"],"values":[[1,5.0],[2,0.3]]}]}]}"#;
        let c = br#"{"results":[{"statement_id":0,"series":[{"name":"cpu","tags":{"a":"1","b":"2"},"columns":["time","max"],"values":[[1,5],[2,0.31]]}]}]}"#;
        assert_eq!(answer_digest(a), answer_digest(b));
        assert_ne!(answer_digest(a), answer_digest(c));
    }

    #[test]
    fn influxql_responses_are_checked_for_errors_and_rows_counted() {
        let ok = br#"{"results":[{"statement_id":0,"series":[{"name":"cpu","columns":["time","max"],"values":[[1,2],[3,4]]},{"name":"cpu","values":[[5,6]]}]}]}"#;
        assert_eq!(check_influxql_response(200, ok), Ok(3));
        assert_eq!(
            check_influxql_response(200, br#"{"results":[{"statement_id":0}]}"#),
            Ok(0)
        );
        let stmt_err = br#"{"results":[{"statement_id":0,"error":"database not found: x"}]}"#;
        assert!(
            check_influxql_response(200, stmt_err)
                .unwrap_err()
                .contains("database not found")
        );
        assert!(
            check_influxql_response(400, br#"{"error":"bad"}"#)
                .unwrap_err()
                .starts_with("status 400")
        );
        assert!(check_influxql_response(200, b"not json").is_err());
    }
}
