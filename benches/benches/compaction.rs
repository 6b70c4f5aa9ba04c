//! Log compaction throughput: MB/s of log cleaned, beside what the machine does with the
//! same bytes in the same run: copy them (`memcpy`), write them into the page cache
//! (`write(2)`), checksum them (`crc32c`), and delete files of the same sizes (`unlink`, which
//! a cleaning does to the segments it replaced).
//!
//! Each iteration cleans a fresh log of ~64 MiB: 100-byte values whose keys are drawn from
//! a set of 10% as many keys as records, in 16 KiB uncompressed batches and 8 MiB segments,
//! everything but the active segment dirty. Building the log happens outside the timed
//! region; the timed region is one `Log::clean`: map the dirty range, rewrite every closed
//! segment, swap the cleaned segments in (syncs included) and release the old ones (their
//! files deleted). Throughput counts the bytes of the closed segments, each of which the
//! cleaning reads and rewrites (checked every iteration), as Kafka's cleaner reports "MB of
//! log processed" over the whole cleaning.
//!
//! Target (from the issue): `silt_clean` >= 200 MB/s.

use std::hint::black_box;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
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

/// A log built by [`dirty_log`]: its engine, the log, and the sizes of its closed segments.
struct DirtyLog {
    engine: Engine,
    log: Arc<Log>,
    closed_sizes: Vec<u64>,
}

/// A data directory holding one compacted partition of about `LOG_BYTES` of dirty closed
/// segments, all of it synced (so the cleaning does not wait on the build's writeback).
fn dirty_log(dir: &Path) -> DirtyLog {
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
    log.flush().expect("flush");
    let bases = log.segment_base_offsets().expect("bases");
    let closed_sizes = bases
        .iter()
        .take(bases.len().saturating_sub(1))
        .map(|&base| {
            let path = silt_segment::log::segment_file(log.dir(), base, "log");
            std::fs::metadata(path).expect("segment").len()
        })
        .collect();
    DirtyLog {
        engine,
        log,
        closed_sizes,
    }
}

/// Cleans a fresh dirty log; returns the time `Log::clean` took.
fn clean_once(closed_bytes: u64) -> Duration {
    let dir = tempfile::tempdir().expect("dir");
    let built = dirty_log(dir.path());
    assert_eq!(built.closed_sizes.iter().sum::<u64>(), closed_bytes);
    let start = Instant::now();
    let stats = built.log.clean(T0 + 1).expect("clean").expect("eligible");
    let elapsed = start.elapsed();
    // Every closed segment was read and rewritten: the throughput's bytes are the cleaning's.
    assert_eq!(stats.segments_cleaned, built.closed_sizes.len());
    assert!(stats.records_removed > 0);
    black_box(stats);
    drop(built.log);
    built.engine.close().expect("close");
    elapsed
}

fn compaction(c: &mut Criterion) {
    let probe = tempfile::tempdir().expect("dir");
    let built = dirty_log(probe.path());
    let closed_sizes = built.closed_sizes.clone();
    let closed_bytes: u64 = closed_sizes.iter().sum();
    let stats = built.log.clean(T0 + 1).expect("clean").expect("eligible");
    println!(
        "compaction: {} closed segments, {closed_bytes} bytes; one cleaning read {} bytes \
         (the map pass reads the dirty ones too), wrote {} bytes in {} segment(s)",
        closed_sizes.len(),
        stats.bytes_read,
        stats.bytes_written,
        built.log.segment_count() - 1,
    );
    drop(built);
    drop(probe);

    let mut group = c.benchmark_group("compaction");
    group.sample_size(10);
    group.sampling_mode(SamplingMode::Flat);
    group.measurement_time(Duration::from_secs(10));
    group.throughput(Throughput::Bytes(closed_bytes));

    group.bench_function("silt_clean", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| clean_once(closed_bytes)).sum())
    });

    let source: Vec<u8> = {
        let mut rng = silt_benches::XorShift64::new(11);
        (0..closed_bytes).map(|_| rng.next_u64() as u8).collect()
    };
    let mut target = vec![0u8; source.len()];
    group.bench_function("baseline_memcpy", |b| {
        b.iter(|| {
            target.copy_from_slice(black_box(&source));
            black_box(&target);
        })
    });

    group.bench_function("baseline_crc32c", |b| {
        b.iter(|| black_box(crc32c::crc32c(black_box(&source))))
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

    // Deleting synced files of the closed segments' sizes: what releasing the replaced
    // segments costs a cleaning (on a file system mounted with `discard`, most of it).
    group.bench_function("baseline_unlink", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let dir = tempfile::tempdir().expect("dir");
                let mut paths = Vec::new();
                let mut at = 0usize;
                for (i, &size) in closed_sizes.iter().enumerate() {
                    let path = dir.path().join(format!("{i}.log"));
                    let mut file = std::fs::File::create(&path).expect("file");
                    let bytes = source.get(at..at + size as usize).expect("sizes sum up");
                    file.write_all(bytes).expect("write");
                    file.sync_all().expect("sync");
                    at += size as usize;
                    paths.push(path);
                }
                let start = Instant::now();
                for path in &paths {
                    std::fs::remove_file(path).expect("unlink");
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
