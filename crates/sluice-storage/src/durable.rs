//! Durable file-system steps: replacing a file atomically, fsyncing files and
//! directories so what was written survives a crash, and creating directories, each
//! failing with an error that names the path.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Writes `dir/name` atomically: a temporary file, fsync, rename, fsync of the directory.
pub(crate) fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> Result<()> {
    let tmp: PathBuf = dir.join(format!("{name}.tmp"));
    let path = dir.join(name);
    let written = fs::File::create(&tmp)
        .map_err(|e| ("creating", e))
        .and_then(|mut f| {
            f.write_all(bytes).map_err(|e| ("writing", e))?;
            f.sync_all().map_err(|e| ("syncing", e))
        });
    if let Err((what, e)) = written {
        // The old file is untouched; a half-written temporary file would only take
        // space from the next attempt.
        let _ = fs::remove_file(&tmp);
        if crate::error::is_disk_full(&e) {
            return Err(Error::DiskFull {
                what: "data directory",
                path: tmp,
                source: e,
            });
        }
        return Err(Error::io(format!("{what} {}", tmp.display()), e));
    }
    fs::rename(&tmp, &path).map_err(|e| Error::io(format!("renaming to {}", path.display()), e))?;
    sync_dir(dir)
}

/// fsyncs a directory so a rename or a new file in it survives a crash.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io(format!("syncing directory {}", dir.display()), e))
}

/// fsyncs each path (a file or a directory).
pub(crate) fn sync_paths(paths: &[PathBuf]) -> Result<()> {
    for p in paths {
        fs::File::open(p)
            .and_then(|f| f.sync_all())
            .map_err(|e| Error::io(format!("syncing {}", p.display()), e))?;
    }
    Ok(())
}

/// Creates a directory and its parents unless they exist.
pub(crate) fn create_dir(path: &Path) -> Result<()> {
    fs::create_dir_all(path).map_err(|e| Error::io(format!("creating {}", path.display()), e))
}
