//! The rows of a validated write, as the catalog builds them from parsed lines, the WAL
//! logs them (see `encoding.rs`) and the buffer applies them, and the column types
//! they carry. A [`WriteBatch`] holds its rows one after the other, as lines come; the
//! buffer applies a [`BatchRef`], a batch's view by column that borrows its names and
//! strings, gathered from a [`WriteBatch`] or decoded straight from a logged record's
//! bytes (which hold the columns as they are), so that replaying the WAL builds no owned
//! batch and takes each column in one pass.

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

self_cell::self_cell!(
    /// A validated batch with its view by column, made once: the WAL encodes the view on
    /// the writing thread, and the thread applying logged batches hands the same view to
    /// the buffer (and the batch to the caches) instead of gathering the columns again
    /// while it holds the buffer's lock.
    pub(crate) struct LoggedBatch {
        owner: WriteBatch,
        #[covariant]
        dependent: BatchRef,
    }
);

impl LoggedBatch {
    pub(crate) fn of(batch: WriteBatch) -> LoggedBatch {
        LoggedBatch::new(batch, WriteBatch::as_ref)
    }

    pub(crate) fn batch(&self) -> &WriteBatch {
        self.borrow_owner()
    }

    pub(crate) fn view(&self) -> &BatchRef<'_> {
        self.borrow_dependent()
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

    /// The table's view, its values gathered by column.
    fn as_ref(&self) -> TableRef<'_> {
        let mut table = TableRef {
            name: &self.name,
            columns: self.columns.iter().map(|(n, k)| (n.as_str(), *k)).collect(),
            series: Vec::with_capacity(self.series.len()),
            tags: Vec::with_capacity(self.tags.len()),
            times: Vec::with_capacity(self.rows.len()),
            row_series: Vec::with_capacity(self.rows.len()),
            ..TableRef::default()
        };
        for s in 0..self.series.len() as u32 {
            table.push_series(self.series_tags(s));
        }
        let mut fields = FieldsBuilder::new(&table.columns);
        for row in &self.rows {
            let r = table.push_row(row.time, row.series);
            for (column, value) in self.fields(row) {
                fields.push(r, *column, value.as_ref());
            }
        }
        table.fields = fields.finish(table.times.len());
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
        self.tables.iter().map(TableRef::len).sum()
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

/// A [`TableBatch`]'s view, by column: the tag sets kept in one vector, each row's time
/// and tag set, and each field's values in row order, so that the buffer takes a
/// column's values in one pass and a logged record's columns decode without a per-value
/// step.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct TableRef<'a> {
    pub(crate) name: &'a str,
    pub(crate) columns: Vec<(&'a str, ColumnType)>,
    /// Where each tag set is in `tags`.
    pub(crate) series: Vec<Range<u32>>,
    /// The tag sets, one after the other: (column index, value), sorted by tag name.
    pub(crate) tags: Vec<(u32, &'a str)>,
    /// A logged table's column list and series section as logged (empty for a batch
    /// not read from the log): two tables with the same key have the same tag sets.
    pub(crate) series_key: &'a [u8],
    /// `Some(n)` when the decoder skipped the `n` tag sets (`series` and `tags` are
    /// empty), having decoded the same bytes just before: the buffer reuses what it found
    /// for them then, or reads them from `series_key`
    /// ([`crate::encoding::read_skipped_series`]).
    pub(crate) skipped_series: Option<usize>,
    /// How `series_key` gives its tag values (see [`crate::encoding`]), for reading it
    /// again.
    pub(crate) tag_values: crate::encoding::TagValues,
    /// Each row's time.
    pub(crate) times: Vec<i64>,
    /// Each row's tag set, an index into `series`.
    pub(crate) row_series: Vec<u32>,
    /// The field columns with a value in some row, by ascending column index.
    pub(crate) fields: Vec<FieldValues<'a>>,
}

impl<'a> TableRef<'a> {
    /// Adds a tag set; it is [`TableRef::series`]' last.
    pub(crate) fn push_series(&mut self, tags: impl Iterator<Item = (u32, &'a str)>) {
        let start = self.tags.len() as u32;
        self.tags.extend(tags);
        self.series.push(start..self.tags.len() as u32);
    }

    /// Adds a row; returns its index.
    pub(crate) fn push_row(&mut self, time: i64, series: u32) -> u32 {
        self.times.push(time);
        self.row_series.push(series);
        (self.times.len() - 1) as u32
    }

    /// Rows held.
    pub(crate) fn len(&self) -> usize {
        self.times.len()
    }

    /// Tag sets the table has, decoded or skipped.
    pub(crate) fn series_count(&self) -> usize {
        self.skipped_series.unwrap_or(self.series.len())
    }

    /// The tags of series `s`.
    pub(crate) fn series_tags(&self, s: u32) -> &[(u32, &'a str)] {
        let range = &self.series[s as usize];
        &self.tags[range.start as usize..range.end as usize]
    }

    #[cfg(test)]
    fn to_batch(&self) -> TableBatch {
        let mut table = TableBatch::new(
            self.name.to_owned(),
            self.columns
                .iter()
                .map(|(n, k)| ((*n).to_owned(), *k))
                .collect(),
        );
        let read;
        let decoded = match self.skipped_series {
            Some(_) => {
                read = crate::encoding::read_skipped_series(self);
                &read
            }
            None => self,
        };
        for s in 0..decoded.series.len() as u32 {
            table.push_series(decoded.series_tags(s).iter().copied());
        }
        for (r, fields) in self.fields_by_row().into_iter().enumerate() {
            let start = table.values.len();
            table
                .values
                .extend(fields.into_iter().map(|(c, v)| (c, v.to_value())));
            table.push_row(self.times[r], self.row_series[r], start);
        }
        table
    }

    /// Each row's (column index, value) fields, in column order.
    #[cfg(test)]
    pub(crate) fn fields_by_row(&self) -> Vec<Vec<(u32, ValueRef<'a>)>> {
        let mut by_row = vec![Vec::new(); self.len()];
        for field in &self.fields {
            for k in 0..field.values.len() {
                by_row[field.row(k) as usize].push((field.column, field.values.get(k)));
            }
        }
        by_row
    }
}

/// The values of one field column of a [`TableRef`], in row order.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct FieldValues<'a> {
    /// The column's index in [`TableRef::columns`].
    pub(crate) column: u32,
    /// The row of each value, ascending (a row twice: the later value wins); `None` when
    /// every row has one value, value `i` being row `i`'s.
    pub(crate) rows: Option<Vec<u32>>,
    pub(crate) values: ColumnValues<'a>,
}

impl FieldValues<'_> {
    /// The row of value `k`.
    #[cfg(test)]
    pub(crate) fn row(&self, k: usize) -> u32 {
        self.rows.as_ref().map_or(k as u32, |rows| rows[k])
    }

    /// The values of rows `range` of the table: where they start and end in `values`.
    pub(crate) fn values_of_rows(&self, range: Range<usize>) -> Range<usize> {
        match &self.rows {
            None => range,
            Some(rows) => {
                let at = |r: usize| rows.partition_point(|&x| (x as usize) < r);
                at(range.start)..at(range.end)
            }
        }
    }
}

/// One column's values, of the column's type.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ColumnValues<'a> {
    Float(Vec<f64>),
    Integer(Vec<i64>),
    UInteger(Vec<u64>),
    String(Vec<&'a str>),
    Boolean(Vec<bool>),
}

impl<'a> ColumnValues<'a> {
    /// An empty column of `kind`.
    pub(crate) fn new(kind: FieldType) -> ColumnValues<'a> {
        match kind {
            FieldType::Float => ColumnValues::Float(Vec::new()),
            FieldType::Integer => ColumnValues::Integer(Vec::new()),
            FieldType::UInteger => ColumnValues::UInteger(Vec::new()),
            FieldType::String => ColumnValues::String(Vec::new()),
            FieldType::Boolean => ColumnValues::Boolean(Vec::new()),
        }
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        match self {
            ColumnValues::Float(v) => v.len(),
            ColumnValues::Integer(v) => v.len(),
            ColumnValues::UInteger(v) => v.len(),
            ColumnValues::String(v) => v.len(),
            ColumnValues::Boolean(v) => v.len(),
        }
    }

    pub(crate) fn kind(&self) -> FieldType {
        match self {
            ColumnValues::Float(_) => FieldType::Float,
            ColumnValues::Integer(_) => FieldType::Integer,
            ColumnValues::UInteger(_) => FieldType::UInteger,
            ColumnValues::String(_) => FieldType::String,
            ColumnValues::Boolean(_) => FieldType::Boolean,
        }
    }

    /// Value `k`.
    pub(crate) fn get(&self, k: usize) -> ValueRef<'a> {
        match self {
            ColumnValues::Float(v) => ValueRef::Float(v[k]),
            ColumnValues::Integer(v) => ValueRef::Integer(v[k]),
            ColumnValues::UInteger(v) => ValueRef::UInteger(v[k]),
            ColumnValues::String(v) => ValueRef::String(v[k]),
            ColumnValues::Boolean(v) => ValueRef::Boolean(v[k]),
        }
    }

    /// Appends `value`; false (nothing appended) when it is of another type.
    pub(crate) fn push(&mut self, value: ValueRef<'a>) -> bool {
        match (self, value) {
            (ColumnValues::Float(v), ValueRef::Float(x)) => v.push(x),
            (ColumnValues::Integer(v), ValueRef::Integer(x)) => v.push(x),
            (ColumnValues::UInteger(v), ValueRef::UInteger(x)) => v.push(x),
            (ColumnValues::String(v), ValueRef::String(x)) => v.push(x),
            (ColumnValues::Boolean(v), ValueRef::Boolean(x)) => v.push(x),
            _ => return false,
        }
        true
    }
}

/// Gathers a table's field values by column as rows are read: [`TableRef::fields`].
pub(crate) struct FieldsBuilder<'a> {
    /// Per table column: where its values are in `fields`, once it has one.
    slot: Vec<Option<usize>>,
    kinds: Vec<ColumnType>,
    fields: Vec<Gathered<'a>>,
}

/// A column's values while gathered: every row so far has one while `dense`.
struct Gathered<'a> {
    column: u32,
    rows: Vec<u32>,
    dense: bool,
    values: ColumnValues<'a>,
}

impl<'a> FieldsBuilder<'a> {
    pub(crate) fn new(columns: &[(&str, ColumnType)]) -> FieldsBuilder<'a> {
        FieldsBuilder {
            slot: vec![None; columns.len()],
            kinds: columns.iter().map(|(_, k)| *k).collect(),
            fields: Vec::new(),
        }
    }

    /// Adds `value` of field column `column` to row `row` (rows come in ascending
    /// order); a value of a tag column or of another type than the column's is left out
    /// (the catalog and the decoder let none through).
    pub(crate) fn push(&mut self, row: u32, column: u32, value: ValueRef<'a>) {
        let c = column as usize;
        let slot = match self.slot[c] {
            Some(slot) => slot,
            None => {
                let ColumnType::Field(kind) = self.kinds[c] else {
                    return;
                };
                self.fields.push(Gathered {
                    column,
                    rows: Vec::new(),
                    dense: true,
                    values: ColumnValues::new(kind),
                });
                self.slot[c] = Some(self.fields.len() - 1);
                self.fields.len() - 1
            }
        };
        let field = &mut self.fields[slot];
        if field.values.push(value) {
            field.dense &= row as usize == field.rows.len();
            field.rows.push(row);
        }
    }

    /// The columns gathered from a table of `rows` rows.
    pub(crate) fn finish(self, rows: usize) -> Vec<FieldValues<'a>> {
        let mut fields: Vec<FieldValues<'a>> = self
            .fields
            .into_iter()
            .map(|f| FieldValues {
                column: f.column,
                rows: (!(f.dense && f.rows.len() == rows)).then_some(f.rows),
                values: f.values,
            })
            .collect();
        fields.sort_by_key(|f| f.column);
        fields
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
