//! Replaying the WAL at start-up: every segment (and every WAL object fetched from the
//! store) read in order, each record checked against its checksum and handed over, a
//! torn tail truncated, other damage reported (or skipped when asked).

use std::fs::{self, File, OpenOptions};
use std::io::Read;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::objects::{FetchedObject, WalObject};
use super::{
    ClosedSegment, HEADER_LEN, MAGIC, MAX_RECORD_BYTES, Record, VERSION, decode_record,
    list_segments,
};
use crate::encoding;
use crate::error::{Error, Result};

/// What replaying a directory found.
#[derive(Debug, Default)]
pub(crate) struct Replay {
    pub(crate) segments: Vec<ClosedSegment>,
    /// The WAL objects replayed, to be deleted once persisted.
    pub(crate) objects: Vec<WalObject>,
    pub(crate) last_seq: u64,
    pub(crate) next_segment_id: u64,
}

/// Records read and checked ahead of the one being applied, per decoding thread.
const READ_AHEAD: usize = 8;

/// Threads decoding records: the reading thread hands record `n` to decoder `n %
/// DECODERS`, and the records are applied taking them from the decoders in the same
/// turn, so in log order. Decoding is most of a replay's work besides applying; two
/// decoders let it use both cores of a small machine while the applying thread waits.
const DECODERS: usize = 2;

/// Replays every segment in `dir` and every object of `objects` (sorted by first
/// sequence number) in log order, calling `apply(seq, record)` per record. Segments and
/// objects hold disjoint runs of sequence numbers (a process logs to one or the other),
/// so a run of objects goes before the first segment whose first record comes after it.
/// Objects are put whole: any damage in one is [`Error::WalCorrupt`] (or skipped).
///
/// The log ends in the last segment longer than a header: segments after it hold no
/// record (a crash or a full disk while a new segment was being started leaves them
/// empty, with a partial header, or with just a header). A torn tail of that last
/// segment, which is a group whose write never completed and so was never acknowledged,
/// is truncated with a warning, and segments after it with a partial header are removed.
/// Any other damage is [`Error::WalCorrupt`], or, with `skip_corrupt`, skipped with an
/// error log.
///
/// Segments are read and their records checked on a thread of their own, and decoded on
/// [`DECODERS`] others, a few records ahead (a write borrows its piece's bytes); the
/// records are applied on the caller's thread, in log order: reading and decoding overlap
/// with applying. Records before a damage that stops the replay have been applied when it
/// returns the error.
pub(crate) fn replay(
    dir: &Path,
    objects: Vec<FetchedObject>,
    skip_corrupt: bool,
    apply: impl FnMut(u64, Record<'_>),
) -> Result<Replay> {
    replay_in_pieces(dir, objects, skip_corrupt, PIECE_BYTES, apply)
}

/// Bytes of a segment file read at a time. A record is handed over as soon as the piece
/// holding it is in memory, so decoding starts before a large segment has been read and
/// the next piece is read while the last one's records decode; and a replay holds the
/// pieces whose records are in flight, not whole segments.
const PIECE_BYTES: usize = 8 << 20;

/// [`replay`], reading segment files `piece` bytes at a time (tests read tiny pieces, so
/// that records straddle them).
pub(super) fn replay_in_pieces(
    dir: &Path,
    objects: Vec<FetchedObject>,
    skip_corrupt: bool,
    piece: usize,
    mut apply: impl FnMut(u64, Record<'_>),
) -> Result<Replay> {
    use std::sync::mpsc::sync_channel;
    let (to_decode, decoder_inputs): (Vec<_>, Vec<_>) = (0..DECODERS)
        .map(|_| sync_channel::<Checked>(READ_AHEAD))
        .unzip();
    let (decoded_outputs, decoded): (Vec<_>, Vec<_>) = (0..DECODERS)
        .map(|_| sync_channel::<Logged>(READ_AHEAD))
        .unzip();
    std::thread::scope(|scope| {
        let reader = std::thread::Builder::new()
            .name("wal-replay".into())
            .spawn_scoped(scope, move || {
                // Sending fails once the decoder is gone, which it is once the applying
                // side is: replay stopped at damage.
                let mut decoders = (0..DECODERS).cycle();
                read_log(dir, objects, skip_corrupt, piece, &mut |checked| {
                    let k = decoders.next().expect("an endless cycle");
                    to_decode[k].send(checked).is_ok()
                })
            })
            .map_err(|e| Error::io("starting the wal replay thread", e))?;
        for (input, output) in decoder_inputs.into_iter().zip(decoded_outputs) {
            std::thread::Builder::new()
                .name("wal-decode".into())
                .spawn_scoped(scope, move || {
                    let mut seen = encoding::SeenSeries::default();
                    for checked in input {
                        if output.send(checked.decode(&mut seen)).is_err() {
                            break;
                        }
                    }
                })
                .map_err(|e| Error::io("starting a wal decoding thread", e))?;
        }
        let mut damage = None;
        // Record `n` comes from decoder `n % DECODERS`; the log ends when that decoder's
        // channel does (the reader stopped, so every decoder ran dry).
        let in_order = (0..).map_while(|n| decoded[n % DECODERS].recv().ok());
        for logged in in_order {
            let (file, offset) = (logged.file.clone(), logged.offset);
            match logged.apply(&mut apply) {
                Ok(()) => {}
                Err(e) => {
                    let err = Error::WalCorrupt {
                        file: file.to_path_buf(),
                        offset,
                        reason: format!("undecodable record: {e}"),
                    };
                    if !skip_corrupt {
                        damage = Some(err);
                        break;
                    }
                    tracing::error!("skipping damaged wal record: {err}");
                }
            }
        }
        // Stopped at damage: the decoders' next sends fail, so they stop, and so does
        // the reader's next one.
        drop(decoded);
        let read = reader
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        match damage {
            Some(err) => Err(err),
            None => read,
        }
    })
}

/// A record that passed its checksum, not decoded yet: where its payload is in the
/// piece of a segment (or the object) read from `file`.
struct Checked {
    seq: u64,
    bytes: Arc<Vec<u8>>,
    payload: Range<usize>,
    version: u32,
    file: Arc<Path>,
    offset: u64,
}

/// A record that passed its checksum, decoded, with the piece it was read in.
struct Logged {
    seq: u64,
    /// The record, borrowing `bytes`: its lifetime is not `'static` but that of
    /// `bytes` (see [`Checked::decode`]). Declared before `bytes`, so dropped before it.
    decoded: Result<Record<'static>, encoding::DecodeError>,
    bytes: Arc<Vec<u8>>,
    file: Arc<Path>,
    /// Where the record starts in `file`.
    offset: u64,
}

impl Checked {
    /// Decodes the record (its payload after the sequence number, of a segment of
    /// `version`), skipping tag sets `seen` holds.
    fn decode(self, seen: &mut encoding::SeenSeries) -> Logged {
        let Checked {
            seq,
            bytes,
            payload,
            version,
            file,
            offset,
        } = self;
        let decoded = decode_record(&bytes[payload], version, seen);
        // SAFETY: only the lifetime changes. The record borrows the bytes of the vector
        // behind `bytes`'s Arc: they stay where they are when the Arc moves, nothing
        // changes them (an Arc gives shared access only), and `Logged` holds the Arc for
        // as long as it holds the record (the record is dropped first, by field order, or
        // handed out by `apply` only for a call that cannot keep it).
        let decoded = unsafe {
            std::mem::transmute::<
                Result<Record<'_>, encoding::DecodeError>,
                Result<Record<'static>, encoding::DecodeError>,
            >(decoded)
        };
        Logged {
            seq,
            decoded,
            bytes,
            file,
            offset,
        }
    }
}

impl Logged {
    /// Hands the record to `apply`, or says why it could not be decoded.
    fn apply(self, apply: &mut impl FnMut(u64, Record<'_>)) -> Result<(), encoding::DecodeError> {
        let Logged {
            seq,
            decoded,
            bytes,
            ..
        } = self;
        // `apply` takes a record of any lifetime, so it cannot keep this one past the
        // call; the bytes it borrows are dropped after it.
        let result = decoded.map(|record| apply(seq, record));
        drop(bytes);
        result
    }
}

/// Reads every segment in `dir` (`piece` bytes at a time) and every object of `objects`
/// in log order, handing each intact record to `apply` until it returns false; see
/// [`replay`].
fn read_log(
    dir: &Path,
    objects: Vec<FetchedObject>,
    skip_corrupt: bool,
    piece: usize,
    apply: &mut dyn FnMut(Checked) -> bool,
) -> Result<Replay> {
    let segments = list_segments(dir)?;
    let mut out = Replay {
        next_segment_id: segments.last().map_or(1, |(id, _)| id + 1),
        ..Replay::default()
    };
    let mut lengths = Vec::with_capacity(segments.len());
    for (_, path) in &segments {
        let meta =
            fs::metadata(path).map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
        lengths.push(meta.len());
    }
    let log_end = lengths.iter().rposition(|n| *n > HEADER_LEN).unwrap_or(0);
    // Segments after the first are read from disk while the ones before are decoded.
    for (_, path) in segments.iter().skip(1) {
        read_ahead(path);
    }
    let mut objects = objects.into_iter().peekable();
    for (i, ((_, path), len)) in segments.into_iter().zip(lengths).enumerate() {
        let at_end = i >= log_end;
        let reading = |e| Error::io(format!("reading {}", path.display()), e);
        let mut file = SegmentFile::open(&path, len).map_err(reading)?;
        // The first piece holds the first record whole, when its length is plausible,
        // so that the objects logged before it go first.
        let mut first = file
            .next(&[], HEADER_LEN as usize + piece)
            .map_err(reading)?;
        if let Some(n) = first.get(HEADER_LEN as usize..).and_then(cut_record) {
            file.fill(&mut first, HEADER_LEN as usize + n)
                .map_err(reading)?;
        }
        if let Some(first) = first_seq(&first) {
            while let Some(object) = objects.next_if(|o| o.first_seq < first) {
                if !replay_object(object, skip_corrupt, apply, &mut out)? {
                    return Ok(out);
                }
            }
        }
        match replay_file(&path, file, first, at_end, skip_corrupt, piece, apply)? {
            SegmentEnd::Removed => continue,
            SegmentEnd::Stopped => break,
            SegmentEnd::Records(last_seq) => {
                if let Some(s) = last_seq {
                    out.last_seq = out.last_seq.max(s);
                }
                out.segments.push(ClosedSegment { path, last_seq });
            }
        }
    }
    for object in objects {
        if !replay_object(object, skip_corrupt, apply, &mut out)? {
            break;
        }
    }
    Ok(out)
}

/// A segment file read a piece at a time.
struct SegmentFile {
    file: File,
    /// The file's length (nothing writes to it during a replay).
    len: u64,
    /// Bytes read from it so far.
    read: u64,
}

impl SegmentFile {
    /// Opens the file at `path`, `len` bytes long.
    fn open(path: &Path, len: u64) -> std::io::Result<SegmentFile> {
        let file = File::open(path)?;
        Ok(SegmentFile { file, len, read: 0 })
    }

    /// Every byte has been read.
    fn at_end(&self) -> bool {
        self.read >= self.len
    }

    /// A new piece: `carry` (the start of a record the last piece cut) and then the next
    /// `n` bytes of the file, or what is left of it.
    fn next(&mut self, carry: &[u8], n: usize) -> std::io::Result<Vec<u8>> {
        let n = n.min(self.left());
        let mut data = Vec::with_capacity(carry.len() + n);
        advise_huge_pages(&mut data);
        data.extend_from_slice(carry);
        self.fill(&mut data, carry.len() + n)?;
        Ok(data)
    }

    /// Reads into `data` until it holds `upto` bytes or the file ends.
    fn fill(&mut self, data: &mut Vec<u8>, upto: usize) -> std::io::Result<()> {
        let n = upto.saturating_sub(data.len()).min(self.left());
        data.reserve_exact(n);
        let got = (&mut self.file).take(n as u64).read_to_end(data)?;
        self.read += got as u64;
        if got < n {
            // Shorter than it was: it ends here.
            self.len = self.read;
        }
        Ok(())
    }

    /// Bytes not read yet.
    fn left(&self) -> usize {
        usize::try_from(self.len - self.read).unwrap_or(usize::MAX)
    }
}

/// Bytes the record that `rest` starts with takes, when `rest` may hold just the start
/// of it (its header cut, or a plausible length beyond `rest`); `None` when `rest` holds
/// it whole, or its length is implausible (damage, or a zeroed tail).
fn cut_record(rest: &[u8]) -> Option<usize> {
    const RECORD_HEADER: usize = 8;
    if rest.len() < RECORD_HEADER {
        return Some(RECORD_HEADER);
    }
    let len = u64::from(u32::from_le_bytes(rest[..4].try_into().expect("4 bytes")));
    if !(8..=MAX_RECORD_BYTES).contains(&len) {
        return None;
    }
    let n = RECORD_HEADER + len as usize;
    (n > rest.len()).then_some(n)
}

/// Replays the segment file at `path` piece by piece, `first` its first piece. Where a
/// record is neither whole in its piece nor cut by the piece's end (damage, a torn tail,
/// a zeroed tail), the rest of the file is read whole and checked by [`replay_records`],
/// which tells a torn tail from damage by what comes after it.
fn replay_file(
    path: &Path,
    mut file: SegmentFile,
    first: Vec<u8>,
    at_end: bool,
    skip_corrupt: bool,
    piece: usize,
    apply: &mut dyn FnMut(Checked) -> bool,
) -> Result<SegmentEnd> {
    let reading = |e| Error::io(format!("reading {}", path.display()), e);
    let mut data = first;
    let Some(version) = segment_version(&data) else {
        file.fill(&mut data, usize::MAX).map_err(reading)?;
        return replay_segment(path, Arc::new(data), at_end, skip_corrupt, apply);
    };
    let mut origin = Origin {
        file: Arc::from(path),
        version,
        base: 0,
    };
    let (mut pos, mut last_seq) = (HEADER_LEN as usize, None);
    loop {
        let bytes = Arc::new(data);
        while let Ok((seq, end)) = check_record(&bytes, pos, bytes.len()) {
            if !apply(origin.record(&bytes, seq, pos..end)) {
                return Ok(SegmentEnd::Stopped);
            }
            last_seq = Some(seq);
            pos = end;
        }
        let rest = &bytes[pos..];
        if rest.is_empty() && file.at_end() {
            return Ok(SegmentEnd::Records(last_seq));
        }
        match cut_record(rest) {
            Some(n) if !file.at_end() => {
                data = file.next(rest, n.max(piece)).map_err(reading)?;
                origin.base += pos as u64;
                pos = 0;
            }
            _ => {
                let mut tail = rest.to_vec();
                file.fill(&mut tail, usize::MAX).map_err(reading)?;
                let start = Start {
                    origin: Origin {
                        base: origin.base + pos as u64,
                        ..origin
                    },
                    pos: 0,
                    last_seq,
                };
                return replay_records(path, Arc::new(tail), start, at_end, skip_corrupt, apply);
            }
        }
    }
}

/// Asks the kernel to start reading the file at `path` into the page cache, without
/// waiting for it; nothing happens where it cannot.
fn read_ahead(path: &Path) {
    #[cfg(target_os = "linux")]
    if let Ok(file) = File::open(path) {
        use std::os::fd::AsRawFd;
        // SAFETY: the descriptor is open for the call; the advice reads nothing into
        // this process and changes no file.
        unsafe {
            libc::posix_fadvise(file.as_raw_fd(), 0, 0, libc::POSIX_FADV_WILLNEED);
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = path;
}

/// Asks the kernel to back `data`'s unused capacity with huge pages where it can
/// (transparent huge pages in `madvise` mode): a segment read into 4 KiB pages takes a
/// page fault and a zeroed page every 4 KiB, which was a tenth of a replay's time.
fn advise_huge_pages(data: &mut Vec<u8>) {
    #[cfg(target_os = "linux")]
    {
        const HUGE: usize = 2 << 20;
        let spare = data.spare_capacity_mut();
        let start = spare.as_mut_ptr() as usize;
        let aligned = start.next_multiple_of(HUGE);
        let end = (start + spare.len()) / HUGE * HUGE;
        if end > aligned {
            // SAFETY: the range lies inside the vector's allocation, which nothing has
            // touched yet; the advice changes how it is backed, never its contents.
            // A refusal (huge pages off) leaves it as it was.
            unsafe {
                libc::madvise(
                    aligned as *mut libc::c_void,
                    end - aligned,
                    libc::MADV_HUGEPAGE,
                );
            }
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = data;
}

/// The sequence number of a segment's first record, when it is intact.
fn first_seq(data: &[u8]) -> Option<u64> {
    let start = HEADER_LEN as usize;
    if data.len() < start || &data[..8] != MAGIC {
        return None;
    }
    check_record(data, start, zero_tail(data))
        .ok()
        .map(|(seq, _)| seq)
}

/// Replays one object; false when `apply` asked to stop.
fn replay_object(
    object: FetchedObject,
    skip_corrupt: bool,
    apply: &mut dyn FnMut(Checked) -> bool,
    out: &mut Replay,
) -> Result<bool> {
    let name = PathBuf::from(object.location.as_ref());
    // Not at the log's end: an object is never torn, so nothing is truncated or removed.
    match replay_segment(&name, Arc::new(object.data), false, skip_corrupt, apply)? {
        SegmentEnd::Records(last_seq) => {
            let last_seq = last_seq.unwrap_or(object.first_seq);
            out.last_seq = out.last_seq.max(last_seq);
            out.objects.push(WalObject {
                location: object.location,
                last_seq,
            });
            Ok(true)
        }
        SegmentEnd::Stopped => Ok(false),
        SegmentEnd::Removed => Ok(true),
    }
}

enum SegmentEnd {
    Removed,
    /// `apply` asked to stop.
    Stopped,
    Records(Option<u64>),
}

/// Where records are read from: a segment (or object) of `version` at `file`, the bytes
/// in hand starting at its offset `base`.
struct Origin {
    file: Arc<Path>,
    version: u32,
    base: u64,
}

impl Origin {
    /// The intact record (sequence number `seq`) at `at` of `bytes`.
    fn record(&self, bytes: &Arc<Vec<u8>>, seq: u64, at: Range<usize>) -> Checked {
        Checked {
            seq,
            bytes: bytes.clone(),
            payload: at.start + 16..at.end,
            version: self.version,
            file: self.file.clone(),
            offset: self.base + at.start as u64,
        }
    }
}

/// The version of the segment whose header `data` starts with, when the header is one
/// this build reads.
fn segment_version(data: &[u8]) -> Option<u32> {
    let version = (data.len() as u64 >= HEADER_LEN && &data[..8] == MAGIC)
        .then(|| u32::from_le_bytes(data[8..12].try_into().expect("4 bytes")))?;
    (encoding::FORMAT_ROW_TAGS..=VERSION)
        .contains(&version)
        .then_some(version)
}

/// Replays one segment (or object), `data` read whole from `path`; `at_end` when no later
/// segment holds a record (only then is a torn header removed or a torn tail truncated).
fn replay_segment(
    path: &Path,
    data: Arc<Vec<u8>>,
    at_end: bool,
    skip_corrupt: bool,
    apply: &mut dyn FnMut(Checked) -> bool,
) -> Result<SegmentEnd> {
    let Some(version) = segment_version(&data) else {
        if at_end && data.len() as u64 <= HEADER_LEN {
            tracing::warn!(file = %path.display(), "removing wal segment with a torn header");
            fs::remove_file(path)
                .map_err(|e| Error::io(format!("removing {}", path.display()), e))?;
            return Ok(SegmentEnd::Removed);
        }
        return Err(Error::WalCorrupt {
            file: path.to_owned(),
            offset: 0,
            reason: "bad segment header".into(),
        });
    };
    let start = Start {
        origin: Origin {
            file: Arc::from(path),
            version,
            base: 0,
        },
        pos: HEADER_LEN as usize,
        last_seq: None,
    };
    replay_records(path, data, start, at_end, skip_corrupt, apply)
}

/// Where [`replay_records`] starts: `data` is the segment's bytes from `origin`'s offset
/// on, its next record at `pos`, after records up to `last_seq` were handed over.
struct Start {
    origin: Origin,
    pos: usize,
    last_seq: Option<u64>,
}

/// Hands over the records of `data`, what is left of the segment at `path` (see
/// [`Start`]), truncating a torn tail or reporting (or skipping) other damage.
fn replay_records(
    path: &Path,
    data: Arc<Vec<u8>>,
    start: Start,
    at_end: bool,
    skip_corrupt: bool,
    apply: &mut dyn FnMut(Checked) -> bool,
) -> Result<SegmentEnd> {
    let Start {
        origin,
        mut pos,
        mut last_seq,
    } = start;
    let base = origin.base;
    let corrupt = |pos: usize, reason: String| Error::WalCorrupt {
        file: path.to_owned(),
        offset: base + pos as u64,
        reason,
    };
    let zeros = zero_tail(&data);
    let record_at = |pos: usize| check_record(&data, pos, zeros);
    while pos < data.len() {
        match record_at(pos) {
            Ok((seq, payload_end)) => {
                if !apply(origin.record(&data, seq, pos..payload_end)) {
                    return Ok(SegmentEnd::Stopped);
                }
                last_seq = Some(seq);
                pos = payload_end;
            }
            Err(damage) => {
                // A torn tail: the damaged record reaches the end of the log's last
                // segment and no intact record follows it (a torn write only hits the
                // last group, so an intact record further on means the damage is in the
                // middle). Its group was never acknowledged: its fdatasync never ran.
                if at_end
                    && damage.reaches_end
                    && !(pos + 1..data.len()).any(|p| record_at(p).is_ok())
                {
                    let offset = base + pos as u64;
                    if damage.reason == CHECKSUM_MISMATCH {
                        // A whole record with a bad checksum is rarely a torn write:
                        // say so loudly in case it was damage to acknowledged data.
                        tracing::error!(
                            file = %path.display(),
                            offset,
                            "truncating a wal segment whose last record fails its checksum \
                             (a torn write, or damage to the disk); {} bytes dropped",
                            data.len() - pos
                        );
                    } else {
                        tracing::warn!(
                            file = %path.display(),
                            offset,
                            "truncating torn tail of wal segment ({}; {} bytes dropped)",
                            damage.reason,
                            data.len() - pos
                        );
                    }
                    let f = OpenOptions::new()
                        .write(true)
                        .open(path)
                        .and_then(|f| f.set_len(offset).and_then(|()| f.sync_all()));
                    f.map_err(|e| Error::io(format!("truncating {}", path.display()), e))?;
                    break;
                }
                let err = corrupt(pos, damage.reason.to_owned());
                if !skip_corrupt {
                    return Err(err);
                }
                tracing::error!("skipping damaged wal data: {err}");
                match (pos + 1..data.len()).find(|&p| record_at(p).is_ok()) {
                    Some(next) => pos = next,
                    None => break,
                }
            }
        }
    }
    Ok(SegmentEnd::Records(last_seq))
}

const CHECKSUM_MISMATCH: &str = "record checksum mismatch";

struct Damage {
    reason: &'static str,
    /// The damage extends to the end of the file (what a torn write looks like).
    reaches_end: bool,
}

/// Where the run of zero bytes that ends `data` begins (`data.len()` when the last byte
/// is not zero).
fn zero_tail(data: &[u8]) -> usize {
    data.iter().rposition(|b| *b != 0).map_or(0, |i| i + 1)
}

/// Checks the record at `pos`; returns its sequence number and end offset. `zeros` is
/// [`zero_tail`] of `data`, found once: asking at every offset of a long zeroed tail
/// whether only zeros follow made replay quadratic in the tail's length.
fn check_record(data: &[u8], pos: usize, zeros: usize) -> Result<(u64, usize), Damage> {
    let rest = &data[pos..];
    if rest.len() < 8 {
        return Err(Damage {
            reason: "record header cut short",
            reaches_end: true,
        });
    }
    let len = u64::from(u32::from_le_bytes(rest[..4].try_into().expect("4 bytes")));
    let crc = u32::from_le_bytes(rest[4..8].try_into().expect("4 bytes"));
    if !(8..=MAX_RECORD_BYTES).contains(&len) {
        return Err(Damage {
            reason: "implausible record length",
            // Zeros to the end are a torn (pre-extended) tail.
            reaches_end: pos >= zeros,
        });
    }
    let end = 8 + len as usize;
    if end > rest.len() {
        return Err(Damage {
            reason: "record cut short",
            reaches_end: true,
        });
    }
    let payload = &rest[8..end];
    if crc32c::crc32c(payload) != crc {
        return Err(Damage {
            reason: CHECKSUM_MISMATCH,
            reaches_end: end == rest.len(),
        });
    }
    let seq = u64::from_le_bytes(payload[..8].try_into().expect("8 bytes"));
    Ok((seq, pos + end))
}
