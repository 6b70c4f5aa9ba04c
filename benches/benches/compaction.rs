//! Log compaction throughput: MB/s of log cleaned, beside copying the same bytes with
//! `memcpy` and writing them with `write(2)` into the page cache, in the same run.
//!
//! Each iteration cleans a fresh log of ~64 MiB: 100-byte values whose keys are drawn from
//! a set of 10% as many keys as records, in 16 KiB uncompressed batches and 8 MiB segments,
//! everything but the active segment dirty. Building the log happens outside the timed
//! region; the timed region is one `Log::clean` (map the dirty range, rewrite and swap every
//! closed segment, syncs included). Throughput counts the bytes of the closed segments.
//!
//! Target (from the issue): `silt_clean` >= 200 MB/s.

use std::hint::black_box;
use std::io::Write;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, SamplingMode, Throughput};
use silt_engine::{Engine, EngineConfig, Log, NewTopic};
use silt_segment::batch::{BatchBuilder, BatchConfig};

const LOG_BYTES: usize = 64 << 20;
const VALUE_BYTES: usize = 100;
const BATCH_BYTES: usize = 16 << 10;
const SEGMENT_BYTES: u32 = 8 << 20;
/// Distinct keys per record: 10%.
const UNIQUE_KEYS_PERCENT: u64 = 10;
const T0: i64 = 1_700_000_000_000;

/// A data directory holding one compacted partition of about `LOG_BYTES` of dirty closed
/// segments. Returns the engine, its log and the bytes of the closed segments.
fn dirty_log(dir: &std::path::Path) -> (Engine, std::sync::Arc<Log>, u64) {
    let config = EngineConfig {
        cleaner_enable: false,
        ..EngineConfig::default()
    };
    let engine = Engine::open(dir, config).expect("open");
    let topic = NewTopic::new("c", 1)
        .config("cleanup.policy", "compact")
        .config("segment.bytes", SEGMENT_BYTES.to_string());
    engine.create_topic(topic).expect("topic");
    let log = engine.log("c", 0).expect("log");
    let record_bytes = VALUE_BYTES + 20;
    let records = (LOG_BYTES / record_bytes) as u64;
    let keys = (records * UNIQUE_KEYS_PERCENT / 100).max(1);
    let mut rng = silt_benches::XorShift64::new(7);
    let value = vec![b'v'; VALUE_BYTES];
    let mut builder = BatchBuilder::new(BatchConfig::default());
    let mut written = 0u64;
    while written < records {
        for _ in 0..BATCH_BYTES / record_bytes {
            let key = format!("key-{:08}", rng.below(keys));
            builder
                .append(T0, Some(key.as_bytes()), Some(&value), &[])
                .expect("record");
            written += 1;
        }
        log.append(&builder.finish().expect("batch"))
            .expect("append");
    }
    let bases = log.segment_base_offsets().expect("bases");
    let closed = log.size_bytes().expect("size")
        - std::fs::metadata(silt_segment::log::segment_file(
            log.dir(),
            *bases.last().expect("active"),
            "log",
        ))
        .map_or(0, |m| m.len());
    (engine, log, closed)
}

fn compaction(c: &mut Criterion) {
    let probe = tempfile::tempdir().expect("dir");
    let (_, _, closed_bytes) = dirty_log(probe.path());
    drop(probe);
    let mut group = c.benchmark_group("compaction");
    group.sample_size(10);
    group.sampling_mode(SamplingMode::Flat);
    group.measurement_time(Duration::from_secs(10));
    group.throughput(Throughput::Bytes(closed_bytes));

    group.bench_function("silt_clean", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let dir = tempfile::tempdir().expect("dir");
                let (engine, log, _) = dirty_log(dir.path());
                let start = Instant::now();
                let stats = log.clean(T0 + 1).expect("clean").expect("eligible");
                total += start.elapsed();
                black_box(stats);
                drop(log);
                engine.close().expect("close");
            }
            total
        })
    });

    let source = vec![0x5au8; closed_bytes as usize];
    let mut target = vec![0u8; closed_bytes as usize];
    group.bench_function("baseline_memcpy", |b| {
        b.iter(|| {
            target.copy_from_slice(black_box(&source));
            black_box(&target);
        })
    });

    group.bench_function("baseline_write", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let dir = tempfile::tempdir().expect("dir");
                let mut file = std::fs::File::create(dir.path().join("f")).expect("file");
                let start = Instant::now();
                for chunk in source.chunks(1 << 20) {
                    file.write_all(chunk).expect("write");
                }
                total += start.elapsed();
            }
            total
        })
    });
    group.finish();
}

criterion_group!(benches, compaction);
criterion_main!(benches);
