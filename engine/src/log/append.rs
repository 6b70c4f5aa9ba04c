//! The write side of a log: append, roll, flush (with group commit) and close.

use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use silt_segment::batch::{
    set_log_append_time, Batch, BatchHeader, Batches, DecompressBuffer, TimestampType, HEADER_SIZE,
};
use silt_segment::log::{Segment, INDEX_SUFFIX, LOG_SUFFIX, TIME_INDEX_SUFFIX};

use super::segments::ClosedSegment;
use super::{now_ms, Log, Writer};
use crate::config::TopicConfig;
use crate::error::{EngineError, Result};
use crate::fsutil::sync_dir;
use crate::sync::{lock, write};

/// What [`Log::append`] wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogAppendInfo {
    /// Offset of the first record.
    pub first_offset: i64,
    /// Offset of the last record.
    pub last_offset: i64,
    /// Largest timestamp of the appended batches.
    pub max_timestamp: i64,
    /// The append time stamped on the batches, for a `LogAppendTime` topic.
    pub log_append_time: Option<i64>,
    /// Batches appended.
    pub batches: u32,
}

/// The totals of a checked append.
#[derive(Debug, Clone, Copy)]
struct Checked {
    records: i64,
    /// Offsets the batches take (sum of lastOffsetDelta + 1).
    span: i64,
    batches: u32,
    /// Largest batch maxTimestamp: what `segment.ms` is measured with.
    max_timestamp: i64,
}

impl Log {
    /// Appends whole RecordBatch v2 batches laid back to back, giving them the next offsets.
    ///
    /// Every batch is checked first (header, CRC-32C, `max.message.bytes`); nothing is written
    /// unless all pass. The segment rolls first when `segment.bytes`, `segment.ms`, a full
    /// index or the relative offset range require it. A `LogAppendTime` topic gets the append
    /// time stamped (and the CRC recomputed).
    pub fn append(&self, batches: &[u8]) -> Result<LogAppendInfo> {
        let config = self.config();
        let mut writer = lock(&self.writer);
        // Under the writer's lock: a roll that failed (and took the log offline) held it.
        self.check_open()?;
        let mut checked = self.check_batches(batches, &config, &mut writer.decompress)?;
        self.ensure_active(&mut writer)?;
        let now = now_ms();
        let mut scratch = std::mem::take(&mut writer.scratch);
        let append_time = match config.message_timestamp_type {
            TimestampType::LogAppendTime => {
                restamp(batches, now, &mut scratch);
                Some(now)
            }
            TimestampType::CreateTime => None,
        };
        let bytes = if append_time.is_some() {
            &scratch[..]
        } else {
            batches
        };
        if append_time.is_some() {
            checked.max_timestamp = now;
        }
        let result = self.append_locked(&mut writer, bytes, &checked, &config);
        writer.scratch = scratch;
        let info = result?;
        self.appended(writer, &config, checked.records, now, info)?;
        Ok(LogAppendInfo {
            log_append_time: append_time,
            ..info
        })
    }

    /// Appends one batch a producer of this engine built (so its CRC and records need no
    /// check), stamping LogAppendTime into it in place on a `LogAppendTime` topic. Its size is
    /// still checked against the topic's current `max.message.bytes` and `segment.bytes`.
    pub(crate) fn append_produced(&self, batch: &mut [u8]) -> Result<LogAppendInfo> {
        let config = self.config();
        let header = batch
            .first_chunk::<HEADER_SIZE>()
            .map(BatchHeader::read)
            .ok_or(silt_segment::SegmentError::EmptyAppend)?;
        let max = config.max_message_bytes.min(config.segment_bytes);
        if batch.len() > max as usize {
            return Err(EngineError::RecordTooLarge {
                topic: self.topic.to_string(),
                partition: self.partition,
                size: batch.len(),
                max,
                limit: "max.message.bytes",
            });
        }
        let span = header.last_offset_delta as u32 + 1;
        let mut writer = lock(&self.writer);
        self.check_open()?;
        self.ensure_active(&mut writer)?;
        let now = now_ms();
        let (max_timestamp, log_append_time) = match config.message_timestamp_type {
            TimestampType::LogAppendTime => {
                set_log_append_time(batch, now);
                (now, Some(now))
            }
            TimestampType::CreateTime => (header.max_timestamp, None),
        };
        let info = self.append_chunk(&mut writer, batch, span, &config, max_timestamp)?;
        let records = i64::from(header.records_count);
        self.appended(writer, &config, records, now, info)?;
        Ok(LogAppendInfo {
            log_append_time,
            ..info
        })
    }

    /// Counts `records` as unflushed, wakes waiting readers, and flushes when
    /// `flush.messages` says so.
    fn appended(
        &self,
        mut writer: std::sync::MutexGuard<'_, Writer>,
        config: &TopicConfig,
        records: i64,
        now: i64,
        info: LogAppendInfo,
    ) -> Result<()> {
        writer.unflushed_messages += records;
        self.unflushed_since_ms.fetch_min(now, Ordering::AcqRel);
        let flush = writer.unflushed_messages >= config.flush_messages;
        drop(writer);
        // The segment published the new end (release store): wake readers waiting for it.
        self.appends.notify();
        if flush {
            self.flush_up_to(info.last_offset + 1)?;
        }
        Ok(())
    }

    /// Checks every batch as Kafka's broker does before it assigns offsets: header, CRC,
    /// size against `max.message.bytes` and `segment.bytes`, a record count of
    /// lastOffsetDelta + 1, and every record well-formed with offset deltas 0, 1, 2, ….
    /// Compressed batches are decompressed into `buffer` to be walked.
    fn check_batches(
        &self,
        batches: &[u8],
        config: &TopicConfig,
        buffer: &mut DecompressBuffer,
    ) -> Result<Checked> {
        let mut checked = Checked {
            records: 0,
            span: 0,
            batches: 0,
            max_timestamp: -1,
        };
        let max = config.max_message_bytes.min(config.segment_bytes);
        for batch in Batches::new(batches, 0) {
            let batch = batch?;
            batch.validate()?;
            if batch.size() > max as usize {
                return Err(EngineError::RecordTooLarge {
                    topic: self.topic.to_string(),
                    partition: self.partition,
                    size: batch.size(),
                    max,
                    limit: "max.message.bytes",
                });
            }
            self.check_records(&batch, buffer, config.cleanup_policy.compact)?;
            checked.records += i64::from(batch.records_count());
            checked.span += batch.last_offset() - batch.base_offset() + 1;
            checked.batches += 1;
            checked.max_timestamp = checked.max_timestamp.max(batch.max_timestamp());
        }
        if checked.batches == 0 {
            return Err(silt_segment::SegmentError::EmptyAppend.into());
        }
        Ok(checked)
    }

    /// Walks a batch's records: each must parse, and the i-th must have offset delta i. In a
    /// compacted topic every record needs a key (Kafka refuses the batch otherwise).
    fn check_records(
        &self,
        batch: &Batch<'_>,
        buffer: &mut DecompressBuffer,
        compacted: bool,
    ) -> Result<()> {
        let invalid = |reason| EngineError::InvalidBatch {
            topic: self.topic.to_string(),
            partition: self.partition,
            position: batch.position(),
            reason,
        };
        let span = batch.last_offset() - batch.base_offset() + 1;
        if i64::from(batch.records_count()) != span {
            return Err(invalid("its record count is not lastOffsetDelta + 1"));
        }
        for (expected, record) in (batch.base_offset()..).zip(batch.records(buffer)?) {
            let record = record?;
            if record.offset != expected {
                return Err(invalid("its records' offset deltas are not 0, 1, 2, ..."));
            }
            if compacted && record.key.is_none() {
                return Err(EngineError::InvalidRecord {
                    topic: self.topic.to_string(),
                    reason: super::cleaner::KEYLESS_IN_COMPACTED_TOPIC,
                });
            }
        }
        Ok(())
    }

    /// Appends checked batches, rolling first if needed. Batches that together exceed a
    /// segment are appended one by one, each with its own roll check.
    fn append_locked(
        &self,
        writer: &mut Writer,
        bytes: &[u8],
        checked: &Checked,
        config: &TopicConfig,
    ) -> Result<LogAppendInfo> {
        if bytes.len() <= config.segment_bytes as usize && checked.span <= i64::from(i32::MAX) {
            let (span, max_timestamp) = (checked.span as u32, checked.max_timestamp);
            return self.append_chunk(writer, bytes, span, config, max_timestamp);
        }
        let mut total: Option<LogAppendInfo> = None;
        for batch in Batches::new(bytes, 0) {
            let batch: Batch<'_> = batch?;
            let span = (batch.last_offset() - batch.base_offset() + 1) as u32;
            let max_timestamp = batch.max_timestamp();
            let info = self.append_chunk(writer, batch.as_bytes(), span, config, max_timestamp)?;
            total = Some(match total {
                None => info,
                Some(t) => LogAppendInfo {
                    last_offset: info.last_offset,
                    max_timestamp: t.max_timestamp.max(info.max_timestamp),
                    batches: t.batches + 1,
                    ..t
                },
            });
        }
        total.ok_or_else(|| silt_segment::SegmentError::EmptyAppend.into())
    }

    fn append_chunk(
        &self,
        writer: &mut Writer,
        bytes: &[u8],
        span: u32,
        config: &TopicConfig,
        max_timestamp: i64,
    ) -> Result<LogAppendInfo> {
        // Kafka measures `segment.ms` from the segment's first batch timestamp to the
        // incoming batch's, not by the wall clock (`LogSegment.timeWaitedForRoll`).
        let segment = writer.active.as_ref().ok_or(EngineError::Closed)?;
        if segment
            .roll_reason(bytes.len(), span, max_timestamp)
            .is_some()
        {
            self.roll(writer, config)?;
        }
        let segment = writer.active.as_mut().ok_or(EngineError::Closed)?;
        let info = segment.append(bytes)?;
        Ok(LogAppendInfo {
            first_offset: info.base_offset,
            last_offset: info.last_offset,
            max_timestamp: info.max_timestamp,
            log_append_time: None,
            batches: info.batches,
        })
    }

    /// Seals the active segment and starts a new one at the log end offset. The new segment
    /// is created (and preallocated) before the old one is sealed, so a full disk fails the
    /// roll with the old segment still active and nothing changed (`Segment::create` leaves
    /// no file behind), and the next append tries again.
    ///
    /// A seal that fails, or a directory sync after it, takes the log offline instead
    /// ([`Log::fail`]): the old segment may be cut to its end already (appending to it
    /// again would write past the end of the file), and a failed fsync is never retried.
    fn roll(&self, writer: &mut Writer, config: &TopicConfig) -> Result<()> {
        let Some(old) = writer.active.as_mut() else {
            return Ok(());
        };
        let next = old.next_offset();
        if next == old.base_offset() {
            return Ok(()); // an empty segment never rolls
        }
        let durable_to = self.recovery_point();
        let new = Segment::create(&self.dir, next, &config.segment_config())?;
        if let Err(e) = old.seal() {
            drop(new);
            // Best effort: the next open would find an empty segment there, and recover it.
            let _ = remove_segment_files(&self.dir, next);
            return Err(self.fail(e.into(), durable_to));
        }
        // The new segment's name must be durable before anything is acknowledged in it.
        sync_dir(&self.dir).map_err(|e| self.fail(e, durable_to))?;
        let closed = ClosedSegment::rolled(Arc::clone(&self.dir), old.reader(), &self.cache);
        {
            let mut view = write(&self.view);
            view.closed.push(closed);
            view.active = Some(new.reader());
        }
        writer.last_base = Some(next);
        writer.active = Some(new);
        // Sealing synced everything below `next`.
        self.recovery_point.fetch_max(next, Ordering::AcqRel);
        Ok(())
    }

    /// Syncs everything appended so far to disk. See [`Log::flush_up_to`].
    pub fn flush(&self) -> Result<i64> {
        self.flush_up_to(i64::MAX)
    }

    /// Makes every offset below `offset` durable, and returns the new recovery point.
    ///
    /// Concurrent callers share syncs (group commit): callers queue on one lock, and a caller
    /// whose offset a sync that ran while it waited already covered returns without syncing.
    /// The sync itself (msync of the unsynced range of the active segment) runs outside the
    /// writer's lock, so appends go on during it.
    pub fn flush_up_to(&self, offset: i64) -> Result<i64> {
        let covered = |log: &Log| log.recovery_point() >= offset;
        if covered(self) {
            return Ok(self.recovery_point());
        }
        let _turn = lock(&self.flush_lock);
        if covered(self) {
            return Ok(self.recovery_point());
        }
        if let Some(failed) = self.failed() {
            return Err(failed);
        }
        let durable_to = self.recovery_point();
        let syncer = {
            let mut writer = lock(&self.writer);
            // The sync covers everything published so far; appends after this point mark
            // themselves unflushed again.
            writer.unflushed_messages = 0;
            self.unflushed_since_ms.store(i64::MAX, Ordering::Release);
            writer.active.as_ref().map(Segment::syncer)
        };
        let synced_to = match syncer {
            Some(syncer) => {
                self.syncs.fetch_add(1, Ordering::Relaxed);
                match syncer.sync() {
                    Ok(synced) => synced.next_offset,
                    // Never retried: after a failed msync or fdatasync the kernel may have
                    // dropped the dirty pages and marked them clean, and the next sync would
                    // succeed without writing them (PostgreSQL's "fsyncgate"). Nothing this
                    // sync covered is acknowledged; the log goes offline until reopened.
                    Err(e) => return Err(self.fail(e.into(), durable_to)),
                }
            }
            // Nothing was appended since opening: all of it was synced by the last close
            // or by recovery.
            None => self.log_end_offset()?,
        };
        self.recovery_point.fetch_max(synced_to, Ordering::AcqRel);
        Ok(self.recovery_point())
    }

    /// Flushes when `flush.ms` has passed since the oldest unsynced append.
    pub(crate) fn flush_if_due(&self, now: i64) -> Result<()> {
        if self.failure.get().is_some() {
            return Ok(()); // reported when it failed; nothing can be flushed
        }
        let since = self.unflushed_since_ms.load(Ordering::Acquire);
        if since != i64::MAX && now.saturating_sub(since) >= self.config().flush_ms {
            self.flush()?;
        }
        Ok(())
    }

    /// Stops appends and seals the active segment (trimming its files to their real sizes),
    /// so the next open finds nothing to recover. Readers keep reading.
    ///
    /// A failed log is not sealed (its seal's fsync could succeed without writing what the
    /// failed sync lost): its close fails with `LogFailed`, the engine then writes no
    /// clean-shutdown marker, and the next open recovers the log from its recovery point.
    pub(crate) fn close(&self) -> Result<()> {
        self.closed.store(true, Ordering::Release);
        let mut writer = lock(&self.writer);
        if let Some(failed) = self.failed() {
            return Err(failed);
        }
        if let Some(active) = writer.active.as_mut() {
            let durable_to = self.recovery_point();
            active.seal().map_err(|e| self.fail(e.into(), durable_to))?;
            let end = active.next_offset();
            self.recovery_point.fetch_max(end, Ordering::AcqRel);
        }
        // A flush that failed meanwhile (outside the writer's lock) wins.
        self.failed().map_or(Ok(()), Err)
    }

    /// Stops appends for good and drops the writer (the topic is being deleted).
    pub(crate) fn mark_deleted(&self) {
        self.deleted.store(true, Ordering::Release);
        self.closed.store(true, Ordering::Release);
        lock(&self.writer).active = None;
    }
}

/// Copies `batches` into `scratch` with each batch stamped LogAppendTime `now`.
fn restamp(batches: &[u8], now: i64, scratch: &mut Vec<u8>) {
    scratch.clear();
    scratch.extend_from_slice(batches);
    let mut position = 0usize;
    while let Some(rest) = scratch.get_mut(position..) {
        let Ok(size) = Batch::parse(rest, 0).map(|b| b.size()) else {
            break;
        };
        if let Some(batch) = rest.get_mut(..size) {
            set_log_append_time(batch, now);
        }
        position += size;
    }
}

/// Removes a segment's three files (a missing file is fine).
pub(crate) fn remove_segment_files(dir: &Path, base_offset: i64) -> Result<()> {
    for suffix in [LOG_SUFFIX, INDEX_SUFFIX, TIME_INDEX_SUFFIX] {
        let path = silt_segment::log::segment_file(dir, base_offset, suffix);
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(crate::error::io_err("remove", &path)(e));
            }
            _ => {}
        }
    }
    Ok(())
}
