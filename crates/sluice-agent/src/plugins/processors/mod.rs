//! The processor plugins and their registry.

pub mod converter;
pub mod r#enum;
pub mod pivot;
pub mod regex;
pub mod rename;

use crate::config::{PluginKind, PluginSpec};
use crate::error::Result;
use crate::plugins::{Processor, Registered};

/// Every processor, with its sample configuration.
pub fn registry() -> Vec<Registered> {
    let processor = |name, sample| Registered {
        kind: PluginKind::Processor,
        name,
        sample,
    };
    vec![
        processor("converter", include_str!("converter/sample.toml")),
        processor("enum", include_str!("enum/sample.toml")),
        processor("pivot", include_str!("pivot/sample.toml")),
        processor("regex", include_str!("regex/sample.toml")),
        processor("rename", include_str!("rename/sample.toml")),
    ]
}

/// Builds processor `spec.name`.
///
/// # Errors
/// An invalid configuration.
pub fn build(spec: &PluginSpec) -> Result<Box<dyn Processor>> {
    Ok(match spec.name.as_str() {
        "converter" => Box::new(converter::Converter::new(spec.parse()?)),
        "enum" => Box::new(r#enum::Enum::new(spec.parse()?)),
        "pivot" => Box::new(pivot::Pivot::new(spec.parse()?)),
        "regex" => Box::new(regex::Regex::new(spec.parse()?).map_err(|m| spec.error(&m))?),
        "rename" => Box::new(rename::Rename::new(spec.parse()?)),
        other => return Err(spec.error(&format!("unknown processor plugin {other:?}"))),
    })
}
