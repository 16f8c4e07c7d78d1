//! Databases and their catalog: creating and dropping databases and retention policies,
//! setting retention, and listing databases, policies and tables.

use std::time::Duration;

use super::{Storage, claims};
use crate::catalog::{Catalog, check_database_name, duration_ns};
use crate::error::{Error, Result};
use crate::types::{
    DatabaseInfo, RetentionPolicyInfo, RetentionPolicySpec, RetentionPolicyUpdate, TableInfo,
};

impl Storage {
    /// Creates a database with a retention period (`None`: keep forever) as its
    /// retention policy `autogen`; true if created, false if it existed (its retention
    /// is left alone).
    ///
    /// # Errors
    /// [`Error::InvalidDatabaseName`], [`Error::Io`] when the catalog cannot be saved.
    pub fn create_database(&self, name: &str, retention: Option<Duration>) -> Result<bool> {
        check_database_name(name)?;
        self.edit_catalog(|catalog| Ok(catalog.create_database(name, retention)))
    }

    /// Creates a database whose retention policy (its default, stored in the database
    /// itself) is `policy` with `spec`, as `CREATE DATABASE … WITH … NAME policy` does;
    /// true if created, false if it existed (it is left alone).
    ///
    /// # Errors
    /// [`Error::InvalidDatabaseName`], [`Error::InvalidRetentionPolicyName`],
    /// [`Error::RetentionPolicyDurationTooLow`], [`Error::IncompatibleDurations`],
    /// [`Error::Io`] when the catalog cannot be saved.
    pub fn create_database_with_policy(
        &self,
        name: &str,
        policy: &str,
        spec: &RetentionPolicySpec,
    ) -> Result<bool> {
        check_database_name(name)?;
        self.edit_catalog(|catalog| catalog.create_database_with_policy(name, policy, spec))
    }

    /// Drops a storage database and all its data (buffered data at once, Parquet files
    /// in the background); true if it existed. A database's retention policies go with
    /// it; dropping the storage of a policy (`D/r`) drops that policy.
    ///
    /// On a node sharing its bucket, the claims of the dropped databases' columns are
    /// removed from it (see `claims`) before this returns.
    ///
    /// # Errors
    /// [`Error::Io`] when the catalog or manifest cannot be saved.
    pub async fn drop_database(&self, name: &str) -> Result<bool> {
        let inner = &self.inner;
        let dropped: Vec<String> = {
            let mut catalog = inner.catalog.lock();
            let before = catalog.clone();
            let ids = catalog.drop_storage(name);
            if ids.is_empty() {
                return Ok(false);
            }
            if let Err(e) = inner.save_catalog(&catalog) {
                *catalog = before;
                return Err(e);
            }
            self.drop_data(&ids)?;
            before
                .databases
                .keys()
                .filter(|db| !catalog.databases.contains_key(*db))
                .cloned()
                .collect()
        };
        for db in &dropped {
            claims::forget(inner, db, None).await;
        }
        Ok(true)
    }

    /// Drops the buffered data and files of the storage databases `ids` (already gone
    /// from the saved catalog). Called with the catalog lock held (lock order: catalog,
    /// then state).
    pub(super) fn drop_data(&self, ids: &[u32]) -> Result<()> {
        let inner = &self.inner;
        let mut state = inner.state.write();
        let mut caches = inner.caches.lock();
        for id in ids {
            state.active.drop_database(*id);
            caches.drop_database(*id);
        }
        drop(caches);
        inner.edit_manifest(&mut state, |f| !ids.contains(&f.db_id))?;
        state.publish_buffer_bytes(&inner.metrics);
        inner.wakeup.notify_one();
        Ok(())
    }

    /// Sets a storage database's retention (`None`: keep forever): the duration of the
    /// retention policy it holds. Enforced by the background task within
    /// `background_interval`.
    ///
    /// # Errors
    /// [`Error::DatabaseNotFound`], [`Error::Io`] when the catalog cannot be saved.
    pub fn set_retention(&self, name: &str, retention: Option<Duration>) -> Result<()> {
        self.edit_catalog(|catalog| {
            let def = catalog
                .databases
                .get_mut(name)
                .ok_or_else(|| Error::DatabaseNotFound {
                    name: name.to_owned(),
                })?;
            def.retention_ns = retention.map(duration_ns);
            Ok(())
        })?;
        self.inner.wakeup.notify_one();
        Ok(())
    }

    /// Creates retention policy `policy` of database `db`, stored in storage database
    /// `db/policy`, and makes it the default when `make_default`. Creating a policy that
    /// exists with the same settings does nothing, as in InfluxDB 1.x.
    ///
    /// # Errors
    /// [`Error::DatabaseNotFound`], [`Error::InvalidRetentionPolicyName`],
    /// [`Error::RetentionPolicyDurationTooLow`], [`Error::IncompatibleDurations`],
    /// [`Error::RetentionPolicyExists`] (other settings),
    /// [`Error::RetentionPolicyConflict`] (same settings, asked to become the default),
    /// [`Error::Io`] when the catalog cannot be saved.
    pub fn create_retention_policy(
        &self,
        db: &str,
        policy: &str,
        spec: &RetentionPolicySpec,
        make_default: bool,
    ) -> Result<()> {
        self.edit_catalog(|catalog| catalog.create_policy(db, policy, spec, make_default))
    }

    /// Changes retention policy `policy` of database `db`. A shorter duration is
    /// enforced by the background task within `background_interval`.
    ///
    /// # Errors
    /// [`Error::DatabaseNotFound`], [`Error::RetentionPolicyNotFound`],
    /// [`Error::RetentionPolicyDurationTooLow`], [`Error::IncompatibleDurations`],
    /// [`Error::Io`] when the catalog cannot be saved.
    pub fn alter_retention_policy(
        &self,
        db: &str,
        policy: &str,
        update: &RetentionPolicyUpdate,
    ) -> Result<()> {
        self.edit_catalog(|catalog| catalog.alter_policy(db, policy, update))?;
        self.inner.wakeup.notify_one();
        Ok(())
    }

    /// Drops retention policy `policy` of database `db` and all its data; false when
    /// the database has no such policy. When it was the default, the policy the
    /// database was created with is the default again.
    ///
    /// # Errors
    /// [`Error::DatabaseNotFound`]; [`Error::DatabasePolicy`] for the policy the
    /// database was created with (it holds the database itself: drop the database);
    /// [`Error::Io`] when the catalog or manifest cannot be saved.
    pub fn drop_retention_policy(&self, db: &str, policy: &str) -> Result<bool> {
        let inner = &self.inner;
        let mut catalog = inner.catalog.lock();
        let before = catalog.clone();
        let Some(id) = catalog.drop_policy(db, policy)? else {
            return Ok(false);
        };
        if let Err(e) = inner.save_catalog(&catalog) {
            *catalog = before;
            return Err(e);
        }
        self.drop_data(&[id])?;
        Ok(true)
    }

    /// The retention policies of database `db`, in the order they were created (the
    /// one the database was created with first).
    ///
    /// # Errors
    /// [`Error::DatabaseNotFound`].
    pub fn retention_policies(&self, db: &str) -> Result<Vec<RetentionPolicyInfo>> {
        self.inner.catalog.lock().retention_policies(db)
    }

    /// The storage database holding retention policy `policy` of database `db`
    /// (`None`: the default policy): `db` itself or `db/policy`. Writes and scans of
    /// the policy go to that name.
    ///
    /// # Errors
    /// [`Error::DatabaseNotFound`], [`Error::RetentionPolicyNotFound`].
    pub fn policy_database(&self, db: &str, policy: Option<&str>) -> Result<String> {
        self.inner.catalog.lock().policy_database(db, policy)
    }

    /// The databases users name, sorted by name: not the storage databases of their
    /// other retention policies (see [`Storage::all_databases`]).
    pub fn databases(&self) -> Vec<DatabaseInfo> {
        self.inner.catalog.lock().databases(false)
    }

    /// Whether `name` is a storage database: a database users name or the `D/r` storage
    /// of one of its retention policies (one map lookup).
    pub fn has_database(&self, name: &str) -> bool {
        self.inner.catalog.lock().databases.contains_key(name)
    }

    /// Every storage database, sorted by name: the databases and the `D/r` storage of
    /// their retention policies other than the one they were created with (what
    /// InfluxDB 2 and 3 clients see as buckets and databases).
    pub fn all_databases(&self) -> Vec<DatabaseInfo> {
        self.inner.catalog.lock().databases(true)
    }

    /// The tables of a storage database, sorted by name, each with its columns in scan
    /// order.
    ///
    /// # Errors
    /// [`Error::DatabaseNotFound`].
    pub fn tables(&self, db: &str) -> Result<Vec<TableInfo>> {
        let catalog = self.inner.catalog.lock();
        Ok(catalog
            .database(db)?
            .tables
            .iter()
            .map(|(name, t)| t.info(name))
            .collect())
    }

    /// Applies `edit` to the catalog and saves it when it changed; on any failure the
    /// catalog is as before.
    fn edit_catalog<T>(&self, edit: impl FnOnce(&mut Catalog) -> Result<T>) -> Result<T> {
        let mut catalog = self.inner.catalog.lock();
        let before = catalog.clone();
        let result = edit(&mut catalog).and_then(|value| {
            if *catalog != before {
                self.inner.save_catalog(&catalog)?;
            }
            Ok(value)
        });
        if result.is_err() {
            *catalog = before;
        }
        result
    }
}
