//! Command-line flags and the dispatch to each subcommand.

mod input;
mod query;
mod serve;
mod token;
mod write;

use std::process::ExitCode;

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use ureq::tls::{Certificate, RootCerts, TlsConfig};

/// sluice: a time-series database built for ingestion, speaking InfluxDB's wire protocols.
#[derive(Debug, Parser)]
#[command(name = "sluice", version, about)]
pub(crate) struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the InfluxDB-compatible HTTP server.
    Serve(Box<serve::ServeArgs>),
    /// Create, list and delete database-scoped tokens on a running server.
    Token(token::TokenArgs),
    /// Write line protocol from files or standard input (`--dry-run` validates locally).
    Write(write::WriteArgs),
    /// Run a SQL (or `--influxql`) query on a running server and print the result.
    Query(query::QueryArgs),
}

/// Runs the chosen subcommand and returns the process exit code.
pub(crate) fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.command {
        Command::Serve(args) => serve::run(*args),
        Command::Token(args) => token::run(args),
        Command::Write(args) => write::run(args),
        Command::Query(args) => query::run(args),
    }
}

/// How the client commands trust an `https://` server: the system's root certificates by
/// default, or the CA certificates of `--tls-ca`; `--tls-no-verify` turns checking off.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct TlsArgs {
    /// Trust the CA certificates in this PEM file instead of the system's roots (for a
    /// server with a private or self-signed certificate). Default: the system's roots.
    #[arg(long, env = "SLUICE_TLS_CA", global = true)]
    tls_ca: Option<PathBuf>,
    /// Do not check the server's certificate at all (anyone on the network path can
    /// read and change the traffic). Default off.
    #[arg(long, env = "SLUICE_TLS_NO_VERIFY", global = true, value_parser = clap::builder::FalseyValueParser::new())]
    tls_no_verify: bool,
}

impl TlsArgs {
    /// The same choice for `sluice-client` (used by `sluice write`), checked now so that
    /// a bad `--tls-ca` is reported by its flag name before anything is read or sent.
    pub(crate) fn options(&self) -> anyhow::Result<sluice_client::TlsOptions> {
        if self.tls_no_verify {
            eprintln!("{NO_VERIFY_WARNING}");
        }
        let options = sluice_client::TlsOptions {
            ca_file: self.tls_ca.clone(),
            skip_verify: self.tls_no_verify,
            ..sluice_client::TlsOptions::default()
        };
        options
            .client_config()
            .map_err(|err| anyhow::anyhow!("--tls-ca: {err}"))?;
        Ok(options)
    }

    /// An HTTP agent that answers statuses as values and trusts servers as asked.
    pub(crate) fn agent(&self) -> anyhow::Result<ureq::Agent> {
        let mut tls = TlsConfig::builder();
        if self.tls_no_verify {
            eprintln!("{NO_VERIFY_WARNING}");
            tls = tls.disable_verification(true);
        } else if let Some(path) = &self.tls_ca {
            let pem = std::fs::read(path)
                .with_context(|| format!("cannot read --tls-ca {}", path.display()))?;
            let certs = ureq::tls::parse_pem(&pem)
                .filter_map(|item| match item {
                    Ok(ureq::tls::PemItem::Certificate(cert)) => Some(Ok(cert)),
                    Ok(_) => None,
                    Err(err) => Some(Err(err)),
                })
                .collect::<Result<Vec<Certificate<'static>>, _>>()
                .with_context(|| format!("--tls-ca {} is not valid PEM", path.display()))?;
            if certs.is_empty() {
                anyhow::bail!("--tls-ca {} holds no certificate", path.display());
            }
            tls = tls.root_certs(RootCerts::Specific(Arc::new(certs)));
        } else {
            tls = tls.root_certs(RootCerts::Specific(Arc::new(system_roots())));
        }
        Ok(ureq::Agent::config_builder()
            .http_status_as_error(false)
            .tls_config(tls.build())
            .build()
            .into())
    }
}

const NO_VERIFY_WARNING: &str = "WARNING: --tls-no-verify: the server's TLS certificate is NOT checked; anyone on the network path can read and change this traffic, tokens included";

/// The operating system's trusted root certificates (on Linux /etc/ssl/certs and
/// friends, or SSL_CERT_FILE / SSL_CERT_DIR); unreadable ones are skipped.
fn system_roots() -> Vec<Certificate<'static>> {
    let found = rustls_native_certs::load_native_certs();
    for err in &found.errors {
        tracing::debug!(error = %err, "a system root certificate could not be loaded");
    }
    found
        .certs
        .iter()
        .map(|cert| Certificate::from_der(cert.as_ref()).to_owned())
        .collect()
}

/// A failure to reach `url`, with a hint when it is a TLS trust problem.
pub(crate) fn unreachable(url: &str, err: ureq::Error) -> anyhow::Error {
    let text = err.to_string();
    let hint = tls_hint(&text);
    anyhow::anyhow!("cannot reach {url}: {text}{hint}")
}

/// What a server's answer of `error` asks of the command's user: a token, when none
/// was given ("" otherwise).
pub(crate) fn token_hint(error: &str) -> &'static str {
    if error.contains("missing token") {
        "; give one with --token or SLUICE_TOKEN"
    } else {
        ""
    }
}

/// What a connection error's text means when it is a TLS trust problem ("" otherwise).
pub(crate) fn tls_hint(error: &str) -> &'static str {
    let lower = error.to_ascii_lowercase();
    if lower.contains("expired") {
        "; the server's TLS certificate has expired"
    } else if lower.contains("notvalidforname") || lower.contains("not valid for name") {
        "; the server's TLS certificate does not name this host"
    } else if lower.contains("unknownissuer") || lower.contains("unknown issuer") {
        "; the server's TLS certificate is not signed by a trusted CA: pass its CA with --tls-ca FILE"
    } else {
        ""
    }
}
