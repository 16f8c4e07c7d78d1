//! The databases and retention policies the ingest nodes of a bucket share: a change
//! made on one node (`CREATE DATABASE`, a retention policy created, altered or dropped,
//! `DROP DATABASE`, a database created by a write) reaches every other within
//! `catalog_sync_interval`.
//!
//! # The shared record
//!
//! `_shared/databases/VERSION.json` holds every storage database (`D`, and `D/r` for a
//! retention policy of its own) with its retention and policy settings, and the names
//! of those dropped with the version that dropped them. How a node changes it (create
//! the next version if absent: update-if-unchanged built from create-if-absent) and
//! reconciles with it is `shared_record`'s: each node keeps the record's version it last
//! reconciled with and its databases as then (`Catalog::shared`, saved and published
//! with the catalog, so a node restored on an empty disk has it too); what it changed
//! since goes to the record, what others changed it takes: it creates a database,
//! changes its retention, or drops it with its data.
//!
//! So a database dropped while a node was down is dropped there when it comes back, a
//! write that created a database on one node just before another dropped it does not
//! bring it back, a database created on two nodes keeps the settings of the first to
//! reach the record, and of two nodes changing one database between two rounds, the
//! change that reaches the record last wins on every node.

use std::sync::Arc;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::shared_record::{SharedEntries, SharedRound, SharedSynced};
use super::{Inner, Storage, claims};
use crate::catalog::{Catalog, DatabaseDef, PolicyDef};
use crate::error::Result;

/// One storage database as the nodes share it: everything of its definition but its
/// node-local id and its tables (the tables' columns are shared by claims).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SharedDatabase {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    retention_ns: Option<u64>,
    policy: PolicyDef,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    parent: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    default_policy: Option<String>,
}

impl SharedDatabase {
    pub(crate) fn of(def: &DatabaseDef) -> SharedDatabase {
        SharedDatabase {
            retention_ns: def.retention_ns,
            policy: def.policy.clone(),
            parent: def.parent.clone(),
            default_policy: def.default_policy.clone(),
        }
    }
}

/// What a node holds of its last reconciliation of databases (`Catalog::shared`).
pub(crate) type Synced = SharedSynced<SharedDatabase>;

/// The node's databases as shared.
fn local(catalog: &Catalog) -> SharedEntries<SharedDatabase> {
    catalog
        .databases
        .iter()
        .map(|(name, def)| (name.clone(), SharedDatabase::of(def)))
        .collect()
}

/// When a node last reconciled.
#[derive(Debug, Default)]
pub(super) struct SyncClock {
    last: Option<Instant>,
}

/// One round on a cloud node that ingests, at most every `catalog_sync_interval`.
///
/// # Errors
/// [`crate::Error::ObjectStore`] when the record cannot be read or written;
/// [`crate::Error::Io`] when the catalog cannot be saved.
pub(super) async fn sync(inner: &Arc<Inner>, clock: &mut SyncClock) -> Result<()> {
    if inner.node.is_none() || !inner.config.modes.ingest {
        return Ok(());
    }
    let now = Instant::now();
    if clock
        .last
        .is_some_and(|t| now.duration_since(t) < inner.config.catalog_sync_interval)
    {
        return Ok(());
    }
    clock.last = Some(now);
    let storage = Storage {
        inner: inner.clone(),
    };
    let round = storage
        .reconcile_shared("databases", || {
            let catalog = inner.catalog.lock();
            (local(&catalog), catalog.shared.clone().unwrap_or_default())
        })
        .await?;
    match round {
        Some(round) => take(inner, round).await,
        None => Ok(()),
    }
}

/// Takes the databases `round` says from the record, each only if the node did not
/// change it since the round began, and records the reconciled state.
async fn take(inner: &Arc<Inner>, round: SharedRound<SharedDatabase>) -> Result<()> {
    let SharedRound { before, take, .. } = &round;
    let mut dropped_names = Vec::new();
    {
        let mut catalog = inner.catalog.lock();
        let previous = catalog.clone();
        let now = local(&catalog);
        let mut synced = catalog.shared.clone().unwrap_or_default();
        if !synced.may_take(&round) {
            return Ok(());
        }
        let mut dropped_ids = Vec::new();
        for (name, db) in take {
            if now.get(name) != before.get(name) {
                // Changed by the node meanwhile: the next round pushes it.
                continue;
            }
            match db {
                None => {
                    dropped_ids.extend(catalog.drop_storage(name));
                    dropped_names.push(name.clone());
                }
                Some(db) => {
                    catalog.create_storage(name, None, db.policy.clone(), db.parent.clone());
                    let def = catalog.databases.get_mut(name).expect("created or present");
                    def.retention_ns = db.retention_ns;
                    def.policy = db.policy.clone();
                    def.parent = db.parent.clone();
                    def.default_policy = db.default_policy.clone();
                }
            }
        }
        synced.settle(&round, &local(&catalog));
        catalog.shared = Some(synced);
        if *catalog != previous {
            if let Err(e) = inner.save_catalog(&catalog) {
                *catalog = previous;
                return Err(e);
            }
            if !dropped_ids.is_empty() {
                super::Storage {
                    inner: inner.clone(),
                }
                .drop_data(&dropped_ids)?;
            }
        }
    }
    for name in &dropped_names {
        tracing::info!(database = name, "dropped a database another node dropped");
        claims::forget(inner, name, None).await;
    }
    for (name, db) in take {
        if db.is_some() {
            tracing::debug!(database = name, "took a database from the shared record");
        }
    }
    Ok(())
}
