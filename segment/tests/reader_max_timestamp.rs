//! `SegmentReader::max_timestamp`: the largest timestamp and the offset of its batch, live
//! for an active segment (the writer publishes it, lock-free, before the end that covers
//! it) and kept by a sealed one however it is opened; `None` while no batch has a
//! timestamp `>= 0`.

mod common;

use silt_segment::batch::{BatchBuilder, BatchConfig};
use silt_segment::log::{
    OpenMode, SealedOpen, Segment, SegmentConfig, SegmentReader, TimestampOffset,
};

fn batch(timestamps: &[i64]) -> Vec<u8> {
    let mut builder = BatchBuilder::new(BatchConfig::default());
    for &timestamp in timestamps {
        builder.append(timestamp, None, Some(b"v"), &[]).unwrap();
    }
    builder.finish().unwrap()
}

fn max(timestamp: i64, offset: i64) -> Option<TimestampOffset> {
    Some(TimestampOffset { timestamp, offset })
}

#[test]
fn active_segment_publishes_its_max_timestamp() {
    let dir = tempfile::tempdir().unwrap();
    let mut seg = Segment::create(dir.path(), 10, &common::small_config()).unwrap();
    let reader = seg.reader();
    assert_eq!(reader.max_timestamp(), None);
    seg.append(&batch(&[-1, -1])).unwrap(); // offsets 10, 11: no timestamps
    assert_eq!(reader.max_timestamp(), None);
    seg.append(&batch(&[100, 50])).unwrap(); // 12, 13: max 100, batch ends at 13
    assert_eq!(reader.max_timestamp(), max(100, 13));
    seg.append(&batch(&[80])).unwrap(); // 14: older
    assert_eq!(reader.max_timestamp(), max(100, 13));
    // Two batches in one append: the later, larger one wins.
    let mut two = batch(&[300]);
    two.extend(batch(&[200, 400, 100])); // 15; 16..=18
    seg.append(&two).unwrap();
    assert_eq!(reader.max_timestamp(), max(400, 18));
    assert!(!reader.is_sealed());
    assert_eq!(
        seg.max_timestamp(),
        (400, 18),
        "the writer's view agrees with the reader's"
    );
}

#[test]
fn sealed_segment_keeps_it_however_it_is_opened() {
    let dir = tempfile::tempdir().unwrap();
    let config = common::small_config();
    let mut seg = Segment::create(dir.path(), 0, &config).unwrap();
    // Enough batches for index entries, with the max in the middle.
    for i in 0..200i64 {
        let timestamp = if i == 120 { 9_000 } else { 1_000 + i };
        seg.append(&batch(&[timestamp, timestamp - 1])).unwrap();
    }
    let want = max(9_000, 241);
    assert_eq!(seg.reader().max_timestamp(), want);
    seg.seal().unwrap();
    assert!(seg.reader().is_sealed());
    assert_eq!(seg.reader().max_timestamp(), want);
    drop(seg);

    let SealedOpen::Trusted(lazy) = SegmentReader::open_sealed(dir.path(), 0, &config).unwrap()
    else {
        panic!("not trusted");
    };
    assert_eq!(lazy.max_timestamp(), want);
    for mode in [OpenMode::Sealed, OpenMode::Active] {
        let (seg, _) = Segment::open(dir.path(), 0, &config, mode).unwrap();
        assert_eq!(seg.reader().max_timestamp(), want, "{mode:?}");
    }
    let (seg, report) = Segment::open_with(dir.path(), 0, &config, OpenMode::Sealed, true).unwrap();
    assert!(report.recovered.is_some());
    assert_eq!(seg.reader().max_timestamp(), want, "recovered");
}

#[test]
fn truncation_moves_it_back() {
    let dir = tempfile::tempdir().unwrap();
    let mut seg = Segment::create(dir.path(), 0, &common::small_config()).unwrap();
    seg.append(&batch(&[500])).unwrap(); // 0
    seg.append(&batch(&[700])).unwrap(); // 1
    seg.append(&batch(&[600])).unwrap(); // 2
    assert_eq!(seg.reader().max_timestamp(), max(700, 1));
    seg.truncate_to(1).unwrap();
    assert_eq!(seg.reader().max_timestamp(), max(500, 0));
    seg.truncate_to(0).unwrap();
    assert_eq!(seg.reader().max_timestamp(), None);
}

#[test]
fn concurrent_readers_see_a_consistent_pair_covering_what_they_can_read() {
    let dir = tempfile::tempdir().unwrap();
    let config = SegmentConfig {
        segment_bytes: 8 << 20,
        segment_index_bytes: 1 << 20,
        ..common::small_config()
    };
    let mut seg = Segment::create(dir.path(), 0, &config).unwrap();
    let reader = seg.reader();
    const BATCHES: i64 = 20_000;
    let watcher = std::thread::spawn(move || {
        let mut last = -1;
        loop {
            // The end first: the max timestamp published before it counts every batch below.
            let next = reader.next_offset();
            let seen = reader.max_timestamp();
            if let Some(m) = seen {
                assert_eq!(m.timestamp, 1_000 + m.offset, "a torn pair: {m:?}");
                assert!(m.offset >= next - 1, "{m:?} misses batches below {next}");
                assert!(m.offset >= last, "went back from {last} to {m:?}");
                last = m.offset;
            } else {
                assert_eq!((next, last), (0, -1));
            }
            if next == BATCHES {
                return;
            }
        }
    });
    for offset in 0..BATCHES {
        seg.append(&batch(&[1_000 + offset])).unwrap();
    }
    watcher.join().unwrap();
}
