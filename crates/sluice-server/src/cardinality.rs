//! `GET /api/v3/cardinality`: which tables, tag keys and tag values of a database make
//! the most series (what vmui's cardinality explorer shows for VictoriaMetrics), counted
//! by the storage engine from its series lists, not by queries over rows.

use axum::Json;
use axum::extract::State;
use axum::response::IntoResponse;
use serde_json::json;
use sluice_storage::CardinalityRequest;

use crate::auth::Action;
use crate::error::Error;
use crate::extract::{Caller, Reply, V3};
use crate::state::AppState;

/// Entries per ranking when `limit` is not given.
const DEFAULT_LIMIT: usize = 10;
/// The largest `limit` accepted.
const MAX_LIMIT: usize = 1000;
/// Most distinct series one request counts (its memory grows with them); past it the
/// answer says `"truncated":true`.
pub(crate) const MAX_SERIES: usize = 1_000_000;

/// `GET /api/v3/cardinality?db=&table=&limit=`: the top `limit` tables by series, tag keys
/// by distinct values and tag values by series of database `db` (only `table` when
/// given). Needs `read` on the database.
pub(crate) async fn handle(
    State(state): State<AppState>,
    Caller {
        params, principal, ..
    }: Caller<V3>,
) -> Reply<V3> {
    let db = params
        .non_empty("db")
        .ok_or(Error::MissingParameter { name: "db" })?;
    principal.require(db, Action::Read)?;
    let limit = match params.non_empty("limit") {
        None => DEFAULT_LIMIT,
        Some(v) => v
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_LIMIT).contains(n))
            .ok_or_else(|| Error::InvalidParameter {
                name: "limit",
                reason: format!("expected an integer from 1 to {MAX_LIMIT}, got {v:?}"),
            })?,
    };
    let table = params.non_empty("table").map(str::to_owned);
    let request = CardinalityRequest {
        table: table.clone(),
        limit,
        max_series: MAX_SERIES,
    };
    let counted = state.inner.storage.cardinality(db, &request).await?;
    let tables: Vec<_> = counted
        .tables
        .iter()
        .map(|t| json!({ "table": t.table, "series": t.series }))
        .collect();
    let keys: Vec<_> = counted
        .tag_keys
        .iter()
        .map(|k| json!({ "table": k.table, "key": k.key, "values": k.values, "series": k.series }))
        .collect();
    let values: Vec<_> = counted
        .tag_values
        .iter()
        .map(|v| json!({ "table": v.table, "key": v.key, "value": v.value, "series": v.series }))
        .collect();
    Ok(Json(json!({
        "database": db,
        "table": table,
        "limit": limit,
        "series": counted.series,
        "truncated": counted.truncated,
        "max_series": MAX_SERIES,
        "tables": tables,
        "tag_keys": keys,
        "tag_values": values,
    }))
    .into_response())
}
