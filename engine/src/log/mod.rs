//! A partition's log (Kafka's `UnifiedLog`): ordered segments, the last one active.
//!
//! Writers serialize on one mutex (there is one writer per partition: the producer's
//! partition writer, or whoever calls [`Log::append`]). Readers never take it: they take the
//! segment list's read lock for the time it takes to clone one `Arc`, then read the segment
//! through its published end with an acquire load.

mod append;
pub(crate) mod cleaner;
mod load;
mod notify;
mod offsets;
mod retention;
pub(crate) mod segments;

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, RwLock};

use silt_segment::log::{Segment, SegmentReader};

pub use append::LogAppendInfo;
pub use cleaner::{CleanerReport, CleanerStats, CleanerStep, LogToClean};
pub(crate) use load::LoadContext;
pub use notify::{Notify, Waiter};
pub use offsets::{ListedOffset, OffsetSpec};
pub use retention::RetentionReport;
pub(crate) use retention::Rules;

use crate::config::TopicConfig;
use crate::error::{EngineError, Result};
use crate::fetch::Fetch;
use crate::sync::{lock, read, write};
use segments::{ClosedSegment, SegmentCache};

/// One partition of a topic: a directory `<topic>-<partition>` of segments.
///
/// Obtained from [`Engine::log`](crate::Engine::log); cheap to clone as an `Arc`, usable
/// from any thread.
pub struct Log {
    topic: Arc<str>,
    partition: u32,
    dir: Arc<Path>,
    config: RwLock<Arc<TopicConfig>>,
    cache: Arc<SegmentCache>,
    writer: Mutex<Writer>,
    view: RwLock<View>,
    log_start: AtomicI64,
    /// Every offset below this is durable (Kafka's recovery point).
    recovery_point: AtomicI64,
    /// Serializes syncs, so concurrent `flush_up_to` callers share one (group commit).
    flush_lock: Mutex<()>,
    /// Serializes retention passes, so segment files are deleted in offset order.
    retention_lock: Mutex<()>,
    syncs: AtomicU64,
    /// Wall-clock ms of the oldest append not yet synced; `i64::MAX` when all are synced.
    unflushed_since_ms: AtomicI64,
    /// Set when the log stops taking appends: at close, deletion, or failure.
    closed: AtomicBool,
    /// Set when the topic is deleted: appends then fail with `UnknownTopic`.
    deleted: AtomicBool,
    /// Set (before `closed`) when a write or sync failed and left the files' durable state
    /// unknown: appends then fail with `LogFailed` (see [`Log::fail`]).
    failure: OnceLock<Failure>,
    /// Kafka's first dirty offset: records below it were cleaned (-1 before any cleaning).
    first_dirty: AtomicI64,
    /// Whether segments may hold offset gaps (compacted topic, or cleaned before).
    offset_gaps: AtomicBool,
    /// Earliest delete horizon of a batch the last cleaning kept tombstones in (`i64::MAX`
    /// when none is known): once it passes, a cleaning can remove tombstones.
    delete_horizon_ms: AtomicI64,
    /// The engine's cleaner and its checkpoint file.
    cleaner: Arc<cleaner::CleanerShared>,
    /// Wakes readers waiting for appends (consumers' polls); free while none waits.
    appends: Notify,
}

/// The writer's state, behind the writer mutex.
struct Writer {
    /// The active segment, `None` until an append or a read first needs it.
    active: Option<Segment>,
    /// Base offset of the last segment (the active one once opened); `None` while the log has
    /// no segment at all.
    last_base: Option<i64>,
    /// Batches restamped for `LogAppendTime`, reused from append to append.
    scratch: Vec<u8>,
    /// Where compressed batches are decompressed to be checked, reused likewise.
    decompress: silt_segment::batch::DecompressBuffer,
    unflushed_messages: i64,
}

/// Why a log went offline, and how far it was durable then.
struct Failure {
    cause: Arc<EngineError>,
    recovery_point: i64,
}

/// What readers see: closed segments in offset order, then the active one.
#[derive(Default)]
struct View {
    closed: Vec<Arc<ClosedSegment>>,
    active: Option<SegmentReader>,
}

impl std::fmt::Debug for Log {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Log")
            .field("topic", &self.topic)
            .field("partition", &self.partition)
            .field("log_start", &self.log_start_offset())
            .field("recovery_point", &self.recovery_point())
            .finish()
    }
}

impl Log {
    /// The topic this partition belongs to.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// The partition number.
    pub fn partition(&self) -> u32 {
        self.partition
    }

    /// The partition's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The topic's effective configuration as this log uses it.
    pub fn config(&self) -> Arc<TopicConfig> {
        Arc::clone(&read(&self.config))
    }

    pub(crate) fn set_config(&self, config: Arc<TopicConfig>) {
        *write(&self.config) = config;
    }

    /// First offset that can be read (Kafka's log start offset).
    pub fn log_start_offset(&self) -> i64 {
        self.log_start.load(Ordering::Acquire)
    }

    /// Offset the next record will get (Kafka's log end offset). Opens the active segment if
    /// nothing has yet.
    pub fn log_end_offset(&self) -> Result<i64> {
        let log_start = self.log_start_offset();
        Ok(self.active_reader()?.map_or(log_start, |a| a.next_offset()))
    }

    /// Every offset below this one is durable on disk. Frozen once the log failed (see
    /// [`Log::failure`]).
    pub fn recovery_point(&self) -> i64 {
        let point = self.recovery_point.load(Ordering::Acquire);
        match self.failure.get() {
            Some(failure) => failure.recovery_point.min(point),
            None => point,
        }
    }

    /// Whether the partition's topic was deleted (its directory is gone or going).
    pub(crate) fn is_deleted(&self) -> bool {
        self.deleted.load(Ordering::Acquire)
    }

    /// Syncs performed by this log (flushes that found something to sync), for tests of group
    /// commit.
    pub fn sync_count(&self) -> u64 {
        self.syncs.load(Ordering::Relaxed)
    }

    /// Holds off every sync of this log until the guard drops (appends go on). Tests of
    /// group commit use it to queue acknowledgments behind one sync deterministically.
    #[doc(hidden)]
    pub fn hold_syncs(&self) -> MutexGuard<'_, ()> {
        lock(&self.flush_lock)
    }

    /// Notified after every append, once the new end is published: a reader that waits for
    /// records registers a [`Waiter`] here, checks the log end, and then sleeps (see
    /// [`Notify`]). Appends pay one fence and one atomic load while nobody is registered.
    pub fn append_notify(&self) -> &Notify {
        &self.appends
    }

    /// Number of segments, the active one included.
    pub fn segment_count(&self) -> usize {
        let last = lock(&self.writer).last_base.is_some();
        read(&self.view).closed.len() + usize::from(last)
    }

    /// Bytes in all segments.
    pub fn size_bytes(&self) -> Result<u64> {
        let active = self.active_reader()?.map_or(0, |a| u64::from(a.size()));
        let view = read(&self.view);
        Ok(view.closed.iter().map(|s| s.size_bytes()).sum::<u64>() + active)
    }

    /// Base offsets of every segment, oldest first (the active one last).
    pub fn segment_base_offsets(&self) -> Result<Vec<i64>> {
        let active = self.active_reader()?;
        let view = read(&self.view);
        let mut bases: Vec<i64> = view.closed.iter().map(|s| s.base_offset()).collect();
        bases.extend(active.map(|a| a.base_offset()));
        Ok(bases)
    }

    /// Closed segments of this log that are mapped right now.
    pub fn mapped_closed_segments(&self) -> usize {
        read(&self.view)
            .closed
            .iter()
            .filter(|s| s.is_mapped())
            .count()
    }

    /// Reads whole batches from `offset`, borrowed from the segment's map: at most
    /// `max_bytes`, but always the whole first batch. Fails with
    /// [`EngineError::OffsetOutOfRange`] below the log start or above the log end; at the
    /// log end the fetch is empty.
    pub fn fetch(&self, offset: i64, max_bytes: usize) -> Result<Fetch> {
        let active = self.active_reader()?;
        let log_start = self.log_start_offset();
        let log_end = active.as_ref().map_or(log_start, |a| a.next_offset());
        if offset < log_start || offset > log_end {
            return Err(self.out_of_range(offset, log_start, log_end));
        }
        let Some(active) = active.filter(|_| offset < log_end) else {
            return Ok(Fetch::empty(offset, log_start, log_end));
        };
        let config = self.config().segment_config();
        let mut after: Option<i64> = None;
        loop {
            let reader = match self.segment_for(offset, after, active.base_offset()) {
                Some(Located::Closed(segment)) => match segment.reader(&config, &self.cache) {
                    Ok(reader) => reader,
                    // Retention took the segment out of the list, then removed its files,
                    // between locating and mapping it: look again (below the new log start,
                    // that is `OffsetOutOfRange`).
                    Err(_) if !self.lists(&segment) => continue,
                    // The topic was deleted and its files removed while a reader (a
                    // consumer) held the log: an unmapped segment cannot be opened again.
                    // Say what happened, as an append would, not `ENOENT`.
                    Err(_) if self.deleted.load(Ordering::Acquire) => {
                        return Err(EngineError::UnknownTopic {
                            topic: self.topic.to_string(),
                        })
                    }
                    Err(e) => {
                        // A compaction swap renames a merged segment's files away before it
                        // replaces the list, both under the writer's lock: once that lock is
                        // free, the list says whether the segment was replaced meanwhile.
                        drop(lock(&self.writer));
                        if !self.lists(&segment) {
                            continue;
                        }
                        return Err(e);
                    }
                },
                Some(Located::Active) => active.clone(),
                None => {
                    // Retention removed the segment after the bounds were read.
                    let log_start = self.log_start_offset();
                    return Err(self.out_of_range(offset, log_start, log_end));
                }
            };
            if let Some(slice) = reader.read(offset, max_bytes)? {
                let range = (slice.position, slice.bytes.len() as u32, slice.next_offset);
                // The reader loads the published end again, after `log_end` was read, and
                // may return batches appended in between: the end reported covers them, as
                // Kafka's fetch never returns records past the high watermark it reports.
                let log_end = log_end.max(slice.next_offset);
                return Ok(Fetch::new(reader, range, offset, log_start, log_end));
            }
            if reader.base_offset() == active.base_offset() {
                return Ok(Fetch::empty(offset, log_start, log_end));
            }
            after = Some(reader.base_offset());
        }
    }

    /// Whether `segment` is still in the log's list of closed segments (retention and
    /// compaction take a segment out of the list before they remove its files).
    pub(crate) fn lists(&self, segment: &Arc<ClosedSegment>) -> bool {
        read(&self.view)
            .closed
            .iter()
            .any(|s| Arc::ptr_eq(s, segment))
    }

    /// The segment holding `offset` (or, with `after`, the first one after the segment based
    /// at `after`). `None` when `offset` lies below every segment.
    fn segment_for(&self, offset: i64, after: Option<i64>, active_base: i64) -> Option<Located> {
        let view = read(&self.view);
        let index = match after {
            None if offset >= active_base => return Some(Located::Active),
            None => view
                .closed
                .partition_point(|s| s.base_offset() <= offset)
                .checked_sub(1)?,
            Some(base) => view.closed.partition_point(|s| s.base_offset() <= base),
        };
        match view.closed.get(index) {
            Some(segment) => Some(Located::Closed(Arc::clone(segment))),
            None => Some(Located::Active),
        }
    }

    /// The reader of the last segment: the active segment's, or (before the first append
    /// since opening) a read-only mapping of the last segment on disk, so reading never
    /// preallocates. `None` when the log has no segment at all.
    pub(crate) fn active_reader(&self) -> Result<Option<SegmentReader>> {
        if let Some(reader) = read(&self.view).active.as_ref() {
            return Ok(Some(reader.clone()));
        }
        let mut writer = lock(&self.writer);
        self.map_last_segment(&mut writer)?;
        Ok(read(&self.view).active.clone())
    }

    fn out_of_range(&self, offset: i64, log_start: i64, log_end: i64) -> EngineError {
        EngineError::OffsetOutOfRange {
            topic: self.topic.to_string(),
            partition: self.partition,
            offset,
            log_start,
            log_end,
        }
    }

    /// `Closed`, `UnknownTopic` or `LogFailed` unless the log takes appends. One atomic load
    /// while it does: a failed log sets `closed` too.
    fn check_open(&self) -> Result<()> {
        if self.closed.load(Ordering::Acquire) {
            if self.deleted.load(Ordering::Acquire) {
                return Err(EngineError::UnknownTopic {
                    topic: self.topic.to_string(),
                });
            }
            if let Some(error) = self.failed() {
                return Err(error);
            }
            return Err(EngineError::Closed);
        }
        Ok(())
    }

    /// Takes the log offline after `cause`, a failed write or sync that leaves what is on
    /// disk unknown (see [`EngineError::LogFailed`]), and returns the `LogFailed` error to
    /// report. `durable_to` is the recovery point as the failed operation found it when it
    /// began. The first cause stays: a later one changes nothing.
    ///
    /// From now on appends, rolls, flushes, cleanings and the close's seal fail, and the
    /// recovery point is frozen at `durable_to` (or lower): a sync that raced the failed one
    /// (a roll's fsync through a descriptor opened after the error was reported elsewhere)
    /// may have succeeded without writing anything, so the checkpoints must not claim what
    /// it covered. The next open recovers the log from the frozen point.
    pub(crate) fn fail(&self, cause: EngineError, durable_to: i64) -> EngineError {
        let failure = self.failure.get_or_init(|| Failure {
            cause: Arc::new(cause),
            recovery_point: durable_to.min(self.recovery_point.load(Ordering::Acquire)),
        });
        self.closed.store(true, Ordering::Release);
        // Nothing is left to flush: `flush.ms` must not come back to this log.
        self.unflushed_since_ms.store(i64::MAX, Ordering::Release);
        self.failed_with(failure)
    }

    /// The `LogFailed` error if the log went offline (see [`Log::failure`]).
    pub(crate) fn failed(&self) -> Option<EngineError> {
        self.failure.get().map(|f| self.failed_with(f))
    }

    fn failed_with(&self, failure: &Failure) -> EngineError {
        EngineError::LogFailed {
            topic: self.topic.to_string(),
            partition: self.partition,
            recovery_point: failure.recovery_point,
            cause: Arc::clone(&failure.cause),
        }
    }

    /// Why this log is offline, if it is: a sync of its files failed (or a roll or a
    /// compaction swap failed half way), so it takes no more writes until the engine is
    /// reopened. Reads go on. See [`EngineError::LogFailed`].
    pub fn failure(&self) -> Option<Arc<EngineError>> {
        self.failure.get().map(|f| Arc::clone(&f.cause))
    }
}

enum Located {
    Closed(Arc<ClosedSegment>),
    Active,
}

/// Current wall-clock time in ms since the epoch.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
