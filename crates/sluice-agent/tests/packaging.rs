//! The systemd units in packaging/ pass `systemd-analyze verify`, with `ExecStart`
//! pointed at the binaries this build made, and say what the docs promise:
//! `EnvironmentFile`, `ExecReload` sending SIGHUP, `Restart=on-failure`.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::sluice_binary;

fn required() -> bool {
    std::env::var("SLUICE_COMPAT_REQUIRED").is_ok_and(|v| v == "1")
}

fn packaging() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../packaging")
}

/// The unit's text with the first word of `ExecStart=` replaced by `binary`.
fn with_binary(unit: &str, binary: &Path) -> String {
    unit.lines()
        .map(|line| match line.strip_prefix("ExecStart=") {
            Some(command) => {
                let args = command.split_once(' ').map_or("", |(_, a)| a);
                format!("ExecStart={} {args}", binary.display())
            }
            None => line.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

fn keys(unit: &str) -> Vec<(String, String)> {
    unit.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect()
}

#[test]
fn units_say_what_the_docs_promise() {
    for (name, binary) in [
        ("sluice.service", "/usr/bin/sluice serve"),
        ("sluice-agent.service", "/usr/bin/sluice-agent --config"),
    ] {
        let text = std::fs::read_to_string(packaging().join(name)).unwrap();
        let keys = keys(&text);
        let get = |k: &str| -> Vec<&str> {
            keys.iter()
                .filter(|(key, _)| key == k)
                .map(|(_, v)| v.as_str())
                .collect()
        };
        assert!(get("ExecStart")[0].starts_with(binary), "{name}");
        assert_eq!(get("ExecReload"), ["/bin/kill -HUP $MAINPID"], "{name}");
        assert_eq!(get("Restart"), ["on-failure"], "{name}");
        assert!(
            get("EnvironmentFile")[0].starts_with("-/etc/default/"),
            "{name}"
        );
        assert_eq!(get("WantedBy"), ["multi-user.target"], "{name}");
    }
}

#[test]
fn systemd_analyze_verify_accepts_the_units() {
    let Some(analyze) = ["/usr/bin/systemd-analyze", "/bin/systemd-analyze"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
    else {
        assert!(
            !required(),
            "systemd-analyze is missing (run scripts/agent-services.sh)"
        );
        eprintln!("skipping: systemd-analyze is missing");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let agent = PathBuf::from(env!("CARGO_BIN_EXE_sluice-agent"));
    for (name, binary) in [
        ("sluice.service", sluice_binary()),
        ("sluice-agent.service", agent),
    ] {
        let text = std::fs::read_to_string(packaging().join(name)).unwrap();
        let path = dir.path().join(name);
        std::fs::write(&path, with_binary(&text, &binary)).unwrap();
        let out = Command::new(&analyze)
            .arg("verify")
            .arg(&path)
            .env("SYSTEMD_LOG_LEVEL", "notice")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        // Lines about other units on this machine are not ours to judge.
        let ours: Vec<&str> = stderr.lines().filter(|l| l.contains(name)).collect();
        assert!(out.status.success() && ours.is_empty(), "{name}: {stderr}");
    }

    // A unit with a typo is refused, so the check above can fail.
    let path = dir.path().join("broken.service");
    std::fs::write(&path, "[Service]\nExecStart=relative/path\n").unwrap();
    let out = Command::new(&analyze)
        .arg("verify")
        .arg(&path)
        .output()
        .unwrap();
    assert!(!out.status.success() || !out.stderr.is_empty());
}
