//! The router exercised without a socket: requests go straight into `app(state)`.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt as _;
use sluice_server::{AppState, Auth, ServerConfig, TokenStore, app};
use sluice_storage::{ObjectStoreConfig, Storage, StorageConfig};
use tower::ServiceExt as _;

async fn state(auth: bool, dir: &std::path::Path) -> AppState {
    let storage = Storage::open(StorageConfig {
        data_dir: dir.to_owned(),
        object_store: ObjectStoreConfig::Memory,
        ..StorageConfig::default()
    })
    .await
    .unwrap();
    let auth = if auth {
        let (store, _) = TokenStore::open(dir.join("tokens.json"), Some("admin")).unwrap();
        Auth::Tokens(store)
    } else {
        Auth::Disabled
    };
    AppState::new(storage, ServerConfig::default(), auth)
}

async fn send(state: &AppState, request: Request<Body>) -> (StatusCode, String) {
    let response = app(state.clone()).oneshot(request).await.unwrap();
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8(body.to_vec()).unwrap())
}

fn post(uri: &str, body: &'static str) -> Request<Body> {
    Request::post(uri).body(Body::from(body)).unwrap()
}

#[tokio::test]
async fn a_v1_write_is_stored_and_scannable() {
    let dir = tempfile::tempdir().unwrap();
    let state = state(false, dir.path()).await;
    let (status, body) = send(
        &state,
        post("/write?db=d&precision=s", "cpu,host=a v=1 10\n"),
    )
    .await;
    assert_eq!((status, body.as_str()), (StatusCode::NO_CONTENT, ""));
    let scan = state
        .storage()
        .scan("d", "cpu", &sluice_storage::ScanRequest::default())
        .await
        .unwrap();
    assert_eq!(scan.num_rows(), 1);
}

#[tokio::test]
async fn the_v3_partial_write_shape_lists_rejected_lines() {
    let dir = tempfile::tempdir().unwrap();
    let state = state(false, dir.path()).await;
    let (status, body) = send(
        &state,
        post("/api/v3/write_lp?db=d&precision=ns", "m v=1 1\nm v=\n"),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json["data"][0]["line_number"], 2);
    assert_eq!(json["data"][0]["original_line"], "m v=");
}

#[tokio::test]
async fn auth_errors_are_401_and_403_with_a_json_body() {
    let dir = tempfile::tempdir().unwrap();
    let state = state(true, dir.path()).await;
    let (status, body) = send(&state, post("/write?db=d", "m v=1")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(body.contains("\"error\""), "{body}");
    let store = state.auth().store().expect("auth is on");
    let new = store
        .create(
            "r",
            vec![sluice_server::Permission {
                database: "d".into(),
                actions: vec![sluice_server::Action::Read],
            }],
            None,
        )
        .unwrap();
    let request = Request::post("/api/v2/write?bucket=d")
        .header("authorization", format!("Token {}", new.token))
        .body(Body::from("m v=1"))
        .unwrap();
    let (status, body) = send(&state, request).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(body.contains("\"code\":\"forbidden\""), "{body}");
}

#[tokio::test]
async fn unknown_paths_are_404_json() {
    let dir = tempfile::tempdir().unwrap();
    let state = state(false, dir.path()).await;
    let (status, body) = send(&state, Request::get("/nope").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body.contains("no such endpoint"));
}

#[tokio::test]
async fn params_null_on_the_v3_query_endpoints_means_no_parameters() {
    let dir = tempfile::tempdir().unwrap();
    let state = state(false, dir.path()).await;
    let (status, _) = send(&state, post("/write?db=d&precision=s", "m v=1 10\n")).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    for path in ["query_sql", "query_influxql"] {
        let request = Request::get(format!("/api/v3/{path}?db=d&q=SELECT+v+FROM+m&params=null"))
            .body(Body::empty())
            .unwrap();
        let (status, body) = send(&state, request).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        assert!(body.contains("\"v\":1"), "{path}: {body}");
    }
    let request = Request::get("/api/v3/query_sql?db=d&q=SELECT+v+FROM+m&params=[1]")
        .body(Body::empty())
        .unwrap();
    let (status, body) = send(&state, request).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
}
