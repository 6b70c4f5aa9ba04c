//! A reader holding a partition's log (a consumer does, between polls) while its topic is
//! deleted gets records the segment maps still hold, or `UnknownTopic`: never an I/O error
//! because the files it would open again are gone.
//!
//! Found by the soak test (`consumer/tests/soak.rs`): with `silt.max.open.segments` small,
//! closed segments of a consumer's partition were unmapped, and the fetch after the
//! deletion tried to open `…/00000000000000000000.log` again (`ENOENT`).

mod common;

use silt_engine::{Engine, EngineConfig, EngineError};

#[test]
fn fetching_a_deleted_topics_unmapped_segment_is_unknown_topic() {
    let dir = tempfile::tempdir().unwrap();
    let config = EngineConfig {
        max_open_segments: 1,
        ..common::quiet_config()
    };
    let engine = Engine::open(dir.path(), config).unwrap();
    engine
        .create_topic(common::small_topic("t", 1, 1024))
        .unwrap();
    let log = engine.log("t", 0).unwrap();
    let mut n = 0;
    while log.segment_count() < 5 {
        log.append(&common::batch(n, 10)).unwrap();
        n += 10;
    }
    // Read every segment once, so the LRU of one keeps only the last closed one mapped.
    let mut offset = 0;
    while offset < log.log_end_offset().unwrap() {
        offset = log.fetch(offset, 1 << 20).unwrap().next_offset();
    }
    assert!(engine.mapped_closed_segments() <= 1);

    engine.delete_topic("t").unwrap();
    for offset in [0, n as i64 / 2, n as i64 - 1] {
        match log.fetch(offset, 1 << 20) {
            Ok(fetch) => assert!(!fetch.is_empty(), "a fetch at {offset} returned nothing"),
            Err(EngineError::UnknownTopic { topic }) => assert_eq!(topic, "t"),
            Err(e) => panic!("fetch at {offset} of a deleted topic: {e}"),
        }
    }
    assert!(matches!(
        engine.fetch("t", 0, 0, 1 << 20),
        Err(EngineError::UnknownTopic { .. })
    ));
}
