//! A batch's base offset lies outside its CRC, and a compacted log may skip offsets, so a
//! base offset raised by damage still follows the batch before it. When the batch after it
//! is damaged too, nothing inside the segment contradicts it; the segment's end does. A read
//! must not hand out records under offsets past the log end (found by the corruption
//! campaign: records served at offset 8796093022493 of a log ending at 330).

mod common;

use silt_engine::EngineError;
use silt_segment::SegmentError;

#[test]
fn a_batch_raised_past_the_segment_end_is_an_error_not_records() {
    let dir = tempfile::tempdir().unwrap();
    let engine = common::open(dir.path());
    let topic = common::small_topic("t", 1, 1 << 20).config("cleanup.policy", "compact");
    engine.create_topic(topic).unwrap();
    for i in 0..40 {
        engine.append("t", 0, &common::batch(i * 3, 3)).unwrap();
    }
    let log_end = engine.log("t", 0).unwrap().log_end_offset().unwrap();
    engine.close().unwrap();

    let path = dir.path().join(format!("t-0/{:020}.log", 0));
    let mut bytes = std::fs::read(&path).unwrap();
    let positions: Vec<usize> = silt_segment::batch::Batches::new(&bytes, 0)
        .map(|b| b.unwrap().position() as usize)
        .collect();
    // Batch 20 renumbered far past the end; batch 21's records count made negative.
    let (raised, damaged) = (positions[20], positions[21]);
    bytes[raised..raised + 8].copy_from_slice(&(1_i64 << 43).to_be_bytes());
    bytes[damaged + 57..damaged + 61].copy_from_slice(&(-5_i32).to_be_bytes());
    std::fs::write(&path, &bytes).unwrap();

    let engine = common::open(dir.path());
    let end = engine.log("t", 0).unwrap().log_end_offset().unwrap();
    assert_eq!(end, log_end, "the log end is where it was");
    // Read from the start until the first error: what is served lies below the end.
    let mut served = Vec::new();
    let mut offset = 0;
    while let Ok(fetch) = engine.fetch("t", 0, offset, 1 << 10) {
        if fetch.is_empty() {
            break;
        }
        served.extend(common::records(&fetch));
        offset = fetch.next_offset();
    }
    assert!(served.len() >= 60, "the batches before the damage read");
    assert!(
        served.iter().all(|&(offset, _)| offset < end),
        "records served past the log end {end}: {:?}",
        served.last()
    );
    match engine.fetch("t", 0, 60, 1 << 20) {
        Err(EngineError::Segment(SegmentError::InvalidHeader { position, .. })) => {
            assert_eq!(position, raised as u64)
        }
        other => panic!("fetch at the raised batch: {other:?}"),
    }
    engine.close().unwrap();
}
