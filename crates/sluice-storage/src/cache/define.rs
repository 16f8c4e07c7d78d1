//! The rules of a cache definition: defaults, names, and which columns may be keys,
//! values or distinct columns, checked against the table when a cache is created.

use std::collections::HashSet;
use std::time::Duration;

use super::{DistinctCacheDef, LastCacheDef, MAX_LAST_COUNT, is_distinct_type, is_key_type};
use crate::batch::ColumnType;
use crate::catalog::TableDef;
use crate::error::{Error, Result};
use crate::types::{DistinctCacheSpec, LastCacheSpec};

/// A last cache's ttl when none is given (InfluxDB 3's default).
const DEFAULT_TTL: Duration = Duration::from_secs(4 * 3600);
/// A distinct cache's most combinations when none is given (InfluxDB 3's default).
const DEFAULT_MAX_CARDINALITY: usize = 100_000;
/// A distinct cache's max age when none is given (InfluxDB 3's default).
const DEFAULT_MAX_AGE: Duration = Duration::from_secs(86_400);

/// The name and definition of the last cache `spec` asks for on `table`.
///
/// # Errors
/// [`Error::InvalidCache`] naming the column or setting that cannot be used.
pub(crate) fn last_cache(
    table_name: &str,
    table: &TableDef,
    spec: &LastCacheSpec,
) -> Result<(String, LastCacheDef)> {
    let invalid = |reason: String| Error::InvalidCache {
        kind: "last",
        table: table_name.to_owned(),
        reason,
    };
    let key_columns: Vec<String> = match &spec.key_columns {
        Some(keys) => keys.clone(),
        None => table.tags().map(str::to_owned).collect(),
    };
    check_distinct_names(&key_columns, "key column").map_err(invalid)?;
    for key in &key_columns {
        let kind = column_kind(table, key).map_err(invalid)?;
        if !is_key_type(kind) {
            return Err(invalid(format!(
                "key column {key:?} is a float field: key columns must be tags or string, \
                 integer, unsigned integer or boolean fields"
            )));
        }
    }
    let value_columns = match &spec.value_columns {
        None => None,
        Some(values) => {
            let values: Vec<String> = values.iter().filter(|v| *v != "time").cloned().collect();
            check_distinct_names(&values, "value column").map_err(invalid)?;
            for value in &values {
                column_kind(table, value).map_err(invalid)?;
                if key_columns.contains(value) {
                    return Err(invalid(format!(
                        "column {value:?} is both a key and a value column"
                    )));
                }
            }
            Some(values)
        }
    };
    let count = spec.count.unwrap_or(1);
    if !(1..=MAX_LAST_COUNT).contains(&count) {
        return Err(invalid(format!(
            "count {count} is out of range: it must be 1 to {MAX_LAST_COUNT}"
        )));
    }
    let ttl_secs = spec.ttl.unwrap_or(DEFAULT_TTL).as_secs();
    if ttl_secs == 0 {
        return Err(invalid("ttl must be at least 1 second".to_owned()));
    }
    let name = match &spec.name {
        Some(name) => name.clone(),
        None => default_name(table_name, &key_columns, "last_cache"),
    };
    check_cache_name(&name).map_err(invalid)?;
    Ok((
        name,
        LastCacheDef {
            key_columns,
            value_columns,
            count,
            ttl_secs,
        },
    ))
}

/// The name and definition of the distinct cache `spec` asks for on `table`.
///
/// # Errors
/// [`Error::InvalidCache`] naming the column or setting that cannot be used.
pub(crate) fn distinct_cache(
    table_name: &str,
    table: &TableDef,
    spec: &DistinctCacheSpec,
) -> Result<(String, DistinctCacheDef)> {
    let invalid = |reason: String| Error::InvalidCache {
        kind: "distinct",
        table: table_name.to_owned(),
        reason,
    };
    if spec.columns.is_empty() {
        return Err(invalid("columns must name at least one column".to_owned()));
    }
    check_distinct_names(&spec.columns, "column").map_err(invalid)?;
    for column in &spec.columns {
        let kind = column_kind(table, column).map_err(invalid)?;
        if !is_distinct_type(kind) {
            return Err(invalid(format!(
                "column {column:?} is not a tag or string field: distinct caches hold tags \
                 and string fields"
            )));
        }
    }
    let max_cardinality = spec.max_cardinality.unwrap_or(DEFAULT_MAX_CARDINALITY);
    if max_cardinality == 0 {
        return Err(invalid("max_cardinality must be at least 1".to_owned()));
    }
    let max_age_secs = spec.max_age.unwrap_or(DEFAULT_MAX_AGE).as_secs();
    if max_age_secs == 0 {
        return Err(invalid("max_age must be at least 1 second".to_owned()));
    }
    let name = match &spec.name {
        Some(name) => name.clone(),
        None => default_name(table_name, &spec.columns, "distinct_cache"),
    };
    check_cache_name(&name).map_err(invalid)?;
    Ok((
        name,
        DistinctCacheDef {
            columns: spec.columns.clone(),
            max_cardinality,
            max_age_secs,
        },
    ))
}

/// `<table>_<columns joined by _>_<suffix>`, as InfluxDB 3 names caches.
fn default_name(table: &str, columns: &[String], suffix: &str) -> String {
    let mut parts = vec![table.to_owned()];
    parts.extend(columns.iter().cloned());
    parts.push(suffix.to_owned());
    parts.join("_")
}

fn column_kind(table: &TableDef, name: &str) -> Result<ColumnType, String> {
    if name == "time" {
        return Err("column \"time\" cannot be used here".to_owned());
    }
    table
        .columns
        .get(name)
        .copied()
        .ok_or_else(|| format!("column {name:?} does not exist"))
}

fn check_distinct_names(names: &[String], what: &str) -> Result<(), String> {
    let mut seen = HashSet::new();
    match names.iter().find(|n| !seen.insert(n.as_str())) {
        Some(n) => Err(format!("{what} {n:?} is listed twice")),
        None => Ok(()),
    }
}

fn check_cache_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        Err("the cache name must not be empty".to_owned())
    } else if name.len() > 255 {
        Err("the cache name is longer than 255 bytes".to_owned())
    } else if name.chars().any(char::is_control) {
        Err("the cache name contains a control character".to_owned())
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use sluice_lp::FieldType;

    use super::*;

    fn table() -> TableDef {
        let mut t = TableDef::default();
        t.columns.insert("host".into(), ColumnType::Tag);
        t.columns.insert("region".into(), ColumnType::Tag);
        t.columns
            .insert("usage".into(), ColumnType::Field(FieldType::Float));
        t.columns
            .insert("state".into(), ColumnType::Field(FieldType::String));
        t
    }

    #[test]
    fn last_cache_defaults_are_influxdb_3s() {
        let (name, def) = last_cache("cpu", &table(), &LastCacheSpec::default()).unwrap();
        assert_eq!(name, "cpu_host_region_last_cache");
        assert_eq!(def.key_columns, ["host", "region"]);
        assert_eq!(def.value_columns, None);
        assert_eq!((def.count, def.ttl_secs), (1, 4 * 3600));
    }

    #[test]
    fn bad_last_cache_settings_are_refused_naming_what_is_wrong() {
        let cases: [(LastCacheSpec, &str); 6] = [
            (
                LastCacheSpec {
                    key_columns: Some(vec!["nope".into()]),
                    ..Default::default()
                },
                "column \"nope\" does not exist",
            ),
            (
                LastCacheSpec {
                    key_columns: Some(vec!["usage".into()]),
                    ..Default::default()
                },
                "key column \"usage\" is a float field",
            ),
            (
                LastCacheSpec {
                    value_columns: Some(vec!["gone".into()]),
                    ..Default::default()
                },
                "column \"gone\" does not exist",
            ),
            (
                LastCacheSpec {
                    value_columns: Some(vec!["host".into()]),
                    ..Default::default()
                },
                "both a key and a value column",
            ),
            (
                LastCacheSpec {
                    count: Some(11),
                    ..Default::default()
                },
                "count 11 is out of range",
            ),
            (
                LastCacheSpec {
                    ttl: Some(Duration::ZERO),
                    ..Default::default()
                },
                "ttl must be at least 1 second",
            ),
        ];
        for (spec, want) in cases {
            let err = last_cache("cpu", &table(), &spec).unwrap_err().to_string();
            assert!(err.contains(want), "{err} should contain {want}");
        }
    }

    #[test]
    fn distinct_cache_columns_must_be_tags_or_strings() {
        let spec = |columns: &[&str]| DistinctCacheSpec {
            columns: columns.iter().map(|c| (*c).to_owned()).collect(),
            ..Default::default()
        };
        let (name, def) = distinct_cache("cpu", &table(), &spec(&["region", "host"])).unwrap();
        assert_eq!(name, "cpu_region_host_distinct_cache");
        assert_eq!((def.max_cardinality, def.max_age_secs), (100_000, 86_400));
        assert!(distinct_cache("cpu", &table(), &spec(&["state"])).is_ok());
        let err = distinct_cache("cpu", &table(), &spec(&["usage"])).unwrap_err();
        assert!(
            err.to_string()
                .contains("\"usage\" is not a tag or string field")
        );
        let err = distinct_cache("cpu", &table(), &spec(&[])).unwrap_err();
        assert!(err.to_string().contains("at least one column"));
    }
}
