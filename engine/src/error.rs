//! `EngineError`: everything the engine can report.

use std::path::PathBuf;

use silt_index::IndexError;
use silt_segment::SegmentError;

/// Errors of the engine: the data directory, topics, partition logs, fetches and
/// configuration. Each variant names what was wrong and where.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    /// Another process, or another `Engine` in this process, holds the directory's lock.
    #[error("data directory {path} is already open by another process/handle (lock file {lock} is held)")]
    AlreadyOpen {
        /// The data directory.
        path: PathBuf,
        /// Its lock file.
        lock: PathBuf,
    },
    /// An operating-system call failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// The call (`open`, `rename`, `fsync`, …).
        op: &'static str,
        /// The file or directory it was made on.
        path: PathBuf,
        /// What the system said.
        #[source]
        source: std::io::Error,
    },
    /// A segment file or the codec reported an error.
    #[error(transparent)]
    Segment(#[from] SegmentError),
    /// An index file reported an error.
    #[error(transparent)]
    Index(#[from] IndexError),
    /// A topic name Kafka would refuse.
    #[error("invalid topic name {name:?}: {reason}")]
    InvalidTopicName {
        /// The name given.
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// No topic of that name exists.
    #[error("unknown topic {topic:?}")]
    UnknownTopic {
        /// The name asked for.
        topic: String,
    },
    /// A topic of that name already exists.
    #[error("topic {topic:?} already exists")]
    TopicExists {
        /// The name asked for.
        topic: String,
    },
    /// The topic has no such partition.
    #[error("topic {topic:?} has no partition {partition} (it has {partitions})")]
    UnknownPartition {
        /// The topic.
        topic: String,
        /// The partition asked for.
        partition: u32,
        /// How many partitions the topic has.
        partitions: u32,
    },
    /// A partition count that cannot be used.
    #[error("invalid partition count {count} for topic {topic:?}: {reason}")]
    InvalidPartitionCount {
        /// The topic.
        topic: String,
        /// The count given.
        count: u32,
        /// Why it is refused.
        reason: &'static str,
    },
    /// A configuration key silt does not know.
    #[error("unknown configuration key {key:?}")]
    UnknownConfig {
        /// The key given.
        key: String,
    },
    /// A configuration value that is not valid for its key.
    #[error("invalid value {value:?} for configuration {key}: expected {expected}")]
    InvalidConfig {
        /// The key.
        key: String,
        /// The value given.
        value: String,
        /// What the key accepts.
        expected: String,
    },
    /// A fetch or a `delete_records` offset outside the log.
    #[error("offset {offset} is out of range for {topic}-{partition}: the log holds [{log_start}, {log_end})")]
    OffsetOutOfRange {
        /// The topic.
        topic: String,
        /// The partition.
        partition: u32,
        /// The offset asked for.
        offset: i64,
        /// The log start offset.
        log_start: i64,
        /// The log end offset.
        log_end: i64,
    },
    /// A batch (or, from a producer, a record) larger than a limit: the topic's
    /// `max.message.bytes`, or the producer's `max.request.size` or `buffer.memory`.
    #[error("{size} bytes for {topic}-{partition} are more than {limit} allows ({max})")]
    RecordTooLarge {
        /// The topic.
        topic: String,
        /// The partition.
        partition: u32,
        /// Size of the batch (or of the record with a batch header).
        size: usize,
        /// The limit.
        max: u32,
        /// The setting that sets it.
        limit: &'static str,
    },
    /// A batch whose CRC holds but whose records a producer could not have written: a
    /// record count that is not lastOffsetDelta + 1, or offset deltas that are not 0, 1, 2, ….
    #[error("invalid batch at position {position} of the append to {topic}-{partition}: {reason}")]
    InvalidBatch {
        /// The topic.
        topic: String,
        /// The partition.
        partition: u32,
        /// Position of the batch in the appended bytes.
        position: u64,
        /// What is wrong.
        reason: &'static str,
    },
    /// A metadata or checkpoint file that cannot be parsed.
    #[error("corrupt metadata file {path} (line {line}): {reason}")]
    CorruptMetadata {
        /// The file.
        path: PathBuf,
        /// 1-based line of the fault (0 for the whole file).
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// A closed segment's log is damaged: from `position` on, its batches are torn, fail
    /// their CRC-32C or do not follow the ones before, or they end short of where the next
    /// segment starts. A closed segment was synced before the next one existed, so this is
    /// not a crash's torn write: the segment is not cut (that would drop acknowledged records
    /// without a word) but refused, every read that reaches it fails with this error, and the
    /// file is left as it is for `silt verify` and `silt dump-log`. Other segments read on.
    #[error("corrupt segment {path} at byte {position}: {reason}")]
    CorruptSegment {
        /// The `.log` file.
        path: PathBuf,
        /// Where its valid batches end.
        position: u64,
        /// What is wrong there.
        reason: String,
    },
    /// The engine was closed.
    #[error("the engine is closed")]
    Closed,
    /// A send on a producer after `close()`.
    #[error("the producer is closed")]
    ProducerClosed,
    /// `send` waited `max.block.ms` for `buffer.memory` to free up (Kafka's
    /// `TimeoutException: Failed to allocate memory within the configured max blocking time`).
    #[error("no buffer memory for {requested} bytes within max.block.ms ({waited_ms} ms): buffer.memory is {buffer_memory} bytes")]
    BufferExhausted {
        /// Bytes the send needed.
        requested: usize,
        /// How long it waited.
        waited_ms: u64,
        /// The producer's `buffer.memory`.
        buffer_memory: usize,
    },
    /// A record a producer cannot send (a negative timestamp, say).
    #[error("invalid record for topic {topic:?}: {reason}")]
    InvalidRecord {
        /// The topic.
        topic: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// A compaction stopped on purpose after a step of its segment swap (a test hook that
    /// simulates a crash: the files are left as they are).
    #[error(
        "cleaning of {topic}-{partition} stopped after step {step:?} of segment {base_offset}"
    )]
    CleanerInterrupted {
        /// The topic.
        topic: String,
        /// The partition.
        partition: u32,
        /// Base offset of the segment being swapped.
        base_offset: i64,
        /// The last step done.
        step: crate::log::CleanerStep,
    },
    /// The batch a record was sent in could not be appended (or, with `acks=all`, synced):
    /// every record of the batch fails with this error, and none of them is acknowledged.
    #[error("the batch for {topic}-{partition} failed: {source}")]
    BatchFailed {
        /// The topic.
        topic: String,
        /// The partition.
        partition: u32,
        /// Why the batch failed.
        #[source]
        source: std::sync::Arc<EngineError>,
    },
    /// A partition's log is offline: a write or sync of its files failed in a way that
    /// leaves their durable state unknown (an fsync, fdatasync or msync error, or a roll or
    /// a compaction swap that failed half way). Linux may drop the dirty pages a failed
    /// sync covered and report the next sync as a success, so silt never retries one:
    /// nothing past `recovery_point` is acknowledged as durable, every later append, flush
    /// and cleaning of the partition fails with this error, reads go on, and other
    /// partitions are unaffected. Reopening the engine recovers the partition from its
    /// recovery point (as after a crash) and makes it writable again. Kafka takes the log
    /// directory offline in the same case.
    #[error("{topic}-{partition} is offline after a failed write (durable up to offset {recovery_point}; reopen the engine to recover it): {cause}")]
    LogFailed {
        /// The topic.
        topic: String,
        /// The partition.
        partition: u32,
        /// The partition's recovery point when it failed: every offset below it is durable.
        recovery_point: i64,
        /// The failure that took the log offline (an `Io`, `Segment` or `Index` error naming
        /// the call and the file).
        #[source]
        cause: std::sync::Arc<EngineError>,
    },
}

/// `Result` with [`EngineError`].
pub type Result<T, E = EngineError> = std::result::Result<T, E>;

/// Maps an `io::Error` of `op` on `path` to [`EngineError::Io`].
pub(crate) fn io_err(
    op: &'static str,
    path: impl Into<PathBuf>,
) -> impl FnOnce(std::io::Error) -> EngineError {
    let path = path.into();
    move |source| EngineError::Io { op, path, source }
}
