//! A small Docker Engine API client: JSON `GET`s over a unix socket or TCP (reqwest),
//! TCP over TLS when the plugin has TLS keys, with a timeout per request and errors that
//! name the endpoint and path.

use std::time::Duration;

use serde_json::Value;

/// Where the engine listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// `unix:///var/run/docker.sock`.
    Unix(String),
    /// `tcp://host:port`: HTTPS when the plugin has TLS keys, else plain HTTP.
    Tcp(String),
}

impl Endpoint {
    /// Parses Telegraf's `endpoint`: `unix://PATH`, `tcp://HOST:PORT`, or `ENV` (the
    /// `DOCKER_HOST` variable, else the default socket).
    ///
    /// # Errors
    /// Another scheme.
    pub fn parse(endpoint: &str) -> Result<Endpoint, String> {
        let endpoint = if endpoint == "ENV" {
            std::env::var("DOCKER_HOST")
                .unwrap_or_else(|_| "unix:///var/run/docker.sock".to_owned())
        } else {
            endpoint.to_owned()
        };
        if let Some(path) = endpoint.strip_prefix("unix://") {
            if path.is_empty() {
                return Err(format!("endpoint {endpoint:?} has no socket path"));
            }
            return Ok(Endpoint::Unix(path.to_owned()));
        }
        if let Some(addr) = endpoint
            .strip_prefix("tcp://")
            .or_else(|| endpoint.strip_prefix("http://"))
        {
            let addr = addr.trim_end_matches('/');
            if addr.is_empty() {
                return Err(format!("endpoint {endpoint:?} has no address"));
            }
            return Ok(Endpoint::Tcp(addr.to_owned()));
        }
        Err(format!(
            "endpoint {endpoint:?}: use unix:///path/to/docker.sock or tcp://host:port (over TLS when TLS keys are set)"
        ))
    }
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Endpoint::Unix(path) => write!(f, "unix://{path}"),
            Endpoint::Tcp(addr) => write!(f, "tcp://{addr}"),
        }
    }
}

/// A client for one gather (its connections live in the gather's runtime).
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    /// The endpoint as errors name it: `unix://PATH`, `tcp://ADDR`, or `tcp://ADDR (TLS)`.
    label: String,
}

impl Client {
    /// A client for `endpoint` whose requests time out after `timeout`.
    ///
    /// A `tcp://` endpoint is spoken to over HTTPS with `tls` when it is given, else over
    /// plain HTTP; a `unix://` endpoint always speaks plain HTTP and leaves `tls` unused.
    ///
    /// # Errors
    /// When the HTTP client cannot be built.
    pub fn new(
        endpoint: &Endpoint,
        timeout: Duration,
        tls: Option<&rustls::ClientConfig>,
    ) -> Result<Client, String> {
        sluice_client::tls::install_default_provider();
        let mut builder = reqwest::Client::builder()
            .timeout(timeout)
            .user_agent("sluice-agent");
        let (base, label) = match (endpoint, tls) {
            (Endpoint::Unix(path), _) => {
                builder = builder.unix_socket(path.as_str());
                ("http://localhost".to_owned(), endpoint.to_string())
            }
            (Endpoint::Tcp(addr), Some(tls)) => {
                builder = builder.tls_backend_preconfigured(tls.clone());
                (format!("https://{addr}"), format!("{endpoint} (TLS)"))
            }
            (Endpoint::Tcp(addr), None) => (format!("http://{addr}"), endpoint.to_string()),
        };
        Ok(Client {
            http: builder.build().map_err(|e| e.to_string())?,
            base,
            label,
        })
    }

    /// `GET path` as JSON.
    ///
    /// # Errors
    /// A connection failure, a timeout, a non-2xx status (with the engine's message), or
    /// a body that is not JSON.
    pub async fn get(&self, path: &str) -> Result<Value, String> {
        let url = format!("{}{path}", self.base);
        let response = self.http.get(&url).send().await.map_err(|e| {
            let what = if e.is_timeout() {
                "timed out".to_owned()
            } else {
                let mut text = e.to_string();
                let mut source = std::error::Error::source(&e);
                while let Some(inner) = source {
                    text = format!("{text}: {inner}");
                    source = inner.source();
                }
                text
            };
            format!("GET {path} on {}: {what}", self.label)
        })?;
        let status = response.status();
        let body = response
            .bytes()
            .await
            .map_err(|e| format!("GET {path} on {}: {e}", self.label))?;
        if !status.is_success() {
            let message = serde_json::from_slice::<Value>(&body)
                .ok()
                .and_then(|v| v.get("message").and_then(Value::as_str).map(str::to_owned))
                .unwrap_or_else(|| String::from_utf8_lossy(&body).trim().to_owned());
            return Err(format!("GET {path} on {}: {status}: {message}", self.label));
        }
        serde_json::from_slice(&body)
            .map_err(|e| format!("GET {path} on {}: invalid JSON: {e}", self.label))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_parse_as_telegraf_writes_them() {
        assert_eq!(
            Endpoint::parse("unix:///var/run/docker.sock"),
            Ok(Endpoint::Unix("/var/run/docker.sock".into()))
        );
        assert_eq!(
            Endpoint::parse("tcp://127.0.0.1:2375"),
            Ok(Endpoint::Tcp("127.0.0.1:2375".into()))
        );
        assert!(Endpoint::parse("npipe:////./pipe/docker_engine").is_err());
        assert!(Endpoint::parse("unix://").is_err());
    }

    #[test]
    fn tls_keys_make_tcp_speak_https_and_leave_unix_sockets_alone() {
        let tls = crate::tls::TlsClientConfig {
            insecure_skip_verify: true,
            ..crate::tls::TlsClientConfig::default()
        }
        .rustls_config()
        .unwrap();
        let tcp = Endpoint::Tcp("127.0.0.1:2376".into());
        let unix = Endpoint::Unix("/run/docker.sock".into());
        let timeout = Duration::from_secs(1);
        let base = |endpoint, tls| Client::new(endpoint, timeout, tls).unwrap().base;
        assert_eq!(base(&tcp, Some(&tls)), "https://127.0.0.1:2376");
        assert_eq!(base(&tcp, None), "http://127.0.0.1:2376");
        assert_eq!(base(&unix, Some(&tls)), "http://localhost");
        assert_eq!(
            Client::new(&tcp, timeout, Some(&tls)).unwrap().label,
            "tcp://127.0.0.1:2376 (TLS)"
        );
    }
}
