//! `processors.enum`: maps field (or tag) values to other values.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::filter::glob_match;
use crate::metric::{FieldValue, Metric};
use crate::plugins::Processor;

/// One `[[processors.enum.mapping]]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Mapping {
    /// Deprecated single field name; use `fields`. Default: `""`.
    pub field: String,
    /// Fields (globs) whose values are mapped. Default: `[]`.
    pub fields: Vec<String>,
    /// A tag whose value is mapped. Default: `""`.
    pub tag: String,
    /// Write the result here instead of replacing the value. Default: `""`.
    pub dest: String,
    /// The result when no mapping matches; unset leaves such values alone.
    pub default: Option<toml::Value>,
    /// Value → result.
    pub value_mappings: BTreeMap<String, toml::Value>,
}

/// `[[processors.enum]]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EnumConfig {
    /// The mappings. Default: `[]`.
    pub mapping: Vec<Mapping>,
}

fn to_field(value: &toml::Value) -> Option<FieldValue<'static>> {
    Some(match value {
        toml::Value::Integer(v) => FieldValue::Integer(*v),
        toml::Value::Float(v) => FieldValue::Float(*v),
        toml::Value::Boolean(v) => FieldValue::Boolean(*v),
        toml::Value::String(v) => FieldValue::String(v.clone().into()),
        _ => return None,
    })
}

impl Mapping {
    fn map(&self, key: &str) -> Option<FieldValue<'static>> {
        self.value_mappings
            .get(key)
            .or(self.default.as_ref())
            .and_then(to_field)
    }
}

/// The `enum` processor.
#[derive(Debug)]
pub struct Enum {
    config: EnumConfig,
}

impl Enum {
    /// An enum processor.
    pub fn new(config: EnumConfig) -> Enum {
        Enum { config }
    }
}

impl Processor for Enum {
    fn apply(&mut self, mut metric: Metric, out: &mut Vec<Metric>) {
        for mapping in &self.config.mapping {
            let mut patterns = mapping.fields.clone();
            if !mapping.field.is_empty() {
                patterns.push(mapping.field.clone());
            }
            let mut updates = Vec::new();
            for (key, value) in &metric.fields {
                if patterns.iter().any(|p| glob_match(p, key))
                    && let Some(new) = mapping.map(&value.to_text())
                {
                    let dest = if mapping.dest.is_empty() {
                        key.clone()
                    } else {
                        mapping.dest.clone()
                    };
                    updates.push((dest, new));
                }
            }
            for (k, v) in updates {
                metric.set_field(k, v);
            }
            if !mapping.tag.is_empty()
                && let Some(value) = metric.tags.get(&mapping.tag).cloned()
                && let Some(new) = mapping.map(&value)
            {
                let dest = if mapping.dest.is_empty() {
                    mapping.tag.clone()
                } else {
                    mapping.dest.clone()
                };
                metric.tags.insert(dest, new.to_text());
            }
        }
        out.push(metric);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_mapped_with_default_and_dest() {
        let config: EnumConfig = toml::from_str(
            r#"
[[mapping]]
  fields = ["status"]
  dest = "status_code"
  default = -1
  [mapping.value_mappings]
    green = 1
    red = 3
[[mapping]]
  tag = "level"
  [mapping.value_mappings]
    2 = "warn"
"#,
        )
        .unwrap();
        let mut p = Enum::new(config);
        let mut out = Vec::new();
        p.apply(
            Metric::new("m", 0)
                .with_tag("level", "2")
                .with_field("status", "red"),
            &mut out,
        );
        p.apply(
            Metric::new("m", 0)
                .with_tag("level", "9")
                .with_field("status", "blue"),
            &mut out,
        );
        assert_eq!(out[0].field("status_code"), Some(&FieldValue::Integer(3)));
        assert_eq!(
            out[0].field("status"),
            Some(&FieldValue::String("red".into()))
        );
        assert_eq!(out[0].tags["level"], "warn");
        assert_eq!(out[1].field("status_code"), Some(&FieldValue::Integer(-1)));
        assert_eq!(out[1].tags["level"], "9");
    }
}
