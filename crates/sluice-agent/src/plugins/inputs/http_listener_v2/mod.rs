//! `inputs.http_listener_v2`: an HTTP server that accepts metrics as line protocol or
//! JSON on configured paths and methods.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{Method, StatusCode, Uri};
use serde::Deserialize;
use serde_json::Value;

use crate::error::{Error, Result};
use crate::metric::{Metric, now_nanos, parse_line_protocol};
use crate::plugins::{Accumulator, Input, MetricSink};

/// `[[inputs.http_listener_v2]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpListenerConfig {
    /// Address to listen on; `":8080"` means every interface. Default: `":8080"`.
    pub service_address: String,
    /// Paths to accept metrics on. Default: `["/telegraf"]`.
    pub paths: Vec<String>,
    /// Deprecated single path; replaces `paths` when set. Default: `""`.
    pub path: String,
    /// Accepted HTTP methods. Default: `["POST", "PUT"]`.
    pub methods: Vec<String>,
    /// `"influx"` (line protocol) or `"json"`. Default: `"influx"`.
    pub data_format: String,
    /// JSON: the key whose value names the measurement (else the plugin name). Default: `""`.
    pub json_name_key: String,
    /// JSON: keys whose values become tags. Default: `[]`.
    pub tag_keys: Vec<String>,
    /// JSON: string keys kept as string fields (other strings are dropped). Default: `[]`.
    pub json_string_fields: Vec<String>,
    /// JSON: the key holding the timestamp (else the arrival time). Default: `""`.
    pub json_time_key: String,
    /// JSON: `unix`, `unix_ms`, `unix_us` or `unix_ns`. Default: `"unix"`.
    pub json_time_format: String,
}

impl Default for HttpListenerConfig {
    fn default() -> Self {
        HttpListenerConfig {
            service_address: ":8080".to_owned(),
            paths: vec!["/telegraf".to_owned()],
            path: String::new(),
            methods: vec!["POST".to_owned(), "PUT".to_owned()],
            data_format: "influx".to_owned(),
            json_name_key: String::new(),
            tag_keys: Vec::new(),
            json_string_fields: Vec::new(),
            json_time_key: String::new(),
            json_time_format: "unix".to_owned(),
        }
    }
}

fn flatten(prefix: &str, value: &Value, out: &mut Vec<(String, Value)>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}_{k}")
                };
                flatten(&key, v, out);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                flatten(&format!("{prefix}_{i}"), v, out);
            }
        }
        other => out.push((prefix.to_owned(), other.clone())),
    }
}

/// Parses a JSON object or array of objects as Telegraf's `json` format does: nested
/// keys joined with `_`, numbers as float fields, booleans as boolean fields, strings
/// only as tags (`tag_keys`) or string fields (`json_string_fields`).
///
/// # Errors
/// Invalid JSON, a value that is not an object, or a bad timestamp.
pub fn parse_json(
    config: &HttpListenerConfig,
    body: &[u8],
    default_name: &str,
    now: i64,
) -> std::result::Result<Vec<Metric>, String> {
    let value: Value = serde_json::from_slice(body).map_err(|e| format!("invalid json: {e}"))?;
    let objects = match value {
        Value::Array(items) => items,
        object @ Value::Object(_) => vec![object],
        _ => return Err("json must be an object or an array of objects".to_owned()),
    };
    let mut out = Vec::new();
    for object in objects {
        if !object.is_object() {
            return Err("json array items must be objects".to_owned());
        }
        let mut flat = Vec::new();
        flatten("", &object, &mut flat);
        let mut metric = Metric::new(default_name, now);
        for (key, value) in flat {
            if key == config.json_name_key && !key.is_empty() {
                if let Some(name) = value.as_str() {
                    metric.name = name.to_owned();
                }
                continue;
            }
            if key == config.json_time_key && !key.is_empty() {
                let number = value
                    .as_f64()
                    .or_else(|| value.as_str().and_then(|s| s.parse().ok()))
                    .ok_or(format!("time key {key:?} is not a number"))?;
                let scale = match config.json_time_format.as_str() {
                    "unix" | "" => 1_000_000_000,
                    "unix_ms" => 1_000_000,
                    "unix_us" => 1_000,
                    "unix_ns" => 1,
                    other => return Err(format!("unsupported json_time_format {other:?}")),
                };
                metric.time = match value.as_i64() {
                    Some(whole) => whole.saturating_mul(scale),
                    None => (number * scale as f64) as i64,
                };
                continue;
            }
            if config.tag_keys.contains(&key) {
                let text = match &value {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                metric.tags.insert(key, text);
                continue;
            }
            match value {
                Value::Number(n) => metric.set_field(key, n.as_f64().unwrap_or(0.0)),
                Value::Bool(b) => metric.set_field(key, b),
                Value::String(s) if config.json_string_fields.contains(&key) => {
                    metric.set_field(key, s)
                }
                _ => {}
            }
        }
        if !metric.fields.is_empty() {
            out.push(metric);
        }
    }
    Ok(out)
}

struct Shared {
    config: HttpListenerConfig,
    paths: Vec<String>,
    sink: MetricSink,
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
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
    let now = now_nanos();
    let parsed = if shared.config.data_format == "json" {
        parse_json(&shared.config, &body, "http_listener_v2", now)
    } else {
        parse_line_protocol(&body, now)
    };
    match parsed {
        Ok(metrics) => {
            (shared.sink)(metrics);
            (StatusCode::NO_CONTENT, String::new())
        }
        Err(message) => (StatusCode::BAD_REQUEST, format!("{message}\n")),
    }
}

/// The `http_listener_v2` input (a service input: metrics arrive between gathers).
#[derive(Debug)]
pub struct HttpListener {
    config: HttpListenerConfig,
    task: Option<tokio::task::JoinHandle<()>>,
    /// The bound address, once started.
    pub local_addr: Option<std::net::SocketAddr>,
}

impl HttpListener {
    /// An HTTP listener.
    ///
    /// # Errors
    /// A message about an unsupported data format.
    pub fn new(config: HttpListenerConfig) -> std::result::Result<HttpListener, String> {
        if !matches!(config.data_format.as_str(), "influx" | "json") {
            return Err(format!(
                "`data_format` must be \"influx\" or \"json\", not {:?}",
                config.data_format
            ));
        }
        Ok(HttpListener {
            config,
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
        let address = if self.config.service_address.starts_with(':') {
            format!("0.0.0.0{}", self.config.service_address)
        } else {
            self.config.service_address.clone()
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
            paths,
            sink,
        });
        let app = axum::Router::new()
            .fallback(handle)
            .layer(axum::extract::DefaultBodyLimit::max(32 << 20))
            .with_state(shared);
        tracing::info!(address = %address, "http_listener_v2 listening");
        self.task = Some(tokio::spawn(async move {
            if let Err(err) = axum::serve(listener, app).await {
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
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::metric::FieldValue;

    #[test]
    fn json_is_flattened_as_telegraf_does() {
        let config = HttpListenerConfig {
            json_name_key: "name".into(),
            tag_keys: vec!["host".into()],
            json_string_fields: vec!["status".into()],
            json_time_key: "ts".into(),
            json_time_format: "unix_ms".into(),
            ..HttpListenerConfig::default()
        };
        let body = br#"[{"name":"app","host":"a","ts":1700000000123,"load":{"1m":0.5},"ok":true,"status":"up","ignored":"x","list":[1,2]}]"#;
        let m = &parse_json(&config, body, "http_listener_v2", 0).unwrap()[0];
        assert_eq!(m.name, "app");
        assert_eq!(m.tags["host"], "a");
        assert_eq!(m.time, 1_700_000_000_123_000_000);
        assert_eq!(m.field("load_1m"), Some(&FieldValue::Float(0.5)));
        assert_eq!(m.field("ok"), Some(&FieldValue::Boolean(true)));
        assert_eq!(m.field("status"), Some(&FieldValue::String("up".into())));
        assert_eq!(m.field("list_1"), Some(&FieldValue::Float(2.0)));
        assert!(m.field("ignored").is_none());
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn the_listener_accepts_line_protocol_and_json_over_real_http() {
        let received = Arc::new(Mutex::new(Vec::new()));
        let sink_store = received.clone();
        let sink: MetricSink = Arc::new(move |m: Vec<Metric>| sink_store.lock().unwrap().extend(m));
        let mut listener = HttpListener::new(HttpListenerConfig {
            service_address: "127.0.0.1:0".into(),
            paths: vec!["/lp".into()],
            ..HttpListenerConfig::default()
        })
        .unwrap();
        listener.start(sink.clone()).unwrap();
        let mut json = HttpListener::new(HttpListenerConfig {
            service_address: "127.0.0.1:0".into(),
            data_format: "json".into(),
            ..HttpListenerConfig::default()
        })
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
            vec![
                post(&lp_url, "cpu,host=a usage=1.5 10\nmem used=3i 20\n"),
                post(&lp_url, "broken"),
                post(&format!("{lp_url}x"), "m f=1"),
                agent.get(&lp_url).call().unwrap().status().as_u16(),
                post(&json_url, r#"{"value": 7}"#),
            ]
        })
        .await
        .unwrap();
        assert_eq!(statuses, vec![204, 400, 404, 405, 204]);
        let got = received.lock().unwrap().clone();
        let names: Vec<&str> = got.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, vec!["cpu", "mem", "http_listener_v2"]);
        assert_eq!(got[0].time, 10);
        listener.stop();
        json.stop();
    }
}
