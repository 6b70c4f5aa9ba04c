//! `open` trusts only valid index files: anything else comes back empty with
//! the reason, and accepts appends again.

mod common;

use std::fs::{self, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::Path;

use silt_index::{
    IndexCheck, OffsetIndex, OffsetPosition, RebuildReason, TimeIndex, TimestampOffset,
};

const MAX_BYTES: u64 = 64 * 1024;
const BASE: i64 = 1_000;
const LOG_SIZE: u64 = 1_000_000;

/// A sealed (trimmed) offset index with `n` entries: offset base+2i+1,
/// position 100(i+1).
fn sealed_offset_index(path: &Path, n: i64) {
    common::sealed_offset_index(path, BASE, MAX_BYTES, n);
}

fn offset_entry(i: i64) -> OffsetPosition {
    OffsetPosition {
        offset: BASE + 2 * i + 1,
        position: 100 * (i as u32 + 1),
    }
}

fn assert_rebuilt(index: &mut OffsetIndex, path: &Path) {
    assert_eq!(index.entries(), 0);
    assert_eq!(
        fs::metadata(path).unwrap().len(),
        MAX_BYTES,
        "re-preallocated"
    );
    index.append(BASE + 5, 42).unwrap();
    assert_eq!(
        index.lookup(BASE + 6),
        OffsetPosition {
            offset: BASE + 5,
            position: 42
        }
    );
}

fn write_at(path: &Path, bytes: &[u8], at: u64) {
    OpenOptions::new()
        .write(true)
        .open(path)
        .unwrap()
        .write_all_at(bytes, at)
        .unwrap();
}

#[test]
fn trimmed_valid_file_reopens_with_its_entries() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("0.index");
    sealed_offset_index(&path, 300);
    assert_eq!(fs::metadata(&path).unwrap().len(), 300 * 8, "seal trims");

    let (mut index, check) = OffsetIndex::open(&path, BASE, MAX_BYTES, LOG_SIZE).unwrap();
    assert_eq!(check, IndexCheck::Ok);
    assert_eq!(index.entries(), 300);
    assert!(!index.is_sealed());
    assert_eq!(index.max_entries(), (MAX_BYTES / 8) as usize);
    assert_eq!(fs::metadata(&path).unwrap().len(), MAX_BYTES, "re-extended");
    for i in 0..300 {
        assert_eq!(index.entry(i as usize), Some(offset_entry(i)));
    }
    index.append(BASE + 10_000, 1_000_000 - 1).unwrap();
    assert_eq!(index.entries(), 301);
}

#[test]
fn empty_trimmed_file_is_ok() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("0.index");
    sealed_offset_index(&path, 0);
    let (index, check) = OffsetIndex::open(&path, BASE, MAX_BYTES, 0).unwrap();
    assert_eq!(check, IndexCheck::Ok);
    assert_eq!(index.entries(), 0);
}

#[test]
fn length_not_a_multiple_of_the_entry_size() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("0.index");
    sealed_offset_index(&path, 10);
    OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(10 * 8 - 3)
        .unwrap();

    let (mut index, check) = OffsetIndex::open(&path, BASE, MAX_BYTES, LOG_SIZE).unwrap();
    assert_eq!(
        check,
        IndexCheck::Rebuild(RebuildReason::SizeNotMultiple {
            len: 77,
            entry_size: 8
        })
    );
    assert_rebuilt(&mut index, &path);
}

#[test]
fn flipped_byte_breaks_monotonicity() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("0.index");
    sealed_offset_index(&path, 10);
    // Entry 4's relative offset gets a huge high byte: entry 5 now goes back.
    write_at(&path, &[0x7f], 4 * 8);

    let (mut index, check) = OffsetIndex::open(&path, BASE, MAX_BYTES, LOG_SIZE).unwrap();
    assert_eq!(
        check,
        IndexCheck::Rebuild(RebuildReason::NotMonotonic { entry: 5 })
    );
    assert_rebuilt(&mut index, &path);
}

#[test]
fn position_beyond_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("0.index");
    sealed_offset_index(&path, 10);
    // Entry 9 has position 1000: a log of 1000 bytes does not hold it.
    let (mut index, check) = OffsetIndex::open(&path, BASE, MAX_BYTES, 1_000).unwrap();
    assert_eq!(
        check,
        IndexCheck::Rebuild(RebuildReason::OutOfLog { entry: 9 })
    );
    assert_rebuilt(&mut index, &path);
}

#[test]
fn untrimmed_file_from_a_crash_is_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("0.index");
    {
        let mut index = OffsetIndex::create(&path, BASE, MAX_BYTES).unwrap();
        for i in 0..10 {
            index
                .append(BASE + 2 * i + 1, 100 * (i as u32 + 1))
                .unwrap();
        }
        index.flush().unwrap();
        // Dropped without seal: the file keeps its zero-filled tail.
    }
    assert_eq!(fs::metadata(&path).unwrap().len(), MAX_BYTES);
    let (mut index, check) = OffsetIndex::open(&path, BASE, MAX_BYTES, LOG_SIZE).unwrap();
    assert_eq!(
        check,
        IndexCheck::Rebuild(RebuildReason::NotMonotonic { entry: 10 })
    );
    assert_rebuilt(&mut index, &path);
}

#[test]
fn untrimmed_file_with_no_entries_is_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("0.index");
    drop(OffsetIndex::create(&path, BASE, MAX_BYTES).unwrap());
    let (_, check) = OffsetIndex::open(&path, BASE, MAX_BYTES, LOG_SIZE).unwrap();
    assert!(matches!(
        check,
        IndexCheck::Rebuild(RebuildReason::NotMonotonic { .. })
    ));
}

#[test]
fn truncated_entries_do_not_come_back_after_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("0.index");
    let max_bytes = 10 * 8; // a full index has no zero tail to give it away
    {
        let mut index = OffsetIndex::create(&path, BASE, max_bytes).unwrap();
        for i in 0..10 {
            index
                .append(BASE + 2 * i + 1, 100 * (i as u32 + 1))
                .unwrap();
        }
        index.truncate_to(BASE + 2 * 5).unwrap();
        index.flush().unwrap();
    }
    let (index, check) = OffsetIndex::open(&path, BASE, max_bytes, LOG_SIZE).unwrap();
    assert!(matches!(
        check,
        IndexCheck::Rebuild(RebuildReason::NotMonotonic { entry: 5 })
    ));
    assert_eq!(index.entries(), 0);
}

#[test]
fn file_larger_than_the_maximum() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("0.index");
    sealed_offset_index(&path, 10);
    let (mut index, check) = OffsetIndex::open(&path, BASE, 8 * 4 + 7, LOG_SIZE).unwrap();
    assert_eq!(
        check,
        IndexCheck::Rebuild(RebuildReason::TooLarge { len: 80, max: 32 })
    );
    assert_eq!(index.entries(), 0);
    assert_eq!(fs::metadata(&path).unwrap().len(), 32);
    index.append(BASE + 1, 1).unwrap();
}

#[test]
fn missing_file_is_created() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("0.index");
    let (mut index, check) = OffsetIndex::open(&path, BASE, MAX_BYTES, LOG_SIZE).unwrap();
    assert_eq!(check, IndexCheck::Rebuild(RebuildReason::Missing));
    assert_rebuilt(&mut index, &path);

    let time_path = dir.path().join("0.timeindex");
    let (mut time_index, check) = TimeIndex::open(&time_path, BASE, MAX_BYTES).unwrap();
    assert_eq!(check, IndexCheck::Rebuild(RebuildReason::Missing));
    assert!(time_index.maybe_append(5, BASE).unwrap());
}

/// A sealed time index with `n` entries: timestamp 1000+10i, offset base+i.
fn sealed_time_index(path: &Path, n: i64) {
    let mut index = TimeIndex::create(path, BASE, MAX_BYTES).unwrap();
    for i in 0..n {
        assert!(index.maybe_append(1_000 + 10 * i, BASE + i).unwrap());
    }
    index.seal().unwrap();
}

#[test]
fn time_index_trimmed_valid_file_reopens() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("0.timeindex");
    sealed_time_index(&path, 50);
    assert_eq!(fs::metadata(&path).unwrap().len(), 50 * 12);
    let (mut index, check) =
        TimeIndex::open_checked(&path, BASE, MAX_BYTES, Some(BASE + 50)).unwrap();
    assert_eq!(check, IndexCheck::Ok);
    assert_eq!(index.entries(), 50);
    assert_eq!(
        index.entry(49),
        Some(TimestampOffset {
            timestamp: 1_490,
            offset: BASE + 49
        })
    );
    assert!(index.maybe_append(2_000, BASE + 60).unwrap());
}

#[test]
fn time_index_bad_files_are_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("0.timeindex");

    sealed_time_index(&path, 50);
    OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(50 * 12 - 5)
        .unwrap();
    let (index, check) = TimeIndex::open(&path, BASE, MAX_BYTES).unwrap();
    assert_eq!(
        check,
        IndexCheck::Rebuild(RebuildReason::SizeNotMultiple {
            len: 595,
            entry_size: 12
        })
    );
    assert_eq!(index.entries(), 0);
    drop(index);

    sealed_time_index(&path, 50);
    write_at(&path, &[0x40], 20 * 12); // entry 20's timestamp jumps ahead
    let (index, check) = TimeIndex::open(&path, BASE, MAX_BYTES).unwrap();
    assert_eq!(
        check,
        IndexCheck::Rebuild(RebuildReason::NotMonotonic { entry: 21 })
    );
    assert_eq!(index.entries(), 0);
    drop(index);

    sealed_time_index(&path, 50);
    write_at(&path, &[0xff], 30 * 12 + 8); // entry 30's offset jumps ahead
    let (index, check) = TimeIndex::open(&path, BASE, MAX_BYTES).unwrap();
    assert_eq!(
        check,
        IndexCheck::Rebuild(RebuildReason::NotMonotonic { entry: 31 })
    );
    assert_eq!(index.entries(), 0);
    drop(index);

    sealed_time_index(&path, 50);
    let (mut index, check) =
        TimeIndex::open_checked(&path, BASE, MAX_BYTES, Some(BASE + 40)).unwrap();
    assert_eq!(
        check,
        IndexCheck::Rebuild(RebuildReason::OutOfLog { entry: 40 })
    );
    assert_eq!(index.entries(), 0);
    assert!(index.maybe_append(1, BASE).unwrap());
    drop(index);

    {
        let mut index = TimeIndex::create(&path, BASE, MAX_BYTES).unwrap();
        assert!(index.maybe_append(1_000, BASE).unwrap());
        assert!(index.maybe_append(1_001, BASE + 1).unwrap());
    } // dropped unsealed
    let (index, check) = TimeIndex::open(&path, BASE, MAX_BYTES).unwrap();
    assert_eq!(
        check,
        IndexCheck::Rebuild(RebuildReason::NotMonotonic { entry: 2 })
    );
    assert_eq!(index.entries(), 0);
    assert_eq!(
        fs::metadata(&path).unwrap().len(),
        MAX_BYTES - MAX_BYTES % 12
    );
}
