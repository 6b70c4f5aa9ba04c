//! Shared pieces of the producer benchmarks (`producer`, `producer_latency`): the values and
//! keys records are sent with, a fresh engine with the bench topic, the producing loop, and
//! what is checked and sampled around it.

use std::ops::Range;
use std::path::Path;

use silt_engine::producer::ProducerRecord;
use silt_engine::{Engine, EngineConfig, NewTopic, Producer};
use silt_segment::batch::Compression;

use crate::RecordSet;

/// The topic every producer bench sends to.
pub const TOPIC: &str = "t";

/// Partitions of [`TOPIC`] (the 8).
pub const PARTITIONS: u32 = 8;

/// Distinct values cycled through by the producing loops: more than any batch holds (a
/// 16 KiB batch takes ~150 of 100 bytes), so no batch repeats a value whole, and few enough
/// (~0.8 MB) to stay out of the memory measured by `producer_latency`.
const VALUE_COUNT: usize = 8192;

/// Distinct keys of the keyed workload (the 100,000).
pub const KEY_COUNT: usize = 100_000;

/// Step through the keys: prime, so record `i` takes key `i * KEY_STEP % KEY_COUNT` and every
/// key comes once per `KEY_COUNT` records, in an order that spreads them over partitions.
const KEY_STEP: usize = 7919;

/// `value_bytes`-byte text-like values (from [`RecordSet`], so lz4 finds what it finds in
/// real payloads), stored flat and taken in turn.
#[derive(Debug, Clone)]
pub struct Values {
    flat: Vec<u8>,
    value_bytes: usize,
}

impl Values {
    /// [`VALUE_COUNT`] values of `value_bytes` bytes from seed `seed`.
    pub fn generate(value_bytes: usize, seed: u64) -> Self {
        let records = RecordSet::generate(VALUE_COUNT, value_bytes, seed);
        let mut flat = Vec::with_capacity(VALUE_COUNT * value_bytes);
        for r in records.iter() {
            flat.extend_from_slice(r.value);
        }
        Values { flat, value_bytes }
    }

    /// The value of record `i` (the values repeat every [`VALUE_COUNT`] records).
    #[inline]
    pub fn get(&self, i: usize) -> &[u8] {
        let start = (i % VALUE_COUNT) * self.value_bytes;
        &self.flat[start..start + self.value_bytes]
    }
}

/// [`KEY_COUNT`] distinct 11-byte keys (`user-000042`), stored flat.
#[derive(Debug, Clone)]
pub struct Keys {
    flat: Vec<u8>,
}

const KEY_BYTES: usize = 11;

impl Keys {
    /// Every key, in order.
    pub fn generate() -> Self {
        let mut flat = Vec::with_capacity(KEY_COUNT * KEY_BYTES);
        for k in 0..KEY_COUNT {
            flat.extend_from_slice(format!("user-{k:06}").as_bytes());
        }
        debug_assert_eq!(flat.len(), KEY_COUNT * KEY_BYTES);
        Keys { flat }
    }

    /// The key of record `i`.
    #[inline]
    pub fn get(&self, i: usize) -> &[u8] {
        let start = (i.wrapping_mul(KEY_STEP) % KEY_COUNT) * KEY_BYTES;
        &self.flat[start..start + KEY_BYTES]
    }
}

/// An engine in `dir` holding [`TOPIC`] with [`PARTITIONS`] partitions of `segment_bytes`
/// segments (segments are preallocated at this size: keep it near what a run writes).
pub fn engine_with_topic(dir: &Path, segment_bytes: u32) -> Engine {
    let engine = Engine::open(dir, EngineConfig::default()).expect("open engine");
    engine
        .create_topic(
            NewTopic::new(TOPIC, PARTITIONS).config("segment.bytes", segment_bytes.to_string()),
        )
        .expect("create topic");
    engine
}

/// Sends records `range` (value `i`, and key `i` when `keys` is given) to [`TOPIC`] with
/// `producer`, dropping the delivery handles: `flush` is what waits for them.
pub fn send_range(producer: &Producer, values: &Values, keys: Option<&Keys>, range: Range<usize>) {
    for i in range {
        let record = ProducerRecord::new(TOPIC).value(values.get(i));
        let record = match keys {
            Some(keys) => record.key(keys.get(i)),
            None => record,
        };
        producer.send(record).expect("send");
    }
}

/// Records in [`TOPIC`]: the sum of its partitions' log end offsets.
pub fn records_in_topic(engine: &Engine) -> u64 {
    (0..PARTITIONS)
        .map(|p| {
            let log = engine.log(TOPIC, p).expect("partition");
            log.log_end_offset().expect("log end offset") as u64
        })
        .sum()
}

/// The compression of the first batch in [`TOPIC`] (`None` if the topic is empty): checks
/// that a run compressed what it was asked to.
pub fn first_batch_compression(engine: &Engine) -> Option<Compression> {
    (0..PARTITIONS).find_map(|p| {
        let log = engine.log(TOPIC, p).expect("partition");
        let fetch = log.fetch(0, 1 << 16).expect("fetch");
        let batch = fetch.batches().next()?;
        Some(batch.expect("batch parses").compression())
    })
}

/// The records section of every batch in [`TOPIC`], copied out: exactly what a producer
/// compresses when `compression.type` is set.
pub fn topic_records_sections(engine: &Engine) -> Vec<Vec<u8>> {
    let mut sections = Vec::new();
    for p in 0..PARTITIONS {
        let log = engine.log(TOPIC, p).expect("partition");
        let end = log.log_end_offset().expect("log end offset");
        let mut offset = 0;
        while offset < end {
            let fetch = log.fetch(offset, 1 << 20).expect("fetch");
            for batch in fetch.batches() {
                sections.push(batch.expect("batch parses").records_bytes().to_vec());
            }
            offset = fetch.next_offset();
        }
    }
    sections
}

/// Writes back everything earlier runs left (dirty pages; the journal commits, and on a
/// filesystem mounted with `discard` the discards, of the files they deleted): called, untimed,
/// before a measurement that syncs or that follows a large deletion, so that it does not wait
/// on another's leftovers.
pub fn settle_disk() {
    // SAFETY: sync(2) takes no arguments, touches no memory of this process and cannot fail.
    unsafe { libc::sync() };
}

/// Resident anonymous memory of this process in bytes (`RssAnon` of `/proc/self/status`:
/// heap and stacks, not the page cache or the mapped segments), or `None` off Linux.
pub fn rss_anon_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("RssAnon:"))?;
    let kib: u64 = line
        .trim_start_matches("RssAnon:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn keys_are_distinct_and_all_used() {
        let keys = Keys::generate();
        let seen: HashSet<&[u8]> = (0..KEY_COUNT).map(|i| keys.get(i)).collect();
        assert_eq!(seen.len(), KEY_COUNT);
    }

    #[test]
    fn values_have_the_asked_size() {
        let values = Values::generate(100, 1);
        assert!((0..3 * VALUE_COUNT).all(|i| values.get(i).len() == 100));
        assert_ne!(values.get(0), values.get(1));
    }

    #[test]
    fn rss_anon_is_read_on_linux() {
        if cfg!(target_os = "linux") {
            assert!(rss_anon_bytes().is_some_and(|b| b > 0));
        }
    }

    #[test]
    fn produced_records_are_counted_and_sectioned() {
        let dir = tempfile::tempdir().unwrap();
        let engine = engine_with_topic(dir.path(), 1 << 20);
        let producer = engine
            .producer(silt_engine::ProducerConfig {
                acks: silt_engine::Acks::Leader,
                ..Default::default()
            })
            .unwrap();
        let (values, keys) = (Values::generate(100, 3), Keys::generate());
        send_range(&producer, &values, Some(&keys), 0..1000);
        send_range(&producer, &values, None, 1000..3000);
        producer.flush().unwrap();
        assert_eq!(records_in_topic(&engine), 3000);
        let sections = topic_records_sections(&engine);
        assert!(!sections.is_empty());
        assert!(sections.iter().map(Vec::len).sum::<usize>() > 3000 * 100);
        assert_eq!(first_batch_compression(&engine), Some(Compression::None));
        producer.close().unwrap();
    }
}
