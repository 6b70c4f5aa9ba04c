//! RoundRobinAssignor: partitions sorted by (topic, partition) dealt around the group.

mod assignor_support;

use std::collections::BTreeMap;

use assignor_support::simple::*;
use proptest::prelude::*;
use silt_consumer::assignor::{
    by_name, Assignor, RebalanceProtocol, RoundRobinAssignor, Subscription,
};
use silt_consumer::TopicPartition;

#[test]
fn name_and_protocols_are_kafkas() {
    let assignor = by_name("roundrobin").unwrap();
    assert_eq!(assignor.name(), "roundrobin");
    assert_eq!(assignor.supported_protocols(), &[RebalanceProtocol::Eager]);
}

#[test]
fn two_members_two_topics_alternate() {
    let subs = group(&[
        ("C0", member(&["t0", "t1"], None)),
        ("C1", member(&["t0", "t1"], None)),
    ]);
    let out = RoundRobinAssignor.assign(&topics(&[("t0", 3), ("t1", 3)]), &subs);
    assert_eq!(of(&out, "C0"), tps(&[("t0", 0), ("t0", 2), ("t1", 1)]));
    assert_eq!(of(&out, "C1"), tps(&[("t0", 1), ("t1", 0), ("t1", 2)]));
}

#[test]
fn members_not_subscribed_to_a_topic_are_skipped() {
    // Kafka's RoundRobinAssignorTest.testMultipleConsumersMixedTopics.
    let subs = group(&[
        ("consumer1", member(&["topic"], None)),
        ("consumer2", member(&["topic", "topic2"], None)),
        ("consumer3", member(&["topic"], None)),
    ]);
    let out = RoundRobinAssignor.assign(&topics(&[("topic", 3), ("topic2", 2)]), &subs);
    assert_eq!(of(&out, "consumer1"), tps(&[("topic", 0)]));
    assert_eq!(
        of(&out, "consumer2"),
        tps(&[("topic", 1), ("topic2", 0), ("topic2", 1)])
    );
    assert_eq!(of(&out, "consumer3"), tps(&[("topic", 2)]));
}

#[test]
fn static_members_order_by_instance_id_before_dynamic_members() {
    let subs = group(&[
        ("a", member(&["t"], None)),
        ("b", member(&["t"], Some("z"))),
        ("c", member(&["t"], Some("y"))),
    ]);
    let out = RoundRobinAssignor.assign(&topics(&[("t", 4)]), &subs);
    assert_eq!(of(&out, "c"), tps(&[("t", 0), ("t", 3)]));
    assert_eq!(of(&out, "b"), tps(&[("t", 1)]));
    assert_eq!(of(&out, "a"), tps(&[("t", 2)]));
}

#[test]
fn more_members_than_partitions_leaves_the_last_empty() {
    let subs = group(&[
        ("m0", member(&["t0", "t1"], None)),
        ("m1", member(&["t0", "t1"], None)),
        ("m2", member(&["t0", "t1"], None)),
        ("m3", member(&["t0", "t1", "gone"], None)),
    ]);
    let out = RoundRobinAssignor.assign(&topics(&[("t0", 1), ("t1", 2)]), &subs);
    assert_eq!(of(&out, "m0"), tps(&[("t0", 0)]));
    assert_eq!(of(&out, "m1"), tps(&[("t1", 0)]));
    assert_eq!(of(&out, "m2"), tps(&[("t1", 1)]));
    assert!(of(&out, "m3").is_empty());
}

proptest! {
    #[test]
    fn identical_subscriptions_differ_by_at_most_one(
        counts in prop::collection::vec(1u32..20, 1..4),
        members in 1usize..10,
    ) {
        let partitions: BTreeMap<String, u32> =
            counts.iter().enumerate().map(|(i, &n)| (format!("t{i}"), n)).collect();
        let all: Vec<String> = partitions.keys().cloned().collect();
        let subs: BTreeMap<String, Subscription> = (0..members).map(|i| {
            (format!("m{i}"), Subscription { topics: all.clone(), ..Subscription::default() })
        }).collect();
        let out = RoundRobinAssignor.assign(&partitions, &subs);
        let loads: Vec<usize> = out.values().map(Vec::len).collect();
        prop_assert_eq!(loads.len(), members);
        prop_assert_eq!(loads.iter().sum::<usize>(), counts.iter().sum::<u32>() as usize);
        prop_assert!(loads.iter().max().unwrap() - loads.iter().min().unwrap() <= 1);
        let mut seen: Vec<&TopicPartition> = out.values().flatten().collect();
        seen.sort();
        seen.dedup();
        prop_assert_eq!(seen.len(), loads.iter().sum::<usize>());
    }
}
