//! `processors.pivot`: turns a tag's value into a field key (`tag_key`) holding
//! `value_key`'s value.

use serde::Deserialize;

use crate::metric::Metric;
use crate::plugins::Processor;

/// `[[processors.pivot]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PivotConfig {
    /// The tag whose value becomes the field key.
    pub tag_key: String,
    /// The field whose value is moved.
    pub value_key: String,
}

/// The `pivot` processor.
#[derive(Debug)]
pub struct Pivot {
    config: PivotConfig,
}

impl Pivot {
    /// A pivot processor.
    pub fn new(config: PivotConfig) -> Pivot {
        Pivot { config }
    }
}

impl Processor for Pivot {
    fn apply(&mut self, mut metric: Metric, out: &mut Vec<Metric>) {
        if metric.tags.contains_key(&self.config.tag_key)
            && metric.field(&self.config.value_key).is_some()
        {
            let key = metric.tags.remove(&self.config.tag_key).unwrap_or_default();
            if let Some(value) = metric.remove_field(&self.config.value_key) {
                metric.set_field(key, value);
            }
        }
        out.push(metric);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metric::FieldValue;

    #[test]
    fn the_tag_value_becomes_the_field_key() {
        let mut p = Pivot::new(PivotConfig {
            tag_key: "name".into(),
            value_key: "value".into(),
        });
        let mut out = Vec::new();
        p.apply(
            Metric::new("cpu", 0)
                .with_tag("name", "idle")
                .with_field("value", 42i64),
            &mut out,
        );
        p.apply(Metric::new("cpu", 0).with_field("value", 1i64), &mut out);
        assert!(out[0].tags.is_empty());
        assert_eq!(
            out[0].fields,
            vec![("idle".to_owned(), FieldValue::Integer(42))]
        );
        assert_eq!(out[1].field("value"), Some(&FieldValue::Integer(1)));
    }
}
