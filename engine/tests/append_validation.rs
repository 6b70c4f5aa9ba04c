//! What `append` accepts: whole, valid RecordBatch v2 batches, checked before anything is
//! written. An empty slice, a flipped byte (CRC mismatch), a truncated batch, a batch over
//! `max.message.bytes` (`RecordTooLarge` naming topic, partition, size and limit) and a
//! batch whose records do not match its header are refused, and a refused append writes
//! nothing, not even the valid batches before the bad one. Several batches in one call get
//! consecutive offsets, and a call larger than `segment.bytes` rolls as needed and loses
//! nothing.

mod common;

use silt_engine::{Engine, EngineError, NewTopic};
use silt_segment::batch::{refresh_crc, Batch, Compression};
use silt_segment::SegmentError;

/// A topic `t` of one partition with `segment.bytes` = `segment_bytes`.
fn open_topic(dir: &std::path::Path, segment_bytes: u32) -> Engine {
    let engine = common::open(dir);
    engine
        .create_topic(common::small_topic("t", 1, segment_bytes).config("retention.ms", "-1"))
        .unwrap();
    engine
}

/// Asserts the partition holds exactly offsets `0..end`, values intact, in `size` bytes.
fn assert_holds(engine: &Engine, end: i64, size: u64) {
    let log = engine.log("t", 0).unwrap();
    assert_eq!(log.log_end_offset().unwrap(), end);
    assert_eq!(log.size_bytes().unwrap(), size);
    let records = common::read_all(engine, "t", 0, 0);
    assert_eq!(records.len() as i64, end);
    for (i, (offset, value)) in records.iter().enumerate() {
        assert_eq!(
            (*offset, value.as_str()),
            (i as i64, &*format!("value-{i}"))
        );
    }
}

#[test]
fn an_empty_append_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open_topic(dir.path(), 1 << 20);
    let err = engine.append("t", 0, &[]).unwrap_err();
    assert!(
        matches!(err, EngineError::Segment(SegmentError::EmptyAppend)),
        "{err:?}"
    );
    let log = engine.log("t", 0).unwrap();
    assert_eq!(log.segment_count(), 0, "no segment was created");
    assert_holds(&engine, 0, 0);
    assert_eq!(
        engine
            .append("t", 0, &common::batch(0, 3))
            .unwrap()
            .first_offset,
        0
    );
}

#[test]
fn a_flipped_byte_is_a_crc_mismatch_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open_topic(dir.path(), 1 << 20);
    let good = common::batch(0, 5);
    engine.append("t", 0, &good).unwrap();
    let size = good.len() as u64;

    // A value byte, in the records section the CRC covers.
    let mut bad = common::batch(5, 5);
    let last = bad.len() - 2;
    bad[last] ^= 0x01;
    let err = engine.append("t", 0, &bad).unwrap_err();
    assert!(
        matches!(err, EngineError::Segment(SegmentError::CrcMismatch { .. })),
        "{err:?}"
    );
    assert_holds(&engine, 5, size);

    let next = common::batch(5, 5);
    let info = engine.append("t", 0, &next).unwrap();
    assert_eq!((info.first_offset, info.last_offset), (5, 9));
    assert_holds(&engine, 10, size + next.len() as u64);
}

#[test]
fn every_bit_flip_from_the_length_on_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open_topic(dir.path(), 1 << 20);
    let good = common::batch(0, 3);
    engine.append("t", 0, &good).unwrap();
    let original = common::batch_of(3, 3, common::T0, Compression::Lz4);
    // The base offset (bytes 0..8) is overwritten on append and the partition leader epoch
    // (12..16) lies outside the CRC, as in Kafka; every other bit is checked.
    let positions = (8..12).chain(16..original.len());
    for position in positions {
        for bit in 0..8 {
            let mut bad = original.clone();
            bad[position] ^= 1 << bit;
            assert!(
                engine.append("t", 0, &bad).is_err(),
                "flipping bit {bit} of byte {position} was accepted"
            );
        }
    }
    assert_holds(&engine, 3, good.len() as u64);
}

#[test]
fn a_bad_batch_after_good_ones_refuses_the_whole_append() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open_topic(dir.path(), 1 << 20);
    let mut bytes = common::batch(0, 4);
    bytes.extend(common::batch(4, 4));
    let mut bad = common::batch(8, 4);
    let last = bad.len() - 1;
    bad[last] ^= 0x80;
    bytes.extend(&bad);
    assert!(engine.append("t", 0, &bytes).is_err());
    assert_holds(&engine, 0, 0);
}

#[test]
fn truncated_bytes_are_refused_and_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open_topic(dir.path(), 1 << 20);
    let first = common::batch(0, 5);
    engine.append("t", 0, &first).unwrap();
    let batch = common::batch(5, 5);
    for len in 1..batch.len() {
        let cut = &batch[..len];
        assert!(
            engine.append("t", 0, cut).is_err(),
            "a batch cut to {len} of {} bytes was accepted",
            batch.len()
        );
        // A whole batch followed by a cut one: nothing of either is written.
        let mut bytes = batch.clone();
        bytes.extend_from_slice(cut);
        assert!(
            engine.append("t", 0, &bytes).is_err(),
            "whole + cut to {len}"
        );
    }
    let err = engine
        .append("t", 0, &batch[..batch.len() - 1])
        .unwrap_err();
    assert!(
        matches!(err, EngineError::Segment(SegmentError::Incomplete { .. })),
        "{err:?}"
    );
    assert_holds(&engine, 5, first.len() as u64);
    assert_eq!(engine.append("t", 0, &batch).unwrap().first_offset, 5);
}

#[test]
fn garbage_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open_topic(dir.path(), 1 << 20);
    let mut state = 0x853c_49e6_748f_ea9bu64;
    for len in [1usize, 11, 12, 60, 61, 100, 1000] {
        let bytes: Vec<u8> = (0..len)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect();
        assert!(engine.append("t", 0, &bytes).is_err(), "{len} random bytes");
        assert!(
            engine.append("t", 0, &vec![0u8; len]).is_err(),
            "{len} zeros"
        );
    }
    assert_holds(&engine, 0, 0);
}

#[test]
fn a_batch_over_max_message_bytes_is_record_too_large() {
    let dir = tempfile::tempdir().unwrap();
    let engine = common::open(dir.path());
    let batch = common::batch(0, 20);
    let max = batch.len() as u32 - 1;
    engine
        .create_topic(NewTopic::new("t", 2).config("max.message.bytes", max.to_string()))
        .unwrap();
    let err = engine.append("t", 1, &batch).unwrap_err();
    let shown = err.to_string();
    match err {
        EngineError::RecordTooLarge {
            topic,
            partition,
            size,
            max: limit,
            limit: name,
        } => {
            assert_eq!(
                (topic.as_str(), partition, size, limit, name),
                ("t", 1, batch.len(), max, "max.message.bytes")
            );
        }
        other => panic!("expected RecordTooLarge, got {other:?}"),
    }
    for part in ["t", "1", &batch.len().to_string(), &max.to_string()] {
        assert!(shown.contains(part), "{shown:?} does not name {part}");
    }
    assert_eq!(engine.log("t", 1).unwrap().log_end_offset().unwrap(), 0);

    // Within the limit, and exactly at it, batches are accepted.
    let small = common::batch(0, 19);
    assert!(small.len() as u32 <= max);
    engine.append("t", 1, &small).unwrap();
    engine
        .alter_topic_config("t", [("max.message.bytes", &*batch.len().to_string())], [])
        .unwrap();
    assert_eq!(engine.append("t", 1, &batch).unwrap().first_offset, 19);
}

#[test]
fn one_oversized_batch_refuses_the_whole_append() {
    let dir = tempfile::tempdir().unwrap();
    let engine = common::open(dir.path());
    engine
        .create_topic(NewTopic::new("t", 1).config("max.message.bytes", "400"))
        .unwrap();
    let mut bytes = common::batch(0, 2);
    bytes.extend(common::batch(2, 2));
    let big = common::batch(4, 40);
    assert!(big.len() > 400);
    bytes.extend(&big);
    assert!(matches!(
        engine.append("t", 0, &bytes),
        Err(EngineError::RecordTooLarge { size, max: 400, .. }) if size == big.len()
    ));
    assert_holds(&engine, 0, 0);
}

#[test]
fn a_batch_larger_than_a_segment_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open_topic(dir.path(), 1024);
    let batch = common::batch(0, 100);
    assert!(batch.len() > 1024);
    assert!(matches!(
        engine.append("t", 0, &batch),
        Err(EngineError::RecordTooLarge { size, .. }) if size == batch.len()
    ));
    assert_holds(&engine, 0, 0);
}

#[test]
fn a_batch_whose_records_do_not_match_its_header_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open_topic(dir.path(), 1 << 20);
    // More records than lastOffsetDelta allows: the CRC is right, the count is not.
    let mut bad = common::batch(0, 5);
    bad[57..61].copy_from_slice(&6i32.to_be_bytes()); // recordsCount
    refresh_crc(&mut bad);
    assert!(
        engine.append("t", 0, &bad).is_err(),
        "recordsCount above lastOffsetDelta + 1"
    );
    assert_holds(&engine, 0, 0);
}

#[test]
fn a_batch_with_a_correct_crc_over_malformed_records_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open_topic(dir.path(), 1 << 20);
    let mut bad = common::batch(0, 5);
    // The first record's length varint (byte 61) claims far more bytes than the batch has.
    bad[61] = 0x7e;
    refresh_crc(&mut bad);
    Batch::parse(&bad, 0).unwrap().validate().unwrap();
    let result = engine.append("t", 0, &bad);
    let fetched = engine
        .fetch("t", 0, 0, 1 << 20)
        .map(|f| common_try_records(&f));
    assert!(
        result.is_err(),
        "accepted; reading it back gives {fetched:?}"
    );
    assert_holds(&engine, 0, 0);
}

#[test]
fn a_batch_whose_offset_range_exceeds_its_records_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open_topic(dir.path(), 1 << 20);
    // 5 records claiming offsets 0..=99: a producer batch must have exactly 100 records.
    let mut bad = common::batch(0, 5);
    bad[23..27].copy_from_slice(&99i32.to_be_bytes()); // lastOffsetDelta
    refresh_crc(&mut bad);
    let result = engine.append("t", 0, &bad);
    assert!(result.is_err(), "accepted as {result:?}");
    assert_holds(&engine, 0, 0);
}

/// The records of a fetch, or the error reading them gives.
fn common_try_records(fetch: &silt_engine::Fetch) -> Result<usize, String> {
    let mut buffer = silt_segment::batch::DecompressBuffer::new();
    fetch
        .for_each_record(&mut buffer, |_| {})
        .map_err(|e| e.to_string())
}

#[test]
fn several_batches_in_one_call_get_consecutive_offsets() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open_topic(dir.path(), 1 << 20);
    engine.append("t", 0, &common::batch(0, 3)).unwrap();
    let counts = [1u64, 7, 2, 10, 4];
    let codecs = [
        Compression::None,
        Compression::Lz4,
        Compression::Zstd,
        Compression::None,
        Compression::Gzip,
    ];
    let mut bytes = Vec::new();
    let mut next = 3;
    for (n, codec) in counts.iter().zip(codecs) {
        // The producer's base offsets are ignored: the log assigns its own.
        let mut batch = common::batch_of(next, *n, common::T0, codec);
        batch[..8].copy_from_slice(&1000i64.to_be_bytes());
        bytes.extend(batch);
        next += n;
    }
    let info = engine.append("t", 0, &bytes).unwrap();
    assert_eq!((info.first_offset, info.last_offset), (3, next as i64 - 1));
    assert_eq!(info.batches, 5);

    let fetch = engine.fetch("t", 0, 3, 1 << 20).unwrap();
    let ranges: Vec<(i64, i64)> = fetch
        .batches()
        .map(|b| {
            let b = b.unwrap();
            (b.base_offset(), b.last_offset())
        })
        .collect();
    assert_eq!(ranges, vec![(3, 3), (4, 10), (11, 12), (13, 22), (23, 26)]);
    let records = common::read_all(&engine, "t", 0, 0);
    assert_eq!(records.len() as u64, next);
    for (i, (offset, value)) in records.iter().enumerate() {
        assert_eq!(
            (*offset, value.as_str()),
            (i as i64, &*format!("value-{i}"))
        );
    }
}

#[test]
fn an_append_larger_than_a_segment_rolls_as_needed_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open_topic(dir.path(), 4096);
    engine.append("t", 0, &common::batch(0, 5)).unwrap();
    let mut bytes = Vec::new();
    let mut next = 5u64;
    for i in 0..80u64 {
        let n = 1 + i % 13;
        bytes.extend(common::batch(next, n));
        next += n;
    }
    assert!(bytes.len() > 3 * 4096, "{} bytes", bytes.len());
    let info = engine.append("t", 0, &bytes).unwrap();
    assert_eq!((info.first_offset, info.last_offset), (5, next as i64 - 1));
    assert_eq!(info.batches, 80);

    let log = engine.log("t", 0).unwrap();
    let bases = log.segment_base_offsets().unwrap();
    assert!(bases.len() >= 4, "{bases:?}");
    // Every closed segment is within segment.bytes.
    for &base in &bases[..bases.len() - 1] {
        let path = silt_segment::log::segment_file(log.dir(), base, "log");
        assert!(
            std::fs::metadata(path).unwrap().len() <= 4096,
            "segment {base}"
        );
    }
    let size = common::batch(0, 5).len() as u64 + bytes.len() as u64;
    assert_holds(&engine, next as i64, size);

    engine.close().unwrap();
    drop(engine);
    let engine = common::open(dir.path());
    assert_holds(&engine, next as i64, size);
}
