//! Lock-free readers on other threads see only whole, published entries
//! while one writer appends.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;

use silt_index::{
    OffsetIndex, OffsetIndexReader, OffsetPosition, TimeIndex, TimeIndexReader, TimestampOffset,
};

const BASE: i64 = 5_000_000;
const APPENDS: i64 = 100_000;
const READERS: usize = 2;
const TIMESTAMP_0: i64 = 1_700_000_000_000;

/// Entry k of the test layout.
fn offset_of(k: i64) -> i64 {
    BASE + 3 * k + 1
}

fn position_of(offset: i64) -> u32 {
    ((offset - BASE) * 10) as u32
}

fn timestamp_of(k: i64) -> i64 {
    TIMESTAMP_0 + 5 * k
}

/// xorshift64: cheap reproducible targets without a dependency.
fn next(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

fn check_offset_reader(reader: &OffsetIndexReader, seen: &mut usize, rng: &mut u64) {
    let n = reader.entries();
    assert!(n >= *seen, "entry count went back from {seen} to {n}");
    *seen = n;
    let target = BASE - 2 + (next(rng) % (3 * APPENDS as u64 + 4)) as i64;
    let found = reader.lookup(target);
    assert!(
        found.offset <= target.max(BASE),
        "{found:?} past target {target}"
    );
    if found.offset != BASE {
        assert_eq!(
            found.position,
            position_of(found.offset),
            "torn entry {found:?}"
        );
        assert_eq!(
            (found.offset - BASE - 1) % 3,
            0,
            "not an appended offset: {found:?}"
        );
    } else {
        assert_eq!(found.position, 0);
    }
    // Every entry at or before the target among the n published must be
    // visible, so the answer is exact when it lies among them.
    let k = (target - BASE - 1).div_euclid(3);
    if k >= 0 && (k as usize) < n {
        assert_eq!(
            found,
            OffsetPosition {
                offset: offset_of(k),
                position: position_of(offset_of(k))
            }
        );
    }
    if let Some(last) = n.checked_sub(1) {
        let entry = reader.entry(last).unwrap();
        assert_eq!(entry.offset, offset_of(last as i64));
        assert_eq!(entry.position, position_of(entry.offset));
    }
}

fn check_time_reader(reader: &TimeIndexReader, seen: &mut usize, rng: &mut u64) {
    let n = reader.entries();
    assert!(n >= *seen);
    *seen = n;
    let target = TIMESTAMP_0 - 1 + (next(rng) % (5 * APPENDS as u64 + 2)) as i64;
    let found = reader.lookup(target);
    if found.timestamp == -1 {
        assert_eq!(found.offset, BASE);
    } else {
        let k = (found.timestamp - TIMESTAMP_0) / 5;
        assert_eq!(
            found,
            TimestampOffset {
                timestamp: timestamp_of(k),
                offset: offset_of(k)
            },
            "torn entry"
        );
        assert!(found.timestamp <= target);
    }
    let k = (target - TIMESTAMP_0).div_euclid(5);
    if k >= 0 && (k as usize) < n {
        assert_eq!(
            found,
            TimestampOffset {
                timestamp: timestamp_of(k),
                offset: offset_of(k)
            }
        );
    }
}

#[test]
fn readers_see_whole_published_entries_while_the_writer_appends() {
    let dir = tempfile::tempdir().unwrap();
    let mut index =
        OffsetIndex::create(&dir.path().join("0.index"), BASE, APPENDS as u64 * 8).unwrap();
    let mut time_index = TimeIndex::create(
        &dir.path().join("0.timeindex"),
        BASE,
        (APPENDS as u64 + 1) * 12,
    )
    .unwrap();
    let done = Arc::new(AtomicBool::new(false));

    let readers: Vec<_> = (0..READERS)
        .map(|r| {
            let (reader, time_reader, done) =
                (index.reader(), time_index.reader(), Arc::clone(&done));
            thread::spawn(move || {
                let (mut seen, mut time_seen, mut rng) = (0, 0, 0x9e37_79b9_7f4a_7c15 ^ r as u64);
                let mut rounds = 0u64;
                // Bounded by the writer: it stops after APPENDS entries.
                while !done.load(Ordering::Acquire) {
                    check_offset_reader(&reader, &mut seen, &mut rng);
                    check_time_reader(&time_reader, &mut time_seen, &mut rng);
                    rounds += 1;
                }
                // One last round sees everything.
                check_offset_reader(&reader, &mut seen, &mut rng);
                check_time_reader(&time_reader, &mut time_seen, &mut rng);
                assert_eq!(seen, APPENDS as usize);
                assert_eq!(time_seen, APPENDS as usize);
                rounds
            })
        })
        .collect();

    for k in 0..APPENDS {
        index
            .append(offset_of(k), position_of(offset_of(k)))
            .unwrap();
        assert!(time_index
            .maybe_append(timestamp_of(k), offset_of(k))
            .unwrap());
    }
    assert!(index.is_full());
    done.store(true, Ordering::Release);
    for reader in readers {
        reader.join().unwrap();
    }
}
