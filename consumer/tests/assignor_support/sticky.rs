//! Helpers shared by the sticky and cooperative-sticky assignor tests: random groups with
//! previous ownership, and the checks both assignors must pass.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;
use silt_consumer::assignor::Subscription;
use silt_consumer::TopicPartition;

pub type Assignment = BTreeMap<String, Vec<TopicPartition>>;

/// A random group: topics `t0..`, members `m0..`, previous claims with generations.
#[derive(Debug, Clone)]
pub struct Group {
    pub partitions: BTreeMap<String, u32>,
    pub subs: BTreeMap<String, Subscription>,
}

/// `identical`: one subscription for all; `conflicts`: some partitions claimed twice.
pub fn group(identical: bool, conflicts: bool) -> impl Strategy<Value = Group> {
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

pub fn all_partitions(g: &Group) -> Vec<TopicPartition> {
    g.partitions
        .iter()
        .filter(|(t, _)| g.subs.values().any(|s| s.topics.contains(t)))
        .flat_map(|(t, &n)| (0..n).map(move |p| TopicPartition::new(t, p)))
        .collect()
}

/// The spec for claims: valid if subscribed and existing; highest generation wins; a tie
/// in the highest generation between two members voids the partition's claims.
pub fn winning_owners(g: &Group) -> BTreeMap<TopicPartition, String> {
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

pub fn check_balanced(g: &Group, out: &Assignment) {
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

pub fn tps(list: &[(&str, u32)]) -> Vec<TopicPartition> {
    list.iter()
        .map(|&(t, p)| TopicPartition::new(t, p))
        .collect()
}

pub fn member(topics: &[&str], owned: &[(&str, u32)], generation: Option<i32>) -> Subscription {
    Subscription {
        topics: topics.iter().map(|t| t.to_string()).collect(),
        owned_partitions: tps(owned),
        generation,
        group_instance_id: None,
    }
}
