//! Just enough HTTP/2 to drive a connection by hand, over any byte pipe (a TCP socket for
//! h2c, `openssl s_client` for TLS): frames written and parsed, header blocks in HPACK's
//! literal form. For tests that need what a client library hides: which connection a
//! request goes on, streams left open on purpose, the server's SETTINGS.

#![allow(dead_code, unreachable_pub)] // each test binary uses a different part

use std::io::{Read, Write};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
pub const DATA: u8 = 0;
pub const HEADERS: u8 = 1;
pub const RST_STREAM: u8 = 3;
pub const SETTINGS: u8 = 4;
pub const GOAWAY: u8 = 7;
pub const END_STREAM: u8 = 1;
pub const END_HEADERS: u8 = 4;
pub const ACK: u8 = 1;
pub const SETTINGS_MAX_CONCURRENT_STREAMS: u16 = 3;
pub const REFUSED_STREAM: u32 = 7;

/// How long any one wait for the server lasts before the test fails.
const WAIT: Duration = Duration::from_secs(20);

/// One frame.
#[derive(Debug, Clone)]
pub struct Frame {
    pub kind: u8,
    pub flags: u8,
    pub stream: u32,
    pub payload: Vec<u8>,
}

impl Frame {
    /// The frame's bytes on the wire.
    pub fn encode(&self) -> Vec<u8> {
        let len = u32::try_from(self.payload.len()).unwrap();
        assert!(len < 1 << 24);
        let mut out = len.to_be_bytes()[1..].to_vec();
        out.push(self.kind);
        out.push(self.flags);
        out.extend_from_slice(&self.stream.to_be_bytes());
        out.extend_from_slice(&self.payload);
        out
    }

    /// The `:status` of a response HEADERS frame when the server sent it as an HPACK
    /// static-table index (200, 204, 206, 304, 400, 404, 500), as servers do for those.
    pub fn status(&self) -> Option<u16> {
        let first = *self.payload.first()?;
        if first & 0x80 == 0 {
            return None;
        }
        match first & 0x7f {
            8 => Some(200),
            9 => Some(204),
            10 => Some(206),
            11 => Some(304),
            12 => Some(400),
            13 => Some(404),
            14 => Some(500),
            _ => None,
        }
    }
}

/// A HEADERS payload: every header a literal without indexing with a literal name, so the
/// block never depends on the HPACK dynamic table.
pub fn header_block(headers: &[(&str, &str)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, value) in headers {
        out.push(0);
        for text in [name, value] {
            let len = u8::try_from(text.len()).unwrap();
            assert!(len < 127, "a short string");
            out.push(len);
            out.extend_from_slice(text.as_bytes());
        }
    }
    out
}

/// A request's HEADERS frame on `stream`; `end_stream` for a request without a body.
pub fn request(
    stream: u32,
    method: &str,
    path: &str,
    extra: &[(&str, &str)],
    end_stream: bool,
) -> Frame {
    let mut headers = vec![
        (":method", method),
        (":scheme", "https"),
        (":path", path),
        (":authority", "localhost"),
    ];
    headers.extend_from_slice(extra);
    Frame {
        kind: HEADERS,
        flags: END_HEADERS | if end_stream { END_STREAM } else { 0 },
        stream,
        payload: header_block(&headers),
    }
}

/// A byte pipe to the server: what is written goes out, what arrives is buffered.
pub struct Pipe {
    input: Box<dyn Write + Send>,
    chunks: mpsc::Receiver<Vec<u8>>,
    buffer: Vec<u8>,
    child: Option<Child>,
}

impl Pipe {
    pub fn new(input: Box<dyn Write + Send>, mut output: Box<dyn Read + Send>) -> Pipe {
        let (tx, chunks) = mpsc::channel();
        std::thread::spawn(move || {
            let mut buf = [0u8; 16 << 10];
            loop {
                match output.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if tx.send(buf[..n].to_vec()).is_err() {
                            break;
                        }
                    }
                }
            }
        });
        Pipe {
            input,
            chunks,
            buffer: Vec::new(),
            child: None,
        }
    }

    /// A plain TCP connection (h2c with prior knowledge, or HTTP/1.1).
    pub fn tcp(address: &str) -> Pipe {
        let stream = std::net::TcpStream::connect(address).unwrap();
        let reader = stream.try_clone().unwrap();
        Pipe::new(Box::new(stream), Box::new(reader))
    }

    /// One TLS connection through `openssl s_client`, verified against `ca` for
    /// `localhost`, offering `alpn` (`h2` or `http/1.1`).
    pub fn tls(address: &str, ca: &str, alpn: &str) -> Pipe {
        let mut child = Command::new("openssl")
            .args(["s_client", "-quiet", "-connect", address])
            .args(["-servername", "localhost", "-verify_hostname", "localhost"])
            .args(["-CAfile", ca, "-verify_return_error", "-alpn", alpn])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("openssl runs");
        let input = child.stdin.take().unwrap();
        let output = child.stdout.take().unwrap();
        let mut pipe = Pipe::new(Box::new(input), Box::new(output));
        pipe.child = Some(child);
        pipe
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.input.write_all(bytes).unwrap();
        self.input.flush().unwrap();
    }

    pub fn send_frame(&mut self, frame: &Frame) {
        self.send(&frame.encode());
    }

    /// Waits until `take` finds something whole at the start of the buffer (it returns the
    /// value and how many bytes it used); panics when the server closes or goes quiet.
    fn read<T>(&mut self, what: &str, take: impl Fn(&[u8]) -> Option<(T, usize)>) -> T {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some((value, used)) = take(&self.buffer) {
                self.buffer.drain(..used);
                return value;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match self.chunks.recv_timeout(left) {
                Ok(chunk) => self.buffer.extend_from_slice(&chunk),
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    panic!(
                        "no {what} in time; have {:?}",
                        String::from_utf8_lossy(&self.buffer)
                    )
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => panic!(
                    "the connection closed before {what}; have {:?}",
                    String::from_utf8_lossy(&self.buffer)
                ),
            }
        }
    }

    /// The next HTTP/1.1 response head (status line and headers, no body).
    pub fn http1_head(&mut self) -> String {
        self.read("HTTP/1.1 response", |buf| {
            let end = buf.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
            Some((String::from_utf8_lossy(&buf[..end]).into_owned(), end))
        })
    }

    /// The next frame.
    pub fn frame(&mut self) -> Frame {
        self.read("HTTP/2 frame", |buf| {
            if buf.len() < 9 {
                return None;
            }
            let len = u32::from_be_bytes([0, buf[0], buf[1], buf[2]]) as usize;
            if buf.len() < 9 + len {
                return None;
            }
            let frame = Frame {
                kind: buf[3],
                flags: buf[4],
                stream: u32::from_be_bytes([buf[5], buf[6], buf[7], buf[8]]) & 0x7fff_ffff,
                payload: buf[9..9 + len].to_vec(),
            };
            Some((frame, 9 + len))
        })
    }

    /// The next frame on `stream` of one of `kinds`, skipping others (window updates,
    /// pings, other streams); panics on GOAWAY.
    pub fn frame_on(&mut self, stream: u32, kinds: &[u8]) -> Frame {
        loop {
            let frame = self.frame();
            assert_ne!(
                frame.kind, GOAWAY,
                "the server ended the connection: {frame:?}"
            );
            if frame.stream == stream && kinds.contains(&frame.kind) {
                return frame;
            }
        }
    }

    /// Opens HTTP/2: the preface and empty SETTINGS out, the server's SETTINGS in and
    /// acknowledged. Returns the server's settings (identifier, value).
    pub fn h2_handshake(&mut self) -> Vec<(u16, u32)> {
        self.send(PREFACE);
        self.send_frame(&Frame {
            kind: SETTINGS,
            flags: 0,
            stream: 0,
            payload: Vec::new(),
        });
        let settings = loop {
            let frame = self.frame();
            assert_ne!(
                frame.kind, GOAWAY,
                "the server ended the connection: {frame:?}"
            );
            if frame.kind == SETTINGS && frame.flags & ACK == 0 {
                break frame;
            }
        };
        self.send_frame(&Frame {
            kind: SETTINGS,
            flags: ACK,
            stream: 0,
            payload: Vec::new(),
        });
        settings
            .payload
            .chunks_exact(6)
            .map(|c| {
                (
                    u16::from_be_bytes([c[0], c[1]]),
                    u32::from_be_bytes([c[2], c[3], c[4], c[5]]),
                )
            })
            .collect()
    }

    /// Sends a GET without a body on `stream` and returns the response's status.
    pub fn h2_get(&mut self, stream: u32, path: &str) -> Option<u16> {
        self.send_frame(&request(stream, "GET", path, &[], true));
        self.frame_on(stream, &[HEADERS]).status()
    }
}

impl Drop for Pipe {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
