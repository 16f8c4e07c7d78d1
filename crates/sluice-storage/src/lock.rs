//! One process per data directory.
//!
//! Two processes sharing a data directory would interleave their WAL segments, replay
//! each other's records and delete each other's files. While a [`Storage`] is open it
//! holds an exclusive advisory lock (`flock`) on `DATA_DIR/lock`, which names the
//! holder's process id; a second open of the same directory, from this process or
//! another, is refused with [`Error::InUse`]. The operating system drops the lock when
//! the process ends, however it ends, so a crash never leaves the directory locked.
//!
//! [`Storage`]: crate::Storage

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::Path;

use crate::error::{Error, Result};

/// The lock file's name in the data directory.
const LOCK: &str = "lock";

/// The held lock on a data directory; released when dropped.
#[derive(Debug)]
pub(crate) struct DirLock {
    _file: File,
}

impl DirLock {
    /// Takes the lock on `dir` (which exists), or says who holds it.
    pub(crate) fn acquire(dir: &Path) -> Result<DirLock> {
        let path = dir.join(LOCK);
        let context = || format!("cannot lock {}", path.display());
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| Error::io(context(), e))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = match holder.trim() {
                    "" => String::new(),
                    pid => format!(" (pid {pid})"),
                };
                return Err(Error::InUse(format!(
                    "data directory {} is in use by another sluice process{holder}: stop it, \
                     or give this one another --data-dir",
                    dir.display()
                )));
            }
            Err(TryLockError::Error(e)) => return Err(Error::io(context(), e)),
        }
        file.set_len(0)
            .and_then(|()| file.rewind())
            .and_then(|()| writeln!(file, "{}", std::process::id()))
            .map_err(|e| Error::io(context(), e))?;
        Ok(DirLock { _file: file })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_locked_directory_is_refused_naming_the_holder_until_released() {
        let dir = tempfile::tempdir().unwrap();
        let held = DirLock::acquire(dir.path()).unwrap();
        let err = DirLock::acquire(dir.path()).unwrap_err().to_string();
        assert!(err.contains("in use by another sluice process"), "{err}");
        assert!(
            err.contains(&format!("(pid {})", std::process::id())),
            "{err}"
        );
        drop(held);
        DirLock::acquire(dir.path()).unwrap();
    }
}
