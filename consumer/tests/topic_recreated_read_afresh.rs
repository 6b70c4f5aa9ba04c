//! A topic deleted and created again under the same name, with the same partition count, is
//! a new topic: a consumer that was reading the old one (subscribed or assigned) goes on with
//! the new one, from its committed offset or `auto.offset.reset`, as for a partition just
//! assigned; it does not stay on the deleted log, seeing nothing ever again.
//!
//! Found by the soak test (`tests/soak.rs`): its churner recreates topics between two polls
//! of a subscribed consumer, whose group saw the same partition counts and did not rebalance.

mod support;

use std::time::Duration;

use silt_consumer::{
    Consumer, ConsumerConfig, ConsumerExt, NoopListener, OffsetReset, TopicPartition,
};
use silt_engine::Engine;
use support::{open, poll_until, produce, topic};

fn values(seen: &[(TopicPartition, i64, String)]) -> Vec<(i64, String)> {
    seen.iter().map(|(_, o, v)| (*o, v.clone())).collect()
}

/// Reads the old topic to its end, recreates it, and expects the new topic's records.
fn recreated_topic_is_read(engine: &Engine, consumer: &mut Consumer) {
    produce(engine, "t", 1, "old-", 3);
    let old = poll_until(consumer, Duration::from_secs(10), |s| s.len() >= 3);
    assert_eq!(values(&old).len(), 3, "{old:?}");

    engine.delete_topic("t").unwrap();
    topic(engine, "t", 1);
    produce(engine, "t", 1, "new-", 2);
    let new = poll_until(consumer, Duration::from_secs(10), |s| s.len() >= 2);
    assert_eq!(
        values(&new),
        vec![(0, "new-0".to_string()), (1, "new-1".to_string())],
        "the consumer reads the topic created again, from its start"
    );
}

#[test]
fn a_subscribed_consumer_reads_the_topic_created_again() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path());
    topic(&engine, "t", 1);
    let config = ConsumerConfig::with_group("g")
        .auto_offset_reset(OffsetReset::Earliest)
        .enable_auto_commit(false);
    let mut consumer = engine.consumer(config).unwrap();
    consumer.subscribe(&["t"], NoopListener).unwrap();
    recreated_topic_is_read(&engine, &mut consumer);
    consumer.close().unwrap();
}

#[test]
fn an_assigned_consumer_reads_the_topic_created_again() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path());
    topic(&engine, "t", 1);
    let config = ConsumerConfig::default().auto_offset_reset(OffsetReset::Earliest);
    let mut consumer = engine.consumer(config).unwrap();
    consumer.assign(&[TopicPartition::new("t", 0)]).unwrap();
    recreated_topic_is_read(&engine, &mut consumer);
}
