//! The aggregator plugins and their registry.

use crate::config::PluginSpec;
use crate::error::Result;
use crate::plugins::{Aggregator, Registered};

/// Every aggregator, with its sample configuration.
pub fn registry() -> Vec<Registered> {
    Vec::new()
}

/// Builds aggregator `spec.name`.
///
/// # Errors
/// An invalid configuration.
pub fn build(spec: &PluginSpec) -> Result<Box<dyn Aggregator>> {
    Err(spec.error(&format!("unknown aggregator plugin {:?}", spec.name)))
}
