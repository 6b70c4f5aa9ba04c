//! StickyAssignor: balanced first, then as few moves as balance allows.

mod assignor_support;

use std::collections::{BTreeMap, BTreeSet};

use assignor_support::sticky::*;
use proptest::prelude::*;
use silt_consumer::assignor::{by_name, Assignor, RebalanceProtocol, StickyAssignor, Subscription};
use silt_consumer::TopicPartition;

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

fn identical_quota(g: &Group) -> usize {
    all_partitions(g).len() / g.subs.len()
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
