//! What the influxdb and influxdb_v2 outputs share: sending line protocol to each URL in
//! turn through sluice-client, honouring `Retry-After` and dropping refused lines.

use std::time::{Duration, Instant};

use sluice_client::{Batch, Client, Error as ClientError, Precision, RetryOptions};

use crate::error::{Error, Result};
use crate::metric::Metric;

/// Clients for every URL of one output.
#[derive(Debug)]
pub(crate) struct HttpWriter {
    pub(crate) name: String,
    pub(crate) clients: Vec<(String, Client)>,
    not_before: Option<Instant>,
}

/// No retries inside a write: a failed batch stays in the agent's buffer and is retried
/// at the next flush, as Telegraf does.
pub(crate) fn retry_options() -> RetryOptions {
    RetryOptions {
        max_retries: 0,
        ..RetryOptions::default()
    }
}

/// `content_encoding`: `"gzip"` gzips every body, `"identity"` none.
pub(crate) fn gzip_threshold(encoding: &str) -> std::result::Result<Option<usize>, String> {
    match encoding {
        "gzip" => Ok(Some(0)),
        "identity" | "" => Ok(None),
        other => Err(format!(
            "content_encoding must be \"gzip\" or \"identity\", not {other:?}"
        )),
    }
}

impl HttpWriter {
    pub(crate) fn new(name: String, clients: Vec<(String, Client)>) -> HttpWriter {
        HttpWriter {
            name,
            clients,
            not_before: None,
        }
    }

    fn fail(&self, message: String) -> Error {
        Error::Write {
            plugin: self.name.clone(),
            message,
        }
    }

    /// Writes the batch to the first URL that accepts it.
    pub(crate) async fn write(&mut self, metrics: &[Metric]) -> Result<()> {
        if let Some(at) = self.not_before {
            if Instant::now() < at {
                let wait = at - Instant::now();
                return Err(self.fail(format!(
                    "server asked to retry after {wait:.1?}; not writing yet"
                )));
            }
            self.not_before = None;
        }
        let text = super::encode(metrics, &self.name);
        let batch = Batch::from_line_protocol(text.as_bytes(), Precision::Nanosecond);
        let mut last = None;
        for (url, client) in &self.clients {
            match client.write_batch(&batch).await {
                Ok(()) => return Ok(()),
                Err(ClientError::Rejected { lines, message, .. }) => {
                    tracing::error!(output = %self.name, url, rejected = lines.len(), "server refused lines; they are dropped: {message}");
                    return Ok(());
                }
                Err(ClientError::TooLarge { bytes }) => {
                    tracing::error!(output = %self.name, url, bytes, "a line is too large for the server; dropped");
                    return Ok(());
                }
                Err(err) => {
                    let err = match err {
                        ClientError::RetriesExhausted { last, .. } => *last,
                        other => other,
                    };
                    if let ClientError::Http {
                        retry_after: Some(after),
                        ..
                    } = &err
                    {
                        self.not_before =
                            Some(Instant::now() + (*after).min(Duration::from_secs(3600)));
                    }
                    tracing::warn!(output = %self.name, url, "write failed: {err}");
                    last = Some(format!("{url}: {err}"));
                }
            }
        }
        Err(self.fail(last.unwrap_or_else(|| "no urls configured".to_owned())))
    }
}
