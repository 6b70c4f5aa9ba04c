//! The offsets log: committed offsets as records of the compacted topic
//! `__consumer_offsets`, and the in-memory table replayed from it.
//!
//! A group's commits all go to one partition, `abs(javaStringHashCode(group)) % partitions`
//! (Kafka's rule), so they are ordered by that partition's log. Each commit is one batch
//! (every partition of the commit in it), appended through the engine's validating path: a
//! commit is in the page cache when `commit_sync` returns, so it survives a process crash,
//! as an `acks=1` record does. Replay at open walks every partition from its start and
//! keeps the last value of each key; a tombstone (null value) deletes the offset.

pub mod codec;

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use silt_engine::{Engine, EngineError, NewTopic};
use silt_segment::batch::{BatchBuilder, BatchConfig, DecompressBuffer};

use crate::error::{ConsumerError, Result};
use crate::types::TopicPartition;
use codec::{OffsetCommitKey, OffsetCommitValue, OffsetsKey};

/// The internal topic's name, as in Kafka.
pub const OFFSETS_TOPIC: &str = "__consumer_offsets";

/// Longest metadata a commit may carry, in bytes: Kafka's broker default for
/// `offset.metadata.max.bytes`; a longer one is refused (Kafka's `OffsetMetadataTooLarge`).
pub const MAX_OFFSET_METADATA_BYTES: usize = 4096;

/// Longest group id the offsets log holds, in bytes: a Kafka string's i16 length.
pub const MAX_GROUP_ID_BYTES: usize = i16::MAX as usize;

/// A committed offset (Kafka's `OffsetAndMetadata`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommittedOffset {
    /// The next offset the group reads in the partition.
    pub offset: i64,
    /// Metadata given with the commit.
    pub metadata: String,
    /// When it was committed (ms since the epoch).
    pub commit_timestamp: i64,
}

impl CommittedOffset {
    /// A commit of `offset` with no metadata, stamped now.
    pub fn new(offset: i64) -> Self {
        CommittedOffset {
            offset,
            metadata: String::new(),
            commit_timestamp: now_ms(),
        }
    }
}

/// Committed offsets of every group, backed by `__consumer_offsets`.
#[derive(Debug)]
pub(crate) struct OffsetsLog {
    partitions: u32,
    segment_bytes: u32,
    committed: Mutex<HashMap<String, BTreeMap<TopicPartition, CommittedOffset>>>,
}

impl OffsetsLog {
    /// Replays `__consumer_offsets` if it exists; it is created at the first commit.
    pub(crate) fn open(engine: &Engine, partitions: u32, segment_bytes: u32) -> Result<Self> {
        let mut committed = HashMap::new();
        let partitions = match engine.describe_topic(OFFSETS_TOPIC) {
            Ok(topic) => {
                for p in &topic.partitions {
                    replay(engine, p.partition, &mut committed)?;
                }
                topic.partitions.len() as u32
            }
            Err(EngineError::UnknownTopic { .. }) => partitions,
            Err(e) => return Err(e.into()),
        };
        Ok(OffsetsLog {
            partitions,
            segment_bytes,
            committed: Mutex::new(committed),
        })
    }

    /// The offsets log partition of `group`.
    pub(crate) fn partition_for(&self, group: &str) -> u32 {
        codec::partition_for(group, self.partitions)
    }

    /// What `group` committed for `partition`.
    pub(crate) fn committed(
        &self,
        group: &str,
        partition: &TopicPartition,
    ) -> Option<CommittedOffset> {
        lock(&self.committed).get(group)?.get(partition).cloned()
    }

    /// Everything `group` committed.
    pub(crate) fn group_offsets(&self, group: &str) -> BTreeMap<TopicPartition, CommittedOffset> {
        lock(&self.committed)
            .get(group)
            .cloned()
            .unwrap_or_default()
    }

    /// Groups with committed offsets.
    pub(crate) fn groups(&self) -> Vec<String> {
        lock(&self.committed).keys().cloned().collect()
    }

    /// Writes one batch holding every offset of the commit, then makes them visible. The
    /// caller serializes commits of one group (it holds the group's lock), so the table
    /// follows the log's order.
    pub(crate) fn commit(
        &self,
        engine: &Engine,
        group: &str,
        offsets: &BTreeMap<TopicPartition, CommittedOffset>,
    ) -> Result<()> {
        if offsets.is_empty() {
            return Ok(());
        }
        check_commit(group, offsets)?;
        let mut builder = BatchBuilder::new(BatchConfig::default());
        let (mut key, mut value) = (Vec::with_capacity(64), Vec::with_capacity(64));
        for (tp, committed) in offsets {
            key.clear();
            value.clear();
            commit_key(group, tp).encode(&mut key);
            OffsetCommitValue {
                offset: committed.offset,
                leader_epoch: -1,
                metadata: committed.metadata.clone(),
                commit_timestamp: committed.commit_timestamp,
            }
            .encode(&mut value);
            builder.append(committed.commit_timestamp, Some(&key), Some(&value), &[])?;
        }
        self.append(engine, group, &builder.finish()?)?;
        let mut table = lock(&self.committed);
        let entry = table.entry(group.to_string()).or_default();
        for (tp, committed) in offsets {
            entry.insert(tp.clone(), committed.clone());
        }
        Ok(())
    }

    /// Deletes the given offsets of `group` (all of them when `partitions` is `None`) with
    /// tombstones, as Kafka's `DeleteGroups` / `OffsetDelete` do.
    pub(crate) fn delete(
        &self,
        engine: &Engine,
        group: &str,
        partitions: Option<&[TopicPartition]>,
    ) -> Result<usize> {
        let doomed: Vec<TopicPartition> = {
            let table = lock(&self.committed);
            let Some(offsets) = table.get(group) else {
                return Ok(0);
            };
            match partitions {
                None => offsets.keys().cloned().collect(),
                Some(ps) => ps
                    .iter()
                    .filter(|p| offsets.contains_key(p))
                    .cloned()
                    .collect(),
            }
        };
        if doomed.is_empty() {
            return Ok(0);
        }
        let mut builder = BatchBuilder::new(BatchConfig::default());
        let mut key = Vec::with_capacity(64);
        let now = now_ms();
        for tp in &doomed {
            key.clear();
            commit_key(group, tp).encode(&mut key);
            builder.append(now, Some(&key), None, &[])?;
        }
        self.append(engine, group, &builder.finish()?)?;
        let mut table = lock(&self.committed);
        if let Some(offsets) = table.get_mut(group) {
            for tp in &doomed {
                offsets.remove(tp);
            }
            if offsets.is_empty() {
                table.remove(group);
            }
        }
        Ok(doomed.len())
    }

    fn append(&self, engine: &Engine, group: &str, batch: &[u8]) -> Result<()> {
        let partition = self.partition_for(group);
        match engine.append(OFFSETS_TOPIC, partition, batch) {
            Err(EngineError::UnknownTopic { .. }) => {
                self.create_topic(engine)?;
                engine.append(OFFSETS_TOPIC, partition, batch)?;
            }
            other => {
                other?;
            }
        }
        Ok(())
    }

    fn create_topic(&self, engine: &Engine) -> Result<()> {
        let topic = NewTopic::new(OFFSETS_TOPIC, self.partitions)
            .config("cleanup.policy", "compact")
            .config("segment.bytes", self.segment_bytes.to_string());
        match engine.create_topic(topic) {
            Ok(()) | Err(EngineError::TopicExists { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

/// Refuses a commit whose key or value the codec cannot write as given: the strings of
/// Kafka's layouts have i16 lengths and its partitions are i32, and a commit written
/// anyway would be cut short, or read back at the next open as a different group or as a
/// record that stops the replay. Kafka's broker refuses the same commits.
fn check_commit(group: &str, offsets: &BTreeMap<TopicPartition, CommittedOffset>) -> Result<()> {
    for (tp, committed) in offsets {
        let refuse = |reason: String| ConsumerError::InvalidCommit {
            group: group.to_string(),
            partition: tp.clone(),
            reason,
        };
        if group.len() > MAX_GROUP_ID_BYTES {
            let reason = format!("the group id is longer than {MAX_GROUP_ID_BYTES} bytes");
            return Err(refuse(reason));
        }
        if let Err(EngineError::InvalidTopicName { reason, .. }) =
            silt_engine::validate_topic_name(&tp.topic)
        {
            return Err(refuse(format!("invalid topic name: {reason}")));
        }
        if i32::try_from(tp.partition).is_err() {
            return Err(refuse("the partition is past i32::MAX".to_string()));
        }
        if committed.metadata.len() > MAX_OFFSET_METADATA_BYTES {
            let reason = format!(
                "its metadata is {} bytes, more than {MAX_OFFSET_METADATA_BYTES}",
                committed.metadata.len()
            );
            return Err(refuse(reason));
        }
    }
    Ok(())
}

fn commit_key(group: &str, tp: &TopicPartition) -> OffsetCommitKey {
    OffsetCommitKey {
        group: group.to_string(),
        topic: tp.topic.clone(),
        partition: tp.partition as i32,
    }
}

/// Applies every record of one offsets log partition to `committed`, in offset order.
fn replay(
    engine: &Engine,
    partition: u32,
    committed: &mut HashMap<String, BTreeMap<TopicPartition, CommittedOffset>>,
) -> Result<()> {
    let log = engine.log(OFFSETS_TOPIC, partition)?;
    let mut offset = log.log_start_offset();
    let mut buffer = DecompressBuffer::new();
    loop {
        let fetch = log.fetch(offset, 1 << 20)?;
        if fetch.is_empty() {
            return Ok(());
        }
        let mut failure = None;
        fetch.for_each_record(&mut buffer, |record| {
            if failure.is_none() {
                failure = apply(partition, &record, committed).err();
            }
        })?;
        if let Some(e) = failure {
            return Err(e);
        }
        offset = fetch.next_offset();
    }
}

fn apply(
    partition: u32,
    record: &silt_segment::batch::Record<'_>,
    committed: &mut HashMap<String, BTreeMap<TopicPartition, CommittedOffset>>,
) -> Result<()> {
    let corrupt = |reason: String| ConsumerError::CorruptOffsetsRecord {
        partition,
        offset: record.offset,
        reason,
    };
    let Some(key) = record.key else {
        return Err(corrupt("record without a key".into()));
    };
    let OffsetsKey::OffsetCommit(key) = OffsetsKey::decode(key).map_err(corrupt)? else {
        return Ok(()); // group metadata: membership is not persisted by silt
    };
    let tp = TopicPartition::new(
        key.topic,
        u32::try_from(key.partition)
            .map_err(|_| corrupt(format!("partition {}", key.partition)))?,
    );
    match record.value {
        None => {
            if let Some(offsets) = committed.get_mut(&key.group) {
                offsets.remove(&tp);
                if offsets.is_empty() {
                    committed.remove(&key.group);
                }
            }
        }
        Some(value) => {
            let value = OffsetCommitValue::decode(value).map_err(corrupt)?;
            committed.entry(key.group).or_default().insert(
                tp,
                CommittedOffset {
                    offset: value.offset,
                    metadata: value.metadata,
                    commit_timestamp: value.commit_timestamp,
                },
            );
        }
    }
    Ok(())
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
