//! Helpers shared by the engine's tests.
#![allow(dead_code)]

use std::path::Path;

use silt_engine::{Engine, EngineConfig, Fetch, NewTopic};
use silt_segment::batch::{BatchBuilder, BatchConfig, Compression, DecompressBuffer};

/// Timestamp used for records unless a test says otherwise.
pub const T0: i64 = 1_700_000_000_000;

/// An engine config whose background task stays out of the way of a test.
pub fn quiet_config() -> EngineConfig {
    EngineConfig {
        retention_check_interval_ms: 3_600_000,
        flush_scheduler_interval_ms: 3_600_000,
        flush_offset_checkpoint_interval_ms: 3_600_000,
        ..EngineConfig::default()
    }
}

pub fn open(dir: &Path) -> Engine {
    Engine::open(dir, quiet_config()).expect("open engine")
}

/// A topic with small segments (so tests roll often) and small indexes.
pub fn small_topic(name: &str, partitions: u32, segment_bytes: u32) -> NewTopic {
    NewTopic::new(name, partitions)
        .config("segment.bytes", segment_bytes.to_string())
        .config("segment.index.bytes", "4096")
        .config("index.interval.bytes", "256")
}

/// One batch of `n` records `value-<first + i>` keyed `key-<i>`, timestamps `ts + i`.
pub fn batch_of(first: u64, n: u64, ts: i64, compression: Compression) -> Vec<u8> {
    let mut builder = BatchBuilder::new(BatchConfig {
        compression,
        ..BatchConfig::default()
    });
    for i in 0..n {
        let key = format!("key-{i}");
        let value = format!("value-{}", first + i);
        builder
            .append(
                ts + i as i64,
                Some(key.as_bytes()),
                Some(value.as_bytes()),
                &[],
            )
            .expect("append record");
    }
    builder.finish().expect("finish batch")
}

/// One uncompressed batch of `n` records numbered from `first`.
pub fn batch(first: u64, n: u64) -> Vec<u8> {
    batch_of(first, n, T0, Compression::None)
}

/// (offset, value) of every record of a fetch.
pub fn records(fetch: &Fetch) -> Vec<(i64, String)> {
    let mut buffer = DecompressBuffer::new();
    let mut out = Vec::new();
    fetch
        .for_each_record(&mut buffer, |r| {
            let value = String::from_utf8(r.value.unwrap_or_default().to_vec()).expect("utf-8");
            out.push((r.offset, value));
        })
        .expect("records");
    out
}

/// Every record of a partition from `from` to the log end, fetching repeatedly.
pub fn read_all(engine: &Engine, topic: &str, partition: u32, from: i64) -> Vec<(i64, String)> {
    let mut out = Vec::new();
    let mut offset = from;
    loop {
        let fetch = engine
            .fetch(topic, partition, offset, 64 * 1024)
            .expect("fetch");
        if fetch.is_empty() {
            return out;
        }
        out.extend(records(&fetch));
        offset = fetch.next_offset();
    }
}

/// Copies a data directory as a crash would leave it: every file as it is now, without the
/// clean-shutdown marker and without the lock held.
pub fn crash_image(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            crash_image(&entry.path(), &target);
        } else if entry.file_name() != ".silt_cleanshutdown" {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// A deterministic xorshift64 generator (no `rand` dependency).
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Polls `condition` until it holds or `limit` passes; returns whether it held. A bounded
/// wait on a condition, never a sleep hoping a race resolves.
pub fn wait_until(limit: std::time::Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + limit;
    loop {
        if condition() {
            return true;
        }
        if std::time::Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

/// The values of every record of a partition, in offset order.
pub fn values(engine: &Engine, topic: &str, partition: u32) -> Vec<String> {
    read_all(engine, topic, partition, 0)
        .into_iter()
        .map(|(_, v)| v)
        .collect()
}

/// The `InvalidConfig` fields of `err`; panics on any other error.
pub fn invalid(err: silt_engine::EngineError) -> (String, String, String) {
    match err {
        silt_engine::EngineError::InvalidConfig {
            key,
            value,
            expected,
        } => (key, value, expected),
        other => panic!("expected InvalidConfig, got {other:?}"),
    }
}

/// Calls `set(config, key, value)` on a default config, expecting an `InvalidConfig` for
/// `key` and `value` whose Display names the key; the config must be unchanged. Returns
/// what the error says is expected.
pub fn assert_refused<C: Default + PartialEq + std::fmt::Debug>(
    key: &str,
    value: &str,
    set: impl FnOnce(&mut C, &str, &str) -> silt_engine::Result<()>,
) -> String {
    let mut config = C::default();
    let err = set(&mut config, key, value).unwrap_err();
    let shown = err.to_string();
    let (got_key, got_value, expected) = invalid(err);
    assert_eq!((got_key.as_str(), got_value.as_str()), (key, value));
    assert!(shown.contains(key), "{shown}");
    assert_eq!(config, C::default(), "a refused set changed the config");
    expected
}

/// Sets its flag when dropped, however the scope ends (an assertion failing included): a
/// thread racing a test's checks stops when they do, and they stop if it does.
pub struct SetOnDrop<'a>(pub &'a std::sync::atomic::AtomicBool);

impl Drop for SetOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

pub mod compaction;
