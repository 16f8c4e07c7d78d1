//! Sluice's Arrow table schema as an Iceberg schema: column types, stable field ids, and
//! the name mapping that lets readers find the columns of Parquet files without ids.
//!
//! Sluice's Parquet files carry no Iceberg field ids; readers match their columns by
//! name through the table property `schema.name-mapping.default`. A column keeps its
//! field id for life (matched by name and type), so a schema that gains columns is a new
//! Iceberg schema with the old ids plus new ones.

use std::collections::HashMap;

use arrow::datatypes::{DataType, Schema as ArrowSchema, TimeUnit};
use iceberg::spec::{
    MappedField, NameMapping, NestedField, NestedFieldRef, PrimitiveType, Schema, Type,
};

use crate::error::{Error, Result};

/// The Iceberg type of a sluice column of Arrow type `data_type`:
/// - tags (`Dictionary(_, Utf8)`) and string fields: `string`;
/// - float fields: `double`; integer fields: `long`; booleans: `boolean`;
/// - unsigned integer fields: `long` (Iceberg has no unsigned type; values above
///   2^63 - 1 do not fit, see docs/iceberg.md);
/// - `time` (`Timestamp(Nanosecond, None)`): `timestamp` (microseconds, no zone; format
///   version 2 has no nanosecond type, so readers see the time truncated to the
///   microsecond).
pub(crate) fn iceberg_type(data_type: &DataType) -> Option<PrimitiveType> {
    Some(match data_type {
        DataType::Dictionary(_, value) => return iceberg_type(value),
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => PrimitiveType::String,
        DataType::Float64 => PrimitiveType::Double,
        DataType::Int64 | DataType::UInt64 => PrimitiveType::Long,
        DataType::Boolean => PrimitiveType::Boolean,
        DataType::Timestamp(TimeUnit::Nanosecond | TimeUnit::Microsecond, None) => {
            PrimitiveType::Timestamp
        }
        _ => return None,
    })
}

/// The Iceberg schema for `arrow`, reusing the field id of each column `current` (the
/// table's schema so far, if any) has with the same name and type, and numbering new
/// columns after `last_column_id`. `time` is required, every other column optional.
///
/// # Errors
/// [`Error::Config`] for a column type sluice does not write.
pub(crate) fn evolve(
    arrow: &ArrowSchema,
    current: Option<&Schema>,
    last_column_id: i32,
) -> Result<Schema> {
    let mut next_id = last_column_id;
    let mut fields: Vec<NestedFieldRef> = Vec::with_capacity(arrow.fields().len());
    for field in arrow.fields() {
        let kind = iceberg_type(field.data_type()).ok_or_else(|| {
            Error::Config(format!(
                "column {} has type {}, which has no Iceberg type",
                field.name(),
                field.data_type()
            ))
        })?;
        let existing = current
            .and_then(|s| s.field_by_name(field.name()))
            .filter(|f| *f.field_type == Type::Primitive(kind.clone()));
        let id = match existing {
            Some(f) => f.id,
            None => {
                next_id += 1;
                next_id
            }
        };
        let nested = if field.name() == "time" {
            NestedField::required(id, field.name(), Type::Primitive(kind))
        } else {
            NestedField::optional(id, field.name(), Type::Primitive(kind))
        };
        fields.push(nested.into());
    }
    Ok(Schema::builder().with_fields(fields).build()?)
}

/// `current` (a table's schema that nodes share) with the columns of `arrow` it lacks
/// added after its own, as [`evolve`] numbers them; a column of `current` that `arrow`
/// has with another type is replaced. A column only another node's files hold stays, so
/// nodes publishing the same table each add theirs and none removes another's.
pub(crate) fn extend(arrow: &ArrowSchema, current: &Schema, last_column_id: i32) -> Result<Schema> {
    let mine = evolve(arrow, Some(current), last_column_id)?;
    let mine_fields = mine.as_struct().fields();
    let mut fields: Vec<NestedFieldRef> = current
        .as_struct()
        .fields()
        .iter()
        .filter(|c| mine_fields.iter().all(|m| m.name != c.name || m.id == c.id))
        .cloned()
        .collect();
    for field in mine_fields {
        if !fields.iter().any(|c| c.id == field.id) {
            fields.push(field.clone());
        }
    }
    Ok(Schema::builder().with_fields(fields).build()?)
}

/// Whether two schemas have the same columns (ids, names, types), whatever their ids.
pub(crate) fn same_columns(a: &Schema, b: &Schema) -> bool {
    a.as_struct().fields() == b.as_struct().fields()
}

/// The name mapping (as the JSON of `schema.name-mapping.default`) for every column of
/// `schema`, plus the names of `previous` (the mapping so far) whose ids `schema` no
/// longer has, so that older files still map.
pub(crate) fn name_mapping_json(schema: &Schema, previous: Option<&str>) -> Result<String> {
    let mut by_id: HashMap<i32, String> = HashMap::new();
    if let Some(previous) = previous.and_then(|p| serde_json::from_str::<NameMapping>(p).ok()) {
        for field in previous.fields() {
            if let (Some(id), Some(name)) = (field.field_id(), field.names().first()) {
                by_id.insert(id, name.clone());
            }
        }
    }
    for field in schema.as_struct().fields() {
        by_id.insert(field.id, field.name.clone());
    }
    let mut ids: Vec<_> = by_id.into_iter().collect();
    ids.sort();
    let mapping = NameMapping::new(
        ids.into_iter()
            .map(|(id, name)| MappedField::new(Some(id), vec![name], Vec::new()))
            .collect(),
    );
    serde_json::to_string(&mapping).map_err(|e| Error::Config(e.to_string()))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::datatypes::Field;

    use super::*;

    fn sluice_schema(extra: &[(&str, DataType)]) -> ArrowSchema {
        let tag = DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8));
        let mut fields = vec![Field::new("host", tag, true)];
        fields.extend(extra.iter().map(|(n, t)| Field::new(*n, t.clone(), true)));
        fields.push(Field::new(
            "time",
            DataType::Timestamp(TimeUnit::Nanosecond, None),
            false,
        ));
        ArrowSchema::new(fields)
    }

    #[test]
    fn every_sluice_column_type_has_an_iceberg_type() {
        let cases = [
            (DataType::Float64, PrimitiveType::Double),
            (DataType::Int64, PrimitiveType::Long),
            (DataType::UInt64, PrimitiveType::Long),
            (DataType::Utf8, PrimitiveType::String),
            (DataType::Boolean, PrimitiveType::Boolean),
            (
                DataType::Timestamp(TimeUnit::Nanosecond, None),
                PrimitiveType::Timestamp,
            ),
        ];
        for (arrow, iceberg) in cases {
            assert_eq!(iceberg_type(&arrow), Some(iceberg), "{arrow}");
        }
        assert_eq!(iceberg_type(&DataType::Int8), None);
    }

    #[test]
    fn a_new_column_gets_a_new_id_and_old_columns_keep_theirs() {
        let first = evolve(&sluice_schema(&[("usage", DataType::Float64)]), None, 0).unwrap();
        let ids = |s: &Schema| {
            s.as_struct()
                .fields()
                .iter()
                .map(|f| (f.name.clone(), f.id))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            ids(&first),
            [("host".into(), 1), ("usage".into(), 2), ("time".into(), 3)]
        );
        assert!(first.field_by_name("time").unwrap().required);
        let grown = sluice_schema(&[("idle", DataType::Int64), ("usage", DataType::Float64)]);
        let second = evolve(&grown, Some(&first), first.highest_field_id()).unwrap();
        assert_eq!(
            ids(&second),
            [
                ("host".into(), 1),
                ("idle".into(), 4),
                ("usage".into(), 2),
                ("time".into(), 3)
            ]
        );
        assert!(!same_columns(&first, &second));
        let again = evolve(&grown, Some(&second), 4).unwrap();
        assert!(same_columns(&second, &again));
    }

    #[test]
    fn the_name_mapping_keeps_names_of_columns_gone_from_the_schema() {
        let first = evolve(&sluice_schema(&[("a", DataType::Utf8)]), None, 0).unwrap();
        let json = name_mapping_json(&first, None).unwrap();
        let second = evolve(&sluice_schema(&[]), Some(&first), 3).unwrap();
        let json = name_mapping_json(&second, Some(&json)).unwrap();
        let mapping: NameMapping = serde_json::from_str(&json).unwrap();
        let names: Vec<_> = mapping
            .fields()
            .iter()
            .map(|f| (f.field_id(), f.names().to_vec()))
            .collect();
        assert_eq!(
            names,
            [
                (Some(1), vec!["host".to_owned()]),
                (Some(2), vec!["a".to_owned()]),
                (Some(3), vec!["time".to_owned()])
            ]
        );
        let _ = Arc::new(second);
    }
}
