//! Retention and compaction walk every partition of the engine while topics are deleted: a
//! pass that meets a log whose topic went away fails with `UnknownTopic` or leaves it be,
//! never with an I/O error because the partition's directory was removed under it; and the
//! deletion itself is not disturbed by a cleaning writing in the directory it removes.
//! Likewise the background cleaner's survey of every log's dirtiness.
//!
//! Found by the soak test (`consumer/tests/soak.rs`): `clean_logs` failed with `rename
//! …/scratch-1-0/00000000000000000000.index.cleaned: No such file or directory`, and a
//! retention pass would fail likewise in `sync_dir` of the removed directory.

mod common;

use std::time::{Duration, Instant};

use common::compaction::{compact_topic, keyed_batch};
use silt_engine::{Engine, EngineConfig, EngineError, Log};
use silt_segment::batch::Compression;

/// Appends to `log` until it has `segments` segments: keys repeat, so there is always
/// something to clean.
fn fill(log: &Log, segments: usize) {
    let mut i = 0;
    while log.segment_count() < segments {
        let (k, v) = (format!("key-{}", i % 7), format!("value-{i}"));
        log.append(&keyed_batch(
            &[(&k, Some(&v))],
            common::T0,
            Compression::None,
        ))
        .unwrap();
        i += 1;
    }
}

#[test]
fn retention_of_a_deleted_topics_log_is_not_an_io_error() {
    let dir = tempfile::tempdir().unwrap();
    let engine = common::open(dir.path());
    engine
        .create_topic(common::small_topic("t", 1, 1024))
        .unwrap();
    let log = engine.log("t", 0).unwrap();
    for n in 0..40 {
        log.append(&common::batch(n * 5, 5)).unwrap();
    }
    assert!(log.segment_count() > 2);
    // A retention pass took the log in its list, then the topic was deleted.
    engine.delete_topic("t").unwrap();
    match log.delete_records(100) {
        Ok(_) | Err(EngineError::UnknownTopic { .. }) => {}
        Err(e) => panic!("retention of a deleted topic's log: {e}"),
    }
}

#[test]
fn cleaning_racing_topic_deletion_is_typed_and_the_deletion_succeeds() {
    let dir = tempfile::tempdir().unwrap();
    let engine = common::open(dir.path());
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut rounds = 0u32;
    while rounds < 40 && Instant::now() < deadline {
        engine.create_topic(compact_topic("c", 512)).unwrap();
        fill(&engine.log("c", 0).unwrap(), 12);
        let cleaner = {
            let engine = engine.clone();
            std::thread::spawn(move || engine.clean_logs())
        };
        // Let the cleaning get under way about half the time.
        if rounds.is_multiple_of(2) {
            std::thread::yield_now();
        }
        engine.delete_topic("c").unwrap();
        match cleaner.join().unwrap() {
            Ok(_) | Err(EngineError::UnknownTopic { .. }) => {}
            Err(e) => panic!("round {rounds}: cleaning racing the deletion: {e}"),
        }
        rounds += 1;
    }
}

/// The background cleaner looks at every log's dirtiness without the cleaner's lock: a log
/// whose topic was deleted meanwhile (its closed segments unmapped, their files gone) is not
/// cleanable, rather than an I/O error that would stop the tick for every other log.
#[test]
fn a_deleted_topics_log_is_not_cleanable() {
    let dir = tempfile::tempdir().unwrap();
    let config = EngineConfig {
        max_open_segments: 1,
        ..common::quiet_config()
    };
    let engine = Engine::open(dir.path(), config).unwrap();
    engine.create_topic(compact_topic("c", 512)).unwrap();
    let log = engine.log("c", 0).unwrap();
    fill(&log, 8);
    engine.delete_topic("c").unwrap();
    match log.cleanable(common::T0 + 1) {
        Ok(None) => {}
        other => panic!("a deleted topic's log is cleanable: {other:?}"),
    }
}
