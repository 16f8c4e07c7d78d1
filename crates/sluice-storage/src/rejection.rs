//! Why the catalog refuses a line that parsed: one variant per rule, displayed in the words
//! the HTTP APIs answer with (InfluxDB's where it has words for the rule).

use crate::types::FieldType;

/// The earliest time a point may have (ns since the epoch): 1677-09-21T00:12:43.145224194Z.
pub const MIN_TIME: i64 = i64::MIN + 2;

/// The latest time a point may have (ns since the epoch): 2262-04-11T23:47:16.854775806Z.
pub const MAX_TIME: i64 = i64::MAX - 1;

/// Why a write left out a line that parsed (see [`crate::RejectedLine`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// The line's time is in a day the retention period already dropped.
    #[error("point is outside the retention period of {}: time {time}", describe(database, policy.as_deref()))]
    OutsideRetention {
        database: String,
        /// The retention policy, when it is not the one the database was created with.
        policy: Option<String>,
        time: i64,
    },
    /// A time at either end of the 64-bit nanosecond range, outside
    /// [`MIN_TIME`]`..=`[`MAX_TIME`]: InfluxDB keeps those three values for itself and
    /// stores no point there, and a query could not name a range that ends after them.
    #[error(
        "timestamp out of range: time {time} is outside {MIN_TIME}..={MAX_TIME}, the nanoseconds a point may have"
    )]
    TimeOutOfRange { time: i64 },
    /// The line would add a table to a database that has the most it may have.
    #[error("table limit reached: database {database:?} has {max} tables, the maximum")]
    TableLimit { database: String, max: usize },
    /// A tag or field named `time`, the timestamp's name in every query language.
    #[error("invalid {} key \"time\" on table {table:?}: the name is reserved for the timestamp", if *is_tag { "tag" } else { "field" })]
    ReservedKey { table: String, is_tag: bool },
    /// A tag value longer than [`crate::CatalogLimits::max_tag_value_bytes`].
    #[error(
        "tag value too long: tag {key:?} on table {table:?} is {bytes} bytes, the maximum is {max}"
    )]
    TagValueTooLong {
        table: String,
        key: String,
        bytes: usize,
        max: usize,
    },
    /// A tag whose key the table already has as a field.
    #[error(
        "tag/field conflict: tag {key:?} on table {table:?} is already a field of type {field_type}"
    )]
    TagIsField {
        table: String,
        key: String,
        field_type: FieldType,
    },
    /// A field whose key the table already has as a tag.
    #[error("tag/field conflict: field {key:?} on table {table:?} is already a tag")]
    FieldIsTag { table: String, key: String },
    /// A new key the line names both as a tag and as a field.
    #[error("tag/field conflict: {key:?} on table {table:?} is both a tag and a field")]
    TagAndField { table: String, key: String },
    /// A field value of another type than the table's column of that name.
    #[error(
        "field type conflict: field {field:?} on table {table:?} is {existing}, got {attempted}"
    )]
    FieldTypeConflict {
        table: String,
        field: String,
        existing: FieldType,
        attempted: FieldType,
    },
    /// The line would give its table more columns than it may have.
    #[error(
        "column limit reached: table {table:?} would have {columns} columns, the maximum is {max}"
    )]
    ColumnLimit {
        table: String,
        columns: usize,
        max: usize,
    },
}

impl Rejection {
    /// The rule broken, without the details: what rejections are counted and filtered by
    /// (`field type conflict`, `tag/field conflict`, …).
    pub fn kind(&self) -> &'static str {
        match self {
            Rejection::OutsideRetention { .. } => "point is outside the retention period",
            // The parser's word for a timestamp that does not fit 64 bits at all.
            Rejection::TimeOutOfRange { .. } => "timestamp out of range",
            Rejection::TableLimit { .. } => "table limit reached",
            Rejection::ReservedKey { is_tag: true, .. } => "invalid tag key",
            Rejection::ReservedKey { is_tag: false, .. } => "invalid field key",
            Rejection::TagValueTooLong { .. } => "tag value too long",
            Rejection::TagIsField { .. }
            | Rejection::FieldIsTag { .. }
            | Rejection::TagAndField { .. } => "tag/field conflict",
            Rejection::FieldTypeConflict { .. } => "field type conflict",
            Rejection::ColumnLimit { .. } => "column limit reached",
        }
    }
}

/// What users call a storage database: `database "d"`, or `retention policy "week" of
/// database "d"`.
pub(crate) fn describe(database: &str, policy: Option<&str>) -> String {
    match policy {
        Some(policy) => format!("retention policy {policy:?} of database {database:?}"),
        None => format!("database {database:?}"),
    }
}
