//! `offsets.topic.num.partitions` and `offsets.topic.segment.bytes` (engine keys, as on a
//! Kafka broker) shape `__consumer_offsets` when the first commit creates it; a group's
//! commits land in `abs(javaStringHashCode(group)) % n`, and a reopened engine with another
//! setting keeps the topic's own partition count.

use std::collections::BTreeMap;

use silt_consumer::offsets::{codec, OFFSETS_TOPIC};
use silt_consumer::{CommittedOffset, ConsumerConfig, ConsumerExt, TopicPartition};
use silt_engine::{Engine, EngineConfig, NewTopic, OffsetSpec};

fn open(dir: &std::path::Path, partitions: &str) -> Engine {
    let config = EngineConfig::from_map([
        ("offsets.topic.num.partitions", partitions),
        ("offsets.topic.segment.bytes", "65536"),
    ])
    .unwrap();
    Engine::open(dir, config).unwrap()
}

fn commit(engine: &Engine, group: &str, offset: i64) {
    let mut consumer = engine
        .consumer(ConsumerConfig::with_group(group).enable_auto_commit(false))
        .unwrap();
    let tp = TopicPartition::new("t", 0);
    consumer.assign(std::slice::from_ref(&tp)).unwrap();
    let mut offsets = BTreeMap::new();
    offsets.insert(tp, CommittedOffset::new(offset));
    consumer.commit_sync_offsets(&offsets).unwrap();
    consumer.close().unwrap();
}

fn end_offsets(engine: &Engine) -> Vec<i64> {
    let partitions = engine
        .describe_topic(OFFSETS_TOPIC)
        .unwrap()
        .partitions
        .len() as u32;
    (0..partitions)
        .map(|p| {
            engine
                .list_offsets(OFFSETS_TOPIC, p, OffsetSpec::Latest)
                .unwrap()
                .map_or(0, |o| o.offset)
        })
        .collect()
}

#[test]
fn the_offsets_topic_takes_the_configured_partitions_and_segment_size() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path(), "3");
    engine.create_topic(NewTopic::new("t", 1)).unwrap();
    commit(&engine, "orders", 5);

    let description = engine.describe_topic(OFFSETS_TOPIC).unwrap();
    assert_eq!(description.partitions.len(), 3);
    assert_eq!(
        engine.log(OFFSETS_TOPIC, 0).unwrap().config().segment_bytes,
        65536
    );
    let expected = codec::partition_for("orders", 3);
    let ends = end_offsets(&engine);
    for (p, end) in ends.iter().enumerate() {
        assert_eq!(*end > 0, p as u32 == expected, "partition {p}: end {end}");
    }
    engine.close().unwrap();

    // Reopened with another setting: the existing topic's 3 partitions are kept, and the
    // group's commits still go where they went and are still found.
    let engine = open(dir.path(), "10");
    assert_eq!(
        engine
            .describe_topic(OFFSETS_TOPIC)
            .unwrap()
            .partitions
            .len(),
        3
    );
    let tp = TopicPartition::new("t", 0);
    let described = engine.describe_consumer_group("orders").unwrap();
    let committed = described.partitions.iter().find(|p| p.partition == tp);
    assert_eq!(committed.and_then(|p| p.committed_offset), Some(5));
    commit(&engine, "orders", 9);
    let after = end_offsets(&engine);
    for (p, (before, now)) in ends.iter().zip(&after).enumerate() {
        assert_eq!(now > before, p as u32 == expected, "partition {p}");
    }
}
