//! Appends that would break an index are refused with an error naming the
//! file and what was wrong, and leave the index unchanged.

use silt_index::{IndexError, OffsetIndex, TimeIndex};

#[test]
fn offset_index_rejects_non_monotonic_appends() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("0.index");
    let mut index = OffsetIndex::create(&path, 100, 1024).unwrap();
    index.append(110, 500).unwrap();

    let err = index.append(110, 600).unwrap_err();
    assert!(
        matches!(
            err,
            IndexError::NotMonotonic {
                last: 110,
                offset: 110,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(err.path(), path);
    assert!(err.to_string().contains("0.index"), "{err}");
    let err = index.append(105, 600).unwrap_err();
    assert!(
        matches!(
            err,
            IndexError::NotMonotonic {
                last: 110,
                offset: 105,
                ..
            }
        ),
        "{err}"
    );
    let err = index.append(120, 500).unwrap_err();
    assert!(
        matches!(
            err,
            IndexError::PositionNotMonotonic {
                last: 500,
                position: 500,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(index.entries(), 1);
    index.append(111, 501).unwrap();
}

#[test]
fn offset_index_rejects_offsets_outside_the_segment() {
    let dir = tempfile::tempdir().unwrap();
    let mut index = OffsetIndex::create(&dir.path().join("0.index"), 100, 1024).unwrap();
    let err = index.append(99, 1).unwrap_err();
    assert!(
        matches!(
            err,
            IndexError::OffsetOverflow {
                base_offset: 100,
                offset: 99,
                ..
            }
        ),
        "{err}"
    );
    let too_far = 100 + i64::from(u32::MAX) + 1;
    let err = index.append(too_far, 1).unwrap_err();
    assert!(
        matches!(err, IndexError::OffsetOverflow { offset, .. } if offset == too_far),
        "{err}"
    );
    index.append(100 + i64::from(u32::MAX), 1).unwrap();
    assert_eq!(index.lookup(i64::MAX).offset, 100 + i64::from(u32::MAX));
}

#[test]
fn offset_index_full() {
    let dir = tempfile::tempdir().unwrap();
    let mut index = OffsetIndex::create(&dir.path().join("0.index"), 0, 3 * 8 + 5).unwrap();
    assert_eq!(index.max_entries(), 3);
    for i in 1..=3 {
        assert!(!index.is_full());
        index.append(i, i as u32).unwrap();
    }
    assert!(index.is_full());
    let err = index.append(4, 4).unwrap_err();
    assert!(matches!(err, IndexError::Full { entries: 3, .. }), "{err}");
}

#[test]
fn sealed_indexes_take_no_appends() {
    let dir = tempfile::tempdir().unwrap();
    let mut index = OffsetIndex::create(&dir.path().join("0.index"), 0, 1024).unwrap();
    index.append(1, 1).unwrap();
    index.seal().unwrap();
    assert!(matches!(index.append(2, 2), Err(IndexError::Sealed { .. })));

    let mut time_index = TimeIndex::create(&dir.path().join("0.timeindex"), 0, 1024).unwrap();
    time_index.seal().unwrap();
    assert!(matches!(
        time_index.maybe_append(5, 1),
        Err(IndexError::Sealed { .. })
    ));
}

#[test]
fn bad_sizes_and_base_offsets() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("0.index");
    let err = OffsetIndex::create(&path, 0, 7).unwrap_err();
    assert!(
        matches!(
            err,
            IndexError::BadMaxSize {
                max_index_bytes: 7,
                entry_size: 8,
                ..
            }
        ),
        "{err}"
    );
    let err = TimeIndex::create(&path, 0, 11).unwrap_err();
    assert!(
        matches!(err, IndexError::BadMaxSize { entry_size: 12, .. }),
        "{err}"
    );
    let err = OffsetIndex::open(&path, 0, 0, 0).unwrap_err();
    assert!(matches!(err, IndexError::BadMaxSize { .. }), "{err}");
    let err = OffsetIndex::create(&path, -1, 1024).unwrap_err();
    assert!(
        matches!(
            err,
            IndexError::BadBaseOffset {
                base_offset: -1,
                ..
            }
        ),
        "{err}"
    );
    let err = TimeIndex::create(&path, i64::MAX, 1024).unwrap_err();
    assert!(matches!(err, IndexError::BadBaseOffset { .. }), "{err}");
}

#[test]
fn io_errors_name_the_file_and_the_operation() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("no-such-dir").join("0.index");
    let err = OffsetIndex::create(&path, 0, 1024).unwrap_err();
    assert!(matches!(err, IndexError::Io { op: "open", .. }), "{err}");
    assert!(err.to_string().contains("no-such-dir"), "{err}");
}

#[test]
fn time_index_rejects_offsets_going_back() {
    let dir = tempfile::tempdir().unwrap();
    let mut index = TimeIndex::create(&dir.path().join("0.timeindex"), 100, 1024).unwrap();
    assert!(index.maybe_append(10, 110).unwrap());
    // Same offset, newer timestamp: allowed (offsets only must not decrease).
    assert!(index.maybe_append(11, 110).unwrap());
    let err = index.maybe_append(12, 109).unwrap_err();
    assert!(
        matches!(
            err,
            IndexError::NotMonotonic {
                last: 110,
                offset: 109,
                ..
            }
        ),
        "{err}"
    );
    // Checked even when the timestamp would be skipped.
    assert!(matches!(
        index.maybe_append(5, 109),
        Err(IndexError::NotMonotonic { .. })
    ));
    let err = index.maybe_append(20, 99).unwrap_err();
    assert!(matches!(err, IndexError::OffsetOverflow { .. }), "{err}");
    assert_eq!(index.entries(), 2);
}

#[test]
fn time_index_keeps_its_last_slot_for_the_roll() {
    let dir = tempfile::tempdir().unwrap();
    let mut index = TimeIndex::create(&dir.path().join("0.timeindex"), 0, 3 * 12).unwrap();
    assert_eq!(index.max_entries(), 3);
    assert!(index.maybe_append(1, 0).unwrap());
    assert!(index.maybe_append(2, 1).unwrap());
    assert!(index.is_full(), "Kafka: full at max_entries - 1");
    let err = index.maybe_append(3, 2).unwrap_err();
    assert!(matches!(err, IndexError::Full { entries: 2, .. }), "{err}");
    // A skipped append is not an error even when full.
    assert!(!index.maybe_append(2, 2).unwrap());
    // The roll's final entry takes the reserved slot.
    assert!(index.maybe_append_on_roll(3, 2).unwrap());
    assert!(matches!(
        index.maybe_append_on_roll(4, 2),
        Err(IndexError::Full { entries: 3, .. })
    ));
}
