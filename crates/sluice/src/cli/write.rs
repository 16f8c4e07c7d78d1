//! `sluice write`: line protocol from files, directories or stdin, sent to a server in
//! batches of whole lines (or checked locally with `--dry-run`).

use std::io::{self, BufWriter, Write as _};
use std::process::ExitCode;

use clap::{Args, ValueEnum};
use serde_json::{Map, Value, json};
use sluice_lp::{FieldValue, Line, ParseError, ParseOptions, Parser, Precision};

use super::input::read_source;

#[derive(Debug, Args)]
pub(crate) struct WriteArgs {
    /// Line protocol files or directories (read recursively, sorted, `*.lp`, `*.txt`,
    /// `*.gz`); `-` reads standard input; names ending in `.gz` are gunzipped.
    #[arg(default_value = "-")]
    files: Vec<String>,
    /// Validate the input locally with the server's parser and report; send nothing.
    #[arg(long)]
    dry_run: bool,
    /// Timestamp precision of the input: ns, us, ms, s, m, h or auto (default: ns).
    #[arg(long, env = "SLUICE_PRECISION", default_value = "ns")]
    precision: Precision,
    /// Report format of `--dry-run`: `text` (a summary) or `json` (one object per line).
    #[arg(long, value_enum, default_value_t = Output::Text)]
    output: Output,
    #[command(flatten)]
    send: send::SendArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Output {
    Text,
    Json,
}

pub(crate) fn run(args: WriteArgs) -> anyhow::Result<ExitCode> {
    if !args.dry_run {
        if args.output != Output::Text {
            anyhow::bail!("--output json is only for --dry-run");
        }
        return send::run(&args.files, args.precision, &args.send);
    }
    let options = ParseOptions {
        precision: args.precision,
        ..ParseOptions::default()
    };
    let mut out = BufWriter::new(io::stdout().lock());
    let (mut ok, mut rejected) = (0usize, 0usize);
    // Directories are read as a write reads them: the files under them.
    let files = super::input::expand_sources(&args.files)?;
    let many = files.len() > 1;
    for source in &files {
        let input = read_source(source)?;
        for result in Parser::new(&input, options) {
            match &result {
                Ok(_) => ok += 1,
                Err(_) => rejected += 1,
            }
            match (args.output, result) {
                (Output::Json, result) => {
                    let mut object = match &result {
                        Ok(line) => line_json(line),
                        Err(err) => error_json(err),
                    };
                    if many {
                        object.insert("file".into(), source.as_str().into());
                    }
                    serde_json::to_writer(&mut out, &object)?;
                    out.write_all(b"\n")?;
                }
                (Output::Text, Ok(_)) => {}
                (Output::Text, Err(err)) => {
                    let prefix = if many {
                        format!("{source}: ")
                    } else {
                        String::new()
                    };
                    writeln!(out, "{prefix}{err}\n    {}", err.text)?;
                }
            }
        }
    }
    if args.output == Output::Text {
        writeln!(out, "{ok} lines ok, {rejected} lines rejected")?;
    }
    out.flush()?;
    Ok(if rejected > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn line_json(line: &Line<'_>) -> Map<String, Value> {
    let tags: Map<String, Value> = line
        .tags
        .iter()
        .map(|(k, v)| (k.to_string(), Value::from(v.as_ref())))
        .collect();
    let fields: Map<String, Value> = line
        .fields
        .iter()
        .map(|(k, v)| {
            let value = match v {
                FieldValue::Float(f) => json!(f),
                FieldValue::Integer(i) => json!(i),
                FieldValue::UInteger(u) => json!(u),
                FieldValue::String(s) => json!(s),
                FieldValue::Boolean(b) => json!(b),
            };
            (
                k.to_string(),
                json!({"type": v.type_name(), "value": value}),
            )
        })
        .collect();
    let mut object = Map::new();
    object.insert("line".into(), line.line_number.into());
    object.insert("measurement".into(), line.measurement.as_ref().into());
    object.insert("tags".into(), tags.into());
    object.insert("fields".into(), fields.into());
    object.insert("timestamp".into(), line.timestamp.into());
    object
}

fn error_json(err: &ParseError) -> Map<String, Value> {
    let mut object = Map::new();
    object.insert("line".into(), err.line.into());
    object.insert("column".into(), err.column.into());
    object.insert("error".into(), err.kind.to_string().into());
    object.insert("text".into(), err.text.as_str().into());
    object
}

/// Sending to a server: batching whole lines, in parallel, rate-limited, with a report
/// of every rejected line by its number in its input file.
mod send {
    use std::fmt::Write as _;
    use std::io::{IsTerminal as _, Read, Write as _};
    use std::process::ExitCode;
    use std::str::FromStr;
    use std::time::{Duration, Instant};

    use anyhow::Context as _;
    use clap::{Args, ValueEnum};
    use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
    use sluice_client::lines::{LineKind, lines};
    use sluice_client::{Batch, Client, Error, RetryOptions};
    use sluice_lp::Precision;
    use tokio::task::JoinSet;

    use crate::cli::input::{expand_sources, open_source};

    /// The largest request body sent: under the 10 MiB servers accept by default.
    const MAX_BATCH_BYTES: usize = 9 * 1024 * 1024 + 512 * 1024;

    /// How much of an input is read at a time: batches are cut, and sent, as it is read.
    const READ_CHUNK: usize = 4 * 1024 * 1024;

    /// Whether request bodies are gzipped.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
    pub(crate) enum Gzip {
        /// Off for a loopback host (`localhost`, 127.0.0.0/8, `::1`), where compressing
        /// only costs CPU that the server on the same machine needs; on otherwise.
        Auto,
        /// Bodies over 1 KiB are gzipped.
        On,
        /// Bodies are sent as they are.
        Off,
    }

    #[derive(Debug, Args)]
    pub(crate) struct SendArgs {
        /// The server's URL.
        #[arg(long, env = "SLUICE_HOST", default_value = "http://127.0.0.1:8086")]
        host: String,
        /// The API token, sent as `Authorization: Token …` (default: none).
        #[arg(long, env = "SLUICE_TOKEN", hide_env_values = true)]
        token: Option<String>,
        /// The database to write to, through the v3 API (`/api/v3/write_lp`).
        #[arg(long, env = "SLUICE_DATABASE", conflicts_with = "bucket")]
        db: Option<String>,
        /// The bucket to write to, through the v2 API (`/api/v2/write`) instead.
        #[arg(long)]
        bucket: Option<String>,
        /// The v2 organization, with `--bucket` (default: empty).
        #[arg(long, default_value = "")]
        org: String,
        /// Lines per request, at least 1 (default: 5000).
        #[arg(long, default_value_t = 5000, value_parser = at_least_one)]
        batch_size: usize,
        /// Requests in flight at once, at least 1 (default: 4).
        #[arg(long, default_value_t = 4, value_parser = at_least_one)]
        concurrency: usize,
        /// The most to send per second: bytes (`5MB/s`, `512KiB/s`) or lines
        /// (`1000lines/s`) (default: no limit).
        #[arg(long)]
        rate_limit: Option<RateLimit>,
        /// Retries of a failed request (429, 5xx, connection errors) (default: 5).
        #[arg(long, default_value_t = 5)]
        max_retries: u32,
        /// Gzip request bodies: `auto` (off for a loopback host such as 127.0.0.1 or
        /// localhost, on otherwise), `on` or `off` (default: auto).
        #[arg(long, value_enum, default_value_t = Gzip::Auto)]
        gzip: Gzip,
        #[command(flatten)]
        tls: crate::cli::TlsArgs,
    }

    /// True when `url`'s host is this machine's loopback: `localhost`, 127.0.0.0/8 or
    /// `::1`.
    pub(crate) fn is_loopback(url: &str) -> bool {
        let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
        let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
        let host_port = authority
            .rsplit_once('@')
            .map_or(authority, |(_, host)| host);
        let host = match host_port.strip_prefix('[') {
            Some(v6) => v6.split(']').next().unwrap_or(""),
            None => host_port.split(':').next().unwrap_or(""),
        };
        host.eq_ignore_ascii_case("localhost")
            || host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
    }

    /// A send rate.
    #[derive(Debug, Clone, Copy, PartialEq)]
    pub(crate) enum RateLimit {
        BytesPerSecond(f64),
        LinesPerSecond(f64),
    }

    impl FromStr for RateLimit {
        type Err = String;

        fn from_str(text: &str) -> Result<Self, String> {
            let bad = || format!("invalid rate {text:?}: use e.g. 5MB/s, 512KiB/s or 1000lines/s");
            let lower = text.trim().to_ascii_lowercase();
            let unit_text = lower.strip_suffix("/s").ok_or_else(bad)?;
            let digits = unit_text
                .find(|c: char| !(c.is_ascii_digit() || c == '.'))
                .unwrap_or(unit_text.len());
            let number: f64 = unit_text[..digits].parse().map_err(|_| bad())?;
            let limit = match unit_text[digits..].trim() {
                "lines" | "line" => RateLimit::LinesPerSecond(number),
                "b" => RateLimit::BytesPerSecond(number),
                "kb" => RateLimit::BytesPerSecond(number * 1e3),
                "mb" => RateLimit::BytesPerSecond(number * 1e6),
                "gb" => RateLimit::BytesPerSecond(number * 1e9),
                "kib" => RateLimit::BytesPerSecond(number * 1024.0),
                "mib" => RateLimit::BytesPerSecond(number * 1024.0 * 1024.0),
                "gib" => RateLimit::BytesPerSecond(number * 1024.0 * 1024.0 * 1024.0),
                _ => return Err(bad()),
            };
            match limit {
                RateLimit::BytesPerSecond(n) | RateLimit::LinesPerSecond(n) if n > 0.0 => Ok(limit),
                _ => Err(bad()),
            }
        }
    }

    /// One request's worth of whole lines of one input.
    struct Piece {
        source: usize,
        /// The input's line number of the batch's first line.
        first_line: usize,
        batch: Batch,
    }

    struct Outcome {
        source: usize,
        first_line: usize,
        points: usize,
        bytes: usize,
        result: Result<(), Error>,
    }

    /// A line the server refused, placed in its input.
    struct Rejection {
        source: usize,
        line: usize,
        reason: String,
        text: Option<String>,
    }

    /// Lines that could not be delivered (the server unreachable, refusing the whole
    /// request), placed in their input.
    struct Failure {
        source: usize,
        line: usize,
        lines: usize,
        reason: String,
    }

    #[derive(Default)]
    struct Tally {
        written: u64,
        rejected: u64,
        undeliverable: u64,
        rejections: Vec<Rejection>,
        failures: Vec<Failure>,
    }

    pub(crate) fn run(
        files: &[String],
        precision: Precision,
        args: &SendArgs,
    ) -> anyhow::Result<ExitCode> {
        let builder = Client::builder(args.host.clone())
            .precision(precision)
            .retry(RetryOptions {
                max_retries: args.max_retries,
                ..RetryOptions::default()
            });
        let gzip = match args.gzip {
            Gzip::On => true,
            Gzip::Off => false,
            Gzip::Auto => !is_loopback(&args.host),
        };
        let builder = if gzip {
            builder.gzip_threshold(Some(1024))
        } else {
            builder.gzip_threshold(None)
        };
        let builder = match (&args.db, &args.bucket) {
            (Some(db), _) => builder.database(db.clone()),
            (None, Some(bucket)) => builder.bucket(bucket.clone()).org(args.org.clone()),
            (None, None) => {
                anyhow::bail!(
                    "name a database with --db (or a bucket with --bucket for the v2 api)"
                )
            }
        };
        // An empty token (`--token ""`, an unset variable expanded) is none.
        let builder = match args.token.as_deref().filter(|t| !t.is_empty()) {
            Some(token) => builder.token(token.to_owned()),
            None => builder,
        };
        let client = builder.tls(args.tls.options()?).build()?;
        let sources = expand_sources(files)?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .context("cannot start the async runtime")?;
        let started = Instant::now();
        let tally = runtime.block_on(send_all(&client, &sources, precision, args))?;
        report(&sources, tally, started.elapsed())
    }

    async fn send_all(
        client: &Client,
        sources: &[String],
        precision: Precision,
        args: &SendArgs,
    ) -> anyhow::Result<Tally> {
        let total: u64 = sources
            .iter()
            .filter(|s| *s != "-" && !s.ends_with(".gz"))
            .filter_map(|s| std::fs::metadata(s).ok())
            .map(|m| m.len())
            .sum();
        let all_sized = sources.iter().all(|s| s != "-" && !s.ends_with(".gz"));
        let progress = progress_bar(all_sized.then_some(total));
        let started = Instant::now();
        let mut tally = Tally::default();
        let mut in_flight: JoinSet<Outcome> = JoinSet::new();
        let concurrency = args.concurrency;
        let mut sent_bytes = 0u64;
        let mut sent_lines = 0u64;
        // A thread reads the inputs and cuts batches while earlier ones are sent; the
        // channel holds a few, so that reading stays just ahead of sending.
        let (sender, mut cut) = tokio::sync::mpsc::channel::<anyhow::Result<Piece>>(concurrency);
        let reader = {
            let sources = sources.to_vec();
            let batch_size = args.batch_size;
            std::thread::spawn(move || {
                for (index, source) in sources.iter().enumerate() {
                    let emit = |piece| sender.blocking_send(Ok(piece)).is_ok();
                    let done = open_source(source).and_then(|mut reader| {
                        cut_pieces(&mut reader, index, precision, batch_size, READ_CHUNK, emit)
                            .with_context(|| format!("cannot read {source}"))
                    });
                    match done {
                        Ok(true) => {}
                        Ok(false) => return,
                        Err(err) => {
                            let _ = sender.blocking_send(Err(err));
                            return;
                        }
                    }
                }
            })
        };
        while let Some(piece) = cut.recv().await {
            let piece = piece?;
            while in_flight.len() >= concurrency {
                if let Some(Ok(outcome)) = in_flight.join_next().await {
                    account(&mut tally, outcome, &progress, started);
                }
            }
            sent_bytes += piece.batch.len_bytes() as u64;
            sent_lines += piece.batch.points() as u64;
            if let Some(limit) = args.rate_limit {
                pace(limit, sent_bytes, sent_lines, started).await;
            }
            let client = client.clone();
            in_flight.spawn(async move {
                let result = client.write_batch(&piece.batch).await;
                Outcome {
                    source: piece.source,
                    first_line: piece.first_line,
                    points: piece.batch.points(),
                    bytes: piece.batch.len_bytes(),
                    result,
                }
            });
        }
        let _ = reader.join();
        while let Some(joined) = in_flight.join_next().await {
            if let Ok(outcome) = joined {
                account(&mut tally, outcome, &progress, started);
            }
        }
        progress.finish_and_clear();
        Ok(tally)
    }

    /// Reads `input` `chunk` bytes at a time and cuts it into batches of at most `batch_size`
    /// points (and [`MAX_BATCH_BYTES`]), each a run of whole lines sent byte for byte, so
    /// that line `n` of a batch is line `first_line + n - 1` of the input. Each batch
    /// goes to `emit` as soon as it is cut; returns false when `emit` refused one.
    fn cut_pieces(
        input: &mut dyn Read,
        source: usize,
        precision: Precision,
        batch_size: usize,
        chunk: usize,
        mut emit: impl FnMut(Piece) -> bool,
    ) -> std::io::Result<bool> {
        let mut buf: Vec<u8> = Vec::new();
        // Offset in `buf` of the first line not cut yet, and its line number in the input.
        let mut scan = 0;
        let mut next_line = 1;
        // The batch being gathered: its offset in `buf` and its first line number.
        let mut start = None::<(usize, usize)>;
        let mut points = 0;
        let mut end = 0usize;
        let mut eof = false;
        loop {
            let keep = start.map_or(scan, |(offset, _)| offset);
            if keep > 0 {
                buf.drain(..keep);
                scan -= keep;
                end = end.saturating_sub(keep);
                start = start.map(|(offset, line)| (offset - keep, line));
            }
            let old = buf.len();
            buf.resize(old + chunk, 0);
            let read = read_full(input, &mut buf[old..])?;
            buf.truncate(old + read);
            eof = eof || read < chunk;
            let base = scan;
            let mut next_after = next_line;
            for span in lines(&buf[base..]) {
                if !span.terminated && !eof {
                    // The line may go on in the next chunk.
                    break;
                }
                let (span_start, span_end) = (base + span.start, base + span.end);
                let line = next_line + span.line_number - 1;
                scan = span_end;
                next_after = line + span.physical_lines;
                if span.kind != LineKind::Point {
                    continue;
                }
                if let Some((offset, first_line)) = start
                    && (points >= batch_size || span_end - offset > MAX_BATCH_BYTES)
                {
                    let batch = Batch::from_line_protocol(&buf[offset..end], precision);
                    if !emit(Piece {
                        source,
                        first_line,
                        batch,
                    }) {
                        return Ok(false);
                    }
                    start = None;
                    points = 0;
                }
                if start.is_none() {
                    start = Some((span_start, line));
                }
                points += 1;
                end = span_end;
            }
            next_line = next_after;
            if eof {
                break;
            }
        }
        if let Some((offset, first_line)) = start {
            let batch = Batch::from_line_protocol(&buf[offset..end], precision);
            return Ok(emit(Piece {
                source,
                first_line,
                batch,
            }));
        }
        Ok(true)
    }

    /// Fills `buf` from `input`, short only at the end of the input.
    fn read_full(input: &mut dyn Read, buf: &mut [u8]) -> std::io::Result<usize> {
        let mut filled = 0;
        while filled < buf.len() {
            match input.read(&mut buf[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(err) if err.kind() == std::io::ErrorKind::Interrupted => {}
                Err(err) => return Err(err),
            }
        }
        Ok(filled)
    }

    /// Sleeps until sending `bytes`/`lines` since `started` keeps to `limit`.
    async fn pace(limit: RateLimit, bytes: u64, lines: u64, started: Instant) {
        let due = match limit {
            RateLimit::BytesPerSecond(rate) => bytes as f64 / rate,
            RateLimit::LinesPerSecond(rate) => lines as f64 / rate,
        };
        let ahead = due - started.elapsed().as_secs_f64();
        if ahead > 0.0 {
            tokio::time::sleep(Duration::from_secs_f64(ahead)).await;
        }
    }

    fn account(tally: &mut Tally, outcome: Outcome, progress: &ProgressBar, started: Instant) {
        match outcome.result {
            Ok(()) => tally.written += outcome.points as u64,
            Err(Error::Rejected { message, lines, .. }) => {
                let rejected = lines.len().max(1);
                tally.rejected += rejected as u64;
                tally.written += outcome.points.saturating_sub(rejected) as u64;
                if lines.is_empty() {
                    tally.rejections.push(Rejection {
                        source: outcome.source,
                        line: outcome.first_line,
                        reason: message,
                        text: None,
                    });
                }
                for line in lines {
                    tally.rejections.push(Rejection {
                        source: outcome.source,
                        line: line
                            .line_number
                            .map_or(outcome.first_line, |n| outcome.first_line + n - 1),
                        reason: line.reason,
                        text: line.text,
                    });
                }
            }
            Err(err) => {
                tally.undeliverable += outcome.points as u64;
                tally.failures.push(Failure {
                    source: outcome.source,
                    line: outcome.first_line,
                    lines: outcome.points,
                    reason: {
                        let text = err.to_string();
                        let hints = (crate::cli::tls_hint(&text), crate::cli::token_hint(&text));
                        format!("{text}{}{}", hints.0, hints.1)
                    },
                });
            }
        }
        progress.inc(outcome.bytes as u64);
        let seconds = started.elapsed().as_secs_f64().max(1e-3);
        progress.set_message(format!(
            "{:.0} lines/s, {} rejected",
            (tally.written + tally.rejected) as f64 / seconds,
            tally.rejected
        ));
    }

    fn progress_bar(total: Option<u64>) -> ProgressBar {
        if !std::io::stderr().is_terminal() {
            return ProgressBar::hidden();
        }
        let bar = match total {
            Some(total) => ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr())
                .with_style(
                    ProgressStyle::with_template(
                        "{bar:30} {bytes}/{total_bytes} {binary_bytes_per_sec} {msg}",
                    )
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
                ),
            None => ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr()).with_style(
                ProgressStyle::with_template("{spinner} {bytes} {binary_bytes_per_sec} {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            ),
        };
        bar.enable_steady_tick(Duration::from_millis(200));
        bar
    }

    /// A count that must be 1 or more.
    fn at_least_one(text: &str) -> Result<usize, String> {
        match text.parse::<usize>() {
            Ok(0) => Err("must be at least 1".into()),
            Ok(n) => Ok(n),
            Err(err) => Err(err.to_string()),
        }
    }

    /// A source as the report names it.
    fn named(source: &str) -> &str {
        if source == "-" {
            "standard input"
        } else {
            source
        }
    }

    fn report(sources: &[String], mut tally: Tally, elapsed: Duration) -> anyhow::Result<ExitCode> {
        let mut out = String::new();
        tally.rejections.sort_by_key(|r| (r.source, r.line));
        let many = sources.len() > 1;
        for r in &tally.rejections {
            let prefix = if many {
                format!("{}: ", named(&sources[r.source]))
            } else {
                String::new()
            };
            let _ = writeln!(out, "{prefix}line {}: {}", r.line, r.reason);
            if let Some(text) = &r.text {
                let _ = writeln!(out, "    {text}");
            }
        }
        tally.failures.sort_by_key(|f| (f.source, f.line));
        for f in &tally.failures {
            let _ = writeln!(
                out,
                "{} line(s) from line {} of {} undeliverable: {}",
                f.lines,
                f.line,
                named(&sources[f.source]),
                f.reason
            );
        }
        let seconds = elapsed.as_secs_f64().max(1e-3);
        let _ = writeln!(
            out,
            "{} lines written, {} rejected, {} undeliverable in {:.2} s ({:.0} lines/s)",
            tally.written,
            tally.rejected,
            tally.undeliverable,
            seconds,
            (tally.written + tally.rejected) as f64 / seconds
        );
        let mut stdout = std::io::stdout().lock();
        stdout.write_all(out.as_bytes())?;
        stdout.flush()?;
        Ok(if tally.rejected + tally.undeliverable > 0 {
            ExitCode::from(1)
        } else {
            ExitCode::SUCCESS
        })
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn rate_limits_parse_bytes_and_lines() {
            assert_eq!(
                "5MB/s".parse::<RateLimit>(),
                Ok(RateLimit::BytesPerSecond(5e6))
            );
            assert_eq!(
                "512KiB/s".parse::<RateLimit>(),
                Ok(RateLimit::BytesPerSecond(524_288.0))
            );
            assert_eq!(
                "1000lines/s".parse::<RateLimit>(),
                Ok(RateLimit::LinesPerSecond(1000.0))
            );
            for bad in ["5MB", "fast/s", "0MB/s", "5XB/s"] {
                assert!(bad.parse::<RateLimit>().is_err(), "{bad}");
            }
        }

        fn cut(input: &[u8], batch_size: usize, chunk: usize) -> Vec<(usize, usize, Vec<u8>)> {
            let mut out = Vec::new();
            let mut reader = input;
            let done = cut_pieces(
                &mut reader,
                0,
                Precision::Nanosecond,
                batch_size,
                chunk,
                |piece| {
                    out.push((
                        piece.first_line,
                        piece.batch.points(),
                        piece.batch.body().to_vec(),
                    ));
                    true
                },
            );
            assert!(done.unwrap());
            out
        }

        #[test]
        fn pieces_hold_whole_lines_and_know_their_first_line() {
            let input = b"# head\na f=1\nb s=\"x\ny\" 1\n\nc f=1\nd f=1";
            assert_eq!(
                cut(input, 2, READ_CHUNK),
                vec![
                    (2, 2, b"a f=1\nb s=\"x\ny\" 1\n".to_vec()),
                    (6, 2, b"c f=1\nd f=1\n".to_vec()),
                ]
            );
        }

        #[test]
        fn reading_in_small_chunks_cuts_the_same_batches_as_reading_all_at_once() {
            let input =
                b"# head\na f=1\nb s=\"x\ny\\\"\n\" 1\n\n  \nc,t=\\\n f=1\nd f=1\ne f=\"\"\nf f=1";
            for batch_size in 1..4 {
                let whole = cut(input, batch_size, input.len() + 1);
                for chunk in 1..input.len() + 1 {
                    assert_eq!(cut(input, batch_size, chunk), whole, "chunk {chunk}");
                }
            }
        }

        #[test]
        fn loopback_hosts_are_recognized() {
            for host in [
                "http://127.0.0.1:8086",
                "http://127.9.8.7",
                "http://localhost:8086/",
                "http://LOCALHOST",
                "http://[::1]:8086",
                "http://user:pw@127.0.0.1:1/x",
            ] {
                assert!(is_loopback(host), "{host}");
            }
            for host in [
                "http://10.0.0.1:8086",
                "https://example.com",
                "http://[::2]:8086",
                "http://localhost.example.com",
            ] {
                assert!(!is_loopback(host), "{host}");
            }
        }
    }
}
