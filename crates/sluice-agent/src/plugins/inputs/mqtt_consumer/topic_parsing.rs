//! `[[inputs.mqtt_consumer.topic_parsing]]`: the measurement name, tags and fields taken
//! from the levels of a message's topic. In `measurement`, `tags` and `fields`, `_` (or an
//! empty level) skips a level and one `#` stands for any number of levels, after which
//! positions count from the end; `topic` is matched with `+` (one level) and `#`.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::metric::{FieldValue, Metric};

/// One `[[inputs.mqtt_consumer.topic_parsing]]` table.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TopicParsingConfig {
    /// The topics this applies to (`+`, `#` allowed). Default: `""`.
    pub topic: String,
    /// Which level names the measurement, e.g. `"_/_/measurement/_"`. Default: `""`.
    pub measurement: String,
    /// Levels that become tags, named by position, e.g. `"site/_/_/_"`. Default: `""`.
    pub tags: String,
    /// Levels that become fields (strings unless typed in `types`). Default: `""`.
    pub fields: String,
    /// Field types: `int`, `uint`, `float` (or `bool`); others stay strings. Default: `{}`.
    pub types: BTreeMap<String, String>,
}

/// A position in a topic: from the start, or (after a `#`) from the end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Position {
    FromStart(usize),
    FromEnd(usize),
}

impl Position {
    fn pick<'a>(self, levels: &[&'a str]) -> Option<&'a str> {
        match self {
            Position::FromStart(i) => levels.get(i).copied(),
            Position::FromEnd(i) => levels
                .len()
                .checked_sub(i)
                .and_then(|j| levels.get(j))
                .copied(),
        }
    }
}

/// A `measurement`/`tags`/`fields` pattern: its named positions and how many levels it
/// spells out (besides a `#`).
struct Pattern {
    named: Vec<(String, Position)>,
    levels: usize,
}

fn positions(pattern: &str) -> Result<Pattern, String> {
    let parts: Vec<&str> = pattern.split('/').collect();
    let hash = parts.iter().position(|p| *p == "#");
    if parts.iter().filter(|p| **p == "#").count() > 1 {
        return Err(format!("{pattern:?} can only contain one `#`"));
    }
    let mut out = Vec::new();
    let mut levels = 0;
    for (i, part) in parts.iter().enumerate() {
        if *part == "#" {
            continue;
        }
        levels += 1;
        if *part == "_" || part.is_empty() {
            continue;
        }
        let position = match hash {
            Some(h) if i > h => Position::FromEnd(parts.len() - i),
            _ => Position::FromStart(i),
        };
        out.push(((*part).to_owned(), position));
    }
    Ok(Pattern { named: out, levels })
}

/// A compiled topic-parsing rule.
#[derive(Debug, Clone)]
pub struct TopicParser {
    /// The topic filter's levels.
    filter: Vec<String>,
    measurement: Option<Position>,
    tags: Vec<(String, Position)>,
    fields: Vec<(String, Position)>,
    types: BTreeMap<String, String>,
}

impl TopicParser {
    /// Compiles one rule.
    ///
    /// # Errors
    /// Patterns whose length differs from the topic's, more than one measurement level,
    /// more than one `#`, or an unknown type.
    pub fn new(config: &TopicParsingConfig) -> Result<TopicParser, String> {
        let filter: Vec<String> = config.topic.split('/').map(str::to_owned).collect();
        let topic_has_hash = filter.iter().any(|l| l == "#");
        if filter.iter().filter(|l| *l == "#").count() > 1 {
            return Err(format!("topic {:?} can only contain one `#`", config.topic));
        }
        let topic_levels = filter.len();
        let Pattern {
            named: measurement,
            levels: m_levels,
        } = positions(&config.measurement)?;
        if measurement.len() > 1 {
            return Err(format!(
                "measurement {:?} can only name one level",
                config.measurement
            ));
        }
        let Pattern {
            named: tags,
            levels: t_levels,
        } = positions(&config.tags)?;
        let Pattern {
            named: fields,
            levels: f_levels,
        } = positions(&config.fields)?;
        if !topic_has_hash {
            for (what, pattern, levels) in [
                ("measurement", &config.measurement, m_levels),
                ("tags", &config.tags, t_levels),
                ("fields", &config.fields, f_levels),
            ] {
                if !pattern.is_empty() && !pattern.contains('#') && levels != topic_levels {
                    return Err(format!(
                        "{what} {pattern:?} has {levels} levels but topic {:?} has {topic_levels}",
                        config.topic
                    ));
                }
            }
        }
        for (name, kind) in &config.types {
            if !matches!(kind.as_str(), "int" | "uint" | "float" | "bool" | "string") {
                return Err(format!(
                    "type {kind:?} of {name:?} is not supported: use int, uint, float, bool or string"
                ));
            }
        }
        Ok(TopicParser {
            filter,
            measurement: measurement.first().map(|(_, p)| *p),
            tags,
            fields,
            types: config.types.clone(),
        })
    }

    /// Whether `topic` matches the rule's topic filter.
    fn matches(&self, levels: &[&str]) -> bool {
        let mut i = 0;
        for (index, want) in self.filter.iter().enumerate() {
            if want == "#" {
                // The rest of the filter matches the end of the topic.
                let tail = &self.filter[index + 1..];
                if levels.len() < i + tail.len() {
                    return false;
                }
                let start = levels.len() - tail.len();
                return tail
                    .iter()
                    .zip(&levels[start..])
                    .all(|(w, l)| w == "+" || w == l);
            }
            match levels.get(i) {
                Some(level) if want == "+" || want == level => i += 1,
                _ => return false,
            }
        }
        i == levels.len()
    }

    /// Applies the rule to `metric` when `topic` matches it.
    ///
    /// # Errors
    /// A level that does not convert to its field type.
    pub fn apply(&self, metric: &mut Metric, topic: &str) -> Result<(), String> {
        let levels: Vec<&str> = topic.split('/').collect();
        if !self.matches(&levels) {
            return Ok(());
        }
        if let Some(name) = self.measurement.and_then(|p| p.pick(&levels)) {
            metric.name = name.to_owned();
        }
        for (key, position) in &self.tags {
            if let Some(value) = position.pick(&levels) {
                metric.tags.insert(key.clone(), value.to_owned());
            }
        }
        for (key, position) in &self.fields {
            let Some(raw) = position.pick(&levels) else {
                continue;
            };
            let bad = |kind: &str| {
                format!("topic level {raw:?} of {topic:?} is not {kind} (field {key:?})")
            };
            let value: FieldValue<'static> = match self.types.get(key).map(String::as_str) {
                Some("int") => raw.parse::<i64>().map_err(|_| bad("an int"))?.into(),
                Some("uint") => raw.parse::<u64>().map_err(|_| bad("a uint"))?.into(),
                Some("float") => raw.parse::<f64>().map_err(|_| bad("a float"))?.into(),
                Some("bool") => raw.parse::<bool>().map_err(|_| bad("a bool"))?.into(),
                _ => FieldValue::from(raw.to_owned()),
            };
            metric.set_field(key.clone(), value);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(topic: &str, measurement: &str, tags: &str, fields: &str) -> TopicParser {
        TopicParser::new(&TopicParsingConfig {
            topic: topic.into(),
            measurement: measurement.into(),
            tags: tags.into(),
            fields: fields.into(),
            types: [("test".to_owned(), "int".to_owned())].into(),
        })
        .unwrap()
    }

    /// The example of Telegraf's mqtt_consumer README.
    #[test]
    fn the_readme_example_names_tags_and_types_as_documented() {
        let p = rule(
            "telegraf/+/cpu/23",
            "_/_/measurement/_",
            "tag/_/_/_",
            "_/_/_/test",
        );
        let mut m = Metric::new("mqtt_consumer", 0).with_field("value", 45.0);
        p.apply(&mut m, "telegraf/one/cpu/23").unwrap();
        assert_eq!(m.name, "cpu");
        assert_eq!(m.tags["tag"], "telegraf");
        assert_eq!(m.field("test"), Some(&FieldValue::Integer(23)));
        // Other topics are left alone.
        let mut other = Metric::new("mqtt_consumer", 0).with_field("value", 1.0);
        p.apply(&mut other, "telegraf/one/mem/23").unwrap();
        assert_eq!(other.name, "mqtt_consumer");
    }

    #[test]
    fn a_hash_counts_the_following_levels_from_the_end() {
        let p = rule("sensors/#", "measurement/#", "#/room/_", "");
        let mut m = Metric::new("mqtt_consumer", 0).with_field("value", 1.0);
        p.apply(&mut m, "sensors/floor1/kitchen/temperature")
            .unwrap();
        assert_eq!(m.name, "sensors");
        assert_eq!(m.tags["room"], "kitchen");
    }

    #[test]
    fn bad_rules_and_bad_levels_are_errors() {
        assert!(
            TopicParser::new(&TopicParsingConfig {
                topic: "a/b".into(),
                tags: "x/_/_".into(),
                ..TopicParsingConfig::default()
            })
            .is_err()
        );
        assert!(
            TopicParser::new(&TopicParsingConfig {
                topic: "a/b".into(),
                measurement: "x/y".into(),
                ..TopicParsingConfig::default()
            })
            .is_err()
        );
        let p = rule("a/+", "", "", "_/test");
        let mut m = Metric::new("m", 0);
        assert!(p.apply(&mut m, "a/notanumber").is_err());
    }
}
