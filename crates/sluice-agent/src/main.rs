//! The `sluice-agent` binary: loads the configuration and runs the agent, reloading on
//! SIGHUP, flushing on SIGUSR1 and stopping (after a final flush) on SIGTERM/SIGINT.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use sluice_agent::agent::{Agent, Control};
use sluice_agent::config::{Config, PluginKind};
use sluice_agent::plugins::is_known;
use sluice_agent::stats::Stats;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;

/// A Telegraf-compatible collection agent.
/// Counts allocations for `internal_memstats`.
#[global_allocator]
static ALLOCATOR: sluice_agent::plugins::inputs::internal::memstats::CountingAllocator =
    sluice_agent::plugins::inputs::internal::memstats::CountingAllocator;

#[derive(Debug, Parser)]
#[command(name = "sluice-agent", version)]
struct Args {
    /// Configuration file (repeatable). Default: none; at least one file or directory is
    /// needed to run.
    #[arg(long, env = "SLUICE_AGENT_CONFIG", value_delimiter = ',')]
    config: Vec<PathBuf>,
    /// Directory whose `*.conf` and `*.toml` files are loaded in name order (repeatable).
    #[arg(long = "config-directory")]
    config_directory: Vec<PathBuf>,
    /// Gather every input once and print the metrics as `> ` + line protocol, sending
    /// nothing. Default: off.
    #[arg(long)]
    test: bool,
    /// Gather once, write to the outputs and exit; exit status 1 when an input or output
    /// failed. Default: off.
    #[arg(long)]
    once: bool,
    /// Let service inputs (mqtt_consumer, http_listener_v2, tail) collect for this many
    /// seconds before the metrics are printed (as with --test, which a value above 0
    /// implies, as in Telegraf) or, with --once, written. Default: 0.
    #[arg(
        long = "test-wait",
        env = "SLUICE_AGENT_TEST_WAIT",
        default_value_t = 0
    )]
    test_wait: u64,
    /// Log at debug level (overrides `[agent] debug`). Default: off.
    #[arg(long)]
    debug: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

impl Args {
    /// Whether metrics are printed, not written: `--test`, or `--test-wait` above 0
    /// (Telegraf's test mode), unless `--once` writes them.
    fn prints(&self) -> bool {
        self.test || self.test_wait > 0
    }
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print a commented default configuration with every plugin and key.
    Config,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(args) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("sluice-agent: {err:#}");
            ExitCode::from(2)
        }
    }
}

fn load(args: &Args) -> anyhow::Result<Config> {
    if args.config.is_empty() && args.config_directory.is_empty() {
        anyhow::bail!(
            "no configuration: pass --config FILE or --config-directory DIR (see `sluice-agent config`)"
        );
    }
    let config = Config::load(&args.config, &args.config_directory, &is_known)?;
    // As Telegraf does, refuse to start with nothing to gather, or with nowhere to write
    // unless the metrics are only printed (`--test`).
    let sources = args
        .config
        .iter()
        .chain(&args.config_directory)
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ");
    if config.plugins_of(PluginKind::Input).next().is_none() {
        anyhow::bail!("{sources}: no inputs found: the configuration needs an [[inputs.NAME]]");
    }
    if !args.prints() && config.plugins_of(PluginKind::Output).next().is_none() {
        anyhow::bail!(
            "{sources}: no outputs found: the configuration needs an [[outputs.NAME]] (only --test or --test-wait runs without one)"
        );
    }
    Ok(config)
}

fn init_logging(config: &Config, debug: bool) -> anyhow::Result<()> {
    let level = if debug || config.agent.debug {
        tracing::Level::DEBUG
    } else if config.agent.quiet {
        tracing::Level::ERROR
    } else {
        tracing::Level::INFO
    };
    let builder = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_target(false);
    if config.agent.logfile.is_empty() {
        let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
        builder
            .with_ansi(ansi)
            .with_writer(std::io::stderr)
            .try_init()
    } else {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&config.agent.logfile)
            .with_context(|| format!("cannot open logfile {}", config.agent.logfile))?;
        builder
            .with_ansi(false)
            .with_writer(std::sync::Mutex::new(file))
            .try_init()
    }
    .map_err(|err| anyhow::anyhow!("cannot install the logger: {err}"))
}

fn run(args: Args) -> anyhow::Result<ExitCode> {
    if let Some(Command::Config) = args.command {
        let mut out = std::io::stdout().lock();
        out.write_all(sluice_agent::sample::default_config().as_bytes())?;
        return Ok(ExitCode::SUCCESS);
    }
    let config = load(&args)?;
    init_logging(&config, args.debug)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let test_wait = std::time::Duration::from_secs(args.test_wait);
    runtime.block_on(async move {
        if args.prints() && !args.once {
            let mut agent = Agent::new(config, Arc::new(Stats::default()))?;
            let (metrics, failed) = tokio::task::block_in_place(|| agent.gather_once(test_wait));
            let mut out = std::io::stdout().lock();
            for metric in metrics {
                let mut line = String::new();
                match metric.write_line_protocol(&mut line) {
                    Ok(()) => write!(out, "> {line}")?,
                    Err(err) => tracing::warn!(metric = %metric.name, "cannot encode: {err}"),
                }
            }
            return Ok(if failed {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            });
        }
        if args.once {
            let outcome = Agent::new(config, Arc::new(Stats::default()))?
                .run_once(test_wait)
                .await;
            return Ok(if outcome.input_failed || outcome.output_failed {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            });
        }
        run_forever(&args, config).await
    })
}

async fn run_forever(args: &Args, mut config: Config) -> anyhow::Result<ExitCode> {
    let stats = Arc::new(Stats::default());
    let (control_tx, control_rx) = mpsc::unbounded_channel();
    let mut hup = signal(SignalKind::hangup())?;
    let mut usr1 = signal(SignalKind::user_defined1())?;
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let signals = control_tx.clone();
    tokio::spawn(async move {
        loop {
            let control = tokio::select! {
                _ = hup.recv() => Control::Reload,
                _ = usr1.recv() => Control::Flush,
                _ = term.recv() => Control::Stop,
                _ = int.recv() => Control::Stop,
            };
            if signals.send(control).is_err() {
                return;
            }
        }
    });
    let mut control_rx = Some(control_rx);
    let mut leftovers = Default::default();
    // The configuration that ran before a reload: a new one that loads but whose plugins
    // cannot be built (a file output's data format, a TLS file) falls back to it.
    let mut previous: Option<Config> = None;
    loop {
        let agent = match Agent::new(config.clone(), stats.clone()) {
            Ok(agent) => {
                if previous.take().is_some() {
                    tracing::info!("configuration reloaded");
                }
                agent
            }
            Err(err) => match previous.take() {
                Some(old) => {
                    tracing::error!("reload failed, keeping the old configuration: {err:#}");
                    config = old;
                    Agent::new(config.clone(), stats.clone())?
                }
                None => return Err(err.into()),
            },
        };
        agent.restore(std::mem::take(&mut leftovers));
        tracing::info!(
            inputs = agent.config().plugins_of(PluginKind::Input).count(),
            outputs = agent.config().plugins_of(PluginKind::Output).count(),
            "sluice-agent started"
        );
        // The receiver is reused across reloads; the agent hands it back through a channel.
        let (rx_back_tx, rx_back_rx) = tokio::sync::oneshot::channel();
        let (forward_tx, forward_rx) = mpsc::unbounded_channel();
        let mut rx = control_rx.take().context("control channel lost")?;
        let forwarder = tokio::spawn(async move {
            while let Some(c) = rx.recv().await {
                let last = c != Control::Flush;
                if forward_tx.send(c).is_err() || last {
                    break;
                }
            }
            let _ = rx_back_tx.send(rx);
        });
        let stopped = agent.run(forward_rx).await?;
        let _ = forwarder.await;
        control_rx = Some(rx_back_rx.await.context("control channel lost")?);
        if !stopped.reload {
            let unsent: usize = stopped.leftovers.values().map(Vec::len).sum();
            if unsent > 0 {
                tracing::warn!(unsent, "stopping with metrics that could not be written");
            }
            tracing::info!("sluice-agent stopped");
            return Ok(ExitCode::SUCCESS);
        }
        leftovers = stopped.leftovers;
        match load(args) {
            Ok(new) => previous = Some(std::mem::replace(&mut config, new)),
            Err(err) => tracing::error!("reload failed, keeping the old configuration: {err:#}"),
        }
    }
}
