//! A real S3-compatible server for the object-store tests: `s3s-fs` (built by
//! `scripts/s3-server.sh`, found through `SLUICE_S3S_FS` or on the PATH) on a free
//! loopback port, and the options of a `sluice serve` node on its bucket.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::Options;

pub const ACCESS_KEY: &str = "sluice-test-key";
pub const SECRET_KEY: &str = "sluice-test-secret";
pub const BUCKET: &str = "sluice";

/// Flags with which a node gives up on a request to a store that is away within
/// seconds (one retry, 1 s of retries, 2 s per attempt) instead of hanging in it.
pub const FAST_FAILURE: [&str; 6] = [
    "--object-store-max-retries",
    "1",
    "--object-store-retry-timeout",
    "1s",
    "--object-store-request-timeout",
    "2s",
];

/// The flags of a query node on an S3 bucket it never reaches: for the errors of flags
/// that stop the start before the bucket is read.
pub const UNREACHED_QUERY_NODE: [&str; 8] = [
    "--mode",
    "query",
    "--object-store",
    "s3",
    "--bucket",
    "b",
    "--node-id",
    "q",
];

/// The s3s-fs binary, or `None` (the test is skipped) when it is not installed and the
/// suite does not require it.
pub fn s3s_fs() -> Option<PathBuf> {
    super::installed_tool("SLUICE_S3S_FS", "s3s-fs", "scripts/s3-server.sh")
}

/// A running s3s-fs serving `root` on a fixed loopback port, killed on drop.
pub struct S3Server {
    binary: PathBuf,
    pub root: PathBuf,
    port: u16,
    child: Option<Child>,
}

impl S3Server {
    pub fn start(binary: PathBuf, root: &Path) -> S3Server {
        std::fs::create_dir_all(root.join(BUCKET)).unwrap();
        let port = super::free_port();
        let mut server = S3Server {
            binary,
            root: root.to_owned(),
            port,
            child: None,
        };
        server.resume();
        server
    }

    /// A server whose root is `s3` in a fresh temporary directory (the nodes' data
    /// directories go beside it), or `None` when s3s-fs is not installed (the test is
    /// skipped; see [`s3s_fs`]).
    pub fn in_temp_dir() -> Option<(tempfile::TempDir, S3Server)> {
        let binary = s3s_fs()?;
        let temp = tempfile::tempdir().unwrap();
        let server = S3Server::start(binary, &temp.path().join("s3"));
        Some((temp, server))
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Starts the server (again) on its port and waits until it accepts connections.
    pub fn resume(&mut self) {
        let child = Command::new(&self.binary)
            .args(["--host", "127.0.0.1", "--port", &self.port.to_string()])
            .args(["--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY])
            .arg(&self.root)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("s3s-fs starts");
        self.child = Some(child);
        super::wait_listening("s3s-fs", self.port, Duration::from_secs(20));
    }

    /// Kills the server: the store is gone until [`S3Server::resume`].
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Parquet files the bucket holds.
    pub fn parquet_files(&self) -> usize {
        super::parquet_files_under(&self.root.join(BUCKET))
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The options of `sluice serve` as node `node_id` on the S3 server's bucket, persisting
/// as soon as anything is buffered, with authentication.
pub fn node_options(s3: &S3Server, data_dir: &Path, node_id: &str) -> Options {
    bucket_options(s3, data_dir, node_id)
        .arg("--persist-buffer-bytes")
        .arg("1")
}

/// The options of `sluice serve` as node `node_id` on the S3 server's bucket, with
/// authentication and the default persistence.
pub fn bucket_options(s3: &S3Server, data_dir: &Path, node_id: &str) -> Options {
    Options::default()
        .arg("--object-store")
        .arg("s3")
        .arg("--bucket")
        .arg(BUCKET)
        .arg("--node-id")
        .arg(node_id)
        .arg("--aws-endpoint")
        .arg(&s3.endpoint())
        .arg("--aws-allow-http")
        .arg("--aws-access-key-id")
        .arg(ACCESS_KEY)
        // A node restarted on a new disk after a kill waits this long for the old
        // process's heartbeat.
        .arg("--node-lease-timeout")
        .arg("2s")
        .env("SLUICE_AWS_SECRET_ACCESS_KEY", SECRET_KEY)
        .data_dir(data_dir)
}
