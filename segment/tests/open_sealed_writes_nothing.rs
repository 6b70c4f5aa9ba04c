//! `Segment::open` in `Sealed` mode writes nothing to a cleanly closed segment: the indexes
//! are mapped at their file lengths (not re-extended to `segment.index.bytes` and trimmed
//! again), and the segment reads and looks up as it did.

mod common;

use silt_segment::batch::Compression;
use silt_segment::log::{segment_file, OpenMode, Segment};

#[test]
fn sealed_open_leaves_every_file_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let config = common::small_config();
    let mut seg = Segment::create(dir.path(), 0, &config).unwrap();
    for i in 0..150 {
        seg.append(&common::batch(i, 2, 70, Compression::Lz4))
            .unwrap();
    }
    seg.seal().unwrap();
    let entries = (seg.offset_index_entries(), seg.time_index_entries());
    let max_timestamp = seg.max_timestamp();
    drop(seg);
    common::age_files(dir.path());
    let before = common::snapshot(dir.path());

    let (seg, report) = Segment::open(dir.path(), 0, &config, OpenMode::Sealed).unwrap();
    assert_eq!(report.recovered, None);
    assert!(seg.is_sealed());
    assert_eq!(
        (seg.offset_index_entries(), seg.time_index_entries()),
        entries
    );
    assert_eq!(seg.max_timestamp(), max_timestamp);
    let reader = seg.reader();
    assert!(reader.is_sealed());
    assert_eq!(common::records_of(reader.bytes()).len(), 300);
    let entry = reader.index_lookup(250);
    assert!(entry.offset <= 250 && entry.position > 0);
    let slice = reader.read(250, 1).unwrap().unwrap();
    assert_eq!(slice.batches().next().unwrap().unwrap().base_offset(), 250);
    let index_len = std::fs::metadata(segment_file(dir.path(), 0, "index"))
        .unwrap()
        .len();
    assert_eq!(index_len, entries.0 as u64 * 8, "not re-extended");
    drop((seg, reader));

    assert_eq!(common::snapshot(dir.path()), before, "nothing written");
}

#[test]
fn sealed_open_of_a_crashed_segment_still_recovers_and_trims() {
    let dir = tempfile::tempdir().unwrap();
    let config = common::small_config();
    let mut seg = Segment::create(dir.path(), 0, &config).unwrap();
    for i in 0..60 {
        seg.append(&common::batch(i, 2, 70, Compression::None))
            .unwrap();
    }
    let size = seg.size();
    drop(seg); // crash: preallocated files, untrimmed indexes
    let (seg, report) = Segment::open(dir.path(), 0, &config, OpenMode::Sealed).unwrap();
    assert!(report.recovered.is_some());
    assert_eq!((seg.size(), seg.next_offset()), (size, 120));
    let len = |suffix| {
        std::fs::metadata(segment_file(dir.path(), 0, suffix))
            .unwrap()
            .len()
    };
    assert_eq!(len("log"), u64::from(size));
    assert_eq!(len("index"), seg.offset_index_entries() as u64 * 8);
    assert_eq!(len("timeindex"), seg.time_index_entries() as u64 * 12);
    assert_eq!(
        seg.synced_offset(),
        120,
        "recovery made what it kept durable"
    );
}
