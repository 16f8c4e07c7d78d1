//! `sluice-bench`: generate TSBS-like data, drive writes and queries against sluice or any
//! InfluxDB-compatible server, and report.

use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Parser, Subcommand, ValueEnum};

use sluice_bench::generate::{GenerateConfig, UseCase, generate};
use sluice_bench::load::{self, LoadConfig, WriteApi, WritePrecision};
use sluice_bench::query::{self, QueryConfig, QueryKind};
use sluice_bench::time::{parse_duration, parse_rfc3339};

/// Benchmark harness for sluice and other InfluxDB-compatible servers.
#[derive(Debug, Parser)]
#[command(name = "sluice-bench", version)]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Write a seeded TSBS-like data set as line protocol.
    Generate(GenerateArgs),
    /// Post line protocol in batches over keep-alive connections and measure.
    Load(LoadArgs),
    /// Run TSBS-style InfluxQL queries against /query and measure.
    Query(QueryArgs),
}

/// Text for people or JSON for scripts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum OutputFormat {
    Text,
    Json,
}

/// The data set's shape and time range, shared by `generate` and `query`.
#[derive(Debug, clap::Args)]
struct DataSetArgs {
    /// Number of hosts (trucks for iot) [default: 100].
    #[arg(long, default_value_t = 100)]
    hosts: u64,
    /// Number of steps per host [default: 10000, giving 1,000,000 cpu-only lines].
    #[arg(long, conflicts_with = "end")]
    steps: Option<u64>,
    /// End of the data set (exclusive), RFC 3339; instead of --steps.
    #[arg(long)]
    end: Option<String>,
    /// Time between steps [default: 10s].
    #[arg(long, default_value = "10s")]
    interval: String,
    /// First timestamp, RFC 3339 [default: 2016-01-01T00:00:00Z, as TSBS].
    #[arg(long, default_value = "2016-01-01T00:00:00Z")]
    start: String,
    /// Seed for every random choice [default: 1].
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

impl DataSetArgs {
    /// (start, interval, steps)
    fn resolve(&self) -> anyhow::Result<(i64, i64, u64)> {
        let start = parse_rfc3339(&self.start)?;
        let interval = parse_duration(&self.interval)?;
        let steps = match (&self.steps, &self.end) {
            (Some(steps), _) => *steps,
            (None, Some(end)) => {
                let end = parse_rfc3339(end)?;
                anyhow::ensure!(end > start, "--end must be after --start");
                ((end - start) as u64).div_ceil(interval as u64)
            }
            (None, None) => 10_000,
        };
        Ok((start, interval, steps))
    }
}

#[derive(Debug, clap::Args)]
struct GenerateArgs {
    /// Data set shape [default: cpu-only].
    #[arg(long, value_enum, default_value_t = UseCase::CpuOnly)]
    use_case: UseCase,
    #[command(flatten)]
    data: DataSetArgs,
    /// Where to write: a file, or `-` for standard output [default: -].
    #[arg(long, short, default_value = "-")]
    output: String,
    /// Gzip the output.
    #[arg(long)]
    gzip: bool,
}

#[derive(Debug, clap::Args)]
struct LoadArgs {
    /// Line protocol to send; `-` is standard input, a name ending in `.gz` is gunzipped.
    #[arg(default_value = "-")]
    input: String,
    /// Server base URL [default: http://127.0.0.1:8086].
    #[arg(
        long,
        env = "SLUICE_BENCH_URL",
        default_value = "http://127.0.0.1:8086"
    )]
    url: String,
    /// Write API: v1 `/write`, v2 `/api/v2/write`, v3 `/api/v3/write_lp` [default: v1].
    #[arg(long, value_enum, default_value_t = WriteApi::V1)]
    endpoint: WriteApi,
    /// Database (bucket for v2) [default: bench].
    #[arg(long, env = "SLUICE_BENCH_DB", default_value = "bench")]
    db: String,
    /// Organisation for v2 (not sent unless given).
    #[arg(long)]
    org: Option<String>,
    /// API token (`Authorization: Token …`, or `Bearer …` for v3) [default: none].
    #[arg(long, env = "SLUICE_BENCH_TOKEN")]
    token: Option<String>,
    /// Timestamp precision of the input [default: ns].
    #[arg(long, value_enum, default_value_t = WritePrecision::Ns)]
    precision: WritePrecision,
    /// Lines per request [default: 5000].
    #[arg(long, default_value_t = 5000)]
    batch_lines: usize,
    /// Concurrent keep-alive connections [default: 4].
    #[arg(long, default_value_t = 4)]
    connections: usize,
    /// Gzip each request body before the clock starts.
    #[arg(long)]
    gzip: bool,
    /// Socket read/write timeout [default: 60s].
    #[arg(long, default_value = "60s")]
    timeout: String,
    /// Report format [default: text].
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    output: OutputFormat,
}

#[derive(Debug, clap::Args)]
struct QueryArgs {
    /// Server base URL [default: http://127.0.0.1:8086].
    #[arg(
        long,
        env = "SLUICE_BENCH_URL",
        default_value = "http://127.0.0.1:8086"
    )]
    url: String,
    /// Database [default: bench].
    #[arg(long, env = "SLUICE_BENCH_DB", default_value = "bench")]
    db: String,
    /// API token, sent as `Authorization: Token …` [default: none].
    #[arg(long, env = "SLUICE_BENCH_TOKEN")]
    token: Option<String>,
    /// Query kinds to run, repeatable [default: every kind].
    #[arg(long = "query", value_enum)]
    queries: Vec<QueryKind>,
    /// Queries per kind [default: 20].
    #[arg(long, default_value_t = 20)]
    iterations: u64,
    /// The data set queried (hosts and time range pick hosts and windows).
    #[command(flatten)]
    data: DataSetArgs,
    /// Socket read/write timeout [default: 60s].
    #[arg(long, default_value = "60s")]
    timeout: String,
    /// Report format [default: text].
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    output: OutputFormat,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let result = match args.command {
        Command::Generate(a) => run_generate(a),
        Command::Load(a) => run_load(a),
        Command::Query(a) => run_query(a),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(2)
        }
    }
}

fn run_generate(args: GenerateArgs) -> anyhow::Result<ExitCode> {
    let (start_ns, interval_ns, steps) = args.data.resolve()?;
    let config = GenerateConfig {
        use_case: args.use_case,
        scale: args.data.hosts,
        start_ns,
        interval_ns,
        steps,
        seed: args.data.seed,
    };
    let sink: Box<dyn Write> = if args.output == "-" {
        Box::new(std::io::stdout().lock())
    } else {
        let file =
            File::create(&args.output).with_context(|| format!("cannot create {}", args.output))?;
        Box::new(BufWriter::with_capacity(1 << 20, file))
    };
    let t0 = std::time::Instant::now();
    let stats = if args.gzip {
        let mut encoder = flate2::write::GzEncoder::new(sink, flate2::Compression::fast());
        let stats = generate(&config, &mut encoder)?;
        encoder.finish()?.flush()?;
        stats
    } else {
        generate(&config, sink)?
    };
    eprintln!(
        "generated {} lines, {} values, {} bytes in {:.2} s",
        stats.lines,
        stats.values,
        stats.bytes,
        t0.elapsed().as_secs_f64()
    );
    Ok(ExitCode::SUCCESS)
}

fn read_input(input: &str) -> anyhow::Result<Vec<u8>> {
    let mut raw = Vec::new();
    if input == "-" {
        std::io::stdin().lock().read_to_end(&mut raw)?;
    } else {
        let path = PathBuf::from(input);
        raw = std::fs::read(&path).with_context(|| format!("cannot read {input}"))?;
        if input.ends_with(".gz") {
            let mut out = Vec::with_capacity(raw.len() * 8);
            flate2::read::MultiGzDecoder::new(raw.as_slice())
                .read_to_end(&mut out)
                .with_context(|| format!("cannot gunzip {input}"))?;
            raw = out;
        }
    }
    Ok(raw)
}

fn run_load(args: LoadArgs) -> anyhow::Result<ExitCode> {
    let config = LoadConfig {
        url: args.url,
        api: args.endpoint,
        db: args.db,
        org: args.org,
        token: args.token,
        precision: args.precision,
        batch_lines: args.batch_lines,
        connections: args.connections,
        gzip: args.gzip,
        timeout: Duration::from_nanos(parse_duration(&args.timeout)? as u64),
    };
    let input = read_input(&args.input)?;
    let batches = load::prepare(&config, &input)?;
    drop(input);
    let report = load::run(&config, &batches)?;
    match args.output {
        OutputFormat::Text => print!("{}", report.to_text()),
        OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&report)?),
    }
    Ok(if report.requests_failed > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

fn run_query(args: QueryArgs) -> anyhow::Result<ExitCode> {
    let (start_ns, interval_ns, steps) = args.data.resolve()?;
    let end_ns = i64::try_from(steps)
        .ok()
        .and_then(|s| s.checked_mul(interval_ns))
        .and_then(|d| d.checked_add(start_ns))
        .context("the data set's time range does not fit in nanosecond timestamps")?;
    let config = QueryConfig {
        url: args.url,
        db: args.db,
        token: args.token,
        kinds: if args.queries.is_empty() {
            QueryKind::ALL.to_vec()
        } else {
            args.queries
        },
        iterations: args.iterations,
        seed: args.data.seed,
        hosts: args.data.hosts,
        start_ns,
        end_ns,
        timeout: Duration::from_nanos(parse_duration(&args.timeout)? as u64),
    };
    let report = query::run(&config)?;
    match args.output {
        OutputFormat::Text => print!("{}", report.to_text()),
        OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&report)?),
    }
    Ok(if report.has_failures() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data_args(extra: &[&str]) -> DataSetArgs {
        let mut argv = vec!["sluice-bench", "generate"];
        argv.extend_from_slice(extra);
        match Args::try_parse_from(argv).unwrap().command {
            Command::Generate(a) => a.data,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn end_gives_the_steps_that_start_before_it() {
        let (start, interval, steps) = data_args(&["--end", "2016-01-01T00:01:35Z"])
            .resolve()
            .unwrap();
        assert_eq!(start, 1_451_606_400_000_000_000);
        assert_eq!(interval, 10_000_000_000);
        assert_eq!(steps, 10); // 00:00:00 … 00:01:30
    }

    #[test]
    fn defaults_give_ten_thousand_steps_of_ten_seconds() {
        let (_, interval, steps) = data_args(&[]).resolve().unwrap();
        assert_eq!((interval, steps), (10_000_000_000, 10_000));
    }

    #[test]
    fn steps_and_end_together_are_refused_and_end_before_start_is_an_error() {
        assert!(
            Args::try_parse_from([
                "sluice-bench",
                "generate",
                "--steps",
                "5",
                "--end",
                "2017-01-01T00:00:00Z"
            ])
            .is_err()
        );
        assert!(
            data_args(&["--end", "2015-01-01T00:00:00Z"])
                .resolve()
                .is_err()
        );
    }
}
