//! Hostile input at the consumer's public entry points: group ids that look like paths, that
//! are empty or longer than the offsets log can hold; commits of offsets, partitions, topics
//! and metadata the offsets log cannot hold; unknown topics and partitions; extreme offsets,
//! sizes and timeouts; invalid configs. Each is a typed error (or, for names that are only
//! data, works), nothing reaches the filesystem outside the data directory, and what was
//! committed replays unchanged after a reopen.
//!
//! The offsets records decoder never sizes an allocation from a length it has not checked:
//! a thread-local counter behind this test binary's global allocator bounds the largest
//! allocation made while decoding keys and values whose string lengths claim 32767 bytes.

#[path = "../../engine/tests/common/counting_alloc.rs"]
mod counting_alloc;
mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use counting_alloc::largest_allocation;
use silt_consumer::offsets::codec::{OffsetCommitValue, OffsetsKey};
use silt_consumer::offsets::{MAX_OFFSET_METADATA_BYTES, OFFSETS_TOPIC};
use silt_consumer::{
    CommittedOffset, Consumer, ConsumerConfig, ConsumerError, ConsumerExt, NoopListener,
    OffsetReset, TopicPartition,
};
use silt_engine::{Engine, EngineError};
use support::{open, produce, topic};

fn entries(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

/// `<root>/data` with topic `t` (2 partitions, 10 records).
fn setup() -> (tempfile::TempDir, Engine) {
    let root = tempfile::tempdir().unwrap();
    let engine = open(&root.path().join("data"));
    topic(&engine, "t", 2);
    produce(&engine, "t", 2, "v", 10);
    (root, engine)
}

fn reopen(root: &Path, engine: Engine) -> Engine {
    engine.close().unwrap();
    drop(engine);
    open(&root.join("data"))
}

fn commit(
    consumer: &mut Consumer,
    tp: &TopicPartition,
    offset: i64,
    metadata: &str,
) -> Result<(), ConsumerError> {
    let mut c = CommittedOffset::new(offset);
    c.metadata = metadata.to_string();
    consumer.commit_sync_offsets(&BTreeMap::from([(tp.clone(), c)]))
}

/// A standalone consumer of `t-0` in `group`.
fn assigned(engine: &Engine, group: &str) -> Consumer {
    let mut consumer = engine
        .consumer(ConsumerConfig::with_group(group).enable_auto_commit(false))
        .unwrap();
    consumer.assign(&[TopicPartition::new("t", 0)]).unwrap();
    consumer
}

/// Group ids are data, never paths: these commit, replay and delete like any other.
const PATH_LIKE_GROUPS: &[&str] = &[
    "../../evil",
    "/etc/passwd",
    "a/b",
    "..",
    ".",
    "a\0b",
    "é",
    " ",
    "\\",
    "g\n",
];

#[test]
fn path_like_group_ids_are_only_data_and_reach_nothing() {
    let (root, engine) = setup();
    let t0 = TopicPartition::new("t", 0);
    for (i, group) in PATH_LIKE_GROUPS.iter().enumerate() {
        let mut consumer = assigned(&engine, group);
        commit(&mut consumer, &t0, i as i64, group).unwrap();
        consumer.close().unwrap();
    }
    let engine = reopen(root.path(), engine);
    let listed: BTreeSet<String> = engine.list_consumer_groups().unwrap().into_iter().collect();
    let expected: BTreeSet<String> = PATH_LIKE_GROUPS.iter().map(|g| g.to_string()).collect();
    assert_eq!(listed, expected);
    for (i, group) in PATH_LIKE_GROUPS.iter().enumerate() {
        let consumer = assigned(&engine, group);
        let committed = consumer.committed(std::slice::from_ref(&t0)).unwrap();
        let c = committed[&t0].clone().expect("committed");
        assert_eq!((c.offset, c.metadata.as_str()), (i as i64, *group));
        consumer.close().unwrap();
        engine.delete_consumer_group(group).unwrap();
    }
    assert!(engine.list_consumer_groups().unwrap().is_empty());
    assert_eq!(entries(root.path()), BTreeSet::from(["data".to_string()]));
    for name in entries(&root.path().join("data")) {
        let known = name.starts_with("t-") || name.starts_with(&format!("{OFFSETS_TOPIC}-"));
        let engine_file = name.starts_with('.')
            || name.contains("checkpoint")
            || name == "__silt_topics"
            || name == "producer-id-block";
        assert!(
            known || engine_file,
            "unexpected entry {name:?} in the data directory"
        );
    }
    engine.close().unwrap();
}

#[test]
fn empty_and_oversize_group_ids_are_refused() {
    let (root, engine) = setup();
    let long = "g".repeat(40_000);
    for group in ["", long.as_str()] {
        match engine.consumer(ConsumerConfig::with_group(group)) {
            Err(ConsumerError::InvalidConfig { key, .. }) => assert_eq!(key, "group.id"),
            other => panic!("group of {} bytes: {:?}", group.len(), other.map(drop)),
        }
    }
    // Kafka's properties: an empty group.id is no group at all.
    let config = ConsumerConfig::from_map([("group.id", "")]).unwrap();
    assert_eq!(config.group_id, None);
    let mut consumer = engine.consumer(config).unwrap();
    match consumer.subscribe(&["t"], NoopListener) {
        Err(ConsumerError::NoGroupId { .. }) => {}
        other => panic!("subscribe without a group: {other:?}"),
    }
    assert!(matches!(
        consumer.commit_sync(),
        Err(ConsumerError::NoGroupId { .. })
    ));
    // The group tools take any string: one too long for the offsets log is refused whole.
    let offsets = BTreeMap::from([(TopicPartition::new("t", 0), CommittedOffset::new(1))]);
    match engine.alter_consumer_group_offsets(&long, &offsets) {
        Err(ConsumerError::InvalidCommit { group, .. }) => assert_eq!(group, long),
        other => panic!("alter offsets of a 40000-byte group: {other:?}"),
    }
    for group in ["", "nope", long.as_str()] {
        assert!(matches!(
            engine.describe_consumer_group(group),
            Err(ConsumerError::UnknownGroup { .. })
        ));
        assert!(matches!(
            engine.delete_consumer_group(group),
            Err(ConsumerError::UnknownGroup { .. })
        ));
    }
    assert!(
        engine.describe_topic(OFFSETS_TOPIC).is_err(),
        "nothing was committed"
    );
    let engine = reopen(root.path(), engine);
    assert!(engine.list_consumer_groups().unwrap().is_empty());
    engine.close().unwrap();
}

#[test]
fn commits_the_offsets_log_cannot_hold_are_refused_whole_and_replay_is_intact() {
    let (root, engine) = setup();
    let t0 = TopicPartition::new("t", 0);
    let mut consumer = assigned(&engine, "g");
    commit(
        &mut consumer,
        &t0,
        3,
        &"m".repeat(MAX_OFFSET_METADATA_BYTES),
    )
    .unwrap();
    let too_long = "m".repeat(MAX_OFFSET_METADATA_BYTES + 1);
    // 32768 bytes of two-byte characters: a cut at a Kafka string's 32767 bytes would split one.
    let split = "é".repeat(16_384);
    for metadata in [too_long.as_str(), split.as_str()] {
        match commit(&mut consumer, &t0, 5, metadata) {
            Err(ConsumerError::InvalidCommit { partition, .. }) => assert_eq!(partition, t0),
            other => panic!("metadata of {} bytes: {other:?}", metadata.len()),
        }
    }
    for tp in [
        TopicPartition::new("../x", 0),
        TopicPartition::new("", 0),
        TopicPartition::new("x".repeat(40_000), 0),
        TopicPartition::new("t", u32::MAX),
        TopicPartition::new("t", 1 << 31),
    ] {
        // With a good entry beside it: nothing of the commit is written.
        let offsets = BTreeMap::from([
            (t0.clone(), CommittedOffset::new(7)),
            (tp.clone(), CommittedOffset::new(1)),
        ]);
        match consumer.commit_sync_offsets(&offsets) {
            Err(ConsumerError::InvalidCommit { partition, .. }) => assert_eq!(partition, tp),
            other => panic!(
                "commit of {:?}-{}: {other:?}",
                tp.topic.get(..20),
                tp.partition
            ),
        }
    }
    // Offsets are the caller's: extreme ones are held and replayed as given.
    let t1 = TopicPartition::new("t", 1);
    let offsets = BTreeMap::from([(t1.clone(), CommittedOffset::new(i64::MAX))]);
    consumer.commit_sync_offsets(&offsets).unwrap();
    consumer.close().unwrap();
    let engine = reopen(root.path(), engine);
    let consumer = assigned(&engine, "g");
    let committed = consumer.committed(&[t0.clone(), t1.clone()]).unwrap();
    assert_eq!(committed[&t0].as_ref().map(|c| c.offset), Some(3));
    assert_eq!(
        committed[&t0].as_ref().map(|c| c.metadata.len()),
        Some(MAX_OFFSET_METADATA_BYTES)
    );
    assert_eq!(committed[&t1].as_ref().map(|c| c.offset), Some(i64::MAX));
    consumer.close().unwrap();
    engine.close().unwrap();
}

#[test]
fn committed_offsets_outside_the_log_are_reset_not_served() {
    let (_root, engine) = setup();
    for (offset, reset, expected) in [
        (i64::MAX, OffsetReset::Earliest, Ok(0)),
        (-5, OffsetReset::Earliest, Ok(0)),
        (i64::MAX, OffsetReset::Latest, Ok(5)),
        (i64::MAX, OffsetReset::None, Err(())),
    ] {
        let group = format!("g{offset}{reset:?}");
        let tp = TopicPartition::new("t", 0);
        let offsets = BTreeMap::from([(tp.clone(), CommittedOffset::new(offset))]);
        engine
            .alter_consumer_group_offsets(&group, &offsets)
            .unwrap();
        let config = ConsumerConfig::with_group(group.as_str())
            .auto_offset_reset(reset)
            .enable_auto_commit(false);
        let mut consumer = engine.consumer(config).unwrap();
        consumer.assign(std::slice::from_ref(&tp)).unwrap();
        let first = consumer
            .poll(Duration::from_millis(50))
            .map(|records| records.iter().next().map(|r| r.offset));
        match (first, expected) {
            (Ok(Some(first)), Ok(want)) => assert_eq!(first, want, "{offset} {reset:?}"),
            (Ok(None), Ok(5)) => {}
            (Err(ConsumerError::OffsetOutOfRange { .. }), Err(()))
            | (Err(ConsumerError::NoOffsetForPartition { .. }), Err(())) => {}
            (got, want) => panic!("committed {offset}, {reset:?}: {got:?}, expected {want:?}"),
        }
        consumer.close().unwrap();
    }
    engine.close().unwrap();
}

#[test]
fn unknown_topics_and_partitions_are_typed_errors_and_create_nothing() {
    let (root, engine) = setup();
    let before = entries(&root.path().join("data"));
    let mut consumer = engine
        .consumer(ConsumerConfig::default().auto_offset_reset(OffsetReset::Earliest))
        .unwrap();
    for tp in [
        TopicPartition::new("nope", 0),
        TopicPartition::new("../x", 0),
        TopicPartition::new("", 0),
    ] {
        match consumer.assign(std::slice::from_ref(&tp)) {
            Err(ConsumerError::Engine(EngineError::UnknownTopic { .. })) => {}
            other => panic!("assign {tp:?}: {other:?}"),
        }
    }
    for partition in [2, u32::MAX] {
        match consumer.assign(&[TopicPartition::new("t", partition)]) {
            Err(ConsumerError::Engine(EngineError::UnknownPartition { .. })) => {}
            other => panic!("assign t-{partition}: {other:?}"),
        }
    }
    assert!(
        consumer.assignment().is_empty(),
        "a refused assign changes nothing"
    );
    let stranger = TopicPartition::new("t", 1);
    assert!(matches!(
        consumer.seek(&stranger, 0),
        Err(ConsumerError::NotAssigned { .. })
    ));
    assert!(matches!(
        consumer.position(&stranger),
        Err(ConsumerError::NotAssigned { .. })
    ));
    assert!(matches!(
        consumer.pause(std::slice::from_ref(&stranger)),
        Err(ConsumerError::NotAssigned { .. })
    ));
    consumer.close().unwrap();
    // A group may subscribe to topics that do not exist (yet): it gets nothing from them.
    let mut member = engine
        .consumer(ConsumerConfig::with_group("g").auto_offset_reset(OffsetReset::Earliest))
        .unwrap();
    member
        .subscribe(&["nope", "../x", ""], NoopListener)
        .unwrap();
    for _ in 0..5 {
        assert!(member.poll(Duration::from_millis(5)).unwrap().is_empty());
    }
    assert!(member.assignment().is_empty());
    member.close().unwrap();
    let after: BTreeSet<String> = entries(&root.path().join("data"))
        .into_iter()
        .filter(|e| !e.starts_with(OFFSETS_TOPIC))
        .collect();
    assert_eq!(after, before);
    assert_eq!(entries(root.path()), BTreeSet::from(["data".to_string()]));
    engine.close().unwrap();
}

#[test]
fn extreme_positions_sizes_and_timeouts_are_served() {
    let (_root, engine) = setup();
    let tp = TopicPartition::new("t", 0);
    let config = ConsumerConfig {
        max_poll_records: 1,
        max_partition_fetch_bytes: 1,
        enable_auto_commit: false,
        auto_offset_reset: OffsetReset::Earliest,
        ..ConsumerConfig::default()
    };
    let mut consumer = engine.consumer(config).unwrap();
    consumer.assign(std::slice::from_ref(&tp)).unwrap();
    // One record per poll, one batch per fetch of at most 1 byte: all 5 records, in order.
    let mut seen = Vec::new();
    while seen.len() < 5 {
        let records = consumer.poll(Duration::MAX).unwrap();
        assert_eq!(records.len(), 1);
        seen.extend(records.iter().map(|r| r.offset));
    }
    assert_eq!(seen, [0, 1, 2, 3, 4]);
    for offset in [i64::MAX, i64::MIN, -1, 5, 6] {
        consumer.seek(&tp, offset).unwrap();
        let records = consumer.poll(Duration::ZERO).unwrap();
        let first = records.iter().next().map(|r| r.offset);
        assert!(
            matches!(first, None | Some(0)),
            "after seek to {offset}: {first:?}"
        );
        let position = consumer.position(&tp).unwrap();
        assert!(
            (0..=5).contains(&position),
            "seek to {offset}: position {position}"
        );
    }
    consumer.close().unwrap();
    engine.close().unwrap();
}

#[test]
fn invalid_consumer_configs_are_refused() {
    for (key, value) in [
        ("no.such.key", "1"),
        ("max.poll.records", "0"),
        ("max.poll.records", "-1"),
        ("max.poll.records", "2147483648"),
        ("max.poll.records", "many"),
        ("session.timeout.ms", "0"),
        ("heartbeat.interval.ms", "45000"),
        ("partition.assignment.strategy", ""),
        ("partition.assignment.strategy", ","),
        ("partition.assignment.strategy", "bogus"),
        ("partition.assignment.strategy", "../range"),
        ("auto.offset.reset", "EARLIEST"),
        ("auto.offset.reset", ""),
        ("enable.auto.commit", "yes"),
        ("max.partition.fetch.bytes", "0"),
        ("check.crcs", "1"),
        ("group.instance.id", "i"),
    ] {
        match ConsumerConfig::from_map([(key, value)]) {
            Err(ConsumerError::InvalidConfig { key: k, .. }) => {
                assert!(k == key || key == "heartbeat.interval.ms", "{key}: {k}")
            }
            other => panic!("{key}={value:?}: {:?}", other.map(|c| c.group_id)),
        }
    }
    let (_root, engine) = setup();
    let config = ConsumerConfig {
        heartbeat_interval_ms: 10,
        session_timeout_ms: 10,
        ..ConsumerConfig::with_group("g")
    };
    assert!(matches!(
        engine.consumer(config),
        Err(ConsumerError::InvalidConfig { .. })
    ));
    engine.close().unwrap();
}

#[test]
fn offsets_records_claiming_long_strings_fail_without_allocating_them() {
    let mut key = vec![0, 1]; // OffsetCommitKey v1
    key.extend_from_slice(&i16::MAX.to_be_bytes()); // group: 32767 bytes claimed
    key.extend_from_slice(b"ab");
    let mut negative = vec![0, 1];
    negative.extend_from_slice(&(-2i16).to_be_bytes());
    let mut value = vec![0, 3];
    value.extend_from_slice(&[0; 12]); // offset, leader epoch
    value.extend_from_slice(&i16::MAX.to_be_bytes()); // metadata: 32767 bytes claimed
    value.extend_from_slice(b"m");
    for (what, bytes) in [("key", &key), ("negative length", &negative)] {
        let (decoded, largest) = largest_allocation(|| OffsetsKey::decode(bytes));
        assert!(decoded.is_err(), "{what}: {decoded:?}");
        assert!(largest < 1024, "{what}: allocated {largest} bytes");
    }
    let (decoded, largest) = largest_allocation(|| OffsetCommitValue::decode(&value));
    assert!(decoded.is_err(), "{decoded:?}");
    assert!(largest < 1024, "value: allocated {largest} bytes");
}
