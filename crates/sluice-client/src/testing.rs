//! A tiny in-process HTTP/1.1 write server that injects faults, for tests.
//!
//! It accepts the v1/v2/v3 write paths, keeps every point line it accepted, rejects
//! lines that contain the word `reject` (with a v3 or v2 style body, by path), answers
//! 413 above a body size, and follows a script of faults for the next requests: error
//! statuses with `Retry-After`, dropped connections, slow answers.

use std::collections::VecDeque;
use std::io::Read as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::lines::{LineKind, lines};

/// What the server does with one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Answer with this status, an optional `Retry-After` (seconds) and a JSON error
    /// body; the body's lines are not kept.
    Status {
        /// The HTTP status.
        status: u16,
        /// The `Retry-After` header, in seconds.
        retry_after: Option<u64>,
    },
    /// Read the request, then close the connection without answering.
    DropConnection,
    /// Keep the lines, then wait this long before answering 204.
    Slow(Duration),
}

/// Counters and the lines the server kept.
#[derive(Debug, Default)]
struct State {
    script: Mutex<VecDeque<Fault>>,
    accepted: Mutex<Vec<String>>,
    max_body_bytes: Mutex<Option<usize>>,
    requests: AtomicUsize,
    connections: AtomicUsize,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    too_large: AtomicUsize,
    gzipped: AtomicUsize,
    paths: Mutex<Vec<String>>,
    authorization: Mutex<Vec<Option<String>>>,
}

/// A running fault-injecting server; it stops when dropped.
#[derive(Debug)]
pub struct FaultServer {
    addr: SocketAddr,
    state: Arc<State>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FaultServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FaultServer {
    /// Starts a server on a free port of 127.0.0.1.
    ///
    /// # Panics
    /// When no port can be bound.
    pub async fn start() -> FaultServer {
        Self::start_on("127.0.0.1:0").await
    }

    /// Starts a server on `addr` (such as the address of a server that was stopped),
    /// trying for up to 5 s while the address is still taken.
    ///
    /// # Panics
    /// When the address cannot be bound.
    pub async fn start_on(addr: &str) -> FaultServer {
        let mut tries = 0;
        let listener = loop {
            match TcpListener::bind(addr).await {
                Ok(listener) => break listener,
                Err(err) if tries >= 100 => panic!("cannot bind test server to {addr}: {err}"),
                Err(_) => {
                    tries += 1;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        };
        let addr = listener.local_addr().expect("local address");
        let state = Arc::new(State::default());
        let shared = Arc::clone(&state);
        let task = tokio::spawn(async move {
            // Connections live in the set, so stopping the server closes them too.
            let mut connections = tokio::task::JoinSet::new();
            while let Ok((stream, _)) = listener.accept().await {
                shared.connections.fetch_add(1, Ordering::SeqCst);
                connections.spawn(serve_connection(stream, Arc::clone(&shared)));
                while connections.try_join_next().is_some() {}
            }
        });
        FaultServer { addr, state, task }
    }

    /// The server's base URL, `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Queues faults for the next requests, in order; after them requests succeed.
    pub fn push_faults(&self, faults: impl IntoIterator<Item = Fault>) {
        self.state.script.lock().expect("lock").extend(faults);
    }

    /// Answers 413 to bodies (after gunzip) larger than `bytes`.
    pub fn set_max_body_bytes(&self, bytes: Option<usize>) {
        *self.state.max_body_bytes.lock().expect("lock") = bytes;
    }

    /// Every point line accepted so far (duplicates included), without line endings.
    pub fn accepted(&self) -> Vec<String> {
        self.state.accepted.lock().expect("lock").clone()
    }

    /// How many requests were read.
    pub fn requests(&self) -> usize {
        self.state.requests.load(Ordering::SeqCst)
    }

    /// How many TCP connections were accepted.
    pub fn connections(&self) -> usize {
        self.state.connections.load(Ordering::SeqCst)
    }

    /// The most requests handled at the same time.
    pub fn max_in_flight(&self) -> usize {
        self.state.max_in_flight.load(Ordering::SeqCst)
    }

    /// How many requests were answered 413.
    pub fn too_large_answers(&self) -> usize {
        self.state.too_large.load(Ordering::SeqCst)
    }

    /// How many requests came with a gzip `Content-Encoding`.
    pub fn gzipped_requests(&self) -> usize {
        self.state.gzipped.load(Ordering::SeqCst)
    }

    /// The request targets (path and query) seen, in order.
    pub fn paths(&self) -> Vec<String> {
        self.state.paths.lock().expect("lock").clone()
    }

    /// The `Authorization` header of each request, in order.
    pub fn authorizations(&self) -> Vec<Option<String>> {
        self.state.authorization.lock().expect("lock").clone()
    }
}

struct Request {
    target: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Reads one request; `None` at end of stream or on garbage.
async fn read_request(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> Option<Request> {
    let head_end = loop {
        if let Some(at) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break at;
        }
        let mut chunk = [0u8; 8192];
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).into_owned();
    let mut head_lines = head.split("\r\n");
    let target = head_lines.next()?.split(' ').nth(1)?.to_owned();
    let headers: Vec<(String, String)> = head_lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    buffer.drain(..head_end + 4);
    while buffer.len() < length {
        let mut chunk = vec![0u8; 64 * 1024];
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..n]);
    }
    let body: Vec<u8> = buffer.drain(..length).collect();
    Some(Request {
        target,
        headers,
        body,
    })
}

async fn serve_connection(mut stream: TcpStream, state: Arc<State>) {
    let mut buffer = Vec::new();
    while let Some(request) = read_request(&mut stream, &mut buffer).await {
        state.requests.fetch_add(1, Ordering::SeqCst);
        let now = state.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        state.max_in_flight.fetch_max(now, Ordering::SeqCst);
        let answer = handle(&request, &state).await;
        state.in_flight.fetch_sub(1, Ordering::SeqCst);
        let Some((status, retry_after, body)) = answer else {
            return;
        };
        let mut response = format!(
            "HTTP/1.1 {status} X\r\ncontent-length: {}\r\ncontent-type: application/json\r\n",
            body.len()
        );
        if let Some(seconds) = retry_after {
            response.push_str(&format!("retry-after: {seconds}\r\n"));
        }
        response.push_str("\r\n");
        response.push_str(&body);
        if stream.write_all(response.as_bytes()).await.is_err() {
            return;
        }
    }
}

/// The answer to one request: status, `Retry-After`, body; `None` drops the connection.
async fn handle(request: &Request, state: &State) -> Option<(u16, Option<u64>, String)> {
    state
        .paths
        .lock()
        .expect("lock")
        .push(request.target.clone());
    state
        .authorization
        .lock()
        .expect("lock")
        .push(request.header("authorization").map(str::to_owned));
    let fault = state.script.lock().expect("lock").pop_front();
    let mut delay = None;
    match fault {
        Some(Fault::Status {
            status,
            retry_after,
        }) => {
            return Some((
                status,
                retry_after,
                format!(r#"{{"error":"injected status {status}"}}"#),
            ));
        }
        Some(Fault::DropConnection) => return None,
        Some(Fault::Slow(d)) => delay = Some(d),
        None => {}
    }
    let body = if request
        .header("content-encoding")
        .is_some_and(|e| e.eq_ignore_ascii_case("gzip"))
    {
        state.gzipped.fetch_add(1, Ordering::SeqCst);
        let mut out = Vec::new();
        if flate2::read::MultiGzDecoder::new(&request.body[..])
            .read_to_end(&mut out)
            .is_err()
        {
            return Some((400, None, r#"{"error":"bad gzip"}"#.to_owned()));
        }
        out
    } else {
        request.body.clone()
    };
    if let Some(max) = *state.max_body_bytes.lock().expect("lock")
        && body.len() > max
    {
        state.too_large.fetch_add(1, Ordering::SeqCst);
        return Some((
            413,
            None,
            r#"{"error":"request body too large"}"#.to_owned(),
        ));
    }
    let mut rejected = Vec::new();
    {
        let mut accepted = state.accepted.lock().expect("lock");
        for span in lines(&body) {
            if span.kind != LineKind::Point {
                continue;
            }
            let text = String::from_utf8_lossy(&body[span.start..span.end]);
            let text = text.trim_end_matches(['\n', '\r']).to_owned();
            if text.contains("reject") {
                // Like sluice, echo only the first physical line of a multi-line point.
                let first = text.split('\n').next().unwrap_or_default();
                rejected.push((span.line_number, first.trim_end_matches('\r').to_owned()));
            } else {
                accepted.push(text);
            }
        }
    }
    if let Some(delay) = delay {
        tokio::time::sleep(delay).await;
    }
    if rejected.is_empty() {
        return Some((204, None, String::new()));
    }
    let body = if request.target.starts_with("/api/v3") {
        let data: Vec<serde_json::Value> = rejected
            .iter()
            .map(|(n, text)| {
                serde_json::json!({
                    "original_line": text,
                    "line_number": n,
                    "error_message": "rejected by test server",
                })
            })
            .collect();
        serde_json::json!({"error": "partial write of line protocol occurred", "data": data})
    } else {
        let parts: Vec<String> = rejected
            .iter()
            .map(|(n, text)| {
                format!("unable to parse '{text}': line {n}, col 1: rejected by test server")
            })
            .collect();
        serde_json::json!({
            "code": "invalid",
            "message": format!("partial write: {} dropped={}", parts.join("\n"), rejected.len()),
        })
    };
    Some((400, None, body.to_string()))
}
