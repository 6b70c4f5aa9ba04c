//! A cleaning checks the CRC of every batch it reads, once: a damaged batch fails the
//! cleaning (it must not be rewritten under a fresh CRC), whether the damage is in the dirty
//! range (read by the map pass, whose check the filter pass relies on) or in a segment
//! cleaned before (read by the filter pass alone).

mod common;

use std::path::Path;

use common::compaction::{compact_topic, keyed_batch, roll};
use silt_engine::EngineError;
use silt_segment::batch::{Compression, HEADER_SIZE};
use silt_segment::SegmentError;

/// Appends twelve overwrites of keys `a` and `b`, then rolls.
fn overwrites(log: &silt_engine::Log, round: u32) {
    for i in 0..12 {
        let v = format!("{round}-{i}");
        log.append(&keyed_batch(
            &[("a", Some(&v)), ("b", Some(&v))],
            common::T0,
            Compression::None,
        ))
        .unwrap();
    }
    roll(log, common::T0);
}

/// Flips one bit in the records of the first batch of the segment at `base`.
fn damage(dir: &Path, base: i64) {
    let path = dir.join(format!("t-0/{base:020}.log"));
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[HEADER_SIZE + 3] ^= 0x10;
    std::fs::write(&path, bytes).unwrap();
}

fn assert_crc_mismatch(dir: &Path) {
    let engine = common::open(dir);
    let log = engine.log("t", 0).unwrap();
    match log.clean(common::T0) {
        Err(EngineError::Segment(SegmentError::CrcMismatch { .. })) => {}
        other => panic!("expected a CRC mismatch, got {other:?}"),
    }
    let leftovers: Vec<String> = std::fs::read_dir(dir.join("t-0"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".cleaned") || n.ends_with(".swap"))
        .collect();
    assert!(leftovers.is_empty(), "leftovers {leftovers:?}");
}

#[test]
fn a_damaged_dirty_batch_fails_the_cleaning() {
    let dir = tempfile::tempdir().unwrap();
    let engine = common::open(dir.path());
    engine.create_topic(compact_topic("t", 1024)).unwrap();
    overwrites(&engine.log("t", 0).unwrap(), 0);
    engine.close().unwrap();
    damage(dir.path(), 0);
    assert_crc_mismatch(dir.path());
}

#[test]
fn a_damaged_batch_below_the_dirty_range_fails_the_cleaning() {
    let dir = tempfile::tempdir().unwrap();
    let engine = common::open(dir.path());
    engine.create_topic(compact_topic("t", 1024)).unwrap();
    let log = engine.log("t", 0).unwrap();
    overwrites(&log, 0);
    log.clean(common::T0).unwrap().expect("dirty");
    overwrites(&log, 1);
    let first_dirty = log.first_dirty_offset();
    assert!(first_dirty > 0);
    drop(log);
    engine.close().unwrap();
    // Segment 0 lies below the first dirty offset: the next cleaning rewrites it without
    // mapping it, so only the filter pass reads it.
    damage(dir.path(), 0);
    assert_crc_mismatch(dir.path());
}
