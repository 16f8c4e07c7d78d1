//! The HTTP client every plugin that speaks HTTP shares: timeouts plus Telegraf's client
//! TLS keys (`tls_ca`, `tls_cert`, `tls_key`, `insecure_skip_verify`), over the rustls
//! configuration `sluice_client::TlsOptions` builds (the system's roots by default).

use std::time::Duration;

use serde::Deserialize;
use sluice_client::{TlsOption, TlsOptions};

/// Errors with their causes, as every plugin reports transport failures.
pub use sluice_client::error_chain;

/// Telegraf's client TLS keys, as a plugin config carries them (each plugin lists the
/// four keys itself, because `deny_unknown_fields` does not combine with `flatten`, and
/// hands them over through [`TlsClientConfig::new`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct TlsClientConfig {
    /// PEM file of the certificate authorities to trust instead of the system's roots.
    /// Default: none (the system's roots).
    pub tls_ca: Option<String>,
    /// PEM file of the client certificate, for servers that ask for one. Default: none.
    pub tls_cert: Option<String>,
    /// PEM file of the client certificate's private key. Default: none.
    pub tls_key: Option<String>,
    /// Accept any server certificate and host name (testing only). Default: `false`.
    pub insecure_skip_verify: bool,
}

impl TlsClientConfig {
    /// The keys of a plugin config; empty strings count as unset, as in Telegraf.
    pub fn new(
        tls_ca: &Option<String>,
        tls_cert: &Option<String>,
        tls_key: &Option<String>,
        insecure_skip_verify: bool,
    ) -> TlsClientConfig {
        let set = |v: &Option<String>| v.clone().filter(|s| !s.trim().is_empty());
        TlsClientConfig {
            tls_ca: set(tls_ca),
            tls_cert: set(tls_cert),
            tls_key: set(tls_key),
            insecure_skip_verify,
        }
    }

    /// Whether any TLS key is set.
    pub fn is_set(&self) -> bool {
        self.tls_ca.is_some()
            || self.tls_cert.is_some()
            || self.tls_key.is_some()
            || self.insecure_skip_verify
    }

    /// The keys as the options every sluice HTTPS client shares.
    ///
    /// # Errors
    /// A `tls_cert` without `tls_key`, or the reverse.
    pub fn options(&self) -> Result<TlsOptions, String> {
        let identity = match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => Some((cert.into(), key.into())),
            (Some(_), None) => return Err("`tls_cert` needs `tls_key`".to_owned()),
            (None, Some(_)) => return Err("`tls_key` needs `tls_cert`".to_owned()),
            (None, None) => None,
        };
        Ok(TlsOptions {
            ca_file: self.tls_ca.as_ref().map(Into::into),
            identity,
            skip_verify: self.insecure_skip_verify,
        })
    }

    /// Applies the keys to a reqwest client builder.
    ///
    /// # Errors
    /// A message naming the key whose file cannot be read or parsed, or a `tls_cert`
    /// without `tls_key` (or the reverse).
    pub fn apply(&self, builder: reqwest::ClientBuilder) -> Result<reqwest::ClientBuilder, String> {
        Ok(builder.tls_backend_preconfigured(self.rustls_config()?))
    }

    /// The rustls client configuration of these keys, for clients other than reqwest's.
    ///
    /// # Errors
    /// As [`TlsClientConfig::apply`].
    pub fn rustls_config(&self) -> Result<rustls::ClientConfig, String> {
        self.options()?.client_config().map_err(|err| {
            let key = match err.option {
                TlsOption::Ca => "tls_ca",
                TlsOption::Cert => "tls_cert",
                TlsOption::Key => "tls_key",
            };
            format!("`{key}`: {err}")
        })
    }

    /// A reqwest client with these keys and `timeout` for whole requests (connecting
    /// within at most 5 s of it).
    ///
    /// # Errors
    /// As [`TlsClientConfig::apply`], or when the client cannot be built.
    pub fn http_client(&self, timeout: Duration) -> Result<reqwest::Client, String> {
        let timeout = if timeout.is_zero() {
            Duration::from_secs(5)
        } else {
            timeout
        };
        sluice_client::tls::install_default_provider();
        let builder = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .pool_idle_timeout(Duration::from_secs(60))
            .user_agent(concat!("sluice-agent/", env!("CARGO_PKG_VERSION")));
        self.apply(builder)?
            .build()
            .map_err(|err| format!("cannot build the HTTP client: {}", error_chain(&err)))
    }
}

/// Checks that `url` is an `http://` or `https://` URL.
///
/// # Errors
/// A message naming the URL and what is wrong.
pub fn check_http_url(key: &str, url: &str) -> Result<reqwest::Url, String> {
    let parsed = reqwest::Url::parse(url).map_err(|err| format!("`{key}`: {url:?}: {err}"))?;
    match parsed.scheme() {
        "http" | "https" => Ok(parsed),
        other => Err(format!(
            "`{key}`: {url:?}: scheme {other:?} is not http or https"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_strings_are_unset() {
        let tls = TlsClientConfig::new(&Some(String::new()), &None, &Some(" ".into()), false);
        assert!(!tls.is_set());
        assert!(tls.http_client(Duration::from_secs(1)).is_ok());
    }

    #[test]
    fn a_certificate_without_its_key_is_refused() {
        let tls = TlsClientConfig::new(&None, &Some("/x.pem".into()), &None, false);
        assert_eq!(
            tls.http_client(Duration::ZERO).unwrap_err(),
            "`tls_cert` needs `tls_key`"
        );
    }

    #[test]
    fn an_unreadable_ca_file_names_the_key_and_path() {
        let tls = TlsClientConfig::new(&Some("/nonexistent/ca.pem".into()), &None, &None, false);
        let err = tls.http_client(Duration::ZERO).unwrap_err();
        assert!(
            err.starts_with("`tls_ca`: cannot read /nonexistent/ca.pem"),
            "{err}"
        );
    }

    #[test]
    fn only_http_urls_are_accepted() {
        assert!(check_http_url("urls", "https://h:1/x").is_ok());
        let err = check_http_url("urls", "ftp://h").unwrap_err();
        assert!(err.contains("not http or https"), "{err}");
    }
}
