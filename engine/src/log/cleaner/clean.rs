//! One cleaning of one log: map the dirty range, rewrite the closed segments below the end
//! of the map, swap the rewritten segments in.
//!
//! Where a cleaning's time goes, and what this code does about it (the `compaction` bench
//! measures it):
//! - every batch is read twice (map, then filter), but its CRC is checked once, by the first
//!   pass that reads it (see [`Mapped`]);
//! - keys are hashed twice (MurmurHash3, see `offset_map`), with no copy of the key;
//! - kept batches are gathered in memory, so the files of a cleaned segment are preallocated
//!   to the size they end at (trimming a guess frees blocks, a synchronous discard on some
//!   file systems);
//! - consecutive segments whose kept batches fit together (at most `segment.bytes` and
//!   [`MAX_BUFFERED_BYTES`]) become one cleaned segment, as Kafka's `groupSegmentsBySize`
//!   does (Kafka by their old sizes, silt by their cleaned ones): each cleaned segment costs
//!   three file syncs and a directory sync, whatever its size, and a log of small segments
//!   stays small in number.

use std::ops::Range;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use silt_segment::batch::{Batch, BatchFilter, DecompressBuffer, Record};
use silt_segment::log::{Segment, SegmentConfig, SegmentReader};
use silt_segment::SegmentError;

use super::offset_map::{hash128, OffsetMap};
use super::swap::{self, CLEANED_SUFFIX};
use super::{CleanerStats, LogToClean};
use crate::error::{EngineError, Result};
use crate::fsutil::sync_dir;
use crate::log::segments::ClosedSegment;
use crate::log::Log;
use crate::sync::read;

/// Bytes of filtered batches gathered before they are appended to a cleaned segment too big
/// for memory.
const WRITE_CHUNK_BYTES: usize = 1 << 20;

/// Most bytes of kept batches held in memory: the cleaner's write buffer, kept between
/// cleanings. A group of segments is written once its kept batches are known, into files of
/// exactly their size; a segment whose own kept batches pass this bound is cleaned alone,
/// streamed into files of [`room_for`] its size that sealing trims.
const MAX_BUFFERED_BYTES: usize = 16 << 20;

/// Most threads that release the replaced segments at the end of a cleaning (see
/// [`release`]).
const RELEASE_THREADS: usize = 4;

/// How many times a streamed cleaned segment is started over with twice the room, should
/// its batches outgrow the room first given (a delete horizon lengthens timestamp deltas).
const MAX_GROW_ATTEMPTS: u32 = 4;

/// The cleaner's reusable state: the offset map, the map pass's decompression buffer and
/// key hashes, the batch filter and the write buffer. Nothing in the per-record path
/// allocates once these have grown to their working size.
#[derive(Debug)]
pub(crate) struct Cleaner {
    map: OffsetMap,
    decompress: DecompressBuffer,
    /// The map pass's (key hash, offset) of one batch's records.
    hashed: Vec<([u64; 2], i64)>,
    filter: BatchFilter,
    out: Vec<u8>,
}

/// The fixed inputs of one cleaning.
struct Pass {
    /// Records at or past this offset are not in the map and are kept.
    end_offset: i64,
    now_ms: i64,
    /// Horizon given to kept tombstones that have none.
    new_horizon_ms: i64,
    /// The topic's segment settings (index sizes and interval for the cleaned segments).
    segment: SegmentConfig,
    stop: u8,
}

/// A segment the map pass read, and the batches of it whose CRC it checked.
///
/// The filter pass reads this segment through the same `reader`: the same mapping of a
/// sealed segment, which nothing writes (silt never writes a closed segment in place, and
/// the data directory's lock keeps other processes out). So a batch in `checked` is filtered
/// without computing its CRC again, and every batch a cleaning reads still has its CRC
/// checked once before anything is written from it. The bytes could differ from those
/// checked only if their page were evicted between the two passes (within one cleaning) and
/// read back from a disk that changed meanwhile; a batch copied whole keeps its stored CRC,
/// so even that would stay detectable by readers.
struct Mapped {
    base_offset: i64,
    reader: SegmentReader,
    /// Byte positions of the batches whose CRC the map pass checked: a contiguous run, from
    /// the first batch reaching the first dirty offset to the one where the map ended.
    checked: Range<u64>,
}

/// A closed segment to rewrite, read through `reader`.
struct Source<'a> {
    segment: &'a Arc<ClosedSegment>,
    reader: SegmentReader,
    /// Positions of the batches whose CRC the map pass checked (see [`Mapped`]).
    checked: Range<u64>,
}

/// Consecutive old segments whose kept batches lie at the start of the write buffer, to be
/// written as one cleaned segment (with the first one's base offset).
#[derive(Default)]
struct Group {
    segments: Vec<Arc<ClosedSegment>>,
    /// Bytes of the old segments.
    bytes_read: u64,
    records_removed: u64,
    tombstones_removed: u64,
    earliest_horizon: Option<i64>,
}

impl Group {
    fn base_offset(&self) -> Option<i64> {
        self.segments.first().map(|s| s.base_offset())
    }

    /// Adds a segment whose kept batches follow the group's in the buffer.
    fn push(&mut self, segment: &Arc<ClosedSegment>, size: u64, counts: &Counts) {
        self.segments.push(Arc::clone(segment));
        self.bytes_read += size;
        self.records_removed += counts.records_removed;
        self.tombstones_removed += counts.tombstones_removed;
        self.earliest_horizon = min_horizon(self.earliest_horizon, counts.earliest_horizon);
    }
}

/// What filtering one segment removed and kept.
#[derive(Default)]
struct Counts {
    records_removed: u64,
    tombstones_removed: u64,
    /// The earliest delete horizon of the batches that keep tombstones.
    earliest_horizon: Option<i64>,
}

fn min_horizon(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

impl Cleaner {
    pub(crate) fn new(dedupe_bytes: usize) -> Self {
        Cleaner {
            map: OffsetMap::new(dedupe_bytes),
            decompress: DecompressBuffer::new(),
            hashed: Vec::new(),
            filter: BatchFilter::new(),
            out: Vec::new(),
        }
    }

    /// Cleans `log` as `to_clean` describes it, at `now_ms`.
    pub(crate) fn clean(
        &mut self,
        log: &Log,
        to_clean: &LogToClean,
        now_ms: i64,
        stop: u8,
    ) -> Result<CleanerStats> {
        let config = log.config();
        let segments: Vec<Arc<ClosedSegment>> = read(&log.view)
            .closed
            .iter()
            .filter(|s| s.base_offset() < to_clean.first_uncleanable_offset)
            .cloned()
            .collect();
        let mut stats = CleanerStats {
            first_dirty_offset: to_clean.first_dirty_offset,
            ..CleanerStats::default()
        };
        let segment_config = config.segment_config();
        let mut mapped = Vec::new();
        let (end_offset, map_full) = self.build_map(
            log,
            &segments,
            to_clean,
            &segment_config,
            &mut mapped,
            &mut stats,
        )?;
        stats.end_offset = end_offset;
        stats.map_full = map_full;
        let pass = Pass {
            end_offset,
            now_ms,
            new_horizon_ms: now_ms.saturating_add(config.delete_retention_ms),
            segment: segment_config,
            stop,
        };
        let mut earliest_horizon = None;
        let mut group = Group::default();
        let mut mapped = mapped.into_iter().peekable();
        self.out.clear();
        for segment in segments.iter().filter(|s| s.base_offset() < end_offset) {
            let own = mapped.next_if(|m| m.base_offset == segment.base_offset());
            let (reader, checked) = match own {
                Some(m) => (m.reader, m.checked),
                None => (segment.reader(&pass.segment, &log.cache)?, 0..0),
            };
            let source = Source {
                segment,
                reader,
                checked,
            };
            let horizon = self.clean_segment(log, &source, &mut group, &pass, &mut stats)?;
            earliest_horizon = min_horizon(earliest_horizon, horizon);
        }
        let horizon = self.write_group(log, &mut group, self.out.len(), &pass, &mut stats)?;
        earliest_horizon = min_horizon(earliest_horizon, horizon);
        drop(mapped);
        release(segments, || {
            if stats.segments_cleaned == 0 {
                return Ok(());
            }
            // Makes the last swap's final renames durable; each earlier swap's were made
            // durable by the next one's commit-point sync.
            sync_dir(log.dir())
        })?;
        log.offset_gaps.store(true, Ordering::Release);
        log.delete_horizon_ms
            .store(earliest_horizon.unwrap_or(i64::MAX), Ordering::Release);
        Ok(stats)
    }

    /// Maps key → latest offset over the dirty range, stopping when the map is full, and
    /// lists in `mapped` the segments read. Returns the end of the range mapped (the new
    /// first dirty offset) and whether the map filled up.
    fn build_map(
        &mut self,
        log: &Log,
        segments: &[Arc<ClosedSegment>],
        to_clean: &LogToClean,
        config: &SegmentConfig,
        mapped: &mut Vec<Mapped>,
        stats: &mut CleanerStats,
    ) -> Result<(i64, bool)> {
        self.map.clear();
        let (from, to) = (
            to_clean.first_dirty_offset,
            to_clean.first_uncleanable_offset,
        );
        for (i, segment) in segments.iter().enumerate() {
            let next_base = segments.get(i + 1).map_or(to, |s| s.base_offset());
            if next_base <= from {
                continue;
            }
            let reader = segment.reader(config, &log.cache)?;
            stats.bytes_read += u64::from(reader.size());
            let mut checked = 0..0;
            let full_at = self.map_segment(&reader, from, &mut checked)?;
            mapped.push(Mapped {
                base_offset: segment.base_offset(),
                reader,
                checked,
            });
            if let Some(end) = full_at {
                return Ok((end, true));
            }
        }
        Ok((to, false))
    }

    /// Checks the CRC of `reader`'s batches from the first one holding offsets at or past
    /// `from`, and puts the keys of their records at or past `from` in the map, a batch at a
    /// time (hashed first, then put with the table's slots loaded ahead). Returns the offset
    /// where the map filled up, if it did; `checked` gets the positions of the batches
    /// checked.
    fn map_segment(
        &mut self,
        reader: &SegmentReader,
        from: i64,
        checked: &mut Range<u64>,
    ) -> Result<Option<i64>> {
        let Cleaner {
            map,
            decompress,
            hashed,
            ..
        } = self;
        for batch in reader.batches() {
            let batch = batch?;
            if batch.last_offset() < from {
                continue;
            }
            batch.validate()?;
            let end = batch.position() + batch.size() as u64;
            *checked = if checked.is_empty() {
                batch.position()..end
            } else {
                checked.start..end
            };
            if batch.attributes().is_control() {
                continue;
            }
            hashed.clear();
            for record in batch.records(decompress)? {
                let record = record?;
                if let (Some(key), true) = (record.key, record.offset >= from) {
                    hashed.push((hash128(key), record.offset));
                }
            }
            if let Some(full_at) = map.put_all(hashed) {
                return Ok(Some(full_at));
            }
        }
        Ok(None)
    }

    /// Filters one old segment into the write buffer behind `group`'s batches and adds it to
    /// the group; first writes the group out if the two do not fit in one segment. A segment
    /// whose kept batches do not fit in memory is cleaned alone. Returns the earliest delete
    /// horizon of the batches written now that keep tombstones.
    fn clean_segment(
        &mut self,
        log: &Log,
        source: &Source<'_>,
        group: &mut Group,
        pass: &Pass,
        stats: &mut CleanerStats,
    ) -> Result<Option<i64>> {
        let mut horizon = None;
        if group.base_offset().is_some_and(|base| {
            // Relative offsets (index entries) are 32-bit: Kafka's group rule too.
            source.reader.next_offset() - 1 - base > i64::from(i32::MAX)
        }) {
            horizon = self.write_group(log, group, self.out.len(), pass, stats)?;
        }
        let mark = self.out.len();
        let mut counts = Counts::default();
        if !self.filter_to_buffer(source, mark, pass, &mut counts)? {
            self.out.truncate(mark);
            let h = self.write_group(log, group, mark, pass, stats)?;
            let alone = self.clean_alone(log, source, pass, stats)?;
            return Ok(min_horizon(horizon, min_horizon(h, alone)));
        }
        let size = u64::from(source.reader.size());
        if !group.segments.is_empty() && !fits_one_segment(self.out.len(), &pass.segment) {
            let h = self.write_group(log, group, mark, pass, stats)?;
            horizon = min_horizon(horizon, h);
        }
        group.push(source.segment, size, &counts);
        Ok(horizon)
    }

    /// Filters `source` into the write buffer. Returns false, leaving the batches filtered
    /// so far past `mark`, as soon as they pass [`MAX_BUFFERED_BYTES`].
    fn filter_to_buffer(
        &mut self,
        source: &Source<'_>,
        mark: usize,
        pass: &Pass,
        counts: &mut Counts,
    ) -> Result<bool> {
        for batch in source.reader.batches() {
            let batch = batch?;
            let trusted = source.checked.contains(&batch.position());
            self.filter_batch(&batch, trusted, pass, counts)?;
            if self.out.len() - mark > MAX_BUFFERED_BYTES {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Writes the group's kept batches (the first `len` bytes of the write buffer, which are
    /// then dropped from it) as one cleaned segment and swaps it in for the group's segments.
    /// Returns the earliest delete horizon of the group's batches keeping tombstones.
    fn write_group(
        &mut self,
        log: &Log,
        group: &mut Group,
        len: usize,
        pass: &Pass,
        stats: &mut CleanerStats,
    ) -> Result<Option<i64>> {
        let group = std::mem::take(group);
        let (Some(first), Some(bytes)) = (group.segments.first(), self.out.get(..len)) else {
            return Ok(None);
        };
        let base = first.base_offset();
        let sealed = create_cleaned(log, base, bytes.len() as u64, pass).and_then(|mut cleaned| {
            if !bytes.is_empty() {
                cleaned.append_with_offsets(bytes)?;
            }
            cleaned.seal()?;
            Ok(u64::from(cleaned.size()))
        });
        let new_size = match sealed {
            Ok(size) => size,
            Err(e) => {
                let _ = swap::remove_cleaned(log.dir(), base);
                return Err(e);
            }
        };
        self.out.drain(..len);
        swap::replace(log, &group.segments, new_size, &pass.segment, pass.stop)?;
        stats.segments_cleaned += group.segments.len();
        stats.bytes_read += group.bytes_read;
        stats.bytes_written += new_size;
        stats.records_removed += group.records_removed;
        stats.tombstones_removed += group.tombstones_removed;
        Ok(group.earliest_horizon)
    }

    /// Cleans one segment too big for the write buffer into its own cleaned segment,
    /// streamed to files with [`room_for`] it, and swaps it in.
    fn clean_alone(
        &mut self,
        log: &Log,
        source: &Source<'_>,
        pass: &Pass,
        stats: &mut CleanerStats,
    ) -> Result<Option<i64>> {
        let base = source.segment.base_offset();
        let size = u64::from(source.reader.size());
        let mut room = room_for(size);
        let mut attempt = 0;
        let (new_size, counts) = loop {
            let mut counts = Counts::default();
            match self.write_streamed(log, source, room, pass, &mut counts) {
                Ok(new_size) => break (new_size, counts),
                Err(EngineError::Segment(SegmentError::SegmentFull { .. }))
                    if attempt < MAX_GROW_ATTEMPTS =>
                {
                    swap::remove_cleaned(log.dir(), base)?;
                    attempt += 1;
                    room = room.saturating_mul(2);
                }
                Err(e) => {
                    let _ = swap::remove_cleaned(log.dir(), base);
                    return Err(e);
                }
            }
        };
        let old = std::slice::from_ref(source.segment);
        swap::replace(log, old, new_size, &pass.segment, pass.stop)?;
        stats.segments_cleaned += 1;
        stats.bytes_read += size;
        stats.bytes_written += new_size;
        stats.records_removed += counts.records_removed;
        stats.tombstones_removed += counts.tombstones_removed;
        Ok(counts.earliest_horizon)
    }

    /// Writes the kept batches of `source` to `<base>.*.cleaned` with `room` bytes, a chunk
    /// at a time, and seals them (synced). Returns the new size.
    fn write_streamed(
        &mut self,
        log: &Log,
        source: &Source<'_>,
        room: u64,
        pass: &Pass,
        counts: &mut Counts,
    ) -> Result<u64> {
        let mut cleaned = create_cleaned(log, source.segment.base_offset(), room, pass)?;
        self.out.clear();
        for batch in source.reader.batches() {
            let batch = batch?;
            let trusted = source.checked.contains(&batch.position());
            self.filter_batch(&batch, trusted, pass, counts)?;
            if self.out.len() >= WRITE_CHUNK_BYTES {
                cleaned.append_with_offsets(&self.out)?;
                self.out.clear();
            }
        }
        if !self.out.is_empty() {
            cleaned.append_with_offsets(&self.out)?;
            self.out.clear();
        }
        cleaned.seal()?;
        Ok(u64::from(cleaned.size()))
    }

    /// Appends to the write buffer what is left of `batch`. `trusted`: the map pass checked
    /// the batch's CRC over these same bytes (see [`Mapped`]).
    fn filter_batch(
        &mut self,
        batch: &Batch<'_>,
        trusted: bool,
        pass: &Pass,
        counts: &mut Counts,
    ) -> Result<()> {
        let Cleaner {
            map, filter, out, ..
        } = self;
        if batch.attributes().is_control() {
            // Transaction markers are kept as they are: silt writes none, and Kafka's rules
            // for them need the producer state silt does not keep.
            if !trusted {
                batch.validate()?;
            }
            out.extend_from_slice(batch.as_bytes());
            return Ok(());
        }
        let horizon = batch.header().delete_horizon_ms();
        let retain = |r: &Record<'_>| retain(map, r, horizon, pass);
        let outcome = if trusted {
            filter.filter_validated(batch, pass.new_horizon_ms, retain, out)?
        } else {
            filter.filter(batch, pass.new_horizon_ms, retain, out)?
        };
        counts.records_removed += u64::from(outcome.removed);
        counts.tombstones_removed += u64::from(outcome.tombstones_removed);
        if outcome.tombstones_retained > 0 {
            let h = outcome.delete_horizon_ms.unwrap_or(i64::MAX);
            counts.earliest_horizon = min_horizon(counts.earliest_horizon, Some(h));
        }
        Ok(())
    }
}

/// Drops the cleaner's references to the segments a cleaning read (for those it replaced,
/// the last ones, unless a reader still holds one) on up to [`RELEASE_THREADS`] threads
/// while `during` runs, and returns what `during` returned once all are dropped.
///
/// Dropping a replaced segment's last reference unmaps it and, its files being unlinked
/// already, frees its blocks. On a file system mounted with `discard` that is a synchronous
/// discard of the whole file, about 1.2 ms per MiB on the machine the `compaction` bench was
/// first run on: more than the rest of the cleaning. Discards of different files overlap in
/// the device, so a few threads release a cleaning's segments sooner than one does; the
/// cleaning still waits for every one, so their cost stays inside it.
fn release<R>(segments: Vec<Arc<ClosedSegment>>, during: impl FnOnce() -> R) -> R {
    let threads = RELEASE_THREADS.min(segments.len());
    let mut shares: Vec<Vec<Arc<ClosedSegment>>> = (0..threads).map(|_| Vec::new()).collect();
    for (i, segment) in segments.into_iter().enumerate() {
        if let Some(share) = shares.get_mut(i % threads.max(1)) {
            share.push(segment);
        }
    }
    std::thread::scope(|scope| {
        for share in shares {
            // Without a thread, the share is dropped here, on this one.
            let _ = std::thread::Builder::new()
                .name("silt-cleaner-release".into())
                .spawn_scoped(scope, move || drop(share));
        }
        during()
    })
}

/// Room for the cleaned segment of a segment of `size` bytes streamed to its files: its own
/// size, a quarter more for delete horizons lengthening timestamp deltas, and 1 MiB.
fn room_for(size: u64) -> u64 {
    size + size / 4 + (1 << 20)
}

/// Whether `bytes` of kept batches of two or more segments may share one cleaned segment:
/// within `segment.bytes` and the write buffer, with indexes within `segment.index.bytes`.
fn fits_one_segment(bytes: usize, topic: &SegmentConfig) -> bool {
    let bytes = bytes as u64;
    bytes <= u64::from(topic.segment_bytes)
        && bytes <= MAX_BUFFERED_BYTES as u64
        && index_bytes_needed(bytes, topic) <= u64::from(topic.segment_index_bytes)
}

/// Index bytes that `bytes` of batches can fill. Kafka's rule gives an entry only after more
/// than `index.interval.bytes` since the last one, and a batch is at least 61 bytes, so there
/// are at most `bytes / max(interval + 1, 61)` entries; two more slots cover the time index's
/// reserved roll entry. A multiple of 24 fits both entry sizes (8 and 12) exactly.
fn index_bytes_needed(bytes: u64, topic: &SegmentConfig) -> u64 {
    let per_entry = topic
        .index_interval_bytes
        .saturating_add(1)
        .max(SegmentConfig::MIN_SEGMENT_BYTES);
    (bytes / u64::from(per_entry) + 2) * 24
}

/// Creates `<base>.*.cleaned` with room for `room` bytes of batches, and indexes with room
/// for the entries that many bytes can give (at most `segment.index.bytes`): what is
/// preallocated and not used is freed when the segment is sealed, a cost to avoid.
fn create_cleaned(log: &Log, base: i64, room: u64, pass: &Pass) -> Result<Segment> {
    let segment_bytes = u32::try_from(room)
        .unwrap_or(u32::MAX)
        .clamp(SegmentConfig::MIN_SEGMENT_BYTES, i32::MAX as u32);
    let index_bytes = index_bytes_needed(u64::from(segment_bytes), &pass.segment)
        .min(u64::from(pass.segment.segment_index_bytes));
    let config = SegmentConfig {
        segment_bytes,
        segment_index_bytes: u32::try_from(index_bytes).unwrap_or(u32::MAX),
        ..pass.segment
    };
    Ok(Segment::create_with_suffix(
        log.dir(),
        base,
        &config,
        CLEANED_SUFFIX,
    )?)
}

/// Kafka's `shouldRetainRecord`: a record past the mapped range stays; one without a key
/// goes (a compacted topic refuses them); otherwise it stays if it is the latest of its key
/// and either has a value or is a tombstone whose batch's delete horizon has not passed.
#[inline]
fn retain(map: &OffsetMap, record: &Record<'_>, horizon: Option<i64>, pass: &Pass) -> bool {
    if record.offset >= pass.end_offset {
        return true;
    }
    let Some(key) = record.key else {
        return false;
    };
    let latest = map.get(key).is_none_or(|o| record.offset >= o);
    latest && (record.value.is_some() || horizon.is_none_or(|h| pass.now_ms < h))
}
