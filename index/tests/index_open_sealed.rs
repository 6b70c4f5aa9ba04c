//! `open_sealed` opens a closed segment's index as it is, writing nothing: mapped at its
//! length, sealed, with its entries. An untrusted file is recreated and comes back empty and
//! appendable, as with `open`. `unseal` maps it again at its maximum size, once no reader
//! holds the old map.

mod common;

use std::fs;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use silt_index::{
    IndexCheck, IndexError, OffsetIndex, OffsetPosition, RebuildReason, TimeIndex, TimestampOffset,
};

const MAX_BYTES: u64 = 64 * 1024;
const BASE: i64 = 1_000;
const LOG_SIZE: u64 = 1_000_000;

/// A sealed offset index with `n` entries (offset base+2i+1, position 100(i+1)), its
/// modification time set long in the past so that any write shows.
fn sealed_offset_index(path: &Path, n: i64) {
    common::sealed_offset_index(path, BASE, MAX_BYTES, n);
    age(path);
}

fn age(path: &Path) {
    let past = UNIX_EPOCH + Duration::from_secs(1_000_000_000);
    let file = fs::File::options().write(true).open(path).unwrap();
    file.set_modified(past).unwrap();
}

fn state(path: &Path) -> (u64, SystemTime, Vec<u8>) {
    let meta = fs::metadata(path).unwrap();
    (
        meta.len(),
        meta.modified().unwrap(),
        fs::read(path).unwrap(),
    )
}

#[test]
fn trusted_index_is_mapped_at_its_length_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("0.index");
    sealed_offset_index(&path, 300);
    let before = state(&path);

    let (mut index, check) = OffsetIndex::open_sealed(&path, BASE, MAX_BYTES, LOG_SIZE).unwrap();
    assert_eq!(check, IndexCheck::Ok);
    assert!(index.is_sealed() && index.is_full());
    assert_eq!((index.entries(), index.max_entries()), (300, 300));
    let entry = OffsetPosition {
        offset: BASE + 201,
        position: 10_100,
    };
    assert_eq!(index.lookup(BASE + 202), entry);
    assert_eq!(index.reader().lookup(BASE + 202), entry);
    assert!(matches!(
        index.append(BASE + 1_000, 99_999),
        Err(IndexError::Sealed { .. })
    ));
    index.seal().unwrap(); // already sealed: nothing to do
    index.flush().unwrap();
    drop(index);
    assert_eq!(state(&path), before, "nothing written");
}

#[test]
fn empty_and_time_indexes_open_sealed_too() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("0.index");
    sealed_offset_index(&path, 0);
    let (index, check) = OffsetIndex::open_sealed(&path, BASE, MAX_BYTES, LOG_SIZE).unwrap();
    assert_eq!(check, IndexCheck::Ok);
    assert_eq!((index.entries(), index.last_entry()), (0, None));
    assert_eq!(fs::metadata(&path).unwrap().len(), 0);

    let time_path = dir.path().join("0.timeindex");
    let mut time_index = TimeIndex::create(&time_path, BASE, MAX_BYTES).unwrap();
    time_index.maybe_append(10, BASE).unwrap();
    time_index.maybe_append_on_roll(20, BASE + 4).unwrap();
    time_index.seal().unwrap();
    drop(time_index);
    age(&time_path);
    let before = state(&time_path);
    let (time_index, check) = TimeIndex::open_sealed(&time_path, BASE, MAX_BYTES).unwrap();
    assert_eq!(check, IndexCheck::Ok);
    assert!(time_index.is_sealed());
    assert_eq!(
        time_index.last_entry(),
        Some(TimestampOffset {
            timestamp: 20,
            offset: BASE + 4
        })
    );
    drop(time_index);
    assert_eq!(state(&time_path), before);
}

#[test]
fn untrusted_index_is_recreated_appendable() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("0.index");
    sealed_offset_index(&path, 10);
    // Position 100(i+1) of entry 9 is 1000: a log of 500 bytes does not hold it.
    let (mut index, check) = OffsetIndex::open_sealed(&path, BASE, MAX_BYTES, 500).unwrap();
    assert!(matches!(
        check,
        IndexCheck::Rebuild(RebuildReason::OutOfLog { .. })
    ));
    assert!(!index.is_sealed());
    assert_eq!(index.entries(), 0);
    assert_eq!(
        fs::metadata(&path).unwrap().len(),
        MAX_BYTES,
        "preallocated"
    );
    index.append(BASE + 3, 7).unwrap();

    let missing = dir.path().join("1.index");
    let (index, check) = OffsetIndex::open_sealed(&missing, BASE, MAX_BYTES, LOG_SIZE).unwrap();
    assert_eq!(check, IndexCheck::Rebuild(RebuildReason::Missing));
    assert!(!index.is_sealed());
}

#[test]
fn unseal_maps_again_once_readers_are_gone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("0.index");
    sealed_offset_index(&path, 5);
    let (mut index, _) = OffsetIndex::open_sealed(&path, BASE, MAX_BYTES, LOG_SIZE).unwrap();
    let reader = index.reader();
    assert!(matches!(
        index.unseal(),
        Err(IndexError::ReadersOutstanding { .. })
    ));
    assert!(index.is_sealed());
    assert_eq!(reader.entries(), 5, "the reader's map is untouched");
    drop(reader);

    index.unseal().unwrap();
    assert!(!index.is_sealed());
    assert_eq!(index.max_entries() as u64, MAX_BYTES / 8);
    assert_eq!(fs::metadata(&path).unwrap().len(), MAX_BYTES);
    for i in 5..1_000 {
        index
            .append(BASE + 2 * i + 1, 100 * (i as u32 + 1))
            .unwrap();
    }
    assert_eq!(index.entries(), 1_000);
    assert_eq!(index.lookup(BASE + 5).offset, BASE + 5);
    index.seal().unwrap();
    drop(index);
    let (index, check) = OffsetIndex::open_sealed(&path, BASE, MAX_BYTES, LOG_SIZE).unwrap();
    assert_eq!((check, index.entries()), (IndexCheck::Ok, 1_000));
}
