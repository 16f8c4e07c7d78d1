//! `outputs.health`: an HTTP endpoint answering 200 while the metrics written to this
//! output pass its checks and 503 when they do not, as Telegraf's health output does.
//!
//! Every request (any path, any method) gets the current status: 503 when
//! `max_time_between_metrics` has passed since the last write, `default_status` before
//! the first write, else 200 when every `compares` and `contains` check held on the last
//! batch and 503 when one did not.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde::Deserialize;

use crate::config::ConfigDuration;
use crate::error::{Error, Result};
use crate::metric::{Metric, as_f64};
use crate::plugins::{BoxFuture, BuildContext, Output};
use crate::tls::{ServerTls, TlsServerConfig};

/// `[[outputs.health]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HealthConfig {
    /// `http://host:port`, `tcp://host:port` or `unix:///path`; an empty host listens on
    /// every interface. Default: `"http://:8080"`.
    pub service_address: String,
    /// Accepted for compatibility. Default: `"5s"`.
    pub read_timeout: ConfigDuration,
    /// Accepted for compatibility. Default: `"5s"`.
    pub write_timeout: ConfigDuration,
    /// User name required with HTTP basic authentication. Default: `""` (none).
    pub basic_username: String,
    /// Password required with HTTP basic authentication. Default: `""`.
    pub basic_password: String,
    /// The status before the first write. Default: `200`.
    pub default_status: u16,
    /// Unhealthy when no write came for this long (`0s`: no such check). Default: `"0s"`.
    pub max_time_between_metrics: ConfigDuration,
    /// Comparisons that must hold for every metric carrying the field.
    pub compares: Vec<Compare>,
    /// Fields that must appear on at least one metric of a write.
    pub contains: Vec<Contains>,
    /// Telegraf's server TLS keys (`tls_cert`, `tls_key`, `tls_allowed_cacerts`,
    /// `tls_cipher_suites`, `tls_min_version`, `tls_max_version`), taken out of the
    /// plugin's table by `PluginSpec::parse_with_server_tls`: with `tls_cert` and
    /// `tls_key` the endpoint speaks HTTPS only (also on a unix socket). Default: none
    /// (plain HTTP).
    #[serde(skip)]
    pub tls: TlsServerConfig,
}

impl crate::tls::WithServerTls for HealthConfig {
    fn server_tls_mut(&mut self) -> &mut TlsServerConfig {
        &mut self.tls
    }
}

impl Default for HealthConfig {
    fn default() -> Self {
        HealthConfig {
            service_address: "http://:8080".to_owned(),
            read_timeout: ConfigDuration::secs(5),
            write_timeout: ConfigDuration::secs(5),
            basic_username: String::new(),
            basic_password: String::new(),
            default_status: 200,
            max_time_between_metrics: ConfigDuration::default(),
            compares: Vec::new(),
            contains: Vec::new(),
            tls: TlsServerConfig::default(),
        }
    }
}

/// `[[outputs.health.compares]]`: every metric with `field` must satisfy each bound set.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Compare {
    /// The field compared.
    pub field: String,
    /// Greater than.
    pub gt: Option<f64>,
    /// Greater than or equal to.
    pub ge: Option<f64>,
    /// Less than.
    pub lt: Option<f64>,
    /// Less than or equal to.
    pub le: Option<f64>,
    /// Equal to.
    pub eq: Option<f64>,
    /// Not equal to.
    pub ne: Option<f64>,
}

impl Compare {
    fn holds(&self, v: f64) -> bool {
        self.gt.is_none_or(|b| v > b)
            && self.ge.is_none_or(|b| v >= b)
            && self.lt.is_none_or(|b| v < b)
            && self.le.is_none_or(|b| v <= b)
            && self.eq.is_none_or(|b| v == b)
            && self.ne.is_none_or(|b| v != b)
    }

    /// Holds when every metric with the field has a number that meets every bound (a
    /// string value fails).
    pub fn check(&self, metrics: &[Metric]) -> bool {
        metrics
            .iter()
            .filter_map(|m| m.field(&self.field))
            .all(|v| as_f64(v).is_some_and(|f| self.holds(f)))
    }
}

/// `[[outputs.health.contains]]`: some metric of the write must have `field`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Contains {
    /// The field looked for.
    pub field: String,
}

impl Contains {
    /// Holds when a metric has the field.
    pub fn check(&self, metrics: &[Metric]) -> bool {
        metrics.iter().any(|m| m.field(&self.field).is_some())
    }
}

/// What the endpoint answers from.
#[derive(Debug)]
struct Status {
    healthy: bool,
    metrics_available: bool,
    last_write: Instant,
}

#[derive(Debug)]
struct Shared {
    status: Mutex<Status>,
    default_status: StatusCode,
    max_time_between_metrics: Duration,
    /// `Basic base64(user:password)` when authentication is required.
    authorization: Option<String>,
}

/// Where to listen.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Listen {
    Tcp(String),
    Unix(String),
}

fn parse_address(address: &str) -> std::result::Result<Listen, String> {
    let (scheme, rest) = address.split_once("://").ok_or_else(|| {
        format!("`service_address`: {address:?} has no scheme (use http://host:port)")
    })?;
    match scheme {
        "http" | "https" | "tcp" | "tcp4" | "tcp6" => {
            let host_port = rest.split('/').next().unwrap_or("");
            let host_port = if host_port.starts_with(':') {
                format!("0.0.0.0{host_port}")
            } else {
                host_port.to_owned()
            };
            if !host_port.contains(':') {
                return Err(format!("`service_address`: {address:?} has no port"));
            }
            Ok(Listen::Tcp(host_port))
        }
        "unix" => Ok(Listen::Unix(rest.to_owned())),
        _ => Err(format!(
            "`service_address`: {address:?} contains invalid scheme {scheme:?}"
        )),
    }
}

/// The `health` output.
#[derive(Debug)]
pub struct Health {
    name: String,
    listen: Listen,
    shared: Arc<Shared>,
    compares: Vec<Compare>,
    contains: Vec<Contains>,
    /// The handshakes' configuration when the endpoint speaks HTTPS.
    tls: Option<ServerTls>,
    task: Option<tokio::task::JoinHandle<()>>,
    local_addr: Option<std::net::SocketAddr>,
}

impl Health {
    /// Builds the output (it listens from [`Output::connect`] on).
    ///
    /// # Errors
    /// A message about an invalid address or status, or naming the TLS key at fault.
    pub fn new(
        config: HealthConfig,
        name: String,
        ctx: &BuildContext,
    ) -> std::result::Result<Health, String> {
        let _ = ctx;
        let listen = parse_address(&config.service_address)?;
        let tls = config.tls.acceptor()?;
        let default_status = if config.default_status == 0 {
            StatusCode::OK
        } else {
            StatusCode::from_u16(config.default_status)
                .ok()
                .filter(|s| s.canonical_reason().is_some())
                .ok_or_else(|| {
                    format!(
                        "`default_status`: invalid default HTTP status code {}",
                        config.default_status
                    )
                })?
        };
        let authorization = if config.basic_username.is_empty() && config.basic_password.is_empty()
        {
            None
        } else {
            Some(format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!(
                    "{}:{}",
                    config.basic_username, config.basic_password
                ))
            ))
        };
        Ok(Health {
            name,
            listen,
            shared: Arc::new(Shared {
                status: Mutex::new(Status {
                    healthy: true,
                    metrics_available: false,
                    last_write: Instant::now(),
                }),
                default_status,
                max_time_between_metrics: config.max_time_between_metrics.0,
                authorization,
            }),
            compares: config.compares,
            contains: config.contains,
            tls,
            task: None,
            local_addr: None,
        })
    }

    /// The TCP address listened on, once connected.
    pub fn local_addr(&self) -> Option<std::net::SocketAddr> {
        self.local_addr
    }

    fn fail(&self, message: String) -> Error {
        Error::Write {
            plugin: self.name.clone(),
            message,
        }
    }

    fn start(&mut self) -> Result<()> {
        if self.task.is_some() {
            return Ok(());
        }
        let app = axum::Router::new()
            .fallback(answer)
            .with_state(self.shared.clone());
        let tls = self.tls.clone();
        let task = match &self.listen {
            Listen::Tcp(address) => {
                let listener = std::net::TcpListener::bind(address)
                    .and_then(|l| l.set_nonblocking(true).map(|()| l))
                    .map_err(|e| self.fail(format!("cannot listen on {address}: {e}")))?;
                self.local_addr = listener.local_addr().ok();
                let listener = tokio::net::TcpListener::from_std(listener)
                    .map_err(|e| self.fail(e.to_string()))?;
                tracing::info!(output = %self.name, address = ?self.local_addr, https = tls.is_some(), "health endpoint listening");
                tokio::spawn(async move {
                    if let Err(err) = crate::tls::serve(listener, app, tls, "health").await {
                        tracing::error!("health endpoint stopped: {err}");
                    }
                })
            }
            Listen::Unix(path) => {
                let _ = std::fs::remove_file(path);
                let listener = tokio::net::UnixListener::bind(path)
                    .map_err(|e| self.fail(format!("cannot listen on {path}: {e}")))?;
                tracing::info!(output = %self.name, path = %path, https = tls.is_some(), "health endpoint listening");
                tokio::spawn(async move {
                    if let Err(err) = crate::tls::serve(listener, app, tls, "health").await {
                        tracing::error!("health endpoint stopped: {err}");
                    }
                })
            }
        };
        self.task = Some(task);
        Ok(())
    }

    fn record(&self, metrics: &[Metric]) {
        let healthy = self.compares.iter().all(|c| c.check(metrics))
            && self.contains.iter().all(|c| c.check(metrics));
        let mut status = self.shared.status.lock().unwrap_or_else(|e| e.into_inner());
        status.healthy = healthy;
        status.metrics_available = true;
        status.last_write = Instant::now();
    }
}

impl Drop for Health {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
        if let Listen::Unix(path) = &self.listen {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// The answer to every request.
async fn answer(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    if let Some(expected) = &shared.authorization {
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        if given != Some(expected.as_str()) {
            return (
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, "Basic realm=\"health\"")],
                "Unauthorized\n",
            )
                .into_response();
        }
    }
    let code = {
        let status = shared.status.lock().unwrap_or_else(|e| e.into_inner());
        if !shared.max_time_between_metrics.is_zero()
            && status.last_write.elapsed() >= shared.max_time_between_metrics
        {
            StatusCode::SERVICE_UNAVAILABLE
        } else if !status.metrics_available {
            shared.default_status
        } else if status.healthy {
            StatusCode::OK
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        }
    };
    (
        code,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("{}\n", code.canonical_reason().unwrap_or("")),
    )
        .into_response()
}

impl Output for Health {
    fn connect(&mut self) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            // The start time counts as the last write, so that an agent that never
            // writes becomes unhealthy after max_time_between_metrics.
            self.shared
                .status
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .last_write = Instant::now();
            self.start()
        })
    }

    fn write<'a>(&'a mut self, metrics: &'a [Metric]) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            self.start()?;
            self.record(metrics);
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests;
