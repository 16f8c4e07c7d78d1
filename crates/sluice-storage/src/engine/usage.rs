//! What each table holds: its live Parquet files (count, bytes, rows, from the manifest)
//! and its buffered rows, read from memory without touching a file.

use std::collections::BTreeMap;

use super::Storage;
use crate::error::Result;
use crate::types::TableUsage;

impl Storage {
    /// The usage of every table of storage database `db`, sorted by name: a table of the
    /// catalog without data has zeros. Parquet bytes are the file sizes the manifest
    /// records (files of days past retention count until the background task drops
    /// them). Costs a pass over the manifest's file list and the buffer's partitions.
    ///
    /// # Errors
    /// [`crate::Error::DatabaseNotFound`].
    pub fn table_usage(&self, db: &str) -> Result<Vec<TableUsage>> {
        let (db_id, mut tables): (u32, BTreeMap<String, TableUsage>) = {
            let catalog = self.inner.catalog.lock();
            let def = catalog.database(db)?;
            let tables = def
                .tables
                .keys()
                .map(|name| {
                    let usage = TableUsage {
                        name: name.clone(),
                        ..TableUsage::default()
                    };
                    (name.clone(), usage)
                })
                .collect();
            (def.id, tables)
        };
        let state = self.inner.state.read();
        for file in state.manifest.files.iter().filter(|f| f.db_id == db_id) {
            if let Some(t) = tables.get_mut(&file.table) {
                t.parquet_files += 1;
                t.parquet_bytes += file.bytes;
                t.parquet_rows += file.rows;
            }
        }
        let buffers = state
            .frozen
            .iter()
            .map(|f| &f.buffer)
            .chain([&state.active]);
        for buffer in buffers {
            let Some(buffered) = buffer.dbs.get(&db_id) else {
                continue;
            };
            for (name, tb) in buffered {
                if let Some(t) = tables.get_mut(name) {
                    for part in tb.partitions.values() {
                        t.buffer_bytes += part.bytes as u64;
                        t.buffer_rows += part.len() as u64;
                    }
                }
            }
        }
        Ok(tables.into_values().collect())
    }
}
