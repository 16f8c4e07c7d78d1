//! HTTP/2 limits of `sluice serve`, driven frame by frame over h2c: the concurrent
//! streams limit is announced and enforced.

mod common;
mod raw_h2;

use common::{ADMIN, Options, TestServer};
use raw_h2::{DATA, END_STREAM, Frame, HEADERS, Pipe, RST_STREAM};

#[test]
fn streams_over_the_concurrent_limit_are_refused_and_the_connection_lives_on() {
    let server = TestServer::start(Options::default().arg("--http2-max-concurrent-streams=2"));
    let mut h2 = Pipe::tcp(&server.address);
    let settings = h2.h2_handshake();
    assert!(
        settings.contains(&(raw_h2::SETTINGS_MAX_CONCURRENT_STREAMS, 2)),
        "{settings:?}"
    );
    // Two writes whose bodies have not arrived hold both streams open.
    let token = format!("Token {ADMIN}");
    let write = |stream| {
        raw_h2::request(
            stream,
            "POST",
            "/api/v3/write_lp?db=h2",
            &[("authorization", token.as_str())],
            false,
        )
    };
    h2.send_frame(&write(1));
    h2.send_frame(&write(3));
    // A third is refused, alone.
    h2.send_frame(&raw_h2::request(5, "GET", "/ping", &[], true));
    let reset = h2.frame_on(5, &[RST_STREAM, HEADERS]);
    assert_eq!(reset.kind, RST_STREAM, "{reset:?}");
    assert_eq!(
        u32::from_be_bytes(reset.payload[..4].try_into().unwrap()),
        raw_h2::REFUSED_STREAM
    );
    // The open streams finish normally, and then a new stream is served.
    for stream in [1, 3] {
        h2.send_frame(&Frame {
            kind: DATA,
            flags: END_STREAM,
            stream,
            payload: format!("m f={stream} {stream}\n").into_bytes(),
        });
        assert_eq!(h2.frame_on(stream, &[HEADERS]).status(), Some(204));
    }
    assert_eq!(h2.h2_get(7, "/ping"), Some(204));
}
