//! Publishing one sluice table: a new Iceberg snapshot listing exactly its live Parquet
//! files, committed to the SQL catalog.
//!
//! The Iceberg library's transactions only append files, so the snapshot is written
//! with its lower-level parts: one manifest marking each file added (new in sluice),
//! existing (listed before) or deleted (compacted, rewritten by a delete or expired),
//! a manifest list, new table metadata, and the catalog row's metadata location
//! swapped from the one read to the new one in a single `UPDATE … WHERE
//! metadata_location = <read>` — the SQL catalog's own optimistic commit, so a
//! concurrent writer makes ours fail (and be retried) instead of being overwritten.

use std::collections::{HashMap, HashSet};
use std::str::FromStr as _;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use iceberg::io::FileIO;
use iceberg::spec::{
    DEFAULT_SCHEMA_NAME_MAPPING, DataContentType, DataFile, DataFileBuilder, DataFileFormat, Datum,
    MAIN_BRANCH, ManifestEntry, ManifestList, ManifestListWriter, ManifestWriterBuilder, Operation,
    Schema, Snapshot, Struct, Summary, TableMetadata,
};
use iceberg::table::Table;
use iceberg::{Catalog, ErrorKind, MetadataLocation, NamespaceIdent, TableCreation, TableIdent};
use iceberg_catalog_sql::SqlCatalog;
use sluice_storage::{LiveFile, Storage, TableFiles};
use sqlx::PgPool;

use crate::error::{Error, Result};
use crate::schema::{evolve, extend, name_mapping_json, same_columns};

/// What publishing a table did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Published {
    /// The Iceberg table already listed exactly these files with this schema.
    Unchanged,
    /// A new snapshot (or schema) was committed.
    Committed,
}

/// The catalog and where tables go, shared by every table's publication.
#[derive(Debug)]
pub(crate) struct Target {
    pub(crate) catalog: SqlCatalog,
    /// The catalog database, for the commit's compare-and-swap.
    pub(crate) pool: PgPool,
    /// The catalog's name (the `catalog_name` column).
    pub(crate) catalog_name: String,
    /// Writes manifests and metadata.
    pub(crate) file_io: FileIO,
    /// `file:///…/iceberg` or `s3://bucket/node/iceberg`: tables are `WAREHOUSE/db/table`.
    pub(crate) warehouse: String,
    /// The object store's URL (`s3://bucket/`), which data file paths start with.
    pub(crate) base: String,
    /// The engine, which says which files are this node's to list or remove.
    pub(crate) storage: Storage,
}

impl Target {
    /// Makes the Iceberg table `files.database`.`files.table` list exactly `files`.
    ///
    /// # Errors
    /// [`Error::Iceberg`] or [`Error::Database`] when the catalog or the object store
    /// fails, [`Error::CommitConflict`] when another writer committed meanwhile.
    pub(crate) async fn publish(&self, files: &TableFiles) -> Result<Published> {
        let namespace = NamespaceIdent::new(files.database.clone());
        let ident = TableIdent::new(namespace.clone(), files.table.clone());
        let table = match self.catalog.load_table(&ident).await {
            Ok(table) => table,
            Err(e) if e.kind() == ErrorKind::TableNotFound => {
                self.create(&namespace, &ident, files).await?
            }
            Err(e) => return Err(e.into()),
        };
        self.sync(&table, files).await
    }

    /// Removes the Iceberg table of a sluice table that was dropped (its metadata files
    /// stay; sluice deletes the data files); on a node sharing its bucket, removes this
    /// node's files from it, and the table only when no other node's are in it.
    ///
    /// # Errors
    /// [`Error::Iceberg`] when the catalog fails.
    pub(crate) async fn drop(&self, database: &str, table: &str) -> Result<()> {
        let ident = TableIdent::new(NamespaceIdent::new(database.to_owned()), table.to_owned());
        if self.shared() {
            // Other nodes' files may be in it: only this node's leave, and the table
            // with them if no other node's are left.
            let loaded = match self.catalog.load_table(&ident).await {
                Ok(loaded) => loaded,
                Err(e) if e.kind() == ErrorKind::TableNotFound => return Ok(()),
                Err(e) => return Err(e.into()),
            };
            let (listed, _) = self.live_entries(loaded.metadata()).await?;
            if listed.keys().any(|path| !self.owns(path)) {
                let none = TableFiles {
                    database: database.to_owned(),
                    table: table.to_owned(),
                    schema: Arc::new(arrow::datatypes::Schema::empty()),
                    files: Vec::new(),
                };
                return self.sync(&loaded, &none).await.map(|_| ());
            }
        }
        match self.catalog.drop_table(&ident).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == ErrorKind::TableNotFound => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    async fn create(
        &self,
        namespace: &NamespaceIdent,
        ident: &TableIdent,
        files: &TableFiles,
    ) -> Result<Table> {
        match self
            .catalog
            .create_namespace(namespace, HashMap::new())
            .await
        {
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::NamespaceAlreadyExists => {}
            Err(e) => return Err(e.into()),
        }
        let schema = evolve(&files.schema, None, 0)?;
        let mapping = name_mapping_json(&schema, None)?;
        let creation = TableCreation::builder()
            .name(ident.name().to_owned())
            .location(format!(
                "{}/{}/{}",
                self.warehouse,
                path_segment(&files.database),
                path_segment(&files.table)
            ))
            .schema(schema)
            .properties(
                [
                    (DEFAULT_SCHEMA_NAME_MAPPING.to_owned(), mapping),
                    ("sluice.database".to_owned(), files.database.clone()),
                ]
                .into_iter()
                .chain(housekeeping()),
            )
            .build();
        match self.catalog.create_table(namespace, creation).await {
            Ok(table) => Ok(table),
            // Created by another publisher meanwhile: publish over it.
            Err(e) if e.kind() == ErrorKind::TableAlreadyExists => {
                Ok(self.catalog.load_table(ident).await?)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Whether the data file at `url` is this node's to list or remove: on nodes sharing
    /// a bucket, each publishes its own files into the one table of a sluice table and
    /// keeps the others' (see `Storage::owns_object`).
    fn owns(&self, url: &str) -> bool {
        url.strip_prefix(&self.base)
            .is_none_or(|path| self.storage.owns_object(path))
    }

    /// Whether other nodes may publish into the same tables (a cloud node's).
    fn shared(&self) -> bool {
        !self.storage.object_prefix().is_empty()
    }

    async fn sync(&self, table: &Table, files: &TableFiles) -> Result<Published> {
        let metadata = table.metadata();
        let current_schema = metadata.current_schema();
        let schema = if self.shared() {
            extend(&files.schema, current_schema, metadata.last_column_id())?
        } else {
            evolve(
                &files.schema,
                Some(current_schema),
                metadata.last_column_id(),
            )?
        };
        let schema_changed = !same_columns(&schema, current_schema);
        let (listed, current_files) = self.live_entries(metadata).await?;
        let wanted: HashMap<&str, &LiveFile> =
            files.files.iter().map(|f| (f.url.as_str(), f)).collect();
        let mine: Vec<&String> = listed.keys().filter(|path| self.owns(path)).collect();
        let files_changed = mine.len() != wanted.len()
            || mine.iter().any(|path| !wanted.contains_key(path.as_str()));
        if !files_changed && !schema_changed {
            return Ok(Published::Unchanged);
        }
        let location = table.metadata_location_result()?.to_owned();
        let mut builder = metadata.clone().into_builder(Some(location.clone()));
        // Tables created before sluice kept its metadata files in check get the settings.
        let missing: HashMap<String, String> = housekeeping()
            .filter(|(k, _)| !metadata.properties().contains_key(k))
            .collect();
        if !missing.is_empty() {
            builder = builder.set_properties(missing)?;
        }
        if schema_changed {
            let mapping = name_mapping_json(
                &schema,
                metadata
                    .properties()
                    .get(DEFAULT_SCHEMA_NAME_MAPPING)
                    .map(String::as_str),
            )?;
            builder = builder
                .add_current_schema(schema.clone())?
                .set_properties(HashMap::from([(
                    DEFAULT_SCHEMA_NAME_MAPPING.to_owned(),
                    mapping,
                )]))?;
        }
        let mut obsolete = Vec::new();
        if files_changed || metadata.current_snapshot().is_none() {
            let snapshot = self
                .write_snapshot(metadata, &schema, &listed, &files.files)
                .await?;
            // Only the new snapshot stays: older ones list files sluice deletes once this
            // one is published, so they could not be read anyway.
            let older: Vec<i64> = metadata.snapshots().map(|s| s.snapshot_id()).collect();
            builder = builder
                .set_branch_snapshot(snapshot, MAIN_BRANCH)?
                .remove_snapshots(&older);
            obsolete = current_files;
        }
        let built = builder.build()?;
        let new_metadata = built.metadata;
        obsolete.extend(
            built
                .expired_metadata_logs
                .into_iter()
                .map(|log| log.metadata_file),
        );
        let new_location = MetadataLocation::from_str(&location)?
            .with_next_version()
            .with_new_metadata(&new_metadata);
        new_metadata.write_to(&self.file_io, &new_location).await?;
        self.swap(table.identifier(), &location, &new_location.to_string())
            .await?;
        // The replaced snapshot's manifest list and manifests, and metadata files older
        // than the ones kept: no current reader needs them. A failed delete leaves a file
        // behind, nothing worse.
        for path in obsolete {
            if let Err(e) = self.file_io.delete(&path).await {
                tracing::debug!(
                    path,
                    "deleting an obsolete Iceberg metadata file failed: {e}"
                );
            }
        }
        Ok(Published::Committed)
    }

    /// The data files the table's current snapshot lists, by path, and the snapshot's own
    /// files (its manifest list and manifests).
    async fn live_entries(
        &self,
        metadata: &TableMetadata,
    ) -> Result<(HashMap<String, ManifestEntry>, Vec<String>)> {
        let mut out = HashMap::new();
        let Some(snapshot) = metadata.current_snapshot() else {
            return Ok((out, Vec::new()));
        };
        let mut own = vec![snapshot.manifest_list().to_owned()];
        let bytes = self
            .file_io
            .new_input(snapshot.manifest_list())?
            .read()
            .await?;
        let list = ManifestList::parse_with_version(&bytes, metadata.format_version())?;
        for manifest_file in list.entries() {
            own.push(manifest_file.manifest_path.clone());
            let manifest = manifest_file.load_manifest(&self.file_io).await?;
            for entry in manifest.entries() {
                if entry.is_alive() && entry.content_type() == DataContentType::Data {
                    out.insert(entry.file_path().to_owned(), entry.as_ref().clone());
                }
            }
        }
        Ok((out, own))
    }

    /// Writes the manifest and manifest list of a snapshot that lists exactly `files` and
    /// the files of other nodes the current snapshot lists (`listed`: the files it lists),
    /// and returns the snapshot.
    async fn write_snapshot(
        &self,
        metadata: &TableMetadata,
        schema: &Schema,
        listed: &HashMap<String, ManifestEntry>,
        files: &[LiveFile],
    ) -> Result<Snapshot> {
        let snapshot_id = new_snapshot_id(metadata);
        let sequence_number = metadata.next_sequence_number();
        let parent = metadata.current_snapshot_id();
        let commit = uuid::Uuid::new_v4();
        let meta_dir = format!("{}/metadata", metadata.location());
        let spec = metadata.default_partition_spec().as_ref().clone();
        let time_id = schema.field_by_name("time").map(|f| f.id);

        let mut manifests = Vec::new();
        let wanted: HashSet<&str> = files.iter().map(|f| f.url.as_str()).collect();
        let (mut added, mut added_rows, mut removed, mut removed_rows, mut total_rows) =
            (0u64, 0u64, 0u64, 0u64, 0u64);
        let mut kept = 0usize;
        if !files.is_empty() || !listed.is_empty() {
            let output = self
                .file_io
                .new_output(format!("{meta_dir}/{commit}-m0.avro"))?;
            let mut writer = ManifestWriterBuilder::new(
                output,
                Some(snapshot_id),
                Arc::new(schema.clone()),
                spec,
            )
            .build_v2_data();
            for file in files {
                total_rows += file.rows;
                match listed.get(&file.url) {
                    Some(entry) => writer.add_existing_file(
                        entry.data_file.clone(),
                        entry.snapshot_id.unwrap_or(snapshot_id),
                        entry.sequence_number.unwrap_or(sequence_number),
                        entry.file_sequence_number,
                    )?,
                    None => {
                        added += 1;
                        added_rows += file.rows;
                        writer.add_file(
                            data_file(file, time_id, metadata.default_partition_spec_id())?,
                            sequence_number,
                        )?
                    }
                }
            }
            for (path, entry) in listed {
                if wanted.contains(path.as_str()) {
                    continue;
                }
                if !self.owns(path) {
                    // Another node's: kept as it is.
                    kept += 1;
                    total_rows += entry.record_count();
                    writer.add_existing_file(
                        entry.data_file.clone(),
                        entry.snapshot_id.unwrap_or(snapshot_id),
                        entry.sequence_number.unwrap_or(sequence_number),
                        entry.file_sequence_number,
                    )?;
                } else {
                    removed += 1;
                    removed_rows += entry.record_count();
                    writer.add_delete_file(
                        entry.data_file.clone(),
                        entry.sequence_number.unwrap_or(0),
                        entry.file_sequence_number,
                    )?;
                }
            }
            manifests.push(writer.write_manifest_file().await?);
        }
        let list_path = format!("{meta_dir}/snap-{snapshot_id}-1-{commit}.avro");
        let mut list = ManifestListWriter::v2(
            self.file_io.new_output(&list_path)?.writer().await?,
            snapshot_id,
            parent,
            sequence_number,
        );
        list.add_manifests(manifests.into_iter())?;
        list.close().await?;

        let operation = match (added, removed) {
            (_, 0) => Operation::Append,
            (0, _) => Operation::Delete,
            _ => Operation::Overwrite,
        };
        let summary = Summary {
            operation,
            additional_properties: HashMap::from([
                ("added-data-files".to_owned(), added.to_string()),
                ("added-records".to_owned(), added_rows.to_string()),
                ("deleted-data-files".to_owned(), removed.to_string()),
                ("deleted-records".to_owned(), removed_rows.to_string()),
                (
                    "total-data-files".to_owned(),
                    (files.len() + kept).to_string(),
                ),
                ("total-records".to_owned(), total_rows.to_string()),
                ("total-delete-files".to_owned(), "0".to_owned()),
            ]),
        };
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            // A snapshot must not be older than the table's last update.
            .max(metadata.last_updated_ms());
        Ok(Snapshot::builder()
            .with_snapshot_id(snapshot_id)
            .with_parent_snapshot_id(parent)
            .with_sequence_number(sequence_number)
            .with_timestamp_ms(now_ms)
            .with_manifest_list(list_path)
            .with_summary(summary)
            .build())
    }

    /// Points the catalog's row for `ident` at `new` if it still points at `old`.
    async fn swap(&self, ident: &TableIdent, old: &str, new: &str) -> Result<()> {
        let done = sqlx::query(
            "UPDATE iceberg_tables SET metadata_location = $1, previous_metadata_location = $2 \
             WHERE catalog_name = $3 AND table_namespace = $4 AND table_name = $5 \
             AND metadata_location = $2",
        )
        .bind(new)
        .bind(old)
        .bind(&self.catalog_name)
        .bind(ident.namespace().join("."))
        .bind(ident.name())
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Err(Error::CommitConflict {
                table: format!("{}.{}", ident.namespace().join("."), ident.name()),
            });
        }
        Ok(())
    }
}

/// Table properties that keep the metadata files in check: each commit drops the
/// metadata files beyond the newest ten (sluice deletes the files it drops itself).
fn housekeeping() -> impl Iterator<Item = (String, String)> {
    [
        ("write.metadata.delete-after-commit.enabled", "true"),
        ("write.metadata.previous-versions-max", "10"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
}

/// The Iceberg data file for a sluice Parquet file: unpartitioned, with the time bounds
/// (in microseconds, widened outwards) so readers can skip it for time ranges.
fn data_file(file: &LiveFile, time_id: Option<i32>, spec_id: i32) -> Result<DataFile> {
    let mut builder = DataFileBuilder::default();
    builder
        .content(DataContentType::Data)
        .file_path(file.url.clone())
        .file_format(DataFileFormat::Parquet)
        .partition(Struct::empty())
        .partition_spec_id(spec_id)
        .record_count(file.rows)
        .file_size_in_bytes(file.bytes);
    if let Some(id) = time_id {
        builder
            .lower_bounds(HashMap::from([(
                id,
                Datum::timestamp_micros(file.min_time.div_euclid(1000)),
            )]))
            .upper_bounds(HashMap::from([(
                id,
                Datum::timestamp_micros(ceil_div(file.max_time, 1000)),
            )]));
    }
    builder
        .build()
        .map_err(|e| Error::Config(format!("data file {}: {e}", file.url)))
}

fn ceil_div(a: i64, b: i64) -> i64 {
    let q = a.div_euclid(b);
    if a.rem_euclid(b) == 0 { q } else { q + 1 }
}

/// A snapshot id (positive, random) the table has not used.
fn new_snapshot_id(metadata: &TableMetadata) -> i64 {
    loop {
        let (high, low) = uuid::Uuid::new_v4().as_u64_pair();
        let id = ((high ^ low) & (i64::MAX as u64)) as i64;
        if id != 0 && metadata.snapshot_by_id(id).is_none() {
            return id;
        }
    }
}

/// A database or table name as one segment of the table's location, safe in a URL
/// path: a name of ASCII letters, digits, `_`, `-` and `.` as it is; any other (`db/rp`,
/// spaces, `%`) with those characters replaced by `_` and a hash of the name appended,
/// so that two names never share a location.
fn path_segment(name: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.');
    if name.chars().all(safe) && !name.starts_with('.') {
        return name.to_owned();
    }
    // FNV-1a: stable across builds, unlike the standard library's hasher.
    let hash = name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    let cleaned: String = name
        .chars()
        .map(|c| if safe(c) { c } else { '_' })
        .collect();
    format!("{cleaned}-{:08x}", hash as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_bounds_widen_to_whole_microseconds() {
        assert_eq!(ceil_div(1_500, 1000), 2);
        assert_eq!(ceil_div(2_000, 1000), 2);
        assert_eq!(ceil_div(-1_500, 1000), -1);
        assert_eq!((-1_500i64).div_euclid(1000), -2);
    }

    #[test]
    fn names_become_distinct_url_safe_location_segments() {
        assert_eq!(path_segment("cpu"), "cpu");
        let rp = path_segment("db/rp");
        assert!(rp.starts_with("db_rp-") && !rp.contains('/'), "{rp}");
        assert_ne!(path_segment("db rp"), path_segment("db/rp"));
        assert_ne!(path_segment(".."), "..");
    }
}
