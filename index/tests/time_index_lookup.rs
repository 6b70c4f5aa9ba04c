//! `TimeIndex::lookup` agrees with a linear scan, in the warm tail and the
//! cold head of the index alike, through the writer and through a reader.

use proptest::prelude::*;
use silt_index::{TimeIndex, TimestampOffset};

const WARM_ENTRIES: usize = 8192 / TimeIndex::ENTRY_SIZE;

/// The largest entry with timestamp <= target, or (-1, base): the definition.
fn linear(base: i64, entries: &[(i64, i64)], target: i64) -> TimestampOffset {
    entries
        .iter()
        .rev()
        .find(|(timestamp, _)| *timestamp <= target)
        .map_or(
            TimestampOffset {
                timestamp: -1,
                offset: base,
            },
            |&(timestamp, offset)| TimestampOffset { timestamp, offset },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn lookup_matches_linear_scan(
        base in 0i64..1_000_000_000_000,
        start in -5i64..2_000_000_000_000,
        gaps in prop::collection::vec((-3i64..1_000, 0u32..20), 0..2_500),
        random in prop::collection::vec(any::<i64>(), 200),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("0.timeindex");
        let mut index = TimeIndex::create(&path, base, (gaps.len() as u64 + 5) * 12).unwrap();
        // Feed timestamps that sometimes go backwards: maybe_append keeps only
        // the increasing ones, as Kafka does.
        let (mut timestamp, mut offset) = (start, base);
        let mut expected_entries = Vec::new();
        for &(timestamp_gap, offset_gap) in &gaps {
            timestamp += timestamp_gap;
            offset += i64::from(offset_gap);
            let newer = expected_entries.last().map_or(-1, |e: &(i64, i64)| e.0) < timestamp;
            prop_assert_eq!(index.maybe_append(timestamp, offset).unwrap(), newer);
            if newer {
                expected_entries.push((timestamp, offset));
            }
        }
        prop_assert_eq!(index.entries(), expected_entries.len());
        let reader = index.reader();
        let last = expected_entries.last().map_or(0, |e| e.0);
        let mut targets = vec![i64::MIN, -2, -1, 0, start - 1, start, last - 1, last, last + 1, i64::MAX];
        // The search splits at the entry before the last 8192 / 12 = 682.
        let split = expected_entries.len().saturating_sub(1 + WARM_ENTRIES);
        let near_split = expected_entries.iter().skip(split.saturating_sub(2)).take(5);
        for &(timestamp, _) in expected_entries.iter().step_by(53).chain(near_split) {
            targets.extend([timestamp - 1, timestamp, timestamp + 1]);
        }
        targets.extend(random.iter().map(|r| start + r.rem_euclid(last - start + 3) - 1));
        for target in targets {
            let expected = linear(base, &expected_entries, target);
            prop_assert_eq!(index.lookup(target), expected, "target {}", target);
            prop_assert_eq!(reader.lookup(target), expected, "reader, target {}", target);
        }
    }
}

#[test]
fn every_entry_finds_itself_in_warm_and_cold_sections() {
    let dir = tempfile::tempdir().unwrap();
    let base = 500;
    let mut index = TimeIndex::create(&dir.path().join("0.timeindex"), base, 1024 * 1024).unwrap();
    let n = 4_000i64; // warm section is 682 entries: most are cold
    for i in 0..n {
        assert!(index
            .maybe_append(1_700_000_000_000 + 10 * i, base + 2 * i)
            .unwrap());
    }
    for i in 0..n {
        let expected = TimestampOffset {
            timestamp: 1_700_000_000_000 + 10 * i,
            offset: base + 2 * i,
        };
        assert_eq!(index.lookup(expected.timestamp), expected);
        assert_eq!(index.lookup(expected.timestamp + 9), expected);
        assert_eq!(index.entry(i as usize), Some(expected));
    }
    assert_eq!(
        index.lookup(1_699_999_999_999),
        TimestampOffset {
            timestamp: -1,
            offset: base
        }
    );
}

#[test]
fn negative_timestamps_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let mut index = TimeIndex::create(&dir.path().join("0.timeindex"), 0, 1200).unwrap();
    // -1 is "no timestamp": an empty index skips it, like Kafka.
    assert!(!index.maybe_append(-1, 0).unwrap());
    assert!(!index.maybe_append(i64::MIN, 0).unwrap());
    assert!(index.maybe_append(0, 0).unwrap());
    assert!(index.maybe_append(i64::MAX, 7).unwrap());
    assert_eq!(
        index.lookup(i64::MAX),
        TimestampOffset {
            timestamp: i64::MAX,
            offset: 7
        }
    );
    assert_eq!(
        index.lookup(-5),
        TimestampOffset {
            timestamp: -1,
            offset: 0
        }
    );
    assert_eq!(
        index.last_entry(),
        Some(TimestampOffset {
            timestamp: i64::MAX,
            offset: 7
        })
    );
}
