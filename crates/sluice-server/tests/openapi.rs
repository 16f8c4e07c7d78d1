//! `docs/openapi.yaml` and the router agree: every documented path and method is routed
//! (not the 404 fallback, not 405), and every route in `app()` is documented.
//!
//! The document is read with a line-based reader of its own layout (paths at two spaces of
//! indent, methods at four), which `paths_and_methods_are_read_from_the_document` checks.

use std::collections::BTreeSet;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use http_body_util::BodyExt as _;
use sluice_server::{AppState, Auth, ServerConfig, app};
use sluice_storage::{ObjectStoreConfig, Storage, StorageConfig};
use tower::ServiceExt as _;

const METHODS: [&str; 6] = ["get", "post", "put", "delete", "head", "patch"];

fn document() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/openapi.yaml");
    std::fs::read_to_string(path).expect("docs/openapi.yaml")
}

/// `(path, method)` pairs under `paths:` in the document.
fn documented(yaml: &str) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    let mut in_paths = false;
    let mut path = None;
    for line in yaml.lines() {
        if !line.starts_with(' ') && !line.trim().is_empty() {
            in_paths = line.trim_end() == "paths:";
            continue;
        }
        if !in_paths {
            continue;
        }
        if let Some(p) = line.strip_prefix("  /").and_then(|l| l.strip_suffix(':')) {
            path = Some(format!("/{}", p.trim_matches('"')));
        } else if let Some(m) = line.strip_prefix("    ").and_then(|l| l.strip_suffix(':'))
            && let (Some(path), true) = (&path, METHODS.contains(&m))
        {
            out.insert((path.clone(), m.to_owned()));
        }
    }
    out
}

/// `(path, method)` pairs routed in `crates/sluice-server/src/lib.rs`'s `app()`.
fn routed() -> BTreeSet<(String, String)> {
    let source = include_str!("../src/lib.rs");
    let mut out = BTreeSet::new();
    let mut rest = source;
    while let Some(at) = rest.find(".route(") {
        rest = &rest[at + ".route(".len()..];
        // The call's text up to its matching parenthesis.
        let mut depth = 1;
        let end = rest
            .char_indices()
            .find(|&(_, c)| {
                match c {
                    '(' => depth += 1,
                    ')' => depth -= 1,
                    _ => {}
                }
                depth == 0
            })
            .map(|(i, _)| i)
            .expect("balanced .route(...)");
        let call = &rest[..end];
        let path = call.split('"').nth(1).expect("a path literal").to_owned();
        for method in METHODS {
            let bare = format!("{method}(");
            let chained = format!(".{method}(");
            let first = call
                .split(',')
                .nth(1)
                .is_some_and(|handlers| handlers.trim_start().starts_with(&bare));
            if first || call.contains(&chained) {
                out.insert((path.clone(), method.to_owned()));
            }
        }
    }
    out
}

#[test]
fn paths_and_methods_are_read_from_the_document() {
    let pairs = documented(&document());
    assert!(
        pairs.contains(&("/write".into(), "post".into())),
        "{pairs:?}"
    );
    assert!(
        pairs.contains(&("/ping".into(), "head".into())),
        "{pairs:?}"
    );
    assert!(
        pairs.contains(&("/api/v2/buckets/{id}".into(), "delete".into())),
        "{pairs:?}"
    );
    assert!(pairs.len() > 20, "{pairs:?}");
}

#[test]
fn every_route_is_documented_and_every_documented_route_exists() {
    let documented = documented(&document());
    let routed = routed();
    assert!(routed.len() > 20, "{routed:?}");
    let undocumented: Vec<_> = routed.difference(&documented).collect();
    assert!(
        undocumented.is_empty(),
        "routes missing from docs/openapi.yaml: {undocumented:?}"
    );
    let unrouted: Vec<_> = documented.difference(&routed).collect();
    assert!(
        unrouted.is_empty(),
        "docs/openapi.yaml documents routes app() does not have: {unrouted:?}"
    );
}

#[tokio::test]
async fn every_documented_route_answers_with_its_handler() {
    let dir = tempfile::tempdir().unwrap();
    let storage = Storage::open(StorageConfig {
        data_dir: dir.path().to_owned(),
        object_store: ObjectStoreConfig::Memory,
        ..StorageConfig::default()
    })
    .await
    .unwrap();
    let state = AppState::new(storage, ServerConfig::default(), Auth::Disabled);
    for (path, method) in documented(&document()) {
        let uri = path
            .replace("{id}", "0000000000000000")
            .replace("{file}", "x.js");
        let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let request = Request::builder()
            .method(method.clone())
            .uri(&uri)
            .body(Body::empty())
            .unwrap();
        let response = app(state.clone()).oneshot(request).await.unwrap();
        let status = response.status();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        let body = String::from_utf8_lossy(&body);
        assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {uri}");
        assert!(
            !body.contains("no such endpoint"),
            "{method} {uri} fell through to the fallback"
        );
        assert!(!status.is_server_error(), "{method} {uri}: {status} {body}");
    }
}
