//! [`EngineConfig`]: engine-wide settings, and Kafka's broker-level defaults for topic
//! settings, under Kafka's broker names.

use std::cmp::Reverse;

use super::parse::{self, invalid, key_names, parse_int, IntSlot, KAFKA_INT_MAX, KAFKA_LONG_MAX};
use super::topic::TopicConfig;
use crate::error::{EngineError, Result};
use crate::topic::MAX_PARTITIONS;
use silt_segment::log::SegmentConfig;

/// Engine-wide settings. Defaults are Kafka's broker defaults where Kafka has one.
///
/// Set it from Kafka broker keys with [`EngineConfig::set`] / [`EngineConfig::from_map`], or
/// with typed values through [`EngineConfig::builder`]. Broker keys for topic settings
/// (`log.segment.bytes`, `log.retention.ms`, …) set [`EngineConfig::topic_defaults`].
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
    /// `log.cleaner.enable` (true): whether the background task compacts logs whose
    /// `cleanup.policy` includes `compact`. [`Engine::clean_logs`](crate::Engine::clean_logs)
    /// works either way.
    pub cleaner_enable: bool,
    /// `log.cleaner.backoff.ms` (15000): how often the background task looks for a log to
    /// clean.
    pub cleaner_backoff_ms: u64,
    /// `log.cleaner.dedupe.buffer.size` (128 MiB): most memory the cleaner's key → offset
    /// map takes (24 bytes a key). A dirty range with more keys is cleaned a prefix at a time.
    pub cleaner_dedupe_buffer_bytes: usize,
    /// `offsets.topic.num.partitions` (50): partitions of `__consumer_offsets` when it is
    /// created (a group's commits go to `abs(javaStringHashCode(group)) % n`). Once the topic
    /// exists its own partition count is used, as in Kafka.
    pub offsets_topic_num_partitions: u32,
    /// `offsets.topic.segment.bytes` (100 MiB): `segment.bytes` of `__consumer_offsets` when
    /// it is created (smaller segments let the cleaner compact it sooner).
    pub offsets_topic_segment_bytes: u32,
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
            cleaner_enable: true,
            cleaner_backoff_ms: 15_000,
            cleaner_dedupe_buffer_bytes: 128 << 20,
            offsets_topic_num_partitions: 50,
            offsets_topic_segment_bytes: 100 << 20,
        }
    }
}

/// One key of [`TABLE`].
type Key = parse::Key<Kind>;

/// What one engine key sets.
enum Kind {
    /// A field of the engine itself.
    Own(IntSlot<EngineConfig>),
    /// A boolean field of the engine itself (`true`/`false`, any case).
    OwnBool { set: fn(&mut EngineConfig, bool) },
    /// Kafka's broker-level default for the topic key it names: sets `topic_defaults`.
    TopicDefault(&'static str),
    /// A broker-level default given in a coarser unit than the topic key's milliseconds
    /// (`log.retention.hours`); a negative value (only -1 is accepted) stays -1, "forever".
    TopicDefaultIn {
        topic_key: &'static str,
        unit_ms: i64,
        min: i64,
    },
}

const HOUR_MS: i64 = 3_600_000;
/// Smallest `log.cleaner.dedupe.buffer.size`: the cleaner's first table of 1024 slots.
const MIN_DEDUPE_BUFFER_BYTES: i64 = 24 * 1024;
const MINUTE_MS: i64 = 60_000;

/// Every engine key, sorted by name; [`EngineConfig::KEYS`] is derived from it.
///
/// Bounds are Kafka's where Kafka has the key, except that intervals must be at least 1 ms
/// (0 would spin the background threads), and that `__consumer_offsets`' partition count and
/// segment size stop where a topic's own do (`MAX_PARTITIONS`, `segment.bytes` from
/// `SegmentConfig::MIN_SEGMENT_BYTES`), so a value the engine accepts cannot fail the first
/// commit, which creates the topic. Counts silt adds (`silt.*`) stop at `i32::MAX`.
static TABLE: [Key; 29] = [
    own(
        "log.cleaner.backoff.ms",
        int_slot!(cleaner_backoff_ms in 1, KAFKA_LONG_MAX),
    ),
    own(
        "log.cleaner.dedupe.buffer.size",
        int_slot!(cleaner_dedupe_buffer_bytes in MIN_DEDUPE_BUFFER_BYTES, KAFKA_LONG_MAX),
    ),
    topic("log.cleaner.delete.retention.ms", "delete.retention.ms"),
    Key {
        name: "log.cleaner.enable",
        kind: Kind::OwnBool {
            set: |c, v| c.cleaner_enable = v,
        },
    },
    topic("log.cleaner.max.compaction.lag.ms", "max.compaction.lag.ms"),
    topic(
        "log.cleaner.min.cleanable.ratio",
        "min.cleanable.dirty.ratio",
    ),
    topic("log.cleaner.min.compaction.lag.ms", "min.compaction.lag.ms"),
    topic("log.cleanup.policy", "cleanup.policy"),
    topic("log.flush.interval.messages", "flush.messages"),
    topic("log.flush.interval.ms", "flush.ms"),
    own(
        "log.flush.offset.checkpoint.interval.ms",
        int_slot!(flush_offset_checkpoint_interval_ms in 1, KAFKA_INT_MAX),
    ),
    own(
        "log.flush.scheduler.interval.ms",
        int_slot!(flush_scheduler_interval_ms in 1, KAFKA_LONG_MAX),
    ),
    topic("log.index.interval.bytes", "index.interval.bytes"),
    topic("log.index.size.max.bytes", "segment.index.bytes"),
    topic("log.message.timestamp.type", "message.timestamp.type"),
    topic("log.retention.bytes", "retention.bytes"),
    own(
        "log.retention.check.interval.ms",
        int_slot!(retention_check_interval_ms in 1, KAFKA_LONG_MAX),
    ),
    scaled("log.retention.hours", "retention.ms", HOUR_MS, -1),
    scaled("log.retention.minutes", "retention.ms", MINUTE_MS, -1),
    topic("log.retention.ms", "retention.ms"),
    scaled("log.roll.hours", "segment.ms", HOUR_MS, 1),
    topic("log.roll.ms", "segment.ms"),
    topic("log.segment.bytes", "segment.bytes"),
    topic("message.max.bytes", "max.message.bytes"),
    own(
        "num.partitions",
        int_slot!(num_partitions in 1, KAFKA_INT_MAX),
    ),
    own(
        "offsets.topic.num.partitions",
        int_slot!(offsets_topic_num_partitions in 1, MAX_PARTITIONS as i64),
    ),
    own(
        "offsets.topic.segment.bytes",
        int_slot!(
            offsets_topic_segment_bytes in SegmentConfig::MIN_SEGMENT_BYTES as i64,
            KAFKA_INT_MAX
        ),
    ),
    own(
        "silt.max.open.segments",
        int_slot!(max_open_segments in 1, KAFKA_INT_MAX),
    ),
    own(
        "silt.retention.max.segments.per.tick",
        int_slot!(retention_max_segments_per_tick in 1, KAFKA_INT_MAX),
    ),
];

const fn own(name: &'static str, slot: IntSlot<EngineConfig>) -> Key {
    Key {
        name,
        kind: Kind::Own(slot),
    }
}

const fn topic(name: &'static str, topic_key: &'static str) -> Key {
    Key {
        name,
        kind: Kind::TopicDefault(topic_key),
    }
}

/// A key in `unit_ms` units taking Kafka's `INT` values from `min` (-1 or 1).
const fn scaled(name: &'static str, topic_key: &'static str, unit_ms: i64, min: i64) -> Key {
    Key {
        name,
        kind: Kind::TopicDefaultIn {
            topic_key,
            unit_ms,
            min,
        },
    }
}

const KEY_NAMES: [&str; TABLE.len()] = key_names(&TABLE);

fn lookup(name: &str) -> Result<&'static Key> {
    parse::lookup(&TABLE, name)
}

/// Milliseconds per unit of `name`'s value: 1 but for the `.hours`/`.minutes` keys. Unknown
/// keys count as milliseconds; setting them reports them.
fn unit_ms(name: &str) -> i64 {
    match lookup(name).map(|key| &key.kind) {
        Ok(Kind::TopicDefaultIn { unit_ms, .. }) => *unit_ms,
        _ => 1,
    }
}

/// An error of `TopicConfig::set` made to name the broker key the user gave.
fn renamed(err: EngineError, broker_key: &str) -> EngineError {
    match err {
        EngineError::InvalidConfig {
            value, expected, ..
        } => invalid(broker_key, value, expected),
        other => other,
    }
}

impl EngineConfig {
    /// Every key [`EngineConfig::set`] accepts, sorted: the engine's own
    /// (`num.partitions`, `log.retention.check.interval.ms`, `log.flush.*.interval.ms`,
    /// `silt.*`) and Kafka's broker-level defaults for topic settings (`log.segment.bytes`,
    /// `log.roll.ms`/`.hours`, `log.retention.ms`/`.minutes`/`.hours`, `message.max.bytes`, …).
    pub const KEYS: &'static [&'static str] = &KEY_NAMES;

    /// Sets one setting from its Kafka broker-level key and string value.
    ///
    /// A broker key for a topic setting sets [`EngineConfig::topic_defaults`] as
    /// [`TopicConfig::set`] would the topic key (`log.segment.bytes` → `segment.bytes`), but
    /// errors name the broker key given. `log.retention.hours`, `log.retention.minutes` and
    /// `log.roll.hours` are converted to milliseconds (-1 hours stays -1, "forever"). Like
    /// Kafka's `LONG`, `log.retention.ms` = -1 means forever. Checks between keys are left to
    /// [`EngineConfig::validate`]; on error `self` is unchanged.
    ///
    /// # Errors
    ///
    /// [`EngineError::UnknownConfig`] for a key not in [`EngineConfig::KEYS`];
    /// [`EngineError::InvalidConfig`] naming the key, the value and what it accepts.
    pub fn set(&mut self, key: &str, value: &str) -> Result<()> {
        match &lookup(key)?.kind {
            Kind::Own(slot) => slot.parse_into(self, key, value),
            Kind::OwnBool { set } => {
                let parsed = super::producer::parse_bool(value)
                    .ok_or_else(|| invalid(key, value, "true or false"))?;
                set(self, parsed);
                Ok(())
            }
            Kind::TopicDefault(topic_key) => self
                .topic_defaults
                .set(topic_key, value)
                .map_err(|err| renamed(err, key)),
            Kind::TopicDefaultIn {
                topic_key,
                unit_ms,
                min,
            } => {
                let units = parse_int(value, *min, KAFKA_INT_MAX).ok_or_else(|| {
                    invalid(
                        key,
                        value,
                        format!("an integer in [{min}, {KAFKA_INT_MAX}]"),
                    )
                })?;
                // i32::MAX hours fit in i64 milliseconds; saturating keeps that unconditional.
                let ms = if units < 0 {
                    -1
                } else {
                    units.saturating_mul(*unit_ms)
                };
                self.topic_defaults
                    .set(topic_key, &ms.to_string())
                    .map_err(|err| renamed(err, key))
            }
        }
    }

    /// A config from Kafka's defaults with `entries` set by [`EngineConfig::set`], then
    /// [validated](EngineConfig::validate), as a broker reads `server.properties`.
    ///
    /// As in Kafka, a finer unit wins whatever the order: `log.retention.ms` over
    /// `log.retention.minutes` over `log.retention.hours`, `log.roll.ms` over
    /// `log.roll.hours`. Otherwise a key given twice takes its last value.
    ///
    /// ```
    /// use silt_engine::EngineConfig;
    ///
    /// let config = EngineConfig::from_map([
    ///     ("log.retention.ms", "60000"),
    ///     ("log.retention.hours", "1"),
    ///     ("num.partitions", "3"),
    /// ])?;
    /// assert_eq!(config.topic_defaults.retention_ms, 60_000);
    /// assert_eq!(config.num_partitions, 3);
    /// # Ok::<(), silt_engine::EngineError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// The first error of [`EngineConfig::set`] or [`EngineConfig::validate`].
    pub fn from_map<K, V>(entries: impl IntoIterator<Item = (K, V)>) -> Result<EngineConfig>
    where
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let mut entries: Vec<(K, V)> = entries.into_iter().collect();
        // Stable: coarse units first so finer ones overwrite them; else the given order.
        entries.sort_by_key(|(key, _)| Reverse(unit_ms(key.as_ref())));
        let mut config = EngineConfig::default();
        for (key, value) in &entries {
            config.set(key.as_ref(), value.as_ref())?;
        }
        config.validate()?;
        Ok(config)
    }

    /// Checks every engine setting against its key's range, then
    /// [`TopicConfig::validate`]s the topic defaults (whose errors name topic keys).
    ///
    /// # Errors
    ///
    /// [`EngineError::InvalidConfig`] naming the first bad key.
    pub fn validate(&self) -> Result<()> {
        for key in &TABLE {
            if let Kind::Own(slot) = &key.kind {
                slot.check(self, key.name)?;
            }
        }
        self.topic_defaults.validate()
    }

    /// A builder starting from Kafka's defaults.
    pub fn builder() -> EngineConfigBuilder {
        EngineConfigBuilder::default()
    }
}

/// Builds an [`EngineConfig`] with typed values, starting from Kafka's defaults.
/// [`EngineConfigBuilder::build`] validates.
///
/// ```
/// use silt_engine::{EngineConfig, TopicConfig};
///
/// let config = EngineConfig::builder()
///     .topic_defaults(TopicConfig::builder().segment_bytes(16 << 20).build()?)
///     .max_open_segments(256)
///     .build()?;
/// assert_eq!(config.topic_defaults.segment_bytes, 16 << 20);
/// assert!(EngineConfig::builder().num_partitions(0).build().is_err());
/// # Ok::<(), silt_engine::EngineError>(())
/// ```
#[derive(Debug, Clone, Default)]
#[must_use]
pub struct EngineConfigBuilder {
    config: EngineConfig,
}

impl From<EngineConfig> for EngineConfigBuilder {
    fn from(config: EngineConfig) -> Self {
        EngineConfigBuilder { config }
    }
}

impl EngineConfigBuilder {
    /// Sets the defaults of every topic (see [`EngineConfig::topic_defaults`]).
    pub fn topic_defaults(mut self, topic_defaults: TopicConfig) -> Self {
        self.config.topic_defaults = topic_defaults;
        self
    }

    builder_setters!(EngineConfig {
        num_partitions: u32 => "num.partitions",
        retention_check_interval_ms: u64 => "log.retention.check.interval.ms",
        retention_max_segments_per_tick: usize => "silt.retention.max.segments.per.tick",
        flush_scheduler_interval_ms: u64 => "log.flush.scheduler.interval.ms",
        flush_offset_checkpoint_interval_ms: u64 => "log.flush.offset.checkpoint.interval.ms",
        max_open_segments: usize => "silt.max.open.segments",
        cleaner_enable: bool => "log.cleaner.enable",
        cleaner_backoff_ms: u64 => "log.cleaner.backoff.ms",
        cleaner_dedupe_buffer_bytes: usize => "log.cleaner.dedupe.buffer.size",
        offsets_topic_num_partitions: u32 => "offsets.topic.num.partitions",
        offsets_topic_segment_bytes: u32 => "offsets.topic.segment.bytes",
    });

    /// Sets one setting by Kafka broker key and string value, as [`EngineConfig::set`].
    ///
    /// # Errors
    ///
    /// As [`EngineConfig::set`].
    pub fn set(mut self, key: &str, value: &str) -> Result<Self> {
        self.config.set(key, value)?;
        Ok(self)
    }

    /// The config, once [`EngineConfig::validate`] accepts it.
    ///
    /// # Errors
    ///
    /// As [`EngineConfig::validate`].
    pub fn build(self) -> Result<EngineConfig> {
        self.config.validate()?;
        Ok(self.config)
    }
}
