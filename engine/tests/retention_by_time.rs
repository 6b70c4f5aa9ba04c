//! Retention by time: `Engine::enforce_retention` deletes the closed segments whose largest
//! timestamp is older than `retention.ms`, oldest first and stopping at the first segment
//! still within retention, never the active segment (even when it is expired too). The log
//! start moves to the first segment left, and reads below it are out of range.
//! `retention.ms=-1` and `cleanup.policy=compact` keep everything, and the background task
//! applies the same rule on its own, also when bounded to one segment per tick.
//!
//! Not tested: that `retention_max_segments_per_tick` bounds each background pass. Only
//! timing could tell one pass from the next through the public API (segment counts sampled
//! between ticks), so that bound is left to a unit test inside the crate.

mod common;

use std::path::Path;
use std::time::Duration;

use silt_engine::{Engine, EngineConfig, EngineError, NewTopic, OffsetSpec};
use silt_segment::batch::{BatchBuilder, BatchConfig};
use silt_segment::log::{segment_file, LOG_SUFFIX};

const RECORDS_PER_BATCH: u64 = 10;
const BATCHES_PER_SEGMENT: u64 = 4;
const RECORDS_PER_SEGMENT: i64 = (RECORDS_PER_BATCH * BATCHES_PER_SEGMENT) as i64;
const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 24 * HOUR_MS;

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// One batch of 10 records stamped `ts`, `ts + 1`, …; every batch has the same size, so a
/// segment holds exactly `BATCHES_PER_SEGMENT` of them.
fn batch_at(first: u64, ts: i64) -> Vec<u8> {
    let mut builder = BatchBuilder::new(BatchConfig::default());
    for i in 0..RECORDS_PER_BATCH {
        let value = format!("value-{:08}", first + i);
        builder
            .append(ts + i as i64, Some(b"key"), Some(value.as_bytes()), &[])
            .unwrap();
    }
    builder.finish().unwrap()
}

/// Segment bytes that hold exactly `BATCHES_PER_SEGMENT` batches.
fn segment_bytes() -> usize {
    batch_at(0, 0).len() * BATCHES_PER_SEGMENT as usize
}

/// A topic `t` (one partition, `retention.ms` = 1 day unless overridden) whose segments roll
/// by size only.
fn topic(extra: &[(&str, &str)]) -> NewTopic {
    let mut topic = NewTopic::new("t", 1)
        .config("segment.bytes", segment_bytes().to_string())
        .config("segment.ms", i64::MAX.to_string())
        .config("segment.index.bytes", "4096")
        .config("index.interval.bytes", "256")
        .config("retention.ms", DAY_MS.to_string());
    for (key, value) in extra {
        topic = topic.config(*key, *value);
    }
    topic
}

/// Appends one segment of batches per entry of `closed` (each batch stamped with the
/// entry), then one batch stamped `active` that opens the active segment. Returns the log
/// end offset.
fn fill(engine: &Engine, closed: &[i64], active: i64) -> i64 {
    let mut next = 0u64;
    for &ts in closed {
        for _ in 0..BATCHES_PER_SEGMENT {
            engine.append("t", 0, &batch_at(next, ts)).unwrap();
            next += RECORDS_PER_BATCH;
        }
    }
    engine.append("t", 0, &batch_at(next, active)).unwrap();
    next as i64 + RECORDS_PER_BATCH as i64
}

/// Base offsets of segments `range`.
fn bases(range: std::ops::Range<i64>) -> Vec<i64> {
    range.map(|i| i * RECORDS_PER_SEGMENT).collect()
}

/// Checks that the log holds exactly segments from `first_segment` on, starts at its base,
/// refuses reads below, and that every record left is intact.
fn assert_starts_at_segment(engine: &Engine, first_segment: i64, end: i64) {
    let log = engine.log("t", 0).unwrap();
    let start = first_segment * RECORDS_PER_SEGMENT;
    let segments = (end - 1) / RECORDS_PER_SEGMENT + 1;
    assert_eq!(
        log.segment_base_offsets().unwrap(),
        bases(first_segment..segments)
    );
    assert_eq!(log.log_start_offset(), start);
    let earliest = engine
        .list_offsets("t", 0, OffsetSpec::Earliest)
        .unwrap()
        .unwrap();
    assert_eq!(earliest.offset, start);
    if start > 0 {
        match engine.fetch("t", 0, start - 1, 1 << 20).unwrap_err() {
            EngineError::OffsetOutOfRange {
                offset,
                log_start,
                log_end,
                ..
            } => assert_eq!((offset, log_start, log_end), (start - 1, start, end)),
            other => panic!("expected OffsetOutOfRange, got {other:?}"),
        }
        assert!(matches!(
            engine.fetch("t", 0, 0, 1 << 20),
            Err(EngineError::OffsetOutOfRange { .. })
        ));
    }
    let records = common::read_all(engine, "t", 0, start);
    assert_eq!(records.len() as i64, end - start);
    for (i, (offset, value)) in records.iter().enumerate() {
        assert_eq!(*offset, start + i as i64);
        assert_eq!(value, &format!("value-{offset:08}"));
    }
    let dir = log.dir().to_path_buf();
    for base in bases(0..segments) {
        let exists = segment_file(&dir, base, LOG_SUFFIX).exists();
        assert_eq!(exists, base >= start, "file of segment {base}");
    }
}

fn open_with(dir: &Path, config: EngineConfig) -> Engine {
    Engine::open(dir, config).unwrap()
}

#[test]
fn expired_segments_are_deleted_and_the_log_start_moves_to_the_first_left() {
    let dir = tempfile::tempdir().unwrap();
    let engine = common::open(dir.path());
    engine.create_topic(topic(&[])).unwrap();
    let (old, recent) = (now_ms() - 10 * DAY_MS, now_ms());
    let end = fill(&engine, &[old, old, old, recent, recent], recent);
    let log = engine.log("t", 0).unwrap();
    assert_eq!(log.segment_base_offsets().unwrap(), bases(0..6));
    let size_before = log.size_bytes().unwrap();

    let report = engine.enforce_retention().unwrap();
    assert_eq!(report.segments_deleted, 3);
    assert_eq!(report.bytes_deleted, 3 * segment_bytes() as u64);
    assert_eq!(
        log.size_bytes().unwrap(),
        size_before - report.bytes_deleted
    );
    assert_starts_at_segment(&engine, 3, end);

    // Nothing more is expired: a second pass deletes nothing.
    assert_eq!(engine.enforce_retention().unwrap().segments_deleted, 0);
    assert_starts_at_segment(&engine, 3, end);
}

#[test]
fn deletion_stops_at_the_first_segment_within_retention() {
    let dir = tempfile::tempdir().unwrap();
    let engine = common::open(dir.path());
    engine.create_topic(topic(&[])).unwrap();
    let (old, recent) = (now_ms() - 10 * DAY_MS, now_ms());
    // Segments 2 and 3 are expired but lie behind a young one: oldest first means they stay.
    let end = fill(&engine, &[old, recent, old, old], recent);
    assert_eq!(engine.enforce_retention().unwrap().segments_deleted, 1);
    assert_starts_at_segment(&engine, 1, end);
}

#[test]
fn a_segment_stays_while_its_newest_record_is_within_retention() {
    let dir = tempfile::tempdir().unwrap();
    let engine = common::open(dir.path());
    engine.create_topic(topic(&[])).unwrap();
    let (old, recent) = (now_ms() - 10 * DAY_MS, now_ms());
    // Segment 0: three expired batches, then one young batch as its last.
    let mut next = 0u64;
    for ts in [old, old, old, recent] {
        engine.append("t", 0, &batch_at(next, ts)).unwrap();
        next += RECORDS_PER_BATCH;
    }
    engine.append("t", 0, &batch_at(next, old)).unwrap();
    let end = next as i64 + RECORDS_PER_BATCH as i64;
    // Segment 0 is young by its largest timestamp; segment 1 (active, old) is never deleted.
    assert_eq!(engine.enforce_retention().unwrap().segments_deleted, 0);
    assert_starts_at_segment(&engine, 0, end);
}

#[test]
fn the_active_segment_is_kept_even_when_expired() {
    let dir = tempfile::tempdir().unwrap();
    let engine = common::open(dir.path());
    engine.create_topic(topic(&[])).unwrap();
    let old = now_ms() - 10 * DAY_MS;
    let end = fill(&engine, &[old, old, old, old], old);
    let report = engine.enforce_retention().unwrap();
    assert_eq!(report.segments_deleted, 4);
    assert_starts_at_segment(&engine, 4, end);
    assert_eq!(engine.log("t", 0).unwrap().segment_count(), 1);
    assert_eq!(engine.enforce_retention().unwrap().segments_deleted, 0);

    // The log goes on from there.
    let info = engine
        .append("t", 0, &batch_at(end as u64, now_ms()))
        .unwrap();
    assert_eq!(info.first_offset, end);
    assert_starts_at_segment(&engine, 4, end + RECORDS_PER_BATCH as i64);
}

#[test]
fn retention_ms_minus_one_keeps_everything() {
    let dir = tempfile::tempdir().unwrap();
    let engine = common::open(dir.path());
    engine
        .create_topic(topic(&[("retention.ms", "-1")]))
        .unwrap();
    let ancient = 0;
    let end = fill(
        &engine,
        &[ancient, ancient, now_ms() - 365 * DAY_MS],
        ancient,
    );
    assert_eq!(engine.enforce_retention().unwrap().segments_deleted, 0);
    assert_starts_at_segment(&engine, 0, end);

    // Turning retention on applies at the next pass.
    engine
        .alter_topic_config("t", [("retention.ms", &*DAY_MS.to_string())], [])
        .unwrap();
    assert_eq!(engine.enforce_retention().unwrap().segments_deleted, 3);
    assert_starts_at_segment(&engine, 3, end);
}

#[test]
fn a_compacted_topic_deletes_nothing_by_time() {
    let dir = tempfile::tempdir().unwrap();
    let engine = common::open(dir.path());
    engine
        .create_topic(topic(&[("cleanup.policy", "compact")]))
        .unwrap();
    let old = now_ms() - 10 * DAY_MS;
    let end = fill(&engine, &[old, old, old], old);
    assert_eq!(engine.enforce_retention().unwrap().segments_deleted, 0);
    assert_starts_at_segment(&engine, 0, end);

    // `compact,delete` deletes by time too.
    engine
        .alter_topic_config("t", [("cleanup.policy", "compact,delete")], [])
        .unwrap();
    assert_eq!(engine.enforce_retention().unwrap().segments_deleted, 3);
    assert_starts_at_segment(&engine, 3, end);
}

#[test]
fn segments_found_at_a_clean_reopen_are_judged_by_their_timestamps() {
    let dir = tempfile::tempdir().unwrap();
    let engine = common::open(dir.path());
    engine.create_topic(topic(&[])).unwrap();
    let (old, recent) = (now_ms() - 10 * DAY_MS, now_ms());
    let end = fill(&engine, &[old, old, recent, old], recent);
    engine.close().unwrap();
    drop(engine);

    // Closed segments are mapped lazily after a clean open: their largest timestamp comes
    // from their time index, not from the file's modification time (which is now).
    let engine = common::open(dir.path());
    assert_eq!(engine.enforce_retention().unwrap().segments_deleted, 2);
    assert_starts_at_segment(&engine, 2, end);
    engine.close().unwrap();
    drop(engine);

    let engine = common::open(dir.path());
    assert_starts_at_segment(&engine, 2, end);
}

#[test]
fn each_partition_is_judged_on_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let engine = common::open(dir.path());
    engine.create_topic(topic(&[])).unwrap();
    engine
        .create_topic(
            NewTopic::new("u", 1)
                .config("segment.bytes", segment_bytes().to_string())
                .config("retention.ms", "-1"),
        )
        .unwrap();
    let old = now_ms() - 10 * DAY_MS;
    let end = fill(&engine, &[old, old], old);
    for i in 0..(3 * BATCHES_PER_SEGMENT) {
        engine
            .append("u", 0, &batch_at(i * RECORDS_PER_BATCH, old))
            .unwrap();
    }
    assert_eq!(engine.enforce_retention().unwrap().segments_deleted, 2);
    assert_starts_at_segment(&engine, 2, end);
    assert_eq!(engine.log("u", 0).unwrap().log_start_offset(), 0);
    assert_eq!(engine.log("u", 0).unwrap().segment_count(), 3);
}

#[test]
fn the_background_task_deletes_expired_segments_without_a_call() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open_with(
        dir.path(),
        EngineConfig {
            retention_check_interval_ms: 50,
            ..common::quiet_config()
        },
    );
    engine.create_topic(topic(&[])).unwrap();
    let (old, recent) = (now_ms() - 10 * DAY_MS, now_ms());
    let end = fill(&engine, &[old, old, old, recent], recent);
    let log = engine.log("t", 0).unwrap();
    assert!(
        common::wait_until(Duration::from_secs(30), || log.segment_count() == 2),
        "segments left: {:?}",
        log.segment_base_offsets().unwrap()
    );
    assert_starts_at_segment(&engine, 3, end);
    assert!(engine.take_background_error().is_none());
}

#[test]
fn a_background_task_bounded_to_one_segment_per_tick_still_deletes_them_all() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open_with(
        dir.path(),
        EngineConfig {
            retention_check_interval_ms: 20,
            retention_max_segments_per_tick: 1,
            ..common::quiet_config()
        },
    );
    engine.create_topic(topic(&[])).unwrap();
    let (old, recent) = (now_ms() - 10 * DAY_MS, now_ms());
    let end = fill(&engine, &[old, old, old, old, old, old], recent);
    let log = engine.log("t", 0).unwrap();
    assert!(
        common::wait_until(Duration::from_secs(30), || log.segment_count() == 1),
        "segments left: {:?}",
        log.segment_base_offsets().unwrap()
    );
    assert_starts_at_segment(&engine, 6, end);
    assert!(engine.take_background_error().is_none());

    // The task checkpoints the log start it reached (after deleting, so wait for the file),
    // and it survives a crash.
    let checkpoint = dir.path().join(silt_engine::LOG_START_CHECKPOINT);
    let line = format!("t 0 {}", 6 * RECORDS_PER_SEGMENT);
    assert!(common::wait_until(Duration::from_secs(30), || {
        std::fs::read_to_string(&checkpoint).is_ok_and(|text| text.lines().any(|l| l == line))
    }));
    let crashed = tempfile::tempdir().unwrap();
    common::crash_image(dir.path(), crashed.path());
    let engine2 = common::open(crashed.path());
    assert_starts_at_segment(&engine2, 6, end);
}
