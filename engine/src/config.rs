//! Configuration with Kafka's names and defaults: per-topic settings ([`TopicConfig`]) and
//! engine-wide settings ([`EngineConfig`]).
//!
//! TODO(helper A): parsing from `key=value` maps, typed builders, validation, tests.

use silt_segment::batch::TimestampType;

/// Kafka's `cleanup.policy`: `delete`, `compact`, or both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CleanupPolicy {
    /// Old segments are deleted by `retention.ms` / `retention.bytes`.
    pub delete: bool,
    /// The log is compacted (latest value per key kept).
    pub compact: bool,
}

impl Default for CleanupPolicy {
    fn default() -> Self {
        CleanupPolicy {
            delete: true,
            compact: false,
        }
    }
}

/// A topic's effective configuration (Kafka's topic-level configs). Defaults are Kafka's.
#[derive(Debug, Clone, PartialEq)]
pub struct TopicConfig {
    /// `segment.bytes` (1 GiB): the size at which the active segment rolls.
    pub segment_bytes: u32,
    /// `segment.ms` (7 days): the age at which the active segment rolls.
    pub segment_ms: i64,
    /// `segment.index.bytes` (10 MiB): preallocated size of each index file.
    pub segment_index_bytes: u32,
    /// `index.interval.bytes` (4096): bytes between offset index entries.
    pub index_interval_bytes: u32,
    /// `retention.ms` (7 days; -1: forever).
    pub retention_ms: i64,
    /// `retention.bytes` (-1: no limit), per partition.
    pub retention_bytes: i64,
    /// `cleanup.policy` (`delete`).
    pub cleanup_policy: CleanupPolicy,
    /// `max.message.bytes` (1048588): largest batch accepted.
    pub max_message_bytes: u32,
    /// `message.timestamp.type` (`CreateTime`).
    pub message_timestamp_type: TimestampType,
    /// `flush.messages` (i64::MAX): sync after this many messages.
    pub flush_messages: i64,
    /// `flush.ms` (i64::MAX): sync when the oldest unsynced write is this old.
    pub flush_ms: i64,
    /// `delete.retention.ms` (1 day): how long tombstones stay in a compacted log.
    pub delete_retention_ms: i64,
    /// `min.compaction.lag.ms` (0).
    pub min_compaction_lag_ms: i64,
    /// `max.compaction.lag.ms` (i64::MAX).
    pub max_compaction_lag_ms: i64,
    /// `min.cleanable.dirty.ratio` (0.5).
    pub min_cleanable_dirty_ratio: f64,
}

impl Default for TopicConfig {
    fn default() -> Self {
        TopicConfig {
            segment_bytes: 1 << 30,
            segment_ms: 7 * 24 * 3600 * 1000,
            segment_index_bytes: 10 * 1024 * 1024,
            index_interval_bytes: 4096,
            retention_ms: 7 * 24 * 3600 * 1000,
            retention_bytes: -1,
            cleanup_policy: CleanupPolicy::default(),
            max_message_bytes: 1_048_588,
            message_timestamp_type: TimestampType::CreateTime,
            flush_messages: i64::MAX,
            flush_ms: i64::MAX,
            delete_retention_ms: 24 * 3600 * 1000,
            min_compaction_lag_ms: 0,
            max_compaction_lag_ms: i64::MAX,
            min_cleanable_dirty_ratio: 0.5,
        }
    }
}

impl TopicConfig {
    /// The segment-level settings of this topic.
    pub fn segment_config(&self) -> silt_segment::log::SegmentConfig {
        silt_segment::log::SegmentConfig {
            segment_bytes: self.segment_bytes,
            segment_index_bytes: self.segment_index_bytes,
            index_interval_bytes: self.index_interval_bytes,
            segment_ms: self.segment_ms,
        }
    }
}

/// Engine-wide settings. Defaults are Kafka's broker defaults where Kafka has one.
#[derive(Debug, Clone, PartialEq)]
pub struct EngineConfig {
    /// Defaults for every topic (Kafka's broker-level `log.*` settings); a topic's overrides
    /// are applied on top.
    pub topic_defaults: TopicConfig,
    /// `num.partitions` (1): partitions of a topic created without a count.
    pub num_partitions: u32,
    /// `log.retention.check.interval.ms` (300000): how often retention runs.
    pub retention_check_interval_ms: u64,
    /// `silt.retention.max.segments.per.tick` (64): most segments one retention tick deletes.
    pub retention_max_segments_per_tick: usize,
    /// `log.flush.scheduler.interval.ms` (1000): how often `flush.ms` is checked.
    pub flush_scheduler_interval_ms: u64,
    /// `log.flush.offset.checkpoint.interval.ms` (60000): how often recovery points are
    /// written.
    pub flush_offset_checkpoint_interval_ms: u64,
    /// `silt.max.open.segments` (1024): closed segments kept mapped at once (an LRU).
    pub max_open_segments: usize,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            topic_defaults: TopicConfig::default(),
            num_partitions: 1,
            retention_check_interval_ms: 300_000,
            retention_max_segments_per_tick: 64,
            flush_scheduler_interval_ms: 1000,
            flush_offset_checkpoint_interval_ms: 60_000,
            max_open_segments: 1024,
        }
    }
}
