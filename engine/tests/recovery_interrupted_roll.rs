//! A process killed in the middle of a roll, after the new segment was created and before the
//! old one was sealed, leaves the old segment as it was while active (preallocated zeros after
//! its batches, indexes untrimmed) below a recovery point that may already equal the new
//! segment's base (a flush synced the whole active segment just before the roll). Opening
//! does not validate segments below the recovery point, so the old segment is met later, by
//! the first read that maps it: it must be read in full (its zeros cut as a crash's, since
//! every batch before them was synced), not refused as damaged. (Found by the crash campaign,
//! `consumer/tests/crash_campaign.rs`.)

mod common;

use silt_segment::log::{Segment, SegmentConfig};

#[test]
fn a_segment_a_killed_roll_left_unsealed_below_the_recovery_point_is_read_in_full() {
    const SEGMENT_BYTES: u32 = 16 << 10;
    let dir = tempfile::tempdir().unwrap();
    let engine = common::open(dir.path());
    engine
        .create_topic(common::small_topic("t", 1, SEGMENT_BYTES))
        .unwrap();
    let mut next = 0;
    for _ in 0..20 {
        engine.append("t", 0, &common::batch(next, 10)).unwrap();
        next += 10;
    }
    let log = engine.log("t", 0).unwrap();
    assert_eq!(log.segment_count(), 1);
    engine.flush().unwrap(); // recovery point = log end, checkpoint written
    assert_eq!(log.recovery_point(), next as i64);

    // The kill: the active segment as it is (untrimmed), and the roll's first step done.
    let image = tempfile::tempdir().unwrap();
    common::crash_image(dir.path(), image.path());
    let config = SegmentConfig {
        segment_bytes: SEGMENT_BYTES,
        segment_index_bytes: 4096,
        index_interval_bytes: 256,
        ..SegmentConfig::default()
    };
    drop(Segment::create(&image.path().join("t-0"), next as i64, &config).unwrap());

    let engine = common::open(image.path());
    assert!(!engine.open_report().clean);
    let log = engine.log("t", 0).unwrap();
    assert_eq!(log.segment_base_offsets().unwrap(), [0, next as i64]);
    let all = common::read_all(&engine, "t", 0, 0);
    assert_eq!(all.len() as u64, next, "every synced record is read");
    for (i, (offset, value)) in all.iter().enumerate() {
        assert_eq!(
            (*offset, value.as_str()),
            (i as i64, &*format!("value-{i}"))
        );
    }
    let info = engine.append("t", 0, &common::batch(next, 10)).unwrap();
    assert_eq!(info.first_offset, next as i64);
    engine.close().unwrap();
}
