//! The HTTP client: one write request, retried with backoff, split in halves on 413.

use std::io::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use flate2::Compression;
use flate2::write::GzEncoder;
use reqwest::Url;
use reqwest::header::{AUTHORIZATION, CONTENT_ENCODING, CONTENT_TYPE, RETRY_AFTER};
use sluice_lp::{Point, Precision};

use crate::batch::Batch;
use crate::error::{Error, Result, error_chain, from_response};
use crate::retry::RetryOptions;
use crate::tls::TlsOptions;

/// Which write API, and which database in it, the client writes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// InfluxDB 1.x: `POST /write?db=&rp=&precision=`.
    V1 {
        /// The database.
        database: String,
        /// The retention policy, if any.
        retention_policy: Option<String>,
    },
    /// InfluxDB 2.x: `POST /api/v2/write?org=&bucket=&precision=`.
    V2 {
        /// The organization (sluice accepts any).
        org: String,
        /// The bucket (a database in sluice).
        bucket: String,
    },
    /// InfluxDB 3: `POST /api/v3/write_lp?db=&precision=&accept_partial=true`.
    V3 {
        /// The database.
        database: String,
        /// Sent as `no_sync`: the server answers before its WAL is synced. Default: off.
        no_sync: bool,
    },
}

/// A client for one server and one database. Cheap to clone: clones share one pool of
/// keep-alive connections.
#[derive(Debug, Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    http: reqwest::Client,
    base: Url,
    target: Target,
    token: Option<String>,
    precision: Precision,
    gzip_threshold: Option<usize>,
    retry: RetryOptions,
}

/// Builds a [`Client`]; see [`Client::new`].
#[derive(Debug, Clone)]
pub struct ClientBuilder {
    url: String,
    target: Option<Target>,
    org: Option<String>,
    token: Option<String>,
    precision: Precision,
    gzip_threshold: Option<usize>,
    timeout: Duration,
    retry: RetryOptions,
    tls: TlsOptions,
    http: Option<reqwest::Client>,
}

/// Called before each retry with the error, the delay, and the number of points retried.
pub(crate) type RetryObserver<'a> = &'a (dyn Fn(&Error, Duration, usize) + Send + Sync);

impl Client {
    /// Starts building a client for the server at `url` (such as
    /// `http://127.0.0.1:8086`). Name a database with [`ClientBuilder::database`] (v3),
    /// [`ClientBuilder::bucket`] (v2) or [`ClientBuilder::v1`].
    pub fn builder(url: impl Into<String>) -> ClientBuilder {
        ClientBuilder {
            url: url.into(),
            target: None,
            org: None,
            token: None,
            precision: Precision::Nanosecond,
            gzip_threshold: Some(1024),
            timeout: Duration::from_secs(10),
            retry: RetryOptions::default(),
            tls: TlsOptions::default(),
            http: None,
        }
    }

    /// The precision raw line protocol is sent with.
    pub fn precision(&self) -> Precision {
        self.inner.precision
    }

    /// How requests are retried.
    pub fn retry_options(&self) -> &RetryOptions {
        &self.inner.retry
    }

    /// Writes raw line protocol in the client's precision as one request (split in halves
    /// if the server answers 413). Rejected lines are numbered as lines of `text`.
    ///
    /// # Errors
    /// [`Error::Rejected`] when the server refused lines (the others were written),
    /// [`Error::RetriesExhausted`] when it stayed unavailable, or another [`Error`].
    pub async fn write_lp(&self, text: impl AsRef<[u8]>) -> Result<()> {
        let batch = Batch::from_line_protocol(text.as_ref(), self.inner.precision);
        self.write_batch(&batch).await
    }

    /// Writes one point (nanosecond timestamp).
    ///
    /// # Errors
    /// As [`Client::write_lp`].
    pub async fn write_point(&self, point: &Point) -> Result<()> {
        self.write_points(std::slice::from_ref(point)).await
    }

    /// Writes points (nanosecond timestamps) as one request; line `n` of any rejection
    /// is `points[n - 1]`.
    ///
    /// # Errors
    /// As [`Client::write_lp`].
    pub async fn write_points(&self, points: &[Point]) -> Result<()> {
        let mut batch = Batch::new(Precision::Nanosecond);
        for point in points {
            batch.push_point(point);
        }
        self.write_batch(&batch).await
    }

    /// Writes a prepared batch, with retries and 413 splitting.
    ///
    /// # Errors
    /// As [`Client::write_lp`].
    pub async fn write_batch(&self, batch: &Batch) -> Result<()> {
        self.deliver_with(batch, &self.inner.retry, &|_, _, _| {})
            .await
    }

    /// Delivers `batch`, telling `observer` about each retry. On 413 the batch is split
    /// in halves, each delivered on its own; line numbers of rejections stay relative to
    /// `batch`.
    pub(crate) async fn deliver_with(
        &self,
        batch: &Batch,
        retry: &RetryOptions,
        observer: RetryObserver<'_>,
    ) -> Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        match self.send_with_retry(batch, retry, observer).await {
            Err(Error::Http { status: 413, .. }) => {
                let Some((first, second, shift)) = batch.split_in_halves() else {
                    return Err(Error::TooLarge {
                        bytes: batch.len_bytes(),
                    });
                };
                tracing::debug!(
                    points = batch.points(),
                    bytes = batch.len_bytes(),
                    "server answered 413: splitting the batch in halves"
                );
                let a = Box::pin(self.deliver_with(&first, retry, observer)).await;
                if let Err(err) = &a
                    && !matches!(err, Error::Rejected { .. })
                {
                    return a;
                }
                let b = Box::pin(self.deliver_with(&second, retry, observer)).await;
                merge_halves(a, b, shift)
            }
            other => other,
        }
    }

    async fn send_with_retry(
        &self,
        batch: &Batch,
        retry: &RetryOptions,
        observer: RetryObserver<'_>,
    ) -> Result<()> {
        let (body, gzipped) = self.encode_body(batch.body());
        let url = self.write_url(batch.precision());
        let started = Instant::now();
        let mut retries = 0u32;
        loop {
            let err = match self.send_once(&url, body.clone(), gzipped).await {
                Ok(()) => return Ok(()),
                Err(err) if err.is_retryable() => err,
                Err(err) => return Err(err),
            };
            retries += 1;
            let delay = retry.delay(retries, err.retry_after());
            if retries > retry.max_retries || started.elapsed() + delay > retry.max_retry_time {
                return Err(if retries == 1 {
                    err
                } else {
                    Error::RetriesExhausted {
                        attempts: retries,
                        last: Box::new(err),
                    }
                });
            }
            tracing::warn!(
                error = %err,
                retry = retries,
                delay_ms = delay.as_millis() as u64,
                points = batch.points(),
                "write failed; retrying"
            );
            observer(&err, delay, batch.points());
            tokio::time::sleep(delay).await;
        }
    }

    fn encode_body(&self, raw: &[u8]) -> (bytes::Bytes, bool) {
        match self.inner.gzip_threshold {
            Some(threshold) if raw.len() > threshold => {
                let mut encoder =
                    GzEncoder::new(Vec::with_capacity(raw.len() / 4), Compression::fast());
                // Writing into a Vec cannot fail.
                if encoder.write_all(raw).is_ok()
                    && let Ok(out) = encoder.finish()
                {
                    return (out.into(), true);
                }
                (bytes::Bytes::copy_from_slice(raw), false)
            }
            _ => (bytes::Bytes::copy_from_slice(raw), false),
        }
    }

    /// The write URL for `precision`.
    fn write_url(&self, precision: Precision) -> Url {
        let inner = &self.inner;
        let (path, params): (&str, Vec<(&str, String)>) = match &inner.target {
            Target::V1 {
                database,
                retention_policy,
            } => {
                let mut params = vec![("db", database.clone())];
                if let Some(rp) = retention_policy {
                    params.push(("rp", rp.clone()));
                }
                let p = match precision {
                    Precision::Nanosecond => "n",
                    Precision::Microsecond => "u",
                    other => other.as_str(),
                };
                params.push(("precision", p.to_owned()));
                ("write", params)
            }
            Target::V2 { org, bucket } => (
                "api/v2/write",
                vec![
                    ("org", org.clone()),
                    ("bucket", bucket.clone()),
                    ("precision", precision.as_str().to_owned()),
                ],
            ),
            Target::V3 { database, no_sync } => {
                let mut params = vec![
                    ("db", database.clone()),
                    ("precision", v3_precision(precision).to_owned()),
                    ("accept_partial", "true".to_owned()),
                ];
                if *no_sync {
                    params.push(("no_sync", "true".to_owned()));
                }
                ("api/v3/write_lp", params)
            }
        };
        let mut url = inner.base.join(path).unwrap_or_else(|_| inner.base.clone());
        url.query_pairs_mut()
            .extend_pairs(params.iter().map(|(k, v)| (*k, v.as_str())));
        url
    }

    async fn send_once(&self, url: &Url, body: bytes::Bytes, gzipped: bool) -> Result<()> {
        let mut request = self
            .inner
            .http
            .post(url.clone())
            .header(CONTENT_TYPE, "text/plain; charset=utf-8")
            .body(body);
        if gzipped {
            request = request.header(CONTENT_ENCODING, "gzip");
        }
        if let Some(token) = &self.inner.token {
            request = request.header(AUTHORIZATION, format!("Token {token}"));
        }
        let response = request
            .send()
            .await
            .map_err(|err| Error::Transport(error_chain(&err)))?;
        let status = response.status();
        if status.is_success() {
            // Read the (empty) body so the connection goes back to the pool.
            let _ = response.bytes().await;
            return Ok(());
        }
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let text = response
            .text()
            .await
            .map_err(|err| Error::Transport(error_chain(&err)))?;
        Err(from_response(status.as_u16(), retry_after, &text))
    }
}

/// InfluxDB 3 spells precisions out; sluice accepts both spellings.
fn v3_precision(precision: Precision) -> &'static str {
    match precision {
        Precision::Nanosecond => "nanosecond",
        Precision::Microsecond => "microsecond",
        Precision::Millisecond => "millisecond",
        Precision::Second => "second",
        other => other.as_str(),
    }
}

/// Joins the outcomes of two halves of a split batch; `shift` physical lines precede
/// the second half.
fn merge_halves(a: Result<()>, b: Result<()>, shift: usize) -> Result<()> {
    let shifted = |err: Error| match err {
        Error::Rejected {
            status,
            message,
            mut lines,
        } => {
            for line in &mut lines {
                line.line_number = line.line_number.map(|n| n + shift);
            }
            Error::Rejected {
                status,
                message,
                lines,
            }
        }
        other => other,
    };
    match (a, b) {
        (Ok(()), Ok(())) => Ok(()),
        (Err(a), Ok(())) => Err(a),
        (Ok(()), Err(b)) => Err(shifted(b)),
        (
            Err(Error::Rejected {
                status,
                message,
                mut lines,
            }),
            Err(b),
        ) => match shifted(b) {
            Error::Rejected { lines: more, .. } => {
                lines.extend(more);
                Err(Error::Rejected {
                    status,
                    message,
                    lines,
                })
            }
            other => Err(other),
        },
        (Err(a), Err(_)) => Err(a),
    }
}

impl ClientBuilder {
    /// Sends `Authorization: Token TOKEN` with every request. Default: no token.
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into()).filter(|t: &String| !t.is_empty());
        self
    }

    /// Writes to database `database` through the v3 API (`/api/v3/write_lp`).
    pub fn database(mut self, database: impl Into<String>) -> Self {
        self.target = Some(Target::V3 {
            database: database.into(),
            no_sync: false,
        });
        self
    }

    /// Writes to bucket `bucket` through the v2 API (`/api/v2/write`); see also
    /// [`ClientBuilder::org`].
    pub fn bucket(mut self, bucket: impl Into<String>) -> Self {
        self.target = Some(Target::V2 {
            org: String::new(),
            bucket: bucket.into(),
        });
        self
    }

    /// The v2 organization. Default: empty (sluice ignores it).
    pub fn org(mut self, org: impl Into<String>) -> Self {
        self.org = Some(org.into());
        self
    }

    /// Writes to database `database` (and retention policy `rp`) through the v1 API
    /// (`/write`).
    pub fn v1(mut self, database: impl Into<String>, rp: Option<String>) -> Self {
        self.target = Some(Target::V1 {
            database: database.into(),
            retention_policy: rp,
        });
        self
    }

    /// Sets the target directly.
    pub fn target(mut self, target: Target) -> Self {
        self.target = Some(target);
        self
    }

    /// The precision of raw line protocol passed to [`Client::write_lp`] (points are
    /// always sent in nanoseconds). Default: nanoseconds.
    pub fn precision(mut self, precision: Precision) -> Self {
        self.precision = precision;
        self
    }

    /// Gzips bodies larger than this many bytes; `None` never gzips. Default: 1 KiB.
    pub fn gzip_threshold(mut self, bytes: Option<usize>) -> Self {
        self.gzip_threshold = bytes;
        self
    }

    /// The longest time one request may take, connecting included. Default: 10 s.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// How failed requests are retried. Default: [`RetryOptions::default`].
    pub fn retry(mut self, retry: RetryOptions) -> Self {
        self.retry = retry;
        self
    }

    /// How an `https://` server is trusted. Default: [`TlsOptions::default`], the
    /// system's root certificates and no client certificate.
    pub fn tls(mut self, tls: TlsOptions) -> Self {
        self.tls = tls;
        self
    }

    /// Sends requests with this reqwest client instead of building one;
    /// [`ClientBuilder::timeout`] and [`ClientBuilder::tls`] are then the given client's
    /// business. Default: a client built here.
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.http = Some(client);
        self
    }

    /// Builds the client.
    ///
    /// # Errors
    /// [`Error::InvalidUrl`] when the URL is not an `http://` or `https://` URL, no
    /// database was named, or the TLS options name an unusable file.
    pub fn build(self) -> Result<Client> {
        let invalid = |reason: &str| Error::InvalidUrl {
            url: self.url.clone(),
            reason: reason.to_owned(),
        };
        let mut base = Url::parse(&self.url).map_err(|err| invalid(&err.to_string()))?;
        let https = match base.scheme() {
            "http" => false,
            "https" => true,
            other => return Err(invalid(&format!("scheme {other:?} is not http or https"))),
        };
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        base.set_query(None);
        let mut target = self
            .target
            .clone()
            .ok_or_else(|| invalid("name a database (v3/v1) or a bucket (v2)"))?;
        if let (Target::V2 { org, .. }, Some(given)) = (&mut target, &self.org) {
            org.clone_from(given);
        }
        let http = match &self.http {
            Some(client) => client.clone(),
            None => {
                crate::tls::install_default_provider();
                let mut builder = reqwest::Client::builder()
                    .timeout(self.timeout)
                    .connect_timeout(self.timeout.min(Duration::from_secs(5)))
                    .pool_idle_timeout(Duration::from_secs(60))
                    .tcp_nodelay(true);
                if https {
                    let config = self
                        .tls
                        .client_config()
                        .map_err(|err| invalid(&err.to_string()))?;
                    builder = builder.tls_backend_preconfigured(config);
                }
                builder.build().map_err(|err| invalid(&error_chain(&err)))?
            }
        };
        Ok(Client {
            inner: Arc::new(Inner {
                http,
                base,
                target,
                token: self.token,
                precision: self.precision,
                gzip_threshold: self.gzip_threshold,
                retry: self.retry,
            }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(builder: ClientBuilder, precision: Precision) -> String {
        builder.build().unwrap().write_url(precision).to_string()
    }

    #[test]
    fn write_urls_follow_each_api() {
        assert_eq!(
            url(
                Client::builder("http://h:1").database("db 1"),
                Precision::Second
            ),
            "http://h:1/api/v3/write_lp?db=db+1&precision=second&accept_partial=true"
        );
        assert_eq!(
            url(
                Client::builder("http://h:1/prefix").bucket("b").org("o"),
                Precision::Millisecond
            ),
            "http://h:1/prefix/api/v2/write?org=o&bucket=b&precision=ms"
        );
        assert_eq!(
            url(
                Client::builder("http://h:1/").v1("db", Some("rp".into())),
                Precision::Nanosecond
            ),
            "http://h:1/write?db=db&rp=rp&precision=n"
        );
    }

    #[test]
    fn building_needs_a_database_and_an_http_or_https_url() {
        assert!(matches!(
            Client::builder("http://h:1").build(),
            Err(Error::InvalidUrl { .. })
        ));
        assert!(Client::builder("https://h:1").database("d").build().is_ok());
        let unreadable_ca = TlsOptions {
            ca_file: Some("/nonexistent/ca.pem".into()),
            ..TlsOptions::default()
        };
        let err = Client::builder("https://h:1")
            .database("d")
            .tls(unreadable_ca)
            .build()
            .unwrap_err()
            .to_string();
        assert!(err.contains("cannot read /nonexistent/ca.pem"), "{err}");
        assert!(Client::builder("ftp://h:1").database("d").build().is_err());
        assert!(Client::builder("not a url").database("d").build().is_err());
    }

    #[test]
    fn small_bodies_are_sent_plain_and_large_ones_gzipped() {
        let client = Client::builder("http://h:1").database("d").build().unwrap();
        assert!(!client.encode_body(b"a f=1\n").1);
        let big = b"cpu,host=a usage=0.5 1\n".repeat(100);
        let (body, gzipped) = client.encode_body(&big);
        assert!(gzipped && body.len() < big.len());
    }
}
