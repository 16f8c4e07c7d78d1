//! The InfluxDB 1.x `/query` response: `{"results":[{"statement_id":0,"series":[...]}]}`
//! as JSON (whole or chunked) and as CSV.

use std::fmt::Write as _;
use std::str::FromStr;

use crate::error::{Error, Result};
use crate::influxql::{Series, StatementResult, TimeZone, Value};
use sluice_lp::time::push_rfc3339_nano;

/// How times are written: RFC 3339 (the default) or an integer count of a unit since the
/// epoch (the v1 `epoch` parameter).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Epoch {
    /// RFC 3339 with nanoseconds (`2016-01-01T00:00:00Z`). The default.
    #[default]
    Rfc3339,
    /// Nanoseconds (`epoch=ns`, also `n`).
    Nanoseconds,
    /// Microseconds (`epoch=u`, also `us`, `µ`).
    Microseconds,
    /// Milliseconds (`epoch=ms`).
    Milliseconds,
    /// Seconds (`epoch=s`).
    Seconds,
    /// Minutes (`epoch=m`).
    Minutes,
    /// Hours (`epoch=h`).
    Hours,
}

impl FromStr for Epoch {
    type Err = Error;

    /// Reads the `epoch` parameter: `ns`/`n`, `u`/`us`/`µ`, `ms`, `s`, `m`, `h`.
    fn from_str(s: &str) -> Result<Self> {
        Ok(match s {
            "ns" | "n" => Epoch::Nanoseconds,
            "u" | "us" | "µ" => Epoch::Microseconds,
            "ms" => Epoch::Milliseconds,
            "s" => Epoch::Seconds,
            "m" => Epoch::Minutes,
            "h" => Epoch::Hours,
            _ => {
                return Err(Error::Invalid(format!(
                    "invalid epoch {s:?}: expected ns, u, ms, s, m or h"
                )));
            }
        })
    }
}

impl Epoch {
    fn divisor(self) -> i64 {
        match self {
            Epoch::Rfc3339 | Epoch::Nanoseconds => 1,
            Epoch::Microseconds => 1_000,
            Epoch::Milliseconds => 1_000_000,
            Epoch::Seconds => 1_000_000_000,
            Epoch::Minutes => 60_000_000_000,
            Epoch::Hours => 3_600_000_000_000,
        }
    }
}

/// How a result's times are written: as epoch numbers or RFC 3339, in its statement's
/// zone.
#[derive(Clone, Copy)]
struct Times {
    epoch: Epoch,
    zone: Option<TimeZone>,
}

impl Times {
    fn of(result: &StatementResult, epoch: Epoch) -> Times {
        Times {
            epoch,
            zone: result.time_zone,
        }
    }
}

/// The whole v1 JSON response for `results`. Empty keys are left out (`series` when
/// there are none, `tags` when not grouped by tags, `name` when empty).
pub fn v1_json(results: &[StatementResult], epoch: Epoch) -> String {
    let mut out = String::from("{\"results\":[");
    for (i, r) in results.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_result(
            &mut out,
            r.statement_id,
            &r.series,
            r.error.as_deref(),
            false,
            Times::of(r, epoch),
        );
    }
    out.push_str("]}");
    out
}

/// The v1 JSON response for a request that failed as a whole (such as a parse error):
/// `{"error":"…"}`, as InfluxDB answers with status 400.
pub fn v1_error_json(message: &str) -> String {
    let mut out = String::from("{\"error\":");
    write_json_string(&mut out, message);
    out.push('}');
    out
}

/// The chunked v1 JSON response (`chunked=true`): one complete JSON document per chunk,
/// to be written one per line. As InfluxDB 1.x streams them, the series of a `SELECT`
/// (and of `SHOW SERIES`, a `SELECT` there) are cut into pieces of at most `chunk_size`
/// rows (`0` means 10,000, InfluxDB's default), every piece but a series' last carrying
/// `"partial":true` on the series and every chunk but the statement's last on the
/// result; any other `SHOW` answer comes as one unmarked chunk per series, uncut.
pub fn v1_json_chunks(results: &[StatementResult], epoch: Epoch, chunk_size: usize) -> Vec<String> {
    let size = if chunk_size == 0 { 10_000 } else { chunk_size };
    let mut chunks = Vec::new();
    for r in results {
        if r.error.is_some() || r.series.is_empty() {
            let mut out = String::from("{\"results\":[");
            write_result(
                &mut out,
                r.statement_id,
                &r.series,
                r.error.as_deref(),
                false,
                Times::of(r, epoch),
            );
            out.push_str("]}");
            chunks.push(out);
            continue;
        }
        let mut pieces: Vec<(Series, bool)> = Vec::new();
        let streamed = r.series.iter().any(is_streamed);
        for s in &r.series {
            let parts: Vec<&[Vec<Value>]> = if s.values.is_empty() || !streamed {
                vec![&s.values[..]]
            } else {
                s.values.chunks(size).collect()
            };
            let n = parts.len();
            for (i, part) in parts.into_iter().enumerate() {
                pieces.push((
                    Series {
                        name: s.name.clone(),
                        tags: s.tags.clone(),
                        columns: s.columns.clone(),
                        values: part.to_vec(),
                    },
                    i + 1 < n,
                ));
            }
        }
        let n = pieces.len();
        for (i, (series, partial_series)) in pieces.into_iter().enumerate() {
            let mut out = String::from("{\"results\":[{\"statement_id\":");
            let _ = write!(out, "{}", r.statement_id);
            out.push_str(",\"series\":[");
            write_series(&mut out, &series, Times::of(r, epoch));
            if partial_series {
                out.pop();
                out.push_str(",\"partial\":true}");
            }
            out.push(']');
            if i + 1 < n && streamed {
                out.push_str(",\"partial\":true");
            }
            out.push_str("}]}");
            chunks.push(out);
        }
    }
    chunks
}

/// Whether InfluxDB 1.x streams `series` in chunks: a `SELECT` answer (its first
/// column is `time`) or `SHOW SERIES` (its one column `key`).
fn is_streamed(series: &Series) -> bool {
    match series.columns.as_slice() {
        [only] => only == "key" || only == "time",
        [first, ..] => first == "time",
        [] => false,
    }
}

fn write_result(
    out: &mut String,
    id: usize,
    series: &[Series],
    error: Option<&str>,
    partial: bool,
    times: Times,
) {
    let _ = write!(out, "{{\"statement_id\":{id}");
    if let Some(e) = error {
        out.push_str(",\"error\":");
        write_json_string(out, e);
    } else if !series.is_empty() {
        out.push_str(",\"series\":[");
        for (i, s) in series.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            write_series(out, s, times);
        }
        out.push(']');
    }
    if partial {
        out.push_str(",\"partial\":true");
    }
    out.push('}');
}

fn write_series(out: &mut String, s: &Series, times: Times) {
    out.push('{');
    let mut first = true;
    if !s.name.is_empty() {
        out.push_str("\"name\":");
        write_json_string(out, &s.name);
        first = false;
    }
    if !s.tags.is_empty() {
        if !first {
            out.push(',');
        }
        out.push_str("\"tags\":{");
        for (i, (k, v)) in s.tags.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            write_json_string(out, k);
            out.push(':');
            write_json_string(out, v);
        }
        out.push('}');
        first = false;
    }
    if !first {
        out.push(',');
    }
    out.push_str("\"columns\":[");
    for (i, c) in s.columns.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_json_string(out, c);
    }
    out.push(']');
    if !s.values.is_empty() {
        out.push_str(",\"values\":[");
        for (i, row) in s.values.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push('[');
            for (j, v) in row.iter().enumerate() {
                if j > 0 {
                    out.push(',');
                }
                write_json_value(out, v, times);
            }
            out.push(']');
        }
        out.push(']');
    }
    out.push('}');
}

fn write_json_value(out: &mut String, v: &Value, times: Times) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Float(x) => write_float(out, *x),
        Value::Integer(i) => out.push_str(itoa::Buffer::new().format(*i)),
        Value::Unsigned(u) => out.push_str(itoa::Buffer::new().format(*u)),
        Value::String(s) => write_json_string(out, s),
        Value::Boolean(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Time(t) => match times.epoch {
            // RFC 3339 text needs no JSON escape.
            Epoch::Rfc3339 => {
                out.push('"');
                match times.zone {
                    Some(zone) => zone.push_rfc3339(out, *t),
                    None => push_rfc3339_nano(out, *t),
                }
                out.push('"');
            }
            e => out.push_str(itoa::Buffer::new().format(t / e.divisor())),
        },
    }
}

/// Writes a float as Go's `encoding/json` does: shortest round-trip digits, no `.0` on
/// whole numbers, exponent form below 1e-6 and from 1e21; NaN and infinities as null.
fn write_float(out: &mut String, x: f64) {
    if !x.is_finite() {
        out.push_str("null");
        return;
    }
    let abs = x.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        // Rust writes `1e21` / `1e-7`; Go writes `1e+21` / `1e-07`.
        let s = format!("{x:e}");
        let (mantissa, exp) = s.split_once('e').unwrap_or((&s, "0"));
        let (sign, digits) = match exp.strip_prefix('-') {
            Some(d) => ('-', d),
            None => ('+', exp),
        };
        let _ = write!(out, "{mantissa}e{sign}{digits:0>2}");
        return;
    }
    let _ = write!(out, "{x}");
}

/// [`write_float`]'s text on its own.
#[cfg(test)]
fn format_float(x: f64) -> String {
    let mut out = String::new();
    write_float(&mut out, x);
    out
}

fn write_json_string(out: &mut String, s: &str) {
    out.push('"');
    // Runs of bytes that need no escape are copied whole; every escaped character is
    // ASCII, so the runs end on character boundaries.
    let mut run = 0;
    for (i, b) in s.bytes().enumerate() {
        let escaped = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            b'<' => "\\u003c",
            b'>' => "\\u003e",
            b'&' => "\\u0026",
            0..0x20 => "",
            _ => continue,
        };
        out.push_str(&s[run..i]);
        if escaped.is_empty() {
            let _ = write!(out, "\\u{b:04x}");
        } else {
            out.push_str(escaped);
        }
        run = i + 1;
    }
    out.push_str(&s[run..]);
    out.push('"');
}

/// The v1 CSV response (`Accept: application/csv`): a header `name,tags,<columns>` before
/// each series whose columns differ from the previous header, then one line per row with
/// the measurement, the tags as `k=v,k=v` and the values; times are integers in the
/// `epoch` unit (nanoseconds by default). A failed statement writes `error` and its
/// message.
pub fn v1_csv(results: &[StatementResult], epoch: Epoch) -> String {
    let mut out = String::new();
    let mut header: Option<Vec<String>> = None;
    for r in results {
        if let Some(e) = &r.error {
            out.push_str("error\n");
            write_csv_field(&mut out, e);
            out.push('\n');
            header = None;
            continue;
        }
        for s in &r.series {
            if header.as_ref() != Some(&s.columns) {
                if header.is_some() {
                    out.push('\n');
                }
                out.push_str("name,tags");
                for c in &s.columns {
                    out.push(',');
                    write_csv_field(&mut out, c);
                }
                out.push('\n');
                header = Some(s.columns.clone());
            }
            let tags = s
                .tags
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(",");
            for row in &s.values {
                write_csv_field(&mut out, &s.name);
                out.push(',');
                write_csv_field(&mut out, &tags);
                for v in row {
                    out.push(',');
                    match v {
                        Value::Null => {}
                        Value::Float(x) => write_float(&mut out, *x),
                        Value::Integer(i) => {
                            let _ = write!(out, "{i}");
                        }
                        Value::Unsigned(u) => {
                            let _ = write!(out, "{u}");
                        }
                        Value::String(s) => write_csv_field(&mut out, s),
                        Value::Boolean(b) => out.push_str(if *b { "true" } else { "false" }),
                        Value::Time(t) => {
                            let div = if epoch == Epoch::Rfc3339 {
                                1
                            } else {
                                epoch.divisor()
                            };
                            let _ = write!(out, "{}", t / div);
                        }
                    }
                }
                out.push('\n');
            }
        }
    }
    out
}

fn write_csv_field(out: &mut String, s: &str) {
    if s.contains([',', '"', '\n', '\r']) {
        out.push('"');
        out.push_str(&s.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(s);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_strings_escape_what_influxdb_escapes_and_keep_the_rest() {
        let escaped = |s: &str| {
            let mut out = String::new();
            write_json_string(&mut out, s);
            out
        };
        assert_eq!(escaped(""), "\"\"");
        assert_eq!(escaped("host_1"), "\"host_1\"");
        assert_eq!(
            escaped("a\"b\\c\nd\re\tf<g>h&i\u{1}j\u{1f}"),
            r#""a\"b\\c\nd\re\tf\u003cg\u003eh\u0026i\u0001j\u001f""#
        );
        // Multibyte characters are copied whole, next to escapes too.
        assert_eq!(escaped("é\"ü→"), "\"é\\\"ü→\"");
        assert_eq!(escaped("\u{7f}ø"), "\"\u{7f}ø\"");
    }

    fn result() -> Vec<StatementResult> {
        vec![
            StatementResult {
                statement_id: 0,
                series: vec![Series {
                    name: "cpu".into(),
                    tags: vec![("host".into(), "a".into())],
                    columns: vec!["time".into(), "mean".into()],
                    values: vec![
                        vec![Value::Time(1_451_606_400_000_000_000), Value::Float(1.0)],
                        vec![Value::Time(1_451_606_460_000_000_000), Value::Null],
                    ],
                }],
                error: None,
                time_zone: None,
            },
            StatementResult {
                statement_id: 1,
                series: vec![],
                error: Some("database not found: x".into()),
                time_zone: None,
            },
            StatementResult {
                statement_id: 2,
                series: vec![],
                error: None,
                time_zone: None,
            },
        ]
    }

    #[test]
    fn v1_json_omits_empty_keys_and_writes_rfc3339_times() {
        assert_eq!(
            v1_json(&result(), Epoch::Rfc3339),
            r#"{"results":[{"statement_id":0,"series":[{"name":"cpu","tags":{"host":"a"},"columns":["time","mean"],"values":[["2016-01-01T00:00:00Z",1],["2016-01-01T00:01:00Z",null]]}]},{"statement_id":1,"error":"database not found: x"},{"statement_id":2}]}"#
        );
    }

    #[test]
    fn v1_json_writes_epoch_times_in_the_requested_unit() {
        let json = v1_json(&result()[..1], Epoch::Seconds);
        assert!(json.contains("[1451606400,1]"), "{json}");
        assert!(json.contains("[1451606460,null]"), "{json}");
    }

    #[test]
    fn chunks_split_series_and_mark_partial_pieces() {
        let chunks = v1_json_chunks(&result()[..1], Epoch::Milliseconds, 1);
        assert_eq!(chunks.len(), 2);
        assert_eq!(
            chunks[0],
            r#"{"results":[{"statement_id":0,"series":[{"name":"cpu","tags":{"host":"a"},"columns":["time","mean"],"values":[[1451606400000,1]],"partial":true}],"partial":true}]}"#
        );
        assert_eq!(
            chunks[1],
            r#"{"results":[{"statement_id":0,"series":[{"name":"cpu","tags":{"host":"a"},"columns":["time","mean"],"values":[[1451606460000,null]]}]}]}"#
        );
    }

    #[test]
    fn show_answers_are_cut_into_chunks_only_for_show_series() {
        let show = |columns: &[&str], name: &str| StatementResult {
            statement_id: 0,
            series: vec![Series {
                name: name.into(),
                tags: vec![],
                columns: columns.iter().map(|c| c.to_string()).collect(),
                values: vec![
                    vec![Value::String("a".into()), Value::String("1".into())],
                    vec![Value::String("b".into()), Value::String("2".into())],
                ],
            }],
            error: None,
            time_zone: None,
        };
        let values = v1_json_chunks(&[show(&["key", "value"], "cpu")], Epoch::Rfc3339, 1);
        assert_eq!(
            values,
            [
                r#"{"results":[{"statement_id":0,"series":[{"name":"cpu","columns":["key","value"],"values":[["a","1"],["b","2"]]}]}]}"#
            ]
        );
        let mut series = show(&["key"], "");
        series.series[0]
            .values
            .iter_mut()
            .for_each(|row| row.truncate(1));
        let chunks = v1_json_chunks(&[series], Epoch::Rfc3339, 1);
        assert_eq!(
            chunks,
            [
                r#"{"results":[{"statement_id":0,"series":[{"columns":["key"],"values":[["a"]],"partial":true}],"partial":true}]}"#,
                r#"{"results":[{"statement_id":0,"series":[{"columns":["key"],"values":[["b"]]}]}]}"#,
            ]
        );
    }

    #[test]
    fn csv_has_name_and_tags_columns_and_integer_times() {
        assert_eq!(
            v1_csv(&result()[..1], Epoch::Rfc3339),
            "name,tags,time,mean\ncpu,host=a,1451606400000000000,1\ncpu,host=a,1451606460000000000,\n"
        );
    }

    #[test]
    fn floats_are_written_as_go_does() {
        let cases = [
            (1.0, "1"),
            (0.5, "0.5"),
            (-2.25, "-2.25"),
            (1e21, "1e+21"),
            (1.5e-7, "1.5e-07"),
            (123456789.0, "123456789"),
            (0.0, "0"),
            (-0.0, "-0"),
            (f64::NAN, "null"),
            (f64::INFINITY, "null"),
        ];
        for (x, text) in cases {
            assert_eq!(format_float(x), text);
            let mut written = String::new();
            write_float(&mut written, x);
            assert_eq!(written, text, "{x}");
        }
    }
}
