//! TLS as Telegraf's `common/tls` configures it, over rustls (`ring`):
//!
//! - the HTTP client every plugin that speaks HTTP shares: timeouts plus Telegraf's client
//!   TLS keys ([`TlsClientConfig`]: `tls_ca`, `tls_cert`, `tls_key`, `tls_server_name`,
//!   `tls_min_version`, `tls_max_version`, `tls_cipher_suites`, `insecure_skip_verify`),
//!   over the rustls configuration `sluice_client::TlsOptions` builds (the system's roots
//!   by default);
//! - the server side of the listeners (`http_listener_v2`, `health`): Telegraf's server
//!   TLS keys ([`TlsServerConfig`]: `tls_cert`, `tls_key`, `tls_allowed_cacerts` for
//!   client certificates, and the same version and cipher keys), and [`serve`], which
//!   speaks HTTPS only when they are set;
//! - the mapping of Telegraf's (Go's `crypto/tls`) version and cipher suite names to what
//!   rustls speaks ([`Protocol::parse`]).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::CipherSuite;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde::Deserialize;
use sluice_client::{TlsMaxVersion, TlsMinVersion, TlsOption, TlsOptions};

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
    /// The newest TLS version spoken: `TLS12` or `TLS13` (a sluice addition; Telegraf's
    /// clients have it only on the server side). Default: `TLS13`.
    pub tls_max_version: Option<String>,
    /// The cipher suites offered, by Go's names (see [`Protocol::parse`]). Default: `[]`
    /// (every suite rustls speaks).
    pub tls_cipher_suites: Vec<String>,
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
    pub const KEYS: [&'static str; 10] = [
        "tls_ca",
        "tls_cert",
        "tls_key",
        "tls_key_pwd",
        "tls_server_name",
        "tls_min_version",
        "tls_max_version",
        "tls_cipher_suites",
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
            tls_max_version: set(self.tls_max_version),
            tls_cipher_suites: self.tls_cipher_suites,
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
            || self.tls_max_version.is_some()
            || !self.tls_cipher_suites.is_empty()
            || self.insecure_skip_verify
    }

    /// The keys as the options every sluice HTTPS client shares.
    ///
    /// # Errors
    /// A `tls_cert` without `tls_key`, or the reverse; a `tls_key_pwd`; a
    /// `tls_min_version`, `tls_max_version` or `tls_cipher_suites` rustls cannot do (see
    /// [`Protocol::parse`]).
    pub fn options(&self) -> Result<TlsOptions, String> {
        refuse_key_password(self.tls_key_pwd.as_deref())?;
        let protocol = Protocol::parse(
            self.tls_min_version.as_deref(),
            self.tls_max_version.as_deref(),
            &self.tls_cipher_suites,
        )?;
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
            min_version: protocol.min_version,
            max_version: protocol.max_version,
            cipher_suites: protocol.cipher_suites,
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
                TlsOption::Protocol => "tls_cipher_suites",
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

/// `tls_key_pwd` is refused wherever it is set.
fn refuse_key_password(password: Option<&str>) -> Result<(), String> {
    match password {
        None => Ok(()),
        Some(_) => Err(
            "`tls_key_pwd`: encrypted private keys are not supported; decrypt the key \
             (`openssl pkcs8 -in key.pem -out plain-key.pem`) and drop the password"
                .to_owned(),
        ),
    }
}

/// A TLS version by Telegraf's (Go's) name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum GoVersion {
    Tls10,
    Tls11,
    Tls12,
    Tls13,
}

impl GoVersion {
    fn parse(key: &str, name: &str) -> Result<GoVersion, String> {
        Ok(match name {
            "TLS10" => GoVersion::Tls10,
            "TLS11" => GoVersion::Tls11,
            "TLS12" => GoVersion::Tls12,
            "TLS13" => GoVersion::Tls13,
            other => {
                return Err(format!(
                    "`{key}`: {other:?} is not one of TLS10, TLS11, TLS12, TLS13"
                ));
            }
        })
    }
}

/// Go's cipher suite names (those of `crypto/tls`'s `CipherSuites()` and
/// `InsecureCipherSuites()`, which Telegraf accepts) and the rustls suite of each, where
/// rustls's `ring` provider has one. The first three are TLS 1.3's.
const GO_CIPHER_SUITES: &[(&str, Option<CipherSuite>)] = &[
    (
        "TLS_AES_128_GCM_SHA256",
        Some(CipherSuite::TLS13_AES_128_GCM_SHA256),
    ),
    (
        "TLS_AES_256_GCM_SHA384",
        Some(CipherSuite::TLS13_AES_256_GCM_SHA384),
    ),
    (
        "TLS_CHACHA20_POLY1305_SHA256",
        Some(CipherSuite::TLS13_CHACHA20_POLY1305_SHA256),
    ),
    (
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
        Some(CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256),
    ),
    (
        "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
        Some(CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384),
    ),
    (
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
        Some(CipherSuite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256),
    ),
    (
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
        Some(CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256),
    ),
    (
        "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
        Some(CipherSuite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384),
    ),
    (
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
        Some(CipherSuite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256),
    ),
    // Go speaks these; rustls does not (CBC modes, RSA key exchange, RC4, 3DES).
    ("TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA", None),
    ("TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA", None),
    ("TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", None),
    ("TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA", None),
    ("TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256", None),
    ("TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256", None),
    ("TLS_RSA_WITH_AES_128_GCM_SHA256", None),
    ("TLS_RSA_WITH_AES_256_GCM_SHA384", None),
    ("TLS_RSA_WITH_AES_128_CBC_SHA", None),
    ("TLS_RSA_WITH_AES_256_CBC_SHA", None),
    ("TLS_RSA_WITH_AES_128_CBC_SHA256", None),
    ("TLS_RSA_WITH_3DES_EDE_CBC_SHA", None),
    ("TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA", None),
    ("TLS_RSA_WITH_RC4_128_SHA", None),
    ("TLS_ECDHE_ECDSA_WITH_RC4_128_SHA", None),
    ("TLS_ECDHE_RSA_WITH_RC4_128_SHA", None),
];

fn is_tls13(suite: CipherSuite) -> bool {
    GO_CIPHER_SUITES[..3].iter().any(|(_, s)| *s == Some(suite))
}

/// The Go names of the suites rustls speaks, for error messages.
fn supported_suite_names() -> String {
    GO_CIPHER_SUITES
        .iter()
        .filter(|(_, suite)| suite.is_some())
        .map(|(name, _)| *name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Telegraf's `tls_min_version`, `tls_max_version` and `tls_cipher_suites`, as rustls
/// speaks them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Protocol {
    /// The oldest version spoken.
    pub min_version: TlsMinVersion,
    /// The newest version spoken.
    pub max_version: TlsMaxVersion,
    /// The suites spoken; empty: every suite rustls speaks.
    pub cipher_suites: Vec<CipherSuite>,
}

impl Protocol {
    /// Maps Telegraf's names to rustls's:
    ///
    /// - versions `TLS10`, `TLS11`, `TLS12`, `TLS13` (Go's names). rustls speaks TLS 1.2
    ///   and 1.3 only, so a `tls_min_version` of `TLS10` or `TLS11` means TLS 1.2, and a
    ///   `tls_max_version` older than `TLS12` is an error. Defaults: TLS 1.2 to TLS 1.3.
    /// - cipher suites by Go's names (`TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256`, the TLS
    ///   1.3 `TLS_AES_128_GCM_SHA256`, ...; any case), and `"all"` or `"secure"` for every
    ///   suite rustls speaks. A suite Go has and rustls does not (CBC, RSA key exchange,
    ///   RC4, 3DES, and `"insecure"`) is an error naming it and the suites rustls has. As
    ///   in Go, where TLS 1.3 suites cannot be chosen, a list naming no TLS 1.3 suite
    ///   leaves all of them on; naming some keeps only those.
    ///
    /// # Errors
    /// A message naming the key and the value rustls cannot do, and why.
    pub fn parse(
        min_version: Option<&str>,
        max_version: Option<&str>,
        cipher_suites: &[String],
    ) -> Result<Protocol, String> {
        let min = min_version
            .map(|name| GoVersion::parse("tls_min_version", name))
            .transpose()?;
        let max = max_version
            .map(|name| GoVersion::parse("tls_max_version", name))
            .transpose()?;
        if let (Some(min), Some(max)) = (min, max)
            && min > max
        {
            return Err(format!(
                "`tls_min_version` {:?} is newer than `tls_max_version` {:?}",
                min_version.unwrap_or_default(),
                max_version.unwrap_or_default()
            ));
        }
        let max_version = match max {
            None | Some(GoVersion::Tls13) => TlsMaxVersion::Tls13,
            Some(GoVersion::Tls12) => TlsMaxVersion::Tls12,
            Some(GoVersion::Tls10 | GoVersion::Tls11) => {
                return Err(format!(
                    "`tls_max_version`: {:?}: rustls speaks only TLS 1.2 and 1.3, so the \
                     newest version cannot be older than TLS12",
                    max_version.unwrap_or_default()
                ));
            }
        };
        let min_version = match min {
            Some(GoVersion::Tls13) => TlsMinVersion::Tls13,
            _ => TlsMinVersion::Tls12,
        };

        let mut chosen: Vec<CipherSuite> = Vec::new();
        let add = |chosen: &mut Vec<CipherSuite>, suite: CipherSuite| {
            if !chosen.contains(&suite) {
                chosen.push(suite);
            }
        };
        for name in cipher_suites {
            match name.as_str() {
                "all" | "secure" => GO_CIPHER_SUITES
                    .iter()
                    .filter_map(|(_, suite)| *suite)
                    .for_each(|suite| add(&mut chosen, suite)),
                "insecure" => {
                    return Err(format!(
                        "`tls_cipher_suites`: \"insecure\": rustls speaks none of Go's insecure \
                         suites (RC4, 3DES, CBC with SHA-256); it speaks {}",
                        supported_suite_names()
                    ));
                }
                _ => {
                    let upper = name.to_ascii_uppercase();
                    match GO_CIPHER_SUITES.iter().find(|(go, _)| *go == upper) {
                        Some((_, Some(suite))) => add(&mut chosen, *suite),
                        Some((_, None)) => {
                            return Err(format!(
                                "`tls_cipher_suites`: {name:?} is not implemented by rustls \
                                 (no CBC, RSA key exchange, RC4 or 3DES); it speaks {}",
                                supported_suite_names()
                            ));
                        }
                        None => {
                            return Err(format!(
                                "`tls_cipher_suites`: {name:?} is not a cipher suite name; use \
                                 Go's names, \"all\" or \"secure\"; rustls speaks {}",
                                supported_suite_names()
                            ));
                        }
                    }
                }
            }
        }
        if !chosen.is_empty() && !chosen.iter().any(|s| is_tls13(*s)) {
            GO_CIPHER_SUITES[..3]
                .iter()
                .filter_map(|(_, suite)| *suite)
                .for_each(|suite| add(&mut chosen, suite));
        }
        if max_version == TlsMaxVersion::Tls12
            && !chosen.is_empty()
            && chosen.iter().all(|s| is_tls13(*s))
        {
            return Err(
                "`tls_cipher_suites`: only TLS 1.3 suites are named, and `tls_max_version` = \
                 \"TLS12\" speaks TLS 1.2 only; name a TLS 1.2 suite too"
                    .to_owned(),
            );
        }
        Ok(Protocol {
            min_version,
            max_version,
            cipher_suites: chosen,
        })
    }

    /// The `ring` provider with these suites.
    fn crypto_provider(&self) -> rustls::crypto::CryptoProvider {
        sluice_client::tls::crypto_provider(&self.cipher_suites)
    }

    /// The versions spoken.
    fn versions(&self) -> &'static [&'static rustls::SupportedProtocolVersion] {
        sluice_client::tls::protocol_versions(self.min_version, self.max_version)
    }
}

/// Telegraf's server TLS keys (`common/tls` `ServerConfig`), shared by the listeners
/// (`http_listener_v2`, `health`): a plugin config holds them in a `#[serde(skip)]` field
/// filled by [`PluginSpec::parse_with_server_tls`](crate::config::PluginSpec::parse_with_server_tls),
/// which takes these keys out of the plugin's table. With `tls_cert` and `tls_key` set,
/// the listener speaks HTTPS only.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsServerConfig {
    /// PEM file of the server's certificate (chain, its own first). Default: none (plain
    /// HTTP).
    pub tls_cert: Option<String>,
    /// PEM file of the certificate's private key (PKCS#8, PKCS#1 or SEC1). Default: none.
    pub tls_key: Option<String>,
    /// Password of an encrypted `tls_key`: not supported; a configuration setting it is
    /// refused. Default: none.
    pub tls_key_pwd: Option<String>,
    /// PEM files of the authorities client certificates must be signed by: set, every
    /// client must present one (mutual TLS). Default: `[]` (no client certificate asked).
    pub tls_allowed_cacerts: Vec<String>,
    /// The cipher suites accepted, by Go's names (see [`Protocol::parse`]). Default: `[]`
    /// (every suite rustls speaks).
    pub tls_cipher_suites: Vec<String>,
    /// The oldest TLS version accepted (see [`Protocol::parse`]). Default: `TLS12`.
    pub tls_min_version: Option<String>,
    /// The newest TLS version accepted. Default: `TLS13`.
    pub tls_max_version: Option<String>,
    /// Telegraf's DNS names client certificates must carry: not supported; a
    /// configuration setting it is refused. Default: `[]`.
    pub tls_allowed_dns_names: Vec<String>,
}

impl TlsServerConfig {
    /// The keys [`TlsServerConfig`] reads.
    pub const KEYS: [&'static str; 8] = [
        "tls_cert",
        "tls_key",
        "tls_key_pwd",
        "tls_allowed_cacerts",
        "tls_cipher_suites",
        "tls_min_version",
        "tls_max_version",
        "tls_allowed_dns_names",
    ];

    /// The server TLS keys of a plugin's table, and the table without them.
    ///
    /// # Errors
    /// A message naming a TLS key of the wrong type.
    pub fn split(table: &toml::Table) -> Result<(TlsServerConfig, toml::Table), String> {
        let (tls, own): (toml::Table, toml::Table) = table
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .partition(|(k, _)| Self::KEYS.contains(&k.as_str()));
        let tls: TlsServerConfig = toml::Value::Table(tls)
            .try_into()
            .map_err(|err: toml::de::Error| err.to_string())?;
        let set = |v: Option<String>| v.filter(|s| !s.trim().is_empty());
        Ok((
            TlsServerConfig {
                tls_cert: set(tls.tls_cert),
                tls_key: set(tls.tls_key),
                tls_key_pwd: set(tls.tls_key_pwd),
                tls_min_version: set(tls.tls_min_version),
                tls_max_version: set(tls.tls_max_version),
                ..tls
            },
            own,
        ))
    }

    /// The acceptor of these keys: `None` when neither `tls_cert` nor `tls_key` is set
    /// (plain HTTP). Every key is checked, and the files read, whether or not TLS is on.
    ///
    /// # Errors
    /// A message naming the key at fault: a `tls_cert` without `tls_key` (or the
    /// reverse), `tls_allowed_cacerts` without them, a file that cannot be read or holds
    /// no usable PEM item, a key that is not the certificate's, a version or cipher suite
    /// rustls cannot do, `tls_key_pwd`, `tls_allowed_dns_names`.
    pub fn acceptor(&self) -> Result<Option<ServerTls>, String> {
        refuse_key_password(self.tls_key_pwd.as_deref())?;
        if !self.tls_allowed_dns_names.is_empty() {
            return Err(
                "`tls_allowed_dns_names` is not supported (client certificates are checked \
                 against `tls_allowed_cacerts` only); remove it"
                    .to_owned(),
            );
        }
        let protocol = Protocol::parse(
            self.tls_min_version.as_deref(),
            self.tls_max_version.as_deref(),
            &self.tls_cipher_suites,
        )?;
        let (cert, key) = match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => (cert, key),
            (Some(_), None) => return Err("`tls_cert` needs `tls_key`".to_owned()),
            (None, Some(_)) => return Err("`tls_key` needs `tls_cert`".to_owned()),
            (None, None) if !self.tls_allowed_cacerts.is_empty() => {
                return Err(
                    "`tls_allowed_cacerts` needs `tls_cert` and `tls_key` (the listener's \
                     own certificate and key)"
                        .to_owned(),
                );
            }
            (None, None) => return Ok(None),
        };
        let provider = Arc::new(protocol.crypto_provider());
        let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(protocol.versions())
            .map_err(|err| format!("`tls_cipher_suites`: {err}"))?;
        let builder = if self.tls_allowed_cacerts.is_empty() {
            builder.with_no_client_auth()
        } else {
            let mut roots = rustls::RootCertStore::empty();
            for path in &self.tls_allowed_cacerts {
                for ca in read_certificates("tls_allowed_cacerts", path)? {
                    roots.add(ca).map_err(|err| {
                        format!("`tls_allowed_cacerts`: {path}: not a usable CA certificate: {err}")
                    })?;
                }
            }
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider,
            )
            .build()
            .map_err(|err| format!("`tls_allowed_cacerts`: {err}"))?;
            builder.with_client_cert_verifier(verifier)
        };
        let chain = read_certificates("tls_cert", cert)?;
        let key_der = PrivateKeyDer::from_pem_slice(&read_file("tls_key", key)?)
            .map_err(|err| format!("`tls_key`: {key} holds no PEM private key: {err}"))?;
        let mut config = builder.with_single_cert(chain, key_der).map_err(|err| {
            format!("`tls_key`: {key} is not the private key of `tls_cert` {cert}: {err}")
        })?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Some(ServerTls(tokio_rustls::TlsAcceptor::from(Arc::new(
            config,
        )))))
    }
}

/// What a listener's TLS handshakes use (see [`TlsServerConfig::acceptor`]).
#[derive(Clone)]
pub struct ServerTls(tokio_rustls::TlsAcceptor);

impl std::fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ServerTls")
    }
}

fn read_file(key: &str, path: &str) -> Result<Vec<u8>, String> {
    std::fs::read(Path::new(path)).map_err(|err| format!("`{key}`: cannot read {path}: {err}"))
}

/// The certificates of a PEM file (other items are skipped); at least one.
fn read_certificates(key: &str, path: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_slice_iter(&read_file(key, path)?)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|err| format!("`{key}`: {path} is not valid PEM: {err}"))?;
    if certs.is_empty() {
        return Err(format!(
            "`{key}`: {path} holds no PEM certificate (-----BEGIN CERTIFICATE-----)"
        ));
    }
    Ok(certs)
}

/// A plugin config holding Telegraf's server TLS keys (see
/// [`PluginSpec::parse_with_server_tls`](crate::config::PluginSpec::parse_with_server_tls)).
pub trait WithServerTls {
    /// The config's server TLS keys.
    fn server_tls_mut(&mut self) -> &mut TlsServerConfig;
}

/// How long a client has to complete the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves `app` on `listener`: HTTPS only with `tls`, else plain HTTP. `what` names the
/// plugin in the log, where refused handshakes (a plain HTTP request, a client without
/// an accepted certificate) are reported at warn level.
///
/// # Errors
/// As `axum::serve`.
pub async fn serve<L>(
    listener: L,
    app: axum::Router,
    tls: Option<ServerTls>,
    what: &'static str,
) -> std::io::Result<()>
where
    L: axum::serve::Listener,
    L::Addr: std::fmt::Debug + Clone + Sync,
{
    match tls {
        None => axum::serve(listener, app).await,
        Some(ServerTls(acceptor)) => {
            axum::serve(TlsListener::new(listener, acceptor, what), app).await
        }
    }
}

type Accepted<L> = (
    tokio_rustls::server::TlsStream<<L as axum::serve::Listener>::Io>,
    <L as axum::serve::Listener>::Addr,
);

/// A listener whose connections have completed a TLS handshake. Connections are
/// accepted on a task of their own and their handshakes run concurrently, so that a slow
/// or silent client holds up no other.
struct TlsListener<L: axum::serve::Listener> {
    handshaken: tokio::sync::mpsc::Receiver<Accepted<L>>,
    local_addr: Option<L::Addr>,
    accepting: tokio::task::JoinHandle<()>,
}

impl<L> TlsListener<L>
where
    L: axum::serve::Listener,
    L::Addr: std::fmt::Debug + Clone + Sync,
{
    fn new(mut inner: L, acceptor: tokio_rustls::TlsAcceptor, what: &'static str) -> Self {
        let local_addr = inner.local_addr().ok();
        let (sender, handshaken) = tokio::sync::mpsc::channel(64);
        let accepting = tokio::spawn(async move {
            loop {
                let (io, peer) = inner.accept().await;
                let acceptor = acceptor.clone();
                let sender = sender.clone();
                tokio::spawn(async move {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(io)).await {
                        Ok(Ok(stream)) => {
                            let _ = sender.send((stream, peer)).await;
                        }
                        Ok(Err(err)) => {
                            tracing::warn!(
                                plugin = what,
                                "TLS handshake from {peer:?} refused: {err}"
                            );
                        }
                        Err(_) => {
                            tracing::warn!(
                                plugin = what,
                                "TLS handshake from {peer:?} not completed within {HANDSHAKE_TIMEOUT:?}"
                            );
                        }
                    }
                });
            }
        });
        TlsListener {
            handshaken,
            local_addr,
            accepting,
        }
    }
}

impl<L: axum::serve::Listener> Drop for TlsListener<L> {
    fn drop(&mut self) {
        self.accepting.abort();
    }
}

impl<L> axum::serve::Listener for TlsListener<L>
where
    L: axum::serve::Listener,
    L::Addr: std::fmt::Debug + Clone + Sync,
{
    type Io = tokio_rustls::server::TlsStream<L::Io>;
    type Addr = L::Addr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.handshaken.recv().await {
            Some(accepted) => accepted,
            // The accepting task ended, which it does only when aborted: serve nothing.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.local_addr
            .clone()
            .ok_or_else(|| std::io::Error::other("the listener has no local address"))
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

    fn suites(names: &[&str]) -> Result<Vec<CipherSuite>, String> {
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        Protocol::parse(None, None, &names).map(|p| p.cipher_suites)
    }

    const TLS13_ALL: [CipherSuite; 3] = [
        CipherSuite::TLS13_AES_128_GCM_SHA256,
        CipherSuite::TLS13_AES_256_GCM_SHA384,
        CipherSuite::TLS13_CHACHA20_POLY1305_SHA256,
    ];

    #[test]
    fn go_cipher_suite_names_map_to_the_rustls_suites() {
        assert_eq!(suites(&[]).unwrap(), []);
        // A TLS 1.2 suite: that one, and (as in Go) every TLS 1.3 suite.
        let mut expected = vec![CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256];
        expected.extend(TLS13_ALL);
        assert_eq!(
            suites(&["tls_ecdhe_ecdsa_with_aes_128_gcm_sha256"]).unwrap(),
            expected
        );
        // Naming a TLS 1.3 suite keeps only the suites named.
        assert_eq!(
            suites(&[
                "TLS_AES_256_GCM_SHA384",
                "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
                "TLS_AES_256_GCM_SHA384"
            ])
            .unwrap(),
            [
                CipherSuite::TLS13_AES_256_GCM_SHA384,
                CipherSuite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256
            ]
        );
        // "all" and "secure" are every suite ring has, and the table maps each of them.
        let ring: Vec<CipherSuite> = rustls::crypto::ring::ALL_CIPHER_SUITES
            .iter()
            .map(|s| s.suite())
            .collect();
        for meta in ["all", "secure"] {
            let mut all = suites(&[meta]).unwrap();
            let mut ring = ring.clone();
            all.sort_by_key(|s| u16::from(*s));
            ring.sort_by_key(|s| u16::from(*s));
            assert_eq!(all, ring, "{meta}");
        }
    }

    #[test]
    fn cipher_suites_rustls_cannot_do_are_errors_naming_them() {
        let err = suites(&[
            "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
            "TLS_RSA_WITH_AES_128_CBC_SHA",
        ])
        .unwrap_err();
        assert!(
            err.starts_with(
                "`tls_cipher_suites`: \"TLS_RSA_WITH_AES_128_CBC_SHA\" is not implemented by rustls"
            ),
            "{err}"
        );
        assert!(
            err.contains("TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"),
            "{err}"
        );
        let err = suites(&["TLS_ECDHE_RSA_WITH_AES_128_GCM"]).unwrap_err();
        assert!(
            err.starts_with(
                "`tls_cipher_suites`: \"TLS_ECDHE_RSA_WITH_AES_128_GCM\" is not a cipher suite name"
            ),
            "{err}"
        );
        let err = suites(&["insecure"]).unwrap_err();
        assert!(
            err.starts_with("`tls_cipher_suites`: \"insecure\""),
            "{err}"
        );
        let only13 = Protocol::parse(None, Some("TLS12"), &["TLS_AES_128_GCM_SHA256".to_owned()])
            .unwrap_err();
        assert!(
            only13.starts_with("`tls_cipher_suites`: only TLS 1.3"),
            "{only13}"
        );
    }

    #[test]
    fn go_version_names_map_to_what_rustls_speaks() {
        let versions = |min: Option<&str>, max: Option<&str>| {
            Protocol::parse(min, max, &[]).map(|p| (p.min_version, p.max_version))
        };
        use TlsMaxVersion as Max;
        use TlsMinVersion as Min;
        assert_eq!(versions(None, None), Ok((Min::Tls12, Max::Tls13)));
        assert_eq!(versions(Some("TLS10"), None), Ok((Min::Tls12, Max::Tls13)));
        assert_eq!(
            versions(Some("TLS11"), Some("TLS12")),
            Ok((Min::Tls12, Max::Tls12))
        );
        assert_eq!(
            versions(Some("TLS13"), Some("TLS13")),
            Ok((Min::Tls13, Max::Tls13))
        );
        assert_eq!(
            versions(Some("TLS13"), Some("TLS12")).unwrap_err(),
            "`tls_min_version` \"TLS13\" is newer than `tls_max_version` \"TLS12\""
        );
        let err = versions(None, Some("TLS11")).unwrap_err();
        assert!(
            err.starts_with("`tls_max_version`: \"TLS11\": rustls speaks only"),
            "{err}"
        );
        let err = versions(None, Some("1.3")).unwrap_err();
        assert_eq!(
            err,
            "`tls_max_version`: \"1.3\" is not one of TLS10, TLS11, TLS12, TLS13"
        );
    }

    #[test]
    fn the_client_keys_carry_the_versions_and_suites_into_its_options() {
        let table: toml::Table = toml::from_str(
            r#"tls_max_version = "TLS12"
               tls_cipher_suites = ["TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"]"#,
        )
        .unwrap();
        let (tls, own) = TlsClientConfig::split(&table).unwrap();
        assert!(own.is_empty());
        assert!(tls.is_set());
        let options = tls.options().unwrap();
        assert_eq!(options.max_version, TlsMaxVersion::Tls12);
        let config = tls.rustls_config().unwrap();
        let offered: Vec<CipherSuite> = config
            .crypto_provider()
            .cipher_suites
            .iter()
            .map(|s| s.suite())
            .collect();
        let mut expected = vec![CipherSuite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384];
        expected.extend(TLS13_ALL);
        expected.sort_by_key(|s| u16::from(*s));
        let mut offered = offered;
        offered.sort_by_key(|s| u16::from(*s));
        assert_eq!(offered, expected);
        let bad = TlsClientConfig {
            tls_cipher_suites: vec!["TLS_RSA_WITH_RC4_128_SHA".into()],
            ..TlsClientConfig::default()
        };
        assert!(
            bad.http_client(Duration::ZERO)
                .unwrap_err()
                .starts_with("`tls_cipher_suites`: \"TLS_RSA_WITH_RC4_128_SHA\"")
        );
    }

    fn server(toml: &str) -> Result<Option<ServerTls>, String> {
        let (tls, own) = TlsServerConfig::split(&toml.parse().unwrap())?;
        assert!(own.is_empty(), "{own:?}");
        tls.acceptor()
    }

    #[test]
    fn server_keys_are_checked_and_name_the_key_at_fault() {
        let dir = tempfile::tempdir().unwrap();
        let ca = test_pki::Ca::new("test CA");
        let ca_path = ca.write(dir.path(), "ca");
        let (cert, key) = ca.issue(dir.path(), "server");
        let (_, other_key) = ca.issue(dir.path(), "other");
        let (cert, key, other_key, ca_path) = (
            cert.display().to_string(),
            key.display().to_string(),
            other_key.display().to_string(),
            ca_path.display().to_string(),
        );

        // No certificate: plain HTTP; empty strings count as unset.
        assert!(server("").unwrap().is_none());
        assert!(
            server("tls_cert = \"\"\ntls_key = \" \"")
                .unwrap()
                .is_none()
        );
        // ...but the other keys are checked all the same.
        let err = server("tls_min_version = \"SSL3\"").unwrap_err();
        assert!(err.starts_with("`tls_min_version`: \"SSL3\""), "{err}");

        let both = format!("tls_cert = {cert:?}\ntls_key = {key:?}");
        assert!(server(&both).unwrap().is_some());
        let mtls =
            format!("{both}\ntls_allowed_cacerts = [{ca_path:?}]\ntls_min_version = \"TLS13\"");
        assert!(server(&mtls).unwrap().is_some());

        let cases = [
            (format!("tls_cert = {cert:?}"), "`tls_cert` needs `tls_key`"),
            (format!("tls_key = {key:?}"), "`tls_key` needs `tls_cert`"),
            (
                format!("tls_allowed_cacerts = [{ca_path:?}]"),
                "`tls_allowed_cacerts` needs `tls_cert` and `tls_key`",
            ),
            (
                format!("{both}\ntls_allowed_cacerts = [\"/nonexistent/ca.pem\"]"),
                "`tls_allowed_cacerts`: cannot read /nonexistent/ca.pem",
            ),
            (
                format!("{both}\ntls_allowed_cacerts = [{key:?}]"),
                "`tls_allowed_cacerts`: ",
            ),
            (
                format!("tls_cert = \"/nonexistent/cert.pem\"\ntls_key = {key:?}"),
                "`tls_cert`: cannot read /nonexistent/cert.pem",
            ),
            (
                format!("tls_cert = {cert:?}\ntls_key = {cert:?}"),
                "`tls_key`: ",
            ),
            (
                format!("tls_cert = {cert:?}\ntls_key = {other_key:?}"),
                "`tls_key`: ",
            ),
            (format!("{both}\ntls_key_pwd = \"x\""), "`tls_key_pwd`"),
            (
                format!("{both}\ntls_allowed_dns_names = [\"a\"]"),
                "`tls_allowed_dns_names` is not supported",
            ),
            (
                format!("{both}\ntls_cipher_suites = [\"TLS_RSA_WITH_AES_128_CBC_SHA\"]"),
                "`tls_cipher_suites`: \"TLS_RSA_WITH_AES_128_CBC_SHA\"",
            ),
            (
                format!("{both}\ntls_max_version = \"TLS10\""),
                "`tls_max_version`",
            ),
        ];
        for (toml, expected) in cases {
            let err = server(&toml).unwrap_err();
            assert!(err.starts_with(expected), "{toml}: {err}");
        }
        assert!(
            server("tls_allowed_cacerts = \"/ca.pem\"")
                .unwrap_err()
                .contains("tls_allowed_cacerts")
        );
        assert!(
            server(&format!("tls_cert = {cert:?}\ntls_key = {other_key:?}"))
                .unwrap_err()
                .contains("is not the private key of `tls_cert`")
        );
    }

    #[test]
    fn only_http_urls_are_accepted() {
        assert!(check_http_url("urls", "https://h:1/x").is_ok());
        let err = check_http_url("urls", "ftp://h").unwrap_err();
        assert!(err.contains("not http or https"), "{err}");
    }
}

/// Certificates made for tests: a CA, and certificates signed by it.
#[cfg(test)]
pub(crate) mod test_pki {
    use std::path::{Path, PathBuf};

    use rcgen::{
        BasicConstraints, Certificate, CertificateParams, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    };

    /// A certificate authority.
    pub(crate) struct Ca {
        cert: Certificate,
        key: KeyPair,
    }

    impl Ca {
        pub(crate) fn new(name: &str) -> Ca {
            let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
            params
                .distinguished_name
                .push(rcgen::DnType::CommonName, name);
            params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            let key = KeyPair::generate().unwrap();
            let cert = params.self_signed(&key).unwrap();
            Ca { cert, key }
        }

        /// Writes `STEM.pem` (this CA) into `dir`.
        pub(crate) fn write(&self, dir: &Path, stem: &str) -> PathBuf {
            let path = dir.join(format!("{stem}.pem"));
            std::fs::write(&path, self.cert.pem()).unwrap();
            path
        }

        /// Writes a certificate for localhost and 127.0.0.1 signed by this CA, good for
        /// servers and clients, and its key: `STEM.pem`, `STEM-key.pem` in `dir`.
        pub(crate) fn issue(&self, dir: &Path, stem: &str) -> (PathBuf, PathBuf) {
            let mut params =
                CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
                    .unwrap();
            params.extended_key_usages = vec![
                ExtendedKeyUsagePurpose::ServerAuth,
                ExtendedKeyUsagePurpose::ClientAuth,
            ];
            let key = KeyPair::generate().unwrap();
            let cert = params.signed_by(&key, &self.cert, &self.key).unwrap();
            let paths = (
                dir.join(format!("{stem}.pem")),
                dir.join(format!("{stem}-key.pem")),
            );
            std::fs::write(&paths.0, cert.pem()).unwrap();
            std::fs::write(&paths.1, key.serialize_pem()).unwrap();
            paths
        }
    }
}
