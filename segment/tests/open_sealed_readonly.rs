//! `SegmentReader::open_sealed` opens a closed segment read-only and writes nothing: a
//! segment that passes the cheap checks is `Trusted` and reads as it was written; one that
//! fails them (a missing index, a crash, a torn tail) is `NeedsRecovery`, left untouched for
//! `Segment::open` to recover.

mod common;

use silt_segment::batch::{Compression, DecompressBuffer};
use silt_segment::log::{
    segment_file, OpenMode, RebuildReason, RecoveryCause, SealedOpen, Segment, SegmentReader,
};

const BASE: i64 = 500;

/// A sealed segment of 120 batches with 1..=4 records each; returns its record count.
fn build_sealed(dir: &std::path::Path) -> usize {
    let mut seg = Segment::create(dir, BASE, &common::small_config()).unwrap();
    let mut records = 0;
    for i in 0..120u64 {
        let n = 1 + (i % 4) as u32;
        seg.append(&common::batch(i, n, 50, Compression::None))
            .unwrap();
        records += n as usize;
    }
    seg.seal().unwrap();
    records
}

fn open(dir: &std::path::Path) -> SealedOpen {
    SegmentReader::open_sealed(dir, BASE, &common::small_config()).unwrap()
}

fn trusted(dir: &std::path::Path) -> SegmentReader {
    match open(dir) {
        SealedOpen::Trusted(reader) => reader,
        SealedOpen::NeedsRecovery(cause) => panic!("not trusted: {cause:?}"),
    }
}

fn cause(dir: &std::path::Path) -> RecoveryCause {
    match open(dir) {
        SealedOpen::Trusted(_) => panic!("trusted a segment that needs recovery"),
        SealedOpen::NeedsRecovery(cause) => cause,
    }
}

#[test]
fn trusted_segment_reads_as_written_and_no_file_changes() {
    let dir = tempfile::tempdir().unwrap();
    let records = build_sealed(dir.path());
    let (written, _) = Segment::open(dir.path(), BASE, &common::small_config(), OpenMode::Sealed)
        .map(|(seg, report)| (seg.reader(), report))
        .unwrap();
    common::age_files(dir.path());
    let before = common::snapshot(dir.path());

    let reader = trusted(dir.path());
    assert!(reader.is_sealed());
    assert_eq!(reader.path(), segment_file(dir.path(), BASE, "log"));
    assert_eq!(reader.bytes(), written.bytes());
    assert_eq!(reader.next_offset(), BASE + records as i64);
    assert_eq!(reader.max_timestamp(), written.max_timestamp());
    assert!(reader.max_timestamp().is_some());
    assert_eq!(reader.synced_to().end, reader.size());
    for offset in [BASE, BASE + 77, BASE + records as i64 - 1] {
        let slice = reader.read(offset, 1).unwrap().unwrap();
        let first = slice.batches().next().unwrap().unwrap();
        assert!(first.base_offset() <= offset && offset <= first.last_offset());
    }
    assert!(
        reader.index_lookup(BASE + 200).position > 0,
        "the index is used"
    );
    let mut buffer = DecompressBuffer::new();
    let found = reader
        .find_by_timestamp(1_700_000_000_500, &mut buffer)
        .unwrap()
        .unwrap();
    assert_eq!(found.timestamp, 1_700_000_000_500);
    drop(reader);
    assert_eq!(common::snapshot(dir.path()), before, "nothing written");
}

#[test]
fn read_only_files_open() {
    let dir = tempfile::tempdir().unwrap();
    let records = build_sealed(dir.path());
    if !common::files::make_read_only(dir.path()) {
        eprintln!("running as root: read-only files are writable, skipping");
        return;
    }
    let reader = trusted(dir.path());
    assert_eq!(common::records_of(reader.bytes()).len(), records);
}

#[test]
fn missing_index_needs_recovery_and_is_not_created() {
    for (suffix, index_cause) in [
        ("index", RecoveryCause::OffsetIndex(RebuildReason::Missing)),
        (
            "timeindex",
            RecoveryCause::TimeIndex(RebuildReason::Missing),
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let records = build_sealed(dir.path());
        let path = segment_file(dir.path(), BASE, suffix);
        std::fs::remove_file(&path).unwrap();
        assert_eq!(cause(dir.path()), index_cause);
        assert!(!path.exists(), "open_sealed created {suffix}");

        // The caller's recovery path: Segment::open rebuilds it, and then it is trusted.
        let config = common::small_config();
        let (_, report) = Segment::open(dir.path(), BASE, &config, OpenMode::Sealed).unwrap();
        assert_eq!(report.recovered, Some(index_cause));
        let reader = trusted(dir.path());
        assert_eq!(common::records_of(reader.bytes()).len(), records);
    }
}

#[test]
fn crashed_active_segment_needs_recovery_and_stays_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let mut seg = Segment::create(dir.path(), BASE, &common::small_config()).unwrap();
    for i in 0..40 {
        seg.append(&common::batch(i, 2, 50, Compression::None))
            .unwrap();
    }
    seg.flush().unwrap();
    drop(seg); // never sealed: files preallocated, indexes untrimmed
    common::age_files(dir.path());
    let before = common::snapshot(dir.path());
    assert!(matches!(
        cause(dir.path()),
        RecoveryCause::OffsetIndex(_) | RecoveryCause::TimeIndex(_) | RecoveryCause::Tail { .. }
    ));
    assert_eq!(common::snapshot(dir.path()), before, "nothing written");
}

#[test]
fn torn_tail_needs_recovery() {
    let dir = tempfile::tempdir().unwrap();
    build_sealed(dir.path());
    let log = segment_file(dir.path(), BASE, "log");
    let len = std::fs::metadata(&log).unwrap().len();
    std::fs::File::options()
        .write(true)
        .open(&log)
        .unwrap()
        .set_len(len - 7)
        .unwrap();
    assert!(matches!(
        cause(dir.path()),
        RecoveryCause::Tail { .. } | RecoveryCause::OffsetIndex(_)
    ));
    assert_eq!(std::fs::metadata(&log).unwrap().len(), len - 7);
}

#[test]
fn empty_segment_is_trusted_and_empty() {
    let dir = tempfile::tempdir().unwrap();
    let mut seg = Segment::create(dir.path(), BASE, &common::small_config()).unwrap();
    seg.seal().unwrap();
    drop(seg);
    assert_eq!(
        std::fs::metadata(segment_file(dir.path(), BASE, "log"))
            .unwrap()
            .len(),
        0
    );
    let reader = trusted(dir.path());
    assert_eq!((reader.size(), reader.next_offset()), (0, BASE));
    assert!(reader.read(BASE, 1 << 20).unwrap().is_none());
    assert_eq!(reader.max_timestamp(), None);
    assert!(reader.bytes().is_empty());
}

#[test]
fn missing_log_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    assert!(SegmentReader::open_sealed(dir.path(), BASE, &common::small_config()).is_err());
}
