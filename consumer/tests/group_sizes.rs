//! The group sizes of Kafka's docs, for a topic of 4 partitions: one member owns all 4;
//! two own 2 each; four own 1 each; a fifth member is idle; a second group independently
//! reads every record.

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use silt_consumer::{Consumer, ConsumerConfig, ConsumerExt, NoopListener, OffsetReset};
use silt_engine::Engine;
use support::{open, poll_until, produce, settle, topic};

fn member(engine: &Engine, group: &str) -> Consumer {
    let mut c = engine
        .consumer(ConsumerConfig::with_group(group).auto_offset_reset(OffsetReset::Earliest))
        .unwrap();
    c.subscribe(&["t"], NoopListener).unwrap();
    c
}

fn sizes_settle_to(engine: &Engine, consumers: &mut [Consumer], expected: &[usize]) {
    let mut refs: Vec<&mut Consumer> = consumers.iter_mut().collect();
    let ok = settle(&mut refs, Duration::from_secs(10), |cs| {
        let group = engine.describe_consumer_group("g").unwrap();
        if group.state != silt_consumer::GroupState::Stable
            || cs.iter().any(|c| c.generation() != group.generation)
        {
            return false;
        }
        let mut sizes: Vec<usize> = cs.iter().map(|c| c.assignment().len()).collect();
        sizes.sort_unstable_by(|a, b| b.cmp(a));
        sizes == expected
    });
    let sizes: Vec<usize> = refs.iter().map(|c| c.assignment().len()).collect();
    assert!(ok, "assignment sizes {sizes:?}, expected {expected:?}");
    let owned: Vec<_> = refs.iter().flat_map(|c| c.assignment()).collect();
    let distinct: BTreeSet<_> = owned.iter().collect();
    assert_eq!(owned.len(), distinct.len(), "a partition has two owners");
    assert_eq!(distinct.len(), 4);
}

#[test]
fn members_split_four_partitions_as_kafka_does() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path());
    topic(&engine, "t", 4);
    let mut members = vec![member(&engine, "g")];
    sizes_settle_to(&engine, &mut members, &[4]);
    members.push(member(&engine, "g"));
    sizes_settle_to(&engine, &mut members, &[2, 2]);
    members.push(member(&engine, "g"));
    members.push(member(&engine, "g"));
    sizes_settle_to(&engine, &mut members, &[1, 1, 1, 1]);
    members.push(member(&engine, "g"));
    sizes_settle_to(&engine, &mut members, &[1, 1, 1, 1, 0]);
    let description = engine.describe_consumer_group("g").unwrap();
    assert_eq!(description.members.len(), 5);
    assert_eq!(description.state, silt_consumer::GroupState::Stable);
}

#[test]
fn a_second_group_reads_every_record_independently() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path());
    topic(&engine, "t", 4);
    produce(&engine, "t", 4, "v", 400);
    for group in ["a", "b"] {
        let mut c = member(&engine, group);
        let seen = poll_until(&mut c, Duration::from_secs(30), |s| s.len() >= 400);
        let values: BTreeSet<_> = seen.iter().map(|s| s.2.clone()).collect();
        assert_eq!(
            values.len(),
            400,
            "group {group} read {} distinct records",
            values.len()
        );
        assert_eq!(seen.len(), 400);
        c.commit_sync().unwrap();
        c.close().unwrap();
    }
    let groups = engine.list_consumer_groups().unwrap();
    assert_eq!(groups, ["a", "b"]);
}
