//! The metric that flows from inputs through processors and aggregators to outputs.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

pub use sluice_lp::FieldValue;
use sluice_lp::{ParseOptions, Parser, Point};

use crate::delivery::Delivery;

/// One measurement at one time: a name, sorted tags, ordered fields and a timestamp.
#[derive(Debug, Clone, PartialEq)]
pub struct Metric {
    /// The measurement name.
    pub name: String,
    /// Tags, sorted by key.
    pub tags: BTreeMap<String, String>,
    /// Fields in the order the plugin added them; keys are unique.
    pub fields: Vec<(String, FieldValue<'static>)>,
    /// Nanoseconds since the Unix epoch.
    pub time: i64,
    /// The message this metric came from, when its input acknowledges messages only once
    /// their metrics are written (see [`crate::delivery`]). Not part of equality.
    pub delivery: Option<Delivery>,
}

impl Metric {
    /// A metric without tags or fields.
    pub fn new(name: impl Into<String>, time: i64) -> Metric {
        Metric {
            name: name.into(),
            tags: BTreeMap::new(),
            fields: Vec::new(),
            time,
            delivery: None,
        }
    }

    /// Adds a tag (builder style).
    pub fn with_tag(mut self, key: impl Into<String>, value: impl Into<String>) -> Metric {
        self.tags.insert(key.into(), value.into());
        self
    }

    /// Adds a field (builder style).
    pub fn with_field(
        mut self,
        key: impl Into<String>,
        value: impl Into<FieldValue<'static>>,
    ) -> Metric {
        self.set_field(key, value);
        self
    }

    /// Sets field `key`, replacing an earlier value.
    pub fn set_field(&mut self, key: impl Into<String>, value: impl Into<FieldValue<'static>>) {
        let (key, value) = (key.into(), value.into());
        match self.fields.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => self.fields.push((key, value)),
        }
    }

    /// The value of field `key`.
    pub fn field(&self, key: &str) -> Option<&FieldValue<'static>> {
        self.fields.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// Removes field `key`, returning its value.
    pub fn remove_field(&mut self, key: &str) -> Option<FieldValue<'static>> {
        let i = self.fields.iter().position(|(k, _)| k == key)?;
        Some(self.fields.remove(i).1)
    }

    /// The metric as a line-protocol point.
    ///
    /// # Errors
    /// When the metric cannot be written as line protocol (no fields, an empty tag
    /// value, a non-finite float, ...).
    pub fn to_point(&self) -> Result<Point, sluice_lp::EncodeError> {
        let mut builder = Point::builder(self.name.as_str()).timestamp(self.time);
        for (k, v) in &self.tags {
            builder = builder.tag(k.as_str(), v.as_str());
        }
        for (k, v) in &self.fields {
            builder = builder.field(k.as_str(), v.clone());
        }
        builder.build()
    }

    /// Appends the metric as one line of line protocol (with its newline) to `out`.
    ///
    /// # Errors
    /// As [`Metric::to_point`].
    pub fn write_line_protocol(&self, out: &mut String) -> Result<(), sluice_lp::EncodeError> {
        self.to_point()?.write_line_protocol(out);
        if !out.ends_with('\n') {
            out.push('\n');
        }
        Ok(())
    }

    /// The series identity: name and tags.
    pub fn series_key(&self) -> SeriesKey {
        (
            self.name.clone(),
            self.tags
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        )
    }
}

/// A series' identity: measurement name and sorted tags.
pub type SeriesKey = (String, Vec<(String, String)>);

/// Nanoseconds since the Unix epoch, now.
pub fn now_nanos() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Parses line protocol into metrics; lines without a timestamp get `default_time`.
///
/// # Errors
/// The first line that does not parse, as `line N: reason`.
pub fn parse_line_protocol(text: &[u8], default_time: i64) -> Result<Vec<Metric>, String> {
    let options = ParseOptions::default();
    let mut out = Vec::new();
    for line in Parser::new(text, options) {
        let line = line.map_err(|err| err.to_string())?;
        out.push(Metric {
            name: line.measurement.to_string(),
            tags: line
                .tags
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            fields: line
                .fields
                .into_iter()
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
            time: line.timestamp.unwrap_or(default_time),
            delivery: None,
        });
    }
    Ok(out)
}

/// A field value as a float, when it is numeric or boolean.
pub fn as_f64(value: &FieldValue<'_>) -> Option<f64> {
    match value {
        FieldValue::Float(v) => Some(*v),
        FieldValue::Integer(v) => Some(*v as f64),
        FieldValue::UInteger(v) => Some(*v as f64),
        FieldValue::Boolean(v) => Some(if *v { 1.0 } else { 0.0 }),
        FieldValue::String(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_round_trip_through_line_protocol() {
        let metric = Metric::new("cpu", 1_000)
            .with_tag("host", "a b")
            .with_field("usage", 0.5)
            .with_field("n", 3i64)
            .with_field("s", "x\"y");
        let mut text = String::new();
        metric.write_line_protocol(&mut text).unwrap();
        assert_eq!(
            parse_line_protocol(text.as_bytes(), 0).unwrap(),
            vec![metric]
        );
    }

    #[test]
    fn lines_without_time_get_the_default_time() {
        let metrics = parse_line_protocol(b"m f=1\n", 42).unwrap();
        assert_eq!(metrics[0].time, 42);
        assert!(parse_line_protocol(b"m\n", 0).is_err());
    }
}
