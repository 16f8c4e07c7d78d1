//! Set-up shared by the query engine's integration tests: storage without fsyncs and
//! line protocol written into database `db`.

use sluice_storage::sluice_lp::{ParseOptions, Parser};
use sluice_storage::{Storage, StorageConfig, WalSync, WriteOptions};

/// Storage in `dir` without fsyncs.
pub(crate) async fn open(dir: &std::path::Path) -> Storage {
    Storage::open(StorageConfig {
        data_dir: dir.to_owned(),
        wal_sync: WalSync::None,
        ..StorageConfig::default()
    })
    .await
    .unwrap()
}

/// Writes `text` (valid line protocol, nanosecond timestamps) into database `db`.
pub(crate) async fn write(storage: &Storage, text: &str) {
    write_to(storage, "db", text).await;
}

/// Writes `text` (valid line protocol, nanosecond timestamps) into storage database
/// `storage_db` (a database, or a retention policy's `db/rp`).
pub(crate) async fn write_to(storage: &Storage, storage_db: &str, text: &str) {
    let lines: Vec<_> = Parser::new(text.as_bytes(), ParseOptions::default())
        .map(|l| l.unwrap())
        .collect();
    storage
        .write(storage_db, &lines, WriteOptions::default())
        .await
        .unwrap();
}
