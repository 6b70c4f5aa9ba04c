//! What the soak writes: its engine settings, its topics, and values whose every byte
//! follows from (producer, sequence), so a reader can tell a whole record from anything
//! else and the ledger can hold 8 bytes per record instead of its value.

use silt_engine::{EngineConfig, NewTopic};

use super::rng::mix;

/// The append-only topic the group reads: small segments roll, `retention.bytes` deletes the
/// oldest, `delete_records` moves the log start into the middle of a segment.
pub const PLAIN: &str = "soak-plain";
pub const PLAIN_PARTITIONS: u32 = 4;
/// The compacted topic: a few keys per producer, cleaned continually.
pub const COMPACTED: &str = "soak-compacted";
pub const COMPACTED_PARTITIONS: u32 = 2;
/// Keys each producer writes in [`COMPACTED`] (a key is written by one producer only, so its
/// versions reach the log in the order they were sent).
pub const KEYS_PER_PRODUCER: u64 = 12;
/// The group that reads [`PLAIN`], members joining and leaving.
pub const GROUP: &str = "soak";
/// The churner's topics are named `scratch-0` … `scratch-{SCRATCH_NAMES - 1}`: names are
/// reused, so a topic is often created again under the name of one just deleted.
pub const SCRATCH_NAMES: u64 = 3;

/// The engine: the background retention and cleaner run often, beside the explicit calls of
/// the maintenance actors; few closed segments stay mapped, so maps come and go.
pub fn engine_config() -> EngineConfig {
    EngineConfig::from_map([
        ("log.retention.check.interval.ms", "150"),
        ("log.cleaner.enable", "true"),
        ("log.cleaner.backoff.ms", "200"),
        ("log.flush.offset.checkpoint.interval.ms", "300"),
        ("log.flush.scheduler.interval.ms", "100"),
        ("log.index.size.max.bytes", "4096"),
        ("silt.max.open.segments", "16"),
        ("offsets.topic.num.partitions", "2"),
        ("offsets.topic.segment.bytes", "16384"),
    ])
    .expect("soak engine config")
}

/// `retention.bytes` of [`PLAIN`] per partition: eight segments' worth, so retention deletes
/// within seconds, yet the group usually reads a record before retention takes it.
pub const PLAIN_RETENTION_BYTES: u64 = 8 * 16384;

pub fn plain_topic() -> NewTopic {
    NewTopic::new(PLAIN, PLAIN_PARTITIONS)
        .config("segment.bytes", "16384")
        .config("segment.index.bytes", "4096")
        .config("index.interval.bytes", "512")
        .config("retention.bytes", PLAIN_RETENTION_BYTES.to_string())
        .config("cleanup.policy", "delete")
}

pub fn compacted_topic() -> NewTopic {
    NewTopic::new(COMPACTED, COMPACTED_PARTITIONS)
        .config("segment.bytes", "4096")
        .config("segment.index.bytes", "4096")
        .config("index.interval.bytes", "512")
        .config("cleanup.policy", "compact")
        .config("min.cleanable.dirty.ratio", "0.01")
        .config("min.compaction.lag.ms", "0")
}

/// A scratch topic: tiny segments, deleted by retention or compacted.
pub fn scratch_topic(name: &str, partitions: u32, compact: bool) -> NewTopic {
    NewTopic::new(name, partitions)
        .config("segment.bytes", "1024")
        .config("segment.index.bytes", "4096")
        .config("retention.bytes", "2048")
        .config("cleanup.policy", if compact { "compact" } else { "delete" })
        .config("min.cleanable.dirty.ratio", "0.01")
}

/// A record's identity: producer `pid` (its 16 high bits, plus one, so 0 means "none") and
/// its sequence number.
pub fn id(pid: u64, seq: u64) -> u64 {
    ((pid + 1) << 48) | seq
}

pub fn describe_id(id: u64) -> String {
    format!("p{}#{}", (id >> 48).wrapping_sub(1), id & ((1 << 48) - 1))
}

/// The value of record `id`: `{id}.` and then 16 to 111 bytes that follow from it.
pub fn value(id: u64) -> Vec<u8> {
    let mut v = format!("{id}.").into_bytes();
    let filler = 16 + mix(id) % 96;
    v.extend((0..filler).map(|i| b'a' + (mix(id ^ (i << 52)) % 26) as u8));
    v
}

/// The id a value claims, if every byte of it is the one [`value`] writes for that id.
pub fn decode(bytes: Option<&[u8]>) -> Result<u64, String> {
    let Some(bytes) = bytes else {
        return Err("null value".into());
    };
    let head = bytes.iter().position(|b| *b == b'.');
    let id = head
        .and_then(|h| std::str::from_utf8(&bytes[..h]).ok())
        .and_then(|s| s.parse::<u64>().ok());
    match id {
        Some(id) if value(id) == bytes => Ok(id),
        _ => Err(format!(
            "malformed value {:?}",
            String::from_utf8_lossy(&bytes[..bytes.len().min(48)])
        )),
    }
}

/// The key of record `seq` of producer `pid` in [`COMPACTED`].
pub fn key(pid: u64, seq: u64) -> String {
    format!("k{pid}-{}", seq % KEYS_PER_PRODUCER)
}

/// A scratch record's value: which incarnation of which name it was written to.
pub fn scratch_value(name: &str, incarnation: u64, i: u64) -> String {
    format!("{name}#{incarnation}#{i}")
}

/// (incarnation, index) of a scratch value written to `name`.
pub fn scratch_decode(name: &str, value: Option<&[u8]>) -> Option<(u64, u64)> {
    let text = std::str::from_utf8(value?).ok()?;
    let rest = text.strip_prefix(name)?.strip_prefix('#')?;
    let (incarnation, i) = rest.split_once('#')?;
    Some((incarnation.parse().ok()?, i.parse().ok()?))
}
