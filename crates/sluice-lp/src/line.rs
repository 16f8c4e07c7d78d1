//! One parsed point: measurement, tags, fields and time, borrowing from the input.

use std::borrow::Cow;
use std::fmt;

use crate::escape;

/// The value of one field, typed as line protocol writes it.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldValue<'a> {
    /// `1`, `-1.5`, `1e3`, `.5`, `1.`
    Float(f64),
    /// `1i`
    Integer(i64),
    /// `1u`
    UInteger(u64),
    /// `"text"`, with `\"` and `\\` unescaped
    String(Cow<'a, str>),
    /// `t`, `true`, `F`, `FALSE`, …
    Boolean(bool),
}

impl FieldValue<'_> {
    /// The type's name as InfluxDB reports it (`float`, `integer`, `uinteger`, `string`,
    /// `boolean`).
    pub fn type_name(&self) -> &'static str {
        self.field_type().as_str()
    }

    /// The value's type.
    pub fn field_type(&self) -> FieldType {
        match self {
            FieldValue::Float(_) => FieldType::Float,
            FieldValue::Integer(_) => FieldType::Integer,
            FieldValue::UInteger(_) => FieldType::UInteger,
            FieldValue::String(_) => FieldType::String,
            FieldValue::Boolean(_) => FieldType::Boolean,
        }
    }

    /// The value as plain text: a string as it is, a number or boolean as Rust prints it
    /// (`42`, `1.5`, `true`), without line protocol's quotes or type suffix.
    pub fn to_text(&self) -> String {
        match self {
            FieldValue::String(s) => s.to_string(),
            FieldValue::Integer(v) => v.to_string(),
            FieldValue::UInteger(v) => v.to_string(),
            FieldValue::Float(v) => v.to_string(),
            FieldValue::Boolean(v) => v.to_string(),
        }
    }

    /// A copy that owns its string, free of the input's lifetime.
    pub fn into_owned(self) -> FieldValue<'static> {
        match self {
            FieldValue::Float(v) => FieldValue::Float(v),
            FieldValue::Integer(v) => FieldValue::Integer(v),
            FieldValue::UInteger(v) => FieldValue::UInteger(v),
            FieldValue::String(v) => FieldValue::String(Cow::Owned(v.into_owned())),
            FieldValue::Boolean(v) => FieldValue::Boolean(v),
        }
    }
}

/// The five field types of line protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FieldType {
    Float,
    Integer,
    UInteger,
    String,
    Boolean,
}

impl FieldType {
    /// The name InfluxDB uses for this type in errors and `SHOW FIELD KEYS`.
    pub fn as_str(self) -> &'static str {
        match self {
            FieldType::Float => "float",
            FieldType::Integer => "integer",
            FieldType::UInteger => "uinteger",
            FieldType::String => "string",
            FieldType::Boolean => "boolean",
        }
    }
}

impl fmt::Display for FieldType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One point of line protocol as the parser returns it.
///
/// Names and string values borrow from the input unless they held escapes. Tags are
/// sorted by key and unique; fields are unique by key (when a line repeats a field key the
/// last value wins, as in InfluxDB) and keep the order of their last occurrence.
#[derive(Debug, Clone, PartialEq)]
pub struct Line<'a> {
    /// 1-based number of the physical line this point starts on.
    pub line_number: usize,
    pub measurement: Cow<'a, str>,
    pub tags: Vec<(Cow<'a, str>, Cow<'a, str>)>,
    pub fields: Vec<(Cow<'a, str>, FieldValue<'a>)>,
    /// Nanoseconds since the epoch, after precision scaling; `None` when the line had no
    /// timestamp and the parser was given no default time.
    pub timestamp: Option<i64>,
}

impl Line<'_> {
    /// The canonical series key: the escaped measurement followed by `,key=value` for each
    /// tag in key order, e.g. `cpu,host=a,region=us\ west`.
    ///
    /// Two lines of the same series always give the same key, however they were escaped
    /// or ordered on input.
    pub fn series_key(&self) -> String {
        let mut key = String::with_capacity(64);
        self.write_series_key(&mut key);
        key
    }

    /// Appends [`Line::series_key`] to `out`, reusing its allocation.
    pub fn write_series_key(&self, out: &mut String) {
        escape::measurement(&self.measurement, out);
        for (k, v) in &self.tags {
            out.push(',');
            escape::key(k, out);
            out.push('=');
            escape::key(v, out);
        }
    }

    /// The value of the tag `key`, if the line has it.
    pub fn tag(&self, key: &str) -> Option<&str> {
        self.tags
            .binary_search_by(|(k, _)| k.as_ref().cmp(key))
            .ok()
            .map(|i| self.tags[i].1.as_ref())
    }

    /// The value of the field `key`, if the line has it.
    pub fn field(&self, key: &str) -> Option<&FieldValue<'_>> {
        self.fields.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }
}
