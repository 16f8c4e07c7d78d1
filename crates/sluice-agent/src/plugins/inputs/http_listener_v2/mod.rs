//! `inputs.http_listener_v2`: an HTTP server that accepts metrics in the configured data
//! format (`influx`, `json`, `value`) on configured paths and methods. An empty payload is
//! a success without metrics, so `methods = ["GET"]` on `/health` answers health checks
//! as Telegraf's listener does.

use std::sync::Arc;

use std::io::Read as _;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use serde::Deserialize;

use crate::error::{Error, Result};
use crate::metric::now_nanos;
use crate::parsers::DataParser;
use crate::plugins::{Accumulator, Input, MetricSink};
use crate::tls::{ServerTls, TlsServerConfig};

/// `[[inputs.http_listener_v2]]` (the data-format keys are in
/// [`crate::parsers::ParserConfig`]).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpListenerConfig {
    /// Address to listen on (`"tcp://"` prefix allowed); `":8080"` means every interface.
    /// Default: `":8080"`.
    pub service_address: String,
    /// Paths to accept metrics on. Default: `["/telegraf"]`.
    pub paths: Vec<String>,
    /// Deprecated single path; replaces `paths` when set. Default: `""`.
    pub path: String,
    /// Accepted HTTP methods. Default: `["POST", "PUT"]`.
    pub methods: Vec<String>,
    /// Tag metrics with the request path as `http_listener_v2_path`. Default: false.
    pub path_tag: bool,
    /// The status of a successful request. Default: 204.
    pub http_success_code: u16,
    /// The part of the request parsed: `"body"` or `"query"` (the URL-decoded query
    /// string). Default: `"body"`.
    pub data_source: String,
    /// Request headers copied into tags: header name → tag name. Default: `{}`.
    pub http_header_tags: std::collections::BTreeMap<String, String>,
    /// Telegraf's server TLS keys (`tls_cert`, `tls_key`, `tls_allowed_cacerts`,
    /// `tls_cipher_suites`, `tls_min_version`, `tls_max_version`), taken out of the
    /// plugin's table by `PluginSpec::parse_with_server_tls`: with `tls_cert` and
    /// `tls_key` the listener speaks HTTPS only. Default: none (plain HTTP).
    #[serde(skip)]
    pub tls: TlsServerConfig,
}

impl crate::tls::WithServerTls for HttpListenerConfig {
    fn server_tls_mut(&mut self) -> &mut TlsServerConfig {
        &mut self.tls
    }
}

impl Default for HttpListenerConfig {
    fn default() -> Self {
        HttpListenerConfig {
            service_address: ":8080".to_owned(),
            paths: vec!["/telegraf".to_owned()],
            path: String::new(),
            methods: vec!["POST".to_owned(), "PUT".to_owned()],
            path_tag: false,
            http_success_code: 204,
            data_source: "body".to_owned(),
            http_header_tags: Default::default(),
            tls: TlsServerConfig::default(),
        }
    }
}

struct Shared {
    config: HttpListenerConfig,
    parser: DataParser,
    paths: Vec<String>,
    success: StatusCode,
    sink: MetricSink,
}

/// The payload of a request: the body (gunzipped when `Content-Encoding: gzip`) or the
/// URL-decoded query string.
fn payload(
    shared: &Shared,
    uri: &Uri,
    headers: &HeaderMap,
    body: &Bytes,
) -> std::result::Result<Vec<u8>, String> {
    if shared.config.data_source.eq_ignore_ascii_case("query") {
        let query = uri.query().unwrap_or("");
        let decoded: Vec<u8> = percent_decode(query)?;
        return Ok(decoded);
    }
    let gzip = headers
        .get(axum::http::header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("gzip"));
    if gzip {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&body[..])
            .read_to_end(&mut out)
            .map_err(|e| format!("invalid gzip body: {e}"))?;
        return Ok(out);
    }
    Ok(body.to_vec())
}

/// A query string with `%XX` escapes decoded and `+` read as a space, as Go's
/// `url.QueryUnescape` does.
fn percent_decode(text: &str) -> std::result::Result<Vec<u8>, String> {
    let b = text.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let hex = text
                    .get(i + 1..i + 3)
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or_else(|| format!("invalid escape in query at byte {i}"))?;
                out.push(hex);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    Ok(out)
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, String) {
    if !shared.paths.iter().any(|p| p == uri.path()) {
        return (StatusCode::NOT_FOUND, "not found\n".to_owned());
    }
    if !shared
        .config
        .methods
        .iter()
        .any(|m| m.eq_ignore_ascii_case(method.as_str()))
    {
        return (
            StatusCode::METHOD_NOT_ALLOWED,
            "method not allowed\n".to_owned(),
        );
    }
    let parsed = payload(&shared, &uri, &headers, &body).and_then(|bytes| {
        shared
            .parser
            .parse(&bytes, now_nanos())
            .map_err(|e| e.to_string())
    });
    match parsed {
        Ok(mut metrics) => {
            for metric in &mut metrics {
                for (header, tag) in &shared.config.http_header_tags {
                    if let Some(value) = headers.get(header).and_then(|v| v.to_str().ok())
                        && !value.is_empty()
                    {
                        metric.tags.insert(tag.clone(), value.to_owned());
                    }
                }
                if shared.config.path_tag {
                    metric
                        .tags
                        .insert("http_listener_v2_path".to_owned(), uri.path().to_owned());
                }
            }
            if !metrics.is_empty() {
                (shared.sink)(metrics);
            }
            (shared.success, String::new())
        }
        Err(message) => {
            tracing::debug!(input = "http_listener_v2", "bad request: {message}");
            (StatusCode::BAD_REQUEST, format!("{message}\n"))
        }
    }
}

/// The `http_listener_v2` input (a service input: metrics arrive between gathers).
#[derive(Debug)]
pub struct HttpListener {
    config: HttpListenerConfig,
    parser: DataParser,
    /// The handshakes' configuration when the listener speaks HTTPS.
    tls: Option<ServerTls>,
    task: Option<tokio::task::JoinHandle<()>>,
    /// The bound address, once started.
    pub local_addr: Option<std::net::SocketAddr>,
}

impl HttpListener {
    /// An HTTP listener parsing requests with `parser`.
    ///
    /// # Errors
    /// A message about an invalid `http_success_code` or `data_source`, or naming the TLS
    /// key at fault (a file that cannot be read, a version or cipher suite rustls cannot
    /// do).
    pub fn new(
        config: HttpListenerConfig,
        parser: DataParser,
    ) -> std::result::Result<HttpListener, String> {
        if !StatusCode::from_u16(config.http_success_code).is_ok_and(|s| s.is_success()) {
            return Err(format!(
                "`http_success_code` {} is not a 2xx status",
                config.http_success_code
            ));
        }
        if !matches!(
            config.data_source.to_ascii_lowercase().as_str(),
            "body" | "query"
        ) {
            return Err(format!(
                "`data_source` must be \"body\" or \"query\", not {:?}",
                config.data_source
            ));
        }
        let tls = config.tls.acceptor()?;
        Ok(HttpListener {
            config,
            parser,
            tls,
            task: None,
            local_addr: None,
        })
    }
}

impl Input for HttpListener {
    fn gather(&mut self, _acc: &mut Accumulator) -> Result<()> {
        Ok(())
    }

    fn start(&mut self, sink: MetricSink) -> Result<()> {
        let configured = self.config.service_address.as_str();
        let configured = configured.strip_prefix("tcp://").unwrap_or(configured);
        let address = if configured.starts_with(':') {
            format!("0.0.0.0{configured}")
        } else {
            configured.to_owned()
        };
        let fail = |message: String| Error::Gather {
            plugin: "http_listener_v2".to_owned(),
            message,
        };
        let std_listener = std::net::TcpListener::bind(&address)
            .map_err(|e| fail(format!("cannot listen on {address}: {e}")))?;
        std_listener
            .set_nonblocking(true)
            .map_err(|e| fail(e.to_string()))?;
        self.local_addr = std_listener.local_addr().ok();
        let listener =
            tokio::net::TcpListener::from_std(std_listener).map_err(|e| fail(e.to_string()))?;
        let paths = if self.config.path.is_empty() {
            self.config.paths.clone()
        } else {
            vec![self.config.path.clone()]
        };
        let shared = Arc::new(Shared {
            config: self.config.clone(),
            parser: self.parser.clone(),
            paths,
            success: StatusCode::from_u16(self.config.http_success_code)
                .unwrap_or(StatusCode::NO_CONTENT),
            sink,
        });
        let app = axum::Router::new()
            .fallback(handle)
            .layer(axum::extract::DefaultBodyLimit::max(32 << 20))
            .with_state(shared);
        let tls = self.tls.clone();
        tracing::info!(address = %address, https = tls.is_some(), "http_listener_v2 listening");
        self.task = Some(tokio::spawn(async move {
            if let Err(err) = crate::tls::serve(listener, app, tls, "http_listener_v2").await {
                tracing::error!("http_listener_v2 stopped: {err}");
            }
        }));
        Ok(())
    }

    fn stop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }

    fn is_service(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::metric::Metric;
    use crate::parsers::ParserConfig;

    fn json_parser() -> DataParser {
        DataParser::new(
            &ParserConfig {
                data_format: "json".into(),
                ..ParserConfig::default()
            },
            "http_listener_v2",
        )
        .unwrap()
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn the_listener_accepts_line_protocol_and_json_over_real_http() {
        let received = Arc::new(Mutex::new(Vec::new()));
        let sink_store = received.clone();
        let sink: MetricSink = Arc::new(move |m: Vec<Metric>| sink_store.lock().unwrap().extend(m));
        let mut listener = HttpListener::new(
            HttpListenerConfig {
                service_address: "tcp://127.0.0.1:0".into(),
                paths: vec!["/lp".into()],
                ..HttpListenerConfig::default()
            },
            DataParser::Influx,
        )
        .unwrap();
        listener.start(sink.clone()).unwrap();
        let mut json = HttpListener::new(
            HttpListenerConfig {
                service_address: "127.0.0.1:0".into(),
                path_tag: true,
                http_header_tags: [("X-Site".to_owned(), "site".to_owned())].into(),
                ..HttpListenerConfig::default()
            },
            json_parser(),
        )
        .unwrap();
        json.start(sink).unwrap();
        let lp_url = format!("http://{}/lp", listener.local_addr.unwrap());
        let json_url = format!("http://{}/telegraf", json.local_addr.unwrap());
        let statuses = tokio::task::spawn_blocking(move || {
            let agent: ureq::Agent = ureq::Agent::config_builder()
                .http_status_as_error(false)
                .build()
                .into();
            let post =
                |url: &str, body: &str| agent.post(url).send(body).unwrap().status().as_u16();
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            std::io::Write::write_all(&mut gz, br#"{"zipped": 1}"#).unwrap();
            let gz = gz.finish().unwrap();
            vec![
                post(&lp_url, "cpu,host=a usage=1.5 10\nmem used=3i 20\n"),
                post(&lp_url, "broken"),
                post(&format!("{lp_url}x"), "m f=1"),
                agent.get(&lp_url).call().unwrap().status().as_u16(),
                agent
                    .post(&json_url)
                    .header("X-Site", "lab")
                    .send(r#"{"value": 7}"#)
                    .unwrap()
                    .status()
                    .as_u16(),
                post(&json_url, r#"{"value": "#),
                agent
                    .post(&json_url)
                    .header("Content-Encoding", "gzip")
                    .send(&gz[..])
                    .unwrap()
                    .status()
                    .as_u16(),
            ]
        })
        .await
        .unwrap();
        assert_eq!(statuses, vec![204, 400, 404, 405, 204, 400, 204]);
        let got = received.lock().unwrap().clone();
        let names: Vec<&str> = got.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(
            names,
            vec!["cpu", "mem", "http_listener_v2", "http_listener_v2"]
        );
        assert_eq!(got[0].time, 10);
        assert_eq!(got[2].tags["site"], "lab");
        assert_eq!(got[2].tags["http_listener_v2_path"], "/telegraf");
        assert_eq!(got[3].fields, vec![("zipped".into(), 1.0.into())]);
        listener.stop();
        json.stop();
    }

    /// The course's health check: `path = "/health"`, `methods = ["GET"]`,
    /// `data_format = "json"`. Telegraf answers a GET without a body with its success
    /// code and records nothing; other methods get 405, other paths 404.
    #[tokio::test(flavor = "multi_thread")]
    async fn the_health_check_example_answers_get_with_204_and_records_nothing() {
        let received = Arc::new(Mutex::new(Vec::new()));
        let sink_store = received.clone();
        let sink: MetricSink = Arc::new(move |m: Vec<Metric>| sink_store.lock().unwrap().extend(m));
        let mut health = HttpListener::new(
            HttpListenerConfig {
                service_address: "127.0.0.1:0".into(),
                path: "/health".into(),
                methods: vec!["GET".into()],
                ..HttpListenerConfig::default()
            },
            json_parser(),
        )
        .unwrap();
        health.start(sink).unwrap();
        let url = format!("http://{}/health", health.local_addr.unwrap());
        let statuses = tokio::task::spawn_blocking(move || {
            let agent: ureq::Agent = ureq::Agent::config_builder()
                .http_status_as_error(false)
                .build()
                .into();
            vec![
                agent.get(&url).call().unwrap().status().as_u16(),
                agent.post(&url).send("{}").unwrap().status().as_u16(),
                agent
                    .get(url.replace("/health", "/telegraf"))
                    .call()
                    .unwrap()
                    .status()
                    .as_u16(),
            ]
        })
        .await
        .unwrap();
        assert_eq!(statuses, vec![204, 405, 404]);
        assert!(received.lock().unwrap().is_empty());
        health.stop();
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn the_query_data_source_parses_the_query_string() {
        let received = Arc::new(Mutex::new(Vec::new()));
        let sink_store = received.clone();
        let sink: MetricSink = Arc::new(move |m: Vec<Metric>| sink_store.lock().unwrap().extend(m));
        let mut listener = HttpListener::new(
            HttpListenerConfig {
                service_address: "127.0.0.1:0".into(),
                methods: vec!["GET".into()],
                data_source: "query".into(),
                http_success_code: 200,
                ..HttpListenerConfig::default()
            },
            json_parser(),
        )
        .unwrap();
        listener.start(sink).unwrap();
        let url = format!(
            "http://{}/telegraf?%7B%22a%22%3A%202%7D",
            listener.local_addr.unwrap()
        );
        let status =
            tokio::task::spawn_blocking(move || ureq::get(&url).call().unwrap().status().as_u16())
                .await
                .unwrap();
        assert_eq!(status, 200);
        assert_eq!(
            received.lock().unwrap()[0].fields,
            vec![("a".into(), 2.0.into())]
        );
        listener.stop();
        assert!(
            HttpListener::new(
                HttpListenerConfig {
                    http_success_code: 404,
                    ..HttpListenerConfig::default()
                },
                DataParser::Influx
            )
            .is_err()
        );
    }
}
