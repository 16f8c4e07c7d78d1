//! The HTTP client every plugin that speaks HTTP shares: timeouts plus Telegraf's client
//! TLS keys (`tls_ca`, `tls_cert`, `tls_key`, `tls_server_name`, `tls_min_version`,
//! `insecure_skip_verify`), over the rustls
//! configuration `sluice_client::TlsOptions` builds (the system's roots by default).

use std::time::Duration;

use serde::Deserialize;
use sluice_client::{TlsMinVersion, TlsOption, TlsOptions};

/// Errors with their causes, as every plugin reports transport failures.
pub use sluice_client::error_chain;

/// Telegraf's client TLS keys, shared by every plugin that connects somewhere: a plugin
/// config holds them in a `#[serde(skip)]` field filled by
/// [`PluginSpec::parse_with_tls`](crate::config::PluginSpec::parse_with_tls), which takes
/// these keys out of the plugin's table (the plugin's own struct denies unknown keys,
/// which does not combine with `flatten`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsClientConfig {
    /// PEM file of the certificate authorities to trust instead of the system's roots.
    /// Default: none (the system's roots).
    pub tls_ca: Option<String>,
    /// PEM file of the client certificate, for servers that ask for one. Default: none.
    pub tls_cert: Option<String>,
    /// PEM file of the client certificate's private key. Default: none.
    pub tls_key: Option<String>,
    /// Password of an encrypted `tls_key`: not supported (decrypt the key with
    /// `openssl pkcs8`); a configuration setting it is refused. Default: none.
    pub tls_key_pwd: Option<String>,
    /// The name the server's certificate must be for, instead of the URL's host.
    /// Default: none (the URL's host).
    pub tls_server_name: Option<String>,
    /// The oldest TLS version spoken: `TLS12` or `TLS13`; `TLS10` and `TLS11` mean
    /// TLS 1.2 (rustls speaks no older version). Default: `TLS12`.
    pub tls_min_version: Option<String>,
    /// Accept any server certificate and host name (testing only). Default: `false`.
    pub insecure_skip_verify: bool,
    /// `true` speaks TLS even when no other key is set (the system's roots); `false`
    /// never does, whatever the other keys. Default: none (TLS when any other key is
    /// set). Used where the transport decides nothing itself (`redis`, `docker`); an
    /// `https://` URL or an `ssl://` broker is TLS whatever this says.
    pub tls_enable: Option<bool>,
}

impl TlsClientConfig {
    /// The keys [`TlsClientConfig`] reads.
    pub const KEYS: [&'static str; 8] = [
        "tls_ca",
        "tls_cert",
        "tls_key",
        "tls_key_pwd",
        "tls_server_name",
        "tls_min_version",
        "insecure_skip_verify",
        "tls_enable",
    ];

    /// The TLS keys of a plugin's table, and the table without them.
    ///
    /// # Errors
    /// A message naming a TLS key of the wrong type.
    pub fn split(table: &toml::Table) -> Result<(TlsClientConfig, toml::Table), String> {
        let (tls, own): (toml::Table, toml::Table) = table
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .partition(|(k, _)| Self::KEYS.contains(&k.as_str()));
        let tls: TlsClientConfig = toml::Value::Table(tls)
            .try_into()
            .map_err(|err: toml::de::Error| err.to_string())?;
        Ok((tls.without_empty_strings(), own))
    }

    /// The keys of a plugin config; empty strings count as unset, as in Telegraf.
    pub fn new(
        tls_ca: &Option<String>,
        tls_cert: &Option<String>,
        tls_key: &Option<String>,
        insecure_skip_verify: bool,
    ) -> TlsClientConfig {
        TlsClientConfig {
            tls_ca: tls_ca.clone(),
            tls_cert: tls_cert.clone(),
            tls_key: tls_key.clone(),
            insecure_skip_verify,
            ..TlsClientConfig::default()
        }
        .without_empty_strings()
    }

    /// Empty strings count as unset, as in Telegraf.
    fn without_empty_strings(self) -> TlsClientConfig {
        let set = |v: Option<String>| v.filter(|s| !s.trim().is_empty());
        TlsClientConfig {
            tls_ca: set(self.tls_ca),
            tls_cert: set(self.tls_cert),
            tls_key: set(self.tls_key),
            tls_key_pwd: set(self.tls_key_pwd),
            tls_server_name: set(self.tls_server_name),
            tls_min_version: set(self.tls_min_version),
            insecure_skip_verify: self.insecure_skip_verify,
            tls_enable: self.tls_enable,
        }
    }

    /// Whether TLS is asked for: `tls_enable` when given, else whether any other TLS key
    /// is set.
    pub fn is_set(&self) -> bool {
        if let Some(enable) = self.tls_enable {
            return enable;
        }
        self.tls_ca.is_some()
            || self.tls_cert.is_some()
            || self.tls_key.is_some()
            || self.tls_server_name.is_some()
            || self.tls_min_version.is_some()
            || self.insecure_skip_verify
    }

    /// The keys as the options every sluice HTTPS client shares.
    ///
    /// # Errors
    /// A `tls_cert` without `tls_key`, or the reverse; a `tls_key_pwd`; a
    /// `tls_min_version` that is not a TLS version.
    pub fn options(&self) -> Result<TlsOptions, String> {
        if self.tls_key_pwd.is_some() {
            return Err(
                "`tls_key_pwd`: encrypted private keys are not supported; decrypt the \
                        key (`openssl pkcs8 -in key.pem -out plain-key.pem`) and drop the \
                        password"
                    .to_owned(),
            );
        }
        let min_version = match self.tls_min_version.as_deref() {
            None | Some("TLS10" | "TLS11" | "TLS12") => TlsMinVersion::Tls12,
            Some("TLS13") => TlsMinVersion::Tls13,
            Some(other) => {
                return Err(format!(
                    "`tls_min_version`: {other:?} is not one of TLS10, TLS11, TLS12, TLS13"
                ));
            }
        };
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
            server_name: self.tls_server_name.clone(),
            min_version,
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
                TlsOption::ServerName => "tls_server_name",
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

/// A plugin config holding Telegraf's client TLS keys (see
/// [`PluginSpec::parse_with_tls`](crate::config::PluginSpec::parse_with_tls)).
pub trait WithTls {
    /// The config's TLS keys.
    fn tls_mut(&mut self) -> &mut TlsClientConfig;
}

/// Implements [`WithTls`] for plugin configs whose TLS keys are in their `tls` field.
macro_rules! with_tls {
    ($($config:ty),+ $(,)?) => {
        $(impl $crate::tls::WithTls for $config {
            fn tls_mut(&mut self) -> &mut $crate::tls::TlsClientConfig {
                &mut self.tls
            }
        })+
    };
}
pub(crate) use with_tls;

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
    fn tls_enable_decides_when_given_else_any_other_key_does() {
        let parse = |toml: &str| TlsClientConfig::split(&toml.parse().unwrap()).unwrap().0;
        assert!(!parse("").is_set());
        assert!(parse("tls_enable = true").is_set());
        assert!(parse("tls_ca = \"/ca.pem\"").is_set());
        assert!(!parse("tls_enable = false\ntls_ca = \"/ca.pem\"").is_set());
        assert!(TlsClientConfig::split(&"tls_enable = \"yes\"".parse().unwrap()).is_err());
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
    fn the_tls_keys_come_out_of_a_plugin_table() {
        let table: toml::Table = toml::from_str(
            r#"urls = ["https://h"]
               tls_ca = ""
               tls_server_name = "db.example.com"
               tls_min_version = "TLS13"
               insecure_skip_verify = false"#,
        )
        .unwrap();
        let (tls, own) = TlsClientConfig::split(&table).unwrap();
        assert_eq!(own.keys().collect::<Vec<_>>(), ["urls"]);
        assert_eq!(tls.tls_ca, None);
        assert_eq!(tls.tls_server_name.as_deref(), Some("db.example.com"));
        let options = tls.options().unwrap();
        assert_eq!(options.min_version, TlsMinVersion::Tls13);
        assert_eq!(options.server_name.as_deref(), Some("db.example.com"));

        let wrong: toml::Table = toml::from_str("insecure_skip_verify = \"yes\"").unwrap();
        let err = TlsClientConfig::split(&wrong).unwrap_err();
        assert!(err.contains("insecure_skip_verify"), "{err}");
    }

    #[test]
    fn unsupported_tls_settings_are_refused_with_the_key_named() {
        let version = TlsClientConfig {
            tls_min_version: Some("SSL3".into()),
            ..TlsClientConfig::default()
        };
        let err = version.options().unwrap_err();
        assert!(err.starts_with("`tls_min_version`: \"SSL3\""), "{err}");
        let old = TlsClientConfig {
            tls_min_version: Some("TLS10".into()),
            ..TlsClientConfig::default()
        };
        assert_eq!(old.options().unwrap().min_version, TlsMinVersion::Tls12);
        let password = TlsClientConfig {
            tls_key_pwd: Some("secret".into()),
            ..TlsClientConfig::default()
        };
        assert!(password.options().unwrap_err().starts_with("`tls_key_pwd`"));
    }

    #[test]
    fn only_http_urls_are_accepted() {
        assert!(check_http_url("urls", "https://h:1/x").is_ok());
        let err = check_http_url("urls", "ftp://h").unwrap_err();
        assert!(err.contains("not http or https"), "{err}");
    }
}
