//! The influxdb_v3 output against sluice-client's fault-injecting server.

use std::sync::Arc;

use sluice_client::testing::{Fault, FaultServer};

use super::*;

fn output(url: String, tweak: impl FnOnce(&mut InfluxDbV3Config)) -> InfluxDbV3 {
    let ctx = BuildContext {
        agent: Default::default(),
        stats: Arc::default(),
    };
    let mut config = InfluxDbV3Config {
        urls: vec![url],
        token: "t0ken".into(),
        database: "db".into(),
        ..InfluxDbV3Config::default()
    };
    tweak(&mut config);
    InfluxDbV3::new(config, "influxdb_v3".into(), &ctx).unwrap()
}

fn metrics(n: i64) -> Vec<Metric> {
    (0..n)
        .map(|i| Metric::new("m", i).with_tag("host", "a").with_field("v", i))
        .collect()
}

#[tokio::test]
async fn writes_go_to_write_lp_gzipped_with_a_bearer_token() {
    let server = FaultServer::start().await;
    let mut out = output(server.url(), |_| {});
    out.write(&metrics(3)).await.unwrap();
    assert_eq!(server.accepted().len(), 3);
    assert_eq!(server.paths(), vec!["/api/v3/write_lp?db=db".to_owned()]);
    assert_eq!(server.authorizations()[0].as_deref(), Some("Bearer t0ken"));
    assert_eq!(server.gzipped_requests(), 1);
}

#[tokio::test]
async fn sync_is_sent_as_no_sync_and_identity_is_not_gzipped() {
    let server = FaultServer::start().await;
    let mut out = output(server.url(), |c| {
        c.sync = Some(false);
        c.content_encoding = "identity".into();
    });
    out.write(&metrics(1)).await.unwrap();
    let mut out = output(server.url(), |c| c.sync = Some(true));
    out.write(&metrics(1)).await.unwrap();
    assert_eq!(
        server.paths(),
        vec![
            "/api/v3/write_lp?db=db&no_sync=true".to_owned(),
            "/api/v3/write_lp?db=db&no_sync=false".to_owned()
        ]
    );
    assert_eq!(server.gzipped_requests(), 1);
}

#[tokio::test]
async fn too_large_batches_are_split_until_the_server_accepts_them() {
    let server = FaultServer::start().await;
    server.set_max_body_bytes(Some(60));
    let mut out = output(server.url(), |_| {});
    out.write(&metrics(10)).await.unwrap();
    assert_eq!(server.accepted().len(), 10);
    assert!(server.too_large_answers() > 0);
}

#[tokio::test]
async fn refused_lines_are_dropped_and_the_rest_kept() {
    let server = FaultServer::start().await;
    let mut out = output(server.url(), |_| {});
    let mut batch = metrics(2);
    batch.push(Metric::new("reject", 5).with_field("v", 1i64));
    out.write(&batch).await.unwrap();
    assert_eq!(server.accepted().len(), 2);
    for status in [400, 406, 422] {
        server.push_faults([Fault::Status {
            status,
            retry_after: None,
        }]);
        out.write(&metrics(1)).await.expect("dropped, not retried");
    }
    assert_eq!(server.requests(), 4);
}

#[tokio::test]
async fn overload_answers_hold_writes_back_until_retry_after() {
    for status in [429, 502, 503, 504] {
        let server = FaultServer::start().await;
        server.push_faults([Fault::Status {
            status,
            retry_after: Some(60),
        }]);
        let mut out = output(server.url(), |_| {});
        assert!(out.write(&metrics(1)).await.is_err());
        let err = out.write(&metrics(1)).await.unwrap_err().to_string();
        assert!(err.contains("retry time has not elapsed"), "{err}");
        assert_eq!(server.requests(), 1, "no request before Retry-After passed");
        let left = out.not_before.unwrap() - Instant::now();
        assert!(left > Duration::from_secs(50) && left <= Duration::from_secs(60));
    }
}

#[tokio::test]
async fn retry_after_is_capped_at_ten_minutes() {
    let server = FaultServer::start().await;
    server.push_faults([Fault::Status {
        status: 503,
        retry_after: Some(86_400),
    }]);
    let mut out = output(server.url(), |_| {});
    assert!(out.write(&metrics(1)).await.is_err());
    assert!(out.not_before.unwrap() - Instant::now() <= MAX_RETRY_AFTER);
}

#[tokio::test]
async fn unauthorized_keeps_the_batch_for_later() {
    let server = FaultServer::start().await;
    server.push_faults([Fault::Status {
        status: 401,
        retry_after: None,
    }]);
    let mut out = output(server.url(), |_| {});
    assert!(out.write(&metrics(1)).await.is_err());
    out.write(&metrics(1)).await.unwrap();
    assert_eq!(server.accepted().len(), 1);
}

#[tokio::test]
async fn the_database_tag_routes_metrics_and_can_be_removed() {
    let server = FaultServer::start().await;
    let mut out = output(server.url(), |c| {
        c.database_tag = "bucket".into();
        c.exclude_database_tag = true;
    });
    let batch = vec![
        Metric::new("m", 1)
            .with_tag("bucket", "other")
            .with_field("v", 1i64),
        Metric::new("m", 2).with_field("v", 2i64),
    ];
    out.write(&batch).await.unwrap();
    let mut paths = server.paths();
    paths.sort();
    assert_eq!(
        paths,
        vec![
            "/api/v3/write_lp?db=db".to_owned(),
            "/api/v3/write_lp?db=other".to_owned()
        ]
    );
    assert!(server.accepted().iter().all(|l| !l.contains("bucket")));
}

#[test]
fn bad_settings_are_refused() {
    let ctx = BuildContext {
        agent: Default::default(),
        stats: Arc::default(),
    };
    let new = |c: InfluxDbV3Config| InfluxDbV3::new(c, "o".into(), &ctx).unwrap_err();
    assert!(new(InfluxDbV3Config::default()).contains("`database`"));
    let err = new(InfluxDbV3Config {
        database: "d".into(),
        content_encoding: "br".into(),
        ..InfluxDbV3Config::default()
    });
    assert!(err.contains("content_encoding"), "{err}");
    let err = new(InfluxDbV3Config {
        database: "d".into(),
        urls: vec!["udp://h:1".into()],
        ..InfluxDbV3Config::default()
    });
    assert!(err.contains("not http or https"), "{err}");
}
