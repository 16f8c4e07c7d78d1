//! A minimal blocking HTTP/1.1 client over one keep-alive TCP connection.
//!
//! Requests are rendered to bytes ahead of time and written with one `write_all`; the
//! response parser handles `Content-Length`, chunked bodies and close-delimited bodies.
//! That is all a load driver needs, and it spends next to no CPU of its own.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use crate::{Error, Result};

/// Where requests go: `http://host:port` plus an optional base path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Host name or address, as written in the URL.
    pub host: String,
    /// TCP port; 80 when the URL has none.
    pub port: u16,
    /// Path prefix without a trailing slash (empty for none).
    pub base_path: String,
}

impl Target {
    /// Parses `http://host[:port][/base]`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidUrl`] for another scheme (https is not supported), an empty host or
    /// a bad port.
    pub fn parse(url: &str) -> Result<Self> {
        let bad = || Error::InvalidUrl(url.to_owned());
        let rest = url.strip_prefix("http://").ok_or_else(bad)?;
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], rest[i..].trim_end_matches('/')),
            None => (rest, ""),
        };
        let (host, port) = if let Some(stripped) = authority.strip_prefix('[') {
            // [::1]:8086
            let end = stripped.find(']').ok_or_else(bad)?;
            let host = &authority[..end + 2];
            let port = match &stripped[end + 1..] {
                "" => 80,
                p => p
                    .strip_prefix(':')
                    .ok_or_else(bad)?
                    .parse()
                    .map_err(|_| bad())?,
            };
            (host, port)
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h, p.parse().map_err(|_| bad())?),
                None => (authority, 80),
            }
        };
        if host.is_empty() {
            return Err(bad());
        }
        Ok(Self {
            host: host.to_owned(),
            port,
            base_path: path.to_owned(),
        })
    }

    /// `host:port`, for connecting and for the `Host` header.
    pub fn authority(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    /// Renders a complete request: request line, `Host`, `Content-Length`, the given
    /// headers, then the body.
    pub fn render_request(
        &self,
        method: &str,
        path_and_query: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Vec<u8> {
        let mut head = format!(
            "{method} {}{path_and_query} HTTP/1.1\r\nHost: {}\r\nContent-Length: {}\r\n",
            self.base_path,
            self.authority(),
            body.len()
        );
        for (name, value) in headers {
            head.push_str(name);
            head.push_str(": ");
            head.push_str(value);
            head.push_str("\r\n");
        }
        head.push_str("\r\n");
        let mut request = head.into_bytes();
        request.extend_from_slice(body);
        request
    }
}

/// Percent-encodes `text` for use in a query string.
pub fn url_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A response: status code and the decoded body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// HTTP status code.
    pub status: u16,
    /// Body after de-chunking (not decompressed).
    pub body: Vec<u8>,
}

/// One keep-alive connection that reconnects when the server closes it.
#[derive(Debug)]
pub struct Connection {
    authority: String,
    timeout: Duration,
    stream: Option<TcpStream>,
    buf: Vec<u8>,
    /// Responses served on the current stream (0 right after connecting).
    served: u64,
}

impl Connection {
    /// A connection to `target`, opened lazily; each read and write gives up after
    /// `timeout`.
    pub fn new(target: &Target, timeout: Duration) -> Self {
        Self {
            authority: target.authority(),
            timeout,
            stream: None,
            buf: Vec::with_capacity(16 * 1024),
            served: 0,
        }
    }

    /// Opens the TCP connection now if it is not open.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when connecting fails.
    pub fn connect(&mut self) -> Result<()> {
        if self.stream.is_none() {
            let stream = TcpStream::connect(&self.authority)?;
            stream.set_nodelay(true)?;
            stream.set_read_timeout(Some(self.timeout))?;
            stream.set_write_timeout(Some(self.timeout))?;
            self.stream = Some(stream);
            self.buf.clear();
            self.served = 0;
        }
        Ok(())
    }

    /// Sends a rendered request and reads its response.
    ///
    /// When a reused connection turns out to have been closed by the server before it
    /// answered (the keep-alive race), the request is sent once more on a new connection.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] on connection failures and timeouts, [`Error::MalformedResponse`] when
    /// the reply is not HTTP/1.x.
    pub fn send(&mut self, request: &[u8]) -> Result<Response> {
        self.connect()?;
        let reused = self.served > 0;
        match self.exchange(request) {
            Err(Error::Io(err)) if reused && is_closed_before_reply(&err) => {
                self.stream = None;
                self.connect()?;
                self.exchange(request)
            }
            other => other,
        }
    }

    fn exchange(&mut self, request: &[u8]) -> Result<Response> {
        let result = self.exchange_inner(request);
        if result.is_err() {
            self.stream = None;
        }
        result
    }

    fn exchange_inner(&mut self, request: &[u8]) -> Result<Response> {
        let stream = self.stream.as_mut().expect("connect() opened the stream");
        stream.write_all(request)?;
        let (response, keep_alive) = read_response(stream, &mut self.buf)?;
        self.served += 1;
        if !keep_alive {
            self.stream = None;
        }
        Ok(response)
    }
}

fn is_closed_before_reply(err: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        err.kind(),
        UnexpectedEof | ConnectionReset | ConnectionAborted | BrokenPipe
    )
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Reads more bytes into `buf`; an orderly close is `UnexpectedEof`.
fn fill(stream: &mut impl Read, buf: &mut Vec<u8>) -> Result<()> {
    let mut chunk = [0u8; 16 * 1024];
    let n = stream.read(&mut chunk)?;
    if n == 0 {
        return Err(Error::Io(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "connection closed before the response was complete",
        )));
    }
    buf.extend_from_slice(&chunk[..n]);
    Ok(())
}

/// Reads one response from `stream`, using and leaving leftover bytes in `buf`; returns it
/// and whether the connection may be reused.
pub(crate) fn read_response(stream: &mut impl Read, buf: &mut Vec<u8>) -> Result<(Response, bool)> {
    loop {
        let head_end = loop {
            if let Some(i) = find(buf, b"\r\n\r\n") {
                break i;
            }
            fill(stream, buf)?;
        };
        let head = std::str::from_utf8(&buf[..head_end])
            .map_err(|_| Error::MalformedResponse("header is not utf-8".into()))?
            .to_owned();
        buf.drain(..head_end + 4);
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap_or_default();
        let mut parts = status_line.splitn(3, ' ');
        let version = parts.next().unwrap_or_default();
        if !version.starts_with("HTTP/1.") {
            return Err(Error::MalformedResponse(format!(
                "status line {status_line:?}"
            )));
        }
        let status: u16 = parts
            .next()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| Error::MalformedResponse(format!("status line {status_line:?}")))?;
        let mut content_length = None;
        let mut chunked = false;
        let mut keep_alive = version != "HTTP/1.0";
        for line in lines {
            let Some((name, value)) = line.split_once(':') else {
                continue;
            };
            let value = value.trim();
            if name.eq_ignore_ascii_case("content-length") {
                content_length =
                    Some(value.parse::<usize>().map_err(|_| {
                        Error::MalformedResponse(format!("content-length {value:?}"))
                    })?);
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                chunked = value.to_ascii_lowercase().contains("chunked");
            } else if name.eq_ignore_ascii_case("connection") {
                let value = value.to_ascii_lowercase();
                if value.contains("close") {
                    keep_alive = false;
                } else if value.contains("keep-alive") {
                    keep_alive = true;
                }
            }
        }
        if (100..200).contains(&status) {
            continue; // an interim response such as 100 Continue: the real one follows
        }
        let body = if status == 204 || status == 304 {
            Vec::new()
        } else if chunked {
            read_chunked(stream, buf)?
        } else if let Some(len) = content_length {
            while buf.len() < len {
                fill(stream, buf)?;
            }
            buf.drain(..len).collect()
        } else {
            // Delimited by the server closing the connection.
            loop {
                match fill(stream, buf) {
                    Ok(()) => {}
                    Err(Error::Io(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
                    Err(e) => return Err(e),
                }
            }
            keep_alive = false;
            std::mem::take(buf)
        };
        return Ok((Response { status, body }, keep_alive));
    }
}

fn read_chunked(stream: &mut impl Read, buf: &mut Vec<u8>) -> Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let line_end = loop {
            if let Some(i) = find(buf, b"\r\n") {
                break i;
            }
            fill(stream, buf)?;
        };
        let size_text = std::str::from_utf8(&buf[..line_end])
            .map_err(|_| Error::MalformedResponse("chunk size is not utf-8".into()))?;
        let size_text = size_text.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|_| Error::MalformedResponse(format!("chunk size {size_text:?}")))?;
        buf.drain(..line_end + 2);
        if size == 0 {
            // Trailers, then an empty line.
            loop {
                let end = loop {
                    if let Some(i) = find(buf, b"\r\n") {
                        break i;
                    }
                    fill(stream, buf)?;
                };
                buf.drain(..end + 2);
                if end == 0 {
                    return Ok(body);
                }
            }
        }
        while buf.len() < size + 2 {
            fill(stream, buf)?;
        }
        body.extend_from_slice(&buf[..size]);
        buf.drain(..size + 2);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that hands out its bytes a few at a time, like a slow socket.
    struct Trickle<'a> {
        data: &'a [u8],
        step: usize,
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
            let n = self.step.min(self.data.len()).min(out.len());
            out[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    fn parse(raw: &[u8], step: usize) -> Result<(Response, bool, Vec<u8>)> {
        let mut stream = Trickle { data: raw, step };
        let mut buf = Vec::new();
        let (response, keep_alive) = read_response(&mut stream, &mut buf)?;
        Ok((response, keep_alive, buf))
    }

    #[test]
    fn reads_content_length_bodies_even_when_bytes_trickle_in() {
        let raw = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
        for step in [1, 3, 1000] {
            let (response, keep_alive, rest) = parse(raw, step).unwrap();
            assert_eq!(
                response,
                Response {
                    status: 200,
                    body: b"hello".to_vec()
                }
            );
            assert!(keep_alive);
            assert!(rest.is_empty());
        }
    }

    #[test]
    fn reads_chunked_bodies_and_skips_interim_responses() {
        let raw = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 400 Bad Request\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n";
        let (response, keep_alive, _) = parse(raw, 2).unwrap();
        assert_eq!(response.status, 400);
        assert_eq!(response.body, b"abcde");
        assert!(keep_alive);
    }

    #[test]
    fn no_content_has_no_body_and_close_ends_keep_alive() {
        let raw = b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n";
        let (response, keep_alive, _) = parse(raw, 7).unwrap();
        assert_eq!(
            response,
            Response {
                status: 204,
                body: vec![]
            }
        );
        assert!(!keep_alive);
        let raw = b"HTTP/1.0 200 OK\r\n\r\nuntil close";
        let (response, keep_alive, _) = parse(raw, 4).unwrap();
        assert_eq!(response.body, b"until close");
        assert!(!keep_alive);
    }

    #[test]
    fn rejects_what_is_not_http() {
        assert!(matches!(
            parse(b"SSH-2.0-OpenSSH\r\n\r\n", 100),
            Err(Error::MalformedResponse(_))
        ));
        assert!(matches!(
            parse(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nshort", 100),
            Err(Error::Io(_))
        ));
    }

    /// A server that answers one request per connection, claiming keep-alive, then hangs
    /// up: the client must notice and resend on a new connection.
    #[test]
    fn resends_once_when_a_kept_alive_connection_was_closed_by_the_server() {
        use std::io::{BufRead, BufReader};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            let mut accepted = 0;
            for stream in listener.incoming().take(3) {
                let stream = stream.unwrap();
                accepted += 1;
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                // Read the head up to the blank line; these requests have no body.
                loop {
                    line.clear();
                    if reader.read_line(&mut line).unwrap() == 0 || line == "\r\n" {
                        break;
                    }
                }
                let mut stream = stream;
                stream
                    .write_all(b"HTTP/1.1 204 No Content\r\nConnection: keep-alive\r\n\r\n")
                    .unwrap();
                // Dropping the stream closes the connection despite the header.
            }
            accepted
        });
        let target = Target::parse(&format!("http://{addr}")).unwrap();
        let mut conn = Connection::new(&target, Duration::from_secs(10));
        let request = target.render_request("GET", "/ping", &[], b"");
        for _ in 0..3 {
            assert_eq!(conn.send(&request).unwrap().status, 204);
        }
        assert_eq!(server.join().unwrap(), 3);
    }

    #[test]
    fn parses_urls_with_ports_paths_and_ipv6() {
        let t = Target::parse("http://127.0.0.1:8086").unwrap();
        assert_eq!(
            (t.host.as_str(), t.port, t.base_path.as_str()),
            ("127.0.0.1", 8086, "")
        );
        let t = Target::parse("http://db.example/influx/").unwrap();
        assert_eq!(
            (t.host.as_str(), t.port, t.base_path.as_str()),
            ("db.example", 80, "/influx")
        );
        let t = Target::parse("http://[::1]:9000").unwrap();
        assert_eq!((t.authority().as_str(), t.port), ("[::1]:9000", 9000));
        for bad in ["https://x", "127.0.0.1:8086", "http://:80", "http://x:port"] {
            assert!(Target::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn renders_requests_with_length_and_headers() {
        let t = Target::parse("http://h:1/base").unwrap();
        let req = t.render_request(
            "POST",
            "/write?db=x",
            &[("Content-Encoding", "gzip")],
            b"abc",
        );
        assert_eq!(
            std::str::from_utf8(&req).unwrap(),
            "POST /base/write?db=x HTTP/1.1\r\nHost: h:1\r\nContent-Length: 3\r\nContent-Encoding: gzip\r\n\r\nabc"
        );
        assert_eq!(url_encode("a b&c=d/é"), "a%20b%26c%3Dd%2F%C3%A9");
    }
}
