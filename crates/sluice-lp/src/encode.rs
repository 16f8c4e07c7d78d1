//! The encoder: points built in code, written as canonical line protocol.
//!
//! Canonical means tags sorted by key, names escaped with the fewest backslashes, floats in
//! the shortest form that reads back to the same bits, and a timestamp in nanoseconds when
//! the point has one. Parsing the output gives back the same point.

use std::borrow::Cow;
use std::fmt::Write as _;

use crate::escape;
use crate::line::{FieldValue, Line};

/// A point that owns its data, ready to encode.
///
/// Build one with [`Point::builder`]; the builder checks everything line protocol cannot
/// carry, so a built point always encodes to a line the parser accepts.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    measurement: String,
    /// Sorted by key, unique.
    tags: Vec<(String, String)>,
    /// Unique by key, in the order they were set (a repeated key replaces the value).
    fields: Vec<(String, FieldValue<'static>)>,
    timestamp: Option<i64>,
}

/// Why a point could not be built.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    #[error("measurement is empty")]
    EmptyMeasurement,
    #[error("point {measurement:?} has no fields")]
    NoFields { measurement: String },
    #[error("{what} is empty")]
    EmptyName { what: &'static str },
    #[error("tag {key:?} has an empty value")]
    EmptyTagValue { key: String },
    #[error("{what} {name:?} ends with a backslash, which line protocol cannot carry")]
    TrailingBackslash { what: &'static str, name: String },
    #[error("{what} {name:?} contains a control character, which line protocol cannot carry")]
    ControlCharacter { what: &'static str, name: String },
    #[error("field {key:?} is {value}: NaN and Inf cannot be written")]
    NonFiniteFloat { key: String, value: f64 },
    /// A line that starts with `#` is a comment, and no escape changes that.
    #[error("measurement {measurement:?} starts with '#', which line protocol reads as a comment")]
    CommentMeasurement { measurement: String },
}

/// Builds a [`Point`]; see [`Point::builder`].
#[derive(Debug, Clone)]
pub struct PointBuilder {
    point: Point,
}

impl Point {
    /// Starts a point of `measurement`.
    pub fn builder(measurement: impl Into<String>) -> PointBuilder {
        PointBuilder {
            point: Point {
                measurement: measurement.into(),
                tags: Vec::new(),
                fields: Vec::new(),
                timestamp: None,
            },
        }
    }

    /// The measurement.
    pub fn measurement(&self) -> &str {
        &self.measurement
    }

    /// Tags, sorted by key.
    pub fn tags(&self) -> &[(String, String)] {
        &self.tags
    }

    /// Fields, in the order they were first set.
    pub fn fields(&self) -> &[(String, FieldValue<'static>)] {
        &self.fields
    }

    /// Nanoseconds since the epoch, if set.
    pub fn timestamp(&self) -> Option<i64> {
        self.timestamp
    }

    /// The point as one line of line protocol, without a line ending.
    pub fn to_line_protocol(&self) -> String {
        let mut out = String::with_capacity(64);
        self.write_line_protocol(&mut out);
        out
    }

    /// Appends the point to `out`, without a line ending (callers separate points with `\n`).
    pub fn write_line_protocol(&self, out: &mut String) {
        write_line(
            &self.measurement,
            self.tags.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            self.fields.iter().map(|(k, v)| (k.as_str(), v)),
            self.timestamp,
            out,
        );
    }
}

impl Line<'_> {
    /// The line as canonical line protocol (sorted tags, minimal escapes, timestamp in
    /// nanoseconds when present), without a line ending.
    pub fn to_line_protocol(&self) -> String {
        let mut out = String::with_capacity(64);
        write_line(
            &self.measurement,
            self.tags.iter().map(|(k, v)| (k.as_ref(), v.as_ref())),
            self.fields.iter().map(|(k, v)| (k.as_ref(), v)),
            self.timestamp,
            &mut out,
        );
        out
    }
}

fn write_line<'v>(
    measurement: &str,
    tags: impl Iterator<Item = (&'v str, &'v str)>,
    fields: impl Iterator<Item = (&'v str, &'v FieldValue<'v>)>,
    timestamp: Option<i64>,
    out: &mut String,
) {
    escape::measurement(measurement, out);
    for (k, v) in tags {
        out.push(',');
        escape::key(k, out);
        out.push('=');
        escape::key(v, out);
    }
    for (i, (k, v)) in fields.enumerate() {
        out.push(if i == 0 { ' ' } else { ',' });
        escape::key(k, out);
        out.push('=');
        write_value(v, out);
    }
    if let Some(ts) = timestamp {
        let _ = write!(out, " {ts}");
    }
}

fn write_value(value: &FieldValue<'_>, out: &mut String) {
    // `write!` into a String cannot fail.
    let _ = match value {
        // Debug prints the shortest digits that parse back to the same f64, and switches
        // to an exponent for very large or small magnitudes.
        FieldValue::Float(v) => write!(out, "{v:?}"),
        FieldValue::Integer(v) => write!(out, "{v}i"),
        FieldValue::UInteger(v) => write!(out, "{v}u"),
        FieldValue::String(s) => {
            escape::string_value(s, out);
            Ok(())
        }
        FieldValue::Boolean(b) => write!(out, "{b}"),
    };
}

fn check_name(what: &'static str, name: &str) -> Result<(), EncodeError> {
    if name.is_empty() {
        return Err(EncodeError::EmptyName { what });
    }
    if name.ends_with('\\') {
        return Err(EncodeError::TrailingBackslash {
            what,
            name: name.into(),
        });
    }
    if name.bytes().any(|b| b < 0x20 || b == 0x7f) {
        return Err(EncodeError::ControlCharacter {
            what,
            name: name.into(),
        });
    }
    Ok(())
}

impl PointBuilder {
    /// Sets tag `key` to `value`, replacing an earlier value of the same key.
    pub fn tag(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        let (key, value) = (key.into(), value.into());
        match self
            .point
            .tags
            .binary_search_by(|(k, _)| k.as_str().cmp(&key))
        {
            Ok(i) => self.point.tags[i].1 = value,
            Err(i) => self.point.tags.insert(i, (key, value)),
        }
        self
    }

    /// Sets field `key`, replacing an earlier value of the same key.
    pub fn field(mut self, key: impl Into<String>, value: impl Into<FieldValue<'static>>) -> Self {
        let (key, value) = (key.into(), value.into());
        match self.point.fields.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => self.point.fields.push((key, value)),
        }
        self
    }

    /// Sets the time, in nanoseconds since the epoch.
    pub fn timestamp(mut self, nanos: i64) -> Self {
        self.point.timestamp = Some(nanos);
        self
    }

    /// Checks the point and returns it.
    ///
    /// # Errors
    /// An empty measurement or name, an empty tag value, a name ending in a backslash or
    /// holding a control character, a measurement starting with `#`, a NaN or infinite
    /// float, or no fields at all.
    pub fn build(self) -> Result<Point, EncodeError> {
        let p = self.point;
        if p.measurement.is_empty() {
            return Err(EncodeError::EmptyMeasurement);
        }
        check_name("measurement", &p.measurement)?;
        if p.measurement.starts_with('#') {
            return Err(EncodeError::CommentMeasurement {
                measurement: p.measurement,
            });
        }
        for (k, v) in &p.tags {
            check_name("tag key", k)?;
            if v.is_empty() {
                return Err(EncodeError::EmptyTagValue { key: k.clone() });
            }
            check_name("tag value", v)?;
        }
        if p.fields.is_empty() {
            return Err(EncodeError::NoFields {
                measurement: p.measurement,
            });
        }
        for (k, v) in &p.fields {
            check_name("field key", k)?;
            if let FieldValue::Float(f) = v
                && !f.is_finite()
            {
                return Err(EncodeError::NonFiniteFloat {
                    key: k.clone(),
                    value: *f,
                });
            }
        }
        Ok(p)
    }
}

impl From<f64> for FieldValue<'static> {
    fn from(v: f64) -> Self {
        FieldValue::Float(v)
    }
}

impl From<i64> for FieldValue<'static> {
    fn from(v: i64) -> Self {
        FieldValue::Integer(v)
    }
}

impl From<u64> for FieldValue<'static> {
    fn from(v: u64) -> Self {
        FieldValue::UInteger(v)
    }
}

impl From<bool> for FieldValue<'static> {
    fn from(v: bool) -> Self {
        FieldValue::Boolean(v)
    }
}

impl From<String> for FieldValue<'static> {
    fn from(v: String) -> Self {
        FieldValue::String(Cow::Owned(v))
    }
}

impl From<&str> for FieldValue<'static> {
    fn from(v: &str) -> Self {
        FieldValue::String(Cow::Owned(v.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse_lines;

    #[test]
    fn encodes_canonically() {
        let point = Point::builder("cpu load")
            .tag("z", "1")
            .tag("host", "a,b=c d")
            .field("value", 1.0)
            .field("n", 3i64)
            .field("u", 7u64)
            .field("ok", true)
            .field("msg", "say \"hi\" \\o/")
            .timestamp(1_700_000_000_000_000_000)
            .build()
            .unwrap();
        assert_eq!(
            point.to_line_protocol(),
            r#"cpu\ load,host=a\,b\=c\ d,z=1 value=1.0,n=3i,u=7u,ok=true,msg="say \"hi\" \\o/" 1700000000000000000"#
        );
    }

    #[test]
    fn built_points_parse_back() {
        let point = Point::builder("m")
            .tag("k", r"a\b")
            .field("f", 1e300)
            .field("g", -0.0)
            .field("s", "line\nbreak")
            .build()
            .unwrap();
        let text = point.to_line_protocol();
        let line = parse_lines(text.as_bytes()).next().unwrap().unwrap();
        assert_eq!(line.tag("k"), Some(r"a\b"));
        assert_eq!(line.field("f"), Some(&FieldValue::Float(1e300)));
        assert_eq!(
            line.field("s"),
            Some(&FieldValue::String("line\nbreak".into()))
        );
        assert_eq!(line.to_line_protocol(), text);
    }

    #[test]
    fn rejects_what_line_protocol_cannot_carry() {
        let cases = [
            (Point::builder("").field("f", 1.0), "measurement is empty"),
            (Point::builder("m"), "point \"m\" has no fields"),
            (
                Point::builder("m").tag("t", "").field("f", 1.0),
                "tag \"t\" has an empty value",
            ),
            (
                Point::builder("m").tag("t", "x\\").field("f", 1.0),
                "tag value \"x\\\\\" ends with a backslash, which line protocol cannot carry",
            ),
            (
                Point::builder("m").field("f", f64::NAN),
                "field \"f\" is NaN: NaN and Inf cannot be written",
            ),
            (
                Point::builder("#m").field("f", 1.0),
                "measurement \"#m\" starts with '#', which line protocol reads as a comment",
            ),
            (
                Point::builder("m\n").field("f", 1.0),
                "measurement \"m\\n\" contains a control character, which line protocol cannot carry",
            ),
        ];
        for (builder, want) in cases {
            assert_eq!(builder.build().unwrap_err().to_string(), want);
        }
    }
}
