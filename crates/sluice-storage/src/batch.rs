//! The rows of a validated write, as the catalog builds them from parsed lines, the WAL
//! logs them (see `encoding.rs`) and the buffer applies them, and the column types
//! they carry. The buffer applies a [`BatchRef`]: a batch's view that borrows its names
//! and values, from a [`WriteBatch`] or straight from a logged record's bytes, so that
//! replaying the WAL builds no owned batch.

use std::borrow::Cow;
use std::ops::Range;

use serde::{Deserialize, Serialize};
use sluice_lp::FieldType;

/// The type of a stored column (the `time` column is implicit).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum ColumnType {
    Tag,
    #[serde(with = "field_type_serde")]
    Field(FieldType),
}

mod field_type_serde {
    use serde::{Deserialize, Deserializer, Serializer};
    use sluice_lp::FieldType;

    pub(super) fn serialize<S: Serializer>(t: &FieldType, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(t.as_str())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<FieldType, D::Error> {
        let s = String::deserialize(d)?;
        super::parse_field_type(&s)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown field type {s:?}")))
    }
}

/// The field type named `s`, as [`FieldType::as_str`] spells it.
fn parse_field_type(s: &str) -> Option<FieldType> {
    Some(match s {
        "float" => FieldType::Float,
        "integer" => FieldType::Integer,
        "uinteger" => FieldType::UInteger,
        "string" => FieldType::String,
        "boolean" => FieldType::Boolean,
        _ => return None,
    })
}

/// One field value, owned.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Float(f64),
    Integer(i64),
    UInteger(u64),
    String(String),
    Boolean(bool),
}

impl Value {
    /// Estimated bytes this value takes in the write buffer.
    pub(crate) fn buffer_bytes(&self) -> usize {
        match self {
            Value::String(s) => 24 + s.len(),
            _ => 9,
        }
    }

    pub(crate) fn from_lp(value: &sluice_lp::FieldValue<'_>) -> Value {
        match value {
            sluice_lp::FieldValue::Float(v) => Value::Float(*v),
            sluice_lp::FieldValue::Integer(v) => Value::Integer(*v),
            sluice_lp::FieldValue::UInteger(v) => Value::UInteger(*v),
            sluice_lp::FieldValue::String(v) => Value::String(v.to_string()),
            sluice_lp::FieldValue::Boolean(v) => Value::Boolean(*v),
        }
    }

    pub(crate) fn as_ref(&self) -> ValueRef<'_> {
        match self {
            Value::Float(v) => ValueRef::Float(*v),
            Value::Integer(v) => ValueRef::Integer(*v),
            Value::UInteger(v) => ValueRef::UInteger(*v),
            Value::String(v) => ValueRef::String(v),
            Value::Boolean(v) => ValueRef::Boolean(*v),
        }
    }
}

/// One field value, borrowed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum ValueRef<'a> {
    Float(f64),
    Integer(i64),
    UInteger(u64),
    String(&'a str),
    Boolean(bool),
}

#[cfg(test)]
impl ValueRef<'_> {
    pub(crate) fn to_value(self) -> Value {
        match self {
            ValueRef::Float(v) => Value::Float(v),
            ValueRef::Integer(v) => Value::Integer(v),
            ValueRef::UInteger(v) => Value::UInteger(v),
            ValueRef::String(v) => Value::String(v.to_owned()),
            ValueRef::Boolean(v) => Value::Boolean(v),
        }
    }
}

/// A validated batch for one database, ready for the WAL and the buffer.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct WriteBatch {
    pub(crate) db_id: u32,
    pub(crate) tables: Vec<TableBatch>,
}

impl WriteBatch {
    pub(crate) fn rows(&self) -> usize {
        self.tables.iter().map(|t| t.rows.len()).sum()
    }

    /// The batch's view, borrowing its names and values.
    pub(crate) fn as_ref(&self) -> BatchRef<'_> {
        BatchRef {
            db_id: self.db_id,
            tables: self.tables.iter().map(TableBatch::as_ref).collect(),
        }
    }
}

/// The rows of one table in a batch; rows refer to columns by index into `columns` and
/// to their tag set by index into `series`, so a tag set is stored once per batch.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct TableBatch {
    pub(crate) name: String,
    pub(crate) columns: Vec<(String, ColumnType)>,
    /// The distinct tag sets of the rows, each a range of `tags`.
    series: Vec<Range<u32>>,
    /// The tag sets one after the other: (column index, where the value is in `text`),
    /// sorted by tag name.
    tags: Vec<(u32, Range<usize>)>,
    /// The tag values one after the other: one allocation for all of a batch's tags.
    text: String,
    pub(crate) rows: Vec<Row>,
    /// The field values of every row, row after row (see [`Row::fields`]).
    pub(crate) values: Vec<(u32, Value)>,
}

impl TableBatch {
    /// A table's batch without rows.
    pub(crate) fn new(name: String, columns: Vec<(String, ColumnType)>) -> TableBatch {
        TableBatch {
            name,
            columns,
            ..TableBatch::default()
        }
    }

    /// Adds a tag set ((column index, value), sorted by tag name); returns its index.
    pub(crate) fn push_series<'v>(
        &mut self,
        tags: impl IntoIterator<Item = (u32, &'v str)>,
    ) -> u32 {
        let start = self.tags.len() as u32;
        for (column, value) in tags {
            let at = self.text.len();
            self.text.push_str(value);
            self.tags.push((column, at..self.text.len()));
        }
        self.series.push(start..self.tags.len() as u32);
        (self.series.len() - 1) as u32
    }

    /// How many tag sets the rows have.
    pub(crate) fn series_count(&self) -> usize {
        self.series.len()
    }

    /// The tags of series `s`: (column index, value), sorted by tag name.
    pub(crate) fn series_tags(
        &self,
        s: u32,
    ) -> impl ExactSizeIterator<Item = (u32, &str)> + Clone + '_ {
        let range = &self.series[s as usize];
        self.tags[range.start as usize..range.end as usize]
            .iter()
            .map(|(column, value)| (*column, &self.text[value.clone()]))
    }

    /// Appends a row with tag set `series` whose fields are `values[fields_start..]`.
    pub(crate) fn push_row(&mut self, time: i64, series: u32, fields_start: usize) {
        self.rows.push(Row {
            time,
            series,
            fields_start: fields_start as u32,
            fields_end: self.values.len() as u32,
        });
    }

    /// The (column index, value) fields of `row`.
    pub(crate) fn fields(&self, row: &Row) -> &[(u32, Value)] {
        &self.values[row.fields_start as usize..row.fields_end as usize]
    }

    fn as_ref(&self) -> TableRef<'_> {
        let mut table = TableRef {
            name: &self.name,
            columns: self.columns.iter().map(|(n, k)| (n.as_str(), *k)).collect(),
            rows: Cow::Borrowed(&self.rows),
            values: self.values.iter().map(|(i, v)| (*i, v.as_ref())).collect(),
            ..TableRef::default()
        };
        for s in 0..self.series.len() as u32 {
            table.push_series(self.series_tags(s));
        }
        table
    }
}

/// A batch's view: what [`crate::buffer::Buffer::apply`] takes and a logged record
/// decodes to ([`crate::encoding::decode`]).
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct BatchRef<'a> {
    pub(crate) db_id: u32,
    pub(crate) tables: Vec<TableRef<'a>>,
}

impl BatchRef<'_> {
    pub(crate) fn rows(&self) -> usize {
        self.tables.iter().map(|t| t.rows.len()).sum()
    }

    /// An owned copy.
    #[cfg(test)]
    pub(crate) fn to_batch(&self) -> WriteBatch {
        WriteBatch {
            db_id: self.db_id,
            tables: self.tables.iter().map(TableRef::to_batch).collect(),
        }
    }
}

/// A [`TableBatch`]'s view; the tag sets are kept in one vector.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct TableRef<'a> {
    pub(crate) name: &'a str,
    pub(crate) columns: Vec<(&'a str, ColumnType)>,
    /// Where each tag set is in `tags`.
    pub(crate) series: Vec<Range<u32>>,
    /// The tag sets, one after the other: (column index, value), sorted by tag name.
    pub(crate) tags: Vec<(u32, &'a str)>,
    pub(crate) rows: Cow<'a, [Row]>,
    pub(crate) values: Vec<(u32, ValueRef<'a>)>,
}

impl<'a> TableRef<'a> {
    /// Adds a tag set; it is [`TableRef::series`]' last.
    pub(crate) fn push_series(&mut self, tags: impl Iterator<Item = (u32, &'a str)>) {
        let start = self.tags.len() as u32;
        self.tags.extend(tags);
        self.series.push(start..self.tags.len() as u32);
    }

    /// The tags of series `s`.
    pub(crate) fn series_tags(&self, s: u32) -> &[(u32, &'a str)] {
        let range = &self.series[s as usize];
        &self.tags[range.start as usize..range.end as usize]
    }

    /// The (column index, value) fields of `row`.
    pub(crate) fn fields(&self, row: &Row) -> &[(u32, ValueRef<'a>)] {
        &self.values[row.fields_start as usize..row.fields_end as usize]
    }

    #[cfg(test)]
    fn to_batch(&self) -> TableBatch {
        let mut table = TableBatch {
            name: self.name.to_owned(),
            columns: self
                .columns
                .iter()
                .map(|(n, k)| ((*n).to_owned(), *k))
                .collect(),
            rows: self.rows.to_vec(),
            values: self
                .values
                .iter()
                .map(|(i, v)| (*i, v.to_value()))
                .collect(),
            ..TableBatch::default()
        };
        for s in 0..self.series.len() as u32 {
            table.push_series(self.series_tags(s).iter().copied());
        }
        table
    }
}

/// One line: its time, tag set (index into [`TableBatch::series`]) and the range of its
/// fields in [`TableBatch::values`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Row {
    pub(crate) time: i64,
    pub(crate) series: u32,
    pub(crate) fields_start: u32,
    pub(crate) fields_end: u32,
}
