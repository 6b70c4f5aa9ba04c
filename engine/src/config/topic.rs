//! [`TopicConfig`]: a topic's settings under Kafka's topic-level names, with Kafka's defaults
//! and validity ranges, and its typed builder.

use std::fmt;

use silt_index::TimeIndex;
use silt_segment::batch::TimestampType;
use silt_segment::log::SegmentConfig;

use super::parse::{self, invalid, key_names, IntSlot, KAFKA_INT_MAX, KAFKA_LONG_MAX};
use crate::error::Result;

/// Kafka's `cleanup.policy`: `delete`, `compact`, or both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CleanupPolicy {
    /// Old segments are deleted by `retention.ms` / `retention.bytes`.
    pub delete: bool,
    /// The log is compacted (latest value per key kept).
    pub compact: bool,
}

impl CleanupPolicy {
    /// `delete`: segments past retention are deleted (Kafka's default).
    pub const DELETE: CleanupPolicy = CleanupPolicy {
        delete: true,
        compact: false,
    };
    /// `compact`: the log keeps the latest record of each key.
    pub const COMPACT: CleanupPolicy = CleanupPolicy {
        delete: false,
        compact: true,
    };
    /// `compact,delete`: compacted, and segments past retention are deleted too.
    pub const COMPACT_DELETE: CleanupPolicy = CleanupPolicy {
        delete: true,
        compact: true,
    };

    /// Parses Kafka's list form: `delete` and/or `compact`, comma-separated, with spaces
    /// around the commas tolerated (Kafka splits on `\s*,\s*`). Empty items are refused.
    fn parse(value: &str) -> Option<CleanupPolicy> {
        let mut policy = CleanupPolicy {
            delete: false,
            compact: false,
        };
        for item in value.trim().split(',') {
            match item.trim() {
                "delete" => policy.delete = true,
                "compact" => policy.compact = true,
                _ => return None,
            }
        }
        Some(policy)
    }
}

impl Default for CleanupPolicy {
    fn default() -> Self {
        CleanupPolicy::DELETE
    }
}

/// Renders as Kafka's list: `delete`, `compact` or `compact,delete` (empty if neither, which
/// [`TopicConfig::validate`] refuses).
impl fmt::Display for CleanupPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match (self.compact, self.delete) {
            (true, true) => "compact,delete",
            (true, false) => "compact",
            (false, true) => "delete",
            (false, false) => "",
        })
    }
}

/// A topic's effective configuration (Kafka's topic-level configs). Defaults are Kafka's.
///
/// Set it by key from strings with [`TopicConfig::set`] / [`TopicConfig::with_overrides`],
/// or with typed values through [`TopicConfig::builder`]; both check each value against
/// Kafka's range for the key (narrowed where silt's segments need more, as for
/// `segment.bytes`), so every validated config yields a [`SegmentConfig`] that validates.
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
    /// `flush.messages` (`i64::MAX`): sync after this many messages.
    pub flush_messages: i64,
    /// `flush.ms` (`i64::MAX`): sync when the oldest unsynced write is this old.
    pub flush_ms: i64,
    /// `delete.retention.ms` (1 day): how long tombstones stay in a compacted log.
    pub delete_retention_ms: i64,
    /// `min.compaction.lag.ms` (0).
    pub min_compaction_lag_ms: i64,
    /// `max.compaction.lag.ms` (`i64::MAX`).
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

/// One key of [`TABLE`].
type Key = parse::Key<Kind>;

/// How one topic key is parsed, checked and rendered.
enum Kind {
    /// An integer field with Kafka's (or silt's narrower) inclusive bounds.
    Int(IntSlot<TopicConfig>),
    /// `min.cleanable.dirty.ratio`: a number in `[0, 1]`.
    DirtyRatio,
    /// `cleanup.policy`: a list of `delete` and `compact`.
    CleanupPolicy,
    /// `message.timestamp.type`: `CreateTime` or `LogAppendTime`.
    TimestampType,
}

/// Every topic-level key, sorted by name; [`TopicConfig::KEYS`] is derived from it.
///
/// `segment.bytes` starts at silt's [`SegmentConfig::MIN_SEGMENT_BYTES`] (Kafka's 14 cannot
/// hold a batch header) and `segment.index.bytes` at one time index entry (Kafka's 4 cannot
/// hold one); the other bounds are Kafka's. Keys Kafka types `INT` stop at `i32::MAX`.
static TABLE: [Key; 15] = [
    key("cleanup.policy", Kind::CleanupPolicy),
    int(
        "delete.retention.ms",
        int_slot!(delete_retention_ms in 0, KAFKA_LONG_MAX),
    ),
    int(
        "flush.messages",
        int_slot!(flush_messages in 1, KAFKA_LONG_MAX),
    ),
    int("flush.ms", int_slot!(flush_ms in 0, KAFKA_LONG_MAX)),
    int(
        "index.interval.bytes",
        int_slot!(index_interval_bytes in 0, KAFKA_INT_MAX),
    ),
    int(
        "max.compaction.lag.ms",
        int_slot!(max_compaction_lag_ms in 1, KAFKA_LONG_MAX),
    ),
    int(
        "max.message.bytes",
        int_slot!(max_message_bytes in 0, KAFKA_INT_MAX),
    ),
    key("message.timestamp.type", Kind::TimestampType),
    key("min.cleanable.dirty.ratio", Kind::DirtyRatio),
    int(
        "min.compaction.lag.ms",
        int_slot!(min_compaction_lag_ms in 0, KAFKA_LONG_MAX),
    ),
    int(
        "retention.bytes",
        int_slot!(retention_bytes in -1, KAFKA_LONG_MAX),
    ),
    int(
        "retention.ms",
        int_slot!(retention_ms in -1, KAFKA_LONG_MAX),
    ),
    int(
        "segment.bytes",
        int_slot!(segment_bytes in SegmentConfig::MIN_SEGMENT_BYTES as i64, KAFKA_INT_MAX),
    ),
    int(
        "segment.index.bytes",
        int_slot!(segment_index_bytes in TimeIndex::ENTRY_SIZE as i64, KAFKA_INT_MAX),
    ),
    int("segment.ms", int_slot!(segment_ms in 1, KAFKA_LONG_MAX)),
];

const fn key(name: &'static str, kind: Kind) -> Key {
    Key { name, kind }
}

const fn int(name: &'static str, slot: IntSlot<TopicConfig>) -> Key {
    key(name, Kind::Int(slot))
}

const KEY_NAMES: [&str; TABLE.len()] = key_names(&TABLE);

fn lookup(name: &str) -> Result<&'static Key> {
    parse::lookup(&TABLE, name)
}

impl Key {
    /// What the key accepts, for [`crate::EngineError::InvalidConfig`].
    fn expected(&self) -> String {
        match &self.kind {
            Kind::Int(slot) => slot.expected(),
            Kind::DirtyRatio => "a number in [0, 1]".to_owned(),
            Kind::CleanupPolicy => {
                "\"delete\", \"compact\" or \"compact,delete\" (a list of delete and compact)"
                    .to_owned()
            }
            Kind::TimestampType => "\"CreateTime\" or \"LogAppendTime\"".to_owned(),
        }
    }

    /// Parses `value` and writes it to `config`.
    fn parse_into(&self, config: &mut TopicConfig, value: &str) -> Result<()> {
        let bad = || invalid(self.name, value, self.expected());
        match &self.kind {
            Kind::Int(slot) => slot.parse_into(config, self.name, value)?,
            Kind::DirtyRatio => {
                config.min_cleanable_dirty_ratio = parse_ratio(value).ok_or_else(bad)?;
            }
            Kind::CleanupPolicy => {
                config.cleanup_policy = CleanupPolicy::parse(value).ok_or_else(bad)?;
            }
            Kind::TimestampType => {
                config.message_timestamp_type = parse_timestamp_type(value).ok_or_else(bad)?;
            }
        }
        Ok(())
    }

    /// `config`'s value for this key as Kafka renders it.
    fn render(&self, config: &TopicConfig) -> String {
        match &self.kind {
            Kind::Int(slot) => slot.render(config),
            // `{:?}` keeps the fraction (`1.0`, not `1`), as Java's `Double.toString` does.
            Kind::DirtyRatio => format!("{:?}", config.min_cleanable_dirty_ratio),
            Kind::CleanupPolicy => config.cleanup_policy.to_string(),
            Kind::TimestampType => timestamp_type_name(config.message_timestamp_type).to_owned(),
        }
    }

    /// Checks `config`'s value for this key, however it was set.
    fn check(&self, config: &TopicConfig) -> Result<()> {
        let ok = match &self.kind {
            Kind::Int(slot) => return slot.check(config, self.name),
            Kind::DirtyRatio => (0.0..=1.0).contains(&config.min_cleanable_dirty_ratio),
            Kind::CleanupPolicy => config.cleanup_policy.delete || config.cleanup_policy.compact,
            Kind::TimestampType => true,
        };
        if ok {
            Ok(())
        } else {
            Err(invalid(self.name, self.render(config), self.expected()))
        }
    }
}

/// Parses a `DOUBLE` in `[0, 1]`; NaN fails the range check.
fn parse_ratio(value: &str) -> Option<f64> {
    value
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|r| (0.0..=1.0).contains(r))
}

fn parse_timestamp_type(value: &str) -> Option<TimestampType> {
    match value.trim() {
        "CreateTime" => Some(TimestampType::CreateTime),
        "LogAppendTime" => Some(TimestampType::LogAppendTime),
        _ => None,
    }
}

fn timestamp_type_name(timestamp_type: TimestampType) -> &'static str {
    match timestamp_type {
        TimestampType::CreateTime => "CreateTime",
        TimestampType::LogAppendTime => "LogAppendTime",
    }
}

impl TopicConfig {
    /// Every topic-level key [`TopicConfig::set`] accepts, sorted.
    pub const KEYS: &'static [&'static str] = &KEY_NAMES;

    /// Sets one setting from its Kafka topic-level key and string value, as Kafka parses it
    /// (numbers are decimal, surrounding whitespace is ignored).
    ///
    /// Checks the value against the key's range; checks between keys
    /// (`min.compaction.lag.ms` ≤ `max.compaction.lag.ms`) are left to
    /// [`TopicConfig::validate`], so that keys can be set in any order. On error `self` is
    /// unchanged.
    ///
    /// # Errors
    ///
    /// [`EngineError::UnknownConfig`](crate::EngineError::UnknownConfig) for a key not in
    /// [`TopicConfig::KEYS`]; [`EngineError::InvalidConfig`](crate::EngineError::InvalidConfig)
    /// naming the key, the value and what it accepts for a bad value.
    ///
    /// ```
    /// use silt_engine::{CleanupPolicy, TopicConfig};
    ///
    /// let mut config = TopicConfig::default();
    /// config.set("segment.bytes", "1048576")?;
    /// config.set("cleanup.policy", "compact, delete")?;
    /// assert_eq!(config.segment_bytes, 1 << 20);
    /// assert_eq!(config.cleanup_policy, CleanupPolicy::COMPACT_DELETE);
    /// assert_eq!(config.get("cleanup.policy")?, "compact,delete");
    ///
    /// let err = config.set("segment.bytes", "12").unwrap_err();
    /// assert!(err.to_string().contains("segment.bytes"));
    /// assert!(config.set("segment.size", "1").is_err());
    /// # Ok::<(), silt_engine::EngineError>(())
    /// ```
    pub fn set(&mut self, key: &str, value: &str) -> Result<()> {
        lookup(key)?.parse_into(self, value)
    }

    /// The value of one setting, rendered as Kafka renders it (`compact,delete`,
    /// `LogAppendTime`, `0.5`, decimal integers); [`TopicConfig::set`] parses it back.
    ///
    /// # Errors
    ///
    /// [`EngineError::UnknownConfig`](crate::EngineError::UnknownConfig) for a key not in
    /// [`TopicConfig::KEYS`].
    pub fn get(&self, key: &str) -> Result<String> {
        Ok(lookup(key)?.render(self))
    }

    /// Every setting as `(key, value)`, in [`TopicConfig::KEYS`] order, values rendered as by
    /// [`TopicConfig::get`].
    pub fn entries(&self) -> Vec<(&'static str, String)> {
        TABLE
            .iter()
            .map(|key| (key.name, key.render(self)))
            .collect()
    }

    /// A copy of this config with `overrides` applied by [`TopicConfig::set`], in order, and
    /// then [validated](TopicConfig::validate). All or nothing: on error `self` is untouched
    /// and no config is returned. This is how a topic's overrides go on top of the engine's
    /// defaults.
    ///
    /// # Errors
    ///
    /// The first error of [`TopicConfig::set`] or [`TopicConfig::validate`].
    pub fn with_overrides<K, V>(
        &self,
        overrides: impl IntoIterator<Item = (K, V)>,
    ) -> Result<TopicConfig>
    where
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let mut config = self.clone();
        for (key, value) in overrides {
            config.set(key.as_ref(), value.as_ref())?;
        }
        config.validate()?;
        Ok(config)
    }

    /// Checks every setting against its key's range, and the settings against each other
    /// (`min.compaction.lag.ms` ≤ `max.compaction.lag.ms`, as Kafka's
    /// `LogConfig.validateValues`). Fields are public and the builder takes any value, so
    /// this re-checks everything [`TopicConfig::set`] would.
    ///
    /// # Errors
    ///
    /// [`EngineError::InvalidConfig`](crate::EngineError::InvalidConfig) naming the first bad
    /// key, in [`TopicConfig::KEYS`] order.
    pub fn validate(&self) -> Result<()> {
        for key in &TABLE {
            key.check(self)?;
        }
        if self.min_compaction_lag_ms > self.max_compaction_lag_ms {
            return Err(invalid(
                "min.compaction.lag.ms",
                self.min_compaction_lag_ms.to_string(),
                format!(
                    "at most max.compaction.lag.ms ({})",
                    self.max_compaction_lag_ms
                ),
            ));
        }
        debug_assert!(
            self.segment_config().validate().is_ok(),
            "TABLE's segment bounds must be within SegmentConfig::validate's"
        );
        Ok(())
    }

    /// A builder starting from Kafka's defaults.
    pub fn builder() -> TopicConfigBuilder {
        TopicConfigBuilder::default()
    }

    /// A builder starting from `base`, e.g. an engine's
    /// [`topic_defaults`](crate::EngineConfig::topic_defaults).
    pub fn builder_from(base: &TopicConfig) -> TopicConfigBuilder {
        TopicConfigBuilder::from(base.clone())
    }

    /// The segment-level settings of this topic.
    pub fn segment_config(&self) -> SegmentConfig {
        SegmentConfig {
            segment_bytes: self.segment_bytes,
            segment_index_bytes: self.segment_index_bytes,
            index_interval_bytes: self.index_interval_bytes,
            segment_ms: self.segment_ms,
        }
    }
}

/// Builds a [`TopicConfig`] with typed values, one method per field, starting from Kafka's
/// defaults ([`TopicConfig::builder`]) or from a base config
/// ([`TopicConfig::builder_from`]). [`TopicConfigBuilder::build`] validates.
///
/// ```
/// use silt_engine::{CleanupPolicy, TopicConfig};
///
/// let config = TopicConfig::builder()
///     .segment_bytes(64 << 20)
///     .retention_ms(-1)
///     .cleanup_policy(CleanupPolicy::COMPACT)
///     .build()?;
/// assert_eq!(config.segment_bytes, 64 << 20);
/// assert_eq!(config.retention_ms, -1);
///
/// // Out of range for `segment.bytes`: refused when built.
/// assert!(TopicConfig::builder().segment_bytes(10).build().is_err());
///
/// // Start from a base, e.g. an engine's topic defaults.
/// let derived = TopicConfig::builder_from(&config).retention_bytes(1 << 30).build()?;
/// assert_eq!(derived.segment_bytes, 64 << 20);
/// # Ok::<(), silt_engine::EngineError>(())
/// ```
#[derive(Debug, Clone, Default)]
#[must_use]
pub struct TopicConfigBuilder {
    config: TopicConfig,
}

impl From<TopicConfig> for TopicConfigBuilder {
    fn from(config: TopicConfig) -> Self {
        TopicConfigBuilder { config }
    }
}

impl TopicConfigBuilder {
    builder_setters!(TopicConfig {
        segment_bytes: u32 => "segment.bytes",
        segment_ms: i64 => "segment.ms",
        segment_index_bytes: u32 => "segment.index.bytes",
        index_interval_bytes: u32 => "index.interval.bytes",
        retention_ms: i64 => "retention.ms",
        retention_bytes: i64 => "retention.bytes",
        cleanup_policy: CleanupPolicy => "cleanup.policy",
        max_message_bytes: u32 => "max.message.bytes",
        message_timestamp_type: TimestampType => "message.timestamp.type",
        flush_messages: i64 => "flush.messages",
        flush_ms: i64 => "flush.ms",
        delete_retention_ms: i64 => "delete.retention.ms",
        min_compaction_lag_ms: i64 => "min.compaction.lag.ms",
        max_compaction_lag_ms: i64 => "max.compaction.lag.ms",
        min_cleanable_dirty_ratio: f64 => "min.cleanable.dirty.ratio",
    });

    /// Sets one setting by Kafka key and string value, as [`TopicConfig::set`].
    ///
    /// # Errors
    ///
    /// As [`TopicConfig::set`].
    pub fn set(mut self, key: &str, value: &str) -> Result<Self> {
        self.config.set(key, value)?;
        Ok(self)
    }

    /// The config, once [`TopicConfig::validate`] accepts it.
    ///
    /// # Errors
    ///
    /// As [`TopicConfig::validate`].
    pub fn build(self) -> Result<TopicConfig> {
        self.config.validate()?;
        Ok(self.config)
    }
}
