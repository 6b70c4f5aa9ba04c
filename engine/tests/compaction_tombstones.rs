//! Tombstones (null values) survive the cleaning that first sees them, which stores a delete
//! horizon (now + `delete.retention.ms`) in their batch (attribute bit 6, baseTimestamp,
//! record timestamps unchanged), and are removed by the first cleaning at or after it. The
//! clock is the `now_ms` given to `Log::clean`: nothing sleeps.

mod common;

use common::compaction::{compact_topic, keyed_batch, read_log, roll};
use silt_segment::batch::{Compression, DecompressBuffer};

const T: i64 = common::T0 + 10_000;

#[test]
fn tombstones_are_kept_until_the_delete_horizon_then_removed() {
    let dir = tempfile::tempdir().unwrap();
    let engine = common::open(dir.path());
    let topic = compact_topic("t", 1024).config("delete.retention.ms", "100");
    engine.create_topic(topic).unwrap();
    let log = engine.log("t", 0).unwrap();
    for compression in [Compression::None, Compression::Zstd] {
        log.append(&keyed_batch(
            &[("a", Some("1")), ("b", Some("2"))],
            common::T0,
            compression,
        ))
        .unwrap();
    }
    let tombstone = log
        .append(&keyed_batch(
            &[("a", None), ("c", Some("3"))],
            common::T0 + 5,
            Compression::Lz4,
        ))
        .unwrap();
    roll(&log, common::T0);

    let first = log.clean(T).unwrap().expect("all dirty");
    assert_eq!(first.tombstones_removed, 0);
    let records = read_log(&log);
    let a: Vec<_> = records
        .iter()
        .filter(|e| e.1.as_deref() == Some("a"))
        .collect();
    assert_eq!(
        a,
        [&(tombstone.first_offset, Some("a".into()), None)],
        "a's value went, its tombstone stays"
    );

    // The kept tombstone's batch carries the horizon; its records keep their timestamps.
    let fetch = log.fetch(tombstone.first_offset, 1 << 20).unwrap();
    let batch = fetch.batches().next().unwrap().unwrap();
    let header = batch.header();
    assert_eq!(header.delete_horizon_ms(), Some(T + 100));
    assert_eq!(header.base_timestamp, T + 100);
    let mut buffer = DecompressBuffer::new();
    let timestamps: Vec<i64> = fetch
        .records(&batch, &mut buffer)
        .unwrap()
        .map(|r| r.unwrap().timestamp)
        .collect();
    assert_eq!(timestamps, [common::T0 + 5, common::T0 + 6]);

    // Before the horizon nothing is eligible; at it, the tombstone goes.
    assert!(log.clean(T + 99).unwrap().is_none());
    let late = log.clean(T + 100).unwrap().expect("the horizon passed");
    assert_eq!(late.tombstones_removed, 1);
    let records = read_log(&log);
    assert!(
        records.iter().all(|e| e.1.as_deref() != Some("a")),
        "{records:?}"
    );
    assert!(records.iter().any(|e| e.1.as_deref() == Some("c")));
}

#[test]
fn a_zero_retention_tombstone_still_survives_its_first_cleaning() {
    let dir = tempfile::tempdir().unwrap();
    let engine = common::open(dir.path());
    engine
        .create_topic(compact_topic("t", 1024).config("delete.retention.ms", "0"))
        .unwrap();
    let log = engine.log("t", 0).unwrap();
    log.append(&keyed_batch(
        &[("k", Some("v")), ("k", None)],
        common::T0,
        Compression::None,
    ))
    .unwrap();
    roll(&log, common::T0);
    log.clean(T).unwrap().expect("dirty");
    assert!(read_log(&log)
        .iter()
        .any(|e| e.1.as_deref() == Some("k") && e.2.is_none()));
    let stats = log
        .clean(T)
        .unwrap()
        .expect("horizon T + 0 has passed at T");
    assert_eq!(stats.tombstones_removed, 1);
    assert!(read_log(&log).iter().all(|e| e.1.as_deref() != Some("k")));
}
