//! `truncate_to` refuses a sealed segment (its files are trimmed, and one opened sealed is
//! mapped read-only, so cutting it in place would write through a read-only map): the
//! caller reopens it `Active` and truncates that.

mod common;

use silt_segment::batch::Compression;
use silt_segment::log::{OpenMode, Segment};
use silt_segment::SegmentError;

#[test]
fn sealed_segments_are_refused_and_truncate_once_reopened_active() {
    let dir = tempfile::tempdir().unwrap();
    let config = common::small_config();
    let mut seg = Segment::create(dir.path(), 0, &config).unwrap();
    for i in 0..20 {
        seg.append(&common::batch(i, 2, 40, Compression::None))
            .unwrap();
    }
    seg.seal().unwrap();
    assert!(matches!(
        seg.truncate_to(10),
        Err(SegmentError::Sealed { .. })
    ));
    drop(seg);

    let (mut seg, _) = Segment::open(dir.path(), 0, &config, OpenMode::Sealed).unwrap();
    assert!(matches!(
        seg.truncate_to(10),
        Err(SegmentError::Sealed { .. })
    ));
    assert_eq!(seg.next_offset(), 40, "nothing was cut");
    drop(seg);

    let (mut seg, _) = Segment::open(dir.path(), 0, &config, OpenMode::Active).unwrap();
    assert!(seg.truncate_to(10).unwrap() > 0);
    assert_eq!(seg.next_offset(), 10);
    assert_eq!(common::records_of(seg.reader().bytes()).len(), 10);
}
