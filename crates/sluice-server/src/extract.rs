//! What every API handler starts with — the query parameters, parsed, and the caller,
//! authenticated — as axum extractors, and a reply type whose errors render in the API
//! family's shape, so that a handler reads as what it does:
//!
//! ```ignore
//! async fn list(State(state): State<AppState>, caller: Caller<V3>) -> Reply<V3> {
//!     let store = caller.admin()?;
//!     ...
//! }
//! ```

use std::marker::PhantomData;

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;

use crate::auth::Principal;
use crate::body::{discard, read_body};
use crate::error::{Api, ApiError, Error};
use crate::params::Params;
use crate::state::AppState;

/// An API family: which error shape its failures take.
pub(crate) trait Family: Send + Sync + 'static {
    /// The family's error rendering.
    const API: Api;
}

/// InfluxDB 2.x endpoints (`/api/v2/...`).
pub(crate) struct V2;
/// InfluxDB 3 endpoints (`/api/v3/...`).
pub(crate) struct V3;

impl Family for V2 {
    const API: Api = Api::V2;
}

impl Family for V3 {
    const API: Api = Api::V3;
}

/// A handler's result: its errors are the crate's [`Error`] (so `?` works on them),
/// answered in family `F`'s shape.
pub(crate) type Reply<F, T = Response> = Result<T, Failure<F>>;

/// An [`Error`] on its way to becoming family `F`'s error response.
pub(crate) struct Failure<F>(Error, PhantomData<F>);

impl<F> From<Error> for Failure<F> {
    fn from(error: Error) -> Self {
        Failure(error, PhantomData)
    }
}

impl<F> From<sluice_storage::Error> for Failure<F> {
    fn from(error: sluice_storage::Error) -> Self {
        Failure(error.into(), PhantomData)
    }
}

impl<F: Family> IntoResponse for Failure<F> {
    fn into_response(self) -> Response {
        self.0.api(F::API).into_response()
    }
}

/// The parsed query parameters and the authenticated caller of a request.
pub(crate) struct Caller<F> {
    pub(crate) params: Params,
    pub(crate) principal: Principal,
    family: PhantomData<F>,
}

impl<F> Caller<F> {
    /// The caller, if it holds the admin token.
    ///
    /// # Errors
    /// [`Error::Forbidden`] (or the like) for any other token.
    pub(crate) fn admin(&self) -> Result<&Principal, Error> {
        self.principal.require_admin()?;
        Ok(&self.principal)
    }
}

impl<F: Family> FromRequestParts<AppState> for Caller<F> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let authenticated = Params::parse(parts.uri.query()).and_then(|params| {
            let principal = state.inner.auth.authenticate(&parts.headers, &params)?;
            Ok(Caller {
                params,
                principal,
                family: PhantomData,
            })
        });
        authenticated.map_err(|err| err.api(F::API))
    }
}

/// A JSON body sent with the admin token: the token is checked before the body is
/// read (a refused body is drained, so the connection stays usable), then the body is
/// read within the request size limit and parsed.
pub(crate) struct AdminJson<F, T> {
    pub(crate) body: T,
    family: PhantomData<F>,
}

/// What [`AdminJson`] calls its body in a parse error (`invalid bucket json: …`).
pub(crate) trait JsonBody: DeserializeOwned {
    const WHAT: &'static str;
}

impl<F: Family, T: JsonBody> FromRequest<AppState> for AdminJson<F, T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, ApiError> {
        let (parts, body) = request.into_parts();
        let read = async {
            let params = Params::parse(parts.uri.query())?;
            let allowed = state
                .inner
                .auth
                .authenticate(&parts.headers, &params)
                .and_then(|principal| principal.require_admin());
            if let Err(err) = allowed {
                discard(body).await;
                return Err(err);
            }
            let bytes = read_body(&parts.headers, body, state.inner.config.max_request_bytes)
                .await?
                .bytes;
            let body = serde_json::from_slice(&bytes).map_err(|err| Error::InvalidBody {
                reason: format!("invalid {} json: {err}", T::WHAT),
            })?;
            Ok(AdminJson {
                body,
                family: PhantomData,
            })
        };
        read.await.map_err(|err: Error| err.api(F::API))
    }
}
