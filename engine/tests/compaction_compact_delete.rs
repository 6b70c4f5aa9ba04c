//! `cleanup.policy=compact,delete` both compacts and deletes by retention (`retention.bytes`,
//! `retention.ms`); `compact` alone never deletes by retention, however small the limits.

mod common;

use common::compaction::{keyed_batch, read_log, roll};
use silt_segment::batch::Compression;

fn fill(engine: &silt_engine::Engine, topic: &str) {
    let log = engine.log(topic, 0).unwrap();
    for i in 0..60 {
        let (k, v) = (format!("k{}", i % 7), i.to_string());
        log.append(&keyed_batch(
            &[(&k, Some(&v))],
            common::T0,
            Compression::None,
        ))
        .unwrap();
    }
    roll(&log, common::T0);
}

#[test]
fn compact_alone_never_deletes_by_retention() {
    let dir = tempfile::tempdir().unwrap();
    let engine = common::open(dir.path());
    let topic = common::small_topic("t", 1, 512)
        .config("cleanup.policy", "compact")
        .config("retention.bytes", "0")
        .config("retention.ms", "1");
    engine.create_topic(topic).unwrap();
    fill(&engine, "t");
    let segments = engine.log("t", 0).unwrap().segment_count();
    assert_eq!(engine.enforce_retention().unwrap().segments_deleted, 0);
    assert_eq!(engine.log("t", 0).unwrap().segment_count(), segments);
}

#[test]
fn compact_delete_compacts_and_deletes_by_size() {
    let dir = tempfile::tempdir().unwrap();
    let engine = common::open(dir.path());
    let topic = common::small_topic("t", 1, 512)
        .config("cleanup.policy", "compact,delete")
        .config("min.cleanable.dirty.ratio", "0")
        .config("retention.bytes", "1");
    engine.create_topic(topic).unwrap();
    fill(&engine, "t");
    let log = engine.log("t", 0).unwrap();
    let report = engine.clean_logs().unwrap();
    assert_eq!(report.logs_cleaned, 1);
    assert!(report.records_removed > 0 && report.bytes_written < report.bytes_read);
    let before = log.segment_count();
    let deleted = engine.enforce_retention().unwrap();
    assert!(
        deleted.segments_deleted > 0,
        "retention.bytes still applies"
    );
    assert_eq!(log.segment_count(), before - deleted.segments_deleted);
    assert!(log.log_start_offset() > 0);
    assert!(!read_log(&log).is_empty());
}

#[test]
fn compact_delete_deletes_by_time() {
    let dir = tempfile::tempdir().unwrap();
    let engine = common::open(dir.path());
    let topic = common::small_topic("t", 1, 512)
        .config("cleanup.policy", "compact,delete")
        .config("retention.ms", "1000");
    engine.create_topic(topic).unwrap();
    fill(&engine, "t"); // timestamps T0, long past
    let log = engine.log("t", 0).unwrap();
    assert!(engine.enforce_retention().unwrap().segments_deleted > 0);
    assert_eq!(log.segment_count(), 1, "only the active segment is left");
}
