//! Telegraf's input data formats (`data_format`), shared by the inputs that receive or
//! read raw data (`mqtt_consumer`, `http_listener_v2`, `exec`, `file`, `tail`): `influx`
//! (line protocol), `json` and `value`.
//!
//! ```text
//!  [[inputs.X]] table ──► split_spec ──► ParserConfig ──► DataParser::parse(bytes, now)
//!                              └──► the input's own keys          └──► Vec<Metric>
//! ```

pub mod gjson;
pub mod json;
pub mod timestamp;
pub mod value;

use serde::Deserialize;

use crate::config::PluginSpec;
use crate::error::Result;
use crate::metric::{Metric, parse_line_protocol};

/// Why a payload could not be parsed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ParseError {
    /// Line protocol that does not parse.
    #[error("invalid line protocol: {0}")]
    LineProtocol(String),
    /// Text that is not JSON.
    #[error("invalid json: {0}")]
    InvalidJson(String),
    /// JSON that is neither an object nor an array of objects.
    #[error("json must be an object or an array of objects, not {found}")]
    NotObjects {
        /// What was found instead.
        found: &'static str,
    },
    /// `json_query` led to a scalar.
    #[error("json_query must lead to an object, an array of objects or null, not {found}")]
    QueryResult {
        /// What was found instead.
        found: &'static str,
    },
    /// An object without the `json_time_key`.
    #[error("json_time_key {0:?} could not be found")]
    TimeKeyMissing(String),
    /// A time that does not match `json_time_format`.
    #[error("json_time_key {key:?}: {message}")]
    BadTime {
        /// The key.
        key: String,
        /// What is wrong.
        message: String,
    },
    /// A `value` payload that is not of the `data_type`.
    #[error("{text:?} is not a valid {data_type:?} value")]
    BadValue {
        /// The text.
        text: String,
        /// The configured type.
        data_type: value::DataType,
    },
}

/// The keys of the data formats, accepted by every input that takes a `data_format`.
/// Defaults are Telegraf's.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ParserConfig {
    /// `"influx"`, `"json"` or `"value"`. Default: `"influx"`.
    pub data_format: String,
    /// json: a GJSON path (the subset in [`gjson`]) to the object(s) to parse; empty
    /// parses the whole document. Default: `""`.
    pub json_query: String,
    /// json: keys (globs) whose values become tags. Default: `[]`.
    pub tag_keys: Vec<String>,
    /// json: keys (globs) of strings and booleans kept as fields. Default: `[]`.
    pub json_string_fields: Vec<String>,
    /// json: the key whose string value names the measurement. Default: `""` (the
    /// input's name).
    pub json_name_key: String,
    /// json: the key holding the time; empty stamps metrics with the arrival time.
    /// Default: `""`.
    pub json_time_key: String,
    /// json: `unix`, `unix_ms`, `unix_us`, `unix_ns`, a Go layout or its name
    /// (`RFC3339`, ...). Required with `json_time_key`. Default: `""`.
    pub json_time_format: String,
    /// json: the zone of times without an offset: an IANA name or `"Local"`. Default:
    /// `""` (UTC).
    pub json_timezone: String,
    /// json: one bad object of an array fails the whole document. Default: true.
    pub json_strict: bool,
    /// value: `integer`, `float`, `string`, `boolean`, `auto_integer`, `auto_float`.
    /// Default: `"integer"`.
    pub data_type: String,
    /// value: the field name. Default: `"value"`.
    pub value_field_name: String,
}

impl Default for ParserConfig {
    fn default() -> Self {
        ParserConfig {
            data_format: "influx".to_owned(),
            json_query: String::new(),
            tag_keys: Vec::new(),
            json_string_fields: Vec::new(),
            json_name_key: String::new(),
            json_time_key: String::new(),
            json_time_format: String::new(),
            json_timezone: String::new(),
            json_strict: true,
            data_type: String::new(),
            value_field_name: String::new(),
        }
    }
}

/// The keys of [`ParserConfig`].
pub const PARSER_KEYS: &[&str] = &[
    "data_format",
    "json_query",
    "tag_keys",
    "json_string_fields",
    "json_name_key",
    "json_time_key",
    "json_time_format",
    "json_timezone",
    "json_strict",
    "data_type",
    "value_field_name",
];

/// A configured data format.
#[derive(Debug, Clone)]
pub enum DataParser {
    /// Line protocol.
    Influx,
    /// JSON.
    Json(json::JsonParser),
    /// One value.
    Value(value::ValueParser),
}

impl DataParser {
    /// The parser `config` describes; `name` names the metrics of `json` and `value`
    /// (Telegraf uses the input's name).
    ///
    /// # Errors
    /// An unknown format or an invalid key of the format, as a message.
    pub fn new(config: &ParserConfig, name: &str) -> std::result::Result<DataParser, String> {
        Ok(match config.data_format.as_str() {
            "influx" | "" => DataParser::Influx,
            "json" => DataParser::Json(json::JsonParser::new(config, name)?),
            "value" => DataParser::Value(value::ValueParser::new(config, name)?),
            other => {
                return Err(format!(
                    "`data_format` {other:?} is not supported: use \"influx\", \"json\" or \"value\""
                ));
            }
        })
    }

    /// Whether this is line protocol (which can be parsed in chunks of lines).
    pub fn is_influx(&self) -> bool {
        matches!(self, DataParser::Influx)
    }

    /// Parses one payload; metrics without a time of their own are stamped `now` (ns).
    ///
    /// # Errors
    /// A payload the format cannot read.
    pub fn parse(&self, body: &[u8], now: i64) -> std::result::Result<Vec<Metric>, ParseError> {
        match self {
            DataParser::Influx => parse_line_protocol(body, now).map_err(ParseError::LineProtocol),
            DataParser::Json(p) => p.parse(body, now),
            DataParser::Value(p) => p.parse(body, now),
        }
    }
}

/// Splits the data-format keys off an input's table: returns the parser and the spec
/// holding only the input's own keys.
///
/// # Errors
/// [`crate::Error::Config`] naming the file, line and key of a bad data-format key.
pub fn split_spec(spec: &PluginSpec) -> Result<(DataParser, PluginSpec)> {
    let mut own = spec.clone();
    let mut parser_table = toml::Table::new();
    for key in PARSER_KEYS {
        if let Some(value) = own.table.remove(*key) {
            parser_table.insert((*key).to_owned(), value);
        }
    }
    let config: ParserConfig = toml::Value::Table(parser_table)
        .try_into()
        .map_err(|err: toml::de::Error| spec.error(&err.to_string()))?;
    let parser = DataParser::new(&config, &spec.name).map_err(|m| spec.error(&m))?;
    Ok((parser, own))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::config::{Config, PluginKind};

    fn spec(text: &str) -> PluginSpec {
        let known = |kind: PluginKind, name: &str| kind == PluginKind::Input && name == "file";
        let config = Config::parse_str(text, Path::new("agent.conf"), &known).unwrap();
        config.plugins[0].clone()
    }

    #[test]
    fn data_format_keys_are_split_from_the_input_keys() {
        let s = spec(
            "[[inputs.file]]\n  files = [\"a\"]\n  data_format = \"json\"\n  tag_keys = [\"t\"]\n",
        );
        let (parser, own) = split_spec(&s).unwrap();
        assert!(matches!(parser, DataParser::Json(_)));
        assert_eq!(own.table.keys().collect::<Vec<_>>(), vec!["files"]);
        let metrics = parser.parse(br#"{"t": "x", "v": 1}"#, 3).unwrap();
        assert_eq!(metrics[0].name, "file");
        assert_eq!(metrics[0].tags["t"], "x");
    }

    #[test]
    fn bad_data_format_keys_name_the_line() {
        let err = split_spec(&spec("[[inputs.file]]\n\n  data_format = \"csv\"\n"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("agent.conf:3") && err.contains("csv"), "{err}");
        let err = split_spec(&spec(
            "[[inputs.file]]\n  data_format = \"value\"\n  data_type = \"complex\"\n",
        ))
        .unwrap_err()
        .to_string();
        assert!(err.contains("complex"), "{err}");
        let err = split_spec(&spec("[[inputs.file]]\n  json_strict = \"yes\"\n"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("agent.conf:2") && err.contains("json_strict"),
            "{err}"
        );
    }
}
