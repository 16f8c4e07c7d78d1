//! Signals on the real agent: SIGUSR1 flushes, SIGHUP reloads the configuration without
//! losing buffered metrics, SIGTERM flushes and exits 0.

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::Server;

fn signal(child: &Child, signal: i32) {
    // SAFETY: kill(2) with a pid we spawned and own.
    unsafe { libc::kill(child.id() as i32, signal) };
}

fn gathers(dir: &Path) -> usize {
    std::fs::read_to_string(dir.join("count"))
        .map(|s| s.lines().count())
        .unwrap_or(0)
}

/// Waits until the agent in `dir` has gathered `n` times, failing past `deadline`.
async fn gathered(dir: &Path, n: usize, deadline: Instant, why: Option<&str>) {
    while gathers(dir) < n {
        match why {
            None => assert!(Instant::now() < deadline),
            Some(why) => assert!(Instant::now() < deadline, "{why}"),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn rows(server: &Server) -> Vec<std::collections::BTreeMap<String, String>> {
    if !server.tables("s").contains(&"tick".to_owned()) {
        return Vec::new();
    }
    server.rows("s", "tick").await
}

fn config(dir: &Path, url: &str, phase: &str) -> String {
    format!(
        r#"
[global_tags]
  phase = "{phase}"
[agent]
  interval = "100ms"
  round_interval = false
  flush_interval = "1h"
  omit_hostname = true
[[inputs.exec]]
  commands = ["sh -c 'echo x >> {count}; echo tick n=1i'"]
[[outputs.influxdb_v2]]
  urls = ["{url}"]
  bucket = "s"
"#,
        count = dir.join("count").display()
    )
}

/// A server, and the agent writing to it with the configuration of phase "one" (in
/// `dir`, at the path returned).
async fn start(dir: &Path) -> (Server, std::path::PathBuf, Child) {
    let server = Server::start(&dir.join("data"), 0, true).await;
    let path = dir.join("agent.conf");
    std::fs::write(&path, config(dir, &server.url, "one")).unwrap();
    let agent = Command::new(env!("CARGO_BIN_EXE_sluice-agent"))
        .arg("--config")
        .arg(&path)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    (server, path, agent)
}

#[tokio::test(flavor = "multi_thread")]
async fn usr1_flushes_hup_reloads_keeping_the_buffer_and_term_flushes_everything() {
    let dir = tempfile::tempdir().unwrap();
    let (server, path, agent) = start(dir.path()).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    gathered(dir.path(), 3, deadline, None).await;
    assert!(
        rows(&server).await.is_empty(),
        "nothing is written before a flush"
    );
    signal(&agent, libc::SIGUSR1);
    while rows(&server).await.is_empty() {
        assert!(Instant::now() < deadline, "SIGUSR1 did not flush");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    std::fs::write(&path, config(dir.path(), &server.url, "two")).unwrap();
    signal(&agent, libc::SIGHUP);
    let reload_start = gathers(dir.path());
    gathered(dir.path(), reload_start + 3, deadline, None).await;
    signal(&agent, libc::SIGTERM);
    let out = tokio::task::block_in_place(|| agent.wait_with_output()).unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{log}");
    assert!(log.contains("configuration reloaded"), "{log}");
    let stored = rows(&server).await;
    assert_eq!(
        stored.len(),
        gathers(dir.path()),
        "nothing lost across the reload: {log}"
    );
    assert!(stored.iter().any(|r| r["phase"] == "one"));
    assert!(stored.iter().any(|r| r["phase"] == "two"));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reloaded_configuration_whose_plugins_cannot_be_built_keeps_the_old_one() {
    let dir = tempfile::tempdir().unwrap();
    let (server, path, agent) = start(dir.path()).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    gathered(dir.path(), 2, deadline, None).await;
    // It loads (every key is known), but a file output cannot write JSON.
    let broken = format!(
        "{}[[outputs.file]]\n  files = [\"stdout\"]\n  data_format = \"json\"\n",
        config(dir.path(), &server.url, "two")
    );
    std::fs::write(&path, broken).unwrap();
    signal(&agent, libc::SIGHUP);
    let reload_start = gathers(dir.path());
    gathered(
        dir.path(),
        reload_start + 3,
        deadline,
        Some("the agent stopped gathering"),
    )
    .await;
    signal(&agent, libc::SIGTERM);
    let out = tokio::task::block_in_place(|| agent.wait_with_output()).unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{log}");
    assert!(
        log.contains("reload failed, keeping the old configuration"),
        "{log}"
    );
    let stored = rows(&server).await;
    assert_eq!(stored.len(), gathers(dir.path()), "{log}");
    assert!(stored.iter().all(|r| r["phase"] == "one"), "{log}");
    server.stop().await;
}
