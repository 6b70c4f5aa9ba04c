//! Offset index lookups against a binary search over the same entries in a `Vec`.
//!
//! The index holds 1,000,000 entries (8 MB, more than L2): offsets `base + 10 i`, positions
//! `100 i`. Each iteration looks up the next of 4096 precomputed targets, so the figure is
//! the time per lookup (lookups are independent, so the CPU may overlap consecutive ones, as
//! it would in a fetch loop).
//!
//! Target (from the issue): random lookups <= 150 ns median per lookup.
//!
//! `recent` looks up offsets in the last 8 KiB of entries, the warm section Kafka's search
//! favours because consumers at the head of the log ask for recent offsets (not a target).

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use silt_benches::XorShift64;
use silt_index::OffsetIndex;

const ENTRIES: usize = 1_000_000;
const BASE_OFFSET: i64 = 1_000_000_000;
const OFFSET_STEP: i64 = 10;
const POSITION_STEP: u32 = 100;
const MAX_INDEX_BYTES: u64 = 8 << 20;
const TARGETS: usize = 4096;
/// Entries in the last 8 KiB of the index (Kafka's warm section).
const WARM_ENTRIES: usize = 1024;

/// The last entry at or before `target`, or the segment's start; the same contract as
/// `OffsetIndex::lookup`, over native `(relative offset, position)` pairs.
fn vec_lookup(entries: &[(u32, u32)], target: i64) -> (i64, u32) {
    let relative = match target.checked_sub(BASE_OFFSET) {
        Some(delta) if delta >= 0 => u32::try_from(delta).unwrap_or(u32::MAX),
        _ => return (BASE_OFFSET, 0),
    };
    let i = match entries.binary_search_by_key(&relative, |&(offset, _)| offset) {
        Ok(i) => i,
        Err(0) => return (BASE_OFFSET, 0),
        Err(i) => i - 1,
    };
    let (offset, position) = entries[i];
    (BASE_OFFSET + i64::from(offset), position)
}

/// `TARGETS` offsets drawn uniformly from the last `span` entries' offset range.
fn targets(span: usize, seed: u64) -> Vec<i64> {
    let mut rng = XorShift64::new(seed);
    let first = (ENTRIES - span) as i64 * OFFSET_STEP;
    (0..TARGETS)
        .map(|_| BASE_OFFSET + first + rng.below(span as u64 * OFFSET_STEP as u64) as i64)
        .collect()
}

fn index_lookup(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("00000000001000000000.index");
    let mut index = OffsetIndex::create(&path, BASE_OFFSET, MAX_INDEX_BYTES).expect("create");
    let mut entries = Vec::with_capacity(ENTRIES);
    for i in 0..ENTRIES {
        let offset = BASE_OFFSET + i as i64 * OFFSET_STEP;
        let position = i as u32 * POSITION_STEP;
        index.append(offset, position).expect("append");
        entries.push(((offset - BASE_OFFSET) as u32, position));
    }
    assert_eq!(index.entries(), ENTRIES);

    for (name, span, seed) in [("random", ENTRIES, 42), ("recent", WARM_ENTRIES, 43)] {
        let targets = targets(span, seed);
        for &t in &targets {
            let silt = index.lookup(t);
            assert_eq!((silt.offset, silt.position), vec_lookup(&entries, t));
        }

        let mut group = c.benchmark_group(format!("index_lookup/{name}"));
        group
            .sample_size(20)
            .warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(2))
            .throughput(Throughput::Elements(1));
        group.bench_function("silt_offset_index", |b| {
            let mut i = 0;
            b.iter(|| {
                let target = targets[i % TARGETS];
                i += 1;
                index.lookup(black_box(target))
            })
        });
        group.bench_function("baseline_vec_binary_search", |b| {
            let mut i = 0;
            b.iter(|| {
                let target = targets[i % TARGETS];
                i += 1;
                vec_lookup(black_box(&entries), black_box(target))
            })
        });
        group.finish();
    }
    drop(index);
    dir.close().expect("temporary directory removed");
}

criterion_group!(benches, index_lookup);
criterion_main!(benches);
