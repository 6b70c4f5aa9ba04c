//! What a producer writes is Kafka's RecordBatch v2, checked as the Kafka vectors are: every
//! batch of the partition's `.log` files parses and validates (CRC-32C, count); with each
//! codec the attributes name it and every record comes back as sent (keys, values, null
//! keys and values, headers with null values, timestamps before and after the first);
//! offsets are contiguous across batches and each header agrees with its records. An
//! idempotent producer's batches carry a producer id, epoch 0 and contiguous sequences per
//! (producer id, partition); a non-idempotent one's carry none. On a `LogAppendTime` topic
//! every batch has attribute bit 3 and a valid CRC, and `RecordMetadata.timestamp` is the
//! append time stored in it.

mod common;
mod producer_support;

use std::collections::HashMap;

use common::{open, T0};
use producer_support::{log_file_batches, topic, StoredBatch, StoredRecord};
use silt_engine::config::{Acks, ProducerConfig};
use silt_engine::producer::ProducerRecord;
use silt_engine::{Engine, RecordMetadata};
use silt_segment::batch::{Compression, RecordHeader, TimestampType, MAGIC_V2};

/// The header keys and values some records carry (one null value, one empty key).
const HEADERS: [RecordHeader<'static>; 3] = [
    RecordHeader {
        key: "trace-id",
        value: Some(b"0af7651916cd43dd8448eb211c80319c"),
    },
    RecordHeader {
        key: "null-valued",
        value: None,
    },
    RecordHeader {
        key: "",
        value: Some(b""),
    },
];

/// The `i`-th record of the test set: every combination of null and present key and value,
/// empty ones, headers on some, large compressible values on some, and timestamps that go
/// back and forth around the first.
fn record(i: usize) -> StoredRecord {
    let key = match i % 5 {
        0 => None,
        1 => Some(Vec::new()),
        _ => Some(format!("key-{}", i % 17).into_bytes()),
    };
    let value = match i % 7 {
        0 => None,
        1 => Some(Vec::new()),
        2 => Some(format!("{i:06}-").repeat(700).into_bytes()),
        _ => Some(format!("value-{i}").into_bytes()),
    };
    let headers = if i.is_multiple_of(3) {
        HEADERS
            .iter()
            .map(|h| (h.key.as_bytes().to_vec(), h.value.map(<[u8]>::to_vec)))
            .collect()
    } else {
        Vec::new()
    };
    let timestamp = T0 + (i as i64 % 11) * 1000 - 5000;
    StoredRecord {
        offset: i as i64,
        timestamp,
        key,
        value,
        headers,
    }
}

fn send(
    engine: &Engine,
    topic_name: &str,
    config: ProducerConfig,
    n: usize,
) -> Vec<RecordMetadata> {
    let producer = engine.producer(config).unwrap();
    let mut deliveries = Vec::new();
    for i in 0..n {
        let r = record(i);
        let headers: &[RecordHeader<'_>] = if r.headers.is_empty() { &[] } else { &HEADERS };
        let mut sent = ProducerRecord::new(topic_name)
            .partition(0)
            .headers(headers)
            .timestamp(r.timestamp);
        sent.key = r.key.as_deref();
        sent.value = r.value.as_deref();
        deliveries.push(producer.send(sent).unwrap());
    }
    producer.flush().unwrap();
    let metadata = deliveries.into_iter().map(|d| d.wait().unwrap()).collect();
    producer.close().unwrap();
    metadata
}

/// Checks what every producer batch must satisfy, whatever its settings: v2, offsets
/// contiguous from 0, the header's counts and timestamps agreeing with its records.
fn check_batch_structure(batches: &[StoredBatch], timestamp_type: TimestampType) {
    let mut next = 0;
    for b in batches {
        let h = &b.header;
        assert_eq!(h.magic, MAGIC_V2);
        assert_eq!(h.base_offset, next, "offsets are contiguous across batches");
        assert_eq!(h.records_count as usize, b.records.len());
        assert_eq!(h.last_offset_delta as usize + 1, b.records.len());
        assert!(!h.attributes.is_transactional() && !h.attributes.is_control());
        assert_eq!(h.attributes.timestamp_type(), timestamp_type);
        for (i, r) in b.records.iter().enumerate() {
            assert_eq!(r.offset, next + i as i64);
        }
        if timestamp_type == TimestampType::CreateTime {
            assert_eq!(
                h.base_timestamp, b.records[0].timestamp,
                "Kafka's base timestamp is the first record's"
            );
            assert_eq!(
                h.max_timestamp,
                b.records.iter().map(|r| r.timestamp).max().unwrap()
            );
        }
        next = h.last_offset() + 1;
    }
}

#[test]
fn every_codec_round_trips_records_in_kafka_batches() {
    const N: usize = 300;
    let codecs = [
        Compression::None,
        Compression::Gzip,
        Compression::Lz4,
        Compression::Zstd,
    ];
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path());
    for codec in codecs {
        let name = format!("c-{}", codec.name());
        engine.create_topic(topic(name.as_str(), 1)).unwrap();
        let metadata = send(
            &engine,
            &name,
            ProducerConfig {
                acks: Acks::Leader,
                compression_type: codec,
                linger_ms: 3_600_000, // batches seal by size: several records each
                ..ProducerConfig::default()
            },
            N,
        );
        for (i, m) in metadata.iter().enumerate() {
            assert_eq!(
                (m.partition, m.offset, m.timestamp),
                (0, i as i64, record(i).timestamp)
            );
        }
    }
    engine.close().unwrap();
    drop(engine);

    for codec in codecs {
        let batches = log_file_batches(dir.path(), &format!("c-{}", codec.name()), 0);
        assert!(batches.len() > 1, "{codec}: several batches");
        assert!(
            batches.iter().any(|b| b.records.len() > 10),
            "{codec}: batches hold many records"
        );
        check_batch_structure(&batches, TimestampType::CreateTime);
        for b in &batches {
            assert_eq!(
                b.header.attributes.compression(),
                codec,
                "the attributes name the codec"
            );
            // Not idempotent (acks=1): no producer id, epoch or sequence.
            assert_eq!(
                (
                    b.header.producer_id,
                    b.header.producer_epoch,
                    b.header.base_sequence
                ),
                (-1, -1, -1)
            );
        }
        let stored: Vec<StoredRecord> = batches.into_iter().flat_map(|b| b.records).collect();
        assert_eq!(stored.len(), N);
        for (i, r) in stored.iter().enumerate() {
            assert_eq!(r, &record(i), "{codec}: record {i}");
        }
    }
}

#[test]
fn idempotent_batches_carry_producer_ids_and_contiguous_sequences() {
    const THREADS: usize = 4;
    const PER_THREAD: usize = 400;
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path());
    engine.create_topic(topic("t", 2)).unwrap();
    for compression in [Compression::None, Compression::Zstd] {
        let producer = engine
            .producer(ProducerConfig {
                acks: Acks::All, // idempotent by default
                batch_size: 2048,
                linger_ms: 1,
                compression_type: compression,
                ..ProducerConfig::default()
            })
            .unwrap();
        assert!(producer.config().idempotent());
        std::thread::scope(|s| {
            for thread in 0..THREADS {
                let producer = producer.clone();
                s.spawn(move || {
                    for i in 0..PER_THREAD {
                        let value = format!("{thread}-{i}");
                        producer
                            .send(
                                ProducerRecord::new("t")
                                    .partition((i % 2) as u32)
                                    .value(&value),
                            )
                            .unwrap();
                    }
                });
            }
        });
        producer.close().unwrap();
    }
    // A producer that opted out writes no producer id.
    let plain = engine
        .producer(ProducerConfig {
            acks: Acks::All,
            enable_idempotence: Some(false),
            ..ProducerConfig::default()
        })
        .unwrap();
    plain
        .send(ProducerRecord::new("t").partition(0).value("plain"))
        .unwrap();
    plain.close().unwrap();
    engine.close().unwrap();
    drop(engine);

    for p in 0..2 {
        let batches = log_file_batches(dir.path(), "t", p);
        check_batch_structure(&batches, TimestampType::CreateTime);
        // Partition 0 ends with the non-idempotent producer's batch.
        let (idempotent, plain) = match p {
            0 => {
                let (last, rest) = batches.split_last().unwrap();
                (rest, Some(last))
            }
            _ => (&batches[..], None),
        };
        let mut next_sequence: HashMap<i64, i32> = HashMap::new();
        let mut records = 0;
        for b in idempotent {
            let h = &b.header;
            assert!(
                h.producer_id >= 0,
                "partition {p}: producer id {}",
                h.producer_id
            );
            assert_eq!(h.producer_epoch, 0);
            let next = next_sequence.entry(h.producer_id).or_insert(0);
            assert_eq!(
                h.base_sequence, *next,
                "partition {p}: producer {} sequences are contiguous from 0",
                h.producer_id
            );
            *next += h.records_count;
            records += b.records.len();
        }
        assert_eq!(records, 2 * THREADS * PER_THREAD / 2, "partition {p}");
        assert!(
            next_sequence.len() >= 2,
            "two producers wrote here, under distinct producer ids: {next_sequence:?}"
        );
        if let Some(plain) = plain {
            let h = &plain.header;
            assert_eq!(
                (h.producer_id, h.producer_epoch, h.base_sequence),
                (-1, -1, -1),
                "enable.idempotence=false"
            );
            assert_eq!(plain.records[0].value.as_deref(), Some(&b"plain"[..]));
        }
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

#[test]
fn log_append_time_batches_are_stamped_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path());
    let mut reported = Vec::new();
    for codec in [Compression::None, Compression::Lz4] {
        let name = format!("lat-{}", codec.name());
        engine
            .create_topic(topic(name.as_str(), 1).config("message.timestamp.type", "LogAppendTime"))
            .unwrap();
        let before = now_ms();
        let metadata = send(
            &engine,
            &name,
            ProducerConfig {
                compression_type: codec,
                linger_ms: 3_600_000,
                ..ProducerConfig::default()
            },
            100,
        );
        let after = now_ms();
        for m in &metadata {
            assert!(
                (before..=after).contains(&m.timestamp),
                "{codec}: metadata timestamp {} is not the append time ({before}..={after})",
                m.timestamp
            );
        }
        reported.push((name, metadata));
    }
    engine.close().unwrap();
    drop(engine);

    for (name, metadata) in reported {
        let batches = log_file_batches(dir.path(), &name, 0);
        check_batch_structure(&batches, TimestampType::LogAppendTime);
        for b in &batches {
            assert_ne!(b.header.attributes.0 & 0b1000, 0, "{name}: attribute bit 3");
            // log_file_batches validated the CRC after the stamping.
            for r in &b.records {
                assert_eq!(
                    r.timestamp, b.header.max_timestamp,
                    "records read the append time"
                );
                assert_eq!(
                    metadata[r.offset as usize].timestamp, b.header.max_timestamp,
                    "{name}: RecordMetadata.timestamp is the stored append time"
                );
                let sent = record(r.offset as usize);
                assert_eq!(
                    (&r.key, &r.value, &r.headers),
                    (&sent.key, &sent.value, &sent.headers)
                );
            }
        }
    }
}
