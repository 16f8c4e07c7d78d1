//! Retention policies (InfluxDB 1.x): each policy of a database is a storage database of
//! its own, so it has its own tables, partitions and expiry.
//!
//! ```text
//!  database d ── policy autogen (the one d was created with) ──> storage database "d"
//!            ├── policy week                                 ──> storage database "d/week"
//!            └── policy year                                 ──> storage database "d/year"
//! ```
//!
//! `d/r` is InfluxDB 2's name for the bucket of database `d`, policy `r`; names users
//! give cannot hold `/`, so it never clashes with a database. The policy a database was
//! created with goes only with the database. The catalog records each policy's settings
//! in its storage database's entry and the default policy in the database's entry, so
//! policies are saved atomically with databases.

use std::time::Duration;

use crate::catalog::{Catalog, DatabaseDef, PolicyDef, directory_name_problem, duration_ns};
use crate::error::{Error, Result};
use crate::types::{RetentionPolicyInfo, RetentionPolicySpec, RetentionPolicyUpdate};

/// The shortest retention policy duration InfluxDB 1.x accepts (zero, forever, aside).
const MIN_DURATION: Duration = Duration::from_secs(3600);

const HOUR: Duration = Duration::from_secs(3600);
const DAY: Duration = Duration::from_secs(86_400);

/// The storage database holding policy `rp` of database `db` (not the one `db` was
/// created with, which is stored in `db`).
pub(crate) fn storage_name(db: &str, rp: &str) -> String {
    format!("{db}/{rp}")
}

/// The shard group duration InfluxDB 1.x gives a policy of `duration` (`None`: forever)
/// when none is asked for.
pub(crate) fn default_shard_group_duration(duration: Option<Duration>) -> Duration {
    match duration {
        None => 7 * DAY,
        Some(d) if d >= 180 * DAY => 7 * DAY,
        Some(d) if d >= 2 * DAY => DAY,
        Some(_) => HOUR,
    }
}

/// The shard group duration to store: asked for (at least an hour) or the default.
fn shard_group_duration(asked: Option<Duration>, duration: Option<Duration>) -> Duration {
    match asked {
        None | Some(Duration::ZERO) => default_shard_group_duration(duration),
        Some(d) => d.max(MIN_DURATION),
    }
}

/// Checks a policy's durations as InfluxDB 1.x does.
fn check_durations(duration: Option<Duration>, shard: Duration) -> Result<()> {
    if let Some(d) = duration {
        if d < MIN_DURATION {
            return Err(Error::RetentionPolicyDurationTooLow { duration: d });
        }
        if d < shard {
            return Err(Error::IncompatibleDurations {
                duration: d,
                shard_group_duration: shard,
            });
        }
    }
    Ok(())
}

/// Checks a policy name: 1 to 255 bytes, printable, no `/` or `\`, not `.`/`..`.
pub(crate) fn check_policy_name(name: &str) -> Result<()> {
    let reason = if name.contains(['/', '\\']) {
        Some("contains '/' or '\\'")
    } else {
        directory_name_problem(name)
    };
    match reason {
        None => Ok(()),
        Some(reason) => Err(Error::InvalidRetentionPolicyName {
            name: name.to_owned(),
            reason,
        }),
    }
}

impl DatabaseDef {
    fn shard_group_duration(&self) -> Duration {
        self.policy.shard_group_duration_ns.map_or_else(
            || default_shard_group_duration(self.retention()),
            Duration::from_nanos,
        )
    }

    /// The name of the database's default policy (for a database users name).
    fn default_policy_name(&self) -> &str {
        self.default_policy.as_deref().unwrap_or(&self.policy.name)
    }
}

impl Catalog {
    /// A database users name (not the storage of a policy).
    fn user_database(&self, db: &str) -> Result<&DatabaseDef> {
        self.databases
            .get(db)
            .filter(|d| d.parent.is_none())
            .ok_or_else(|| Error::DatabaseNotFound {
                name: db.to_owned(),
            })
    }

    /// The storage database of policy `rp` of `db`, `None` when `db` has no such policy.
    fn find_policy(&self, db: &str, rp: &str) -> Result<Option<String>> {
        let def = self.user_database(db)?;
        if def.policy.name == rp {
            return Ok(Some(db.to_owned()));
        }
        let name = storage_name(db, rp);
        Ok(self
            .databases
            .get(&name)
            .is_some_and(|d| d.parent.as_deref() == Some(db))
            .then_some(name))
    }

    /// The storage database of policy `rp` of `db` (`None`: the default policy).
    pub(crate) fn policy_database(&self, db: &str, rp: Option<&str>) -> Result<String> {
        let rp = match rp {
            Some(rp) => rp,
            None => self.user_database(db)?.default_policy_name(),
        };
        self.find_policy(db, rp)?
            .ok_or_else(|| Error::RetentionPolicyNotFound {
                name: rp.to_owned(),
            })
    }

    /// The policies of `db` in the order they were created.
    pub(crate) fn retention_policies(&self, db: &str) -> Result<Vec<RetentionPolicyInfo>> {
        let def = self.user_database(db)?;
        let default = def.default_policy_name();
        let mut storages: Vec<(&String, &DatabaseDef)> = self
            .databases
            .iter()
            .filter(|(name, d)| *name == db || d.parent.as_deref() == Some(db))
            .collect();
        storages.sort_by_key(|(_, d)| d.id);
        Ok(storages
            .into_iter()
            .map(|(name, d)| RetentionPolicyInfo {
                name: d.policy.name.clone(),
                duration: d.retention(),
                shard_group_duration: d.shard_group_duration(),
                replication: d.policy.replication,
                default: d.policy.name == default,
                storage_database: name.clone(),
            })
            .collect())
    }

    /// The storage databases of `db`'s policies other than its own.
    pub(crate) fn policy_storages(&self, db: &str) -> Vec<String> {
        self.databases
            .iter()
            .filter(|(_, d)| d.parent.as_deref() == Some(db))
            .map(|(name, _)| name.clone())
            .collect()
    }

    /// Creates a database whose own policy is `rp` with `spec`; false when the database
    /// exists (and is left alone).
    pub(crate) fn create_database_with_policy(
        &mut self,
        db: &str,
        rp: &str,
        spec: &RetentionPolicySpec,
    ) -> Result<bool> {
        check_policy_name(rp)?;
        let shard = shard_group_duration(spec.shard_group_duration, spec.duration);
        check_durations(spec.duration, shard)?;
        let policy = PolicyDef {
            name: rp.to_owned(),
            shard_group_duration_ns: Some(duration_ns(shard)),
            replication: spec.replication,
        };
        Ok(self.create_storage(db, spec.duration, policy, None))
    }

    /// Creates policy `rp` of `db`. Creating one that exists with the same settings does
    /// nothing (as InfluxDB 1.x), unless it asks to become the default and is not.
    pub(crate) fn create_policy(
        &mut self,
        db: &str,
        rp: &str,
        spec: &RetentionPolicySpec,
        make_default: bool,
    ) -> Result<()> {
        check_policy_name(rp)?;
        let shard = shard_group_duration(spec.shard_group_duration, spec.duration);
        check_durations(spec.duration, shard)?;
        if let Some(existing) = self.find_policy(db, rp)? {
            let def = &self.databases[&existing];
            if def.retention() != spec.duration
                || def.shard_group_duration() != shard
                || def.policy.replication != spec.replication
            {
                return Err(Error::RetentionPolicyExists {
                    name: rp.to_owned(),
                });
            }
            if make_default && self.user_database(db)?.default_policy_name() != rp {
                return Err(Error::RetentionPolicyConflict {
                    name: rp.to_owned(),
                });
            }
            return Ok(());
        }
        let policy = PolicyDef {
            name: rp.to_owned(),
            shard_group_duration_ns: Some(duration_ns(shard)),
            replication: spec.replication,
        };
        self.create_storage(
            &storage_name(db, rp),
            spec.duration,
            policy,
            Some(db.to_owned()),
        );
        if make_default {
            self.set_default_policy(db, rp);
        }
        Ok(())
    }

    /// Changes the settings of policy `rp` of `db`.
    pub(crate) fn alter_policy(
        &mut self,
        db: &str,
        rp: &str,
        update: &RetentionPolicyUpdate,
    ) -> Result<()> {
        let storage = self
            .find_policy(db, rp)?
            .ok_or_else(|| Error::RetentionPolicyNotFound {
                name: rp.to_owned(),
            })?;
        let def = &self.databases[&storage];
        let duration = update.duration.unwrap_or_else(|| def.retention());
        let shard = match update.shard_group_duration {
            Some(asked) => shard_group_duration(Some(asked), duration),
            None => def.shard_group_duration(),
        };
        check_durations(duration, shard)?;
        let def = self.databases.get_mut(&storage).expect("policy exists");
        def.retention_ns = duration.map(duration_ns);
        def.policy.shard_group_duration_ns = Some(duration_ns(shard));
        if let Some(n) = update.replication {
            def.policy.replication = n;
        }
        if update.make_default {
            self.set_default_policy(db, rp);
        }
        Ok(())
    }

    /// Makes `rp` (which exists) the default policy of `db`.
    fn set_default_policy(&mut self, db: &str, rp: &str) {
        let def = self.databases.get_mut(db).expect("database exists");
        def.default_policy = (def.policy.name != rp).then(|| rp.to_owned());
    }

    /// Removes policy `rp` of `db` from the catalog, returning its storage database's
    /// id; `None` when there is no such policy. When it was the default, the policy the
    /// database was created with becomes the default again.
    ///
    /// # Errors
    /// [`Error::DatabaseNotFound`]; [`Error::DatabasePolicy`] for the policy the
    /// database was created with.
    pub(crate) fn drop_policy(&mut self, db: &str, rp: &str) -> Result<Option<u32>> {
        let Some(storage) = self.find_policy(db, rp)? else {
            return Ok(None);
        };
        if storage == db {
            return Err(Error::DatabasePolicy {
                database: db.to_owned(),
                name: rp.to_owned(),
            });
        }
        let removed = self.databases.remove(&storage).expect("policy exists");
        let parent = self.databases.get_mut(db).expect("database exists");
        if parent.default_policy.as_deref() == Some(rp) {
            parent.default_policy = None;
        }
        Ok(Some(removed.id))
    }

    /// Removes storage database `name` from the catalog with everything it holds: a
    /// database's policies, or, for a policy's storage (`D/r`), the policy (no longer
    /// the default of `D`). Returns the ids of the storage databases removed.
    pub(crate) fn drop_storage(&mut self, name: &str) -> Vec<u32> {
        let Some(def) = self.databases.remove(name) else {
            return Vec::new();
        };
        self.note_shared(name, &def);
        let mut ids = vec![def.id];
        match &def.parent {
            Some(parent) => {
                if let Some(p) = self.databases.get_mut(parent)
                    && p.default_policy.as_deref() == Some(def.policy.name.as_str())
                {
                    p.default_policy = None;
                }
            }
            None => {
                for child in self.policy_storages(name) {
                    if let Some(d) = self.databases.remove(&child) {
                        self.note_shared(&child, &d);
                        ids.push(d.id);
                    }
                }
            }
        }
        ids
    }

    /// On a node sharing its databases (`engine/shared_catalog.rs`): notes a storage
    /// database about to be dropped (see `SharedSynced::note_removed`).
    fn note_shared(&mut self, name: &str, def: &DatabaseDef) {
        if let Some(shared) = &mut self.shared {
            shared.note_removed(name, || crate::engine::SharedDatabase::of(def));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(hours: u64) -> RetentionPolicySpec {
        RetentionPolicySpec {
            duration: Some(Duration::from_secs(hours * 3600)),
            ..RetentionPolicySpec::default()
        }
    }

    #[test]
    fn shard_group_durations_default_as_influxdb_computes_them() {
        let cases = [
            (None, 7 * DAY),
            (Some(HOUR), HOUR),
            (Some(47 * HOUR), HOUR),
            (Some(2 * DAY), DAY),
            (Some(179 * DAY), DAY),
            (Some(180 * DAY), 7 * DAY),
        ];
        for (duration, shard) in cases {
            assert_eq!(
                default_shard_group_duration(duration),
                shard,
                "{duration:?}"
            );
        }
        assert_eq!(
            shard_group_duration(Some(Duration::from_secs(60)), None),
            HOUR
        );
    }

    #[test]
    fn policies_resolve_to_their_storage_databases() {
        let mut cat = Catalog::new();
        cat.create_database("d", None);
        cat.create_policy("d", "week", &spec(168), false).unwrap();
        assert_eq!(cat.policy_database("d", None).unwrap(), "d");
        assert_eq!(cat.policy_database("d", Some("autogen")).unwrap(), "d");
        assert_eq!(cat.policy_database("d", Some("week")).unwrap(), "d/week");
        assert_eq!(
            cat.policy_database("d", Some("nope"))
                .unwrap_err()
                .to_string(),
            "retention policy not found: nope"
        );
        assert!(matches!(
            cat.policy_database("d/week", None),
            Err(Error::DatabaseNotFound { .. })
        ));
        let names: Vec<String> = cat.databases(false).into_iter().map(|d| d.name).collect();
        assert_eq!(names, ["d"]);
        assert_eq!(cat.databases(true).len(), 2);
    }

    #[test]
    fn creating_checks_durations_and_existing_settings() {
        let mut cat = Catalog::new();
        cat.create_database("d", None);
        let err = |r: Result<()>| r.unwrap_err().to_string();
        assert_eq!(
            err(cat.create_policy(
                "d",
                "r",
                &RetentionPolicySpec {
                    duration: Some(Duration::from_secs(30 * 60)),
                    ..RetentionPolicySpec::default()
                },
                false
            )),
            "retention policy duration must be at least 1h0m0s"
        );
        let mut short = spec(3);
        short.shard_group_duration = Some(4 * HOUR);
        assert_eq!(
            err(cat.create_policy("d", "r", &short, false)),
            "retention policy duration must be greater than the shard duration"
        );
        cat.create_policy("d", "r", &spec(2), false).unwrap();
        cat.create_policy("d", "r", &spec(2), false).unwrap();
        assert_eq!(
            err(cat.create_policy("d", "r", &spec(3), false)),
            "retention policy already exists"
        );
        assert_eq!(
            err(cat.create_policy("d", "r", &spec(2), true)),
            "retention policy conflicts with an existing policy"
        );
        assert!(matches!(
            cat.create_policy("d", "a/b", &spec(2), false),
            Err(Error::InvalidRetentionPolicyName { .. })
        ));
        assert!(matches!(
            cat.create_policy("nope", "r", &spec(2), false),
            Err(Error::DatabaseNotFound { .. })
        ));
    }

    #[test]
    fn default_moves_with_create_alter_and_drop() {
        let mut cat = Catalog::new();
        cat.create_database("d", None);
        cat.create_policy("d", "r", &spec(2), true).unwrap();
        assert_eq!(cat.policy_database("d", None).unwrap(), "d/r");
        let update = RetentionPolicyUpdate {
            make_default: true,
            ..RetentionPolicyUpdate::default()
        };
        cat.alter_policy("d", "autogen", &update).unwrap();
        assert_eq!(cat.policy_database("d", None).unwrap(), "d");
        cat.alter_policy("d", "r", &update).unwrap();
        assert_eq!(cat.drop_policy("d", "r").unwrap(), Some(2));
        assert_eq!(cat.policy_database("d", None).unwrap(), "d");
        assert_eq!(cat.drop_policy("d", "r").unwrap(), None);
        assert!(matches!(
            cat.drop_policy("d", "autogen"),
            Err(Error::DatabasePolicy { .. })
        ));
    }

    #[test]
    fn altering_keeps_the_shard_group_duration_unless_asked() {
        let mut cat = Catalog::new();
        cat.create_database("d", None);
        let shorter = RetentionPolicyUpdate {
            duration: Some(Some(HOUR)),
            ..RetentionPolicyUpdate::default()
        };
        // autogen keeps data forever in 7-day shard groups: one hour is shorter.
        assert!(matches!(
            cat.alter_policy("d", "autogen", &shorter),
            Err(Error::IncompatibleDurations { .. })
        ));
        let both = RetentionPolicyUpdate {
            shard_group_duration: Some(HOUR),
            ..shorter
        };
        cat.alter_policy("d", "autogen", &both).unwrap();
        let rps = cat.retention_policies("d").unwrap();
        assert_eq!(rps[0].duration, Some(HOUR));
        assert_eq!(rps[0].shard_group_duration, HOUR);
    }

    #[test]
    fn dropping_a_database_takes_its_policies() {
        let mut cat = Catalog::new();
        cat.create_database("d", None);
        cat.create_database("e", None);
        cat.create_policy("d", "r", &spec(2), false).unwrap();
        cat.create_policy("e", "r", &spec(2), false).unwrap();
        assert_eq!(cat.drop_storage("d"), vec![1, 3]);
        let names: Vec<String> = cat.databases(true).into_iter().map(|d| d.name).collect();
        assert_eq!(names, ["e", "e/r"]);
    }
}
