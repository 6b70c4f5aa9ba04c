//! What the crash campaign writes: topics, configurations, and records whose every byte
//! follows from a 64-bit id, so a checker can tell a record that is whole and in its place
//! from anything else without remembering its bytes.

use silt_engine::producer::key_partition;
use silt_engine::{EngineConfig, EngineError, Log, NewTopic};
use silt_segment::batch::{DecompressBuffer, Header};

/// Append-only topic: segments roll every few dozen batches, retention keeps ~6 of them,
/// and `delete_records` moves the log start.
pub const EVENTS: &str = "events";
pub const EVENTS_PARTITIONS: u32 = 3;
/// Compacted topic: a small key space, cleaned continually.
pub const COMPACTED: &str = "compacted";
pub const COMPACTED_PARTITIONS: u32 = 2;
/// The consumer group whose commits are checked.
pub const GROUP: &str = "crash-campaign";
/// `retention.bytes` of `events`: six segments' worth.
pub const EVENTS_RETENTION_BYTES: u64 = 98304;
/// Header carrying a record's id (8 bytes, big-endian).
pub const ID_HEADER: &str = "id";
/// Keys each producer thread writes in the compacted topic (a key is written by one thread
/// only, so its versions reach the log in the order they were sent).
pub const KEYS_PER_THREAD: u64 = 12;
/// Producer threads of the child.
pub const PRODUCER_THREADS: u64 = 2;

/// Every topic the campaign uses, as the child creates them.
pub fn topics() -> [(&'static str, NewTopic); 2] {
    [
        (
            EVENTS,
            NewTopic::new(EVENTS, EVENTS_PARTITIONS)
                .config("segment.bytes", "16384")
                .config("segment.index.bytes", "4096")
                .config("index.interval.bytes", "512")
                .config("retention.bytes", EVENTS_RETENTION_BYTES.to_string())
                .config("cleanup.policy", "delete"),
        ),
        (
            COMPACTED,
            NewTopic::new(COMPACTED, COMPACTED_PARTITIONS)
                .config("segment.bytes", "8192")
                .config("segment.index.bytes", "4096")
                .config("index.interval.bytes", "512")
                .config("cleanup.policy", "compact")
                .config("min.cleanable.dirty.ratio", "0.05")
                .config("min.compaction.lag.ms", "0")
                // Tombstones outlive the campaign, so the last record of every key stays
                // readable and the checker can hold each key to its last acknowledged version.
                .config("delete.retention.ms", "86400000"),
        ),
    ]
}

/// The child's engine: everything in the background runs often, so kills land inside it.
pub fn child_config() -> EngineConfig {
    EngineConfig::from_map([
        ("log.retention.check.interval.ms", "7"),
        ("log.cleaner.enable", "true"),
        ("log.cleaner.backoff.ms", "5"),
        ("log.cleaner.min.cleanable.ratio", "0.05"),
        ("log.flush.offset.checkpoint.interval.ms", "25"),
        ("log.flush.scheduler.interval.ms", "10"),
        ("log.flush.interval.ms", "30"),
        ("log.index.size.max.bytes", "4096"),
        ("silt.max.open.segments", "8"),
        ("offsets.topic.num.partitions", "2"),
        ("offsets.topic.segment.bytes", "8192"),
    ])
    .expect("child engine config")
}

/// The checker's engine: nothing runs in the background, so what it reads stays still.
pub fn checker_config() -> EngineConfig {
    EngineConfig::from_map([
        ("log.retention.check.interval.ms", "3600000"),
        ("log.cleaner.enable", "false"),
        ("log.flush.offset.checkpoint.interval.ms", "3600000"),
        ("log.flush.scheduler.interval.ms", "3600000"),
        ("log.index.size.max.bytes", "4096"),
        ("offsets.topic.num.partitions", "2"),
        ("offsets.topic.segment.bytes", "8192"),
    ])
    .expect("checker engine config")
}

/// A record's identity: the cycle that sent it, the child's producer thread, and that
/// thread's count. Ids of one thread rise in send order, across cycles too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Id(pub u64);

impl Id {
    pub fn new(cycle: u64, thread: u64, counter: u64) -> Id {
        assert!(cycle < 1 << 24 && thread < 1 << 8 && counter < 1 << 32);
        Id(cycle << 40 | thread << 32 | counter)
    }

    pub fn thread(self) -> u64 {
        (self.0 >> 32) & 0xff
    }

    /// The compacted topic's key this id writes.
    pub fn key_slot(self) -> u64 {
        mix(self.0 ^ 0x6b65_7973) % KEYS_PER_THREAD
    }
}

impl std::fmt::Display for Id {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:x}", self.0)
    }
}

/// splitmix64's finaliser: a well-mixed hash of a 64-bit value.
pub fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// The key of the record `id` in `topic`.
pub fn key(topic: &str, id: Id) -> Vec<u8> {
    if topic == COMPACTED {
        format!("k{}-{}", id.thread(), id.key_slot()).into_bytes()
    } else {
        format!("e{id}").into_bytes()
    }
}

/// Whether the record `id` in `topic` is a tombstone (a fifth of the compacted topic's).
pub fn is_tombstone(topic: &str, id: Id) -> bool {
    topic == COMPACTED && mix(id.0 ^ 0x746f_6d62).is_multiple_of(5)
}

/// The value of the record `id` in `topic`: the id, 8 to 240 bytes drawn from it, and an
/// FNV-1a checksum of all that. `None` for a tombstone.
pub fn value(topic: &str, id: Id) -> Option<Vec<u8>> {
    if is_tombstone(topic, id) {
        return None;
    }
    let len = 8 + mix(id.0 ^ 0x006c_656e) % 233;
    let mut bytes = id.0.to_be_bytes().to_vec();
    let mut state = mix(id.0);
    for _ in 0..len {
        state = mix(state);
        bytes.push(state as u8);
    }
    let sum = fnv1a(&bytes);
    bytes.extend_from_slice(&sum.to_be_bytes());
    Some(bytes)
}

fn fnv1a(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5, |h: u32, b| {
        (h ^ u32::from(*b)).wrapping_mul(0x0100_0193)
    })
}

/// Checks that a record read from `topic`/`partition` is exactly one the campaign wrote:
/// its id header, its key and value byte for byte, and (compacted topic) the partition its
/// key maps to. Returns its id.
pub fn check_record<'a>(
    topic: &str,
    partition: u32,
    key_read: Option<&[u8]>,
    value_read: Option<&[u8]>,
    headers: impl IntoIterator<Item = Header<'a>>,
) -> Result<Id, String> {
    let headers: Vec<Header<'a>> = headers.into_iter().collect();
    let id = match headers.as_slice() {
        [h] if h.key == ID_HEADER.as_bytes() => {
            let bytes: [u8; 8] = h
                .value
                .and_then(|v| v.try_into().ok())
                .ok_or_else(|| format!("id header {:?} is not 8 bytes", h.value))?;
            Id(u64::from_be_bytes(bytes))
        }
        _ => return Err(format!("expected one id header, found {headers:?}")),
    };
    let expected_key = key(topic, id);
    if key_read != Some(expected_key.as_slice()) {
        return Err(format!(
            "record {id}: key {key_read:?}, expected {expected_key:?}"
        ));
    }
    if value_read != value(topic, id).as_deref() {
        return Err(format!("record {id}: value differs from what was sent"));
    }
    if topic == COMPACTED {
        let expected = key_partition(&expected_key, COMPACTED_PARTITIONS);
        if partition != expected {
            return Err(format!(
                "record {id} in partition {partition}, its key maps to {expected}"
            ));
        }
    }
    Ok(id)
}

/// A deterministic xorshift64* generator (seeded from the campaign's seed, so a failing
/// plan can be replayed).
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(mix(seed) | 1)
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in `0..n` (`n` > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Bytes asked for by one fetch of [`read_log`].
const FETCH_BYTES: usize = 32 << 10;

/// How [`read_log`] stopped short.
#[derive(Debug)]
pub enum ReadError {
    /// The log start passed the offset being read (retention, in a running engine).
    BelowLogStart { log_start: i64 },
    /// A partial or corrupt batch, a record that is not one the campaign wrote, offsets out
    /// of order, or a fetch that failed otherwise.
    Bad(String),
}

/// Reads `log` from `start` to `end` through the engine's read path (the fetch a consumer
/// makes), checking every batch's CRC-32C and records, every record with [`check_record`],
/// and that no record lies past the log end its fetch saw; calls `f` with the offset and id
/// of each record below `end`, in order. Returns the batches read.
pub fn read_log(
    log: &Log,
    start: i64,
    end: i64,
    mut f: impl FnMut(i64, Id),
) -> Result<u64, ReadError> {
    let (topic, p) = (log.topic(), log.partition());
    let bad = |what: String| ReadError::Bad(format!("{topic}/{p}: {what}"));
    let mut buffer = DecompressBuffer::new();
    let mut batches = 0;
    let mut offset = start;
    let mut last = -1;
    while offset < end {
        let fetch = match log.fetch(offset, FETCH_BYTES) {
            Ok(fetch) => fetch,
            Err(EngineError::OffsetOutOfRange { log_start, .. }) if offset < log_start => {
                return Err(ReadError::BelowLogStart { log_start })
            }
            Err(e) => return Err(bad(format!("fetch at {offset}: {e}"))),
        };
        if fetch.is_empty() {
            return Err(bad(format!(
                "fetch at {offset}, below the log end {end}, is empty"
            )));
        }
        for batch in fetch.batches() {
            let batch = batch.map_err(|e| bad(format!("a partial batch: {e}")))?;
            batches += 1;
            let records = fetch
                .records(&batch, &mut buffer)
                .map_err(|e| bad(format!("a corrupt batch: {e}")))?;
            for record in records {
                let r = record.map_err(|e| bad(format!("a corrupt record: {e}")))?;
                let id = check_record(topic, p, r.key, r.value, r.headers)
                    .map_err(|e| bad(format!("offset {}: {e}", r.offset)))?;
                if r.offset <= last || r.offset >= fetch.log_end_offset() {
                    return Err(bad(format!(
                        "offset {} after {last}, log end {} when fetched",
                        r.offset,
                        fetch.log_end_offset()
                    )));
                }
                if r.offset >= end {
                    return Ok(batches); // appended since the read began
                }
                last = r.offset;
                f(r.offset, id);
            }
        }
        if fetch.next_offset() <= offset {
            return Err(bad(format!("fetch at {offset} made no progress")));
        }
        offset = fetch.next_offset();
    }
    Ok(batches)
}
