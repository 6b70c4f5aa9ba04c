//! StickyAssignor: balanced first, then as few moves as balance allows.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;
use silt_consumer::assignor::{by_name, Assignor, RebalanceProtocol, StickyAssignor, Subscription};
use silt_consumer::TopicPartition;

type Assignment = BTreeMap<String, Vec<TopicPartition>>;

/// A random group: topics `t0..`, members `m0..`, previous claims with generations.
#[derive(Debug, Clone)]
struct Group {
    partitions: BTreeMap<String, u32>,
    subs: BTreeMap<String, Subscription>,
}

/// `identical`: one subscription for all; `conflicts`: some partitions claimed twice.
fn group(identical: bool, conflicts: bool) -> impl Strategy<Value = Group> {
    (1usize..10, prop::collection::vec(1u32..20, 1..4))
        .prop_flat_map(move |(members, counts)| {
            let total = counts.iter().sum::<u32>() as usize;
            let masks = if identical { 1 } else { members };
            (
                Just(counts.clone()),
                prop::collection::vec(prop::collection::vec(any::<bool>(), counts.len()), masks),
                prop::collection::vec(
                    (
                        prop::option::of(0..members),
                        prop::option::weighted(0.2, 0..members),
                    ),
                    total,
                ),
                prop::collection::vec(prop::option::weighted(0.9, 0i32..3), members),
            )
        })
        .prop_map(move |(counts, masks, mut claims, generations)| {
            if !conflicts {
                claims.iter_mut().for_each(|(_, second)| *second = None);
            }
            let partitions: BTreeMap<String, u32> = counts
                .iter()
                .enumerate()
                .map(|(i, &n)| (format!("t{i}"), n))
                .collect();
            let all: Vec<TopicPartition> = partitions
                .iter()
                .flat_map(|(t, &n)| (0..n).map(move |p| TopicPartition::new(t, p)))
                .collect();
            let mut subs: BTreeMap<String, Subscription> = BTreeMap::new();
            for (i, generation) in generations.iter().enumerate() {
                let mask = &masks[if masks.len() == 1 { 0 } else { i }];
                let mut topics: Vec<String> = (0..counts.len())
                    .filter(|&t| mask[t])
                    .map(|t| format!("t{t}"))
                    .collect();
                topics.push("gone".to_string());
                let owned = all
                    .iter()
                    .zip(&claims)
                    .filter(|(_, (a, b))| *a == Some(i) || *b == Some(i))
                    .map(|(tp, _)| tp.clone())
                    .collect();
                let sub = Subscription {
                    topics,
                    owned_partitions: owned,
                    generation: *generation,
                    group_instance_id: None,
                };
                subs.insert(format!("m{i}"), sub);
            }
            Group { partitions, subs }
        })
}

fn all_partitions(g: &Group) -> Vec<TopicPartition> {
    g.partitions
        .iter()
        .filter(|(t, _)| g.subs.values().any(|s| s.topics.contains(t)))
        .flat_map(|(t, &n)| (0..n).map(move |p| TopicPartition::new(t, p)))
        .collect()
}

/// The spec for claims: valid if subscribed and existing; highest generation wins; a tie
/// in the highest generation between two members voids the partition's claims.
fn winning_owners(g: &Group) -> BTreeMap<TopicPartition, String> {
    let mut best: BTreeMap<TopicPartition, (i32, BTreeSet<String>)> = BTreeMap::new();
    for (id, s) in &g.subs {
        let generation = s.generation.unwrap_or(-1);
        for tp in &s.owned_partitions {
            let exists = g
                .partitions
                .get(&tp.topic)
                .is_some_and(|&n| tp.partition < n);
            if !exists || !s.topics.contains(&tp.topic) {
                continue;
            }
            let entry = best
                .entry(tp.clone())
                .or_insert((generation, BTreeSet::new()));
            if generation > entry.0 {
                *entry = (generation, BTreeSet::new());
            }
            if generation == entry.0 {
                entry.1.insert(id.clone());
            }
        }
    }
    best.into_iter()
        .filter(|(_, (_, ids))| ids.len() == 1)
        .map(|(tp, (_, ids))| (tp, ids.into_iter().next().unwrap()))
        .collect()
}

fn check_complete(g: &Group, out: &Assignment) {
    assert_eq!(
        out.keys().collect::<Vec<_>>(),
        g.subs.keys().collect::<Vec<_>>()
    );
    let mut seen = BTreeSet::new();
    for (id, tps) in out {
        assert!(tps.windows(2).all(|w| w[0] < w[1]), "{id} not sorted");
        for tp in tps {
            assert!(
                g.subs[id].topics.contains(&tp.topic),
                "{id} not subscribed to {tp}"
            );
            assert!(seen.insert(tp.clone()), "{tp} assigned twice");
        }
    }
    assert_eq!(seen.into_iter().collect::<Vec<_>>(), all_partitions(g));
}

fn check_balanced(g: &Group, out: &Assignment) {
    let load = |id: &str| out[id].len();
    for (id, tps) in out {
        for tp in tps {
            for (other, s) in &g.subs {
                if s.topics.contains(&tp.topic) {
                    assert!(
                        load(id) < load(other) + 2,
                        "{tp} could move {id} -> {other}"
                    );
                }
            }
        }
    }
}

fn identical_quota(g: &Group) -> usize {
    all_partitions(g).len() / g.subs.len()
}

fn tps(list: &[(&str, u32)]) -> Vec<TopicPartition> {
    list.iter()
        .map(|&(t, p)| TopicPartition::new(t, p))
        .collect()
}

fn member(topics: &[&str], owned: &[(&str, u32)], generation: Option<i32>) -> Subscription {
    Subscription {
        topics: topics.iter().map(|t| t.to_string()).collect(),
        owned_partitions: tps(owned),
        generation,
        group_instance_id: None,
    }
}

fn run(partitions: &[(&str, u32)], members: &[(&str, Subscription)]) -> Assignment {
    let partitions = partitions
        .iter()
        .map(|&(t, n)| (t.to_string(), n))
        .collect();
    let subs = members
        .iter()
        .map(|(id, s)| (id.to_string(), s.clone()))
        .collect();
    StickyAssignor.assign(&partitions, &subs)
}

#[test]
fn name_and_protocols_are_kafkas() {
    let assignor = by_name("sticky").unwrap();
    assert_eq!(assignor.name(), "sticky");
    assert_eq!(assignor.supported_protocols(), &[RebalanceProtocol::Eager]);
}

#[test]
fn owned_partitions_stay_when_a_member_leaves() {
    let out = run(
        &[("t", 6)],
        &[
            ("a", member(&["t"], &[("t", 0), ("t", 3)], Some(1))),
            ("c", member(&["t"], &[("t", 2), ("t", 5)], Some(1))),
        ],
    );
    assert_eq!(out["a"], tps(&[("t", 0), ("t", 1), ("t", 3)]));
    assert_eq!(out["c"], tps(&[("t", 2), ("t", 4), ("t", 5)]));
}

#[test]
fn higher_generation_wins_and_equal_generations_void_both_claims() {
    let a = member(&["t"], &[("t", 0), ("t", 1)], Some(5));
    let equal = run(
        &[("t", 2)],
        &[
            ("a", a.clone()),
            ("b", member(&["t"], &[("t", 0)], Some(5))),
        ],
    );
    assert_eq!(equal["a"], tps(&[("t", 1)]));
    assert_eq!(equal["b"], tps(&[("t", 0)]));
    let stale = run(
        &[("t", 2)],
        &[
            ("a", a.clone()),
            ("b", member(&["t"], &[("t", 1)], Some(4))),
        ],
    );
    assert_eq!(stale["a"], tps(&[("t", 0)]));
    assert_eq!(stale["b"], tps(&[("t", 1)]));
    let newer = run(
        &[("t", 2)],
        &[("a", a), ("b", member(&["t"], &[("t", 0)], Some(6)))],
    );
    assert_eq!(newer["a"], tps(&[("t", 1)]));
    assert_eq!(newer["b"], tps(&[("t", 0)]));
}

#[test]
fn claims_on_unsubscribed_or_missing_partitions_are_ignored() {
    let out = run(
        &[("t", 2), ("u", 2)],
        &[
            (
                "a",
                member(&["u"], &[("t", 0), ("t", 1), ("u", 7)], Some(1)),
            ),
            ("b", member(&["t", "u"], &[("u", 0), ("u", 1)], Some(1))),
        ],
    );
    assert_eq!(out["a"], tps(&[("u", 0), ("u", 1)]));
    assert_eq!(out["b"], tps(&[("t", 0), ("t", 1)]));
}

#[test]
fn differing_subscriptions_balance_over_eligible_members() {
    // c subscribes only to t, so it should take t, and a/b share u.
    let out = run(
        &[("t", 2), ("u", 4)],
        &[
            ("a", member(&["t", "u"], &[], None)),
            ("b", member(&["t", "u"], &[], None)),
            ("c", member(&["t"], &[], None)),
        ],
    );
    assert_eq!(out["c"], tps(&[("t", 0), ("t", 1)]));
    assert_eq!(out["a"].len(), 2);
    assert_eq!(out["b"].len(), 2);
}

proptest! {
    #[test]
    fn valid_and_balanced_for_any_group(g in group(false, true)) {
        let out = StickyAssignor.assign(&g.partitions, &g.subs);
        check_complete(&g, &out);
        check_balanced(&g, &out);
        prop_assert_eq!(&out, &StickyAssignor.assign(&g.partitions, &g.subs));
    }

    #[test]
    fn identical_subscriptions_differ_by_at_most_one(g in group(true, true)) {
        let out = StickyAssignor.assign(&g.partitions, &g.subs);
        check_complete(&g, &out);
        let loads: Vec<usize> = out.values().map(Vec::len).collect();
        prop_assert!(loads.iter().max().unwrap() - loads.iter().min().unwrap() <= 1);
    }

    #[test]
    fn members_within_quota_keep_everything_they_own(g in group(true, true)) {
        let out = StickyAssignor.assign(&g.partitions, &g.subs);
        let owners = winning_owners(&g);
        for (id, tps) in &out {
            let owned: Vec<&TopicPartition> =
                owners.iter().filter(|(_, o)| *o == id).map(|(tp, _)| tp).collect();
            let kept = owned.iter().filter(|tp| tps.contains(tp)).count();
            prop_assert!(kept >= owned.len().min(identical_quota(&g)), "{} kept {}", id, kept);
        }
    }

    #[test]
    fn a_joining_member_takes_its_quota_only_from_others(g in group(true, false)) {
        let fresh: BTreeMap<String, Subscription> = g.subs.iter().map(|(id, s)| {
            (id.clone(), Subscription { owned_partitions: vec![], generation: None, ..s.clone() })
        }).collect();
        let before = StickyAssignor.assign(&g.partitions, &fresh);
        let mut subs: BTreeMap<String, Subscription> = before.iter().map(|(id, tps)| {
            (id.clone(), Subscription { owned_partitions: tps.clone(), generation: Some(1), ..g.subs[id].clone() })
        }).collect();
        let topics = g.subs.values().next().unwrap().topics.clone();
        subs.insert("new".to_string(), Subscription { topics, ..Subscription::default() });
        let joined = Group { partitions: g.partitions.clone(), subs };
        let after = StickyAssignor.assign(&joined.partitions, &joined.subs);
        check_complete(&joined, &after);
        prop_assert_eq!(after["new"].len(), identical_quota(&joined));
        for (id, tps) in &before {
            prop_assert!(after[id].iter().all(|tp| tps.contains(tp)), "{} gained", id);
        }
    }
}
