//! `OffsetIndex::lookup` agrees with a linear scan, in the warm tail and the
//! cold head of the index alike, through the writer and through a reader.

use proptest::prelude::*;
use silt_index::{OffsetIndex, OffsetPosition};

const WARM_ENTRIES: usize = 8192 / OffsetIndex::ENTRY_SIZE;

/// The largest entry with offset <= target, or (base, 0): the definition.
fn linear(base: i64, entries: &[(i64, u32)], target: i64) -> OffsetPosition {
    entries
        .iter()
        .rev()
        .find(|(offset, _)| *offset <= target)
        .map_or(
            OffsetPosition {
                offset: base,
                position: 0,
            },
            |&(offset, position)| OffsetPosition { offset, position },
        )
}

/// Builds entries from (offset gap, position gap) pairs.
fn build(base: i64, gaps: &[(u32, u32)]) -> Vec<(i64, u32)> {
    let (mut offset, mut position) = (base, 0u32);
    gaps.iter()
        .map(|&(offset_gap, position_gap)| {
            offset += i64::from(offset_gap);
            position += position_gap;
            (offset, position)
        })
        .collect()
}

fn targets(base: i64, entries: &[(i64, u32)], random: &[i64]) -> Vec<i64> {
    let last = entries.last().map_or(base, |e| e.0);
    let mut targets = vec![
        i64::MIN,
        -1,
        0,
        base - 1,
        base,
        base + 1,
        last - 1,
        last,
        last + 1,
        i64::MAX,
    ];
    // Kafka's warm section is the last 8192 / 8 = 1024 entries after the
    // one at `entries - 1 - 1024`, where the search splits.
    let split = entries.len().saturating_sub(1 + WARM_ENTRIES);
    let near_split = entries.iter().skip(split.saturating_sub(2)).take(5);
    for &(offset, _) in entries.iter().step_by(97).chain(near_split) {
        targets.extend([offset - 1, offset, offset + 1]);
    }
    targets.extend(
        random
            .iter()
            .map(|r| base + r.rem_euclid(last - base + 3) - 1),
    );
    targets
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn lookup_matches_linear_scan(
        base in 0i64..1_000_000_000_000,
        gaps in prop::collection::vec((1u32..40, 1u32..5_000), 0..3_000),
        random in prop::collection::vec(any::<i64>(), 200),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("0.index");
        let entries = build(base, &gaps);
        let mut index = OffsetIndex::create(&path, base, (entries.len() as u64 + 5) * 8).unwrap();
        for &(offset, position) in &entries {
            index.append(offset, position).unwrap();
        }
        let reader = index.reader();
        prop_assert_eq!(index.entries(), entries.len());
        for target in targets(base, &entries, &random) {
            let expected = linear(base, &entries, target);
            prop_assert_eq!(index.lookup(target), expected, "target {}", target);
            prop_assert_eq!(reader.lookup(target), expected, "reader, target {}", target);
        }
    }
}

#[test]
fn every_entry_finds_itself_in_warm_and_cold_sections() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("0.index");
    let base = 1_000;
    let mut index = OffsetIndex::create(&path, base, 10 * 1024 * 1024).unwrap();
    let n = 5_000i64; // warm section is 1024 entries: most are cold
    for i in 0..n {
        index.append(base + 1 + 3 * i, (10 + 7 * i) as u32).unwrap();
    }
    for i in 0..n {
        let offset = base + 1 + 3 * i;
        let expected = OffsetPosition {
            offset,
            position: (10 + 7 * i) as u32,
        };
        assert_eq!(index.lookup(offset), expected);
        assert_eq!(index.lookup(offset + 2), expected);
        assert_eq!(index.entry(i as usize), Some(expected));
    }
    assert_eq!(
        index.lookup(base),
        OffsetPosition {
            offset: base,
            position: 0
        }
    );
    assert_eq!(index.entry(n as usize), None);
    assert_eq!(
        index.last_entry().map(|e| e.offset),
        Some(base + 1 + 3 * (n - 1))
    );
}

#[test]
fn empty_index_returns_segment_start() {
    let dir = tempfile::tempdir().unwrap();
    let index = OffsetIndex::create(&dir.path().join("0.index"), 42, 1024).unwrap();
    let start = OffsetPosition {
        offset: 42,
        position: 0,
    };
    assert_eq!(index.lookup(0), start);
    assert_eq!(index.lookup(42), start);
    assert_eq!(index.lookup(i64::MAX), start);
    assert_eq!(index.last_entry(), None);
    assert_eq!(index.entry(0), None);
    assert_eq!(index.max_entries(), 128);
}
