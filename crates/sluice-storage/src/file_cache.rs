//! A bounded cache, on local disk, of the Parquet files of a cloud object store. Files
//! never change once written, so a cached copy stays good until its file is deleted; the
//! least recently used copies go once the cache is over its size. New files enter it as
//! they are persisted (the staged file is kept instead of removed), others on their first
//! read. Everything here is best effort: a cache that cannot be written only costs reads.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

use parking_lot::Mutex;

use crate::durable::create_dir;
use crate::error::{Error, Result};
use crate::local_file::LocalFile;

#[derive(Debug)]
pub(crate) struct FileCache {
    dir: PathBuf,
    max_bytes: u64,
    state: Mutex<CacheState>,
}

#[derive(Debug, Default)]
struct CacheState {
    /// Cached copies by object path.
    files: HashMap<String, Entry>,
    bytes: u64,
    /// Counts uses, to order copies by their last one.
    clock: u64,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    bytes: u64,
    last_used: u64,
}

impl FileCache {
    /// The cache in `dir`, holding at most `max_bytes`, with the copies an earlier run
    /// left there (temporary files removed).
    pub(crate) fn open(dir: PathBuf, max_bytes: u64) -> Result<FileCache> {
        create_dir(&dir)?;
        let cache = FileCache {
            dir,
            max_bytes,
            state: Mutex::new(CacheState::default()),
        };
        let mut found = Vec::new();
        walk(&cache.dir, &cache.dir, &mut found)?;
        for (path, bytes) in found {
            cache.add(&path, bytes);
        }
        Ok(cache)
    }

    /// The cached copy of `path`, opened, if there is one.
    pub(crate) fn get(&self, path: &str) -> Option<LocalFile> {
        {
            let mut state = self.state.lock();
            state.clock += 1;
            let clock = state.clock;
            state.files.get_mut(path)?.last_used = clock;
        }
        match LocalFile::open(self.dir.join(path)) {
            Ok(file) => Some(file),
            Err(_) => {
                // Removed by hand (or evicted meanwhile): forget it.
                let mut state = self.state.lock();
                if let Some(gone) = state.files.remove(path) {
                    state.bytes -= gone.bytes;
                }
                None
            }
        }
    }

    /// Keeps a copy of `bytes` as `path`.
    pub(crate) fn insert(&self, path: &str, bytes: &[u8]) {
        let dest = self.dir.join(path);
        let tmp = PathBuf::from(format!("{}.tmp", dest.display()));
        let written = dest
            .parent()
            .map_or(Ok(()), fs::create_dir_all)
            .and_then(|()| fs::write(&tmp, bytes))
            .and_then(|()| fs::rename(&tmp, &dest));
        match written {
            Ok(()) => self.add(path, bytes.len() as u64),
            Err(e) => {
                let _ = fs::remove_file(&tmp);
                tracing::warn!(path, "cannot cache a parquet file: {e}");
            }
        }
    }

    /// Takes the local file `file` (just uploaded as `path`) as its cached copy; false
    /// when it could not, and the caller still owns the file.
    pub(crate) fn adopt(&self, path: &str, file: &Path) -> bool {
        let dest = self.dir.join(path);
        let moved = dest
            .parent()
            .map_or(Ok(()), fs::create_dir_all)
            .and_then(|()| fs::rename(file, &dest))
            .and_then(|()| fs::metadata(&dest));
        match moved {
            Ok(meta) => {
                self.add(path, meta.len());
                true
            }
            Err(e) => {
                tracing::warn!(path, "cannot cache a persisted parquet file: {e}");
                false
            }
        }
    }

    /// Drops the copy of a deleted file.
    pub(crate) fn remove(&self, path: &str) {
        let mut state = self.state.lock();
        if let Some(gone) = state.files.remove(path) {
            state.bytes -= gone.bytes;
            let _ = fs::remove_file(self.dir.join(path));
        }
    }

    /// Records a copy, then removes the least recently used ones while over the size
    /// (the new one too, if it alone is larger than the cache).
    fn add(&self, path: &str, bytes: u64) {
        let mut state = self.state.lock();
        state.clock += 1;
        let last_used = state.clock;
        if let Some(old) = state
            .files
            .insert(path.to_owned(), Entry { bytes, last_used })
        {
            state.bytes -= old.bytes;
        }
        state.bytes += bytes;
        while state.bytes > self.max_bytes {
            let Some(oldest) = state
                .files
                .iter()
                .min_by_key(|(_, e)| e.last_used)
                .map(|(p, _)| p.clone())
            else {
                break;
            };
            let gone = state.files.remove(&oldest).expect("just found");
            state.bytes -= gone.bytes;
            let _ = fs::remove_file(self.dir.join(&oldest));
        }
    }
}

/// The files under `dir` as (object path relative to `root`, size); temporary files of an
/// interrupted insert are removed.
fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, u64)>) -> Result<()> {
    let entries =
        fs::read_dir(dir).map_err(|e| Error::io(format!("listing {}", dir.display()), e))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(format!("listing {}", dir.display()), e))?;
        let path = entry.path();
        let meta = entry
            .metadata()
            .map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
        if meta.is_dir() {
            walk(root, &path, out)?;
        } else if path.extension().is_some_and(|e| e == "tmp") {
            let _ = fs::remove_file(&path);
        } else if let Some(relative) = path.strip_prefix(root).ok().and_then(|p| p.to_str()) {
            out.push((relative.to_owned(), meta.len()));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use parquet::file::reader::ChunkReader;

    use super::*;

    #[test]
    fn copies_are_found_again_and_the_least_recently_used_go_first() {
        let dir = tempfile::tempdir().unwrap();
        let cache = FileCache::open(dir.path().join("cache"), 25).unwrap();
        cache.insert("dbs/1/0/1.parquet", &[1; 10]);
        cache.insert("dbs/1/0/2.parquet", &[2; 10]);
        assert!(cache.get("dbs/1/0/1.parquet").is_some());
        // Over 25 bytes: 2 was used least recently.
        cache.insert("dbs/1/0/3.parquet", &[3; 10]);
        assert!(cache.get("dbs/1/0/2.parquet").is_none());
        assert!(cache.get("dbs/1/0/1.parquet").is_some());
        cache.remove("dbs/1/0/1.parquet");
        assert!(cache.get("dbs/1/0/1.parquet").is_none());

        // A new run finds what is left.
        drop(cache);
        let cache = FileCache::open(dir.path().join("cache"), 25).unwrap();
        let copy = cache.get("dbs/1/0/3.parquet").unwrap();
        assert_eq!(copy.get_bytes(0, 10).unwrap().as_ref(), [3; 10]);
        assert!(cache.get("dbs/1/0/1.parquet").is_none());
    }

    #[test]
    fn a_file_larger_than_the_cache_is_not_kept_and_an_adopted_file_is_moved() {
        let dir = tempfile::tempdir().unwrap();
        let cache = FileCache::open(dir.path().join("cache"), 5).unwrap();
        cache.insert("big", &[0; 6]);
        assert!(cache.get("big").is_none());
        let staged = dir.path().join("7.parquet");
        fs::write(&staged, [7; 4]).unwrap();
        assert!(cache.adopt("dbs/7.parquet", &staged));
        assert!(!staged.exists());
        assert!(cache.get("dbs/7.parquet").is_some());
    }
}
