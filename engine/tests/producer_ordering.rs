//! Ordering under concurrency: threads sharing clones of one producer each send keyed
//! records numbered per key; in every partition each (thread, key)'s numbers appear in
//! increasing order with none missing or repeated, every key sits in its murmur2 partition,
//! and the offsets of every partition are contiguous from 0.

mod common;
mod producer_support;

use std::collections::HashMap;

use common::open;
use producer_support::{fetched_batches, topic};
use silt_engine::config::{Acks, ProducerConfig};
use silt_engine::producer::{key_partition, ProducerRecord};
use silt_engine::{Engine, Producer};

const PARTITIONS: u32 = 6;
const KEYS_PER_THREAD: usize = 12;

fn key(thread: usize, k: usize) -> String {
    format!("thread-{thread}-key-{k}")
}

/// Each thread sends `per_key` records for each of its keys, interleaving keys, with
/// values `thread:key:sequence`.
fn send_concurrently(producer: &Producer, threads: usize, per_key: usize) {
    std::thread::scope(|s| {
        for thread in 0..threads {
            let producer = producer.clone();
            s.spawn(move || {
                for sequence in 0..per_key {
                    for k in 0..KEYS_PER_THREAD {
                        let key = key(thread, k);
                        let value = format!("{thread}:{k}:{sequence}");
                        let record = ProducerRecord::new("t").key(&key).value(&value);
                        if (sequence + k) % 7 == 0 {
                            // Some through callbacks, the rest through handles.
                            producer
                                .send_with_callback(record, |r| {
                                    r.unwrap();
                                })
                                .unwrap();
                        } else {
                            producer.send(record).unwrap();
                        }
                    }
                }
            });
        }
    });
    producer.flush().unwrap();
}

fn check(engine: &Engine, threads: usize, per_key: usize) {
    let mut next: HashMap<(usize, usize), usize> = HashMap::new();
    for p in 0..PARTITIONS {
        let mut expected_offset = 0;
        for batch in fetched_batches(engine, "t", p) {
            for record in &batch.records {
                assert_eq!(
                    record.offset, expected_offset,
                    "partition {p}: offsets are contiguous"
                );
                expected_offset += 1;
                let fields: Vec<usize> = record
                    .text()
                    .split(':')
                    .map(|f| f.parse().unwrap())
                    .collect();
                let (thread, k, sequence) = (fields[0], fields[1], fields[2]);
                let stored_key = record.key.as_deref().unwrap();
                assert_eq!(stored_key, key(thread, k).as_bytes());
                assert_eq!(
                    key_partition(stored_key, PARTITIONS),
                    p,
                    "a key stays in its partition"
                );
                let want = next.entry((thread, k)).or_insert(0);
                assert_eq!(
                    sequence, *want,
                    "partition {p} offset {}: thread {thread} key {k} sent {want} next",
                    record.offset
                );
                *want += 1;
            }
        }
        assert_eq!(
            engine.log("t", p).unwrap().log_end_offset().unwrap(),
            expected_offset
        );
    }
    assert_eq!(next.len(), threads * KEYS_PER_THREAD, "every key arrived");
    assert!(next.values().all(|&n| n == per_key), "no record is missing");
}

#[test]
fn eight_threads_keep_per_key_order_in_every_partition() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path());
    engine.create_topic(topic("t", PARTITIONS)).unwrap();
    let producer = engine
        .producer(ProducerConfig {
            acks: Acks::Leader,
            batch_size: 2048, // many batches per partition
            linger_ms: 1,
            ..ProducerConfig::default()
        })
        .unwrap();
    send_concurrently(&producer, 8, 150);
    producer.close().unwrap();
    check(&engine, 8, 150);
}

#[test]
fn more_threads_than_shards_keep_per_key_order_with_acks_all() {
    // Producers keep a fixed number of shards (at least 16): with 40 threads several share
    // one, and their batches interleave under its lock.
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path());
    engine.create_topic(topic("t", PARTITIONS)).unwrap();
    let producer = engine
        .producer(ProducerConfig {
            acks: Acks::All,
            batch_size: 1024,
            linger_ms: 0,
            ..ProducerConfig::default()
        })
        .unwrap();
    send_concurrently(&producer, 40, 20);
    producer.close().unwrap();
    check(&engine, 40, 20);
}
