//! The manifest: which Parquet files are live and up to which WAL sequence number the
//! buffer was persisted, saved atomically in `data_dir/catalog/manifest.json`.

use std::fs;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::durable::write_atomic;
use crate::error::{Error, Result};

/// One live Parquet file: the rows of one table in one UTC day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ParquetFile {
    /// Unique, and increasing with every file written (it names the object). Not the
    /// order of the writes the file holds: a rewritten file gets a new id (see `order`).
    pub(crate) id: u64,
    /// The file's place in write order: of two files holding the same point (series and
    /// time), the one with the higher `order` holds the newer write. A file persisted
    /// from the buffer takes its own id; a file rewritten by a delete keeps the order of
    /// the file it replaces, and compaction outputs take the newest order of their
    /// inputs, so files sharing an order never share a point. Absent in manifests
    /// written before it existed, where it reads as the id.
    #[serde(default)]
    pub(crate) order: u64,
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
    /// Where other nodes reach the node that wrote it ([`crate::CloudStore::advertise_url`]),
    /// as of its last start. Absent when not given, and in older manifests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) advertise_url: Option<String>,
}

impl ParquetFile {
    /// The key that sorts files oldest write first: the write order, then the id
    /// (which only breaks ties between files that share no point).
    pub(crate) fn write_order(&self) -> (u64, u64) {
        (self.order, self.id)
    }
}

impl Manifest {
    pub(crate) fn load(dir: &Path) -> Result<Manifest> {
        let path = dir.join("manifest.json");
        match fs::read(&path) {
            Ok(bytes) => Manifest::from_json(&bytes, &path.display().to_string()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Manifest {
                version: 1,
                persisted_seq: 0,
                next_file_id: 1,
                files: Vec::new(),
                deletes_applied_seq: 0,
                advertise_url: None,
            }),
            Err(e) => Err(Error::io(format!("reading {}", path.display()), e)),
        }
    }

    /// A manifest from the bytes of a `manifest.json` (found at `origin`, which errors
    /// name).
    pub(crate) fn from_json(bytes: &[u8], origin: &str) -> Result<Manifest> {
        let mut manifest: Manifest =
            serde_json::from_slice(bytes).map_err(|e| Error::Catalog(format!("{origin}: {e}")))?;
        // Ids start at 1, so 0 marks an order an older manifest did not record;
        // until deletes rewrote files, ids were the write order.
        for f in &mut manifest.files {
            if f.order == 0 {
                f.order = f.id;
            }
        }
        Ok(manifest)
    }

    pub(crate) fn save(&self, dir: &Path) -> Result<()> {
        write_atomic(dir, "manifest.json", &self.to_json()?)
    }

    /// The manifest as `manifest.json` holds it.
    pub(crate) fn to_json(&self) -> Result<Vec<u8>> {
        serde_json::to_vec(self).map_err(|e| Error::Catalog(e.to_string()))
    }

    /// Files of one table, oldest write first.
    pub(crate) fn table_files(&self, db_id: u32, table: &str) -> Vec<&ParquetFile> {
        let mut files: Vec<_> = self
            .files
            .iter()
            .filter(|f| f.db_id == db_id && f.table == table)
            .collect();
        files.sort_by_key(|f| f.write_order());
        files
    }

    /// The object path for a new file, under `prefix` (a cloud node's `node_id/`, else
    /// empty).
    pub(crate) fn object_path(prefix: &str, db_id: u32, day: i64, id: u64) -> String {
        format!("{prefix}dbs/{db_id}/{day}/{id:016}.parquet")
    }

    /// The id of the file at `path`, if [`Manifest::object_path`] named it.
    pub(crate) fn file_id(path: &str) -> Option<u64> {
        let name = path.rsplit('/').next()?;
        name.strip_suffix(".parquet")?.parse().ok()
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
            order: 2,
            db_id: 1,
            table: "cpu".into(),
            day: 19_000,
            path: Manifest::object_path("", 1, 19_000, 3),
            min_time: 1,
            max_time: 2,
            rows: 2,
            bytes: 100,
        });
        m.save(dir.path()).unwrap();
        assert_eq!(Manifest::load(dir.path()).unwrap(), m);
    }

    #[test]
    fn a_manifest_without_write_orders_reads_each_file_id_as_its_order() {
        let dir = tempfile::tempdir().unwrap();
        let old = r#"{"version":1,"persisted_seq":9,"next_file_id":8,"files":[
            {"id":7,"db_id":1,"table":"cpu","day":0,"path":"dbs/1/0/0000000000000007.parquet",
             "min_time":1,"max_time":2,"rows":2,"bytes":100}]}"#;
        std::fs::write(dir.path().join("manifest.json"), old).unwrap();
        let m = Manifest::load(dir.path()).unwrap();
        assert_eq!(m.files[0].order, 7);
        assert_eq!(m.deletes_applied_seq, 0);
    }

    #[test]
    fn a_files_id_reads_back_from_its_path() {
        for (prefix, id) in [("", 7), ("n1/", 123_456_789_012), ("n1/", u64::MAX)] {
            let path = Manifest::object_path(prefix, 2, -3, id);
            assert_eq!(Manifest::file_id(&path), Some(id), "{path}");
        }
        for other in [
            "n1/dbs/1/0/notes.txt",
            "n1/dbs/1/0/x.parquet",
            "n1/manifest.json",
        ] {
            assert_eq!(Manifest::file_id(other), None, "{other}");
        }
    }
}
