//! The log end comes from the last batch's header, and its lastOffsetDelta lies inside the
//! CRC only. A log whose last batch fails its CRC has a torn active segment: opening it cuts
//! that batch, for a read and for an append alike, instead of taking a damaged
//! lastOffsetDelta for the log end (a reader was told of offsets that do not exist, and
//! appends went on from there, leaving a gap a later recovery would cut them at).

mod common;

use std::path::Path;

use silt_segment::batch::Batches;

const BATCHES: u64 = 20;

/// Topic `t`, 1 partition of 64 KiB segments: 20 batches of 3 records, closed cleanly.
/// Then the last batch's lastOffsetDelta is raised by 64.
fn damaged(dir: &Path) {
    let engine = common::open(dir);
    engine
        .create_topic(common::small_topic("t", 1, 64 << 10))
        .unwrap();
    for i in 0..BATCHES {
        engine.append("t", 0, &common::batch(i * 3, 3)).unwrap();
    }
    engine.close().unwrap();
    let path = dir.join(format!("t-0/{:020}.log", 0));
    let mut bytes = std::fs::read(&path).unwrap();
    let last = Batches::new(&bytes, 0).last().unwrap().unwrap().position() as usize;
    bytes[last + 25] ^= 0x40; // lastOffsetDelta, bytes 23..27 of the batch
    std::fs::write(&path, bytes).unwrap();
}

/// The records before the damaged batch, as written.
fn assert_prefix(engine: &silt_engine::Engine, upto: i64) {
    let all = common::read_all(engine, "t", 0, 0);
    let expected: Vec<(i64, String)> = (0..upto).map(|o| (o, format!("value-{o}"))).collect();
    assert_eq!(all, expected);
}

#[test]
fn a_read_first_gets_the_log_end_before_the_damaged_batch() {
    let dir = tempfile::tempdir().unwrap();
    damaged(dir.path());
    let engine = common::open(dir.path());
    let end = (BATCHES as i64 - 1) * 3;
    assert_eq!(engine.log("t", 0).unwrap().log_end_offset().unwrap(), end);
    assert_prefix(&engine, end);
    let info = engine.append("t", 0, &common::batch(1000, 2)).unwrap();
    assert_eq!(info.first_offset, end);
}

#[test]
fn an_append_first_goes_on_before_the_damaged_batch() {
    let dir = tempfile::tempdir().unwrap();
    damaged(dir.path());
    let engine = common::open(dir.path());
    let end = (BATCHES as i64 - 1) * 3;
    let info = engine
        .append("t", 0, &common::batch(end as u64, 3))
        .unwrap();
    assert_eq!(info.first_offset, end);
    engine.close().unwrap();
    let engine = common::open(dir.path());
    assert_prefix(&engine, end + 3);
}
