//! Table outputs of SQL (and InfluxQL-as-table) queries: JSON, JSON lines, CSV, Parquet
//! and pretty text.

use std::str::FromStr;

use arrow::util::pretty::pretty_format_batches;

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

/// Encodes `output` in `format`.
///
/// # Errors
/// [`Error::Arrow`] / [`Error::Parquet`] when a column type cannot be encoded.
pub fn encode(output: &QueryOutput, format: Format) -> Result<Vec<u8>> {
    let mut buf = Vec::new();
    match format {
        Format::Json => {
            let mut writer = arrow::json::ArrayWriter::new(&mut buf);
            for batch in &output.batches {
                writer.write(batch)?;
            }
            writer.finish()?;
            drop(writer);
            if buf.is_empty() {
                buf.extend_from_slice(b"[]");
            }
        }
        Format::Jsonl => {
            let mut writer = arrow::json::LineDelimitedWriter::new(&mut buf);
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
                buf.extend_from_slice(names.join(",").as_bytes());
                buf.push(b'\n');
            } else {
                let mut writer = arrow::csv::WriterBuilder::new()
                    .with_header(true)
                    .build(&mut buf);
                for batch in &output.batches {
                    writer.write(batch)?;
                }
            }
        }
        Format::Parquet => {
            let mut writer =
                parquet::arrow::ArrowWriter::try_new(&mut buf, output.schema.clone(), None)?;
            for batch in &output.batches {
                writer.write(batch)?;
            }
            writer.close()?;
        }
        Format::Pretty => {
            let text = if output.batches.is_empty() {
                let empty = arrow::array::RecordBatch::new_empty(output.schema.clone());
                pretty_format_batches(&[empty])?
            } else {
                pretty_format_batches(&output.batches)?
            };
            buf.extend_from_slice(text.to_string().as_bytes());
            buf.push(b'\n');
        }
    }
    Ok(buf)
}
