//! Telegraf's `value` data format: the whole payload is one value (`data_type`) in one
//! field (`value_field_name`); for every type but `string`, only the last
//! whitespace-separated word counts.

use super::{ParseError, ParserConfig};
use crate::metric::{FieldValue, Metric};

/// The type a `value` payload is read as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataType {
    /// `integer` / `int`.
    Integer,
    /// `float` / `long`.
    Float,
    /// `string` / `str`.
    String,
    /// `boolean` / `bool` (`1 t T TRUE true True 0 f F FALSE false False`).
    Boolean,
    /// An integer when it reads as one, else a string.
    AutoInteger,
    /// A float when it reads as one, else a string.
    AutoFloat,
}

/// A configured `value` parser.
#[derive(Debug, Clone)]
pub struct ValueParser {
    name: String,
    field: String,
    data_type: DataType,
}

impl ValueParser {
    /// A parser naming its metrics `name`.
    ///
    /// # Errors
    /// An unknown `data_type`.
    pub fn new(config: &ParserConfig, name: &str) -> Result<ValueParser, String> {
        let data_type = match config.data_type.as_str() {
            "" | "int" | "integer" => DataType::Integer,
            "float" | "long" => DataType::Float,
            "str" | "string" => DataType::String,
            "bool" | "boolean" => DataType::Boolean,
            "auto_integer" => DataType::AutoInteger,
            "auto_float" => DataType::AutoFloat,
            other => {
                return Err(format!(
                    "`data_type` {other:?} is unknown: use integer, float, string, boolean, auto_integer or auto_float"
                ));
            }
        };
        let field = if config.value_field_name.is_empty() {
            "value".to_owned()
        } else {
            config.value_field_name.clone()
        };
        Ok(ValueParser {
            name: name.to_owned(),
            field,
            data_type,
        })
    }

    /// Parses one payload into one metric stamped `now` (none for an empty payload).
    ///
    /// # Errors
    /// A payload that is not a value of the configured type.
    pub fn parse(&self, body: &[u8], now: i64) -> Result<Vec<Metric>, ParseError> {
        let text = String::from_utf8_lossy(body);
        let text = text.trim_matches('\0').trim();
        let word = if self.data_type == DataType::String {
            text
        } else {
            match text.split_whitespace().last() {
                Some(word) => word,
                None => return Ok(Vec::new()),
            }
        };
        let bad = || ParseError::BadValue {
            text: word.to_owned(),
            data_type: self.data_type,
        };
        let float = |w: &str| w.parse::<f64>().ok().filter(|f| f.is_finite());
        let value: FieldValue<'static> = match self.data_type {
            DataType::Integer => word.parse::<i64>().map_err(|_| bad())?.into(),
            DataType::Float => float(word).ok_or_else(bad)?.into(),
            DataType::String => FieldValue::from(word.to_owned()),
            DataType::Boolean => match word {
                "1" | "t" | "T" | "TRUE" | "true" | "True" => true.into(),
                "0" | "f" | "F" | "FALSE" | "false" | "False" => false.into(),
                _ => return Err(bad()),
            },
            DataType::AutoInteger => match word.parse::<i64>() {
                Ok(i) => i.into(),
                Err(_) => FieldValue::from(word.to_owned()),
            },
            DataType::AutoFloat => match float(word) {
                Some(f) => f.into(),
                None => FieldValue::from(word.to_owned()),
            },
        };
        Ok(vec![
            Metric::new(self.name.as_str(), now).with_field(self.field.as_str(), value),
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(data_type: &str, body: &str) -> Result<Vec<Metric>, ParseError> {
        let config = ParserConfig {
            data_format: "value".into(),
            data_type: data_type.into(),
            ..ParserConfig::default()
        };
        ValueParser::new(&config, "exec")
            .unwrap()
            .parse(body.as_bytes(), 5)
    }

    fn value(data_type: &str, body: &str) -> FieldValue<'static> {
        let metrics = parse(data_type, body).unwrap();
        assert_eq!(metrics[0].name, "exec");
        assert_eq!(metrics[0].time, 5);
        metrics[0].field("value").unwrap().clone()
    }

    #[test]
    fn each_data_type_reads_as_telegraf_does() {
        assert_eq!(value("integer", " 42\n"), FieldValue::Integer(42));
        assert_eq!(value("int", "1 2 3"), FieldValue::Integer(3));
        assert_eq!(value("float", "23.5"), FieldValue::Float(23.5));
        assert_eq!(value("long", "7"), FieldValue::Float(7.0));
        assert_eq!(value("string", " a b \0"), FieldValue::String("a b".into()));
        assert_eq!(value("boolean", "T"), FieldValue::Boolean(true));
        assert_eq!(
            value("auto_integer", "1.5"),
            FieldValue::String("1.5".into())
        );
        assert_eq!(value("auto_float", "1.5"), FieldValue::Float(1.5));
        assert!(parse("integer", "  ").unwrap().is_empty());
    }

    #[test]
    fn values_of_the_wrong_type_and_unknown_types_are_errors() {
        assert!(matches!(
            parse("integer", "1.5"),
            Err(ParseError::BadValue { .. })
        ));
        assert!(parse("float", "NaN").is_err());
        assert!(parse("boolean", "yes").is_err());
        let config = ParserConfig {
            data_type: "complex".into(),
            ..ParserConfig::default()
        };
        assert!(ValueParser::new(&config, "x").is_err());
    }
}
