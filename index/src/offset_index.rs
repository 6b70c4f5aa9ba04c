//! Kafka's offset index: a sparse map from offsets to byte positions in the
//! segment's `.log` file.
//!
//! Each 8-byte entry is the offset relative to the segment's base offset
//! (`u32`) followed by the byte position of the batch holding that offset
//! (`u32`), both big-endian. Entries are strictly increasing in both fields.
//! A lookup finds the last entry at or before an offset; the caller then
//! scans batch headers forward from its position.

use std::path::Path;
use std::sync::Arc;

use crate::check::{IndexCheck, RebuildReason};
use crate::entries::{be, relative_offset, Entries, Slot};
use crate::entry_file::{self, EntryFile};
use crate::error::IndexError;

/// Words per entry: relative offset, position.
const WORDS: usize = 2;

/// An absolute offset and the byte position in the log where the batch
/// holding it starts, as returned by lookups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OffsetPosition {
    /// The absolute offset.
    pub offset: i64,
    /// The byte position in the segment's log file.
    pub position: u32,
}

/// The offset index of one segment: the single writer.
///
/// Appends take `&mut self`; lookups from other threads go through
/// [`OffsetIndexReader`]s, which never lock and never block the writer.
///
/// ```
/// use silt_index::{IndexCheck, OffsetIndex, OffsetPosition};
///
/// # fn main() -> Result<(), silt_index::IndexError> {
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("00000000000000000100.index");
/// let mut index = OffsetIndex::create(&path, 100, 10 * 1024 * 1024)?;
/// index.append(110, 4_200)?;
/// index.append(130, 9_000)?;
/// assert_eq!(index.lookup(120), OffsetPosition { offset: 110, position: 4_200 });
/// assert_eq!(index.lookup(105), OffsetPosition { offset: 100, position: 0 });
///
/// index.seal()?; // the segment rolled: trim the file to its entries
/// drop(index);
/// let (index, check) = OffsetIndex::open(&path, 100, 10 * 1024 * 1024, 10_000)?;
/// assert_eq!(check, IndexCheck::Ok);
/// assert_eq!(index.entries(), 2);
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct OffsetIndex {
    file: EntryFile<WORDS>,
}

impl OffsetIndex {
    /// Bytes per entry.
    pub const ENTRY_SIZE: usize = 8;

    /// Creates a new empty index at `path`, truncating any existing file,
    /// preallocated to `max_index_bytes` rounded down to a multiple of 8
    /// (an error if that is 0) and mapped.
    pub fn create(path: &Path, base_offset: i64, max_index_bytes: u64) -> Result<Self, IndexError> {
        EntryFile::create(path, base_offset, max_index_bytes).map(|file| Self { file })
    }

    /// Opens the index at `path`, creating it if missing.
    ///
    /// The file's length divided by 8 is the entry count: an index closed
    /// with [`seal`](Self::seal) is trimmed to its entries. The entries are
    /// trusted ([`IndexCheck::Ok`]) only if the length is a multiple of 8 and
    /// at most the maximum size, offsets and positions strictly increase, and
    /// every position is below `log_size`. Otherwise the returned index is
    /// empty and the check says why, so the caller re-appends from a scan of
    /// the log. An index left untrimmed (the process stopped without sealing
    /// it) fails the check on its zero-filled tail. Either way the file is
    /// preallocated again to `max_index_bytes` so appends can continue.
    ///
    /// Errors are I/O failures and bad arguments only, never bad contents.
    pub fn open(
        path: &Path,
        base_offset: i64,
        max_index_bytes: u64,
        log_size: u64,
    ) -> Result<(Self, IndexCheck), IndexError> {
        Self::open_as(path, base_offset, max_index_bytes, log_size, false)
    }

    /// Opens the index of a closed segment as it is, writing nothing: the
    /// file is mapped at its current length (not extended to
    /// `max_index_bytes`), and the index comes back sealed, so it takes no
    /// appends until [`unseal`](Self::unseal)ed. The checks are those of
    /// [`open`](Self::open). If they fail, the file is recreated empty and
    /// preallocated exactly as `open` does, and the index comes back unsealed
    /// for the caller to rebuild.
    pub fn open_sealed(
        path: &Path,
        base_offset: i64,
        max_index_bytes: u64,
        log_size: u64,
    ) -> Result<(Self, IndexCheck), IndexError> {
        Self::open_as(path, base_offset, max_index_bytes, log_size, true)
    }

    fn open_as(
        path: &Path,
        base_offset: i64,
        max_index_bytes: u64,
        log_size: u64,
        sealed: bool,
    ) -> Result<(Self, IndexCheck), IndexError> {
        let validate = |entries: &Entries<WORDS>| validate(entries, log_size);
        let (file, check) = EntryFile::open(path, base_offset, max_index_bytes, sealed, validate)?;
        Ok((Self { file }, check))
    }

    /// The segment's base offset.
    pub fn base_offset(&self) -> i64 {
        self.file.entries().base_offset()
    }

    /// The number of entries.
    pub fn entries(&self) -> usize {
        self.file.entries().len()
    }

    /// The number of entries the index can hold (the entry count once
    /// sealed).
    pub fn max_entries(&self) -> usize {
        self.file.max_entries()
    }

    /// Whether no more entries fit (always true once sealed): the segment
    /// must roll.
    pub fn is_full(&self) -> bool {
        self.entries() >= self.max_entries()
    }

    /// The last entry, if any.
    pub fn last_entry(&self) -> Option<OffsetPosition> {
        last_entry(self.file.entries())
    }

    /// Appends an entry mapping `offset` to `position`.
    ///
    /// The entry is written into the next slot, then the new count is
    /// published with a release store, so readers see it whole or not at
    /// all.
    ///
    /// # Errors
    /// [`Sealed`](IndexError::Sealed) after [`seal`](Self::seal);
    /// [`OffsetOverflow`](IndexError::OffsetOverflow) if `offset` is below the
    /// base offset or more than `u32::MAX` above it;
    /// [`NotMonotonic`](IndexError::NotMonotonic) if `offset` is not above the
    /// last entry's, [`PositionNotMonotonic`](IndexError::PositionNotMonotonic)
    /// if `position` is not above the last entry's;
    /// [`Full`](IndexError::Full) if no slot is left.
    pub fn append(&mut self, offset: i64, position: u32) -> Result<(), IndexError> {
        self.file.ensure_not_sealed()?;
        let base_offset = self.base_offset();
        let relative = relative_offset(self.path(), base_offset, offset)?;
        if let Some(last) = self.file.entries().last().map(decode_words) {
            if relative <= last[0] {
                return Err(IndexError::NotMonotonic {
                    path: self.path().to_path_buf(),
                    last: base_offset + i64::from(last[0]),
                    offset,
                });
            }
            if position <= last[1] {
                return Err(IndexError::PositionNotMonotonic {
                    path: self.path().to_path_buf(),
                    last: last[1],
                    position,
                });
            }
        }
        self.file.push([relative, position])
    }

    /// The last entry whose offset is at most `target`, or
    /// `OffsetPosition { offset: base_offset, position: 0 }` if there is
    /// none (the start of the segment).
    pub fn lookup(&self, target: i64) -> OffsetPosition {
        lookup(self.file.entries(), target)
    }

    /// Entry `i`, with its absolute offset; `None` past the last entry.
    pub fn entry(&self, i: usize) -> Option<OffsetPosition> {
        entry(self.file.entries(), i)
    }

    /// Removes every entry whose offset is `offset` or more (truncation of
    /// the log, recovery).
    ///
    /// For recovery, before readers are handed out: the removed slots are
    /// zeroed and later appends reuse them, so a reader that loaded the old
    /// count could see a zeroed or newer entry (never undefined behaviour).
    /// A sealed index stays sealed; call [`unseal`](Self::unseal) to append.
    pub fn truncate_to(&mut self, offset: i64) -> Result<(), IndexError> {
        let base_offset = self.base_offset();
        let keep = self
            .file
            .entries()
            .partition_point(|slot| base_offset + i64::from(be(&slot[0])) < offset);
        self.file.truncate(keep);
        Ok(())
    }

    /// Removes every entry whose position is `position` or more. Same
    /// caveats as [`truncate_to`](Self::truncate_to).
    pub fn truncate_to_position(&mut self, position: u32) -> Result<(), IndexError> {
        let keep = self
            .file
            .entries()
            .partition_point(|slot| be(&slot[1]) < position);
        self.file.truncate(keep);
        Ok(())
    }

    /// Removes all entries. Same caveats as [`truncate_to`](Self::truncate_to).
    pub fn clear(&mut self) -> Result<(), IndexError> {
        self.file.truncate(0);
        Ok(())
    }

    /// Makes the entries durable: msync of the written entries, or one
    /// fdatasync when the file's length changed since the last one.
    pub fn flush(&self) -> Result<(), IndexError> {
        self.file.flush()
    }

    /// Flushes, trims the file to `entries() * 8` bytes (Kafka's
    /// `trimToValidSize`, on roll or close) and seals the index: later
    /// appends fail with [`Sealed`](IndexError::Sealed), `max_entries()`
    /// becomes `entries()`.
    ///
    /// The map is not touched, so readers already handed out keep working:
    /// they only read published entries, which lie below the new length.
    /// Idempotent.
    pub fn seal(&mut self) -> Result<(), IndexError> {
        self.file.seal()
    }

    /// Undoes [`seal`](Self::seal): preallocates the file to its maximum size
    /// again so appends can continue (when truncating the log makes this
    /// segment the active one again). Idempotent.
    ///
    /// An index from [`open_sealed`](Self::open_sealed) is mapped only at
    /// its length, so it is mapped again: that fails with
    /// [`ReadersOutstanding`](IndexError::ReadersOutstanding) while readers
    /// exist.
    pub fn unseal(&mut self) -> Result<(), IndexError> {
        self.file.unseal()
    }

    /// Whether [`seal`](Self::seal) was called.
    pub fn is_sealed(&self) -> bool {
        self.file.is_sealed()
    }

    /// A lock-free reader for other threads. It keeps the map alive, so it
    /// stays valid after the index is sealed, renamed or dropped.
    pub fn reader(&self) -> OffsetIndexReader {
        OffsetIndexReader {
            entries: Arc::clone(self.file.entries()),
        }
    }

    /// The index file's current path.
    pub fn path(&self) -> &Path {
        self.file.path()
    }

    /// Renames the index file (e.g. to its `.deleted` name before deletion).
    /// The map and readers are unaffected.
    pub fn rename(&mut self, new_path: &Path) -> Result<(), IndexError> {
        self.file.rename(new_path)
    }
}

/// A lock-free, cloneable reader of an [`OffsetIndex`], for other threads.
///
/// It sees every entry the writer published before each call, and keeps the
/// index's map alive for as long as it lives.
#[derive(Clone, Debug)]
pub struct OffsetIndexReader {
    entries: Arc<Entries<WORDS>>,
}

impl OffsetIndexReader {
    /// Opens an index read-only, with no writer: the file is opened
    /// read-only and mapped at its length, and nothing is created, extended
    /// or rewritten, so it works on a read-only file. The checks are those of
    /// [`OffsetIndex::open`]; if they fail (or the file is missing), the
    /// reader is empty and the check says why, and the file is left as it
    /// was.
    pub fn open_read_only(
        path: &Path,
        base_offset: i64,
        max_index_bytes: u64,
        log_size: u64,
    ) -> Result<(Self, IndexCheck), IndexError> {
        let (entries, check) =
            entry_file::open_read_only(path, base_offset, max_index_bytes, |entries| {
                validate(entries, log_size)
            })?;
        Ok((Self { entries }, check))
    }

    /// See [`OffsetIndex::lookup`].
    pub fn lookup(&self, target: i64) -> OffsetPosition {
        lookup(&self.entries, target)
    }

    /// The number of published entries.
    pub fn entries(&self) -> usize {
        self.entries.len()
    }

    /// See [`OffsetIndex::entry`].
    pub fn entry(&self, i: usize) -> Option<OffsetPosition> {
        entry(&self.entries, i)
    }

    /// See [`OffsetIndex::last_entry`].
    pub fn last_entry(&self) -> Option<OffsetPosition> {
        last_entry(&self.entries)
    }

    /// The segment's base offset.
    pub fn base_offset(&self) -> i64 {
        self.entries.base_offset()
    }
}

fn decode_words(slot: &Slot<WORDS>) -> [u32; WORDS] {
    slot.each_ref().map(be)
}

fn decode(entries: &Entries<WORDS>, slot: &Slot<WORDS>) -> OffsetPosition {
    let [relative, position] = decode_words(slot);
    OffsetPosition {
        offset: entries.base_offset() + i64::from(relative),
        position,
    }
}

fn lookup(entries: &Entries<WORDS>, target: i64) -> OffsetPosition {
    let base_offset = entries.base_offset();
    let start = OffsetPosition {
        offset: base_offset,
        position: 0,
    };
    // Compare relative offsets: one u32 load per probe. A target beyond the
    // u32 range is past every entry, like u32::MAX.
    let relative = match target.checked_sub(base_offset) {
        Some(delta) if delta >= 0 => u32::try_from(delta).unwrap_or(u32::MAX),
        _ => return start,
    };
    entries
        .search(relative, |slot| be(&slot[0]))
        .map_or(start, |slot| decode(entries, slot))
}

fn entry(entries: &Entries<WORDS>, i: usize) -> Option<OffsetPosition> {
    entries.get(i).map(|slot| decode(entries, slot))
}

fn last_entry(entries: &Entries<WORDS>) -> Option<OffsetPosition> {
    entries.last().map(|slot| decode(entries, slot))
}

/// Offsets and positions strictly increase, positions lie inside the log.
fn validate(entries: &Entries<WORDS>, log_size: u64) -> Result<(), RebuildReason> {
    let mut previous: Option<[u32; WORDS]> = None;
    for i in 0..entries.len() {
        let Some(current) = entries.read(i) else {
            break;
        };
        if let Some(previous) = previous {
            if current[0] <= previous[0] || current[1] <= previous[1] {
                return Err(RebuildReason::NotMonotonic { entry: i });
            }
        }
        if u64::from(current[1]) >= log_size {
            return Err(RebuildReason::OutOfLog { entry: i });
        }
        previous = Some(current);
    }
    Ok(())
}
