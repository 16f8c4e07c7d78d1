//! TLS for the listener: the certificate and key from PEM files, HTTP/2 and HTTP/1.1 by
//! ALPN, a minimum protocol version, and reloading the certificate without a restart.
//!
//! Connections keep the certificate they were accepted with; a reload only changes what
//! new handshakes present, so no connection is dropped.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tokio_rustls::TlsAcceptor;

/// Errors loading a certificate and key.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read.
    #[error("cannot read the TLS {what} file {path}: {source}")]
    Read {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    /// A file holds no PEM block of the expected kind, or a broken one.
    #[error("the TLS {what} file {path} {reason}")]
    Pem {
        what: &'static str,
        path: PathBuf,
        reason: String,
    },
    /// rustls refused the key, or the key does not belong to the certificate.
    #[error("the TLS key {key} cannot be used with the certificate {cert}: {reason}")]
    Key {
        cert: PathBuf,
        key: PathBuf,
        reason: String,
    },
}

/// The oldest TLS version the server accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TlsMinimumVersion {
    /// TLS 1.2 and 1.3 (the default).
    #[default]
    Tls12,
    /// TLS 1.3 only.
    Tls13,
}

/// Where the certificate and key come from, and the minimum version.
#[derive(Debug, Clone)]
pub struct TlsConfig {
    /// PEM file with the certificate chain, the server's certificate first.
    pub cert_path: PathBuf,
    /// PEM file with the private key (PKCS#8, PKCS#1 or SEC1).
    pub key_path: PathBuf,
    /// The oldest protocol version accepted. Default TLS 1.2.
    pub minimum_version: TlsMinimumVersion,
}

/// The server's TLS state: what handshakes use, and the certificate that
/// [`Tls::reload`] replaces.
#[derive(Clone)]
pub struct Tls {
    config: TlsConfig,
    current: Arc<CurrentCert>,
    acceptor: TlsAcceptor,
}

impl fmt::Debug for Tls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tls").field("config", &self.config).finish()
    }
}

impl Tls {
    /// Loads the certificate and key of `config`.
    ///
    /// # Errors
    /// [`TlsError`] when a file cannot be read, holds no certificate or key, or the key
    /// does not match the certificate.
    pub fn new(config: TlsConfig) -> Result<Tls, TlsError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let key = load(&config, &provider)?;
        let current = Arc::new(CurrentCert {
            key: RwLock::new(Arc::new(key)),
        });
        let versions: &[&rustls::SupportedProtocolVersion] = match config.minimum_version {
            TlsMinimumVersion::Tls12 => &[&rustls::version::TLS13, &rustls::version::TLS12],
            TlsMinimumVersion::Tls13 => &[&rustls::version::TLS13],
        };
        let mut server = rustls::ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(versions)
            .map_err(|err| TlsError::Key {
                cert: config.cert_path.clone(),
                key: config.key_path.clone(),
                reason: err.to_string(),
            })?
            .with_no_client_auth()
            .with_cert_resolver(current.clone());
        server.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Tls {
            config,
            current,
            acceptor: TlsAcceptor::from(Arc::new(server)),
        })
    }

    /// Reads the certificate and key files again; new handshakes use them, connections
    /// already open keep theirs. On error the previous certificate stays in use.
    ///
    /// # Errors
    /// As [`Tls::new`].
    pub fn reload(&self) -> Result<(), TlsError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let key = load(&self.config, &provider)?;
        *self.current.key.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(key);
        Ok(())
    }

    /// The certificate file.
    pub fn cert_path(&self) -> &Path {
        &self.config.cert_path
    }

    pub(crate) fn acceptor(&self) -> &TlsAcceptor {
        &self.acceptor
    }
}

/// The certificate handshakes present; replaced by [`Tls::reload`].
#[derive(Debug)]
struct CurrentCert {
    key: RwLock<Arc<CertifiedKey>>,
}

impl ResolvesServerCert for CurrentCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.key.read().unwrap_or_else(|e| e.into_inner()).clone())
    }
}

fn load(
    config: &TlsConfig,
    provider: &rustls::crypto::CryptoProvider,
) -> Result<CertifiedKey, TlsError> {
    let read = |what: &'static str, path: &Path| {
        std::fs::read(path).map_err(|source| TlsError::Read {
            what,
            path: path.to_owned(),
            source,
        })
    };
    let cert_pem = read("certificate", &config.cert_path)?;
    let key_pem = read("key", &config.key_path)?;
    let chain = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|err| TlsError::Pem {
            what: "certificate",
            path: config.cert_path.clone(),
            reason: format!("is not valid PEM: {err}"),
        })?;
    if chain.is_empty() {
        return Err(TlsError::Pem {
            what: "certificate",
            path: config.cert_path.clone(),
            reason: "holds no certificate (expected a -----BEGIN CERTIFICATE----- block)".into(),
        });
    }
    let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|err| TlsError::Pem {
        what: "key",
        path: config.key_path.clone(),
        reason: format!(
            "holds no usable private key (expected a PKCS#8, RSA or EC PEM block): {err}"
        ),
    })?;
    let key_error = |reason: String| TlsError::Key {
        cert: config.cert_path.clone(),
        key: config.key_path.clone(),
        reason,
    };
    let certified =
        CertifiedKey::from_der(chain, key, provider).map_err(|err| key_error(err.to_string()))?;
    Ok(certified)
}
