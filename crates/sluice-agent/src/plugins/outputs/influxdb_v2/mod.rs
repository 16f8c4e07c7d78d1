//! `outputs.influxdb_v2`: writes to `/api/v2/write` of InfluxDB 2 or sluice.

use serde::Deserialize;
use sluice_client::{Client, Target};

use crate::config::ConfigDuration;
use crate::error::Result;
use crate::metric::Metric;
use crate::plugins::outputs::http::{HttpWriter, gzip_threshold, retry_options};
use crate::plugins::{BoxFuture, BuildContext, Output};
use crate::tls::TlsClientConfig;

/// `[[outputs.influxdb_v2]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InfluxDbV2Config {
    /// Server URLs, tried in order until one accepts a batch. Default:
    /// `["http://127.0.0.1:8086"]`.
    pub urls: Vec<String>,
    /// The API token. Default: `""`.
    pub token: String,
    /// The organization. Default: `""`.
    pub organization: String,
    /// The bucket to write to. Default: `""` (required).
    pub bucket: String,
    /// The longest a write may take. Default: `"5s"`.
    pub timeout: ConfigDuration,
    /// `"gzip"` or `"identity"`. Default: `"gzip"`.
    pub content_encoding: String,
    /// Telegraf's client TLS keys (`tls_ca`, `tls_cert`, `tls_key`, `tls_server_name`,
    /// `tls_min_version`, `insecure_skip_verify`), taken out of the plugin's table by
    /// `PluginSpec::parse_with_tls`. Default: none (the system's roots).
    #[serde(skip)]
    pub tls: TlsClientConfig,
}

crate::tls::with_tls!(InfluxDbV2Config);

impl Default for InfluxDbV2Config {
    fn default() -> Self {
        InfluxDbV2Config {
            urls: vec!["http://127.0.0.1:8086".to_owned()],
            token: String::new(),
            organization: String::new(),
            bucket: String::new(),
            timeout: ConfigDuration::secs(5),
            content_encoding: "gzip".to_owned(),
            tls: TlsClientConfig::default(),
        }
    }
}

/// The `influxdb_v2` output.
#[derive(Debug)]
pub struct InfluxDbV2 {
    writer: HttpWriter,
}

impl InfluxDbV2 {
    /// Builds the output.
    ///
    /// # Errors
    /// A message about an invalid URL, bucket or encoding.
    pub fn new(
        config: InfluxDbV2Config,
        name: String,
        ctx: &BuildContext,
    ) -> std::result::Result<InfluxDbV2, String> {
        let _ = ctx;
        if config.bucket.is_empty() {
            return Err("`bucket` is required".to_owned());
        }
        let gzip = gzip_threshold(&config.content_encoding)?;
        let http = config.tls.clone().http_client(config.timeout.0)?;
        let mut clients = Vec::new();
        for url in &config.urls {
            let client = Client::builder(url.clone())
                .target(Target::V2 {
                    org: config.organization.clone(),
                    bucket: config.bucket.clone(),
                })
                .token(config.token.clone())
                .timeout(config.timeout.0)
                .gzip_threshold(gzip)
                .retry(retry_options())
                .http_client(http.clone())
                .build()
                .map_err(|err| format!("`urls`: {err}"))?;
            clients.push((url.clone(), client));
        }
        Ok(InfluxDbV2 {
            writer: HttpWriter::new(name, clients),
        })
    }
}

impl Output for InfluxDbV2 {
    fn write<'a>(&'a mut self, metrics: &'a [Metric]) -> BoxFuture<'a, Result<()>> {
        Box::pin(self.writer.write(metrics))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use sluice_client::testing::{Fault, FaultServer};

    use super::*;

    fn output(url: String) -> InfluxDbV2 {
        let ctx = BuildContext {
            agent: Default::default(),
            stats: Arc::default(),
        };
        let config = InfluxDbV2Config {
            urls: vec![url],
            token: "t0ken".into(),
            bucket: "b".into(),
            ..InfluxDbV2Config::default()
        };
        InfluxDbV2::new(config, "influxdb_v2".into(), &ctx).unwrap()
    }

    fn metrics(n: i64) -> Vec<Metric> {
        (0..n)
            .map(|i| Metric::new("m", i).with_tag("host", "a").with_field("v", i))
            .collect()
    }

    #[tokio::test]
    async fn too_large_batches_are_split_until_the_server_accepts_them() {
        let server = FaultServer::start().await;
        server.set_max_body_bytes(Some(60));
        let mut out = output(server.url());
        out.write(&metrics(10)).await.unwrap();
        assert_eq!(server.accepted().len(), 10);
        assert!(server.too_large_answers() > 0);
        assert_eq!(server.authorizations()[0].as_deref(), Some("Token t0ken"));
    }

    #[tokio::test]
    async fn retry_after_holds_writes_back_until_it_has_passed() {
        let server = FaultServer::start().await;
        server.push_faults([Fault::Status {
            status: 503,
            retry_after: Some(60),
        }]);
        let mut out = output(server.url());
        assert!(out.write(&metrics(1)).await.is_err());
        assert_eq!(server.requests(), 1);
        let err = out.write(&metrics(1)).await.unwrap_err().to_string();
        assert!(err.contains("retry after"), "{err}");
        assert_eq!(server.requests(), 1, "no request before Retry-After passed");
    }
}
