//! The connection layer: the accept loop, HTTP/1.1 and HTTP/2 (h2c) on one port through
//! hyper, and the limits that keep slow, idle and abusive clients from holding the server.
//!
//! ```text
//!  accept ─► connection slot? ── no ─► 503 + Retry-After, close (or close at once when
//!     │                                 even the refusals are saturated)
//!     ▼ yes
//!  hyper (HTTP/1.1 or HTTP/2, sniffed) ── header/URI size limits ─► 431 / 414
//!     │   watchdog: request head must arrive within header_read_timeout;
//!     │             a connection without requests closes after idle_timeout
//!     ▼
//!  request body wrapped in TimedBody (idle gap + minimum rate) ─► app(state)
//! ```
//!
//! With TLS, the handshake (ALPN `h2` or `http/1.1`) comes first and must finish within
//! the header timeout.
//!
//! Shutdown stops accepting, asks every connection to finish gracefully (HTTP/1.1 closes
//! after the response in flight, HTTP/2 sends GOAWAY), and waits up to the grace period.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::ConnectInfo;
use axum::http::{HeaderValue, Request, Response, StatusCode, Version, header};
use http_body::{Frame, SizeHint};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::sync::{Notify, Semaphore, watch};
use tokio::time::Instant;
use tower::ServiceExt as _;

use crate::tls::Tls;

/// Limits of the connection layer. Every field states its default.
#[derive(Debug, Clone)]
pub struct ListenerConfig {
    /// How long a client may take to send a request's line and headers, counted from
    /// its first byte. Default 10 s.
    pub header_read_timeout: Duration,
    /// A connection with no request in flight (an idle keep-alive connection, or one
    /// that never sends anything) is closed after this long. Default 60 s.
    pub idle_timeout: Duration,
    /// A request body that sends nothing for this long is cut (the request gets 408 and
    /// the connection is closed). Also the grace period before `body_min_rate` applies.
    /// Default 10 s.
    pub body_idle_timeout: Duration,
    /// After the first `body_idle_timeout`, a request body must average at least this
    /// many bytes per second since it began, or it is cut. 0 turns the rule off.
    /// Default 1024.
    pub body_min_bytes_per_second: u64,
    /// Open connections at most; more are answered 503 with `Retry-After` and closed.
    /// Default 1024.
    pub max_connections: usize,
    /// Largest request line plus headers (HTTP/1.1), largest header list (HTTP/2); more
    /// gets 431. At least 8 KiB. Default 64 KiB.
    pub max_header_bytes: usize,
    /// Most headers in one request (HTTP/1.1); more gets 431. Default 100.
    pub max_headers: usize,
    /// Longest request target (path and query string); longer gets 414. Default 32 KiB.
    pub max_uri_bytes: usize,
    /// Concurrent streams per HTTP/2 connection. Default 100.
    pub http2_max_concurrent_streams: u32,
    /// After a shutdown signal, how long in-flight requests may take. Default 30 s.
    pub shutdown_grace: Duration,
    /// Serve HTTPS (HTTP/2 and HTTP/1.1 by ALPN) with this certificate instead of clear
    /// text. Default none.
    pub tls: Option<Tls>,
}

impl Default for ListenerConfig {
    fn default() -> Self {
        ListenerConfig {
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            body_idle_timeout: Duration::from_secs(10),
            body_min_bytes_per_second: 1024,
            max_connections: 1024,
            max_header_bytes: 64 << 10,
            max_headers: 100,
            max_uri_bytes: 32 << 10,
            http2_max_concurrent_streams: 100,
            shutdown_grace: Duration::from_secs(30),
            tls: None,
        }
    }
}

/// HTTP/2 streams a client may open and reset before the server has accepted them;
/// beyond this the connection is closed (the "rapid reset" flood).
const HTTP2_MAX_PENDING_RESETS: usize = 20;

/// HTTP/2 streams the server may reset because of client protocol errors before it
/// closes the connection.
const HTTP2_MAX_LOCAL_RESETS: usize = 256;

/// Refusals (503 answers to connections over the limit) in progress at once; further
/// connections over the limit are closed without an answer.
const MAX_REFUSALS: usize = 64;

/// How long a refused connection may stay open for its 503 answer.
const REFUSAL_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a connection asked to close gracefully because it was idle may take.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// Counters of the connection layer, shown by `/metrics`.
#[derive(Debug, Default)]
pub(crate) struct ConnectionMetrics {
    pub(crate) open: AtomicU64,
    pub(crate) accepted: AtomicU64,
    pub(crate) refused: AtomicU64,
    pub(crate) header_timeouts: AtomicU64,
    pub(crate) idle_closed: AtomicU64,
    pub(crate) body_timeouts: AtomicU64,
    pub(crate) tls_handshake_failures: AtomicU64,
}

/// Serves `app` on `listener` with the limits of `config` until `shutdown` completes;
/// then stops accepting and waits up to `config.shutdown_grace` for in-flight requests.
pub(crate) async fn serve(
    listener: TcpListener,
    app: Router,
    metrics: Arc<ConnectionMetrics>,
    config: ListenerConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let config = Arc::new(config);
    let builder = Arc::new(builder(&config));
    let connections = Arc::new(Semaphore::new(config.max_connections.max(1)));
    let refusals = Arc::new(Semaphore::new(MAX_REFUSALS));
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut refusal_warned: Option<Instant> = None;
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    // Out of file descriptors, or a connection reset before it was
                    // accepted: not fatal; back off briefly so a full table cannot spin.
                    tracing::warn!(error = %err, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        metrics.accepted.fetch_add(1, Ordering::Relaxed);
        let Ok(permit) = connections.clone().try_acquire_owned() else {
            metrics.refused.fetch_add(1, Ordering::Relaxed);
            if refusal_warned.is_none_or(|at| at.elapsed() > Duration::from_secs(10)) {
                refusal_warned = Some(Instant::now());
                tracing::warn!(
                    limit = config.max_connections,
                    %peer,
                    "too many open connections: refusing new ones with 503 (--max-connections)"
                );
            }
            if let Ok(refusal) = refusals.clone().try_acquire_owned() {
                let builder = builder.clone();
                let limit = config.max_connections;
                let tls = config.tls.clone();
                tokio::spawn(async move {
                    let _refusal = refusal;
                    let service = hyper::service::service_fn(move |request: Request<Incoming>| {
                        let version = request.version();
                        async move { Ok::<_, Infallible>(refusal_response(version, limit)) }
                    });
                    let _ = tokio::time::timeout(REFUSAL_TIMEOUT, async move {
                        match tls {
                            None => {
                                let _ = builder
                                    .serve_connection(TokioIo::new(stream), service)
                                    .await;
                            }
                            Some(tls) => {
                                if let Ok(stream) = tls.acceptor().accept(stream).await {
                                    let _ = builder
                                        .serve_connection(TokioIo::new(stream), service)
                                        .await;
                                }
                            }
                        }
                    })
                    .await;
                });
            }
            continue;
        };
        let app = app.clone();
        let builder = builder.clone();
        let config = config.clone();
        let metrics = metrics.clone();
        let stop = stop_rx.clone();
        tokio::spawn(async move {
            metrics.open.fetch_add(1, Ordering::Relaxed);
            match &config.tls {
                None => {
                    run_connection(stream, peer, app, &builder, &config, &metrics, stop).await;
                }
                Some(tls) => {
                    // The handshake counts as the request head: it must be over within
                    // the header timeout.
                    let handshake = tls.acceptor().accept(stream);
                    match tokio::time::timeout(config.header_read_timeout, handshake).await {
                        Ok(Ok(stream)) => {
                            run_connection(stream, peer, app, &builder, &config, &metrics, stop)
                                .await;
                        }
                        Ok(Err(err)) => {
                            metrics
                                .tls_handshake_failures
                                .fetch_add(1, Ordering::Relaxed);
                            tracing::debug!(%peer, error = %err, "tls handshake failed");
                        }
                        Err(_) => {
                            metrics
                                .tls_handshake_failures
                                .fetch_add(1, Ordering::Relaxed);
                            metrics.header_timeouts.fetch_add(1, Ordering::Relaxed);
                            tracing::debug!(%peer, "tls handshake not finished in time");
                        }
                    }
                }
            }
            metrics.open.fetch_sub(1, Ordering::Relaxed);
            drop(permit);
        });
    }
    drop(listener);
    tracing::info!("shutting down: no new connections, finishing in-flight requests");
    let _ = stop_tx.send(true);
    let all = u32::try_from(config.max_connections.max(1)).unwrap_or(u32::MAX);
    if tokio::time::timeout(config.shutdown_grace, connections.acquire_many(all))
        .await
        .is_err()
    {
        tracing::warn!(
            grace_seconds = config.shutdown_grace.as_secs_f64(),
            "requests still in flight after the shutdown grace period; stopping anyway"
        );
    }
    Ok(())
}

/// The hyper connection builder with the limits of `config`.
fn builder(config: &ListenerConfig) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        // The watchdog in `run_connection` times the head itself: hyper's timer also
        // runs while a keep-alive connection waits for its next request, which would
        // close idle connections after the header timeout instead of the idle timeout.
        .header_read_timeout(None)
        .max_buf_size(config.max_header_bytes.max(8 << 10))
        .max_headers(config.max_headers)
        .keep_alive(true);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(config.http2_max_concurrent_streams)
        .max_header_list_size(u32::try_from(config.max_header_bytes).unwrap_or(u32::MAX))
        .max_pending_accept_reset_streams(HTTP2_MAX_PENDING_RESETS)
        .max_local_error_reset_streams(HTTP2_MAX_LOCAL_RESETS);
    builder
}

/// The answer to a connection over `--max-connections`.
fn refusal_response(version: Version, limit: usize) -> Response<Body> {
    let body = serde_json::json!({
        "error": format!("too many open connections (the limit is {limit}), retry later"),
    })
    .to_string();
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    if version < Version::HTTP_2 {
        headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    crate::status::stamp_version(response)
}

/// Why the watchdog ended a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expiry {
    /// A request head began and did not complete in time: the connection is dropped.
    HeaderTimeout,
    /// No request for the idle timeout: the connection is closed gracefully.
    Idle,
}

/// What the watchdog knows about one connection.
#[derive(Debug)]
struct ActivityState {
    /// Requests whose response is not fully sent yet.
    in_flight: usize,
    /// When the connection last became free of requests (or was accepted).
    idle_since: Instant,
    /// When the first byte of the next HTTP/1.1 request head arrived, while no request
    /// was in flight.
    head_started: Option<Instant>,
    /// The first bytes, to tell the HTTP/2 preface (`PRI *…`) from HTTP/1.1.
    sniffed: Vec<u8>,
    /// Whether the connection speaks HTTP/2; its frames (pings, settings) are not
    /// request heads, so only the idle rule applies.
    http2: bool,
}

/// The shared record of a connection's activity, updated by its I/O and its requests.
#[derive(Debug)]
struct Activity {
    state: Mutex<ActivityState>,
    changed: Notify,
}

impl Activity {
    fn new() -> Arc<Activity> {
        Arc::new(Activity {
            state: Mutex::new(ActivityState {
                in_flight: 0,
                idle_since: Instant::now(),
                head_started: None,
                sniffed: Vec::with_capacity(4),
                http2: false,
            }),
            changed: Notify::new(),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ActivityState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Bytes arrived from the client.
    fn on_read(&self, data: &[u8]) {
        let mut state = self.lock();
        if state.sniffed.len() < 4 {
            let take = (4 - state.sniffed.len()).min(data.len());
            state.sniffed.extend_from_slice(&data[..take]);
            if state.sniffed == b"PRI " {
                state.http2 = true;
                state.head_started = None;
            }
        }
        if !state.http2 && state.in_flight == 0 && state.head_started.is_none() {
            state.head_started = Some(Instant::now());
            drop(state);
            self.changed.notify_one();
        }
    }

    /// A request reached the service; the guard ends it when its response is sent.
    fn begin_request(self: &Arc<Self>) -> RequestGuard {
        let mut state = self.lock();
        state.in_flight += 1;
        state.head_started = None;
        RequestGuard {
            activity: self.clone(),
        }
    }

    /// When the watchdog must look again, and what expires then.
    fn deadline(&self, config: &ListenerConfig) -> Option<(Instant, Expiry)> {
        let state = self.lock();
        if state.in_flight > 0 {
            return None;
        }
        Some(match state.head_started {
            Some(started) => (started + config.header_read_timeout, Expiry::HeaderTimeout),
            None => (state.idle_since + config.idle_timeout, Expiry::Idle),
        })
    }
}

/// Marks one request in flight until dropped (with the response body).
#[derive(Debug)]
struct RequestGuard {
    activity: Arc<Activity>,
}

impl Drop for RequestGuard {
    fn drop(&mut self) {
        let mut state = self.activity.lock();
        state.in_flight -= 1;
        if state.in_flight == 0 {
            state.idle_since = Instant::now();
            drop(state);
            self.activity.changed.notify_one();
        }
    }
}

/// Serves one accepted connection until it ends, the watchdog ends it, or shutdown.
async fn run_connection<I>(
    io: I,
    peer: SocketAddr,
    app: Router,
    builder: &auto::Builder<TokioExecutor>,
    config: &Arc<ListenerConfig>,
    metrics: &Arc<ConnectionMetrics>,
    mut stop: watch::Receiver<bool>,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let activity = Activity::new();
    let service = {
        let activity = activity.clone();
        let config = config.clone();
        let metrics = metrics.clone();
        hyper::service::service_fn(move |mut request: Request<Incoming>| {
            let guard = activity.begin_request();
            // Handlers that want the client's address (the rejected-lines log) read it
            // as axum's `ConnectInfo`.
            request.extensions_mut().insert(ConnectInfo(peer));
            handle(request, app.clone(), guard, config.clone(), metrics.clone())
        })
    };
    let io = WatchedIo {
        inner: io,
        activity: activity.clone(),
    };
    let connection = builder.serve_connection(TokioIo::new(io), service);
    tokio::pin!(connection);
    let mut closing: Option<Instant> = None;
    loop {
        let deadline = match closing {
            Some(at) => Some((at, None)),
            None => activity
                .deadline(config)
                .map(|(at, expiry)| (at, Some(expiry))),
        };
        let wake = deadline.map_or_else(|| Instant::now() + Duration::from_secs(3600), |d| d.0);
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(err) = result {
                    tracing::debug!(error = %err, "connection ended with an error");
                }
                return;
            }
            _ = stop.changed(), if closing.is_none() => {
                connection.as_mut().graceful_shutdown();
                // The shutdown grace period bounds this connection from now on.
                closing = Some(Instant::now() + Duration::from_secs(365 * 86_400));
            }
            () = activity.changed.notified() => {}
            () = tokio::time::sleep_until(wake) => {
                let Some((at, expiry)) = deadline else { continue };
                if Instant::now() < at {
                    continue;
                }
                match expiry {
                    None => return,
                    Some(Expiry::HeaderTimeout) => {
                        metrics.header_timeouts.fetch_add(1, Ordering::Relaxed);
                        tracing::debug!("request head not received in time; closing the connection");
                        return;
                    }
                    Some(Expiry::Idle) => {
                        metrics.idle_closed.fetch_add(1, Ordering::Relaxed);
                        connection.as_mut().graceful_shutdown();
                        closing = Some(Instant::now() + CLOSE_TIMEOUT);
                    }
                }
            }
        }
    }
}

/// One request: the URI limit, the body's time limits, then the router; the guard
/// travels with the response body so the request counts as in flight until it is sent.
async fn handle(
    request: Request<Incoming>,
    app: Router,
    guard: RequestGuard,
    config: Arc<ListenerConfig>,
    metrics: Arc<ConnectionMetrics>,
) -> Result<Response<Body>, Infallible> {
    let version = request.version();
    let uri_bytes = request
        .uri()
        .path_and_query()
        .map_or(0, |target| target.as_str().len());
    if uri_bytes > config.max_uri_bytes {
        let body = serde_json::json!({
            "error": format!(
                "request target too long: {uri_bytes} bytes, the limit is {} (send long queries in a POST body)",
                config.max_uri_bytes
            ),
        });
        let mut response = Response::new(Body::from(body.to_string()));
        *response.status_mut() = StatusCode::URI_TOO_LONG;
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        return Ok(crate::status::stamp_version(response).map(|body| {
            Body::new(Guarded {
                inner: body,
                _guard: guard,
            })
        }));
    }
    let request = request.map(|body| {
        Body::new(TimedBody::new(
            body,
            config.body_idle_timeout,
            config.body_min_bytes_per_second,
            metrics,
        ))
    });
    let mut response = app
        .oneshot(request)
        .await
        .unwrap_or_else(|never| match never {});
    if response.status() == StatusCode::REQUEST_TIMEOUT && version < Version::HTTP_2 {
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    Ok(response.map(|body| {
        Body::new(Guarded {
            inner: body,
            _guard: guard,
        })
    }))
}

/// A response body that keeps its request counted as in flight until it is dropped.
#[derive(Debug)]
struct Guarded {
    inner: Body,
    _guard: RequestGuard,
}

impl http_body::Body for Guarded {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The error a [`TimedBody`] ends with when its client is too slow; handlers reading
/// the body answer 408 for it.
#[derive(Debug, thiserror::Error)]
#[error("{reason}")]
pub(crate) struct BodyTimeout {
    pub(crate) reason: String,
}

/// A request body that fails with [`BodyTimeout`] when no data arrives for `idle`, or
/// when, after the first `idle`, it averages fewer than `min_rate` bytes per second.
struct TimedBody {
    inner: Incoming,
    idle: Duration,
    min_rate: u64,
    started: Instant,
    last_data: Instant,
    bytes: u64,
    sleep: Option<Pin<Box<tokio::time::Sleep>>>,
    metrics: Arc<ConnectionMetrics>,
}

impl TimedBody {
    fn new(
        inner: Incoming,
        idle: Duration,
        min_rate: u64,
        metrics: Arc<ConnectionMetrics>,
    ) -> TimedBody {
        let now = Instant::now();
        TimedBody {
            inner,
            idle,
            min_rate,
            started: now,
            last_data: now,
            bytes: 0,
            sleep: None,
            metrics,
        }
    }

    /// When the body is cut unless more data arrives, and why. A body that would be cut
    /// for both within a tenth of `idle` of each other is cut as stalled: a few bytes
    /// and then nothing are below the rate too, but the stall is what happened (the
    /// first bytes are read a moment after the body's clock starts, so the rate's
    /// deadline of such a body comes those few milliseconds before the stall's).
    fn deadline(&self) -> (Instant, &'static str) {
        let idle = (self.last_data + self.idle, "idle");
        if self.min_rate == 0 {
            return idle;
        }
        let allowed = Duration::from_secs_f64(self.bytes as f64 / self.min_rate as f64);
        let rate = self.started + self.idle + allowed;
        if rate + self.idle / 10 < idle.0 {
            (rate, "rate")
        } else {
            idle
        }
    }
}

impl http_body::Body for TimedBody {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    this.bytes += data.len() as u64;
                    this.last_data = Instant::now();
                }
                return Poll::Ready(Some(Ok(frame)));
            }
            Poll::Ready(Some(Err(err))) => return Poll::Ready(Some(Err(Box::new(err)))),
            Poll::Ready(None) => return Poll::Ready(None),
            Poll::Pending => {}
        }
        let (deadline, why) = this.deadline();
        let sleep = this
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        if sleep.deadline() != deadline {
            sleep.as_mut().reset(deadline);
        }
        if sleep.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
        this.metrics.body_timeouts.fetch_add(1, Ordering::Relaxed);
        let reason = if why == "idle" {
            format!(
                "the request body stalled: nothing arrived for {} s",
                this.idle.as_secs_f64()
            )
        } else {
            format!(
                "the request body is too slow: {} bytes in {:.1} s, the minimum is {} bytes per second",
                this.bytes,
                this.started.elapsed().as_secs_f64(),
                this.min_rate
            )
        };
        tracing::debug!(%reason, "cutting a slow request body");
        Poll::Ready(Some(Err(Box::new(BodyTimeout { reason }))))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A connection's socket, reporting arriving bytes to its [`Activity`].
struct WatchedIo<I> {
    inner: I,
    activity: Arc<Activity>,
}

impl<I: AsyncRead + Unpin> AsyncRead for WatchedIo<I> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(result, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.on_read(&buf.filled()[before..]);
        }
        result
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for WatchedIo<I> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, data)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
