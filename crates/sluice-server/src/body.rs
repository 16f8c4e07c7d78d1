//! Reading request bodies under a byte limit, on the wire and after gunzip.

use std::io::Read as _;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderMap, header};
use flate2::read::MultiGzDecoder;
use http_body_util::BodyExt as _;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::{Error, Result};
use crate::listener::BodyTimeout;

/// A request body read into memory.
#[derive(Debug)]
pub(crate) struct ReadBody {
    /// The body after decompression.
    pub(crate) bytes: Vec<u8>,
    /// The share of a body budget the wire bytes took, given back when the body is dropped.
    _budget: Option<OwnedSemaphorePermit>,
}

/// A request body as received, not yet decompressed.
#[derive(Debug)]
pub(crate) struct RawBody {
    raw: Vec<u8>,
    gzip: bool,
    budget: Option<OwnedSemaphorePermit>,
}

impl RawBody {
    /// Bytes received on the wire.
    pub(crate) fn wire_bytes(&self) -> usize {
        self.raw.len()
    }

    /// Decompresses a gzip body, refusing more than `limit` bytes after decompression.
    ///
    /// # Errors
    /// [`Error::BodyTooLarge`] over the limit, [`Error::InvalidBody`] for a broken gzip
    /// stream.
    pub(crate) fn decode(self, limit: usize) -> Result<ReadBody> {
        let bytes = if self.gzip {
            gunzip(&self.raw, limit)?
        } else {
            self.raw
        };
        Ok(ReadBody {
            bytes,
            _budget: self.budget,
        })
    }
}

/// Reads `body` whole, refusing more than `limit` bytes on the wire and, for a gzip body
/// (`Content-Encoding: gzip` or `x-gzip`), more than `limit` bytes after decompression.
///
/// Works with `Content-Length` and chunked bodies alike; a `Content-Length` over the limit
/// is refused before any byte is read.
///
/// # Errors
/// [`Error::BodyTooLarge`] over the limit, [`Error::UnsupportedEncoding`] for encodings
/// other than identity and gzip, [`Error::InvalidBody`] for a broken connection or gzip
/// stream, [`Error::BodyTimeout`] for a client that sends too slowly.
pub(crate) async fn read_body(headers: &HeaderMap, body: Body, limit: usize) -> Result<ReadBody> {
    read_raw(headers, body, limit, None).await?.decode(limit)
}

/// Reads `body` whole without decompressing it, refusing more than `limit` bytes; with a
/// `budget`, every byte received takes one permit of it, and a body that does not fit is
/// refused as overload (503): bodies are read before a write slot is taken, and the
/// budget bounds the memory they hold meanwhile.
///
/// # Errors
/// As [`read_body`], and [`Error::Overloaded`] when the budget is exhausted.
pub(crate) async fn read_raw(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
    budget: Option<&Arc<Semaphore>>,
) -> Result<RawBody> {
    let gzip = match headers.get(header::CONTENT_ENCODING) {
        None => false,
        Some(value) => {
            let value = value.to_str().unwrap_or("").trim().to_ascii_lowercase();
            match value.as_str() {
                "" | "identity" => false,
                "gzip" | "x-gzip" => true,
                _ => return Err(Error::UnsupportedEncoding { encoding: value }),
            }
        }
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let mut body = body;
    if declared.is_some_and(|length| length > limit as u64) {
        if declared.is_some_and(|length| length <= (limit + DRAIN_BYTES) as u64) {
            drain(&mut body, DRAIN_BYTES).await;
        }
        return Err(Error::BodyTooLarge { limit });
    }
    let mut raw = Vec::with_capacity(declared.map_or(0, |length| length as usize));
    let mut held: Option<OwnedSemaphorePermit> = None;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(body_error)?;
        if let Ok(data) = frame.into_data() {
            if raw.len() + data.len() > limit {
                drop(raw);
                drain(&mut body, DRAIN_BYTES).await;
                return Err(Error::BodyTooLarge { limit });
            }
            if let Some(budget) = budget {
                let Some(permit) = u32::try_from(data.len())
                    .ok()
                    .and_then(|n| budget.clone().try_acquire_many_owned(n).ok())
                else {
                    drop((raw, held));
                    drain(&mut body, DRAIN_BYTES).await;
                    return Err(Error::Overloaded {
                        reason: "too many write request bytes being received at once, retry later"
                            .into(),
                        retry_after: std::time::Duration::from_secs(1),
                    });
                };
                match &mut held {
                    Some(held) => held.merge(permit),
                    None => held = Some(permit),
                }
            }
            raw.extend_from_slice(&data);
        }
    }
    Ok(RawBody {
        raw,
        gzip,
        budget: held,
    })
}

/// The error for a body that could not be read: a slow client's [`BodyTimeout`] from the
/// connection layer, or a broken connection.
fn body_error(err: axum::Error) -> Error {
    match err.into_inner().downcast::<BodyTimeout>() {
        Ok(timeout) => Error::BodyTimeout {
            reason: timeout.reason,
        },
        Err(other) => Error::InvalidBody {
            reason: format!("reading the body failed: {other}"),
        },
    }
}

/// How much of an oversized body is read and thrown away before answering 413.
///
/// A server that answers and closes while the client is still sending makes the kernel
/// reset the connection, and many clients then report a broken pipe instead of the 413;
/// reading (not keeping) a bounded tail lets them see the status.
const DRAIN_BYTES: usize = 32 << 20;

/// How long draining waits for more of a refused body: a client that stalls mid-body
/// still gets its answer (and the connection is then closed) instead of holding it forever.
const DRAIN_IDLE: std::time::Duration = std::time::Duration::from_secs(5);

/// Reads and throws away (a bounded part of) a body the request is refused without.
///
/// hyper closes a keep-alive connection whose request body was left unread, and a client
/// that reuses it then sees a broken connection instead of the answer; reading the body
/// keeps the connection usable.
pub(crate) async fn discard(mut body: Body) {
    drain(&mut body, DRAIN_BYTES).await;
}

/// Reads and discards up to `max` more bytes of `body`, stopping early when none arrives
/// for [`DRAIN_IDLE`].
async fn drain(body: &mut Body, max: usize) {
    let mut seen = 0usize;
    while seen <= max {
        match tokio::time::timeout(DRAIN_IDLE, body.frame()).await {
            Ok(Some(Ok(frame))) => seen += frame.data_ref().map_or(0, |data| data.len()),
            _ => break,
        }
    }
}

/// Decompresses a (possibly multi-member) gzip stream as the write endpoints do a
/// `Content-Encoding: gzip` body, refusing more than `limit` bytes of output (it stops
/// decompressing one byte past the limit, so a gzip bomb costs no more than `limit`).
///
/// # Errors
/// [`Error::BodyTooLarge`] over the limit, [`Error::InvalidBody`] for a broken gzip
/// stream.
pub fn gunzip(compressed: &[u8], limit: usize) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(compressed.len().saturating_mul(4).min(limit));
    MultiGzDecoder::new(compressed)
        .take(limit as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|err| Error::InvalidBody {
            reason: format!("invalid gzip data: {err}"),
        })?;
    if out.len() > limit {
        return Err(Error::BodyTooLarge { limit });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use axum::http::HeaderValue;
    use flate2::Compression;
    use flate2::write::GzEncoder;

    use super::*;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
        encoder.write_all(data).unwrap();
        encoder.finish().unwrap()
    }

    fn gzip_headers() -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        headers
    }

    #[tokio::test]
    async fn reads_plain_bodies_up_to_the_limit() {
        let body = read_body(&HeaderMap::new(), Body::from("abc"), 3)
            .await
            .unwrap();
        assert_eq!(body.bytes, b"abc");
        let err = read_body(&HeaderMap::new(), Body::from("abcd"), 3)
            .await
            .unwrap_err();
        assert!(matches!(err, Error::BodyTooLarge { limit: 3 }));
    }

    #[tokio::test]
    async fn refuses_a_declared_length_over_the_limit_before_reading() {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from_static("1000"));
        let err = read_body(&headers, Body::from("a"), 10).await.unwrap_err();
        assert!(matches!(err, Error::BodyTooLarge { .. }));
    }

    #[tokio::test]
    async fn gunzips_single_and_multi_member_streams() {
        let mut data = gzip(b"cpu v=1\n");
        data.extend(gzip(b"cpu v=2\n"));
        let raw = read_raw(&gzip_headers(), Body::from(data.clone()), 1000, None)
            .await
            .unwrap();
        assert_eq!(raw.wire_bytes(), data.len());
        let body = raw.decode(1000).unwrap();
        assert_eq!(body.bytes, b"cpu v=1\ncpu v=2\n");
    }

    #[tokio::test]
    async fn a_gzip_bomb_stops_at_the_limit() {
        let bomb = gzip(&vec![b'a'; 50 << 20]);
        assert!(bomb.len() < 1 << 20);
        let err = read_body(&gzip_headers(), Body::from(bomb), 1 << 20)
            .await
            .unwrap_err();
        assert!(matches!(err, Error::BodyTooLarge { .. }));
    }

    #[tokio::test]
    async fn broken_gzip_and_unknown_encodings_are_client_errors() {
        let err = read_body(&gzip_headers(), Body::from("not gzip"), 100)
            .await
            .unwrap_err();
        assert!(matches!(err, Error::InvalidBody { .. }), "{err}");
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("br"));
        let err = read_body(&headers, Body::from("x"), 100).await.unwrap_err();
        assert!(matches!(err, Error::UnsupportedEncoding { .. }));
    }
}
