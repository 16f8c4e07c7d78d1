//! What the publisher needs to know: the catalog to publish to and how to retry.

use std::time::Duration;

/// Where and how sluice's tables are published as Iceberg tables.
#[derive(Debug, Clone)]
pub struct IcebergConfig {
    /// The Iceberg SQL catalog's PostgreSQL database, as a URL:
    /// `postgres://user:password@host:5432/database`. No default: publishing is off
    /// unless it is set.
    pub catalog_url: String,
    /// The catalog's name (the `catalog_name` column of its tables): readers name the
    /// same one. Default `sluice`.
    pub catalog_name: String,
    /// The first wait before retrying a failed publication; it doubles with every failure
    /// in a row. Default 1 s.
    pub min_retry_interval: Duration,
    /// The longest wait between retries. Default 60 s.
    pub max_retry_interval: Duration,
}

impl IcebergConfig {
    /// The configuration for the catalog at `catalog_url`, with the other settings at
    /// their defaults.
    pub fn new(catalog_url: impl Into<String>) -> IcebergConfig {
        IcebergConfig {
            catalog_url: catalog_url.into(),
            catalog_name: "sluice".to_owned(),
            min_retry_interval: Duration::from_secs(1),
            max_retry_interval: Duration::from_secs(60),
        }
    }
}
