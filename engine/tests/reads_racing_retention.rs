//! Reads racing retention never fail for it: a fetch gets records or `OffsetOutOfRange`, and
//! `list_offsets` by timestamp an answer. A closed segment is mapped lazily, by name, the
//! first time a read needs it (and again after the segment cache unmapped it); retention
//! takes the segment out of the log's list and then removes its files. A read that took the
//! segment from the list just before, and maps it just after, found no file: it used to fail
//! with `Io { op: "open" }` instead of looking again (a fetch) or passing over it (a lookup
//! by timestamp). (Found by the crash campaign's concurrent reader,
//! `consumer/tests/crash_campaign.rs`.)

mod common;

use std::sync::atomic::{AtomicBool, Ordering};

use silt_engine::{Engine, EngineConfig, EngineError, OffsetSpec};

/// Rounds, each on a fresh topic (the race shows up most in a log's first segments), of
/// fetches of the oldest segment while retention deletes it: the race shows up within a few
/// rounds on a two-core machine (the test never waits on it: it checks each fetch).
const ROUNDS: usize = 25;
const FETCHES_PER_ROUND: usize = 1_000;

#[test]
fn reads_racing_retention_get_records_or_offset_out_of_range() {
    let dir = tempfile::tempdir().unwrap();
    // One closed segment mapped at a time: every fetch of the oldest segment maps it anew.
    let config = EngineConfig {
        max_open_segments: 1,
        ..common::quiet_config()
    };
    let engine = Engine::open(dir.path(), config).unwrap();
    for round in 0..ROUNDS {
        let topic = format!("t{round}");
        engine
            .create_topic(common::small_topic(&topic, 1, 1024).config("retention.ms", "-1"))
            .unwrap();
        race(&engine, &topic);
        engine.delete_topic(&topic).unwrap();
    }
}

/// Appends and deletes the oldest segments of `topic` in one thread while another fetches
/// from the log start and looks offsets up by timestamp.
fn race(engine: &Engine, topic: &str) {
    let log = engine.log(topic, 0).unwrap();
    let (done, writer_stopped) = (AtomicBool::new(false), AtomicBool::new(false));
    std::thread::scope(|s| {
        s.spawn(|| {
            let _stopped = common::SetOnDrop(&writer_stopped);
            let mut next = 0;
            while !done.load(Ordering::Relaxed) {
                log.append(&common::batch(next, 4)).unwrap();
                next += 4;
                // Keep about ten segments, deleting the oldest as new ones roll.
                let keep_from = log.log_end_offset().unwrap() - 100;
                if keep_from > log.log_start_offset() {
                    engine.delete_records(topic, 0, keep_from).unwrap();
                }
            }
        });
        let _stop = common::SetOnDrop(&done);
        let mut fetched = 0;
        while fetched < FETCHES_PER_ROUND {
            assert!(!writer_stopped.load(Ordering::Relaxed), "the writer failed");
            // The oldest segment, then a newer one, which unmaps the oldest again.
            for offset in [log.log_start_offset(), log.log_end_offset().unwrap() - 50] {
                match log.fetch(offset.max(0), 4096) {
                    Ok(fetch) => {
                        common::records(&fetch);
                        fetched += usize::from(!fetch.is_empty());
                    }
                    Err(EngineError::OffsetOutOfRange { .. }) => {}
                    Err(e) => panic!("{topic}: fetch at {offset}: {e}"),
                }
            }
            // Every record has timestamp T0 or later: the answer is the first one kept.
            let spec = OffsetSpec::Timestamp(common::T0);
            if let Err(e) = log.list_offsets(spec) {
                panic!("{topic}: list_offsets by timestamp: {e}");
            }
            if let Err(e) = log.list_offsets(OffsetSpec::MaxTimestamp) {
                panic!("{topic}: list_offsets by max timestamp: {e}");
            }
        }
    });
}
