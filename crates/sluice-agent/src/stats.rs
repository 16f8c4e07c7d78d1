//! The agent's own counters, which the `internal` input reports as Telegraf does
//! (`internal_agent`, `internal_gather`, `internal_write`, and plugins' own such as
//! `internal_mqtt_consumer`).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// A mutex whose poisoning is ignored: counters stay usable after a panic elsewhere.
#[derive(Debug, Default)]
struct Mutex<T>(std::sync::Mutex<T>);

impl<T> Mutex<T> {
    fn lock(&self) -> std::sync::MutexGuard<'_, T> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A counter.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    /// Adds `n`.
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }
    /// Sets the value (for gauges).
    pub fn set(&self, n: u64) {
        self.0.store(n, Ordering::Relaxed);
    }
    /// The value.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Counters of one input.
#[derive(Debug, Default)]
pub struct InputStats {
    /// Metrics gathered.
    pub metrics_gathered: Counter,
    /// Gathers that failed or reported errors.
    pub errors: Counter,
    /// Duration of the last gather, ns.
    pub gather_time_ns: Counter,
}

/// Counters of one output.
#[derive(Debug, Default)]
pub struct OutputStats {
    /// Metrics added to the buffer.
    pub metrics_added: Counter,
    /// Metrics written.
    pub metrics_written: Counter,
    /// Metrics dropped because the buffer was full.
    pub metrics_dropped: Counter,
    /// Metrics the output's filters rejected.
    pub metrics_filtered: Counter,
    /// Metrics in the buffer now.
    pub buffer_size: Counter,
    /// The buffer's limit.
    pub buffer_limit: Counter,
    /// Writes that failed.
    pub errors: Counter,
    /// Duration of the last write, ns.
    pub write_time_ns: Counter,
}

/// All of the agent's counters.
#[derive(Debug, Default)]
pub struct Stats {
    /// Gathers that failed, all inputs.
    pub gather_errors: Counter,
    inputs: Mutex<BTreeMap<String, Arc<InputStats>>>,
    outputs: Mutex<BTreeMap<String, Arc<OutputStats>>>,
    /// Counters of a plugin's own (`internal_mqtt_consumer`), by plugin then field;
    /// shared by every instance of the plugin, as in Telegraf.
    plugins: Mutex<BTreeMap<String, BTreeMap<String, Arc<Counter>>>>,
}

impl Stats {
    /// The counters of input `name` (created on first use; shared by instances with the
    /// same name).
    pub fn input(&self, name: &str) -> Arc<InputStats> {
        self.inputs
            .lock()
            .entry(name.to_owned())
            .or_default()
            .clone()
    }

    /// The counters of output `name`.
    pub fn output(&self, name: &str) -> Arc<OutputStats> {
        self.outputs
            .lock()
            .entry(name.to_owned())
            .or_default()
            .clone()
    }

    /// Counter `field` of plugin `plugin`'s own (reported as `internal_PLUGIN`; created
    /// on first use).
    pub fn plugin(&self, plugin: &str, field: &str) -> Arc<Counter> {
        self.plugins
            .lock()
            .entry(plugin.to_owned())
            .or_default()
            .entry(field.to_owned())
            .or_default()
            .clone()
    }

    /// Every plugin's own counters: plugin, then (field, value) pairs.
    pub fn plugins(&self) -> Vec<(String, Vec<(String, u64)>)> {
        self.plugins
            .lock()
            .iter()
            .map(|(plugin, fields)| {
                let values = fields.iter().map(|(f, c)| (f.clone(), c.get())).collect();
                (plugin.clone(), values)
            })
            .collect()
    }

    /// Every input's counters, by name.
    pub fn inputs(&self) -> Vec<(String, Arc<InputStats>)> {
        self.inputs
            .lock()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// Every output's counters, by name.
    pub fn outputs(&self) -> Vec<(String, Arc<OutputStats>)> {
        self.outputs
            .lock()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }
}
