//! The InfluxDB 2.x management endpoints clients call before writing: `/api/v2/orgs` and
//! `/api/v2/buckets` (a bucket is a database; there is one organization).

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};
use std::time::Duration;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::Deserialize;
use serde_json::{Value, json};
use sluice_storage::DatabaseInfo;

use crate::auth::{Action, sha256_hex};
use crate::error::{Error, Result};
use crate::extract::{AdminJson, Caller, JsonBody, Reply, V2};
use crate::state::AppState;
use crate::time::rfc3339;

/// The id of sluice's one organization.
pub const ORG_ID: &str = "0000000000000001";

/// The organization's name when the client does not name one.
pub const ORG_NAME: &str = "sluice";

/// A bucket's id: the first 16 hex digits of the SHA-256 of its name (stable across
/// restarts and servers).
pub fn bucket_id(name: &str) -> String {
    let id = sha256_hex(name)[..16].to_owned();
    BUCKET_NAMES
        .lock()
        .expect("bucket name cache")
        .entry(id.clone())
        .or_insert_with(|| name.to_owned());
    id
}

/// The names whose [`bucket_id`] this process has computed, by id: an id is a function
/// of the name alone, so one cache serves every server in the process, and a bucket id
/// found in it needs one lookup instead of hashing every database's name.
static BUCKET_NAMES: LazyLock<Mutex<HashMap<String, String>>> = LazyLock::new(Mutex::default);

/// A bucket name as a database and a retention policy: `db/rp` names policy `rp` of
/// database `db` (as InfluxDB 1.8's v2 API does), any other name a database and its
/// default policy.
pub(crate) fn split_bucket(name: String) -> (String, Option<String>) {
    match name.split_once('/') {
        Some((db, rp)) => (db.to_owned(), Some(rp.to_owned())),
        None => (name, None),
    }
}

/// The database a v2 `bucket` parameter names: a database of that name, else the database
/// whose [`bucket_id`] it is, else the name itself (a new database, when auto-create is on).
pub(crate) fn bucket_name(state: &AppState, bucket: String) -> String {
    let storage = state.storage();
    if storage.has_database(&bucket) {
        return bucket;
    }
    let known = BUCKET_NAMES
        .lock()
        .expect("bucket name cache")
        .get(&bucket)
        .cloned();
    if let Some(name) = known.filter(|name| storage.has_database(name)) {
        return name;
    }
    storage
        .all_databases()
        .into_iter()
        .find(|d| bucket_id(&d.name) == bucket)
        .map_or(bucket, |d| d.name)
}

fn org_json(name: &str) -> Value {
    json!({
        "id": ORG_ID,
        "name": name,
        "description": "",
        "status": "active",
        "links": {
            "self": format!("/api/v2/orgs/{ORG_ID}"),
            "buckets": format!("/api/v2/buckets?org={name}"),
        },
    })
}

fn bucket_json(state: &AppState, database: &DatabaseInfo) -> Value {
    let id = bucket_id(&database.name);
    let rules: Vec<Value> = database
        .retention
        .map(|r| {
            json!({
                "type": "expire",
                "everySeconds": r.as_secs(),
                "shardGroupDurationSeconds": 0,
            })
        })
        .into_iter()
        .collect();
    let started = rfc3339(state.inner.started);
    json!({
        "id": id,
        "orgID": ORG_ID,
        "type": "user",
        "name": database.name,
        "description": "",
        "retentionRules": rules,
        "createdAt": started,
        "updatedAt": started,
        "links": {
            "self": format!("/api/v2/buckets/{id}"),
            "org": format!("/api/v2/orgs/{ORG_ID}"),
            "write": format!("/api/v2/write?org={ORG_ID}&bucket={id}"),
        },
        "labels": [],
    })
}

/// `GET /api/v2/orgs[?org=NAME]`: the one organization (under the name asked for, since
/// every org name is accepted).
pub(crate) async fn list_orgs(Caller { params, .. }: Caller<V2>) -> Reply<V2> {
    let name = params.non_empty("org").unwrap_or(ORG_NAME);
    Ok(Json(json!({
        "links": { "self": "/api/v2/orgs" },
        "orgs": [org_json(name)],
    }))
    .into_response())
}

/// `GET /api/v2/buckets[?name=][&id=]`: the databases the token may use.
pub(crate) async fn list_buckets(
    State(state): State<AppState>,
    Caller {
        params, principal, ..
    }: Caller<V2>,
) -> Reply<V2> {
    let name = params.non_empty("name");
    let id = params.non_empty("id");
    let buckets: Vec<Value> = state
        .inner
        .storage
        .all_databases()
        .iter()
        .filter(|d| name.is_none_or(|n| n == d.name))
        .filter(|d| id.is_none_or(|i| i == bucket_id(&d.name)))
        .filter(|d| principal.can(&d.name, Action::Read) || principal.can(&d.name, Action::Write))
        .map(|d| bucket_json(&state, d))
        .collect();
    Ok(Json(json!({
        "links": { "self": "/api/v2/buckets" },
        "buckets": buckets,
    }))
    .into_response())
}

/// `GET /api/v2/buckets/{id}`.
pub(crate) async fn get_bucket(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Caller { principal, .. }: Caller<V2>,
) -> Reply<V2> {
    let database = find_bucket(&state, &id)?;
    if !principal.can(&database.name, Action::Read) && !principal.can(&database.name, Action::Write)
    {
        principal.require(&database.name, Action::Read)?;
    }
    Ok(Json(bucket_json(&state, &database)).into_response())
}

fn find_bucket(state: &AppState, id: &str) -> Result<DatabaseInfo> {
    state
        .inner
        .storage
        .all_databases()
        .into_iter()
        .find(|d| bucket_id(&d.name) == id)
        .ok_or_else(|| Error::NotFound {
            what: format!("bucket {id:?}"),
        })
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CreateBucket {
    name: String,
    /// Absent or `null` (influxdb-client-go's `CreateBucketWithName` without rules sends
    /// `"retentionRules": null`): no retention.
    #[serde(default)]
    retention_rules: Option<Vec<RetentionRule>>,
}

impl JsonBody for CreateBucket {
    const WHAT: &'static str = "bucket";
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RetentionRule {
    #[serde(default)]
    every_seconds: u64,
}

/// `POST /api/v2/buckets` with `{"orgID","name","retentionRules":[{"everySeconds":N}]}`:
/// 201 and the bucket; 422 when it exists. Needs the admin token.
pub(crate) async fn create_bucket(
    State(state): State<AppState>,
    AdminJson { body: request, .. }: AdminJson<V2, CreateBucket>,
) -> Reply<V2> {
    let retention = request
        .retention_rules
        .iter()
        .flatten()
        .map(|r| r.every_seconds)
        .find(|&s| s > 0)
        .map(Duration::from_secs);
    if !state
        .inner
        .storage
        .create_database(&request.name, retention)?
    {
        let message = format!("bucket with name {} already exists", request.name);
        return Err(Error::Conflict { message }.into());
    }
    let info = DatabaseInfo {
        name: request.name,
        retention,
    };
    Ok((StatusCode::CREATED, Json(bucket_json(&state, &info))).into_response())
}

/// `DELETE /api/v2/buckets/{id}`: drops the database and its data. Needs the admin token.
pub(crate) async fn delete_bucket(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Caller { principal, .. }: Caller<V2>,
) -> Reply<V2, StatusCode> {
    principal.require_admin()?;
    let database = find_bucket(&state, &id)?;
    state.inner.storage.drop_database(&database.name).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_bucket_reads_absent_or_null_retention_rules_as_none() {
        for body in [
            r#"{"orgID":"1","name":"b"}"#,
            r#"{"orgID":"1","name":"b","retentionRules":null}"#,
        ] {
            let request: CreateBucket = serde_json::from_str(body).unwrap();
            assert_eq!(request.name, "b");
            assert!(request.retention_rules.is_none(), "{body}");
        }
        let request: CreateBucket =
            serde_json::from_str(r#"{"name":"b","retentionRules":[{"everySeconds":60}]}"#).unwrap();
        assert_eq!(request.retention_rules.unwrap()[0].every_seconds, 60);
    }
}
