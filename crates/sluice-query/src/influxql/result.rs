//! What an InfluxQL statement returns: series of rows, as InfluxDB 1.x shapes them.

/// The outcome of one statement of an InfluxQL query.
#[derive(Debug, Clone, PartialEq)]
pub struct StatementResult {
    /// The statement's position in the query, from 0.
    pub statement_id: usize,
    /// The series, in InfluxDB's order (by measurement, then tag set); empty when the
    /// statement matched nothing or returns no rows (`CREATE DATABASE`).
    pub series: Vec<Series>,
    /// Why the statement failed, when it did.
    pub error: Option<String>,
    /// The zone of the statement's `tz()`: times written as RFC 3339 carry its offset.
    pub time_zone: Option<super::TimeZone>,
}

/// One series of a result: rows sharing a measurement and `GROUP BY` tag values.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// The measurement (or a name such as `databases` for `SHOW DATABASES`); may be empty.
    pub name: String,
    /// The `GROUP BY` tag values, sorted by key; empty when not grouped by tags.
    pub tags: Vec<(String, String)>,
    /// Column names; `time` first for `SELECT` results.
    pub columns: Vec<String>,
    /// The rows, each as long as `columns`.
    pub values: Vec<Vec<Value>>,
}

/// A value in a result row.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// No value.
    Null,
    /// A float.
    Float(f64),
    /// A signed integer.
    Integer(i64),
    /// An unsigned integer.
    Unsigned(u64),
    /// A string.
    String(String),
    /// A boolean.
    Boolean(bool),
    /// A timestamp, nanoseconds since the epoch (written as RFC 3339 or as an epoch number
    /// depending on the request).
    Time(i64),
}

impl Value {
    /// Whether this is [`Value::Null`].
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// The value as a float, for numeric values.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Float(x) => Some(*x),
            Value::Integer(i) => Some(*i as f64),
            Value::Unsigned(u) => Some(*u as f64),
            _ => None,
        }
    }
}
