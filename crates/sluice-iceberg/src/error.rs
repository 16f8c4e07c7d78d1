//! The errors of publishing a table to the Iceberg catalog.

/// Why a table could not be published (each is retried by the publisher).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The Iceberg library refused or failed an operation (metadata, manifests, catalog).
    #[error("iceberg: {0}")]
    Iceberg(#[from] iceberg::Error),
    /// The catalog database failed a statement.
    #[error("iceberg catalog database: {0}")]
    Database(#[from] sqlx::Error),
    /// Another writer changed the table between our read and our commit.
    #[error("the iceberg table {table} changed while it was being published")]
    CommitConflict {
        /// `namespace.table`.
        table: String,
    },
    /// The configuration cannot work (for instance the in-memory object store).
    #[error("{0}")]
    Config(String),
}

/// The result of publishing.
pub type Result<T, E = Error> = std::result::Result<T, E>;
