//! Roll conditions as Kafka's: size, segment.ms, a full index, a relative offset overflow;
//! a sealed segment takes no appends and its files are trimmed.

mod common;

use silt_segment::batch::{BatchBuilder, BatchConfig, Compression};
use silt_segment::log::{segment_file, RollReason, Segment, SegmentConfig};
use silt_segment::SegmentError;

#[test]
fn rolls_on_size() {
    let dir = tempfile::tempdir().unwrap();
    let b = common::batch(0, 4, 100, Compression::None);
    let config = SegmentConfig {
        segment_bytes: (b.len() * 3 + 10) as u32,
        ..common::small_config()
    };
    let mut seg = Segment::create(dir.path(), 0, &config).unwrap();
    for _ in 0..3 {
        assert_eq!(seg.roll_reason(b.len(), 4, 0), None);
        seg.append(&b).unwrap();
    }
    assert_eq!(seg.roll_reason(b.len(), 4, 0), Some(RollReason::Size));
    match seg.append(&b) {
        Err(SegmentError::SegmentFull {
            reason: RollReason::Size,
            ..
        }) => {}
        other => panic!("{other:?}"),
    }
    assert_eq!(seg.next_offset(), 12, "a refused append writes nothing");
}

#[test]
fn rolls_on_time() {
    let dir = tempfile::tempdir().unwrap();
    let config = SegmentConfig {
        segment_ms: 1_000,
        ..common::small_config()
    };
    let mut seg = Segment::create(dir.path(), 0, &config).unwrap();
    let mut builder = BatchBuilder::new(BatchConfig::default());
    builder.append(50_000, None, Some(b"v"), &[]).unwrap();
    assert_eq!(
        seg.roll_reason(100, 1, 1_000_000),
        None,
        "an empty segment never rolls on time"
    );
    seg.append(&builder.finish().unwrap()).unwrap();
    assert_eq!(seg.roll_reason(100, 1, 51_000), None);
    assert_eq!(seg.roll_reason(100, 1, 51_001), Some(RollReason::Time));
}

#[test]
fn rolls_when_the_index_is_full() {
    let dir = tempfile::tempdir().unwrap();
    let config = SegmentConfig {
        segment_index_bytes: 24,
        index_interval_bytes: 1,
        ..common::small_config()
    };
    let mut seg = Segment::create(dir.path(), 0, &config).unwrap();
    let b = common::batch(0, 1, 10, Compression::None);
    let mut appended = 0;
    while seg.roll_reason(b.len(), 1, 0).is_none() {
        seg.append(&b).unwrap();
        appended += 1;
        assert!(appended < 10);
    }
    assert_eq!(seg.roll_reason(b.len(), 1, 0), Some(RollReason::IndexFull));
}

#[test]
fn rolls_before_relative_offsets_overflow() {
    let dir = tempfile::tempdir().unwrap();
    let mut seg = Segment::create(dir.path(), 0, &common::small_config()).unwrap();
    seg.append(&common::batch(0, 1, 10, Compression::None))
        .unwrap();
    // Next offset 1: a batch spanning i32::MAX offsets ends at relative offset i32::MAX, the
    // largest that fits; one more does not.
    assert_eq!(
        seg.roll_reason(100, i32::MAX as u32 + 1, 0),
        Some(RollReason::OffsetOverflow)
    );
    assert_eq!(seg.roll_reason(100, i32::MAX as u32, 0), None);
}

#[test]
fn sealed_segment_is_trimmed_and_refuses_appends() {
    let dir = tempfile::tempdir().unwrap();
    let mut seg = Segment::create(dir.path(), 0, &common::small_config()).unwrap();
    let b = common::batch(0, 3, 500, Compression::None);
    for _ in 0..20 {
        seg.append(&b).unwrap();
    }
    assert_eq!(
        std::fs::metadata(seg.path()).unwrap().len(),
        1 << 20,
        "preallocated while active"
    );
    seg.seal().unwrap();
    assert_eq!(
        std::fs::metadata(seg.path()).unwrap().len(),
        u64::from(seg.size())
    );
    let index_len = std::fs::metadata(segment_file(dir.path(), 0, "index"))
        .unwrap()
        .len();
    assert_eq!(index_len, seg.offset_index_entries() as u64 * 8);
    let time_len = std::fs::metadata(segment_file(dir.path(), 0, "timeindex"))
        .unwrap()
        .len();
    assert_eq!(time_len, seg.time_index_entries() as u64 * 12);
    assert!(matches!(seg.append(&b), Err(SegmentError::Sealed { .. })));
}

#[test]
fn bad_arguments_are_typed_errors() {
    let dir = tempfile::tempdir().unwrap();
    let tiny = SegmentConfig {
        segment_bytes: 10,
        ..SegmentConfig::default()
    };
    assert!(matches!(
        Segment::create(dir.path(), 0, &tiny),
        Err(SegmentError::InvalidConfig {
            key: "segment.bytes",
            value: 10,
            ..
        })
    ));
    assert!(matches!(
        Segment::create(dir.path(), -1, &common::small_config()),
        Err(SegmentError::InvalidBaseOffset(-1))
    ));
    let mut seg = Segment::create(dir.path(), 0, &common::small_config()).unwrap();
    assert!(matches!(
        seg.append(&[]),
        Err(SegmentError::BadAppend { .. })
    ));
    assert!(matches!(
        seg.append(&[0u8; 70]),
        Err(SegmentError::BadAppend { .. })
    ));
    let b = common::batch(0, 1, 10, Compression::None);
    assert!(matches!(
        seg.append(&b[..b.len() - 1]),
        Err(SegmentError::BadAppend { .. })
    ));
    assert_eq!(seg.next_offset(), 0);
}
