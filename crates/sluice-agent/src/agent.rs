//! The running agent: inputs gather on their intervals (one thread each), metrics pass
//! through processors and aggregators, and each output buffers and flushes them.
//!
//! ```text
//!  input threads ──► channel ──► processors ──► aggregators ──► output buffers ──► flush tasks
//!   (interval, jitter,            (in order)     (period push)    (limit, batch)    (interval,
//!    filters, tags)                                                                   batch full,
//!                                                                                     SIGUSR1)
//! ```

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc as std_mpsc;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::{Notify, mpsc};

use crate::buffer::Buffer;
use crate::config::{BufferStrategy, Config, PluginKind, PluginSpec};
use crate::error::{Error, Result};
use crate::filter::FilterConfig;
use crate::metric::{Metric, now_nanos};
use crate::plugins::{
    Accumulator, Aggregator, BuildContext, Input, MetricSink, Output, Processor, build_aggregator,
    build_input, build_output, build_processor,
};
use crate::stats::{InputStats, OutputStats, Stats};

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// What an input's settings do to each metric it gathers.
#[derive(Debug, Clone)]
struct InputModel {
    filter: FilterConfig,
    name_override: Option<String>,
    name_prefix: Option<String>,
    name_suffix: Option<String>,
    tags: BTreeMap<String, String>,
    global_tags: BTreeMap<String, String>,
    precision_ns: i64,
}

/// The precision Telegraf rounds gathered timestamps to: the one set, else the order of
/// the gather interval (1 s for an interval of a second or more, then 1 ms, 1 µs, 1 ns),
/// so that the metrics of one gather share a timestamp.
fn gather_precision(precision: Duration, interval: Duration) -> Duration {
    if !precision.is_zero() {
        precision
    } else if interval >= Duration::from_secs(1) {
        Duration::from_secs(1)
    } else if interval >= Duration::from_millis(1) {
        Duration::from_millis(1)
    } else if interval >= Duration::from_micros(1) {
        Duration::from_micros(1)
    } else {
        Duration::from_nanos(1)
    }
}

/// `time` rounded to the nearest multiple of `precision` (halfway up), as Go's
/// `Time.Round` rounds Telegraf's timestamps.
fn round_time(time: i64, precision: i64) -> i64 {
    if precision <= 1 {
        return time;
    }
    let below = time.rem_euclid(precision);
    let down = time - below;
    if below >= precision - below {
        down.saturating_add(precision)
    } else {
        down
    }
}

impl InputModel {
    /// The settings of `spec`; timestamps are rounded to `precision` (zero: kept exact).
    fn new(spec: &PluginSpec, global_tags: &BTreeMap<String, String>, precision: Duration) -> Self {
        InputModel {
            filter: spec.filter.clone(),
            name_override: spec.common.name_override.clone(),
            name_prefix: spec.common.name_prefix.clone(),
            name_suffix: spec.common.name_suffix.clone(),
            tags: spec.common.tags.clone(),
            global_tags: global_tags.clone(),
            precision_ns: i64::try_from(precision.as_nanos()).unwrap_or(0),
        }
    }

    fn apply(&self, metric: Metric) -> Option<Metric> {
        let mut metric = self.filter.apply(metric)?;
        if let Some(name) = &self.name_override {
            metric.name.clone_from(name);
        }
        if let Some(prefix) = &self.name_prefix {
            metric.name.insert_str(0, prefix);
        }
        if let Some(suffix) = &self.name_suffix {
            metric.name.push_str(suffix);
        }
        for (k, v) in self.tags.iter().chain(&self.global_tags) {
            metric.tags.entry(k.clone()).or_insert_with(|| v.clone());
        }
        metric.time = round_time(metric.time, self.precision_ns);
        Some(metric)
    }
}

/// One configured input with its settings.
struct RunningInput {
    name: String,
    input: Box<dyn Input>,
    model: Arc<InputModel>,
    interval: Duration,
    jitter: Duration,
    stats: Arc<InputStats>,
}

impl RunningInput {
    /// Gathers once; returns the metrics after the input's settings, and whether the
    /// gather failed.
    fn gather(&mut self, agent_stats: &Stats) -> (Vec<Metric>, bool) {
        let started = Instant::now();
        let mut acc = Accumulator::new(now_nanos());
        let result = self.input.gather(&mut acc);
        let (metrics, errors) = acc.into_parts();
        let mut failed = false;
        for error in &errors {
            tracing::error!(input = %self.name, "{error}");
            failed = true;
        }
        if let Err(err) = result {
            tracing::error!(input = %self.name, "{err}");
            failed = true;
        }
        if failed {
            self.stats.errors.add(1);
            agent_stats.gather_errors.add(1);
        }
        let out: Vec<Metric> = metrics
            .into_iter()
            .filter_map(|m| self.model.apply(m))
            .collect();
        self.stats.metrics_gathered.add(out.len() as u64);
        self.stats
            .gather_time_ns
            .set(u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX));
        (out, failed)
    }
}

/// A processor with its filter.
struct RunningProcessor {
    filter: FilterConfig,
    processor: Box<dyn Processor>,
}

/// An aggregator with its settings.
struct RunningAggregator {
    name: String,
    filter: FilterConfig,
    aggregator: Box<dyn Aggregator>,
    model: InputModel,
    drop_original: bool,
    period: Duration,
}

/// The processors and aggregators, applied under one lock.
struct Pipeline {
    processors: Vec<RunningProcessor>,
    aggregators: Vec<RunningAggregator>,
}

impl Pipeline {
    fn process(&mut self, metrics: Vec<Metric>) -> Vec<Metric> {
        let mut current = metrics;
        for running in &mut self.processors {
            let mut next = Vec::with_capacity(current.len());
            for metric in current {
                if running.filter.select(&metric) {
                    running.processor.apply(metric, &mut next);
                } else {
                    next.push(metric);
                }
            }
            current = next;
        }
        let mut out = Vec::with_capacity(current.len());
        for metric in current {
            let mut dropped = false;
            for agg in &mut self.aggregators {
                if agg.filter.select(&metric) {
                    let mut copy = metric.clone();
                    agg.filter.modify(&mut copy);
                    agg.aggregator.add(&copy);
                    dropped |= agg.drop_original;
                }
            }
            if !dropped {
                out.push(metric);
            }
        }
        out
    }

    fn push(&mut self, index: usize) -> Vec<Metric> {
        let agg = &mut self.aggregators[index];
        let mut acc = Accumulator::new(now_nanos());
        agg.aggregator.push(&mut acc);
        agg.aggregator.reset();
        let (metrics, _) = acc.into_parts();
        metrics
            .into_iter()
            .filter_map(|m| agg.model.apply(m))
            .collect()
    }

    /// Pushes every aggregator's current window, in configuration order.
    fn push_all(&mut self) -> Vec<Metric> {
        let mut out = Vec::new();
        for index in 0..self.aggregators.len() {
            out.extend(self.push(index));
        }
        out
    }
}

/// The part of an output shared between the pipeline (which adds) and its flush task.
struct OutputShared {
    name: String,
    filter: FilterConfig,
    buffer: Mutex<Buffer>,
    /// The size of the batch being written (kept at the front of the buffer).
    in_flight: AtomicUsize,
    batch_size: usize,
    /// Metrics added since the last write attempt: a full batch of them brings the next
    /// write forward.
    added_since_write: AtomicUsize,
    batch_full: Notify,
    /// Metrics whose messages wait for them to be written (see [`crate::delivery`]) were
    /// added: the broker sends no more than its in-flight window until they are, so they
    /// are written at once rather than at the next flush interval.
    deliveries_waiting: Notify,
    stats: Arc<OutputStats>,
}

impl OutputShared {
    fn add(&self, metrics: &[Metric]) {
        let selected: Vec<Metric> = metrics
            .iter()
            .filter_map(|m| self.filter.apply(m.clone()))
            .collect();
        let filtered = metrics.len() - selected.len();
        self.stats.metrics_filtered.add(filtered as u64);
        if selected.is_empty() {
            return;
        }
        let selected_count = selected.len();
        let count = selected_count as u64;
        let tracked = selected.iter().any(|m| m.delivery.is_some());
        let mut buffer = lock(&self.buffer);
        match buffer.add(selected, self.in_flight.load(Ordering::SeqCst)) {
            Ok(dropped) => {
                self.stats.metrics_added.add(count);
                if dropped > 0 {
                    self.stats.metrics_dropped.add(dropped as u64);
                    tracing::warn!(
                        output = %self.name,
                        dropped,
                        total_dropped = self.stats.metrics_dropped.get(),
                        "metric buffer overflow: dropped the oldest metrics"
                    );
                }
            }
            Err(err) => tracing::error!(output = %self.name, "cannot buffer metrics: {err}"),
        }
        self.stats.buffer_size.set(buffer.len() as u64);
        // As in Telegraf, a batch is ready when `metric_batch_size` metrics arrived since
        // the last write attempt, not whenever the buffer holds a batch: during an outage
        // it always does, and a down server would be retried at every gather instead of
        // at the flush interval.
        let added = self
            .added_since_write
            .fetch_add(selected_count, Ordering::SeqCst)
            + selected_count;
        if added >= self.batch_size {
            self.added_since_write.store(0, Ordering::SeqCst);
            self.batch_full.notify_one();
        }
        if tracked {
            self.deliveries_waiting.notify_one();
        }
    }

    /// A write is being attempted: metrics added from now on count towards the next
    /// full batch.
    fn write_attempted(&self) {
        self.added_since_write.store(0, Ordering::SeqCst);
    }
}

/// An output: its plugin (owned by whoever flushes) and its shared buffer.
struct RunningOutput {
    key: String,
    shared: Arc<OutputShared>,
    output: tokio::sync::Mutex<Box<dyn Output>>,
    connected: AtomicBool,
    interval: Duration,
    jitter: Duration,
}

impl RunningOutput {
    /// Writes batches until the buffer is empty or a write fails. Returns whether every
    /// write succeeded.
    async fn flush(&self) -> bool {
        let mut output = self.output.lock().await;
        self.shared.write_attempted();
        self.connect(&mut output).await;
        loop {
            let batch = {
                let mut buffer = lock(&self.shared.buffer);
                let batch = match buffer.batch(self.shared.batch_size) {
                    Ok(batch) => batch,
                    Err(err) => {
                        tracing::error!(output = %self.shared.name, "cannot read buffer: {err}");
                        return false;
                    }
                };
                self.shared.in_flight.store(batch.len(), Ordering::SeqCst);
                batch
            };
            if batch.is_empty() {
                return true;
            }
            let started = Instant::now();
            let result = output.write(&batch).await;
            self.shared
                .stats
                .write_time_ns
                .set(u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX));
            let mut buffer = lock(&self.shared.buffer);
            self.shared.in_flight.store(0, Ordering::SeqCst);
            match result {
                Ok(()) => {
                    if let Err(err) = buffer.accept(batch.len()) {
                        tracing::error!(output = %self.shared.name, "cannot update buffer: {err}");
                        return false;
                    }
                    self.shared.stats.metrics_written.add(batch.len() as u64);
                    self.shared.stats.buffer_size.set(buffer.len() as u64);
                    tracing::debug!(output = %self.shared.name, written = batch.len(), buffered = buffer.len(), "wrote batch");
                }
                Err(err) => {
                    self.shared.stats.errors.add(1);
                    tracing::error!(output = %self.shared.name, buffered = buffer.len(), "write failed, keeping the batch buffered: {err}");
                    return false;
                }
            }
        }
    }
}

impl RunningOutput {
    /// Connects the output unless it is connected; a failure is logged (and the
    /// connection tried again at the next flush).
    async fn connect(&self, output: &mut Box<dyn Output>) {
        if !self.connected.load(Ordering::SeqCst) {
            match output.connect().await {
                Ok(()) => self.connected.store(true, Ordering::SeqCst),
                Err(err) => tracing::warn!(output = %self.shared.name, "connect failed: {err}"),
            }
        }
    }
}

/// How to run: the options of the command line that change behaviour.
#[derive(Debug, Clone, Copy, Default)]
pub struct RunOptions {
    /// Gather once, flush and return.
    pub once: bool,
}

/// What a one-shot run found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OnceOutcome {
    /// An input failed.
    pub input_failed: bool,
    /// An output failed.
    pub output_failed: bool,
}

/// The agent built from a configuration.
pub struct Agent {
    config: Config,
    stats: Arc<Stats>,
    inputs: Vec<RunningInput>,
    pipeline: Arc<Mutex<Pipeline>>,
    outputs: Vec<Arc<RunningOutput>>,
}

impl std::fmt::Debug for Agent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Agent")
            .field("inputs", &self.inputs.len())
            .field("outputs", &self.outputs.len())
            .finish_non_exhaustive()
    }
}

/// The machine's hostname.
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|_| "localhost".to_owned())
}

impl Agent {
    /// Builds every plugin of `config`.
    ///
    /// # Errors
    /// An invalid plugin configuration, or a disk buffer that cannot be opened.
    pub fn new(config: Config, stats: Arc<Stats>) -> Result<Agent> {
        let ctx = BuildContext {
            agent: config.agent.clone(),
            stats: stats.clone(),
        };
        let mut global_tags = config.global_tags.clone();
        if !config.agent.omit_hostname {
            let host = if config.agent.hostname.is_empty() {
                hostname()
            } else {
                config.agent.hostname.clone()
            };
            global_tags.entry("host".to_owned()).or_insert(host);
        }
        let mut inputs = Vec::new();
        for spec in config.plugins_of(PluginKind::Input) {
            let input = build_input(spec, &ctx)?;
            let interval = spec.common.interval.unwrap_or(config.agent.interval).0;
            let own_precision = spec.common.precision.map(|p| p.0);
            // Telegraf rounds what a gather collects, but what a service input receives
            // as it arrives only to the input's own `precision`: rounding it to the
            // interval would give many events one timestamp, and they would overwrite
            // each other.
            let precision = if input.is_service() {
                own_precision.unwrap_or_default()
            } else {
                gather_precision(own_precision.unwrap_or(config.agent.precision.0), interval)
            };
            inputs.push(RunningInput {
                name: spec.display_name(),
                input,
                model: Arc::new(InputModel::new(spec, &global_tags, precision)),
                interval,
                jitter: spec
                    .common
                    .collection_jitter
                    .unwrap_or(config.agent.collection_jitter)
                    .0,
                stats: stats.input(&spec.display_name()),
            });
        }
        let mut processor_specs: Vec<&PluginSpec> =
            config.plugins_of(PluginKind::Processor).collect();
        // Telegraf's rule: a stable sort on `order`, where unset counts as 0, so processors
        // without one run first (after any negative order) in configuration order, then
        // those with an order from lowest to highest.
        processor_specs.sort_by_key(|p| p.common.order.unwrap_or(0));
        let mut processors = Vec::new();
        for spec in processor_specs {
            processors.push(RunningProcessor {
                filter: spec.filter.clone(),
                processor: build_processor(spec)?,
            });
        }
        let mut aggregators = Vec::new();
        for spec in config.plugins_of(PluginKind::Aggregator) {
            // Telegraf rounds what aggregators push as it rounds gathers with the agent's
            // settings.
            let precision = gather_precision(config.agent.precision.0, config.agent.interval.0);
            let mut model = InputModel::new(spec, &BTreeMap::new(), precision);
            model.filter = FilterConfig::default();
            aggregators.push(RunningAggregator {
                name: spec.display_name(),
                filter: spec.filter.clone(),
                aggregator: build_aggregator(spec)?,
                model,
                drop_original: spec.common.drop_original,
                period: spec
                    .common
                    .period
                    .map_or(Duration::from_secs(30), |p| p.0)
                    .max(Duration::from_millis(10)),
            });
        }
        let mut outputs = Vec::new();
        let mut seen: BTreeMap<String, usize> = BTreeMap::new();
        for spec in config.plugins_of(PluginKind::Output) {
            let name = spec.display_name();
            let n = seen.entry(name.clone()).or_insert(0);
            *n += 1;
            let key = if *n == 1 {
                name.clone()
            } else {
                format!("{name}-{n}")
            };
            let limit = spec
                .common
                .metric_buffer_limit
                .unwrap_or(config.agent.metric_buffer_limit);
            let strategy = spec
                .common
                .buffer_strategy
                .unwrap_or(config.agent.buffer_strategy);
            let buffer = match strategy {
                BufferStrategy::Memory => Buffer::memory(limit),
                BufferStrategy::Disk => {
                    let dir = spec
                        .common
                        .buffer_directory
                        .clone()
                        .unwrap_or_else(|| config.agent.buffer_directory.clone());
                    if dir.is_empty() {
                        return Err(
                            spec.error("buffer_strategy = \"disk\" needs a buffer_directory")
                        );
                    }
                    Buffer::disk(std::path::Path::new(&dir), &key, limit)?
                }
            };
            let output_stats = stats.output(&key);
            output_stats.buffer_limit.set(limit as u64);
            output_stats.buffer_size.set(buffer.len() as u64);
            outputs.push(Arc::new(RunningOutput {
                key,
                shared: Arc::new(OutputShared {
                    name: name.clone(),
                    filter: spec.filter.clone(),
                    buffer: Mutex::new(buffer),
                    in_flight: AtomicUsize::new(0),
                    batch_size: spec
                        .common
                        .metric_batch_size
                        .unwrap_or(config.agent.metric_batch_size)
                        .max(1),
                    added_since_write: AtomicUsize::new(0),
                    batch_full: Notify::new(),
                    deliveries_waiting: Notify::new(),
                    stats: output_stats,
                }),
                output: tokio::sync::Mutex::new(build_output(spec, &ctx)?),
                connected: AtomicBool::new(false),
                interval: spec
                    .common
                    .flush_interval
                    .unwrap_or(config.agent.flush_interval)
                    .0,
                jitter: spec
                    .common
                    .flush_jitter
                    .unwrap_or(config.agent.flush_jitter)
                    .0,
            }));
        }
        Ok(Agent {
            config,
            stats,
            inputs,
            pipeline: Arc::new(Mutex::new(Pipeline {
                processors,
                aggregators,
            })),
            outputs,
        })
    }

    /// The configuration the agent was built from.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// One collection for `--test`/`--once`: starts the service inputs, gathers every
    /// input once (twice for those that need it), lets the service inputs collect for
    /// `test_wait` (Telegraf's `--test-wait`) and gathers them once more, stops them, and
    /// returns the metrics after processors and aggregators (aggregators pushed at the
    /// end), with whether an input failed.
    pub fn gather_once(&mut self, test_wait: Duration) -> (Vec<Metric>, bool) {
        let mut failed = false;
        let received: Arc<Mutex<Vec<Metric>>> = Arc::default();
        let handle = tokio::runtime::Handle::try_current().ok();
        let mut started = vec![false; self.inputs.len()];
        for (input, started) in self.inputs.iter_mut().zip(&mut started) {
            let store = received.clone();
            let model = input.model.clone();
            let stats = input.stats.clone();
            let sink: MetricSink = Arc::new(move |metrics: Vec<Metric>| {
                let out: Vec<Metric> = metrics.into_iter().filter_map(|m| model.apply(m)).collect();
                stats.metrics_gathered.add(out.len() as u64);
                lock(&store).extend(out);
            });
            let _guard = handle.as_ref().map(|h| h.enter());
            match input.input.start(sink) {
                Ok(()) => *started = true,
                Err(err) => {
                    tracing::error!(input = %input.name, "cannot start: {err}");
                    input.stats.errors.add(1);
                    self.stats.gather_errors.add(1);
                    failed = true;
                }
            }
        }
        let mut gathered = Vec::new();
        let primed: Vec<bool> = self
            .inputs
            .iter()
            .map(|i| i.input.needs_two_gathers())
            .collect();
        if primed.iter().any(|p| *p) {
            for ((input, prime), started) in self.inputs.iter_mut().zip(&primed).zip(&started) {
                if *prime && *started {
                    let _ = input.gather(&self.stats);
                }
            }
            std::thread::sleep(Duration::from_millis(500));
        }
        for (input, started) in self.inputs.iter_mut().zip(&started) {
            if *started {
                let (metrics, input_failed) = input.gather(&self.stats);
                failed |= input_failed;
                gathered.extend(metrics);
            }
        }
        let services = self
            .inputs
            .iter()
            .zip(&started)
            .any(|(i, started)| *started && i.input.is_service());
        if services && !test_wait.is_zero() {
            tracing::debug!(
                seconds = test_wait.as_secs_f64(),
                "waiting for service inputs"
            );
            std::thread::sleep(test_wait);
            for (input, started) in self.inputs.iter_mut().zip(&started) {
                if *started && input.input.is_service() {
                    let (metrics, input_failed) = input.gather(&self.stats);
                    failed |= input_failed;
                    gathered.extend(metrics);
                }
            }
        }
        for (input, started) in self.inputs.iter_mut().zip(&started) {
            if *started {
                let _guard = handle.as_ref().map(|h| h.enter());
                input.input.stop();
            }
        }
        gathered.append(&mut lock(&received));
        let mut pipeline = lock(&self.pipeline);
        let mut out = pipeline.process(gathered);
        out.extend(pipeline.push_all());
        (out, failed)
    }

    /// `--once`: collects as [`Agent::gather_once`] does, writes everything, and reports
    /// failures.
    pub async fn run_once(mut self, test_wait: Duration) -> OnceOutcome {
        let (metrics, input_failed) = tokio::task::block_in_place(|| self.gather_once(test_wait));
        for output in &self.outputs {
            output.shared.add(&metrics);
        }
        let mut output_failed = false;
        for output in &self.outputs {
            output_failed |= !output.flush().await;
        }
        OnceOutcome {
            input_failed,
            output_failed,
        }
    }

    /// Runs until `control` says to stop or reload; returns the agent's state so that a
    /// reload keeps buffered metrics.
    ///
    /// # Errors
    /// When a service input cannot start.
    pub async fn run(self, mut control: mpsc::UnboundedReceiver<Control>) -> Result<Stopped> {
        let (tx, mut rx) = mpsc::unbounded_channel::<Vec<Metric>>();
        let handle = tokio::runtime::Handle::current();
        let mut stop_inputs = Vec::new();
        let mut threads = Vec::new();
        for mut input in self.inputs {
            let sink_tx = tx.clone();
            let model = input.model.clone();
            let sink_stats = input.stats.clone();
            let sink: MetricSink = Arc::new(move |metrics: Vec<Metric>| {
                let out: Vec<Metric> = metrics.into_iter().filter_map(|m| model.apply(m)).collect();
                sink_stats.metrics_gathered.add(out.len() as u64);
                let _ = sink_tx.send(out);
            });
            {
                let _guard = handle.enter();
                input.input.start(sink).map_err(|err| Error::Gather {
                    plugin: input.name.clone(),
                    message: err.to_string(),
                })?;
            }
            let (stop_tx, stop_rx) = std_mpsc::channel::<()>();
            stop_inputs.push(stop_tx);
            let tx = tx.clone();
            let stats = self.stats.clone();
            let round = self.config.agent.round_interval;
            threads.push(std::thread::spawn(move || {
                input_loop(&mut input, &stats, &tx, &stop_rx, round);
                input.input.stop();
            }));
        }
        drop(tx);

        let (shutdown_tx, shutdown_rx) = tokio::sync::watch::channel(false);
        let mut flushers = Vec::new();
        for output in &self.outputs {
            let output = output.clone();
            let mut shutdown = shutdown_rx.clone();
            flushers.push(tokio::spawn(async move {
                // Outputs such as `health` serve from the start, as in Telegraf.
                output.connect(&mut *output.output.lock().await).await;
                // After a failed write, waiting deliveries do not bring the next attempt
                // forward: it comes at the interval, as for any other metric.
                let mut healthy = true;
                loop {
                    let wait = output.interval + random_below(output.jitter);
                    tokio::select! {
                        () = tokio::time::sleep(wait) => {}
                        () = output.shared.batch_full.notified() => {}
                        () = output.shared.deliveries_waiting.notified(), if healthy => {}
                        _ = shutdown.changed() => return,
                    }
                    healthy = output.flush().await;
                }
            }));
        }
        let aggregator_count = lock(&self.pipeline).aggregators.len();
        let outputs = self.outputs.clone();
        for index in 0..aggregator_count {
            let pipeline = self.pipeline.clone();
            let outputs = outputs.clone();
            let mut shutdown = shutdown_rx.clone();
            let (period, name) = {
                let p = lock(&pipeline);
                (
                    p.aggregators[index].period,
                    p.aggregators[index].name.clone(),
                )
            };
            flushers.push(tokio::spawn(async move {
                let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
                loop {
                    tokio::select! {
                        _ = ticker.tick() => {}
                        _ = shutdown.changed() => return,
                    }
                    let metrics = lock(&pipeline).push(index);
                    tracing::debug!(aggregator = %name, pushed = metrics.len(), "aggregator pushed");
                    for output in &outputs {
                        output.shared.add(&metrics);
                    }
                }
            }));
        }

        let reason = loop {
            tokio::select! {
                Some(metrics) = rx.recv() => {
                    let metrics = lock(&self.pipeline).process(metrics);
                    for output in &outputs {
                        output.shared.add(&metrics);
                    }
                }
                command = control.recv() => match command {
                    Some(Control::Flush) => {
                        tracing::info!("flushing all outputs (SIGUSR1)");
                        for output in &outputs {
                            output.flush().await;
                        }
                    }
                    Some(Control::Reload) => break Control::Reload,
                    Some(Control::Stop) | None => break Control::Stop,
                }
            }
        };
        for stop in stop_inputs {
            let _ = stop.send(());
        }
        tokio::task::block_in_place(|| {
            for thread in threads {
                let _ = thread.join();
            }
        });
        while let Ok(metrics) = rx.try_recv() {
            let metrics = lock(&self.pipeline).process(metrics);
            for output in &outputs {
                output.shared.add(&metrics);
            }
        }
        let _ = shutdown_tx.send(true);
        for task in flushers {
            let _ = task.await;
        }
        // As Telegraf does when it stops, every aggregator pushes its unfinished window,
        // so what was gathered since its last period reaches the final flush (on SIGTERM
        // and on SIGHUP alike) instead of being lost with the pipeline.
        let pushed = lock(&self.pipeline).push_all();
        for output in &outputs {
            output.shared.add(&pushed);
        }
        for output in &outputs {
            output.flush().await;
        }
        let mut leftovers = BTreeMap::new();
        for output in &outputs {
            let mut buffer = lock(&output.shared.buffer);
            if matches!(*buffer, Buffer::Memory(_)) && !buffer.is_empty() {
                let metrics = buffer.drain_all().unwrap_or_default();
                leftovers.insert(output.key.clone(), metrics);
            }
        }
        Ok(Stopped {
            reload: reason == Control::Reload,
            leftovers,
        })
    }

    /// Puts metrics left by a previous run (by output key) back into the buffers.
    pub fn restore(&self, leftovers: BTreeMap<String, Vec<Metric>>) {
        for (key, metrics) in leftovers {
            match self.outputs.iter().find(|o| o.key == key) {
                Some(output) => {
                    let mut buffer = lock(&output.shared.buffer);
                    let count = metrics.len();
                    if let Err(err) = buffer.add(metrics, 0) {
                        tracing::error!(output = %key, "cannot restore {count} metrics: {err}");
                    }
                    output.shared.stats.buffer_size.set(buffer.len() as u64);
                }
                None => tracing::warn!(
                    output = %key,
                    dropped = metrics.len(),
                    "output removed by reload: its buffered metrics are dropped"
                ),
            }
        }
    }
}

/// What the signal handler asks the running agent to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    /// Flush every output now (SIGUSR1).
    Flush,
    /// Reload the configuration, keeping buffered metrics (SIGHUP).
    Reload,
    /// Flush and stop (SIGTERM, SIGINT).
    Stop,
}

/// How a run ended.
#[derive(Debug)]
pub struct Stopped {
    /// Whether to reload the configuration and run again.
    pub reload: bool,
    /// Metrics still in memory buffers after the final flush, by output key.
    pub leftovers: BTreeMap<String, Vec<Metric>>,
}

fn input_loop(
    input: &mut RunningInput,
    stats: &Stats,
    tx: &mpsc::UnboundedSender<Vec<Metric>>,
    stop: &std_mpsc::Receiver<()>,
    round: bool,
) {
    let interval = input.interval.max(Duration::from_millis(1));
    let mut next = Instant::now();
    if round {
        let now_ns = u128::try_from(now_nanos()).unwrap_or(0);
        let until = interval.as_nanos() - now_ns % interval.as_nanos();
        next += Duration::from_nanos(u64::try_from(until).unwrap_or(0));
    }
    loop {
        let wait = next.saturating_duration_since(Instant::now()) + random_below(input.jitter);
        match stop.recv_timeout(wait) {
            Err(std_mpsc::RecvTimeoutError::Timeout) => {}
            _ => return,
        }
        let (metrics, _) = input.gather(stats);
        if !metrics.is_empty() && tx.send(metrics).is_err() {
            return;
        }
        next += interval;
        let now = Instant::now();
        while next <= now {
            next += interval; // skip gathers missed while this one was slow
        }
    }
}

/// A random duration in `[0, max)` (good enough for jitter).
fn random_below(max: Duration) -> Duration {
    max.mul_f64(sluice_client::random_unit())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::is_known;

    fn config(text: &str) -> Config {
        Config::parse_str(text, std::path::Path::new("agent.conf"), &is_known).unwrap()
    }

    /// Runs the agent of `text` until input `input` has gathered, then sends `control`
    /// and waits for the run to end.
    async fn run_until_gathered(text: &str, input: &str, control: Control) -> Stopped {
        let stats = Arc::new(Stats::default());
        let agent = Agent::new(config(text), stats.clone()).unwrap();
        let (tx, rx) = mpsc::unbounded_channel();
        let run = tokio::spawn(agent.run(rx));
        let deadline = Instant::now() + Duration::from_secs(10);
        while stats.input(input).metrics_gathered.get() == 0 {
            assert!(Instant::now() < deadline, "{input} never gathered");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        tx.send(control).unwrap();
        run.await.unwrap().unwrap()
    }

    #[test]
    fn gathered_times_are_rounded_to_the_interval_order_unless_a_precision_is_set() {
        let time: i64 = 1_700_000_000_612_345_678;
        let cases = [
            ("", 1_700_000_001_000_000_000),
            ("interval = \"100ms\"", 1_700_000_000_612_000_000),
            ("interval = \"100us\"", 1_700_000_000_612_346_000),
            ("precision = \"1ns\"", time),
            (
                "precision = \"1ms\"\n  interval = \"1m\"",
                1_700_000_000_612_000_000,
            ),
            ("precision = \"10s\"", 1_700_000_000_000_000_000),
        ];
        for (keys, want) in cases {
            let text = format!("[[inputs.mem]]\n  {keys}\n[[outputs.file]]\n");
            let agent = Agent::new(config(&text), Arc::new(Stats::default())).unwrap();
            let metric = Metric::new("m", time).with_field("f", 1i64);
            let got = agent.inputs[0].model.apply(metric).unwrap().time;
            assert_eq!(got, want, "{keys}");
        }
    }

    #[test]
    fn service_inputs_keep_exact_times_unless_they_set_a_precision() {
        let time = 1_700_000_000_612_345_678;
        let cases = [
            ("", time),
            ("precision = \"1s\"", 1_700_000_001_000_000_000),
        ];
        for (keys, want) in cases {
            let text = format!(
                "[[inputs.tail]]\n  files = [\"/nonexistent\"]\n  {keys}\n[[outputs.file]]\n"
            );
            let agent = Agent::new(config(&text), Arc::new(Stats::default())).unwrap();
            let metric = Metric::new("m", time).with_field("f", 1i64);
            let got = agent.inputs[0].model.apply(metric).unwrap().time;
            assert_eq!(got, want, "{keys}");
        }
    }

    /// Whether the output was told a batch is full (and forgets it).
    async fn batch_signalled(shared: &OutputShared) -> bool {
        tokio::time::timeout(Duration::ZERO, shared.batch_full.notified())
            .await
            .is_ok()
    }

    #[tokio::test]
    async fn a_batch_is_ready_only_when_a_batch_of_new_metrics_arrived_since_the_last_write() {
        let shared = OutputShared {
            name: "file".to_owned(),
            filter: FilterConfig::default(),
            buffer: Mutex::new(Buffer::memory(100)),
            in_flight: AtomicUsize::new(0),
            batch_size: 2,
            added_since_write: AtomicUsize::new(0),
            batch_full: Notify::new(),
            deliveries_waiting: Notify::new(),
            stats: Arc::new(OutputStats::default()),
        };
        let metric = Metric::new("m", 1).with_field("f", 1i64);
        shared.add(&[metric.clone(), metric.clone(), metric.clone()]);
        assert!(batch_signalled(&shared).await);
        // A write attempt failed (as in an outage) and left the three metrics buffered:
        // one more metric is no new batch, a second one is.
        shared.write_attempted();
        shared.add(std::slice::from_ref(&metric));
        assert!(!batch_signalled(&shared).await);
        shared.add(std::slice::from_ref(&metric));
        assert!(batch_signalled(&shared).await);
        assert_eq!(lock(&shared.buffer).len(), 5);
    }

    #[test]
    fn processors_without_order_run_before_those_with_one() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("in.lp");
        std::fs::write(&input, "m a=1i\n").unwrap();
        // Run in the order 3, 1, 2 (by `order`, unset first), the renames end at `d`; in
        // any other order one of them finds no field to rename.
        let text = format!(
            r#"
[[inputs.file]]
  files = ["{}"]
[[processors.rename]]
  order = 2
  [[processors.rename.replace]]
    field = "c"
    dest = "d"
[[processors.rename]]
  order = 1
  [[processors.rename.replace]]
    field = "b"
    dest = "c"
[[processors.rename]]
  [[processors.rename.replace]]
    field = "a"
    dest = "b"
[[outputs.file]]
"#,
            input.display()
        );
        let mut agent = Agent::new(config(&text), Arc::new(Stats::default())).unwrap();
        let (metrics, failed) = agent.gather_once(Duration::ZERO);
        assert!(!failed);
        let fields: Vec<&str> = metrics[0].fields.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(fields, ["d"]);
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn stopping_or_reloading_pushes_the_aggregators_unfinished_window() {
        for control in [Control::Stop, Control::Reload] {
            let dir = tempfile::tempdir().unwrap();
            let input = dir.path().join("in.lp");
            let output = dir.path().join("out.lp");
            std::fs::write(&input, "ctr,k=a v=1i,g=2.5\n").unwrap();
            let text = format!(
                r#"
[agent]
  interval = "50ms"
  round_interval = false
  flush_interval = "1h"
  omit_hostname = true
[[inputs.file]]
  files = ["{}"]
[[aggregators.minmax]]
  period = "1h"
  drop_original = true
[[outputs.file]]
  files = ["{}"]
"#,
                input.display(),
                output.display()
            );
            let stopped = run_until_gathered(&text, "file", control).await;
            assert_eq!(stopped.reload, control == Control::Reload);
            let written = std::fs::read_to_string(&output).unwrap_or_default();
            assert!(
                written.starts_with("ctr,k=a ") && written.contains("g_max=2.5"),
                "{control:?} wrote {written:?}"
            );
        }
    }
}
