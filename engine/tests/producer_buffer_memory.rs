//! `buffer.memory` bounds the bytes of batches a producer holds. Open batches hold their
//! memory until they seal and are appended; with a linger and a batch size that never seal
//! them, the memory stays taken, so a send that needs a new batch blocks, and fails with
//! `BufferExhausted` after `max.block.ms`, or goes through once a flush from another thread
//! hands the memory back.

mod common;
mod producer_support;

use std::time::{Duration, Instant};

use common::{open, values, wait_until};
use producer_support::topic;
use silt_engine::config::{Acks, ProducerConfig};
use silt_engine::producer::ProducerRecord;
use silt_engine::{EngineError, Producer};

const BATCH_SIZE: usize = 1024;
/// Room for exactly three open batches.
const BUFFER_MEMORY: usize = 3 * BATCH_SIZE;

/// A producer whose batches only seal on flush (or close).
fn stuck_producer(engine: &silt_engine::Engine, max_block_ms: u64) -> Producer {
    engine
        .producer(ProducerConfig {
            acks: Acks::Leader,
            batch_size: BATCH_SIZE,
            buffer_memory: BUFFER_MEMORY,
            linger_ms: 3_600_000,
            max_block_ms,
            ..ProducerConfig::default()
        })
        .unwrap()
}

/// Opens one batch on each of partitions 0, 1 and 2: all of `buffer.memory` is lent.
fn fill(producer: &Producer) {
    for p in 0..3 {
        producer
            .send(
                ProducerRecord::new("t")
                    .partition(p)
                    .value(&format!("fill-{p}")),
            )
            .unwrap();
    }
}

#[test]
fn a_send_blocks_for_max_block_ms_then_fails_with_buffer_exhausted() {
    const MAX_BLOCK_MS: u64 = 300;
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path());
    engine.create_topic(topic("t", 4)).unwrap();
    let producer = stuck_producer(&engine, MAX_BLOCK_MS);
    fill(&producer);

    let start = Instant::now();
    let err = producer
        .send(ProducerRecord::new("t").partition(3).value("refused"))
        .unwrap_err();
    let waited = start.elapsed();
    match err {
        EngineError::BufferExhausted {
            requested,
            waited_ms,
            buffer_memory,
        } => {
            assert_eq!(requested, BATCH_SIZE);
            assert_eq!(buffer_memory, BUFFER_MEMORY);
            assert!(waited_ms >= MAX_BLOCK_MS, "reports {waited_ms} ms");
        }
        other => panic!("expected BufferExhausted, got {other:?}"),
    }
    assert!(
        waited >= Duration::from_millis(MAX_BLOCK_MS),
        "gave up after {waited:?}, before max.block.ms"
    );
    assert!(waited < Duration::from_secs(10), "blocked {waited:?}");

    // A record that fits an open batch needs no memory: no wait.
    producer
        .send(ProducerRecord::new("t").partition(0).value("fits"))
        .unwrap();
    // Once a flush returned the memory, the partition that was refused takes records again.
    producer.flush().unwrap();
    let after = producer
        .send(ProducerRecord::new("t").partition(3).value("after"))
        .unwrap();
    producer.flush().unwrap();
    assert_eq!(
        after.wait().unwrap().offset,
        0,
        "the refused record took no offset"
    );
    producer.close().unwrap();
    assert_eq!(values(&engine, "t", 0), ["fill-0", "fits"]);
    assert_eq!(
        values(&engine, "t", 3),
        ["after"],
        "nothing of the refused send"
    );
}

#[test]
fn a_blocked_send_goes_through_once_another_thread_flushes() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path());
    engine.create_topic(topic("t", 4)).unwrap();
    let producer = stuck_producer(&engine, 60_000);
    fill(&producer);

    let blocked = {
        let producer = producer.clone();
        std::thread::spawn(move || {
            producer.send(ProducerRecord::new("t").partition(3).value("waited"))
        })
    };
    // The memory is all lent and nothing seals it: the send cannot finish on its own.
    assert!(
        !wait_until(Duration::from_millis(300), || blocked.is_finished()),
        "a send returned while buffer.memory was used up"
    );
    producer.flush().unwrap();
    assert!(
        wait_until(Duration::from_secs(10), || blocked.is_finished()),
        "the flush freed memory but the send still blocks"
    );
    let delivery = blocked.join().unwrap().expect("the blocked send succeeds");
    producer.flush().unwrap();
    let metadata = delivery.wait().unwrap();
    assert_eq!((metadata.partition, metadata.offset), (3, 0));
    producer.close().unwrap();
    assert_eq!(values(&engine, "t", 3), ["waited"]);
    for p in 0..3 {
        assert_eq!(values(&engine, "t", p), [format!("fill-{p}")]);
    }
}

#[test]
fn memory_comes_back_as_batches_are_appended() {
    // Far more bytes than buffer.memory go through when batches seal and drain on their
    // own: the memory is lent and returned, never lost.
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path());
    engine.create_topic(topic("t", 4)).unwrap();
    let producer = engine
        .producer(ProducerConfig {
            acks: Acks::Leader,
            batch_size: BATCH_SIZE,
            buffer_memory: BUFFER_MEMORY,
            linger_ms: 0,
            max_block_ms: 10_000,
            ..ProducerConfig::default()
        })
        .unwrap();
    let value = "v".repeat(200);
    let sent = 50 * BUFFER_MEMORY / value.len();
    for i in 0..sent {
        producer
            .send(
                ProducerRecord::new("t")
                    .partition(i as u32 % 4)
                    .value(&value),
            )
            .unwrap();
    }
    producer.flush().unwrap();
    let total: usize = (0..4).map(|p| values(&engine, "t", p).len()).sum();
    assert_eq!(total, sent);
    producer.close().unwrap();
}
