//! `inputs.nginx`: reads nginx's `stub_status` pages, as Telegraf's nginx input does.
//!
//! One `nginx` metric per URL, tagged `server` (the URL's host) and `port` (its port, or
//! 80/443 by scheme), with the seven integer fields of the page.

use serde::Deserialize;

use crate::blocking::LocalRuntime;
use crate::config::ConfigDuration;
use crate::error::Result;
use crate::metric::Metric;
use crate::plugins::{Accumulator, Input};
use crate::tls::{TlsClientConfig, check_http_url, error_chain};

/// `[[inputs.nginx]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NginxConfig {
    /// The `stub_status` pages. Default: `["http://localhost/server_status"]`.
    pub urls: Vec<String>,
    /// The longest one request may take. Default: `"5s"`.
    pub response_timeout: ConfigDuration,
    /// Telegraf's client TLS keys (`tls_ca`, `tls_cert`, `tls_key`, `tls_server_name`,
    /// `tls_min_version`, `insecure_skip_verify`), taken out of the plugin's table by
    /// `PluginSpec::parse_with_tls`. Default: none (the system's roots).
    #[serde(skip)]
    pub tls: TlsClientConfig,
}

crate::tls::with_tls!(NginxConfig);

impl Default for NginxConfig {
    fn default() -> Self {
        NginxConfig {
            urls: vec!["http://localhost/server_status".to_owned()],
            response_timeout: ConfigDuration::secs(5),
            tls: TlsClientConfig::default(),
        }
    }
}

/// The figures of one `stub_status` page, in Telegraf's field order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StubStatus {
    /// Open client connections, idle ones included.
    pub active: i64,
    /// Connections accepted.
    pub accepts: i64,
    /// Connections handled.
    pub handled: i64,
    /// Requests served.
    pub requests: i64,
    /// Connections reading a request header.
    pub reading: i64,
    /// Connections writing a response.
    pub writing: i64,
    /// Idle keep-alive connections.
    pub waiting: i64,
}

/// Parses a `stub_status` page:
///
/// ```text
/// Active connections: 2
/// server accepts handled requests
///  605 605 12132
/// Reading: 0 Writing: 1 Waiting: 1
/// ```
///
/// # Errors
/// A message naming the line that is not as expected.
pub fn parse_stub_status(text: &str) -> std::result::Result<StubStatus, String> {
    let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
    let number = |word: &str, line: &str| {
        word.parse::<i64>()
            .map_err(|_| format!("not a stub_status page: {word:?} in {line:?} is not a number"))
    };
    let first = lines.next().unwrap_or("");
    let active = match first.strip_prefix("Active connections:") {
        Some(rest) => number(rest.trim(), first)?,
        None => {
            return Err(format!(
                "not a stub_status page: first line {first:?} is not \"Active connections: N\""
            ));
        }
    };
    let header = lines.next().unwrap_or("");
    if !header.starts_with("server accepts handled requests") {
        return Err(format!(
            "not a stub_status page: expected \"server accepts handled requests\", found {header:?}"
        ));
    }
    let counts_line = lines.next().unwrap_or("");
    let counts: Vec<&str> = counts_line.split_whitespace().collect();
    if counts.len() < 3 {
        return Err(format!(
            "not a stub_status page: expected three counts, found {counts_line:?}"
        ));
    }
    let states = lines.next().unwrap_or("");
    let words: Vec<&str> = states.split_whitespace().collect();
    let state = |name: &str| -> std::result::Result<i64, String> {
        let i = words
            .iter()
            .position(|w| *w == name)
            .ok_or_else(|| format!("not a stub_status page: no {name:?} in {states:?}"))?;
        number(words.get(i + 1).copied().unwrap_or(""), states)
    };
    Ok(StubStatus {
        active,
        accepts: number(counts[0], counts_line)?,
        handled: number(counts[1], counts_line)?,
        requests: number(counts[2], counts_line)?,
        reading: state("Reading:")?,
        writing: state("Writing:")?,
        waiting: state("Waiting:")?,
    })
}

/// The `server` and `port` tags of a URL: its host, and its port or the scheme's.
fn server_tags(url: &reqwest::Url) -> (String, String) {
    let host = url.host_str().unwrap_or("").to_owned();
    let port = url
        .port_or_known_default()
        .map(|p| p.to_string())
        .unwrap_or_default();
    (host, port)
}

/// The `nginx` input.
#[derive(Debug)]
pub struct Nginx {
    urls: Vec<reqwest::Url>,
    http: reqwest::Client,
    runtime: LocalRuntime,
}

impl Nginx {
    /// Builds the input.
    ///
    /// # Errors
    /// A message about an invalid URL or TLS key.
    pub fn new(config: NginxConfig) -> std::result::Result<Nginx, String> {
        let urls = config
            .urls
            .iter()
            .map(|u| check_http_url("urls", u))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let tls = config.tls.clone();
        let http = tls.http_client(config.response_timeout.0)?;
        Ok(Nginx {
            urls,
            http,
            runtime: LocalRuntime::new()?,
        })
    }
}

async fn fetch(http: &reqwest::Client, url: &reqwest::Url) -> std::result::Result<String, String> {
    let response = http
        .get(url.clone())
        .send()
        .await
        .map_err(|err| format!("{url}: {}", error_chain(&err)))?;
    let status = response.status();
    if !status.is_success() {
        return Err(format!("{url}: answered {status}"));
    }
    response
        .text()
        .await
        .map_err(|err| format!("{url}: {}", error_chain(&err)))
}

impl Input for Nginx {
    fn gather(&mut self, acc: &mut Accumulator) -> Result<()> {
        // Every page at once, so that a server that is down delays the others by nothing.
        let pages = self.runtime.block_on(async {
            let tasks: Vec<_> = self
                .urls
                .iter()
                .map(|url| {
                    let (http, url) = (self.http.clone(), url.clone());
                    tokio::spawn(async move { fetch(&http, &url).await })
                })
                .collect();
            let mut pages = Vec::with_capacity(tasks.len());
            for task in tasks {
                pages.push(task.await.unwrap_or_else(|err| Err(err.to_string())));
            }
            pages
        });
        for (url, page) in self.urls.iter().zip(pages) {
            let status = match page
                .and_then(|text| parse_stub_status(&text).map_err(|err| format!("{url}: {err}")))
            {
                Ok(status) => status,
                Err(err) => {
                    acc.add_error(err);
                    continue;
                }
            };
            let (server, port) = server_tags(url);
            acc.add(
                Metric::new("nginx", acc.time())
                    .with_tag("server", server)
                    .with_tag("port", port)
                    .with_field("active", status.active)
                    .with_field("accepts", status.accepts)
                    .with_field("handled", status.handled)
                    .with_field("requests", status.requests)
                    .with_field("reading", status.reading)
                    .with_field("writing", status.writing)
                    .with_field("waiting", status.waiting),
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stub_status_page_parses_into_the_seven_fields() {
        let page = "Active connections: 2 \nserver accepts handled requests\n 605 605 12132 \nReading: 0 Writing: 1 Waiting: 1 \n";
        assert_eq!(
            parse_stub_status(page).unwrap(),
            StubStatus {
                active: 2,
                accepts: 605,
                handled: 605,
                requests: 12132,
                reading: 0,
                writing: 1,
                waiting: 1,
            }
        );
    }

    #[test]
    fn a_page_that_is_not_stub_status_is_an_error_naming_the_line() {
        let err = parse_stub_status("<html>hello</html>").unwrap_err();
        assert!(err.contains("Active connections"), "{err}");
        let err =
            parse_stub_status("Active connections: 1\nserver accepts handled requests\n 1 x 3\nReading: 0 Writing: 1 Waiting: 0\n")
                .unwrap_err();
        assert!(err.contains("\"x\""), "{err}");
    }

    #[test]
    fn tags_take_the_port_from_the_scheme_when_the_url_has_none() {
        let tags = |u: &str| server_tags(&reqwest::Url::parse(u).unwrap());
        assert_eq!(
            tags("http://localhost/status"),
            ("localhost".into(), "80".into())
        );
        assert_eq!(
            tags("https://example.com/s"),
            ("example.com".into(), "443".into())
        );
        assert_eq!(
            tags("http://127.0.0.1:8080/s"),
            ("127.0.0.1".into(), "8080".into())
        );
    }

    #[test]
    fn a_server_that_is_down_is_an_error_for_its_url_only() {
        let mut input = Nginx::new(NginxConfig {
            urls: vec!["http://127.0.0.1:1/status".into()],
            response_timeout: ConfigDuration::secs(2),
            ..NginxConfig::default()
        })
        .unwrap();
        let mut acc = Accumulator::new(1);
        input.gather(&mut acc).unwrap();
        assert!(acc.metrics().is_empty());
        assert_eq!(acc.errors().len(), 1);
        assert!(
            acc.errors()[0].contains("127.0.0.1:1"),
            "{:?}",
            acc.errors()
        );
    }
}
