//! Telegraf's `json` data format: an object (one metric) or an array of objects (one
//! metric each), flattened with `_` between nested keys and array indexes; numbers become
//! float fields, strings and booleans are kept only as tags (`tag_keys`) or as fields
//! (`json_string_fields`), `null` is skipped.

use std::collections::BTreeMap;

use serde_json::Value;

use super::gjson;
use super::timestamp::{TimeParser, TimeValue};
use super::{ParseError, ParserConfig};
use crate::filter::glob_match;
use crate::metric::{FieldValue, Metric};

/// A configured `json` parser.
#[derive(Debug, Clone)]
pub struct JsonParser {
    name: String,
    query: Option<gjson::Path>,
    tag_keys: Vec<String>,
    string_fields: Vec<String>,
    name_key: String,
    time_key: String,
    time: Option<TimeParser>,
    strict: bool,
}

/// A flattened scalar.
enum Scalar {
    Number(f64),
    Text(String),
    Bool(bool),
}

fn flatten(prefix: &str, value: &Value, out: &mut Vec<(String, Scalar)>) {
    let key = |k: &str| {
        if prefix.is_empty() {
            k.to_owned()
        } else {
            format!("{prefix}_{k}")
        }
    };
    match value {
        Value::Object(map) => map.iter().for_each(|(k, v)| flatten(&key(k), v, out)),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .for_each(|(i, v)| flatten(&key(&i.to_string()), v, out)),
        Value::Number(n) => {
            out.push((prefix.to_owned(), Scalar::Number(n.as_f64().unwrap_or(0.0))))
        }
        Value::String(s) => out.push((prefix.to_owned(), Scalar::Text(s.clone()))),
        Value::Bool(b) => out.push((prefix.to_owned(), Scalar::Bool(*b))),
        Value::Null => {}
    }
}

/// Formats a float as Go's `strconv.FormatFloat(v, 'f', -1, 64)` does (no exponent).
fn plain_float(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e21 {
        format!("{v:.0}")
    } else {
        let text = v.to_string();
        if text.contains('e') {
            format!("{v}")
        } else {
            text
        }
    }
}

impl JsonParser {
    /// A parser naming its metrics `name` unless `json_name_key` says otherwise.
    ///
    /// # Errors
    /// A bad `json_query`, a `json_time_key` without `json_time_format`, or an unknown
    /// `json_timezone`.
    pub fn new(config: &ParserConfig, name: &str) -> Result<JsonParser, String> {
        let query = if config.json_query.is_empty() {
            None
        } else {
            Some(gjson::Path::parse(&config.json_query)?)
        };
        let time = if config.json_time_key.is_empty() {
            None
        } else {
            if config.json_time_format.is_empty() {
                return Err("use of `json_time_key` requires `json_time_format`".to_owned());
            }
            let zone = super::timestamp::Zone::parse(&config.json_timezone)
                .map_err(|e| format!("`json_timezone`: {e}"))?;
            Some(TimeParser::new(&config.json_time_format, zone)?)
        };
        Ok(JsonParser {
            name: name.to_owned(),
            query,
            tag_keys: config.tag_keys.clone(),
            string_fields: config.json_string_fields.clone(),
            name_key: config.json_name_key.clone(),
            time_key: config.json_time_key.clone(),
            time,
            strict: config.json_strict,
        })
    }

    /// Parses one document; metrics without a time key are stamped `now`.
    ///
    /// # Errors
    /// Invalid JSON, a document (or query result) that is not an object or an array of
    /// objects, or a missing or unreadable time key.
    pub fn parse(&self, body: &[u8], now: i64) -> Result<Vec<Metric>, ParseError> {
        let body = body.strip_prefix(b"\xef\xbb\xbf").unwrap_or(body);
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Vec::new());
        }
        let mut value: Value =
            serde_json::from_slice(body).map_err(|e| ParseError::InvalidJson(e.to_string()))?;
        if let Some(query) = &self.query {
            value = match query.get(&value) {
                None | Some(Value::Null) => return Ok(Vec::new()),
                Some(v @ (Value::Object(_) | Value::Array(_))) => v,
                Some(other) => {
                    return Err(ParseError::QueryResult {
                        found: kind_of(&other),
                    });
                }
            };
        }
        match value {
            Value::Object(_) => Ok(vec![self.parse_object(&value, now)?]),
            Value::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                for item in &items {
                    if !item.is_object() {
                        return Err(ParseError::NotObjects {
                            found: kind_of(item),
                        });
                    }
                    match self.parse_object(item, now) {
                        Ok(metric) => out.push(metric),
                        Err(err) if self.strict => return Err(err),
                        Err(err) => tracing::debug!("json: skipping an array element: {err}"),
                    }
                }
                Ok(out)
            }
            Value::Null => Ok(Vec::new()),
            other => Err(ParseError::NotObjects {
                found: kind_of(&other),
            }),
        }
    }

    fn parse_object(&self, object: &Value, now: i64) -> Result<Metric, ParseError> {
        let mut flat = Vec::new();
        flatten("", object, &mut flat);
        let mut metric = Metric::new(self.name.as_str(), now);
        if !self.name_key.is_empty()
            && let Some((_, Scalar::Text(name))) = flat.iter().find(|(k, _)| *k == self.name_key)
        {
            metric.name.clone_from(name);
        }
        if let Some(parser) = &self.time {
            let index = flat
                .iter()
                .position(|(k, _)| *k == self.time_key)
                .ok_or_else(|| ParseError::TimeKeyMissing(self.time_key.clone()))?;
            let (_, value) = flat.remove(index);
            let text;
            let time_value = match &value {
                Scalar::Number(n) if n.fract() == 0.0 && n.abs() < 9.2e18 => {
                    TimeValue::Integer(*n as i64)
                }
                Scalar::Number(n) => TimeValue::Float(*n),
                Scalar::Text(s) => TimeValue::Text(s),
                Scalar::Bool(b) => {
                    text = b.to_string();
                    TimeValue::Text(&text)
                }
            };
            metric.time = parser
                .parse(time_value, now)
                .map_err(|message| ParseError::BadTime {
                    key: self.time_key.clone(),
                    message,
                })?;
        }
        let mut tags = BTreeMap::new();
        for (key, value) in flat {
            if self.tag_keys.iter().any(|p| glob_match(p, &key)) {
                let text = match value {
                    Scalar::Text(s) => s,
                    Scalar::Bool(b) => b.to_string(),
                    Scalar::Number(n) => plain_float(n),
                };
                tags.insert(key, text);
                continue;
            }
            match value {
                Scalar::Number(n) => metric.set_field(key, n),
                Scalar::Text(s) if self.string_fields.iter().any(|p| glob_match(p, &key)) => {
                    metric.set_field(key, FieldValue::from(s))
                }
                Scalar::Bool(b) if self.string_fields.iter().any(|p| glob_match(p, &key)) => {
                    metric.set_field(key, b)
                }
                Scalar::Text(_) | Scalar::Bool(_) => {}
            }
        }
        metric.tags = tags;
        Ok(metric)
    }
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parser(config: ParserConfig) -> JsonParser {
        JsonParser::new(&config, "file").unwrap()
    }

    fn config() -> ParserConfig {
        ParserConfig {
            data_format: "json".into(),
            ..ParserConfig::default()
        }
    }

    /// The example of Telegraf's JSON parser README.
    #[test]
    fn the_readme_example_parses_to_the_documented_metric() {
        let p = parser(ParserConfig {
            json_name_key: "name".into(),
            tag_keys: vec!["my_tag_1".into()],
            json_string_fields: vec!["b_my_field".into()],
            ..config()
        });
        let body = br#"{"a": 5, "b": {"c": 6, "my_field": "description"}, "my_tag_1": "foo", "name": "my_json"}"#;
        let m = &p.parse(body, 7).unwrap()[0];
        assert_eq!(m.name, "my_json");
        assert_eq!(m.tags, BTreeMap::from([("my_tag_1".into(), "foo".into())]));
        assert_eq!(
            m.fields,
            vec![
                ("a".into(), FieldValue::Float(5.0)),
                ("b_c".into(), FieldValue::Float(6.0)),
                (
                    "b_my_field".into(),
                    FieldValue::String("description".into())
                ),
            ]
        );
        assert_eq!(m.time, 7);
    }

    #[test]
    fn arrays_flatten_and_strings_and_bools_are_dropped_unless_listed() {
        let p = parser(ParserConfig {
            tag_keys: vec!["tag*".into(), "n".into()],
            json_string_fields: vec!["keep*".into()],
            ..config()
        });
        let body = br#"[{"tag_a": "x", "tagb": true, "n": 3, "list": [1, {"k": 2}], "s": "gone", "ok": false, "keep_s": "kept", "keep_b": true, "nothing": null}]"#;
        let m = &p.parse(body, 0).unwrap()[0];
        assert_eq!(m.tags["tag_a"], "x");
        assert_eq!(m.tags["tagb"], "true");
        assert_eq!(m.tags["n"], "3");
        let names: Vec<&str> = m.fields.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(names, vec!["list_0", "list_1_k", "keep_s", "keep_b"]);
        assert_eq!(m.field("keep_b"), Some(&FieldValue::Boolean(true)));
    }

    #[test]
    fn the_query_selects_the_objects_and_the_time_key_sets_the_time() {
        let p = parser(ParserConfig {
            json_query: "obj.readings".into(),
            json_time_key: "ts".into(),
            json_time_format: "2006-01-02T15:04:05".into(),
            json_timezone: "Europe/Berlin".into(),
            ..config()
        });
        let body = br#"{"obj": {"readings": [{"ts": "2023-11-14T23:13:20", "v": 1}, {"ts": "2023-11-14T23:13:21", "v": 2}]}}"#;
        let metrics = p.parse(body, 0).unwrap();
        assert_eq!(metrics.len(), 2);
        assert_eq!(metrics[0].time, 1_700_000_000_000_000_000);
        assert_eq!(metrics[1].time, 1_700_000_001_000_000_000);
        assert!(
            metrics[0].field("ts").is_none(),
            "the time key is not a field"
        );
        let err = p.parse(br#"{"obj": {"readings": 5}}"#, 0).unwrap_err();
        assert!(matches!(err, ParseError::QueryResult { .. }), "{err}");
        assert!(p.parse(br#"{"other": 1}"#, 0).unwrap().is_empty());
    }

    #[test]
    fn bad_documents_are_errors_that_say_why() {
        let p = parser(ParserConfig {
            json_time_key: "t".into(),
            json_time_format: "unix_ms".into(),
            ..config()
        });
        assert!(matches!(
            p.parse(b"{\"a\": ", 0),
            Err(ParseError::InvalidJson(_))
        ));
        assert!(matches!(
            p.parse(b"[1, 2]", 0),
            Err(ParseError::NotObjects { .. })
        ));
        assert!(matches!(
            p.parse(b"{\"a\": 1}", 0),
            Err(ParseError::TimeKeyMissing(_))
        ));
        assert!(matches!(
            p.parse(b"{\"t\": \"soon\", \"a\": 1}", 0),
            Err(ParseError::BadTime { .. })
        ));
        assert_eq!(
            p.parse(b"{\"t\": 1700000000123, \"a\": 1}", 0).unwrap()[0].time,
            1_700_000_000_123_000_000
        );
        assert!(p.parse(b"  \n", 0).unwrap().is_empty());
        let err = JsonParser::new(
            &ParserConfig {
                json_time_key: "t".into(),
                ..config()
            },
            "x",
        )
        .unwrap_err();
        assert!(err.contains("json_time_format"), "{err}");
    }

    #[test]
    fn non_strict_arrays_skip_the_bad_elements() {
        let p = parser(ParserConfig {
            json_time_key: "t".into(),
            json_time_format: "unix".into(),
            json_strict: false,
            ..config()
        });
        let metrics = p
            .parse(br#"[{"t": 1, "a": 1}, {"a": 2}, {"t": 3, "a": 3}]"#, 0)
            .unwrap();
        assert_eq!(metrics.len(), 2);
    }
}
