//! `Engine::delete_records` (Kafka's DeleteRecords): it advances the log start offset and
//! returns it, never moves it back, refuses offsets outside `[0, log end]` with both bounds,
//! deletes the segments wholly below the new start from disk, and the new start holds for
//! fetches and `list_offsets` and survives a clean reopen and a crash.

mod common;

use std::path::Path;

use silt_engine::{Engine, EngineError, OffsetSpec};
use silt_segment::log::{segment_file, INDEX_SUFFIX, LOG_SUFFIX, TIME_INDEX_SUFFIX};

/// A topic `t` of one partition with 4 KiB segments and no time retention, holding
/// `batches` batches of 10 records.
fn setup(dir: &Path, batches: u64) -> Engine {
    let engine = common::open(dir);
    engine
        .create_topic(common::small_topic("t", 1, 4096).config("retention.ms", "-1"))
        .unwrap();
    for i in 0..batches {
        engine.append("t", 0, &common::batch(i * 10, 10)).unwrap();
    }
    engine
}

fn segment_files_exist(dir: &Path, base: i64) -> [bool; 3] {
    [LOG_SUFFIX, INDEX_SUFFIX, TIME_INDEX_SUFFIX].map(|s| segment_file(dir, base, s).exists())
}

/// The `OffsetOutOfRange` bounds of `err`; panics on any other error.
fn out_of_range(err: EngineError) -> (i64, i64, i64) {
    match err {
        EngineError::OffsetOutOfRange {
            topic,
            partition,
            offset,
            log_start,
            log_end,
        } => {
            assert_eq!((topic.as_str(), partition), ("t", 0));
            (offset, log_start, log_end)
        }
        other => panic!("expected OffsetOutOfRange, got {other:?}"),
    }
}

fn earliest(engine: &Engine) -> i64 {
    engine
        .list_offsets("t", 0, OffsetSpec::Earliest)
        .unwrap()
        .unwrap()
        .offset
}

/// Checks every observable consequence of a log start of `start` and a log end of `end`.
fn assert_log_start(engine: &Engine, start: i64, end: i64) {
    let log = engine.log("t", 0).unwrap();
    assert_eq!(log.log_start_offset(), start);
    assert_eq!(earliest(engine), start);
    assert_eq!(log.log_end_offset().unwrap(), end);
    if start > 0 {
        let below = engine.fetch("t", 0, start - 1, 1 << 20).unwrap_err();
        assert_eq!(out_of_range(below), (start - 1, start, end));
    }
    let all = common::read_all(engine, "t", 0, start);
    assert_eq!(all.len() as i64, end - start);
    for (i, (offset, value)) in all.iter().enumerate() {
        assert_eq!(*offset, start + i as i64);
        assert_eq!(value, &format!("value-{offset}"));
    }
    assert_eq!(
        engine.describe_topic("t").unwrap().partitions[0].log_start_offset,
        start
    );
}

#[test]
fn advances_the_log_start_and_returns_it() {
    let dir = tempfile::tempdir().unwrap();
    let engine = setup(dir.path(), 10);
    assert_eq!(engine.delete_records("t", 0, 0).unwrap(), 0);
    assert_log_start(&engine, 0, 100);
    assert_eq!(engine.delete_records("t", 0, 37).unwrap(), 37);
    assert_log_start(&engine, 37, 100);
    // A fetch at the new start begins at it, even inside a batch.
    let fetch = engine.fetch("t", 0, 37, 1 << 20).unwrap();
    assert_eq!(common::records(&fetch)[0], (37, "value-37".to_string()));
    assert_eq!(fetch.log_start_offset(), 37);
    assert_eq!(engine.delete_records("t", 0, 60).unwrap(), 60);
    assert_log_start(&engine, 60, 100);
}

#[test]
fn never_moves_the_log_start_back() {
    let dir = tempfile::tempdir().unwrap();
    let engine = setup(dir.path(), 10);
    assert_eq!(engine.delete_records("t", 0, 50).unwrap(), 50);
    for before in [0, 1, 49, 50] {
        assert_eq!(
            engine.delete_records("t", 0, before).unwrap(),
            50,
            "before {before}"
        );
        assert_log_start(&engine, 50, 100);
    }
}

#[test]
fn offsets_outside_the_log_are_refused_with_both_bounds() {
    let dir = tempfile::tempdir().unwrap();
    let engine = setup(dir.path(), 10);
    engine.delete_records("t", 0, 20).unwrap();
    for before in [101, 1000, i64::MAX, -1, -2, i64::MIN] {
        let err = engine.delete_records("t", 0, before).unwrap_err();
        assert_eq!(out_of_range(err), (before, 20, 100), "before {before}");
        assert_log_start(&engine, 20, 100);
    }
    let dir = tempfile::tempdir().unwrap();
    let empty = setup(dir.path(), 0);
    assert_eq!(empty.delete_records("t", 0, 0).unwrap(), 0);
    let err = empty.delete_records("t", 0, 1).unwrap_err();
    assert_eq!(out_of_range(err), (1, 0, 0));
}

#[test]
fn deleting_up_to_the_log_end_leaves_an_empty_readable_log() {
    let dir = tempfile::tempdir().unwrap();
    let engine = setup(dir.path(), 30);
    assert_eq!(engine.delete_records("t", 0, 300).unwrap(), 300);
    assert_log_start(&engine, 300, 300);
    let fetch = engine.fetch("t", 0, 300, 1 << 20).unwrap();
    assert!(fetch.is_empty());
    assert_eq!(
        (fetch.log_start_offset(), fetch.log_end_offset()),
        (300, 300)
    );
    let latest = engine
        .list_offsets("t", 0, OffsetSpec::Latest)
        .unwrap()
        .unwrap();
    assert_eq!(latest.offset, 300);
    let log = engine.log("t", 0).unwrap();
    assert_eq!(log.segment_count(), 1, "only the active segment is left");

    // Appends go on at the log end.
    assert_eq!(
        engine
            .append("t", 0, &common::batch(300, 10))
            .unwrap()
            .first_offset,
        300
    );
    assert_log_start(&engine, 300, 310);

    engine.close().unwrap();
    drop(engine);
    let engine = common::open(dir.path());
    assert_log_start(&engine, 300, 310);
}

#[test]
fn segments_wholly_below_the_new_start_are_deleted_from_disk() {
    let dir = tempfile::tempdir().unwrap();
    let engine = setup(dir.path(), 100);
    let log = engine.log("t", 0).unwrap();
    let bases = log.segment_base_offsets().unwrap();
    assert!(bases.len() >= 5, "{bases:?}");
    let pdir = log.dir().to_path_buf();
    for &base in &bases {
        assert_eq!(
            segment_files_exist(&pdir, base),
            [true; 3],
            "segment {base}"
        );
    }

    // One past the base of the third segment: the first two go, the third stays.
    let before = bases[2] + 1;
    engine.delete_records("t", 0, before).unwrap();
    assert_eq!(log.segment_base_offsets().unwrap(), bases[2..].to_vec());
    for &base in &bases[..2] {
        assert_eq!(
            segment_files_exist(&pdir, base),
            [false; 3],
            "segment {base}"
        );
    }
    for &base in &bases[2..] {
        assert_eq!(
            segment_files_exist(&pdir, base),
            [true; 3],
            "segment {base}"
        );
    }

    // Exactly the base of the fourth segment: the third lies wholly below and goes.
    engine.delete_records("t", 0, bases[3]).unwrap();
    assert_eq!(log.segment_base_offsets().unwrap(), bases[3..].to_vec());
    assert_eq!(segment_files_exist(&pdir, bases[2]), [false; 3]);
    assert_log_start(&engine, bases[3], 1000);

    // One below the base of the fifth: the fourth holds it and stays.
    engine.delete_records("t", 0, bases[4] - 1).unwrap();
    assert_eq!(log.segment_base_offsets().unwrap(), bases[3..].to_vec());
    assert_log_start(&engine, bases[4] - 1, 1000);

    let logs_on_disk = std::fs::read_dir(&pdir)
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().extension().unwrap() == LOG_SUFFIX)
        .count();
    assert_eq!(logs_on_disk, bases.len() - 3);
}

#[test]
fn the_log_start_survives_a_clean_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let engine = setup(dir.path(), 40);
    let bases = engine.log("t", 0).unwrap().segment_base_offsets().unwrap();
    // Inside a segment, not at a base: only the checkpoint can restore it.
    let start = bases[1] + 3;
    engine.delete_records("t", 0, start).unwrap();
    engine.close().unwrap();
    drop(engine);

    let engine = common::open(dir.path());
    assert!(engine.open_report().clean);
    assert_log_start(&engine, start, 400);
    assert_eq!(
        engine.log("t", 0).unwrap().segment_base_offsets().unwrap(),
        bases[1..]
    );
    assert_eq!(engine.delete_records("t", 0, start - 1).unwrap(), start);
}

#[test]
fn the_log_start_survives_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let engine = setup(dir.path(), 40);
    let bases = engine.log("t", 0).unwrap().segment_base_offsets().unwrap();
    let start = bases[1] + 3;
    engine.delete_records("t", 0, start).unwrap();

    // No close: the crash image has what `delete_records` made durable before returning.
    let crashed = tempfile::tempdir().unwrap();
    common::crash_image(dir.path(), crashed.path());
    let engine2 = common::open(crashed.path());
    assert!(!engine2.open_report().clean);
    assert_log_start(&engine2, start, 400);
    assert_eq!(
        engine2
            .append("t", 0, &common::batch(400, 10))
            .unwrap()
            .first_offset,
        400
    );
}

#[test]
fn a_log_start_inside_the_active_segment_survives_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let engine = setup(dir.path(), 40);
    let log = engine.log("t", 0).unwrap();
    let active_base = *log.segment_base_offsets().unwrap().last().unwrap();
    let start = active_base + 5;
    assert!(start < 400);
    assert_eq!(engine.delete_records("t", 0, start).unwrap(), start);
    assert_eq!(log.segment_count(), 1);

    let crashed = tempfile::tempdir().unwrap();
    common::crash_image(dir.path(), crashed.path());
    let engine2 = common::open(crashed.path());
    assert_log_start(&engine2, start, 400);
}

#[test]
fn only_the_named_partition_moves() {
    let dir = tempfile::tempdir().unwrap();
    let engine = common::open(dir.path());
    engine
        .create_topic(common::small_topic("t", 2, 4096))
        .unwrap();
    for p in 0..2 {
        for i in 0..5 {
            engine.append("t", p, &common::batch(i * 10, 10)).unwrap();
        }
    }
    engine.delete_records("t", 1, 30).unwrap();
    assert_eq!(engine.log("t", 0).unwrap().log_start_offset(), 0);
    assert_eq!(engine.log("t", 1).unwrap().log_start_offset(), 30);
    assert!(matches!(
        engine.delete_records("t", 2, 0),
        Err(EngineError::UnknownPartition { .. })
    ));
    assert!(matches!(
        engine.delete_records("nope", 0, 0),
        Err(EngineError::UnknownTopic { .. })
    ));
}
