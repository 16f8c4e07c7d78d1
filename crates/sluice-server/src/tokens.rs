//! `/api/v3/configure/token`: create, list and delete database-scoped tokens (admin only).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::Deserialize;
use serde_json::json;

use crate::auth::{Permission, TokenStore};
use crate::error::{Error, Result};
use crate::extract::{AdminJson, Caller, JsonBody, Reply, V3};
use crate::state::AppState;
use crate::time::parse_duration;

#[derive(Debug, Deserialize)]
pub(crate) struct CreateToken {
    #[serde(default)]
    name: String,
    permissions: Vec<Permission>,
    /// How long the token is accepted, as a duration such as `30d`; absent: forever.
    #[serde(default)]
    expiry: Option<String>,
}

impl JsonBody for CreateToken {
    const WHAT: &'static str = "token";
}

/// The token store, when auth is on.
fn store(state: &AppState) -> Result<&TokenStore> {
    state.inner.auth.store().ok_or(Error::AuthDisabled)
}

/// `POST /api/v3/configure/token` with
/// `{"name":"…","permissions":[{"database":"db","actions":["read","write"]}],"expiry":"30d"}`:
/// 201 and `{"id","name","token","permissions","created_at","expires_at"}`; the token is
/// shown only here. Without `expiry` the token never expires (`expires_at` is null).
pub(crate) async fn create(
    State(state): State<AppState>,
    AdminJson { body: request, .. }: AdminJson<V3, CreateToken>,
) -> Reply<V3> {
    let expiry = match request.expiry.as_deref() {
        None | Some("") => None,
        Some(text) => Some(parse_duration(text).ok_or_else(|| Error::InvalidBody {
            reason: format!("invalid expiry {text:?}: use a duration such as 30d or 12h"),
        })?),
    };
    let created = store(&state)?.create(&request.name, request.permissions, expiry)?;
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
}

/// `GET /api/v3/configure/token`: `{"tokens":[{"id","name","admin","permissions","created_at"}]}`.
pub(crate) async fn list(State(state): State<AppState>, caller: Caller<V3>) -> Reply<V3> {
    let store = store(&state)?;
    caller.admin()?;
    Ok(Json(json!({ "tokens": store.list() })).into_response())
}

/// `DELETE /api/v3/configure/token?id=ID`: 204, or 404 for an unknown id.
pub(crate) async fn delete(
    State(state): State<AppState>,
    caller: Caller<V3>,
) -> Reply<V3, StatusCode> {
    let store = store(&state)?;
    caller.admin()?;
    let id = caller
        .params
        .non_empty("id")
        .ok_or(Error::MissingParameter { name: "id" })?;
    store.delete(id)?;
    tracing::info!(%id, "token deleted");
    Ok(StatusCode::NO_CONTENT)
}
