//! A small Docker Engine API client: JSON `GET`s over a unix socket or TCP (reqwest),
//! TCP over TLS when the plugin has TLS keys, with a timeout per request and errors that
//! name the endpoint and path.

use std::time::Duration;

use serde_json::Value;

use crate::tls::TlsClientConfig;

/// Where the engine listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// `unix:///var/run/docker.sock`.
    Unix(String),
    /// `tcp://host:port`: HTTPS when the plugin has TLS keys, else plain HTTP.
    Tcp(String),
}

/// The engine's address when neither the plugin nor `DOCKER_HOST` gives one.
pub const DEFAULT_SOCKET: &str = "unix:///var/run/docker.sock";

/// The environment `endpoint = "ENV"` reads, as the Docker client does: `DOCKER_HOST`,
/// `DOCKER_CERT_PATH`, `DOCKER_TLS_VERIFY` (and `HOME` for the default certificate
/// directory). An empty variable counts as unset.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DockerEnv {
    /// `DOCKER_HOST`: the engine's address.
    pub host: Option<String>,
    /// `DOCKER_CERT_PATH`: the directory of `ca.pem`, `cert.pem` and `key.pem`.
    pub cert_path: Option<String>,
    /// `DOCKER_TLS_VERIFY`: any value checks the engine's certificate against `ca.pem`.
    pub tls_verify: Option<String>,
    /// `HOME`, whose `.docker` directory holds the certificates when `DOCKER_TLS_VERIFY`
    /// is set without `DOCKER_CERT_PATH`.
    pub home: Option<String>,
}

impl DockerEnv {
    /// The process's variables.
    pub fn read() -> DockerEnv {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        DockerEnv {
            host: var("DOCKER_HOST"),
            cert_path: var("DOCKER_CERT_PATH"),
            tls_verify: var("DOCKER_TLS_VERIFY"),
            home: var("HOME"),
        }
    }

    /// The endpoint: `DOCKER_HOST`, else the default socket.
    pub fn endpoint(&self) -> &str {
        self.host.as_deref().unwrap_or(DEFAULT_SOCKET)
    }

    /// The certificate directory: `DOCKER_CERT_PATH`, else `$HOME/.docker` when
    /// `DOCKER_TLS_VERIFY` is set (as the `docker` command does), else none (no TLS from
    /// the environment).
    pub fn cert_dir(&self) -> Option<std::path::PathBuf> {
        match (&self.cert_path, &self.tls_verify, &self.home) {
            (Some(dir), _, _) => Some(dir.into()),
            (None, Some(_), Some(home)) => Some(std::path::Path::new(home).join(".docker")),
            (None, Some(_), None) => Some(".docker".into()),
            (None, None, _) => None,
        }
    }

    /// The TLS keys the variables amount to, when they ask for TLS: the client
    /// certificate `cert.pem` and `key.pem` of the certificate directory, and with
    /// `DOCKER_TLS_VERIFY` the engine's certificate checked against its `ca.pem` (without
    /// it, not checked, as the Docker client does).
    pub fn tls(&self) -> Option<TlsClientConfig> {
        let dir = self.cert_dir()?;
        let file = |name: &str| Some(dir.join(name).to_string_lossy().into_owned());
        let verify = self.tls_verify.is_some();
        Some(TlsClientConfig {
            tls_ca: if verify { file("ca.pem") } else { None },
            tls_cert: file("cert.pem"),
            tls_key: file("key.pem"),
            insecure_skip_verify: !verify,
            tls_enable: Some(true),
            ..TlsClientConfig::default()
        })
    }
}

impl Endpoint {
    /// Parses Telegraf's `endpoint` (or `DOCKER_HOST`): `unix://PATH` or
    /// `tcp://HOST:PORT`.
    ///
    /// # Errors
    /// Another scheme.
    pub fn parse(endpoint: &str) -> Result<Endpoint, String> {
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
    fn the_environment_gives_the_endpoint_and_tls_as_the_docker_client_reads_it() {
        let none = DockerEnv::default();
        assert_eq!(none.endpoint(), DEFAULT_SOCKET);
        assert_eq!(none.tls(), None);
        // DOCKER_HOST alone: plain HTTP.
        let host_only = DockerEnv {
            host: Some("tcp://10.0.0.1:2375".into()),
            home: Some("/home/u".into()),
            ..DockerEnv::default()
        };
        assert_eq!(host_only.endpoint(), "tcp://10.0.0.1:2375");
        assert_eq!(host_only.tls(), None);

        let verified = DockerEnv {
            cert_path: Some("/certs".into()),
            tls_verify: Some("1".into()),
            ..host_only.clone()
        };
        let tls = verified.tls().unwrap();
        assert_eq!(tls.tls_ca.as_deref(), Some("/certs/ca.pem"));
        assert_eq!(tls.tls_cert.as_deref(), Some("/certs/cert.pem"));
        assert_eq!(tls.tls_key.as_deref(), Some("/certs/key.pem"));
        assert!(!tls.insecure_skip_verify);

        // DOCKER_CERT_PATH without DOCKER_TLS_VERIFY: the client certificate, and the
        // engine's certificate not checked (ca.pem not read).
        let unverified = DockerEnv {
            tls_verify: None,
            ..verified.clone()
        };
        let tls = unverified.tls().unwrap();
        assert_eq!(tls.tls_ca, None);
        assert_eq!(tls.tls_cert.as_deref(), Some("/certs/cert.pem"));
        assert!(tls.insecure_skip_verify);

        let default_dir = DockerEnv {
            cert_path: None,
            ..verified
        };
        assert_eq!(
            default_dir.tls().unwrap().tls_ca.as_deref(),
            Some("/home/u/.docker/ca.pem")
        );
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
