//! Static membership (KIP-345): a static member that closes does not leave, and one that
//! comes back within the session timeout gets its partitions back with no rebalance.

mod support;

use std::time::Duration;

use silt_consumer::{Consumer, ConsumerConfig, ConsumerExt};
use silt_engine::Engine;
use support::{open, settle_stable, topic, Recorder};

fn member(engine: &Engine, instance: &str, recorder: &Recorder) -> Consumer {
    let config = ConsumerConfig::with_group("g").group_instance_id(instance);
    let mut c = engine.consumer(config).unwrap();
    c.subscribe(&["t"], recorder.clone()).unwrap();
    c
}

#[test]
fn a_static_member_restarts_with_its_partitions_and_no_rebalance() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path());
    topic(&engine, "t", 4);
    let other_events = Recorder::default();
    let mut a = member(&engine, "instance-a", &Recorder::default());
    let mut b = member(&engine, "instance-b", &other_events);
    assert!(settle_stable(
        &engine,
        "g",
        &mut [&mut a, &mut b],
        Duration::from_secs(10),
        |c| { c.iter().all(|c| c.assignment().len() == 2) }
    ));
    let owned = a.assignment();
    let generation = engine.describe_consumer_group("g").unwrap().generation;
    other_events.take();

    a.close().unwrap();
    let described = engine.describe_consumer_group("g").unwrap();
    assert_eq!(
        described.members.len(),
        2,
        "a static member stays in the group after close"
    );

    let mut a = member(&engine, "instance-a", &Recorder::default());
    assert!(settle_stable(
        &engine,
        "g",
        &mut [&mut a, &mut b],
        Duration::from_secs(10),
        |c| { c[0].assignment().len() == 2 }
    ));
    assert_eq!(a.assignment(), owned, "same partitions");
    let described = engine.describe_consumer_group("g").unwrap();
    assert_eq!(described.generation, generation, "no rebalance happened");
    assert!(
        other_events.take().is_empty(),
        "the other member saw no rebalance"
    );
}
