//! The web console (built from `console/` by `build.rs` and embedded in the binary) at `/`
//! and `/assets/*`, and `GET /api/v3/console/whoami`, which tells the console what the
//! signed-in token may see.
//!
//! `index.html` is served with `Cache-Control: no-cache`; the scripts and styles it names
//! carry a content hash in their names and are cached for a year. Each file is stored
//! plain and gzipped; the gzipped copy goes to clients that accept it.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::auth::Action;
use crate::extract::{Caller, Reply, V3};
use crate::state::AppState;

/// `(file name, content type, bytes, gzipped bytes)` of every built file.
type Asset = (&'static str, &'static str, &'static [u8], &'static [u8]);

static ASSETS: &[Asset] = include!(concat!(env!("OUT_DIR"), "/console_assets.rs"));

/// What the page may load: only this server, no inline scripts.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; connect-src 'self'; \
     frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/// `GET /`: the console's page.
pub(crate) async fn index(headers: HeaderMap) -> Response {
    serve("index.html", &headers, "no-cache")
}

/// `GET /assets/{file}`: a built script or style sheet.
pub(crate) async fn asset(Path(file): Path<String>, headers: HeaderMap) -> Response {
    serve(&file, &headers, "public, max-age=31536000, immutable")
}

fn serve(name: &str, headers: &HeaderMap, cache: &'static str) -> Response {
    let Some(&(_, content_type, plain, gzipped)) = ASSETS.iter().find(|a| a.0 == name) else {
        return (
            StatusCode::NOT_FOUND,
            Json(json!({ "error": format!("no console asset {name:?}") })),
        )
            .into_response();
    };
    let gzip = accepts_gzip(headers);
    let mut response = if gzip { gzipped } else { plain }.into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    h.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    if gzip {
        h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    response
}

/// True when `Accept-Encoding` lists gzip (or `*`) without `q=0`.
fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|item| {
            let mut parts = item.split(';').map(str::trim);
            let coding = parts.next().unwrap_or("");
            let refused = parts.any(|p| {
                p.strip_prefix("q=")
                    .and_then(|q| q.parse::<f32>().ok())
                    .is_some_and(|q| q == 0.0)
            });
            (coding.eq_ignore_ascii_case("gzip") || coding == "*") && !refused
        })
}

/// `GET /api/v3/console/whoami`: `{"auth","admin","name","read":[db…],"write":[db…]}`,
/// the existing databases the token may read and write.
pub(crate) async fn whoami(
    State(state): State<AppState>,
    Caller { principal, .. }: Caller<V3>,
) -> Reply<V3> {
    let databases = state.inner.storage.all_databases();
    let may = |action| {
        databases
            .iter()
            .filter(|d| principal.can(&d.name, action))
            .map(|d| d.name.clone())
            .collect::<Vec<_>>()
    };
    let name = match &principal {
        crate::auth::Principal::Anyone => String::new(),
        crate::auth::Principal::Token(info) => info.name.clone(),
    };
    Ok(Json(json!({
        "auth": state.inner.auth.store().is_some(),
        "admin": principal.is_admin(),
        "name": name,
        "read": may(Action::Read),
        "write": may(Action::Write),
    }))
    .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_build_embeds_an_index_naming_hashed_assets_that_exist() {
        let index = ASSETS.iter().find(|a| a.0 == "index.html").expect("index");
        let html = std::str::from_utf8(index.2).unwrap();
        let named: Vec<&str> = html
            .split("/assets/")
            .skip(1)
            .map(|rest| rest.split('"').next().unwrap())
            .collect();
        assert_eq!(named.len(), 2, "{html}");
        for name in named {
            assert!(ASSETS.iter().any(|a| a.0 == name), "{name} is not embedded");
            assert!(name.contains('-'), "{name} has no content hash");
        }
    }

    #[test]
    fn gzip_is_sent_only_when_accepted() {
        let accept = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::ACCEPT_ENCODING, HeaderValue::from_str(v).unwrap());
            accepts_gzip(&h)
        };
        assert!(accept("gzip, deflate, br"));
        assert!(accept("br;q=1.0, gzip;q=0.8"));
        assert!(!accept("br"));
        assert!(!accept("gzip;q=0"));
        assert!(!accepts_gzip(&HeaderMap::new()));
    }
}
