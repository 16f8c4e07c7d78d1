//! The compact binary encoding of a write batch ([`crate::batch`]), as stored in WAL records.
//!
//! Layout (all integers LEB128 varints unless noted, strings as varint length + UTF-8):
//!
//! ```text
//! record  = db_id n_tables table*
//! table   = name n_columns (column_name kind:u8)* n_series tags* n_rows time* series*
//!           n_fields field*
//! tags    = n_tags (column_index tag_value)*
//! tag_value = 0 value:str                      (a value met first here: the table's next)
//!           | k                                (k ≥ 1: the table's k-th value)
//! time    = delta:zigzag                       (from the previous row's; the first from 0)
//! series  = series_index                       (into the table's tag sets)
//! field   = column_index dense:u8 [n_values row_delta*] value*
//! value   = f64 little-endian | i64 zigzag | u64 | str | bool:u8   (type from the column kind)
//! ```
//!
//! This is format 4 (WAL segment version 5): a table's rows by column, so that replay
//! decodes a column in one loop and the buffer takes it whole. Fields come by ascending
//! column index; `dense` is 1 when every row has one value of the field (value `i` is row
//! `i`'s, `n_values` = `n_rows`, no row list), else 0 and `row_delta` gives each value's
//! row from the previous value's (ascending; the first from 0). A tag value the table's
//! tag sets had before is written as its number among the values written out so far
//! (counted over all the table's tags, from 1), as the encoder remembers them: series
//! share the few values of their low-cardinality tags (a region, a rack), so a tag set of
//! TSBS `cpu` takes about 30 bytes instead of 90. A value may also be written out again
//! (the encoder keeps a few of each tag's recent values, not all of them).
//!
//! Older formats are still read. Format 3 (segment version 4) wrote every tag value out
//! (`tags = n_tags (column_index value:str)*`). Format 2 (segment versions 2 and 3) kept
//! a table's rows one after the other, `n_rows row*` with
//! `row = time_delta:zigzag series_index n_fields (column_index value)*`; format 1
//! (segment version 1) had no series section, each row carrying its own tags:
//! `row = time_delta n_tags (column_index value:str)* n_fields …`.

use std::collections::HashMap;

use sluice_lp::FieldType;

#[cfg(test)]
use crate::batch::WriteBatch;
use crate::batch::{
    BatchRef, ColumnType, ColumnValues, FieldValues, FieldsBuilder, TableRef, ValueRef,
};
use crate::recent::RecentValues;

/// Why a payload could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub(crate) struct DecodeError(pub(crate) &'static str);

/// Encodes `batch` in the current format ([`FORMAT`]).
#[cfg(test)]
pub(crate) fn encode(batch: &WriteBatch, out: &mut Vec<u8>) {
    encode_view(&batch.as_ref(), out);
}

/// Encodes a batch's view ([`WriteBatch::as_ref`]) in the current format ([`FORMAT`]).
pub(crate) fn encode_view(view: &BatchRef<'_>, out: &mut Vec<u8>) {
    encode_by_column(view, out, TagValues::Numbered);
}

/// Encodes `batch` in format 3, every tag value written out: what segments of version 4
/// hold.
#[cfg(test)]
pub(crate) fn encode_format3(batch: &WriteBatch, out: &mut Vec<u8>) {
    encode_by_column(&batch.as_ref(), out, TagValues::Written);
}

/// How a table's tag sets give their values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum TagValues {
    /// Each written out (formats up to 3).
    #[default]
    Written,
    /// A value met before by its number (format 4).
    Numbered,
}

impl TagValues {
    /// How tag sets give their values in payload format `format`.
    fn of(format: u32) -> TagValues {
        if format == FORMAT {
            TagValues::Numbered
        } else {
            TagValues::Written
        }
    }
}

/// Encodes `view` by column (formats 3 and 4).
fn encode_by_column(view: &BatchRef<'_>, out: &mut Vec<u8>, values: TagValues) {
    encode_tables(view, out, values, |table, out| {
        let mut prev = 0i64;
        for &time in &table.times {
            put_var(out, zigzag(time.wrapping_sub(prev)));
            prev = time;
        }
        for &series in &table.row_series {
            put_var(out, u64::from(series));
        }
        put_var(out, table.fields.len() as u64);
        for field in &table.fields {
            put_var(out, u64::from(field.column));
            match &field.rows {
                None => out.push(1),
                Some(rows) => {
                    out.push(0);
                    put_var(out, rows.len() as u64);
                    let mut prev = 0;
                    for &row in rows {
                        put_var(out, u64::from(row - prev));
                        prev = row;
                    }
                }
            }
            match &field.values {
                ColumnValues::Float(v) => v
                    .iter()
                    .for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
                ColumnValues::Integer(v) => v.iter().for_each(|x| put_var(out, zigzag(*x))),
                ColumnValues::UInteger(v) => v.iter().for_each(|x| put_var(out, *x)),
                ColumnValues::String(v) => v.iter().for_each(|x| put_str(out, x)),
                ColumnValues::Boolean(v) => v.iter().for_each(|x| out.push(u8::from(*x))),
            }
        }
    });
}

/// Encodes the batch's database and each table's header, then its rows with `rows`.
fn encode_tables(
    view: &BatchRef<'_>,
    out: &mut Vec<u8>,
    values: TagValues,
    rows: impl Fn(&TableRef<'_>, &mut Vec<u8>),
) {
    put_var(out, u64::from(view.db_id));
    put_var(out, view.tables.len() as u64);
    for table in &view.tables {
        put_header(out, table, values);
        rows(table, out);
    }
}

/// What a format-4 encoder remembers of a table's tag values: a few of each tag's recent
/// values, with their numbers. Kept by tag, so that a tag with a new value in every
/// series (a host name) does not push out those of the tags with a few.
struct ValueNumbers<'a> {
    /// By column index; a column's cache is made when it gets its first value.
    by_column: Vec<Option<RecentValues<'a>>>,
    /// Slots of a column's cache: as many as the table has series, up to 256, so that a
    /// record of many small tables does not make a big cache for each of their tags.
    slots: usize,
    /// Values written out so far.
    written: u32,
}

impl<'a> ValueNumbers<'a> {
    /// For a table of `series` tag sets.
    fn new(series: usize) -> ValueNumbers<'a> {
        ValueNumbers {
            by_column: Vec::new(),
            slots: series,
            written: 0,
        }
    }

    /// Writes `value` of tag `column`: its number if it is remembered, else the value.
    fn put(&mut self, out: &mut Vec<u8>, column: u32, value: &'a str) {
        let column = column as usize;
        if self.by_column.len() <= column {
            self.by_column.resize_with(column + 1, || None);
        }
        let slots = self.slots;
        let recent = self.by_column[column].get_or_insert_with(|| RecentValues::with_slots(slots));
        if let Some(number) = recent.get(value) {
            put_var(out, u64::from(number) + 1);
            return;
        }
        out.push(0);
        put_str(out, value);
        recent.put(value, self.written);
        self.written += 1;
    }
}

/// A table's name, columns, tag sets and row count: what every format since 2 starts with.
fn put_header<'a>(out: &mut Vec<u8>, table: &TableRef<'a>, values: TagValues) {
    put_str(out, table.name);
    put_var(out, table.columns.len() as u64);
    for (name, kind) in &table.columns {
        put_str(out, name);
        out.push(kind_to_u8(*kind));
    }
    put_var(out, table.series.len() as u64);
    let mut numbers = ValueNumbers::new(table.series.len());
    for s in 0..table.series.len() as u32 {
        let tags = table.series_tags(s);
        put_var(out, tags.len() as u64);
        for &(idx, value) in tags {
            put_var(out, u64::from(idx));
            match values {
                TagValues::Written => put_str(out, value),
                TagValues::Numbered => numbers.put(out, idx, value),
            }
        }
    }
    put_var(out, table.len() as u64);
}

/// Encodes `batch` in format 2, rows one after the other: what older segments hold.
#[cfg(test)]
pub(crate) fn encode_rows(batch: &WriteBatch, out: &mut Vec<u8>) {
    encode_tables(&batch.as_ref(), out, TagValues::Written, |table, out| {
        let mut prev = 0i64;
        for (r, fields) in table.fields_by_row().iter().enumerate() {
            put_var(out, zigzag(table.times[r].wrapping_sub(prev)));
            prev = table.times[r];
            put_var(out, u64::from(table.row_series[r]));
            put_var(out, fields.len() as u64);
            for (idx, value) in fields {
                put_var(out, u64::from(*idx));
                match value {
                    ValueRef::Float(v) => out.extend_from_slice(&v.to_le_bytes()),
                    ValueRef::Integer(v) => put_var(out, zigzag(*v)),
                    ValueRef::UInteger(v) => put_var(out, *v),
                    ValueRef::String(v) => put_str(out, v),
                    ValueRef::Boolean(v) => out.push(u8::from(*v)),
                }
            }
        }
    });
}

/// The current payload format: a table's rows by column, tag values met before by their
/// number.
pub(crate) const FORMAT: u32 = 4;
/// The third format: by column, every tag value written out.
pub(crate) const FORMAT_COLUMNS: u32 = 3;
/// The second format: rows one after the other, tag sets once per table.
pub(crate) const FORMAT_ROWS: u32 = 2;
/// The first format: every row carries its own tags.
pub(crate) const FORMAT_ROW_TAGS: u32 = 1;

/// Decodes a payload written in `format` ([`FORMAT`] or [`FORMAT_ROW_TAGS`]), in place:
/// names, tag values and strings borrow `input`.
#[cfg(test)]
pub(crate) fn decode(input: &[u8], format: u32) -> Result<BatchRef<'_>, DecodeError> {
    decode_logged(input, format, &mut SeenSeries::default())
}

/// The tag sets each table named in the last record a decoder read (their bytes, with
/// the column list before them, and how many there were). Writers send the same series
/// again and again (a collector's every interval, a loader's every batch), so a record's
/// tag sets are often the bytes of the one before: those are skipped, not decoded again
/// (see [`TableRef::skipped_series`]).
///
/// The bytes are kept with how they give their tag values: the same bytes in formats 3
/// and 4 (segments of versions 4 and 5, met in one replay after an upgrade) are not the
/// same tag sets.
#[derive(Debug, Default)]
pub(crate) struct SeenSeries {
    tables: HashMap<Vec<u8>, (TagValues, Vec<u8>, usize)>,
}

/// Tables whose tag sets [`SeenSeries`] keeps; past this it starts over.
const SEEN_TABLES: usize = 1024;

impl SeenSeries {
    /// Keeps `key` (a column list and series section of `n` tag sets, giving their
    /// values as `values` says) as table `name`'s.
    fn remember(&mut self, name: &str, values: TagValues, key: &[u8], n: usize) {
        if let Some((kept_values, kept, count)) = self.tables.get_mut(name.as_bytes()) {
            *kept_values = values;
            kept.clear();
            kept.extend_from_slice(key);
            *count = n;
            return;
        }
        if self.tables.len() >= SEEN_TABLES {
            self.tables.clear();
        }
        self.tables
            .insert(name.as_bytes().to_vec(), (values, key.to_vec(), n));
    }
}

/// [`decode`], skipping a table's tag sets when they are the bytes `seen` holds for it
/// (and remembering those it decodes).
pub(crate) fn decode_logged<'a>(
    mut input: &'a [u8],
    format: u32,
    seen: &mut SeenSeries,
) -> Result<BatchRef<'a>, DecodeError> {
    let r = &mut input;
    let db_id = u32::try_from(get_var(r)?).map_err(|_| DecodeError("database id out of range"))?;
    let n_tables = get_len(r)?;
    let mut tables = Vec::with_capacity(n_tables.min(1024));
    for _ in 0..n_tables {
        tables.push(decode_table(r, format, seen)?);
    }
    if !input.is_empty() {
        return Err(DecodeError("trailing bytes after batch"));
    }
    Ok(BatchRef { db_id, tables })
}

fn decode_table<'a>(
    r: &mut &'a [u8],
    format: u32,
    seen: &mut SeenSeries,
) -> Result<TableRef<'a>, DecodeError> {
    let name = get_str_ref(r)?;
    let header = *r;
    let mut table = TableRef {
        name,
        columns: get_columns(r)?,
        ..TableRef::default()
    };
    // Format 1 has no series section: tag sets are interned as rows are read.
    let mut interned: HashMap<Vec<(u32, &str)>, u32> = HashMap::new();
    if format != FORMAT_ROW_TAGS {
        // Each format is prefix-free: bytes that begin with those of a column list and
        // series section decoded before in the same format decode to the same tag sets
        // and end where they ended.
        let values = TagValues::of(format);
        table.tag_values = values;
        match seen.tables.get(name.as_bytes()) {
            Some((seen_values, bytes, n))
                if *seen_values == values && header.starts_with(bytes) =>
            {
                *r = &header[bytes.len()..];
                table.skipped_series = Some(*n);
            }
            _ => get_series(r, &mut table, values)?,
        }
        table.series_key = &header[..header.len() - r.len()];
        if table.skipped_series.is_none() {
            seen.remember(name, values, table.series_key, table.series.len());
        }
    }
    let n_rows = get_len(r)?;
    if format == FORMAT || format == FORMAT_COLUMNS {
        decode_columns(r, &mut table, n_rows)?;
        return Ok(table);
    }
    table.times.reserve(n_rows.min(1 << 16));
    table.row_series.reserve(n_rows.min(1 << 16));
    let mut fields = FieldsBuilder::new(&table.columns);
    let mut prev = 0i64;
    for _ in 0..n_rows {
        let time = prev.wrapping_add(unzigzag(get_var(r)?));
        prev = time;
        let series = if format == FORMAT_ROW_TAGS {
            let n_tags = get_len(r)?;
            let mut tags = Vec::with_capacity(n_tags.min(256));
            for _ in 0..n_tags {
                tags.push(get_tag(r, &table.columns)?);
            }
            match interned.get(&tags) {
                Some(s) => *s,
                None => {
                    let s = table.series.len() as u32;
                    table.push_series(tags.iter().copied());
                    interned.insert(tags, s);
                    s
                }
            }
        } else {
            let s = get_var(r)?;
            if s >= table.series_count() as u64 {
                return Err(DecodeError("series index out of range"));
            }
            s as u32
        };
        let row = table.push_row(time, series);
        let n_fields = get_len(r)?;
        for _ in 0..n_fields {
            let idx = get_index(r, table.columns.len())?;
            let value = match table.columns[idx as usize].1 {
                ColumnType::Tag => return Err(DecodeError("field refers to a tag column")),
                ColumnType::Field(kind) => get_value(r, kind)?,
            };
            fields.push(row, idx, value);
        }
    }
    table.fields = fields.finish(table.len());
    Ok(table)
}

/// A format-3 table's rows, column by column.
fn decode_columns<'a>(
    r: &mut &'a [u8],
    table: &mut TableRef<'a>,
    n_rows: usize,
) -> Result<(), DecodeError> {
    table.times.reserve(n_rows);
    let mut prev = 0i64;
    for _ in 0..n_rows {
        prev = prev.wrapping_add(unzigzag(get_var(r)?));
        table.times.push(prev);
    }
    table.row_series.reserve(n_rows);
    let n_series = table.series_count();
    for _ in 0..n_rows {
        let s = get_var(r)?;
        if s >= n_series as u64 {
            return Err(DecodeError("series index out of range"));
        }
        table.row_series.push(s as u32);
    }
    let n_fields = get_len(r)?;
    let mut last_column = None;
    for _ in 0..n_fields {
        let column = get_index(r, table.columns.len())?;
        if last_column.is_some_and(|last| column <= last) {
            return Err(DecodeError("field columns out of order"));
        }
        last_column = Some(column);
        let ColumnType::Field(kind) = table.columns[column as usize].1 else {
            return Err(DecodeError("field refers to a tag column"));
        };
        let (rows, n) = match get_u8(r)? {
            1 => (None, n_rows),
            0 => {
                let n = get_len(r)?;
                let mut rows = Vec::with_capacity(n);
                let mut row = 0u64;
                for _ in 0..n {
                    row += get_var(r)?;
                    if row >= n_rows as u64 {
                        return Err(DecodeError("field row out of range"));
                    }
                    rows.push(row as u32);
                }
                (Some(rows), n)
            }
            _ => return Err(DecodeError("unknown field layout")),
        };
        let values = get_values(r, kind, n)?;
        table.fields.push(FieldValues {
            column,
            rows,
            values,
        });
    }
    Ok(())
}

/// A table's column list: (name, kind) each.
fn get_columns<'a>(r: &mut &'a [u8]) -> Result<Vec<(&'a str, ColumnType)>, DecodeError> {
    let n_cols = get_len(r)?;
    let mut columns = Vec::with_capacity(n_cols.min(4096));
    for _ in 0..n_cols {
        let col = get_str_ref(r)?;
        let kind = kind_from_u8(get_u8(r)?).ok_or(DecodeError("unknown column kind"))?;
        columns.push((col, kind));
    }
    Ok(columns)
}

/// A table's series section: its tag sets, into `table`.
fn get_series<'a>(
    r: &mut &'a [u8],
    table: &mut TableRef<'a>,
    values: TagValues,
) -> Result<(), DecodeError> {
    let n_series = get_len(r)?;
    table.series.reserve(n_series.min(1 << 16));
    // Format 4: the values written out so far, by number.
    let mut written: Vec<&'a str> = Vec::new();
    for _ in 0..n_series {
        let n_tags = get_len(r)?;
        let start = table.tags.len() as u32;
        for _ in 0..n_tags {
            let tag = if values == TagValues::Numbered {
                let column = get_tag_column(r, &table.columns)?;
                let value = match get_var(r)? {
                    0 => {
                        let value = get_str_ref(r)?;
                        written.push(value);
                        value
                    }
                    n => *usize::try_from(n - 1)
                        .ok()
                        .and_then(|at| written.get(at))
                        .ok_or(DecodeError("tag value number out of range"))?,
                };
                (column, value)
            } else {
                get_tag(r, &table.columns)?
            };
            table.tags.push(tag);
        }
        table.series.push(start..table.tags.len() as u32);
    }
    Ok(())
}

/// The tag sets a decoder skipped ([`TableRef::skipped_series`]), decoded from the
/// table's [`TableRef::series_key`]: a table like `table` with its `series` and `tags`.
///
/// # Panics
///
/// If the key does not decode, which it does: a decoder skips only bytes equal to those
/// it decoded before.
pub(crate) fn read_skipped_series<'a>(table: &TableRef<'a>) -> TableRef<'a> {
    let mut r = table.series_key;
    let mut read = TableRef {
        name: table.name,
        columns: get_columns(&mut r).expect("skipped columns decoded before"),
        tag_values: table.tag_values,
        ..TableRef::default()
    };
    get_series(&mut r, &mut read, table.tag_values).expect("skipped tag sets decoded before");
    read
}

/// `n` values of `kind`, one after the other.
fn get_values<'a>(
    r: &mut &'a [u8],
    kind: FieldType,
    n: usize,
) -> Result<ColumnValues<'a>, DecodeError> {
    // Every value takes at least one byte: a count beyond the input is damage.
    if n > r.len() {
        return Err(DecodeError("count exceeds record size"));
    }
    Ok(match kind {
        FieldType::Float => {
            let bytes = take(r, n * 8)?;
            ColumnValues::Float(
                bytes
                    .chunks_exact(8)
                    .map(|b| f64::from_le_bytes(b.try_into().expect("8 bytes")))
                    .collect(),
            )
        }
        FieldType::Integer => {
            let mut v = Vec::with_capacity(n);
            for _ in 0..n {
                v.push(unzigzag(get_var(r)?));
            }
            ColumnValues::Integer(v)
        }
        FieldType::UInteger => {
            let mut v = Vec::with_capacity(n);
            for _ in 0..n {
                v.push(get_var(r)?);
            }
            ColumnValues::UInteger(v)
        }
        FieldType::String => {
            let mut v = Vec::with_capacity(n);
            for _ in 0..n {
                v.push(get_str_ref(r)?);
            }
            ColumnValues::String(v)
        }
        FieldType::Boolean => {
            let bytes = take(r, n)?;
            ColumnValues::Boolean(bytes.iter().map(|b| *b != 0).collect())
        }
    })
}

/// One field value of `kind`.
fn get_value<'a>(r: &mut &'a [u8], kind: FieldType) -> Result<ValueRef<'a>, DecodeError> {
    Ok(match kind {
        FieldType::Float => {
            let bytes = take(r, 8)?;
            ValueRef::Float(f64::from_le_bytes(bytes.try_into().expect("8 bytes")))
        }
        FieldType::Integer => ValueRef::Integer(unzigzag(get_var(r)?)),
        FieldType::UInteger => ValueRef::UInteger(get_var(r)?),
        FieldType::String => ValueRef::String(get_str_ref(r)?),
        FieldType::Boolean => ValueRef::Boolean(get_u8(r)? != 0),
    })
}

/// One tag: (column index, value), the index naming a tag column.
fn get_tag<'a>(
    r: &mut &'a [u8],
    columns: &[(&str, ColumnType)],
) -> Result<(u32, &'a str), DecodeError> {
    let idx = get_tag_column(r, columns)?;
    Ok((idx, get_str_ref(r)?))
}

/// A tag's column index, which must be a tag column's.
fn get_tag_column(r: &mut &[u8], columns: &[(&str, ColumnType)]) -> Result<u32, DecodeError> {
    let idx = get_index(r, columns.len())?;
    if columns[idx as usize].1 != ColumnType::Tag {
        return Err(DecodeError("tag refers to a field column"));
    }
    Ok(idx)
}

pub(crate) fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

pub(crate) fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

pub(crate) fn put_var(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

pub(crate) fn put_str(out: &mut Vec<u8>, s: &str) {
    put_var(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

pub(crate) fn get_u8(r: &mut &[u8]) -> Result<u8, DecodeError> {
    Ok(take(r, 1)?[0])
}

fn take<'a>(r: &mut &'a [u8], n: usize) -> Result<&'a [u8], DecodeError> {
    if r.len() < n {
        return Err(DecodeError("unexpected end of record"));
    }
    let (head, tail) = r.split_at(n);
    *r = tail;
    Ok(head)
}

/// Reads an unsigned LEB128 varint.
#[inline]
pub(crate) fn get_var(r: &mut &[u8]) -> Result<u64, DecodeError> {
    // Most varints (counts, column indexes, small deltas) are one byte.
    if let Some((&b, rest)) = r.split_first()
        && b < 0x80
    {
        *r = rest;
        return Ok(u64::from(b));
    }
    get_long_var(r)
}

fn get_long_var(r: &mut &[u8]) -> Result<u64, DecodeError> {
    // One pass over at most ten bytes (7 bits each; the tenth holds bit 63), with no
    // bounds check per byte.
    let bytes = *r;
    let mut v = 0u64;
    for (i, &b) in bytes.iter().take(10).enumerate() {
        v |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            *r = &bytes[i + 1..];
            return Ok(v);
        }
    }
    Err(DecodeError(if bytes.len() < 10 {
        "unexpected end of record"
    } else {
        "varint too long"
    }))
}

fn get_len(r: &mut &[u8]) -> Result<usize, DecodeError> {
    let v = get_var(r)?;
    // Every element takes at least one byte, so a count beyond the remaining input is damage.
    if v > r.len() as u64 {
        return Err(DecodeError("count exceeds record size"));
    }
    Ok(v as usize)
}

fn get_index(r: &mut &[u8], n_columns: usize) -> Result<u32, DecodeError> {
    let v = get_var(r)?;
    if v >= n_columns as u64 {
        return Err(DecodeError("column index out of range"));
    }
    Ok(v as u32)
}

pub(crate) fn get_str(r: &mut &[u8]) -> Result<String, DecodeError> {
    get_str_ref(r).map(str::to_owned)
}

fn get_str_ref<'a>(r: &mut &'a [u8]) -> Result<&'a str, DecodeError> {
    let n = get_len(r)?;
    let bytes = take(r, n)?;
    std::str::from_utf8(bytes).map_err(|_| DecodeError("invalid utf-8 in string"))
}

/// The byte that stands for a column kind in a table's column list.
fn kind_to_u8(kind: ColumnType) -> u8 {
    match kind {
        ColumnType::Tag => 0,
        ColumnType::Field(FieldType::Float) => 1,
        ColumnType::Field(FieldType::Integer) => 2,
        ColumnType::Field(FieldType::UInteger) => 3,
        ColumnType::Field(FieldType::String) => 4,
        ColumnType::Field(FieldType::Boolean) => 5,
    }
}

/// The column kind a byte stands for.
fn kind_from_u8(v: u8) -> Option<ColumnType> {
    Some(match v {
        0 => ColumnType::Tag,
        1 => ColumnType::Field(FieldType::Float),
        2 => ColumnType::Field(FieldType::Integer),
        3 => ColumnType::Field(FieldType::UInteger),
        4 => ColumnType::Field(FieldType::String),
        5 => ColumnType::Field(FieldType::Boolean),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::{TableBatch, Value};

    fn sample() -> WriteBatch {
        sample_tagged("a")
    }

    /// [`sample`], its first series tagged `host` = `host`.
    fn sample_tagged(host: &str) -> WriteBatch {
        let mut table = TableBatch::new(
            "cpu".into(),
            vec![
                ("host".into(), ColumnType::Tag),
                ("f".into(), ColumnType::Field(FieldType::Float)),
                ("i".into(), ColumnType::Field(FieldType::Integer)),
                ("u".into(), ColumnType::Field(FieldType::UInteger)),
                ("s".into(), ColumnType::Field(FieldType::String)),
                ("b".into(), ColumnType::Field(FieldType::Boolean)),
            ],
        );
        table.push_series([(0, host)]);
        table.push_series([]);
        table.values.extend([
            (1, Value::Float(-1.5)),
            (2, Value::Integer(i64::MIN)),
            (3, Value::UInteger(u64::MAX)),
            (4, Value::String("héllo".into())),
            (5, Value::Boolean(true)),
        ]);
        table.push_row(1_700_000_000_000_000_000, 0, 0);
        table.values.push((1, Value::Float(2.0)));
        table.push_row(-5, 1, 5);
        table.values.push((1, Value::Float(3.0)));
        table.push_row(-4, 0, 6);
        WriteBatch {
            db_id: 7,
            tables: vec![table],
        }
    }

    #[test]
    fn batch_round_trips_through_the_encoding_and_the_previous_ones() {
        let batch = sample();
        let mut buf = Vec::new();
        encode(&batch, &mut buf);
        assert_eq!(decode(&buf, FORMAT).unwrap().to_batch(), batch);
        let mut columns = Vec::new();
        encode_format3(&batch, &mut columns);
        assert_eq!(decode(&columns, FORMAT_COLUMNS).unwrap().to_batch(), batch);
        let mut rows = Vec::new();
        encode_rows(&batch, &mut rows);
        assert_eq!(decode(&rows, FORMAT_ROWS).unwrap().to_batch(), batch);
    }

    #[test]
    fn tag_sets_decoded_just_before_are_skipped_and_read_back_the_same() {
        // The same tag sets but for the last byte of one value.
        let (batch, changed) = (sample_tagged("a"), sample_tagged("b"));
        for format in [FORMAT, FORMAT_COLUMNS, FORMAT_ROWS] {
            let mut seen = SeenSeries::default();
            let encode = |batch: &WriteBatch| {
                let mut out = Vec::new();
                match format {
                    FORMAT => encode(batch, &mut out),
                    FORMAT_COLUMNS => encode_format3(batch, &mut out),
                    _ => encode_rows(batch, &mut out),
                }
                out
            };
            let (same, other) = (encode(&batch), encode(&changed));
            let first = decode_logged(&same, format, &mut seen).unwrap();
            let again = decode_logged(&same, format, &mut seen).unwrap();
            assert_eq!(first.tables[0].skipped_series, None);
            assert_eq!(again.tables[0].skipped_series, Some(2));
            assert!(again.tables[0].tags.is_empty());
            assert_eq!(again.tables[0].series_key, first.tables[0].series_key);
            let read = read_skipped_series(&again.tables[0]);
            assert_eq!(
                (&read.series, &read.tags),
                (&first.tables[0].series, &first.tables[0].tags)
            );
            assert_eq!(again.to_batch(), batch);
            // Bytes that differ past the start are decoded, and remembered in turn.
            let differs = decode_logged(&other, format, &mut seen).unwrap();
            assert_eq!(differs.tables[0].skipped_series, None);
            assert_ne!(differs.tables[0].series_key, first.tables[0].series_key);
            assert_eq!(differs.to_batch(), changed);
            let first = decode_logged(&same, format, &mut seen).unwrap();
            assert_eq!(first.tables[0].skipped_series, None);
        }
    }

    #[test]
    fn tag_sets_of_a_format_3_record_are_not_taken_for_a_format_4_ones_with_their_bytes() {
        // An empty host is `0` in format 3 (its length) and `0 0` in format 4 (written
        // out, length 0): the later record's tag sets begin with the earlier one's bytes
        // but are not those, and are decoded (a replay meets both formats after an
        // upgrade, version 4 segments first).
        let batch = sample_tagged("");
        let (mut format3, mut format4) = (Vec::new(), Vec::new());
        encode_format3(&batch, &mut format3);
        encode(&batch, &mut format4);
        let mut seen = SeenSeries::default();
        assert_eq!(
            decode_logged(&format3, FORMAT_COLUMNS, &mut seen)
                .unwrap()
                .to_batch(),
            batch
        );
        let read = decode_logged(&format4, FORMAT, &mut seen).unwrap();
        assert_eq!(read.tables[0].skipped_series, None);
        assert_eq!(read.to_batch(), batch);
    }

    /// `n` series tagged with a host each, one of three regions and one of seven racks,
    /// a row each.
    fn many_series(n: usize) -> WriteBatch {
        let mut table = TableBatch::new(
            "cpu".into(),
            vec![
                ("host".into(), ColumnType::Tag),
                ("rack".into(), ColumnType::Tag),
                ("region".into(), ColumnType::Tag),
                ("f".into(), ColumnType::Field(FieldType::Float)),
            ],
        );
        for i in 0..n {
            let (host, rack) = (format!("host_{i}"), format!("rack-{}", i % 7));
            let region = ["us-east-1", "eu-central-1", "ap-southeast-2"][i % 3];
            let s = table.push_series([(0, host.as_str()), (1, rack.as_str()), (2, region)]);
            table.values.push((3, Value::Float(i as f64)));
            table.push_row(i as i64, s, i);
        }
        WriteBatch {
            db_id: 1,
            tables: vec![table],
        }
    }

    #[test]
    fn tag_values_met_before_are_written_as_their_number_and_read_back() {
        let batch = many_series(300);
        let (mut numbered, mut written) = (Vec::new(), Vec::new());
        encode(&batch, &mut numbered);
        encode_format3(&batch, &mut written);
        // Each series' rack and region (6 and 9-14 bytes) are a byte or two, but for the
        // first of each value.
        assert!(
            written.len() - numbered.len() > 300 * 12,
            "{} bytes numbered, {} written out",
            numbered.len(),
            written.len()
        );
        assert_eq!(decode(&numbered, FORMAT).unwrap().to_batch(), batch);
        // Skipped as decoded just before, the tag sets read back the same.
        let mut seen = SeenSeries::default();
        let first = decode_logged(&numbered, FORMAT, &mut seen).unwrap();
        let again = decode_logged(&numbered, FORMAT, &mut seen).unwrap();
        assert_eq!(again.tables[0].skipped_series, Some(300));
        let read = read_skipped_series(&again.tables[0]);
        assert_eq!(read.tags, first.tables[0].tags);

        // db 1, table "t" with tag `host`, no fields: one series whose value is number
        // 1, when no value was written out before.
        let head = [1, 1, 1, b't', 1, 4, b'h', b'o', b's', b't', 0, 1, 1, 0];
        let unknown = [&head[..], &[1, 0, 0]].concat();
        assert_eq!(
            decode(&unknown, FORMAT),
            Err(DecodeError("tag value number out of range"))
        );
        let known = [&head[..], &[0, 1, b'a', 0, 0]].concat();
        assert_eq!(decode(&known, FORMAT).unwrap().tables[0].tags, [(0, "a")]);
    }

    #[test]
    fn a_column_out_of_order_or_a_row_past_the_table_is_damage() {
        // db 7, table "t": host (tag), f (float); one series, two rows.
        let head = [
            7, 1, 1, b't', 2, 4, b'h', b'o', b's', b't', 0, 1, b'f', 1, 1, 0, 2,
        ];
        let times_series = [2, 2, 0, 0];
        let one = 1.5f64.to_le_bytes();
        let payload = |fields: &[u8]| [&head[..], &times_series, fields].concat();
        // f once, dense: fine.
        let ok = payload(&[&[1, 1, 1][..], &one, &one].concat());
        assert!(decode(&ok, FORMAT).is_ok());
        // f twice.
        let twice = payload(&[&[2, 1, 1][..], &one, &one, &[1, 1], &one, &one].concat());
        assert_eq!(
            decode(&twice, FORMAT),
            Err(DecodeError("field columns out of order"))
        );
        // f's one value on row 2 of 2.
        let past = payload(&[&[1, 1, 0, 1, 2][..], &one].concat());
        assert_eq!(
            decode(&past, FORMAT),
            Err(DecodeError("field row out of range"))
        );
        // The tag column as a field.
        let tag = payload(&[&[1, 0, 1][..], &one, &one].concat());
        assert_eq!(
            decode(&tag, FORMAT),
            Err(DecodeError("field refers to a tag column"))
        );
    }

    #[test]
    fn format_1_payloads_with_tags_per_row_decode_to_shared_series() {
        // db 7, one table "t" with columns host (tag) and f (float), three rows, the first
        // and third with the same tags.
        let mut buf = vec![
            7, 1, 1, b't', 2, 4, b'h', b'o', b's', b't', 0, 1, b'f', 1, 3,
        ];
        for (delta, host) in [(2u8, Some(b'a')), (2, None), (2, Some(b'a'))] {
            buf.push(delta);
            match host {
                Some(h) => buf.extend_from_slice(&[1, 0, 1, h]),
                None => buf.push(0),
            }
            buf.extend_from_slice(&[1, 1]);
            buf.extend_from_slice(&1.5f64.to_le_bytes());
        }
        let batch = decode(&buf, FORMAT_ROW_TAGS).unwrap().to_batch();
        let t = &batch.tables[0];
        assert_eq!(t.series_count(), 2);
        assert_eq!(t.series_tags(0).collect::<Vec<_>>(), [(0, "a")]);
        assert_eq!(t.series_tags(1).count(), 0);
        let rows: Vec<(i64, u32)> = t.rows.iter().map(|r| (r.time, r.series)).collect();
        assert_eq!(rows, vec![(1, 0), (2, 1), (3, 0)]);
        assert_eq!(t.fields(&t.rows[2]), &[(1, Value::Float(1.5))]);
        assert!(
            decode(&buf, FORMAT_ROWS).is_err(),
            "format 1 is not format 2"
        );
    }

    #[test]
    fn varints_of_every_width_read_back_and_cut_ones_are_refused() {
        let widths = (0..64).flat_map(|bit| {
            let v = 1u64 << bit;
            [v - 1, v, v + 1]
        });
        for v in widths.chain([u64::MAX]) {
            let mut buf = Vec::new();
            put_var(&mut buf, v);
            let mut r = &buf[..];
            assert_eq!(get_var(&mut r), Ok(v));
            assert!(r.is_empty());
            let mut cut = &buf[..buf.len() - 1];
            assert!(get_var(&mut cut).is_err(), "{v} cut to {cut:?}");
        }
    }

    #[test]
    fn truncated_or_extended_payload_is_rejected() {
        type Encoder = fn(&WriteBatch, &mut Vec<u8>);
        for (format, encoder) in [
            (FORMAT, encode as Encoder),
            (FORMAT_COLUMNS, encode_format3),
            (FORMAT_ROWS, encode_rows),
        ] {
            let mut buf = Vec::new();
            encoder(&sample(), &mut buf);
            for cut in 0..buf.len() {
                assert!(
                    decode(&buf[..cut], format).is_err(),
                    "prefix of {cut} bytes decoded in format {format}"
                );
            }
            buf.push(0);
            assert!(decode(&buf, format).is_err());
        }
    }
}
