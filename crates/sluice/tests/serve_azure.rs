//! `sluice serve --object-store azure` against a real Azure Blob Storage emulator
//! (Azurite from npm, installed by `scripts/azure-server.sh`, found through
//! `SLUICE_AZURITE_DIR`): a node keeps its files, catalog and manifest in the container,
//! holds its node id's lease there (the store's create-if-absent put), and a node started
//! on an empty disk gets everything persisted back from the container.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{Options, TestServer, count, points, wait_until};

const CONTAINER: &str = "sluice";

/// The directory `scripts/azure-server.sh` installed Azurite and the blob SDK into, or
/// `None` (the test is skipped) when it is not installed and the suite does not
/// require it.
fn azurite_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("SLUICE_AZURITE_DIR").map(PathBuf::from);
    if dir.is_none() {
        common::not_installed("Azurite", "scripts/azure-server.sh", "SLUICE_AZURITE_DIR");
    }
    dir
}

/// A running Azurite blob service on a free loopback port, killed on drop.
struct Azurite {
    dir: PathBuf,
    port: u16,
    child: Child,
}

impl Azurite {
    fn start(dir: PathBuf, location: &Path) -> Azurite {
        let port = common::free_port();
        let child = Command::new(dir.join("node_modules/.bin/azurite-blob"))
            .args(["--blobHost", "127.0.0.1", "--blobPort", &port.to_string()])
            .arg("--location")
            .arg(location)
            .args(["--silent", "--skipApiVersionCheck"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("azurite-blob starts");
        common::wait_listening("Azurite", port, Duration::from_secs(30));
        let azurite = Azurite { dir, port, child };
        azurite.blob(&["create", CONTAINER]).unwrap();
        azurite
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Runs `scripts/azure-blob.js COMMAND URL ARGS…`; its standard output, or `None`
    /// when it exits 3 (no such blob).
    fn blob(&self, args: &[&str]) -> Option<Vec<u8>> {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/azure-blob.js");
        let output = Command::new("node")
            .arg(script)
            .arg(args[0])
            .arg(self.url())
            .args(&args[1..])
            .env("NODE_PATH", self.dir.join("node_modules"))
            .output()
            .expect("node runs");
        match output.status.code() {
            Some(0) => Some(output.stdout),
            Some(3) => None,
            _ => panic!(
                "azure-blob.js {args:?} failed: {}",
                String::from_utf8_lossy(&output.stderr)
            ),
        }
    }

    /// Rows the container's manifest of node `node_id` lists (0 before it has one).
    fn published_rows(&self, node_id: &str) -> u64 {
        let Some(bytes) = self.blob(&["get", CONTAINER, &format!("{node_id}/manifest.json")])
        else {
            return 0;
        };
        let manifest: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        manifest["files"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["rows"].as_u64().unwrap())
            .sum()
    }
}

impl Drop for Azurite {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `sluice serve` as node `node_id` on Azurite's container, through the emulator
/// settings of the Azure client (its development account), persisting at once.
fn sluice_node(azurite: &Azurite, data_dir: &Path, node_id: &str) -> TestServer {
    TestServer::start(
        Options::default()
            .arg("--without-auth")
            .arg("--object-store")
            .arg("azure")
            .arg("--bucket")
            .arg(CONTAINER)
            .arg("--node-id")
            .arg(node_id)
            .arg("--persist-buffer-bytes")
            .arg("1")
            .arg("--node-lease-timeout")
            .arg("2s")
            .env("AZURE_STORAGE_USE_EMULATOR", "true")
            .env("AZURITE_BLOB_STORAGE_URL", &azurite.url())
            .data_dir(data_dir),
    )
}

#[test]
fn a_node_keeps_its_data_in_azure_blob_storage_and_gets_it_back_on_an_empty_disk() {
    let Some(dir) = azurite_dir() else { return };
    let temp = tempfile::tempdir().unwrap();
    let azurite = Azurite::start(dir, &temp.path().join("azurite"));
    let disk = temp.path().join("n1");
    let mut node = sluice_node(&azurite, &disk, "n1");
    let reply = node.post("/write?db=db", &[], points(0, 500).as_bytes());
    assert_eq!(reply.status, 204, "{}", reply.body);
    wait_until(
        "the rows are in the container's manifest",
        Duration::from_secs(60),
        || azurite.published_rows("n1") == 500,
    );
    // The node id's lease is in the container too.
    let holder = azurite
        .blob(&["get", CONTAINER, "n1/owner/00000000000000000001.json"])
        .expect("the lease's first epoch");
    let holder: serde_json::Value = serde_json::from_slice(&holder).unwrap();
    assert_eq!(holder["pid"], node.pid());

    // The disk is lost; the node starts again on an empty one and gets everything back,
    // then goes on.
    node.terminate();
    std::fs::remove_dir_all(&disk).unwrap();
    let node = sluice_node(&azurite, &disk, "n1");
    assert_eq!(count(&node), 500);
    let reply = node.post("/write?db=db", &[], points(500, 600).as_bytes());
    assert_eq!(reply.status, 204, "{}", reply.body);
    wait_until(
        "the new rows are in the container's manifest",
        Duration::from_secs(60),
        || azurite.published_rows("n1") == 600,
    );
    assert_eq!(count(&node), 600);
}
