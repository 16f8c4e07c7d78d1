//! The WAL in a cloud store (`wal_object_store`): each group of records is one object
//! `node_id/wal/{first seq:020}.wal`, laid out as a segment file (header, then records),
//! put with create-if-absent before any of its records is acknowledged; objects whose
//! records are all persisted are deleted after the manifest covering them is published.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::TryStreamExt;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};
use parking_lot::Mutex;

use super::{HEADER_LEN, MAGIC, VERSION};
use crate::error::Result;

/// A PUT of a WAL object (its retries included) that has not succeeded after this long
/// fails its group: the writes get 503 rather than wait for the store's whole retry
/// budget (minutes by default), and the WAL refuses writes until the store answers.
const PUT_DEADLINE: Duration = Duration::from_secs(10);
/// While the WAL refuses writes after a failed PUT, one attempt to recover (a DELETE of
/// that group's object) gives up after this long, so that refused writes get their 503
/// quickly.
const RECOVER_DEADLINE: Duration = Duration::from_secs(2);

/// The folder under a node's prefix holding its WAL objects.
const FOLDER: &str = "wal/";

/// A WAL object in the store, and the highest sequence number it holds (or an upper
/// bound of it, for one skipped at replay as persisted).
#[derive(Debug, Clone)]
pub(crate) struct WalObject {
    pub(crate) location: ObjectPath,
    pub(crate) last_seq: u64,
}

/// A WAL object read at start-up, to be replayed.
#[derive(Debug)]
pub(crate) struct FetchedObject {
    pub(crate) location: ObjectPath,
    pub(crate) first_seq: u64,
    pub(crate) data: Vec<u8>,
}

/// A node's WAL objects: where they go, and those not yet deleted.
#[derive(Debug)]
pub(crate) struct ObjectWal {
    store: Arc<dyn ObjectStore>,
    /// `node_id/wal/`.
    folder: String,
    /// Objects in the store, oldest first: deleted once persisted.
    written: Mutex<Vec<WalObject>>,
}

impl ObjectWal {
    /// Node `prefix`'s (`node_id/`) WAL objects in `store`.
    pub(crate) fn new(store: Arc<dyn ObjectStore>, prefix: &str) -> ObjectWal {
        ObjectWal {
            store,
            folder: format!("{prefix}{FOLDER}"),
            written: Mutex::new(Vec::new()),
        }
    }

    fn location(&self, first_seq: u64) -> ObjectPath {
        ObjectPath::from(format!("{}{first_seq:020}.wal", self.folder))
    }

    /// Reads the WAL objects that may hold records after `persisted_seq`, oldest first;
    /// those holding only older records are remembered for deletion, unread.
    ///
    /// # Errors
    /// [`crate::Error::ObjectStore`] when the store fails.
    pub(crate) async fn fetch(&self, persisted_seq: u64) -> Result<Vec<FetchedObject>> {
        let listed: Vec<_> = self
            .store
            .list(Some(&ObjectPath::from(self.folder.as_str())))
            .try_collect()
            .await?;
        let mut found: Vec<(u64, ObjectPath)> = listed
            .into_iter()
            .filter_map(|meta| {
                let first_seq = meta
                    .location
                    .filename()?
                    .strip_suffix(".wal")?
                    .parse::<u64>()
                    .ok()?;
                Some((first_seq, meta.location))
            })
            .collect();
        found.sort();
        let mut fetched = Vec::new();
        let mut covered = Vec::new();
        for (i, (first_seq, location)) in found.iter().enumerate() {
            // Sequence numbers grow from object to object: one whose successor starts at
            // or below `persisted_seq + 1` holds nothing newer.
            match found.get(i + 1) {
                Some((next, _)) if *next <= persisted_seq + 1 => covered.push(WalObject {
                    location: location.clone(),
                    last_seq: next - 1,
                }),
                _ => {
                    let data = self.store.get(location).await?.bytes().await?.to_vec();
                    fetched.push(FetchedObject {
                        location: location.clone(),
                        first_seq: *first_seq,
                        data,
                    });
                }
            }
        }
        self.written.lock().extend(covered);
        Ok(fetched)
    }

    /// Remembers replayed objects (with their last sequence numbers) for deletion.
    pub(crate) fn adopt(&self, replayed: impl IntoIterator<Item = WalObject>) {
        let mut written = self.written.lock();
        written.extend(replayed);
        written.sort_by_key(|o| o.last_seq);
    }

    /// Puts the group of records `records` (laid out as in a segment, the first with
    /// sequence number `first_seq`) as a new object, failing if one of that name exists
    /// or if the store has not taken it within [`PUT_DEADLINE`].
    pub(crate) async fn put(
        &self,
        first_seq: u64,
        last_seq: u64,
        records: &[u8],
    ) -> Result<(), (ObjectPath, object_store::Error)> {
        let location = self.location(first_seq);
        let mut body = Vec::with_capacity(HEADER_LEN as usize + records.len());
        body.extend_from_slice(MAGIC);
        body.extend_from_slice(&VERSION.to_le_bytes());
        body.extend_from_slice(&first_seq.to_le_bytes());
        body.extend_from_slice(records);
        let put = self.store.put_opts(
            &location,
            PutPayload::from(body),
            PutOptions::from(PutMode::Create),
        );
        match tokio::time::timeout(PUT_DEADLINE, put).await {
            Ok(Ok(_)) => {
                self.written.lock().push(WalObject { location, last_seq });
                Ok(())
            }
            Ok(Err(e)) => Err((location, e)),
            Err(_) => Err((location, deadline_passed(PUT_DEADLINE))),
        }
    }

    /// Deletes the object a failed PUT may have left (its records were refused, so they
    /// must not come back at replay); succeeding also shows that the store answers again.
    pub(crate) async fn remove_refused(
        &self,
        location: &ObjectPath,
    ) -> Result<(), object_store::Error> {
        // A HEAD first: some S3-compatible servers answer the DELETE of a missing object
        // with an error object_store cannot read.
        let remove = async {
            match self.store.head(location).await {
                Ok(_) => match self.store.delete(location).await {
                    Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
                    Err(e) => Err(e),
                },
                Err(object_store::Error::NotFound { .. }) => Ok(()),
                Err(e) => Err(e),
            }
        };
        tokio::time::timeout(RECOVER_DEADLINE, remove)
            .await
            .unwrap_or_else(|_| Err(deadline_passed(RECOVER_DEADLINE)))
    }

    /// Deletes the objects whose records are all at or below `seq`; those the store
    /// fails to delete are kept for the next call.
    pub(crate) async fn delete_persisted(&self, seq: u64) -> usize {
        let covered: Vec<WalObject> = {
            let mut written = self.written.lock();
            let (covered, kept) = written.drain(..).partition(|o| o.last_seq <= seq);
            *written = kept;
            covered
        };
        let mut deleted = 0;
        let mut failed = Vec::new();
        for object in covered {
            match self.store.delete(&object.location).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => deleted += 1,
                Err(e) => {
                    tracing::warn!(object = %object.location, "deleting a persisted wal object: {e}");
                    failed.push(object);
                }
            }
        }
        if !failed.is_empty() {
            let mut written = self.written.lock();
            written.extend(failed);
            written.sort_by_key(|o| o.last_seq);
        }
        deleted
    }
}

fn deadline_passed(deadline: Duration) -> object_store::Error {
    object_store::Error::Generic {
        store: "wal",
        source: format!("no answer within {deadline:?}").into(),
    }
}

/// When the writer may start the next PUT: `flush_interval` after the previous one
/// started, so that at most one WAL object is put per interval.
#[derive(Debug)]
pub(crate) struct FlushPacer {
    interval: Duration,
    last_put: Option<Instant>,
}

impl FlushPacer {
    pub(crate) fn new(interval: Duration) -> FlushPacer {
        FlushPacer {
            interval,
            last_put: None,
        }
    }

    /// How long to go on gathering writes before the next PUT (zero after a quiet
    /// interval).
    pub(crate) fn wait(&self) -> Duration {
        self.last_put.map_or(Duration::ZERO, |t| {
            self.interval.saturating_sub(t.elapsed())
        })
    }

    pub(crate) fn started(&mut self) {
        self.last_put = Some(Instant::now());
    }
}

/// The writer thread's side of the object WAL: the store, the runtime its requests run
/// on, the pace of PUTs, and the object of a group whose PUT failed.
#[derive(Debug)]
pub(crate) struct ObjectSink {
    pub(crate) wal: Arc<ObjectWal>,
    pub(crate) runtime: tokio::runtime::Handle,
    pub(crate) pacer: FlushPacer,
    /// A group's object whose PUT failed (it may exist anyway): deleted by the recovery.
    pub(crate) refused: Option<ObjectPath>,
}
