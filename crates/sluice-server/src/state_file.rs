//! The server's own small state files (`tokens.json`, `continuous_queries.json`):
//! replaced atomically and durably, so a crash leaves the old file or the new one, and
//! copied to a cloud node's bucket by the storage engine.

use std::io::Write as _;
use std::path::Path;

use sluice_storage::Storage;

use crate::error::{Error, Result};

/// Replaces `path` with `value` as pretty JSON: a temporary file beside it, fsync, rename,
/// then a best-effort fsync of the directory; then hands the new content to `storage`,
/// which keeps a copy in a cloud node's bucket. `private` files are readable by their
/// owner only (on Unix). Errors name `what` (`token file`) and the path.
pub(crate) fn save_json(
    path: &Path,
    what: &str,
    value: &impl serde::Serialize,
    private: bool,
    storage: Option<&Storage>,
) -> Result<()> {
    let fail = |step: &str, err: std::io::Error| {
        Error::Internal(format!("cannot {step} {what} {}: {err}", path.display()))
    };
    let json = serde_json::to_vec_pretty(value).map_err(|e| Error::Internal(e.to_string()))?;
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| fail("create the directory of the", e))?;
    let tmp = path.with_extension("json.tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    if private {
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    }
    #[cfg(not(unix))]
    let _ = private;
    let mut out = options
        .open(&tmp)
        .map_err(|e| fail("create the temporary", e))?;
    out.write_all(&json).map_err(|e| fail("write the", e))?;
    out.sync_all().map_err(|e| fail("sync the", e))?;
    drop(out);
    std::fs::rename(&tmp, path).map_err(|e| fail("replace the", e))?;
    if let Ok(dir) = std::fs::File::open(dir) {
        // Best effort: makes the rename itself durable on filesystems that need it.
        let _ = dir.sync_all();
    }
    if let Some(storage) = storage {
        publish(path, storage, json);
    }
    Ok(())
}

/// Hands the file at `path` as it is now (if it exists) to `storage` (see [`save_json`]).
pub(crate) fn publish_existing(path: &Path, storage: &Storage) {
    if let Ok(bytes) = std::fs::read(path) {
        publish(path, storage, bytes);
    }
}

fn publish(path: &Path, storage: &Storage, bytes: Vec<u8>) {
    if let Some(name) = path.file_name().and_then(|n| n.to_str()) {
        storage.publish_server_file(name, bytes);
    }
}
