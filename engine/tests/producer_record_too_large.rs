//! A record too large to send alone is refused at `send` with `RecordTooLarge` naming the
//! limit it breaks (`max.request.size`, the topic's `max.message.bytes`, `buffer.memory`):
//! a record exactly at the limit goes through, one byte more does not, nothing of a refused
//! record is written, and the records sent around it go through unharmed. Records that are
//! each within the topic's `max.message.bytes` are delivered even when `batch.size` is
//! larger than it.

mod common;
mod producer_support;

use common::{open, values};
use producer_support::{record_size, topic};
use silt_engine::config::{Acks, ProducerConfig};
use silt_engine::producer::ProducerRecord;
use silt_engine::{Engine, EngineError, Producer};
use silt_segment::batch::HEADER_SIZE;

/// A value whose record, alone in a batch, makes a batch of exactly `batch_bytes`.
fn value_for_batch_of(batch_bytes: usize) -> Vec<u8> {
    let mut len = batch_bytes - HEADER_SIZE;
    // The value's length varint and the record's length varint grow with the value: shrink
    // until the whole fits exactly.
    while HEADER_SIZE + record_size(None, Some(&vec![b'x'; len]), &[]) > batch_bytes {
        len -= 1;
    }
    let value = vec![b'x'; len];
    assert_eq!(
        HEADER_SIZE + record_size(None, Some(&value), &[]),
        batch_bytes,
        "a value of {len} bytes makes a batch of {batch_bytes}"
    );
    value
}

/// Sends small, at-limit and over-limit records to partition 0 and checks what came back.
fn check_limit(engine: &Engine, producer: &Producer, limit_bytes: usize, limit: &str) {
    let at_limit = value_for_batch_of(limit_bytes);
    let over_limit = value_for_batch_of(limit_bytes + 1);
    let before = producer
        .send(ProducerRecord::new("t").partition(0).value("before"))
        .unwrap();
    let err = producer
        .send(ProducerRecord::new("t").partition(0).value(&over_limit))
        .unwrap_err();
    let shown = err.to_string();
    match err {
        EngineError::RecordTooLarge {
            topic,
            partition,
            size,
            max,
            limit: named,
        } => {
            assert_eq!((topic.as_str(), partition), ("t", 0));
            assert_eq!(named, limit, "{shown}");
            assert_eq!(max as usize, limit_bytes);
            assert_eq!(size, limit_bytes + 1);
        }
        other => panic!("expected RecordTooLarge for {limit}, got {other:?}"),
    }
    assert!(
        shown.contains(limit),
        "the message names the limit: {shown}"
    );
    let at = producer
        .send(ProducerRecord::new("t").partition(0).value(&at_limit))
        .unwrap();
    let after = producer
        .send(ProducerRecord::new("t").partition(0).value("after"))
        .unwrap();
    producer.flush().unwrap();
    let offsets: Vec<i64> = [before, at, after]
        .into_iter()
        .map(|d| d.wait().unwrap().offset)
        .collect();
    assert_eq!(offsets, [0, 1, 2], "the refused record took no offset");
    let stored = common::read_all(engine, "t", 0, 0);
    assert_eq!(stored.len(), 3, "nothing of the refused record was written");
    assert_eq!(stored[0].1, "before");
    assert_eq!(stored[1].1.len(), at_limit.len());
    assert_eq!(stored[2].1, "after");
}

fn producer(engine: &Engine, config: ProducerConfig) -> Producer {
    engine
        .producer(ProducerConfig {
            acks: Acks::Leader,
            ..config
        })
        .unwrap()
}

/// Only `flush` (or `batch.size`) seals a batch: later records join the open one.
const LONG_LINGER_MS: u64 = 3_600_000;

#[test]
fn over_max_request_size() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path());
    engine.create_topic(topic("t", 1)).unwrap();
    let producer = producer(
        &engine,
        ProducerConfig {
            max_request_size: 4000,
            linger_ms: 0, // every record starts its own batch
            ..ProducerConfig::default()
        },
    );
    check_limit(&engine, &producer, 4000, "max.request.size");
    producer.close().unwrap();
}

#[test]
fn over_max_request_size_with_a_batch_open() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path());
    engine.create_topic(topic("t", 1)).unwrap();
    let producer = producer(
        &engine,
        ProducerConfig {
            max_request_size: 4000,
            linger_ms: LONG_LINGER_MS, // "before" leaves a 16 KiB batch open
            ..ProducerConfig::default()
        },
    );
    check_limit(&engine, &producer, 4000, "max.request.size");
    producer.close().unwrap();
}

#[test]
fn over_the_topic_max_message_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path());
    engine
        .create_topic(topic("t", 1).config("max.message.bytes", "3000"))
        .unwrap();
    let producer = producer(
        &engine,
        ProducerConfig {
            linger_ms: 0,
            ..ProducerConfig::default()
        },
    );
    check_limit(&engine, &producer, 3000, "max.message.bytes");
    producer.close().unwrap();
}

#[test]
fn over_the_topic_max_message_bytes_with_a_batch_open() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path());
    engine
        .create_topic(topic("t", 1).config("max.message.bytes", "3000"))
        .unwrap();
    let producer = producer(
        &engine,
        ProducerConfig {
            linger_ms: LONG_LINGER_MS,
            ..ProducerConfig::default()
        },
    );
    check_limit(&engine, &producer, 3000, "max.message.bytes");
    producer.close().unwrap();
}

#[test]
fn over_buffer_memory() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path());
    engine.create_topic(topic("t", 1)).unwrap();
    let producer = producer(
        &engine,
        ProducerConfig {
            buffer_memory: 40_000,
            batch_size: 1024,
            linger_ms: LONG_LINGER_MS,
            ..ProducerConfig::default()
        },
    );
    check_limit(&engine, &producer, 40_000, "buffer.memory");
    producer.close().unwrap();
}

#[test]
fn a_refused_record_does_not_block_or_fail_the_others() {
    // With one partition's batch open and buffer.memory nearly used up, a record over
    // buffer.memory fails at once (it could never fit), instead of waiting max.block.ms.
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path());
    engine.create_topic(topic("t", 2)).unwrap();
    let producer = producer(
        &engine,
        ProducerConfig {
            buffer_memory: 8192,
            batch_size: 8192,
            linger_ms: LONG_LINGER_MS,
            max_block_ms: 60_000,
            ..ProducerConfig::default()
        },
    );
    let first = producer
        .send(
            ProducerRecord::new("t")
                .partition(1)
                .value("holds the memory"),
        )
        .unwrap();
    let start = std::time::Instant::now();
    let err = producer
        .send(
            ProducerRecord::new("t")
                .partition(0)
                .value(&vec![0u8; 9000]),
        )
        .unwrap_err();
    assert!(
        matches!(
            err,
            EngineError::RecordTooLarge {
                limit: "buffer.memory",
                ..
            }
        ),
        "{err:?}"
    );
    assert!(
        start.elapsed() < std::time::Duration::from_secs(30),
        "it did not wait"
    );
    producer.flush().unwrap();
    assert_eq!(first.wait().unwrap().offset, 0);
    assert!(values(&engine, "t", 0).is_empty());
    producer.close().unwrap();
}

#[test]
fn records_within_max_message_bytes_are_delivered_when_batch_size_is_larger() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path());
    engine
        .create_topic(topic("t", 1).config("max.message.bytes", "2000"))
        .unwrap();
    let producer = producer(
        &engine,
        ProducerConfig {
            batch_size: 16384,
            linger_ms: LONG_LINGER_MS, // one batch would hold all 40
            ..ProducerConfig::default()
        },
    );
    let value = vec![b'v'; 200];
    let deliveries: Vec<_> = (0..40)
        .map(|_| {
            producer
                .send(ProducerRecord::new("t").partition(0).value(&value))
                .unwrap()
        })
        .collect();
    producer.flush().unwrap();
    for (i, d) in deliveries.into_iter().enumerate() {
        let metadata = d
            .wait()
            .unwrap_or_else(|e| panic!("record {i} of 200 bytes failed: {e}"));
        assert_eq!(metadata.offset, i as i64);
    }
    assert_eq!(values(&engine, "t", 0).len(), 40);
    producer.close().unwrap();
}
