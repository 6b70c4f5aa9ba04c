//! Retention (Kafka's `deleteOldSegments`) and `delete_records`.
//!
//! Only whole closed segments are deleted, oldest first, and never the active one. A segment
//! goes when it lies wholly below the log start offset, or (with `cleanup.policy` including
//! `delete`) when its largest timestamp is older than `retention.ms`, or when the log without
//! it is still at least `retention.bytes`. Deleting unlinks the files; a reader holding the
//! segment's map keeps reading it until it lets go.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::append::remove_segment_files;
use super::segments::ClosedSegment;
use super::Log;
use crate::config::TopicConfig;
use crate::error::{EngineError, Result};
use crate::fsutil::sync_dir;
use crate::sync::{lock, read, write};

/// What a retention pass deleted.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RetentionReport {
    /// Segments deleted.
    pub segments_deleted: usize,
    /// Bytes those segments held.
    pub bytes_deleted: u64,
}

impl RetentionReport {
    pub(crate) fn add(&mut self, other: RetentionReport) {
        self.segments_deleted += other.segments_deleted;
        self.bytes_deleted += other.bytes_deleted;
    }
}

/// Which rules a pass applies.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Rules {
    /// Only segments wholly below the log start offset.
    LogStartOnly,
    /// The log start offset, `retention.ms` and `retention.bytes`.
    All { now_ms: i64 },
}

impl Log {
    /// Deletes at most `budget` closed segments that retention no longer keeps.
    ///
    /// One pass at a time per log (the background task, `enforce_retention` and
    /// `delete_records` may run at once): a pass removes the files of the segments it took
    /// out of the list, oldest first, before the next pass takes any. Files are so deleted in
    /// offset order, and a crash in the middle leaves the oldest segments (which reappear,
    /// below an older log start), never a later segment without an earlier one.
    pub(crate) fn delete_old_segments(
        &self,
        rules: Rules,
        budget: usize,
    ) -> Result<RetentionReport> {
        let _pass = lock(&self.retention_lock);
        if self.deleted.load(Ordering::Acquire) {
            // The topic was deleted after the pass listed this log: its directory is gone or
            // going (`Log::remove_dir` waits for this lock), nothing is left to retain.
            return Ok(RetentionReport::default());
        }
        let config = self.config();
        let victims = self.retention_victims(&config, rules, budget)?;
        if victims.is_empty() {
            return Ok(RetentionReport::default());
        }
        // Roll only appends to the view and retention only removes its oldest segments, so
        // the victims are still the view's first segments unless a concurrent pass took them.
        let removed: Vec<Arc<ClosedSegment>> = {
            let _writer = lock(&self.writer);
            let mut view = write(&self.view);
            let n = victims
                .iter()
                .zip(view.closed.iter())
                .take_while(|(a, b)| Arc::ptr_eq(a, b))
                .count();
            let removed: Vec<_> = view.closed.drain(..n).collect();
            if let Some(first) = view
                .closed
                .first()
                .map(|s| s.base_offset())
                .or_else(|| view.active.as_ref().map(|a| a.base_offset()))
            {
                self.log_start.fetch_max(first, Ordering::AcqRel);
            }
            removed
        };
        let mut report = RetentionReport::default();
        for segment in &removed {
            remove_segment_files(&self.dir, segment.base_offset())?;
            report.segments_deleted += 1;
            report.bytes_deleted += segment.size_bytes();
        }
        if !removed.is_empty() {
            sync_dir(&self.dir)?;
        }
        Ok(report)
    }

    /// The oldest closed segments the rules delete, in order, at most `budget`.
    fn retention_victims(
        &self,
        config: &TopicConfig,
        rules: Rules,
        budget: usize,
    ) -> Result<Vec<Arc<ClosedSegment>>> {
        let active = self.active_reader()?;
        let (closed, active_base, active_size) = {
            let view = read(&self.view);
            let active_base = active.as_ref().map_or(i64::MAX, |a| a.base_offset());
            let active_size = active.as_ref().map_or(0, |a| u64::from(a.size()));
            (view.closed.clone(), active_base, active_size)
        };
        let log_start = self.log_start_offset();
        let total: u64 = closed.iter().map(|s| s.size_bytes()).sum::<u64>() + active_size;
        let mut excess = match rules {
            Rules::All { .. } if config.cleanup_policy.delete && config.retention_bytes >= 0 => {
                total.saturating_sub(config.retention_bytes as u64)
            }
            _ => 0,
        };
        let mut victims = Vec::new();
        for (i, segment) in closed.iter().enumerate() {
            if victims.len() >= budget {
                break;
            }
            let next_base = closed.get(i + 1).map_or(active_base, |s| s.base_offset());
            let by_start = next_base <= log_start;
            let by_size = excess > 0 && excess >= segment.size_bytes();
            let by_time = match rules {
                Rules::All { now_ms }
                    if config.cleanup_policy.delete && config.retention_ms >= 0 =>
                {
                    !by_start
                        && !by_size
                        && now_ms.saturating_sub(self.largest_timestamp(segment, config)?)
                            > config.retention_ms
                }
                _ => false,
            };
            if !(by_start || by_size || by_time) {
                break;
            }
            excess = excess.saturating_sub(segment.size_bytes());
            victims.push(Arc::clone(segment));
        }
        Ok(victims)
    }

    /// A segment's largest timestamp, or its file's modification time when no record has a
    /// timestamp (Kafka's `largestTimestamp`) or the segment is corrupt (retention still
    /// deletes it when its time comes, rather than stopping at it).
    fn largest_timestamp(&self, segment: &Arc<ClosedSegment>, config: &TopicConfig) -> Result<i64> {
        let reader = match segment.reader(&config.segment_config(), &self.cache) {
            Ok(reader) => Some(reader),
            Err(EngineError::CorruptSegment { .. }) => None,
            Err(e) => return Err(e),
        };
        if let Some(max) = reader.and_then(|r| r.max_timestamp()) {
            return Ok(max.timestamp);
        }
        let path = segment.file(silt_segment::log::LOG_SUFFIX);
        let modified = std::fs::metadata(&path)
            .and_then(|m| m.modified())
            .map_err(crate::error::io_err("stat", &path))?;
        Ok(modified
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64))
    }

    /// Kafka's DeleteRecords: advances the log start offset to `before` (no further than the
    /// log end offset) and deletes the segments wholly below it. Returns the new log start.
    pub fn delete_records(&self, before: i64) -> Result<i64> {
        let log_end = self.log_end_offset()?;
        let log_start = self.log_start_offset();
        if before < 0 || before > log_end {
            return Err(self.out_of_range(before, log_start, log_end));
        }
        self.log_start.fetch_max(before, Ordering::AcqRel);
        self.delete_old_segments(Rules::LogStartOnly, usize::MAX)?;
        Ok(self.log_start_offset())
    }
}
