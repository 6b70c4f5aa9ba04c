//! One consumer polling (issue 5): records/s of `poll` with `check.crcs` on, beside the
//! same-run baselines on the same records.
//!
//! The partition holds 1,000,000 records with 100-byte values (8-16 byte keys) in batches of
//! 128 (~16 KiB, a producer's `batch.size`), uncompressed, in the page cache. Each iteration
//! seeks to the beginning and polls until every record was returned, touching every record:
//! the loop sums key and value lengths and the first byte of each value, so nothing a
//! consumer would read is skipped.
//!
//! - `silt_poll`: `assign` (no group), `max.poll.records` = 500 (Kafka's default) and
//!   `check.crcs` on; target ≥ 40M records/s.
//! - `silt_poll_max_records_5000`: the same with 5000 records a poll, what a consumer after
//!   throughput sets.
//! - `commitlog_read_iterate[_verify_hash]`: the `commitlog` crate reading the same values
//!   (with and without its per-message hash check, its CRC counterpart).
//! - `crc32c_same_bytes`: CRC-32C over the partition's bytes alone: the floor of any read
//!   that checks every byte, in records/s.

use std::hint::black_box;
use std::time::Duration;

use commitlog::message::{MessageBuf, MessageSet};
use commitlog::{CommitLog, LogOptions, ReadLimit};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use silt_benches::{encode_batches, RecordSet};
use silt_consumer::{Consumer, ConsumerConfig, ConsumerExt, OffsetReset, TopicPartition};
use silt_engine::{Engine, EngineConfig, NewTopic};
use silt_segment::batch::BatchConfig;

const RECORDS: usize = 1_000_000;
const VALUE_BYTES: usize = 100;
const PER_BATCH: usize = 128;
const READ_BYTES: usize = 1 << 20;

/// An engine holding `records` in topic `t`, partition 0, in batches of [`PER_BATCH`].
fn silt_log(dir: &std::path::Path, records: &RecordSet) -> Engine {
    let engine = Engine::open(dir, EngineConfig::default()).expect("open");
    engine
        .create_topic(NewTopic::new("t", 1).config("segment.bytes", (256u32 << 20).to_string()))
        .expect("create topic");
    let bytes = encode_batches(records, PER_BATCH, BatchConfig::default());
    for chunk in silt_benches::batch_ranges(&bytes).chunks(64) {
        let (start, end) = (chunk[0].start, chunk[chunk.len() - 1].end);
        engine.append("t", 0, &bytes[start..end]).expect("append");
    }
    engine
}

fn consumer(engine: &Engine, max_poll_records: usize) -> Consumer {
    let config = ConsumerConfig {
        max_poll_records,
        check_crcs: true,
        enable_auto_commit: false,
        ..ConsumerConfig::default()
    }
    .auto_offset_reset(OffsetReset::Earliest);
    let mut consumer = engine.consumer(config).expect("consumer");
    consumer
        .assign(&[TopicPartition::new("t", 0)])
        .expect("assign");
    consumer
}

/// Polls the whole partition from its start; returns (records, checksum of what was read).
fn poll_all(consumer: &mut Consumer) -> (u64, u64) {
    consumer.seek_to_beginning(&[]).expect("seek");
    let (mut count, mut sum) = (0u64, 0u64);
    while count < RECORDS as u64 {
        let records = consumer.poll(Duration::ZERO).expect("poll");
        for r in records.iter() {
            let key = r.key.unwrap_or_default();
            let value = r.value.unwrap_or_default();
            sum +=
                (key.len() + value.len()) as u64 + u64::from(value.first().copied().unwrap_or(0));
            count += 1;
        }
    }
    (count, sum)
}

fn commitlog_of(dir: &std::path::Path, records: &RecordSet) -> CommitLog {
    let mut options = LogOptions::new(dir);
    options.segment_max_bytes(256 << 20);
    let mut log = CommitLog::new(options).expect("commitlog");
    let mut buf = MessageBuf::default();
    for (i, r) in records.iter().enumerate() {
        buf.push(r.value).expect("push");
        if i % PER_BATCH == PER_BATCH - 1 {
            log.append(&mut buf).expect("append");
            buf = MessageBuf::default();
        }
    }
    if buf.len() > 0 {
        log.append(&mut buf).expect("append");
    }
    log.flush().expect("flush");
    log
}

fn commitlog_read_all(log: &CommitLog, verify: bool) -> (u64, u64) {
    let (mut count, mut sum) = (0u64, 0u64);
    let mut offset = 0;
    let end = log.next_offset();
    while offset < end {
        let set = log
            .read(offset, ReadLimit::max_bytes(READ_BYTES))
            .expect("read");
        for m in set.iter() {
            assert!(!verify || m.verify_hash(), "commitlog hash");
            let v = m.payload();
            sum += v.len() as u64 + u64::from(v.first().copied().unwrap_or(0));
            count += 1;
            offset = m.offset() + 1;
        }
    }
    (count, sum)
}

/// The partition's bytes, as stored (every batch, back to back).
fn partition_bytes(engine: &Engine) -> Vec<u8> {
    let log = engine.log("t", 0).expect("log");
    let end = log.log_end_offset().expect("end");
    let (mut bytes, mut offset) = (Vec::new(), 0);
    while offset < end {
        let fetch = log.fetch(offset, READ_BYTES).expect("fetch");
        bytes.extend_from_slice(fetch.bytes());
        offset = fetch.next_offset();
    }
    bytes
}

fn consumer_poll(c: &mut Criterion) {
    let records = RecordSet::generate(RECORDS, VALUE_BYTES, 7);
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = silt_log(&dir.path().join("silt"), &records);
    let peer = commitlog_of(&dir.path().join("commitlog"), &records);
    let bytes = partition_bytes(&engine);
    let mut default = consumer(&engine, 500);
    let mut large = consumer(&engine, 5000);
    assert_eq!(poll_all(&mut default).0, RECORDS as u64);
    assert_eq!(poll_all(&mut large), poll_all(&mut default));
    assert_eq!(commitlog_read_all(&peer, true).0, RECORDS as u64);

    let mut group = c.benchmark_group("consumer_poll_100b");
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(5));
    group.throughput(Throughput::Elements(RECORDS as u64));
    group.bench_function("silt_poll", |b| {
        b.iter(|| black_box(poll_all(&mut default)))
    });
    group.bench_function("silt_poll_max_records_5000", |b| {
        b.iter(|| black_box(poll_all(&mut large)))
    });
    group.bench_function("commitlog_read_iterate", |b| {
        b.iter(|| black_box(commitlog_read_all(&peer, false)))
    });
    group.bench_function("commitlog_read_iterate_verify_hash", |b| {
        b.iter(|| black_box(commitlog_read_all(&peer, true)))
    });
    group.bench_function("crc32c_same_bytes", |b| {
        b.iter(|| black_box(crc32c::crc32c(black_box(&bytes))))
    });
    group.finish();
}

criterion_group!(benches, consumer_poll);
criterion_main!(benches);
