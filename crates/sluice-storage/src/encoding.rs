//! The compact binary encoding of a write batch ([`crate::batch`]), as stored in WAL records.
//!
//! Layout (all integers LEB128 varints unless noted, strings as varint length + UTF-8):
//!
//! ```text
//! record  = db_id n_tables table*
//! table   = name n_columns (column_name kind:u8)* n_series tags* n_rows row*
//! tags    = n_tags (column_index value:str)*
//! row     = time_delta:zigzag series_index n_fields (column_index value)*
//! value   = f64 little-endian | i64 zigzag | u64 | str | bool:u8   (type from the column kind)
//! ```
//!
//! `time_delta` is relative to the previous row of the same table (the first row to 0).
//! This is format 2 (WAL segment version 2). Format 1, still read, had no series section:
//! each row carried its own tags, `row = time_delta n_tags (column_index value:str)* n_fields …`.

use std::borrow::Cow;
use std::collections::HashMap;

use sluice_lp::FieldType;

use crate::batch::{BatchRef, ColumnType, Row, TableRef, Value, ValueRef, WriteBatch};

/// Why a payload could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub(crate) struct DecodeError(pub(crate) &'static str);

/// Encodes `batch` in the current format ([`FORMAT`]).
pub(crate) fn encode(batch: &WriteBatch, out: &mut Vec<u8>) {
    put_var(out, u64::from(batch.db_id));
    put_var(out, batch.tables.len() as u64);
    for table in &batch.tables {
        put_str(out, &table.name);
        put_var(out, table.columns.len() as u64);
        for (name, kind) in &table.columns {
            put_str(out, name);
            out.push(kind_to_u8(*kind));
        }
        put_var(out, table.series_count() as u64);
        for s in 0..table.series_count() as u32 {
            let tags = table.series_tags(s);
            put_var(out, tags.len() as u64);
            for (idx, value) in tags {
                put_var(out, u64::from(idx));
                put_str(out, value);
            }
        }
        put_var(out, table.rows.len() as u64);
        let mut prev = 0i64;
        for row in &table.rows {
            put_var(out, zigzag(row.time.wrapping_sub(prev)));
            prev = row.time;
            put_var(out, u64::from(row.series));
            let fields = table.fields(row);
            put_var(out, fields.len() as u64);
            for (idx, value) in fields {
                put_var(out, u64::from(*idx));
                match value {
                    Value::Float(v) => out.extend_from_slice(&v.to_le_bytes()),
                    Value::Integer(v) => put_var(out, zigzag(*v)),
                    Value::UInteger(v) => put_var(out, *v),
                    Value::String(v) => put_str(out, v),
                    Value::Boolean(v) => out.push(u8::from(*v)),
                }
            }
        }
    }
}

/// The current payload format: tag sets stored once per table (`series`).
pub(crate) const FORMAT: u32 = 2;
/// The first format: every row carries its own tags.
pub(crate) const FORMAT_ROW_TAGS: u32 = 1;

/// Decodes a payload written in `format` ([`FORMAT`] or [`FORMAT_ROW_TAGS`]), in place:
/// names, tag values and strings borrow `input`.
pub(crate) fn decode(mut input: &[u8], format: u32) -> Result<BatchRef<'_>, DecodeError> {
    let r = &mut input;
    let db_id = u32::try_from(get_var(r)?).map_err(|_| DecodeError("database id out of range"))?;
    let n_tables = get_len(r)?;
    let mut tables = Vec::with_capacity(n_tables.min(1024));
    for _ in 0..n_tables {
        tables.push(decode_table(r, format)?);
    }
    if !input.is_empty() {
        return Err(DecodeError("trailing bytes after batch"));
    }
    Ok(BatchRef { db_id, tables })
}

fn decode_table<'a>(r: &mut &'a [u8], format: u32) -> Result<TableRef<'a>, DecodeError> {
    let name = get_str_ref(r)?;
    let n_cols = get_len(r)?;
    let mut columns = Vec::with_capacity(n_cols.min(4096));
    for _ in 0..n_cols {
        let col = get_str_ref(r)?;
        let kind = kind_from_u8(get_u8(r)?).ok_or(DecodeError("unknown column kind"))?;
        columns.push((col, kind));
    }
    let mut table = TableRef {
        name,
        columns,
        ..TableRef::default()
    };
    // Format 1 has no series section: tag sets are interned as rows are read.
    let mut interned: HashMap<Vec<(u32, &str)>, u32> = HashMap::new();
    if format != FORMAT_ROW_TAGS {
        let n_series = get_len(r)?;
        table.series.reserve(n_series.min(1 << 16));
        for _ in 0..n_series {
            let n_tags = get_len(r)?;
            let start = table.tags.len() as u32;
            for _ in 0..n_tags {
                let tag = get_tag(r, &table.columns)?;
                table.tags.push(tag);
            }
            table.series.push(start..table.tags.len() as u32);
        }
    }
    let n_rows = get_len(r)?;
    let mut rows = Vec::with_capacity(n_rows.min(1 << 16));
    table.values.reserve(n_rows.min(1 << 16));
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
            if s >= table.series.len() as u64 {
                return Err(DecodeError("series index out of range"));
            }
            s as u32
        };
        let n_fields = get_len(r)?;
        let fields_start = table.values.len() as u32;
        for _ in 0..n_fields {
            let idx = get_index(r, table.columns.len())?;
            let value = match table.columns[idx as usize].1 {
                ColumnType::Tag => return Err(DecodeError("field refers to a tag column")),
                ColumnType::Field(FieldType::Float) => {
                    let bytes = take(r, 8)?;
                    ValueRef::Float(f64::from_le_bytes(bytes.try_into().expect("8 bytes")))
                }
                ColumnType::Field(FieldType::Integer) => ValueRef::Integer(unzigzag(get_var(r)?)),
                ColumnType::Field(FieldType::UInteger) => ValueRef::UInteger(get_var(r)?),
                ColumnType::Field(FieldType::String) => ValueRef::String(get_str_ref(r)?),
                ColumnType::Field(FieldType::Boolean) => ValueRef::Boolean(get_u8(r)? != 0),
            };
            table.values.push((idx, value));
        }
        rows.push(Row {
            time,
            series,
            fields_start,
            fields_end: table.values.len() as u32,
        });
    }
    table.rows = Cow::Owned(rows);
    Ok(table)
}

/// One tag: (column index, value), the index naming a tag column.
fn get_tag<'a>(
    r: &mut &'a [u8],
    columns: &[(&str, ColumnType)],
) -> Result<(u32, &'a str), DecodeError> {
    let idx = get_index(r, columns.len())?;
    if columns[idx as usize].1 != ColumnType::Tag {
        return Err(DecodeError("tag refers to a field column"));
    }
    Ok((idx, get_str_ref(r)?))
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
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let b = get_u8(r)?;
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Ok(v);
        }
    }
    Err(DecodeError("varint too long"))
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
    use crate::batch::TableBatch;

    fn sample() -> WriteBatch {
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
        table.push_series([(0, "a")]);
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
    fn batch_round_trips_through_the_encoding() {
        let batch = sample();
        let mut buf = Vec::new();
        encode(&batch, &mut buf);
        assert_eq!(decode(&buf, FORMAT).unwrap().to_batch(), batch);
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
        assert!(decode(&buf, FORMAT).is_err(), "format 1 is not format 2");
    }

    #[test]
    fn truncated_or_extended_payload_is_rejected() {
        let mut buf = Vec::new();
        encode(&sample(), &mut buf);
        for cut in 0..buf.len() {
            assert!(
                decode(&buf[..cut], FORMAT).is_err(),
                "prefix of {cut} bytes decoded"
            );
        }
        buf.push(0);
        assert!(decode(&buf, FORMAT).is_err());
    }
}
