//! `inputs.disk`: space and inodes of mounted filesystems (`/proc/self/mounts` and
//! `statvfs`).

use serde::Deserialize;

use crate::error::{Error, Result};
use crate::metric::Metric;
use crate::plugins::{Accumulator, Input};

/// `[[inputs.disk]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DiskConfig {
    /// Only these mount points; empty means all. Default: `[]`.
    pub mount_points: Vec<String>,
    /// Skip filesystems of these types. Default: `["tmpfs", "devtmpfs", "devfs",
    /// "iso9660", "overlay", "aufs", "squashfs"]`.
    pub ignore_fs: Vec<String>,
}

impl Default for DiskConfig {
    fn default() -> Self {
        DiskConfig {
            mount_points: Vec::new(),
            ignore_fs: [
                "tmpfs", "devtmpfs", "devfs", "iso9660", "overlay", "aufs", "squashfs",
            ]
            .map(String::from)
            .to_vec(),
        }
    }
}

/// One line of `/proc/self/mounts`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    pub device: String,
    pub path: String,
    pub fstype: String,
    pub read_only: bool,
}

/// Parses `/proc/self/mounts` (octal escapes such as `\040` decoded).
pub fn parse_mounts(text: &str) -> Vec<Mount> {
    let unescape = |s: &str| {
        let mut out = String::new();
        let b = s.as_bytes();
        let mut i = 0;
        while i < b.len() {
            if b[i] == b'\\'
                && i + 3 < b.len()
                && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
            {
                let v = (b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0');
                out.push(v as char);
                i += 4;
            } else {
                out.push(b[i] as char);
                i += 1;
            }
        }
        out
    };
    text.lines()
        .filter_map(|line| {
            let p: Vec<&str> = line.split_whitespace().collect();
            (p.len() >= 4).then(|| Mount {
                device: unescape(p[0]),
                path: unescape(p[1]),
                fstype: p[2].to_owned(),
                read_only: p[3].split(',').any(|o| o == "ro"),
            })
        })
        .collect()
}

/// `statvfs(path)`.
pub fn statvfs(path: &str) -> std::io::Result<libc::statvfs> {
    let c = std::ffi::CString::new(path).map_err(std::io::Error::other)?;
    let mut out = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: `c` is a valid NUL-terminated string and `out` points to writable memory
    // of the right size; statvfs initialises it when it returns 0.
    let rc = unsafe { libc::statvfs(c.as_ptr(), out.as_mut_ptr()) };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: statvfs returned 0, so it filled the struct.
    Ok(unsafe { out.assume_init() })
}

/// The `device` tag as Telegraf writes it: the mount source with every `/dev/` removed
/// (`/dev/sda1` is `sda1`, `/dev/mapper/vg-root` is `mapper/vg-root`).
pub fn device_tag(source: &str) -> String {
    source.replace("/dev/", "")
}

/// The fields written for each file system (Telegraf's documented seven, plus
/// `inodes_used_percent` when the file system has inodes).
pub const FIELDS: [&str; 7] = [
    "free",
    "inodes_free",
    "inodes_total",
    "inodes_used",
    "total",
    "used",
    "used_percent",
];

/// The `disk` input.
#[derive(Debug)]
pub struct Disk {
    config: DiskConfig,
}

impl Disk {
    /// A disk input.
    pub fn new(config: DiskConfig) -> Disk {
        Disk { config }
    }
}

impl Input for Disk {
    #[allow(
        clippy::unnecessary_cast,
        reason = "statvfs field types differ between platforms (u32 on some 32-bit targets)"
    )]
    fn gather(&mut self, acc: &mut Accumulator) -> Result<()> {
        let text = std::fs::read_to_string("/proc/self/mounts")
            .map_err(|e| Error::io("/proc/self/mounts", e))?;
        let mut seen = std::collections::BTreeSet::new();
        for mount in parse_mounts(&text) {
            if self.config.ignore_fs.contains(&mount.fstype)
                || (!self.config.mount_points.is_empty()
                    && !self.config.mount_points.contains(&mount.path))
                || !seen.insert(mount.path.clone())
            {
                continue;
            }
            let Ok(st) = statvfs(&mount.path) else {
                continue;
            };
            let frsize = st.f_frsize as u64;
            let total = st.f_blocks as u64 * frsize;
            if total == 0 {
                continue;
            }
            let free = st.f_bavail as u64 * frsize;
            let used = (st.f_blocks as u64 - st.f_bfree as u64) * frsize;
            let used_percent = if used + free == 0 {
                0.0
            } else {
                100.0 * used as f64 / (used + free) as f64
            };
            let (files, ffree) = (st.f_files as u64, st.f_ffree as u64);
            let int = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
            let device = device_tag(&mount.device);
            let mut m = Metric::new("disk", acc.time())
                .with_tag("path", mount.path.clone())
                .with_tag("device", device)
                .with_tag("fstype", mount.fstype.clone())
                .with_tag("mode", if mount.read_only { "ro" } else { "rw" })
                .with_field("total", int(total))
                .with_field("free", int(free))
                .with_field("used", int(used))
                .with_field("used_percent", used_percent)
                .with_field("inodes_total", int(files))
                .with_field("inodes_free", int(ffree))
                .with_field("inodes_used", int(files.saturating_sub(ffree)));
            if files > 0 {
                m.set_field(
                    "inodes_used_percent",
                    100.0 * files.saturating_sub(ffree) as f64 / files as f64,
                );
            }
            m.tags.retain(|_, v| !v.is_empty());
            acc.add(m);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metric::FieldValue;

    #[test]
    fn mounts_are_parsed_with_escapes_and_mode() {
        let mounts = parse_mounts("/dev/sda1 /mnt/my\\040disk ext4 ro,relatime 0 0\n");
        assert_eq!(mounts[0].path, "/mnt/my disk");
        assert!(mounts[0].read_only);
    }

    #[test]
    #[allow(
        clippy::unnecessary_cast,
        reason = "statvfs field types differ between platforms"
    )]
    fn root_filesystem_fields_match_statvfs() {
        let mut disk = Disk::new(DiskConfig {
            mount_points: vec!["/".into()],
            ignore_fs: vec![],
        });
        let mut acc = Accumulator::new(1);
        disk.gather(&mut acc).unwrap();
        let m = &acc.metrics()[0];
        assert_eq!(m.tags["path"], "/");
        let st = statvfs("/").unwrap();
        assert_eq!(
            m.field("total"),
            Some(&FieldValue::Integer(
                (st.f_blocks as u64 * st.f_frsize as u64) as i64
            ))
        );
        assert_eq!(
            m.field("inodes_total"),
            Some(&FieldValue::Integer(st.f_files as i64))
        );
    }

    #[test]
    fn device_tag_drops_every_dev_prefix_as_telegraf_does() {
        assert_eq!(device_tag("/dev/sda1"), "sda1");
        assert_eq!(device_tag("/dev/mapper/vg-root"), "mapper/vg-root");
        assert_eq!(device_tag("tmpfs"), "tmpfs");
    }

    #[test]
    fn root_fields_are_exactly_telegrafs_set() {
        let mut disk = Disk::new(DiskConfig {
            mount_points: vec!["/".into()],
            ignore_fs: vec![],
        });
        let mut acc = Accumulator::new(1);
        disk.gather(&mut acc).unwrap();
        let m = &acc.metrics()[0];
        let mut names: Vec<&str> = m.fields.iter().map(|(k, _)| k.as_str()).collect();
        names.sort_unstable();
        let mut expected = FIELDS.to_vec();
        if m.field("inodes_total") != Some(&FieldValue::Integer(0)) {
            expected.push("inodes_used_percent");
            expected.sort_unstable();
        }
        assert_eq!(names, expected);
        for (k, v) in &m.fields {
            let float = k.ends_with("_percent");
            assert_eq!(matches!(v, FieldValue::Float(_)), float, "{k}");
            assert_eq!(matches!(v, FieldValue::Integer(_)), !float, "{k}");
        }
        let tags: Vec<&str> = m.tags.keys().map(String::as_str).collect();
        assert!(
            tags.iter()
                .all(|t| ["device", "fstype", "mode", "path"].contains(t))
        );
    }

    #[test]
    fn ignored_filesystem_types_are_skipped() {
        let mut disk = Disk::new(DiskConfig {
            mount_points: vec![],
            ignore_fs: vec!["proc".into(), "sysfs".into()],
        });
        let mut acc = Accumulator::new(1);
        disk.gather(&mut acc).unwrap();
        assert!(acc.metrics().iter().all(|m| m.tags["fstype"] != "proc"));
    }
}
