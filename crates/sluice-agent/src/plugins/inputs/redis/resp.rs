//! A small blocking client for Redis's protocol (RESP2): commands as arrays of bulk
//! strings, replies parsed into [`Reply`]; over TCP (optionally TLS) or a Unix socket.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::time::Duration;

/// One reply from the server.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// `+OK`.
    Status(String),
    /// `-ERR ...`.
    Error(String),
    /// `:42`.
    Integer(i64),
    /// `$n` followed by n bytes; `None` for `$-1`.
    Bulk(Option<Vec<u8>>),
    /// `*n` followed by n replies; `None` for `*-1`.
    Array(Option<Vec<Reply>>),
}

impl Reply {
    /// The reply as text, as go-redis's `Text()` gives it.
    ///
    /// # Errors
    /// A message for error replies, nil replies and arrays.
    pub fn into_text(self) -> Result<String, String> {
        match self {
            Reply::Status(s) => Ok(s),
            Reply::Integer(i) => Ok(i.to_string()),
            Reply::Bulk(Some(b)) => Ok(String::from_utf8_lossy(&b).into_owned()),
            Reply::Bulk(None) | Reply::Array(None) => Err("redis: nil".to_owned()),
            Reply::Error(e) => Err(e),
            Reply::Array(Some(_)) => Err("unexpected type=array".to_owned()),
        }
    }
}

trait Stream: Read + Write + Send {}
impl<T: Read + Write + Send> Stream for T {}

/// A connection to one server.
pub struct Connection {
    reader: BufReader<Box<dyn Stream>>,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection").finish_non_exhaustive()
    }
}

/// Where a server listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Address {
    /// `host:port`.
    Tcp(String),
    /// A socket path.
    Unix(String),
}

impl Connection {
    /// Connects, with `timeout` for connecting and for every read and write after.
    ///
    /// # Errors
    /// The I/O error, as text naming the address.
    pub fn connect(address: &Address, timeout: Duration) -> Result<Connection, String> {
        Connection::connect_with(address, timeout, None)
    }

    /// As [`Connection::connect`], over TLS with `tls` for a TCP address (the host name
    /// or address is verified against the server's certificate).
    ///
    /// # Errors
    /// The I/O error or the failed TLS handshake, as text naming the address.
    pub fn connect_with(
        address: &Address,
        timeout: Duration,
        tls: Option<&Arc<rustls::ClientConfig>>,
    ) -> Result<Connection, String> {
        let stream: Box<dyn Stream> = match address {
            Address::Tcp(addr) => {
                let mut last = format!("{addr}: no address");
                let mut found = None;
                let addrs = std::net::ToSocketAddrs::to_socket_addrs(addr.as_str())
                    .map_err(|err| format!("{addr}: {err}"))?;
                for sock in addrs {
                    match TcpStream::connect_timeout(&sock, timeout) {
                        Ok(s) => {
                            found = Some(s);
                            break;
                        }
                        Err(err) => last = format!("{addr}: {err}"),
                    }
                }
                let stream = found.ok_or(last)?;
                stream
                    .set_read_timeout(Some(timeout))
                    .and_then(|()| stream.set_write_timeout(Some(timeout)))
                    .and_then(|()| stream.set_nodelay(true))
                    .map_err(|err| format!("{addr}: {err}"))?;
                match tls {
                    Some(config) => Box::new(handshake(addr, stream, config)?),
                    None => Box::new(stream),
                }
            }
            Address::Unix(path) => {
                let stream = UnixStream::connect(path).map_err(|err| format!("{path}: {err}"))?;
                stream
                    .set_read_timeout(Some(timeout))
                    .and_then(|()| stream.set_write_timeout(Some(timeout)))
                    .map_err(|err| format!("{path}: {err}"))?;
                Box::new(stream)
            }
        };
        Ok(Connection {
            reader: BufReader::new(stream),
        })
    }

    /// Sends one command and reads its reply (an error reply is `Ok(Reply::Error)`).
    ///
    /// # Errors
    /// An I/O error or a reply that is not RESP; the connection is then unusable.
    pub fn command(&mut self, args: &[&[u8]]) -> Result<Reply, String> {
        let mut out = format!("*{}\r\n", args.len()).into_bytes();
        for arg in args {
            out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
            out.extend_from_slice(arg);
            out.extend_from_slice(b"\r\n");
        }
        let stream = self.reader.get_mut();
        stream
            .write_all(&out)
            .and_then(|()| stream.flush())
            .map_err(|err| format!("cannot send to the server: {err}"))?;
        read_reply(&mut self.reader)
    }
}

/// Completes a TLS handshake with the server at `addr` (`host:port`) over `tcp`.
fn handshake(
    addr: &str,
    mut tcp: TcpStream,
    config: &Arc<rustls::ClientConfig>,
) -> Result<rustls::StreamOwned<rustls::ClientConnection, TcpStream>, String> {
    let host = addr.rsplit_once(':').map_or(addr, |(host, _)| host);
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let name = rustls::pki_types::ServerName::try_from(host.to_owned())
        .map_err(|err| format!("{addr}: not a TLS server name: {err}"))?;
    let mut tls = rustls::ClientConnection::new(config.clone(), name)
        .map_err(|err| format!("{addr}: {err}"))?;
    while tls.is_handshaking() {
        tls.complete_io(&mut tcp)
            .map_err(|err| format!("{addr}: TLS handshake failed: {err}"))?;
    }
    Ok(rustls::StreamOwned::new(tls, tcp))
}

fn read_line(reader: &mut impl BufRead) -> Result<String, String> {
    let mut line = Vec::new();
    let n = reader
        .read_until(b'\n', &mut line)
        .map_err(|err| format!("cannot read the reply: {err}"))?;
    if n == 0 {
        return Err("the server closed the connection".to_owned());
    }
    if !line.ends_with(b"\r\n") {
        return Err("reply line not ended by CRLF".to_owned());
    }
    line.truncate(line.len() - 2);
    String::from_utf8(line).map_err(|_| "reply line is not UTF-8".to_owned())
}

/// Reads one reply.
///
/// # Errors
/// An I/O error, or bytes that are not RESP.
pub fn read_reply(reader: &mut impl BufRead) -> Result<Reply, String> {
    let line = read_line(reader)?;
    let (kind, rest) = line.split_at(line.len().min(1));
    let length = |rest: &str| {
        rest.parse::<i64>()
            .map_err(|_| format!("bad length {rest:?} in reply"))
    };
    Ok(match kind {
        "+" => Reply::Status(rest.to_owned()),
        "-" => Reply::Error(rest.to_owned()),
        ":" => Reply::Integer(length(rest)?),
        "$" => {
            let n = length(rest)?;
            if n < 0 {
                Reply::Bulk(None)
            } else {
                let n = usize::try_from(n).map_err(|_| "bulk too large".to_owned())?;
                if n > 512 << 20 {
                    return Err(format!("bulk reply of {n} bytes is too large"));
                }
                let mut data = vec![0; n + 2];
                reader
                    .read_exact(&mut data)
                    .map_err(|err| format!("cannot read the reply: {err}"))?;
                if !data.ends_with(b"\r\n") {
                    return Err("bulk reply not ended by CRLF".to_owned());
                }
                data.truncate(n);
                Reply::Bulk(Some(data))
            }
        }
        "*" => {
            let n = length(rest)?;
            if n < 0 {
                Reply::Array(None)
            } else {
                let mut items = Vec::new();
                for _ in 0..n {
                    items.push(read_reply(reader)?);
                }
                Reply::Array(Some(items))
            }
        }
        other => return Err(format!("unknown reply type {other:?}")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_of_every_type_parse() {
        let mut input: &[u8] =
            b"+OK\r\n-ERR no\r\n:7\r\n$3\r\nabc\r\n$-1\r\n*2\r\n:1\r\n$1\r\nx\r\n";
        assert_eq!(read_reply(&mut input).unwrap(), Reply::Status("OK".into()));
        assert_eq!(
            read_reply(&mut input).unwrap(),
            Reply::Error("ERR no".into())
        );
        assert_eq!(read_reply(&mut input).unwrap(), Reply::Integer(7));
        assert_eq!(
            read_reply(&mut input).unwrap(),
            Reply::Bulk(Some(b"abc".to_vec()))
        );
        assert_eq!(read_reply(&mut input).unwrap(), Reply::Bulk(None));
        assert_eq!(
            read_reply(&mut input).unwrap(),
            Reply::Array(Some(vec![
                Reply::Integer(1),
                Reply::Bulk(Some(b"x".to_vec()))
            ]))
        );
        assert!(read_reply(&mut input).is_err(), "end of input");
    }

    #[test]
    fn malformed_replies_are_errors() {
        assert!(read_reply(&mut &b"?x\r\n"[..]).is_err());
        assert!(read_reply(&mut &b"$5\r\nab\r\n"[..]).is_err());
        assert!(read_reply(&mut &b":1\n"[..]).is_err());
    }
}
