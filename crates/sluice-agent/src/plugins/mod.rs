//! The plugin traits (one per kind), the accumulator inputs fill, and the registry that
//! builds plugins from their configuration.

pub mod aggregators;
pub mod inputs;
pub mod outputs;
pub mod processors;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::config::{AgentConfig, PluginKind, PluginSpec};
use crate::error::Result;
use crate::metric::Metric;
use crate::stats::Stats;

/// A boxed future, for the async methods of [`Output`].
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Collects what one gather produced.
#[derive(Debug)]
pub struct Accumulator {
    time: i64,
    metrics: Vec<Metric>,
    errors: Vec<String>,
}

impl Accumulator {
    /// An empty accumulator for a gather at `time` (ns).
    pub fn new(time: i64) -> Accumulator {
        Accumulator {
            time,
            metrics: Vec::new(),
            errors: Vec::new(),
        }
    }

    /// The time of this gather, in nanoseconds; metrics without a time of their own use
    /// it.
    pub fn time(&self) -> i64 {
        self.time
    }

    /// Adds a metric.
    pub fn add(&mut self, metric: Metric) {
        self.metrics.push(metric);
    }

    /// Records an error that did not stop the gather.
    pub fn add_error(&mut self, error: impl Into<String>) {
        self.errors.push(error.into());
    }

    /// The metrics added so far.
    pub fn metrics(&self) -> &[Metric] {
        &self.metrics
    }

    /// The errors added so far.
    pub fn errors(&self) -> &[String] {
        &self.errors
    }

    /// Takes the metrics and errors.
    pub fn into_parts(self) -> (Vec<Metric>, Vec<String>) {
        (self.metrics, self.errors)
    }
}

/// Where a service input (one that receives metrics, such as `http_listener_v2`) sends
/// them; the agent applies the input's settings and filters.
pub type MetricSink = Arc<dyn Fn(Vec<Metric>) + Send + Sync>;

/// A plugin that gathers metrics.
pub trait Input: Send {
    /// Gathers once into `acc`.
    ///
    /// # Errors
    /// When nothing could be gathered; partial problems go to [`Accumulator::add_error`].
    fn gather(&mut self, acc: &mut Accumulator) -> Result<()>;

    /// Whether the first gather only primes state (as `cpu` does for usage), so that a
    /// one-shot run (`--test`, `--once`) gathers twice.
    fn needs_two_gathers(&self) -> bool {
        false
    }

    /// Starts a service input, which then sends metrics to `sink` as they arrive.
    /// Called once before the first gather, from within the tokio runtime.
    ///
    /// # Errors
    /// When the service cannot start (such as an address in use).
    fn start(&mut self, sink: MetricSink) -> Result<()> {
        let _ = sink;
        Ok(())
    }

    /// Stops a service input.
    fn stop(&mut self) {}

    /// Whether this is a service input in Telegraf's sense: one that receives or follows
    /// data between gathers (`mqtt_consumer`, `http_listener_v2`, `tail`). With
    /// `--test`/`--once` and `--test-wait N`, the agent lets service inputs collect for
    /// N seconds and then gathers them once more.
    fn is_service(&self) -> bool {
        false
    }
}

/// A plugin that transforms metrics one at a time.
pub trait Processor: Send {
    /// Transforms `metric`, pushing zero or more metrics to `out`.
    fn apply(&mut self, metric: Metric, out: &mut Vec<Metric>);
}

/// A plugin that summarises the metrics of a period.
pub trait Aggregator: Send {
    /// Adds one metric to the current period.
    fn add(&mut self, metric: &Metric);
    /// Pushes the summary of the period (at time `acc.time()`).
    fn push(&mut self, acc: &mut Accumulator);
    /// Starts a new period.
    fn reset(&mut self);
}

/// A plugin that writes metrics somewhere.
pub trait Output: Send {
    /// Prepares the output (such as creating a database). Called before the first
    /// write; a failure is logged and the write still attempted.
    fn connect(&mut self) -> BoxFuture<'_, Result<()>> {
        Box::pin(async { Ok(()) })
    }

    /// Writes one batch. On error the batch stays buffered and is written again later.
    fn write<'a>(&'a mut self, metrics: &'a [Metric]) -> BoxFuture<'a, Result<()>>;
}

/// What plugins may need from the agent when they are built.
#[derive(Debug, Clone)]
pub struct BuildContext {
    /// The `[agent]` section.
    pub agent: AgentConfig,
    /// The agent's internal statistics (for the `internal` input).
    pub stats: Arc<Stats>,
}

/// One plugin's registry entry.
#[derive(Debug, Clone, Copy)]
pub struct Registered {
    /// The kind.
    pub kind: PluginKind,
    /// The name in `[[kind.name]]`.
    pub name: &'static str,
    /// Its `sample.toml`: every key with its default.
    pub sample: &'static str,
}

/// Every plugin this agent knows.
pub fn registry() -> Vec<Registered> {
    let mut all = Vec::new();
    all.extend(inputs::registry());
    all.extend(processors::registry());
    all.extend(aggregators::registry());
    all.extend(outputs::registry());
    all
}

/// Whether a plugin `name` of `kind` exists.
pub fn is_known(kind: PluginKind, name: &str) -> bool {
    registry().iter().any(|r| r.kind == kind && r.name == name)
}

/// Builds an input from its configuration.
///
/// # Errors
/// An invalid configuration, naming the file, line and key.
pub fn build_input(spec: &PluginSpec, ctx: &BuildContext) -> Result<Box<dyn Input>> {
    inputs::build(spec, ctx)
}

/// Builds a processor from its configuration.
///
/// # Errors
/// As [`build_input`].
pub fn build_processor(spec: &PluginSpec) -> Result<Box<dyn Processor>> {
    processors::build(spec)
}

/// Builds an aggregator from its configuration.
///
/// # Errors
/// As [`build_input`].
pub fn build_aggregator(spec: &PluginSpec) -> Result<Box<dyn Aggregator>> {
    aggregators::build(spec)
}

/// Builds an output from its configuration.
///
/// # Errors
/// As [`build_input`].
pub fn build_output(spec: &PluginSpec, ctx: &BuildContext) -> Result<Box<dyn Output>> {
    outputs::build(spec, ctx)
}
