//! `processors.converter`: converts tags to fields and fields between types (or to tags
//! and measurement names), selected by glob.

use serde::Deserialize;

use crate::filter::glob_match;
use crate::metric::{FieldValue, Metric};
use crate::plugins::Processor;

/// Globs of keys per target type.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Conversions {
    /// Keys whose value becomes the measurement name. Default: `[]`.
    pub measurement: Vec<String>,
    /// Fields only: keys moved to tags. Default: `[]`.
    pub tag: Vec<String>,
    /// Keys converted to string fields. Default: `[]`.
    pub string: Vec<String>,
    /// Keys converted to integer fields. Default: `[]`.
    pub integer: Vec<String>,
    /// Keys converted to unsigned fields. Default: `[]`.
    pub unsigned: Vec<String>,
    /// Keys converted to boolean fields. Default: `[]`.
    pub boolean: Vec<String>,
    /// Keys converted to float fields. Default: `[]`.
    pub float: Vec<String>,
}

/// `[[processors.converter]]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConverterConfig {
    /// Conversions of tags. Default: none.
    pub tags: Conversions,
    /// Conversions of fields. Default: none.
    pub fields: Conversions,
}

fn hit(globs: &[String], key: &str) -> bool {
    globs.iter().any(|g| glob_match(g, key))
}

fn parse_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

/// Converts to `target` (`string`, `integer`, `unsigned`, `boolean`, `float`); `None`
/// when the value does not convert.
fn convert(value: &FieldValue<'_>, target: &str) -> Option<FieldValue<'static>> {
    let float = match value {
        FieldValue::Float(v) => Some(*v),
        FieldValue::Integer(v) => Some(*v as f64),
        FieldValue::UInteger(v) => Some(*v as f64),
        FieldValue::Boolean(v) => Some(if *v { 1.0 } else { 0.0 }),
        FieldValue::String(s) => s
            .trim()
            .parse::<f64>()
            .ok()
            .or_else(|| parse_bool(s).map(|b| if b { 1.0 } else { 0.0 })),
    };
    Some(match target {
        "string" => FieldValue::String(value.to_text().into()),
        "integer" => match value {
            FieldValue::Integer(v) => FieldValue::Integer(*v),
            FieldValue::String(s) if s.trim().parse::<i64>().is_ok() => {
                FieldValue::Integer(s.trim().parse().ok()?)
            }
            _ => FieldValue::Integer(float.filter(|f| f.is_finite())?.trunc() as i64),
        },
        "unsigned" => match value {
            FieldValue::UInteger(v) => FieldValue::UInteger(*v),
            FieldValue::String(s) if s.trim().parse::<u64>().is_ok() => {
                FieldValue::UInteger(s.trim().parse().ok()?)
            }
            _ => FieldValue::UInteger(float.filter(|f| f.is_finite() && *f >= 0.0)?.trunc() as u64),
        },
        "boolean" => match value {
            FieldValue::String(s) => FieldValue::Boolean(parse_bool(s)?),
            _ => FieldValue::Boolean(float? != 0.0),
        },
        "float" => FieldValue::Float(float?),
        _ => return None,
    })
}

const TYPES: [&str; 5] = ["string", "integer", "unsigned", "boolean", "float"];

impl Conversions {
    fn target(&self, key: &str) -> Option<&'static str> {
        let lists = [
            &self.string,
            &self.integer,
            &self.unsigned,
            &self.boolean,
            &self.float,
        ];
        TYPES
            .iter()
            .zip(lists)
            .find(|(_, list)| hit(list, key))
            .map(|(t, _)| *t)
    }
}

/// The `converter` processor.
#[derive(Debug)]
pub struct Converter {
    config: ConverterConfig,
}

impl Converter {
    /// A converter processor.
    pub fn new(config: ConverterConfig) -> Converter {
        Converter { config }
    }
}

impl Processor for Converter {
    fn apply(&mut self, mut metric: Metric, out: &mut Vec<Metric>) {
        let tags: Vec<(String, String)> = metric
            .tags
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        for (key, value) in tags {
            if hit(&self.config.tags.measurement, &key) {
                metric.tags.remove(&key);
                metric.name = value;
            } else if let Some(target) = self.config.tags.target(&key) {
                metric.tags.remove(&key);
                match convert(&FieldValue::String(value.clone().into()), target) {
                    Some(v) => metric.set_field(key, v),
                    None => tracing::debug!(tag = %key, %value, target, "cannot convert tag"),
                }
            }
        }
        let fields = std::mem::take(&mut metric.fields);
        for (key, value) in fields {
            if hit(&self.config.fields.measurement, &key) {
                metric.name = value.to_text();
            } else if hit(&self.config.fields.tag, &key) {
                metric.tags.insert(key, value.to_text());
            } else if let Some(target) = self.config.fields.target(&key) {
                match convert(&value, target) {
                    Some(v) => metric.fields.push((key, v)),
                    None => tracing::debug!(field = %key, target, "cannot convert field; removed"),
                }
            } else {
                metric.fields.push((key, value));
            }
        }
        out.push(metric);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_and_fields_convert_between_types() {
        let config: ConverterConfig = toml::from_str(
            r#"
[tags]
  integer = ["port"]
  measurement = ["kind"]
[fields]
  tag = ["region"]
  float = ["n*"]
  integer = ["ratio"]
  boolean = ["flag"]
  unsigned = ["bad"]
  string = ["code"]
"#,
        )
        .unwrap();
        let m = Metric::new("m", 0)
            .with_tag("port", "8080")
            .with_tag("kind", "web")
            .with_field("region", "eu")
            .with_field("n1", 3i64)
            .with_field("ratio", 2.9)
            .with_field("flag", "true")
            .with_field("bad", "x")
            .with_field("code", 7i64);
        let mut out = Vec::new();
        Converter::new(config).apply(m, &mut out);
        let m = &out[0];
        assert_eq!(m.name, "web");
        assert_eq!(m.tags.get("region").map(String::as_str), Some("eu"));
        assert_eq!(m.field("port"), Some(&FieldValue::Integer(8080)));
        assert_eq!(m.field("n1"), Some(&FieldValue::Float(3.0)));
        assert_eq!(m.field("ratio"), Some(&FieldValue::Integer(2)));
        assert_eq!(m.field("flag"), Some(&FieldValue::Boolean(true)));
        assert_eq!(m.field("bad"), None);
        assert_eq!(m.field("code"), Some(&FieldValue::String("7".into())));
    }
}
