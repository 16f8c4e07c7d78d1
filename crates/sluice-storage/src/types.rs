//! Plain data types of the public API: write options and outcomes, catalog views, scans, metrics.

use std::time::Duration;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
pub use sluice_lp::FieldType;

use crate::rejection::Rejection;

/// Options of one [`crate::Storage::write`] call.
#[derive(Debug, Clone, Copy, Default)]
pub struct WriteOptions {
    /// Acknowledge once the batch reached the operating system, without waiting for an
    /// fdatasync (see the crate docs for what can be lost). Default false.
    pub no_sync: bool,
    /// Write the accepted lines even when some lines are rejected. When false, a batch
    /// with any rejected line writes nothing. Default false (the server passes true).
    pub accept_partial: bool,
}

/// What a write did.
#[derive(Debug, Default, Clone)]
pub struct WriteOutcome {
    /// Lines written.
    pub accepted: usize,
    /// Lines not written, with why.
    pub rejected: Vec<RejectedLine>,
}

/// One line a write rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RejectedLine {
    /// The line's 1-based number in the request body.
    pub line_number: usize,
    /// Why; displays as the APIs say it, e.g. `field type conflict: field "f" on table
    /// "t" is float, got integer`.
    pub reason: Rejection,
}

/// A database as [`crate::Storage::databases`] lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatabaseInfo {
    pub name: String,
    /// Data older than this is dropped (by whole UTC days); `None` keeps data forever.
    pub retention: Option<Duration>,
}

/// A retention policy as [`crate::Storage::retention_policies`] lists it.
///
/// Each policy of database `D` is stored in a storage database of its own: the policy
/// `D` was created with in `D` itself, every other policy `r` in `D/r`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetentionPolicyInfo {
    pub name: String,
    /// Data older than this is dropped (by whole UTC days); `None` keeps data forever.
    pub duration: Option<Duration>,
    /// The shard group duration InfluxDB 1.x would use (shown, not used: sluice
    /// partitions by UTC day).
    pub shard_group_duration: Duration,
    /// The replication factor given (shown, not used: sluice keeps one copy).
    pub replication: u32,
    /// Whether writes and queries that name no policy use this one.
    pub default: bool,
    /// The storage database holding the policy's data (`D` or `D/r`).
    pub storage_database: String,
}

/// The settings of a new retention policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetentionPolicySpec {
    /// `None` keeps data forever. Default `None`.
    pub duration: Option<Duration>,
    /// `None`: from the duration, as InfluxDB 1.x computes it (under 2 days: 1 h; under
    /// 180 days: 1 day; longer or forever: 7 days). Values under 1 h become 1 h.
    /// Default `None`.
    pub shard_group_duration: Option<Duration>,
    /// Default 1.
    pub replication: u32,
}

impl Default for RetentionPolicySpec {
    fn default() -> Self {
        RetentionPolicySpec {
            duration: None,
            shard_group_duration: None,
            replication: 1,
        }
    }
}

/// Changes to a retention policy; `None` leaves a setting alone. The default changes
/// nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RetentionPolicyUpdate {
    /// `Some(None)`: keep forever.
    pub duration: Option<Option<Duration>>,
    pub shard_group_duration: Option<Duration>,
    pub replication: Option<u32>,
    /// Make it the database's default policy.
    pub make_default: bool,
}

/// A table and its columns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableInfo {
    pub name: String,
    /// Tags sorted by name, then fields sorted by name, then `time` (the scan order).
    pub columns: Vec<ColumnInfo>,
}

/// One column of a table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnInfo {
    pub name: String,
    pub kind: ColumnKind,
}

/// What a column holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnKind {
    /// A tag: `Dictionary(Int32, Utf8)` in scans.
    Tag,
    /// A field of one type: Float64, Int64, UInt64, Utf8 or Boolean in scans.
    Field(FieldType),
    /// The timestamp: `Timestamp(Nanosecond, None)` in scans.
    Time,
}

/// What [`crate::Storage::scan`] reads.
#[derive(Debug, Clone, Default)]
pub struct ScanRequest {
    /// `[start, end)` in nanoseconds since the epoch; `None` for all time.
    pub time_range: Option<(i64, i64)>,
    /// Only rows that every one of these matches.
    pub tag_matches: Vec<TagMatch>,
    /// Only these columns, in this order (unknown names are skipped); `None` for all
    /// columns in table order.
    pub projection: Option<Vec<String>>,
    /// The most bytes of rows (Arrow's count) the scan may hold at once, its merge
    /// included: it stops with [`crate::Error::ScanTooLarge`] as soon as it would hold
    /// more, instead of reading everything first. `None` for no bound.
    pub max_bytes: Option<usize>,
    /// Rows that match none of these may be left out: the scan drops them where that is
    /// cheap and gives the same answer (each source's rows as they are decoded, when no
    /// two sources can hold the same point, so no merge could combine a dropped row with
    /// a kept one), and returns them otherwise. Callers check their condition anyway.
    pub field_filters: Vec<FieldFilter>,
    /// The caller does not need the rows sorted by series: sources that cannot hold the
    /// same point (files and buffered partitions whose times do not overlap, say two
    /// days) then come one after another in time order, each sorted by series then
    /// time, instead of being merged, and only projected and predicate tags are read.
    /// Each series' rows still come in time order. `false` (the default): sorted as
    /// [`ScanResult`] says.
    pub any_order: bool,
}

/// A comparison of a numeric field with a number, as `usage_user > 90` in a `WHERE`
/// clause: a row matches when the field has a value that compares so. A row without a
/// value for the field matches none; an integer field is compared with an integer as
/// integers, with a float as floats (as InfluxQL compares them); other fields are not
/// filtered.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldFilter {
    /// The field's name.
    pub field: String,
    /// How the field's value must compare with `value`.
    pub op: Comparison,
    /// The number compared with.
    pub value: Number,
}

/// How a [`FieldFilter`]'s field must compare with its number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparison {
    /// Less than.
    Lt,
    /// Less than or equal.
    LtEq,
    /// Greater than.
    Gt,
    /// Greater than or equal.
    GtEq,
    /// Equal.
    Eq,
}

/// A [`FieldFilter`]'s number.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Number {
    Float(f64),
    Integer(i64),
}

/// A scan's tag predicate: the rows whose tag `key` has one of a set of values
/// (`host = 'a'`, or `host = 'a' OR host = 'b'`). A row without the tag, or a table
/// without it, matches no value.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TagMatch {
    key: String,
    /// Sorted, without duplicates.
    values: Vec<String>,
}

impl TagMatch {
    /// The rows whose tag `key` equals `value`.
    pub fn equals(key: impl Into<String>, value: impl Into<String>) -> TagMatch {
        TagMatch {
            key: key.into(),
            values: vec![value.into()],
        }
    }

    /// The rows whose tag `key` equals any of `values` (none when `values` is empty).
    pub fn one_of(key: impl Into<String>, values: impl IntoIterator<Item = String>) -> TagMatch {
        let mut values: Vec<String> = values.into_iter().collect();
        values.sort_unstable();
        values.dedup();
        TagMatch {
            key: key.into(),
            values,
        }
    }

    /// The tag's name.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The values matched, sorted.
    pub fn values(&self) -> &[String] {
        &self.values
    }

    /// Whether a row whose tag holds `value` (`None`: no value) matches.
    pub fn matches(&self, value: Option<&str>) -> bool {
        value.is_some_and(|v| {
            self.values
                .binary_search_by(|probe| probe.as_str().cmp(v))
                .is_ok()
        })
    }

    /// Whether some value in `[min, max]` (as bytes) could match.
    pub fn may_match_range(&self, min: &[u8], max: &[u8]) -> bool {
        self.values
            .iter()
            .any(|v| min <= v.as_bytes() && v.as_bytes() <= max)
    }
}

/// What [`crate::Storage::delete`] removes: the rows of `table` (every table when `None`)
/// in `time_range` whose series match `tag_predicate`. The default deletes every row of
/// every table (the tables stay in the catalog unless `drop_emptied_tables`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DeleteRequest {
    /// The table; `None` for every table of the database.
    pub table: Option<String>,
    /// `[start, end)` in nanoseconds since the epoch; `None` for all time.
    pub time_range: Option<(i64, i64)>,
    /// Only series matching this; `None` for every series.
    pub tag_predicate: Option<crate::TagPredicate>,
    /// Also drop (as [`crate::Storage::drop_table`] does) each table the delete leaves
    /// without rows, as InfluxDB forgets a measurement whose last series is deleted.
    /// Default false. Not logged: the drops are logged as records of their own.
    pub drop_emptied_tables: bool,
}

/// What a scan of a table would read, known before it runs ([`crate::Storage::scan_extent`]):
/// for choosing how to read, not for answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScanExtent {
    /// About how many bytes of rows the scan holds at its peak: the rows of the live
    /// files and buffered partitions it touches (each counted in the share of its time
    /// span the request's range covers, rows taken as spread evenly), 8 bytes for the
    /// time and for each column read (every tag, since tags name the series rows merge
    /// by, and the projected fields), twice while sources merge.
    pub bytes: u64,
    /// The earliest and latest times of the table's live files and buffered rows, in
    /// nanoseconds: where a scan without a time range finds rows.
    pub first: i64,
    pub last: i64,
}

/// The rows a scan found: one row per (series, time), deduplicated with the newest value
/// of each field winning, sorted by series (tag values in tag-name order) then time
/// (unless the request allowed [`ScanRequest::any_order`]).
#[derive(Debug, Clone)]
pub struct ScanResult {
    pub schema: SchemaRef,
    pub batches: Vec<RecordBatch>,
}

impl ScanResult {
    /// Total rows over all batches.
    pub fn num_rows(&self) -> usize {
        self.batches.iter().map(|b| b.num_rows()).sum()
    }
}

/// A snapshot of the engine's counters.
#[derive(Debug, Clone, Default)]
pub struct StorageMetrics {
    /// Heap bytes the write buffer's rows hold (including rows being persisted).
    pub buffer_bytes: u64,
    /// Lines accepted since start.
    pub lines_written: u64,
    /// Lines rejected since start.
    pub lines_rejected: u64,
    /// WAL fdatasync calls since start.
    pub wal_syncs: u64,
    /// Duration of WAL fdatasync calls.
    pub wal_sync_seconds: Histogram,
    /// With `wal_object_store`: the WAL objects put since start (one per group of
    /// writes) and how long each PUT took, retries included.
    pub wal_put_seconds: Histogram,
    /// Bytes of the WAL objects put since start.
    pub wal_put_bytes: u64,
    /// Requests to the object store, one entry per operation (`put`, `create_upload`,
    /// `upload_part`, `complete_upload`, `abort_upload`, `get`, `delete`, `list`, `copy`). A local store's
    /// files are read in place, without a request.
    pub object_store_requests: Vec<StoreRequestMetrics>,
    /// Parquet files written since start (persistence and compaction).
    pub persisted_files: u64,
    /// Bytes of Parquet files written since start.
    pub persisted_bytes: u64,
    /// Writes refused with [`crate::Error::Backpressure`] since start.
    pub backpressure_events: u64,
    /// Parquet files currently live.
    pub parquet_files: u64,
    /// The files publisher's counters, when one is installed
    /// ([`crate::Storage::set_files_publisher`]).
    pub publisher: Option<crate::PublisherCounts>,
    /// WAL writes, fdatasyncs and segment starts that failed since start (each failure
    /// refuses the writes of its group and puts the WAL in the failed state).
    pub wal_write_errors: u64,
    /// The WAL refuses writes right now (see [`crate::Storage::faults`]).
    pub wal_failing: bool,
    /// Most decoded rows one persistence or compaction held at once since start (the
    /// batches of its sources and the output batch being built): bounded by the number
    /// of files merged, not by the rows in them.
    pub merge_peak_rows: u64,
    /// Most bytes one persistence or compaction held at once since start: its decoded
    /// batches as Arrow counts them plus the Parquet writer's buffered row group.
    pub merge_peak_bytes: u64,
    /// Scans a last-value cache answered instead of storage
    /// ([`crate::Storage::scan_last_values`]) since start.
    pub last_cache_answers: u64,
    /// Tag value lists a distinct-value cache answered instead of a scan
    /// ([`crate::Storage::tag_values_from_cache`]) since start.
    pub distinct_cache_answers: u64,
    /// Requests of a query node to its ingest peers (`--ingest-peers`) that gave no
    /// buffered rows (the peer was down, unreachable or refused) since start.
    pub ingest_peer_failures: u64,
    /// Parquet file footers (with their page and series indexes) queries read because
    /// they were not cached, since start: the cache's misses.
    pub footers_read: u64,
    /// Parquet file footers read into the cache in the background after the start, newest
    /// files first, so the first queries find them (see `Storage::open`).
    pub footers_warmed: u64,
    /// Parquet files whose newest rows per series queries read because they were not
    /// cached (`ORDER BY time DESC LIMIT n` per series, the last point), since start:
    /// that cache's misses.
    pub newest_rows_read: u64,
    /// Parquet files whose newest row of every series (all fields, no condition: the
    /// last point) was read into the cache in the background after the start.
    pub newest_rows_warmed: u64,
}

/// Requests of one operation to the object store since start, as
/// [`StorageMetrics::object_store_requests`] reports them.
#[derive(Debug, Clone)]
pub struct StoreRequestMetrics {
    /// `put`, `create_upload`, `upload_part`, `complete_upload`, `abort_upload`, `get`,
    /// `delete`, `list` or `copy`.
    pub operation: &'static str,
    /// Requests that failed (after the store's own retries).
    pub errors: u64,
    /// How long the requests took, retries included; its count is every request.
    pub seconds: Histogram,
}

/// Part of the storage engine that is failing, as [`crate::Storage::faults`] reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageFault {
    /// `"wal"` (writes are refused), `"persistence"` (buffered data cannot be written
    /// to Parquet; it stays in the buffer and the WAL and is retried) or `"object_store"`
    /// (the object store fails requests; the same, with the store to blame), or on a
    /// query node `"peers"` (the other nodes' catalogs and manifests cannot be read: it
    /// answers from what it read last), or `"publisher"` (the files publisher, an Iceberg
    /// catalog, fails: other engines see older files until it recovers).
    pub component: &'static str,
    /// What is wrong, fit for clients (no file paths).
    pub message: String,
    /// Writes are still accepted: the object store fails, but the buffer has room for
    /// what the WAL acknowledges until it returns.
    pub degraded: bool,
}

/// A cumulative histogram in the Prometheus style.
#[derive(Debug, Clone, Default)]
pub struct Histogram {
    /// `(upper bound in seconds, observations <= bound)`, bounds ascending.
    pub buckets: Vec<(f64, u64)>,
    /// Sum of all observations, in seconds.
    pub sum: f64,
    /// Number of observations.
    pub count: u64,
}

/// What one table holds, as [`crate::Storage::table_usage`] reports it: its live Parquet
/// files (their sizes as the manifest records them) and its rows in the write buffer.
///
/// The write-ahead log is one log for the whole engine, shared by every database, so
/// its bytes are not part of any table's (nor any database's) usage.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TableUsage {
    /// The table's name.
    pub name: String,
    /// Live Parquet files holding the table's rows.
    pub parquet_files: u64,
    /// Bytes of those files on disk (in the object store).
    pub parquet_bytes: u64,
    /// Rows in those files. A point written again after it was persisted counts once
    /// per file holding it until compaction merges the files.
    pub parquet_rows: u64,
    /// Heap bytes the table's buffered rows hold (not yet persisted, or being persisted).
    pub buffer_bytes: u64,
    /// Rows in the write buffer.
    pub buffer_rows: u64,
}

/// One live Parquet file, as [`crate::Storage::parquet_files`] lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParquetFileInfo {
    /// The table whose rows it holds (of one UTC day).
    pub table: String,
    /// Its path in the object store.
    pub path: String,
    /// Its size in bytes.
    pub size_bytes: u64,
    /// Its rows.
    pub row_count: u64,
    /// Its oldest and newest row's time, ns since the epoch.
    pub min_time: i64,
    /// See `min_time`.
    pub max_time: i64,
}

/// What [`crate::Storage::cardinality`] counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardinalityRequest {
    /// Only this table; `None`: every table of the database.
    pub table: Option<String>,
    /// Most entries in each ranking. Default 10.
    pub limit: usize,
    /// Most distinct series counted; past it the counts cover the first series found
    /// and [`Cardinality::truncated`] is set. It bounds the memory used: about 100
    /// bytes per series plus the text of each distinct tag value. Default 1,000,000.
    pub max_series: usize,
}

impl Default for CardinalityRequest {
    fn default() -> Self {
        CardinalityRequest {
            table: None,
            limit: 10,
            max_series: 1_000_000,
        }
    }
}

/// Which tables, tag keys and tag values make the most series: the rankings of
/// [`crate::Storage::cardinality`]. A series is one distinct set of tag values of one
/// table (buffered or persisted, within retention).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cardinality {
    /// Distinct series counted over the tables asked for.
    pub series: u64,
    /// True when counting stopped at [`CardinalityRequest::max_series`].
    pub truncated: bool,
    /// Tables by series, most first.
    pub tables: Vec<TableCardinality>,
    /// Tag keys by their number of distinct values, most first (ties: more series
    /// first, then by table and key).
    pub tag_keys: Vec<TagKeyCardinality>,
    /// Tag values by the series they are in, most first (ties: by table, key, value).
    pub tag_values: Vec<TagValueCardinality>,
}

/// One table's series count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableCardinality {
    pub table: String,
    pub series: u64,
}

/// One tag key of one table: how many distinct values it has and how many of the
/// table's series carry it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagKeyCardinality {
    pub table: String,
    pub key: String,
    pub values: u64,
    pub series: u64,
}

/// One tag value of one table and how many series carry it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagValueCardinality {
    pub table: String,
    pub key: String,
    pub value: String,
    pub series: u64,
}

/// A last-value cache to create (see [`crate::Storage::create_last_cache`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LastCacheSpec {
    pub table: String,
    /// Default `<table>_<key columns joined by _>_last_cache`.
    pub name: Option<String>,
    /// Tags, or string, integer, unsigned or boolean fields. Default: the table's tags
    /// (its series key), by name.
    pub key_columns: Option<Vec<String>>,
    /// Default: every column that is not a key, new ones included as they appear.
    pub value_columns: Option<Vec<String>>,
    /// Rows kept per key combination, 1 to 10. Default 1.
    pub count: Option<usize>,
    /// Rows whose time is older than this are evicted. Default 4 hours.
    pub ttl: Option<Duration>,
}

/// A last-value cache as [`crate::Storage::last_caches`] lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastCacheInfo {
    pub table: String,
    pub name: String,
    pub key_columns: Vec<String>,
    /// `None`: every column that is not a key.
    pub value_columns: Option<Vec<String>>,
    pub count: usize,
    pub ttl: Duration,
}

/// A distinct-value cache to create (see [`crate::Storage::create_distinct_cache`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DistinctCacheSpec {
    pub table: String,
    /// Default `<table>_<columns joined by _>_distinct_cache`.
    pub name: Option<String>,
    /// Tags or string fields, outermost first.
    pub columns: Vec<String>,
    /// Most value combinations held. Default 100,000.
    pub max_cardinality: Option<usize>,
    /// Combinations last seen (by row time) longer ago are evicted. Default 1 day.
    pub max_age: Option<Duration>,
}

/// A distinct-value cache as [`crate::Storage::distinct_caches`] lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DistinctCacheInfo {
    pub table: String,
    pub name: String,
    pub columns: Vec<String>,
    pub max_cardinality: usize,
    pub max_age: Duration,
}

/// What creating a cache did: created it, or found one of that name with the same
/// settings (and left it alone).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Created<T> {
    New(T),
    Existing(T),
}
