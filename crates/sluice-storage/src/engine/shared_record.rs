//! A record the nodes of a bucket share and each may change: named entries (the
//! databases of `shared_catalog`, the server's tokens), reconciled with each node's own.
//!
//! # Versions
//!
//! `_shared/NAME/VERSION.json` holds the entries, and the names of those removed with
//! the version that removed them; the newest version is the record. A change is made by
//! reading the newest version `V` and creating `V + 1` only if it does not exist yet
//! (the store's create-if-absent): of two nodes changing the record at once, one creates
//! `V + 1` and the other finds it there, reads it and tries again with `V + 2`. That is
//! update-if-unchanged built from create-if-absent, which every store here offers.
//! Versions more than [`KEEP_VERSIONS`] behind the newest are deleted.
//!
//! # Reconciling
//!
//! Each node keeps the version it last reconciled with and its entries as then
//! ([`SharedSynced`]). A round compares, entry by entry, the node's own (`local`), that
//! copy (`synced`) and the record (`shared`):
//!
//! - `local` differs from `synced`: the node changed it since; the record takes the
//!   node's (added, changed, or removed), except for an entry the node added since its
//!   last round that the record holds already (it stays as the record has it, as
//!   creating what exists leaves it alone) or that a version after that round removed
//!   (the removal was made while this node added it: the removal stands);
//! - otherwise the node takes the record's: it adds, changes or removes the entry.
//!
//! So what was removed while a node was down is removed there when it comes back, and
//! of two nodes changing one entry between two rounds, the change that reaches the
//! record last wins on every node.

use std::collections::{BTreeMap, BTreeSet};

use futures::TryStreamExt;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::{Inner, Storage};
use crate::error::{Error, Result};

/// Versions kept behind the newest.
const KEEP_VERSIONS: u64 = 10;
/// Versions after which a removal is forgotten.
const KEEP_REMOVALS: u64 = 1000;
/// Attempts of one round at writing the record before it waits for the next round.
const ATTEMPTS: usize = 5;

/// Entries by name.
pub type SharedEntries<T> = BTreeMap<String, T>;

/// One version of the record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(bound(deserialize = "T: DeserializeOwned"))]
struct Record<T> {
    #[serde(default = "BTreeMap::new")]
    entries: SharedEntries<T>,
    /// Entries removed, with the version of the record that removed them; forgotten
    /// [`KEEP_REMOVALS`] versions later.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    removed: BTreeMap<String, u64>,
}

impl<T> Default for Record<T> {
    fn default() -> Self {
        Record {
            entries: BTreeMap::new(),
            removed: BTreeMap::new(),
        }
    }
}

/// What a node holds of its last reconciliation with a shared record; the node saves
/// it with what it reconciles.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(bound(deserialize = "T: DeserializeOwned"))]
pub struct SharedSynced<T> {
    /// The version of the record it reconciled with (0: none yet).
    #[serde(default)]
    version: u64,
    /// Its entries as then.
    #[serde(default = "BTreeMap::new")]
    entries: SharedEntries<T>,
}

impl<T> Default for SharedSynced<T> {
    fn default() -> Self {
        SharedSynced {
            version: 0,
            entries: BTreeMap::new(),
        }
    }
}

impl<T: Clone + PartialEq> SharedSynced<T> {
    /// Counts `entry`, about to be removed as `name`, as reconciled if it was not yet,
    /// so that the next round takes its absence for this node's removal and removes it
    /// everywhere, rather than taking it back from the record.
    pub fn note_removed(&mut self, name: &str, entry: impl FnOnce() -> T) {
        self.entries.entry(name.to_owned()).or_insert_with(entry);
    }

    /// Whether the node may take what `round` says: not when another round, from a
    /// newer version of the record, settled since this one began (rounds may overlap).
    pub fn may_take(&self, round: &SharedRound<T>) -> bool {
        self.version <= round.version
    }

    /// Records a round as done, given the node's entries after it took what the round
    /// said: every entry the node holds as the record does is reconciled; one the node
    /// changed meanwhile keeps its former state, so the next round sees the change.
    pub fn settle(&mut self, round: &SharedRound<T>, now: &SharedEntries<T>) {
        self.version = round.version;
        let names: BTreeSet<String> = self
            .entries
            .keys()
            .chain(round.merged.keys())
            .cloned()
            .collect();
        for name in names {
            let merged = round.merged.get(&name);
            if now.get(&name) == merged {
                match merged {
                    Some(entry) => self.entries.insert(name, entry.clone()),
                    None => self.entries.remove(&name),
                };
            }
        }
    }
}

/// What a round of [`Storage::reconcile_shared`] did to the record and asks of the
/// node.
#[derive(Debug, Clone, PartialEq)]
pub struct SharedRound<T> {
    /// The node's entries the round started from.
    pub before: SharedEntries<T>,
    /// The record's entries after the round.
    pub merged: SharedEntries<T>,
    /// The entries the node takes from the record: `None` removes one. Take each only
    /// if the node's own is still as in `before`.
    pub take: BTreeMap<String, Option<T>>,
    /// The record's version after the round.
    pub version: u64,
}

/// What one round does to the record and asks of the node.
#[derive(Debug, PartialEq)]
struct Plan<T> {
    merged: Record<T>,
    take: BTreeMap<String, Option<T>>,
}

/// Reconciles the node's entries with the record `shared`, version `version` (see the
/// module docs).
fn reconcile<T: Clone + PartialEq>(
    local: &SharedEntries<T>,
    synced: &SharedSynced<T>,
    shared: &Record<T>,
    version: u64,
) -> Plan<T> {
    let names: BTreeSet<&String> = local
        .keys()
        .chain(synced.entries.keys())
        .chain(shared.entries.keys())
        .collect();
    let next = version + 1;
    let mut plan = Plan {
        merged: Record::default(),
        take: BTreeMap::new(),
    };
    plan.merged.removed = shared
        .removed
        .iter()
        .filter(|(_, at)| **at + KEEP_REMOVALS > next)
        .map(|(n, at)| (n.clone(), *at))
        .collect();
    for name in names {
        let (l, s, r) = (
            local.get(name),
            synced.entries.get(name),
            shared.entries.get(name),
        );
        let added_here = l.is_some() && s.is_none();
        let removed_meanwhile = added_here
            && r.is_none()
            && synced.version > 0
            && shared
                .removed
                .get(name)
                .is_some_and(|at| *at > synced.version);
        let ours = l != s && !(added_here && r.is_some()) && !removed_meanwhile;
        let kept = if ours {
            if l.is_none() {
                plan.merged.removed.insert(name.clone(), next);
            }
            l
        } else {
            if r != l {
                plan.take.insert(name.clone(), r.cloned());
            }
            r
        };
        if let Some(entry) = kept {
            plan.merged.removed.remove(name);
            plan.merged.entries.insert(name.clone(), entry.clone());
        }
    }
    plan
}

impl Storage {
    /// One round of reconciling the shared record `name` (`_shared/NAME/`) with the
    /// node's entries, which `snapshot` gives with what the node holds of its last
    /// round: the record takes the node's changes (see `shared_record`), and the
    /// returned round says what the node takes from it. `None` on a node without a
    /// cloud store (nothing to share), and when other nodes kept writing the record
    /// first (the next round tries again).
    ///
    /// # Errors
    /// [`Error::ObjectStore`] when the record cannot be read or written;
    /// [`Error::Catalog`] when it does not parse.
    pub async fn reconcile_shared<T>(
        &self,
        name: &str,
        mut snapshot: impl FnMut() -> (SharedEntries<T>, SharedSynced<T>),
    ) -> Result<Option<SharedRound<T>>>
    where
        T: Serialize + DeserializeOwned + Clone + PartialEq,
    {
        if self.inner.node.is_none() {
            return Ok(None);
        }
        let store = self.inner.store.as_ref();
        let prefix = format!("_shared/{name}");
        for _ in 0..ATTEMPTS {
            let (mut version, shared) = read::<T>(&self.inner, &prefix).await?;
            let (before, synced) = snapshot();
            if synced.version > version {
                // A round that read a newer version settled meanwhile: read again.
                continue;
            }
            let plan = reconcile(&before, &synced, &shared, version);
            if plan.merged != shared {
                if !write(store, &prefix, version + 1, &plan.merged).await? {
                    // Another node wrote that version first: read it and try again.
                    continue;
                }
                version += 1;
            }
            return Ok(Some(SharedRound {
                before,
                merged: plan.merged.entries,
                take: plan.take,
                version,
            }));
        }
        Ok(None)
    }
}

/// The newest version of the record and what it holds (version 0, empty, before any).
/// A version is read once: versions never change, so the last one read is kept.
async fn read<T: DeserializeOwned>(inner: &Inner, prefix: &str) -> Result<(u64, Record<T>)> {
    let store = inner.store.as_ref();
    loop {
        let Some(version) = versions(store, prefix).await?.last().copied() else {
            return Ok((0, Record::default()));
        };
        let path = version_path(prefix, version);
        let kept = inner
            .shared_records
            .lock()
            .get(prefix)
            .filter(|(v, _)| *v == version)
            .map(|(_, bytes)| bytes.clone());
        let bytes = match kept {
            Some(bytes) => bytes,
            None => match store.get(&path).await {
                Ok(got) => got.bytes().await?,
                // Deleted as old since the listing: a newer one is there.
                Err(object_store::Error::NotFound { .. }) => continue,
                Err(e) => return Err(e.into()),
            },
        };
        inner
            .shared_records
            .lock()
            .insert(prefix.to_owned(), (version, bytes.clone()));
        let record =
            serde_json::from_slice(&bytes).map_err(|e| Error::Catalog(format!("{path}: {e}")))?;
        return Ok((version, record));
    }
}

/// The versions in the bucket, oldest first.
async fn versions(store: &dyn ObjectStore, prefix: &str) -> Result<Vec<u64>> {
    let mut versions: Vec<u64> = store
        .list(Some(&ObjectPath::from(prefix)))
        .try_collect::<Vec<_>>()
        .await?
        .iter()
        .filter_map(|m| m.location.filename()?.strip_suffix(".json")?.parse().ok())
        .collect();
    versions.sort_unstable();
    Ok(versions)
}

fn version_path(prefix: &str, version: u64) -> ObjectPath {
    ObjectPath::from(format!("{prefix}/{version:020}.json"))
}

/// Creates `version` holding `record` unless it exists (false then); deletes the
/// versions more than [`KEEP_VERSIONS`] older.
async fn write<T: Serialize>(
    store: &dyn ObjectStore,
    prefix: &str,
    version: u64,
    record: &Record<T>,
) -> Result<bool> {
    let body = serde_json::to_vec(record).map_err(|e| Error::Catalog(e.to_string()))?;
    let put = store
        .put_opts(
            &version_path(prefix, version),
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
    for old in versions(store, prefix).await? {
        if old + KEEP_VERSIONS < version {
            let _ = store.delete(&version_path(prefix, old)).await;
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(entries: &[(&str, u32)]) -> SharedEntries<u32> {
        entries.iter().map(|(n, v)| ((*n).to_owned(), *v)).collect()
    }

    fn synced(version: u64, entries: &[(&str, u32)]) -> SharedSynced<u32> {
        SharedSynced {
            version,
            entries: map(entries),
        }
    }

    fn record(entries: &[(&str, u32)], removed: &[(&str, u64)]) -> Record<u32> {
        Record {
            entries: map(entries),
            removed: removed.iter().map(|(n, v)| ((*n).to_owned(), *v)).collect(),
        }
    }

    #[test]
    fn a_change_of_the_node_goes_to_the_record_and_one_of_another_node_comes_from_it() {
        // The node added b and changed a; another node added c.
        let plan = reconcile(
            &map(&[("a", 2), ("b", 1)]),
            &synced(4, &[("a", 1)]),
            &record(&[("a", 1), ("c", 3)], &[]),
            5,
        );
        assert_eq!(plan.merged, record(&[("a", 2), ("b", 1), ("c", 3)], &[]));
        assert_eq!(plan.take, BTreeMap::from([("c".to_owned(), Some(3))]));
    }

    #[test]
    fn a_removal_on_either_side_reaches_the_other() {
        // The node removed a; another node removed b at version 5.
        let plan = reconcile(
            &map(&[("b", 1)]),
            &synced(4, &[("a", 1), ("b", 1)]),
            &record(&[("a", 1)], &[("b", 5)]),
            5,
        );
        assert_eq!(plan.merged, record(&[], &[("a", 6), ("b", 5)]));
        assert_eq!(plan.take, BTreeMap::from([("b".to_owned(), None)]));
    }

    #[test]
    fn an_entry_added_here_while_another_node_removed_it_stays_removed() {
        // Added here after the round of version 4; another node removed it at version
        // 5, before this node read that.
        let plan = reconcile(
            &map(&[("a", 1)]),
            &synced(4, &[]),
            &record(&[], &[("a", 5)]),
            5,
        );
        assert_eq!(plan.merged, record(&[], &[("a", 5)]));
        assert_eq!(plan.take, BTreeMap::from([("a".to_owned(), None)]));
        // Added after this node read the removal: a new entry.
        let plan = reconcile(
            &map(&[("a", 1)]),
            &synced(5, &[]),
            &record(&[], &[("a", 5)]),
            5,
        );
        assert_eq!(plan.merged, record(&[("a", 1)], &[]));
        assert!(plan.take.is_empty());
    }

    #[test]
    fn a_node_that_never_reconciled_adds_its_entries_and_takes_the_others() {
        let plan = reconcile(
            &map(&[("a", 1), ("mine", 2), ("old", 1)]),
            &SharedSynced::default(),
            &record(&[("a", 7), ("b", 1)], &[("old", 2)]),
            3,
        );
        // Its own a, added before it read the record, takes the record's; a removal it
        // never saw does not remove its own entry of that name.
        assert_eq!(
            plan.merged,
            record(&[("a", 7), ("b", 1), ("mine", 2), ("old", 1)], &[])
        );
        assert_eq!(
            plan.take,
            BTreeMap::from([("a".to_owned(), Some(7)), ("b".to_owned(), Some(1))])
        );
    }

    #[test]
    fn of_two_changes_of_one_entry_the_one_written_last_stands() {
        // Both nodes changed a since they last reconciled; the other wrote first.
        let plan = reconcile(
            &map(&[("a", 2)]),
            &synced(4, &[("a", 1)]),
            &record(&[("a", 3)], &[]),
            5,
        );
        assert_eq!(plan.merged, record(&[("a", 2)], &[]));
        assert!(plan.take.is_empty());
    }

    #[test]
    fn nothing_changed_changes_nothing_and_old_removals_are_forgotten() {
        let all = map(&[("a", 1)]);
        let plan = reconcile(
            &all,
            &synced(5, &[("a", 1)]),
            &record(&[("a", 1)], &[("x", 5)]),
            5,
        );
        assert_eq!(plan.merged, record(&[("a", 1)], &[("x", 5)]));
        assert!(plan.take.is_empty());
        let plan = reconcile(
            &all,
            &synced(5, &[("a", 1)]),
            &record(&[("a", 1)], &[("x", 5)]),
            5 + KEEP_REMOVALS,
        );
        assert_eq!(plan.merged, record(&[("a", 1)], &[]));
    }

    #[test]
    fn settling_keeps_a_change_made_during_the_round_for_the_next() {
        let mut s = synced(4, &[("a", 1)]);
        let round = SharedRound {
            before: map(&[("a", 1)]),
            merged: map(&[("a", 1), ("b", 2)]),
            take: BTreeMap::from([("b".to_owned(), Some(2))]),
            version: 5,
        };
        // a changed on the node during the round; b was taken.
        s.settle(&round, &map(&[("a", 9), ("b", 2)]));
        assert_eq!(s, synced(5, &[("a", 1), ("b", 2)]));
    }
}
