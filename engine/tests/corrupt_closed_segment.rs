//! A closed segment whose log is damaged is refused, not cut: every read that reaches it
//! fails with `CorruptSegment` naming the file and the position where its valid batches
//! end, the file is left as it is, the other segments read on, and retention still deletes
//! it when its time comes. (Recovery used to cut such a segment at its first bad batch the
//! first time a read mapped it, and the records after the cut vanished without an error.)

mod common;

use std::path::{Path, PathBuf};

use silt_engine::{Engine, EngineError};

/// Topic `t`: 1 partition of 2 KiB segments, 60 batches of 3 records; closed cleanly.
/// Returns the base offsets of its segments.
fn written(dir: &Path, compacted: bool) -> Vec<i64> {
    let engine = common::open(dir);
    let mut topic = common::small_topic("t", 1, 2048);
    if compacted {
        topic = topic.config("cleanup.policy", "compact");
    }
    engine.create_topic(topic).unwrap();
    for i in 0..60 {
        engine.append("t", 0, &common::batch(i * 3, 3)).unwrap();
    }
    let bases = engine.log("t", 0).unwrap().segment_base_offsets().unwrap();
    assert!(bases.len() >= 4, "{bases:?}");
    engine.close().unwrap();
    bases
}

fn log_file(dir: &Path, base: i64) -> PathBuf {
    dir.join(format!("t-0/{base:020}.log"))
}

/// Positions of the batches of a `.log` file.
fn batch_positions(bytes: &[u8]) -> Vec<usize> {
    silt_segment::batch::Batches::new(bytes, 0)
        .map(|b| b.unwrap().position() as usize)
        .collect()
}

/// Reopens `dir`: reads of segment 1 (of `bases`) fail with `CorruptSegment` at `position`,
/// reads of segments 0 and 2 succeed, and the damaged file is not touched.
fn assert_refused(dir: &Path, bases: &[i64], position: u64) {
    let damaged = log_file(dir, bases[1]);
    let bytes = std::fs::read(&damaged).unwrap();
    for _ in 0..2 {
        let engine = common::open(dir);
        for offset in [bases[1], bases[2] - 1] {
            match engine.fetch("t", 0, offset, 1 << 20) {
                Err(EngineError::CorruptSegment {
                    path,
                    position: at,
                    reason,
                }) => {
                    assert_eq!(path, damaged);
                    assert_eq!(at, position, "{reason}");
                    let shown = engine.fetch("t", 0, offset, 1).unwrap_err().to_string();
                    assert!(shown.contains(&damaged.display().to_string()), "{shown}");
                }
                other => panic!("fetch at {offset}: expected CorruptSegment, got {other:?}"),
            }
        }
        let before = common::records(&engine.fetch("t", 0, 0, 1 << 20).unwrap());
        assert_eq!(before.first().map(|r| r.0), Some(0));
        let after = common::read_all(&engine, "t", 0, bases[2]);
        assert_eq!(after.first().map(|r| r.0), Some(bases[2]));
        assert_eq!(after.last().map(|r| r.0), Some(179));
        engine.close().unwrap();
        assert_eq!(
            std::fs::read(&damaged).unwrap(),
            bytes,
            "the segment was rewritten"
        );
    }
}

#[test]
fn a_torn_batch_in_a_closed_segment_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let bases = written(dir.path(), false);
    let path = log_file(dir.path(), bases[1]);
    let bytes = std::fs::read(&path).unwrap();
    let positions = batch_positions(&bytes);
    std::fs::write(&path, &bytes[..positions[2] + 20]).unwrap();
    assert_refused(dir.path(), &bases, positions[2] as u64);
}

#[test]
fn a_closed_segment_cut_at_a_batch_boundary_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let bases = written(dir.path(), false);
    let path = log_file(dir.path(), bases[1]);
    let bytes = std::fs::read(&path).unwrap();
    let positions = batch_positions(&bytes);
    // What is left is valid batches, but they end short of the next segment.
    std::fs::write(&path, &bytes[..positions[3]]).unwrap();
    assert_refused(dir.path(), &bases, positions[3] as u64);
}

#[test]
fn garbage_after_a_closed_segment_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let bases = written(dir.path(), false);
    let path = log_file(dir.path(), bases[1]);
    let mut bytes = std::fs::read(&path).unwrap();
    let end = bytes.len() as u64;
    bytes.extend_from_slice(&[0xab; 100]);
    std::fs::write(&path, &bytes).unwrap();
    assert_refused(dir.path(), &bases, end);
}

#[test]
fn zeros_over_the_tail_of_a_compacted_closed_segment_are_refused() {
    // With offset gaps a shorter segment is valid: the zeros are what betrays the damage.
    let dir = tempfile::tempdir().unwrap();
    let bases = written(dir.path(), true);
    let path = log_file(dir.path(), bases[1]);
    let mut bytes = std::fs::read(&path).unwrap();
    let positions = batch_positions(&bytes);
    let len = bytes.len();
    bytes[positions[2]..len].fill(0);
    std::fs::write(&path, &bytes).unwrap();
    assert_refused(dir.path(), &bases, positions[2] as u64);
}

#[test]
fn retention_deletes_a_corrupt_segment_when_its_time_comes() {
    let dir = tempfile::tempdir().unwrap();
    let bases = written(dir.path(), false);
    let path = log_file(dir.path(), bases[1]);
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() - 1]).unwrap();
    // Its time index cannot be trusted: its age is the file's, as Kafka's is without one.
    let written = std::time::UNIX_EPOCH + std::time::Duration::from_millis(common::T0 as u64);
    let file = std::fs::File::options().write(true).open(&path).unwrap();
    file.set_modified(written).unwrap();
    drop(file);
    let engine: Engine = common::open(dir.path());
    // Records are from 2023: a day of retention covers none of them.
    engine
        .alter_topic_config("t", [("retention.ms", "86400000")], [])
        .unwrap();
    let report = engine.enforce_retention().unwrap();
    assert_eq!(report.segments_deleted, bases.len() - 1, "{report:?}");
    assert!(!path.exists());
    assert_eq!(
        engine.log("t", 0).unwrap().log_start_offset(),
        *bases.last().unwrap()
    );
}

#[test]
fn a_compacted_closed_segment_ending_past_the_next_one_is_refused() {
    // The base offset lies outside the CRC, and offset gaps are valid in a compacted log: a
    // last batch renumbered past the next segment's base offset would serve its records
    // under offsets the next segment holds (found by the corruption campaign).
    let dir = tempfile::tempdir().unwrap();
    let bases = written(dir.path(), true);
    let path = log_file(dir.path(), bases[1]);
    let mut bytes = std::fs::read(&path).unwrap();
    let last = *batch_positions(&bytes).last().unwrap();
    let base = i64::from_be_bytes(bytes[last..last + 8].try_into().unwrap());
    bytes[last..last + 8].copy_from_slice(&(base + 1000).to_be_bytes());
    std::fs::write(&path, &bytes).unwrap();
    assert_refused(dir.path(), &bases, bytes.len() as u64);
}
