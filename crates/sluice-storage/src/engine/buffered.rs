//! What an ingest node answers a query node's `--ingest-peers` request with: a table's
//! rows still only in its memory, and the manifest those rows complete.
//!
//! ```text
//!   ingest node n1:  active buffer ─┐
//!                    frozen buffers ├─ one snapshot under the state lock ──► BufferedRows
//!                    unpublished    ┘  with published_seq                    { node n1, seq }
//! ```
//!
//! **Consistency.** Every row this node acknowledged is either in the snapshot or in the
//! files of the bucket's manifest with `persisted_seq >= published_seq`: persistence keeps
//! the buffers it wrote (`State::unpublished`) until that manifest is in the bucket, and
//! the publication drops them and raises `published_seq` in one step under the same lock
//! the snapshot takes. A query node whose copy of this node's manifest is older than
//! `published_seq` reads the manifest again before it answers (`ingest_peers`).

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;

use super::{Storage, blocking};
use crate::buffer::PartitionBuffer;
use crate::error::{Error, Result};
use crate::merge::TableSchema;

/// A table's rows buffered on one node, oldest write first.
#[derive(Debug, Clone)]
pub struct BufferedRows {
    /// The node's id (its prefix in the bucket); `None` without a cloud store.
    pub node_id: Option<String>,
    /// The `persisted_seq` of the manifest in the bucket that these rows complete (see
    /// the module docs); `None` while the node has published nothing since it started,
    /// when the rows it persisted just before may be in neither.
    pub published_seq: Option<u64>,
    /// The table's columns: tags (dictionary), fields, `time`.
    pub schema: SchemaRef,
    /// Each batch sorted by series then time, one row per series and time; a later
    /// batch holds later writes (where two hold a series and time, the later one wins
    /// field by field).
    pub batches: Vec<RecordBatch>,
}

impl Storage {
    /// The rows of `table` in `db` this node holds in memory (written, not yet in a
    /// manifest in the bucket), within `time_range` (`[start, end)` in nanoseconds) when
    /// set, with the manifest they complete (see the module docs). Files are not read.
    /// A database or table this node does not have holds no rows here (other nodes may
    /// have it): the answer is empty, with no columns.
    ///
    /// # Errors
    /// [`Error::Arrow`].
    pub async fn buffered_rows(
        &self,
        db: &str,
        table: &str,
        time_range: Option<(i64, i64)>,
    ) -> Result<BufferedRows> {
        let inner = &self.inner;
        let (db_id, first_kept_day, schema) = match inner.table_to_scan(db, table) {
            Ok(found) => found,
            Err(Error::DatabaseNotFound { .. } | Error::TableNotFound { .. }) => {
                (u32::MAX, i64::MAX, TableSchema::default())
            }
            Err(e) => return Err(e),
        };
        let cloud = inner.node.is_some();
        let state = inner.state.clone();
        let table = table.to_owned();
        let arrow_schema = schema.arrow_schema();
        // Copying rows out is CPU work under the state lock: off the async workers.
        let snapshot = move || -> Result<(Option<u64>, Vec<RecordBatch>)> {
            let state = state.read();
            let published_seq = if cloud {
                state.published_seq
            } else {
                Some(state.manifest.persisted_seq)
            };
            let parts: Vec<&PartitionBuffer> = state
                .unpublished
                .iter()
                .chain(&state.frozen)
                .map(|f| &f.buffer)
                .chain([&state.active])
                .filter_map(|b| b.table(db_id, &table))
                .flat_map(|tb| tb.partitions.iter())
                .filter(|(day, p)| {
                    **day >= first_kept_day
                        && time_range.is_none_or(|(s, e)| p.max_time >= s && p.min_time < e)
                })
                .map(|(_, p)| p)
                .collect();
            let mut batches = Vec::new();
            for part in parts {
                if let Some(b) = part.to_batch_last(&schema, time_range, &[], None)? {
                    batches.push(b);
                }
            }
            Ok((published_seq, batches))
        };
        let (published_seq, batches) = blocking("buffer snapshot", snapshot).await?;
        Ok(BufferedRows {
            node_id: inner
                .node
                .as_ref()
                .map(|n| n.prefix.trim_end_matches('/').to_owned()),
            published_seq,
            schema: arrow_schema,
            batches,
        })
    }
}
