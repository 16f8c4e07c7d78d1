//! `outputs.influxdb_v3`: writes line protocol to `POST /api/v3/write_lp?db=` of
//! InfluxDB 3 (or sluice) the way Telegraf's output of that name does.
//!
//! - `Authorization: Bearer TOKEN`; bodies gzipped unless `content_encoding` says not.
//! - `sync = false` sends `no_sync=true`, `sync = true` sends `no_sync=false`.
//! - 413: the batch is split in halves, each written on its own.
//! - 400, 406, 422 and any other 4xx but 401/403/429: the metrics are dropped (logged
//!   line by line from the server's `data`), not retried.
//! - 429, 502, 503, 504: no write until `Retry-After` (at most 10 minutes) or a growing
//!   back-off has passed; the batch stays buffered.
//! - 401, 403, other 5xx and transport errors: the batch stays buffered.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::time::{Duration, Instant};

use flate2::Compression;
use flate2::write::GzEncoder;
use reqwest::header::{AUTHORIZATION, CONTENT_ENCODING, CONTENT_TYPE, RETRY_AFTER};
use serde::Deserialize;

use crate::config::ConfigDuration;
use crate::error::{Error, Result};
use crate::metric::{FieldValue, Metric};
use crate::plugins::{BoxFuture, BuildContext, Output};
use crate::tls::{TlsClientConfig, check_http_url, error_chain};

/// The longest `Retry-After` honoured.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(600);
/// The longest back-off of its own.
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// `[[outputs.influxdb_v3]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InfluxDbV3Config {
    /// Server URLs, tried in order until one accepts a batch. Default:
    /// `["http://127.0.0.1:8181"]`.
    pub urls: Vec<String>,
    /// The token, sent as `Authorization: Bearer`. Default: `""` (none).
    pub token: String,
    /// The database. Default: `""` (required unless every metric has `database_tag`).
    pub database: String,
    /// A tag whose value names the database of each metric. Default: `""`.
    pub database_tag: String,
    /// Remove `database_tag` from the metrics written. Default: `false`.
    pub exclude_database_tag: bool,
    /// `true` sends `no_sync=false`, `false` sends `no_sync=true`. Default: unset.
    pub sync: Option<bool>,
    /// Write unsigned integers as signed ones (saturating). Default: `false`.
    pub convert_uint_to_int: bool,
    /// Write lines without timestamps. Default: `false`.
    pub omit_timestamp: bool,
    /// The `User-Agent` header. Default: `"sluice-agent"`.
    pub user_agent: String,
    /// `"gzip"`, `"none"` or `"identity"`. Default: `"gzip"`.
    pub content_encoding: String,
    /// The longest one request may take. Default: `"5s"`.
    pub timeout: ConfigDuration,
    /// Telegraf's client TLS keys (`tls_ca`, `tls_cert`, `tls_key`, `tls_server_name`,
    /// `tls_min_version`, `insecure_skip_verify`), taken out of the plugin's table by
    /// `PluginSpec::parse_with_tls`. Default: none (the system's roots).
    #[serde(skip)]
    pub tls: TlsClientConfig,
}

crate::tls::with_tls!(InfluxDbV3Config);

impl Default for InfluxDbV3Config {
    fn default() -> Self {
        InfluxDbV3Config {
            urls: vec!["http://127.0.0.1:8181".to_owned()],
            token: String::new(),
            database: String::new(),
            database_tag: String::new(),
            exclude_database_tag: false,
            sync: None,
            convert_uint_to_int: false,
            omit_timestamp: false,
            user_agent: "sluice-agent".to_owned(),
            content_encoding: "gzip".to_owned(),
            timeout: ConfigDuration::secs(5),
            tls: TlsClientConfig::default(),
        }
    }
}

/// How one request ended.
#[derive(Debug)]
enum Outcome {
    /// Written (2xx).
    Written,
    /// 413: split and try again.
    TooLarge,
    /// Refused for good (400, 406, 422, other 4xx): dropped.
    Dropped(String),
    /// Overloaded (429, 502, 503, 504): wait this long.
    Wait(Duration, String),
    /// Anything else: keep the batch, try the next URL.
    Failed(String),
}

/// The `influxdb_v3` output.
#[derive(Debug)]
pub struct InfluxDbV3 {
    name: String,
    config: InfluxDbV3Config,
    urls: Vec<reqwest::Url>,
    http: reqwest::Client,
    gzip: bool,
    not_before: Option<Instant>,
    overloaded: u32,
}

impl InfluxDbV3 {
    /// Builds the output.
    ///
    /// # Errors
    /// A message about an invalid URL, encoding, TLS key, or a missing database.
    pub fn new(
        config: InfluxDbV3Config,
        name: String,
        ctx: &BuildContext,
    ) -> std::result::Result<InfluxDbV3, String> {
        let _ = ctx;
        if config.database.is_empty() && config.database_tag.is_empty() {
            return Err("`database` is required (or `database_tag`)".to_owned());
        }
        let gzip = match config.content_encoding.as_str() {
            "gzip" => true,
            "none" | "identity" | "" => false,
            other => {
                return Err(format!(
                    "`content_encoding`: invalid content encoding {other:?} (use \"gzip\", \"none\" or \"identity\")"
                ));
            }
        };
        if config.urls.is_empty() {
            return Err("`urls` is empty".to_owned());
        }
        let mut urls = Vec::new();
        for url in &config.urls {
            let mut url = check_http_url("urls", url)?;
            let path = format!("{}/api/v3/write_lp", url.path().trim_end_matches('/'));
            url.set_path(&path);
            url.set_query(None);
            urls.push(url);
        }
        let tls = config.tls.clone();
        let http = tls.http_client(config.timeout.0)?;
        Ok(InfluxDbV3 {
            name,
            config,
            urls,
            http,
            gzip,
            not_before: None,
            overloaded: 0,
        })
    }

    fn fail(&self, message: String) -> Error {
        Error::Write {
            plugin: self.name.clone(),
            message,
        }
    }

    /// The line protocol of `metrics`, as this output's settings shape it.
    fn encode(&self, metrics: &[&Metric]) -> String {
        let mut text = String::new();
        for metric in metrics {
            let mut metric = (*metric).clone();
            if self.config.exclude_database_tag && !self.config.database_tag.is_empty() {
                metric.tags.remove(&self.config.database_tag);
            }
            if self.config.convert_uint_to_int {
                for (_, value) in &mut metric.fields {
                    if let FieldValue::UInteger(u) = value {
                        *value = FieldValue::Integer(i64::try_from(*u).unwrap_or(i64::MAX));
                    }
                }
            }
            let mut line = String::new();
            if let Err(err) = metric.write_line_protocol(&mut line) {
                tracing::warn!(output = %self.name, metric = %metric.name, "dropping a metric that cannot be written as line protocol: {err}");
                continue;
            }
            if self.config.omit_timestamp
                && let Some(at) = line.trim_end().rfind(' ')
            {
                line.truncate(at);
                line.push('\n');
            }
            text.push_str(&line);
        }
        text
    }

    fn url_for(&self, base: &reqwest::Url, database: &str) -> reqwest::Url {
        let mut url = base.clone();
        {
            let mut query = url.query_pairs_mut();
            query.append_pair("db", database);
            if let Some(sync) = self.config.sync {
                query.append_pair("no_sync", if sync { "false" } else { "true" });
            }
        }
        url
    }

    async fn send(&self, url: reqwest::Url, database: &str, body: &str) -> Outcome {
        let payload = if self.gzip {
            let mut encoder =
                GzEncoder::new(Vec::with_capacity(body.len() / 4), Compression::fast());
            match encoder
                .write_all(body.as_bytes())
                .and_then(|()| encoder.finish())
            {
                Ok(bytes) => bytes,
                Err(err) => return Outcome::Failed(format!("cannot gzip the body: {err}")),
            }
        } else {
            body.as_bytes().to_vec()
        };
        let mut request = self
            .http
            .post(url.clone())
            .header(CONTENT_TYPE, "text/plain; charset=utf-8")
            .header(reqwest::header::USER_AGENT, self.config.user_agent.as_str())
            .body(payload);
        if self.gzip {
            request = request.header(CONTENT_ENCODING, "gzip");
        }
        if !self.config.token.is_empty() {
            request = request.header(AUTHORIZATION, format!("Bearer {}", self.config.token));
        }
        let response = match request.send().await {
            Ok(response) => response,
            Err(err) => return Outcome::Failed(format!("{url}: {}", error_chain(&err))),
        };
        let status = response.status().as_u16();
        if (200..300).contains(&status) {
            return Outcome::Written;
        }
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.trim().parse::<f64>().unwrap_or(10.0));
        let text = response.text().await.unwrap_or_default();
        let description = self.describe_error(&text);
        match status {
            413 => Outcome::TooLarge,
            401 | 403 => Outcome::Failed(format!(
                "failed to write metric to {database} ({status}){description}"
            )),
            429 | 502 | 503 | 504 => {
                let backoff = Duration::from_secs_f64(
                    (f64::from(self.overloaded + 1).powi(2) / 40.0).min(MAX_BACKOFF.as_secs_f64()),
                );
                let asked = retry_after
                    .filter(|s| s.is_finite() && *s >= 0.0)
                    .map(|s| Duration::from_secs_f64(s).min(MAX_RETRY_AFTER))
                    .unwrap_or_default();
                let wait = backoff.max(asked);
                Outcome::Wait(
                    wait,
                    format!(
                        "server answered {status}; waiting {wait:.1?} before writing to {database} again{description}"
                    ),
                )
            }
            400..=499 => Outcome::Dropped(format!(
                "failed to write metric to {database} (will be dropped: {status}){description}"
            )),
            _ => Outcome::Failed(format!(
                "failed to write metric to database {database:?}: {status}{description}"
            )),
        }
    }

    /// The server's error message, logging each rejected line it lists.
    fn describe_error(&self, body: &str) -> String {
        if body.trim().is_empty() {
            return String::new();
        }
        let Ok(json) = serde_json::from_str::<serde_json::Value>(body) else {
            return format!(": {}", body.trim());
        };
        if let Some(lines) = json.get("data").and_then(|d| d.as_array()) {
            for line in lines {
                tracing::error!(
                    output = %self.name,
                    line_number = line.get("line_number").and_then(|v| v.as_u64()),
                    line = line.get("original_line").and_then(|v| v.as_str()).unwrap_or(""),
                    "line refused: {}",
                    line.get("error_message").and_then(|v| v.as_str()).unwrap_or("")
                );
            }
        }
        let message = json
            .get("error")
            .or_else(|| json.get("message"))
            .and_then(|v| v.as_str())
            .unwrap_or(body.trim());
        format!(": {message}")
    }

    /// Writes `metrics` to `database` at `base`, splitting on 413.
    async fn write_database(
        &mut self,
        base: &reqwest::Url,
        database: &str,
        metrics: &[&Metric],
    ) -> std::result::Result<(), Outcome> {
        let body = self.encode(metrics);
        if body.is_empty() {
            return Ok(());
        }
        let url = self.url_for(base, database);
        match self.send(url, database, &body).await {
            Outcome::Written => {
                self.overloaded = 0;
                Ok(())
            }
            Outcome::TooLarge if metrics.len() > 1 => {
                tracing::warn!(output = %self.name, metrics = metrics.len(), "server answered 413; writing the batch in halves");
                let (a, b) = metrics.split_at(metrics.len() / 2);
                Box::pin(self.write_database(base, database, a)).await?;
                Box::pin(self.write_database(base, database, b)).await
            }
            Outcome::TooLarge => Err(Outcome::Dropped(format!(
                "failed to write metric to {database}: a single metric is too large for the server (413)"
            ))),
            Outcome::Dropped(message) => {
                tracing::error!(output = %self.name, dropped = metrics.len(), "{message}");
                Ok(())
            }
            other => Err(other),
        }
    }

    async fn write_batch(&mut self, metrics: &[Metric]) -> Result<()> {
        if let Some(at) = self.not_before {
            let now = Instant::now();
            if now < at {
                return Err(self.fail(format!(
                    "retry time has not elapsed ({:.1?} left)",
                    at - now
                )));
            }
            self.not_before = None;
        }
        let mut by_database: BTreeMap<String, Vec<&Metric>> = BTreeMap::new();
        for metric in metrics {
            let database = if self.config.database_tag.is_empty() {
                None
            } else {
                metric.tags.get(&self.config.database_tag).cloned()
            };
            by_database
                .entry(database.unwrap_or_else(|| self.config.database.clone()))
                .or_default()
                .push(metric);
        }
        if by_database.contains_key("") {
            let count = by_database.remove("").map_or(0, |m| m.len());
            tracing::error!(output = %self.name, dropped = count, "metrics without the database tag and no `database` set are dropped");
        }
        let mut last = None;
        'urls: for base in self.urls.clone() {
            for (database, batch) in &by_database {
                match self.write_database(&base, database, batch).await {
                    Ok(()) => {}
                    Err(Outcome::Wait(wait, message)) => {
                        self.overloaded += 1;
                        self.not_before = Some(Instant::now() + wait);
                        tracing::warn!(output = %self.name, "{message}");
                        return Err(self.fail(message));
                    }
                    Err(Outcome::Failed(message) | Outcome::Dropped(message)) => {
                        tracing::warn!(output = %self.name, url = %base, "write failed: {message}");
                        last = Some(message);
                        continue 'urls;
                    }
                    Err(Outcome::Written | Outcome::TooLarge) => {}
                }
            }
            return Ok(());
        }
        Err(self.fail(last.unwrap_or_else(|| "no urls configured".to_owned())))
    }
}

impl Output for InfluxDbV3 {
    fn write<'a>(&'a mut self, metrics: &'a [Metric]) -> BoxFuture<'a, Result<()>> {
        Box::pin(self.write_batch(metrics))
    }
}

#[cfg(test)]
mod tests;
