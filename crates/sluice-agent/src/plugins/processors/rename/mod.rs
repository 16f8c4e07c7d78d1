//! `processors.rename`: renames measurements, tags and fields.

use serde::Deserialize;

use crate::metric::Metric;
use crate::plugins::Processor;

/// One `[[processors.rename.replace]]`: exactly one of `measurement`, `tag`, `field`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Replace {
    /// The measurement to rename.
    pub measurement: Option<String>,
    /// The tag key to rename.
    pub tag: Option<String>,
    /// The field key to rename.
    pub field: Option<String>,
    /// The new name.
    pub dest: String,
}

/// `[[processors.rename]]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RenameConfig {
    /// The renames, applied in order. Default: `[]`.
    pub replace: Vec<Replace>,
}

/// The `rename` processor.
#[derive(Debug)]
pub struct Rename {
    config: RenameConfig,
}

impl Rename {
    /// A rename processor.
    pub fn new(config: RenameConfig) -> Rename {
        Rename { config }
    }
}

impl Processor for Rename {
    fn apply(&mut self, mut metric: Metric, out: &mut Vec<Metric>) {
        for r in &self.config.replace {
            if r.measurement.as_deref() == Some(metric.name.as_str()) {
                metric.name.clone_from(&r.dest);
            }
            if let Some(tag) = &r.tag
                && let Some(value) = metric.tags.remove(tag)
            {
                metric.tags.insert(r.dest.clone(), value);
            }
            if let Some(field) = &r.field
                && let Some(value) = metric.remove_field(field)
            {
                metric.set_field(r.dest.clone(), value);
            }
        }
        out.push(metric);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measurements_tags_and_fields_are_renamed() {
        let config: RenameConfig = toml::from_str(
            "[[replace]]\nmeasurement = \"cpu\"\ndest = \"processor\"\n[[replace]]\ntag = \"host\"\ndest = \"hostname\"\n[[replace]]\nfield = \"usage_idle\"\ndest = \"idle\"\n",
        )
        .unwrap();
        let mut out = Vec::new();
        Rename::new(config).apply(
            Metric::new("cpu", 0)
                .with_tag("host", "a")
                .with_field("usage_idle", 1.0),
            &mut out,
        );
        assert_eq!(out[0].name, "processor");
        assert_eq!(out[0].tags["hostname"], "a");
        assert!(out[0].field("idle").is_some() && out[0].field("usage_idle").is_none());
    }
}
