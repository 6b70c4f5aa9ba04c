//! The read path: whole batches borrowed from the map, records before the fetch offset
//! skipped, compressed batches decompressed, raw bytes unchanged, and typed out-of-range
//! errors carrying both bounds.

mod common;

use silt_engine::EngineError;
use silt_segment::batch::{Batch, Compression, DecompressBuffer};

#[test]
fn fetch_skips_records_before_the_offset_inside_the_first_batch() {
    let dir = tempfile::tempdir().unwrap();
    let engine = common::open(dir.path());
    engine
        .create_topic(common::small_topic("t", 1, 1 << 20))
        .unwrap();
    engine.append("t", 0, &common::batch(0, 10)).unwrap();
    engine.append("t", 0, &common::batch(10, 10)).unwrap();

    let fetch = engine.fetch("t", 0, 7, 1 << 20).unwrap();
    let got = common::records(&fetch);
    assert_eq!(got.first().unwrap(), &(7, "value-7".to_string()));
    assert_eq!(got.len(), 13);
    assert_eq!(fetch.next_offset(), 20);
    assert_eq!(fetch.log_end_offset(), 20);
    // The raw bytes start with the whole batch holding offset 7.
    let first = Batch::parse(fetch.bytes(), 0).unwrap();
    assert_eq!(first.base_offset(), 0);
}

#[test]
fn uncompressed_values_borrow_from_the_map() {
    let dir = tempfile::tempdir().unwrap();
    let engine = common::open(dir.path());
    engine
        .create_topic(common::small_topic("t", 1, 1 << 20))
        .unwrap();
    engine.append("t", 0, &common::batch(0, 3)).unwrap();
    let fetch = engine.fetch("t", 0, 0, 1 << 20).unwrap();
    let raw = fetch.bytes().as_ptr_range();
    let mut buffer = DecompressBuffer::new();
    fetch
        .for_each_record(&mut buffer, |r| {
            let v = r.value.unwrap().as_ptr();
            assert!(raw.contains(&v), "value points into the fetched map bytes");
        })
        .unwrap();
}

#[test]
fn compressed_batches_decompress_into_the_reused_buffer() {
    let dir = tempfile::tempdir().unwrap();
    let engine = common::open(dir.path());
    engine
        .create_topic(common::small_topic("t", 1, 1 << 20))
        .unwrap();
    let codecs = [
        Compression::None,
        Compression::Lz4,
        Compression::Zstd,
        Compression::Gzip,
    ];
    for (i, codec) in codecs.into_iter().enumerate() {
        let first = i as u64 * 50;
        let b = common::batch_of(first, 50, common::T0, codec);
        engine.append("t", 0, &b).unwrap();
    }
    let all = common::read_all(&engine, "t", 0, 0);
    assert_eq!(all.len(), 200);
    for (i, (offset, value)) in all.iter().enumerate() {
        assert_eq!(*offset, i as i64);
        assert_eq!(value, &format!("value-{i}"));
    }
    // Starting inside a compressed batch skips its first records too.
    let fetch = engine.fetch("t", 0, 120, 1 << 20).unwrap();
    assert_eq!(common::records(&fetch).first().unwrap().0, 120);
}

#[test]
fn raw_bytes_are_the_appended_bytes_with_their_offsets() {
    let dir = tempfile::tempdir().unwrap();
    let engine = common::open(dir.path());
    engine
        .create_topic(common::small_topic("t", 1, 1 << 20))
        .unwrap();
    engine.append("t", 0, &common::batch(0, 4)).unwrap();
    let mut b = common::batch(4, 4);
    engine.append("t", 0, &b).unwrap();
    let fetch = engine.fetch("t", 0, 4, 1 << 20).unwrap();
    // Only the base offset (outside the CRC) differs from what was appended.
    b[..8].copy_from_slice(&4i64.to_be_bytes());
    assert_eq!(fetch.bytes(), &b[..]);
    let (path, position) = fetch.file_region().unwrap();
    assert!(path.ends_with("t-0/00000000000000000000.log"));
    let on_disk = std::fs::read(path).unwrap();
    let p = position as usize;
    assert_eq!(
        &on_disk[p..p + b.len()],
        &b[..],
        "the region is the file's bytes"
    );
}

#[test]
fn max_bytes_limits_whole_batches_but_returns_at_least_one() {
    let dir = tempfile::tempdir().unwrap();
    let engine = common::open(dir.path());
    engine
        .create_topic(common::small_topic("t", 1, 1 << 20))
        .unwrap();
    for i in 0..5 {
        engine.append("t", 0, &common::batch(i * 10, 10)).unwrap();
    }
    let one = engine.fetch("t", 0, 0, 1).unwrap();
    assert_eq!(one.batches().count(), 1, "at least one whole batch");
    let all = engine.fetch("t", 0, 0, 1 << 20).unwrap();
    let sizes: Vec<usize> = all.batches().map(|b| b.unwrap().size()).collect();
    assert_eq!(sizes.len(), 5);
    let two = engine
        .fetch("t", 0, 0, sizes[0] + sizes[1] + sizes[2] - 1)
        .unwrap();
    assert_eq!(two.batches().count(), 2);
    assert_eq!(two.next_offset(), 20);
}

#[test]
fn offsets_outside_the_log_are_out_of_range_with_both_bounds() {
    let dir = tempfile::tempdir().unwrap();
    let engine = common::open(dir.path());
    engine
        .create_topic(common::small_topic("t", 1, 1 << 20))
        .unwrap();
    engine.append("t", 0, &common::batch(0, 10)).unwrap();
    engine.delete_records("t", 0, 3).unwrap();

    for offset in [-1, 2, 11, i64::MAX] {
        let err = engine.fetch("t", 0, offset, 1024).unwrap_err();
        match err {
            EngineError::OffsetOutOfRange {
                offset: o,
                log_start,
                log_end,
                ..
            } => {
                assert_eq!((o, log_start, log_end), (offset, 3, 10));
            }
            other => panic!("expected OffsetOutOfRange, got {other}"),
        }
    }
    let at_end = engine.fetch("t", 0, 10, 1024).unwrap();
    assert!(at_end.is_empty());
    assert_eq!(
        common::records(&engine.fetch("t", 0, 3, 1024).unwrap()).len(),
        7
    );
}

#[test]
fn unknown_topic_and_partition_are_typed_errors() {
    let dir = tempfile::tempdir().unwrap();
    let engine = common::open(dir.path());
    engine
        .create_topic(common::small_topic("t", 2, 1 << 20))
        .unwrap();
    assert!(matches!(
        engine.fetch("nope", 0, 0, 1).unwrap_err(),
        EngineError::UnknownTopic { .. }
    ));
    assert!(matches!(
        engine.fetch("t", 2, 0, 1).unwrap_err(),
        EngineError::UnknownPartition {
            partition: 2,
            partitions: 2,
            ..
        }
    ));
    let empty = engine.fetch("t", 1, 0, 1).unwrap();
    assert!(empty.is_empty());
    assert_eq!(empty.log_end_offset(), 0);
}
