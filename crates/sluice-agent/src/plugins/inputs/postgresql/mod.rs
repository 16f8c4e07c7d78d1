//! `inputs.postgresql`: one `postgresql` metric per row of `pg_stat_database` (tags
//! `server` and `db`, `postgres_global` for the row of shared objects) and one for
//! `pg_stat_bgwriter`, every column a field as Telegraf writes them: integers, floats,
//! strings; `stats_reset`, timestamps and NULLs left out.

pub mod address;

use std::str::FromStr as _;
use std::time::{Duration, Instant};

use serde::Deserialize;
use tokio_postgres::types::Type;
use tokio_postgres::{Client, NoTls, Row};
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::blocking::LocalRuntime;
use crate::config::ConfigDuration;
use crate::error::Result;
use crate::metric::{FieldValue, Metric};
use crate::plugins::{Accumulator, Input};
use crate::tls::TlsClientConfig;

/// `[[inputs.postgresql]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PostgresqlConfig {
    /// A `key=value` connection string or a `postgres://` URL. Default:
    /// `"host=localhost sslmode=disable"`.
    pub address: String,
    /// The `server` tag instead of the sanitized address. Default: `""`.
    pub outputaddress: String,
    /// The longest a connection is kept (`0s`: forever). Default: `"0s"`.
    pub max_lifetime: ConfigDuration,
    /// Databases to leave out. Default: `[]`.
    pub ignored_databases: Vec<String>,
    /// The only databases to gather. Default: `[]` (all).
    pub databases: Vec<String>,
    /// Accepted for compatibility; statements are always prepared. Default: `true`.
    pub prepared_statements: bool,
    /// Accepted for compatibility (one connection is used). Default: `1`.
    pub max_idle: i64,
    /// Accepted for compatibility (one connection is used). Default: `1`.
    pub max_open: i64,
}

impl Default for PostgresqlConfig {
    fn default() -> Self {
        PostgresqlConfig {
            address: String::new(),
            outputaddress: String::new(),
            max_lifetime: ConfigDuration::default(),
            ignored_databases: Vec::new(),
            databases: Vec::new(),
            prepared_statements: true,
            max_idle: 1,
            max_open: 1,
        }
    }
}

/// An open connection and when it was made.
struct Connection {
    client: Client,
    made: Instant,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("made", &self.made)
            .finish_non_exhaustive()
    }
}

/// The `postgresql` input.
pub struct Postgresql {
    config: tokio_postgres::Config,
    /// TLS unless the address says `sslmode=disable`.
    tls: Option<MakeRustlsConnect>,
    server_tag: String,
    connection_db: String,
    databases: Vec<String>,
    ignored: Vec<String>,
    max_lifetime: Duration,
    timeout: Duration,
    connection: Option<Connection>,
    /// Taken out while a gather runs it (the gather borrows the rest of `self`).
    runtime: Option<LocalRuntime>,
}

impl std::fmt::Debug for Postgresql {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Postgresql")
            .field("server", &self.server_tag)
            .field("tls", &self.tls.is_some())
            .finish_non_exhaustive()
    }
}

impl Postgresql {
    /// Builds the input.
    ///
    /// # Errors
    /// A message about an address that does not parse, or both `databases` and
    /// `ignored_databases` set.
    pub fn new(config: PostgresqlConfig) -> std::result::Result<Postgresql, String> {
        let address = address::effective_address(&config.address);
        let (connect_address, tls) = address::split_tls(&address)?;
        let mut pg = tokio_postgres::Config::from_str(&connect_address)
            .map_err(|err| format!("`address`: cannot parse the connection string: {err}"))?;
        let tls = if tls.wanted() {
            let keys = TlsClientConfig::new(&tls.root_cert, &tls.cert, &tls.key, !tls.verified());
            let config = keys.rustls_config().map_err(|err| {
                // The keys are the address's: name them as libpq does.
                let err = err
                    .replace("`tls_ca`", "`sslrootcert`")
                    .replace("`tls_cert`", "`sslcert`")
                    .replace("`tls_key`", "`sslkey`");
                format!("`address`: {err}")
            })?;
            Some(MakeRustlsConnect::new(config))
        } else {
            None
        };
        if pg.get_connect_timeout().is_none() {
            pg.connect_timeout(Duration::from_secs(5));
        }
        if pg.get_application_name().is_none() {
            pg.application_name("sluice-agent");
        }
        if !config.databases.is_empty() && !config.ignored_databases.is_empty() {
            return Err(
                "`databases` and `ignored_databases` cannot both be set (use one)".to_owned(),
            );
        }
        let server_tag = address::sanitized(&address, &config.outputaddress)?;
        let connection_db = address::connection_database(&address::sanitized(&address, "")?);
        Ok(Postgresql {
            config: pg,
            tls,
            server_tag,
            connection_db,
            databases: config.databases,
            ignored: config.ignored_databases,
            max_lifetime: config.max_lifetime.0,
            timeout: Duration::from_secs(30),
            connection: None,
            runtime: Some(LocalRuntime::new()?),
        })
    }

    /// The connection, made again when it is closed or older than `max_lifetime`.
    async fn client(&mut self) -> std::result::Result<&Client, String> {
        let stale = match &self.connection {
            None => true,
            Some(c) => {
                c.client.is_closed()
                    || (!self.max_lifetime.is_zero() && c.made.elapsed() >= self.max_lifetime)
            }
        };
        if stale {
            self.connection = None;
            let failed = |err: tokio_postgres::Error| crate::tls::error_chain(&err);
            let closed = |err: tokio_postgres::Error| {
                tracing::debug!("postgresql connection closed: {err}");
            };
            let client = match &self.tls {
                Some(tls) => {
                    let (client, connection) =
                        self.config.connect(tls.clone()).await.map_err(failed)?;
                    tokio::spawn(async move { connection.await.map_err(closed) });
                    client
                }
                None => {
                    let (client, connection) = self.config.connect(NoTls).await.map_err(failed)?;
                    tokio::spawn(async move { connection.await.map_err(closed) });
                    client
                }
            };
            self.connection = Some(Connection {
                client,
                made: Instant::now(),
            });
        }
        match &self.connection {
            Some(c) => Ok(&c.client),
            None => Err("not connected".to_owned()),
        }
    }

    async fn gather_rows(&mut self) -> std::result::Result<(Vec<Row>, Vec<Row>), String> {
        let (databases, ignored) = (self.databases.clone(), self.ignored.clone());
        let client = self.client().await?;
        let err = |e: tokio_postgres::Error| crate::tls::error_chain(&e);
        let stats = if !ignored.is_empty() {
            client
                .query(
                    "SELECT * FROM pg_stat_database WHERE NOT (datname::text = ANY($1::text[]))",
                    &[&ignored],
                )
                .await
        } else if !databases.is_empty() {
            client
                .query(
                    "SELECT * FROM pg_stat_database WHERE datname::text = ANY($1::text[])",
                    &[&databases],
                )
                .await
        } else {
            client.query("SELECT * FROM pg_stat_database", &[]).await
        }
        .map_err(err)?;
        let bgwriter = client
            .query("SELECT * FROM pg_stat_bgwriter", &[])
            .await
            .map_err(err)?;
        Ok((stats, bgwriter))
    }

    fn metric(&self, row: &Row, time: i64) -> Metric {
        let mut metric =
            Metric::new("postgresql", time).with_tag("server", self.server_tag.clone());
        let has_datname = row.columns().iter().any(|c| c.name() == "datname");
        let db = if has_datname {
            row.try_get::<_, Option<String>>("datname")
                .ok()
                .flatten()
                .unwrap_or_else(|| "postgres_global".to_owned())
        } else {
            self.connection_db.clone()
        };
        metric.tags.insert("db".to_owned(), db);
        for (i, column) in row.columns().iter().enumerate() {
            if column.name() == "stats_reset" {
                continue;
            }
            if let Some(value) = column_value(row, i, column.type_()) {
                metric.set_field(column.name(), value);
            }
        }
        metric
    }
}

/// A column's value as Telegraf writes it; `None` for NULL and for types it leaves out
/// (timestamps, arrays, ...).
fn column_value(row: &Row, i: usize, ty: &Type) -> Option<FieldValue<'static>> {
    let value = match *ty {
        Type::INT2 => i64::from(row.try_get::<_, Option<i16>>(i).ok()??).into(),
        Type::INT4 => i64::from(row.try_get::<_, Option<i32>>(i).ok()??).into(),
        Type::INT8 => row.try_get::<_, Option<i64>>(i).ok()??.into(),
        Type::OID => i64::from(row.try_get::<_, Option<u32>>(i).ok()??).into(),
        Type::FLOAT4 => f64::from(row.try_get::<_, Option<f32>>(i).ok()??).into(),
        Type::FLOAT8 => row.try_get::<_, Option<f64>>(i).ok()??.into(),
        Type::BOOL => row.try_get::<_, Option<bool>>(i).ok()??.into(),
        Type::TEXT | Type::NAME | Type::VARCHAR | Type::BPCHAR => {
            FieldValue::String(row.try_get::<_, Option<String>>(i).ok()??.into())
        }
        _ => return None,
    };
    Some(value)
}

impl Input for Postgresql {
    fn gather(&mut self, acc: &mut Accumulator) -> Result<()> {
        let timeout = self.timeout;
        let runtime = match self.runtime.take() {
            Some(runtime) => runtime,
            None => LocalRuntime::new().map_err(|message| crate::error::Error::Gather {
                plugin: "postgresql".to_owned(),
                message,
            })?,
        };
        let result = runtime.block_on(async {
            match tokio::time::timeout(timeout, self.gather_rows()).await {
                Ok(result) => result,
                Err(_) => Err(format!("no answer within {timeout:?}")),
            }
        });
        self.runtime = Some(runtime);
        match result {
            Ok((stats, bgwriter)) => {
                for row in stats.iter().chain(&bgwriter) {
                    acc.add(self.metric(row, acc.time()));
                }
            }
            Err(err) => {
                // A broken connection is made again at the next gather.
                self.connection = None;
                acc.add_error(format!("{}: {err}", self.server_tag));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_database_lists_are_refused() {
        let err = Postgresql::new(PostgresqlConfig {
            databases: vec!["a".into()],
            ignored_databases: vec!["b".into()],
            ..PostgresqlConfig::default()
        })
        .unwrap_err();
        assert!(err.contains("cannot both be set"), "{err}");
    }

    #[test]
    fn a_bad_address_is_a_configuration_error() {
        let err = Postgresql::new(PostgresqlConfig {
            address: "host=h sslmode=bogus".into(),
            ..PostgresqlConfig::default()
        })
        .unwrap_err();
        assert!(err.starts_with("`address`"), "{err}");
    }

    #[test]
    fn a_server_that_is_down_is_an_error_naming_it() {
        let mut input = Postgresql::new(PostgresqlConfig {
            address: "host=127.0.0.1 port=1 user=u password=secret connect_timeout=2".into(),
            ..PostgresqlConfig::default()
        })
        .unwrap();
        let mut acc = Accumulator::new(1);
        input.gather(&mut acc).unwrap();
        assert!(acc.metrics().is_empty());
        assert_eq!(acc.errors().len(), 1);
        let err = &acc.errors()[0];
        assert!(err.starts_with("host=127.0.0.1 port=1 user=u"), "{err}");
        assert!(!err.contains("secret"), "{err}");
    }
}
