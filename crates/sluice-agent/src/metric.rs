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

    /// The metric as a line-protocol point, written as Telegraf's influx serializer
    /// writes it: tab, newline, form feed and carriage return in names become `\t`,
    /// `\n`, `\f`, `\r`; trailing backslashes of tag keys and values are cut; a tag
    /// whose key or value is then empty, and a field whose key is empty or ends with a
    /// backslash (line protocol would read it as escaping the `=`), are left out. The rest
    /// of the metric is written, as Telegraf's line-protocol encoder writes it.
    ///
    /// # Errors
    /// When the metric still cannot be written as line protocol (no fields, another
    /// control character in a name, a non-finite float, ...).
    pub fn to_point(&self) -> Result<Point, sluice_lp::EncodeError> {
        let mut builder =
            Point::builder(escape_control_characters(&self.name)).timestamp(self.time);
        for (k, v) in &self.tags {
            let (key, value) = (tag_text(k), tag_text(v));
            if key.is_empty() || value.is_empty() {
                continue;
            }
            builder = builder.tag(key, value);
        }
        for (k, v) in &self.fields {
            if k.is_empty() || k.ends_with('\\') {
                continue;
            }
            builder = builder.field(escape_control_characters(k), v.clone());
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

/// `text` with the control characters Telegraf escapes in names (tab, newline, form
/// feed, carriage return) written as a backslash and a letter, so that the line stays one
/// line and the name reads back as Telegraf's output does.
fn escape_control_characters(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\u{c}' => out.push_str("\\f"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
    out
}

/// A tag key or value as written: escaped, without trailing backslashes (line protocol
/// would read them as escaping the separator after them).
fn tag_text(text: &str) -> String {
    let mut out = escape_control_characters(text);
    out.truncate(out.trim_end_matches('\\').len());
    out
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
    fn tags_line_protocol_cannot_carry_are_escaped_or_left_out_as_telegraf_does() {
        let cases = [
            (Metric::new("m", 1).with_tag("env", ""), "m f=1i 1\n"),
            (Metric::new("m", 1).with_tag("", "x"), "m f=1i 1\n"),
            (
                Metric::new("m", 1).with_tag("t", "a\tb\nc"),
                "m,t=a\\tb\\nc f=1i 1\n",
            ),
            (Metric::new("m", 1).with_tag("t", "x\\\\"), "m,t=x f=1i 1\n"),
            (Metric::new("m", 1).with_tag("t", "\\"), "m f=1i 1\n"),
            (
                Metric::new("m\r", 1).with_tag("t\u{c}", "v"),
                "m\\r,t\\f=v f=1i 1\n",
            ),
        ];
        for (metric, want) in cases {
            let metric = metric.with_field("f", 1i64).with_field("", 2i64);
            let mut line = String::new();
            metric.write_line_protocol(&mut line).unwrap();
            assert_eq!(line, want, "{metric:?}");
        }
    }

    #[test]
    fn a_field_whose_key_ends_with_a_backslash_is_left_out_and_the_rest_written() {
        let metric = Metric::new("m", 1)
            .with_field("a\\", 1i64)
            .with_field("b", 2i64)
            .with_field("c\\d", 3i64);
        let mut line = String::new();
        metric.write_line_protocol(&mut line).unwrap();
        assert_eq!(line, "m b=2i,c\\d=3i 1\n");
        let back = parse_line_protocol(line.as_bytes(), 0).unwrap();
        assert_eq!(back[0].fields.len(), 2);
        // With no other field, the metric has none to write.
        assert!(
            Metric::new("m", 1)
                .with_field("a\\", 1i64)
                .to_point()
                .is_err()
        );
    }

    #[test]
    fn a_metric_without_fields_or_with_other_control_characters_is_still_refused() {
        assert!(Metric::new("m", 1).with_field("", 1i64).to_point().is_err());
        assert!(
            Metric::new("m\u{1}", 1)
                .with_field("f", 1i64)
                .to_point()
                .is_err()
        );
    }

    #[test]
    fn lines_without_time_get_the_default_time() {
        let metrics = parse_line_protocol(b"m f=1\n", 42).unwrap();
        assert_eq!(metrics[0].time, 42);
        assert!(parse_line_protocol(b"m\n", 0).is_err());
    }
}
