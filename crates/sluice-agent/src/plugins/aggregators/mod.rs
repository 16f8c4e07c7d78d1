//! The aggregator plugins and their registry.

pub mod basicstats;
pub mod minmax;

use crate::config::{PluginKind, PluginSpec};
use crate::error::Result;
use crate::plugins::{Aggregator, Registered};

/// Every aggregator, with its sample configuration.
pub fn registry() -> Vec<Registered> {
    let aggregator = |name, sample| Registered {
        kind: PluginKind::Aggregator,
        name,
        sample,
    };
    vec![
        aggregator("basicstats", include_str!("basicstats/sample.toml")),
        aggregator("minmax", include_str!("minmax/sample.toml")),
    ]
}

/// Builds aggregator `spec.name`.
///
/// # Errors
/// An invalid configuration.
pub fn build(spec: &PluginSpec) -> Result<Box<dyn Aggregator>> {
    Ok(match spec.name.as_str() {
        "basicstats" => {
            Box::new(basicstats::BasicStats::new(spec.parse()?).map_err(|m| spec.error(&m))?)
        }
        "minmax" => {
            spec.parse::<minmax::MinMaxConfig>()?;
            Box::new(minmax::MinMax::default())
        }
        other => return Err(spec.error(&format!("unknown aggregator plugin {other:?}"))),
    })
}
