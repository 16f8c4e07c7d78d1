//! The manifest: which Parquet files are live and up to which WAL sequence number the
//! buffer was persisted, saved atomically in `data_dir/catalog/manifest.json`.

use std::fs;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::catalog::write_atomic;
use crate::error::{Error, Result};

/// One live Parquet file: the rows of one table in one UTC day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ParquetFile {
    /// Increases with every file written; a higher id holds newer writes of the same rows.
    pub(crate) id: u64,
    pub(crate) db_id: u32,
    pub(crate) table: String,
    pub(crate) day: i64,
    /// Object store path.
    pub(crate) path: String,
    pub(crate) min_time: i64,
    pub(crate) max_time: i64,
    pub(crate) rows: u64,
    pub(crate) bytes: u64,
}

/// The manifest as saved.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Manifest {
    pub(crate) version: u32,
    /// Every WAL record up to this sequence number is in the files below.
    pub(crate) persisted_seq: u64,
    pub(crate) next_file_id: u64,
    pub(crate) files: Vec<ParquetFile>,
    /// Every logged delete up to this sequence number has been applied to the files
    /// below (the WAL replays later ones against them). Absent in older manifests.
    #[serde(default)]
    pub(crate) deletes_applied_seq: u64,
}

impl Manifest {
    pub(crate) fn load(dir: &Path) -> Result<Manifest> {
        let path = dir.join("manifest.json");
        match fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| Error::Catalog(format!("{}: {e}", path.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Manifest {
                version: 1,
                persisted_seq: 0,
                next_file_id: 1,
                files: Vec::new(),
                deletes_applied_seq: 0,
            }),
            Err(e) => Err(Error::io(format!("reading {}", path.display()), e)),
        }
    }

    pub(crate) fn save(&self, dir: &Path) -> Result<()> {
        let bytes = serde_json::to_vec(self).map_err(|e| Error::Catalog(e.to_string()))?;
        write_atomic(dir, "manifest.json", &bytes)
    }

    /// Files of one table, oldest first.
    pub(crate) fn table_files(&self, db_id: u32, table: &str) -> Vec<&ParquetFile> {
        let mut files: Vec<_> = self
            .files
            .iter()
            .filter(|f| f.db_id == db_id && f.table == table)
            .collect();
        files.sort_by_key(|f| f.id);
        files
    }

    /// The object path for a new file.
    pub(crate) fn object_path(db_id: u32, day: i64, id: u64) -> String {
        format!("dbs/{db_id}/{day}/{id:016}.parquet")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_survives_save_and_load_and_starts_empty() {
        let dir = tempfile::tempdir().unwrap();
        let empty = Manifest::load(dir.path()).unwrap();
        assert!(empty.files.is_empty());
        let mut m = empty.clone();
        m.persisted_seq = 42;
        m.files.push(ParquetFile {
            id: 3,
            db_id: 1,
            table: "cpu".into(),
            day: 19_000,
            path: Manifest::object_path(1, 19_000, 3),
            min_time: 1,
            max_time: 2,
            rows: 2,
            bytes: 100,
        });
        m.save(dir.path()).unwrap();
        assert_eq!(Manifest::load(dir.path()).unwrap(), m);
    }
}
