//! One process per node id: a cloud node holds its id's lease in the bucket, so that a
//! second process started with the same `--node-id` (on another machine, or on a copy
//! of the disk) is refused instead of overwriting the first one's manifest.
//!
//! The lease is a sequence of epochs, each created only if absent (the store's
//! conditional put, `If-None-Match: *` on S3), so two processes racing for the same
//! epoch end with one winner:
//!
//! - `N/owner/{epoch}.json` says who holds the epoch (an instance id, host, pid);
//! - `N/owner/{epoch}.beat` is rewritten by the holder every third of the lease
//!   timeout, and says `released` after a clean shutdown.
//!
//! A process starting as node `N` takes the next epoch at once when the newest one was
//! released, or was held by the process that ran on this same data directory before
//! (the directory's lock proves it is gone: a `kill -9` and restart is not delayed).
//! Otherwise it watches the newest epoch's heartbeat for up to the lease timeout: a
//! heartbeat means the holder is alive, and the start is refused naming it; silence
//! means it is gone, and the epoch is taken over. No clocks are compared.
//!
//! A holder that finds a newer epoch than its own has been replaced (it was silent too
//! long, for instance cut off from the store): it is **fenced**. It stops persisting,
//! publishing and deleting under the prefix, refuses writes, and reports the reason on
//! `/health`; the rows it acknowledged but did not persist stay in its WAL on its disk.
//! The check runs with every heartbeat and again right before every publication of the
//! manifest; until it learns, the files it uploads cannot overwrite its successor's
//! (the successor names its files from ids far beyond it, [`Lease::first_file_id`]).

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use futures::TryStreamExt;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};

use crate::durable::write_atomic;
use crate::error::{Error, Result};

/// File ids a replaced holder could use before it learns (it writes a few files per
/// persistence, and learns at its next heartbeat or publication).
const SILENT_HOLDER_GAP: u64 = 1 << 24;

/// The file in the catalog directory naming the lease this data directory's process
/// last held.
const LOCAL: &str = "node-lease.json";

/// Who holds an epoch (`{epoch}.json`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct Holder {
    /// Random, new for every process: what tells one holder from another.
    instance: String,
    host: String,
    pid: u32,
    /// When the process took the epoch, in milliseconds since the Unix epoch (for
    /// people reading the refusal; never compared).
    since_ms: u64,
}

/// The holder's heartbeat (`{epoch}.beat`).
#[derive(Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct Beat {
    beat: u64,
    #[serde(default)]
    released: bool,
}

/// The lease this process holds on its node id.
#[derive(Debug)]
pub(super) struct Lease {
    /// `N/owner/`.
    dir: String,
    epoch: u64,
    /// Taken over from a holder that fell silent, which may still be running.
    from_silent: bool,
    timeout: Duration,
    beats: AtomicU64,
    /// Why this process no longer holds the lease, once it does not.
    fenced: parking_lot::Mutex<Option<String>>,
}

impl Lease {
    /// Takes node `prefix`'s lease (`prefix` is `N/`), waiting up to `timeout` to learn
    /// whether a previous holder is still alive.
    ///
    /// # Errors
    /// [`Error::InUse`] naming the live holder; [`Error::ObjectStore`] when the store
    /// fails; [`Error::Io`] when the data directory's record cannot be written.
    pub(super) async fn acquire(
        store: &dyn ObjectStore,
        prefix: &str,
        catalog_dir: &Path,
        timeout: Duration,
    ) -> Result<Lease> {
        let dir = format!("{prefix}owner/");
        let previous_here = read_local(catalog_dir);
        let me = Holder {
            instance: new_instance_id(),
            host: hostname(),
            pid: std::process::id(),
            since_ms: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64),
        };
        let (epoch, from_silent) = loop {
            let (next, from_silent) = match newest_epoch(store, &dir).await? {
                None => (1, false),
                Some(epoch) => {
                    let holder: Option<Holder> =
                        get_json(store, &epoch_object(&dir, epoch, "json")).await?;
                    let ours = holder
                        .as_ref()
                        .zip(previous_here.as_ref())
                        .is_some_and(|(h, here)| h.instance == *here);
                    let from_silent = if ours {
                        false
                    } else {
                        match gone(store, &dir, epoch, timeout, holder.as_ref()).await? {
                            Gone::Released => false,
                            Gone::Silent => true,
                            Gone::Replaced => continue,
                        }
                    };
                    (epoch + 1, from_silent)
                }
            };
            let body = serde_json::to_vec(&me).map_err(|e| Error::Catalog(e.to_string()))?;
            let created = store
                .put_opts(
                    &epoch_object(&dir, next, "json"),
                    PutPayload::from(body),
                    PutOptions::from(PutMode::Create),
                )
                .await;
            match created {
                Ok(_) => break (next, from_silent),
                // Another process took it first: look again.
                Err(object_store::Error::AlreadyExists { .. }) => continue,
                Err(e) => return Err(e.into()),
            }
        };
        let record = serde_json::to_vec(&me.instance).map_err(|e| Error::Catalog(e.to_string()))?;
        write_atomic(catalog_dir, LOCAL, &record)?;
        let lease = Lease {
            dir,
            epoch,
            from_silent,
            timeout,
            beats: AtomicU64::new(0),
            fenced: parking_lot::Mutex::new(None),
        };
        lease.put_beat(store, false).await?;
        lease.forget_older_epochs(store).await;
        tracing::info!(epoch, "took the node id's lease");
        Ok(lease)
    }

    /// The lowest id of the Parquet files this holder may write, given the id the
    /// manifest it recovered names next. A holder taken over from a silent one skips
    /// [`SILENT_HOLDER_GAP`] ids: the silent one, which continues from the same manifest
    /// until it learns it was replaced, never overwrites a file of this one's.
    pub(super) fn first_file_id(&self, next_in_manifest: u64) -> u64 {
        if self.from_silent {
            next_in_manifest + SILENT_HOLDER_GAP
        } else {
            next_in_manifest
        }
    }

    /// This holder's epoch: unique among the node id's holders, and increasing.
    pub(super) fn epoch(&self) -> u64 {
        self.epoch
    }

    /// How often the holder renews its heartbeat.
    pub(super) fn interval(&self) -> Duration {
        self.timeout / 3
    }

    /// Renews the heartbeat and checks that no newer epoch replaced this one.
    ///
    /// # Errors
    /// [`Error::Fenced`] once replaced; [`Error::ObjectStore`] when the store fails.
    pub(super) async fn renew(&self, store: &dyn ObjectStore) -> Result<()> {
        self.check_current(store).await?;
        self.put_beat(store, false).await
    }

    /// Says `released` in the heartbeat, so that the next process to start as this node
    /// takes over without waiting. Not when fenced: the lease is another's.
    pub(super) async fn release(&self, store: &dyn ObjectStore) {
        if self.fenced().is_ok()
            && let Err(e) = self.put_beat(store, true).await
        {
            tracing::warn!("releasing the node id's lease failed: {e}");
        }
    }

    /// `Ok` while this process holds the lease as far as it knows.
    ///
    /// # Errors
    /// [`Error::Fenced`] once it learnt it was replaced.
    pub(super) fn fenced(&self) -> Result<()> {
        match &*self.fenced.lock() {
            Some(why) => Err(Error::Fenced(why.clone())),
            None => Ok(()),
        }
    }

    /// Asks the store whether a newer epoch exists; one does when another process took
    /// the node id over, and then this one is fenced for good.
    ///
    /// # Errors
    /// [`Error::Fenced`] when replaced; [`Error::ObjectStore`] when the store fails.
    pub(super) async fn check_current(&self, store: &dyn ObjectStore) -> Result<()> {
        self.fenced()?;
        // A listing, not a read of the next epoch: a missing object would count as a
        // failed request in the store's metrics with every heartbeat.
        let Some(newest) = newest_epoch(store, &self.dir).await? else {
            return Ok(());
        };
        if newest <= self.epoch {
            return Ok(());
        }
        let successor: Option<Holder> =
            get_json(store, &epoch_object(&self.dir, newest, "json")).await?;
        let why = format!(
            "another process took over this node id ({}): {} — this process stopped \
             persisting and takes no writes; rows it acknowledged but did not persist are in \
             its write-ahead log: stop it",
            self.dir.trim_end_matches("/owner/"),
            successor.map_or_else(|| "a process".to_owned(), |h| describe(&h))
        );
        tracing::error!("{why}");
        *self.fenced.lock() = Some(why.clone());
        Err(Error::Fenced(why))
    }

    async fn put_beat(&self, store: &dyn ObjectStore, released: bool) -> Result<()> {
        let beat = Beat {
            beat: self.beats.fetch_add(1, Ordering::Relaxed),
            released,
        };
        let body = serde_json::to_vec(&beat).map_err(|e| Error::Catalog(e.to_string()))?;
        store
            .put(
                &epoch_object(&self.dir, self.epoch, "beat"),
                PutPayload::from(body),
            )
            .await?;
        Ok(())
    }

    /// Deletes the objects of epochs before this one (best effort: they only take room).
    async fn forget_older_epochs(&self, store: &dyn ObjectStore) {
        let objects: Vec<_> = match store
            .list(Some(&ObjectPath::from(self.dir.as_str())))
            .try_collect()
            .await
        {
            Ok(objects) => objects,
            Err(_) => return,
        };
        for meta in objects {
            if epoch_of(meta.location.as_ref()).is_some_and(|e| e < self.epoch) {
                let _ = store.delete(&meta.location).await;
            }
        }
    }
}

/// Renews `lease` every [`Lease::interval`] while `open` says the engine is, until the
/// task is aborted or the lease is lost; a store failure is logged once per outage and
/// retried.
pub(super) async fn keep(
    lease: Arc<Lease>,
    store: Arc<dyn ObjectStore>,
    open: impl Fn() -> bool + Send,
) {
    let mut failing = false;
    loop {
        tokio::time::sleep(lease.interval()).await;
        if !open() {
            return;
        }
        match lease.renew(store.as_ref()).await {
            Ok(()) => {
                if failing {
                    tracing::info!("renewing the node id's lease works again");
                }
                failing = false;
            }
            Err(Error::Fenced(_)) => return,
            Err(e) => {
                if !failing {
                    tracing::warn!(
                        "renewing the node id's lease failed (retrying every {:?}): {e}",
                        lease.interval()
                    );
                }
                failing = true;
            }
        }
    }
}

/// How the holder of an epoch is gone.
enum Gone {
    /// Its heartbeat says released: it shut down.
    Released,
    /// Its heartbeat did not change for the timeout: it died, or it is cut off.
    Silent,
    /// A newer epoch appeared meanwhile: look again.
    Replaced,
}

/// Whether and how the holder of `epoch` is gone: its heartbeat says released, or does
/// not change for `timeout`.
///
/// # Errors
/// [`Error::InUse`] when the heartbeat changes: the holder is alive.
async fn gone(
    store: &dyn ObjectStore,
    dir: &str,
    epoch: u64,
    timeout: Duration,
    holder: Option<&Holder>,
) -> Result<Gone> {
    let beat_path = epoch_object(dir, epoch, "beat");
    let first: Option<Beat> = get_json(store, &beat_path).await?;
    if first.as_ref().is_some_and(|b| b.released) {
        return Ok(Gone::Released);
    }
    let node = dir.trim_end_matches("/owner/");
    tracing::info!(
        "node {node} was last held by {}: waiting up to {timeout:?} for a heartbeat before \
         taking it over",
        holder.map_or_else(|| "an unknown process".to_owned(), describe)
    );
    let poll = (timeout / 10).clamp(Duration::from_millis(50), Duration::from_secs(1));
    let started = Instant::now();
    while started.elapsed() < timeout {
        tokio::time::sleep(poll).await;
        let now: Option<Beat> = get_json(store, &beat_path).await?;
        if now.as_ref().is_some_and(|b| b.released) {
            return Ok(Gone::Released);
        }
        if now != first {
            return Err(Error::InUse(format!(
                "node id {node} is in use by {} (its lease in the bucket is being renewed): \
                 stop that process first, or start this one with another --node-id",
                holder.map_or_else(|| "another process".to_owned(), describe)
            )));
        }
        if newest_epoch(store, dir).await? != Some(epoch) {
            return Ok(Gone::Replaced);
        }
    }
    Ok(Gone::Silent)
}

fn describe(holder: &Holder) -> String {
    format!(
        "pid {} on {} (instance {}, started {} ms after the Unix epoch)",
        holder.pid, holder.host, holder.instance, holder.since_ms
    )
}

async fn newest_epoch(store: &dyn ObjectStore, dir: &str) -> Result<Option<u64>> {
    let objects: Vec<_> = store
        .list(Some(&ObjectPath::from(dir)))
        .try_collect()
        .await?;
    Ok(objects
        .iter()
        .filter(|m| m.location.as_ref().ends_with(".json"))
        .filter_map(|m| epoch_of(m.location.as_ref()))
        .max())
}

fn epoch_object(dir: &str, epoch: u64, kind: &str) -> ObjectPath {
    // Zero-padded, so that names sort as numbers do.
    ObjectPath::from(format!("{dir}{epoch:020}.{kind}"))
}

/// The epoch an `owner/` object belongs to.
fn epoch_of(location: &str) -> Option<u64> {
    let name = location.rsplit('/').next()?;
    let (epoch, _) = name.split_once('.')?;
    epoch.parse().ok()
}

async fn get_json<T: serde::de::DeserializeOwned>(
    store: &dyn ObjectStore,
    path: &ObjectPath,
) -> Result<Option<T>> {
    let bytes: Bytes = match store.get(path).await {
        Ok(got) => got.bytes().await?,
        Err(object_store::Error::NotFound { .. }) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| Error::Catalog(format!("{path}: {e}")))
}

/// The instance id the process that last ran on this data directory held the lease
/// with, if one did.
fn read_local(catalog_dir: &Path) -> Option<String> {
    let bytes = std::fs::read(catalog_dir.join(LOCAL)).ok()?;
    serde_json::from_slice(&bytes).ok()
}

fn new_instance_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    // Two independently seeded hashes of the time and pid: unique enough to tell
    // processes apart, with no dependency for it.
    let mut out = String::new();
    for _ in 0..2 {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u128(
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos()),
        );
        h.write_u32(std::process::id());
        out.push_str(&format!("{:016x}", h.finish()));
    }
    out
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "an unknown host".to_owned())
}

#[cfg(test)]
mod tests {
    use object_store::memory::InMemory;

    use super::*;

    const TIMEOUT: Duration = Duration::from_millis(600);

    /// Node `prefix`'s lease for a process on `disk`, which must get it.
    async fn take(store: &dyn ObjectStore, prefix: &str, disk: &tempfile::TempDir) -> Lease {
        Lease::acquire(store, prefix, disk.path(), TIMEOUT)
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn a_released_lease_is_taken_at_once_and_a_live_one_refuses() {
        let store = InMemory::new();
        let disk_a = tempfile::tempdir().unwrap();
        let disk_b = tempfile::tempdir().unwrap();
        let a = take(&store, "n1/", &disk_a).await;
        assert_eq!(a.epoch, 1);

        // B starts while A renews its heartbeat: refused, naming A.
        let store = Arc::new(store);
        let (a, renewing) = {
            let a = Arc::new(a);
            let task = tokio::spawn(keep(a.clone(), store.clone(), || true));
            (a, task)
        };
        let refused = Lease::acquire(store.as_ref(), "n1/", disk_b.path(), TIMEOUT)
            .await
            .unwrap_err();
        assert!(matches!(refused, Error::InUse(_)), "{refused}");
        assert!(
            refused.to_string().contains("node id n1 is in use by pid"),
            "{refused}"
        );

        // A shuts down cleanly: B takes over without waiting.
        renewing.abort();
        a.release(store.as_ref()).await;
        let started = Instant::now();
        let b = take(store.as_ref(), "n1/", &disk_b).await;
        assert!(started.elapsed() < TIMEOUT);
        assert_eq!(b.epoch, 2);
        assert_eq!(b.first_file_id(7), 7);
        // The older epoch's objects are gone.
        assert_eq!(
            newest_epoch(store.as_ref(), "n1/owner/").await.unwrap(),
            Some(2)
        );
        let left: Vec<_> = store.list(None).try_collect().await.unwrap();
        assert!(
            left.iter()
                .all(|m| epoch_of(m.location.as_ref()) == Some(2)),
            "{left:?}"
        );
    }

    #[tokio::test]
    async fn a_silent_holder_is_taken_over_after_the_timeout_and_is_fenced() {
        let store = InMemory::new();
        let disk_a = tempfile::tempdir().unwrap();
        let disk_b = tempfile::tempdir().unwrap();
        let a = take(&store, "n1/", &disk_a).await;
        // A stops renewing (cut off from the store, or killed with its disk lost).
        let started = Instant::now();
        let b = take(&store, "n1/", &disk_b).await;
        assert!(started.elapsed() >= TIMEOUT);
        assert_eq!(b.epoch, 2);
        // A may still write files, from the same manifest: B's ids start far beyond.
        assert_eq!(b.first_file_id(7), 7 + SILENT_HOLDER_GAP);

        // A comes back: its next renewal finds B's epoch and A is fenced for good.
        let fenced = a.renew(&store).await.unwrap_err();
        assert!(matches!(fenced, Error::Fenced(_)), "{fenced}");
        assert!(
            fenced.to_string().contains("another process took over"),
            "{fenced}"
        );
        assert!(a.fenced().is_err());
        // A fenced holder does not release what is not its own.
        a.release(&store).await;
        b.renew(&store).await.unwrap();
        let beat: Beat = get_json(&store, &epoch_object("n1/owner/", 2, "beat"))
            .await
            .unwrap()
            .unwrap();
        assert!(!beat.released);
    }

    #[tokio::test]
    async fn the_same_data_directory_takes_over_at_once_after_a_crash() {
        let store = InMemory::new();
        let disk = tempfile::tempdir().unwrap();
        let first = take(&store, "n1/", &disk).await;
        // Killed: no release. The same directory (whose lock proves the process gone)
        // does not wait.
        drop(first);
        let started = Instant::now();
        let second = take(&store, "n1/", &disk).await;
        assert!(started.elapsed() < TIMEOUT);
        assert_eq!(second.epoch, 2);
        assert_eq!(second.first_file_id(7), 7);
    }

    #[tokio::test]
    async fn other_nodes_leases_are_their_own() {
        let store = InMemory::new();
        let disk_a = tempfile::tempdir().unwrap();
        let disk_b = tempfile::tempdir().unwrap();
        let a = take(&store, "n1/", &disk_a).await;
        let b = take(&store, "n2/", &disk_b).await;
        assert_eq!((a.epoch, b.epoch), (1, 1));
        a.renew(&store).await.unwrap();
        b.renew(&store).await.unwrap();
    }
}
