//! An in-process sluice server (real storage, real HTTP on a free port) and helpers to
//! run the real `sluice-agent` binary against it and read the stored data back.

#![allow(dead_code, unreachable_pub)] // each test binary uses a different part

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use arrow::array::Array;
use sluice_server::{AppState, Auth, ServerConfig};
use sluice_storage::{ObjectStoreConfig, ScanRequest, Storage, StorageConfig};

/// A running in-process server.
pub struct Server {
    pub url: String,
    pub storage: Storage,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
    pub data_dir: PathBuf,
}

impl Server {
    /// Starts a server on `data_dir`, on `port` (0 for any).
    pub async fn start(data_dir: &Path, port: u16, auto_create: bool) -> Server {
        let storage = Storage::open(StorageConfig {
            data_dir: data_dir.to_owned(),
            object_store: ObjectStoreConfig::Local,
            auto_create_databases: auto_create,
            ..StorageConfig::default()
        })
        .await
        .unwrap();
        let config = ServerConfig {
            auto_create_databases: auto_create,
            ..ServerConfig::default()
        };
        let state = AppState::new(storage.clone(), config, Auth::Disabled);
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let shutdown = async move {
                let _ = rx.await;
            };
            sluice_server::serve(listener, state, shutdown, std::time::Duration::from_secs(1))
                .await
                .unwrap();
        });
        Server {
            url,
            storage,
            stop: Some(tx),
            task: Some(task),
            data_dir: data_dir.to_owned(),
        }
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.url.rsplit(':').next().unwrap().parse().unwrap()
    }

    /// Stops serving and shuts the storage down.
    pub async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
        self.storage.shutdown().await.unwrap();
    }

    /// Table names of `db` (empty when the database does not exist).
    pub fn tables(&self, db: &str) -> Vec<String> {
        self.storage
            .tables(db)
            .map(|t| t.into_iter().map(|t| t.name).collect())
            .unwrap_or_default()
    }

    /// Every row of `db.table`, as `column → value` rendered as text.
    pub async fn rows(
        &self,
        db: &str,
        table: &str,
    ) -> Vec<std::collections::BTreeMap<String, String>> {
        let result = self
            .storage
            .scan(db, table, &ScanRequest::default())
            .await
            .unwrap();
        let mut rows = Vec::new();
        for batch in &result.batches {
            for row in 0..batch.num_rows() {
                let mut map = std::collections::BTreeMap::new();
                for (i, field) in batch.schema().fields().iter().enumerate() {
                    let col = batch.column(i);
                    if col.is_null(row) {
                        continue;
                    }
                    let text = arrow::util::display::array_value_to_string(col, row).unwrap();
                    map.insert(field.name().clone(), text);
                }
                rows.push(map);
            }
        }
        rows
    }
}

/// Runs `sluice-agent ARGS` with `config` written to a file in `dir`.
pub fn run_agent(dir: &Path, config: &str, args: &[&str]) -> Output {
    let path = dir.join("agent.conf");
    std::fs::write(&path, config).unwrap();
    Command::new(env!("CARGO_BIN_EXE_sluice-agent"))
        .arg("--config")
        .arg(&path)
        .args(args)
        .output()
        .unwrap()
}

/// Reads one value of `/proc/meminfo` in bytes.
pub fn meminfo(key: &str) -> u64 {
    let text = std::fs::read_to_string("/proc/meminfo").unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with(&format!("{key}:")))
        .unwrap();
    line.split_whitespace()
        .nth(1)
        .unwrap()
        .parse::<u64>()
        .unwrap()
        * 1024
}
