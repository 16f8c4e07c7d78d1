//! Databases and their catalog: creating and dropping databases, setting retention,
//! and listing databases and tables.

use std::time::Duration;

use super::Storage;
use crate::catalog::check_database_name;
use crate::error::{Error, Result};
use crate::types::{DatabaseInfo, TableInfo};

impl Storage {
    /// Creates a database with a retention period (`None`: keep forever); true if
    /// created, false if it existed (its retention is left alone).
    ///
    /// # Errors
    /// [`Error::InvalidDatabaseName`], [`Error::Io`] when the catalog cannot be saved.
    pub fn create_database(&self, name: &str, retention: Option<Duration>) -> Result<bool> {
        check_database_name(name)?;
        let mut catalog = self.inner.catalog.lock();
        if !catalog.create_database(name, retention) {
            return Ok(false);
        }
        if let Err(e) = catalog.save(&self.inner.catalog_dir) {
            catalog.databases.remove(name);
            return Err(e);
        }
        Ok(true)
    }

    /// Drops a database and all its data (buffered data at once, Parquet files in the
    /// background); true if it existed.
    ///
    /// # Errors
    /// [`Error::Io`] when the catalog or manifest cannot be saved.
    pub fn drop_database(&self, name: &str) -> Result<bool> {
        let inner = &self.inner;
        let mut catalog = inner.catalog.lock();
        let Some(def) = catalog.databases.remove(name) else {
            return Ok(false);
        };
        if let Err(e) = catalog.save(&inner.catalog_dir) {
            catalog.databases.insert(name.to_owned(), def);
            return Err(e);
        }
        let mut state = inner.state.write();
        state.active.drop_database(def.id);
        inner.edit_manifest(&mut state, |f| f.db_id != def.id)?;
        state.publish_buffer_bytes(&inner.metrics);
        inner.wakeup.notify_one();
        Ok(true)
    }

    /// Sets a database's retention (`None`: keep forever). Enforced by the background
    /// task within `background_interval`.
    ///
    /// # Errors
    /// [`Error::DatabaseNotFound`], [`Error::Io`] when the catalog cannot be saved.
    pub fn set_retention(&self, name: &str, retention: Option<Duration>) -> Result<()> {
        let mut catalog = self.inner.catalog.lock();
        let def = catalog
            .databases
            .get_mut(name)
            .ok_or_else(|| Error::DatabaseNotFound {
                name: name.to_owned(),
            })?;
        let old = def.retention_ns;
        def.retention_ns = retention.map(|r| u64::try_from(r.as_nanos()).unwrap_or(u64::MAX));
        if let Err(e) = catalog.save(&self.inner.catalog_dir) {
            if let Some(def) = catalog.databases.get_mut(name) {
                def.retention_ns = old;
            }
            return Err(e);
        }
        self.inner.wakeup.notify_one();
        Ok(())
    }

    /// The databases, sorted by name.
    pub fn databases(&self) -> Vec<DatabaseInfo> {
        self.inner.catalog.lock().databases()
    }

    /// The tables of a database, sorted by name, each with its columns in scan order.
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
}
