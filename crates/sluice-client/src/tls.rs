//! How a client trusts an `https://` server: rustls with the `ring` provider (the one the
//! server uses), the system's root certificates unless a CA file is given, an optional
//! client certificate, and an explicit opt-out of checking for tests.
//!
//! Everything that speaks HTTPS from sluice's side — this crate's [`crate::Client`], the
//! `sluice` CLI and `sluice-agent` — builds its rustls configuration here, so that one
//! set of rules decides what is trusted.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

/// What to trust, and who to be, when connecting to an `https://` server.
/// The default trusts the system's root certificates and presents no certificate.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsOptions {
    /// PEM file of the certificate authorities to trust instead of the system's roots.
    pub ca_file: Option<PathBuf>,
    /// PEM files of a client certificate and its private key, for servers that ask.
    pub identity: Option<(PathBuf, PathBuf)>,
    /// Accept any certificate for any host name. Anyone on the network path can then
    /// read and change the traffic, tokens included: for tests only.
    pub skip_verify: bool,
    /// The name the server's certificate must be for, instead of the URL's host (for
    /// servers reached by an address their certificate does not name). The name sent
    /// in the handshake (SNI) stays the URL's host.
    pub server_name: Option<String>,
    /// The oldest TLS version spoken. Default TLS 1.2 (rustls speaks no older one).
    pub min_version: TlsMinVersion,
    /// The newest TLS version spoken. Default TLS 1.3.
    pub max_version: TlsMaxVersion,
    /// The cipher suites offered, of those the `ring` provider has. Default (empty):
    /// all of them.
    pub cipher_suites: Vec<rustls::CipherSuite>,
}

/// The oldest TLS version a client speaks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum TlsMinVersion {
    /// TLS 1.2 and 1.3.
    #[default]
    Tls12,
    /// TLS 1.3 only.
    Tls13,
}

/// The newest TLS version a client speaks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum TlsMaxVersion {
    /// TLS 1.2 only.
    Tls12,
    /// TLS 1.3 and 1.2.
    #[default]
    Tls13,
}

/// Why a TLS configuration could not be built: which option, and a text naming the file
/// and the fault (callers put their own name for the option in front).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct TlsError {
    /// The option whose file is at fault.
    pub option: TlsOption,
    /// What is wrong, naming the file.
    pub message: String,
}

/// The options of [`TlsOptions`] that name files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsOption {
    /// [`TlsOptions::ca_file`].
    Ca,
    /// The certificate of [`TlsOptions::identity`].
    Cert,
    /// The private key of [`TlsOptions::identity`].
    Key,
    /// [`TlsOptions::server_name`].
    ServerName,
    /// The versions and cipher suites: none of the suites can be spoken in the versions.
    Protocol,
}

fn fault(option: TlsOption, message: String) -> TlsError {
    TlsError { option, message }
}

impl TlsOptions {
    /// The rustls client configuration these options describe.
    ///
    /// # Errors
    /// [`TlsError`] naming the file that cannot be read or holds no usable PEM item, or
    /// [`TlsOption::Protocol`] when no cipher suite can be spoken in the versions.
    pub fn client_config(&self) -> Result<ClientConfig, TlsError> {
        let provider = Arc::new(crypto_provider(&self.cipher_suites));
        let versions = protocol_versions(self.min_version, self.max_version);
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(versions)
            .map_err(|err| {
                let message = format!(
                    "none of the cipher suites {:?} can be spoken in the versions {:?}: {err}",
                    provider
                        .cipher_suites
                        .iter()
                        .map(|suite| suite.suite())
                        .collect::<Vec<_>>(),
                    versions.iter().map(|v| v.version).collect::<Vec<_>>()
                );
                fault(TlsOption::Protocol, message)
            })?;
        let builder = if self.skip_verify {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate(
                    provider.signature_verification_algorithms,
                )))
        } else if let Some(name) = &self.server_name {
            let expected = ServerName::try_from(name.clone()).map_err(|err| {
                fault(
                    TlsOption::ServerName,
                    format!("{name:?} is not a host name or address: {err}"),
                )
            })?;
            let webpki = WebPkiServerVerifier::builder_with_provider(
                Arc::new(self.roots()?),
                provider.clone(),
            )
            .build()
            .map_err(|err| fault(TlsOption::Ca, format!("no usable root certificate: {err}")))?;
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(ExpectName { webpki, expected }))
        } else {
            builder.with_root_certificates(self.roots()?)
        };
        match &self.identity {
            None => Ok(builder.with_no_client_auth()),
            Some((cert, key)) => {
                let chain = read_certificates(TlsOption::Cert, cert)?;
                let key_der =
                    PrivateKeyDer::from_pem_slice(&read(TlsOption::Key, key)?).map_err(|err| {
                        let message = format!("{} holds no PEM private key: {err}", key.display());
                        fault(TlsOption::Key, message)
                    })?;
                builder
                    .with_client_auth_cert(chain, key_der)
                    .map_err(|err| {
                        let message = format!(
                            "{} and {} are not a certificate and its key: {err}",
                            cert.display(),
                            key.display()
                        );
                        fault(TlsOption::Cert, message)
                    })
            }
        }
    }

    fn roots(&self) -> Result<RootCertStore, TlsError> {
        let mut roots = RootCertStore::empty();
        match &self.ca_file {
            Some(path) => {
                for cert in read_certificates(TlsOption::Ca, path)? {
                    roots.add(cert).map_err(|err| {
                        let message =
                            format!("{}: not a usable CA certificate: {err}", path.display());
                        fault(TlsOption::Ca, message)
                    })?;
                }
            }
            None => {
                let found = rustls_native_certs::load_native_certs();
                for err in &found.errors {
                    tracing::debug!(error = %err, "a system root certificate could not be loaded");
                }
                // Unparsable system roots are skipped, as every TLS client does.
                let (_added, _skipped) = roots.add_parsable_certificates(found.certs);
            }
        }
        Ok(roots)
    }
}

/// The `ring` provider with only `cipher_suites` (all of its suites when empty), for
/// clients and servers alike.
pub fn crypto_provider(cipher_suites: &[rustls::CipherSuite]) -> rustls::crypto::CryptoProvider {
    let mut provider = rustls::crypto::ring::default_provider();
    if !cipher_suites.is_empty() {
        provider
            .cipher_suites
            .retain(|suite| cipher_suites.contains(&suite.suite()));
    }
    provider
}

/// The protocol versions from `min` to `max`; none when `min` is newer than `max`.
pub fn protocol_versions(
    min: TlsMinVersion,
    max: TlsMaxVersion,
) -> &'static [&'static rustls::SupportedProtocolVersion] {
    static TLS12_ONLY: [&rustls::SupportedProtocolVersion; 1] = [&rustls::version::TLS12];
    static TLS13_ONLY: [&rustls::SupportedProtocolVersion; 1] = [&rustls::version::TLS13];
    match (min, max) {
        (TlsMinVersion::Tls12, TlsMaxVersion::Tls13) => rustls::DEFAULT_VERSIONS,
        (TlsMinVersion::Tls12, TlsMaxVersion::Tls12) => &TLS12_ONLY,
        (TlsMinVersion::Tls13, TlsMaxVersion::Tls13) => &TLS13_ONLY,
        (TlsMinVersion::Tls13, TlsMaxVersion::Tls12) => &[],
    }
}

/// Makes `ring` the process's default rustls provider unless one is set already.
/// reqwest builds a TLS connector for every client, even one that only speaks
/// `http://`, and needs a default provider for it; call this before building one.
pub fn install_default_provider() {
    // An error means another provider is installed, which serves as well.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

fn read(option: TlsOption, path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path)
        .map_err(|err| fault(option, format!("cannot read {}: {err}", path.display())))
}

/// The certificates of a PEM file (other items, such as keys, are skipped); at least one.
fn read_certificates(
    option: TlsOption,
    path: &Path,
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_slice_iter(&read(option, path)?)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|err| {
            fault(
                option,
                format!("{} is not valid PEM: {err}", path.display()),
            )
        })?;
    if certs.is_empty() {
        let message = format!("{} holds no PEM certificate", path.display());
        return Err(fault(option, message));
    }
    Ok(certs)
}

/// A verifier that accepts every certificate for every name but still checks that the
/// handshake is signed by the certificate's key (so the connection is at least
/// encrypted to whoever holds it).
#[derive(Debug)]
struct AcceptAnyCertificate(WebPkiSupportedAlgorithms);

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_schemes()
    }
}

/// The usual verification (roots, validity, signatures), for a name given in the options
/// instead of the URL's host.
#[derive(Debug)]
struct ExpectName {
    webpki: Arc<WebPkiServerVerifier>,
    expected: ServerName<'static>,
}

impl ServerCertVerifier for ExpectName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.webpki.verify_server_cert(
            end_entity,
            intermediates,
            &self.expected,
            ocsp_response,
            now,
        )
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.webpki.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_server_name_that_is_not_one_is_named() {
        let err = TlsOptions {
            server_name: Some("not a name".into()),
            ..TlsOptions::default()
        }
        .client_config()
        .unwrap_err();
        assert_eq!(err.option, TlsOption::ServerName);
        assert!(err.message.contains("\"not a name\""), "{err}");
        TlsOptions {
            server_name: Some("db.example.com".into()),
            min_version: TlsMinVersion::Tls13,
            ..TlsOptions::default()
        }
        .client_config()
        .expect("a host name");
    }

    #[test]
    fn versions_and_cipher_suites_without_a_common_protocol_are_refused() {
        let tls12_only = TlsOptions {
            max_version: TlsMaxVersion::Tls12,
            cipher_suites: vec![rustls::CipherSuite::TLS13_AES_128_GCM_SHA256],
            ..TlsOptions::default()
        };
        let err = tls12_only.client_config().unwrap_err();
        assert_eq!(err.option, TlsOption::Protocol);
        assert!(err.message.contains("TLS13_AES_128_GCM_SHA256"), "{err}");
        let inverted = TlsOptions {
            min_version: TlsMinVersion::Tls13,
            max_version: TlsMaxVersion::Tls12,
            ..TlsOptions::default()
        };
        assert_eq!(
            inverted.client_config().unwrap_err().option,
            TlsOption::Protocol
        );
        let config = TlsOptions {
            max_version: TlsMaxVersion::Tls12,
            cipher_suites: vec![rustls::CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256],
            ..TlsOptions::default()
        }
        .client_config()
        .expect("a TLS 1.2 suite with TLS 1.2");
        let suites: Vec<_> = config
            .crypto_provider()
            .cipher_suites
            .iter()
            .map(|suite| suite.suite())
            .collect();
        assert_eq!(
            suites,
            [rustls::CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256]
        );
    }

    #[test]
    fn default_options_trust_the_system_roots() {
        TlsOptions::default().client_config().expect("system roots");
    }

    #[test]
    fn a_missing_or_empty_ca_file_is_named() {
        let missing = TlsOptions {
            ca_file: Some("/nonexistent/ca.pem".into()),
            ..TlsOptions::default()
        };
        let err = missing.client_config().unwrap_err();
        assert_eq!(err.option, TlsOption::Ca);
        assert!(
            err.message.starts_with("cannot read /nonexistent/ca.pem"),
            "{err}"
        );

        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not pem\n").unwrap();
        let err = TlsOptions {
            ca_file: Some(empty.clone()),
            ..TlsOptions::default()
        }
        .client_config()
        .unwrap_err()
        .to_string();
        assert!(err.contains("holds no PEM certificate"), "{err}");
    }

    #[test]
    fn skipping_verification_needs_no_roots() {
        let options = TlsOptions {
            ca_file: Some("/nonexistent/ca.pem".into()),
            skip_verify: true,
            ..TlsOptions::default()
        };
        options.client_config().expect("no CA file is read");
    }
}
