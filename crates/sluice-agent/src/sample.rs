//! `sluice-agent config`: a commented default configuration listing every plugin and
//! every key with its default.

use crate::config::PluginKind;
use crate::plugins::registry;

/// The `[global_tags]` and `[agent]` sections with their defaults.
const AGENT: &str = r#"# sluice-agent configuration (Telegraf-compatible).
#
# Environment variables can be used anywhere: $VAR, ${VAR}, ${VAR:-default},
# ${VAR-default}, ${VAR:?error message}.

# Global tags are added to every metric that does not have them.
[global_tags]
  # dc = "us-east-1"
  # user = "$USER"

# Configuration for the agent
[agent]
  ## Default data collection interval for all inputs
  interval = "10s"
  ## Rounds collection interval to 'interval', ie, if interval="10s" then always
  ## collect on :00, :10, :20, etc.
  round_interval = true
  ## Outputs write metrics in batches of at most metric_batch_size metrics.
  metric_batch_size = 1000
  ## Maximum number of unwritten metrics per output; the oldest are dropped beyond it.
  metric_buffer_limit = 10000
  ## Collection jitter is used to jitter the collection by a random amount.
  collection_jitter = "0s"
  ## Default flushing interval for all outputs.
  flush_interval = "10s"
  ## Jitter the flush interval by a random amount.
  flush_jitter = "0s"
  ## Collected metrics are rounded to the precision specified as an interval;
  ## "0s" rounds to the order of the interval (1s for intervals of a second or more).
  ## Service inputs are rounded only to their own precision.
  precision = "0s"
  ## Override default hostname, if empty use os.Hostname()
  hostname = ""
  ## If set to true, do no set the "host" tag.
  omit_hostname = false
  ## Log at debug level.
  debug = false
  ## Log only error level messages.
  quiet = false
  ## Log file name; empty logs to stderr.
  logfile = ""
  ## Where outputs buffer unwritten metrics: "memory" or "disk".
  buffer_strategy = "memory"
  ## Directory of the disk buffers (with buffer_strategy = "disk").
  buffer_directory = ""
"#;

/// Plugins enabled in the default configuration; the others are commented out.
const ENABLED: &[(PluginKind, &str)] = &[
    (PluginKind::Input, "cpu"),
    (PluginKind::Input, "mem"),
    (PluginKind::Input, "system"),
    (PluginKind::Output, "file"),
];

/// The whole default configuration.
pub fn default_config() -> String {
    let mut out = String::from(AGENT);
    for kind in [
        PluginKind::Output,
        PluginKind::Processor,
        PluginKind::Aggregator,
        PluginKind::Input,
    ] {
        out.push_str(&format!(
            "\n###############################################################################\n#                            {:<49}#\n###############################################################################\n",
            kind.section().to_uppercase()
        ));
        for plugin in registry().into_iter().filter(|r| r.kind == kind) {
            out.push('\n');
            let enabled = ENABLED.contains(&(kind, plugin.name));
            for line in plugin.sample.lines() {
                let trimmed = line.trim_start();
                if enabled || trimmed.starts_with('#') || trimmed.is_empty() {
                    out.push_str(line);
                } else {
                    let indent = &line[..line.len() - trimmed.len()];
                    out.push_str(&format!("{indent}# {trimmed}"));
                }
                out.push('\n');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::agent::Agent;
    use crate::config::Config;
    use crate::plugins::is_known;

    #[test]
    fn the_default_config_loads_and_builds() {
        let config =
            Config::parse_str(&default_config(), Path::new("default.conf"), &is_known).unwrap();
        assert_eq!(config.plugins.len(), ENABLED.len());
        Agent::new(config, Default::default()).unwrap();
    }

    #[test]
    fn every_sample_loads_and_builds_with_its_defaults() {
        for plugin in registry() {
            let config = Config::parse_str(plugin.sample, Path::new("sample.toml"), &is_known)
                .unwrap_or_else(|err| panic!("{}: {err}", plugin.name));
            assert_eq!(config.plugins.len(), 1, "{}", plugin.name);
            Agent::new(config, Default::default())
                .unwrap_or_else(|err| panic!("{}: {err}", plugin.name));
        }
    }

    #[test]
    fn every_plugin_is_in_the_default_config() {
        let text = default_config();
        for plugin in registry() {
            let header = format!("[[{}.{}]]", plugin.kind.section(), plugin.name);
            assert!(text.contains(&header), "{header}");
        }
    }
}
