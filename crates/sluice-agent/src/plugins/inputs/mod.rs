//! The input plugins and their registry.

pub mod cpu;
pub mod disk;
pub mod diskio;
pub mod docker;
pub mod exec;
pub mod file;
pub mod http_listener_v2;
pub mod internal;
pub mod mem;
pub mod mqtt_consumer;
pub mod net;
pub mod nginx;
pub mod postgresql;
pub mod processes;
pub mod redis;
pub mod system;
pub mod tail;

use crate::config::{PluginKind, PluginSpec};
use crate::error::Result;
use crate::parsers::split_spec;
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
        input("disk", include_str!("disk/sample.toml")),
        input("diskio", include_str!("diskio/sample.toml")),
        input("docker", include_str!("docker/sample.toml")),
        input("exec", include_str!("exec/sample.toml")),
        input("file", include_str!("file/sample.toml")),
        input(
            "http_listener_v2",
            include_str!("http_listener_v2/sample.toml"),
        ),
        input("internal", include_str!("internal/sample.toml")),
        input("mem", include_str!("mem/sample.toml")),
        input("mqtt_consumer", include_str!("mqtt_consumer/sample.toml")),
        input("net", include_str!("net/sample.toml")),
        input("nginx", include_str!("nginx/sample.toml")),
        input("postgresql", include_str!("postgresql/sample.toml")),
        input("processes", include_str!("processes/sample.toml")),
        input("redis", include_str!("redis/sample.toml")),
        input("system", include_str!("system/sample.toml")),
        input("tail", include_str!("tail/sample.toml")),
    ]
}

/// Builds input `spec.name`.
///
/// # Errors
/// An invalid configuration.
pub fn build(spec: &PluginSpec, ctx: &BuildContext) -> Result<Box<dyn Input>> {
    Ok(match spec.name.as_str() {
        "disk" => Box::new(disk::Disk::new(spec.parse()?)),
        "diskio" => Box::new(diskio::DiskIo::new(spec.parse()?)),
        "net" => Box::new(net::Net::new(spec.parse()?)),
        "docker" => {
            Box::new(docker::Docker::new(spec.parse_with_tls()?).map_err(|m| spec.error(&m))?)
        }
        "exec" => {
            let (parser, own) = split_spec(spec)?;
            Box::new(exec::Exec::new(own.parse()?, parser))
        }
        "file" => {
            let (parser, own) = split_spec(spec)?;
            Box::new(file::File::new(own.parse()?, parser))
        }
        "tail" => {
            let (parser, own) = split_spec(spec)?;
            Box::new(tail::Tail::new(own.parse()?, parser))
        }
        "http_listener_v2" => {
            let (parser, own) = split_spec(spec)?;
            Box::new(
                http_listener_v2::HttpListener::new(own.parse_with_server_tls()?, parser)
                    .map_err(|m| spec.error(&m))?,
            )
        }
        "mqtt_consumer" => {
            let (parser, own) = split_spec(spec)?;
            Box::new(
                mqtt_consumer::MqttConsumer::new(
                    &spec.display_name(),
                    own.parse_with_tls()?,
                    parser,
                    &ctx.stats,
                )
                .map_err(|m| spec.error(&m))?,
            )
        }
        "nginx" => Box::new(nginx::Nginx::new(spec.parse_with_tls()?).map_err(|m| spec.error(&m))?),
        "postgresql" => {
            Box::new(postgresql::Postgresql::new(spec.parse()?).map_err(|m| spec.error(&m))?)
        }
        "redis" => Box::new(redis::Redis::new(spec.parse_with_tls()?).map_err(|m| spec.error(&m))?),
        "processes" => {
            spec.parse::<processes::ProcessesConfig>()?;
            Box::new(processes::Processes)
        }
        "internal" => {
            let config: internal::InternalConfig = spec.parse()?;
            Box::new(internal::Internal::new(
                ctx.stats.clone(),
                config.collect_memstats,
            ))
        }
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

/// Decodes the `%XX` escapes of a URL's user name, password or path (as `postgres://` and
/// `redis://` addresses carry them); a `%` not followed by two hex digits stays as it is.
pub(crate) fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(hex) = text.get(i + 1..i + 3)
            && let Ok(b) = u8::from_str_radix(hex, 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
