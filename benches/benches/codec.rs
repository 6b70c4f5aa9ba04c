//! RecordBatch v2 codec throughput, each beside the codec or checksum it is built on.
//!
//! Workload: 100,000 records (100-byte text-like values, 8–16 byte keys, CreateTime
//! timestamps), 100 records per batch, so ~1000 batches and ~12 MB back to back: more than
//! L2, so the figures include streaming the bytes from L3/memory as a reader would.
//!
//! Targets (from the issue):
//! - decode (parse + CRC-32C + every record), uncompressed: >= 40M records/s.
//! - encode, uncompressed: >= 20M records/s.
//! - encode, lz4 / zstd: >= 0.8x of the codec alone on the same records sections.

use std::hint::black_box;
use std::io::Write;
use std::time::Duration;

use criterion::{
    criterion_group, criterion_main, BenchmarkGroup, Criterion, SamplingMode, Throughput,
};
use lz4_flex::frame::FrameEncoder;
use silt_benches::{
    batch_ranges, encode_batches, encode_into, kafka_lz4_frame, records_sections, RecordSet,
};
use silt_segment::batch::{
    field, BatchBuilder, BatchConfig, Batches, Compression, DecompressBuffer,
};

const RECORDS: usize = 100_000;
const RECORDS_PER_BATCH: usize = 100;
const VALUE_BYTES: usize = 100;
const SEED: u64 = 0x5117_C0DE;

fn configure(group: &mut BenchmarkGroup<'_, criterion::measurement::WallTime>) {
    group
        .sample_size(15)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2));
}

/// Walks every batch in `bytes` (checking its CRC if `VALIDATE`) and every record in it,
/// touching each key and value; returns the bytes touched.
fn read_all<const VALIDATE: bool>(bytes: &[u8], buffer: &mut DecompressBuffer) -> usize {
    let mut touched = 0usize;
    for batch in Batches::new(bytes, 0) {
        let batch = batch.expect("batch parses");
        if VALIDATE {
            batch.validate().expect("CRC matches");
        }
        for record in batch.records(buffer).expect("records") {
            let record = record.expect("record parses");
            touched += record.key.map_or(0, <[u8]>::len);
            touched += record.value.map_or(0, <[u8]>::len);
        }
    }
    touched
}

fn decode(c: &mut Criterion) {
    let records = RecordSet::generate(RECORDS, VALUE_BYTES, SEED);
    let bytes = encode_batches(&records, RECORDS_PER_BATCH, BatchConfig::default());
    let ranges = batch_ranges(&bytes);

    let mut group = c.benchmark_group("decode");
    configure(&mut group);
    group.throughput(Throughput::Elements(RECORDS as u64));

    // What a consumer does: walk the batches, check each CRC, read every record.
    group.bench_function("silt_parse_validate_iterate", |b| {
        let mut buffer = DecompressBuffer::new();
        b.iter(|| read_all::<true>(black_box(&bytes), &mut buffer))
    });

    // Not a target: the same walk without the CRC, to split silt's time between the
    // checksum and the record parser.
    group.bench_function("silt_parse_iterate_no_crc", |b| {
        let mut buffer = DecompressBuffer::new();
        b.iter(|| read_all::<false>(black_box(&bytes), &mut buffer))
    });

    // Baseline: the CRC-32C alone over exactly the ranges `validate` covers.
    group.bench_function("baseline_crc32c", |b| {
        b.iter(|| {
            let bytes = black_box(&bytes);
            let mut acc = 0u32;
            for range in &ranges {
                acc ^= crc32c::crc32c(&bytes[range.start + field::ATTRIBUTES..range.end]);
            }
            black_box(acc)
        })
    });
    group.finish();
}

fn encode(c: &mut Criterion) {
    let records = RecordSet::generate(RECORDS, VALUE_BYTES, SEED);
    let plain = encode_batches(&records, RECORDS_PER_BATCH, BatchConfig::default());
    let plain_ranges = batch_ranges(&plain);
    let sections = records_sections(&plain);
    let largest_section = sections.iter().map(Vec::len).max().unwrap_or(0);

    let mut group = c.benchmark_group("encode");
    // zstd takes ~50 ms an iteration here: flat sampling keeps the group within its time.
    configure(&mut group);
    group
        .sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .measurement_time(Duration::from_secs(3));
    group.throughput(Throughput::Elements(RECORDS as u64));

    let silt = |group: &mut BenchmarkGroup<'_, _>, name: &str, config: BatchConfig| {
        group.bench_function(name, |b| {
            let mut builder = BatchBuilder::new(config);
            let mut out = Vec::with_capacity(plain.len() + plain.len() / 8);
            b.iter(|| {
                out.clear();
                encode_into(
                    &mut builder,
                    black_box(&records),
                    RECORDS_PER_BATCH,
                    &mut out,
                )
                .expect("records encode");
                black_box(out.len())
            })
        });
    };

    // Uncompressed: silt's builder against copying the bytes it produces, batch by batch.
    silt(&mut group, "none/silt", BatchConfig::default());
    group.bench_function("none/baseline_memcpy", |b| {
        let mut out = Vec::with_capacity(plain.len());
        b.iter(|| {
            out.clear();
            let plain = black_box(&plain);
            for range in &plain_ranges {
                out.extend_from_slice(&plain[range.clone()]);
            }
            black_box(out.len())
        })
    });

    // lz4: silt's builder against lz4_flex's frame encoder (same frame settings) on the
    // records sections alone.
    let lz4 = BatchConfig {
        compression: Compression::Lz4,
        ..BatchConfig::default()
    };
    silt(&mut group, "lz4/silt", lz4);
    group.bench_function("lz4/baseline_lz4_flex_frame", |b| {
        let mut out = Vec::with_capacity(plain.len());
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

    // zstd at Kafka's default level 3, and level 1: silt against zstd's bulk compressor.
    for level in [3, 1] {
        let config = BatchConfig {
            compression: Compression::Zstd,
            zstd_level: level,
            ..BatchConfig::default()
        };
        silt(&mut group, &format!("zstd{level}/silt"), config);
        group.bench_function(format!("zstd{level}/baseline_zstd_bulk"), |b| {
            let mut compressor = zstd::bulk::Compressor::new(level).expect("zstd context");
            let mut scratch = Vec::with_capacity(zstd::zstd_safe::compress_bound(largest_section));
            b.iter(|| {
                let mut total = 0usize;
                for section in black_box(&sections) {
                    compressor
                        .compress_to_buffer(section.as_slice(), &mut scratch)
                        .expect("zstd compresses");
                    total += scratch.len();
                }
                black_box(total)
            })
        });
    }
    group.finish();
}

criterion_group!(benches, decode, encode);
criterion_main!(benches);
