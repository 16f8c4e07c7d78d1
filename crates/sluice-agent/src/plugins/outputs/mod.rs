//! The output plugins and their registry.

pub mod file;
pub mod health;
mod http;
pub mod influxdb;
pub mod influxdb_v2;
pub mod influxdb_v3;

use crate::config::{PluginKind, PluginSpec};
use crate::error::Result;
use crate::metric::Metric;
use crate::plugins::{BuildContext, Output, Registered};

/// Every output, with its sample configuration.
pub fn registry() -> Vec<Registered> {
    let output = |name, sample| Registered {
        kind: PluginKind::Output,
        name,
        sample,
    };
    vec![
        output("file", include_str!("file/sample.toml")),
        output("influxdb", include_str!("influxdb/sample.toml")),
        output("health", include_str!("health/sample.toml")),
        output("influxdb_v2", include_str!("influxdb_v2/sample.toml")),
        output("influxdb_v3", include_str!("influxdb_v3/sample.toml")),
    ]
}

/// Builds output `spec.name`.
///
/// # Errors
/// An invalid configuration.
pub fn build(spec: &PluginSpec, ctx: &BuildContext) -> Result<Box<dyn Output>> {
    let name = spec.display_name();
    Ok(match spec.name.as_str() {
        "file" => Box::new(file::File::new(spec.parse()?, name).map_err(|m| spec.error(&m))?),
        "influxdb_v2" => Box::new(
            influxdb_v2::InfluxDbV2::new(spec.parse_with_tls()?, name, ctx)
                .map_err(|m| spec.error(&m))?,
        ),
        "influxdb" => Box::new(
            influxdb::InfluxDb::new(spec.parse_with_tls()?, name, ctx)
                .map_err(|m| spec.error(&m))?,
        ),
        "influxdb_v3" => Box::new(
            influxdb_v3::InfluxDbV3::new(spec.parse_with_tls()?, name, ctx)
                .map_err(|m| spec.error(&m))?,
        ),
        "health" => Box::new(
            health::Health::new(spec.parse_with_server_tls()?, name, ctx)
                .map_err(|m| spec.error(&m))?,
        ),
        other => return Err(spec.error(&format!("unknown output plugin {other:?}"))),
    })
}

/// Encodes metrics as line protocol, skipping (and logging) those that cannot be.
pub fn encode(metrics: &[Metric], output: &str) -> String {
    let mut text = String::new();
    for metric in metrics {
        if let Err(err) = metric.write_line_protocol(&mut text) {
            tracing::warn!(output, metric = %metric.name, "dropping a metric that cannot be written as line protocol: {err}");
        }
    }
    text
}
