//! The databases and retention policies the ingest nodes of a bucket share: a change
//! made on one node (`CREATE DATABASE`, a retention policy created, altered or dropped,
//! `DROP DATABASE`, a database created by a write) reaches every other within
//! `catalog_sync_interval`.
//!
//! # The shared record
//!
//! `_shared/databases/VERSION.json` holds every storage database (`D`, and `D/r` for a
//! retention policy of its own) with its retention and policy settings, and the names
//! of those dropped with the version that dropped them; the newest version is the
//! record. A change is made by reading the newest version `V` and creating `V + 1` only
//! if it does not exist yet (the store's create-if-absent): of two nodes changing the
//! record at once, one creates `V + 1` and the other finds it there, reads it and tries
//! again with `V + 2`. That is update-if-unchanged built from create-if-absent, which
//! every store here offers. Versions more than [`KEEP_VERSIONS`] behind the newest are
//! deleted.
//!
//! # Reconciling
//!
//! Each node keeps in its catalog the databases as of its last reconciliation and the
//! version of the record that was (`Catalog::shared`, saved and published with the
//! catalog, so a node restored on an empty disk has it too). A round compares,
//! database by database, the node's own (`local`), that copy (`synced`) and the record
//! (`shared`):
//!
//! - `local` differs from `synced`: the node changed it since; the record takes the
//!   node's version (created, changed, or dropped), except for a database the node
//!   created since its last round that the record holds already (it stays as the
//!   record has it, as creating a database that exists leaves it alone) or that a
//!   version after that round dropped (the drop was made while this node created it:
//!   the drop stands, and the node drops its copy);
//! - otherwise the node takes the record's: it creates the database, changes its
//!   retention, or drops it with its data (a database another node dropped).
//!
//! So a database dropped while a node was down is dropped there when it comes back, a
//! write that created a database on one node just before another dropped it does not
//! bring it back, and of two nodes changing one database between two rounds, the change
//! that reaches the record last wins on every node.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Instant;

use futures::TryStreamExt;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};
use serde::{Deserialize, Serialize};

use super::{Inner, claims};
use crate::catalog::{Catalog, DatabaseDef, PolicyDef};
use crate::error::{Error, Result};

/// Where the versions of the record are.
const PREFIX: &str = "_shared/databases";
/// Versions kept behind the newest.
const KEEP_VERSIONS: u64 = 10;
/// Versions after which a drop is forgotten.
const KEEP_DROPS: u64 = 1000;
/// Attempts of one round at writing the record before it waits for the next round.
const ATTEMPTS: usize = 5;

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

/// Storage databases by name.
type SharedDatabases = BTreeMap<String, SharedDatabase>;

impl SharedDatabase {
    fn of(def: &DatabaseDef) -> SharedDatabase {
        SharedDatabase {
            retention_ns: def.retention_ns,
            policy: def.policy.clone(),
            parent: def.parent.clone(),
            default_policy: def.default_policy.clone(),
        }
    }
}

/// One version of the record.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Record {
    #[serde(default)]
    databases: SharedDatabases,
    /// Storage databases dropped, with the version of the record that dropped them;
    /// forgotten [`KEEP_DROPS`] versions later.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    dropped: BTreeMap<String, u64>,
}

/// What a node holds of its last reconciliation (`Catalog::shared`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Synced {
    /// The version of the record it reconciled with (0: none yet).
    #[serde(default)]
    version: u64,
    /// Its databases as then.
    #[serde(default)]
    databases: SharedDatabases,
}

impl Synced {
    /// Counts `def`, about to be dropped as `name`, as reconciled if it was not yet, so
    /// that the next round takes its absence for this node's drop and drops it
    /// everywhere, rather than taking it back from the record.
    pub(crate) fn note_dropped(&mut self, name: &str, def: &DatabaseDef) {
        self.databases
            .entry(name.to_owned())
            .or_insert_with(|| SharedDatabase::of(def));
    }
}

/// The node's databases as shared.
fn local(catalog: &Catalog) -> SharedDatabases {
    catalog
        .databases
        .iter()
        .map(|(name, def)| (name.clone(), SharedDatabase::of(def)))
        .collect()
}

/// What one round does.
#[derive(Debug, Default, PartialEq)]
struct Plan {
    /// The record after the round.
    merged: Record,
    /// The databases the node takes from the record: `None` drops one.
    take: BTreeMap<String, Option<SharedDatabase>>,
}

/// Reconciles the node's databases with the record `shared`, version `version` (see the
/// module docs).
fn reconcile(local: &SharedDatabases, synced: &Synced, shared: &Record, version: u64) -> Plan {
    let names: BTreeSet<&String> = local
        .keys()
        .chain(synced.databases.keys())
        .chain(shared.databases.keys())
        .collect();
    let next = version + 1;
    let mut plan = Plan::default();
    plan.merged.dropped = shared
        .dropped
        .iter()
        .filter(|(_, at)| **at + KEEP_DROPS > next)
        .map(|(n, at)| (n.clone(), *at))
        .collect();
    for name in names {
        let (l, s, r) = (
            local.get(name),
            synced.databases.get(name),
            shared.databases.get(name),
        );
        let created_here = l.is_some() && s.is_none();
        let dropped_meanwhile = created_here
            && r.is_none()
            && synced.version > 0
            && shared
                .dropped
                .get(name)
                .is_some_and(|at| *at > synced.version);
        let ours = l != s && !(created_here && r.is_some()) && !dropped_meanwhile;
        let kept = if ours {
            if l.is_none() {
                plan.merged.dropped.insert(name.clone(), next);
            }
            l
        } else {
            if r != l {
                plan.take.insert(name.clone(), r.cloned());
            }
            r
        };
        if let Some(db) = kept {
            plan.merged.dropped.remove(name);
            plan.merged.databases.insert(name.clone(), db.clone());
        }
    }
    plan
}

/// When a node last reconciled.
#[derive(Debug, Default)]
pub(super) struct SyncClock {
    last: Option<Instant>,
}

/// One round on a cloud node that ingests, at most every `catalog_sync_interval`.
///
/// # Errors
/// [`Error::ObjectStore`] when the record cannot be read or written; [`Error::Io`] when
/// the catalog cannot be saved.
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
    let store = inner.store.as_ref();
    for _ in 0..ATTEMPTS {
        let (mut version, shared) = read(store).await?;
        let (before, plan) = {
            let catalog = inner.catalog.lock();
            let before = local(&catalog);
            let synced = catalog.shared.clone().unwrap_or_default();
            let plan = reconcile(&before, &synced, &shared, version);
            (before, plan)
        };
        if plan.merged != shared {
            if !write(store, version + 1, &plan.merged).await? {
                // Another node wrote that version first: read it and try again.
                continue;
            }
            version += 1;
        }
        return take(inner, &before, plan, version).await;
    }
    Ok(())
}

/// The newest version of the record and what it holds (version 0, empty, before any).
async fn read(store: &dyn ObjectStore) -> Result<(u64, Record)> {
    loop {
        let Some(version) = versions(store).await?.last().copied() else {
            return Ok((0, Record::default()));
        };
        let path = version_path(version);
        let bytes = match store.get(&path).await {
            Ok(got) => got.bytes().await?,
            // Deleted as old since the listing: a newer one is there.
            Err(object_store::Error::NotFound { .. }) => continue,
            Err(e) => return Err(e.into()),
        };
        let record =
            serde_json::from_slice(&bytes).map_err(|e| Error::Catalog(format!("{path}: {e}")))?;
        return Ok((version, record));
    }
}

/// The versions in the bucket, oldest first.
async fn versions(store: &dyn ObjectStore) -> Result<Vec<u64>> {
    let mut versions: Vec<u64> = store
        .list(Some(&ObjectPath::from(PREFIX)))
        .try_collect::<Vec<_>>()
        .await?
        .iter()
        .filter_map(|m| m.location.filename()?.strip_suffix(".json")?.parse().ok())
        .collect();
    versions.sort_unstable();
    Ok(versions)
}

fn version_path(version: u64) -> ObjectPath {
    ObjectPath::from(format!("{PREFIX}/{version:020}.json"))
}

/// Creates `version` holding `record` unless it exists (false then); deletes the
/// versions more than [`KEEP_VERSIONS`] older.
async fn write(store: &dyn ObjectStore, version: u64, record: &Record) -> Result<bool> {
    let body = serde_json::to_vec(record).map_err(|e| Error::Catalog(e.to_string()))?;
    let put = store
        .put_opts(
            &version_path(version),
            PutPayload::from(body),
            PutOptions::from(PutMode::Create),
        )
        .await;
    match put {
        Ok(_) => {}
        Err(
            object_store::Error::AlreadyExists { .. } | object_store::Error::Precondition { .. },
        ) => {
            return Ok(false);
        }
        Err(e) => return Err(e.into()),
    }
    for old in versions(store).await? {
        if old + KEEP_VERSIONS < version {
            let _ = store.delete(&version_path(old)).await;
        }
    }
    Ok(true)
}

/// Takes the databases `plan` says from the record, each only if the node did not
/// change it since the plan was made from `before`, and records the reconciled state
/// (the record's `version`).
async fn take(
    inner: &Arc<Inner>,
    before: &SharedDatabases,
    plan: Plan,
    version: u64,
) -> Result<()> {
    let mut dropped_names = Vec::new();
    {
        let mut catalog = inner.catalog.lock();
        let previous = catalog.clone();
        let now = local(&catalog);
        let mut synced = catalog.shared.clone().unwrap_or_default();
        synced.version = version;
        let mut dropped_ids = Vec::new();
        for (name, db) in &plan.take {
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
        // Every database the node holds as the record does is reconciled; one it changed
        // meanwhile keeps its former state, so the next round sees the change.
        let current = local(&catalog);
        let names: BTreeSet<String> = synced
            .databases
            .keys()
            .chain(plan.merged.databases.keys())
            .cloned()
            .collect();
        for name in names {
            let merged = plan.merged.databases.get(&name);
            if current.get(&name) == merged {
                match merged {
                    Some(db) => synced.databases.insert(name, db.clone()),
                    None => synced.databases.remove(&name),
                };
            }
        }
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
    for (name, db) in &plan.take {
        if db.is_some() {
            tracing::debug!(database = name, "took a database from the shared record");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db(days: u64) -> SharedDatabase {
        SharedDatabase {
            retention_ns: Some(days * 86_400_000_000_000),
            policy: PolicyDef::default(),
            parent: None,
            default_policy: None,
        }
    }

    fn map(entries: &[(&str, SharedDatabase)]) -> SharedDatabases {
        entries
            .iter()
            .map(|(n, d)| ((*n).to_owned(), d.clone()))
            .collect()
    }

    fn synced(version: u64, entries: &[(&str, SharedDatabase)]) -> Synced {
        Synced {
            version,
            databases: map(entries),
        }
    }

    fn record(entries: &[(&str, SharedDatabase)], dropped: &[(&str, u64)]) -> Record {
        Record {
            databases: map(entries),
            dropped: dropped.iter().map(|(n, v)| ((*n).to_owned(), *v)).collect(),
        }
    }

    #[test]
    fn a_change_of_the_node_goes_to_the_record_and_one_of_another_node_comes_from_it() {
        // The node created b and changed a's retention; another node created c.
        let plan = reconcile(
            &map(&[("a", db(2)), ("b", db(1))]),
            &synced(4, &[("a", db(1))]),
            &record(&[("a", db(1)), ("c", db(3))], &[]),
            5,
        );
        assert_eq!(
            plan.merged,
            record(&[("a", db(2)), ("b", db(1)), ("c", db(3))], &[])
        );
        assert_eq!(plan.take, BTreeMap::from([("c".to_owned(), Some(db(3)))]));
    }

    #[test]
    fn a_drop_on_either_side_reaches_the_other() {
        // The node dropped a; another node dropped b at version 5.
        let plan = reconcile(
            &map(&[("b", db(1))]),
            &synced(4, &[("a", db(1)), ("b", db(1))]),
            &record(&[("a", db(1))], &[("b", 5)]),
            5,
        );
        assert_eq!(plan.merged, record(&[], &[("a", 6), ("b", 5)]));
        assert_eq!(plan.take, BTreeMap::from([("b".to_owned(), None)]));
    }

    #[test]
    fn a_database_created_here_while_another_node_dropped_it_stays_dropped() {
        // A write created a here after the round of version 4; another node dropped a
        // at version 5, before this node read it.
        let plan = reconcile(
            &map(&[("a", db(1))]),
            &synced(4, &[]),
            &record(&[], &[("a", 5)]),
            5,
        );
        assert_eq!(plan.merged, record(&[], &[("a", 5)]));
        assert_eq!(plan.take, BTreeMap::from([("a".to_owned(), None)]));
        // Created after this node read the drop: a new database.
        let plan = reconcile(
            &map(&[("a", db(1))]),
            &synced(5, &[]),
            &record(&[], &[("a", 5)]),
            5,
        );
        assert_eq!(plan.merged, record(&[("a", db(1))], &[]));
        assert!(plan.take.is_empty());
    }

    #[test]
    fn a_node_that_never_reconciled_adds_its_databases_and_takes_the_others() {
        let plan = reconcile(
            &map(&[("a", db(1)), ("mine", db(2)), ("old", db(1))]),
            &Synced::default(),
            &record(&[("a", db(7)), ("b", db(1))], &[("old", 2)]),
            3,
        );
        // Its own a, created before it read the record, takes the record's retention;
        // a drop it never saw does not drop its own database of that name.
        assert_eq!(
            plan.merged,
            record(
                &[("a", db(7)), ("b", db(1)), ("mine", db(2)), ("old", db(1))],
                &[]
            )
        );
        assert_eq!(
            plan.take,
            BTreeMap::from([("a".to_owned(), Some(db(7))), ("b".to_owned(), Some(db(1)))])
        );
    }

    #[test]
    fn of_two_changes_of_one_database_the_one_written_last_stands() {
        // Both nodes changed a since they last reconciled; the other wrote first.
        let plan = reconcile(
            &map(&[("a", db(2))]),
            &synced(4, &[("a", db(1))]),
            &record(&[("a", db(3))], &[]),
            5,
        );
        assert_eq!(plan.merged, record(&[("a", db(2))], &[]));
        assert!(plan.take.is_empty());
    }

    #[test]
    fn nothing_changed_changes_nothing_and_old_drops_are_forgotten() {
        let all = map(&[("a", db(1))]);
        let plan = reconcile(
            &all,
            &synced(5, &[("a", db(1))]),
            &record(&[("a", db(1))], &[("x", 5)]),
            5,
        );
        assert_eq!(plan.merged, record(&[("a", db(1))], &[("x", 5)]));
        assert!(plan.take.is_empty());
        let plan = reconcile(
            &all,
            &synced(5, &[("a", db(1))]),
            &record(&[("a", db(1))], &[("x", 5)]),
            5 + KEEP_DROPS,
        );
        assert_eq!(plan.merged, record(&[("a", db(1))], &[]));
    }
}
