//! One cleaning of one log: map the dirty range, rewrite the closed segments below the end
//! of the map, swap each rewritten segment in.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use silt_segment::batch::{BatchFilter, Record};
use silt_segment::log::{Segment, SegmentConfig, SegmentReader};
use silt_segment::SegmentError;

use super::offset_map::OffsetMap;
use super::swap::{self, CleanerStep, CLEANED_SUFFIX};
use super::{CleanerStats, LogToClean};
use crate::error::{EngineError, Result};
use crate::fsutil::sync_dir;
use crate::log::segments::ClosedSegment;
use crate::log::Log;
use crate::sync::{lock, read, write};

/// Bytes of filtered batches gathered before they are appended to the cleaned segment.
const WRITE_CHUNK_BYTES: usize = 1 << 20;

/// How many times a cleaned segment is started over with twice the room, should its
/// batches outgrow the room first given (a delete horizon lengthens timestamp deltas).
const MAX_GROW_ATTEMPTS: u32 = 4;

/// The cleaner's reusable state: the offset map, the batch filter and the write buffer.
/// Nothing in the per-record path allocates once these have grown to their working size.
#[derive(Debug)]
pub(crate) struct Cleaner {
    map: OffsetMap,
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

impl Cleaner {
    pub(crate) fn new(dedupe_bytes: usize) -> Self {
        Cleaner {
            map: OffsetMap::new(dedupe_bytes),
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
        let (end_offset, map_full) =
            self.build_map(log, &segments, to_clean, &segment_config, &mut stats)?;
        stats.end_offset = end_offset;
        stats.map_full = map_full;
        let pass = Pass {
            end_offset,
            now_ms,
            new_horizon_ms: now_ms.saturating_add(config.delete_retention_ms),
            segment: segment_config,
            stop,
        };
        let mut earliest_horizon = i64::MAX;
        for segment in segments.iter().filter(|s| s.base_offset() < end_offset) {
            let horizon = self.clean_segment(log, segment, &pass, &mut stats)?;
            earliest_horizon = earliest_horizon.min(horizon);
        }
        log.offset_gaps.store(true, Ordering::Release);
        log.delete_horizon_ms
            .store(earliest_horizon, Ordering::Release);
        Ok(stats)
    }

    /// Maps key → latest offset over the dirty range, stopping when the map is full.
    /// Returns the end of the range mapped (the new first dirty offset) and whether the map
    /// filled up.
    fn build_map(
        &mut self,
        log: &Log,
        segments: &[Arc<ClosedSegment>],
        to_clean: &LogToClean,
        config: &SegmentConfig,
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
            if let Some(end) = map_segment(&mut self.map, &reader, from, &mut self.filter)? {
                return Ok((end, true));
            }
        }
        Ok((to, false))
    }

    /// Rewrites one segment and swaps it in. Returns the earliest delete horizon of the
    /// batches it kept tombstones in (`i64::MAX` if none).
    fn clean_segment(
        &mut self,
        log: &Log,
        segment: &Arc<ClosedSegment>,
        pass: &Pass,
        stats: &mut CleanerStats,
    ) -> Result<i64> {
        let reader = segment.reader(&pass.segment, &log.cache)?;
        let size = u64::from(reader.size());
        let mut room = size + size / 4 + (1 << 20);
        let mut attempt = 0;
        let (written, counts) = loop {
            let mut counts = CleanerStats::default();
            match self.write_cleaned(log, &reader, room, pass, &mut counts) {
                Ok(result) => break (result, counts),
                Err(EngineError::Segment(SegmentError::SegmentFull { .. }))
                    if attempt < MAX_GROW_ATTEMPTS =>
                {
                    swap::remove_cleaned(log.dir(), segment.base_offset())?;
                    attempt += 1;
                    room = room.saturating_mul(2);
                }
                Err(e) => {
                    let _ = swap::remove_cleaned(log.dir(), segment.base_offset());
                    return Err(e);
                }
            }
        };
        let (new_size, horizon) = written;
        check_stop(log, segment, pass, CleanerStep::Cleaned)?;
        swap_in(log, segment, new_size, pass)?;
        stats.segments_cleaned += 1;
        stats.bytes_read += size;
        stats.bytes_written += new_size;
        stats.records_removed += counts.records_removed;
        stats.tombstones_removed += counts.tombstones_removed;
        Ok(horizon)
    }

    /// Writes the kept batches of `reader` to `<base>.*.cleaned` and seals them (synced).
    /// Returns the new size and the earliest delete horizon of batches keeping tombstones.
    fn write_cleaned(
        &mut self,
        log: &Log,
        reader: &SegmentReader,
        room: u64,
        pass: &Pass,
        counts: &mut CleanerStats,
    ) -> Result<(u64, i64)> {
        let config = SegmentConfig {
            segment_bytes: u32::try_from(room)
                .unwrap_or(i32::MAX as u32)
                .min(i32::MAX as u32),
            ..pass.segment
        };
        let base = reader.base_offset();
        let mut cleaned = Segment::create_with_suffix(log.dir(), base, &config, CLEANED_SUFFIX)?;
        let Cleaner { map, filter, out } = self;
        out.clear();
        let mut earliest_horizon = i64::MAX;
        for batch in reader.batches() {
            let batch = batch?;
            if batch.attributes().is_control() {
                // Transaction markers are kept as they are: silt writes none, and Kafka's
                // rules for them need the producer state silt does not keep.
                out.extend_from_slice(batch.as_bytes());
            } else {
                let horizon = batch.header().delete_horizon_ms();
                let retain = |r: &Record<'_>| retain(map, r, horizon, pass);
                let outcome = filter.filter(&batch, pass.new_horizon_ms, retain, out)?;
                counts.records_removed += u64::from(outcome.removed);
                counts.tombstones_removed += u64::from(outcome.tombstones_removed);
                if outcome.tombstones_retained > 0 {
                    let h = outcome.delete_horizon_ms.unwrap_or(i64::MAX);
                    earliest_horizon = earliest_horizon.min(h);
                }
            }
            if out.len() >= WRITE_CHUNK_BYTES {
                cleaned.append_with_offsets(out)?;
                out.clear();
            }
        }
        if !out.is_empty() {
            cleaned.append_with_offsets(out)?;
            out.clear();
        }
        cleaned.seal()?;
        Ok((u64::from(cleaned.size()), earliest_horizon))
    }
}

/// Puts the keys of `reader`'s records at or past `from` in the map. Returns the offset
/// where the map filled up, if it did.
fn map_segment(
    map: &mut OffsetMap,
    reader: &SegmentReader,
    from: i64,
    filter: &mut BatchFilter,
) -> Result<Option<i64>> {
    let mut full_at = None;
    for batch in reader.batches() {
        let batch = batch?;
        if batch.last_offset() < from || batch.attributes().is_control() {
            continue;
        }
        // The filter checks the CRC and walks the records; nothing is written (`retain` keeps
        // nothing, so the batch is dropped from the empty sink).
        let mut sink = Vec::new();
        filter.filter(
            &batch,
            0,
            |r| {
                if full_at.is_some() || r.offset < from {
                    return false;
                }
                if let Some(key) = r.key {
                    if !map.put(key, r.offset) {
                        full_at = Some(r.offset);
                    }
                }
                false
            },
            &mut sink,
        )?;
        if full_at.is_some() {
            return Ok(full_at);
        }
    }
    Ok(None)
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

/// Fails with `CleanerInterrupted` when the test hook asks to stop after `step`.
fn check_stop(log: &Log, segment: &ClosedSegment, pass: &Pass, step: CleanerStep) -> Result<()> {
    if pass.stop == step.code() {
        return Err(EngineError::CleanerInterrupted {
            topic: log.topic().to_string(),
            partition: log.partition(),
            base_offset: segment.base_offset(),
            step,
        });
    }
    Ok(())
}

/// Steps 2 to 4 of the swap (see `swap.rs`). The file renames and the list change happen
/// under the writer's lock, which is what retention and roll change the segment list under:
/// the old segment cannot be deleted meanwhile, and readers see the old list or the new one.
fn swap_in(log: &Log, old: &Arc<ClosedSegment>, new_size: u64, pass: &Pass) -> Result<()> {
    let (dir, base) = (log.dir(), old.base_offset());
    swap::decide(dir, base)?;
    check_stop(log, old, pass, CleanerStep::Swapped)?;
    {
        let _writer = lock(&log.writer);
        let position = read(&log.view)
            .closed
            .iter()
            .position(|s| Arc::ptr_eq(s, old));
        let Some(position) = position else {
            // Retention deleted the segment while it was cleaned: nothing to replace.
            swap::remove_swap(dir, base)?;
            return Ok(());
        };
        // A reader that still holds the old segment and maps it now finds the new file.
        old.allow_offset_gaps();
        swap::retire_old(dir, base)?;
        check_stop(log, old, pass, CleanerStep::OldRenamed)?;
        swap::install(dir, base)?;
        let new = ClosedSegment::unmapped(Arc::clone(&log.dir), base, new_size, true);
        if let Some(slot) = write(&log.view).closed.get_mut(position) {
            *slot = new;
        }
    }
    sync_dir(dir)?;
    check_stop(log, old, pass, CleanerStep::Replaced)?;
    swap::remove_deleted(dir, base)
}
