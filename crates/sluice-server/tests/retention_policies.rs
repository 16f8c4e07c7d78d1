//! InfluxDB 1.x retention policies over HTTP: `rp=` on `/write` and `/query`, `db.rp.m`,
//! the `db/rp` bucket of the v2 API, the default policy, and errors that are the
//! client's (never a 5xx).

use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt as _;
use serde_json::{Value, json};
use sluice_server::{AppState, Auth, ServerConfig, app, bucket_id};
use sluice_storage::{ObjectStoreConfig, Storage, StorageConfig};
use tower::ServiceExt as _;

/// A server without auth and database `d` with policy `week` (7 days) besides
/// `autogen`.
async fn state(dir: &std::path::Path) -> AppState {
    let storage = Storage::open(StorageConfig {
        data_dir: dir.to_owned(),
        object_store: ObjectStoreConfig::Memory,
        ..StorageConfig::default()
    })
    .await
    .unwrap();
    let state = AppState::new(storage, ServerConfig::default(), Auth::Disabled);
    for q in [
        "CREATE DATABASE d",
        "CREATE RETENTION POLICY week ON d DURATION 7d REPLICATION 1",
    ] {
        let results = query(&state, "", q).await;
        assert_eq!(results[0].get("error"), None, "{q}: {results}");
    }
    state
}

async fn send(state: &AppState, request: Request<Body>) -> (StatusCode, String) {
    let response = app(state.clone()).oneshot(request).await.unwrap();
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8(body.to_vec()).unwrap())
}

fn encode(q: &str) -> String {
    q.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The `results` of `/query?{params}&q={q}`, which must answer 200.
async fn query(state: &AppState, params: &str, q: &str) -> Value {
    let uri = format!("/query?{params}&q={}", encode(q));
    let (status, body) = send(state, Request::post(uri).body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{q}: {body}");
    serde_json::from_str::<Value>(&body).unwrap()["results"].clone()
}

/// The values of field `v` that `q` answers (`db=d` and `params`).
async fn values(state: &AppState, params: &str, q: &str) -> Vec<i64> {
    let results = query(state, &format!("db=d&{params}"), q).await;
    assert_eq!(results[0].get("error"), None, "{q}: {results}");
    results[0]["series"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|s| s["values"].as_array().unwrap().clone())
        .map(|row| row[1].as_i64().unwrap())
        .collect()
}

async fn write(state: &AppState, path: &str, body: &str) -> (StatusCode, String) {
    let request = Request::post(path)
        .body(Body::from(body.to_owned()))
        .unwrap();
    send(state, request).await
}

fn now_s() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[tokio::test]
async fn writes_to_a_policy_read_back_by_its_name_and_by_the_rp_parameter() {
    let dir = tempfile::tempdir().unwrap();
    let state = state(dir.path()).await;
    let t = now_s();
    for (path, v) in [
        ("/write?db=d&rp=week&precision=s", 1),
        ("/write?db=d&precision=s", 2),
        ("/api/v2/write?bucket=d/week&precision=s", 3),
        ("/api/v2/write?bucket=d/autogen&precision=s", 4),
    ] {
        let (status, body) = write(&state, path, &format!("m v={v}i {}", t + v)).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{path}: {body}");
    }
    assert_eq!(values(&state, "", "SELECT v FROM d.week.m").await, [1, 3]);
    assert_eq!(values(&state, "", "SELECT v FROM week.m").await, [1, 3]);
    assert_eq!(values(&state, "rp=week", "SELECT v FROM m").await, [1, 3]);
    assert_eq!(values(&state, "", "SELECT v FROM m").await, [2, 4]);
    assert_eq!(
        values(&state, "rp=week", "SELECT v FROM autogen.m").await,
        [2, 4]
    );
    assert_eq!(
        values(&state, "rp=week", "SELECT v FROM d.autogen.m").await,
        [2, 4]
    );

    // The policy is a v2 bucket of its own, not a database of SHOW DATABASES.
    let (status, body) = send(
        &state,
        Request::get("/api/v2/buckets").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let buckets: Value = serde_json::from_str(&body).unwrap();
    let names: Vec<&str> = buckets["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["d", "d/week"]);
    let databases = query(&state, "", "SHOW DATABASES").await;
    assert_eq!(databases[0]["series"][0]["values"], json!([["d"]]));

    // Deleting the policy's bucket drops the policy.
    let uri = format!("/api/v2/buckets/{}", bucket_id("d/week"));
    let (status, body) = send(&state, Request::delete(uri).body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let policies = query(&state, "", "SHOW RETENTION POLICIES ON d").await;
    assert_eq!(
        policies[0]["series"][0]["values"],
        json!([["autogen", "0s", "168h0m0s", 1, true]])
    );
}

#[tokio::test]
async fn altering_the_default_policy_moves_writes_without_rp() {
    let dir = tempfile::tempdir().unwrap();
    let state = state(dir.path()).await;
    let t = now_s();
    query(&state, "", "ALTER RETENTION POLICY week ON d DEFAULT").await;
    let (status, _) = write(&state, "/write?db=d&precision=s", &format!("m v=1i {t}")).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(values(&state, "", "SELECT v FROM week.m").await, [1]);
    assert_eq!(
        values(&state, "", "SELECT v FROM autogen.m").await,
        Vec::<i64>::new()
    );
    let policies = query(&state, "", "SHOW RETENTION POLICIES ON d").await;
    assert_eq!(
        policies[0]["series"][0]["values"],
        json!([
            ["autogen", "0s", "168h0m0s", 1, false],
            ["week", "168h0m0s", "24h0m0s", 1, true]
        ])
    );

    query(&state, "", "ALTER RETENTION POLICY autogen ON d DEFAULT").await;
    let (status, _) = write(&state, "/write?db=d&precision=s", &format!("m v=2i {t}")).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(values(&state, "", "SELECT v FROM autogen.m").await, [2]);
    assert_eq!(values(&state, "", "SELECT v FROM m").await, [2]);
}

#[tokio::test]
async fn unknown_policies_and_refused_statements_are_client_errors() {
    let dir = tempfile::tempdir().unwrap();
    let state = state(dir.path()).await;
    let t = now_s();
    let line = format!("m v=1i {t}");
    for (path, status, message) in [
        (
            "/write?db=d&rp=nope&precision=s",
            StatusCode::NOT_FOUND,
            "retention policy not found: nope",
        ),
        (
            "/write?db=nodb&rp=week&precision=s",
            StatusCode::NOT_FOUND,
            "database not found",
        ),
        (
            "/api/v2/write?bucket=d/nope&precision=s",
            StatusCode::NOT_FOUND,
            "retention policy not found: nope",
        ),
    ] {
        let (got, body) = write(&state, path, &line).await;
        assert_eq!(got, status, "{path}: {body}");
        assert!(body.contains(message), "{path}: {body}");
    }
    // Points older than the policy keeps are refused, as InfluxDB refuses them.
    let old = t - 30 * 86_400;
    let (status, body) = write(
        &state,
        "/write?db=d&rp=week&precision=s",
        &format!("m v=1i {old}"),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body.contains(
            r#"outside the retention period of retention policy \"week\" of database \"d\""#
        ),
        "{body}"
    );

    for (params, q, error) in [
        (
            "db=d&rp=nope",
            "SELECT v FROM m",
            "retention policy not found: nope",
        ),
        (
            "db=d",
            "SELECT v FROM nope.m",
            "retention policy not found: nope",
        ),
        (
            "db=d",
            "SHOW FIELD KEYS FROM nope.m",
            "retention policy not found: nope",
        ),
        (
            "db=d",
            "SELECT v INTO d.nope.x FROM m",
            "retention policy not found: nope",
        ),
        (
            "",
            "CREATE RETENTION POLICY r ON d DURATION 30m REPLICATION 1",
            "retention policy duration must be at least 1h0m0s",
        ),
        (
            "",
            "CREATE RETENTION POLICY week ON d DURATION 3d REPLICATION 1",
            "retention policy already exists",
        ),
        (
            "",
            "ALTER RETENTION POLICY nope ON d DURATION 3h",
            "retention policy not found: nope",
        ),
        (
            "",
            "CREATE RETENTION POLICY r ON nodb DURATION 3h REPLICATION 1",
            "database not found: nodb",
        ),
        (
            "",
            "DROP RETENTION POLICY autogen ON d",
            "cannot drop retention policy autogen of database d: it is the policy the \
             database was created with (drop the database instead)",
        ),
    ] {
        let results = query(&state, params, q).await;
        assert_eq!(results[0]["error"], error, "{q}");
    }
}

#[tokio::test]
async fn dropping_a_policy_or_its_database_drops_its_data() {
    let dir = tempfile::tempdir().unwrap();
    let state = state(dir.path()).await;
    let t = now_s();
    let (status, _) = write(
        &state,
        "/write?db=d&rp=week&precision=s",
        &format!("m v=1i {t}"),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    query(&state, "", "DROP RETENTION POLICY week ON d").await;
    let results = query(&state, "db=d", "SELECT v FROM week.m").await;
    assert_eq!(results[0]["error"], "retention policy not found: week");
    query(
        &state,
        "",
        "CREATE RETENTION POLICY week ON d DURATION 7d REPLICATION 1",
    )
    .await;
    assert_eq!(
        values(&state, "", "SELECT v FROM week.m").await,
        Vec::<i64>::new()
    );
    let (status, _) = write(
        &state,
        "/write?db=d&rp=week&precision=s",
        &format!("m v=2i {t}"),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    query(&state, "", "DROP DATABASE d").await;
    query(&state, "", "CREATE DATABASE d").await;
    let policies = query(&state, "", "SHOW RETENTION POLICIES ON d").await;
    assert_eq!(
        policies[0]["series"][0]["values"],
        json!([["autogen", "0s", "168h0m0s", 1, true]])
    );
    let results = query(&state, "db=d", "SELECT v FROM week.m").await;
    assert_eq!(results[0]["error"], "retention policy not found: week");
}
