//! The producer's throughput (issue 4), each figure beside its same-run baseline.
//!
//! Every workload sends 100-byte text-like values to a topic of 8 partitions with `acks=1`
//! and no compression unless its name says otherwise. A silt iteration opens a fresh engine
//! and topic in `$TMPDIR` and a producer (untimed), sends its records and calls `flush()`;
//! the timed region ends when `flush()` returns, that is when every record is acknowledged.
//! Then (untimed) it checks that the topic holds every record and deletes the data. Sends
//! are asynchronous, as a Kafka client's are: with `acks=all` too, `flush()` returns once the
//! group-committed syncs cover every record. Timed regions that sync start after an untimed
//! sync(2), so that they do not wait on what earlier iterations left to write back.
//!
//! - `produce_100b`: one thread with null keys (target ≥ 15M records/s and ≥ 1.5× the
//!   `commitlog` crate appending the same values in batches of 100); two threads (≥ 1.6× one
//!   thread); one thread with 100,000 distinct keys (≥ 10M records/s).
//! - `produce_lz4`: one thread with `compression.type=lz4` against lz4_flex's frame encoder
//!   alone on the records sections of the batches the producer builds (≥ 0.8×).
//! - `produce_acks_all`: eight threads with `acks=all` against a write and an fdatasync per
//!   record in the same filesystem (≥ 10×).

use std::fs::File;
use std::hint::black_box;
use std::io::Write;
use std::time::{Duration, Instant};

use commitlog::message::{MessageBuf, MessageSet};
use commitlog::{CommitLog, LogOptions};
use criterion::{
    criterion_group, criterion_main, BenchmarkGroup, Criterion, SamplingMode, Throughput,
};
use lz4_flex::frame::FrameEncoder;
use silt_benches::kafka_lz4_frame;
use silt_benches::produce::{
    engine_with_topic, first_batch_compression, records_in_topic, send_range, settle_disk,
    topic_records_sections, Keys, Values,
};
use silt_engine::{Acks, ProducerConfig};
use silt_segment::batch::Compression;

/// Records per iteration of the `acks=1` workloads: ~220 MB of batches, a few hundred ms.
const RECORDS: usize = 2_000_000;
/// Records per iteration of `acks=all`.
const ACKS_ALL_RECORDS: usize = 1_000_000;
/// Records per iteration of the fdatasync-per-record baseline: ~25-100 µs each here, but
/// over 1 ms at times on this shared disk, so few enough to bound the bench's time.
const FSYNC_RECORDS: usize = 3_000;
const VALUE_BYTES: usize = 100;
const SEED: u64 = 0x5117_0004;
/// Segments are preallocated at `segment.bytes`: 64 MiB holds a partition's share of an
/// iteration (~28 MB) without a roll, and keeps the 8 preallocated files at 512 MiB.
const SEGMENT_BYTES: u32 = 64 << 20;
/// commitlog messages per append (the batches of 100).
const COMMITLOG_BATCH: usize = 100;

/// What a silt iteration sends.
struct Workload<'a> {
    config: ProducerConfig,
    threads: usize,
    records: usize,
    values: &'a Values,
    keys: Option<&'a Keys>,
}

/// `iters` silt iterations; returns the time from the first send to `flush()` returning,
/// summed. Engine, topic and producer creation, close, the check and the deletion are not
/// timed.
fn silt_iterations(iters: u64, workload: &Workload<'_>) -> Duration {
    let mut timed = Duration::ZERO;
    for _ in 0..iters {
        let dir = tempfile::tempdir().expect("tempdir");
        let engine = engine_with_topic(dir.path(), SEGMENT_BYTES);
        let producer = engine.producer(workload.config.clone()).expect("producer");
        let per_thread = workload.records / workload.threads;
        if workload.config.acks == Acks::All {
            settle_disk();
        }
        let start = Instant::now();
        if workload.threads == 1 {
            send_range(
                &producer,
                workload.values,
                workload.keys,
                0..workload.records,
            );
        } else {
            std::thread::scope(|s| {
                for t in 0..workload.threads {
                    let producer = producer.clone();
                    let range = t * per_thread..(t + 1) * per_thread;
                    s.spawn(move || send_range(&producer, workload.values, workload.keys, range));
                }
            });
        }
        producer.flush().expect("flush");
        timed += start.elapsed();
        producer.close().expect("close producer");
        assert_eq!(
            records_in_topic(&engine),
            (per_thread * workload.threads) as u64,
            "every record acknowledged is in the topic"
        );
        assert_eq!(
            first_batch_compression(&engine),
            Some(workload.config.compression_type)
        );
        engine.close().expect("close engine");
    }
    timed
}

/// `iters` times: `records` values appended to a fresh commitlog in `MessageBuf`s of
/// [`COMMITLOG_BATCH`]. Its append writes to the page cache (`write` + a mapped index), the
/// same durability as `acks=1`, so its `flush` (an msync) is not called. The index is sized
/// for the whole run so it never grows, and the segment (1 GB, not preallocated) never rolls.
fn commitlog_iterations(iters: u64, values: &Values, records: usize) -> Duration {
    let mut timed = Duration::ZERO;
    for _ in 0..iters {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut options = LogOptions::new(dir.path());
        options.index_max_items(records);
        let mut log = CommitLog::new(options).expect("commitlog");
        let mut buf = MessageBuf::default();
        let start = Instant::now();
        for i in 0..records {
            buf.push(values.get(i)).expect("push");
            if buf.len() == COMMITLOG_BATCH {
                log.append(&mut buf).expect("append");
                buf.clear();
            }
        }
        if buf.len() > 0 {
            log.append(&mut buf).expect("append");
        }
        timed += start.elapsed();
        assert_eq!(log.next_offset(), records as u64);
    }
    timed
}

/// `iters` times: `records` values each written to a fresh file in `$TMPDIR` and
/// `fdatasync`ed before the next: what a producer without group commit pays for `acks=all`.
fn fsync_iterations(iters: u64, values: &Values, records: usize) -> Duration {
    let mut timed = Duration::ZERO;
    for _ in 0..iters {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut file = File::create(dir.path().join("records")).expect("create");
        settle_disk();
        let start = Instant::now();
        for i in 0..records {
            file.write_all(values.get(i)).expect("write");
            file.sync_data().expect("fdatasync");
        }
        timed += start.elapsed();
    }
    timed
}

/// Iterations last 0.1–0.6 s: flat sampling, 10 samples of at least one iteration each.
/// (Engine creation and data deletion are untimed but take wall time too: the whole bench
/// runs in about two minutes.)
fn configure(group: &mut BenchmarkGroup<'_, criterion::measurement::WallTime>) {
    group
        .sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(7));
}

fn acks_1() -> ProducerConfig {
    ProducerConfig {
        acks: Acks::Leader,
        ..ProducerConfig::default()
    }
}

fn produce_100b(c: &mut Criterion) {
    let values = Values::generate(VALUE_BYTES, SEED);
    let keys = Keys::generate();
    let silt = |threads, keys| Workload {
        config: acks_1(),
        threads,
        records: RECORDS,
        values: &values,
        keys,
    };
    let (one, two, keyed) = (silt(1, None), silt(2, None), silt(1, Some(&keys)));

    let mut group = c.benchmark_group("produce_100b");
    configure(&mut group);
    group.throughput(Throughput::Elements(RECORDS as u64));
    group.bench_function("silt_1_thread", |b| {
        b.iter_custom(|iters| silt_iterations(iters, &one))
    });
    group.bench_function("commitlog_batches_of_100", |b| {
        b.iter_custom(|iters| commitlog_iterations(iters, &values, RECORDS))
    });
    group.bench_function("silt_2_threads", |b| {
        b.iter_custom(|iters| silt_iterations(iters, &two))
    });
    group.bench_function("silt_keyed_100k_keys", |b| {
        b.iter_custom(|iters| silt_iterations(iters, &keyed))
    });
    group.finish();
}

fn produce_lz4(c: &mut Criterion) {
    let values = Values::generate(VALUE_BYTES, SEED);
    let lz4 = Workload {
        config: ProducerConfig {
            compression_type: Compression::Lz4,
            ..acks_1()
        },
        threads: 1,
        records: RECORDS,
        values: &values,
        keys: None,
    };
    // The baseline's input: the records sections of the batches this producer builds for
    // these records, taken from an uncompressed run of the same workload.
    let sections = {
        let dir = tempfile::tempdir().expect("tempdir");
        let engine = engine_with_topic(dir.path(), SEGMENT_BYTES);
        let producer = engine.producer(acks_1()).expect("producer");
        send_range(&producer, &values, None, 0..RECORDS);
        producer.close().expect("close producer");
        let sections = topic_records_sections(&engine);
        engine.close().expect("close engine");
        sections
    };
    let section_bytes: usize = sections.iter().map(Vec::len).sum();
    eprintln!(
        "produce_lz4: {} records sections, {:.1} KiB on average",
        sections.len(),
        section_bytes as f64 / sections.len() as f64 / 1024.0
    );

    let mut group = c.benchmark_group("produce_lz4");
    configure(&mut group);
    // ~0.5 s an iteration: room for ten.
    group.measurement_time(Duration::from_secs(9));
    group.throughput(Throughput::Elements(RECORDS as u64));
    group.bench_function("silt_lz4", |b| {
        b.iter_custom(|iters| silt_iterations(iters, &lz4))
    });
    group.bench_function("lz4_flex_records_sections", |b| {
        let mut out = Vec::with_capacity(section_bytes);
        b.iter(|| {
            out.clear();
            for section in black_box(&sections) {
                let mut encoder = FrameEncoder::with_frame_info(kafka_lz4_frame(), &mut out);
                encoder.write_all(section).expect("lz4 writes to a Vec");
                encoder.finish().expect("lz4 finishes");
            }
            black_box(out.len())
        })
    });
    group.finish();
}

fn produce_acks_all(c: &mut Criterion) {
    let values = Values::generate(VALUE_BYTES, SEED);
    let all = Workload {
        config: ProducerConfig {
            acks: Acks::All,
            ..ProducerConfig::default()
        },
        threads: 8,
        records: ACKS_ALL_RECORDS,
        values: &values,
        keys: None,
    };

    let mut group = c.benchmark_group("produce_acks_all");
    configure(&mut group);
    group.throughput(Throughput::Elements(ACKS_ALL_RECORDS as u64));
    group.bench_function("silt_8_threads", |b| {
        b.iter_custom(|iters| silt_iterations(iters, &all))
    });
    group.throughput(Throughput::Elements(FSYNC_RECORDS as u64));
    group.bench_function("fsync_per_record", |b| {
        b.iter_custom(|iters| fsync_iterations(iters, &values, FSYNC_RECORDS))
    });
    group.finish();
}

criterion_group!(benches, produce_100b, produce_lz4, produce_acks_all);
criterion_main!(benches);
