//! The writer side of a segment: append, roll checks, seal, flush.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use memmap2::MmapRaw;
use silt_index::{OffsetIndex, TimeIndex};

use super::config::{RollReason, SegmentConfig};
use super::file::{self, SegmentPaths};
use super::reader::SegmentReader;
use crate::batch::Batches;
use crate::error::{Result, SegmentError};

/// State shared by the writer and its readers.
///
/// `published` packs the segment's readable end: the high 32 bits are the next offset
/// relative to the base offset, the low 32 bits the end position. One 64-bit store publishes
/// both, so a reader never sees an end position without the offsets that go with it.
pub(crate) struct Shared {
    pub(crate) base_offset: i64,
    pub(crate) log_path: PathBuf,
    /// `None` only for an empty sealed segment (a zero-length file cannot be mapped).
    pub(crate) map: Option<MmapRaw>,
    pub(crate) published: AtomicU64,
    pub(crate) offset_index: silt_index::OffsetIndexReader,
    pub(crate) time_index: silt_index::TimeIndexReader,
}

pub(crate) fn pack(next_relative: u32, end: u32) -> u64 {
    (u64::from(next_relative) << 32) | u64::from(end)
}

pub(crate) fn unpack(published: u64) -> (u32, u32) {
    ((published >> 32) as u32, published as u32)
}

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
    pub(crate) file: File,
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
    pub(crate) synced_end: u32,
    /// End of the pages the writer has already faulted in (see `prefault_for`).
    pub(crate) prefaulted_end: u32,
    /// Batches of the append in progress; kept to reuse its allocation.
    pub(crate) pending: Vec<PendingBatch>,
    pub(crate) sealed: bool,
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

impl Segment {
    /// Creates a new, empty active segment in `dir` (replacing files of the same name),
    /// preallocated to `segment.bytes` with both indexes preallocated to
    /// `segment.index.bytes`. A full disk fails here, not later.
    pub fn create(dir: &Path, base_offset: i64, config: &SegmentConfig) -> Result<Segment> {
        config.validate()?;
        if base_offset < 0 {
            return Err(SegmentError::InvalidBaseOffset(base_offset));
        }
        let paths = SegmentPaths::new(dir, base_offset);
        let file = file::open_rw(&paths.log, true)?;
        file::preallocate(&file, &paths.log, u64::from(config.segment_bytes))?;
        let map = file::map(&file, &paths.log, u64::from(config.segment_bytes), true)?;
        let index_bytes = u64::from(config.segment_index_bytes);
        let offset_index = OffsetIndex::create(&paths.index, base_offset, index_bytes)?;
        let time_index = TimeIndex::create(&paths.time_index, base_offset, index_bytes)?;
        let state = Recovered::empty(base_offset);
        Ok(Segment::assemble(
            file,
            paths,
            map,
            offset_index,
            time_index,
            *config,
            config.segment_bytes,
            state,
            false,
        ))
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn assemble(
        file: File,
        paths: SegmentPaths,
        map: Option<MmapRaw>,
        offset_index: OffsetIndex,
        time_index: TimeIndex,
        config: SegmentConfig,
        capacity: u32,
        state: Recovered,
        sealed: bool,
    ) -> Segment {
        let base_offset = offset_index.base_offset();
        let relative_next = (state.next_offset - base_offset) as u32;
        let shared = Arc::new(Shared {
            base_offset,
            log_path: paths.log.clone(),
            map,
            published: AtomicU64::new(pack(relative_next, state.end)),
            offset_index: offset_index.reader(),
            time_index: time_index.reader(),
        });
        Segment {
            shared,
            file,
            paths,
            offset_index,
            time_index,
            config,
            capacity,
            end: state.end,
            next_offset: state.next_offset,
            tracking: state.tracking,
            synced_end: state.end,
            prefaulted_end: state.end,
            pending: Vec::new(),
            sealed,
        }
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
        // One walk of the headers, into a list reused from append to append.
        let mut pending = std::mem::take(&mut self.pending);
        let planned = self.plan_append(batches, &mut pending);
        let result = planned.and_then(|()| self.write_planned(batches, &pending));
        pending.clear();
        self.pending = pending;
        result
    }

    fn write_planned(&mut self, batches: &[u8], pending: &[PendingBatch]) -> Result<AppendInfo> {
        let start = self.end;
        self.prefault_for(batches.len());
        self.copy_in(start as usize, batches)?;
        let first_offset = self.next_offset;
        let mut next = first_offset;
        for b in pending {
            self.stamp_base_offset((start + b.position) as usize, next);
            next += i64::from(b.last_offset_delta) + 1;
        }
        self.end = start + batches.len() as u32;
        self.next_offset = next;
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
            let last_offset = offset + i64::from(b.last_offset_delta);
            info.max_timestamp = info.max_timestamp.max(b.max_timestamp);
            self.index_batch(start + b.position, b.size, last_offset, b.max_timestamp);
            offset = last_offset + 1;
        }
        Ok(info)
    }

    /// Checks every batch header and the room left, listing the batches in `pending`.
    fn plan_append(&self, batches: &[u8], pending: &mut Vec<PendingBatch>) -> Result<()> {
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
        for batch in Batches::new(batches, 0) {
            let batch = batch.map_err(bad)?;
            let header = batch.header();
            span += i64::from(header.last_offset_delta) + 1;
            pending.push(PendingBatch {
                position: batch.position() as u32,
                size: batch.size() as u32,
                last_offset_delta: header.last_offset_delta,
                max_timestamp: header.max_timestamp,
            });
        }
        if self.next_offset + span - 1 - self.base_offset() > i64::from(i32::MAX) {
            return Err(full(RollReason::OffsetOverflow));
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

    /// Takes on a state found by a scan (open, recovery, truncation) and publishes it. Every
    /// byte below its end must already be durable.
    pub(crate) fn restore(&mut self, state: Recovered) {
        self.end = state.end;
        self.next_offset = state.next_offset;
        self.tracking = state.tracking;
        self.synced_end = state.end;
        self.publish();
    }

    pub(crate) fn publish(&self) {
        let relative = (self.next_offset - self.base_offset()) as u32;
        self.shared
            .published
            .store(pack(relative, self.end), Ordering::Release);
    }

    /// Syncs what was appended since the last flush (msync of that range) and both indexes.
    pub fn flush(&mut self) -> Result<()> {
        if let Some(map) = self.shared.map.as_ref() {
            if self.end > self.synced_end {
                file::sync_range(
                    map,
                    &self.paths.log,
                    self.synced_end as usize,
                    self.end as usize,
                )?;
            }
        }
        self.offset_index.flush()?;
        self.time_index.flush()?;
        self.synced_end = self.end;
        Ok(())
    }

    /// Bytes appended but not yet flushed.
    pub fn unflushed_bytes(&self) -> u32 {
        self.end - self.synced_end
    }

    /// Rolls or closes the segment: writes the final time index entry, flushes, and trims the
    /// `.log` file and both indexes to their real sizes, so the files are byte-for-byte what
    /// Kafka would have. Readers keep reading (their map stays valid below the end).
    pub fn seal(&mut self) -> Result<()> {
        if self.sealed {
            return Ok(());
        }
        self.append_final_time_entry()?;
        self.flush()?;
        file::set_len(&self.file, &self.paths.log, u64::from(self.end))?;
        self.file
            .sync_all()
            .map_err(file::io_err("fsync", &self.paths.log))?;
        self.offset_index.seal()?;
        self.time_index.seal()?;
        self.sealed = true;
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
    last_offset_delta: i32,
    max_timestamp: i64,
}

/// The writer-side state derived from a segment's bytes (by a scan or a tail walk).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Recovered {
    pub end: u32,
    pub next_offset: i64,
    pub tracking: Tracking,
}

impl Recovered {
    pub(crate) fn empty(base_offset: i64) -> Self {
        Recovered {
            end: 0,
            next_offset: base_offset,
            tracking: Tracking::empty(base_offset),
        }
    }
}

/// What the batches so far leave for the next one: the largest timestamp and the offset of
/// its batch (for the time index and retention), the first batch's max timestamp (what
/// `segment.ms` is measured from), and the bytes since the last offset index entry.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Tracking {
    pub bytes_since_index_entry: u32,
    pub max_timestamp: i64,
    pub offset_of_max_timestamp: i64,
    pub rolling_timestamp: Option<i64>,
}

impl Tracking {
    pub(crate) fn empty(base_offset: i64) -> Self {
        Tracking {
            bytes_since_index_entry: 0,
            max_timestamp: -1,
            offset_of_max_timestamp: base_offset,
            rolling_timestamp: None,
        }
    }

    /// Counts a batch's max timestamp.
    pub(crate) fn see_timestamp(&mut self, max_timestamp: i64, last_offset: i64) {
        if max_timestamp > self.max_timestamp {
            self.max_timestamp = max_timestamp;
            self.offset_of_max_timestamp = last_offset;
        }
    }

    /// Counts one batch, in order, and says whether it gets an index entry: Kafka's rule, an
    /// entry once more than `index.interval.bytes` were appended since the last one. Appends,
    /// recovery and truncation all go through here, so they agree on every entry.
    pub(crate) fn observe(
        &mut self,
        size: u32,
        last_offset: i64,
        max_timestamp: i64,
        interval: u32,
    ) -> bool {
        self.rolling_timestamp.get_or_insert(max_timestamp);
        self.see_timestamp(max_timestamp, last_offset);
        let due = self.bytes_since_index_entry > interval;
        if due {
            self.bytes_since_index_entry = 0;
        }
        self.bytes_since_index_entry = self.bytes_since_index_entry.saturating_add(size);
        due
    }
}
