//! Fetch + iterate from the page cache, beside the same-run baselines.
//!
//! - 100-byte records: silt's fetch, CRC check and record iteration against the `commitlog`
//!   crate reading the same payloads, with and without its per-message hash check (target
//!   ≥ 50M records/s, commitlog ≈ 25M/s here).
//! - 1 KiB records: the same fetch against memcpy of the same bytes (target ≥ 0.5×).
//!
//! Both sides touch every value: the loop sums value lengths and the first byte of each, so
//! nothing is skipped that a consumer would read.

use std::hint::black_box;
use std::time::Duration;

use commitlog::message::{MessageBuf, MessageSet};
use commitlog::{CommitLog, LogOptions, ReadLimit};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use silt_benches::{encode_batches, RecordSet};
use silt_engine::{Engine, EngineConfig, NewTopic};
use silt_segment::batch::{BatchConfig, DecompressBuffer};

const FETCH_BYTES: usize = 1 << 20;

/// An engine holding `records` in topic `t`, partition 0, appended in batches of
/// `per_batch` (about 16 KiB, a producer's `batch.size`).
fn silt_log(dir: &std::path::Path, records: &RecordSet, per_batch: usize) -> Engine {
    let engine = Engine::open(dir, EngineConfig::default()).expect("open");
    engine
        .create_topic(NewTopic::new("t", 1).config("segment.bytes", (256u32 << 20).to_string()))
        .expect("create topic");
    let bytes = encode_batches(records, per_batch, BatchConfig::default());
    for chunk in silt_benches::batch_ranges(&bytes).chunks(64) {
        let (start, end) = (chunk[0].start, chunk[chunk.len() - 1].end);
        engine.append("t", 0, &bytes[start..end]).expect("append");
    }
    engine
}

/// Reads the whole partition: fetch, check CRCs, iterate records.
fn silt_read_all(engine: &Engine, buffer: &mut DecompressBuffer) -> (u64, u64) {
    let log = engine.log("t", 0).expect("log");
    let end = log.log_end_offset().expect("end");
    let (mut count, mut sum) = (0u64, 0u64);
    let mut offset = 0;
    while offset < end {
        let fetch = log.fetch(offset, FETCH_BYTES).expect("fetch");
        fetch
            .for_each_record(buffer, |r| {
                let v = r.value.unwrap_or_default();
                sum += v.len() as u64 + u64::from(v.first().copied().unwrap_or(0));
                count += 1;
            })
            .expect("records");
        offset = fetch.next_offset();
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
        if i % 128 == 127 {
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
            .read(offset, ReadLimit::max_bytes(FETCH_BYTES))
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

fn fetch_100b(c: &mut Criterion) {
    let records = RecordSet::generate(1_000_000, 100, 7);
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = silt_log(&dir.path().join("silt"), &records, 128);
    let peer = commitlog_of(&dir.path().join("commitlog"), &records);
    let mut buffer = DecompressBuffer::new();
    assert_eq!(silt_read_all(&engine, &mut buffer).0, records.len() as u64);
    assert_eq!(commitlog_read_all(&peer, true).0, records.len() as u64);

    let mut group = c.benchmark_group("fetch_100b");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(4));
    group.throughput(Throughput::Elements(records.len() as u64));
    group.bench_function("silt_fetch_iterate", |b| {
        b.iter(|| black_box(silt_read_all(&engine, &mut buffer)))
    });
    group.bench_function("commitlog_read_iterate", |b| {
        b.iter(|| black_box(commitlog_read_all(&peer, false)))
    });
    group.bench_function("commitlog_read_iterate_verify_hash", |b| {
        b.iter(|| black_box(commitlog_read_all(&peer, true)))
    });
    group.finish();
}

fn fetch_1k(c: &mut Criterion) {
    let records = RecordSet::generate(200_000, 1024, 11);
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = silt_log(dir.path(), &records, 15);
    let mut buffer = DecompressBuffer::new();
    let bytes = engine.log("t", 0).expect("log").size_bytes().expect("size");
    let source = vec![7u8; bytes as usize];
    let mut target = vec![0u8; bytes as usize];

    let mut group = c.benchmark_group("fetch_1k");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(4));
    group.throughput(Throughput::Bytes(bytes));
    group.bench_function("silt_fetch_iterate", |b| {
        b.iter(|| black_box(silt_read_all(&engine, &mut buffer)))
    });
    group.bench_function("memcpy_same_bytes", |b| {
        b.iter(|| {
            target.copy_from_slice(black_box(&source));
            black_box(target[target.len() / 2])
        })
    });
    group.finish();
}

criterion_group!(benches, fetch_100b, fetch_1k);
criterion_main!(benches);
