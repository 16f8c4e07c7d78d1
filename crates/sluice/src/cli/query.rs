//! `sluice query`: run one SQL or InfluxQL query on a running server and print the result.

use std::io::{Read as _, Write as _};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Args, ValueEnum};
use serde_json::{Map, Value, json};

#[derive(Debug, Args)]
pub(crate) struct QueryArgs {
    /// The query; `-` reads it from standard input.
    query: String,
    /// The database to query. Required.
    #[arg(long)]
    db: String,
    /// Read the query as InfluxQL instead of SQL. Default off (SQL).
    #[arg(long)]
    influxql: bool,
    /// Output: `table` (a text table, the default), `json` (an array of row objects),
    /// `jsonl` (one object per line) or `csv`.
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    format: OutputFormat,
    /// A value for a `$NAME` placeholder, as `NAME=VALUE` (repeatable); VALUE is read as
    /// JSON when it parses (`3`, `true`, `"x"`), else as a string. Default none.
    #[arg(long = "param", value_name = "NAME=VALUE")]
    params: Vec<String>,
    /// The server's URL, `http://` or `https://`. Default http://127.0.0.1:8086.
    #[arg(long, env = "SLUICE_HOST", default_value = "http://127.0.0.1:8086")]
    host: String,
    /// A token with read permission on the database. Default: none (for servers run
    /// with --without-auth).
    #[arg(long, env = "SLUICE_TOKEN", hide_env_values = true)]
    token: Option<String>,
    #[command(flatten)]
    tls: super::TlsArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum OutputFormat {
    Table,
    Json,
    Jsonl,
    Csv,
}

impl OutputFormat {
    /// The server's name for the format.
    fn server_format(self) -> &'static str {
        match self {
            OutputFormat::Table => "pretty",
            OutputFormat::Json => "json",
            OutputFormat::Jsonl => "jsonl",
            OutputFormat::Csv => "csv",
        }
    }
}

/// Parses `NAME=VALUE` pairs into the `params` object.
fn parse_params(pairs: &[String]) -> anyhow::Result<Map<String, Value>> {
    let mut params = Map::new();
    for pair in pairs {
        let (name, value) = pair
            .split_once('=')
            .with_context(|| format!("invalid --param {pair:?}: expected NAME=VALUE"))?;
        let name = name.trim().trim_start_matches('$');
        anyhow::ensure!(!name.is_empty(), "invalid --param {pair:?}: empty name");
        let value = serde_json::from_str::<Value>(value)
            .ok()
            .filter(|v| !v.is_object() && !v.is_array())
            .unwrap_or_else(|| Value::String(value.to_owned()));
        params.insert(name.to_owned(), value);
    }
    Ok(params)
}

pub(crate) fn run(args: QueryArgs) -> anyhow::Result<ExitCode> {
    let query = if args.query == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("cannot read the query from standard input")?;
        text
    } else {
        args.query.clone()
    };
    let params = parse_params(&args.params)?;
    let endpoint = if args.influxql {
        "query_influxql"
    } else {
        "query_sql"
    };
    let url = format!("{}/api/v3/{endpoint}", args.host.trim_end_matches('/'));
    let mut body = json!({
        "db": args.db,
        "q": query,
        "format": args.format.server_format(),
    });
    if !params.is_empty() {
        body["params"] = Value::Object(params);
    }
    let agent = args.tls.agent()?;
    let mut request = agent.post(&url).content_type("application/json");
    if let Some(token) = args.token.as_deref().filter(|t| !t.is_empty()) {
        request = request.header("Authorization", &format!("Bearer {token}"));
    }
    let mut response = request
        .send(body.to_string().as_str())
        .map_err(|err| super::unreachable(&url, err))?;
    let status = response.status().as_u16();
    let text = response
        .body_mut()
        .with_config()
        .limit(1 << 30)
        .read_to_string()
        .with_context(|| format!("cannot read the answer of {url}"))?;
    if !(200..300).contains(&status) {
        let message = serde_json::from_str::<Value>(&text)
            .ok()
            .and_then(|v| v["error"].as_str().map(str::to_owned))
            .unwrap_or(text);
        eprintln!(
            "error: server answered {status}: {message}{}",
            crate::cli::token_hint(&message)
        );
        return Ok(ExitCode::from(1));
    }
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(text.as_bytes())?;
    if !text.ends_with('\n') {
        stdout.write_all(b"\n")?;
    }
    stdout.flush()?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_are_json_when_they_parse_and_strings_otherwise() {
        let params = parse_params(&[
            "h=server a".to_owned(),
            "$n=3".to_owned(),
            "ok=true".to_owned(),
            "s=\"7\"".to_owned(),
        ])
        .unwrap();
        assert_eq!(
            Value::Object(params),
            json!({"h": "server a", "n": 3, "ok": true, "s": "7"})
        );
        assert!(parse_params(&["novalue".to_owned()]).is_err());
    }
}
