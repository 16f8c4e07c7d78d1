//! The health endpoint over a real socket.

use std::sync::Arc;

use super::*;

fn health(tweak: impl FnOnce(&mut HealthConfig)) -> Health {
    let ctx = BuildContext {
        agent: Default::default(),
        stats: Arc::default(),
    };
    let mut config = HealthConfig {
        service_address: "http://127.0.0.1:0".into(),
        ..HealthConfig::default()
    };
    tweak(&mut config);
    Health::new(config, "health".into(), &ctx).unwrap()
}

async fn status(out: &Health, auth: Option<&str>) -> u16 {
    let url = format!("http://{}/", out.local_addr().unwrap());
    sluice_client::tls::install_default_provider();
    let mut request = reqwest::Client::new().get(url);
    if let Some(auth) = auth {
        request = request.header("authorization", auth);
    }
    request.send().await.unwrap().status().as_u16()
}

fn buffer(size: i64) -> Vec<Metric> {
    vec![
        Metric::new("internal_write", 1)
            .with_tag("output", "influxdb")
            .with_field("buffer_size", size),
    ]
}

#[tokio::test]
async fn compares_decide_the_status_after_the_first_write() {
    let mut out = health(|c| {
        c.default_status = 503;
        c.compares = vec![Compare {
            field: "buffer_size".into(),
            lt: Some(5000.0),
            ..Compare::default()
        }];
    });
    out.connect().await.unwrap();
    assert_eq!(
        status(&out, None).await,
        503,
        "default_status before any write"
    );
    out.write(&buffer(10)).await.unwrap();
    assert_eq!(status(&out, None).await, 200);
    out.write(&buffer(6000)).await.unwrap();
    assert_eq!(status(&out, None).await, 503);
    out.write(&[Metric::new("other", 1).with_field("x", 1i64)])
        .await
        .unwrap();
    assert_eq!(status(&out, None).await, 200, "no metric with the field");
}

#[tokio::test]
async fn contains_needs_the_field_in_the_write() {
    let mut out = health(|c| {
        c.contains = vec![Contains {
            field: "buffer_size".into(),
        }];
    });
    out.connect().await.unwrap();
    assert_eq!(status(&out, None).await, 200, "default default_status");
    out.write(&[Metric::new("other", 1).with_field("x", 1i64)])
        .await
        .unwrap();
    assert_eq!(status(&out, None).await, 503);
    out.write(&buffer(1)).await.unwrap();
    assert_eq!(status(&out, None).await, 200);
}

#[tokio::test]
async fn no_write_for_max_time_between_metrics_is_unhealthy() {
    let mut out = health(|c| c.max_time_between_metrics = ConfigDuration::secs(60));
    out.connect().await.unwrap();
    out.write(&buffer(1)).await.unwrap();
    assert_eq!(status(&out, None).await, 200);
    // As if the last write had been 61 s ago (no test waits a minute).
    out.shared.status.lock().unwrap().last_write = Instant::now() - Duration::from_secs(61);
    assert_eq!(status(&out, None).await, 503);
    out.write(&buffer(1)).await.unwrap();
    assert_eq!(status(&out, None).await, 200);
}

#[tokio::test]
async fn basic_authentication_is_required_when_configured() {
    let mut out = health(|c| {
        c.basic_username = "user1".into();
        c.basic_password = "secret".into();
    });
    out.connect().await.unwrap();
    assert_eq!(status(&out, None).await, 401);
    assert_eq!(status(&out, Some("Basic dXNlcjE6c2VjcmV0")).await, 200);
}

#[test]
fn bad_addresses_and_statuses_are_refused() {
    let ctx = BuildContext {
        agent: Default::default(),
        stats: Arc::default(),
    };
    let new = |c: HealthConfig| Health::new(c, "h".into(), &ctx).unwrap_err();
    let err = new(HealthConfig {
        service_address: "ftp://:1".into(),
        ..HealthConfig::default()
    });
    assert!(err.contains("invalid scheme"), "{err}");
    let err = new(HealthConfig {
        default_status: 999,
        ..HealthConfig::default()
    });
    assert!(err.contains("default_status"), "{err}");
    assert_eq!(
        parse_address("http://:8080").unwrap(),
        Listen::Tcp("0.0.0.0:8080".into())
    );
    assert_eq!(
        parse_address("unix:///run/h.sock").unwrap(),
        Listen::Unix("/run/h.sock".into())
    );
}
