//! Telegraf's metric filters: namepass/namedrop, tagpass/tagdrop, fieldinclude/fieldexclude
//! and taginclude/tagexclude, with glob patterns (`*`, `?`, `[abc]`, `[a-z]`, `[!abc]`).

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::metric::Metric;

/// Whether `text` matches the glob `pattern`: `*` is any run of characters, `?` one
/// character, `[abc]`/`[a-z]` one of a set and `[!abc]` one outside it; anything else is
/// literal.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    // Iterative matcher with backtracking to the last star.
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() {
            match p[pi] {
                '*' => {
                    star = Some((pi, ti));
                    pi += 1;
                    continue;
                }
                '?' => {
                    pi += 1;
                    ti += 1;
                    continue;
                }
                '[' => match class_match(&p, pi, t[ti]) {
                    Some((true, next)) => {
                        pi = next;
                        ti += 1;
                        continue;
                    }
                    Some((false, _)) => {}
                    None if t[ti] == '[' => {
                        pi += 1;
                        ti += 1;
                        continue;
                    }
                    None => {}
                },
                c if c == t[ti] => {
                    pi += 1;
                    ti += 1;
                    continue;
                }
                _ => {}
            }
        }
        match star {
            Some((sp, st)) => {
                pi = sp + 1;
                ti = st + 1;
                star = Some((sp, st + 1));
            }
            None => return false,
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// Matches `c` against the class starting at `p[start] == '['`; returns whether it
/// matched and the index after the class, or `None` when the class is not closed.
fn class_match(p: &[char], start: usize, c: char) -> Option<(bool, usize)> {
    let mut i = start + 1;
    let negated = matches!(p.get(i), Some('!') | Some('^'));
    if negated {
        i += 1;
    }
    let mut matched = false;
    let mut first = true;
    while i < p.len() {
        if p[i] == ']' && !first {
            return Some((matched != negated, i + 1));
        }
        first = false;
        if i + 2 < p.len() && p[i + 1] == '-' && p[i + 2] != ']' {
            if p[i] <= c && c <= p[i + 2] {
                matched = true;
            }
            i += 3;
        } else {
            if p[i] == c {
                matched = true;
            }
            i += 1;
        }
    }
    None
}

/// Whether any pattern matches `text`.
fn any_match(patterns: &[String], text: &str) -> bool {
    patterns.iter().any(|p| glob_match(p, text))
}

/// The filter keys every plugin accepts (Telegraf's "selectors" and "modifiers").
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FilterConfig {
    /// Only metrics whose name matches one of these globs pass. Default: all.
    #[serde(default)]
    pub namepass: Vec<String>,
    /// Metrics whose name matches one of these globs are dropped. Default: none.
    #[serde(default)]
    pub namedrop: Vec<String>,
    /// Only metrics with a tag `key` whose value matches one of the globs pass.
    #[serde(default)]
    pub tagpass: BTreeMap<String, Vec<String>>,
    /// Metrics with a tag `key` whose value matches one of the globs are dropped.
    #[serde(default)]
    pub tagdrop: BTreeMap<String, Vec<String>>,
    /// Only fields whose key matches one of these globs are kept (alias `fieldpass`).
    #[serde(default, alias = "fieldpass")]
    pub fieldinclude: Vec<String>,
    /// Fields whose key matches one of these globs are removed (alias `fielddrop`).
    #[serde(default, alias = "fielddrop")]
    pub fieldexclude: Vec<String>,
    /// Only tags whose key matches one of these globs are kept.
    #[serde(default)]
    pub taginclude: Vec<String>,
    /// Tags whose key matches one of these globs are removed.
    #[serde(default)]
    pub tagexclude: Vec<String>,
}

/// The keys [`FilterConfig`] reads, for splitting a plugin's table.
pub const FILTER_KEYS: &[&str] = &[
    "namepass",
    "namedrop",
    "tagpass",
    "tagdrop",
    "fieldinclude",
    "fieldpass",
    "fieldexclude",
    "fielddrop",
    "taginclude",
    "tagexclude",
];

impl FilterConfig {
    /// Whether the metric is selected by the name and tag filters.
    pub fn select(&self, metric: &Metric) -> bool {
        if !self.namepass.is_empty() && !any_match(&self.namepass, &metric.name) {
            return false;
        }
        if any_match(&self.namedrop, &metric.name) {
            return false;
        }
        let tag_hit = |filters: &BTreeMap<String, Vec<String>>| {
            filters.iter().any(|(key, patterns)| {
                metric
                    .tags
                    .get(key)
                    .is_some_and(|value| any_match(patterns, value))
            })
        };
        if !self.tagpass.is_empty() && !tag_hit(&self.tagpass) {
            return false;
        }
        if !self.tagdrop.is_empty() && tag_hit(&self.tagdrop) {
            return false;
        }
        true
    }

    /// Removes the fields and tags the include/exclude filters reject.
    pub fn modify(&self, metric: &mut Metric) {
        if !self.fieldinclude.is_empty() {
            metric
                .fields
                .retain(|(k, _)| any_match(&self.fieldinclude, k));
        }
        if !self.fieldexclude.is_empty() {
            metric
                .fields
                .retain(|(k, _)| !any_match(&self.fieldexclude, k));
        }
        if !self.taginclude.is_empty() {
            metric.tags.retain(|k, _| any_match(&self.taginclude, k));
        }
        if !self.tagexclude.is_empty() {
            metric.tags.retain(|k, _| !any_match(&self.tagexclude, k));
        }
    }

    /// Applies [`FilterConfig::select`] then [`FilterConfig::modify`]; `None` when the
    /// metric is dropped (not selected, or no field left).
    pub fn apply(&self, mut metric: Metric) -> Option<Metric> {
        if !self.select(&metric) {
            return None;
        }
        self.modify(&mut metric);
        (!metric.fields.is_empty()).then_some(metric)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_follow_telegraf_semantics() {
        let cases = [
            ("cpu", "cpu", true),
            ("cpu", "cpu0", false),
            ("cpu*", "cpu0", true),
            ("cpu*", "cp", false),
            ("*", "", true),
            ("c?u", "cpu", true),
            ("c?u", "cu", false),
            ("cpu[0-3]", "cpu2", true),
            ("cpu[0-3]", "cpu7", false),
            ("cpu[!0-3]", "cpu7", true),
            ("[abc]x", "bx", true),
            ("[abc]x", "dx", false),
            ("*_total", "bytes_total", true),
            ("a*b*c", "aXbYbZc", true),
            ("a*b*c", "aXbYbZ", false),
            ("[unclosed", "[unclosed", true),
        ];
        for (pattern, text, expected) in cases {
            assert_eq!(glob_match(pattern, text), expected, "{pattern} vs {text}");
        }
    }

    fn metric() -> Metric {
        Metric::new("cpu", 0)
            .with_tag("cpu", "cpu-total")
            .with_tag("host", "a")
            .with_field("usage_idle", 90.0)
            .with_field("usage_user", 10.0)
            .with_field("time_user", 1.0)
    }

    #[test]
    fn name_and_tag_filters_select_metrics() {
        let pass = |f: FilterConfig| f.select(&metric());
        assert!(pass(FilterConfig::default()));
        assert!(pass(FilterConfig {
            namepass: vec!["c*".into()],
            ..Default::default()
        }));
        assert!(!pass(FilterConfig {
            namepass: vec!["mem".into()],
            ..Default::default()
        }));
        assert!(!pass(FilterConfig {
            namedrop: vec!["cp?".into()],
            ..Default::default()
        }));
        let tags = |k: &str, v: &str| BTreeMap::from([(k.to_owned(), vec![v.to_owned()])]);
        assert!(pass(FilterConfig {
            tagpass: tags("cpu", "cpu-*"),
            ..Default::default()
        }));
        assert!(!pass(FilterConfig {
            tagpass: tags("cpu", "cpu0"),
            ..Default::default()
        }));
        assert!(!pass(FilterConfig {
            tagpass: tags("missing", "*"),
            ..Default::default()
        }));
        assert!(!pass(FilterConfig {
            tagdrop: tags("host", "a"),
            ..Default::default()
        }));
    }

    #[test]
    fn field_filters_remove_fields_and_drop_empty_metrics() {
        let f = FilterConfig {
            fieldinclude: vec!["usage_*".into()],
            ..Default::default()
        };
        let m = f.apply(metric()).unwrap();
        assert_eq!(m.fields.len(), 2);
        let f = FilterConfig {
            fieldexclude: vec!["usage_*".into()],
            ..Default::default()
        };
        assert_eq!(f.apply(metric()).unwrap().fields.len(), 1);
        let f = FilterConfig {
            fieldinclude: vec!["nothing".into()],
            ..Default::default()
        };
        assert!(f.apply(metric()).is_none());
        let f = FilterConfig {
            tagexclude: vec!["host".into()],
            ..Default::default()
        };
        assert!(!f.apply(metric()).unwrap().tags.contains_key("host"));
    }

    #[test]
    fn fieldpass_and_fielddrop_are_aliases() {
        let f: FilterConfig = toml::from_str("fieldpass = [\"a\"]\nfielddrop = [\"b\"]").unwrap();
        assert_eq!(f.fieldinclude, vec!["a"]);
        assert_eq!(f.fieldexclude, vec!["b"]);
    }
}
