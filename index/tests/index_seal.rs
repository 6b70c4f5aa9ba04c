//! `seal` trims the file and stops appends without disturbing readers;
//! `unseal` and `rename` keep the map; the handles are `Send + Sync`.

use std::fs;

use silt_index::{
    IndexCheck, OffsetIndex, OffsetIndexReader, OffsetPosition, TimeIndex, TimeIndexReader,
    TimestampOffset,
};

const MAX_BYTES: u64 = 1024 * 1024;

#[test]
fn handles_are_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<OffsetIndex>();
    assert_send_sync::<OffsetIndexReader>();
    assert_send_sync::<TimeIndex>();
    assert_send_sync::<TimeIndexReader>();
}

#[test]
fn seal_trims_and_stops_appends() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("0.index");
    let mut index = OffsetIndex::create(&path, 0, MAX_BYTES).unwrap();
    assert_eq!(
        fs::metadata(&path).unwrap().len(),
        MAX_BYTES,
        "preallocated"
    );
    for i in 1..=100 {
        index.append(i, i as u32 * 10).unwrap();
    }
    index.seal().unwrap();
    assert!(index.is_sealed());
    assert_eq!(index.max_entries(), 100);
    assert!(index.is_full());
    assert_eq!(fs::metadata(&path).unwrap().len(), 800);
    index.seal().unwrap(); // idempotent
    index.flush().unwrap();
    assert_eq!(
        index.lookup(50),
        OffsetPosition {
            offset: 50,
            position: 500
        }
    );
}

#[test]
fn readers_outlive_seal_rename_and_the_writer() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("0.index");
    let mut index = OffsetIndex::create(&path, 0, MAX_BYTES).unwrap();
    let reader = index.reader();
    // Enough entries to span several pages of the map, beyond the warm tail.
    for i in 1..=5_000 {
        index.append(i, i as u32 * 10).unwrap();
    }
    index.seal().unwrap();
    let deleted = dir.path().join("0.index.deleted");
    index.rename(&deleted).unwrap();
    assert_eq!(index.path(), deleted);
    assert!(!path.exists());
    drop(index);
    fs::remove_file(&deleted).unwrap();

    assert_eq!(reader.entries(), 5_000);
    for i in 1..=5_000 {
        assert_eq!(
            reader.lookup(i),
            OffsetPosition {
                offset: i,
                position: i as u32 * 10
            }
        );
    }
    assert_eq!(
        reader.last_entry(),
        Some(OffsetPosition {
            offset: 5_000,
            position: 50_000
        })
    );
    assert_eq!(reader.base_offset(), 0);
}

#[test]
fn renamed_index_reopens_under_its_new_name() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("0.timeindex");
    let mut index = TimeIndex::create(&path, 7, MAX_BYTES).unwrap();
    assert!(index.maybe_append(100, 8).unwrap());
    index.seal().unwrap();
    let new_path = dir.path().join("moved.timeindex");
    index.rename(&new_path).unwrap();
    drop(index);
    let (index, check) = TimeIndex::open(&new_path, 7, MAX_BYTES).unwrap();
    assert_eq!(check, IndexCheck::Ok);
    assert_eq!(
        index.last_entry(),
        Some(TimestampOffset {
            timestamp: 100,
            offset: 8
        })
    );
}

#[test]
fn unseal_lets_appends_continue() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("0.index");
    let mut index = OffsetIndex::create(&path, 0, MAX_BYTES).unwrap();
    for i in 1..=10 {
        index.append(i, i as u32).unwrap();
    }
    index.seal().unwrap();
    index.truncate_to(6).unwrap();
    assert!(index.is_sealed());
    index.unseal().unwrap();
    assert!(!index.is_sealed());
    assert_eq!(index.max_entries(), (MAX_BYTES / 8) as usize);
    assert_eq!(fs::metadata(&path).unwrap().len(), MAX_BYTES);
    index.append(6, 60).unwrap();
    assert_eq!(
        index.lookup(100),
        OffsetPosition {
            offset: 6,
            position: 60
        }
    );
}

#[test]
fn time_index_seal_takes_the_roll_entry_then_trims() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("0.timeindex");
    let mut index = TimeIndex::create(&path, 0, 4 * 12).unwrap();
    for i in 0..3 {
        assert!(index.maybe_append(10 + i, i).unwrap());
    }
    assert!(index.is_full());
    assert!(index.maybe_append_on_roll(20, 5).unwrap());
    index.seal().unwrap();
    assert_eq!(index.max_entries(), 4);
    assert!(index.is_full());
    assert_eq!(fs::metadata(&path).unwrap().len(), 48);
    assert_eq!(
        index.lookup(100),
        TimestampOffset {
            timestamp: 20,
            offset: 5
        }
    );
}
