//! `OffsetIndexReader::open_read_only` / `TimeIndexReader::open_read_only`: an index with no
//! writer, opened read-only and mapped at its length. It works on read-only files and never
//! writes: an untrusted or missing file gives an empty reader and the reason, and is left as
//! it was.

mod common;

use std::fs;
use std::path::Path;

use silt_index::{
    IndexCheck, OffsetIndex, OffsetIndexReader, OffsetPosition, RebuildReason, TimeIndex,
    TimeIndexReader, TimestampOffset,
};

const MAX_BYTES: u64 = 64 * 1024;
const BASE: i64 = 1_000;

fn build(dir: &Path) {
    let mut index = OffsetIndex::create(&dir.join("0.index"), BASE, MAX_BYTES).unwrap();
    let mut time_index = TimeIndex::create(&dir.join("0.timeindex"), BASE, MAX_BYTES).unwrap();
    for i in 1..=400i64 {
        index.append(BASE + i, i as u32 * 10).unwrap();
        time_index.maybe_append(5_000 + i, BASE + i).unwrap();
    }
    index.seal().unwrap();
    time_index.seal().unwrap();
}

#[test]
fn read_only_files_open_and_look_up() {
    let dir = tempfile::tempdir().unwrap();
    build(dir.path());
    if !common::files::make_read_only(dir.path()) {
        eprintln!("running as root: read-only files are writable, skipping");
        return;
    }
    let (index, check) =
        OffsetIndexReader::open_read_only(&dir.path().join("0.index"), BASE, MAX_BYTES, 10_000)
            .unwrap();
    assert_eq!(check, IndexCheck::Ok);
    assert_eq!(index.entries(), 400);
    assert_eq!(
        index.lookup(BASE + 250),
        OffsetPosition {
            offset: BASE + 250,
            position: 2_500
        }
    );
    let (time_index, check) =
        TimeIndexReader::open_read_only(&dir.path().join("0.timeindex"), BASE, MAX_BYTES).unwrap();
    assert_eq!(check, IndexCheck::Ok);
    assert_eq!(
        time_index.lookup(5_300),
        TimestampOffset {
            timestamp: 5_300,
            offset: BASE + 300
        }
    );
}

#[test]
fn untrusted_files_are_left_as_they_were() {
    let dir = tempfile::tempdir().unwrap();
    build(dir.path());
    let path = dir.path().join("0.index");
    let before = fs::read(&path).unwrap();
    // Positions reach 4000: a log of 1000 bytes does not hold them.
    let (index, check) = OffsetIndexReader::open_read_only(&path, BASE, MAX_BYTES, 1_000).unwrap();
    assert!(matches!(
        check,
        IndexCheck::Rebuild(RebuildReason::OutOfLog { .. })
    ));
    assert_eq!(index.entries(), 0);
    assert_eq!(
        index.lookup(BASE + 250),
        OffsetPosition {
            offset: BASE,
            position: 0
        }
    );
    assert_eq!(fs::read(&path).unwrap(), before);

    // An untrimmed (crashed) index: its zero tail fails, and it stays untrimmed.
    let crashed = dir.path().join("1.index");
    let mut writer = OffsetIndex::create(&crashed, BASE, MAX_BYTES).unwrap();
    writer.append(BASE + 1, 10).unwrap();
    drop(writer);
    let (_, check) = OffsetIndexReader::open_read_only(&crashed, BASE, MAX_BYTES, 10_000).unwrap();
    assert!(matches!(
        check,
        IndexCheck::Rebuild(RebuildReason::NotMonotonic { .. })
    ));
    assert_eq!(fs::metadata(&crashed).unwrap().len(), MAX_BYTES);
}

#[test]
fn missing_file_is_reported_not_created() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("0.timeindex");
    let (index, check) = TimeIndexReader::open_read_only(&path, BASE, MAX_BYTES).unwrap();
    assert_eq!(check, IndexCheck::Rebuild(RebuildReason::Missing));
    assert_eq!(index.last_entry(), None);
    assert!(!path.exists());
}
