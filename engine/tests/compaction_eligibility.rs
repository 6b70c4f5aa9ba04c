//! When a compacted log is eligible for cleaning: its dirty ratio reaches
//! `min.cleanable.dirty.ratio`; segments younger than `min.compaction.lag.ms` are not
//! cleanable; a dirty record older than `max.compaction.lag.ms` makes the log eligible
//! whatever its ratio. Logs of `cleanup.policy=delete` topics are never cleaned.

mod common;

use common::compaction::{keyed_batch, roll};
use silt_engine::NewTopic;
use silt_segment::batch::Compression;

fn topic(ratio: &str) -> NewTopic {
    common::small_topic("t", 1, 1024)
        .config("cleanup.policy", "compact")
        .config("min.cleanable.dirty.ratio", ratio)
}

fn fill(log: &silt_engine::Log, batches: usize, ts: i64) {
    for i in 0..batches {
        let v = i.to_string();
        log.append(&keyed_batch(
            &[("k", Some(&v)), ("j", Some(&v))],
            ts,
            Compression::None,
        ))
        .unwrap();
    }
    roll(log, ts);
}

#[test]
fn the_dirty_ratio_decides() {
    let dir = tempfile::tempdir().unwrap();
    let engine = common::open(dir.path());
    engine.create_topic(topic("0.5")).unwrap();
    let log = engine.log("t", 0).unwrap();
    fill_distinct(&log, "a", 300, common::T0);
    let now = common::T0 + 1;
    let first = log.cleanable(now).unwrap().unwrap();
    assert_eq!((first.first_dirty_offset, first.clean_bytes), (0, 0));
    assert_eq!(first.dirty_ratio, 1.0);
    assert!(first.eligible);
    log.clean(now).unwrap().expect("eligible");
    let after = log.cleanable(now).unwrap().unwrap();
    assert_eq!(after.dirty_bytes, 0);
    assert!(!after.eligible);
    assert!(log.clean(now).unwrap().is_none());

    // A little new dirt over a larger clean part stays below the ratio.
    fill(&log, 5, common::T0);
    let some = log.cleanable(now).unwrap().unwrap();
    assert!(some.dirty_bytes > 0 && some.dirty_ratio < 0.5, "{some:?}");
    assert!(!some.eligible);
    assert_eq!(engine.clean_logs().unwrap().logs_cleaned, 0);
    // Enough of it crosses the ratio.
    fill_distinct(&log, "b", 600, common::T0);
    assert!(log.cleanable(now).unwrap().unwrap().eligible);
    assert_eq!(engine.clean_logs().unwrap().logs_cleaned, 1);
}

#[test]
fn segments_younger_than_the_min_compaction_lag_are_not_cleanable() {
    let dir = tempfile::tempdir().unwrap();
    let engine = common::open(dir.path());
    engine
        .create_topic(topic("0").config("min.compaction.lag.ms", "1000"))
        .unwrap();
    let log = engine.log("t", 0).unwrap();
    fill(&log, 20, common::T0);
    let young = log.cleanable(common::T0 + 500).unwrap().unwrap();
    assert_eq!(
        young.first_uncleanable_offset, 0,
        "the first segment is too young"
    );
    assert_eq!(young.dirty_bytes, 0);
    assert!(!young.eligible);
    assert!(log.clean(common::T0 + 500).unwrap().is_none());
    let old = log.cleanable(common::T0 + 5000).unwrap().unwrap();
    assert!(old.eligible && old.first_uncleanable_offset > 0);
    assert!(log.clean(common::T0 + 5000).unwrap().is_some());
}

#[test]
fn a_dirty_record_older_than_the_max_compaction_lag_forces_cleaning() {
    let dir = tempfile::tempdir().unwrap();
    let engine = common::open(dir.path());
    engine
        .create_topic(topic("0.99").config("max.compaction.lag.ms", "60000"))
        .unwrap();
    let log = engine.log("t", 0).unwrap();
    fill(&log, 40, common::T0);
    log.clean(common::T0).unwrap().expect("all dirty at first");
    fill(&log, 1, common::T0 + 1);
    let soon = log.cleanable(common::T0 + 1000).unwrap().unwrap();
    assert!(soon.dirty_ratio < 0.99 && !soon.needs_compaction_now && !soon.eligible);
    let late = log.cleanable(common::T0 + 120_000).unwrap().unwrap();
    assert!(late.needs_compaction_now && late.eligible, "{late:?}");
    assert!(log.clean(common::T0 + 120_000).unwrap().is_some());
}

#[test]
fn delete_topics_are_never_cleaned() {
    let dir = tempfile::tempdir().unwrap();
    let engine = common::open(dir.path());
    engine
        .create_topic(common::small_topic("t", 1, 1024))
        .unwrap();
    let log = engine.log("t", 0).unwrap();
    fill(&log, 20, common::T0);
    assert!(log.cleanable(common::T0).unwrap().is_none());
    assert!(log.clean(common::T0).unwrap().is_none());
}

/// Appends `n` records of distinct keys (`prefix-i`), which compaction keeps, then rolls.
fn fill_distinct(log: &silt_engine::Log, prefix: &str, n: usize, ts: i64) {
    for i in 0..n {
        let k = format!("{prefix}-{i}");
        log.append(&keyed_batch(&[(&k, Some("value"))], ts, Compression::None))
            .unwrap();
    }
    roll(log, ts);
}
