//! `processors.regex`: rewrites tag values and string field values with regular
//! expressions (`${1}` in the replacement names a group).

use serde::Deserialize;

use crate::metric::{FieldValue, Metric};
use crate::plugins::Processor;

/// One `[[processors.regex.tags]]` or `[[processors.regex.fields]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rewrite {
    /// The tag or field key.
    pub key: String,
    /// The regular expression; values that do not match are left alone.
    pub pattern: String,
    /// The replacement (`${1}` for group 1).
    pub replacement: String,
    /// Store the result under this key instead of replacing the value. Default: unset.
    pub result_key: Option<String>,
}

/// `[[processors.regex]]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RegexConfig {
    /// Tag rewrites. Default: `[]`.
    pub tags: Vec<Rewrite>,
    /// Field rewrites (string fields only). Default: `[]`.
    pub fields: Vec<Rewrite>,
}

/// The `regex` processor.
#[derive(Debug)]
pub struct Regex {
    tags: Vec<(Rewrite, regex::Regex)>,
    fields: Vec<(Rewrite, regex::Regex)>,
}

impl Regex {
    /// A regex processor.
    ///
    /// # Errors
    /// A message naming a pattern that does not compile.
    pub fn new(config: RegexConfig) -> Result<Regex, String> {
        let compile = |list: Vec<Rewrite>| {
            list.into_iter()
                .map(|r| {
                    let re = regex::Regex::new(&r.pattern)
                        .map_err(|e| format!("`pattern` {:?}: {e}", r.pattern))?;
                    Ok((r, re))
                })
                .collect::<Result<Vec<_>, String>>()
        };
        Ok(Regex {
            tags: compile(config.tags)?,
            fields: compile(config.fields)?,
        })
    }
}

impl Processor for Regex {
    fn apply(&mut self, mut metric: Metric, out: &mut Vec<Metric>) {
        for (rule, re) in &self.tags {
            if let Some(value) = metric.tags.get(&rule.key)
                && re.is_match(value)
            {
                let new = re
                    .replace_all(value, rule.replacement.as_str())
                    .into_owned();
                let key = rule.result_key.clone().unwrap_or_else(|| rule.key.clone());
                metric.tags.insert(key, new);
            }
        }
        for (rule, re) in &self.fields {
            if let Some(FieldValue::String(value)) = metric.field(&rule.key)
                && re.is_match(value)
            {
                let new = re
                    .replace_all(value, rule.replacement.as_str())
                    .into_owned();
                let key = rule.result_key.clone().unwrap_or_else(|| rule.key.clone());
                metric.set_field(key, new);
            }
        }
        out.push(metric);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_and_string_fields_are_rewritten() {
        let config: RegexConfig = toml::from_str(
            r#"
[[tags]]
  key = "resp_code"
  pattern = "^(\\d)\\d\\d$"
  replacement = "${1}xx"
[[fields]]
  key = "request"
  pattern = "^/api(?P<method>/[\\w/]+)\\S*"
  replacement = "${method}"
  result_key = "method"
"#,
        )
        .unwrap();
        let m = Metric::new("nginx", 0)
            .with_tag("resp_code", "200")
            .with_field("request", "/api/search/?q=x")
            .with_field("n", 1i64);
        let mut out = Vec::new();
        let mut p = Regex::new(config).unwrap();
        p.apply(m, &mut out);
        p.apply(
            Metric::new("nginx", 0)
                .with_tag("resp_code", "ok")
                .with_field("n", 1i64),
            &mut out,
        );
        assert_eq!(out[0].tags["resp_code"], "2xx");
        assert_eq!(
            out[0].field("method"),
            Some(&FieldValue::String("/search/".into()))
        );
        assert_eq!(
            out[0].field("request"),
            Some(&FieldValue::String("/api/search/?q=x".into()))
        );
        assert_eq!(out[1].tags["resp_code"], "ok");
        assert!(
            Regex::new(RegexConfig {
                tags: vec![Rewrite {
                    key: "k".into(),
                    pattern: "(".into(),
                    replacement: String::new(),
                    result_key: None
                }],
                fields: vec![]
            })
            .is_err()
        );
    }
}
