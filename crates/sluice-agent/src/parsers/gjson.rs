//! The subset of GJSON path syntax that `json_query` supports: `a.b.c` (keys), `a.0`
//! (array index), `a.#` (array length), `a.#.b` (key `b` of every element), `*` and `?`
//! wildcards in keys (the first matching key wins), and `\` escaping `.`, `*`, `?`.
//! Queries (`#(...)`), modifiers (`@reverse`) and multipaths are not supported: such a
//! path is refused when the configuration loads.

use serde_json::Value;

use crate::filter::glob_match;

/// One step of a path.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    /// A key, possibly with wildcards (`pattern` keeps `*`/`?` unescaped).
    Key { text: String, pattern: bool },
    /// `#`: the length, or (followed by more steps) a map over the elements.
    Each,
}

/// A compiled `json_query` path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Path {
    steps: Vec<Step>,
}

impl Path {
    /// Compiles `path`.
    ///
    /// # Errors
    /// An empty step or syntax outside the supported subset.
    pub fn parse(path: &str) -> Result<Path, String> {
        let mut steps = Vec::new();
        let mut text = String::new();
        let mut pattern = false;
        let mut escaped_any = false;
        let mut chars = path.chars();
        let mut finish = |text: &mut String, pattern: &mut bool, escaped: &mut bool| {
            if text.is_empty() {
                return Err(format!("json_query {path:?} has an empty step"));
            }
            if text.as_str() == "#" && !*escaped {
                steps.push(Step::Each);
            } else {
                if !*escaped && (text.starts_with('@') || text.starts_with("#(")) {
                    return Err(format!(
                        "json_query {path:?}: modifiers and queries ({text}) are not supported"
                    ));
                }
                steps.push(Step::Key {
                    text: std::mem::take(text),
                    pattern: *pattern,
                });
            }
            text.clear();
            *pattern = false;
            *escaped = false;
            Ok(())
        };
        while let Some(c) = chars.next() {
            match c {
                '\\' => {
                    escaped_any = true;
                    match chars.next() {
                        // An escaped wildcard matches itself: keep it as a literal in a
                        // pattern by wrapping it in a one-character class.
                        Some(w @ ('*' | '?')) => {
                            text.push('[');
                            text.push(w);
                            text.push(']');
                            pattern = true;
                        }
                        Some(other) => text.push(other),
                        None => return Err(format!("json_query {path:?} ends with `\\`")),
                    }
                }
                '.' => finish(&mut text, &mut pattern, &mut escaped_any)?,
                '|' | '(' | ')' | '{' | '}' | '[' | ']' | ',' => {
                    return Err(format!(
                        "json_query {path:?}: {c:?} (multipaths, queries) is not supported"
                    ));
                }
                '*' | '?' => {
                    pattern = true;
                    text.push(c);
                }
                c => text.push(c),
            }
        }
        finish(&mut text, &mut pattern, &mut escaped_any)?;
        Ok(Path { steps })
    }

    /// The value at this path in `root`, or `None` when nothing is there.
    pub fn get(&self, root: &Value) -> Option<Value> {
        get(&self.steps, root)
    }
}

fn get(steps: &[Step], value: &Value) -> Option<Value> {
    let Some((step, rest)) = steps.split_first() else {
        return Some(value.clone());
    };
    match (step, value) {
        (Step::Each, Value::Array(items)) if rest.is_empty() => Some(Value::from(items.len())),
        (Step::Each, Value::Array(items)) => Some(Value::Array(
            items.iter().filter_map(|item| get(rest, item)).collect(),
        )),
        (Step::Key { text, pattern }, Value::Object(map)) => {
            let found = if *pattern {
                map.iter()
                    .find(|(k, _)| glob_match(text, k))
                    .map(|(_, v)| v)
            } else {
                map.get(text)
            };
            get(rest, found?)
        }
        (
            Step::Key {
                text,
                pattern: false,
            },
            Value::Array(items),
        ) => {
            let index: usize = text.parse().ok()?;
            get(rest, items.get(index)?)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn paths_select_keys_indexes_lengths_and_maps() {
        let doc = json!({
            "name": {"first": "Tom", "last": "Anderson"},
            "age": 37,
            "children": ["Sara", "Alex", "Jack"],
            "fav.movie": "Deer Hunter",
            "friends": [
                {"first": "Dale", "age": 44},
                {"first": "Roger", "age": 68}
            ]
        });
        let q = |p: &str| Path::parse(p).unwrap().get(&doc);
        assert_eq!(q("name.last"), Some(json!("Anderson")));
        assert_eq!(q("children.#"), Some(json!(3)));
        assert_eq!(q("children.1"), Some(json!("Alex")));
        assert_eq!(q("child*.2"), Some(json!("Jack")));
        assert_eq!(q("c?ildren.0"), Some(json!("Sara")));
        assert_eq!(q(r"fav\.movie"), Some(json!("Deer Hunter")));
        assert_eq!(q("friends.#.first"), Some(json!(["Dale", "Roger"])));
        assert_eq!(q("friends.1"), Some(json!({"first": "Roger", "age": 68})));
        assert_eq!(q("friends.5"), None);
        assert_eq!(q("nope.x"), None);
    }

    #[test]
    fn unsupported_syntax_is_refused() {
        for bad in ["a..b", "friends.#(age>40)", "a|b", "@reverse", "a\\"] {
            assert!(Path::parse(bad).is_err(), "{bad}");
        }
    }
}
