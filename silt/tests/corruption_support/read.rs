//! Reading a damaged directory back: every partition through fetches, one through a
//! consumer's polls, the group's committed offsets, and `list_offsets` by timestamp.
//! Errors are collected, not raised: the oracle decides which are allowed.

use std::collections::BTreeMap;
use std::time::Duration;

use silt::batch::DecompressBuffer;
use silt::offsets::codec::{OffsetCommitValue, OffsetsKey};
use silt::{ConsumerConfig, ConsumerExt, Engine, OffsetReset, OffsetSpec, TopicPartition};

use super::model::{PartitionModel, Rec};

/// Most fetches or polls one reading makes (a loop that does not advance is a failure).
const MAX_STEPS: usize = 20_000;

/// What reading one partition returned.
#[derive(Debug, Default)]
pub struct Reading {
    pub records: Vec<(i64, Rec)>,
    /// (offset being read, error).
    pub errors: Vec<(i64, String)>,
    /// The read did something no reader may do (go backwards, stall).
    pub failures: Vec<String>,
    pub log_start: i64,
    pub log_end: i64,
}

impl Reading {
    fn push(&mut self, offset: i64, rec: Rec) {
        if let Some(&(last, _)) = self.records.last() {
            if offset <= last {
                self.failures
                    .push(format!("offset {offset} returned after offset {last}"));
            }
        }
        self.records.push((offset, rec));
    }
}

/// Reads `topic`-`partition` from its log start to its end with fetches. After an error the
/// read goes on at the next segment, so the records of the other segments are checked too.
pub fn fetch_all(engine: &Engine, topic: &str, partition: u32) -> Reading {
    fetch_from(engine, topic, partition, None)
}

/// As [`fetch_all`], from `from` instead of the log start.
pub fn fetch_from(engine: &Engine, topic: &str, partition: u32, from: Option<i64>) -> Reading {
    let mut reading = Reading::default();
    let log = match engine.log(topic, partition) {
        Ok(log) => log,
        Err(e) => {
            reading.errors.push((-1, format!("log: {e}")));
            return reading;
        }
    };
    reading.log_start = log.log_start_offset();
    reading.log_end = match log.log_end_offset() {
        Ok(end) => end,
        Err(e) => {
            reading.errors.push((-1, format!("log_end_offset: {e:?}")));
            return reading;
        }
    };
    let bases = log.segment_base_offsets().unwrap_or_default();
    let next_segment = |offset: i64| bases.iter().copied().find(|&b| b > offset);
    let mut buffer = DecompressBuffer::new();
    let mut offset = from.unwrap_or(reading.log_start);
    for _ in 0..MAX_STEPS {
        if offset >= reading.log_end {
            return reading;
        }
        let failed = match log.fetch(offset, 8192) {
            Ok(fetch) if fetch.is_empty() => {
                reading.failures.push(format!(
                    "fetch at {offset} is empty below the log end {}",
                    reading.log_end
                ));
                return reading;
            }
            Ok(fetch) => match records_of(&fetch, &mut buffer, &mut reading) {
                Ok(()) if fetch.next_offset() > offset => {
                    offset = fetch.next_offset();
                    false
                }
                Ok(()) => {
                    let next = fetch.next_offset();
                    reading
                        .failures
                        .push(format!("fetch at {offset} did not advance (next {next})"));
                    return reading;
                }
                Err(e) => {
                    reading.errors.push((offset, e));
                    true
                }
            },
            Err(e) => {
                reading.errors.push((offset, format!("fetch: {e:?}")));
                true
            }
        };
        if failed {
            match next_segment(offset) {
                Some(next) => offset = next,
                None => return reading,
            }
        }
    }
    reading.failures.push("the read did not finish".into());
    reading
}

fn records_of(
    fetch: &silt::Fetch,
    buffer: &mut DecompressBuffer,
    reading: &mut Reading,
) -> Result<(), String> {
    for batch in fetch.batches() {
        let batch = batch.map_err(|e| format!("batch: {e:?}"))?;
        if batch.last_offset() < fetch.fetch_offset() {
            continue;
        }
        let records = fetch
            .records(&batch, buffer)
            .map_err(|e| format!("records: {e:?}"))?;
        for record in records {
            let record = record.map_err(|e| format!("record: {e:?}"))?;
            reading.push(record.offset, Rec::of(&record));
        }
    }
    Ok(())
}

/// Reads `topic`-`partition` from `from` with a standalone consumer (`auto.offset.reset=none`,
/// so a position out of range is an error, not a silent jump), until the log end or the
/// first error.
pub fn poll_all(engine: &Engine, topic: &str, partition: u32, from: i64, end: i64) -> Reading {
    let mut reading = Reading {
        log_start: from,
        log_end: end,
        ..Reading::default()
    };
    let tp = TopicPartition::new(topic, partition);
    let config = ConsumerConfig {
        auto_offset_reset: OffsetReset::None,
        max_poll_records: 64,
        ..ConsumerConfig::default()
    };
    let mut consumer = match engine.consumer(config) {
        Ok(c) => c,
        Err(e) => {
            reading.errors.push((from, format!("consumer: {e:?}")));
            return reading;
        }
    };
    let started = consumer
        .assign(std::slice::from_ref(&tp))
        .and_then(|()| consumer.seek(&tp, from));
    if let Err(e) = started {
        reading.errors.push((from, format!("assign/seek: {e:?}")));
        return reading;
    }
    for _ in 0..MAX_STEPS {
        let position = consumer.position(&tp).unwrap_or(-1);
        if position >= end {
            return reading;
        }
        match consumer.poll(Duration::ZERO) {
            Ok(records) => {
                let got: Vec<(i64, Rec)> = records
                    .iter()
                    .map(|r| (r.offset, Rec::new(r.timestamp, r.key, r.value, r.headers)))
                    .collect();
                for (offset, rec) in got {
                    reading.push(offset, rec);
                }
            }
            Err(e) => {
                reading.errors.push((position, format!("poll: {e:?}")));
                return reading;
            }
        }
    }
    reading
        .failures
        .push("the consumer did not reach the log end".into());
    reading
}

/// The committed offsets of `group` as `describe_consumer_group` gives them.
pub fn committed(engine: &Engine, group: &str) -> Result<BTreeMap<TopicPartition, i64>, String> {
    match engine.describe_consumer_group(group) {
        Ok(description) => Ok(description
            .partitions
            .iter()
            .filter_map(|p| Some((p.partition.clone(), p.committed_offset?)))
            .collect()),
        Err(silt::ConsumerError::UnknownGroup { .. }) => Ok(BTreeMap::new()),
        Err(e) => Err(format!("{e:?}")),
    }
}

/// Kafka's replay of an offsets log's records: the last value of every key of `group`;
/// `Err` when any record does not decode (the engine's replay stops there).
pub fn replay(
    records: &[(i64, Rec)],
    group: &str,
) -> Result<BTreeMap<TopicPartition, i64>, String> {
    let mut out = BTreeMap::new();
    for (offset, rec) in records {
        let key = rec
            .key
            .as_deref()
            .ok_or(format!("offset {offset}: no key"))?;
        let OffsetsKey::OffsetCommit(key) = OffsetsKey::decode(key)? else {
            continue;
        };
        // Every record must decode, whichever group it is of: the replay stops at any.
        let value = rec
            .value
            .as_deref()
            .map(OffsetCommitValue::decode)
            .transpose()?;
        let partition = u32::try_from(key.partition).map_err(|_| "partition".to_string())?;
        if key.group != group {
            continue;
        }
        let tp = TopicPartition::new(key.topic, partition);
        match value {
            None => {
                out.remove(&tp);
            }
            Some(value) => {
                out.insert(tp, value.offset);
            }
        }
    }
    Ok(out)
}

/// `list_offsets` by timestamp for a few timestamps of the partition, against the model:
/// the first record at or after the log start whose timestamp is at least the one asked.
pub fn timestamp_lookups(engine: &Engine, model: &PartitionModel, log_start: i64) -> Vec<String> {
    let records: Vec<(i64, i64)> = model
        .records
        .range(log_start..)
        .map(|(&o, r)| (o, r.timestamp))
        .collect();
    let mut asked: Vec<i64> = records
        .iter()
        .step_by((records.len() / 6).max(1))
        .flat_map(|&(_, ts)| [ts - 1, ts, ts + 1])
        .collect();
    asked.push(records.iter().map(|r| r.1).max().unwrap_or(0) + 1);
    let mut failures = Vec::new();
    for ts in asked {
        let expected = records.iter().find(|r| r.1 >= ts).map(|&(o, _)| o);
        let spec = OffsetSpec::Timestamp(ts);
        match engine.list_offsets(&model.topic, model.partition, spec) {
            Ok(found) => {
                let found = found.map(|f| f.offset);
                if found != expected {
                    failures.push(format!(
                        "list_offsets({ts}) of {} gave {found:?}, the log says {expected:?}",
                        model.name()
                    ));
                }
            }
            Err(e) => failures.push(format!("list_offsets({ts}) of {}: {e:?}", model.name())),
        }
    }
    failures
}
