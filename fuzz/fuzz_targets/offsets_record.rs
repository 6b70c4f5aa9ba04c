//! Arbitrary records of `__consumer_offsets`: Kafka's `OffsetCommitKey` / `GroupMetadataKey`
//! and `OffsetCommitValue` decoders, and the replay of an offsets log made of such records.
//!
//! - `Key` / `Value`: arbitrary bytes through `OffsetsKey::decode` /
//!   `OffsetCommitValue::decode`. Whatever decodes re-encodes (at silt's versions, key 1 and
//!   value 3) to bytes that decode to the same thing, and to the input's own bytes when the
//!   input was at that version (the layouts have one encoding per value).
//! - `RoundTrip`: a key and a value built from arbitrary fields encode and decode back to
//!   themselves (for strings that fit the format's i16 length, as every name silt commits does).
//! - `Replay`: records with arbitrary keys and values (or tombstones) appended to
//!   `__consumer_offsets` of a fresh engine, then replayed by the first use of groups. Replay
//!   must succeed when every record decodes (a `GroupMetadataKey`'s value is never read) and
//!   fail with `CorruptOffsetsRecord` otherwise; it must agree with a model of the last value
//!   per key.
#![no_main]

use std::collections::BTreeMap;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use silt_consumer::offsets::codec::{OffsetCommitKey, OffsetCommitValue, OffsetsKey};
use silt_consumer::offsets::OFFSETS_TOPIC;
use silt_consumer::{ConsumerError, ConsumerExt, TopicPartition};
use silt_engine::{Engine, EngineConfig, NewTopic};
use silt_segment::batch::{BatchBuilder, BatchConfig};

/// Records appended in one `Replay` input.
const MAX_REPLAY_RECORDS: usize = 32;

#[derive(Arbitrary, Debug)]
enum Input {
    Key(Vec<u8>),
    Value(Vec<u8>),
    RoundTrip {
        group: String,
        topic: String,
        partition: i32,
        offset: i64,
        leader_epoch: i32,
        metadata: String,
        commit_timestamp: i64,
    },
    Replay(Vec<(Vec<u8>, Option<Vec<u8>>)>),
}

fuzz_target!(|input: Input| {
    match input {
        Input::Key(bytes) => key(&bytes),
        Input::Value(bytes) => value(&bytes),
        Input::RoundTrip {
            group,
            topic,
            partition,
            offset,
            leader_epoch,
            metadata,
            commit_timestamp,
        } => {
            let fits = |s: &str| s.len() <= i16::MAX as usize;
            if !(fits(&group) && fits(&topic) && fits(&metadata)) {
                return;
            }
            let key = OffsetCommitKey {
                group,
                topic,
                partition,
            };
            let mut bytes = Vec::new();
            key.encode(&mut bytes);
            assert_eq!(
                OffsetsKey::decode(&bytes),
                Ok(OffsetsKey::OffsetCommit(key))
            );
            let value = OffsetCommitValue {
                offset,
                leader_epoch,
                metadata,
                commit_timestamp,
            };
            bytes.clear();
            value.encode(&mut bytes);
            assert_eq!(OffsetCommitValue::decode(&bytes), Ok(value));
        }
        Input::Replay(records) => replay(&records),
    }
});

fn key(bytes: &[u8]) {
    let Ok(decoded) = OffsetsKey::decode(bytes) else {
        return;
    };
    match &decoded {
        OffsetsKey::OffsetCommit(key) => {
            let mut again = Vec::new();
            key.encode(&mut again);
            assert_eq!(OffsetsKey::decode(&again).as_ref(), Ok(&decoded));
            // Versions 0 and 1 share the layout: only the version differs.
            assert_eq!(again.get(2..), bytes.get(2..), "one encoding per key");
        }
        OffsetsKey::GroupMetadata { group } => {
            assert_eq!(bytes.get(..2), Some(&[0u8, 2][..]));
            assert_eq!(bytes.len(), 4 + group.len());
        }
    }
}

fn value(bytes: &[u8]) {
    let Ok(decoded) = OffsetCommitValue::decode(bytes) else {
        return;
    };
    let mut again = Vec::new();
    decoded.encode(&mut again);
    assert_eq!(OffsetCommitValue::decode(&again).as_ref(), Ok(&decoded));
    if bytes.get(..2) == Some(&[0, 3]) {
        assert_eq!(again, bytes, "one encoding per version-3 value");
    } else {
        assert_eq!(
            decoded.leader_epoch, -1,
            "only version 3 has a leader epoch"
        );
    }
}

type Committed = BTreeMap<String, BTreeMap<TopicPartition, i64>>;

/// What replay must find: `Err(())` when some record does not decode.
fn model(records: &[(Vec<u8>, Option<Vec<u8>>)]) -> Result<Committed, ()> {
    let mut committed = Committed::new();
    for (key, value) in records {
        let OffsetsKey::OffsetCommit(key) = OffsetsKey::decode(key).map_err(|_| ())? else {
            continue; // GroupMetadataKey: its value is never read
        };
        let partition = u32::try_from(key.partition).map_err(|_| ())?;
        let tp = TopicPartition::new(key.topic, partition);
        match value {
            None => {
                if let Some(offsets) = committed.get_mut(&key.group) {
                    offsets.remove(&tp);
                    if offsets.is_empty() {
                        committed.remove(&key.group);
                    }
                }
            }
            Some(value) => {
                let value = OffsetCommitValue::decode(value).map_err(|_| ())?;
                committed
                    .entry(key.group)
                    .or_default()
                    .insert(tp, value.offset);
            }
        }
    }
    Ok(committed)
}

fn replay(records: &[(Vec<u8>, Option<Vec<u8>>)]) {
    let records = records.get(..MAX_REPLAY_RECORDS).unwrap_or(records);
    if records.is_empty() {
        return;
    }
    let dir = silt_fuzz::scratch_dir();
    let config = EngineConfig {
        cleaner_enable: false,
        offsets_topic_num_partitions: 1,
        ..EngineConfig::default()
    };
    let engine = Engine::open(dir.path(), config).expect("open");
    engine
        .create_topic(
            NewTopic::new(OFFSETS_TOPIC, 1)
                .config("cleanup.policy", "compact")
                .config("segment.bytes", "1048576")
                .config("segment.index.bytes", "4096"),
        )
        .expect("create the offsets topic");
    let mut builder = BatchBuilder::new(BatchConfig::default());
    for (key, value) in records {
        builder
            .append(1_700_000_000_000, Some(key), value.as_deref(), &[])
            .expect("append a record");
    }
    let batch = builder.finish().expect("finish");
    if engine.append(OFFSETS_TOPIC, 0, &batch).is_err() {
        return; // more than max.message.bytes
    }
    let expected = model(records);
    match (engine.list_consumer_groups(), &expected) {
        (Ok(groups), Ok(committed)) => {
            let names: Vec<&String> = committed.keys().collect();
            assert_eq!(groups.iter().collect::<Vec<_>>(), names);
            for (group, offsets) in committed {
                let described = engine.describe_consumer_group(group).expect("describe");
                let got: BTreeMap<TopicPartition, i64> = described
                    .partitions
                    .iter()
                    .filter_map(|row| Some((row.partition.clone(), row.committed_offset?)))
                    .collect();
                assert_eq!(&got, offsets, "group {group:?}");
            }
        }
        (Err(ConsumerError::CorruptOffsetsRecord { .. }), Err(())) => {}
        (got, expected) => panic!("replay gave {got:?}, the model {expected:?}"),
    }
    engine.close().expect("close");
}
