//! The engine: one data directory, locked by one process, holding topics of partition logs.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use crate::background::Background;
use crate::checkpoint::{take_clean_shutdown, write_clean_shutdown, OffsetCheckpoint};
use crate::config::EngineConfig;
use crate::error::{io_err, EngineError, Result};
use crate::extension::Extensions;
use crate::fetch::Fetch;
use crate::fsutil::{remove_stale_tmp, sync_dir};
use crate::log::cleaner::CleanerShared;
use crate::log::segments::SegmentCache;
use crate::log::{
    CleanerReport, ListedOffset, Log, LogAppendInfo, LogToClean, OffsetSpec, RetentionReport,
};
use crate::metadata::MetadataDir;
use crate::producer::ProducerIdBlock;
use crate::sync::{lock, read};
use crate::topic::Topic;

/// File in the data directory that the owning process holds an exclusive `flock` on.
pub const LOCK_FILE: &str = ".lock";
/// Kafka's file of recovery points, one per partition.
pub const RECOVERY_POINT_CHECKPOINT: &str = "recovery-point-offset-checkpoint";
/// Kafka's file of log start offsets, one per partition.
pub const LOG_START_CHECKPOINT: &str = "log-start-offset-checkpoint";

/// An open data directory: topics, each a set of partition logs.
///
/// `Engine` is a cheap handle (an `Arc`): clone it into every thread that needs it. The
/// directory stays locked until [`Engine::close`] or until the last handle is dropped (which
/// closes it too, ignoring errors).
///
/// ```
/// use silt_engine::{Engine, EngineConfig, NewTopic, OffsetSpec};
/// use silt_segment::batch::{BatchBuilder, BatchConfig};
///
/// let dir = tempfile::tempdir()?;
/// let engine = Engine::open(dir.path(), EngineConfig::default())?;
/// engine.create_topic(NewTopic::new("orders", 3).config("retention.ms", "86400000"))?;
///
/// let mut builder = BatchBuilder::new(BatchConfig::default());
/// builder.append(1_700_000_000_000, Some(b"order-1"), Some(b"{\"qty\":2}"), &[])?;
/// let info = engine.append("orders", 1, &builder.finish()?)?;
/// assert_eq!(info.first_offset, 0);
/// assert_eq!(engine.list_offsets("orders", 1, OffsetSpec::Latest)?.unwrap().offset, 1);
/// engine.close()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Engine {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("dir", &self.inner.dir)
            .finish_non_exhaustive()
    }
}

pub(crate) struct Inner {
    pub(crate) dir: PathBuf,
    pub(crate) config: EngineConfig,
    /// Held for the engine's life: dropping it releases the `flock`.
    lock_file: File,
    pub(crate) meta: MetadataDir,
    pub(crate) cache: Arc<SegmentCache>,
    /// The log cleaner and its checkpoint (compacted topics).
    pub(crate) cleaner: Arc<CleanerShared>,
    pub(crate) topics: RwLock<BTreeMap<String, Arc<Topic>>>,
    /// Serializes topic creation, deletion and alteration, and checkpoint writes.
    pub(crate) admin: Mutex<()>,
    background: Mutex<Option<Background>>,
    pub(crate) background_error: Mutex<Option<EngineError>>,
    closed: AtomicBool,
    open_report: OpenReport,
    /// Bumped whenever a topic is created, deleted or altered, so producers know to look
    /// their cached topics up again.
    pub(crate) topics_version: AtomicU64,
    /// Producer ids handed out to idempotent producers, from blocks persisted ahead of use.
    pub(crate) producer_ids: Mutex<ProducerIdBlock>,
    /// Per-engine state of the crates built on it ([`Engine::extension`]).
    pub(crate) extensions: Extensions,
}

/// What [`Engine::open`] found.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct OpenReport {
    /// Whether the last stop was clean (nothing was validated).
    pub clean: bool,
    /// Partitions opened.
    pub partitions: usize,
    /// Segments validated batch by batch after an unclean stop.
    pub segments_recovered: usize,
    /// Bytes of valid batches those segments held.
    pub bytes_validated: u64,
    /// Partitions whose log was cut at a torn or corrupt batch.
    pub partitions_truncated: usize,
}

impl Engine {
    /// Opens (creating if needed) the data directory `dir` and takes its lock.
    ///
    /// A second opener, in another process or this one, gets [`EngineError::AlreadyOpen`] and
    /// changes nothing. After a clean stop no segment is read; after an unclean one, every
    /// partition's segments from its recovery point on are validated and cut at the first
    /// invalid batch.
    pub fn open(dir: impl AsRef<Path>, config: EngineConfig) -> Result<Engine> {
        let dir = dir.as_ref().to_path_buf();
        std::fs::create_dir_all(&dir).map_err(io_err("create directory", &dir))?;
        let lock_path = dir.join(LOCK_FILE);
        let lock_file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&lock_path)
            .map_err(io_err("open", &lock_path))?;
        match lock_file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(EngineError::AlreadyOpen {
                    path: dir,
                    lock: lock_path,
                })
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(io_err("flock", &lock_path)(e)),
        }
        let clean = take_clean_shutdown(&dir)?;
        // Checkpoints are replaced through a temporary file: one a crash left behind is
        // removed here (the topic metadata directory's own are, by `MetadataDir::open`).
        remove_stale_tmp(&dir)?;
        let meta = MetadataDir::open(&dir)?;
        let cache = Arc::new(SegmentCache::new(config.max_open_segments));
        let cleaner = CleanerShared::open(&dir, config.cleaner_dedupe_buffer_bytes)?;
        let (topics, open_report) =
            crate::topic::load_topics(&dir, &config, &meta, &cache, &cleaner, clean)?;
        let inner = Arc::new(Inner {
            dir,
            config,
            lock_file,
            meta,
            cache,
            cleaner,
            topics: RwLock::new(topics),
            admin: Mutex::new(()),
            background: Mutex::new(None),
            background_error: Mutex::new(None),
            closed: AtomicBool::new(false),
            open_report,
            topics_version: AtomicU64::new(0),
            producer_ids: Mutex::new(ProducerIdBlock::default()),
            extensions: Extensions::default(),
        });
        crate::topic::remove_stray_partitions(&inner)?;
        if !clean {
            // Recovery moved recovery points forward: record them before anything else.
            inner.write_checkpoints()?;
        }
        let background = Background::start(Arc::downgrade(&inner), &inner.config)?;
        *lock(&inner.background) = Some(background);
        Ok(Engine { inner })
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        &self.inner.dir
    }

    /// The engine's configuration.
    pub fn config(&self) -> &EngineConfig {
        &self.inner.config
    }

    /// What opening found (clean or not, what was recovered).
    pub fn open_report(&self) -> OpenReport {
        self.inner.open_report
    }

    /// A partition's log, for callers that append or fetch in a loop (skips the topic lookup).
    pub fn log(&self, topic: &str, partition: u32) -> Result<Arc<Log>> {
        self.inner.check_open()?;
        let topics = read(&self.inner.topics);
        let t = topics.get(topic).ok_or_else(|| EngineError::UnknownTopic {
            topic: topic.to_string(),
        })?;
        t.partition(partition).cloned()
    }

    /// Appends whole batches to a partition. See [`Log::append`].
    pub fn append(&self, topic: &str, partition: u32, batches: &[u8]) -> Result<LogAppendInfo> {
        self.log(topic, partition)?.append(batches)
    }

    /// Reads whole batches from `offset`, borrowed from the segment map. See [`Log::fetch`].
    pub fn fetch(
        &self,
        topic: &str,
        partition: u32,
        offset: i64,
        max_bytes: usize,
    ) -> Result<Fetch> {
        self.log(topic, partition)?.fetch(offset, max_bytes)
    }

    /// Kafka's ListOffsets for one partition. See [`Log::list_offsets`].
    pub fn list_offsets(
        &self,
        topic: &str,
        partition: u32,
        spec: OffsetSpec,
    ) -> Result<Option<ListedOffset>> {
        self.log(topic, partition)?.list_offsets(spec)
    }

    /// Kafka's DeleteRecords: advances the partition's log start offset to `before` and
    /// persists it before returning. Returns the new log start offset.
    pub fn delete_records(&self, topic: &str, partition: u32, before: i64) -> Result<i64> {
        let start = self.log(topic, partition)?.delete_records(before)?;
        self.inner.write_checkpoints()?;
        Ok(start)
    }

    /// Makes everything appended to a partition below `offset` durable; concurrent callers
    /// share syncs. See [`Log::flush_up_to`].
    pub fn flush_up_to(&self, topic: &str, partition: u32, offset: i64) -> Result<i64> {
        self.log(topic, partition)?.flush_up_to(offset)
    }

    /// Syncs every partition and writes the recovery point checkpoint. A partition that
    /// fails (or is offline, [`EngineError::LogFailed`]) does not stop the others: every one
    /// is synced, the checkpoints are written, and the first error is returned.
    pub fn flush(&self) -> Result<()> {
        self.inner.check_open()?;
        let mut first_error = None;
        for log in self.inner.all_logs() {
            if let Err(e) = log.flush() {
                first_error.get_or_insert(e);
            }
        }
        let written = self.inner.write_checkpoints();
        first_error.map_or(written, Err)
    }

    /// Runs retention over every partition now, with no per-tick bound (the background task
    /// does the same every `log.retention.check.interval.ms`, bounded).
    pub fn enforce_retention(&self) -> Result<RetentionReport> {
        self.inner.check_open()?;
        self.inner.retention_pass(usize::MAX)
    }

    /// Compacts every log whose `cleanup.policy` includes `compact` and that is eligible now
    /// (see [`Log::cleanable`]), with no per-tick bound: what the background cleaner does
    /// every `log.cleaner.backoff.ms`, one log at a time. Works whether or not
    /// `log.cleaner.enable` is set. Offline logs ([`Log::failure`]) are skipped.
    pub fn clean_logs(&self) -> Result<CleanerReport> {
        self.inner.check_open()?;
        let now = crate::log::now_ms();
        let mut report = CleanerReport::default();
        for log in self.inner.all_logs() {
            if log.failure().is_some() {
                continue;
            }
            match log.clean(now) {
                Ok(Some(stats)) => report.add(&stats),
                Ok(None) => {}
                // Its topic was deleted after the list was taken: nothing is left to clean.
                Err(_) if log.is_deleted() => {}
                Err(e) => return Err(e),
            }
        }
        Ok(report)
    }

    /// Closed segments mapped right now, across the engine (at most `silt.max.open.segments`,
    /// plus those that fetches still hold).
    pub fn mapped_closed_segments(&self) -> usize {
        self.inner.cache.mapped()
    }

    /// The last error the background task met, if any (it keeps running).
    pub fn take_background_error(&self) -> Option<EngineError> {
        lock(&self.inner.background_error).take()
    }

    /// Stops the background task, seals every active segment, writes the checkpoints and the
    /// clean-shutdown marker, and releases the directory. Later calls on any handle fail with
    /// [`EngineError::Closed`]; fetches already made stay readable.
    ///
    /// If a partition cannot be sealed, or is offline ([`EngineError::LogFailed`]), the
    /// others are still sealed and the checkpoints written, but no clean-shutdown marker:
    /// the first error is returned, the directory is released all the same, and the next
    /// open recovers every partition from its recovery point.
    pub fn close(&self) -> Result<()> {
        self.inner.close()
    }
}

impl Inner {
    /// Records that the set of topics (or a topic's partitions or config) changed.
    pub(crate) fn topics_changed(&self) {
        self.topics_version.fetch_add(1, Ordering::AcqRel);
    }

    pub(crate) fn check_open(&self) -> Result<()> {
        if self.closed.load(Ordering::Acquire) {
            return Err(EngineError::Closed);
        }
        Ok(())
    }

    pub(crate) fn all_logs(&self) -> Vec<Arc<Log>> {
        read(&self.topics)
            .values()
            .flat_map(|t| t.logs().iter().cloned())
            .collect()
    }

    /// One pass of retention over every partition, deleting at most `budget` segments.
    pub(crate) fn retention_pass(&self, budget: usize) -> Result<RetentionReport> {
        let now = crate::log::now_ms();
        let mut report = RetentionReport::default();
        let mut advanced = false;
        for log in self.all_logs() {
            let left = budget.saturating_sub(report.segments_deleted);
            if left == 0 {
                break;
            }
            let before = log.log_start_offset();
            report.add(log.delete_old_segments(crate::log::Rules::All { now_ms: now }, left)?);
            advanced |= log.log_start_offset() != before;
        }
        if advanced {
            self.write_checkpoints()?;
        }
        Ok(report)
    }

    /// The background cleaner's tick: cleans the eligible log with the largest dirty ratio
    /// (bounded work: one log), if any.
    pub(crate) fn clean_dirtiest(&self) -> Result<Option<CleanerReport>> {
        let now = crate::log::now_ms();
        let mut dirtiest: Option<(Arc<Log>, LogToClean)> = None;
        for log in self.all_logs() {
            if log.failure().is_some() {
                continue; // offline: it would fail every tick, and starve the others
            }
            let Some(to_clean) = log.cleanable(now)?.filter(|c| c.eligible) else {
                continue;
            };
            if dirtiest
                .as_ref()
                .is_none_or(|(_, d)| to_clean.dirty_ratio > d.dirty_ratio)
            {
                dirtiest = Some((log, to_clean));
            }
        }
        let Some((log, _)) = dirtiest else {
            return Ok(None);
        };
        let mut report = CleanerReport::default();
        if let Some(stats) = log.clean(now)? {
            report.add(&stats);
        }
        Ok(Some(report))
    }

    /// Writes both offset checkpoints from every partition's current state.
    pub(crate) fn write_checkpoints(&self) -> Result<()> {
        let _admin = lock(&self.admin);
        let logs = self.all_logs();
        let recovery: Vec<_> = logs
            .iter()
            .map(|l| (l.topic(), l.partition(), l.recovery_point()))
            .collect();
        OffsetCheckpoint::new(self.dir.join(RECOVERY_POINT_CHECKPOINT)).write(recovery)?;
        let starts: Vec<_> = logs
            .iter()
            .map(|l| (l.topic(), l.partition(), l.log_start_offset()))
            .collect();
        OffsetCheckpoint::new(self.dir.join(LOG_START_CHECKPOINT)).write(starts)
    }

    fn close(&self) -> Result<()> {
        if self.closed.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        if let Some(background) = lock(&self.background).take() {
            background.stop();
        }
        // Seal every partition even if one fails; without the marker the next open recovers.
        let mut first_error = None;
        for log in self.all_logs() {
            if let Err(e) = log.close() {
                first_error.get_or_insert(e);
            }
        }
        let closed = match first_error {
            Some(e) => {
                // The recovery points are still right (an offline log's is frozen at what
                // was synced): recording them spares the next open some validation.
                let _ = self.write_checkpoints();
                Err(e)
            }
            None => self
                .write_checkpoints()
                .and_then(|()| write_clean_shutdown(&self.dir))
                .and_then(|()| sync_dir(&self.dir)),
        };
        // Released whatever happened: nothing writes any more, and the next open (in this
        // process too) recovers what the missing marker leaves unknown.
        let unlocked = self
            .lock_file
            .unlock()
            .map_err(io_err("unlock", self.dir.join(LOCK_FILE)));
        closed.and(unlocked)
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        let _ = self.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::NewTopic;
    use silt_segment::batch::{BatchBuilder, BatchConfig};

    fn batch(n: usize) -> Vec<u8> {
        let mut builder = BatchBuilder::new(BatchConfig::default());
        for i in 0..n {
            let value = format!("value-{i:04}");
            builder
                .append(1_700_000_000_000, None, Some(value.as_bytes()), &[])
                .unwrap();
        }
        builder.finish().unwrap()
    }

    /// The background task's bound: one retention pass deletes at most `budget` segments,
    /// across partitions, however many are due.
    #[test]
    fn a_retention_pass_deletes_at_most_its_budget() {
        let dir = tempfile::tempdir().unwrap();
        let config = EngineConfig {
            retention_check_interval_ms: 3_600_000,
            ..EngineConfig::default()
        };
        let engine = Engine::open(dir.path(), config).unwrap();
        let topic = NewTopic::new("t", 2)
            .config("segment.bytes", "4096")
            .config("retention.bytes", "0");
        engine.create_topic(topic).unwrap();
        for partition in 0..2 {
            let log = engine.log("t", partition).unwrap();
            while log.segment_count() < 6 {
                log.append(&batch(20)).unwrap();
            }
        }
        let closed = |engine: &Engine| -> usize {
            (0..2)
                .map(|p| engine.log("t", p).unwrap().segment_count() - 1)
                .sum()
        };
        assert_eq!(closed(&engine), 10);
        assert_eq!(engine.inner.retention_pass(1).unwrap().segments_deleted, 1);
        assert_eq!(closed(&engine), 9);
        assert_eq!(engine.inner.retention_pass(3).unwrap().segments_deleted, 3);
        assert_eq!(closed(&engine), 6);
        assert_eq!(
            engine.inner.retention_pass(100).unwrap().segments_deleted,
            6
        );
        assert_eq!(closed(&engine), 0, "everything but the active segments");
    }
}
