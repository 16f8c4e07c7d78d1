//! A small tmpfs for disk-full tests, and a way to fill it. Shared by
//! `sluice-storage/tests/wal_faults.rs` (the engine) and `sluice/tests/serve_disk_full.rs`
//! (the server binary), which include this file by path.

use std::fs;
use std::io::Write;
use std::path::Path;
use std::process::Command;

/// A tmpfs of a given size mounted for the test, unmounted (lazily) on drop.
pub(crate) struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    /// Mounts a tmpfs of `size` (`4m`) on a new temporary directory. Without the right to
    /// mount, skips (returns `None`) outside CI and fails in CI, where the tests run as
    /// root.
    pub(crate) fn mount(size: &str) -> Option<Tmpfs> {
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .output();
        match out {
            Ok(o) if o.status.success() => Some(Tmpfs { dir }),
            other => {
                let why = match other {
                    Ok(o) => String::from_utf8_lossy(&o.stderr).into_owned(),
                    Err(e) => e.to_string(),
                };
                let required = std::env::var_os("CI").is_some()
                    || std::env::var("SLUICE_COMPAT_REQUIRED").is_ok_and(|v| v == "1");
                assert!(
                    !required,
                    "mounting a tmpfs failed ({why}); the disk-full tests need root"
                );
                eprintln!("skipping: mounting a tmpfs failed ({why})");
                None
            }
        }
    }

    pub(crate) fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

/// Fills the filesystem of `dir` with `dir/name` until not one more byte fits.
pub(crate) fn fill(dir: &Path, name: &str) {
    let mut f = fs::File::create(dir.join(name)).unwrap();
    let chunk = vec![0xa5u8; 16 * 1024];
    loop {
        if let Err(e) = f.write_all(&chunk) {
            assert_eq!(e.kind(), std::io::ErrorKind::StorageFull, "{e}");
            break;
        }
    }
    // Byte-sized leftovers too, so that nothing of a write fits.
    while f.write_all(&[0]).is_ok() {}
}
