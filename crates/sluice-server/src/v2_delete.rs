//! `POST /api/v2/delete`: InfluxDB 2's delete of the points of a bucket in a time range
//! that match a predicate, as the official clients' delete APIs and `influx delete`
//! send it.

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde::Deserialize;

use crate::auth::Action;
use crate::body::{discard, read_body};
use crate::error::{Error, Result};
use crate::extract::{Caller, Reply, V2};
use crate::state::AppState;
use crate::v2::{bucket_name, split_bucket};

/// The request body: `{"start": RFC3339, "stop": RFC3339, "predicate": "…"}`.
#[derive(Debug, Deserialize)]
struct DeleteBody {
    start: Option<String>,
    stop: Option<String>,
    #[serde(default)]
    predicate: Option<String>,
}

/// `POST /api/v2/delete?org=&bucket=` (or `orgID=`, `bucketID=`) with
/// `{"start","stop","predicate"}`: deletes the bucket's points with times in
/// `[start, stop]` (both inclusive, as InfluxDB 2) whose series match the predicate
/// (`_measurement="cpu" AND host="a"`; absent or empty: every series). 204 when done;
/// the delete is then durable (logged in the WAL and synced, see
/// [`sluice_storage::Storage::delete`]). Needs a token that may write the bucket.
pub(crate) async fn delete(
    State(state): State<AppState>,
    Caller {
        params, principal, ..
    }: Caller<V2>,
    headers: HeaderMap,
    body: Body,
) -> Reply<V2, StatusCode> {
    let bucket = params
        .non_empty("bucket")
        .or_else(|| params.non_empty("bucketID"))
        .map(str::to_owned);
    let Some(bucket) = bucket else {
        discard(body).await;
        return Err(Error::MissingParameter { name: "bucket" }.into());
    };
    let (database, rp) = split_bucket(bucket_name(&state, bucket));
    if let Err(e) = principal.require(&database, Action::Write) {
        discard(body).await;
        return Err(e.into());
    }
    let read = read_body(&headers, body, state.inner.config.max_request_bytes).await?;
    let request: DeleteBody =
        serde_json::from_slice(&read.bytes).map_err(|e| Error::InvalidBody {
            reason: format!("invalid delete json: {e}"),
        })?;
    let start = time(request.start.as_deref(), "start")?;
    let stop = time(request.stop.as_deref(), "stop")?;
    let storage_db = state.storage().policy_database(&database, rp.as_deref())?;
    let predicate = request.predicate.unwrap_or_default();
    state
        .query()
        .delete_where(&storage_db, start, stop, &predicate)
        .await
        .map_err(Error::from)?;
    Ok(StatusCode::NO_CONTENT)
}

/// The body's `start` or `stop`, an RFC 3339 time, in nanoseconds since the epoch.
fn time(text: Option<&str>, name: &str) -> Result<i64> {
    let text = text
        .filter(|t| !t.is_empty())
        .ok_or_else(|| Error::InvalidBody {
            reason: format!("{name} is required: an RFC 3339 time such as 2024-01-01T00:00:00Z"),
        })?;
    sluice_influxql::parse_time(text).map_err(|e| Error::InvalidBody {
        reason: format!("{name} is not an RFC 3339 time: {e}"),
    })
}
