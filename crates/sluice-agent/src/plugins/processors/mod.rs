//! The processor plugins and their registry.

use crate::config::PluginSpec;
use crate::error::Result;
use crate::plugins::{Processor, Registered};

/// Every processor, with its sample configuration.
pub fn registry() -> Vec<Registered> {
    Vec::new()
}

/// Builds processor `spec.name`.
///
/// # Errors
/// An invalid configuration.
pub fn build(spec: &PluginSpec) -> Result<Box<dyn Processor>> {
    Err(spec.error(&format!("unknown processor plugin {:?}", spec.name)))
}
