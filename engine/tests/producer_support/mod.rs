//! Helpers shared by the producer tests: reading back what a producer wrote, batch by batch,
//! as owned values that can be compared with what was sent.
#![allow(dead_code)]

use std::path::Path;

use silt_engine::{Engine, NewTopic};
use silt_segment::batch::{BatchBuffer, BatchHeader, Batches, DecompressBuffer, RecordHeader};

/// A topic for producer tests: 1 MiB segments, so that preallocating a segment per
/// partition (`fallocate`) costs little disk even for topics of many partitions.
pub fn topic(name: impl Into<String>, partitions: u32) -> NewTopic {
    NewTopic::new(name, partitions).config("segment.bytes", (1u32 << 20).to_string())
}

/// One record as stored, owned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRecord {
    pub offset: i64,
    pub timestamp: i64,
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    /// (key, value) of every header, in order.
    pub headers: Vec<(Vec<u8>, Option<Vec<u8>>)>,
}

impl StoredRecord {
    /// The value as UTF-8 (panics on a null or non-UTF-8 value).
    pub fn text(&self) -> &str {
        std::str::from_utf8(self.value.as_deref().expect("a value")).expect("utf-8 value")
    }
}

/// One batch as stored: its header and its records (decompressed).
#[derive(Debug, Clone)]
pub struct StoredBatch {
    pub header: BatchHeader,
    /// `Batch::validate` held (CRC-32C and count) when it was read.
    pub records: Vec<StoredRecord>,
}

/// Every batch laid back to back in `bytes`, each checked with `validate()` (CRC-32C and
/// record count) before its records are decoded. Panics on any fault, naming the position.
pub fn decode_batches(bytes: &[u8]) -> Vec<StoredBatch> {
    let mut buffer = DecompressBuffer::new();
    let mut out = Vec::new();
    for batch in Batches::new(bytes, 0) {
        let batch = batch.unwrap_or_else(|e| panic!("unparsable batch: {e}"));
        batch
            .validate()
            .unwrap_or_else(|e| panic!("batch at {} is invalid: {e}", batch.position()));
        let records = batch
            .records(&mut buffer)
            .unwrap_or_else(|e| panic!("records of the batch at {}: {e}", batch.position()))
            .map(|r| {
                let r = r.unwrap_or_else(|e| panic!("record: {e}"));
                StoredRecord {
                    offset: r.offset,
                    timestamp: r.timestamp,
                    key: r.key.map(<[u8]>::to_vec),
                    value: r.value.map(<[u8]>::to_vec),
                    headers: r
                        .headers
                        .iter()
                        .map(|h| (h.key.to_vec(), h.value.map(<[u8]>::to_vec)))
                        .collect(),
                }
            })
            .collect();
        out.push(StoredBatch {
            header: batch.header(),
            records,
        });
    }
    out
}

/// Every batch of a partition, read through the engine's fetch path (the bytes as they lie
/// in the mapped segments), from offset 0 to the log end.
pub fn fetched_batches(engine: &Engine, topic: &str, partition: u32) -> Vec<StoredBatch> {
    let mut out = Vec::new();
    let mut offset = 0;
    loop {
        let fetch = engine
            .fetch(topic, partition, offset, 1 << 20)
            .expect("fetch");
        if fetch.is_empty() {
            return out;
        }
        out.extend(decode_batches(fetch.bytes()));
        offset = fetch.next_offset();
    }
}

/// Every record of a partition through the fetch path, in order, asserting that their
/// offsets run from 0 with no gap.
pub fn contiguous_records(engine: &Engine, topic: &str, partition: u32) -> Vec<StoredRecord> {
    let records: Vec<StoredRecord> = fetched_batches(engine, topic, partition)
        .into_iter()
        .flat_map(|b| b.records)
        .collect();
    for (expected, record) in records.iter().enumerate() {
        assert_eq!(
            record.offset, expected as i64,
            "partition {partition}: offsets are contiguous"
        );
    }
    records
}

/// Every batch of every `.log` file of a partition, in file order, read straight from the
/// files. Call it after the engine is closed: closing trims the preallocated tail.
pub fn log_file_batches(data_dir: &Path, topic: &str, partition: u32) -> Vec<StoredBatch> {
    let dir = data_dir.join(format!("{topic}-{partition}"));
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{} holds no .log file", dir.display());
    files
        .iter()
        .flat_map(|path| decode_batches(&std::fs::read(path).unwrap()))
        .collect()
}

/// Encoded size of a record as the first of a batch (timestamp and offset deltas 0).
pub fn record_size(
    key: Option<&[u8]>,
    value: Option<&[u8]>,
    headers: &[RecordHeader<'_>],
) -> usize {
    BatchBuffer::new(Vec::new()).record_size(0, key, value, headers)
}
