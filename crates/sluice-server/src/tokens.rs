//! `/api/v3/configure/token`: create, list and delete database-scoped tokens (admin only).

use axum::Json;
use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use crate::auth::{Permission, TokenStore};
use crate::body::{discard, read_body};
use crate::error::{Api, ApiError, Error, Result};
use crate::params::Params;
use crate::state::AppState;
use crate::time::parse_duration;

#[derive(Debug, Deserialize)]
struct CreateToken {
    #[serde(default)]
    name: String,
    permissions: Vec<Permission>,
    /// How long the token is accepted, as a duration such as `30d`; absent: forever.
    #[serde(default)]
    expiry: Option<String>,
}

fn admin_store<'a>(
    state: &'a AppState,
    headers: &HeaderMap,
    params: &Params,
) -> Result<&'a TokenStore> {
    let store = state.inner.auth.store().ok_or(Error::AuthDisabled)?;
    state
        .inner
        .auth
        .authenticate(headers, params)?
        .require_admin()?;
    Ok(store)
}

/// `POST /api/v3/configure/token` with
/// `{"name":"…","permissions":[{"database":"db","actions":["read","write"]}],"expiry":"30d"}`:
/// 201 and `{"id","name","token","permissions","created_at","expires_at"}`; the token is
/// shown only here. Without `expiry` the token never expires (`expires_at` is null).
pub(crate) async fn create(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let run = async {
        let params = Params::parse(query.as_deref())?;
        let store = match admin_store(&state, &headers, &params) {
            Ok(store) => store,
            Err(err) => {
                discard(body).await;
                return Err(err);
            }
        };
        let body = read_body(&headers, body, state.inner.config.max_request_bytes).await?;
        let request: CreateToken =
            serde_json::from_slice(&body.bytes).map_err(|err| Error::InvalidBody {
                reason: format!("invalid token json: {err}"),
            })?;
        let expiry = match request.expiry.as_deref() {
            None | Some("") => None,
            Some(text) => Some(parse_duration(text).ok_or_else(|| Error::InvalidBody {
                reason: format!("invalid expiry {text:?}: use a duration such as 30d or 12h"),
            })?),
        };
        let created = store.create(&request.name, request.permissions, expiry)?;
        tracing::info!(id = %created.info.id, name = %created.info.name, "token created");
        Ok((
            StatusCode::CREATED,
            Json(json!({
                "id": created.info.id,
                "name": created.info.name,
                "token": created.token,
                "permissions": created.info.permissions,
                "created_at": created.info.created_at,
                "expires_at": created.info.expires_at,
            })),
        )
            .into_response())
    };
    run.await.map_err(|e: Error| e.api(Api::V3))
}

/// `GET /api/v3/configure/token`: `{"tokens":[{"id","name","admin","permissions","created_at"}]}`.
pub(crate) async fn list(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let run = || {
        let params = Params::parse(query.as_deref())?;
        let store = admin_store(&state, &headers, &params)?;
        Ok(Json(json!({ "tokens": store.list() })).into_response())
    };
    run().map_err(|e: Error| e.api(Api::V3))
}

/// `DELETE /api/v3/configure/token?id=ID`: 204, or 404 for an unknown id.
pub(crate) async fn delete(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    let run = || {
        let params = Params::parse(query.as_deref())?;
        let store = admin_store(&state, &headers, &params)?;
        let id = params
            .non_empty("id")
            .ok_or(Error::MissingParameter { name: "id" })?;
        store.delete(id)?;
        tracing::info!(%id, "token deleted");
        Ok(StatusCode::NO_CONTENT)
    };
    run().map_err(|e: Error| e.api(Api::V3))
}
