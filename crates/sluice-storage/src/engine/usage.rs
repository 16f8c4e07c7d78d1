//! What each table holds: its live Parquet files (count, bytes, rows, from the manifest)
//! and its buffered rows, read from memory without touching a file; and the live files
//! one by one.

use std::collections::BTreeMap;

use super::Storage;
use crate::error::Result;
use crate::types::{ParquetFileInfo, TableUsage};

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

    /// The live Parquet files of storage database `db` as the manifest lists them, by
    /// table, then oldest rows first (what `system.parquet_files` shows).
    ///
    /// # Errors
    /// [`crate::Error::DatabaseNotFound`].
    pub fn parquet_files(&self, db: &str) -> Result<Vec<ParquetFileInfo>> {
        let db_id = self.inner.catalog.lock().database(db)?.id;
        let manifest = self.inner.state.read().manifest.clone();
        let mut files: Vec<ParquetFileInfo> = manifest
            .files
            .iter()
            .filter(|f| f.db_id == db_id)
            .map(|f| ParquetFileInfo {
                table: f.table.clone(),
                path: f.path.clone(),
                size_bytes: f.bytes,
                row_count: f.rows,
                min_time: f.min_time,
                max_time: f.max_time,
            })
            .collect();
        files.sort_by(|a, b| (&a.table, a.min_time, &a.path).cmp(&(&b.table, b.min_time, &b.path)));
        Ok(files)
    }
}
