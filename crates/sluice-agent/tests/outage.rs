//! Outages: the real agent keeps gathering while the server is down. With the disk
//! buffer nothing is lost (even across an agent restart); with the memory buffer exactly
//! the overflow is dropped, and counted.

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::Server;

fn start_agent(dir: &Path, config: &str) -> Child {
    let path = dir.join("agent.conf");
    std::fs::write(&path, config).unwrap();
    Command::new(env!("CARGO_BIN_EXE_sluice-agent"))
        .arg("--config")
        .arg(&path)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Sends SIGTERM and waits; returns the exit code and the log.
fn terminate(mut child: Child) -> (Option<i32>, String) {
    // SAFETY: kill(2) with a pid we spawned and own.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let out = std::mem::replace(&mut child, Command::new("true").spawn().unwrap());
    let output = out.wait_with_output().unwrap();
    let _ = child.wait();
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn gathers(dir: &Path) -> usize {
    std::fs::read_to_string(dir.join("count"))
        .map(|s| s.lines().count())
        .unwrap_or(0)
}

async fn stored(server: &Server) -> usize {
    if !server.tables("o").contains(&"tick".to_owned()) {
        return 0;
    }
    server.rows("o", "tick").await.len()
}

async fn wait_for(what: &str, mut check: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn config(dir: &Path, url: &str, buffer: &str) -> String {
    format!(
        r#"
[agent]
  interval = "100ms"
  round_interval = false
  flush_interval = "100ms"
  metric_batch_size = 2
  omit_hostname = true
  {buffer}
[[inputs.exec]]
  commands = ["sh -c 'echo x >> {count}; echo tick n=1i'"]
[[outputs.influxdb_v2]]
  urls = ["{url}"]
  bucket = "o"
  timeout = "1s"
"#,
        count = dir.join("count").display()
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn with_the_memory_buffer_exactly_the_overflow_is_dropped_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = Server::start(&data, 0, true).await;
    let port = server.port();
    let agent = start_agent(
        dir.path(),
        &config(dir.path(), &server.url, "metric_buffer_limit = 5"),
    );
    wait_for("first writes", async || stored(&server).await >= 2).await;
    server.stop().await;
    let down_at = gathers(dir.path());
    wait_for("gathers during the outage", async || {
        gathers(dir.path()) >= down_at + 15
    })
    .await;
    let server = Server::start(&data, port, true).await;
    let before = stored(&server).await;
    // The 5 buffered metrics, then at least one gathered after the restart.
    let deadline = Instant::now() + Duration::from_secs(20);
    while stored(&server).await < before + 6 {
        if Instant::now() > deadline {
            let (_, log) = tokio::task::block_in_place(|| terminate(agent));
            panic!("the buffer did not drain: {}\n{log}", stored(&server).await);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (code, log) = tokio::task::block_in_place(|| terminate(agent));
    assert_eq!(code, Some(0), "{log}");
    let gathered = gathers(dir.path());
    let dropped: usize = log
        .lines()
        .filter_map(|l| l.split("total_dropped=").nth(1))
        .filter_map(|rest| rest.split_whitespace().next()?.parse().ok())
        .max()
        .unwrap_or(0);
    let written = stored(&server).await;
    assert!(dropped > 0, "the outage overflowed the buffer of 5: {log}");
    assert_eq!(
        written + dropped,
        gathered,
        "written {written} + dropped {dropped} != gathered {gathered}\n{log}"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn with_the_disk_buffer_nothing_is_lost_across_an_outage_and_an_agent_restart() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = Server::start(&data, 0, true).await;
    let port = server.port();
    let buffer = format!(
        "buffer_strategy = \"disk\"\n  buffer_directory = \"{}\"",
        dir.path().join("buffer").display()
    );
    let conf = config(dir.path(), &server.url, &buffer);
    let agent = start_agent(dir.path(), &conf);
    wait_for("first writes", async || stored(&server).await >= 2).await;
    server.stop().await;
    let down_at = gathers(dir.path());
    wait_for("gathers during the outage", async || {
        gathers(dir.path()) >= down_at + 10
    })
    .await;
    // The agent stops while the server is down: its buffer stays on disk.
    let (code, log) = tokio::task::block_in_place(|| terminate(agent));
    assert_eq!(code, Some(0), "{log}");
    let gathered_first_run = gathers(dir.path());
    let server = Server::start(&data, port, true).await;
    let agent = start_agent(dir.path(), &conf);
    wait_for("everything of the first run", async || {
        stored(&server).await >= gathered_first_run
    })
    .await;
    let (code, log) = tokio::task::block_in_place(|| terminate(agent));
    assert_eq!(code, Some(0), "{log}");
    assert_eq!(stored(&server).await, gathers(dir.path()), "{log}");
    assert!(!log.contains("total_dropped"), "{log}");
    server.stop().await;
}
