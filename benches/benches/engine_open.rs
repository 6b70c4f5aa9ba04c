//! Opening a data directory, beside what it has to do.
//!
//! - Clean open of a 10 GiB topic (`SILT_BENCH_OPEN_GIB` to change the size): target
//!   ≤ 50 ms. After a clean close nothing is read but the directory listing.
//! - Unclean open of a 1 GiB partition with no recovery point (the worst case: every batch
//!   is validated): target ≥ 1 GB/s of log validated, beside raw crc32c over the same bytes.
//! - Clean open of 10,000 partitions: target ≤ 2 s.

use std::path::Path;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use silt_benches::{encode_batches, RecordSet};
use silt_engine::{Engine, EngineConfig, NewTopic, RECOVERY_POINT_CHECKPOINT};
use silt_segment::batch::BatchConfig;

/// Appends `bytes` of 1 KiB records to each of `partitions` partitions of topic `t`.
fn build(dir: &Path, partitions: u32, bytes_per_partition: u64, segment_bytes: u32) {
    let engine = Engine::open(dir, EngineConfig::default()).expect("open");
    engine
        .create_topic(
            NewTopic::new("t", partitions).config("segment.bytes", segment_bytes.to_string()),
        )
        .expect("create");
    let records = RecordSet::generate(16_000, 1024, 3);
    let chunk = encode_batches(&records, 15, BatchConfig::default());
    for p in 0..partitions {
        let log = engine.log("t", p).expect("log");
        let mut written = 0;
        while written < bytes_per_partition {
            // One append per ~16 KiB batch group, so each roll check sees a whole batch.
            for range in silt_benches::batch_ranges(&chunk).chunks(64) {
                let (start, end) = (range[0].start, range[range.len() - 1].end);
                log.append(&chunk[start..end]).expect("append");
                written += (end - start) as u64;
            }
        }
    }
    engine.close().expect("close");
}

/// Times `iters` opens of `dir`, running `before` (untimed) before each.
fn time_opens(dir: &Path, iters: u64, before: impl Fn()) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        before();
        let start = Instant::now();
        let engine = Engine::open(dir, EngineConfig::default()).expect("open");
        total += start.elapsed();
        engine.close().expect("close");
    }
    total
}

fn open_clean(c: &mut Criterion) {
    let gib: u64 = std::env::var("SILT_BENCH_OPEN_GIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    let dir = tempfile::tempdir().expect("tempdir");
    build(dir.path(), 8, (gib << 30) / 8, 256 << 20);
    let mut group = c.benchmark_group("open");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(3));
    group.bench_function(format!("clean_{gib}gib_topic"), |b| {
        b.iter_custom(|iters| time_opens(dir.path(), iters, || {}))
    });
    group.finish();
}

fn open_unclean(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    build(dir.path(), 1, 1 << 30, 256 << 20);
    let log_dir = dir.path().join("t-0");
    let mut segments: Vec<Vec<u8>> = Vec::new();
    for entry in std::fs::read_dir(&log_dir).expect("list") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "log") {
            segments.push(std::fs::read(&path).expect("read"));
        }
    }
    let bytes: u64 = segments.iter().map(|s| s.len() as u64).sum();
    let crash = || {
        // What a crash leaves: no clean-shutdown marker, and here no recovery point at all.
        let _ = std::fs::remove_file(dir.path().join(".silt_cleanshutdown"));
        let _ = std::fs::remove_file(dir.path().join(RECOVERY_POINT_CHECKPOINT));
    };
    let mut group = c.benchmark_group("recovery");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(5));
    group.throughput(Throughput::Bytes(bytes));
    group.bench_function("unclean_open_1gib", |b| {
        b.iter_custom(|iters| time_opens(dir.path(), iters, crash))
    });
    group.bench_function("crc32c_same_bytes", |b| {
        b.iter(|| {
            segments
                .iter()
                .map(|s| crc32c::crc32c(s))
                .fold(0, |a, c| a ^ c)
        })
    });
    group.finish();
}

fn open_many_partitions(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = Engine::open(dir.path(), EngineConfig::default()).expect("open");
    engine
        .create_topic(NewTopic::new("wide", 10_000).config("segment.bytes", "65536"))
        .expect("create");
    engine.close().expect("close");
    drop(engine);
    let mut group = c.benchmark_group("open");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(5));
    group.bench_function("clean_10000_partitions", |b| {
        b.iter_custom(|iters| time_opens(dir.path(), iters, || {}))
    });
    group.finish();
}

criterion_group!(benches, open_clean, open_unclean, open_many_partitions);
criterion_main!(benches);
