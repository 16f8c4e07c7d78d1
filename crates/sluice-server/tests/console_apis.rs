//! The APIs behind the console's per-database views, through `app(state)`: write
//! counters by database in `/metrics`, table usage on `GET /api/v3/configure/database?db=`
//! and `GET /api/v3/cardinality`, each showing a token only the databases it may read.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt as _;
use serde_json::Value;
use sluice_server::{Action, AppState, Auth, Permission, ServerConfig, TokenStore, app};
use sluice_storage::{ObjectStoreConfig, Storage, StorageConfig};
use tower::ServiceExt as _;

const ADMIN: &str = "admin";

async fn state(dir: &std::path::Path, storage: StorageConfig) -> AppState {
    let storage = Storage::open(StorageConfig {
        data_dir: dir.to_owned(),
        object_store: ObjectStoreConfig::Local,
        ..storage
    })
    .await
    .unwrap();
    let (store, _) = TokenStore::open(dir.join("tokens.json"), Some(ADMIN)).unwrap();
    AppState::new(storage, ServerConfig::default(), Auth::Tokens(store))
}

/// A token that may read database `db` only.
fn reader(state: &AppState, db: &str) -> String {
    let store = state.auth().store().expect("auth is on");
    let permission = Permission {
        database: db.into(),
        actions: vec![Action::Read],
    };
    store
        .create("reader", vec![permission], None)
        .unwrap()
        .token
}

async fn send(state: &AppState, request: Request<Body>) -> (StatusCode, String) {
    let response = app(state.clone()).oneshot(request).await.unwrap();
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8(body.to_vec()).unwrap())
}

async fn get(state: &AppState, uri: &str, token: &str) -> (StatusCode, String) {
    let request = Request::get(uri)
        .header("authorization", format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap();
    send(state, request).await
}

async fn get_json(state: &AppState, uri: &str, token: &str) -> (StatusCode, Value) {
    let (status, body) = get(state, uri, token).await;
    let json = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{uri}: {e}: {body}"));
    (status, json)
}

async fn write(state: &AppState, db: &str, body: &'static str) -> StatusCode {
    let request = Request::post(format!("/api/v3/write_lp?db={db}&precision=s"))
        .header("authorization", format!("Bearer {ADMIN}"))
        .body(Body::from(body))
        .unwrap();
    send(state, request).await.0
}

/// The value of the sample `series` (name and labels, as written) in `/metrics`.
fn sample(metrics: &str, series: &str) -> Option<f64> {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .map(|v| v.parse().unwrap())
}

#[tokio::test]
async fn per_database_write_counters_move_for_the_written_database_only() {
    let dir = tempfile::tempdir().unwrap();
    let state = state(dir.path(), StorageConfig::default()).await;
    assert_eq!(
        write(&state, "a", "m v=1 1\nm v=2 2\n").await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        write(&state, "b", "m v=1 1\n").await,
        StatusCode::NO_CONTENT
    );
    let (_, before) = get(&state, "/metrics", ADMIN).await;
    assert_eq!(
        write(&state, "a", "m v=3 3\nm v=\n").await,
        StatusCode::BAD_REQUEST
    );
    let (status, after) = get(&state, "/metrics", ADMIN).await;
    assert_eq!(status, StatusCode::OK);

    let accepted = |m: &str, db: &str| {
        sample(
            m,
            &format!("sluice_database_lines_accepted_total{{db=\"{db}\"}}"),
        )
    };
    let rejected = |m: &str, db: &str| {
        sample(
            m,
            &format!("sluice_database_lines_rejected_total{{db=\"{db}\"}}"),
        )
    };
    let bytes = |m: &str, db: &str| {
        sample(
            m,
            &format!("sluice_database_write_bytes_received_total{{db=\"{db}\"}}"),
        )
    };
    assert_eq!(accepted(&before, "a"), Some(2.0));
    assert_eq!(accepted(&after, "a"), Some(3.0));
    assert_eq!(rejected(&after, "a"), Some(1.0));
    assert!(bytes(&after, "a") > bytes(&before, "a"));
    // b did not move.
    assert_eq!(accepted(&after, "b"), Some(1.0));
    assert_eq!(rejected(&after, "b"), Some(0.0));
    assert_eq!(bytes(&after, "b"), bytes(&before, "b"));
    assert_eq!(
        sample(
            &after,
            "sluice_database_write_refused_total{db=\"a\",status=\"503\"}"
        ),
        Some(0.0)
    );
    // The whole-server series are as before.
    assert_eq!(sample(&after, "sluice_lines_accepted_total"), Some(4.0));
    assert_eq!(sample(&after, "sluice_lines_rejected_total"), Some(1.0));

    // A token that reads `a` sees only `a`'s series.
    let token = reader(&state, "a");
    let (status, scoped) = get(&state, "/metrics", &token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(accepted(&scoped, "a"), Some(3.0));
    assert!(!scoped.contains("db=\"b\""), "{scoped}");
    assert_eq!(sample(&scoped, "sluice_lines_accepted_total"), Some(4.0));
}

#[tokio::test]
async fn refused_writes_are_counted_for_their_database() {
    let dir = tempfile::tempdir().unwrap();
    // A buffer ceiling of one byte: the first write fills it, the next are refused.
    let config = StorageConfig {
        max_buffer_bytes: 1,
        background_interval: std::time::Duration::from_secs(3600),
        ..StorageConfig::default()
    };
    let state = state(dir.path(), config).await;
    assert_eq!(
        write(&state, "a", "m v=1 1\n").await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        write(&state, "b", "m v=1 1\n").await,
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(
        write(&state, "b", "m v=1 2\n").await,
        StatusCode::SERVICE_UNAVAILABLE
    );
    let (_, metrics) = get(&state, "/metrics", ADMIN).await;
    let refused = |db: &str| {
        sample(
            &metrics,
            &format!("sluice_database_write_refused_total{{db=\"{db}\",status=\"503\"}}"),
        )
    };
    assert_eq!(refused("b"), Some(2.0));
    assert_eq!(refused("a"), Some(0.0));
}

#[tokio::test]
async fn table_usage_shows_bytes_on_disk_after_persistence_to_readers_only() {
    let dir = tempfile::tempdir().unwrap();
    let state = state(dir.path(), StorageConfig::default()).await;
    write(
        &state,
        "a",
        "cpu,host=x v=1 1\ncpu,host=y v=1 1\nmem u=1 1\n",
    )
    .await;
    write(&state, "b", "disk free=1 1\n").await;
    let (status, json) = get_json(&state, "/api/v3/configure/database?db=a", ADMIN).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(json[0]["iox::database"], "a");
    assert_eq!(json[0]["retention_seconds"], Value::Null);
    assert_eq!(json[0]["tables"][0]["name"], "cpu");
    assert_eq!(json[0]["tables"][0]["buffer_rows"], 2);
    assert_eq!(json[0]["tables"][0]["parquet_bytes"], 0);

    state.storage().persist_now().await.unwrap();
    let token = reader(&state, "a");
    let (status, json) = get_json(&state, "/api/v3/configure/database?db=a", &token).await;
    assert_eq!(status, StatusCode::OK);
    let tables = json[0]["tables"].as_array().unwrap();
    assert_eq!(tables.len(), 2);
    for t in tables {
        assert!(t["parquet_bytes"].as_u64().unwrap() > 0, "{t}");
        assert_eq!(t["parquet_files"], 1);
        assert_eq!(t["buffer_rows"], 0);
    }
    assert_eq!(tables[0]["parquet_rows"], 2);

    let (status, body) = get(&state, "/api/v3/configure/database?db=b", &token).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        body,
        r#"{"error":"token does not have read permission on database \"b\""}"#
    );
    let (status, body) = get(&state, "/api/v3/configure/database?db=nope", ADMIN).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body, r#"{"error":"database not found: \"nope\""}"#);
    // Without `db` the list is as InfluxDB 3 answers it.
    let (_, list) = get_json(&state, "/api/v3/configure/database", &token).await;
    assert_eq!(list, serde_json::json!([{ "iox::database": "a" }]));
}

#[tokio::test]
async fn cardinality_ranks_the_high_cardinality_tag_first() {
    let dir = tempfile::tempdir().unwrap();
    let state = state(dir.path(), StorageConfig::default()).await;
    // 30 series: request_id has 30 values, host 3, region 1.
    let mut body = String::new();
    for i in 0..30 {
        body.push_str(&format!(
            "http,region=eu,host=h{},request_id=r{i:02} ms=1 1\n",
            i % 3
        ));
    }
    let body: &'static str = Box::leak(body.into_boxed_str());
    assert_eq!(write(&state, "a", body).await, StatusCode::NO_CONTENT);
    write(&state, "a", "cpu,host=h0 v=1 1\n").await;
    write(&state, "b", "cpu,host=z v=1 1\n").await;
    state.storage().persist_now().await.unwrap();
    write(
        &state,
        "a",
        "http,region=eu,host=h0,request_id=r00 ms=2 2\n",
    )
    .await;

    let token = reader(&state, "a");
    let (status, json) = get_json(&state, "/api/v3/cardinality?db=a&limit=3", &token).await;
    assert_eq!(status, StatusCode::OK, "{json}");
    assert_eq!(json["series"], 31);
    assert_eq!(json["truncated"], false);
    assert_eq!(json["limit"], 3);
    assert_eq!(
        json["tables"],
        serde_json::json!([{"table":"http","series":30},{"table":"cpu","series":1}])
    );
    let keys: Vec<(&str, u64)> = json["tag_keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| (k["key"].as_str().unwrap(), k["values"].as_u64().unwrap()))
        .collect();
    // Ties in values rank by series: http's region (30 series) before cpu's host (1).
    assert_eq!(keys, [("request_id", 30), ("host", 3), ("region", 1)]);
    assert_eq!(
        json["tag_values"][0],
        serde_json::json!({"table":"http","key":"region","value":"eu","series":30})
    );
    assert_eq!(json["tag_values"][1]["series"], 10);

    let (_, one) = get_json(&state, "/api/v3/cardinality?db=a&table=cpu", &token).await;
    assert_eq!(one["series"], 1);
    assert_eq!(one["table"], "cpu");

    for (uri, status, error) in [
        (
            "/api/v3/cardinality",
            400,
            "missing required parameter \"db\"",
        ),
        (
            "/api/v3/cardinality?db=a&limit=0",
            400,
            "invalid parameter \"limit\": expected an integer from 1 to 1000, got \"0\"",
        ),
        (
            "/api/v3/cardinality?db=a&limit=x",
            400,
            "invalid parameter \"limit\": expected an integer from 1 to 1000, got \"x\"",
        ),
        (
            "/api/v3/cardinality?db=b",
            403,
            "token does not have read permission on database \"b\"",
        ),
        (
            "/api/v3/cardinality?db=a&table=nope",
            404,
            "table not found: \"nope\" in database \"a\"",
        ),
    ] {
        let (got, json) = get_json(&state, uri, &token).await;
        assert_eq!(
            (got.as_u16(), json["error"].as_str().unwrap()),
            (status, error),
            "{uri}"
        );
    }
    let (got, json) = get_json(&state, "/api/v3/cardinality?db=nope", ADMIN).await;
    assert_eq!(
        (got.as_u16(), &json["error"]),
        (404, &Value::from("database not found: \"nope\""))
    );
}
