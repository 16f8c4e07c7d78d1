//! InfluxQL results as one Arrow table, as InfluxDB 3 answers InfluxQL in its table
//! formats (JSON, CSV, Parquet, pretty) and over Flight.

use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanBuilder, Float64Builder, Int64Builder, RecordBatch, StringBuilder,
    TimestampNanosecondBuilder, UInt64Builder,
};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use sluice_lp::time::format_rfc3339_nano;

use crate::engine::QueryOutput;
use crate::error::Result;
use crate::influxql::{StatementResult, TimeZone, Value};

/// The column InfluxDB 3 puts first in InfluxQL table results: the series' measurement.
pub const MEASUREMENT_COLUMN: &str = "iox::measurement";

/// All series of `results` as one table, as InfluxDB 3 answers InfluxQL: the
/// `iox::measurement` column, then `time`, then the `GROUP BY` tags, then the other
/// columns in order of first appearance. Each column takes the type of its values
/// (`time` is a nanosecond timestamp, in the zone of the statements' `tz()` when they
/// name one, so that the table formats write local times with their offset); a column
/// mixing numeric types becomes float, one mixing others becomes string.
///
/// # Errors
/// [`Error::Arrow`] when Arrow refuses the columns (a bug).
pub fn influxql_table(results: &[StatementResult]) -> Result<QueryOutput> {
    let series: Vec<_> = results.iter().flat_map(|r| &r.series).collect();
    // The zone of every statement with rows, if they all name the same one.
    let mut zones = results
        .iter()
        .filter(|r| !r.series.is_empty())
        .map(|r| r.time_zone);
    let first = zones.next().flatten();
    let zone = first.filter(|z| zones.all(|other| other == Some(*z)));
    let mut names: Vec<String> = vec![MEASUREMENT_COLUMN.to_owned()];
    if series.iter().any(|s| s.columns.iter().any(|c| c == "time")) {
        names.push("time".to_owned());
    }
    for s in &series {
        for (key, _) in &s.tags {
            if !names.contains(key) {
                names.push(key.clone());
            }
        }
    }
    for s in &series {
        for c in &s.columns {
            if !names.contains(c) {
                names.push(c.clone());
            }
        }
    }
    // Every row as values by column name position.
    let mut rows: Vec<Vec<Option<&Value>>> = Vec::new();
    let mut measurements: Vec<&str> = Vec::new();
    let mut tag_values: Vec<Vec<(usize, &str)>> = Vec::new();
    for s in &series {
        let positions: Vec<usize> = s
            .columns
            .iter()
            .map(|c| names.iter().position(|n| n == c).expect("column was added"))
            .collect();
        let tags: Vec<(usize, &str)> = s
            .tags
            .iter()
            .map(|(k, v)| {
                let at = names.iter().position(|n| n == k).expect("tag was added");
                (at, v.as_str())
            })
            .collect();
        for row in &s.values {
            let mut out = vec![None; names.len()];
            for (value, &at) in row.iter().zip(&positions) {
                out[at] = Some(value);
            }
            rows.push(out);
            measurements.push(&s.name);
            tag_values.push(tags.clone());
        }
    }
    let mut fields = Vec::with_capacity(names.len());
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(names.len());
    for (at, name) in names.iter().enumerate() {
        if at == 0 {
            let mut b = StringBuilder::new();
            for m in &measurements {
                b.append_value(m);
            }
            fields.push(Field::new(name, DataType::Utf8, false));
            columns.push(Arc::new(b.finish()));
            continue;
        }
        let is_tag = tag_values.iter().any(|t| t.iter().any(|(i, _)| *i == at));
        let values: Vec<Option<&Value>> = rows
            .iter()
            .map(|row| row[at].filter(|v| !v.is_null()))
            .collect();
        let (data_type, array) = if is_tag {
            let mut b = StringBuilder::new();
            for (row, tags) in rows.iter().zip(&tag_values) {
                match tags.iter().find(|(i, _)| *i == at) {
                    Some((_, v)) => b.append_value(v),
                    None => match row[at] {
                        Some(Value::String(s)) => b.append_value(s),
                        _ => b.append_null(),
                    },
                }
            }
            (DataType::Utf8, Arc::new(b.finish()) as ArrayRef)
        } else {
            column(&values, zone)
        };
        fields.push(Field::new(name, data_type, true));
        columns.push(array);
    }
    let schema = Arc::new(Schema::new(fields));
    let batch = RecordBatch::try_new(schema.clone(), columns)?;
    Ok(QueryOutput {
        schema,
        batches: if batch.num_rows() == 0 {
            Vec::new()
        } else {
            vec![batch]
        },
    })
}

/// One Arrow column from values that are all of one kind (or null); times in `zone`.
fn column(values: &[Option<&Value>], zone: Option<TimeZone>) -> (DataType, ArrayRef) {
    #[derive(PartialEq)]
    enum Kind {
        Time,
        Float,
        Integer,
        Unsigned,
        Boolean,
        String,
    }
    let kind_of = |v: &Value| match v {
        Value::Time(_) => Some(Kind::Time),
        Value::Float(_) => Some(Kind::Float),
        Value::Integer(_) => Some(Kind::Integer),
        Value::Unsigned(_) => Some(Kind::Unsigned),
        Value::Boolean(_) => Some(Kind::Boolean),
        Value::String(_) => Some(Kind::String),
        Value::Null => None,
    };
    let mut kind: Option<Kind> = None;
    for v in values.iter().flatten() {
        let Some(k) = kind_of(v) else { continue };
        kind = Some(match kind {
            None => k,
            Some(prev) if prev == k => prev,
            Some(Kind::Float | Kind::Integer | Kind::Unsigned)
                if matches!(k, Kind::Float | Kind::Integer | Kind::Unsigned) =>
            {
                Kind::Float
            }
            Some(_) => Kind::String,
        });
    }
    match kind {
        Some(Kind::Time) => {
            let mut b = TimestampNanosecondBuilder::new();
            for v in values {
                b.append_option(match v {
                    Some(Value::Time(t)) => Some(*t),
                    _ => None,
                });
            }
            let zone: Option<Arc<str>> = zone.map(|z| z.name().into());
            let array = b.finish().with_timezone_opt(zone.clone());
            (
                DataType::Timestamp(TimeUnit::Nanosecond, zone),
                Arc::new(array),
            )
        }
        Some(Kind::Float) => {
            let mut b = Float64Builder::new();
            for v in values {
                b.append_option(v.and_then(Value::as_f64));
            }
            (DataType::Float64, Arc::new(b.finish()))
        }
        Some(Kind::Integer) => {
            let mut b = Int64Builder::new();
            for v in values {
                b.append_option(match v {
                    Some(Value::Integer(i)) => Some(*i),
                    _ => None,
                });
            }
            (DataType::Int64, Arc::new(b.finish()))
        }
        Some(Kind::Unsigned) => {
            let mut b = UInt64Builder::new();
            for v in values {
                b.append_option(match v {
                    Some(Value::Unsigned(u)) => Some(*u),
                    _ => None,
                });
            }
            (DataType::UInt64, Arc::new(b.finish()))
        }
        Some(Kind::Boolean) => {
            let mut b = BooleanBuilder::new();
            for v in values {
                b.append_option(match v {
                    Some(Value::Boolean(x)) => Some(*x),
                    _ => None,
                });
            }
            (DataType::Boolean, Arc::new(b.finish()))
        }
        Some(Kind::String) | None => {
            let mut b = StringBuilder::new();
            for v in values {
                match v {
                    None | Some(Value::Null) => b.append_null(),
                    Some(Value::String(s)) => b.append_value(s),
                    Some(Value::Time(t)) => b.append_value(format_rfc3339_nano(*t)),
                    Some(Value::Float(x)) => b.append_value(x.to_string()),
                    Some(Value::Integer(i)) => b.append_value(i.to_string()),
                    Some(Value::Unsigned(u)) => b.append_value(u.to_string()),
                    Some(Value::Boolean(x)) => b.append_value(x.to_string()),
                }
            }
            (DataType::Utf8, Arc::new(b.finish()))
        }
    }
}

#[cfg(test)]
mod tests {
    use arrow::array::{Array as _, AsArray as _};
    use arrow::datatypes::{Float64Type, TimestampNanosecondType};

    use super::*;
    use crate::influxql::Series;

    #[test]
    fn series_become_one_table_with_measurement_time_and_tags_first() {
        let results = vec![StatementResult {
            statement_id: 0,
            series: vec![
                Series {
                    name: "cpu".into(),
                    tags: vec![("host".into(), "a".into())],
                    columns: vec!["time".into(), "mean".into()],
                    values: vec![vec![Value::Time(10), Value::Integer(2)]],
                },
                Series {
                    name: "cpu".into(),
                    tags: vec![("host".into(), "b".into())],
                    columns: vec!["time".into(), "mean".into()],
                    values: vec![
                        vec![Value::Time(20), Value::Float(0.5)],
                        vec![Value::Time(30), Value::Null],
                    ],
                },
            ],
            error: None,
            time_zone: None,
        }];
        let table = influxql_table(&results).unwrap();
        let names: Vec<_> = table.schema.fields().iter().map(|f| f.name()).collect();
        assert_eq!(names, ["iox::measurement", "time", "host", "mean"]);
        let batch = &table.batches[0];
        assert_eq!(batch.num_rows(), 3);
        let times = batch.column(1).as_primitive::<TimestampNanosecondType>();
        assert_eq!(times.values(), &[10, 20, 30]);
        let hosts = batch.column(2).as_string::<i32>();
        assert_eq!((hosts.value(0), hosts.value(2)), ("a", "b"));
        let mean = batch.column(3).as_primitive::<Float64Type>();
        assert_eq!((mean.value(0), mean.value(1)), (2.0, 0.5));
        assert!(mean.is_null(2));
    }

    #[test]
    fn times_of_a_statement_with_a_zone_are_written_in_it() {
        let statement = |zone: &str| StatementResult {
            statement_id: 0,
            series: vec![Series {
                name: "cpu".into(),
                tags: Vec::new(),
                columns: vec!["time".into(), "mean".into()],
                // 2019-03-31T03:00:00Z, an hour after Europe/Berlin moved its clocks on.
                values: vec![vec![
                    Value::Time(1_554_001_200_000_000_000),
                    Value::Float(1.0),
                ]],
            }],
            error: None,
            time_zone: Some(TimeZone::named(zone).unwrap()),
        };
        let table = influxql_table(&[statement("Europe/Berlin")]).unwrap();
        let time = table.schema.field_with_name("time").unwrap();
        assert_eq!(
            time.data_type(),
            &DataType::Timestamp(TimeUnit::Nanosecond, Some("Europe/Berlin".into()))
        );
        let mut json = arrow::json::ArrayWriter::new(Vec::new());
        json.write_batches(&table.batches.iter().collect::<Vec<_>>())
            .unwrap();
        json.finish().unwrap();
        let text = String::from_utf8(json.into_inner()).unwrap();
        assert!(text.contains("2019-03-31T05:00:00+02:00"), "{text}");
        // Statements in different zones: times stay UTC.
        let table = influxql_table(&[statement("Europe/Berlin"), statement("Asia/Kolkata")]);
        let time = table
            .unwrap()
            .schema
            .field_with_name("time")
            .unwrap()
            .clone();
        assert_eq!(
            time.data_type(),
            &DataType::Timestamp(TimeUnit::Nanosecond, None)
        );
    }
}
