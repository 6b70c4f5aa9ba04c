//! RangeAssignor: contiguous ranges per topic, in Kafka's member order.

mod assignor_support;

use std::collections::BTreeMap;

use assignor_support::simple::*;
use proptest::prelude::*;
use silt_consumer::assignor::{by_name, Assignor, RangeAssignor, RebalanceProtocol, Subscription};

#[test]
fn name_and_protocols_are_kafkas() {
    let assignor = by_name("range").unwrap();
    assert_eq!(assignor.name(), "range");
    assert_eq!(assignor.supported_protocols(), &[RebalanceProtocol::Eager]);
    assert!(by_name("nonsense").is_none());
}

#[test]
fn two_members_two_topics_first_member_takes_the_extra_of_each() {
    let subs = group(&[
        ("C0", member(&["t0", "t1"], None)),
        ("C1", member(&["t0", "t1"], None)),
    ]);
    let out = RangeAssignor.assign(&topics(&[("t0", 3), ("t1", 3)]), &subs);
    assert_eq!(
        of(&out, "C0"),
        tps(&[("t0", 0), ("t0", 1), ("t1", 0), ("t1", 1)])
    );
    assert_eq!(of(&out, "C1"), tps(&[("t0", 2), ("t1", 2)]));
}

#[test]
fn members_with_different_topics_split_only_their_topics() {
    // Kafka's RangeAssignorTest.testMultipleConsumersMixedTopics.
    let subs = group(&[
        ("consumer1", member(&["topic1"], None)),
        ("consumer2", member(&["topic1", "topic2"], None)),
        ("consumer3", member(&["topic1"], None)),
    ]);
    let out = RangeAssignor.assign(&topics(&[("topic1", 3), ("topic2", 2)]), &subs);
    assert_eq!(of(&out, "consumer1"), tps(&[("topic1", 0)]));
    assert_eq!(
        of(&out, "consumer2"),
        tps(&[("topic1", 1), ("topic2", 0), ("topic2", 1)])
    );
    assert_eq!(of(&out, "consumer3"), tps(&[("topic1", 2)]));
}

#[test]
fn static_members_order_by_instance_id_before_dynamic_members() {
    // Member ids sort a < b < c, but b and c are static with instance ids z > y.
    let subs = group(&[
        ("a", member(&["t"], None)),
        ("b", member(&["t"], Some("z"))),
        ("c", member(&["t"], Some("y"))),
    ]);
    let out = RangeAssignor.assign(&topics(&[("t", 5)]), &subs);
    assert_eq!(of(&out, "c"), tps(&[("t", 0), ("t", 1)]));
    assert_eq!(of(&out, "b"), tps(&[("t", 2), ("t", 3)]));
    assert_eq!(of(&out, "a"), tps(&[("t", 4)]));
}

#[test]
fn more_members_than_partitions_leaves_the_last_empty() {
    let subs = group(&[
        ("m0", member(&["t"], None)),
        ("m1", member(&["t"], None)),
        ("m2", member(&["t"], None)),
    ]);
    let out = RangeAssignor.assign(&topics(&[("t", 2)]), &subs);
    assert_eq!(of(&out, "m0"), tps(&[("t", 0)]));
    assert_eq!(of(&out, "m1"), tps(&[("t", 1)]));
    assert!(of(&out, "m2").is_empty());
}

#[test]
fn missing_topics_are_skipped_and_every_member_has_an_entry() {
    let subs = group(&[
        ("m0", member(&["gone", "t"], None)),
        ("m1", member(&["gone"], None)),
        ("m2", member(&[], None)),
    ]);
    let out = RangeAssignor.assign(&topics(&[("t", 2)]), &subs);
    assert_eq!(of(&out, "m0"), tps(&[("t", 0), ("t", 1)]));
    assert!(of(&out, "m1").is_empty());
    assert!(of(&out, "m2").is_empty());
    assert_eq!(out.len(), 3);
}

proptest! {
    #[test]
    fn each_topic_is_split_evenly_among_its_subscribers(
        counts in prop::collection::vec(1u32..20, 1..4),
        masks in prop::collection::vec(prop::collection::vec(any::<bool>(), 4), 1..10),
    ) {
        let partitions: BTreeMap<String, u32> =
            counts.iter().enumerate().map(|(i, &n)| (format!("t{i}"), n)).collect();
        let subs: BTreeMap<String, Subscription> = masks.iter().enumerate().map(|(i, mask)| {
            let topics = mask.iter().enumerate().filter(|(_, &on)| on).map(|(t, _)| format!("t{t}"));
            (format!("m{i}"), Subscription { topics: topics.collect(), ..Subscription::default() })
        }).collect();
        let out = RangeAssignor.assign(&partitions, &subs);
        prop_assert_eq!(out.len(), subs.len());
        for (topic, &count) in &partitions {
            let subscribers: Vec<&String> =
                subs.iter().filter(|(_, s)| s.topics.contains(topic)).map(|(id, _)| id).collect();
            let per_member: Vec<usize> = subscribers.iter().map(|id| {
                out[*id].iter().filter(|tp| &tp.topic == topic).count()
            }).collect();
            let owned: usize = out.values().flatten().filter(|tp| &tp.topic == topic).count();
            let expected = if subscribers.is_empty() { 0 } else { count as usize };
            prop_assert_eq!(owned, expected);
            if let (Some(max), Some(min)) = (per_member.iter().max(), per_member.iter().min()) {
                prop_assert!(max - min <= 1);
            }
        }
        for partitions in out.values() {
            prop_assert!(partitions.windows(2).all(|w| w[0] < w[1]));
        }
    }
}
