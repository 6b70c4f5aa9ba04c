//! Compaction keeps every surviving record at its original offset and leaves gaps: a fetch
//! at an offset inside a gap reads from the next existing offset, `list_offsets` answers
//! as before (earliest, latest) and by timestamp finds the next surviving record, and the
//! gapped segments survive a clean reopen and an unclean one that validates every batch.

mod common;

use common::compaction::{assert_offsets_rise, compact_topic, keyed_batch, read_log, roll};
use silt_engine::OffsetSpec;
use silt_segment::batch::Compression;

/// Keys k0..k9 written twice (offsets 0-9 then 10-19), each value its offset's number, in
/// batches of two; record at offset o has timestamp T0 + o.
fn fill(log: &silt_engine::Log) {
    for first in (0..20).step_by(2) {
        let keys = [format!("k{}", first % 10), format!("k{}", (first + 1) % 10)];
        let values = [first.to_string(), (first + 1).to_string()];
        let records = [
            (keys[0].as_str(), Some(values[0].as_str())),
            (keys[1].as_str(), Some(values[1].as_str())),
        ];
        log.append(&keyed_batch(
            &records,
            common::T0 + first,
            Compression::None,
        ))
        .unwrap();
    }
}

#[test]
fn surviving_records_keep_their_offsets_and_gaps_read_forward() {
    let dir = tempfile::tempdir().unwrap();
    let engine = common::open(dir.path());
    engine.create_topic(compact_topic("t", 256)).unwrap();
    let log = engine.log("t", 0).unwrap();
    fill(&log);
    roll(&log, common::T0 + 100);
    let end_before = log.log_end_offset().unwrap();
    log.clean(common::T0 + 1000).unwrap().expect("dirty");

    let records = read_log(&log);
    assert_offsets_rise(&records);
    let keyed: Vec<_> = records
        .iter()
        .filter(|e| e.1.as_deref().is_some_and(|k| k.starts_with('k')))
        .collect();
    let offsets: Vec<i64> = keyed.iter().map(|e| e.0).collect();
    assert_eq!(
        offsets,
        (10..20).collect::<Vec<_>>(),
        "the second write of each key stays"
    );
    for e in &keyed {
        assert_eq!(
            e.2.as_deref(),
            Some(e.0.to_string().as_str()),
            "value matches its offset"
        );
    }

    // Offsets 0..10 are a gap now: a fetch inside it starts at offset 10.
    for gap in [0, 3, 9] {
        let fetch = log.fetch(gap, 1 << 20).unwrap();
        let first = common::records(&fetch)[0].0;
        assert_eq!(first, 10, "fetch at {gap}");
    }
    assert_eq!(
        log.list_offsets(OffsetSpec::Earliest)
            .unwrap()
            .unwrap()
            .offset,
        0
    );
    assert_eq!(
        log.list_offsets(OffsetSpec::Latest)
            .unwrap()
            .unwrap()
            .offset,
        end_before
    );
    let by_time = log
        .list_offsets(OffsetSpec::Timestamp(common::T0 + 4))
        .unwrap()
        .unwrap();
    assert_eq!(
        by_time.offset, 10,
        "the record at T0 + 4 is gone: the next one answers"
    );
    assert_eq!(by_time.timestamp, common::T0 + 10);

    engine.close().unwrap();
    let engine = common::open(dir.path());
    assert_eq!(
        common::compaction::read_topic(&engine, "t"),
        records,
        "after a clean reopen"
    );

    // An unclean open without checkpoints validates every batch of every segment: the gaps
    // must not be taken for corruption.
    let crashed = tempfile::tempdir().unwrap();
    common::crash_image(dir.path(), crashed.path());
    for name in [
        silt_engine::RECOVERY_POINT_CHECKPOINT,
        silt_engine::LOG_START_CHECKPOINT,
    ] {
        let _ = std::fs::remove_file(crashed.path().join(name));
    }
    drop(engine);
    let engine = common::open(crashed.path());
    assert!(!engine.open_report().clean);
    assert!(engine.open_report().segments_recovered > 1);
    assert_eq!(engine.open_report().partitions_truncated, 0);
    assert_eq!(
        common::compaction::read_topic(&engine, "t"),
        records,
        "after an unclean reopen"
    );
}
