//! Table outputs of SQL (and InfluxQL-as-table) queries: JSON, JSON lines, CSV, Parquet
//! and pretty text.

use std::fmt::Write as _;
use std::io::{self, Write};
use std::str::FromStr;

use arrow::array::RecordBatch;
use arrow::util::display::{ArrayFormatter, FormatOptions};

use crate::engine::QueryOutput;
use crate::error::{Error, Result};

/// An output format of `/api/v3/query_sql` and `/api/v3/query_influxql`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// A JSON array of row objects (`[{"host":"a","time":"2016-01-01T00:00:00"}]`); null
    /// values are left out of their row. The default.
    #[default]
    Json,
    /// One JSON object per row, each on its own line.
    Jsonl,
    /// CSV with a header line.
    Csv,
    /// A Parquet file.
    Parquet,
    /// A text table for people.
    Pretty,
}

impl Format {
    /// The `Content-Type` of the encoding.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Json => "application/json",
            Format::Jsonl => "application/jsonl",
            Format::Csv => "text/csv; charset=utf-8",
            Format::Parquet => "application/vnd.apache.parquet",
            Format::Pretty => "text/plain; charset=utf-8",
        }
    }
}

impl FromStr for Format {
    type Err = Error;

    /// Reads `json`, `jsonl`, `csv`, `parquet` or `pretty` (case-insensitive).
    fn from_str(s: &str) -> Result<Self> {
        Ok(match s.to_ascii_lowercase().as_str() {
            "json" => Format::Json,
            "jsonl" => Format::Jsonl,
            "csv" => Format::Csv,
            "parquet" => Format::Parquet,
            "pretty" => Format::Pretty,
            _ => return Err(Error::UnknownFormat(s.to_owned())),
        })
    }
}

/// Encodes `output` in `format`, in at most `max_bytes` (`None`: any size).
///
/// # Errors
/// [`Error::MemoryLimit`] when the encoding grows past `max_bytes` (the query's
/// memory limit: a result's text can be many times its rows, and one short value
/// repeated over many rows takes its whole length on each); [`Error::Arrow`] /
/// [`Error::Parquet`] when a column type cannot be encoded.
pub fn encode(output: &QueryOutput, format: Format, max_bytes: Option<usize>) -> Result<Vec<u8>> {
    let mut out = Capped {
        buf: Vec::new(),
        max: max_bytes.unwrap_or(usize::MAX),
        full: false,
    };
    let written = write(output, format, &mut out);
    if out.full {
        return Err(Error::MemoryLimit { limit: out.max });
    }
    written?;
    Ok(out.buf)
}

fn write(output: &QueryOutput, format: Format, out: &mut Capped) -> Result<()> {
    match format {
        Format::Json => {
            let mut writer = arrow::json::ArrayWriter::new(&mut *out);
            for batch in &output.batches {
                writer.write(batch)?;
            }
            writer.finish()?;
            drop(writer);
            if out.buf.is_empty() {
                out.buf.extend_from_slice(b"[]");
            }
        }
        Format::Jsonl => {
            let mut writer = arrow::json::LineDelimitedWriter::new(&mut *out);
            for batch in &output.batches {
                writer.write(batch)?;
            }
            writer.finish()?;
        }
        Format::Csv => {
            if output.batches.is_empty() {
                let names: Vec<&str> = output
                    .schema
                    .fields()
                    .iter()
                    .map(|f| f.name().as_str())
                    .collect();
                out.write_all(names.join(",").as_bytes())?;
                out.write_all(b"\n")?;
            } else {
                let mut writer = arrow::csv::WriterBuilder::new()
                    .with_header(true)
                    .build(&mut *out);
                for batch in &output.batches {
                    writer.write(batch)?;
                }
            }
        }
        Format::Parquet => {
            let mut writer =
                parquet::arrow::ArrowWriter::try_new(&mut *out, output.schema.clone(), None)?;
            for batch in &output.batches {
                writer.write(batch)?;
            }
            writer.close()?;
        }
        Format::Pretty => pretty(output, out)?,
    }
    Ok(())
}

/// The encoded bytes, refused past `max` (then `full`, whatever error the encoder
/// made of it).
struct Capped {
    buf: Vec<u8>,
    max: usize,
    full: bool,
}

impl Write for Capped {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        if self.buf.len().saturating_add(bytes.len()) > self.max {
            self.full = true;
            return Err(io::Error::other("query-memory-limit exceeded"));
        }
        self.buf.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A formatter for each column of `batch`, which must have `width`.
fn formatters<'a>(
    batch: &'a RecordBatch,
    width: usize,
    options: &'a FormatOptions<'a>,
) -> Result<Vec<ArrayFormatter<'a>>> {
    if batch.num_columns() != width {
        return Err(Error::Invalid(format!(
            "a batch of {} columns under a schema of {width}",
            batch.num_columns()
        )));
    }
    Ok(batch
        .columns()
        .iter()
        .map(|c| ArrayFormatter::try_new(c.as_ref(), options))
        .collect::<std::result::Result<_, _>>()?)
}

/// The pretty text table: laid out as Arrow's pretty printer does (borders of `+`,
/// `-` and `|`, values left-aligned and padded to their column's display width, a
/// value of several lines on as many), in time linear in the text: each value is
/// formatted twice, once to measure its column and once to write it, and nothing but
/// the output is kept.
fn pretty(output: &QueryOutput, out: &mut Capped) -> Result<()> {
    use unicode_width::UnicodeWidthStr as _;
    let options = FormatOptions::default().with_display_error(true);
    let fields = output.schema.fields();
    let mut widths: Vec<usize> = fields
        .iter()
        .map(|f| f.name().split('\n').map(|l| l.width()).max().unwrap_or(0))
        .collect();
    let mut text = String::new();
    let formatters = |batch| formatters(batch, fields.len(), &options);
    for batch in &output.batches {
        for (column, formatter) in formatters(batch)?.iter().enumerate() {
            for row in 0..batch.num_rows() {
                text.clear();
                write!(text, "{}", formatter.value(row)).map_err(io::Error::other)?;
                let widest = text.split('\n').map(|l| l.width()).max().unwrap_or(0);
                widths[column] = widths[column].max(widest);
            }
        }
    }
    let mut border = String::from("+");
    for width in &widths {
        border.extend(std::iter::repeat_n('-', width + 2));
        border.push('+');
    }
    border.push('\n');
    // One row's values, split into their lines.
    let write_row = |out: &mut Capped, cells: &[String]| -> io::Result<()> {
        let height = cells
            .iter()
            .map(|c| c.split('\n').count())
            .max()
            .unwrap_or(1);
        let mut lines: Vec<std::str::Split<'_, char>> =
            cells.iter().map(|c| c.split('\n')).collect();
        for _ in 0..height {
            out.write_all(b"|")?;
            for (cell_lines, width) in lines.iter_mut().zip(&widths) {
                let line = cell_lines.next().unwrap_or("");
                out.write_all(b" ")?;
                out.write_all(line.as_bytes())?;
                for _ in line.width()..*width {
                    out.write_all(b" ")?;
                }
                out.write_all(b" |")?;
            }
            out.write_all(b"\n")?;
        }
        Ok(())
    };
    out.write_all(border.as_bytes())?;
    let names: Vec<String> = fields.iter().map(|f| f.name().clone()).collect();
    write_row(out, &names)?;
    out.write_all(border.as_bytes())?;
    let mut cells: Vec<String> = vec![String::new(); fields.len()];
    for batch in &output.batches {
        let formatters = formatters(batch)?;
        for row in 0..batch.num_rows() {
            for (cell, formatter) in cells.iter_mut().zip(&formatters) {
                cell.clear();
                write!(cell, "{}", formatter.value(row)).map_err(io::Error::other)?;
            }
            write_row(out, &cells)?;
        }
    }
    out.write_all(border.as_bytes())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};

    use super::*;

    fn output(batches: Vec<RecordBatch>, schema: arrow::datatypes::SchemaRef) -> QueryOutput {
        QueryOutput { schema, batches }
    }

    fn text(output: &QueryOutput, max: Option<usize>) -> Result<String> {
        Ok(String::from_utf8(encode(output, Format::Pretty, max)?).expect("UTF-8"))
    }

    /// What Arrow's own pretty printer makes of the same batches (with the newline
    /// our encoding ends with).
    fn arrows(output: &QueryOutput) -> String {
        let table = if output.batches.is_empty() {
            arrow::util::pretty::pretty_format_batches_with_schema(output.schema.clone(), &[])
        } else {
            arrow::util::pretty::pretty_format_batches_with_schema(
                output.schema.clone(),
                &output.batches,
            )
        };
        format!("{}\n", table.expect("formats"))
    }

    #[test]
    fn pretty_text_is_laid_out_as_arrows_printer_lays_it_out() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("host", DataType::Utf8, true),
            Field::new("a much longer name", DataType::Float64, true),
            Field::new("n", DataType::Int64, true),
        ]));
        let batch = |hosts: Vec<Option<&str>>, values: Vec<Option<f64>>, ns: Vec<Option<i64>>| {
            RecordBatch::try_new(
                schema.clone(),
                vec![
                    Arc::new(StringArray::from(hosts)) as ArrayRef,
                    Arc::new(Float64Array::from(values)),
                    Arc::new(Int64Array::from(ns)),
                ],
            )
            .expect("batch")
        };
        let cases = [
            vec![],
            vec![batch(vec![], vec![], vec![])],
            vec![batch(
                vec![Some("a"), None, Some("été"), Some("東京")],
                vec![Some(1.5), Some(-0.25), None, Some(1e300)],
                vec![Some(1), None, Some(-12345678901), Some(0)],
            )],
            // Values of several lines, and rows across batches widening a column.
            vec![
                batch(vec![Some("two\nlines")], vec![Some(2.0)], vec![Some(7)]),
                batch(
                    vec![Some("a wide value in a later batch"), Some("x\n\ny")],
                    vec![None, Some(3.0)],
                    vec![None, Some(8)],
                ),
            ],
        ];
        for batches in cases {
            let out = output(batches, schema.clone());
            assert_eq!(text(&out, None).expect("encodes"), arrows(&out));
        }
    }

    #[test]
    fn an_encoding_past_its_limit_is_the_query_memory_limit() {
        let schema = Arc::new(Schema::new(vec![Field::new("s", DataType::Utf8, false)]));
        let values: Vec<String> = (0..100)
            .map(|i| format!("{i:03}{}", "x".repeat(1000)))
            .collect();
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![Arc::new(StringArray::from(values)) as ArrayRef],
        )
        .expect("batch");
        let out = output(vec![batch], schema);
        for format in [
            Format::Json,
            Format::Jsonl,
            Format::Csv,
            Format::Parquet,
            Format::Pretty,
        ] {
            let whole = encode(&out, format, None).expect("encodes").len();
            assert!(whole > 10_000, "{format:?}: {whole}");
            assert_eq!(
                encode(&out, format, Some(whole)).expect("fits").len(),
                whole
            );
            match encode(&out, format, Some(10_000)) {
                Err(Error::MemoryLimit { limit: 10_000 }) => {}
                other => panic!("{format:?}: {other:?}"),
            }
        }
    }
}
