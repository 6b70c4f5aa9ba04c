//! `list_offsets` against a brute-force scan of every record: `Timestamp(t)` is Kafka's
//! offsetsForTimes (the first offset at or after the log start whose timestamp is `>= t`,
//! `None` when there is none), `MaxTimestamp` the earliest offset holding the largest
//! timestamp at or after the log start, `Earliest`/`Latest` the log bounds. The partition
//! has many small segments, non-monotonic timestamps (jitter, repeats, steps back) and some
//! lz4/zstd batches; answers are checked after `delete_records` and across a clean reopen.

mod common;

use std::collections::BTreeSet;
use std::path::Path;

use silt_engine::{Engine, ListedOffset, NewTopic, OffsetSpec};
use silt_segment::batch::{BatchBuilder, BatchConfig, Compression};

const BASE_TS: i64 = 1_700_000_000_000;

/// (offset, timestamp) of every record appended, in offset order.
type Model = Vec<(i64, i64)>;

/// A topic of small segments and dense indexes, never deleted by retention.
fn topic() -> NewTopic {
    NewTopic::new("t", 1)
        .config("segment.bytes", "2048")
        .config("segment.index.bytes", "4096")
        .config("index.interval.bytes", "64")
        .config("retention.ms", "-1")
        .config("segment.ms", i64::MAX.to_string())
}

/// Appends one batch of records stamped `timestamps`, and records them in `model`.
fn append(engine: &Engine, model: &mut Model, timestamps: &[i64], compression: Compression) {
    let first = model.last().map_or(0, |&(o, _)| o + 1);
    let mut builder = BatchBuilder::new(BatchConfig {
        compression,
        ..BatchConfig::default()
    });
    for (i, &ts) in timestamps.iter().enumerate() {
        let value = format!("value-{}", first + i as i64);
        builder
            .append(ts, Some(b"k"), Some(value.as_bytes()), &[])
            .unwrap();
    }
    let info = engine.append("t", 0, &builder.finish().unwrap()).unwrap();
    assert_eq!(info.first_offset, first);
    for (i, &ts) in timestamps.iter().enumerate() {
        model.push((first + i as i64, ts));
    }
}

/// Fills the partition with `batches` batches of 1 to 6 records whose timestamps wander:
/// jitter around a rising clock, repeats of the previous timestamp, and steps back.
fn fill_random(engine: &Engine, model: &mut Model, batches: usize, seed: u64) {
    let mut rng = common::Rng(seed);
    let mut clock = BASE_TS;
    let mut previous = clock;
    for _ in 0..batches {
        let n = 1 + rng.below(6) as usize;
        let mut timestamps = Vec::with_capacity(n);
        for _ in 0..n {
            clock += rng.below(20) as i64;
            let ts = match rng.below(10) {
                0 | 1 => previous,                        // a repeat
                2 => clock - 200 - rng.below(300) as i64, // a step back
                _ => clock + rng.below(81) as i64 - 40,   // jitter
            };
            timestamps.push(ts);
            previous = ts;
        }
        let compression = match rng.below(8) {
            0 => Compression::Lz4,
            1 => Compression::Zstd,
            _ => Compression::None,
        };
        append(engine, model, &timestamps, compression);
    }
}

/// Kafka's offsetsForTimes by brute force.
fn brute_timestamp(model: &Model, log_start: i64, target: i64) -> Option<ListedOffset> {
    model
        .iter()
        .find(|&&(offset, ts)| offset >= log_start && ts >= target)
        .map(|&(offset, timestamp)| ListedOffset { offset, timestamp })
}

/// The earliest offset holding the largest timestamp, by brute force.
fn brute_max(model: &Model, log_start: i64) -> Option<ListedOffset> {
    let max = model
        .iter()
        .filter(|&&(o, _)| o >= log_start)
        .map(|&(_, t)| t)
        .max()?;
    brute_timestamp(model, log_start, max)
}

/// Every distinct timestamp, one on either side of each, and targets beyond both ends.
fn targets(model: &Model) -> Vec<i64> {
    let mut set = BTreeSet::new();
    for &(_, ts) in model {
        set.extend([ts - 1, ts, ts + 1]);
    }
    let min = model.iter().map(|&(_, t)| t).min().unwrap_or(0);
    let max = model.iter().map(|&(_, t)| t).max().unwrap_or(0);
    set.extend([0, min - 1000, max + 1, max + 1000, i64::MAX]);
    set.into_iter().collect()
}

/// Which targets a check looks up.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Targets {
    /// Every target of [`targets`].
    All,
    /// Only targets that no record holds as its timestamp.
    Unheld,
}

/// Compares every spec with the brute-force answer.
fn check_all(engine: &Engine, model: &Model, which: Targets) {
    let log = engine.log("t", 0).unwrap();
    let log_start = log.log_start_offset();
    let log_end = model.last().map_or(0, |&(o, _)| o + 1);
    let mut wrong = Vec::new();
    let held: BTreeSet<i64> = model.iter().map(|&(_, t)| t).collect();
    for target in targets(model) {
        if which == Targets::Unheld && held.contains(&target) {
            continue;
        }
        let got = engine
            .list_offsets("t", 0, OffsetSpec::Timestamp(target))
            .unwrap();
        let want = brute_timestamp(model, log_start, target);
        if got != want {
            wrong.push((target, got, want));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of the timestamp lookups differ (target, got, want), first ones: {:?}",
        wrong.len(),
        &wrong[..wrong.len().min(5)]
    );
    let max = engine
        .list_offsets("t", 0, OffsetSpec::MaxTimestamp)
        .unwrap();
    assert_eq!(max, brute_max(model, log_start), "MaxTimestamp");
    let earliest = engine.list_offsets("t", 0, OffsetSpec::Earliest).unwrap();
    assert_eq!(
        earliest,
        Some(ListedOffset {
            offset: log_start,
            timestamp: -1
        })
    );
    let latest = engine.list_offsets("t", 0, OffsetSpec::Latest).unwrap();
    assert_eq!(
        latest,
        Some(ListedOffset {
            offset: log_end,
            timestamp: -1
        })
    );
}

fn setup(dir: &Path, batches: usize, seed: u64) -> (Engine, Model) {
    let engine = common::open(dir);
    engine.create_topic(topic()).unwrap();
    let mut model = Model::new();
    fill_random(&engine, &mut model, batches, seed);
    let segments = engine.log("t", 0).unwrap().segment_count();
    assert!(segments > batches / 40, "many small segments: {segments}");
    (engine, model)
}

#[test]
fn timestamp_lookups_match_brute_force() {
    let dir = tempfile::tempdir().unwrap();
    let (engine, model) = setup(dir.path(), 600, 0x2545_f491_4f6c_dd1d);
    check_all(&engine, &model, Targets::All);
}

#[test]
fn lookups_never_return_offsets_below_the_log_start() {
    let dir = tempfile::tempdir().unwrap();
    let (engine, model) = setup(dir.path(), 600, 0x1234_5678_9abc_def1);
    let bases = engine.log("t", 0).unwrap().segment_base_offsets().unwrap();
    // At a segment boundary, then inside a segment (inside a batch, too).
    for before in [bases[3], bases[7] + 2, bases[7] + 5] {
        engine.delete_records("t", 0, before).unwrap();
        check_all(&engine, &model, Targets::All);
    }
}

#[test]
fn lookups_match_after_a_clean_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let (engine, model) = setup(dir.path(), 600, 0xdead_beef_cafe_f00d);
    let bases = engine.log("t", 0).unwrap().segment_base_offsets().unwrap();
    engine.delete_records("t", 0, bases[2] + 1).unwrap();
    engine.close().unwrap();
    drop(engine);

    // Closed segments are mapped lazily, by the lookups themselves.
    let engine = common::open(dir.path());
    assert_eq!(engine.mapped_closed_segments(), 0);
    check_all(&engine, &model, Targets::All);
}

#[test]
fn lookups_of_timestamps_no_record_holds_match_brute_force() {
    // The targets between record timestamps, which the bug of the tests above never meets.
    let dir = tempfile::tempdir().unwrap();
    let (engine, model) = setup(dir.path(), 600, 0x2545_f491_4f6c_dd1d);
    check_all(&engine, &model, Targets::Unheld);
    let bases = engine.log("t", 0).unwrap().segment_base_offsets().unwrap();
    for before in [bases[3], bases[7] + 2, bases[7] + 5] {
        engine.delete_records("t", 0, before).unwrap();
        check_all(&engine, &model, Targets::Unheld);
    }
    engine.close().unwrap();
    drop(engine);
    let engine = common::open(dir.path());
    assert_eq!(engine.mapped_closed_segments(), 0);
    check_all(&engine, &model, Targets::Unheld);
}

#[test]
fn the_record_holding_the_batch_maximum_is_found_by_its_timestamp() {
    let dir = tempfile::tempdir().unwrap();
    let engine = common::open(dir.path());
    engine
        .create_topic(topic().config("index.interval.bytes", "0"))
        .unwrap();
    let mut model = Model::new();
    append(
        &engine,
        &mut model,
        &[BASE_TS + 100, BASE_TS + 50, BASE_TS + 40],
        Compression::None,
    );
    append(&engine, &mut model, &[BASE_TS + 60], Compression::None);
    append(&engine, &mut model, &[BASE_TS + 70], Compression::None);
    let got = engine
        .list_offsets("t", 0, OffsetSpec::Timestamp(BASE_TS + 100))
        .unwrap();
    assert_eq!(
        got,
        Some(ListedOffset {
            offset: 0,
            timestamp: BASE_TS + 100
        })
    );
}

#[test]
fn max_timestamp_is_the_earliest_offset_holding_the_largest() {
    let dir = tempfile::tempdir().unwrap();
    let engine = common::open(dir.path());
    engine.create_topic(topic()).unwrap();
    let mut model = Model::new();
    assert_eq!(
        engine
            .list_offsets("t", 0, OffsetSpec::MaxTimestamp)
            .unwrap(),
        None
    );
    assert_eq!(
        engine
            .list_offsets("t", 0, OffsetSpec::Timestamp(0))
            .unwrap(),
        None,
        "an empty log has no record"
    );
    append(
        &engine,
        &mut model,
        &[BASE_TS, BASE_TS + 500, BASE_TS + 10],
        Compression::None,
    );
    append(
        &engine,
        &mut model,
        &[BASE_TS + 500, BASE_TS + 1],
        Compression::Lz4,
    );
    append(&engine, &mut model, &[BASE_TS + 499], Compression::Zstd);
    let max = engine
        .list_offsets("t", 0, OffsetSpec::MaxTimestamp)
        .unwrap();
    assert_eq!(
        max,
        Some(ListedOffset {
            offset: 1,
            timestamp: BASE_TS + 500
        })
    );
    assert_eq!(max, brute_max(&model, 0));
}

#[test]
fn max_timestamp_ignores_records_below_the_log_start() {
    let dir = tempfile::tempdir().unwrap();
    let engine = common::open(dir.path());
    engine.create_topic(topic()).unwrap();
    let mut model = Model::new();
    append(
        &engine,
        &mut model,
        &[BASE_TS, BASE_TS + 900, BASE_TS + 10],
        Compression::None,
    );
    append(
        &engine,
        &mut model,
        &[BASE_TS + 20, BASE_TS + 300],
        Compression::None,
    );
    append(&engine, &mut model, &[BASE_TS + 30], Compression::None);
    // The largest timestamp (offset 1) now lies below the log start, in the same segment.
    engine.delete_records("t", 0, 2).unwrap();
    let max = engine
        .list_offsets("t", 0, OffsetSpec::MaxTimestamp)
        .unwrap();
    assert_eq!(max, brute_max(&model, 2));
    assert_eq!(
        max,
        Some(ListedOffset {
            offset: 4,
            timestamp: BASE_TS + 300
        })
    );
}

#[test]
fn timestamps_after_every_record_find_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (engine, model) = setup(dir.path(), 200, 77);
    let max = model.iter().map(|&(_, t)| t).max().unwrap();
    for target in [max + 1, max + 1_000_000, i64::MAX] {
        assert_eq!(
            engine
                .list_offsets("t", 0, OffsetSpec::Timestamp(target))
                .unwrap(),
            None
        );
    }
    // Before every record: the log start.
    let min = model.iter().map(|&(_, t)| t).min().unwrap();
    let first = engine
        .list_offsets("t", 0, OffsetSpec::Timestamp(min - 1))
        .unwrap()
        .unwrap();
    assert_eq!(
        first,
        ListedOffset {
            offset: 0,
            timestamp: model[0].1
        }
    );
}
