//! The single-request client against the fault-injecting test server.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use sluice_client::testing::{Fault, FaultServer};
use sluice_client::{Client, Error, Point, Precision, RetryOptions};

fn fast_retry() -> RetryOptions {
    RetryOptions {
        retry_interval: Duration::from_millis(10),
        max_retry_delay: Duration::from_millis(100),
        ..RetryOptions::default()
    }
}

fn client(server: &FaultServer) -> Client {
    Client::builder(server.url())
        .database("db")
        .token("secret")
        .retry(fast_retry())
        .build()
        .unwrap()
}

fn lines(n: usize) -> String {
    (0..n).map(|i| format!("m,id={i} f={i}i {i}\n")).collect()
}

fn distinct(server: &FaultServer) -> BTreeSet<String> {
    server.accepted().into_iter().collect()
}

#[tokio::test]
async fn writes_points_and_raw_line_protocol_with_the_token() {
    let server = FaultServer::start().await;
    let client = client(&server);
    let point = Point::builder("cpu")
        .tag("host", "a")
        .field("usage", 0.5)
        .timestamp(1)
        .build()
        .unwrap();
    client.write_point(&point).await.unwrap();
    client
        .write_lp("mem free=1i 2\n\n# comment\n")
        .await
        .unwrap();
    assert_eq!(
        server.accepted(),
        vec!["cpu,host=a usage=0.5 1", "mem free=1i 2"]
    );
    assert_eq!(
        server.authorizations(),
        vec![Some("Token secret".into()), Some("Token secret".into())]
    );
    assert!(server.paths()[0].starts_with("/api/v3/write_lp?db=db&precision=nanosecond"));
}

#[tokio::test]
async fn large_bodies_are_gzipped_and_arrive_intact() {
    let server = FaultServer::start().await;
    client(&server).write_lp(lines(500)).await.unwrap();
    assert_eq!(distinct(&server).len(), 500);
}

#[tokio::test]
async fn unavailable_server_is_retried_after_its_retry_after() {
    let server = FaultServer::start().await;
    server.push_faults([Fault::Status {
        status: 503,
        retry_after: Some(1),
    }]);
    let started = Instant::now();
    client(&server).write_lp(lines(3)).await.unwrap();
    // The backoff alone would have waited about 10 ms; Retry-After asked for 1 s.
    assert!(started.elapsed() >= Duration::from_secs(1));
    assert_eq!(server.requests(), 2);
    assert_eq!(server.accepted().len(), 3);
}

#[tokio::test]
async fn too_many_requests_and_dropped_connections_are_retried_without_loss() {
    let server = FaultServer::start().await;
    server.push_faults([
        Fault::Status {
            status: 429,
            retry_after: None,
        },
        Fault::DropConnection,
        Fault::Status {
            status: 500,
            retry_after: None,
        },
    ]);
    client(&server).write_lp(lines(10)).await.unwrap();
    assert_eq!(server.requests(), 4);
    assert_eq!(server.accepted().len(), 10);
}

#[tokio::test]
async fn retries_stop_after_max_retries() {
    let server = FaultServer::start().await;
    server.push_faults(vec![
        Fault::Status {
            status: 503,
            retry_after: None
        };
        10
    ]);
    let client = Client::builder(server.url())
        .database("db")
        .retry(RetryOptions {
            max_retries: 2,
            ..fast_retry()
        })
        .build()
        .unwrap();
    let err = client.write_lp(lines(1)).await.unwrap_err();
    assert!(
        matches!(&err, Error::RetriesExhausted { attempts: 3, last } if matches!(**last, Error::Http { status: 503, .. })),
        "{err}"
    );
    assert_eq!(server.requests(), 3);
}

#[tokio::test]
async fn client_errors_are_not_retried() {
    let server = FaultServer::start().await;
    server.push_faults([Fault::Status {
        status: 401,
        retry_after: None,
    }]);
    let err = client(&server).write_lp(lines(1)).await.unwrap_err();
    assert!(matches!(err, Error::Http { status: 401, .. }), "{err}");
    assert_eq!(server.requests(), 1);
}

#[tokio::test]
async fn rejected_lines_come_back_with_their_numbers_from_v3_and_v2() {
    let server = FaultServer::start().await;
    let input = "a f=1\n# note\nreject f=1\nb f=1\nreject s=\"x\ny\"\n";
    let err = client(&server).write_lp(input).await.unwrap_err();
    let numbers: Vec<_> = err.rejected_lines().iter().map(|l| l.line_number).collect();
    assert_eq!(numbers, vec![Some(3), Some(5)]);
    assert_eq!(server.requests(), 1);

    let v2 = Client::builder(server.url())
        .bucket("db")
        .org("o")
        .build()
        .unwrap();
    let err = v2.write_lp(input).await.unwrap_err();
    let lines = err.rejected_lines();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0].line_number, Some(3));
    assert_eq!(lines[0].text.as_deref(), Some("reject f=1"));
    assert!(server.paths()[1].starts_with("/api/v2/write?org=o&bucket=db&precision=ns"));
}

#[tokio::test]
async fn payload_too_large_splits_the_batch_until_it_fits() {
    let server = FaultServer::start().await;
    server.set_max_body_bytes(Some(200));
    let mut input = lines(40);
    input.push_str("reject f=1\n");
    let err = client(&server).write_lp(&input).await.unwrap_err();
    // The rejected line keeps its number in the whole input, though it went in a half.
    let numbers: Vec<_> = err.rejected_lines().iter().map(|l| l.line_number).collect();
    assert_eq!(numbers, vec![Some(41)]);
    assert!(server.too_large_answers() > 0);
    let accepted = server.accepted();
    assert_eq!(accepted.len(), 40, "no line lost or sent twice");
    assert_eq!(distinct(&server).len(), 40);
}

#[tokio::test]
async fn a_single_line_over_the_limit_is_reported_as_too_large() {
    let server = FaultServer::start().await;
    server.set_max_body_bytes(Some(10));
    let err = client(&server)
        .write_lp("a_long_measurement f=1\n")
        .await
        .unwrap_err();
    assert!(matches!(err, Error::TooLarge { .. }), "{err}");
}

#[tokio::test]
async fn slow_answers_past_the_timeout_are_retried_and_every_line_arrives() {
    let server = FaultServer::start().await;
    server.push_faults([Fault::Slow(Duration::from_secs(2))]);
    let client = Client::builder(server.url())
        .database("db")
        .timeout(Duration::from_millis(300))
        .retry(fast_retry())
        .build()
        .unwrap();
    client.write_lp(lines(5)).await.unwrap();
    // The slow request kept its lines before timing out: an idempotent duplicate.
    assert_eq!(distinct(&server).len(), 5);
    assert_eq!(server.accepted().len(), 10);
}

#[tokio::test]
async fn points_are_sent_in_nanoseconds_whatever_the_client_precision() {
    let server = FaultServer::start().await;
    let client = Client::builder(server.url())
        .v1("db", None)
        .precision(Precision::Second)
        .build()
        .unwrap();
    client.write_lp("a f=1 1\n").await.unwrap();
    let point = Point::builder("b").field("f", 1i64).build().unwrap();
    client.write_points(&[point]).await.unwrap();
    let paths = server.paths();
    assert_eq!(paths[0], "/write?db=db&precision=s");
    assert_eq!(paths[1], "/write?db=db&precision=n");
}

#[tokio::test]
async fn an_unreachable_server_is_a_transport_error_after_retries() {
    let server = FaultServer::start().await;
    let url = server.url();
    drop(server);
    tokio::time::sleep(Duration::from_millis(50)).await;
    let client = Client::builder(url)
        .database("db")
        .retry(RetryOptions {
            max_retries: 1,
            ..fast_retry()
        })
        .build()
        .unwrap();
    let err = client.write_lp("a f=1\n").await.unwrap_err();
    assert!(
        matches!(&err, Error::RetriesExhausted { last, .. } if matches!(**last, Error::Transport(_))),
        "{err}"
    );
}
