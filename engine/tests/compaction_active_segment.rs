//! The active segment is never cleaned: duplicates in it stay, a log whose only segment is
//! the active one is not cleanable, and the active segment's records are untouched when the
//! closed ones are cleaned (even those superseded by nothing newer).

mod common;

use common::compaction::{compact_topic, keyed_batch, read_log, roll};
use silt_segment::batch::Compression;

#[test]
fn a_log_with_only_an_active_segment_is_not_cleaned() {
    let dir = tempfile::tempdir().unwrap();
    let engine = common::open(dir.path());
    engine.create_topic(compact_topic("t", 1 << 20)).unwrap();
    let log = engine.log("t", 0).unwrap();
    for i in 0..20 {
        let v = i.to_string();
        log.append(&keyed_batch(
            &[("k", Some(&v))],
            common::T0,
            Compression::None,
        ))
        .unwrap();
    }
    let before = read_log(&log);
    assert!(log.cleanable(common::T0).unwrap().is_none());
    assert!(log.clean(common::T0).unwrap().is_none());
    assert_eq!(engine.clean_logs().unwrap().logs_cleaned, 0);
    assert_eq!(read_log(&log), before);
}

#[test]
fn records_of_the_active_segment_survive_cleaning() {
    let dir = tempfile::tempdir().unwrap();
    let engine = common::open(dir.path());
    engine.create_topic(compact_topic("t", 1024)).unwrap();
    let log = engine.log("t", 0).unwrap();
    log.append(&keyed_batch(
        &[("k", Some("old")), ("k", Some("older-dup"))],
        common::T0,
        Compression::None,
    ))
    .unwrap();
    roll(&log, common::T0);
    let active_base = *log.segment_base_offsets().unwrap().last().unwrap();
    for v in ["a1", "a2", "a3"] {
        log.append(&keyed_batch(
            &[("k", Some(v))],
            common::T0,
            Compression::None,
        ))
        .unwrap();
    }
    let active_before: Vec<_> = read_log(&log)
        .into_iter()
        .filter(|e| e.0 >= active_base)
        .collect();
    let stats = log.clean(common::T0).unwrap().expect("dirty");
    assert_eq!(
        stats.end_offset, active_base,
        "the map stops at the active segment"
    );
    let after = read_log(&log);
    let active_after: Vec<_> = after
        .iter()
        .filter(|e| e.0 >= active_base)
        .cloned()
        .collect();
    assert_eq!(
        active_after, active_before,
        "every record of the active segment is still there"
    );
    // Below the active segment, k keeps its latest closed-segment record only.
    let closed: Vec<_> = after
        .iter()
        .filter(|e| e.0 < active_base && e.1.as_deref() == Some("k"))
        .collect();
    assert_eq!(closed.len(), 1);
    assert_eq!(closed[0].2.as_deref(), Some("older-dup"));
    assert_eq!(
        *log.segment_base_offsets().unwrap().last().unwrap(),
        active_base
    );
}
