//! Tag predicates of deletes (`=`, `!=`, `=~`, `!~` joined by AND/OR, a missing tag
//! reading as `""`), their evaluation over series and Arrow batches, and the logged
//! form of a delete.

use arrow::array::{Array, DictionaryArray, RecordBatch, StringArray};
use arrow::array::{TimestampNanosecondArray, UInt32Array};
use arrow::datatypes::Int32Type;
use regex::Regex;

use crate::encoding::{DecodeError, get_str, get_u8, get_var, put_str, put_var, unzigzag, zigzag};
use crate::types::DeleteRequest;

/// A condition on a series' tags, as an InfluxQL `WHERE` on tags expresses it.
///
/// A tag the series does not have reads as the empty string, as in InfluxDB:
/// `host != 'a'` and `host = ''` both match series without a `host` tag.
#[derive(Debug, Clone)]
pub enum TagPredicate {
    /// The tag's value equals `value`.
    Eq { key: String, value: String },
    /// The tag's value differs from `value`.
    NotEq { key: String, value: String },
    /// The regex finds a match anywhere in the tag's value (anchor it to match the whole).
    Regex { key: String, regex: Regex },
    /// The regex finds no match in the tag's value.
    NotRegex { key: String, regex: Regex },
    /// Both hold.
    And(Box<TagPredicate>, Box<TagPredicate>),
    /// Either holds.
    Or(Box<TagPredicate>, Box<TagPredicate>),
}

impl PartialEq for TagPredicate {
    fn eq(&self, other: &Self) -> bool {
        use TagPredicate as P;
        match (self, other) {
            (P::Eq { key: a, value: x }, P::Eq { key: b, value: y })
            | (P::NotEq { key: a, value: x }, P::NotEq { key: b, value: y }) => a == b && x == y,
            (P::Regex { key: a, regex: x }, P::Regex { key: b, regex: y })
            | (P::NotRegex { key: a, regex: x }, P::NotRegex { key: b, regex: y }) => {
                a == b && x.as_str() == y.as_str()
            }
            (P::And(a, b), P::And(c, d)) | (P::Or(a, b), P::Or(c, d)) => a == c && b == d,
            _ => false,
        }
    }
}

/// Nesting deeper than this in a logged predicate is taken as damage.
const MAX_DEPTH: usize = 256;

impl TagPredicate {
    /// `key = value`.
    pub fn eq(key: impl Into<String>, value: impl Into<String>) -> TagPredicate {
        TagPredicate::Eq {
            key: key.into(),
            value: value.into(),
        }
    }

    /// `key != value`.
    pub fn not_eq(key: impl Into<String>, value: impl Into<String>) -> TagPredicate {
        TagPredicate::NotEq {
            key: key.into(),
            value: value.into(),
        }
    }

    /// `key =~ /pattern/`.
    ///
    /// # Errors
    /// The regex crate's error when `pattern` is not a valid regex.
    pub fn regex(key: impl Into<String>, pattern: &str) -> Result<TagPredicate, regex::Error> {
        Ok(TagPredicate::Regex {
            key: key.into(),
            regex: Regex::new(pattern)?,
        })
    }

    /// `key !~ /pattern/`.
    ///
    /// # Errors
    /// The regex crate's error when `pattern` is not a valid regex.
    pub fn not_regex(key: impl Into<String>, pattern: &str) -> Result<TagPredicate, regex::Error> {
        Ok(TagPredicate::NotRegex {
            key: key.into(),
            regex: Regex::new(pattern)?,
        })
    }

    /// `self AND other`.
    pub fn and(self, other: TagPredicate) -> TagPredicate {
        TagPredicate::And(Box::new(self), Box::new(other))
    }

    /// `self OR other`.
    pub fn or(self, other: TagPredicate) -> TagPredicate {
        TagPredicate::Or(Box::new(self), Box::new(other))
    }

    /// Whether a series whose tag values `tag` returns (`None` when absent) matches.
    pub fn matches<'a>(&self, tag: &impl Fn(&str) -> Option<&'a str>) -> bool {
        match self {
            TagPredicate::Eq { key, value } => tag(key).unwrap_or("") == value,
            TagPredicate::NotEq { key, value } => tag(key).unwrap_or("") != value,
            TagPredicate::Regex { key, regex } => regex.is_match(tag(key).unwrap_or("")),
            TagPredicate::NotRegex { key, regex } => !regex.is_match(tag(key).unwrap_or("")),
            TagPredicate::And(a, b) => a.matches(tag) && b.matches(tag),
            TagPredicate::Or(a, b) => a.matches(tag) || b.matches(tag),
        }
    }

    /// Which rows of `batch` match; tag columns are `Dictionary(Int32, Utf8)` and a
    /// missing column or null reads as `""`. Each comparison runs once per distinct value.
    fn eval_batch(&self, batch: &RecordBatch) -> Vec<bool> {
        let leaf = |key: &str, test: &dyn Fn(&str) -> bool| {
            tag_rows(batch, key, &|v| test(v.unwrap_or("")))
        };
        match self {
            TagPredicate::Eq { key, value } => leaf(key, &|v| v == value),
            TagPredicate::NotEq { key, value } => leaf(key, &|v| v != value),
            TagPredicate::Regex { key, regex } => leaf(key, &|v| regex.is_match(v)),
            TagPredicate::NotRegex { key, regex } => leaf(key, &|v| !regex.is_match(v)),
            TagPredicate::And(a, b) => {
                let mut out = a.eval_batch(batch);
                out.iter_mut()
                    .zip(b.eval_batch(batch))
                    .for_each(|(x, y)| *x &= y);
                out
            }
            TagPredicate::Or(a, b) => {
                let mut out = a.eval_batch(batch);
                out.iter_mut()
                    .zip(b.eval_batch(batch))
                    .for_each(|(x, y)| *x |= y);
                out
            }
        }
    }

    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            TagPredicate::Eq { key, value } => {
                out.push(0);
                put_str(out, key);
                put_str(out, value);
            }
            TagPredicate::NotEq { key, value } => {
                out.push(1);
                put_str(out, key);
                put_str(out, value);
            }
            TagPredicate::Regex { key, regex } => {
                out.push(2);
                put_str(out, key);
                put_str(out, regex.as_str());
            }
            TagPredicate::NotRegex { key, regex } => {
                out.push(3);
                put_str(out, key);
                put_str(out, regex.as_str());
            }
            TagPredicate::And(a, b) => {
                out.push(4);
                a.encode(out);
                b.encode(out);
            }
            TagPredicate::Or(a, b) => {
                out.push(5);
                a.encode(out);
                b.encode(out);
            }
        }
    }

    fn decode(r: &mut &[u8], depth: usize) -> Result<TagPredicate, DecodeError> {
        if depth > MAX_DEPTH {
            return Err(DecodeError("predicate nested too deeply"));
        }
        let regex = |s: String| Regex::new(&s).map_err(|_| DecodeError("invalid logged regex"));
        Ok(match get_u8(r)? {
            0 => TagPredicate::Eq {
                key: get_str(r)?,
                value: get_str(r)?,
            },
            1 => TagPredicate::NotEq {
                key: get_str(r)?,
                value: get_str(r)?,
            },
            2 => TagPredicate::Regex {
                key: get_str(r)?,
                regex: regex(get_str(r)?)?,
            },
            3 => TagPredicate::NotRegex {
                key: get_str(r)?,
                regex: regex(get_str(r)?)?,
            },
            4 => {
                let a = TagPredicate::decode(r, depth + 1)?;
                TagPredicate::And(Box::new(a), Box::new(TagPredicate::decode(r, depth + 1)?))
            }
            5 => {
                let a = TagPredicate::decode(r, depth + 1)?;
                TagPredicate::Or(Box::new(a), Box::new(TagPredicate::decode(r, depth + 1)?))
            }
            _ => return Err(DecodeError("unknown predicate operator")),
        })
    }
}

/// A delete as the WAL logs it: a [`DeleteRequest`] on one database, or the drop of a
/// whole table (`drop_table`, with `request.table` set).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct DeleteOp {
    pub(crate) db_id: u32,
    /// Remove the table from the catalog as well as its rows.
    pub(crate) drop_table: bool,
    pub(crate) request: DeleteRequest,
}

impl DeleteOp {
    /// Whether the op concerns `table`.
    pub(crate) fn covers_table(&self, table: &str) -> bool {
        self.request.table.as_deref().is_none_or(|t| t == table)
    }

    /// Whether rows in `[min, max]` may be deleted.
    pub(crate) fn covers_times(&self, min: i64, max: i64) -> bool {
        self.drop_table
            || self
                .request
                .time_range
                .is_none_or(|(s, e)| max >= s && min < e)
    }

    /// Whether the time range includes `time`.
    pub(crate) fn covers_time(&self, time: i64) -> bool {
        self.drop_table
            || self
                .request
                .time_range
                .is_none_or(|(s, e)| time >= s && time < e)
    }

    /// Whether a series with tags `tag` is deleted (at least in part).
    pub(crate) fn covers_series<'a>(&self, tag: &impl Fn(&str) -> Option<&'a str>) -> bool {
        self.drop_table
            || self
                .request
                .tag_predicate
                .as_ref()
                .is_none_or(|p| p.matches(tag))
    }

    /// The rows of `batch` (a table's rows with a `time` column) this op deletes.
    pub(crate) fn deleted_rows(&self, batch: &RecordBatch) -> Vec<bool> {
        let n = batch.num_rows();
        if self.drop_table {
            return vec![true; n];
        }
        let mut out = match &self.request.tag_predicate {
            Some(p) => p.eval_batch(batch),
            None => vec![true; n],
        };
        if let Some((start, end)) = self.request.time_range
            && let Some(t) = batch
                .column_by_name("time")
                .and_then(|c| c.as_any().downcast_ref::<TimestampNanosecondArray>())
        {
            for (d, v) in out.iter_mut().zip(t.values().iter()) {
                *d &= *v >= start && *v < end;
            }
        }
        out
    }

    /// Appends the op's encoding:
    /// `db_id drop:u8 has_table:u8 [table:str] has_range:u8 [start end:zigzag]
    /// has_predicate:u8 [predicate]`, a predicate being an operator byte (0 `=`, 1 `!=`,
    /// 2 `=~`, 3 `!~`: then key and value/pattern strings; 4 AND, 5 OR: then both sides).
    pub(crate) fn encode(&self, out: &mut Vec<u8>) {
        put_var(out, u64::from(self.db_id));
        out.push(u8::from(self.drop_table));
        match &self.request.table {
            Some(t) => {
                out.push(1);
                put_str(out, t);
            }
            None => out.push(0),
        }
        match self.request.time_range {
            Some((s, e)) => {
                out.push(1);
                put_var(out, zigzag(s));
                put_var(out, zigzag(e));
            }
            None => out.push(0),
        }
        match &self.request.tag_predicate {
            Some(p) => {
                out.push(1);
                p.encode(out);
            }
            None => out.push(0),
        }
    }

    /// Decodes what [`DeleteOp::encode`] wrote; the whole input must be used.
    pub(crate) fn decode(mut input: &[u8]) -> Result<DeleteOp, DecodeError> {
        let r = &mut input;
        let db_id =
            u32::try_from(get_var(r)?).map_err(|_| DecodeError("database id out of range"))?;
        let drop_table = get_u8(r)? != 0;
        let table = match get_u8(r)? {
            0 => None,
            _ => Some(get_str(r)?),
        };
        let time_range = match get_u8(r)? {
            0 => None,
            _ => Some((unzigzag(get_var(r)?), unzigzag(get_var(r)?))),
        };
        let tag_predicate = match get_u8(r)? {
            0 => None,
            _ => Some(TagPredicate::decode(r, 0)?),
        };
        if !input.is_empty() {
            return Err(DecodeError("trailing bytes after delete"));
        }
        if drop_table && table.is_none() {
            return Err(DecodeError("table drop without a table"));
        }
        Ok(DeleteOp {
            db_id,
            drop_table,
            request: DeleteRequest {
                table,
                time_range,
                tag_predicate,
                drop_emptied_tables: false,
            },
        })
    }
}

/// The rows of `batch` not in `deleted`, or `None` when none is deleted.
pub(crate) fn keep_rows(
    batch: &RecordBatch,
    deleted: &[bool],
) -> crate::Result<Option<RecordBatch>> {
    if !deleted.iter().any(|d| *d) {
        return Ok(None);
    }
    let keep: UInt32Array = deleted
        .iter()
        .enumerate()
        .filter(|(_, d)| !**d)
        .map(|(i, _)| i as u32)
        .collect();
    let columns = batch
        .columns()
        .iter()
        .map(|c| arrow::compute::take(c, &keep, None))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Some(RecordBatch::try_new(batch.schema(), columns)?))
}

/// `test` of each row's value of tag `key` in `batch` (tag columns are
/// `Dictionary(Int32, Utf8)`; `None` for a null or a missing column), run once per
/// distinct value.
pub(crate) fn tag_rows(
    batch: &RecordBatch,
    key: &str,
    test: &dyn Fn(Option<&str>) -> bool,
) -> Vec<bool> {
    let n = batch.num_rows();
    let Some(col) = batch
        .column_by_name(key)
        .and_then(|c| c.as_any().downcast_ref::<DictionaryArray<Int32Type>>())
    else {
        return vec![test(None); n];
    };
    let values = col
        .values()
        .as_any()
        .downcast_ref::<StringArray>()
        .expect("tag dictionaries hold strings");
    let per_value: Vec<bool> = (0..values.len())
        .map(|i| test(values.is_valid(i).then(|| values.value(i))))
        .collect();
    let null = test(None);
    (0..n)
        .map(|i| {
            if col.is_valid(i) {
                per_value[col.keys().value(i) as usize]
            } else {
                null
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<&'a str> {
        move |k| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| *v)
    }

    #[test]
    fn a_missing_tag_reads_as_the_empty_string() {
        let with = [("host", "a"), ("dc", "x")];
        let without = [("dc", "x")];
        let cases: Vec<(TagPredicate, bool, bool)> = vec![
            (TagPredicate::eq("host", "a"), true, false),
            (TagPredicate::not_eq("host", "a"), false, true),
            (TagPredicate::eq("host", ""), false, true),
            (TagPredicate::not_eq("host", ""), true, false),
            (TagPredicate::regex("host", "^a$").unwrap(), true, false),
            (TagPredicate::not_regex("host", "a").unwrap(), false, true),
            (TagPredicate::regex("host", "^$").unwrap(), false, true),
            (
                TagPredicate::eq("host", "a").and(TagPredicate::eq("dc", "x")),
                true,
                false,
            ),
            (
                TagPredicate::eq("host", "a").or(TagPredicate::eq("dc", "x")),
                true,
                true,
            ),
        ];
        for (p, on_with, on_without) in cases {
            assert_eq!(p.matches(&tags(&with)), on_with, "{p:?} on {with:?}");
            assert_eq!(
                p.matches(&tags(&without)),
                on_without,
                "{p:?} on {without:?}"
            );
        }
    }

    #[test]
    fn a_delete_op_round_trips_through_its_encoding_and_rejects_damage() {
        let op = DeleteOp {
            db_id: 3,
            drop_table: false,
            request: DeleteRequest {
                table: Some("cpu".into()),
                time_range: Some((-5, i64::MAX)),
                tag_predicate: Some(
                    TagPredicate::eq("host", "a")
                        .or(TagPredicate::regex("dc", "^eu-").unwrap())
                        .and(TagPredicate::not_regex("rack", "7").unwrap())
                        .and(TagPredicate::not_eq("x", "")),
                ),
                drop_emptied_tables: false,
            },
        };
        let mut buf = Vec::new();
        op.encode(&mut buf);
        assert_eq!(DeleteOp::decode(&buf).unwrap(), op);
        for cut in 0..buf.len() {
            assert!(DeleteOp::decode(&buf[..cut]).is_err(), "prefix of {cut}");
        }
        buf.push(0);
        assert!(DeleteOp::decode(&buf).is_err());
        let all = DeleteOp {
            db_id: 1,
            drop_table: true,
            request: DeleteRequest {
                table: Some("m".into()),
                ..DeleteRequest::default()
            },
        };
        let mut buf = Vec::new();
        all.encode(&mut buf);
        assert_eq!(DeleteOp::decode(&buf).unwrap(), all);
    }
}
