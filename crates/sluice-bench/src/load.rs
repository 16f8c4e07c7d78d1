//! The write load driver: splits line protocol into batches, renders every request up
//! front, then posts them over N keep-alive connections and measures the server.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::sync::Barrier;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;
use sluice_lp::{ParseOptions, Parser};

use crate::http::{Connection, Target, url_encode};
use crate::stats::LatencySummary;
use crate::{Error, Result};

/// Which write API to post to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum WriteApi {
    /// InfluxDB 1.x `POST /write?db=`.
    V1,
    /// InfluxDB 2.x `POST /api/v2/write?bucket=`.
    V2,
    /// InfluxDB 3 `POST /api/v3/write_lp?db=`.
    V3,
}

/// Timestamp precision of the input, as sent to the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum WritePrecision {
    /// Nanoseconds (every API's default: no precision parameter is sent).
    Ns,
    /// Microseconds.
    Us,
    /// Milliseconds.
    Ms,
    /// Seconds.
    S,
}

impl WritePrecision {
    /// The query-string value for `api`, or `None` for nanoseconds (the default).
    fn param(self, api: WriteApi) -> Option<&'static str> {
        match (self, api) {
            (Self::Ns, _) => None,
            (Self::Us, WriteApi::V1) => Some("u"),
            (Self::Us, WriteApi::V2) => Some("us"),
            (Self::Us, WriteApi::V3) => Some("microsecond"),
            (Self::Ms, WriteApi::V3) => Some("millisecond"),
            (Self::Ms, _) => Some("ms"),
            (Self::S, WriteApi::V3) => Some("second"),
            (Self::S, _) => Some("s"),
        }
    }
}

/// How to drive the server. Defaults: `http://127.0.0.1:8086`, v1, database `bench`, no
/// token, nanosecond precision, 5,000 lines per batch, 4 connections, no gzip, 60 s timeout.
#[derive(Debug, Clone)]
pub struct LoadConfig {
    /// Base URL of the server.
    pub url: String,
    /// Write API.
    pub api: WriteApi,
    /// Database (v1, v3) or bucket (v2).
    pub db: String,
    /// Organisation for v2 (sent only when set).
    pub org: Option<String>,
    /// Token: `Authorization: Token …` for v1 and v2, `Bearer …` for v3.
    pub token: Option<String>,
    /// Timestamp precision of the input.
    pub precision: WritePrecision,
    /// Lines per request.
    pub batch_lines: usize,
    /// Concurrent keep-alive connections.
    pub connections: usize,
    /// Gzip each request body (`Content-Encoding: gzip`).
    pub gzip: bool,
    /// Per read/write timeout on the socket.
    pub timeout: Duration,
}

impl Default for LoadConfig {
    fn default() -> Self {
        Self {
            url: "http://127.0.0.1:8086".into(),
            api: WriteApi::V1,
            db: "bench".into(),
            org: None,
            token: None,
            precision: WritePrecision::Ns,
            batch_lines: 5000,
            connections: 4,
            gzip: false,
            timeout: Duration::from_secs(60),
        }
    }
}

/// One rendered request and what it carries.
#[derive(Debug, Clone)]
pub struct Batch {
    /// The whole HTTP request, ready to write.
    pub request: Vec<u8>,
    /// Lines of line protocol in the body.
    pub lines: u64,
    /// Field values in the body.
    pub values: u64,
    /// Body bytes as sent (after gzip when on).
    pub body_bytes: u64,
}

/// Splits `input` into batches of `config.batch_lines` lines and renders each request.
///
/// Blank lines and `#` comments are dropped; every other line is checked with sluice-lp,
/// which also counts its field values. A line is one physical line: line protocol with a
/// newline inside a quoted string is not supported here.
///
/// # Errors
///
/// [`Error::InvalidUrl`] for a bad URL, [`Error::InvalidConfig`] for zero batch lines,
/// [`Error::InvalidInput`] for a line that does not parse.
pub fn prepare(config: &LoadConfig, input: &[u8]) -> Result<Vec<Batch>> {
    if config.batch_lines == 0 {
        return Err(Error::InvalidConfig(
            "--batch-lines must be at least 1".into(),
        ));
    }
    let target = Target::parse(&config.url)?;
    let path = write_path(config);
    let mut headers: Vec<(&str, String)> =
        vec![("Content-Type", "text/plain; charset=utf-8".into())];
    if config.gzip {
        headers.push(("Content-Encoding", "gzip".into()));
    }
    if let Some(token) = &config.token {
        let scheme = if config.api == WriteApi::V3 {
            "Bearer"
        } else {
            "Token"
        };
        headers.push(("Authorization", format!("{scheme} {token}")));
    }
    let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();

    let mut batches = Vec::new();
    let mut body = Vec::new();
    let mut lines_in_body = 0usize;
    let mut first_line_number = 1usize;
    let mut finish = |body: &mut Vec<u8>, lines: usize, first_line: usize| -> Result<()> {
        let values = count_values(body, first_line)?;
        let payload = if config.gzip {
            gzip(body)?
        } else {
            std::mem::take(body)
        };
        batches.push(Batch {
            request: target.render_request("POST", &path, &headers, &payload),
            lines: lines as u64,
            values,
            body_bytes: payload.len() as u64,
        });
        body.clear();
        Ok(())
    };
    for (index, raw) in input.split(|b| *b == b'\n').enumerate() {
        let line = raw.strip_suffix(b"\r").unwrap_or(raw);
        let trimmed = line.trim_ascii_start();
        if trimmed.is_empty() || trimmed[0] == b'#' {
            continue;
        }
        if lines_in_body == 0 {
            first_line_number = index + 1;
        }
        body.extend_from_slice(line);
        body.push(b'\n');
        lines_in_body += 1;
        if lines_in_body == config.batch_lines {
            finish(&mut body, lines_in_body, first_line_number)?;
            lines_in_body = 0;
        }
    }
    if lines_in_body > 0 {
        finish(&mut body, lines_in_body, first_line_number)?;
    }
    Ok(batches)
}

fn write_path(config: &LoadConfig) -> String {
    let db = url_encode(&config.db);
    let mut path = match config.api {
        WriteApi::V1 => format!("/write?db={db}"),
        WriteApi::V2 => format!("/api/v2/write?bucket={db}"),
        WriteApi::V3 => format!("/api/v3/write_lp?db={db}"),
    };
    if let (WriteApi::V2, Some(org)) = (config.api, &config.org) {
        path.push_str(&format!("&org={}", url_encode(org)));
    }
    if let Some(p) = config.precision.param(config.api) {
        path.push_str(&format!("&precision={p}"));
    }
    path
}

/// Counts field values in a batch; `first_line` is the input line number of its first line.
fn count_values(body: &[u8], first_line: usize) -> Result<u64> {
    let mut values = 0u64;
    for line in Parser::new(body, ParseOptions::default()) {
        match line {
            Ok(line) => values += line.fields.len() as u64,
            Err(err) => {
                return Err(Error::InvalidInput {
                    // Batches hold consecutive non-blank lines, so this is exact unless the
                    // input had blank or comment lines inside the batch.
                    line: first_line + err.line.saturating_sub(1),
                    reason: err.to_string(),
                });
            }
        }
    }
    Ok(values)
}

fn gzip(body: &[u8]) -> Result<Vec<u8>> {
    let mut encoder = flate2::write::GzEncoder::new(
        Vec::with_capacity(body.len() / 4),
        flate2::Compression::default(),
    );
    encoder.write_all(body)?;
    Ok(encoder.finish()?)
}

/// What a load run measured.
#[derive(Debug, Clone, Serialize)]
pub struct LoadReport {
    /// Requests sent.
    pub requests: u64,
    /// Requests answered with 2xx.
    pub requests_ok: u64,
    /// Requests that got another status or no answer.
    pub requests_failed: u64,
    /// Lines in requests answered with 2xx.
    pub lines: u64,
    /// Field values in requests answered with 2xx.
    pub values: u64,
    /// Lines in failed requests.
    pub lines_failed: u64,
    /// Body bytes sent (after gzip when on).
    pub body_bytes: u64,
    /// Wall time from the first request to the last response, seconds.
    pub elapsed_s: f64,
    /// `lines / elapsed_s`.
    pub lines_per_s: f64,
    /// `values / elapsed_s`.
    pub values_per_s: f64,
    /// Latency of every request, successful or not.
    pub latency: LatencySummary,
    /// Failed requests by status code, or `transport` when there was no answer.
    pub errors: BTreeMap<String, u64>,
    /// The first failure's status and body (or error), to say why.
    pub first_error: Option<String>,
    /// Connections used.
    pub connections: usize,
    /// Lines per batch requested.
    pub batch_lines: usize,
    /// Whether bodies were gzipped.
    pub gzip: bool,
}

/// What one request came to.
#[derive(Debug)]
enum Outcome {
    Status(u16, Vec<u8>),
    Transport(String),
}

/// Posts every batch once over `config.connections` connections and reports.
///
/// Connections are opened before the clock starts. A failed request is not retried (except
/// once, transparently, when a kept-alive connection was closed before answering).
///
/// # Errors
///
/// [`Error::InvalidUrl`] for a bad URL, [`Error::InvalidConfig`] for zero connections,
/// [`Error::Io`] when a connection cannot be opened at the start.
pub fn run(config: &LoadConfig, batches: &[Batch]) -> Result<LoadReport> {
    if config.connections == 0 {
        return Err(Error::InvalidConfig(
            "--connections must be at least 1".into(),
        ));
    }
    let target = Target::parse(&config.url)?;
    let workers = config.connections.min(batches.len().max(1));
    let mut conns = Vec::with_capacity(workers);
    for _ in 0..workers {
        let mut conn = Connection::new(&target, config.timeout);
        conn.connect()?;
        conns.push(conn);
    }
    let next = AtomicUsize::new(0);
    let barrier = Barrier::new(workers + 1);
    let (start, results) = std::thread::scope(|scope| {
        let handles: Vec<_> = conns
            .into_iter()
            .map(|mut conn| {
                let (next, barrier) = (&next, &barrier);
                scope.spawn(move || {
                    let mut done: Vec<(usize, u64, Outcome)> = Vec::new();
                    barrier.wait();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(batch) = batches.get(i) else { break };
                        let t0 = Instant::now();
                        let outcome = match conn.send(&batch.request) {
                            Ok(r) => Outcome::Status(r.status, r.body),
                            Err(e) => Outcome::Transport(e.to_string()),
                        };
                        done.push((i, t0.elapsed().as_nanos() as u64, outcome));
                    }
                    (done, Instant::now())
                })
            })
            .collect();
        barrier.wait();
        let start = Instant::now();
        let results: Vec<_> = handles
            .into_iter()
            .map(|h| h.join().expect("load worker panicked"))
            .collect();
        (start, results)
    });
    let end = results.iter().map(|(_, t)| *t).max().unwrap_or(start);
    let elapsed_s = end.saturating_duration_since(start).as_secs_f64();

    let mut report = LoadReport {
        requests: 0,
        requests_ok: 0,
        requests_failed: 0,
        lines: 0,
        values: 0,
        lines_failed: 0,
        body_bytes: 0,
        elapsed_s,
        lines_per_s: 0.0,
        values_per_s: 0.0,
        latency: LatencySummary::default(),
        errors: BTreeMap::new(),
        first_error: None,
        connections: workers,
        batch_lines: config.batch_lines,
        gzip: config.gzip,
    };
    let mut latencies = Vec::with_capacity(batches.len());
    let mut first_error: Option<(usize, String)> = None;
    for (done, _) in results {
        for (i, nanos, outcome) in done {
            let batch = &batches[i];
            report.requests += 1;
            report.body_bytes += batch.body_bytes;
            latencies.push(nanos);
            let failure = match outcome {
                Outcome::Status(status, _) if (200..300).contains(&status) => None,
                Outcome::Status(status, body) => Some((
                    status.to_string(),
                    format!("status {status}: {}", String::from_utf8_lossy(&body).trim()),
                )),
                Outcome::Transport(err) => Some(("transport".to_owned(), err)),
            };
            match failure {
                None => {
                    report.requests_ok += 1;
                    report.lines += batch.lines;
                    report.values += batch.values;
                }
                Some((key, text)) => {
                    report.requests_failed += 1;
                    report.lines_failed += batch.lines;
                    *report.errors.entry(key).or_default() += 1;
                    if first_error.as_ref().is_none_or(|(j, _)| i < *j) {
                        first_error = Some((i, text));
                    }
                }
            }
        }
    }
    report.first_error = first_error.map(|(_, text)| text);
    report.latency = LatencySummary::from_nanos(&mut latencies);
    if elapsed_s > 0.0 {
        report.lines_per_s = report.lines as f64 / elapsed_s;
        report.values_per_s = report.values as f64 / elapsed_s;
    }
    Ok(report)
}

impl LoadReport {
    /// A human-readable summary, several lines.
    pub fn to_text(&self) -> String {
        let mut out = format!(
            "requests: {} ok, {} failed ({} connections, {} lines/batch{})\n\
             lines:    {} ({:.0} lines/s)\n\
             values:   {} ({:.0} values/s)\n\
             elapsed:  {:.3} s, {:.1} MiB sent\n\
             latency:  p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms\n",
            self.requests_ok,
            self.requests_failed,
            self.connections,
            self.batch_lines,
            if self.gzip { ", gzip" } else { "" },
            self.lines,
            self.lines_per_s,
            self.values,
            self.values_per_s,
            self.elapsed_s,
            self.body_bytes as f64 / (1024.0 * 1024.0),
            self.latency.p50_ms,
            self.latency.p90_ms,
            self.latency.p99_ms,
            self.latency.max_ms,
        );
        if !self.errors.is_empty() {
            let parts: Vec<String> = self
                .errors
                .iter()
                .map(|(k, v)| format!("{k}: {v}"))
                .collect();
            out.push_str(&format!("errors:   {}\n", parts.join(", ")));
        }
        if let Some(e) = &self.first_error {
            out.push_str(&format!("first error: {e}\n"));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> LoadConfig {
        LoadConfig {
            url: "http://127.0.0.1:1".into(),
            batch_lines: 2,
            ..LoadConfig::default()
        }
    }

    #[test]
    fn splits_into_batches_and_counts_values_skipping_blanks_and_comments() {
        let input = b"# header\ncpu a=1,b=2 1\n\ncpu a=3 2\r\ncpu a=4,b=5,c=6 3\n";
        let batches = prepare(&config(), input).unwrap();
        assert_eq!(batches.len(), 2);
        assert_eq!((batches[0].lines, batches[0].values), (2, 3));
        assert_eq!((batches[1].lines, batches[1].values), (1, 3));
        let req = String::from_utf8(batches[0].request.clone()).unwrap();
        assert!(
            req.starts_with("POST /write?db=bench HTTP/1.1\r\n"),
            "{req}"
        );
        assert!(req.ends_with("\r\n\r\ncpu a=1,b=2 1\ncpu a=3 2\n"), "{req}");
    }

    #[test]
    fn reports_the_input_line_that_does_not_parse() {
        let err = prepare(&config(), b"cpu a=1 1\ncpu a=2 2\n\ncpu a= 3\n").unwrap_err();
        match err {
            Error::InvalidInput { line, .. } => assert_eq!(line, 4),
            other => panic!("{other}"),
        }
    }

    #[test]
    fn renders_each_api_path_with_precision_token_and_gzip() {
        let cases = [
            (
                WriteApi::V1,
                WritePrecision::Ns,
                "POST /write?db=my%20db HTTP/1.1",
                "Token t",
            ),
            (
                WriteApi::V1,
                WritePrecision::Us,
                "POST /write?db=my%20db&precision=u HTTP/1.1",
                "Token t",
            ),
            (
                WriteApi::V2,
                WritePrecision::Ms,
                "POST /api/v2/write?bucket=my%20db&org=o&precision=ms HTTP/1.1",
                "Token t",
            ),
            (
                WriteApi::V3,
                WritePrecision::S,
                "POST /api/v3/write_lp?db=my%20db&precision=second HTTP/1.1",
                "Bearer t",
            ),
        ];
        for (api, precision, request_line, auth) in cases {
            let cfg = LoadConfig {
                api,
                precision,
                db: "my db".into(),
                org: Some("o".into()),
                token: Some("t".into()),
                gzip: true,
                ..config()
            };
            let batch = &prepare(&cfg, b"m f=1 1\n").unwrap()[0];
            let text = String::from_utf8_lossy(&batch.request);
            assert!(text.starts_with(request_line), "{text}");
            assert!(
                text.contains(&format!("\r\nAuthorization: {auth}\r\n")),
                "{text}"
            );
            assert!(text.contains("\r\nContent-Encoding: gzip\r\n"));
            let body_at = batch.request.len() - batch.body_bytes as usize;
            let mut decoded = String::new();
            std::io::Read::read_to_string(
                &mut flate2::read::GzDecoder::new(&batch.request[body_at..]),
                &mut decoded,
            )
            .unwrap();
            assert_eq!(decoded, "m f=1 1\n");
        }
    }

    #[test]
    fn rejects_zero_batch_lines_and_zero_connections() {
        let cfg = LoadConfig {
            batch_lines: 0,
            ..config()
        };
        assert!(matches!(
            prepare(&cfg, b"m f=1\n"),
            Err(Error::InvalidConfig(_))
        ));
        let cfg = LoadConfig {
            connections: 0,
            ..config()
        };
        assert!(matches!(run(&cfg, &[]), Err(Error::InvalidConfig(_))));
    }
}
