//! A missing, truncated or corrupted index is detected at open and rebuilt from the log,
//! and the rebuilt index equals the one appends built.

mod common;

use silt_segment::batch::Compression;
use silt_segment::log::{segment_file, OpenMode, RecoveryCause, Segment};

fn build(dir: &std::path::Path) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let mut seg = Segment::create(dir, 0, &common::small_config()).unwrap();
    for i in 0..200 {
        seg.append(&common::batch(
            i,
            1 + (i % 5) as u32,
            40 + (i as usize % 90),
            Compression::None,
        ))
        .unwrap();
    }
    seg.seal().unwrap();
    assert!(seg.offset_index_entries() > 20);
    let read = |s| std::fs::read(segment_file(dir, 0, s)).unwrap();
    (read("log"), read("index"), read("timeindex"))
}

fn reopen(dir: &std::path::Path) -> (Segment, Option<RecoveryCause>) {
    let (seg, report) = Segment::open(dir, 0, &common::small_config(), OpenMode::Sealed).unwrap();
    (seg, report.recovered)
}

fn assert_same_files(dir: &std::path::Path, original: &(Vec<u8>, Vec<u8>, Vec<u8>)) {
    let read = |s| std::fs::read(segment_file(dir, 0, s)).unwrap();
    assert_eq!(read("log"), original.0, "log untouched");
    assert_eq!(
        read("index"),
        original.1,
        "offset index rebuilt identically"
    );
    assert_eq!(
        read("timeindex"),
        original.2,
        "time index rebuilt identically"
    );
}

#[test]
fn clean_index_is_trusted() {
    let dir = tempfile::tempdir().unwrap();
    let original = build(dir.path());
    let (_, cause) = reopen(dir.path());
    assert_eq!(cause, None);
    assert_same_files(dir.path(), &original);
}

#[test]
fn missing_index_is_rebuilt() {
    for suffix in ["index", "timeindex"] {
        let dir = tempfile::tempdir().unwrap();
        let original = build(dir.path());
        std::fs::remove_file(segment_file(dir.path(), 0, suffix)).unwrap();
        let (_, cause) = reopen(dir.path());
        assert!(cause.is_some(), "{suffix} missing");
        assert_same_files(dir.path(), &original);
    }
}

#[test]
fn truncated_index_is_rebuilt() {
    for suffix in ["index", "timeindex"] {
        for cut in [1usize, 5, 8, 12, 13] {
            let dir = tempfile::tempdir().unwrap();
            let original = build(dir.path());
            let path = segment_file(dir.path(), 0, suffix);
            let len = std::fs::metadata(&path).unwrap().len();
            std::fs::OpenOptions::new()
                .write(true)
                .open(&path)
                .unwrap()
                .set_len(len - cut as u64)
                .unwrap();
            let (seg, cause) = reopen(dir.path());
            // Cutting whole entries leaves a valid, shorter index: still correct (sparser).
            // Cutting part of an entry is detected.
            let entry = if suffix == "index" { 8 } else { 12 };
            if cut % entry != 0 {
                assert!(cause.is_some(), "{suffix} cut by {cut}");
                assert_same_files(dir.path(), &original);
            }
            // Either way every offset still reads correctly.
            let reader = seg.reader();
            for offset in (0..reader.next_offset()).step_by(7) {
                let slice = reader.read(offset, 1).unwrap().unwrap();
                let first = slice.batches().next().unwrap().unwrap();
                assert!(first.base_offset() <= offset && offset <= first.last_offset());
            }
        }
    }
}

#[test]
fn corrupted_index_is_rebuilt() {
    for suffix in ["index", "timeindex"] {
        let dir0 = tempfile::tempdir().unwrap();
        let (_, index, time_index) = build(dir0.path());
        let len = if suffix == "index" {
            index.len()
        } else {
            time_index.len()
        };
        for byte in (0..len).step_by(5) {
            let dir = tempfile::tempdir().unwrap();
            common::copy_segment(dir0.path(), dir.path(), 0);
            let path = segment_file(dir.path(), 0, suffix);
            let mut bytes = std::fs::read(&path).unwrap();
            bytes[byte] ^= 0x10;
            std::fs::write(&path, &bytes).unwrap();
            let (seg, _cause) = reopen(dir.path());
            // A flip may leave an index that passes the open checks (still monotonic, still
            // inside the log) but points between batches; the read path then sees that the
            // batch at the entry does not end at the entry's offset and scans instead, so
            // every offset still reads correctly.
            let reader = seg.reader();
            for offset in (0..reader.next_offset()).step_by(3) {
                match reader.read(offset, 1) {
                    Ok(Some(slice)) => {
                        let first = slice.batches().next().unwrap().unwrap();
                        assert!(
                            first.base_offset() <= offset && offset <= first.last_offset(),
                            "{suffix} byte {byte} offset {offset}"
                        );
                    }
                    other => panic!("{suffix} byte {byte}: read({offset}) = {other:?}"),
                }
            }
        }
    }
}

/// Rebuilding the indexes by recovery gives exactly what appends wrote, whatever the
/// index interval and batch sizes.
#[test]
fn forced_recovery_rebuilds_identical_indexes() {
    let dir = tempfile::tempdir().unwrap();
    let original = build(dir.path());
    let (seg, report) = Segment::open_with(
        dir.path(),
        0,
        &common::small_config(),
        OpenMode::Sealed,
        true,
    )
    .unwrap();
    assert_eq!(report.recovered, Some(RecoveryCause::Forced));
    assert_eq!(report.batches_checked, 200);
    drop(seg);
    assert_same_files(dir.path(), &original);
}
