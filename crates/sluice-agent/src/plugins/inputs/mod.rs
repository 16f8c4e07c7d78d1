//! The input plugins and their registry.

pub mod cpu;
pub mod mem;
pub mod system;

use crate::config::{PluginKind, PluginSpec};
use crate::error::Result;
use crate::plugins::{BuildContext, Input, Registered};

/// Every input, with its sample configuration.
pub fn registry() -> Vec<Registered> {
    let input = |name, sample| Registered {
        kind: PluginKind::Input,
        name,
        sample,
    };
    vec![
        input("cpu", include_str!("cpu/sample.toml")),
        input("mem", include_str!("mem/sample.toml")),
        input("system", include_str!("system/sample.toml")),
    ]
}

/// Builds input `spec.name`.
///
/// # Errors
/// An invalid configuration.
pub fn build(spec: &PluginSpec, ctx: &BuildContext) -> Result<Box<dyn Input>> {
    let _ = ctx;
    Ok(match spec.name.as_str() {
        "cpu" => Box::new(cpu::Cpu::new(spec.parse()?)),
        "mem" => {
            spec.parse::<mem::MemConfig>()?;
            Box::new(mem::Mem)
        }
        "system" => {
            spec.parse::<system::SystemConfig>()?;
            Box::new(system::System)
        }
        other => return Err(spec.error(&format!("unknown input plugin {other:?}"))),
    })
}
