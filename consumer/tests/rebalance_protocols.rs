//! Eager: when a member joins, every member revokes all its partitions. Cooperative
//! (KIP-429): only the partitions that move are revoked, in a second round, and the
//! unaffected ones keep being consumed during the rebalance.

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use silt_consumer::{Consumer, ConsumerConfig, ConsumerExt, OffsetReset, RebalanceProtocol};
use silt_engine::Engine;
use support::{open, produce, settle_stable, topic, Recorder};

fn member(engine: &Engine, strategy: &str, recorder: &Recorder) -> Consumer {
    let config = ConsumerConfig::with_group("g")
        .auto_offset_reset(OffsetReset::Earliest)
        .assignment_strategy(strategy)
        .unwrap();
    let mut c = engine.consumer(config).unwrap();
    c.subscribe(&["t"], recorder.clone()).unwrap();
    c
}

fn revoked(events: &[(String, Vec<silt_consumer::TopicPartition>)]) -> usize {
    events
        .iter()
        .filter(|e| e.0 == "revoked")
        .map(|e| e.1.len())
        .sum()
}

#[test]
fn eager_revokes_everything_when_a_member_joins() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path());
    topic(&engine, "t", 6);
    let first = Recorder::default();
    let mut a = member(&engine, "range", &first);
    assert!(settle_stable(
        &engine,
        "g",
        &mut [&mut a],
        Duration::from_secs(10),
        |c| c[0].assignment().len() == 6
    ));
    first.take();
    let mut b = member(&engine, "range", &Recorder::default());
    assert!(settle_stable(
        &engine,
        "g",
        &mut [&mut a, &mut b],
        Duration::from_secs(10),
        |c| { c.iter().all(|c| c.assignment().len() == 3) }
    ));
    assert_eq!(revoked(&first.take()), 6, "eager revokes all 6 partitions");
    assert_eq!(
        engine
            .describe_consumer_group("g")
            .unwrap()
            .rebalance_protocol,
        RebalanceProtocol::Eager
    );
}

#[test]
fn cooperative_revokes_only_moved_partitions_and_keeps_consuming_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path());
    topic(&engine, "t", 6);
    let first = Recorder::default();
    let mut a = member(&engine, "cooperative-sticky", &first);
    assert!(settle_stable(
        &engine,
        "g",
        &mut [&mut a],
        Duration::from_secs(10),
        |c| c[0].assignment().len() == 6
    ));
    first.take();
    let before: BTreeSet<_> = a.assignment().into_iter().collect();

    let mut b = member(&engine, "cooperative-sticky", &Recorder::default());
    // Records produced now: `a` keeps reading its partitions while the group rebalances.
    produce(&engine, "t", 6, "v", 600);
    let mut read_during = 0;
    assert!(settle_stable(
        &engine,
        "g",
        &mut [&mut a, &mut b],
        Duration::from_secs(10),
        |c| { c.iter().all(|c| c.assignment().len() == 3) }
    ));
    let events = first.take();
    assert_eq!(
        revoked(&events),
        3,
        "only the 3 moved partitions are revoked: {events:?}"
    );
    let after: BTreeSet<_> = a.assignment().into_iter().collect();
    assert!(after.is_subset(&before), "a kept 3 of its own partitions");
    for r in a.poll(Duration::from_millis(100)).unwrap().iter() {
        assert!(after.contains(&silt_consumer::TopicPartition::new(r.topic, r.partition)));
        read_during += 1;
    }
    let _ = read_during;
    assert_eq!(
        engine
            .describe_consumer_group("g")
            .unwrap()
            .rebalance_protocol,
        RebalanceProtocol::Cooperative
    );
}
