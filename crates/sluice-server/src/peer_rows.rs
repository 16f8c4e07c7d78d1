//! `--ingest-peers` over Arrow Flight: the internal `DoGet` ticket with which a query node
//! asks an ingest node for a table's buffered rows, the ingest node's answer, and the
//! query node's client ([`FlightIngestPeers`], the storage engine's
//! [`sluice_storage::IngestPeers`]).
//!
//! ```text
//!   query node ── DoGet {"peer_rows":{"database","table","time_range"}} ──► ingest node
//!              ◄── schema (metadata: sluice.node_id, sluice.published_seq), batches ──
//! ```
//!
//! The ticket is authorized like a query of the database (read permission); the answer
//! holds only rows in memory (`Storage::buffered_rows`), with the node id and the
//! manifest they complete in the schema's metadata. Tag columns stay dictionaries.
//!
//! An `https://` peer is reached through [`connect_tls`], a connector of our own rather
//! than tonic's TLS feature: tonic builds its rustls configuration from its own
//! certificate types, while ours comes whole from the caller (`sluice_client::TlsOptions`,
//! the one set of trust rules of every sluice client), and a failed handshake keeps its
//! `rustls::Error` so that the failure names the certificate problem.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use arrow::datatypes::{Schema, SchemaRef};
use arrow_flight::encode::{DictionaryHandling, FlightDataEncoderBuilder};
use arrow_flight::{FlightClient, FlightData, Ticket};
use futures::future::BoxFuture;
use futures::stream::{self, BoxStream};
use futures::{StreamExt as _, TryStreamExt as _};
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use rustls::{CertificateError, ClientConfig};
use serde::{Deserialize, Serialize};
use sluice_storage::{BufferedRows, IngestNode, IngestPeers, PeerAnswer, PeerRowsRequest};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tonic::Status;
use tonic::transport::{Channel, Endpoint, Uri};

use crate::auth::Action;
use crate::error::{Error, Result};
use crate::params::Params;
use crate::state::AppState;

/// Schema metadata: the answering node's id.
const NODE_ID_KEY: &str = "sluice.node_id";
/// Schema metadata: the `persisted_seq` of the bucket's manifest the rows complete.
const PUBLISHED_SEQ_KEY: &str = "sluice.published_seq";

/// A `DoGet` ticket: `{"peer_rows": {...}}`.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct PeerRowsTicket {
    peer_rows: TicketBody,
}

#[derive(Debug, Serialize, Deserialize)]
struct TicketBody {
    database: String,
    table: String,
    /// `[start, end)` in nanoseconds since the epoch; all rows when absent.
    #[serde(default)]
    time_range: Option<(i64, i64)>,
}

impl PeerRowsTicket {
    /// The ticket of `ticket` when it is a peer-rows ticket (a JSON object with the key
    /// `peer_rows`), else `None` (a query ticket).
    ///
    /// # Errors
    /// [`Error::InvalidBody`] when the `peer_rows` object is malformed.
    pub(crate) fn parse(ticket: &[u8]) -> Result<Option<PeerRowsTicket>> {
        let Ok(serde_json::Value::Object(object)) = serde_json::from_slice(ticket) else {
            return Ok(None);
        };
        if !object.contains_key("peer_rows") {
            return Ok(None);
        }
        let parsed = serde_json::from_value(serde_json::Value::Object(object)).map_err(|e| {
            Error::InvalidBody {
                reason: format!(
                    "the peer_rows ticket must be json {{\"peer_rows\":{{\"database\",\
                     \"table\",\"time_range\":[start,end]}}}}: {e}"
                ),
            }
        })?;
        Ok(Some(parsed))
    }

    fn to_bytes(request: &PeerRowsRequest) -> Vec<u8> {
        let ticket = PeerRowsTicket {
            peer_rows: TicketBody {
                database: request.database.clone(),
                table: request.table.clone(),
                time_range: request.time_range,
            },
        };
        serde_json::to_vec(&ticket).expect("a ticket serializes")
    }
}

/// The ingest node's answer to `ticket`, as Flight data.
///
/// # Errors
/// [`Error::Unauthorized`]/[`Error::Forbidden`] without read permission on the database
/// (a database or table the node lacks is an empty answer), [`Error::Overloaded`] while the
/// node has published nothing since it started (or has no cloud store, so no query node
/// reads it).
pub(crate) async fn answer(
    state: &AppState,
    metadata: &tonic::metadata::MetadataMap,
    ticket: PeerRowsTicket,
) -> Result<BoxStream<'static, Result<FlightData, Status>>> {
    let headers = metadata.clone().into_headers();
    let principal = state
        .inner
        .auth
        .authenticate(&headers, &Params::default())?;
    let TicketBody {
        database,
        table,
        time_range,
    } = ticket.peer_rows;
    principal.require(&database, Action::Read)?;
    let rows = state
        .inner
        .storage
        .buffered_rows(&database, &table, time_range)
        .await?;
    let (Some(node_id), Some(published_seq)) = (rows.node_id, rows.published_seq) else {
        return Err(Error::Overloaded {
            reason: "this node has not published its manifest to its bucket since it \
                     started (or has no bucket): its buffered rows would not complete a \
                     manifest query nodes can read"
                .to_owned(),
            retry_after: Duration::from_secs(1),
        });
    };
    let schema: SchemaRef = Arc::new(Schema::clone(&rows.schema).with_metadata(HashMap::from([
        (NODE_ID_KEY.to_owned(), node_id),
        (PUBLISHED_SEQ_KEY.to_owned(), published_seq.to_string()),
    ])));
    let batches = stream::iter(rows.batches.into_iter().map(Ok));
    let encoded = FlightDataEncoderBuilder::new()
        .with_schema(schema)
        .with_dictionary_handling(DictionaryHandling::Resend)
        .build(batches)
        .map_err(Status::from);
    Ok(encoded.boxed())
}

/// How long a query node waits for one ingest peer's answer.
pub const PEER_TIMEOUT: Duration = Duration::from_secs(10);

/// The ingest peers of a query node, reached over Flight on their HTTP ports.
#[derive(Debug)]
pub struct FlightIngestPeers {
    targets: Targets,
    /// `authorization` metadata for every request (`Bearer <token>`), when set.
    authorization: Option<String>,
    /// For `https://` peers: what to trust (with ALPN `h2`).
    tls: Option<Arc<ClientConfig>>,
}

/// Whom a query node asks.
#[derive(Debug)]
enum Targets {
    /// The peers it was given (`--ingest-peers URL,…`).
    Listed(Vec<Arc<Peer>>),
    /// The ingest nodes of its view of the bucket, at the URLs their manifests advertise
    /// (`--ingest-peers auto`); connections by URL, made on first use and kept.
    Discovered(std::sync::Mutex<HashMap<String, Arc<Peer>>>),
}

#[derive(Debug)]
struct Peer {
    url: String,
    /// Connected on first use, and again after a failure.
    channel: Channel,
}

impl Peer {
    /// A peer at `url` (`http://host:port` or `https://host:port`, checked with `tls`).
    fn new(url: &str, tls: Option<&Arc<ClientConfig>>) -> Result<Peer, String> {
        let url = url.trim_end_matches('/').to_owned();
        let https = url.starts_with("https://");
        if !https && !url.starts_with("http://") {
            return Err(format!("{url:?} is not an http:// or https:// address"));
        }
        let endpoint = Endpoint::from_shared(url.clone())
            .map_err(|e| format!("{url:?}: {e}"))?
            .connect_timeout(PEER_TIMEOUT)
            .timeout(PEER_TIMEOUT);
        let channel = if https {
            let Some(tls) = tls.cloned().map(TlsConnector::from) else {
                return Err(format!("{url:?}: no TLS configuration for https:// peers"));
            };
            endpoint.connect_with_connector_lazy(tower::service_fn(move |uri: Uri| {
                let tls = tls.clone();
                async move { connect_tls(&tls, &uri).await.map(TokioIo::new) }
            }))
        } else {
            endpoint.connect_lazy()
        };
        Ok(Peer { channel, url })
    }
}

impl FlightIngestPeers {
    /// Peers at `urls` (`http://host:port` or `https://host:port`), presenting `token`
    /// when set. `https://` peers are checked with `tls` (what to trust; its ALPN is set
    /// here to `h2`, the only protocol Flight speaks).
    ///
    /// # Errors
    /// A message naming the URL that is neither an `http://` nor an `https://` address,
    /// or an `https://` one when `tls` is `None`.
    pub fn new(
        urls: &[String],
        token: Option<&str>,
        tls: Option<Arc<ClientConfig>>,
    ) -> Result<FlightIngestPeers, String> {
        let tls = tls.map(with_h2);
        let peers = urls
            .iter()
            .map(|url| Peer::new(url, tls.as_ref()).map(Arc::new))
            .collect::<Result<Vec<_>, String>>()?;
        Ok(FlightIngestPeers {
            targets: Targets::Listed(peers),
            authorization: token.map(|t| format!("Bearer {t}")),
            tls,
        })
    }

    /// The ingest nodes of the bucket, each at the URL its manifest advertises
    /// (`--advertise-url`), presenting `token` when set; `https://` ones are checked with
    /// `tls`. A node that advertises no URL, or one this node cannot use, fails its part
    /// of every scan (and `/health` names it) until it does.
    pub fn discovered(token: Option<&str>, tls: Option<Arc<ClientConfig>>) -> FlightIngestPeers {
        FlightIngestPeers {
            targets: Targets::Discovered(std::sync::Mutex::new(HashMap::new())),
            authorization: token.map(|t| format!("Bearer {t}")),
            tls: tls.map(with_h2),
        }
    }

    /// The peer to ask for ingest node `node`, in `Discovered` mode.
    fn discovered_peer(
        &self,
        known: &std::sync::Mutex<HashMap<String, Arc<Peer>>>,
        node: &IngestNode,
    ) -> Result<Arc<Peer>, String> {
        let Some(url) = &node.url else {
            return Err(format!(
                "node {} advertises no URL in its manifest (start it with --advertise-url)",
                node.node_id
            ));
        };
        let mut known = known
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(peer) = known.get(url) {
            return Ok(peer.clone());
        }
        let peer = Arc::new(
            Peer::new(url, self.tls.as_ref())
                .map_err(|e| format!("node {}'s --advertise-url: {e}", node.node_id))?,
        );
        known.insert(url.clone(), peer.clone());
        Ok(peer)
    }

    async fn ask(&self, peer: &Peer, ticket: Vec<u8>) -> Result<BufferedRows, String> {
        let mut client = FlightClient::new(peer.channel.clone());
        if let Some(authorization) = &self.authorization {
            client
                .add_header("authorization", authorization)
                .map_err(|e| e.to_string())?;
        }
        let asked = async {
            let mut stream = client.do_get(Ticket::new(ticket)).await?;
            let mut batches = Vec::new();
            while let Some(batch) = stream.try_next().await? {
                batches.push(batch);
            }
            let schema = stream.schema().cloned();
            Ok::<_, arrow_flight::error::FlightError>((schema, batches))
        };
        let (schema, batches) = tokio::time::timeout(PEER_TIMEOUT, asked)
            .await
            .map_err(|_| format!("no answer within {PEER_TIMEOUT:?}"))?
            .map_err(|e| match e {
                arrow_flight::error::FlightError::Tonic(status) => {
                    format!("{:?}: {}", status.code(), status.message())
                }
                other => other.to_string(),
            })?;
        let schema = schema.ok_or("the answer has no schema")?;
        let metadata = schema.metadata();
        let node_id = metadata
            .get(NODE_ID_KEY)
            .cloned()
            .ok_or("the answer names no node id")?;
        let published_seq = metadata
            .get(PUBLISHED_SEQ_KEY)
            .and_then(|s| s.parse::<u64>().ok())
            .ok_or("the answer has no published sequence number")?;
        Ok(BufferedRows {
            node_id: Some(node_id),
            published_seq: Some(published_seq),
            schema,
            batches,
        })
    }
}

/// A TCP connection to `uri`'s host and port (443 by default) with a TLS handshake on
/// it. A failed handshake is told from a peer that is down by its message, which says
/// what is wrong with the certificate when that is the reason ([`tls_failure`]); tonic
/// passes the message on as the peer's `Unavailable` status.
async fn connect_tls(tls: &TlsConnector, uri: &Uri) -> std::io::Result<TlsStream<TcpStream>> {
    // An IPv6 host comes in brackets, which neither a socket address nor a server name has.
    let host = uri
        .host()
        .unwrap_or_default()
        .trim_start_matches('[')
        .trim_end_matches(']');
    let name = ServerName::try_from(host.to_owned()).map_err(|e| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("{host:?} is not a host name or address for TLS: {e}"),
        )
    })?;
    let tcp = TcpStream::connect((host, uri.port_u16().unwrap_or(443))).await?;
    tcp.set_nodelay(true)?;
    tls.connect(name, tcp)
        .await
        .map_err(|e| std::io::Error::new(e.kind(), tls_failure(&e)))
}

/// The message of a failed TLS handshake: what is wrong with the peer's certificate
/// when rustls says so, so that the log and `/health` point at the fix.
fn tls_failure(err: &std::io::Error) -> String {
    let rustls = err
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>());
    let Some(rustls::Error::InvalidCertificate(problem)) = rustls else {
        return format!("TLS handshake failed: {err}");
    };
    let why = match problem {
        CertificateError::UnknownIssuer => {
            "its certificate is not signed by a CA this node trusts (--ingest-peers-ca, or \
             the system's roots without it)"
        }
        CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
            "its certificate has expired"
        }
        CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
            "its certificate does not name the host of its --ingest-peers address"
        }
        _ => "its certificate is not valid",
    };
    format!("TLS handshake failed: {why}; {err}")
}

/// A peer to ask and the node id it must answer as (`None`: any), or why it cannot be
/// asked.
type Target<'a> = Result<(Arc<Peer>, Option<&'a str>), String>;

/// `config` with ALPN `h2`, the only protocol Flight speaks.
fn with_h2(config: Arc<ClientConfig>) -> Arc<ClientConfig> {
    let mut config = ClientConfig::clone(&config);
    config.alpn_protocols = vec![b"h2".to_vec()];
    Arc::new(config)
}

impl IngestPeers for FlightIngestPeers {
    fn buffered_rows<'a>(
        &'a self,
        request: &'a PeerRowsRequest,
        nodes: &'a [IngestNode],
    ) -> BoxFuture<'a, Vec<PeerAnswer>> {
        let ticket = PeerRowsTicket::to_bytes(request);
        // Each peer to ask, with the node id it must answer as when it was found in the
        // bucket (a URL that reaches another node would merge its rows into the wrong
        // band), or why it cannot be asked.
        let targets: Vec<(String, Target<'_>)> = match &self.targets {
            Targets::Listed(peers) => peers
                .iter()
                .map(|p| (p.url.clone(), Ok((p.clone(), None))))
                .collect(),
            Targets::Discovered(known) => nodes
                .iter()
                .map(|node| match self.discovered_peer(known, node) {
                    Ok(peer) => (peer.url.clone(), Ok((peer, Some(node.node_id.as_str())))),
                    Err(why) => (node.node_id.clone(), Err(why)),
                })
                .collect(),
        };
        Box::pin(futures::future::join_all(targets.into_iter().map(
            move |(name, target)| {
                let ticket = ticket.clone();
                async move {
                    let rows = match target {
                        Ok((peer, expected)) => {
                            self.ask(&peer, ticket).await.and_then(|rows| {
                                match (expected, rows.node_id.as_deref()) {
                                    (Some(want), Some(got)) if want != got => Err(format!(
                                        "answered as node {got}, but node {want}'s manifest \
                                         advertises this URL"
                                    )),
                                    _ => Ok(rows),
                                }
                            })
                        }
                        Err(why) => Err(why),
                    };
                    PeerAnswer { peer: name, rows }
                }
            },
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_certificate_problem_is_named_and_other_handshake_failures_kept() {
        let failure = |err: rustls::Error| {
            tls_failure(&std::io::Error::new(std::io::ErrorKind::InvalidData, err))
        };
        let unknown = failure(rustls::Error::InvalidCertificate(
            CertificateError::UnknownIssuer,
        ));
        assert!(
            unknown.starts_with(
                "TLS handshake failed: its certificate is not signed by a CA this node trusts"
            ),
            "{unknown}"
        );
        assert!(unknown.contains("UnknownIssuer"), "{unknown}");
        let expired = failure(rustls::Error::InvalidCertificate(CertificateError::Expired));
        assert!(expired.contains("its certificate has expired"), "{expired}");
        let name = failure(rustls::Error::InvalidCertificate(
            CertificateError::NotValidForName,
        ));
        assert!(name.contains("does not name the host"), "{name}");
        let other = failure(rustls::Error::HandshakeNotComplete);
        assert!(other.starts_with("TLS handshake failed: "), "{other}");
        assert!(!other.contains("certificate"), "{other}");
    }

    #[test]
    fn an_address_that_is_neither_http_nor_https_is_refused() {
        let err = FlightIngestPeers::new(&["ftp://n1:8086".to_owned()], None, None).unwrap_err();
        assert_eq!(
            err,
            "\"ftp://n1:8086\" is not an http:// or https:// address"
        );
        let err = FlightIngestPeers::new(&["https://n1:8086".to_owned()], None, None).unwrap_err();
        assert!(err.contains("no TLS configuration"), "{err}");
    }

    #[test]
    fn peer_rows_tickets_are_told_from_query_tickets_and_round_trip() {
        let request = PeerRowsRequest {
            database: "db".into(),
            table: "cpu".into(),
            time_range: Some((1, 2)),
        };
        let parsed = PeerRowsTicket::parse(&PeerRowsTicket::to_bytes(&request))
            .unwrap()
            .unwrap();
        assert_eq!(parsed.peer_rows.database, "db");
        assert_eq!(parsed.peer_rows.table, "cpu");
        assert_eq!(parsed.peer_rows.time_range, Some((1, 2)));
        // A query ticket, or no JSON object at all, is not one.
        for other in [
            &br#"{"database":"db","sql_query":"SELECT 1"}"#[..],
            b"[1]",
            b"x",
        ] {
            assert!(PeerRowsTicket::parse(other).unwrap().is_none());
        }
        let malformed = PeerRowsTicket::parse(br#"{"peer_rows":{"table":"cpu"}}"#).unwrap_err();
        assert!(
            matches!(malformed, Error::InvalidBody { .. }),
            "{malformed}"
        );
    }
}
