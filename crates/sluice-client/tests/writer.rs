//! The batching writer against the fault-injecting test server: batching, flushing,
//! concurrency, queue policies, metrics and the disk spool.

use std::collections::BTreeSet;
use std::time::Duration;

use sluice_client::testing::{Fault, FaultServer};
use sluice_client::{BatchWriter, Client, Error, Point, QueueFullPolicy, WriteOptions};

fn client(url: &str) -> Client {
    Client::builder(url).database("db").build().unwrap()
}

fn options() -> WriteOptions {
    WriteOptions {
        retry_interval: Duration::from_millis(10),
        max_retry_delay: Duration::from_millis(100),
        flush_interval: Duration::from_secs(60),
        ..WriteOptions::default()
    }
}

fn point(i: usize) -> Point {
    Point::builder("m")
        .tag("id", i.to_string())
        .field("f", i as i64)
        .timestamp(i as i64)
        .build()
        .unwrap()
}

fn distinct(server: &FaultServer) -> BTreeSet<String> {
    server.accepted().into_iter().collect()
}

async fn eventually(mut condition: impl FnMut() -> bool) -> bool {
    for _ in 0..500 {
        if condition() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

#[tokio::test]
async fn points_go_out_in_batches_of_batch_size() {
    let server = FaultServer::start().await;
    let writer = BatchWriter::new(
        client(&server.url()),
        WriteOptions {
            batch_size: 100,
            ..options()
        },
    )
    .unwrap();
    for i in 0..1000 {
        writer.write_point(&point(i)).await.unwrap();
    }
    writer.close().await.unwrap();
    assert_eq!(server.requests(), 10);
    assert_eq!(server.accepted().len(), 1000);
    assert_eq!(distinct(&server).len(), 1000);
    let metrics = writer.metrics();
    assert_eq!(metrics.points_written, 1000);
    assert_eq!(metrics.batches_written, 10);
    assert_eq!(metrics.queue_depth, 0);
}

#[tokio::test]
async fn a_partial_batch_goes_out_after_the_flush_interval() {
    let server = FaultServer::start().await;
    let writer = BatchWriter::new(
        client(&server.url()),
        WriteOptions {
            flush_interval: Duration::from_millis(50),
            ..options()
        },
    )
    .unwrap();
    writer.write_lp("a f=1\nb f=2").await.unwrap();
    assert!(eventually(|| server.accepted().len() == 2).await);
    assert_eq!(server.accepted(), vec!["a f=1", "b f=2"]);
}

#[tokio::test]
async fn batches_are_sent_in_parallel_over_a_few_kept_alive_connections() {
    let server = FaultServer::start().await;
    server.push_faults(vec![Fault::Slow(Duration::from_millis(200)); 8]);
    let writer = BatchWriter::new(
        client(&server.url()),
        WriteOptions {
            batch_size: 10,
            concurrency: 4,
            ..options()
        },
    )
    .unwrap();
    for i in 0..160 {
        writer.write_point(&point(i)).await.unwrap();
    }
    writer.close().await.unwrap();
    assert_eq!(distinct(&server).len(), 160);
    assert!(server.max_in_flight() > 1, "batches were sent one by one");
    assert!(server.max_in_flight() <= 4);
    assert!(
        server.connections() <= 4,
        "{} connections",
        server.connections()
    );
}

#[tokio::test]
async fn faults_are_retried_and_nothing_is_lost_or_duplicated() {
    let server = FaultServer::start().await;
    server.push_faults([
        Fault::Status {
            status: 503,
            retry_after: None,
        },
        Fault::DropConnection,
        Fault::Status {
            status: 429,
            retry_after: None,
        },
        Fault::Status {
            status: 500,
            retry_after: None,
        },
        Fault::DropConnection,
    ]);
    let writer = BatchWriter::new(
        client(&server.url()),
        WriteOptions {
            batch_size: 50,
            concurrency: 3,
            ..options()
        },
    )
    .unwrap();
    for i in 0..500 {
        writer.write_point(&point(i)).await.unwrap();
    }
    writer.close().await.unwrap();
    // Failed attempts kept nothing, so each point arrived exactly once.
    assert_eq!(server.accepted().len(), 500);
    assert_eq!(distinct(&server).len(), 500);
    let metrics = writer.metrics();
    assert_eq!(metrics.points_written, 500);
    assert_eq!(metrics.points_retried, 5 * 50);
    assert_eq!(metrics.points_failed, 0);
    assert!(metrics.last_error.is_some());
}

#[tokio::test]
async fn payload_too_large_is_split_and_max_batch_bytes_seals_batches_early() {
    let server = FaultServer::start().await;
    server.set_max_body_bytes(Some(1000));
    let writer = BatchWriter::new(
        client(&server.url()),
        WriteOptions {
            batch_size: 1000,
            max_batch_bytes: 4000,
            ..options()
        },
    )
    .unwrap();
    for i in 0..300 {
        writer.write_point(&point(i)).await.unwrap();
    }
    writer.close().await.unwrap();
    assert!(server.too_large_answers() > 0);
    assert_eq!(server.accepted().len(), 300);
    assert_eq!(distinct(&server).len(), 300);
}

#[tokio::test]
async fn rejected_lines_are_reported_by_flush_and_not_retried() {
    let server = FaultServer::start().await;
    let writer = BatchWriter::new(client(&server.url()), options()).unwrap();
    writer
        .write_lp("a f=1\nreject f=1\nb f=1\nreject f=2\n")
        .await
        .unwrap();
    let err = writer.flush().await.unwrap_err();
    let Error::Undelivered(failure) = err else {
        panic!("unexpected {err}");
    };
    assert_eq!(failure.rejected_points, 2);
    assert_eq!(failure.undelivered_points, 0);
    let numbers: Vec<_> = failure.errors[0]
        .rejected_lines()
        .iter()
        .map(|l| l.line_number)
        .collect();
    assert_eq!(numbers, vec![Some(2), Some(4)]);
    assert_eq!(server.requests(), 1);
    let metrics = writer.metrics();
    assert_eq!((metrics.points_written, metrics.points_failed), (2, 2));
    // The failures were handed out: the next flush is clean.
    writer.flush().await.unwrap();
}

/// A writer whose single sender is stuck on slow answers, so the queue fills up.
fn slow_writer(server: &FaultServer, policy: QueueFullPolicy) -> BatchWriter {
    server.push_faults(vec![Fault::Slow(Duration::from_millis(300)); 4]);
    BatchWriter::new(
        client(&server.url()),
        WriteOptions {
            batch_size: 5,
            concurrency: 1,
            max_queued_points: 20,
            queue_full: policy,
            ..options()
        },
    )
    .unwrap()
}

#[tokio::test]
async fn a_full_queue_blocks_writers_and_stays_within_its_bound() {
    let server = FaultServer::start().await;
    let writer = slow_writer(&server, QueueFullPolicy::Block);
    for i in 0..100 {
        writer.write_point(&point(i)).await.unwrap();
        assert!(writer.metrics().queue_depth <= 20);
    }
    writer.close().await.unwrap();
    assert_eq!(distinct(&server).len(), 100);
    assert_eq!(writer.metrics().points_dropped, 0);
}

#[tokio::test]
async fn a_full_queue_with_the_error_policy_refuses_writes() {
    let server = FaultServer::start().await;
    let writer = slow_writer(&server, QueueFullPolicy::Error);
    let mut refused = 0;
    for i in 0..100 {
        match writer.write_point(&point(i)).await {
            Ok(()) => {}
            Err(Error::QueueFull { .. }) => refused += 1,
            Err(err) => panic!("unexpected {err}"),
        }
        assert!(writer.metrics().queue_depth <= 20);
    }
    writer.close().await.unwrap();
    assert!(refused > 0);
    let metrics = writer.metrics();
    assert_eq!(metrics.points_dropped, refused * 5);
    assert_eq!(
        server.accepted().len() as u64 + metrics.points_dropped,
        100,
        "every point is either delivered or counted as dropped"
    );
}

#[tokio::test]
async fn a_full_queue_with_drop_oldest_keeps_the_newest_points() {
    let server = FaultServer::start().await;
    let writer = slow_writer(&server, QueueFullPolicy::DropOldest);
    for i in 0..100 {
        writer.write_point(&point(i)).await.unwrap();
        assert!(writer.metrics().queue_depth <= 20);
    }
    let err = writer.close().await.unwrap_err();
    let metrics = writer.metrics();
    assert!(metrics.points_dropped > 0);
    let Error::Undelivered(failure) = err else {
        panic!("unexpected {err}");
    };
    assert_eq!(failure.undelivered_points, metrics.points_dropped);
    assert_eq!(server.accepted().len() as u64 + metrics.points_dropped, 100);
    // The newest point survived.
    assert!(distinct(&server).contains(point(99).to_line_protocol().trim_end()));
}

#[tokio::test]
async fn without_a_spool_undeliverable_batches_are_reported() {
    let server = FaultServer::start().await;
    let url = server.url();
    drop(server);
    let writer = BatchWriter::new(
        client(&url),
        WriteOptions {
            max_retries: 1,
            ..options()
        },
    )
    .unwrap();
    writer.write_lp("a f=1\nb f=1\n").await.unwrap();
    let Error::Undelivered(failure) = writer.close().await.unwrap_err() else {
        panic!("expected undelivered");
    };
    assert_eq!(failure.undelivered_points, 2);
    assert_eq!(writer.metrics().points_failed, 2);
}

#[tokio::test]
async fn spooled_batches_are_replayed_in_order_after_a_restart() {
    let spool = tempfile::tempdir().unwrap();
    let server = FaultServer::start().await;
    let addr = server.addr().to_string();
    let url = server.url();
    drop(server);
    // One sender, so that batches fail, and are spooled, in the order they were written
    // (with more, batches in flight finish in any order).
    let spool_options = WriteOptions {
        batch_size: 10,
        concurrency: 1,
        max_retries: 1,
        spool_dir: Some(spool.path().to_owned()),
        ..options()
    };
    {
        // The server is down: everything goes to the spool, and flush still succeeds
        // because spooled points are kept, not lost.
        let writer = BatchWriter::new(client(&url), spool_options.clone()).unwrap();
        for i in 0..50 {
            writer.write_point(&point(i)).await.unwrap();
        }
        writer.close().await.unwrap();
        let metrics = writer.metrics();
        assert_eq!(metrics.points_spooled, 50);
        assert_eq!(metrics.spool_depth, 50);
        assert_eq!(metrics.points_written, 0);
    }
    // The server comes back; a new writer on the same spool replays it first, then
    // sends what it is given.
    let server = FaultServer::start_on(&addr).await;
    let writer = BatchWriter::new(client(&url), spool_options).unwrap();
    assert!(writer.wait_for_spool_drained(Duration::from_secs(10)).await);
    for i in 50..60 {
        writer.write_point(&point(i)).await.unwrap();
    }
    writer.close().await.unwrap();
    let expected: Vec<String> = (0..60)
        .map(|i| point(i).to_line_protocol().trim_end().to_owned())
        .collect();
    assert_eq!(server.accepted(), expected);
    assert_eq!(writer.metrics().spool_depth, 0);
    assert_eq!(
        std::fs::read_dir(spool.path()).unwrap().count(),
        0,
        "a drained spool leaves no files"
    );
}

#[tokio::test]
async fn a_full_queue_spills_into_the_spool_instead_of_dropping() {
    let spool = tempfile::tempdir().unwrap();
    let server = FaultServer::start().await;
    server.push_faults(vec![Fault::Slow(Duration::from_millis(300)); 2]);
    let writer = BatchWriter::new(
        client(&server.url()),
        WriteOptions {
            batch_size: 5,
            concurrency: 1,
            max_queued_points: 10,
            queue_full: QueueFullPolicy::Error,
            spool_dir: Some(spool.path().to_owned()),
            ..options()
        },
    )
    .unwrap();
    for i in 0..100 {
        writer.write_point(&point(i)).await.unwrap();
    }
    writer.flush().await.unwrap();
    assert!(writer.metrics().points_spooled > 0);
    assert!(writer.wait_for_spool_drained(Duration::from_secs(10)).await);
    writer.close().await.unwrap();
    assert_eq!(distinct(&server).len(), 100);
    assert_eq!(writer.metrics().points_dropped, 0);
}

#[test]
fn the_blocking_wrappers_write_without_an_async_caller() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let server = runtime.block_on(FaultServer::start());
    let client = client(&server.url());
    let blocking = sluice_client::blocking::Client::new(client.clone()).unwrap();
    blocking.write_lp("a f=1\n").unwrap();
    let writer = sluice_client::blocking::BatchWriter::new(client, options()).unwrap();
    writer.write_points(&[point(1), point(2)]).unwrap();
    writer.close().unwrap();
    assert_eq!(writer.metrics().points_written, 2);
    assert_eq!(server.accepted().len(), 3);
}
