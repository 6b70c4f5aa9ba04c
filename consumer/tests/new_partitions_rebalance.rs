//! Partitions added to a subscribed topic trigger a rebalance: the group's members notice
//! the new metadata at their next poll, rejoin, and the new partitions are assigned and
//! consumed (from the earliest offset, as `auto.offset.reset=earliest` says).

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use silt_consumer::{ConsumerConfig, ConsumerExt, OffsetReset, TopicPartition};
use support::{open, poll_until, produce, settle_stable, topic};

#[test]
fn added_partitions_are_assigned_and_consumed() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path());
    topic(&engine, "t", 2);
    let config = ConsumerConfig::with_group("g").auto_offset_reset(OffsetReset::Earliest);
    let mut a = engine.consumer(config.clone()).unwrap();
    let mut b = engine.consumer(config).unwrap();
    a.subscribe(&["t"], silt_consumer::NoopListener).unwrap();
    b.subscribe(&["t"], silt_consumer::NoopListener).unwrap();
    assert!(settle_stable(
        &engine,
        "g",
        &mut [&mut a, &mut b],
        Duration::from_secs(10),
        |cs| cs.iter().map(|c| c.assignment().len()).sum::<usize>() == 2,
    ));
    let generation = a.generation();

    engine.add_partitions("t", 4).unwrap();
    assert!(settle_stable(
        &engine,
        "g",
        &mut [&mut a, &mut b],
        Duration::from_secs(10),
        |cs| cs.iter().all(|c| c.assignment().len() == 2),
    ));
    assert!(a.generation() > generation, "no rebalance happened");
    let owned: BTreeSet<TopicPartition> =
        a.assignment().into_iter().chain(b.assignment()).collect();
    let all: BTreeSet<TopicPartition> = (0..4).map(|p| TopicPartition::new("t", p)).collect();
    assert_eq!(owned, all);
    let described = engine.describe_consumer_group("g").unwrap();
    assert_eq!(described.members.len(), 2);

    // Records written to every partition, the new ones included, reach the group.
    produce(&engine, "t", 4, "v", 40);
    let mut seen = BTreeSet::new();
    for c in [&mut a, &mut b] {
        let owned = c.assignment().len();
        let got = poll_until(c, Duration::from_secs(10), |s| s.len() >= owned * 10);
        seen.extend(got.into_iter().map(|(tp, _, _)| tp));
    }
    assert_eq!(seen, all);
}
