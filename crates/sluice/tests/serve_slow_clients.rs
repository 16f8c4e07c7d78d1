//! The connection layer against slow, idle and abusive clients: 200 trickling
//! connections (headers and write bodies) while normal clients keep being served, the
//! connection limit, idle keep-alive connections, header and request-target limits.

mod common;

use std::io::{ErrorKind, Read as _, Write as _};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{Options, TestServer};

fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no metric {name} in\n{text}"))
}

/// What a trickling client is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Sends a request head one byte at a time, never finishing it.
    Headers,
    /// Sends a write request's head, then its body one byte at a time.
    Body,
}

/// One trickling connection.
struct Slow {
    kind: Kind,
    stream: TcpStream,
    /// What the server answered before closing, if anything.
    answer: Vec<u8>,
    /// When the server closed the connection.
    closed: Option<Instant>,
}

impl Slow {
    fn open(address: &str, kind: Kind) -> Slow {
        let mut stream = TcpStream::connect(address).unwrap();
        let head: &[u8] = match kind {
            Kind::Headers => b"GET /ping HTTP/1.1\r\nHost: x\r\nX-Slow: ",
            Kind::Body => {
                b"POST /write?db=slow HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n"
            }
        };
        stream.write_all(head).unwrap();
        stream.set_nonblocking(true).unwrap();
        Slow {
            kind,
            stream,
            answer: Vec::new(),
            closed: None,
        }
    }

    /// Sends one more byte and notices whether the server closed the connection.
    fn tick(&mut self) {
        if self.closed.is_some() {
            return;
        }
        let mut buf = [0u8; 1024];
        loop {
            match self.stream.read(&mut buf) {
                Ok(0) => {
                    self.closed = Some(Instant::now());
                    return;
                }
                Ok(n) => self.answer.extend_from_slice(&buf[..n]),
                Err(err) if err.kind() == ErrorKind::WouldBlock => break,
                Err(_) => {
                    self.closed = Some(Instant::now());
                    return;
                }
            }
        }
        let byte: &[u8] = match self.kind {
            Kind::Headers => b"a",
            Kind::Body => b"m",
        };
        match self.stream.write(byte) {
            Ok(_) => {}
            Err(err) if err.kind() == ErrorKind::WouldBlock => {}
            Err(_) => self.closed = Some(Instant::now()),
        }
    }
}

#[test]
fn two_hundred_slow_clients_neither_block_normal_ones_nor_stay_connected() {
    let server = TestServer::start(
        Options::default()
            .arg("--without-auth")
            .arg("--max-concurrent-writes")
            .arg("4")
            .arg("--max-connections")
            .arg("400")
            .arg("--http-header-read-timeout")
            .arg("4s")
            .arg("--http-body-idle-timeout")
            .arg("4s")
            .arg("--http-body-min-rate")
            .arg("100")
            .arg("--http-idle-timeout")
            .arg("4s"),
    );
    let mut slow: Vec<Slow> = (0..200)
        .map(|i| {
            let kind = if i % 2 == 0 {
                Kind::Headers
            } else {
                Kind::Body
            };
            Slow::open(&server.address, kind)
        })
        .collect();
    // Silent connections: accepted, never a byte.
    let silent: Vec<TcpStream> = (0..20)
        .map(|_| TcpStream::connect(&server.address).unwrap())
        .collect();
    for connection in &mut slow {
        connection.tick();
    }

    // Normal clients, on their own threads, while the slow ones keep trickling (the
    // body tricklers alone would hold every write slot if slots were taken before the
    // body was read).
    let open_at_start = slow.iter().filter(|s| s.closed.is_none()).count();
    let normal = {
        let url = server.url("");
        std::thread::spawn(move || {
            let agent: ureq::Agent = ureq::Agent::config_builder()
                .http_status_as_error(false)
                .timeout_global(Some(Duration::from_secs(60)))
                .build()
                .into();
            let mut statuses = Vec::new();
            for i in 0..20 {
                let write = agent
                    .post(format!("{url}/write?db=normal"))
                    .send(format!("m,host=h{i} v={i} {}\n", 1_000 + i))
                    .unwrap();
                statuses.push(("write", write.status().as_u16()));
                let query = agent
                    .get(format!(
                        "{url}/query?db=normal&q=SELECT%20count(v)%20FROM%20m"
                    ))
                    .call()
                    .unwrap();
                statuses.push(("query", query.status().as_u16()));
            }
            statuses
        })
    };
    while !normal.is_finished() {
        for connection in &mut slow {
            connection.tick();
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let statuses = normal.join().unwrap();
    assert!(
        open_at_start > 0,
        "the slow clients were cut before the normal ones started"
    );
    for (what, status) in &statuses {
        assert!(
            matches!(status, 200 | 204),
            "a normal {what} got {status} while slow clients were connected: {statuses:?}"
        );
    }
    let reply = server.get(
        "/query?db=normal&q=SELECT%20count(v)%20FROM%20m",
        &[("accept", "application/json")],
    );
    assert!(reply.body.contains("20"), "{}", reply.body);

    // Every slow client is cut (limits of 4 s; the bound is generous for a loaded
    // machine), body tricklers with a 408 naming the reason.
    let deadline = Instant::now() + Duration::from_secs(90);
    while slow.iter().any(|s| s.closed.is_none()) && Instant::now() < deadline {
        for connection in &mut slow {
            connection.tick();
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let still_open = slow.iter().filter(|s| s.closed.is_none()).count();
    assert_eq!(still_open, 0, "slow clients still connected after 90 s");
    for connection in slow.iter().filter(|s| s.kind == Kind::Body) {
        let answer = String::from_utf8_lossy(&connection.answer);
        assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
        assert!(answer.contains("too slow"), "{answer}");
    }
    for connection in slow.iter().filter(|s| s.kind == Kind::Headers) {
        assert!(connection.answer.is_empty(), "{:?}", connection.answer);
    }
    for mut connection in silent {
        connection
            .set_read_timeout(Some(Duration::from_secs(60)))
            .unwrap();
        let mut buf = [0u8; 16];
        assert_eq!(connection.read(&mut buf).unwrap_or(0), 0);
    }
    let metrics = server.get("/metrics", &[]).body;
    assert!(metric(&metrics, "sluice_http_header_timeouts_total") >= 100.0);
    assert!(metric(&metrics, "sluice_http_body_timeouts_total") >= 100.0);
    assert!(metric(&metrics, "sluice_http_idle_closed_total") >= 20.0);
}

#[test]
fn a_stalled_body_is_cut_with_408_and_the_connection_closed() {
    let server = TestServer::start(
        Options::default()
            .arg("--without-auth")
            .arg("--http-body-idle-timeout")
            .arg("1s"),
    );
    let mut stream = TcpStream::connect(&server.address).unwrap();
    stream
        .write_all(b"POST /api/v2/write?bucket=b HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nm v=1\n")
        .unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("stalled"), "{answer}");
    assert!(
        answer.to_ascii_lowercase().contains("connection: close"),
        "{answer}"
    );
}

#[test]
fn connections_over_the_limit_get_503_with_retry_after() {
    let server = TestServer::start(
        Options::default()
            .arg("--without-auth")
            .arg("--max-connections")
            .arg("3"),
    );
    let holders: Vec<TcpStream> = (0..3)
        .map(|_| TcpStream::connect(&server.address).unwrap())
        .collect();
    let (status, text) = server.raw(b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(status, 503, "{text}");
    let lower = text.to_ascii_lowercase();
    assert!(lower.contains("retry-after: 1"), "{text}");
    assert!(lower.contains("connection: close"), "{text}");
    assert!(text.contains("too many open connections"), "{text}");
    drop(holders);
    // The server notices the closed connections on its own time.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, _) = server.raw(b"GET /ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        if status == 204 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "still refused after the holders left"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let metrics = server
        .raw(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .1;
    assert!(metric(&metrics, "sluice_http_connections_refused_total") >= 1.0);
}

#[test]
fn idle_keep_alive_connections_are_closed_after_the_idle_timeout() {
    let server = TestServer::start(
        Options::default()
            .arg("--without-auth")
            .arg("--http-idle-timeout")
            .arg("1s"),
    );
    let mut stream = TcpStream::connect(&server.address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    for _ in 0..2 {
        stream
            .write_all(b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        let mut head = [0u8; 12];
        stream.read_exact(&mut head).unwrap();
        assert_eq!(&head, b"HTTP/1.1 204");
        let mut rest = Vec::new();
        let mut byte = [0u8; 1];
        while !rest.ends_with(b"\r\n\r\n") {
            stream.read_exact(&mut byte).unwrap();
            rest.push(byte[0]);
        }
    }
    // Kept alive after both answers, then closed for idling.
    let mut buf = [0u8; 16];
    assert_eq!(stream.read(&mut buf).unwrap(), 0);
}

#[test]
fn oversized_heads_get_431_and_long_targets_414() {
    let server = TestServer::start(
        Options::default()
            .arg("--without-auth")
            .arg("--http-max-header-bytes")
            .arg("16KiB")
            .arg("--http-max-headers")
            .arg("20")
            .arg("--http-max-uri-bytes")
            .arg("2KiB"),
    );
    let big = format!(
        "GET /ping HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "a".repeat(20 << 10)
    );
    assert_eq!(server.raw(big.as_bytes()).0, 431);
    let mut many = String::from("GET /ping HTTP/1.1\r\nHost: x\r\n");
    for i in 0..30 {
        many.push_str(&format!("X-H{i}: v\r\n"));
    }
    many.push_str("\r\n");
    assert_eq!(server.raw(many.as_bytes()).0, 431);
    let long = format!(
        "GET /query?q={} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        "a".repeat(3 << 10)
    );
    let (status, text) = server.raw(long.as_bytes());
    assert_eq!(status, 414, "{text}");
    assert!(text.contains("request target too long"), "{text}");
    // Within the limits, requests go through.
    let fine = format!(
        "GET /ping?x={} HTTP/1.1\r\nHost: x\r\nX-Ok: {}\r\nConnection: close\r\n\r\n",
        "a".repeat(1 << 10),
        "b".repeat(8 << 10)
    );
    assert_eq!(server.raw(fine.as_bytes()).0, 204);
}

#[test]
fn invalid_connection_limits_are_refused_at_start() {
    for (flag, value, message) in [
        ("--http-max-header-bytes", "1KiB", "at least 8KiB"),
        ("--max-connections", "0", "at least 1"),
        ("--http-header-read-timeout", "0", "longer than 0"),
    ] {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_sluice"))
            .args([
                "serve",
                "--without-auth",
                "--bind",
                "127.0.0.1:0",
                flag,
                value,
            ])
            .arg("--data-dir")
            .arg(tempfile::tempdir().unwrap().path())
            .env_clear()
            .output()
            .unwrap();
        assert!(!output.status.success(), "{flag} {value}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains(flag) && stderr.contains(message),
            "{stderr}"
        );
    }
}
