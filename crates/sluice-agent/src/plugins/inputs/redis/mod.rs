//! `inputs.redis`: runs `INFO ALL` on each server and writes Telegraf's redis
//! measurements (see [`info`]), plus the values of `[[inputs.redis.commands]]`.
//!
//! Servers are `tcp://[user:password@]host[:port]` or `unix:///path`; a server that is
//! down is an error for that server only, and its connection is made again at the next
//! gather.

pub mod info;
pub mod resp;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

use crate::config::ConfigDuration;
use crate::error::Result;
use crate::metric::{FieldValue, Metric};
use crate::plugins::inputs::percent_decode;
use crate::plugins::{Accumulator, Input};
use crate::tls::TlsClientConfig;
use resp::{Address, Connection, Reply};

/// `[[inputs.redis]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RedisConfig {
    /// Server URLs. Default: `["tcp://localhost:6379"]`.
    pub servers: Vec<String>,
    /// ACL user name; overrides one in the URL. Default: `""`.
    pub username: String,
    /// Password; overrides one in the URL. Default: `""`.
    pub password: String,
    /// Commands whose results become fields of `redis_commands`. Default: none.
    pub commands: Vec<RedisCommand>,
    /// The longest connecting or one command may take. Default: `"5s"`.
    pub timeout: ConfigDuration,
    /// Telegraf's client TLS keys (`tls_ca`, `tls_cert`, `tls_key`, `tls_server_name`,
    /// `tls_min_version`, `insecure_skip_verify`), taken out of the plugin's table by
    /// `PluginSpec::parse_with_tls`. Default: none (the system's roots).
    #[serde(skip)]
    pub tls: TlsClientConfig,
}

crate::tls::with_tls!(RedisConfig);

impl Default for RedisConfig {
    fn default() -> Self {
        RedisConfig {
            servers: vec!["tcp://localhost:6379".to_owned()],
            username: String::new(),
            password: String::new(),
            commands: Vec::new(),
            timeout: ConfigDuration::secs(5),
            tls: TlsClientConfig::default(),
        }
    }
}

/// `[[inputs.redis.commands]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisCommand {
    /// The command and its arguments, such as `["get", "sample-key"]`.
    pub command: Vec<toml::Value>,
    /// The field to store the result in.
    pub field: String,
    /// `"string"`, `"integer"` or `"float"`. Default: `"string"`.
    #[serde(rename = "type", default = "default_type")]
    pub kind: String,
}

fn default_type() -> String {
    "string".to_owned()
}

/// One server: where it is, how to log in, its tags, and the open connection.
#[derive(Debug)]
struct Server {
    label: String,
    address: Address,
    username: String,
    password: String,
    tags: BTreeMap<String, String>,
    connection: Option<Connection>,
}

/// Parses one `servers` entry (without a scheme it is taken as `tcp://`).
fn parse_server(entry: &str, config: &RedisConfig) -> std::result::Result<Server, String> {
    let text = if entry.starts_with("tcp://") || entry.starts_with("unix://") {
        entry.to_owned()
    } else {
        tracing::warn!(
            server = entry,
            "redis server URL without a scheme; taking it as tcp://"
        );
        format!("tcp://{entry}")
    };
    let url = reqwest::Url::parse(&text)
        .map_err(|err| format!("`servers`: cannot parse {entry:?}: {err}"))?;
    let mut username = percent_decode(url.username());
    let mut password = url.password().map(percent_decode).unwrap_or_default();
    if !config.username.is_empty() {
        username.clone_from(&config.username);
    }
    if !config.password.is_empty() {
        password.clone_from(&config.password);
    }
    let mut tags = BTreeMap::new();
    let address = if url.scheme() == "unix" {
        if url.path().is_empty() {
            return Err(format!("`servers`: {entry:?} names no socket path"));
        }
        tags.insert("socket".to_owned(), url.path().to_owned());
        Address::Unix(url.path().to_owned())
    } else {
        let host = url
            .host_str()
            .filter(|h| !h.is_empty())
            .unwrap_or("localhost")
            .to_owned();
        tags.insert("server".to_owned(), host.clone());
        // Telegraf tags the port only when the URL has one.
        if let Some(port) = url.port() {
            tags.insert("port".to_owned(), port.to_string());
        }
        let host_part = if host.contains(':') {
            format!("[{host}]")
        } else {
            host
        };
        Address::Tcp(format!("{host_part}:{}", url.port().unwrap_or(6379)))
    };
    let label = match &address {
        Address::Tcp(a) => format!("tcp://{a}"),
        Address::Unix(p) => format!("unix://{p}"),
    };
    Ok(Server {
        label,
        address,
        username,
        password,
        tags,
        connection: None,
    })
}

/// The `redis` input.
#[derive(Debug)]
pub struct Redis {
    servers: Vec<Server>,
    commands: Vec<RedisCommand>,
    timeout: Duration,
    /// TLS for `tcp://` servers, when a TLS key is set.
    tls: Option<Arc<rustls::ClientConfig>>,
}

impl Redis {
    /// Builds the input.
    ///
    /// # Errors
    /// A message about an invalid server URL or command.
    pub fn new(config: RedisConfig) -> std::result::Result<Redis, String> {
        for command in &config.commands {
            if !matches!(command.kind.as_str(), "string" | "integer" | "float") {
                return Err(format!(
                    "`type`: unknown result type: expected one of \"string\", \"integer\", \"float\"; got {:?}",
                    command.kind
                ));
            }
            if command.command.is_empty() {
                return Err(format!("`command` of field {:?} is empty", command.field));
            }
        }
        let servers = if config.servers.is_empty() {
            vec!["tcp://localhost:6379".to_owned()]
        } else {
            config.servers.clone()
        };
        let servers = servers
            .iter()
            .map(|s| parse_server(s, &config))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let tls_keys = config.tls.clone();
        let tls = if tls_keys.is_set() {
            Some(Arc::new(tls_keys.rustls_config()?))
        } else {
            None
        };
        Ok(Redis {
            servers,
            commands: config.commands,
            timeout: config.timeout.0.max(Duration::from_millis(100)),
            tls,
        })
    }
}

fn connect(
    server: &Server,
    timeout: Duration,
    tls: Option<&Arc<rustls::ClientConfig>>,
) -> std::result::Result<Connection, String> {
    let mut connection = Connection::connect_with(&server.address, timeout, tls)?;
    if !server.password.is_empty() {
        let mut args: Vec<&[u8]> = vec![b"AUTH"];
        if !server.username.is_empty() {
            args.push(server.username.as_bytes());
        }
        args.push(server.password.as_bytes());
        if let Reply::Error(err) = connection.command(&args)? {
            return Err(format!("AUTH failed: {err}"));
        }
    }
    Ok(connection)
}

/// Renders a TOML scalar as a command argument.
fn argument(value: &toml::Value) -> String {
    match value {
        toml::Value::String(s) => s.clone(),
        toml::Value::Integer(i) => i.to_string(),
        toml::Value::Float(f) => f.to_string(),
        toml::Value::Boolean(b) => b.to_string(),
        toml::Value::Datetime(d) => d.to_string(),
        other => format!("{other:?}"),
    }
}

impl Redis {
    fn gather_server(
        &self,
        index: usize,
        connection: &mut Connection,
        acc: &mut Accumulator,
    ) -> std::result::Result<(), String> {
        let server = &self.servers[index];
        let info = match connection.command(&[b"INFO", b"ALL"])? {
            Reply::Bulk(Some(text)) => String::from_utf8_lossy(&text).into_owned(),
            Reply::Error(err) => return Err(format!("INFO failed: {err}")),
            other => return Err(format!("INFO answered {other:?}")),
        };
        let now_secs = acc.time().div_euclid(1_000_000_000);
        let (metrics, errors) = info::parse_info(&info, &server.tags, acc.time(), now_secs);
        for metric in metrics {
            acc.add(metric);
        }
        for error in errors {
            acc.add_error(format!("{}: {error}", server.label));
        }
        if self.commands.is_empty() {
            return Ok(());
        }
        let mut values = Metric::new("redis_commands", acc.time());
        values.tags.clone_from(&server.tags);
        for command in &self.commands {
            let args: Vec<String> = command.command.iter().map(argument).collect();
            let arg_bytes: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
            let text = connection.command(&arg_bytes)?.into_text().map_err(|err| {
                format!("command {:?} for field {:?}: {err}", args, command.field)
            })?;
            let value: FieldValue<'static> = match command.kind.as_str() {
                "integer" => FieldValue::Integer(text.trim().parse().map_err(|_| {
                    format!("could not get command result: {text:?} is not an integer")
                })?),
                "float" => FieldValue::Float(text.trim().parse().map_err(|_| {
                    format!("could not get command result: {text:?} is not a float")
                })?),
                _ => FieldValue::String(text.into()),
            };
            values.set_field(command.field.clone(), value);
        }
        acc.add(values);
        Ok(())
    }
}

impl Input for Redis {
    fn gather(&mut self, acc: &mut Accumulator) -> Result<()> {
        for index in 0..self.servers.len() {
            let connection = match self.servers[index].connection.take() {
                Some(c) => Ok(c),
                None => connect(&self.servers[index], self.timeout, self.tls.as_ref()),
            };
            let mut connection = match connection {
                Ok(c) => c,
                Err(err) => {
                    acc.add_error(format!("{}: {err}", self.servers[index].label));
                    continue;
                }
            };
            match self.gather_server(index, &mut connection, acc) {
                // Kept for the next gather; dropped (and made again) after an error.
                Ok(()) => self.servers[index].connection = Some(connection),
                Err(err) => acc.add_error(format!("{}: {err}", self.servers[index].label)),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_urls_give_address_credentials_and_tags() {
        let config = RedisConfig::default();
        let s = parse_server("tcp://user:p%40ss@127.0.0.1:7000", &config).unwrap();
        assert_eq!(s.address, Address::Tcp("127.0.0.1:7000".into()));
        assert_eq!((s.username.as_str(), s.password.as_str()), ("user", "p@ss"));
        assert_eq!(s.tags["server"], "127.0.0.1");
        assert_eq!(s.tags["port"], "7000");
        let s = parse_server("localhost", &config).unwrap();
        assert_eq!(s.address, Address::Tcp("localhost:6379".into()));
        assert!(!s.tags.contains_key("port"));
        let s = parse_server("unix:///run/redis.sock", &config).unwrap();
        assert_eq!(s.address, Address::Unix("/run/redis.sock".into()));
        assert_eq!(s.tags["socket"], "/run/redis.sock");
    }

    #[test]
    fn configured_credentials_override_the_urls() {
        let config = RedisConfig {
            password: "secret".into(),
            username: "u2".into(),
            ..RedisConfig::default()
        };
        let s = parse_server("tcp://:old@h:1", &config).unwrap();
        assert_eq!((s.username.as_str(), s.password.as_str()), ("u2", "secret"));
    }

    #[test]
    fn a_server_that_is_down_is_an_error_for_that_server_only() {
        let mut input = Redis::new(RedisConfig {
            servers: vec!["tcp://127.0.0.1:1".into()],
            ..RedisConfig::default()
        })
        .unwrap();
        let mut acc = Accumulator::new(1);
        input.gather(&mut acc).unwrap();
        assert!(acc.metrics().is_empty());
        assert_eq!(acc.errors().len(), 1, "{:?}", acc.errors());
        assert!(
            acc.errors()[0].contains("tcp://127.0.0.1:1"),
            "{:?}",
            acc.errors()
        );
    }

    #[test]
    fn unknown_command_types_are_refused() {
        let config = RedisConfig {
            commands: vec![RedisCommand {
                command: vec![toml::Value::String("get".into())],
                field: "f".into(),
                kind: "bool".into(),
            }],
            ..RedisConfig::default()
        };
        assert!(
            Redis::new(config)
                .unwrap_err()
                .contains("unknown result type")
        );
    }
}
