//! The validated write batch and its compact binary encoding, as stored in WAL records.
//!
//! Layout (all integers LEB128 varints unless noted, strings as varint length + UTF-8):
//!
//! ```text
//! record  = db_id n_tables table*
//! table   = name n_columns (column_name kind:u8)* n_rows row*
//! row     = time_delta:zigzag n_tags (column_index value:str)* n_fields (column_index value)*
//! value   = f64 little-endian | i64 zigzag | u64 | str | bool:u8   (type from the column kind)
//! ```
//!
//! `time_delta` is relative to the previous row of the same table (the first row to 0).

use crate::catalog::ColumnType;
use sluice_lp::FieldType;

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
}

/// The rows of one table in a batch; rows refer to columns by index into `columns`.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct TableBatch {
    pub(crate) name: String,
    pub(crate) columns: Vec<(String, ColumnType)>,
    pub(crate) rows: Vec<Row>,
}

/// One line: tags sorted by name.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Row {
    pub(crate) time: i64,
    pub(crate) tags: Vec<(u32, String)>,
    pub(crate) fields: Vec<(u32, Value)>,
}

/// Why a payload could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub(crate) struct DecodeError(pub(crate) &'static str);

pub(crate) fn encode(batch: &WriteBatch, out: &mut Vec<u8>) {
    put_var(out, u64::from(batch.db_id));
    put_var(out, batch.tables.len() as u64);
    for table in &batch.tables {
        put_str(out, &table.name);
        put_var(out, table.columns.len() as u64);
        for (name, kind) in &table.columns {
            put_str(out, name);
            out.push(kind.to_u8());
        }
        put_var(out, table.rows.len() as u64);
        let mut prev = 0i64;
        for row in &table.rows {
            put_var(out, zigzag(row.time.wrapping_sub(prev)));
            prev = row.time;
            put_var(out, row.tags.len() as u64);
            for (idx, value) in &row.tags {
                put_var(out, u64::from(*idx));
                put_str(out, value);
            }
            put_var(out, row.fields.len() as u64);
            for (idx, value) in &row.fields {
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

pub(crate) fn decode(mut input: &[u8]) -> Result<WriteBatch, DecodeError> {
    let r = &mut input;
    let db_id = u32::try_from(get_var(r)?).map_err(|_| DecodeError("database id out of range"))?;
    let n_tables = get_len(r)?;
    let mut tables = Vec::with_capacity(n_tables.min(1024));
    for _ in 0..n_tables {
        let name = get_str(r)?;
        let n_cols = get_len(r)?;
        let mut columns = Vec::with_capacity(n_cols.min(4096));
        for _ in 0..n_cols {
            let col = get_str(r)?;
            let kind = ColumnType::from_u8(get_u8(r)?).ok_or(DecodeError("unknown column kind"))?;
            columns.push((col, kind));
        }
        let n_rows = get_len(r)?;
        let mut rows = Vec::with_capacity(n_rows.min(1 << 16));
        let mut prev = 0i64;
        for _ in 0..n_rows {
            let time = prev.wrapping_add(unzigzag(get_var(r)?));
            prev = time;
            let n_tags = get_len(r)?;
            let mut tags = Vec::with_capacity(n_tags.min(256));
            for _ in 0..n_tags {
                let idx = get_index(r, columns.len())?;
                tags.push((idx, get_str(r)?));
            }
            let n_fields = get_len(r)?;
            let mut fields = Vec::with_capacity(n_fields.min(256));
            for _ in 0..n_fields {
                let idx = get_index(r, columns.len())?;
                let value = match columns[idx as usize].1 {
                    ColumnType::Tag => return Err(DecodeError("field refers to a tag column")),
                    ColumnType::Field(FieldType::Float) => {
                        let bytes = take(r, 8)?;
                        Value::Float(f64::from_le_bytes(bytes.try_into().expect("8 bytes")))
                    }
                    ColumnType::Field(FieldType::Integer) => Value::Integer(unzigzag(get_var(r)?)),
                    ColumnType::Field(FieldType::UInteger) => Value::UInteger(get_var(r)?),
                    ColumnType::Field(FieldType::String) => Value::String(get_str(r)?),
                    ColumnType::Field(FieldType::Boolean) => Value::Boolean(get_u8(r)? != 0),
                };
                fields.push((idx, value));
            }
            rows.push(Row { time, tags, fields });
        }
        tables.push(TableBatch {
            name,
            columns,
            rows,
        });
    }
    if !input.is_empty() {
        return Err(DecodeError("trailing bytes after batch"));
    }
    Ok(WriteBatch { db_id, tables })
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

fn put_var(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    put_var(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

fn get_u8(r: &mut &[u8]) -> Result<u8, DecodeError> {
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

fn get_var(r: &mut &[u8]) -> Result<u64, DecodeError> {
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

fn get_str(r: &mut &[u8]) -> Result<String, DecodeError> {
    let n = get_len(r)?;
    let bytes = take(r, n)?;
    String::from_utf8(bytes.to_vec()).map_err(|_| DecodeError("invalid utf-8 in string"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> WriteBatch {
        WriteBatch {
            db_id: 7,
            tables: vec![TableBatch {
                name: "cpu".into(),
                columns: vec![
                    ("host".into(), ColumnType::Tag),
                    ("f".into(), ColumnType::Field(FieldType::Float)),
                    ("i".into(), ColumnType::Field(FieldType::Integer)),
                    ("u".into(), ColumnType::Field(FieldType::UInteger)),
                    ("s".into(), ColumnType::Field(FieldType::String)),
                    ("b".into(), ColumnType::Field(FieldType::Boolean)),
                ],
                rows: vec![
                    Row {
                        time: 1_700_000_000_000_000_000,
                        tags: vec![(0, "a".into())],
                        fields: vec![
                            (1, Value::Float(-1.5)),
                            (2, Value::Integer(i64::MIN)),
                            (3, Value::UInteger(u64::MAX)),
                            (4, Value::String("héllo".into())),
                            (5, Value::Boolean(true)),
                        ],
                    },
                    Row {
                        time: -5,
                        tags: vec![],
                        fields: vec![(1, Value::Float(2.0))],
                    },
                ],
            }],
        }
    }

    #[test]
    fn batch_round_trips_through_the_encoding() {
        let batch = sample();
        let mut buf = Vec::new();
        encode(&batch, &mut buf);
        assert_eq!(decode(&buf).unwrap(), batch);
    }

    #[test]
    fn truncated_or_extended_payload_is_rejected() {
        let mut buf = Vec::new();
        encode(&sample(), &mut buf);
        for cut in 0..buf.len() {
            assert!(
                decode(&buf[..cut]).is_err(),
                "prefix of {cut} bytes decoded"
            );
        }
        buf.push(0);
        assert!(decode(&buf).is_err());
    }
}
