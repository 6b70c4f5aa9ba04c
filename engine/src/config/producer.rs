//! [`ProducerConfig`]: a producer's settings under the Java client's names and defaults, with
//! the Java client's validity ranges, and its typed builder.

use std::sync::Arc;

use silt_segment::batch::Compression;

use super::parse::{self, invalid, key_names, IntSlot, KAFKA_INT_MAX, KAFKA_LONG_MAX};
use crate::error::Result;
use crate::producer::Partitioner;

/// Kafka's `acks`: when a send is acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Acks {
    /// `acks=0`: acknowledged at once, with no offset (Kafka reports offset -1).
    None,
    /// `acks=1`: acknowledged once the batch is in the page cache (survives a process crash,
    /// not a machine crash).
    Leader,
    /// `acks=all` (or `-1`): acknowledged once the batch is synced to disk.
    All,
}

/// A producer's settings. Defaults are the Java client's (Kafka 4).
///
/// Set it from Kafka's producer keys with [`ProducerConfig::set`] /
/// [`ProducerConfig::from_map`], or with typed values through [`ProducerConfig::builder`];
/// both check each value against the Java client's range for its key.
///
/// Only the keys in [`ProducerConfig::KEYS`] are accepted. Producer keys of the Java client
/// that silt does not implement (`retries`, `delivery.timeout.ms`, `request.timeout.ms`,
/// `compression.lz4.level`, `bootstrap.servers`, …) are refused as
/// [`EngineError::UnknownConfig`](crate::EngineError::UnknownConfig) rather than ignored, so
/// that a setting copied from a Java client never silently does nothing.
/// `partitioner.class` is [`ProducerConfigBuilder::partitioner`] (a Rust value, not a key).
#[derive(Clone)]
pub struct ProducerConfig {
    /// `acks` (`all`).
    pub acks: Acks,
    /// `batch.size` (16384): a partition's open batch seals once it holds this many bytes.
    /// 0 disables batching (every record is its own batch).
    pub batch_size: usize,
    /// `linger.ms` (5): how long an open batch waits for more records before it seals.
    pub linger_ms: u64,
    /// `buffer.memory` (33554432): bytes of batches (open, sealed, or being appended) that
    /// may exist at once; `send` blocks when they are used up.
    pub buffer_memory: usize,
    /// `max.block.ms` (60000): how long `send` blocks for buffer memory before failing.
    pub max_block_ms: u64,
    /// `max.request.size` (1048576): the largest record (and batch) a send accepts.
    pub max_request_size: usize,
    /// `compression.type` (`none`): `none`, `gzip`, `lz4` or `zstd`.
    pub compression_type: Compression,
    /// `compression.zstd.level` (3).
    pub compression_zstd_level: i32,
    /// `partitioner.ignore.keys` (false): when true, keyed records are spread by the sticky
    /// partitioner as if they had no key.
    pub partitioner_ignore_keys: bool,
    /// `partitioner.adaptive.partitioning.enable` (true): the sticky partitioner prefers
    /// partitions with shorter queues.
    pub partitioner_adaptive_partitioning_enable: bool,
    /// `enable.idempotence` (`None`: Kafka's default, true unless `acks` is not `all`):
    /// batches carry a producer id, epoch and per-partition sequence numbers. `Some(true)`
    /// needs `acks=all`, as in the Java client.
    pub enable_idempotence: Option<bool>,
    /// `client.id` (empty: `producer-N`).
    pub client_id: String,
    /// `silt.producer.writer.threads` (0: half the CPUs, at least 1 and at most 4): threads that append
    /// sealed batches to partitions; each partition has exactly one.
    pub writer_threads: usize,
    /// A custom partitioner (Kafka's `partitioner.class`), used for records sent without a
    /// partition. `None`: Kafka's built-in one.
    pub partitioner: Option<Arc<dyn Partitioner>>,
}

impl Default for ProducerConfig {
    fn default() -> Self {
        ProducerConfig {
            acks: Acks::All,
            batch_size: 16384,
            linger_ms: 5,
            buffer_memory: 32 << 20,
            max_block_ms: 60_000,
            max_request_size: 1 << 20,
            compression_type: Compression::None,
            compression_zstd_level: 3,
            partitioner_ignore_keys: false,
            partitioner_adaptive_partitioning_enable: true,
            enable_idempotence: None,
            client_id: String::new(),
            writer_threads: 0,
            partitioner: None,
        }
    }
}

impl std::fmt::Debug for ProducerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProducerConfig")
            .field("acks", &self.acks)
            .field("batch_size", &self.batch_size)
            .field("linger_ms", &self.linger_ms)
            .field("buffer_memory", &self.buffer_memory)
            .field("max_block_ms", &self.max_block_ms)
            .field("max_request_size", &self.max_request_size)
            .field("compression_type", &self.compression_type)
            .field("compression_zstd_level", &self.compression_zstd_level)
            .field("partitioner_ignore_keys", &self.partitioner_ignore_keys)
            .field(
                "partitioner_adaptive_partitioning_enable",
                &self.partitioner_adaptive_partitioning_enable,
            )
            .field("enable_idempotence", &self.enable_idempotence)
            .field("client_id", &self.client_id)
            .field("writer_threads", &self.writer_threads)
            .field("partitioner", &self.partitioner.as_ref().map(|_| "custom"))
            .finish()
    }
}

/// Field by field; two custom partitioners are equal only if they are the same instance
/// (`Arc::ptr_eq`), since a `dyn Partitioner` cannot be compared by value.
impl PartialEq for ProducerConfig {
    fn eq(&self, other: &Self) -> bool {
        let same_partitioner = match (&self.partitioner, &other.partitioner) {
            (None, None) => true,
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            _ => false,
        };
        same_partitioner
            && self.acks == other.acks
            && self.batch_size == other.batch_size
            && self.linger_ms == other.linger_ms
            && self.buffer_memory == other.buffer_memory
            && self.max_block_ms == other.max_block_ms
            && self.max_request_size == other.max_request_size
            && self.compression_type == other.compression_type
            && self.compression_zstd_level == other.compression_zstd_level
            && self.partitioner_ignore_keys == other.partitioner_ignore_keys
            && self.partitioner_adaptive_partitioning_enable
                == other.partitioner_adaptive_partitioning_enable
            && self.enable_idempotence == other.enable_idempotence
            && self.client_id == other.client_id
            && self.writer_threads == other.writer_threads
    }
}

/// One key of [`TABLE`].
type Key = parse::Key<Kind>;

/// How one producer key is parsed, checked and rendered.
enum Kind {
    /// An integer field with the Java client's (or silt's) inclusive bounds.
    Int(IntSlot<ProducerConfig>),
    /// A Kafka `BOOLEAN`: `true` or `false`, any case.
    Bool {
        get: fn(&ProducerConfig) -> bool,
        set: fn(&mut ProducerConfig, bool),
    },
    /// `acks`: `0`, `1`, `all` or `-1`.
    Acks,
    /// `compression.type`: a codec silt can encode.
    Compression,
    /// `client.id`: any string.
    ClientId,
}

/// Most writer threads `silt.producer.writer.threads` accepts: far past any useful count
/// (each thread appends to its own partitions), low enough that a typo cannot spawn
/// millions of threads.
const MAX_WRITER_THREADS: i64 = 1024;

/// zstd's range of levels (`ZSTD_minCLevel()` to `ZSTD_maxCLevel()`), which the Java client
/// takes as `compression.zstd.level`'s bounds.
const ZSTD_MIN_LEVEL: i64 = -131_072;
const ZSTD_MAX_LEVEL: i64 = 22;

/// Every producer key, sorted by name; [`ProducerConfig::KEYS`] is derived from it.
///
/// Bounds are the Java client's, but for `max.request.size`, which starts at 1 (at 0 every
/// record would be refused). Keys Kafka types `INT` stop at `i32::MAX`.
static TABLE: [Key; 13] = [
    key("acks", Kind::Acks),
    int("batch.size", int_slot!(batch_size in 0, KAFKA_INT_MAX)),
    int(
        "buffer.memory",
        int_slot!(buffer_memory in 0, KAFKA_LONG_MAX),
    ),
    key("client.id", Kind::ClientId),
    key("compression.type", Kind::Compression),
    int(
        "compression.zstd.level",
        int_slot!(compression_zstd_level in ZSTD_MIN_LEVEL, ZSTD_MAX_LEVEL),
    ),
    key(
        "enable.idempotence",
        Kind::Bool {
            get: ProducerConfig::idempotent,
            set: |config, value| config.enable_idempotence = Some(value),
        },
    ),
    int("linger.ms", int_slot!(linger_ms in 0, KAFKA_LONG_MAX)),
    int("max.block.ms", int_slot!(max_block_ms in 0, KAFKA_LONG_MAX)),
    int(
        "max.request.size",
        int_slot!(max_request_size in 1, KAFKA_INT_MAX),
    ),
    key(
        "partitioner.adaptive.partitioning.enable",
        Kind::Bool {
            get: |config| config.partitioner_adaptive_partitioning_enable,
            set: |config, value| config.partitioner_adaptive_partitioning_enable = value,
        },
    ),
    key(
        "partitioner.ignore.keys",
        Kind::Bool {
            get: |config| config.partitioner_ignore_keys,
            set: |config, value| config.partitioner_ignore_keys = value,
        },
    ),
    int(
        "silt.producer.writer.threads",
        int_slot!(writer_threads in 0, MAX_WRITER_THREADS),
    ),
];

const fn key(name: &'static str, kind: Kind) -> Key {
    Key { name, kind }
}

const fn int(name: &'static str, slot: IntSlot<ProducerConfig>) -> Key {
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
            Kind::Bool { .. } => "\"true\" or \"false\"".to_owned(),
            Kind::Acks => "\"0\", \"1\", \"all\" or \"-1\" (the same as all)".to_owned(),
            Kind::Compression => "\"none\", \"gzip\", \"lz4\" or \"zstd\" \
                 (snappy is not supported: silt cannot encode it)"
                .to_owned(),
            Kind::ClientId => "any string".to_owned(),
        }
    }

    /// Parses `value` and writes it to `config`.
    fn parse_into(&self, config: &mut ProducerConfig, value: &str) -> Result<()> {
        let bad = || invalid(self.name, value, self.expected());
        match &self.kind {
            Kind::Int(slot) => slot.parse_into(config, self.name, value)?,
            Kind::Bool { set, .. } => set(config, parse_bool(value).ok_or_else(bad)?),
            Kind::Acks => config.acks = parse_acks(value).ok_or_else(bad)?,
            Kind::Compression => {
                config.compression_type = parse_compression(value).ok_or_else(bad)?;
            }
            // Kafka trims `STRING` values too.
            Kind::ClientId => config.client_id = value.trim().to_owned(),
        }
        Ok(())
    }

    /// `config`'s value for this key as the Java client renders it.
    fn render(&self, config: &ProducerConfig) -> String {
        match &self.kind {
            Kind::Int(slot) => slot.render(config),
            Kind::Bool { get, .. } => get(config).to_string(),
            Kind::Acks => acks_name(config.acks).to_owned(),
            Kind::Compression => config.compression_type.to_string(),
            Kind::ClientId => config.client_id.clone(),
        }
    }

    /// Checks `config`'s value for this key, however it was set.
    fn check(&self, config: &ProducerConfig) -> Result<()> {
        let ok = match &self.kind {
            Kind::Int(slot) => return slot.check(config, self.name),
            Kind::Compression => encodable(config.compression_type),
            Kind::Bool { .. } | Kind::Acks | Kind::ClientId => true,
        };
        if ok {
            Ok(())
        } else {
            Err(invalid(self.name, self.render(config), self.expected()))
        }
    }
}

/// Parses a Kafka `BOOLEAN` as Java's `ConfigDef` does: trimmed, `true`/`false` in any case.
pub(super) fn parse_bool(value: &str) -> Option<bool> {
    let value = value.trim();
    if value.eq_ignore_ascii_case("true") {
        Some(true)
    } else if value.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

/// Parses `acks` as the Java client's validator (`in("all", "-1", "0", "1")`): trimmed, case
/// sensitive.
fn parse_acks(value: &str) -> Option<Acks> {
    match value.trim() {
        "0" => Some(Acks::None),
        "1" => Some(Acks::Leader),
        "all" | "-1" => Some(Acks::All),
        _ => None,
    }
}

/// Parses `compression.type`: trimmed, case sensitive as Kafka's. `snappy` is a Kafka codec
/// but silt has no snappy encoder, so it is refused here rather than when the first batch
/// seals.
fn parse_compression(value: &str) -> Option<Compression> {
    let codec = match value.trim() {
        "none" => Compression::None,
        "gzip" => Compression::Gzip,
        "lz4" => Compression::Lz4,
        "zstd" => Compression::Zstd,
        _ => return None,
    };
    debug_assert!(encodable(codec));
    Some(codec)
}

/// Whether silt's batch encoder can write `codec`.
fn encodable(codec: Compression) -> bool {
    matches!(
        codec,
        Compression::None | Compression::Gzip | Compression::Lz4 | Compression::Zstd
    )
}

impl ProducerConfig {
    /// Every producer key [`ProducerConfig::set`] accepts, sorted.
    pub const KEYS: &'static [&'static str] = &KEY_NAMES;

    /// Sets one setting from its Java producer key and string value, as the Java client
    /// parses it: numbers are decimal, booleans are `true`/`false` in any case, surrounding
    /// whitespace is ignored, `acks=-1` is `acks=all`.
    ///
    /// Checks the value against the key's range; the check between keys
    /// (`enable.idempotence=true` needs `acks=all`) is left to [`ProducerConfig::validate`],
    /// so that keys can be set in any order. On error `self` is unchanged.
    ///
    /// # Errors
    ///
    /// [`EngineError::UnknownConfig`](crate::EngineError::UnknownConfig) for a key not in
    /// [`ProducerConfig::KEYS`] (including Java client keys silt does not implement);
    /// [`EngineError::InvalidConfig`](crate::EngineError::InvalidConfig) naming the key, the
    /// value and what it accepts for a bad value.
    ///
    /// ```
    /// use silt_engine::{Acks, ProducerConfig};
    /// use silt_segment::batch::Compression;
    ///
    /// let mut config = ProducerConfig::default();
    /// config.set("acks", "1")?;
    /// config.set("linger.ms", "20")?;
    /// config.set("compression.type", "zstd")?;
    /// assert_eq!(config.acks, Acks::Leader);
    /// assert_eq!(config.compression_type, Compression::Zstd);
    /// // Idempotence left at its default is off once acks is not all.
    /// assert_eq!(config.get("enable.idempotence")?, "false");
    ///
    /// let err = config.set("compression.type", "snappy").unwrap_err();
    /// assert!(err.to_string().contains("snappy is not supported"));
    /// assert!(config.set("retries", "3").is_err());
    /// # Ok::<(), silt_engine::EngineError>(())
    /// ```
    pub fn set(&mut self, key: &str, value: &str) -> Result<()> {
        lookup(key)?.parse_into(self, value)
    }

    /// The value of one setting, rendered as the Java client renders it (`all`, `zstd`,
    /// `true`, decimal integers); [`ProducerConfig::set`] parses it back.
    ///
    /// `enable.idempotence` renders the effective value, [`ProducerConfig::idempotent`], so
    /// setting it back pins a default `None` down as `Some(..)` (which behaves the same as
    /// long as `acks` does not change).
    ///
    /// # Errors
    ///
    /// [`EngineError::UnknownConfig`](crate::EngineError::UnknownConfig) for a key not in
    /// [`ProducerConfig::KEYS`].
    pub fn get(&self, key: &str) -> Result<String> {
        Ok(lookup(key)?.render(self))
    }

    /// Every setting as `(key, value)`, in [`ProducerConfig::KEYS`] order, values rendered as
    /// by [`ProducerConfig::get`].
    pub fn entries(&self) -> Vec<(&'static str, String)> {
        TABLE
            .iter()
            .map(|key| (key.name, key.render(self)))
            .collect()
    }

    /// A config from the Java client's defaults with `entries` set by
    /// [`ProducerConfig::set`], in order (a key given twice takes its last value), then
    /// [validated](ProducerConfig::validate). All or nothing: on error no config is returned.
    ///
    /// ```
    /// use silt_engine::{Acks, ProducerConfig};
    ///
    /// let config = ProducerConfig::from_map([("acks", "all"), ("batch.size", "65536")])?;
    /// assert_eq!(config.acks, Acks::All);
    /// assert_eq!(config.batch_size, 65536);
    ///
    /// // Explicit idempotence needs acks=all.
    /// assert!(ProducerConfig::from_map([("enable.idempotence", "true"), ("acks", "1")]).is_err());
    /// # Ok::<(), silt_engine::EngineError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// The first error of [`ProducerConfig::set`] or [`ProducerConfig::validate`].
    pub fn from_map<K, V>(entries: impl IntoIterator<Item = (K, V)>) -> Result<ProducerConfig>
    where
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let mut config = ProducerConfig::default();
        for (key, value) in entries {
            config.set(key.as_ref(), value.as_ref())?;
        }
        config.validate()?;
        Ok(config)
    }

    /// Checks every setting against its key's range, then the settings that do not go
    /// together: `enable.idempotence=true` set explicitly with `acks` other than `all` (the
    /// Java client's `ConfigException`). Fields are public and the builder takes any value,
    /// so this re-checks everything [`ProducerConfig::set`] would.
    ///
    /// # Errors
    ///
    /// [`EngineError::InvalidConfig`](crate::EngineError::InvalidConfig) naming the first bad
    /// key, in [`ProducerConfig::KEYS`] order.
    pub fn validate(&self) -> Result<()> {
        for key in &TABLE {
            key.check(self)?;
        }
        if self.enable_idempotence == Some(true) && self.acks != Acks::All {
            return Err(invalid(
                "acks",
                acks_name(self.acks),
                "all, because enable.idempotence=true was set",
            ));
        }
        Ok(())
    }

    /// Whether batches carry a producer id and sequences: `enable.idempotence`, unless it was
    /// left at its default and `acks` is not `all` (the Java client's rule).
    pub fn idempotent(&self) -> bool {
        self.enable_idempotence.unwrap_or(self.acks == Acks::All)
    }

    /// A builder starting from the Java client's defaults.
    pub fn builder() -> ProducerConfigBuilder {
        ProducerConfigBuilder::default()
    }
}

/// Kafka's rendering of `acks`.
pub(crate) fn acks_name(acks: Acks) -> &'static str {
    match acks {
        Acks::None => "0",
        Acks::Leader => "1",
        Acks::All => "all",
    }
}

/// Builds a [`ProducerConfig`] with typed values, one method per field, starting from the
/// Java client's defaults. [`ProducerConfigBuilder::build`] validates.
///
/// ```
/// use silt_engine::{Acks, ProducerConfig};
/// use silt_segment::batch::Compression;
///
/// let config = ProducerConfig::builder()
///     .acks(Acks::Leader)
///     .linger_ms(20)
///     .compression_type(Compression::Lz4)
///     .client_id("ingest")
///     .build()?;
/// assert_eq!(config.acks, Acks::Leader);
/// assert!(!config.idempotent());
///
/// // Out of range for `max.request.size`: refused when built.
/// assert!(ProducerConfig::builder().max_request_size(0).build().is_err());
/// // Explicit idempotence needs acks=all.
/// assert!(ProducerConfig::builder()
///     .acks(Acks::Leader)
///     .enable_idempotence(true)
///     .build()
///     .is_err());
/// # Ok::<(), silt_engine::EngineError>(())
/// ```
#[derive(Debug, Clone, Default)]
#[must_use]
pub struct ProducerConfigBuilder {
    config: ProducerConfig,
}

impl From<ProducerConfig> for ProducerConfigBuilder {
    fn from(config: ProducerConfig) -> Self {
        ProducerConfigBuilder { config }
    }
}

impl ProducerConfigBuilder {
    builder_setters!(ProducerConfig {
        acks: Acks => "acks",
        batch_size: usize => "batch.size",
        linger_ms: u64 => "linger.ms",
        buffer_memory: usize => "buffer.memory",
        max_block_ms: u64 => "max.block.ms",
        max_request_size: usize => "max.request.size",
        compression_type: Compression => "compression.type",
        compression_zstd_level: i32 => "compression.zstd.level",
        partitioner_ignore_keys: bool => "partitioner.ignore.keys",
        partitioner_adaptive_partitioning_enable: bool
            => "partitioner.adaptive.partitioning.enable",
        writer_threads: usize => "silt.producer.writer.threads",
    });

    /// Sets `enable.idempotence` explicitly (see [`ProducerConfig::enable_idempotence`]).
    pub fn enable_idempotence(mut self, value: bool) -> Self {
        self.config.enable_idempotence = Some(value);
        self
    }

    /// Sets `client.id` (see [`ProducerConfig::client_id`]).
    pub fn client_id(mut self, value: impl Into<String>) -> Self {
        self.config.client_id = value.into();
        self
    }

    /// Sets a custom partitioner, Kafka's `partitioner.class` (see
    /// [`ProducerConfig::partitioner`]).
    pub fn partitioner(mut self, partitioner: Arc<dyn Partitioner>) -> Self {
        self.config.partitioner = Some(partitioner);
        self
    }

    /// Sets one setting by Java producer key and string value, as [`ProducerConfig::set`].
    ///
    /// # Errors
    ///
    /// As [`ProducerConfig::set`].
    pub fn set(mut self, key: &str, value: &str) -> Result<Self> {
        self.config.set(key, value)?;
        Ok(self)
    }

    /// The config, once [`ProducerConfig::validate`] accepts it.
    ///
    /// # Errors
    ///
    /// As [`ProducerConfig::validate`].
    pub fn build(self) -> Result<ProducerConfig> {
        self.config.validate()?;
        Ok(self.config)
    }
}
