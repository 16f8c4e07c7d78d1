//! Column types agreed on through the bucket: the nodes that ingest into one bucket give
//! a column one type, the type of the first node to claim it, so that two nodes racing a
//! field with different types end with one winner and the other's lines rejected, each
//! with the usual type-conflict error, instead of both acknowledging rows that queries
//! over both nodes would then read as null.
//!
//! ```text
//!   write on n2: `cpu v=1.5` — v is new to n2's catalog and not claimed in its memory
//!     PUT _shared/columns/db/cpu/v  If-None-Match: *  {"column_type":{"field":"float"},"node_id":"n2"}
//!       created         → v is a float (n2's claim)
//!       already exists  → GET it: {"column_type":{"field":"integer"},"node_id":"n1"}
//!                         → v is an integer: n2 rejects `v=1.5` as a field type conflict
//! ```
//!
//! A claim is only created, never changed (create-if-absent, the one conditional write
//! every store here offers), so every node reads the same type for a column forever. A
//! node remembers the claims it made or read (`Catalog::claims`), and a column in its
//! catalog needs no claim; so the bucket is asked once per column a node adds, and a
//! write that adds none costs nothing. The claims are asked for before the lines that
//! add the columns are validated ([`crate::catalog::Catalog::validate_chunk`] stops at
//! the first such line), so lines keep their order.
//!
//! A node that drops a table or database removes its claims ([`forget`]), so a table
//! created again there may type its columns anew (other nodes keep the types their
//! catalogs hold). Columns a node created before it claimed columns (older versions)
//! are not claimed until another node adds them.

use futures::TryStreamExt as _;
use futures::future::try_join_all;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};
use serde::{Deserialize, Serialize};

use super::Inner;
use crate::batch::ColumnType;
use crate::catalog::NewColumn;
use crate::error::{Error, Result};

/// The first part of the bucket's shared objects (node ids never start with `_`).
const SHARED: &str = "_shared";

/// How long a client is asked to wait when the bucket cannot be asked.
const RETRY_AFTER: std::time::Duration = std::time::Duration::from_secs(5);

/// One claim, as kept in the bucket.
#[derive(Debug, Serialize, Deserialize)]
struct Claim {
    column_type: ColumnType,
    /// The node that claimed it (for people reading the bucket).
    node_id: String,
}

/// Where the claim of `column` of `db` is kept.
fn claim_path(db: &str, column: &NewColumn) -> ObjectPath {
    ObjectPath::from_iter([SHARED, "columns", db, &column.table, &column.column])
}

/// Claims `columns` of database `db` in the bucket, all at once; each comes back with
/// the type claimed first (its own, unless another node's claim was there).
///
/// # Errors
/// [`Error::ClaimUnavailable`] when the bucket fails a request; [`Error::Catalog`] when
/// a claim there cannot be read.
pub(super) async fn claim(
    inner: &Inner,
    db: &str,
    columns: Vec<NewColumn>,
) -> Result<Vec<NewColumn>> {
    let node_id = inner
        .node
        .as_ref()
        .map_or("", |n| n.prefix.trim_end_matches('/'));
    let store = inner.store.as_ref();
    try_join_all(
        columns
            .into_iter()
            .map(|column| claim_one(store, node_id, db, column)),
    )
    .await
}

async fn claim_one(
    store: &dyn ObjectStore,
    node_id: &str,
    db: &str,
    column: NewColumn,
) -> Result<NewColumn> {
    let path = claim_path(db, &column);
    let unavailable = |source| Error::ClaimUnavailable {
        table: column.table.clone(),
        column: column.column.clone(),
        source: Box::new(source),
        retry_after: RETRY_AFTER,
    };
    let body = serde_json::to_vec(&Claim {
        column_type: column.kind,
        node_id: node_id.to_owned(),
    })
    .map_err(|e| Error::Catalog(e.to_string()))?;
    let created = store
        .put_opts(
            &path,
            PutPayload::from(body),
            PutOptions::from(PutMode::Create),
        )
        .await;
    match created {
        Ok(_) => Ok(column),
        Err(object_store::Error::AlreadyExists { .. }) => {
            let bytes = async { store.get(&path).await?.bytes().await }
                .await
                .map_err(unavailable)?;
            let claim: Claim = serde_json::from_slice(&bytes)
                .map_err(|e| Error::Catalog(format!("the claim {path} cannot be read: {e}")))?;
            if claim.column_type != column.kind {
                tracing::info!(
                    table = %column.table,
                    column = %column.column,
                    claimed_by = %claim.node_id,
                    "a new column was claimed with another type by another node: its lines \
                     of this type are rejected"
                );
            }
            Ok(NewColumn {
                kind: claim.column_type,
                ..column
            })
        }
        Err(e) => Err(unavailable(e)),
    }
}

/// Forgets the claims of table `table` of `db` (of every table of `db` when `None`),
/// in memory and in the bucket, after the node dropped it; nothing on a node that claims
/// no columns. Best effort in the bucket: a claim left behind keeps its type, which is
/// logged.
pub(super) async fn forget(inner: &Inner, db: &str, table: Option<&str>) {
    match &mut inner.catalog.lock().claims {
        Some(claims) => claims.forget(db, table),
        None => return,
    }
    let mut parts = vec![SHARED, "columns", db];
    parts.extend(table);
    let prefix = ObjectPath::from_iter(parts);
    let store = inner.store.as_ref();
    let forgotten = async {
        let claims: Vec<ObjectPath> = store
            .list(Some(&prefix))
            .map_ok(|meta| meta.location)
            .try_collect()
            .await?;
        for path in &claims {
            store.delete(path).await?;
        }
        Ok::<_, object_store::Error>(())
    };
    if let Err(e) = forgotten.await {
        tracing::warn!(
            database = db,
            table,
            "the claims of a dropped table or database could not be removed from the \
             bucket; created again, its columns keep their former types: {e}"
        );
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use object_store::memory::InMemory;
    use sluice_lp::FieldType;

    use super::*;

    fn column(name: &str, kind: ColumnType) -> NewColumn {
        NewColumn {
            table: "cpu/a b".to_owned(),
            column: name.to_owned(),
            kind,
        }
    }

    #[tokio::test]
    async fn the_first_claim_of_a_column_wins_and_later_ones_read_it() {
        let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
        let float = ColumnType::Field(FieldType::Float);
        let integer = ColumnType::Field(FieldType::Integer);
        let first = claim_one(store.as_ref(), "n1", "db", column("v", integer))
            .await
            .unwrap();
        assert_eq!(first.kind, integer);
        let second = claim_one(store.as_ref(), "n2", "db", column("v", float))
            .await
            .unwrap();
        assert_eq!(second.kind, integer, "n1 claimed it first");
        let tag = claim_one(store.as_ref(), "n2", "db", column("host", ColumnType::Tag))
            .await
            .unwrap();
        assert_eq!(tag.kind, ColumnType::Tag);
        // Another database's column of the same name is another claim.
        let other = claim_one(store.as_ref(), "n2", "db2", column("v", float))
            .await
            .unwrap();
        assert_eq!(other.kind, float);
        // Names with '/' and spaces stay one path part each.
        let path = claim_path("db", &column("v", float));
        assert_eq!(path.parts().count(), 5, "{path}");
    }

    #[tokio::test]
    async fn a_forgotten_table_can_be_claimed_anew_and_other_databases_keep_theirs() {
        let dir = tempfile::tempdir().unwrap();
        let storage = crate::Storage::open(crate::StorageConfig {
            data_dir: dir.path().to_owned(),
            object_store: crate::ObjectStoreConfig::Memory,
            ..crate::StorageConfig::default()
        })
        .await
        .unwrap();
        let inner = &storage.inner;
        // A node sharing its bucket claims columns (this one keeps its files in memory).
        inner.catalog.lock().claims = Some(crate::catalog::Claims::default());
        let store = inner.store.as_ref();
        let integer = ColumnType::Field(FieldType::Integer);
        let float = ColumnType::Field(FieldType::Float);
        for db in ["db", "db2"] {
            claim_one(store, "n1", db, column("v", integer))
                .await
                .unwrap();
        }
        forget(inner, "db", Some("cpu/a b")).await;
        let again = claim_one(store, "n1", "db", column("v", float))
            .await
            .unwrap();
        assert_eq!(again.kind, float);
        let kept = claim_one(store, "n1", "db2", column("v", float))
            .await
            .unwrap();
        assert_eq!(kept.kind, integer);
        forget(inner, "db2", None).await;
        let again = claim_one(store, "n1", "db2", column("v", float))
            .await
            .unwrap();
        assert_eq!(again.kind, float);
        storage.shutdown().await.unwrap();
    }
}
