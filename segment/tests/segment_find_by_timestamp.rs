//! Kafka's offsetsForTimes inside a segment: the first record with a timestamp at or after
//! the target, through the time index, for plain and compressed batches.

use silt_segment::batch::{BatchBuilder, BatchConfig, Compression, DecompressBuffer};
use silt_segment::log::{OpenMode, Segment, SegmentConfig};

#[test]
fn finds_the_first_record_at_or_after_a_timestamp() {
    let dir = tempfile::tempdir().unwrap();
    let config = SegmentConfig {
        segment_bytes: 1 << 20,
        segment_index_bytes: 4096,
        index_interval_bytes: 128,
        ..SegmentConfig::default()
    };
    let mut seg = Segment::create(dir.path(), 0, &config).unwrap();
    // Record i has timestamp 1000 + 10 * i, except every 7th, which is 5 ms early (out of order).
    let ts = |i: i64| {
        if i % 7 == 3 {
            1000 + 10 * i - 5
        } else {
            1000 + 10 * i
        }
    };
    let mut i = 0i64;
    for b in 0..60 {
        let codec = [Compression::None, Compression::Lz4, Compression::Zstd][b % 3];
        let mut builder = BatchBuilder::new(BatchConfig {
            compression: codec,
            ..BatchConfig::default()
        });
        for _ in 0..5 {
            builder.append(ts(i), None, Some(&[0u8; 30]), &[]).unwrap();
            i += 1;
        }
        seg.append(&builder.finish().unwrap()).unwrap();
    }
    assert!(seg.time_index_entries() > 5);
    let mut buffer = DecompressBuffer::new();
    let check = |seg: &Segment, buffer: &mut DecompressBuffer| {
        let reader = seg.reader();
        for target in (900..1000 + 10 * i + 20).step_by(3) {
            let want = (0..i).find(|&j| ts(j) >= target).map(|j| (ts(j), j));
            let got = reader
                .find_by_timestamp(target, buffer)
                .unwrap()
                .map(|t| (t.timestamp, t.offset));
            assert_eq!(got, want, "target {target}");
        }
    };
    check(&seg, &mut buffer);
    seg.seal().unwrap();
    drop(seg);
    let (seg, report) = Segment::open(dir.path(), 0, &config, OpenMode::Sealed).unwrap();
    assert!(report.recovered.is_none());
    check(&seg, &mut buffer);
}
