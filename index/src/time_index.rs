//! Kafka's time index: a sparse map from timestamps to offsets, used to find
//! the first offset at or after a timestamp and for time-based retention.
//!
//! Each 12-byte entry is a timestamp (`i64`) followed by the offset relative
//! to the segment's base offset (`u32`), both big-endian. Entries are appended
//! only when the timestamp grows past the last entry's (Kafka's
//! `maybeAppend`), so timestamps strictly increase and offsets never
//! decrease.

use std::path::Path;
use std::sync::Arc;

use crate::check::{IndexCheck, RebuildReason};
use crate::entries::{be, relative_offset, Entries, Slot};
use crate::entry_file::{self, EntryFile};
use crate::error::IndexError;

/// Words per entry: timestamp high, timestamp low, relative offset.
const WORDS: usize = 3;

/// Kafka's `RecordBatch.NO_TIMESTAMP`: the timestamp of an empty index's
/// implicit entry.
const NO_TIMESTAMP: i64 = -1;

/// A timestamp and an offset, as returned by lookups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimestampOffset {
    /// The timestamp, in milliseconds since the epoch.
    pub timestamp: i64,
    /// The absolute offset.
    pub offset: i64,
}

/// The time index of one segment: the single writer.
///
/// Like Kafka's, it keeps its last slot in reserve: [`is_full`](Self::is_full)
/// is true once only that slot is left, and only
/// [`maybe_append_on_roll`](Self::maybe_append_on_roll) may fill it, so the
/// final (max timestamp, offset) entry written when the segment rolls always
/// fits.
///
/// ```
/// use silt_index::{TimeIndex, TimestampOffset};
///
/// # fn main() -> Result<(), silt_index::IndexError> {
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("00000000000000000100.timeindex");
/// let mut index = TimeIndex::create(&path, 100, 10 * 1024 * 1024)?;
/// assert!(index.maybe_append(1_700_000_000_000, 100)?);
/// assert!(!index.maybe_append(1_700_000_000_000, 105)?); // not newer: skipped
/// assert!(index.maybe_append(1_700_000_000_500, 110)?);
/// let found = index.lookup(1_700_000_000_400);
/// assert_eq!(found, TimestampOffset { timestamp: 1_700_000_000_000, offset: 100 });
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct TimeIndex {
    file: EntryFile<WORDS>,
}

impl TimeIndex {
    /// Bytes per entry.
    pub const ENTRY_SIZE: usize = 12;

    /// Creates a new empty index at `path`, truncating any existing file,
    /// preallocated to `max_index_bytes` rounded down to a multiple of 12
    /// (an error if that is 0) and mapped.
    pub fn create(path: &Path, base_offset: i64, max_index_bytes: u64) -> Result<Self, IndexError> {
        EntryFile::create(path, base_offset, max_index_bytes).map(|file| Self { file })
    }

    /// Opens the index at `path`, creating it if missing.
    ///
    /// Same contract as [`OffsetIndex::open`](crate::OffsetIndex::open): the
    /// entries are kept ([`IndexCheck::Ok`]) only if the length is a multiple
    /// of 12 and at most the maximum size, timestamps strictly increase and
    /// offsets never decrease; otherwise the index comes back empty with the
    /// reason. [`open_checked`](Self::open_checked) also checks the offsets
    /// against the segment's next offset.
    pub fn open(
        path: &Path,
        base_offset: i64,
        max_index_bytes: u64,
    ) -> Result<(Self, IndexCheck), IndexError> {
        Self::open_checked(path, base_offset, max_index_bytes, None)
    }

    /// [`open`](Self::open), also requiring every entry's offset to be below
    /// `next_offset_bound` (the segment's next offset) if given; an entry at
    /// or past it gives [`RebuildReason::OutOfLog`].
    pub fn open_checked(
        path: &Path,
        base_offset: i64,
        max_index_bytes: u64,
        next_offset_bound: Option<i64>,
    ) -> Result<(Self, IndexCheck), IndexError> {
        Self::open_as(path, base_offset, max_index_bytes, next_offset_bound, false)
    }

    /// Opens the index of a closed segment as it is, writing nothing; see
    /// [`OffsetIndex::open_sealed`](crate::OffsetIndex::open_sealed). The
    /// checks are those of [`open`](Self::open).
    pub fn open_sealed(
        path: &Path,
        base_offset: i64,
        max_index_bytes: u64,
    ) -> Result<(Self, IndexCheck), IndexError> {
        Self::open_as(path, base_offset, max_index_bytes, None, true)
    }

    fn open_as(
        path: &Path,
        base_offset: i64,
        max_index_bytes: u64,
        next_offset_bound: Option<i64>,
        sealed: bool,
    ) -> Result<(Self, IndexCheck), IndexError> {
        let validate = |entries: &Entries<WORDS>| validate(entries, next_offset_bound);
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

    /// The number of slots in the file, including the one reserved for
    /// [`maybe_append_on_roll`](Self::maybe_append_on_roll) (the entry count
    /// once sealed).
    pub fn max_entries(&self) -> usize {
        self.file.max_entries()
    }

    /// Whether only the reserved last slot (or none) is left: the segment
    /// must roll. Kafka's `TimeIndex.isFull` (`entries >= maxEntries - 1`).
    /// Always true once sealed.
    pub fn is_full(&self) -> bool {
        self.entries() + 1 >= self.max_entries()
    }

    /// The last entry, if any.
    pub fn last_entry(&self) -> Option<TimestampOffset> {
        last_entry(self.file.entries())
    }

    /// Kafka's `maybeAppend`: appends `(timestamp, offset)` if `timestamp`
    /// is greater than the last entry's (greater than -1, "no timestamp",
    /// when the index is empty). Returns whether it appended.
    ///
    /// # Errors
    /// [`Sealed`](IndexError::Sealed) after [`seal`](Self::seal);
    /// [`OffsetOverflow`](IndexError::OffsetOverflow) if `offset` is below the
    /// base offset or more than `u32::MAX` above it;
    /// [`NotMonotonic`](IndexError::NotMonotonic) if `offset` is below the
    /// last entry's; [`Full`](IndexError::Full) if [`is_full`](Self::is_full)
    /// and the entry was not skipped.
    pub fn maybe_append(&mut self, timestamp: i64, offset: i64) -> Result<bool, IndexError> {
        self.append_if_newer(timestamp, offset, false)
    }

    /// [`maybe_append`](Self::maybe_append) that may use the slot reserved
    /// for the last entry: Kafka's `maybeAppend(.., skipFullCheck = true)`,
    /// called with the segment's max timestamp when it rolls, just before
    /// [`seal`](Self::seal).
    pub fn maybe_append_on_roll(
        &mut self,
        timestamp: i64,
        offset: i64,
    ) -> Result<bool, IndexError> {
        self.append_if_newer(timestamp, offset, true)
    }

    fn append_if_newer(
        &mut self,
        timestamp: i64,
        offset: i64,
        use_reserved: bool,
    ) -> Result<bool, IndexError> {
        self.file.ensure_not_sealed()?;
        let base_offset = self.base_offset();
        let relative = relative_offset(self.path(), base_offset, offset)?;
        let (last_timestamp, last_relative) = self
            .file
            .entries()
            .last()
            .map_or((NO_TIMESTAMP, 0), decode_fields);
        if relative < last_relative {
            return Err(IndexError::NotMonotonic {
                path: self.path().to_path_buf(),
                last: base_offset + i64::from(last_relative),
                offset,
            });
        }
        if timestamp <= last_timestamp {
            return Ok(false);
        }
        if !use_reserved && self.is_full() {
            return Err(IndexError::Full {
                path: self.path().to_path_buf(),
                entries: self.entries(),
            });
        }
        let bits = timestamp as u64;
        self.file
            .push([(bits >> 32) as u32, bits as u32, relative])?;
        Ok(true)
    }

    /// The last entry whose timestamp is at most `target_timestamp`, or
    /// `TimestampOffset { timestamp: -1, offset: base_offset }` if there is
    /// none (Kafka's convention).
    pub fn lookup(&self, target_timestamp: i64) -> TimestampOffset {
        lookup(self.file.entries(), target_timestamp)
    }

    /// Entry `i`, with its absolute offset; `None` past the last entry.
    pub fn entry(&self, i: usize) -> Option<TimestampOffset> {
        entry(self.file.entries(), i)
    }

    /// Removes every entry whose offset is `offset` or more. For recovery,
    /// before readers are handed out; see
    /// [`OffsetIndex::truncate_to`](crate::OffsetIndex::truncate_to).
    pub fn truncate_to(&mut self, offset: i64) -> Result<(), IndexError> {
        let base_offset = self.base_offset();
        let keep = self
            .file
            .entries()
            .partition_point(|slot| base_offset + i64::from(be(&slot[2])) < offset);
        self.file.truncate(keep);
        Ok(())
    }

    /// Removes all entries. For recovery, before readers are handed out.
    pub fn clear(&mut self) -> Result<(), IndexError> {
        self.file.truncate(0);
        Ok(())
    }

    /// Makes the entries durable: msync of the written entries, or one
    /// fdatasync when the file's length changed since the last one.
    pub fn flush(&self) -> Result<(), IndexError> {
        self.file.flush()
    }

    /// Flushes, trims the file to `entries() * 12` bytes and seals the index;
    /// see [`OffsetIndex::seal`](crate::OffsetIndex::seal). Idempotent.
    pub fn seal(&mut self) -> Result<(), IndexError> {
        self.file.seal()
    }

    /// Undoes [`seal`](Self::seal); see
    /// [`OffsetIndex::unseal`](crate::OffsetIndex::unseal).
    pub fn unseal(&mut self) -> Result<(), IndexError> {
        self.file.unseal()
    }

    /// Whether [`seal`](Self::seal) was called.
    pub fn is_sealed(&self) -> bool {
        self.file.is_sealed()
    }

    /// A lock-free reader for other threads. It keeps the map alive, so it
    /// stays valid after the index is sealed, renamed or dropped.
    pub fn reader(&self) -> TimeIndexReader {
        TimeIndexReader {
            entries: Arc::clone(self.file.entries()),
        }
    }

    /// The index file's current path.
    pub fn path(&self) -> &Path {
        self.file.path()
    }

    /// Renames the index file. The map and readers are unaffected.
    pub fn rename(&mut self, new_path: &Path) -> Result<(), IndexError> {
        self.file.rename(new_path)
    }
}

/// A lock-free, cloneable reader of a [`TimeIndex`], for other threads.
#[derive(Clone, Debug)]
pub struct TimeIndexReader {
    entries: Arc<Entries<WORDS>>,
}

impl TimeIndexReader {
    /// Opens an index read-only, with no writer, writing nothing; see
    /// [`OffsetIndexReader::open_read_only`](crate::OffsetIndexReader::open_read_only).
    /// The checks are those of [`TimeIndex::open`].
    pub fn open_read_only(
        path: &Path,
        base_offset: i64,
        max_index_bytes: u64,
    ) -> Result<(Self, IndexCheck), IndexError> {
        let (entries, check) =
            entry_file::open_read_only(path, base_offset, max_index_bytes, |entries| {
                validate(entries, None)
            })?;
        Ok((Self { entries }, check))
    }

    /// See [`TimeIndex::lookup`].
    pub fn lookup(&self, target_timestamp: i64) -> TimestampOffset {
        lookup(&self.entries, target_timestamp)
    }

    /// The number of published entries.
    pub fn entries(&self) -> usize {
        self.entries.len()
    }

    /// See [`TimeIndex::entry`].
    pub fn entry(&self, i: usize) -> Option<TimestampOffset> {
        entry(&self.entries, i)
    }

    /// See [`TimeIndex::last_entry`].
    pub fn last_entry(&self) -> Option<TimestampOffset> {
        last_entry(&self.entries)
    }

    /// The segment's base offset.
    pub fn base_offset(&self) -> i64 {
        self.entries.base_offset()
    }
}

/// The timestamp of a slot (two loads; the relative offset is not read).
#[inline(always)]
fn timestamp(slot: &Slot<WORDS>) -> i64 {
    ((u64::from(be(&slot[0])) << 32) | u64::from(be(&slot[1]))) as i64
}

/// Timestamp and relative offset of a slot.
fn decode_fields(slot: &Slot<WORDS>) -> (i64, u32) {
    (timestamp(slot), be(&slot[2]))
}

fn decode(entries: &Entries<WORDS>, slot: &Slot<WORDS>) -> TimestampOffset {
    let (timestamp, relative) = decode_fields(slot);
    TimestampOffset {
        timestamp,
        offset: entries.base_offset() + i64::from(relative),
    }
}

fn lookup(entries: &Entries<WORDS>, target_timestamp: i64) -> TimestampOffset {
    entries.search(target_timestamp, timestamp).map_or_else(
        || TimestampOffset {
            timestamp: NO_TIMESTAMP,
            offset: entries.base_offset(),
        },
        |slot| decode(entries, slot),
    )
}

fn entry(entries: &Entries<WORDS>, i: usize) -> Option<TimestampOffset> {
    entries.get(i).map(|slot| decode(entries, slot))
}

fn last_entry(entries: &Entries<WORDS>) -> Option<TimestampOffset> {
    entries.last().map(|slot| decode(entries, slot))
}

/// Timestamps strictly increase, offsets never decrease and stay below the
/// segment's next offset.
fn validate(entries: &Entries<WORDS>, next_offset_bound: Option<i64>) -> Result<(), RebuildReason> {
    let base_offset = entries.base_offset();
    // An empty index behaves as if it held (-1, base offset), and
    // `maybe_append` never writes an entry that does not follow it.
    let (mut previous_timestamp, mut previous_relative) = (NO_TIMESTAMP, 0);
    for i in 0..entries.len() {
        let Some((timestamp, relative)) = entries.get(i).map(decode_fields) else {
            break;
        };
        if timestamp <= previous_timestamp || relative < previous_relative {
            return Err(RebuildReason::NotMonotonic { entry: i });
        }
        if next_offset_bound.is_some_and(|bound| base_offset + i64::from(relative) >= bound) {
            return Err(RebuildReason::OutOfLog { entry: i });
        }
        (previous_timestamp, previous_relative) = (timestamp, relative);
    }
    Ok(())
}
