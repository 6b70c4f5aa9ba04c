//! `__consumer_offsets` is a compacted topic: once its segments roll and the cleaner runs,
//! the closed segments hold one record per (group, topic, partition), the latest commit,
//! and a reopened engine replays the same committed offsets from them. Deleting a group
//! writes tombstones; they outlive the first cleaning (for `delete.retention.ms`) and go at
//! the first cleaning past it, after which a reopened engine knows nothing of the group.
//!
//! The offsets topic is shaped by the engine's `offsets.topic.*` keys (2 partitions, 4 KiB
//! segments); the background cleaner is off, so cleanings happen exactly where the test
//! runs them, on the clock it gives.

use std::collections::BTreeMap;
use std::path::Path;

use silt_consumer::offsets::codec::{self, OffsetCommitValue, OffsetsKey};
use silt_consumer::offsets::OFFSETS_TOPIC;
use silt_consumer::{CommittedOffset, Consumer, ConsumerConfig, ConsumerExt, TopicPartition};
use silt_engine::{Engine, EngineConfig, Log, NewTopic};
use silt_segment::batch::DecompressBuffer;

const OFFSETS_PARTITIONS: u32 = 2;
const TOPIC_PARTITIONS: u32 = 3;
const GROUPS: [&str; 3] = ["billing", "audit", "search"];
const ROUNDS: i64 = 40;

fn open(dir: &Path) -> Engine {
    let config = EngineConfig::from_map([
        ("offsets.topic.num.partitions", "2"),
        ("offsets.topic.segment.bytes", "4096"),
        ("log.cleaner.enable", "false"),
    ])
    .unwrap();
    Engine::open(dir, config).unwrap()
}

fn partitions() -> Vec<TopicPartition> {
    (0..TOPIC_PARTITIONS)
        .map(|p| TopicPartition::new("t", p))
        .collect()
}

/// A standalone consumer of `group` (no members, so its commits are accepted).
fn committer(engine: &Engine, group: &str) -> Consumer {
    let mut c = engine
        .consumer(ConsumerConfig::with_group(group).enable_auto_commit(false))
        .unwrap();
    c.assign(&partitions()).unwrap();
    c
}

fn commit(c: &mut Consumer, offsets: &BTreeMap<TopicPartition, i64>) {
    let offsets = offsets
        .iter()
        .map(|(tp, o)| (tp.clone(), CommittedOffset::new(*o)))
        .collect();
    c.commit_sync_offsets(&offsets).unwrap();
}

/// What commit round `round` of group number `g` sets.
fn offsets_of(g: usize, round: i64) -> BTreeMap<TopicPartition, i64> {
    partitions()
        .into_iter()
        .map(|tp| {
            let offset = round * 10 + i64::from(tp.partition) + g as i64 * 1000;
            (tp, offset)
        })
        .collect()
}

/// Every group's committed offsets, as a consumer of that group sees them.
fn committed(engine: &Engine) -> BTreeMap<String, BTreeMap<TopicPartition, i64>> {
    GROUPS
        .iter()
        .map(|g| {
            let c = engine
                .consumer(ConsumerConfig::with_group(*g).enable_auto_commit(false))
                .unwrap();
            let offsets = c
                .committed(&partitions())
                .unwrap()
                .into_iter()
                .filter_map(|(tp, o)| Some((tp, o?.offset)))
                .collect();
            (g.to_string(), offsets)
        })
        .collect()
}

/// A group name whose commits go to offsets partition `partition`.
fn filler_group(partition: u32) -> String {
    (0..)
        .map(|i| format!("filler-{i}"))
        .find(|g| codec::partition_for(g, OFFSETS_PARTITIONS) == partition)
        .unwrap()
}

/// Commits as a filler group until offsets partition `partition` rolls, so everything
/// committed before lies in closed segments.
fn roll(engine: &Engine, partition: u32) {
    let log = engine.log(OFFSETS_TOPIC, partition).unwrap();
    let segments = log.segment_count();
    let mut filler = committer(engine, &filler_group(partition));
    let mut offsets = BTreeMap::new();
    for i in 0..10_000 {
        if log.segment_count() > segments {
            return;
        }
        offsets.insert(TopicPartition::new("t", 0), i);
        commit(&mut filler, &offsets);
    }
    panic!("offsets partition {partition} never rolled");
}

/// One record of the offsets log: its offset, key, and committed offset (`None`: a
/// tombstone).
type Entry = (i64, (String, String, i32), Option<i64>);

/// Every record of an offsets log partition below `end`, decoded.
fn read(log: &Log, end: i64) -> Vec<Entry> {
    let mut out = Vec::new();
    let mut buffer = DecompressBuffer::new();
    let mut offset = log.log_start_offset();
    while offset < end {
        let fetch = log.fetch(offset, 64 * 1024).unwrap();
        if fetch.is_empty() {
            break;
        }
        fetch
            .for_each_record(&mut buffer, |r| {
                let OffsetsKey::OffsetCommit(key) = OffsetsKey::decode(r.key.unwrap()).unwrap()
                else {
                    panic!("silt writes only offset commit keys");
                };
                let value = r
                    .value
                    .map(|v| OffsetCommitValue::decode(v).unwrap().offset);
                if r.offset < end {
                    out.push((r.offset, (key.group, key.topic, key.partition), value));
                }
            })
            .unwrap();
        offset = fetch.next_offset();
    }
    out
}

/// The records of the closed segments of an offsets log partition.
fn closed_records(log: &Log) -> Vec<Entry> {
    let active_base = *log.segment_base_offsets().unwrap().last().unwrap();
    read(log, active_base)
}

/// What compaction keeps of `records`: the last record of each key, in offset order.
fn latest_per_key(records: &[Entry]) -> Vec<Entry> {
    let mut last = BTreeMap::new();
    for (offset, key, _) in records {
        last.insert(key.clone(), *offset);
    }
    records
        .iter()
        .filter(|(offset, key, _)| last[key] == *offset)
        .cloned()
        .collect()
}

/// Asserts that no key appears twice in `records`.
fn assert_one_record_per_key(records: &[Entry]) {
    let mut seen = BTreeMap::new();
    for (offset, key, _) in records {
        if let Some(first) = seen.insert(key.clone(), *offset) {
            panic!("{key:?} at offsets {first} and {offset}");
        }
    }
}

/// Phase 1: many commits of every group, the offsets log rolled and cleaned. Returns the
/// groups' committed offsets.
fn commit_roll_and_clean(engine: &Engine) -> BTreeMap<String, BTreeMap<TopicPartition, i64>> {
    engine
        .create_topic(NewTopic::new("t", TOPIC_PARTITIONS))
        .unwrap();
    let mut committers: Vec<Consumer> = GROUPS.iter().map(|g| committer(engine, g)).collect();
    for round in 1..=ROUNDS {
        for (g, c) in committers.iter_mut().enumerate() {
            commit(c, &offsets_of(g, round));
        }
    }
    let expected: BTreeMap<String, _> = GROUPS
        .iter()
        .enumerate()
        .map(|(g, name)| (name.to_string(), offsets_of(g, ROUNDS)))
        .collect();
    assert_eq!(committed(engine), expected);
    let topic = engine.describe_topic(OFFSETS_TOPIC).unwrap();
    assert_eq!(topic.partitions.len() as u32, OFFSETS_PARTITIONS);
    let log = engine.log(OFFSETS_TOPIC, 0).unwrap();
    assert!(log.config().cleanup_policy.compact, "created compacted");

    let mut before = BTreeMap::new();
    for p in 0..OFFSETS_PARTITIONS {
        roll(engine, p);
        let log = engine.log(OFFSETS_TOPIC, p).unwrap();
        assert!(
            log.segment_count() > 2,
            "many commits filled several segments"
        );
        before.insert(p, closed_records(&log));
    }
    let report = engine.clean_logs().unwrap();
    assert_eq!(report.logs_cleaned, OFFSETS_PARTITIONS as usize);

    let mut removed = 0;
    for p in 0..OFFSETS_PARTITIONS {
        let records = closed_records(&engine.log(OFFSETS_TOPIC, p).unwrap());
        assert_one_record_per_key(&records);
        assert_eq!(records, latest_per_key(&before[&p]), "partition {p}");
        removed += before[&p].len() - records.len();
        // Each group's keys are in its own partition, holding its last commit.
        for (name, offsets) in &expected {
            let kept: BTreeMap<TopicPartition, i64> = records
                .iter()
                .filter(|(_, key, _)| key.0 == *name)
                .map(|(_, key, v)| {
                    let tp = TopicPartition::new(key.1.clone(), key.2 as u32);
                    (tp, v.expect("no tombstone was written"))
                })
                .collect();
            if codec::partition_for(name, OFFSETS_PARTITIONS) == p {
                assert_eq!(&kept, offsets, "{name}");
            } else {
                assert!(kept.is_empty(), "{name} commits elsewhere");
            }
        }
    }
    let superseded = (ROUNDS as usize - 1) * GROUPS.len() * TOPIC_PARTITIONS as usize;
    assert!(
        removed >= superseded,
        "every superseded commit of the groups went"
    );
    assert_eq!(removed as u64, report.records_removed);
    expected
}

/// Phase 2: `doomed` is deleted; its tombstones outlive the first cleaning and go at the
/// first one past `delete.retention.ms`.
fn delete_and_clean_past_the_horizon(engine: &Engine, doomed: &str) {
    let partition = codec::partition_for(doomed, OFFSETS_PARTITIONS);
    engine.delete_consumer_group(doomed).unwrap();
    roll(engine, partition);
    let log = engine.log(OFFSETS_TOPIC, partition).unwrap();
    let doomed_records = |log: &Log| -> Vec<Option<i64>> {
        closed_records(log)
            .into_iter()
            .filter(|(_, key, _)| key.0 == doomed)
            .map(|(_, _, v)| v)
            .collect()
    };

    // The first cleaning keeps the tombstones and drops the values they delete.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    log.clean(now).unwrap().expect("the new segments are dirty");
    assert_one_record_per_key(&closed_records(&log));
    assert_eq!(
        doomed_records(&log),
        vec![None; TOPIC_PARTITIONS as usize],
        "only tombstones remain of the deleted group"
    );

    // Past the delete horizon (now + delete.retention.ms), they go too.
    let retention = log.config().delete_retention_ms;
    assert!(
        log.clean(now + retention - 1).unwrap().is_none(),
        "nothing to do before the horizon"
    );
    let stats = log
        .clean(now + retention)
        .unwrap()
        .expect("the delete horizon passed");
    assert_eq!(stats.tombstones_removed, u64::from(TOPIC_PARTITIONS));
    let everything = read(&log, log.log_end_offset().unwrap());
    assert!(everything.iter().all(|(_, key, _)| key.0 != doomed));
}

#[test]
fn the_offsets_log_keeps_the_latest_commit_per_key_and_drops_deleted_groups() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path());
    let mut expected = commit_roll_and_clean(&engine);
    engine.close().unwrap();

    // Replayed from the compacted log: the same offsets.
    let engine = open(dir.path());
    assert_eq!(committed(&engine), expected);
    let doomed = GROUPS[1];
    delete_and_clean_past_the_horizon(&engine, doomed);
    engine.close().unwrap();

    // Reopened: the deleted group has no offsets, the others are unchanged.
    let engine = open(dir.path());
    expected.insert(doomed.to_string(), BTreeMap::new());
    assert_eq!(committed(&engine), expected);
    assert!(!engine
        .list_consumer_groups()
        .unwrap()
        .contains(&doomed.to_string()));
}
