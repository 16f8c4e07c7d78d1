//! What the publisher needs to know: the catalog to publish to and how to retry.

use std::time::Duration;

/// Where and how sluice's tables are published as Iceberg tables. Its `Debug` shows the
/// catalog URL without its password.
#[derive(Clone)]
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

impl std::fmt::Debug for IcebergConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IcebergConfig")
            .field("catalog_url", &without_password(&self.catalog_url))
            .field("catalog_name", &self.catalog_name)
            .field("min_retry_interval", &self.min_retry_interval)
            .field("max_retry_interval", &self.max_retry_interval)
            .finish()
    }
}

/// `url` with the password of its `user:password@` part, if any, replaced by `***`.
fn without_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) if userinfo.contains(':') => {
            let user = userinfo.split_once(':').map_or(userinfo, |(u, _)| u);
            format!("{scheme}://{user}:***@{host}{path}")
        }
        _ => url.to_owned(),
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_the_catalog_password() {
        let config = IcebergConfig::new("postgres://sluice:s3cret@db:5432/iceberg");
        let shown = format!("{config:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(
            shown.contains("postgres://sluice:***@db:5432/iceberg"),
            "{shown}"
        );
        assert_eq!(without_password("postgres://db/x"), "postgres://db/x");
        assert_eq!(without_password("postgres://u@db/x"), "postgres://u@db/x");
    }
}
