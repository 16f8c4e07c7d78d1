//! TLS where the agent is the server (`inputs.http_listener_v2`, `outputs.health`: Telegraf's
//! `tls_cert`, `tls_key`, `tls_allowed_cacerts`, `tls_min_version`, `tls_max_version`,
//! `tls_cipher_suites`) and the docker input's `endpoint = "ENV"` (`DOCKER_HOST`,
//! `DOCKER_CERT_PATH`, `DOCKER_TLS_VERIFY`), against the real `sluice-agent` binary.
//! Certificates are made here (rcgen); the clients are real rustls HTTPS clients (reqwest
//! over sluice-client's TLS configuration), and the fake Docker engine a real rustls
//! server asking for client certificates.

mod common;
mod service_kit;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use common::run_agent;
use rcgen::{
    BasicConstraints, Certificate, CertificateParams, ExtendedKeyUsagePurpose, IsCa, KeyPair,
};
use rustls::CipherSuite;
use service_kit::{Log, free_port, wait_until};
use sluice_client::{TlsMaxVersion, TlsMinVersion, TlsOptions};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// A certificate authority made for the test.
struct Ca {
    cert: Certificate,
    key: KeyPair,
}

impl Ca {
    fn new(name: &str) -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let key = KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        Ca { cert, key }
    }

    /// Writes this CA's certificate to `path`.
    fn write(&self, path: &Path) -> PathBuf {
        std::fs::write(path, self.cert.pem()).unwrap();
        path.to_owned()
    }

    /// Writes a certificate for localhost and 127.0.0.1 (for `usage`: server or client
    /// authentication) signed by this CA, and its key, to `cert` and `key`.
    fn issue(&self, cert: &Path, key: &Path, usage: ExtendedKeyUsagePurpose) -> (PathBuf, PathBuf) {
        let mut params =
            CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
        params.extended_key_usages = vec![usage];
        let key_pair = KeyPair::generate().unwrap();
        let issued = params.signed_by(&key_pair, &self.cert, &self.key).unwrap();
        std::fs::write(cert, issued.pem()).unwrap();
        std::fs::write(key, key_pair.serialize_pem()).unwrap();
        (cert.to_owned(), key.to_owned())
    }
}

/// The files of one test: a CA, a server certificate, a client certificate signed by the
/// CA, and a client certificate signed by another CA.
struct Pki {
    ca: PathBuf,
    server: (PathBuf, PathBuf),
    client: (PathBuf, PathBuf),
    stranger: (PathBuf, PathBuf),
}

impl Pki {
    fn new(dir: &Path) -> Pki {
        let ca = Ca::new("sluice test CA");
        let other = Ca::new("another CA");
        Pki {
            ca: ca.write(&dir.join("ca.pem")),
            server: ca.issue(
                &dir.join("server.pem"),
                &dir.join("server-key.pem"),
                ExtendedKeyUsagePurpose::ServerAuth,
            ),
            client: ca.issue(
                &dir.join("client.pem"),
                &dir.join("client-key.pem"),
                ExtendedKeyUsagePurpose::ClientAuth,
            ),
            stranger: other.issue(
                &dir.join("stranger.pem"),
                &dir.join("stranger-key.pem"),
                ExtendedKeyUsagePurpose::ClientAuth,
            ),
        }
    }

    /// Client options trusting the CA, presenting `identity`.
    fn client(&self, identity: Option<&(PathBuf, PathBuf)>) -> TlsOptions {
        TlsOptions {
            ca_file: Some(self.ca.clone()),
            identity: identity.cloned(),
            ..TlsOptions::default()
        }
    }
}

/// A `sluice-agent` running in the background, killed when dropped.
struct Agent {
    child: Child,
    log: Log,
}

impl Agent {
    fn start(dir: &Path, config: &str) -> Agent {
        let path = dir.join("agent.conf");
        std::fs::write(&path, config).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_sluice-agent"))
            .arg("--config")
            .arg(&path)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let log = Log::collect(child.stderr.take().unwrap());
        Agent { child, log }
    }

    /// Waits until something accepts TCP connections on `port`.
    fn wait_for_port(&mut self, port: u16) {
        let log = self.log.clone();
        let child = &mut self.child;
        wait_until(
            &format!("the agent to listen on {port}"),
            Duration::from_secs(60),
            || {
                if let Some(status) = child.try_wait().unwrap() {
                    panic!("the agent exited ({status}):\n{}", log.text());
                }
                std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
            },
        );
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A request over a real connection: `https://` with `tls`, else plain HTTP. The status,
/// or the error with its causes.
async fn request(
    method: &str,
    url: &str,
    body: &str,
    tls: Option<TlsOptions>,
) -> Result<(u16, String), String> {
    sluice_client::tls::install_default_provider();
    let mut builder = reqwest::Client::builder().timeout(Duration::from_secs(20));
    if let Some(tls) = tls {
        builder = builder.tls_backend_preconfigured(tls.client_config().unwrap());
    }
    let client = builder.build().unwrap();
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let response = client
        .request(method, url)
        .body(body.to_owned())
        .send()
        .await
        .map_err(|err| sluice_client::error_chain(&err))?;
    let status = response.status().as_u16();
    let text = response
        .text()
        .await
        .map_err(|err| sluice_client::error_chain(&err))?;
    Ok((status, text))
}

/// Waits until the agent's output file holds `line`.
fn wait_for_line(out: &Path, line: &str, log: &Log) {
    wait_until(
        &format!("{line:?} in the output"),
        Duration::from_secs(60),
        || std::fs::read_to_string(out).is_ok_and(|text| text.contains(line)),
    );
    assert!(!log.text().contains("panicked"), "{}", log.text());
}

#[tokio::test(flavor = "multi_thread")]
async fn listeners_speak_https_with_tls_keys_and_require_client_certificates_with_allowed_cacerts()
{
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path());
    let out = dir.path().join("metrics.out");
    let (https, mtls, health, pinned) = (free_port(), free_port(), free_port(), free_port());
    let config = format!(
        r#"
[agent]
  interval = "1s"
  flush_interval = "1s"
  round_interval = false
  omit_hostname = true
[[inputs.http_listener_v2]]
  service_address = "127.0.0.1:{https}"
  tls_cert = "{cert}"
  tls_key = "{key}"
[[inputs.http_listener_v2]]
  service_address = "tcp://127.0.0.1:{mtls}"
  paths = ["/mtls"]
  tls_cert = "{cert}"
  tls_key = "{key}"
  tls_allowed_cacerts = ["{ca}"]
[[inputs.http_listener_v2]]
  service_address = "127.0.0.1:{pinned}"
  tls_cert = "{cert}"
  tls_key = "{key}"
  tls_max_version = "TLS12"
  tls_cipher_suites = ["TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"]
[[outputs.file]]
  files = ["{out}"]
[[outputs.health]]
  service_address = "https://127.0.0.1:{health}"
  tls_cert = "{cert}"
  tls_key = "{key}"
  tls_min_version = "TLS13"
"#,
        cert = pki.server.0.display(),
        key = pki.server.1.display(),
        ca = pki.ca.display(),
        out = out.display(),
    );
    let mut agent = Agent::start(dir.path(), &config);
    for port in [https, mtls, health, pinned] {
        tokio::task::block_in_place(|| agent.wait_for_port(port));
    }

    // HTTPS, the server's certificate checked against the CA: the metric is written.
    let url = format!("https://localhost:{https}/telegraf");
    let sent = request(
        "POST",
        &url,
        "tls_test,via=https value=1i 1700000000000000000\n",
        Some(pki.client(None)),
    )
    .await;
    assert_eq!(sent, Ok((204, String::new())));
    tokio::task::block_in_place(|| {
        wait_for_line(
            &out,
            "tls_test,via=https value=1i 1700000000000000000",
            &agent.log,
        )
    });

    // Plain HTTP to the TLS port gets no HTTP answer, and records nothing.
    let plain = request(
        "POST",
        &format!("http://127.0.0.1:{https}/telegraf"),
        "tls_test,via=plain value=2i\n",
        None,
    )
    .await;
    assert!(plain.is_err(), "{plain:?}");
    // A client trusting another CA refuses the server's certificate.
    let untrusted = TlsOptions {
        ca_file: Some(pki.stranger.0.clone()),
        ..TlsOptions::default()
    };
    let err = request(
        "POST",
        &url,
        "tls_test,via=untrusted value=3i\n",
        Some(untrusted),
    )
    .await
    .unwrap_err();
    assert!(err.contains("certificate"), "{err}");

    // tls_allowed_cacerts: no client certificate, or one of another CA, is refused (and
    // the refusal logged); one signed by the CA is accepted.
    let mtls_url = format!("https://127.0.0.1:{mtls}/mtls");
    let without = request(
        "POST",
        &mtls_url,
        "tls_test,via=nocert value=4i\n",
        Some(pki.client(None)),
    )
    .await;
    assert!(without.is_err(), "{without:?}");
    let stranger = request(
        "POST",
        &mtls_url,
        "tls_test,via=stranger value=5i\n",
        Some(pki.client(Some(&pki.stranger))),
    )
    .await;
    assert!(stranger.is_err(), "{stranger:?}");
    let accepted = request(
        "POST",
        &mtls_url,
        "tls_test,via=mtls value=6i 1700000000000000000\n",
        Some(pki.client(Some(&pki.client))),
    )
    .await;
    assert_eq!(accepted, Ok((204, String::new())));
    tokio::task::block_in_place(|| {
        wait_for_line(
            &out,
            "tls_test,via=mtls value=6i 1700000000000000000",
            &agent.log,
        )
    });
    // The listener logs why: no certificate, and one of an unknown issuer.
    let log = agent.log.text();
    let refusals: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("TLS handshake from") && l.contains("refused"))
        .collect();
    assert!(
        refusals.iter().any(|l| l.contains("no certificates"))
            && refusals.iter().any(|l| l.contains("UnknownIssuer")),
        "{log}"
    );

    // tls_max_version = "TLS12" with one cipher suite: a TLS 1.3-only client and a
    // client offering only another TLS 1.2 suite are refused; the named suite is spoken.
    let pinned_url = format!("https://localhost:{pinned}/telegraf");
    let tls13 = TlsOptions {
        min_version: TlsMinVersion::Tls13,
        ..pki.client(None)
    };
    let refused = request(
        "POST",
        &pinned_url,
        "tls_test,via=tls13 value=7i\n",
        Some(tls13),
    )
    .await;
    assert!(refused.is_err(), "{refused:?}");
    let other_suite = TlsOptions {
        max_version: TlsMaxVersion::Tls12,
        cipher_suites: vec![CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256],
        ..pki.client(None)
    };
    let refused = request(
        "POST",
        &pinned_url,
        "tls_test,via=aes128 value=8i\n",
        Some(other_suite),
    )
    .await;
    assert!(refused.is_err(), "{refused:?}");
    let named_suite = TlsOptions {
        cipher_suites: vec![CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384],
        ..pki.client(None)
    };
    let accepted = request(
        "POST",
        &pinned_url,
        "tls_test,via=aes256 value=9i 1700000000000000000\n",
        Some(named_suite),
    )
    .await;
    assert_eq!(accepted, Ok((204, String::new())));
    tokio::task::block_in_place(|| {
        wait_for_line(
            &out,
            "tls_test,via=aes256 value=9i 1700000000000000000",
            &agent.log,
        )
    });

    // The health output answers over HTTPS (TLS 1.3 only), and not over plain HTTP or
    // TLS 1.2.
    let health_url = format!("https://localhost:{health}/");
    assert_eq!(
        request("GET", &health_url, "", Some(pki.client(None))).await,
        Ok((200, "OK\n".to_owned()))
    );
    let plain = request("GET", &format!("http://127.0.0.1:{health}/"), "", None).await;
    assert!(plain.is_err(), "{plain:?}");
    let tls12 = TlsOptions {
        max_version: TlsMaxVersion::Tls12,
        ..pki.client(None)
    };
    let refused = request("GET", &health_url, "", Some(tls12)).await;
    assert!(refused.is_err(), "{refused:?}");

    // Only the accepted requests were recorded.
    let written = std::fs::read_to_string(&out).unwrap();
    let mut via: Vec<&str> = written
        .lines()
        .filter_map(|l| l.strip_prefix("tls_test,via="))
        .filter_map(|l| l.split(' ').next())
        .collect();
    via.sort_unstable();
    via.dedup();
    assert_eq!(via, ["aes256", "https", "mtls"], "{written}");
}

/// Runs the agent with `config` and expects a startup failure whose message has every
/// one of `expected`.
fn refused_at_startup(dir: &Path, name: &str, config: &str, expected: &[&str]) {
    let dir = dir.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    let out = run_agent(&dir, config, &["--test"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{name}: {stderr}");
    for needle in expected {
        assert!(stderr.contains(needle), "{name}: no {needle:?} in {stderr}");
    }
}

#[test]
fn bad_tls_settings_are_startup_errors_naming_the_key_and_value() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path());
    let (cert, key) = (pki.server.0.display(), pki.server.1.display());
    let listener = |extra: &str| {
        format!(
            "[[inputs.http_listener_v2]]\n  service_address = \"127.0.0.1:0\"\n  tls_cert = \"{cert}\"\n  tls_key = \"{key}\"\n  {extra}\n[[outputs.file]]\n  files = [\"stdout\"]\n"
        )
    };
    refused_at_startup(
        dir.path(),
        "min-version",
        &listener("tls_min_version = \"TLS14\""),
        &["inputs.http_listener_v2", "`tls_min_version`", "\"TLS14\""],
    );
    refused_at_startup(
        dir.path(),
        "cipher",
        &listener("tls_cipher_suites = [\"TLS_RSA_WITH_AES_128_CBC_SHA\"]"),
        &[
            "`tls_cipher_suites`",
            "\"TLS_RSA_WITH_AES_128_CBC_SHA\"",
            "not implemented by rustls",
        ],
    );
    refused_at_startup(
        dir.path(),
        "allowed-cacerts",
        &listener("tls_allowed_cacerts = [\"/nonexistent/ca.pem\"]"),
        &["`tls_allowed_cacerts`", "/nonexistent/ca.pem"],
    );
    let health = format!(
        "[[outputs.health]]\n  service_address = \"http://127.0.0.1:0\"\n  tls_cert = \"{cert}\"\n  tls_key = \"{key}\"\n  tls_max_version = \"TLS11\"\n[[inputs.mem]]\n"
    );
    refused_at_startup(
        dir.path(),
        "health-max-version",
        &health,
        &["outputs.health", "`tls_max_version`", "\"TLS11\""],
    );
    // Client side: the same names on an output.
    let output = "[[inputs.mem]]\n[[outputs.influxdb_v2]]\n  urls = [\"https://127.0.0.1:1\"]\n  token = \"t\"\n  organization = \"o\"\n  bucket = \"b\"\n  tls_cipher_suites = [\"TLS_NOT_A_SUITE\"]\n";
    refused_at_startup(
        dir.path(),
        "client-cipher",
        output,
        &[
            "outputs.influxdb_v2",
            "`tls_cipher_suites`",
            "\"TLS_NOT_A_SUITE\" is not a cipher suite name",
        ],
    );
}

/// A Docker engine over TLS that asks for a client certificate signed by `client_ca`,
/// answering `/info` and an empty container list; serves until the test ends.
async fn fake_engine(cert: &Path, key: &Path, client_ca: &Path) -> u16 {
    use rustls::pki_types::pem::PemObject as _;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for ca in CertificateDer::pem_file_iter(client_ca).unwrap() {
        roots.add(ca.unwrap()).unwrap();
    }
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .build()
    .unwrap();
    let chain: Vec<_> = CertificateDer::pem_file_iter(cert)
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, PrivateKeyDer::from_pem_file(key).unwrap())
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                continue;
            };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tls.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&head);
                let path = head.split(' ').nth(1).unwrap_or("");
                let body = if path.starts_with("/info") {
                    r#"{"Name":"fake-engine","ServerVersion":"27.0.0","NCPU":3,"Containers":0,"MemTotal":1024}"#
                } else {
                    "[]"
                };
                let response = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = tls.write_all(response.as_bytes()).await;
                let _ = tls.shutdown().await;
            });
        }
    });
    port
}

/// Runs `sluice-agent --test` with `[[inputs.docker]] endpoint = "ENV"` and `env`.
fn docker_env(dir: &Path, name: &str, env: &[(&str, &str)]) -> (bool, String, String) {
    let dir = dir.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("agent.conf");
    let mut file = std::fs::File::create(&path).unwrap();
    writeln!(
        file,
        "[[inputs.docker]]\n  endpoint = \"ENV\"\n  timeout = \"10s\"\n[[outputs.file]]\n  files = [\"stdout\"]"
    )
    .unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_sluice-agent"));
    command.arg("--config").arg(&path).arg("--test");
    for var in ["DOCKER_HOST", "DOCKER_CERT_PATH", "DOCKER_TLS_VERIFY"] {
        command.env_remove(var);
    }
    command.envs(env.iter().copied());
    let out = command.output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn docker_endpoint_env_speaks_tls_with_the_docker_cert_path_files() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path());
    let port = fake_engine(&pki.server.0, &pki.server.1, &pki.ca).await;
    let host = format!("tcp://127.0.0.1:{port}");
    // The Docker client's directory: ca.pem, cert.pem, key.pem.
    let certs = dir.path().join("docker-certs");
    std::fs::create_dir_all(&certs).unwrap();
    std::fs::copy(&pki.ca, certs.join("ca.pem")).unwrap();
    std::fs::copy(&pki.client.0, certs.join("cert.pem")).unwrap();
    std::fs::copy(&pki.client.1, certs.join("key.pem")).unwrap();
    let cert_path = certs.display().to_string();
    let root = dir.path().to_owned();

    let (ok, stdout, stderr) = tokio::task::spawn_blocking({
        let (root, host, cert_path) = (root.clone(), host.clone(), cert_path.clone());
        move || {
            docker_env(
                &root,
                "verified",
                &[
                    ("DOCKER_HOST", &host),
                    ("DOCKER_CERT_PATH", &cert_path),
                    ("DOCKER_TLS_VERIFY", "1"),
                ],
            )
        }
    })
    .await
    .unwrap();
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains("> docker,engine_host=fake-engine,")
            && stdout.contains(",server_version=27.0.0 ")
            && stdout.contains("n_cpus=3i"),
        "{stdout}"
    );

    // Without DOCKER_TLS_VERIFY the engine's certificate is not checked: a ca.pem of
    // another authority does not matter (the client certificate is still presented).
    let unverified = dir.path().join("unverified-certs");
    std::fs::create_dir_all(&unverified).unwrap();
    std::fs::copy(&pki.stranger.0, unverified.join("ca.pem")).unwrap();
    std::fs::copy(&pki.client.0, unverified.join("cert.pem")).unwrap();
    std::fs::copy(&pki.client.1, unverified.join("key.pem")).unwrap();
    let unverified = unverified.display().to_string();
    let (ok, stdout, stderr) = tokio::task::spawn_blocking({
        let (root, host, unverified) = (root.clone(), host.clone(), unverified.clone());
        move || {
            docker_env(
                &root,
                "unverified",
                &[("DOCKER_HOST", &host), ("DOCKER_CERT_PATH", &unverified)],
            )
        }
    })
    .await
    .unwrap();
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains("> docker,engine_host=fake-engine"),
        "{stdout}"
    );

    // With DOCKER_TLS_VERIFY, that ca.pem does not vouch for the engine: the gather fails.
    let (ok, _, stderr) = tokio::task::spawn_blocking({
        let (root, host) = (root.clone(), host.clone());
        move || {
            docker_env(
                &root,
                "wrong-ca",
                &[
                    ("DOCKER_HOST", &host),
                    ("DOCKER_CERT_PATH", &unverified),
                    ("DOCKER_TLS_VERIFY", "1"),
                ],
            )
        }
    })
    .await
    .unwrap();
    assert!(!ok);
    assert!(
        stderr.contains(&format!("GET /info on {host} (TLS)")) && stderr.contains("certificate"),
        "{stderr}"
    );

    // DOCKER_HOST alone speaks plain HTTP, which this engine does not.
    let (ok, _, stderr) = tokio::task::spawn_blocking({
        let (root, host) = (root.clone(), host.clone());
        move || docker_env(&root, "plain", &[("DOCKER_HOST", &host)])
    })
    .await
    .unwrap();
    assert!(!ok);
    assert!(
        stderr.contains(&format!("GET /info on {host}:")),
        "{stderr}"
    );

    // A certificate directory without the files is a startup error naming them.
    let empty = dir.path().join("empty-certs");
    std::fs::create_dir_all(&empty).unwrap();
    let empty = empty.display().to_string();
    let (ok, _, stderr) = tokio::task::spawn_blocking({
        let (root, host, empty) = (root.clone(), host.clone(), empty.clone());
        move || {
            docker_env(
                &root,
                "missing",
                &[("DOCKER_HOST", &host), ("DOCKER_CERT_PATH", &empty)],
            )
        }
    })
    .await
    .unwrap();
    assert!(!ok);
    assert!(
        stderr.contains("DOCKER_CERT_PATH") && stderr.contains(&format!("{empty}/cert.pem")),
        "{stderr}"
    );
}
