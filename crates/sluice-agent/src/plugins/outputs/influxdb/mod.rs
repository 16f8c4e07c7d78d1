//! `outputs.influxdb`: writes to the v1 `/write` API, creating the database first with
//! `CREATE DATABASE` unless told not to.

use serde::Deserialize;
use sluice_client::{Client, Target};

use crate::config::ConfigDuration;
use crate::error::{Error, Result};
use crate::metric::Metric;
use crate::plugins::outputs::http::{HttpWriter, gzip_threshold, retry_options};
use crate::plugins::{BoxFuture, BuildContext, Output};
use crate::tls::TlsClientConfig;

/// `[[outputs.influxdb]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InfluxDbConfig {
    /// Server URLs, tried in order. Default: `["http://127.0.0.1:8086"]`.
    pub urls: Vec<String>,
    /// The database. Default: `"telegraf"`.
    pub database: String,
    /// The retention policy; empty for the default. Default: `""`.
    pub retention_policy: String,
    /// Do not send `CREATE DATABASE`. Default: false.
    pub skip_database_creation: bool,
    /// The user name (sluice ignores it). Default: `""`.
    pub username: String,
    /// The password (sluice reads it as the token). Default: `""`.
    pub password: String,
    /// The longest a write may take. Default: `"5s"`.
    pub timeout: ConfigDuration,
    /// `"gzip"` or `"identity"`. Default: `"identity"`.
    pub content_encoding: String,
    /// Telegraf's client TLS keys (`tls_ca`, `tls_cert`, `tls_key`, `tls_server_name`,
    /// `tls_min_version`, `insecure_skip_verify`), taken out of the plugin's table by
    /// `PluginSpec::parse_with_tls`. Default: none (the system's roots).
    #[serde(skip)]
    pub tls: TlsClientConfig,
}

crate::tls::with_tls!(InfluxDbConfig);

impl Default for InfluxDbConfig {
    fn default() -> Self {
        InfluxDbConfig {
            urls: vec!["http://127.0.0.1:8086".to_owned()],
            database: "telegraf".to_owned(),
            retention_policy: String::new(),
            skip_database_creation: false,
            username: String::new(),
            password: String::new(),
            timeout: ConfigDuration::secs(5),
            content_encoding: "identity".to_owned(),
            tls: TlsClientConfig::default(),
        }
    }
}

/// The `influxdb` output.
#[derive(Debug)]
pub struct InfluxDb {
    config: InfluxDbConfig,
    writer: HttpWriter,
    http: reqwest::Client,
}

impl InfluxDb {
    /// Builds the output.
    ///
    /// # Errors
    /// A message about an invalid URL or encoding.
    pub fn new(
        config: InfluxDbConfig,
        name: String,
        ctx: &BuildContext,
    ) -> std::result::Result<InfluxDb, String> {
        let _ = ctx;
        let gzip = gzip_threshold(&config.content_encoding)?;
        let http = config.tls.clone().http_client(config.timeout.0)?;
        let mut clients = Vec::new();
        for url in &config.urls {
            let client = Client::builder(url.clone())
                .target(Target::V1 {
                    database: config.database.clone(),
                    retention_policy: Some(config.retention_policy.clone())
                        .filter(|r| !r.is_empty()),
                })
                .token(config.password.clone())
                .timeout(config.timeout.0)
                .gzip_threshold(gzip)
                .retry(retry_options())
                .http_client(http.clone())
                .build()
                .map_err(|err| format!("`urls`: {err}"))?;
            clients.push((url.clone(), client));
        }
        Ok(InfluxDb {
            config,
            writer: HttpWriter::new(name, clients),
            http,
        })
    }

    async fn create_database(&self) -> Result<()> {
        let fail = |message: String| Error::Write {
            plugin: self.writer.name.clone(),
            message,
        };
        let mut last = None;
        for url in &self.config.urls {
            let mut query = reqwest::Url::parse(url).map_err(|e| fail(format!("{url}: {e}")))?;
            let path = format!("{}/query", query.path().trim_end_matches('/'));
            query.set_path(&path);
            let statement = format!(
                "CREATE DATABASE \"{}\"",
                self.config.database.replace('"', "\\\"")
            );
            query.query_pairs_mut().append_pair("q", &statement);
            let mut request = self.http.post(query);
            if !self.config.password.is_empty() {
                request = request.basic_auth(&self.config.username, Some(&self.config.password));
            }
            match request.send().await {
                Ok(resp) if resp.status().is_success() => return Ok(()),
                Ok(resp) => {
                    last = Some(format!("{url}: CREATE DATABASE answered {}", resp.status()))
                }
                Err(err) => last = Some(format!("{url}: {err}")),
            }
        }
        Err(fail(last.unwrap_or_default()))
    }
}

impl Output for InfluxDb {
    fn connect(&mut self) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            if self.config.skip_database_creation {
                return Ok(());
            }
            self.create_database().await
        })
    }

    fn write<'a>(&'a mut self, metrics: &'a [Metric]) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let result = self.writer.write(metrics).await;
            if let Err(err) = &result
                && err.to_string().contains("database not found")
                && !self.config.skip_database_creation
            {
                self.create_database().await?;
                return self.writer.write(metrics).await;
            }
            result
        })
    }
}
