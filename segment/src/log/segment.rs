//! The writer side of a segment: append, roll checks, seal, flush.

use std::io::IoSlice;
use std::path::Path;
use std::sync::Arc;

use silt_index::{OffsetIndex, TimeIndex};

use super::config::{RollReason, SegmentConfig};
use super::file::{self, AppendFile, LogMap, SegmentPaths};
use super::reader::SegmentReader;
use super::shared::{SegmentSyncer, Shared};
use super::tracking::{Recovered, Tracking};
use crate::batch::Batches;
use crate::error::{Result, SegmentError};

/// What an append wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendInfo {
    /// Offset given to the first record.
    pub base_offset: i64,
    /// Offset of the last record.
    pub last_offset: i64,
    /// Position of the first batch in the `.log` file.
    pub position: u32,
    /// Largest timestamp of the appended batches.
    pub max_timestamp: i64,
    /// Batches appended.
    pub batches: u32,
}

/// The single writer of one segment (Kafka's `LogSegment`).
///
/// Appends whole, already-encoded batches: it stamps each batch's base offset (outside the
/// CRC, so the checksum stands), copies the bytes into the mapped file, publishes the new
/// end with a release store, and adds an offset index entry (and time index entry) once
/// more than `index.interval.bytes` were appended since the last one.
///
/// ```
/// use silt_segment::batch::{BatchBuilder, BatchConfig};
/// use silt_segment::log::{Segment, SegmentConfig};
///
/// let dir = tempfile::tempdir()?;
/// let config = SegmentConfig { segment_bytes: 1 << 20, ..SegmentConfig::default() };
/// let mut segment = Segment::create(dir.path(), 0, &config)?;
/// let mut builder = BatchBuilder::new(BatchConfig::default());
/// builder.append(1_700_000_000_000, None, Some(b"hello"), &[])?;
/// let info = segment.append(&builder.finish()?)?;
/// assert_eq!(info.base_offset, 0);
///
/// let reader = segment.reader();
/// let slice = reader.read(0, 1 << 20)?.expect("offset 0 is there");
/// assert_eq!(slice.batches().count(), 1);
/// segment.seal()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Segment {
    pub(crate) shared: Arc<Shared>,
    pub(crate) paths: SegmentPaths,
    pub(crate) offset_index: OffsetIndex,
    pub(crate) time_index: TimeIndex,
    pub(crate) config: SegmentConfig,
    /// Bytes the map can hold (the preallocated size while active).
    pub(crate) capacity: u32,
    pub(crate) end: u32,
    pub(crate) next_offset: i64,
    /// Timestamps and the index rule's byte count, as the batches so far leave them.
    pub(crate) tracking: Tracking,
    /// End of the pages the writer has already faulted in (see `prefault_for`), when it
    /// copies appends into the map.
    pub(crate) prefaulted_end: u32,
    /// The `.log` file, open while the segment is active and the budget allowed it: appends
    /// are written with `pwritev` instead of copied into the map.
    pub(crate) append_file: Option<AppendFile>,
    /// End of the page-padded range the last `pwritev` wrote: its pages are in the page
    /// cache, so an append smaller than [`SMALL_APPEND_BYTES`] that ends below it is copied
    /// into the map (a minor fault at most, never a read-ahead) instead of paying a system
    /// call. 0 until the first `pwritev`, and again after the end moves back.
    pub(crate) cached_end: u32,
    /// Base offsets of the append in progress, big-endian, written in place of the batches'
    /// own (`pwritev` from the caller's bytes); kept to reuse its allocation.
    pub(crate) stamps: Vec<[u8; 8]>,
    /// Batches of the append in progress; kept to reuse its allocation.
    pub(crate) pending: Vec<PendingBatch>,
    pub(crate) sealed: bool,
    /// Whether batches may leave offsets unused between them (a compacted segment): the
    /// scans of recovery and truncation then accept a batch whose base offset is past the
    /// previous batch's next offset.
    pub(crate) offset_gaps: bool,
}

impl std::fmt::Debug for Segment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Segment")
            .field("path", &self.paths.log)
            .field("base_offset", &self.shared.base_offset)
            .field("next_offset", &self.next_offset)
            .field("size", &self.end)
            .field("sealed", &self.sealed)
            .finish()
    }
}

/// Appends smaller than this (a page) are copied into the map when their pages are already
/// in the page cache (see `Segment::cached_end`); larger ones are written with `pwritev`.
const SMALL_APPEND_BYTES: usize = 4096;
/// How far past its end a small append's `pwritev` writes zeros and maps the pages: the
/// next 64 KiB of small appends (a few hundred records) are copies with no system call and
/// no page fault.
const SMALL_EXTENT_BYTES: usize = 64 << 10;

impl Segment {
    /// Creates a new, empty active segment in `dir` (replacing files of the same name),
    /// preallocated to `segment.bytes` with both indexes preallocated to
    /// `segment.index.bytes`. A full disk fails here, not later, and a failed creation leaves
    /// none of the three files behind. The `.log` file stays open for appends while the
    /// segment is active, within the process's budget (see [`set_append_file_budget`]).
    ///
    /// [`set_append_file_budget`]: super::set_append_file_budget
    pub fn create(dir: &Path, base_offset: i64, config: &SegmentConfig) -> Result<Segment> {
        Segment::create_at(SegmentPaths::new(dir, base_offset), base_offset, config)
    }

    /// As [`Segment::create`], but the three files are named with `suffix` appended
    /// (`<base>.log<suffix>`, `<base>.index<suffix>`, `<base>.timeindex<suffix>`): the
    /// temporary segments of log compaction (`.cleaned`), renamed into place once complete.
    /// Such a segment is written with [`Segment::append_with_offsets`].
    pub fn create_with_suffix(
        dir: &Path,
        base_offset: i64,
        config: &SegmentConfig,
        suffix: &str,
    ) -> Result<Segment> {
        let paths = SegmentPaths::with_suffix(dir, base_offset, suffix);
        let mut segment = Segment::create_at(paths, base_offset, config)?;
        segment.set_offset_gaps(true);
        Ok(segment)
    }

    fn create_at(paths: SegmentPaths, base_offset: i64, config: &SegmentConfig) -> Result<Segment> {
        config.validate()?;
        if base_offset < 0 {
            return Err(SegmentError::InvalidBaseOffset(base_offset));
        }
        let (log, indexes) = match Segment::create_files(&paths, base_offset, config) {
            Ok(files) => files,
            Err(e) => {
                // Best effort: a `.log` of preallocated zeros left without its indexes (the
                // disk filled up between the files) would otherwise be listed as a segment by
                // the next open. What cannot be removed is what a crash in the middle of a
                // creation leaves, which opening handles.
                for path in [&paths.log, &paths.index, &paths.time_index] {
                    let _ = std::fs::remove_file(path);
                }
                return Err(e);
            }
        };
        let state = Recovered::empty(base_offset);
        let segment = Segment::assemble(paths, log, indexes, *config, state, false);
        // The file grew to its preallocated size: the first sync makes that durable.
        segment.shared.note_len_change();
        Ok(segment)
    }

    /// Creates, preallocates and maps the three files of a new segment.
    fn create_files(
        paths: &SegmentPaths,
        base_offset: i64,
        config: &SegmentConfig,
    ) -> Result<(LogMap, (OffsetIndex, TimeIndex))> {
        let capacity = u64::from(config.segment_bytes);
        let file = file::open_rw(&paths.log, true)?;
        file::preallocate(&file, &paths.log, capacity)?;
        let map = file::map(&file, &paths.log, capacity, true)?;
        let log = LogMap {
            map,
            append_file: AppendFile::keep(file),
            file_len: 0,
            capacity,
        };
        let index_bytes = u64::from(config.segment_index_bytes);
        let offset_index = OffsetIndex::create(&paths.index, base_offset, index_bytes)?;
        let time_index = TimeIndex::create(&paths.time_index, base_offset, index_bytes)?;
        Ok((log, (offset_index, time_index)))
    }

    /// The writer of a segment whose log is mapped by `log`, with the first `state.end`
    /// bytes valid, published and durable.
    pub(crate) fn assemble(
        paths: SegmentPaths,
        log: LogMap,
        (offset_index, time_index): (OffsetIndex, TimeIndex),
        config: SegmentConfig,
        state: Recovered,
        sealed: bool,
    ) -> Segment {
        let shared = Shared::new(
            paths.log.clone(),
            log.map,
            &state,
            offset_index.reader(),
            time_index.reader(),
        );
        if sealed {
            shared.mark_sealed();
        }
        Segment {
            shared: Arc::new(shared),
            paths,
            offset_index,
            time_index,
            config,
            // At most `i32::MAX`: `LogMap::open` and `SegmentConfig::validate` check it.
            capacity: log.capacity as u32,
            end: state.end,
            next_offset: state.next_offset,
            tracking: state.tracking,
            prefaulted_end: state.end,
            append_file: log.append_file,
            cached_end: 0,
            stamps: Vec::new(),
            pending: Vec::new(),
            sealed,
            offset_gaps: false,
        }
    }

    /// Says whether batches may leave offsets unused between them, for the scans of recovery
    /// and truncation and for readers.
    pub(crate) fn set_offset_gaps(&mut self, gaps: bool) {
        self.offset_gaps = gaps;
        self.shared.set_offset_gaps(gaps);
    }

    /// First offset this segment can hold (its file name).
    pub fn base_offset(&self) -> i64 {
        self.shared.base_offset
    }

    /// Offset the next appended record will get.
    pub fn next_offset(&self) -> i64 {
        self.next_offset
    }

    /// Bytes of batches in the segment.
    pub fn size(&self) -> u32 {
        self.end
    }

    /// True when nothing was appended.
    pub fn is_empty(&self) -> bool {
        self.end == 0
    }

    /// Largest timestamp seen (-1 when empty), and the offset of the batch that has it.
    pub fn max_timestamp(&self) -> (i64, i64) {
        (
            self.tracking.max_timestamp,
            self.tracking.offset_of_max_timestamp,
        )
    }

    /// True once rolled or closed.
    pub fn is_sealed(&self) -> bool {
        self.sealed
    }

    /// The `.log` file.
    pub fn path(&self) -> &Path {
        &self.paths.log
    }

    /// The settings the segment was opened with.
    pub fn config(&self) -> &SegmentConfig {
        &self.config
    }

    /// Entries in the offset index.
    pub fn offset_index_entries(&self) -> usize {
        self.offset_index.entries()
    }

    /// Entries in the time index.
    pub fn time_index_entries(&self) -> usize {
        self.time_index.entries()
    }

    /// A lock-free reader, for any thread.
    pub fn reader(&self) -> SegmentReader {
        SegmentReader::new(Arc::clone(&self.shared))
    }

    /// A handle that syncs this segment's log from any thread while the writer goes on
    /// appending (group commit): see [`SegmentSyncer::sync`]. It stays valid after a seal.
    pub fn syncer(&self) -> SegmentSyncer {
        SegmentSyncer {
            shared: Arc::clone(&self.shared),
        }
    }

    /// Offset after the last durable record: everything below it was synced, by
    /// [`flush`](Self::flush), a [`SegmentSyncer`], a seal, or before opening.
    pub fn synced_offset(&self) -> i64 {
        self.shared.synced_to().next_offset
    }

    /// Whether the segment must roll before a batch of `batch_bytes` bytes holding
    /// `record_span` offsets (lastOffsetDelta + 1) is appended at time `now_ms`. Kafka's
    /// `shouldRoll`: size, `segment.ms`, a full index, or a relative offset overflow.
    pub fn roll_reason(
        &self,
        batch_bytes: usize,
        record_span: u32,
        now_ms: i64,
    ) -> Option<RollReason> {
        if self.sealed {
            return Some(RollReason::Size);
        }
        if self.end as u64 + batch_bytes as u64
            > u64::from(self.capacity.min(self.config.segment_bytes))
            && self.end > 0
        {
            return Some(RollReason::Size);
        }
        if let Some(first) = self.tracking.rolling_timestamp {
            if now_ms.saturating_sub(first) > self.config.segment_ms {
                return Some(RollReason::Time);
            }
        }
        if self.offset_index.is_full() || self.time_index.is_full() {
            return Some(RollReason::IndexFull);
        }
        let last_relative = self.next_offset - self.base_offset() + i64::from(record_span) - 1;
        if last_relative > i64::from(i32::MAX) {
            return Some(RollReason::OffsetOverflow);
        }
        None
    }

    /// Appends one or more whole batches laid back to back, giving them the next offsets.
    ///
    /// Each batch's header is checked (magic, length, counts) before anything is written; the
    /// CRC was computed by the encoder and is not recomputed here (the read side checks it).
    /// Fails without writing anything with [`SegmentError::SegmentFull`] if the bytes do not
    /// fit or the offsets would overflow the segment, and with `BadAppend` for a malformed batch.
    pub fn append(&mut self, batches: &[u8]) -> Result<AppendInfo> {
        if self.sealed {
            return Err(SegmentError::Sealed {
                path: self.paths.log.clone(),
            });
        }
        self.append_planned(batches, false)
    }

    /// Appends whole batches keeping the base offsets they carry, as the cleaner copies
    /// batches into a compacted segment (Kafka's `LogSegment.append` with given offsets).
    /// Offsets must rise: each batch's base offset at or past the next offset (gaps are
    /// allowed), its last offset within 32-bit range of the segment's base. Checked before
    /// anything is written, like [`Segment::append`].
    pub fn append_with_offsets(&mut self, batches: &[u8]) -> Result<AppendInfo> {
        if self.sealed {
            return Err(SegmentError::Sealed {
                path: self.paths.log.clone(),
            });
        }
        self.append_planned(batches, true)
    }

    fn append_planned(&mut self, batches: &[u8], keep_offsets: bool) -> Result<AppendInfo> {
        // One walk of the headers, into a list reused from append to append.
        let mut pending = std::mem::take(&mut self.pending);
        let planned = self.plan_append(batches, &mut pending, keep_offsets);
        let result = planned.and_then(|()| self.write_planned(batches, &pending, keep_offsets));
        pending.clear();
        self.pending = pending;
        result
    }

    fn write_planned(
        &mut self,
        batches: &[u8],
        pending: &[PendingBatch],
        keep_offsets: bool,
    ) -> Result<AppendInfo> {
        let start = self.end;
        let first_offset = match pending.first() {
            Some(b) if keep_offsets => b.base_offset,
            _ => self.next_offset,
        };
        // A small append into pages the last write left in the cache (the sending thread's
        // own batches with `linger.ms=0`, a few hundred bytes each) is a copy, not a call.
        let small = batches.len() < SMALL_APPEND_BYTES
            && start as usize + batches.len() <= self.cached_end as usize;
        let through_file = !small
            && self.append_file.is_some()
            && match self.write_through(start, batches, pending, !keep_offsets) {
                Ok(()) => true,
                Err(e @ SegmentError::SegmentFull { .. }) => return Err(e),
                // Any other failure of the write (a file size limit below the preallocated
                // size, an I/O error) falls back to the map for good: the blocks are
                // allocated, so the copy cannot fail, and errors of the page cache surface
                // at the next sync as they always did.
                Err(_) => {
                    self.append_file = None;
                    false
                }
            };
        if !through_file {
            if !small {
                self.prefault_for(batches.len());
            }
            self.copy_in(start as usize, batches)?;
        }
        let mut next = first_offset;
        let (mut max_timestamp, mut offset_of_max) = self.max_timestamp();
        for b in pending {
            if keep_offsets {
                next = b.base_offset;
            } else if !through_file {
                self.stamp_base_offset((start + b.position) as usize, next);
            }
            next += i64::from(b.last_offset_delta) + 1;
            if b.max_timestamp > max_timestamp {
                (max_timestamp, offset_of_max) = (b.max_timestamp, next - 1);
            }
        }
        self.end = start + batches.len() as u32;
        self.next_offset = next;
        // The max timestamp before the end that covers it: a reader never sees a batch whose
        // timestamp its `max_timestamp` does not count.
        if max_timestamp > self.tracking.max_timestamp {
            self.shared.set_max_timestamp(max_timestamp, offset_of_max);
        }
        self.publish();

        // Index after publishing, so every entry a reader sees points below the end it loads.
        let mut info = AppendInfo {
            base_offset: first_offset,
            last_offset: next - 1,
            position: start,
            max_timestamp: -1,
            batches: pending.len() as u32,
        };
        let mut offset = first_offset;
        for b in pending {
            if keep_offsets {
                offset = b.base_offset;
            }
            let last_offset = offset + i64::from(b.last_offset_delta);
            info.max_timestamp = info.max_timestamp.max(b.max_timestamp);
            self.index_batch(start + b.position, b.size, last_offset, b.max_timestamp);
            offset = last_offset + 1;
        }
        debug_assert_eq!(
            self.max_timestamp(),
            (max_timestamp, offset_of_max),
            "the published max timestamp is the tracked one"
        );
        Ok(info)
    }

    /// Checks every batch header and the room left, listing the batches in `pending`.
    fn plan_append(
        &self,
        batches: &[u8],
        pending: &mut Vec<PendingBatch>,
        keep_offsets: bool,
    ) -> Result<()> {
        let bad = |source: SegmentError| SegmentError::BadAppend {
            path: self.paths.log.clone(),
            source: Box::new(source),
        };
        if batches.is_empty() {
            return Err(bad(SegmentError::EmptyAppend));
        }
        let room = u64::from(self.capacity) - u64::from(self.end);
        let full = |reason| SegmentError::SegmentFull {
            path: self.paths.log.clone(),
            needed: batches.len() as u64,
            available: room,
            reason,
        };
        if batches.len() as u64 > room {
            return Err(full(RollReason::Size));
        }
        let mut span = 0i64;
        let mut next = self.next_offset;
        for batch in Batches::new(batches, 0) {
            let batch = batch.map_err(bad)?;
            let header = batch.header();
            span += i64::from(header.last_offset_delta) + 1;
            if keep_offsets {
                if header.base_offset < next {
                    let fault = crate::error::HeaderFault::OffsetGap {
                        expected: next,
                        found: header.base_offset,
                    };
                    let position = batch.position();
                    return Err(bad(SegmentError::InvalidHeader { position, fault }));
                }
                next = header.next_offset();
            }
            pending.push(PendingBatch {
                position: batch.position() as u32,
                size: batch.size() as u32,
                base_offset: header.base_offset,
                last_offset_delta: header.last_offset_delta,
                max_timestamp: header.max_timestamp,
            });
        }
        let last = if keep_offsets {
            next - 1
        } else {
            self.next_offset + span - 1
        };
        if last - self.base_offset() > i64::from(i32::MAX) {
            return Err(full(RollReason::OffsetOverflow));
        }
        Ok(())
    }

    /// Writes `batches` at `start` with `pwritev` through the kept file, each batch's base
    /// offset replaced by the next offsets of this segment when `restamp` (the caller's
    /// bytes are not changed). Refused past the capacity, as [`copy_in`](Self::copy_in).
    ///
    /// The write goes on with zeros (inside the capacity, past the end, where the file holds
    /// zeros anyway and nothing reads) to the next page boundary, so the kernel allocates
    /// every page whole without reading (zeroing) it first; a small append's write goes on to
    /// the next [`SMALL_EXTENT_BYTES`] boundary, and those pages are mapped as well, so the
    /// small appends that follow are plain copies (see `cached_end`).
    ///
    /// A write that fails leaves the end where it was and nothing published; the caller
    /// then copies the same bytes into the map, over whatever part reached the page cache.
    fn write_through(
        &mut self,
        start: u32,
        batches: &[u8],
        pending: &[PendingBatch],
        restamp: bool,
    ) -> Result<()> {
        const PAGE: usize = 4096;
        static ZEROS: [u8; PAGE] = [0; PAGE];
        /// Slices that fit on the stack: 8 batches, their stamps and the padding.
        const ON_STACK: usize = 2 * 8 + SMALL_EXTENT_BYTES / PAGE + 1;
        if start as usize + batches.len() > self.capacity as usize {
            return Err(SegmentError::SegmentFull {
                path: self.paths.log.clone(),
                needed: batches.len() as u64,
                available: u64::from(self.capacity.saturating_sub(start)),
                reason: RollReason::Size,
            });
        }
        let Some(file) = self.append_file.as_ref() else {
            return Err(SegmentError::Sealed {
                path: self.paths.log.clone(),
            });
        };
        let end = start as usize + batches.len();
        let small = batches.len() < SMALL_APPEND_BYTES;
        let extent = if small { SMALL_EXTENT_BYTES } else { PAGE };
        let padded_end = end.next_multiple_of(extent).min(self.capacity as usize);
        let pad = padded_end - end;
        let padding = (0..pad.div_ceil(PAGE)).map(|i| {
            let n = (pad - i * PAGE).min(PAGE);
            IoSlice::new(ZEROS.get(..n).unwrap_or_default())
        });
        let mut stamps = std::mem::take(&mut self.stamps);
        stamps.clear();
        if restamp {
            let mut next = self.next_offset;
            for b in pending {
                stamps.push(next.to_be_bytes());
                next += i64::from(b.last_offset_delta) + 1;
            }
        }
        // Restamped, per batch: its new base offset, then the rest of its bytes. The plan
        // walked the batches back to back, so the slices cover `batches` exactly.
        let restamped = pending.iter().zip(&stamps).flat_map(|(b, stamp)| {
            let rest = batches
                .get(b.position as usize + 8..(b.position + b.size) as usize)
                .unwrap_or_default();
            [IoSlice::new(stamp), IoSlice::new(rest)]
        });
        let whole = (!restamp).then(|| IoSlice::new(batches));
        let slices = whole.into_iter().chain(restamped).chain(padding);
        let path = &self.paths.log;
        let count = if restamp { 2 * pending.len() } else { 1 } + pad.div_ceil(PAGE);
        let result = if count <= ON_STACK {
            let mut array = [IoSlice::new(&[]); ON_STACK];
            let mut used = 0;
            for (slot, slice) in array.iter_mut().zip(slices) {
                *slot = slice;
                used += 1;
            }
            let slices = array.get_mut(..used).unwrap_or_default();
            file.write_all_at(path, slices, u64::from(start))
        } else {
            file.write_all_at(path, &mut slices.collect::<Vec<_>>(), u64::from(start))
        };
        self.stamps = stamps;
        result?;
        self.cached_end = self.cached_end.max(padded_end as u32);
        if small {
            if let Some(map) = self.shared.map.as_ref() {
                // The pages are in the page cache now: this maps them, reading nothing.
                file::populate_write(map, end, padded_end);
            }
        }
        Ok(())
    }

    /// Copies `bytes` into the map at `start`; the caller checked the room.
    fn copy_in(&mut self, start: usize, bytes: &[u8]) -> Result<()> {
        let map = self
            .shared
            .map
            .as_ref()
            .ok_or_else(|| SegmentError::Sealed {
                path: self.paths.log.clone(),
            })?;
        if start + bytes.len() > map.len() {
            return Err(SegmentError::SegmentFull {
                path: self.paths.log.clone(),
                needed: bytes.len() as u64,
                available: (map.len() - start) as u64,
                reason: RollReason::Size,
            });
        }
        // SAFETY: `start + bytes.len() <= map.len()` (checked above), so the destination lies
        // inside the mapping. The map is writable (active segments are mapped read-write) and
        // the range is at or past the published end, which no reader reads: readers only form
        // slices below the end they loaded, and the end is published after this copy. `bytes`
        // is a caller's buffer, which cannot overlap our mapping through safe code.
        unsafe {
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), map.as_mut_ptr().add(start), bytes.len())
        };
        Ok(())
    }

    /// Writes the base offset of the batch at `position` (not yet published).
    fn stamp_base_offset(&mut self, position: usize, base_offset: i64) {
        let Some(map) = self.shared.map.as_ref() else {
            return;
        };
        if position + 8 > map.len() {
            return;
        }
        let value = base_offset.to_be_bytes();
        // SAFETY: `position + 8 <= map.len()`; the batch at `position` was just copied past the
        // published end, so no reader can be reading it.
        unsafe { std::ptr::copy_nonoverlapping(value.as_ptr(), map.as_mut_ptr().add(position), 8) };
    }

    /// Tracks the batch's timestamps and applies Kafka's index rule: an entry for the batch at
    /// `position` once more than `index.interval.bytes` were appended since the last entry.
    /// Appends and recovery both call this batch by batch, so a rebuilt index equals the one
    /// appends built. A full index skips the entry (the index is sparse; lookups scan
    /// forward) and the segment reports [`RollReason::IndexFull`] before the next append.
    pub(crate) fn index_batch(
        &mut self,
        position: u32,
        size: u32,
        last_offset: i64,
        max_timestamp: i64,
    ) {
        let interval = self.config.index_interval_bytes;
        let due = self
            .tracking
            .observe(size, last_offset, max_timestamp, interval);
        if due && self.offset_index.append(last_offset, position).is_ok() {
            let t = self.tracking;
            let _ = self
                .time_index
                .maybe_append(t.max_timestamp, t.offset_of_max_timestamp);
        }
    }

    /// Takes on a state found by a scan (open, recovery, truncation) and publishes it, with its
    /// max timestamp, as durable. Every byte below its end must already be durable, and no
    /// other thread may hold the segment.
    pub(crate) fn restore(&mut self, state: Recovered) {
        self.cached_end = 0;
        self.end = state.end;
        self.next_offset = state.next_offset;
        self.tracking = state.tracking;
        self.shared.restore(&state);
    }

    pub(crate) fn publish(&self) {
        self.shared.publish(self.next_offset, self.end);
    }

    /// Syncs what was appended since the last sync (msync of that range, or an fdatasync after
    /// the file's length changed; see [`SegmentSyncer::sync`]) and both indexes. What a
    /// [`SegmentSyncer`] already synced is skipped.
    pub fn flush(&mut self) -> Result<()> {
        self.shared.sync()?;
        self.offset_index.flush()?;
        self.time_index.flush()?;
        Ok(())
    }

    /// Bytes appended but not yet synced.
    pub fn unflushed_bytes(&self) -> u32 {
        self.end.saturating_sub(self.shared.synced_to().end)
    }

    /// Rolls or closes the segment: writes the final time index entry, and trims the `.log`
    /// file and both indexes to their real sizes, making each durable (one fsync of the
    /// trimmed file writes its dirty pages too), so the files are byte-for-byte what Kafka
    /// would have. Readers keep reading (their map stays valid below the end).
    ///
    /// A seal that fails may have cut the file already: the segment then takes no more
    /// appends (they fail with `SegmentFull`, since a store past the end of the file would
    /// raise SIGBUS), and whether its bytes are durable is unknown. Calling `seal` again
    /// must not be taken to prove them durable (a failed fsync may have dropped the dirty
    /// pages, and the next one then succeeds with nothing to write): reopen the segment,
    /// which recovers it, as silt's engine does.
    pub fn seal(&mut self) -> Result<()> {
        if self.sealed {
            return Ok(());
        }
        self.append_final_time_entry()?;
        let (path, end) = (&self.paths.log, self.end);
        let mut cut = false;
        let synced = file::with_file(path, true, |file| {
            file::set_len(file, path, u64::from(end))?;
            cut = true;
            file::sync_all(file, path)
        });
        if cut {
            // Whatever happens next, nothing may be written past `end` through the map.
            self.capacity = end;
        }
        // A sealed segment takes no appends: its descriptor goes back to the budget.
        self.append_file = None;
        synced?;
        self.shared.note_file_synced();
        self.offset_index.seal()?;
        self.time_index.seal()?;
        self.sealed = true;
        self.shared.mark_sealed();
        self.capacity = self.end;
        Ok(())
    }

    /// Kafka's roll-time time index entry: the segment's max timestamp, in the slot kept in
    /// reserve. The time index is derived data, so an entry that does not follow the last one
    /// (an index that disagrees with the log) is skipped rather than failing the seal;
    /// lookups stay correct because they scan forward from whatever entry they find.
    pub(crate) fn append_final_time_entry(&mut self) -> Result<()> {
        let Tracking {
            max_timestamp,
            offset_of_max_timestamp,
            ..
        } = self.tracking;
        if max_timestamp < 0 {
            return Ok(());
        }
        match self
            .time_index
            .maybe_append_on_roll(max_timestamp, offset_of_max_timestamp)
        {
            Ok(_) | Err(silt_index::IndexError::NotMonotonic { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

/// A batch of an append in progress, as planned from its header.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PendingBatch {
    /// Position inside the appended bytes.
    position: u32,
    size: u32,
    /// The batch's own base offset (kept by `append_with_offsets`, else restamped).
    base_offset: i64,
    last_offset_delta: i32,
    max_timestamp: i64,
}
