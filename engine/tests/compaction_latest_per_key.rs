//! Compaction keeps exactly the latest record of each key, at its original offset: random
//! keys, values and tombstones over many small segments (some batches lz4 or zstd), cleaned
//! after each of several rounds of appends, checked against a model after every round and
//! after a reopen. Records of the active segment are never touched.

mod common;

use common::compaction::{
    assert_offsets_rise, compact_topic, compacted, keyed_batch, read_log, roll, Entry,
};
use silt_segment::batch::Compression;

const KEYS: u64 = 40;

/// Appends `batches` random batches to the log and to the model.
fn append_random(
    log: &silt_engine::Log,
    model: &mut Vec<Entry>,
    batches: usize,
    rng: &mut common::Rng,
) {
    for _ in 0..batches {
        let n = 1 + rng.below(6) as usize;
        let owned: Vec<(String, Option<String>)> = (0..n)
            .map(|_| {
                let key = format!("key-{}", rng.below(KEYS));
                let value = (rng.below(10) != 0).then(|| format!("value-{}", rng.next() % 100_000));
                (key, value)
            })
            .collect();
        let records: Vec<(&str, Option<&str>)> = owned
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_deref()))
            .collect();
        let compression =
            [Compression::None, Compression::Lz4, Compression::Zstd][rng.below(3) as usize];
        let info = log
            .append(&keyed_batch(&records, common::T0, compression))
            .unwrap();
        for (i, (k, v)) in owned.into_iter().enumerate() {
            model.push((info.first_offset + i as i64, Some(k), v));
        }
    }
}

#[test]
fn cleaning_keeps_the_latest_record_of_every_key() {
    let dir = tempfile::tempdir().unwrap();
    let engine = common::open(dir.path());
    engine.create_topic(compact_topic("t", 2048)).unwrap();
    let log = engine.log("t", 0).unwrap();
    let mut rng = common::Rng(0x5eed_c0de);
    let mut model: Vec<Entry> = Vec::new();
    for round in 0..4 {
        append_random(&log, &mut model, 60, &mut rng);
        roll(&log, common::T0);
        model = read_log(&log); // the fillers roll added, at their offsets
        let active_base = *log.segment_base_offsets().unwrap().last().unwrap();
        let stats = log.clean(common::T0 + 1).unwrap().expect("eligible");
        assert_eq!(
            stats.end_offset, active_base,
            "round {round}: the whole dirty range fits the map"
        );
        assert!(stats.records_removed > 0);
        let expected = compacted(&model, active_base);
        let got = read_log(&log);
        assert_eq!(got, expected, "round {round}");
        assert_offsets_rise(&got);
        model = got;
    }
    engine.close().unwrap();
    let engine = common::open(dir.path());
    let log = engine.log("t", 0).unwrap();
    assert_eq!(read_log(&log), model, "the cleaned log survives a reopen");
    assert!(
        log.first_dirty_offset() > 0,
        "the clean point was checkpointed"
    );
}

#[test]
fn the_latest_value_per_key_is_what_it_was_before_cleaning() {
    let dir = tempfile::tempdir().unwrap();
    let engine = common::open(dir.path());
    engine.create_topic(compact_topic("t", 1024)).unwrap();
    let log = engine.log("t", 0).unwrap();
    let mut rng = common::Rng(42);
    let mut model = Vec::new();
    append_random(&log, &mut model, 200, &mut rng);
    roll(&log, common::T0);
    let latest = |entries: &[Entry]| {
        let mut map = std::collections::BTreeMap::new();
        for (offset, key, value) in entries {
            map.insert(key.clone(), (*offset, value.clone()));
        }
        map
    };
    let before = latest(&read_log(&log));
    log.clean(common::T0).unwrap().expect("eligible");
    let after = read_log(&log);
    assert_eq!(latest(&after), before);
    let keys: std::collections::BTreeSet<_> = after.iter().map(|e| e.1.clone()).collect();
    assert_eq!(keys.len(), before.len());
}
