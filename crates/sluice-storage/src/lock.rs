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
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

/// The lock file's name in the data directory.
const LOCK: &str = "lock";

/// The held lock on a data directory; released when dropped.
#[derive(Debug)]
pub(crate) struct DirLock {
    _file: File,
}

/// How long [`DirLock::acquire_waiting`] waits for a holder in this very process.
const SAME_PROCESS_WAIT: Duration = Duration::from_secs(2);

impl DirLock {
    /// Takes the lock on `dir` (which exists), or fails with [`Error::InUse`] naming the
    /// holder's process id. When the holder is this process it waits up to
    /// [`SAME_PROCESS_WAIT`] for it to go. A `Storage` just shut down
    /// has released the lock, yet a child process this process is starting at that
    /// moment (any `std::process::Command`, on any thread) holds a copy of the lock's file
    /// descriptor from its fork until its `exec` closes it, and with it the lock: a
    /// reopen right after a shutdown would otherwise fail now and then.
    pub(crate) async fn acquire_waiting(dir: &Path) -> Result<DirLock> {
        let deadline = Instant::now() + SAME_PROCESS_WAIT;
        loop {
            match DirLock::try_acquire(dir)? {
                Ok(lock) => return Ok(lock),
                Err(holder) if holder == Some(std::process::id()) && Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                Err(holder) => return Err(in_use(dir, holder)),
            }
        }
    }

    /// The lock on `dir`, or (as `Ok(Err(_))`) the process id the lock file names when
    /// another open file holds it.
    fn try_acquire(dir: &Path) -> Result<std::result::Result<DirLock, Option<u32>>> {
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
                return Ok(Err(holder.trim().parse().ok()));
            }
            Err(TryLockError::Error(e)) => return Err(Error::io(context(), e)),
        }
        file.set_len(0)
            .and_then(|()| file.rewind())
            .and_then(|()| writeln!(file, "{}", std::process::id()))
            .map_err(|e| Error::io(context(), e))?;
        Ok(Ok(DirLock { _file: file }))
    }
}

fn in_use(dir: &Path, holder: Option<u32>) -> Error {
    let holder = holder
        .map(|pid| format!(" (pid {pid})"))
        .unwrap_or_default();
    Error::InUse(format!(
        "data directory {} is in use by another sluice process{holder}: stop it, or give \
         this one another --data-dir",
        dir.display()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_locked_directory_is_refused_naming_the_holder_until_released() {
        let dir = tempfile::tempdir().unwrap();
        let held = DirLock::acquire_waiting(dir.path()).await.unwrap();
        let started = Instant::now();
        let err = DirLock::acquire_waiting(dir.path())
            .await
            .unwrap_err()
            .to_string();
        assert!(
            started.elapsed() >= SAME_PROCESS_WAIT,
            "waited for this process"
        );
        assert!(err.contains("in use by another sluice process"), "{err}");
        assert!(
            err.contains(&format!("(pid {})", std::process::id())),
            "{err}"
        );
        drop(held);
        DirLock::acquire_waiting(dir.path()).await.unwrap();
    }

    /// What a child process started at the moment of a shutdown does: its copy of the
    /// lock's descriptor (the same open file, as `try_clone` makes) keeps the lock a
    /// moment after the `DirLock` is dropped.
    #[tokio::test]
    async fn a_lock_still_held_by_a_copy_of_its_descriptor_is_waited_for() {
        let dir = tempfile::tempdir().unwrap();
        let held = DirLock::acquire_waiting(dir.path()).await.unwrap();
        let copy = held._file.try_clone().unwrap();
        drop(held);
        let closed = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            drop(copy);
        });
        DirLock::acquire_waiting(dir.path()).await.unwrap();
        closed.await.unwrap();
    }
}
