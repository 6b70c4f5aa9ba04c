//! Readers run during appends, rolls, retention and topic deletion: every fetch they make
//! holds whole, valid batches (CRC checked) with contiguous offsets and intact values, and a
//! fetch held across a deletion stays readable (no fault on removed files).

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use silt_engine::{Engine, EngineError, OffsetSpec};

/// Checks one fetch: valid batches, contiguous offsets from the fetch offset, right values.
fn check_fetch(fetch: &silt_engine::Fetch) -> i64 {
    for (expected, (offset, value)) in (fetch.fetch_offset()..).zip(common::records(fetch)) {
        assert_eq!(offset, expected, "contiguous offsets");
        assert_eq!(value, format!("value-{offset}"), "intact value");
    }
    fetch.next_offset()
}

fn reader(engine: Engine, topic: &'static str, stop: Arc<AtomicBool>) -> u64 {
    let mut fetches = 0;
    let mut offset = 0;
    while !stop.load(Ordering::Acquire) {
        match engine.fetch(topic, 0, offset, 4096) {
            Ok(fetch) => {
                offset = check_fetch(&fetch);
                fetches += 1;
            }
            Err(EngineError::OffsetOutOfRange { log_start, .. }) => offset = log_start,
            Err(EngineError::UnknownTopic { .. }) => break,
            Err(e) => panic!("reader: {e}"),
        }
    }
    fetches
}

#[test]
fn readers_see_whole_batches_during_appends_rolls_and_retention() {
    let dir = tempfile::tempdir().unwrap();
    let engine = common::open(dir.path());
    engine
        .create_topic(common::small_topic("t", 1, 16 << 10).config("retention.bytes", "65536"))
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let (engine, stop) = (engine.clone(), Arc::clone(&stop));
            std::thread::spawn(move || reader(engine, "t", stop))
        })
        .collect();
    let retention = {
        let (engine, stop) = (engine.clone(), Arc::clone(&stop));
        std::thread::spawn(move || {
            let mut deleted = 0;
            while !stop.load(Ordering::Acquire) {
                deleted += engine.enforce_retention().unwrap().segments_deleted;
                std::thread::yield_now();
            }
            deleted
        })
    };
    let mut next = 0;
    for _ in 0..3000 {
        engine.append("t", 0, &common::batch(next, 10)).unwrap();
        next += 10;
    }
    stop.store(true, Ordering::Release);
    let fetches: u64 = readers.into_iter().map(|r| r.join().unwrap()).sum();
    let deleted = retention.join().unwrap();
    assert!(fetches > 0);
    assert!(deleted > 0, "retention deleted segments while readers read");
    let log = engine.log("t", 0).unwrap();
    assert!(log.log_start_offset() > 0);
    assert_eq!(
        log.list_offsets(OffsetSpec::Latest)
            .unwrap()
            .unwrap()
            .offset,
        next as i64
    );
}

#[test]
fn fetches_held_across_topic_deletion_stay_readable() {
    let dir = tempfile::tempdir().unwrap();
    let engine = common::open(dir.path());
    engine
        .create_topic(common::small_topic("d", 1, 8 << 10))
        .unwrap();
    let mut next = 0;
    for _ in 0..200 {
        engine.append("d", 0, &common::batch(next, 10)).unwrap();
        next += 10;
    }
    // Hold fetches from several segments, closed ones and the active one.
    let held: Vec<_> = (0..next as i64)
        .step_by(250)
        .map(|o| engine.fetch("d", 0, o, 1 << 20).unwrap())
        .collect();
    let stop = Arc::new(AtomicBool::new(false));
    let r = {
        let (engine, stop) = (engine.clone(), Arc::clone(&stop));
        std::thread::spawn(move || reader(engine, "d", stop))
    };
    engine.delete_topic("d").unwrap();
    stop.store(true, Ordering::Release);
    r.join().unwrap();
    assert!(!dir.path().join("d-0").exists(), "the files are gone");
    for fetch in &held {
        check_fetch(fetch);
    }
    assert!(matches!(
        engine.fetch("d", 0, 0, 1).unwrap_err(),
        EngineError::UnknownTopic { .. }
    ));
}
