//! Arbitrary offset index and time index files: opening must never panic nor fail on their
//! contents, must keep them exactly when they are a valid index, and lookups, appends,
//! truncation and sealing must agree with a plain model of the entries.
//!
//! For each index the model is a `Vec` of its entries: `open` must keep the file's entries
//! iff the file is a valid index (whole entries, not over the maximum size, ordered, inside
//! the log); a lookup must give the last entry at or below the target (by a linear scan), or
//! the segment start; an append must succeed or fail exactly as its contract says; after
//! `truncate_to`, `seal` and a reopen the entries are still the model's.
#![no_main]

use std::path::Path;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use silt_index::{IndexCheck, IndexError, OffsetIndex, OffsetPosition, TimeIndex, TimestampOffset};

/// Lookups checked per index and per phase, besides the ones derived from the entries.
const MAX_TARGETS: usize = 32;
/// Appends tried per index.
const MAX_APPENDS: usize = 64;

#[derive(Arbitrary, Debug)]
enum Base {
    Small(u16),
    /// Just below the largest base offset an index accepts (`i64::MAX - u32::MAX`).
    NearLimit(u16),
    Raw(i64),
}

impl Base {
    fn get(&self) -> i64 {
        match *self {
            Base::Small(n) => i64::from(n),
            Base::NearLimit(n) => i64::MAX - i64::from(u32::MAX) - i64::from(n),
            Base::Raw(n) => n,
        }
    }
}

/// An offset, mostly near the base offset or the last entry.
#[derive(Arbitrary, Debug, Clone, Copy)]
enum Offset {
    FromBase(i8),
    Relative(u32),
    AfterLast(u8),
    Raw(i64),
}

impl Offset {
    fn get(self, base: i64, last: Option<i64>) -> i64 {
        match self {
            Offset::FromBase(d) => base.saturating_add(i64::from(d)),
            Offset::Relative(r) => base.saturating_add(i64::from(r)),
            Offset::AfterLast(d) => last.unwrap_or(base).saturating_add(i64::from(d)),
            Offset::Raw(o) => o,
        }
    }
}

/// A byte position or a timestamp, mostly just past the last entry's.
#[derive(Arbitrary, Debug, Clone, Copy)]
enum Value {
    AfterLast(u16),
    Raw(i64),
}

impl Value {
    fn get(self, last: i64) -> i64 {
        match self {
            Value::AfterLast(d) => last.saturating_add(i64::from(d)),
            Value::Raw(v) => v,
        }
    }
}

/// Many appends with fixed strides, to grow an index past its warm section.
#[derive(Arbitrary, Debug)]
struct Bulk {
    count: u16,
    offset_stride: u8,
    value_stride: u16,
}

#[derive(Arbitrary, Debug)]
struct Input {
    base: Base,
    max_index_bytes: u16,
    log_size: u32,
    time_bound: Option<Offset>,
    offset_targets: Vec<Offset>,
    time_targets: Vec<Value>,
    offset_appends: Vec<(Offset, Value)>,
    time_appends: Vec<(Value, Offset, bool)>,
    bulk: Option<Bulk>,
    truncate: Option<Offset>,
    offset_index: Vec<u8>,
    time_index: Vec<u8>,
}

fuzz_target!(|input: Input| {
    let dir = silt_fuzz::scratch_dir();
    let base = input.base.get();
    let max = u64::from(input.max_index_bytes);
    let bad_args =
        |entry_size: u64| !(0..=i64::MAX - i64::from(u32::MAX)).contains(&base) || max < entry_size;
    let offset_path = dir.path().join("00000000000000000000.index");
    std::fs::write(&offset_path, &input.offset_index).expect("write index");
    match OffsetIndex::open(&offset_path, base, max, u64::from(input.log_size)) {
        Ok((index, check)) => {
            assert!(!bad_args(8));
            offset_index(&input, &offset_path, index, check);
        }
        Err(e) => assert!(bad_args(8) && is_bad_argument(&e), "open failed: {e}"),
    }
    let time_path = dir.path().join("00000000000000000000.timeindex");
    std::fs::write(&time_path, &input.time_index).expect("write time index");
    let bound = input.time_bound.map(|o| o.get(base, None));
    match TimeIndex::open_checked(&time_path, base, max, bound) {
        Ok((index, check)) => {
            assert!(!bad_args(12));
            time_index(&input, &time_path, index, check, bound);
        }
        Err(e) => assert!(bad_args(12) && is_bad_argument(&e), "open failed: {e}"),
    }
});

fn is_bad_argument(e: &IndexError) -> bool {
    matches!(
        e,
        IndexError::BadMaxSize { .. } | IndexError::BadBaseOffset { .. }
    )
}

fn be32(bytes: &[u8]) -> u32 {
    u32::from_be_bytes(bytes.try_into().expect("4 bytes"))
}

fn file_len(path: &Path) -> u64 {
    std::fs::metadata(path).expect("stat").len()
}

// ---------------------------------------------------------------------------------------
// Offset index

/// The entries of an offset index file, if it is a valid index.
fn offset_model(bytes: &[u8], base: i64, max: u64, log_size: u64) -> Option<Vec<OffsetPosition>> {
    let max = max - max % 8;
    if !bytes.len().is_multiple_of(8) || bytes.len() as u64 > max {
        return None;
    }
    let entries: Vec<OffsetPosition> = bytes
        .chunks_exact(8)
        .map(|e| OffsetPosition {
            offset: base + i64::from(be32(&e[..4])),
            position: be32(&e[4..]),
        })
        .collect();
    let ordered = entries
        .windows(2)
        .all(|w| w[0].offset < w[1].offset && w[0].position < w[1].position);
    let inside = entries.iter().all(|e| u64::from(e.position) < log_size);
    (ordered && inside).then_some(entries)
}

fn offset_entries(index: &OffsetIndex) -> Vec<OffsetPosition> {
    (0..index.entries())
        .map(|i| index.entry(i).expect("entry below entries()"))
        .collect()
}

fn check_offset_lookups(index: &OffsetIndex, model: &[OffsetPosition], targets: &[Offset]) {
    assert_eq!(offset_entries(index), model);
    assert_eq!(index.last_entry(), model.last().copied());
    let base = index.base_offset();
    let start = OffsetPosition {
        offset: base,
        position: 0,
    };
    let reader = index.reader();
    let last = model.last().map(|e| e.offset);
    let from_entries =
        sample(model).flat_map(|e| [e.offset - 1, e.offset, e.offset.saturating_add(1)]);
    let extremes = [i64::MIN, base - 1, base, i64::MAX];
    let targets = targets.iter().take(MAX_TARGETS).map(|t| t.get(base, last));
    for target in targets.chain(from_entries).chain(extremes) {
        let expected = model
            .iter()
            .rev()
            .find(|e| e.offset <= target)
            .copied()
            .unwrap_or(start);
        let found = index.lookup(target);
        assert_eq!(found, expected, "lookup({target})");
        assert_eq!(reader.lookup(target), expected, "reader lookup({target})");
        assert!(found.offset <= target || found == start);
    }
}

fn offset_index(input: &Input, path: &Path, mut index: OffsetIndex, check: IndexCheck) {
    let base = index.base_offset();
    let max = u64::from(input.max_index_bytes);
    let expected = offset_model(&input.offset_index, base, max, u64::from(input.log_size));
    assert_eq!(
        check.is_ok(),
        expected.is_some(),
        "open keeps the entries iff the file is a valid index ({check:?})"
    );
    let mut model = expected.unwrap_or_default();
    assert_eq!(index.max_entries() as u64, max / 8);
    check_offset_lookups(&index, &model, &input.offset_targets);

    for &(offset, position) in input.offset_appends.iter().take(MAX_APPENDS) {
        let last = model.last().copied();
        let offset = offset.get(base, last.map(|e| e.offset));
        let position = position.get(last.map_or(0, |e| i64::from(e.position)));
        let Ok(position) = u32::try_from(position) else {
            continue;
        };
        offset_append(&mut index, &mut model, offset, position);
    }
    if let Some(bulk) = &input.bulk {
        for _ in 0..bulk.count {
            let last = model.last().copied();
            let offset = last.map_or(base, |e| {
                e.offset.saturating_add(i64::from(bulk.offset_stride) + 1)
            });
            let position = last.map_or(Some(0), |e| {
                e.position.checked_add(u32::from(bulk.value_stride) + 1)
            });
            let Some(position) = position else { break };
            if !offset_append(&mut index, &mut model, offset, position) {
                break;
            }
        }
    }
    check_offset_lookups(&index, &model, &input.offset_targets);

    if let Some(to) = input.truncate {
        let to = to.get(base, model.last().map(|e| e.offset));
        index.truncate_to(to).expect("truncate_to");
        model.retain(|e| e.offset < to);
        check_offset_lookups(&index, &model, &[]);
    }
    index.seal().expect("seal");
    assert!(index.is_full() && index.is_sealed());
    assert_eq!(
        file_len(path),
        model.len() as u64 * 8,
        "sealed file holds its entries"
    );
    assert!(matches!(
        index.append(base + i64::from(u32::MAX), u32::MAX),
        Err(IndexError::Sealed { .. })
    ));
    drop(index);
    let (index, check) = OffsetIndex::open(path, base, max, u64::MAX).expect("reopen");
    assert_eq!(check, IndexCheck::Ok, "a sealed index reopens as it was");
    check_offset_lookups(&index, &model, &[]);
}

/// Appends to the index and, if its contract says it succeeds, to the model; returns whether
/// it did.
fn offset_append(
    index: &mut OffsetIndex,
    model: &mut Vec<OffsetPosition>,
    offset: i64,
    position: u32,
) -> bool {
    let base = index.base_offset();
    let last = model.last();
    let result = index.append(offset, position);
    let relative_ok = offset
        .checked_sub(base)
        .is_some_and(|d| (0..=i64::from(u32::MAX)).contains(&d));
    match result {
        Ok(()) => {
            assert!(relative_ok, "append({offset}) outside base {base} + u32");
            assert!(last.is_none_or(|l| l.offset < offset && l.position < position));
            assert!(model.len() < index.max_entries());
            model.push(OffsetPosition { offset, position });
            assert_eq!(index.last_entry(), model.last().copied());
            true
        }
        Err(IndexError::OffsetOverflow { .. }) => {
            assert!(!relative_ok);
            false
        }
        Err(IndexError::NotMonotonic { .. }) => {
            assert!(relative_ok && last.is_some_and(|l| offset <= l.offset));
            false
        }
        Err(IndexError::PositionNotMonotonic { .. }) => {
            assert!(
                relative_ok && last.is_some_and(|l| offset > l.offset && position <= l.position)
            );
            false
        }
        Err(IndexError::Full { .. }) => {
            assert!(relative_ok && last.is_none_or(|l| offset > l.offset && position > l.position));
            assert_eq!(model.len(), index.max_entries());
            false
        }
        Err(e) => panic!("append({offset}, {position}): unexpected {e}"),
    }
}

// ---------------------------------------------------------------------------------------
// Time index

const NO_TIMESTAMP: i64 = -1;

/// The entries of a time index file, if it is a valid index.
fn time_model(
    bytes: &[u8],
    base: i64,
    max: u64,
    bound: Option<i64>,
) -> Option<Vec<TimestampOffset>> {
    let max = max - max % 12;
    if !bytes.len().is_multiple_of(12) || bytes.len() as u64 > max {
        return None;
    }
    let entries: Vec<TimestampOffset> = bytes
        .chunks_exact(12)
        .map(|e| TimestampOffset {
            timestamp: i64::from_be_bytes(e[..8].try_into().expect("8 bytes")),
            offset: base + i64::from(be32(&e[8..])),
        })
        .collect();
    let mut previous = TimestampOffset {
        timestamp: NO_TIMESTAMP,
        offset: base,
    };
    for e in &entries {
        if e.timestamp <= previous.timestamp || e.offset < previous.offset {
            return None;
        }
        if bound.is_some_and(|b| e.offset >= b) {
            return None;
        }
        previous = *e;
    }
    Some(entries)
}

fn time_entries(index: &TimeIndex) -> Vec<TimestampOffset> {
    (0..index.entries())
        .map(|i| index.entry(i).expect("entry below entries()"))
        .collect()
}

fn check_time_lookups(index: &TimeIndex, model: &[TimestampOffset], targets: &[Value]) {
    assert_eq!(time_entries(index), model);
    assert_eq!(index.last_entry(), model.last().copied());
    let start = TimestampOffset {
        timestamp: NO_TIMESTAMP,
        offset: index.base_offset(),
    };
    let reader = index.reader();
    let last = model.last().map_or(NO_TIMESTAMP, |e| e.timestamp);
    let from_entries = sample(model).flat_map(|e| {
        [
            e.timestamp.saturating_sub(1),
            e.timestamp,
            e.timestamp.saturating_add(1),
        ]
    });
    let extremes = [i64::MIN, -1, 0, i64::MAX];
    let targets = targets.iter().take(MAX_TARGETS).map(|t| t.get(last));
    for target in targets.chain(from_entries).chain(extremes) {
        let expected = model
            .iter()
            .rev()
            .find(|e| e.timestamp <= target)
            .copied()
            .unwrap_or(start);
        let found = index.lookup(target);
        assert_eq!(found, expected, "lookup({target})");
        assert_eq!(reader.lookup(target), expected, "reader lookup({target})");
        assert!(found.timestamp <= target || found == start);
    }
}

fn time_index(
    input: &Input,
    path: &Path,
    mut index: TimeIndex,
    check: IndexCheck,
    bound: Option<i64>,
) {
    let base = index.base_offset();
    let max = u64::from(input.max_index_bytes);
    let expected = time_model(&input.time_index, base, max, bound);
    assert_eq!(
        check.is_ok(),
        expected.is_some(),
        "open keeps the entries iff the file is a valid index ({check:?})"
    );
    let mut model = expected.unwrap_or_default();
    assert_eq!(index.max_entries() as u64, max / 12);
    check_time_lookups(&index, &model, &input.time_targets);

    for &(timestamp, offset, on_roll) in input.time_appends.iter().take(MAX_APPENDS) {
        let last = model.last().copied();
        let timestamp = timestamp.get(last.map_or(NO_TIMESTAMP, |e| e.timestamp));
        let offset = offset.get(base, last.map(|e| e.offset));
        time_append(&mut index, &mut model, timestamp, offset, on_roll);
    }
    if let Some(bulk) = &input.bulk {
        for _ in 0..bulk.count {
            let last = model.last().copied();
            let offset = last.map_or(base, |e| {
                e.offset.saturating_add(i64::from(bulk.offset_stride))
            });
            let timestamp = last.map_or(0, |e| {
                e.timestamp.saturating_add(i64::from(bulk.value_stride) + 1)
            });
            if time_append(&mut index, &mut model, timestamp, offset, false) != Some(true) {
                break;
            }
        }
    }
    check_time_lookups(&index, &model, &input.time_targets);

    if let Some(to) = input.truncate {
        let to = to.get(base, model.last().map(|e| e.offset));
        index.truncate_to(to).expect("truncate_to");
        model.retain(|e| e.offset < to);
        check_time_lookups(&index, &model, &[]);
    }
    index.seal().expect("seal");
    assert!(index.is_full() && index.is_sealed());
    assert_eq!(
        file_len(path),
        model.len() as u64 * 12,
        "sealed file holds its entries"
    );
    drop(index);
    let next_offset = model.last().and_then(|e| e.offset.checked_add(1));
    let (index, check) = TimeIndex::open_checked(path, base, max, next_offset).expect("reopen");
    assert_eq!(check, IndexCheck::Ok, "a sealed index reopens as it was");
    check_time_lookups(&index, &model, &[]);
}

/// `maybe_append` (or `maybe_append_on_roll`) on the index and the model; returns whether it
/// appended, `None` on an error.
fn time_append(
    index: &mut TimeIndex,
    model: &mut Vec<TimestampOffset>,
    timestamp: i64,
    offset: i64,
    on_roll: bool,
) -> Option<bool> {
    let base = index.base_offset();
    let last = model.last().copied().unwrap_or(TimestampOffset {
        timestamp: NO_TIMESTAMP,
        offset: base,
    });
    let was_full = index.is_full();
    let result = if on_roll {
        index.maybe_append_on_roll(timestamp, offset)
    } else {
        index.maybe_append(timestamp, offset)
    };
    let relative_ok = offset
        .checked_sub(base)
        .is_some_and(|d| (0..=i64::from(u32::MAX)).contains(&d));
    match result {
        Ok(true) => {
            assert!(relative_ok && offset >= last.offset && timestamp > last.timestamp);
            assert!(on_roll || !was_full, "appended to a full index");
            model.push(TimestampOffset { timestamp, offset });
            assert!(model.len() <= index.max_entries());
            Some(true)
        }
        Ok(false) => {
            assert!(relative_ok && offset >= last.offset && timestamp <= last.timestamp);
            Some(false)
        }
        Err(IndexError::OffsetOverflow { .. }) => {
            assert!(!relative_ok);
            None
        }
        Err(IndexError::NotMonotonic { .. }) => {
            assert!(relative_ok && offset < last.offset);
            None
        }
        Err(IndexError::Full { .. }) => {
            assert!(relative_ok && offset >= last.offset && timestamp > last.timestamp);
            if on_roll {
                assert_eq!(model.len(), index.max_entries());
            } else {
                assert!(was_full);
            }
            None
        }
        Err(e) => panic!("maybe_append({timestamp}, {offset}): unexpected {e}"),
    }
}

/// A few entries spread over the whole index (both ends, the warm section's boundary).
fn sample<T: Copy>(entries: &[T]) -> impl Iterator<Item = T> + '_ {
    let n = entries.len();
    let picks = [
        0,
        1,
        n / 2,
        n.saturating_sub(1025),
        n.saturating_sub(683),
        n.saturating_sub(2),
        n.saturating_sub(1),
    ];
    picks
        .into_iter()
        .filter_map(move |i| entries.get(i).copied())
}
