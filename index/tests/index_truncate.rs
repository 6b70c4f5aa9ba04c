//! `truncate_to`, `truncate_to_position` and `clear` remove exactly the
//! entries at or past the cut, and appends continue from there.

use silt_index::{OffsetIndex, OffsetPosition, TimeIndex, TimestampOffset};

const BASE: i64 = 1_000;

/// Entries at offsets base+10i (i = 1..=n), positions 100i.
fn offset_index(dir: &tempfile::TempDir, n: i64) -> OffsetIndex {
    let mut index = OffsetIndex::create(&dir.path().join("0.index"), BASE, 64 * 1024).unwrap();
    for i in 1..=n {
        index.append(BASE + 10 * i, 100 * i as u32).unwrap();
    }
    index
}

fn offsets(index: &OffsetIndex) -> Vec<i64> {
    (0..index.entries())
        .map(|i| index.entry(i).unwrap().offset)
        .collect()
}

#[test]
fn truncate_to_offset_removes_entries_at_or_past_it() {
    let dir = tempfile::tempdir().unwrap();
    for (cut, kept) in [
        (BASE + 35, 3),
        (BASE + 30, 2),
        (BASE + 31, 3),
        (BASE + 10, 0),
        (BASE, 0),
        (0, 0),
        (BASE + 51, 5),
        (i64::MAX, 5),
    ] {
        let mut index = offset_index(&dir, 5);
        index.truncate_to(cut).unwrap();
        let expected: Vec<i64> = (1..=kept).map(|i| BASE + 10 * i).collect();
        assert_eq!(offsets(&index), expected, "cut at {cut}");
        assert_eq!(
            index.last_entry().map(|e| e.offset),
            expected.last().copied()
        );
        assert_eq!(
            index.lookup(i64::MAX).offset,
            expected.last().copied().unwrap_or(BASE)
        );
    }
}

#[test]
fn truncate_to_position_removes_entries_at_or_past_it() {
    let dir = tempfile::tempdir().unwrap();
    for (cut, kept) in [
        (350, 3),
        (300, 2),
        (301, 3),
        (100, 0),
        (0, 0),
        (501, 5),
        (u32::MAX, 5),
    ] {
        let mut index = offset_index(&dir, 5);
        index.truncate_to_position(cut).unwrap();
        let positions: Vec<u32> = (0..index.entries())
            .map(|i| index.entry(i).unwrap().position)
            .collect();
        let expected: Vec<u32> = (1..=kept).map(|i| 100 * i).collect();
        assert_eq!(positions, expected, "cut at {cut}");
    }
}

#[test]
fn appends_continue_after_truncation() {
    let dir = tempfile::tempdir().unwrap();
    let mut index = offset_index(&dir, 3_000);
    index.truncate_to(BASE + 15_000).unwrap();
    assert_eq!(index.entries(), 1_499);
    assert_eq!(
        index.last_entry(),
        Some(OffsetPosition {
            offset: BASE + 14_990,
            position: 149_900
        })
    );
    // The log was rewritten past the cut, with different positions.
    index.append(BASE + 15_001, 149_950).unwrap();
    assert_eq!(
        index.lookup(BASE + 20_000),
        OffsetPosition {
            offset: BASE + 15_001,
            position: 149_950
        }
    );
    assert_eq!(
        index.lookup(BASE + 15_000),
        OffsetPosition {
            offset: BASE + 14_990,
            position: 149_900
        }
    );
    assert_eq!(
        index.lookup(BASE + 5_005),
        OffsetPosition {
            offset: BASE + 5_000,
            position: 50_000
        }
    );

    index.clear().unwrap();
    assert_eq!(index.entries(), 0);
    assert_eq!(
        index.lookup(BASE + 20_000),
        OffsetPosition {
            offset: BASE,
            position: 0
        }
    );
    index.append(BASE + 1, 1).unwrap();
    assert_eq!(index.entries(), 1);
}

#[test]
fn time_index_truncate_to_offset() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("0.timeindex");
    for (cut, kept) in [(BASE + 4, 4), (BASE + 3, 2), (BASE, 0), (BASE + 100, 5)] {
        let mut index = TimeIndex::create(&path, BASE, 1024).unwrap();
        // Offsets base+0, +1, +3, +3, +5: equal offsets with growing timestamps.
        for (timestamp, offset) in [(10, 0), (20, 1), (30, 3), (40, 3), (50, 5)] {
            assert!(index.maybe_append(timestamp, BASE + offset).unwrap());
        }
        index.truncate_to(cut).unwrap();
        assert_eq!(index.entries(), kept, "cut at {cut}");
        let last = index.last_entry();
        assert!(last.is_none_or(|e| e.offset < cut));
        // The next append only needs to be newer than what is left.
        let next_timestamp = last.map_or(0, |e| e.timestamp) + 1;
        assert!(index
            .maybe_append(next_timestamp, cut.min(BASE + 100))
            .unwrap());
        index.clear().unwrap();
        assert_eq!(
            index.lookup(i64::MAX),
            TimestampOffset {
                timestamp: -1,
                offset: BASE
            }
        );
    }
}
