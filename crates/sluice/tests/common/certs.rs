//! Certificates for the TLS tests: a CA made with rcgen, and server certificates for
//! `localhost` and `127.0.0.1` it signs.

use std::path::{Path, PathBuf};

use rcgen::{BasicConstraints, Certificate, CertificateParams, IsCa, KeyPair};

/// A certificate authority made for a test.
pub struct Ca {
    cert: Certificate,
    key: KeyPair,
}

impl Ca {
    pub fn new(name: &str) -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let key = KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        Ca { cert, key }
    }

    /// Writes the CA certificate, and a server certificate for localhost/127.0.0.1 signed
    /// by it (expired when asked), into `dir`; returns (ca, cert, key) paths.
    pub fn issue(&self, dir: &Path, stem: &str, expired: bool) -> (PathBuf, PathBuf, PathBuf) {
        let mut params =
            CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
        if expired {
            params.not_before = rcgen::date_time_ymd(2000, 1, 1);
            params.not_after = rcgen::date_time_ymd(2001, 1, 1);
        }
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.cert, &self.key).unwrap();
        let paths = (
            dir.join(format!("{stem}-ca.pem")),
            dir.join(format!("{stem}-cert.pem")),
            dir.join(format!("{stem}-key.pem")),
        );
        std::fs::write(&paths.0, self.cert.pem()).unwrap();
        std::fs::write(&paths.1, cert.pem()).unwrap();
        std::fs::write(&paths.2, key.serialize_pem()).unwrap();
        paths
    }
}
