//! `sluice write`: line protocol from files or stdin, checked locally with `--dry-run`.

use std::io::{self, BufWriter, Write as _};
use std::process::ExitCode;

use clap::{Args, ValueEnum};
use serde_json::{Map, Value, json};
use sluice_lp::{FieldValue, Line, ParseError, ParseOptions, Parser, Precision};

use super::input::read_source;

#[derive(Debug, Args)]
pub(crate) struct WriteArgs {
    /// Line protocol files; `-` reads standard input; names ending in `.gz` are gunzipped.
    #[arg(default_value = "-")]
    files: Vec<String>,
    /// Validate the input locally with the server's parser and report; send nothing.
    #[arg(long)]
    dry_run: bool,
    /// Timestamp precision of the input: ns, us, ms, s, m, h or auto (default: ns).
    #[arg(long, env = "SLUICE_PRECISION", default_value = "ns")]
    precision: Precision,
    /// Report format of `--dry-run`: `text` (a summary) or `json` (one object per line).
    #[arg(long, value_enum, default_value_t = Output::Text)]
    output: Output,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Output {
    Text,
    Json,
}

pub(crate) fn run(args: WriteArgs) -> anyhow::Result<ExitCode> {
    if !args.dry_run {
        anyhow::bail!(
            "sending to a server is not available in this build yet; use --dry-run to validate"
        );
    }
    let options = ParseOptions {
        precision: args.precision,
        ..ParseOptions::default()
    };
    let mut out = BufWriter::new(io::stdout().lock());
    let (mut ok, mut rejected) = (0usize, 0usize);
    let many = args.files.len() > 1;
    for source in &args.files {
        let input = read_source(source)?;
        for result in Parser::new(&input, options) {
            match &result {
                Ok(_) => ok += 1,
                Err(_) => rejected += 1,
            }
            match (args.output, result) {
                (Output::Json, result) => {
                    let mut object = match &result {
                        Ok(line) => line_json(line),
                        Err(err) => error_json(err),
                    };
                    if many {
                        object.insert("file".into(), source.as_str().into());
                    }
                    serde_json::to_writer(&mut out, &object)?;
                    out.write_all(b"\n")?;
                }
                (Output::Text, Ok(_)) => {}
                (Output::Text, Err(err)) => {
                    let prefix = if many {
                        format!("{source}: ")
                    } else {
                        String::new()
                    };
                    writeln!(out, "{prefix}{err}\n    {}", err.text)?;
                }
            }
        }
    }
    if args.output == Output::Text {
        writeln!(out, "{ok} lines ok, {rejected} lines rejected")?;
    }
    out.flush()?;
    Ok(if rejected > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn line_json(line: &Line<'_>) -> Map<String, Value> {
    let tags: Map<String, Value> = line
        .tags
        .iter()
        .map(|(k, v)| (k.to_string(), Value::from(v.as_ref())))
        .collect();
    let fields: Map<String, Value> = line
        .fields
        .iter()
        .map(|(k, v)| {
            let value = match v {
                FieldValue::Float(f) => json!(f),
                FieldValue::Integer(i) => json!(i),
                FieldValue::UInteger(u) => json!(u),
                FieldValue::String(s) => json!(s),
                FieldValue::Boolean(b) => json!(b),
            };
            (
                k.to_string(),
                json!({"type": v.type_name(), "value": value}),
            )
        })
        .collect();
    let mut object = Map::new();
    object.insert("line".into(), line.line_number.into());
    object.insert("measurement".into(), line.measurement.as_ref().into());
    object.insert("tags".into(), tags.into());
    object.insert("fields".into(), fields.into());
    object.insert("timestamp".into(), line.timestamp.into());
    object
}

fn error_json(err: &ParseError) -> Map<String, Value> {
    let mut object = Map::new();
    object.insert("line".into(), err.line.into());
    object.insert("column".into(), err.column.into());
    object.insert("error".into(), err.kind.to_string().into());
    object.insert("text".into(), err.text.as_str().into());
    object
}
