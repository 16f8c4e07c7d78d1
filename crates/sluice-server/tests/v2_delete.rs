//! `POST /api/v2/delete` through the router: what a predicate and a time range delete,
//! what they keep, and how a request the server cannot run is refused.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt as _;
use sluice_server::{Action, AppState, Auth, Permission, ServerConfig, TokenStore, app, bucket_id};
use sluice_storage::{ObjectStoreConfig, Storage, StorageConfig};
use tower::ServiceExt as _;

async fn state(dir: &std::path::Path) -> AppState {
    let storage = Storage::open(StorageConfig {
        data_dir: dir.to_owned(),
        object_store: ObjectStoreConfig::Memory,
        ..StorageConfig::default()
    })
    .await
    .unwrap();
    let (store, _) = TokenStore::open(dir.join("tokens.json"), Some("admin")).unwrap();
    AppState::new(storage, ServerConfig::default(), Auth::Tokens(store))
}

async fn send(state: &AppState, request: Request<Body>) -> (StatusCode, String) {
    let response = app(state.clone()).oneshot(request).await.unwrap();
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8(body.to_vec()).unwrap())
}

fn post(uri: &str, token: &str, body: impl Into<Body>) -> Request<Body> {
    Request::post(uri)
        .header("authorization", format!("Token {token}"))
        .header("content-type", "application/json")
        .body(body.into())
        .unwrap()
}

/// Every row of the database, `measurement host time` per line, sorted.
async fn rows(state: &AppState) -> Vec<String> {
    let mut out = Vec::new();
    for table in ["cpu", "mem"] {
        let Ok(scan) = state
            .storage()
            .scan("d", table, &sluice_storage::ScanRequest::default())
            .await
        else {
            continue;
        };
        for batch in &scan.batches {
            let hosts = arrow::compute::cast(
                batch.column_by_name("host").unwrap(),
                &arrow::datatypes::DataType::Utf8,
            )
            .unwrap();
            let hosts = hosts
                .as_any()
                .downcast_ref::<arrow::array::StringArray>()
                .unwrap();
            let times = batch
                .column_by_name("time")
                .unwrap()
                .as_any()
                .downcast_ref::<arrow::array::TimestampNanosecondArray>()
                .unwrap();
            for i in 0..batch.num_rows() {
                out.push(format!("{table} {} {}", hosts.value(i), times.value(i)));
            }
        }
    }
    out.sort();
    out
}

const SECOND: i64 = 1_000_000_000;

async fn written(state: &AppState) {
    let lines = "cpu,host=a,region=eu v=1 1\ncpu,host=a,region=eu v=2 2\ncpu,host=a,region=eu v=3 3\n\
                 cpu,host=b,region=us v=1 1\ncpu,host=b,region=us v=2 2\n\
                 mem,host=a free=1i 1\nmem,host=a free=2i 2\n";
    let (status, body) = send(
        state,
        post("/api/v2/write?bucket=d&precision=s", "admin", lines),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
}

#[tokio::test]
async fn a_predicate_and_an_inclusive_range_delete_only_the_matching_points() {
    let dir = tempfile::tempdir().unwrap();
    let state = state(dir.path()).await;
    written(&state).await;

    // Seconds 2 to 3, both included, of cpu host a: the point at 1 and host b stay.
    let body = r#"{"start":"1970-01-01T00:00:02Z","stop":"1970-01-01T00:00:03Z",
                   "predicate":"_measurement=\"cpu\" AND host=\"a\""}"#;
    let (status, text) = send(&state, post("/api/v2/delete?org=o&bucket=d", "admin", body)).await;
    assert_eq!((status, text.as_str()), (StatusCode::NO_CONTENT, ""));
    assert_eq!(
        rows(&state).await,
        [
            format!("cpu a {SECOND}"),
            format!("cpu b {SECOND}"),
            format!("cpu b {}", 2 * SECOND),
            format!("mem a {SECOND}"),
            format!("mem a {}", 2 * SECOND),
        ]
    );

    // No measurement: every table, by bucket id, a tag the mem table lacks keeps it whole.
    let uri = format!("/api/v2/delete?orgID=1&bucketID={}", bucket_id("d"));
    let body = r#"{"start":"1970-01-01T00:00:00Z","stop":"2100-01-01T00:00:00Z","predicate":"region='us'"}"#;
    let (status, text) = send(&state, post(&uri, "admin", body)).await;
    assert_eq!((status, text.as_str()), (StatusCode::NO_CONTENT, ""));
    assert_eq!(
        rows(&state).await,
        [
            format!("cpu a {SECOND}"),
            format!("mem a {SECOND}"),
            format!("mem a {}", 2 * SECOND),
        ]
    );

    // No predicate: everything in the range.
    let body = r#"{"start":"1970-01-01T00:00:00Z","stop":"1970-01-01T00:00:01Z"}"#;
    let (status, _) = send(&state, post("/api/v2/delete?bucket=d", "admin", body)).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(rows(&state).await, [format!("mem a {}", 2 * SECOND)]);
}

#[tokio::test]
async fn requests_the_server_cannot_run_are_refused_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let state = state(dir.path()).await;
    written(&state).await;
    let range = r#""start":"1970-01-01T00:00:00Z","stop":"2100-01-01T00:00:00Z""#;
    let refused = [
        (
            "/api/v2/delete?org=o",
            format!("{{{range}}}"),
            400,
            "bucket",
        ),
        (
            "/api/v2/delete?bucket=nope",
            format!("{{{range}}}"),
            404,
            "bucket \\\"nope\\\" not found",
        ),
        (
            "/api/v2/delete?bucket=d",
            "{".to_owned(),
            400,
            "invalid delete json",
        ),
        (
            "/api/v2/delete?bucket=d",
            r#"{"stop":"2100-01-01T00:00:00Z"}"#.to_owned(),
            400,
            "start is required",
        ),
        (
            "/api/v2/delete?bucket=d",
            r#"{"start":"yesterday","stop":"2100-01-01T00:00:00Z"}"#.to_owned(),
            400,
            "start is not an RFC 3339 time",
        ),
        (
            "/api/v2/delete?bucket=d",
            r#"{"start":"2000-01-01T00:00:00Z","stop":"1999-01-01T00:00:00Z"}"#.to_owned(),
            400,
            "after its stop",
        ),
        (
            "/api/v2/delete?bucket=d",
            format!(r#"{{{range},"predicate":"host="}}"#),
            400,
            "found EOF",
        ),
        (
            "/api/v2/delete?bucket=d",
            format!(r#"{{{range},"predicate":"v=1"}}"#),
            400,
            "fields not supported",
        ),
        (
            "/api/v2/delete?bucket=d",
            format!(r#"{{{range},"predicate":"_field=\"v\""}}"#),
            400,
            "cannot name _field",
        ),
        (
            "/api/v2/delete?bucket=d",
            format!(r#"{{{range},"predicate":"host=prod-1"}}"#),
            400,
            "quote values",
        ),
    ];
    for (uri, body, status, message) in refused {
        let (got, text) = send(&state, post(uri, "admin", body.clone())).await;
        assert_eq!(got.as_u16(), status, "{uri} {body}: {text}");
        assert!(text.contains(message), "{uri} {body}: {text}");
        assert!(text.contains("\"code\""), "the v2 error shape: {text}");
    }
    assert_eq!(rows(&state).await.len(), 7, "nothing was deleted");

    // A measurement that does not exist: nothing to delete, not an error.
    let body = format!(r#"{{{range},"predicate":"_measurement=\"disk\""}}"#);
    let (status, _) = send(&state, post("/api/v2/delete?bucket=d", "admin", body)).await;
    assert_eq!(status, StatusCode::NO_CONTENT);

    // A token that may only read the bucket may not delete from it.
    let reader = state
        .auth()
        .store()
        .unwrap()
        .create(
            "reader",
            vec![Permission {
                database: "d".into(),
                actions: vec![Action::Read],
            }],
            None,
        )
        .unwrap();
    let body = format!("{{{range}}}");
    let (status, text) = send(&state, post("/api/v2/delete?bucket=d", &reader.token, body)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{text}");
    assert_eq!(rows(&state).await.len(), 7, "nothing was deleted");
}
