//! Helpers shared by the segment tests.
#![allow(dead_code)]

use silt_segment::batch::{Batch, BatchBuilder, BatchConfig, Compression, DecompressBuffer};
use silt_segment::log::SegmentConfig;

#[path = "../../../index/tests/common/files.rs"]
pub mod files;

/// A batch of `records` records whose values say which batch and record they are.
pub fn batch(id: u64, records: u32, value_len: usize, compression: Compression) -> Vec<u8> {
    let mut builder = BatchBuilder::new(BatchConfig {
        compression,
        ..BatchConfig::default()
    });
    for i in 0..records {
        let mut value = format!("batch {id} record {i} ").into_bytes();
        value.resize(value_len.max(value.len()), b'x');
        let key = format!("k{}", (id + u64::from(i)) % 7);
        builder
            .append(
                1_700_000_000_000 + id as i64 * 10 + i64::from(i),
                Some(key.as_bytes()),
                Some(&value),
                &[],
            )
            .unwrap();
    }
    builder.finish().unwrap()
}

/// A small segment config: 1 MiB segments, small indexes, a small index interval.
pub fn small_config() -> SegmentConfig {
    SegmentConfig {
        segment_bytes: 1 << 20,
        segment_index_bytes: 4096,
        index_interval_bytes: 256,
        ..SegmentConfig::default()
    }
}

/// A batch of one record holding `value` (null key, a fixed timestamp).
pub fn value_batch(value: &str) -> Vec<u8> {
    let mut builder = BatchBuilder::new(BatchConfig::default());
    builder
        .append(1_700_000_000_000, None, Some(value.as_bytes()), &[])
        .unwrap();
    builder.finish().unwrap()
}

/// (offset, value) of every record in `bytes` (back-to-back batches), validating each batch.
pub fn records_of(bytes: &[u8]) -> Vec<(i64, Vec<u8>)> {
    let mut buffer = DecompressBuffer::new();
    let mut out = Vec::new();
    for batch in silt_segment::batch::Batches::new(bytes, 0) {
        let batch: Batch<'_> = batch.unwrap();
        batch.validate().unwrap();
        for r in batch.records(&mut buffer).unwrap() {
            let r = r.unwrap();
            out.push((r.offset, r.value.unwrap_or_default().to_vec()));
        }
    }
    out
}

/// Copies a segment's three files from one directory to another.
pub fn copy_segment(from: &std::path::Path, to: &std::path::Path, base_offset: i64) {
    for suffix in ["log", "index", "timeindex"] {
        let (src, dst) = (
            silt_segment::log::segment_file(from, base_offset, suffix),
            silt_segment::log::segment_file(to, base_offset, suffix),
        );
        std::fs::copy(src, dst).unwrap();
    }
}

/// Sets the modification time of every file in `dir` to a fixed time long past, so that
/// any later write shows in `snapshot`.
pub fn age_files(dir: &std::path::Path) {
    let past = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000_000);
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let file = std::fs::File::options().write(true).open(&path).unwrap();
        file.set_modified(past).unwrap();
    }
}

/// (name, length, modification time, bytes) of every file in `dir`, sorted by name.
pub fn snapshot(dir: &std::path::Path) -> Vec<(String, u64, std::time::SystemTime, Vec<u8>)> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| {
            let path = entry.unwrap().path();
            let meta = std::fs::metadata(&path).unwrap();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (
                name,
                meta.len(),
                meta.modified().unwrap(),
                std::fs::read(&path).unwrap(),
            )
        })
        .collect();
    files.sort_by(|a, b| a.0.cmp(&b.0));
    files
}
