//! The details of InfluxDB 1.x's `/query` that Grafana and the 1.x clients rely on:
//! `params`, `epoch`, `chunked`, version headers on every answer, and statement errors
//! in the results rather than as a failed request.

use axum::body::Body;
use axum::http::{Request, Response, StatusCode};
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

async fn respond(state: &AppState, request: Request<Body>) -> Response<Body> {
    app(state.clone()).oneshot(request).await.unwrap()
}

async fn send(state: &AppState, request: Request<Body>) -> (StatusCode, String) {
    let response = respond(state, request).await;
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8(body.to_vec()).unwrap())
}

fn get(uri: &str) -> Request<Body> {
    Request::get(uri).body(Body::empty()).unwrap()
}

/// A state with `m v=1..5` at 1..5 s in database `d`.
async fn with_points(dir: &std::path::Path) -> AppState {
    let state = state(false, dir).await;
    let body = "m v=1 1\nm v=2 2\nm v=3 3\nm v=4 4\nm v=5 5\n";
    let request = Request::post("/write?db=d&precision=s")
        .body(Body::from(body))
        .unwrap();
    let (status, body) = send(&state, request).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    state
}

#[tokio::test]
async fn every_response_carries_the_influxdb_version_headers() {
    let dir = tempfile::tempdir().unwrap();
    let open = with_points(dir.path()).await;
    let closed_dir = tempfile::tempdir().unwrap();
    let closed = state(true, closed_dir.path()).await;
    let cases: Vec<(&AppState, Request<Body>, StatusCode)> = vec![
        (&open, get("/ping"), StatusCode::NO_CONTENT),
        (&open, get("/query?db=d&q=SELECT+v+FROM+m"), StatusCode::OK),
        (&open, get("/query?db=d&q=SELEC"), StatusCode::BAD_REQUEST),
        (&open, get("/query?db=d"), StatusCode::BAD_REQUEST),
        (
            &open,
            Request::post("/write?db=d")
                .body(Body::from("m v=1"))
                .unwrap(),
            StatusCode::NO_CONTENT,
        ),
        (&open, get("/nope"), StatusCode::NOT_FOUND),
        (&open, get("/health"), StatusCode::OK),
        (&open, get("/api/v2/buckets"), StatusCode::OK),
        (
            &closed,
            get("/query?q=SHOW+DATABASES"),
            StatusCode::UNAUTHORIZED,
        ),
    ];
    for (state, request, want) in cases {
        let uri = request.uri().to_string();
        let response = respond(state, request).await;
        assert_eq!(response.status(), want, "{uri}");
        let headers = response.headers();
        assert_eq!(
            headers
                .get("x-influxdb-version")
                .map(|v| v.to_str().unwrap()),
            Some(sluice_server::VERSION),
            "{uri}"
        );
        assert_eq!(
            headers.get("x-influxdb-build").map(|v| v.to_str().unwrap()),
            Some(sluice_server::BUILD),
            "{uri}"
        );
    }
}

#[tokio::test]
async fn params_as_an_empty_object_or_null_mean_no_parameters() {
    let dir = tempfile::tempdir().unwrap();
    let state = with_points(dir.path()).await;
    for params in ["%7B%7D", "null", "%7B%22n%22%3A1%7D"] {
        let uri = format!("/query?db=d&q=SELECT+v+FROM+m+LIMIT+1&params={params}");
        let (status, body) = send(&state, get(&uri)).await;
        assert_eq!(status, StatusCode::OK, "{params}: {body}");
        assert!(
            body.contains("[\"1970-01-01T00:00:01Z\",1]"),
            "{params}: {body}"
        );
    }
    let (status, body) = send(
        &state,
        get("/query?db=d&q=SELECT+v+FROM+m+WHERE+v+%3D+%24n&params=%7B%22n%22%3A2%7D"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.contains("[\"1970-01-01T00:00:02Z\",2]"), "{body}");
    let (status, body) = send(&state, get("/query?db=d&q=SELECT+v+FROM+m&params=%5B1%5D")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
}

#[tokio::test]
async fn every_epoch_writes_times_in_its_unit() {
    let dir = tempfile::tempdir().unwrap();
    let state = with_points(dir.path()).await;
    let cases = [
        ("ns", "3000000000"),
        ("n", "3000000000"),
        ("u", "3000000"),
        ("us", "3000000"),
        ("%C2%B5", "3000000"),
        ("ms", "3000"),
        ("s", "3"),
        ("m", "0"),
        ("h", "0"),
    ];
    for (epoch, time) in cases {
        let uri = format!("/query?db=d&q=SELECT+v+FROM+m+WHERE+v+%3D+3&epoch={epoch}");
        let (status, body) = send(&state, get(&uri)).await;
        assert_eq!(status, StatusCode::OK, "{epoch}: {body}");
        assert!(body.contains(&format!("[[{time},3]]")), "{epoch}: {body}");
    }
}

#[tokio::test]
async fn chunked_answers_are_one_json_document_per_chunk() {
    let dir = tempfile::tempdir().unwrap();
    let state = with_points(dir.path()).await;
    let uri =
        "/query?db=d&q=SELECT+v+FROM+m%3B+SELECT+count(v)+FROM+m&chunked=true&chunk_size=2&epoch=s";
    let (status, body) = send(&state, get(uri)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let lines: Vec<&str> = body.lines().collect();
    assert_eq!(
        lines,
        [
            r#"{"results":[{"statement_id":0,"series":[{"name":"m","columns":["time","v"],"values":[[1,1],[2,2]],"partial":true}],"partial":true}]}"#,
            r#"{"results":[{"statement_id":0,"series":[{"name":"m","columns":["time","v"],"values":[[3,3],[4,4]],"partial":true}],"partial":true}]}"#,
            r#"{"results":[{"statement_id":0,"series":[{"name":"m","columns":["time","v"],"values":[[5,5]]}]}]}"#,
            r#"{"results":[{"statement_id":1,"series":[{"name":"m","columns":["time","count"],"values":[[0,5]]}]}]}"#,
        ]
    );
}

#[tokio::test]
async fn unsupported_functions_fail_their_statement_with_influxdb_words() {
    let dir = tempfile::tempdir().unwrap();
    let state = with_points(dir.path()).await;
    let cases = [
        (
            "SELECT+foo(v)+FROM+m",
            r#"{"results":[{"statement_id":0,"error":"undefined function foo()"}]}"#,
        ),
        (
            "SELECT+derivative(v)+FROM+m+WHERE+time+%3E+0+GROUP+BY+time(1s)",
            r#"{"results":[{"statement_id":0,"error":"aggregate function required inside the call to derivative"}]}"#,
        ),
        (
            "SELECT+derivative(mean(v))+FROM+m",
            r#"{"results":[{"statement_id":0,"error":"derivative aggregate requires a GROUP BY interval"}]}"#,
        ),
        (
            "SELECT+holt_winters(mean(v),+1,+1)+FROM+m+WHERE+time+%3E+0+GROUP+BY+time(1s)",
            r#"{"results":[{"statement_id":0,"error":"unsupported function \"holt_winters\""}]}"#,
        ),
    ];
    for (q, want) in cases {
        let (status, body) = send(&state, get(&format!("/query?db=d&q={q}"))).await;
        assert_eq!(status, StatusCode::OK, "{q}: {body}");
        assert_eq!(body, want, "{q}");
    }
}

#[tokio::test]
async fn grafana_panel_queries_answer() {
    let dir = tempfile::tempdir().unwrap();
    let state = with_points(dir.path()).await;
    let q = "SELECT+non_negative_derivative(mean(v),+1s)+FROM+m+WHERE+time+%3E%3D+0ms+and+time+%3C%3D+5000ms+GROUP+BY+time(2s)+fill(null)%3B+SELECT+max(x)+FROM+(SELECT+mean(v)+AS+x+FROM+m+GROUP+BY+time(1s))+WHERE+time+%3C+6s";
    let (status, body) = send(&state, get(&format!("/query?db=d&epoch=ms&q={q}"))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body,
        r#"{"results":[{"statement_id":0,"series":[{"name":"m","columns":["time","non_negative_derivative"],"values":[[2000,0.75],[4000,1]]}]},{"statement_id":1,"series":[{"name":"m","columns":["time","max"],"values":[[5000,5]]}]}]}"#
    );
}
