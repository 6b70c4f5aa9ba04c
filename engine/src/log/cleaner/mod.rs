//! Log compaction (Kafka's `LogCleaner`): for topics whose `cleanup.policy` includes
//! `compact`, keep only the latest record of each key, and remove tombstones once
//! `delete.retention.ms` has passed since the cleaning that first kept them.
//!
//! A log's cleanable range runs from its log start to its first uncleanable offset: the
//! active segment is never cleaned, nor any segment from the first one whose records are
//! younger than `min.compaction.lag.ms`. Below the first dirty offset (persisted in
//! `cleaner-offset-checkpoint`) the log was cleaned already; the range from it to the first
//! uncleanable offset is dirty. A log is eligible when dirty bytes / (clean + dirty bytes)
//! reaches `min.cleanable.dirty.ratio`, when its oldest dirty record is older than
//! `max.compaction.lag.ms`, or when a delete horizon of kept tombstones has passed.
//!
//! Cleaning builds an [`OffsetMap`](offset_map::OffsetMap) of key → latest offset over the
//! dirty range (a prefix of it, when more keys than fit), then rewrites the closed segments
//! from the log start up to the end of what the map covers, consecutive ones whose kept
//! batches fit together into one new segment with the first one's base offset, and swaps
//! each new segment in crash-safely ([`swap`]). File formats and recovery rules are in
//! `docs/FORMAT.md`, section 10.

mod clean;
mod offset_map;
mod swap;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};

use super::Log;
use crate::checkpoint::OffsetCheckpoint;
use crate::error::Result;
use crate::sync::{lock, read};

pub(crate) use clean::Cleaner;
pub(crate) use swap::recover_swaps;
pub use swap::CleanerStep;

/// Why a record without a key is refused by a compacted topic (Kafka's message).
pub(crate) const KEYLESS_IN_COMPACTED_TOPIC: &str =
    "Compacted topic cannot accept message without key";

/// Kafka's file of first dirty offsets, one per cleaned partition.
pub const CLEANER_CHECKPOINT: &str = "cleaner-offset-checkpoint";

/// What cleaning one log did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct CleanerStats {
    /// Old segments rewritten (consecutive ones may become one cleaned segment).
    pub segments_cleaned: usize,
    /// Bytes of the segments read (those rewritten, and the dirty ones mapped).
    pub bytes_read: u64,
    /// Bytes of the cleaned segments written.
    pub bytes_written: u64,
    /// Records removed (tombstones included).
    pub records_removed: u64,
    /// Tombstones removed (their delete horizon had passed).
    pub tombstones_removed: u64,
    /// First dirty offset before the cleaning.
    pub first_dirty_offset: i64,
    /// First dirty offset after it: the end of the range the offset map covered.
    pub end_offset: i64,
    /// Whether the offset map filled up before the end of the dirty range (the rest is
    /// cleaned by a later run).
    pub map_full: bool,
}

/// What [`Engine::clean_logs`](crate::Engine::clean_logs) did, over every log.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct CleanerReport {
    /// Logs cleaned.
    pub logs_cleaned: usize,
    /// Bytes read.
    pub bytes_read: u64,
    /// Bytes written.
    pub bytes_written: u64,
    /// Records removed (tombstones included).
    pub records_removed: u64,
    /// Tombstones removed.
    pub tombstones_removed: u64,
}

impl CleanerReport {
    pub(crate) fn add(&mut self, stats: &CleanerStats) {
        self.logs_cleaned += 1;
        self.bytes_read += stats.bytes_read;
        self.bytes_written += stats.bytes_written;
        self.records_removed += stats.records_removed;
        self.tombstones_removed += stats.tombstones_removed;
    }
}

/// How dirty a log is, and whether it is eligible for cleaning (Kafka's `LogToClean`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LogToClean {
    /// Where the dirty range starts (records below were cleaned already).
    pub first_dirty_offset: i64,
    /// Where the cleanable range ends: the active segment's base offset, or the base offset
    /// of the first segment younger than `min.compaction.lag.ms`.
    pub first_uncleanable_offset: i64,
    /// Bytes of the closed segments wholly below the first dirty offset.
    pub clean_bytes: u64,
    /// Bytes of the cleanable segments at or past it.
    pub dirty_bytes: u64,
    /// `dirty_bytes / (clean_bytes + dirty_bytes)`, 0 for an empty range.
    pub dirty_ratio: f64,
    /// The oldest dirty record is older than `max.compaction.lag.ms`.
    pub needs_compaction_now: bool,
    /// A delete horizon of kept tombstones has passed.
    pub delete_horizon_passed: bool,
    /// Whether a cleaning would run now.
    pub eligible: bool,
}

/// The engine's cleaner: one [`Cleaner`] (its offset map is the big allocation, so there is
/// one, behind a lock), and the `cleaner-offset-checkpoint` file every log's clean point is
/// written to.
pub(crate) struct CleanerShared {
    checkpoint: OffsetCheckpoint,
    points: Mutex<BTreeMap<(String, u32), i64>>,
    cleaner: Mutex<Cleaner>,
    /// Test hook: the [`CleanerStep`] code after which a cleaning stops (0: never).
    stop_after: AtomicU8,
}

impl CleanerShared {
    /// Reads `cleaner-offset-checkpoint` in `data_dir`; the map may take `dedupe_bytes`.
    pub(crate) fn open(data_dir: &Path, dedupe_bytes: usize) -> Result<Arc<CleanerShared>> {
        let checkpoint = OffsetCheckpoint::new(data_dir.join(CLEANER_CHECKPOINT));
        let points = checkpoint.read()?;
        Ok(Arc::new(CleanerShared {
            checkpoint,
            points: Mutex::new(points),
            cleaner: Mutex::new(Cleaner::new(dedupe_bytes)),
            stop_after: AtomicU8::new(0),
        }))
    }

    /// The persisted first dirty offset of a partition.
    pub(crate) fn clean_point(&self, topic: &str, partition: u32) -> Option<i64> {
        lock(&self.points)
            .get(&(topic.to_string(), partition))
            .copied()
    }

    /// Persists a partition's first dirty offset (`None` forgets the partition). The map
    /// changes only once the file was written: after a failed write the next call writes
    /// again, even with the same offset.
    fn record(&self, topic: &str, partition: u32, offset: Option<i64>) -> Result<()> {
        let mut points = lock(&self.points);
        let key = (topic.to_string(), partition);
        if points.get(&key).copied() == offset {
            return Ok(());
        }
        let mut next = points.clone();
        match offset {
            Some(offset) => next.insert(key, offset),
            None => next.remove(&key),
        };
        self.checkpoint
            .write(next.iter().map(|((t, p), o)| (t.as_str(), *p, *o)))?;
        *points = next;
        Ok(())
    }
}

impl Log {
    /// How dirty this log is at `now_ms`, and whether it is eligible for cleaning. `None`
    /// when its `cleanup.policy` does not include `compact` or it has no closed segment.
    pub fn cleanable(&self, now_ms: i64) -> Result<Option<LogToClean>> {
        let config = self.config();
        if !config.cleanup_policy.compact {
            return Ok(None);
        }
        let Some(active) = self.active_reader()? else {
            return Ok(None);
        };
        let closed = read(&self.view).closed.clone();
        if closed.is_empty() {
            return Ok(None);
        }
        let log_start = self.log_start_offset();
        let checkpointed = self.first_dirty.load(Ordering::Acquire);
        let first_dirty = if checkpointed < log_start || checkpointed > active.next_offset() {
            log_start // none yet, or invalid (Kafka resets to the log start too)
        } else {
            checkpointed
        };
        let mut to_clean = LogToClean {
            first_dirty_offset: first_dirty,
            first_uncleanable_offset: active.base_offset(),
            clean_bytes: 0,
            dirty_bytes: 0,
            dirty_ratio: 0.0,
            needs_compaction_now: false,
            delete_horizon_passed: false,
            eligible: false,
        };
        let mut first_dirty_timestamp = None;
        for (i, segment) in closed.iter().enumerate() {
            let next_base = closed
                .get(i + 1)
                .map_or(active.base_offset(), |s| s.base_offset());
            if next_base <= first_dirty {
                to_clean.clean_bytes += segment.size_bytes();
                continue;
            }
            let reader = match segment.reader(&config.segment_config(), &self.cache) {
                Ok(reader) => reader,
                // The topic was deleted meanwhile and this unmapped segment's files are gone
                // (the background cleaner surveys every log without the cleaner's lock):
                // nothing to clean, rather than an I/O error that ends the survey.
                Err(_) if self.deleted.load(Ordering::Acquire) => return Ok(None),
                Err(e) => return Err(e),
            };
            let newest = reader.max_timestamp().map_or(-1, |m| m.timestamp);
            if config.min_compaction_lag_ms > 0
                && now_ms.saturating_sub(newest) < config.min_compaction_lag_ms
            {
                to_clean.first_uncleanable_offset = segment.base_offset();
                break;
            }
            if first_dirty_timestamp.is_none() {
                // The first batch's max timestamp: Kafka's `getFirstBatchTimestamp`.
                first_dirty_timestamp = reader
                    .batches()
                    .next()
                    .and_then(|b| b.ok())
                    .map(|b| b.max_timestamp());
            }
            to_clean.dirty_bytes += segment.size_bytes();
        }
        let total = to_clean.clean_bytes + to_clean.dirty_bytes;
        if total > 0 {
            to_clean.dirty_ratio = to_clean.dirty_bytes as f64 / total as f64;
        }
        to_clean.needs_compaction_now = to_clean.dirty_bytes > 0
            && first_dirty_timestamp
                .is_some_and(|t| t >= 0 && now_ms.saturating_sub(t) > config.max_compaction_lag_ms);
        to_clean.delete_horizon_passed = self.delete_horizon_ms.load(Ordering::Acquire) <= now_ms;
        let dirty_enough =
            to_clean.dirty_bytes > 0 && to_clean.dirty_ratio >= config.min_cleanable_dirty_ratio;
        to_clean.eligible =
            dirty_enough || to_clean.needs_compaction_now || to_clean.delete_horizon_passed;
        Ok(Some(to_clean))
    }

    /// Cleans this log at time `now_ms` if it is eligible ([`Log::cleanable`]): removes
    /// every record a later record of the same key supersedes, and tombstones whose delete
    /// horizon has passed. Returns `None` when the log was not eligible.
    ///
    /// `now_ms` is the cleaning's clock: it decides eligibility, which tombstones may go,
    /// and the delete horizon (`now_ms + delete.retention.ms`) given to kept tombstones.
    /// Appends go on meanwhile; the active segment is never touched.
    pub fn clean(&self, now_ms: i64) -> Result<Option<CleanerStats>> {
        self.check_open()?;
        let shared = Arc::clone(&self.cleaner);
        let mut cleaner = lock(&shared.cleaner);
        // Again under the cleaner's lock: a topic deleted while this cleaning waited for it
        // has its directory removed (see `Log::remove_dir`), and is not cleaned.
        self.check_open()?;
        let Some(to_clean) = self.cleanable(now_ms)?.filter(|c| c.eligible) else {
            return Ok(None);
        };
        let stop = shared.stop_after.load(Ordering::Acquire);
        let stats = cleaner.clean(self, &to_clean, now_ms, stop)?;
        self.first_dirty.store(stats.end_offset, Ordering::Release);
        shared.record(&self.topic, self.partition, Some(stats.end_offset))?;
        Ok(Some(stats))
    }

    /// Removes the partition's directory, for a deletion of its topic (the log is marked
    /// deleted first). Waits for a cleaning or a retention pass at work in the directory, and
    /// leaves none to start after: both check the mark under the same locks. Without this a
    /// cleaning racing the deletion failed with an I/O error writing its `.cleaned` files,
    /// and could make the removal fail by creating one in the middle of it.
    pub(crate) fn remove_dir(&self) -> Result<()> {
        let _cleaning = lock(&self.cleaner.cleaner);
        let _pass = lock(&self.retention_lock);
        crate::fsutil::remove_dir_all_durable(&self.dir)
    }

    /// Test hook: makes every later cleaning of this engine stop (with
    /// `EngineError::CleanerInterrupted`) right after `step`, leaving the files as a crash at
    /// that moment would; `None` turns it off.
    #[doc(hidden)]
    pub fn stop_cleaning_after(&self, step: Option<CleanerStep>) {
        let code = step.map_or(0, CleanerStep::code);
        self.cleaner.stop_after.store(code, Ordering::Release);
    }

    /// The first dirty offset as last cleaned (-1 before any cleaning).
    pub fn first_dirty_offset(&self) -> i64 {
        self.first_dirty.load(Ordering::Acquire)
    }

    /// Forgets this partition's clean point (its topic is deleted).
    pub(crate) fn forget_clean_point(&self) -> Result<()> {
        self.cleaner.record(&self.topic, self.partition, None)
    }
}
