//! Helpers of the compaction tests: keyed batches, compacted topics, whole-log reads.

use silt_engine::{Engine, Log, NewTopic};
use silt_segment::batch::{BatchBuilder, BatchConfig, Compression, DecompressBuffer};

/// One record of a model: (offset, key, value; `None` is a tombstone).
pub type Entry = (i64, Option<String>, Option<String>);

/// A compacted topic with small segments, cleaned whenever anything is dirty.
pub fn compact_topic(name: &str, segment_bytes: u32) -> NewTopic {
    super::small_topic(name, 1, segment_bytes)
        .config("cleanup.policy", "compact")
        .config("min.cleanable.dirty.ratio", "0")
}

/// One batch of `(key, value)` records, timestamps `ts, ts + 1, …`.
pub fn keyed_batch(records: &[(&str, Option<&str>)], ts: i64, compression: Compression) -> Vec<u8> {
    let mut builder = BatchBuilder::new(BatchConfig {
        compression,
        ..BatchConfig::default()
    });
    for (i, (key, value)) in records.iter().enumerate() {
        builder
            .append(
                ts + i as i64,
                Some(key.as_bytes()),
                value.map(str::as_bytes),
                &[],
            )
            .unwrap();
    }
    builder.finish().unwrap()
}

/// Appends batches of one filler record until the log rolls, so that everything appended
/// before lies in closed segments. The filler has its own key.
pub fn roll(log: &Log, ts: i64) {
    let segments = log.segment_count();
    while log.segment_count() == segments {
        log.append(&keyed_batch(
            &[("filler", Some("f"))],
            ts,
            Compression::None,
        ))
        .unwrap();
    }
}

/// Every record of the log, fetching from the log start to the end.
pub fn read_log(log: &Log) -> Vec<Entry> {
    let mut out = Vec::new();
    let mut buffer = DecompressBuffer::new();
    let mut offset = log.log_start_offset();
    loop {
        let fetch = log.fetch(offset, 64 * 1024).unwrap();
        if fetch.is_empty() {
            return out;
        }
        fetch
            .for_each_record(&mut buffer, |r| {
                let text = |b: Option<&[u8]>| b.map(|b| String::from_utf8(b.to_vec()).unwrap());
                out.push((r.offset, text(r.key), text(r.value)));
            })
            .unwrap();
        offset = fetch.next_offset();
    }
}

/// `read_log` through the engine's handle.
pub fn read_topic(engine: &Engine, topic: &str) -> Vec<Entry> {
    read_log(&engine.log(topic, 0).unwrap())
}

/// What compaction leaves of `entries` when every offset below `end` was cleaned and no
/// tombstone's horizon has passed: below `end`, the last record of each key; from `end` on,
/// everything.
pub fn compacted(entries: &[Entry], end: i64) -> Vec<Entry> {
    let mut last = std::collections::HashMap::new();
    for (offset, key, _) in entries.iter().filter(|e| e.0 < end) {
        last.insert(key.clone(), *offset);
    }
    entries
        .iter()
        .filter(|(offset, key, _)| *offset >= end || last.get(key) == Some(offset))
        .cloned()
        .collect()
}

/// Asserts offsets strictly rise (no duplicate, no reordering).
pub fn assert_offsets_rise(entries: &[Entry]) {
    for pair in entries.windows(2) {
        assert!(
            pair[0].0 < pair[1].0,
            "offsets rise: {:?} then {:?}",
            pair[0],
            pair[1]
        );
    }
}
