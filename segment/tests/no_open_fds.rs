//! A segment keeps no file descriptor: once its `.log` file and indexes are mapped, their
//! files are closed, and appends, reads, flushes, syncs, seals, truncation and recovery still
//! work (the calls that need a descriptor open the file for their duration).

mod common;

use silt_segment::batch::Compression;
use silt_segment::log::{OpenMode, SealedOpen, Segment, SegmentReader};

fn assert_no_fds(dir: &std::path::Path, when: &str) {
    let open = common::files::open_fds_under(dir);
    assert!(open.is_empty(), "{when}: files still open: {open:?}");
}

#[test]
fn created_opened_and_recovered_segments_hold_no_descriptors() {
    let dir = tempfile::tempdir().unwrap();
    let config = common::small_config();
    let mut segments = Vec::new();
    for s in 0..8i64 {
        let mut seg = Segment::create(dir.path(), s * 1000, &config).unwrap();
        for i in 0..50 {
            seg.append(&common::batch(i, 3, 60, Compression::None))
                .unwrap();
        }
        segments.push(seg);
    }
    assert_no_fds(dir.path(), "after create and append");

    // Flush (the first one fdatasyncs after preallocation), sync, read, truncate, seal.
    let mut readers = Vec::new();
    for seg in &mut segments {
        seg.flush().unwrap();
        seg.syncer().sync().unwrap();
        assert!(seg.truncate_to(seg.base_offset() + 120).unwrap() > 0);
        seg.append(&common::batch(99, 2, 60, Compression::None))
            .unwrap();
        seg.seal().unwrap();
        let reader = seg.reader();
        assert_eq!(common::records_of(reader.bytes()).len(), 122);
        readers.push(reader);
    }
    assert_no_fds(dir.path(), "after flush, sync, truncate and seal");

    // Reopen in every way, including one that recovers.
    drop(segments);
    let (active, _) = Segment::open(dir.path(), 0, &config, OpenMode::Active).unwrap();
    let (sealed, _) = Segment::open(dir.path(), 1000, &config, OpenMode::Sealed).unwrap();
    let (recovered, report) =
        Segment::open_with(dir.path(), 2000, &config, OpenMode::Sealed, true).unwrap();
    assert!(report.recovered.is_some());
    let SealedOpen::Trusted(lazy) = SegmentReader::open_sealed(dir.path(), 3000, &config).unwrap()
    else {
        panic!("a sealed segment opens trusted");
    };
    assert_no_fds(dir.path(), "after reopening");

    for reader in [active.reader(), sealed.reader(), recovered.reader(), lazy] {
        assert_eq!(common::records_of(reader.bytes()).len(), 122);
        assert!(reader.read(121, 1 << 20).unwrap().is_some());
    }
    let mut active = active;
    active
        .append(&common::batch(100, 1, 10, Compression::None))
        .unwrap();
    active.flush().unwrap();
    active.seal().unwrap();
    assert_no_fds(
        dir.path(),
        "after appending to the reopened segment and sealing it",
    );
    drop(readers);
}
