//! `truncate_to(offset)` (recovery): removes the batch holding `offset` and everything
//! after it, cuts the indexes to match, and appends continue from there.

mod common;

use silt_segment::batch::Compression;
use silt_segment::log::{OpenMode, Segment};

#[test]
fn truncate_then_append_then_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let config = common::small_config();
    let mut seg = Segment::create(dir.path(), 0, &config).unwrap();
    for i in 0..100 {
        seg.append(&common::batch(i, 3, 50, Compression::None))
            .unwrap();
    }
    let entries_before = seg.offset_index_entries();
    // Offset 151 lies in the batch 150..=152: that batch and all later ones go.
    let removed = seg.truncate_to(151).unwrap();
    assert!(removed > 0);
    assert_eq!(seg.next_offset(), 150);
    assert!(seg.offset_index_entries() < entries_before);
    let reader = seg.reader();
    assert_eq!(common::records_of(reader.bytes()).len(), 150);
    assert!(reader.read(150, 1 << 20).unwrap().is_none());
    let entry = reader.index_lookup(i64::MAX);
    assert!(entry.offset < 150 && entry.position < reader.size());
    drop(reader);

    // Appends continue at 150, and the index rule resumes exactly as a rebuild would have it.
    for i in 0..50 {
        seg.append(&common::batch(1000 + i, 3, 50, Compression::None))
            .unwrap();
    }
    assert_eq!(seg.next_offset(), 300);
    seg.seal().unwrap();
    let appended = (seg.offset_index_entries(), seg.time_index_entries());
    drop(seg);
    let (seg, _) = Segment::open_with(dir.path(), 0, &config, OpenMode::Sealed, true).unwrap();
    assert_eq!(
        (seg.offset_index_entries(), seg.time_index_entries()),
        appended
    );
    assert_eq!(seg.next_offset(), 300);
}

#[test]
fn truncate_is_refused_while_readers_exist() {
    let dir = tempfile::tempdir().unwrap();
    let mut seg = Segment::create(dir.path(), 0, &common::small_config()).unwrap();
    seg.append(&common::batch(0, 3, 50, Compression::None))
        .unwrap();
    let reader = seg.reader();
    assert!(seg.truncate_to(0).is_err());
    drop(reader);
    let size = common::batch(0, 3, 50, Compression::None).len() as u64;
    assert_eq!(seg.truncate_to(0).unwrap(), size, "everything removed");
    assert_eq!((seg.next_offset(), seg.size()), (0, 0));
}
