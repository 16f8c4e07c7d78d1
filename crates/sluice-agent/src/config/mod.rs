//! Loading the agent's TOML configuration: `[global_tags]`, `[agent]` and the plugin
//! sections `[[inputs.NAME]]`, `[[processors.NAME]]`, `[[aggregators.NAME]]`,
//! `[[outputs.NAME]]`, after expanding environment variables.

mod duration;
mod env;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde::de::DeserializeOwned;

pub use duration::{ConfigDuration, parse_duration};

use crate::error::{Error, Result};
use crate::filter::{FILTER_KEYS, FilterConfig};

/// The four kinds of plugin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PluginKind {
    /// Gathers metrics.
    Input,
    /// Changes metrics one at a time.
    Processor,
    /// Summarises metrics over a period.
    Aggregator,
    /// Sends metrics somewhere.
    Output,
}

impl PluginKind {
    /// The section name: `inputs`, `processors`, `aggregators`, `outputs`.
    pub fn section(self) -> &'static str {
        match self {
            PluginKind::Input => "inputs",
            PluginKind::Processor => "processors",
            PluginKind::Aggregator => "aggregators",
            PluginKind::Output => "outputs",
        }
    }

    /// The keys every plugin of this kind accepts besides the filters.
    fn common_keys(self) -> &'static [&'static str] {
        match self {
            PluginKind::Input => &[
                "interval",
                "name_override",
                "name_prefix",
                "name_suffix",
                "tags",
                "alias",
                "precision",
                "collection_jitter",
            ],
            PluginKind::Processor => &["alias", "order"],
            PluginKind::Aggregator => &[
                "alias",
                "period",
                "delay",
                "grace",
                "drop_original",
                "name_override",
                "name_prefix",
                "name_suffix",
                "tags",
            ],
            PluginKind::Output => &[
                "alias",
                "metric_batch_size",
                "metric_buffer_limit",
                "flush_interval",
                "flush_jitter",
                "buffer_strategy",
                "buffer_directory",
            ],
        }
    }
}

/// The `[agent]` section. Defaults are Telegraf's.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AgentConfig {
    /// How often inputs gather. Default: `"10s"`.
    pub interval: ConfigDuration,
    /// Gather on multiples of `interval` (`:00`, `:10`, ...). Default: true.
    pub round_interval: bool,
    /// Metrics per write to an output; an output writes early once this many new metrics
    /// arrived since its last write attempt. Default: 1000.
    pub metric_batch_size: usize,
    /// Metrics each output keeps while it cannot write; the oldest are dropped beyond
    /// it. Default: 10000.
    pub metric_buffer_limit: usize,
    /// Each gather waits a random time up to this first. Default: `"0s"`.
    pub collection_jitter: ConfigDuration,
    /// How often outputs write. Default: `"10s"`.
    pub flush_interval: ConfigDuration,
    /// Each flush waits a random time up to this first. Default: `"0s"`.
    pub flush_jitter: ConfigDuration,
    /// Gathered timestamps are rounded to the nearest multiple of this; `"0s"` rounds to
    /// the order of the interval (1 s for a second or more, else 1 ms, 1 µs, 1 ns), as in
    /// Telegraf. Default: `"0s"`.
    pub precision: ConfigDuration,
    /// The `host` tag's value; empty means the machine's hostname. Default: `""`.
    pub hostname: String,
    /// Do not add the `host` tag. Default: false.
    pub omit_hostname: bool,
    /// Log at debug level. Default: false.
    pub debug: bool,
    /// Log errors only. Default: false.
    pub quiet: bool,
    /// Log to this file instead of stderr; empty means stderr. Default: `""`.
    pub logfile: String,
    /// Where outputs buffer metrics: `"memory"` or `"disk"`. Default: `"memory"`.
    pub buffer_strategy: BufferStrategy,
    /// The directory of disk buffers (one file per output). Required with
    /// `buffer_strategy = "disk"`. Default: `""`.
    pub buffer_directory: String,
}

impl Default for AgentConfig {
    fn default() -> Self {
        AgentConfig {
            interval: ConfigDuration::secs(10),
            round_interval: true,
            metric_batch_size: 1000,
            metric_buffer_limit: 10_000,
            collection_jitter: ConfigDuration::default(),
            flush_interval: ConfigDuration::secs(10),
            flush_jitter: ConfigDuration::default(),
            precision: ConfigDuration::default(),
            hostname: String::new(),
            omit_hostname: false,
            debug: false,
            quiet: false,
            logfile: String::new(),
            buffer_strategy: BufferStrategy::Memory,
            buffer_directory: String::new(),
        }
    }
}

/// Where an output keeps metrics it has not written yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum BufferStrategy {
    /// In memory: lost when the agent stops.
    #[default]
    Memory,
    /// In an append-only file under `buffer_directory`: kept across restarts.
    Disk,
}

/// The keys every plugin accepts besides its own (which apply depends on the kind).
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CommonConfig {
    /// Inputs: gather this often instead of the agent's interval.
    pub interval: Option<ConfigDuration>,
    /// Inputs and aggregators: replace the measurement name.
    pub name_override: Option<String>,
    /// Inputs and aggregators: prepend to the measurement name.
    pub name_prefix: Option<String>,
    /// Inputs and aggregators: append to the measurement name.
    pub name_suffix: Option<String>,
    /// Inputs and aggregators: tags added to every metric (existing tags win).
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// A name for the plugin instance in logs and internal metrics.
    pub alias: Option<String>,
    /// Inputs: round timestamps to this instead of the agent's precision.
    pub precision: Option<ConfigDuration>,
    /// Inputs: the agent's collection_jitter for this input.
    pub collection_jitter: Option<ConfigDuration>,
    /// Processors: the order to run in, lowest first; unset counts as 0 (so runs before
    /// positive orders), and equal orders keep configuration order, as in Telegraf.
    pub order: Option<i64>,
    /// Aggregators: the aggregation period. Default: `"30s"`.
    pub period: Option<ConfigDuration>,
    /// Aggregators: wait this long after a period ends before pushing. Default: `"100ms"`.
    pub delay: Option<ConfigDuration>,
    /// Aggregators: accept metrics up to this late. Default: `"0s"`.
    pub grace: Option<ConfigDuration>,
    /// Aggregators: do not pass the metrics they aggregate on. Default: false.
    #[serde(default)]
    pub drop_original: bool,
    /// Outputs: the agent's metric_batch_size for this output.
    pub metric_batch_size: Option<usize>,
    /// Outputs: the agent's metric_buffer_limit for this output.
    pub metric_buffer_limit: Option<usize>,
    /// Outputs: the agent's flush_interval for this output.
    pub flush_interval: Option<ConfigDuration>,
    /// Outputs: the agent's flush_jitter for this output.
    pub flush_jitter: Option<ConfigDuration>,
    /// Outputs: the agent's buffer_strategy for this output.
    pub buffer_strategy: Option<BufferStrategy>,
    /// Outputs: the agent's buffer_directory for this output.
    pub buffer_directory: Option<String>,
}

/// Where a plugin was configured, for error messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// The file.
    pub file: PathBuf,
    /// The 1-based line of the plugin's header.
    pub line: usize,
    /// The lines of the plugin's own keys, by key.
    pub key_lines: BTreeMap<String, usize>,
}

impl Location {
    /// `file:line` of `key`, or of the header when the key's line is unknown.
    pub fn of_key(&self, key: &str) -> String {
        let line = self.key_lines.get(key).copied().unwrap_or(self.line);
        format!("{}:{line}", self.file.display())
    }
}

/// One `[[kind.name]]` table.
#[derive(Debug, Clone)]
pub struct PluginSpec {
    /// Which kind of plugin.
    pub kind: PluginKind,
    /// The plugin name (`cpu`, `influxdb_v2`, ...).
    pub name: String,
    /// The keys all plugins of the kind accept.
    pub common: CommonConfig,
    /// The filters.
    pub filter: FilterConfig,
    /// The plugin's own keys, checked by the plugin's config struct.
    pub table: toml::Table,
    /// Where it was written.
    pub location: Location,
}

impl PluginSpec {
    /// The name used in logs and internal metrics: the alias, else the plugin name.
    pub fn display_name(&self) -> String {
        match &self.common.alias {
            Some(alias) => format!("{}::{alias}", self.name),
            None => self.name.clone(),
        }
    }

    /// Deserializes the plugin's own keys into `C` (which denies unknown keys).
    ///
    /// # Errors
    /// [`Error::Config`] naming the file, line and key.
    pub fn parse<C: DeserializeOwned>(&self) -> Result<C> {
        toml::Value::Table(self.table.clone())
            .try_into::<C>()
            .map_err(|err| self.error(&err.to_string()))
    }

    /// Deserializes the plugin's own keys into `C` (which denies unknown keys) and
    /// Telegraf's client TLS keys into its [`TlsClientConfig`](crate::tls::TlsClientConfig).
    ///
    /// # Errors
    /// [`Error::Config`] naming the file, line and key.
    pub fn parse_with_tls<C: DeserializeOwned + crate::tls::WithTls>(&self) -> Result<C> {
        let (tls, own) =
            crate::tls::TlsClientConfig::split(&self.table).map_err(|err| self.error(&err))?;
        let mut config: C = toml::Value::Table(own)
            .try_into()
            .map_err(|err: toml::de::Error| self.error(&err.to_string()))?;
        *config.tls_mut() = tls;
        Ok(config)
    }

    /// Deserializes the plugin's own keys into `C` (which denies unknown keys) and
    /// Telegraf's server TLS keys into its
    /// [`TlsServerConfig`](crate::tls::TlsServerConfig).
    ///
    /// # Errors
    /// [`Error::Config`] naming the file, line and key.
    pub fn parse_with_server_tls<C: DeserializeOwned + crate::tls::WithServerTls>(
        &self,
    ) -> Result<C> {
        let (tls, own) =
            crate::tls::TlsServerConfig::split(&self.table).map_err(|err| self.error(&err))?;
        let mut config: C = toml::Value::Table(own)
            .try_into()
            .map_err(|err: toml::de::Error| self.error(&err.to_string()))?;
        *config.server_tls_mut() = tls;
        Ok(config)
    }

    /// An error about this plugin, located at the key the message names in backticks
    /// (as serde's messages do), else at the plugin's header.
    pub fn error(&self, message: &str) -> Error {
        let mut message = message.trim().replace('\n', " ");
        let key = message
            .split('`')
            .nth(1)
            .filter(|k| self.location.key_lines.contains_key(*k))
            .unwrap_or("")
            .to_owned();
        // The plugin's own struct lists only its own keys; a misspelt `interval` or
        // `namepass` should be recognisable from the message too.
        if message.contains("unknown field") {
            let common: Vec<String> = self
                .kind
                .common_keys()
                .iter()
                .chain(FILTER_KEYS)
                .map(|k| format!("`{k}`"))
                .collect();
            message.push_str(&format!(
                ", or one of the keys all {} take: {}",
                self.kind.section(),
                common.join(", ")
            ));
        }
        Error::Config {
            location: self.location.of_key(&key),
            message: format!("{}.{}: {message}", self.kind.section(), self.name),
        }
    }
}

/// A whole configuration, possibly merged from several files.
#[derive(Debug, Clone, Default)]
pub struct Config {
    /// `[global_tags]`: added to every metric that lacks the tag.
    pub global_tags: BTreeMap<String, String>,
    /// `[agent]`.
    pub agent: AgentConfig,
    /// Every plugin in file order.
    pub plugins: Vec<PluginSpec>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    global_tags: Option<BTreeMap<String, String>>,
    #[serde(default)]
    agent: Option<AgentConfig>,
    #[serde(default)]
    inputs: BTreeMap<String, Vec<toml::Table>>,
    #[serde(default)]
    processors: BTreeMap<String, Vec<toml::Table>>,
    #[serde(default)]
    aggregators: BTreeMap<String, Vec<toml::Table>>,
    #[serde(default)]
    outputs: BTreeMap<String, Vec<toml::Table>>,
}

/// Tells whether a plugin name exists for a kind.
pub type KnownPlugin = dyn Fn(PluginKind, &str) -> bool;

impl Config {
    /// Loads `files`, then every `*.conf` / `*.toml` file of `directories` in name order,
    /// merging them: the keys of later `[agent]`/`[global_tags]` sections replace the
    /// same keys of earlier ones (the others are kept), plugins accumulate.
    ///
    /// # Errors
    /// [`Error::Config`] naming the file and line of the first problem.
    pub fn load(files: &[PathBuf], directories: &[PathBuf], known: &KnownPlugin) -> Result<Config> {
        let mut all = files.to_vec();
        for dir in directories {
            let mut found = Vec::new();
            let entries = std::fs::read_dir(dir).map_err(|err| Error::Config {
                location: dir.display().to_string(),
                message: format!("cannot read config directory: {err}"),
            })?;
            for entry in entries.flatten() {
                let path = entry.path();
                if matches!(
                    path.extension().and_then(|e| e.to_str()),
                    Some("conf" | "toml")
                ) {
                    found.push(path);
                }
            }
            found.sort();
            all.extend(found);
        }
        let mut config = Config::default();
        // Telegraf reads each file's `[agent]` into the settings so far: a later file
        // changes only the keys it names.
        let mut agent = toml::Table::new();
        for file in &all {
            let text = std::fs::read_to_string(file).map_err(|err| Error::Config {
                location: file.display().to_string(),
                message: format!("cannot read config file: {err}"),
            })?;
            let part = Config::parse(&text, file, known, &|name| std::env::var(name).ok())?;
            agent.extend(part.agent_keys);
            config.global_tags.extend(part.config.global_tags);
            config.plugins.extend(part.config.plugins);
        }
        // Every key was checked with its file, so the merged keys read as they did there.
        config.agent = toml::Value::Table(agent)
            .try_into()
            .map_err(|err: toml::de::Error| Error::Config {
                location: "[agent]".to_owned(),
                message: err.message().trim().replace('\n', " "),
            })?;
        Ok(config)
    }

    /// Parses one file's text (`file` names it in errors).
    ///
    /// # Errors
    /// As [`Config::load`].
    pub fn parse_str(text: &str, file: &Path, known: &KnownPlugin) -> Result<Config> {
        Config::parse(text, file, known, &|name| std::env::var(name).ok()).map(|p| p.config)
    }

    fn parse(
        text: &str,
        file: &Path,
        known: &KnownPlugin,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Parsed> {
        let at = |line: usize| format!("{}:{line}", file.display());
        let text = env::expand(text, lookup).map_err(|err| Error::Config {
            location: at(err.line),
            message: err.message,
        })?;
        let raw: RawFile = toml::from_str(&text).map_err(|err| {
            let line = err
                .span()
                .map(|span| line_of(&text, span.start))
                .unwrap_or(1);
            Error::Config {
                location: at(line),
                message: err.message().trim().replace('\n', " "),
            }
        })?;
        let mut plugins = Vec::new();
        let sections = [
            (PluginKind::Input, raw.inputs),
            (PluginKind::Processor, raw.processors),
            (PluginKind::Aggregator, raw.aggregators),
            (PluginKind::Output, raw.outputs),
        ];
        for (kind, section) in sections {
            for (name, tables) in section {
                let headers = header_lines(&text, kind.section(), &name);
                if !known(kind, &name) {
                    let line = headers.first().map_or(1, |h| h.0);
                    return Err(Error::Config {
                        location: at(line),
                        message: format!("unknown {} plugin {name:?}", kind.section()),
                    });
                }
                for (index, table) in tables.into_iter().enumerate() {
                    let (line, key_lines) =
                        headers.get(index).cloned().unwrap_or((1, BTreeMap::new()));
                    let location = Location {
                        file: file.to_owned(),
                        line,
                        key_lines,
                    };
                    plugins.push(split_plugin(kind, &name, table, location)?);
                }
            }
        }
        // Keep plugins in the order they appear in the file.
        plugins.sort_by_key(|p| p.location.line);
        // The keys this file's `[agent]` names, checked above with their lines.
        let agent_keys = match toml::from_str::<toml::Table>(&text) {
            Ok(mut table) => match table.remove("agent") {
                Some(toml::Value::Table(agent)) => agent,
                _ => toml::Table::new(),
            },
            Err(_) => toml::Table::new(),
        };
        Ok(Parsed {
            agent_keys,
            config: Config {
                global_tags: raw.global_tags.unwrap_or_default(),
                agent: raw.agent.unwrap_or_default(),
                plugins,
            },
        })
    }

    /// The plugins of one kind, in configuration order.
    pub fn plugins_of(&self, kind: PluginKind) -> impl Iterator<Item = &PluginSpec> {
        self.plugins.iter().filter(move |p| p.kind == kind)
    }
}

struct Parsed {
    agent_keys: toml::Table,
    config: Config,
}

fn split_plugin(
    kind: PluginKind,
    name: &str,
    table: toml::Table,
    location: Location,
) -> Result<PluginSpec> {
    let mut common = toml::Table::new();
    let mut filter = toml::Table::new();
    let mut own = toml::Table::new();
    for (key, value) in table {
        if kind.common_keys().contains(&key.as_str()) {
            common.insert(key, value);
        } else if FILTER_KEYS.contains(&key.as_str()) {
            filter.insert(key, value);
        } else {
            own.insert(key, value);
        }
    }
    let mut spec = PluginSpec {
        kind,
        name: name.to_owned(),
        common: CommonConfig::default(),
        filter: FilterConfig::default(),
        table: own,
        location,
    };
    spec.common = toml::Value::Table(common)
        .try_into()
        .map_err(|err| spec.error(&err.to_string()))?;
    spec.filter = toml::Value::Table(filter)
        .try_into()
        .map_err(|err| spec.error(&err.to_string()))?;
    Ok(spec)
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// For each `[[section.name]]` header in order: its line and the lines of the keys in
/// its block (sub-tables such as `[section.name.tagpass]` included).
fn header_lines(text: &str, section: &str, name: &str) -> Vec<(usize, BTreeMap<String, usize>)> {
    let header = format!("[[{section}.{name}]]");
    let sub_a = format!("[{section}.{name}.");
    let sub_b = format!("[[{section}.{name}.");
    let mut out: Vec<(usize, BTreeMap<String, usize>)> = Vec::new();
    let mut inside = false;
    for (index, line) in text.lines().enumerate() {
        let trimmed = line.trim();
        let compact: String = trimmed.chars().filter(|c| !c.is_whitespace()).collect();
        if compact.starts_with('[') {
            if compact.starts_with(&header) {
                out.push((index + 1, BTreeMap::new()));
                inside = true;
            } else if !(compact.starts_with(&sub_a) || compact.starts_with(&sub_b)) {
                inside = false;
            }
            continue;
        }
        if inside && let Some((key, _)) = trimmed.split_once('=') {
            let key = key.trim().trim_matches('"').to_owned();
            if let Some(last) = out.last_mut() {
                last.1.entry(key).or_insert(index + 1);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known(kind: PluginKind, name: &str) -> bool {
        matches!(
            (kind, name),
            (PluginKind::Input, "cpu") | (PluginKind::Output, "file")
        )
    }

    fn parse(text: &str) -> Result<Config> {
        Config::parse(text, Path::new("agent.conf"), &known, &|name| {
            (name == "DC").then(|| "eu".to_owned())
        })
        .map(|p| p.config)
    }

    #[test]
    fn agent_section_and_plugins_are_read_with_defaults() {
        let config = parse(
            r#"
[global_tags]
  dc = "${DC}"
[agent]
  interval = "5s"
  flush_interval = "500ms"
  omit_hostname = true
[[inputs.cpu]]
  percpu = false
  interval = "1m"
  name_prefix = "sys_"
  namepass = ["cpu*"]
  [inputs.cpu.tags]
    role = "db"
[[outputs.file]]
  files = ["stdout"]
"#,
        )
        .unwrap();
        assert_eq!(config.global_tags["dc"], "eu");
        assert_eq!(config.agent.interval.0.as_secs(), 5);
        assert_eq!(config.agent.flush_interval.0.as_millis(), 500);
        assert_eq!(config.agent.metric_batch_size, 1000);
        assert!(config.agent.round_interval);
        let cpu = &config.plugins[0];
        assert_eq!(cpu.common.interval.unwrap().0.as_secs(), 60);
        assert_eq!(cpu.common.name_prefix.as_deref(), Some("sys_"));
        assert_eq!(cpu.common.tags["role"], "db");
        assert_eq!(cpu.filter.namepass, vec!["cpu*"]);
        assert_eq!(cpu.table.len(), 1);
        assert_eq!(config.plugins[1].name, "file");
    }

    #[test]
    fn unknown_plugins_and_keys_are_errors_naming_file_line_and_key() {
        let err = parse("[agent]\n\n[[inputs.nope]]\n  a = 1\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("agent.conf:3") && err.contains("nope"),
            "{err}"
        );

        let err = parse("[agent]\n  intervall = \"1s\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("agent.conf:2") && err.contains("intervall"),
            "{err}"
        );

        #[derive(Deserialize, Debug)]
        #[serde(deny_unknown_fields)]
        #[expect(dead_code, reason = "the test only deserializes it")]
        struct Cpu {
            percpu: Option<bool>,
        }
        let config = parse("[[inputs.cpu]]\n  percpu = true\n\n  bogus = 1\n").unwrap();
        let err = config.plugins[0].parse::<Cpu>().unwrap_err().to_string();
        assert!(
            err.contains("agent.conf:4") && err.contains("bogus"),
            "{err}"
        );
        assert!(
            err.contains("`percpu`")
                && err.contains("or one of the keys all inputs take: `interval`")
                && err.contains("`name_override`")
                && err.contains("`namepass`")
                && err.contains("`tags`"),
            "{err}"
        );
    }

    #[test]
    fn syntax_errors_and_missing_required_variables_name_the_line() {
        let err = parse("[agent]\ninterval = \n").unwrap_err().to_string();
        assert!(err.contains("agent.conf:2"), "{err}");
        let err = parse("[agent]\nhostname = \"${NOPE:?set NOPE}\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("agent.conf:2") && err.contains("set NOPE"),
            "{err}"
        );
    }

    #[test]
    fn a_later_agent_section_changes_only_the_keys_it_names() {
        let dir = tempfile::tempdir().unwrap();
        let main = dir.path().join("main.conf");
        std::fs::write(
            &main,
            "[agent]\n  interval = \"5s\"\n  flush_interval = \"2s\"\n  omit_hostname = true\n",
        )
        .unwrap();
        let drop_ins = dir.path().join("conf.d");
        std::fs::create_dir(&drop_ins).unwrap();
        std::fs::write(
            drop_ins.join("debug.conf"),
            "[agent]\n  debug = true\n  flush_interval = \"3s\"\n",
        )
        .unwrap();
        let config = Config::load(&[main], &[drop_ins], &known).unwrap();
        assert_eq!(config.agent.interval.0.as_secs(), 5);
        assert_eq!(config.agent.flush_interval.0.as_secs(), 3);
        assert!(config.agent.omit_hostname);
        assert!(config.agent.debug);
        assert_eq!(config.agent.metric_batch_size, 1000);
    }

    #[test]
    fn plugins_keep_their_order_across_kinds() {
        let config = parse("[[outputs.file]]\n[[inputs.cpu]]\n[[inputs.cpu]]\n").unwrap();
        let lines: Vec<usize> = config.plugins.iter().map(|p| p.location.line).collect();
        assert_eq!(lines, vec![1, 2, 3]);
    }
}
