//! Kafka's `StickyAssignor` (its `AbstractStickyAssignor`): balanced first, then sticky.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use super::range::{empty_assignment, sort_each};
use super::{Assignor, RebalanceProtocol, Subscription};
use crate::types::TopicPartition;

/// The generation of a member that never had one (Kafka's `DEFAULT_GENERATION`).
const DEFAULT_GENERATION: i32 = -1;

/// Balances partitions over the group while moving as few as possible (Kafka's `sticky`).
///
/// Two rules, in this order: (1) the assignment is as balanced as it can be (with identical
/// subscriptions, counts differ by at most one; otherwise no partition could move to an
/// eligible member with two fewer), and (2) as many partitions as possible stay with the
/// member that owned them, so rebalances do not throw away caches and local state. Ownership
/// comes from each member's `owned_partitions`; when two members claim one partition the
/// higher generation wins, and a tie in generation voids both claims, since neither can be
/// trusted.
#[derive(Debug, Default, Clone, Copy)]
pub struct StickyAssignor;

impl Assignor for StickyAssignor {
    fn name(&self) -> &str {
        "sticky"
    }

    fn supported_protocols(&self) -> &[RebalanceProtocol] {
        &[RebalanceProtocol::Eager]
    }

    fn assign(
        &self,
        partitions_per_topic: &BTreeMap<String, u32>,
        subscriptions: &BTreeMap<String, Subscription>,
    ) -> BTreeMap<String, Vec<TopicPartition>> {
        sticky_assign(partitions_per_topic, subscriptions).assignment
    }
}

/// A sticky assignment with the ownership it was made from, which the cooperative
/// assignor needs to hold back partitions that must be revoked first.
#[derive(Debug)]
pub(crate) struct StickyOutcome<'a> {
    /// Member id to its partitions, sorted; every member has an entry.
    pub(crate) assignment: BTreeMap<String, Vec<TopicPartition>>,
    /// The claims that survived validation: partition to the member that owns it now.
    pub(crate) owners: BTreeMap<TopicPartition, &'a str>,
}

/// Kafka's `AbstractStickyAssignor.assign`: the fast path when every member subscribes to
/// the same topics, the general one otherwise.
pub(crate) fn sticky_assign<'a>(
    partitions_per_topic: &BTreeMap<String, u32>,
    subscriptions: &'a BTreeMap<String, Subscription>,
) -> StickyOutcome<'a> {
    let owners = valid_claims(partitions_per_topic, subscriptions);
    let eligible = members_per_topic(partitions_per_topic, subscriptions);
    let partitions: Vec<TopicPartition> = eligible
        .keys()
        .flat_map(|&topic| {
            let count = partitions_per_topic.get(topic).copied().unwrap_or(0);
            (0..count).map(move |partition| TopicPartition::new(topic, partition))
        })
        .collect();
    let members: Vec<&str> = subscriptions.keys().map(String::as_str).collect();
    let placed = if all_subscriptions_equal(partitions_per_topic, subscriptions) {
        constrained_assign(&partitions, &members, &owners)
    } else {
        general_assign(&partitions, &members, &eligible, &owners)
    };
    debug_assert_eq!(placed.len(), partitions.len(), "every partition is placed");
    let mut assignment = empty_assignment(subscriptions);
    for (partition, member_id) in placed {
        if let Some(assigned) = assignment.get_mut(member_id) {
            assigned.push(partition);
        }
    }
    sort_each(&mut assignment);
    StickyOutcome { assignment, owners }
}

/// Resolves the members' `owned_partitions` into one owner per partition.
///
/// A claim counts only for a partition that still exists, of a topic the member still
/// subscribes to. Of two claims on one partition the higher generation wins: the other
/// member missed a rebalance and its view is stale. Two claims in the same generation mean
/// the group's history is inconsistent; neither is trusted, and the partition is placed as
/// if unowned.
pub(crate) fn valid_claims<'a>(
    partitions_per_topic: &BTreeMap<String, u32>,
    subscriptions: &'a BTreeMap<String, Subscription>,
) -> BTreeMap<TopicPartition, &'a str> {
    let mut best: BTreeMap<&TopicPartition, (i32, Option<&'a str>)> = BTreeMap::new();
    for (member_id, subscription) in subscriptions {
        let generation = subscription.generation.unwrap_or(DEFAULT_GENERATION);
        for partition in &subscription.owned_partitions {
            let exists = partitions_per_topic
                .get(&partition.topic)
                .is_some_and(|&count| partition.partition < count);
            if !exists || !subscription.topics.contains(&partition.topic) {
                continue;
            }
            let member = Some(member_id.as_str());
            let holder = match best.get(partition) {
                Some(&(held, _)) if held > generation => continue,
                Some(&(held, holder)) if held == generation && holder != member => None,
                _ => member,
            };
            best.insert(partition, (generation, holder));
        }
    }
    best.into_iter()
        .filter_map(|(partition, (_, holder))| Some((partition.clone(), holder?)))
        .collect()
}

/// Each existing topic that someone subscribes to, with its subscribers in member-id order.
fn members_per_topic<'a>(
    partitions_per_topic: &'a BTreeMap<String, u32>,
    subscriptions: &'a BTreeMap<String, Subscription>,
) -> BTreeMap<&'a str, Vec<&'a str>> {
    let mut eligible: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (member_id, subscription) in subscriptions {
        let topics: BTreeSet<&String> = subscription.topics.iter().collect();
        for topic in topics {
            if partitions_per_topic.contains_key(topic) {
                eligible.entry(topic).or_default().push(member_id);
            }
        }
    }
    eligible
}

/// Whether every member subscribes to the same existing topics, which allows the quota
/// arithmetic of [`constrained_assign`]. Topics that do not exist are left out: they add no
/// partitions, so they cannot make two subscriptions differ in effect.
fn all_subscriptions_equal(
    partitions_per_topic: &BTreeMap<String, u32>,
    subscriptions: &BTreeMap<String, Subscription>,
) -> bool {
    let mut sets = subscriptions.values().map(|subscription| {
        subscription
            .topics
            .iter()
            .filter(|topic| partitions_per_topic.contains_key(*topic))
            .collect::<BTreeSet<_>>()
    });
    match sets.next() {
        Some(first) => sets.all(|set| set == first),
        None => true,
    }
}

/// Kafka's `constrainedAssign`, for identical subscriptions.
///
/// With `P` partitions over `N` members each gets `P / N` (the min quota) and `P % N` of
/// them one more (the max quota). Members first keep their owned partitions up to their
/// quota, the max quota going to the first members that own that many; the rest are then
/// dealt to members under the min quota, then one each to members at it. Nothing owned is
/// given up unless it exceeds the owner's quota, which is the least movement balance allows.
fn constrained_assign<'a>(
    partitions: &[TopicPartition],
    members: &[&'a str],
    owners: &BTreeMap<TopicPartition, &'a str>,
) -> BTreeMap<TopicPartition, &'a str> {
    let mut placed = BTreeMap::new();
    let Some(min_quota) = partitions.len().checked_div(members.len()) else {
        return placed;
    };
    let expected_over_min = partitions.len() % members.len();
    let max_quota = min_quota + usize::from(expected_over_min > 0);
    let mut owned: BTreeMap<&str, Vec<&TopicPartition>> = BTreeMap::new();
    for (partition, &member_id) in owners {
        owned.entry(member_id).or_default().push(partition);
    }
    let mut load: BTreeMap<&str, usize> = BTreeMap::new();
    let mut over_min = 0usize;
    for &member_id in members {
        let mine = owned.get(member_id).map(Vec::as_slice).unwrap_or_default();
        let keep = if mine.len() <= min_quota {
            mine.len()
        } else if mine.len() >= max_quota && over_min < expected_over_min {
            over_min += 1;
            max_quota
        } else {
            min_quota
        };
        for &partition in mine.iter().take(keep) {
            placed.insert(partition.clone(), member_id);
        }
        load.insert(member_id, keep);
    }
    let unassigned: Vec<TopicPartition> = partitions
        .iter()
        .filter(|partition| !placed.contains_key(*partition))
        .cloned()
        .collect();
    let mut unassigned = unassigned.into_iter();
    for &member_id in members {
        let Some(have) = load.get_mut(member_id) else {
            continue;
        };
        for partition in unassigned.by_ref().take(min_quota.saturating_sub(*have)) {
            placed.insert(partition, member_id);
            *have += 1;
        }
    }
    // What is left is exactly one partition for each max-quota slot still free.
    for &member_id in members {
        if load.get(member_id).is_some_and(|&have| have >= max_quota) {
            continue;
        }
        let Some(partition) = unassigned.next() else {
            break;
        };
        placed.insert(partition, member_id);
    }
    debug_assert!(unassigned.next().is_none(), "quotas cover every partition");
    placed
}

/// Kafka's `generalAssign`, for differing subscriptions, where no quota arithmetic holds.
///
/// Owned partitions stay put; unowned ones go, fewest eligible members first (they have
/// the least choice), to the least-loaded eligible member. [`balance`] then moves
/// partitions from a member to an eligible one with at least two fewer until none can.
fn general_assign<'a>(
    partitions: &[TopicPartition],
    members: &[&'a str],
    eligible: &BTreeMap<&str, Vec<&'a str>>,
    owners: &BTreeMap<TopicPartition, &'a str>,
) -> BTreeMap<TopicPartition, &'a str> {
    let mut placed = owners.clone();
    let mut load: BTreeMap<&str, usize> = members.iter().map(|&member| (member, 0)).collect();
    for &member_id in placed.values() {
        *load.entry(member_id).or_default() += 1;
    }
    let no_members: &[&str] = &[];
    let eligible_for = |partition: &TopicPartition| {
        eligible
            .get(partition.topic.as_str())
            .map_or(no_members, Vec::as_slice)
    };
    let mut unassigned: Vec<&TopicPartition> = partitions
        .iter()
        .filter(|p| !placed.contains_key(*p))
        .collect();
    unassigned.sort_by_key(|partition| (eligible_for(partition).len(), *partition));
    for partition in unassigned {
        if let Some(member_id) = least_loaded(eligible_for(partition), &load) {
            placed.insert(partition.clone(), member_id);
            *load.entry(member_id).or_default() += 1;
        }
    }
    balance(&mut placed, &mut load, &eligible_for, owners);
    placed
}

/// The eligible member with the fewest partitions; ties go to the first in member-id order
/// so the result is deterministic.
fn least_loaded<'a>(eligible: &[&'a str], load: &BTreeMap<&str, usize>) -> Option<&'a str> {
    eligible
        .iter()
        .copied()
        .min_by_key(|member_id| load.get(member_id).copied().unwrap_or(0))
}

/// One partition changing member.
#[derive(Debug, Clone)]
struct Move<'a> {
    partition: TopicPartition,
    from: &'a str,
    to: &'a str,
}

/// Moves partitions until none sits on a member with at least two more partitions than an
/// eligible member, Kafka's balance rule for differing subscriptions.
///
/// Stickiness decides how. Partitions not staying with their previous owner move first.
/// When only a previously owned one could move from a heavy member to a light one, a chain
/// of not-owned moves is tried instead: off the heavy member or onto the light one, to or
/// from a member two apart (as good for balance as the direct move) or, at most
/// `max_neutral_chains` times, one apart (no cost in balance). Other moves and chains lower
/// the sum of squared loads by at least two, so the loop ends within `P * P / 2` of them.
fn balance<'a, 'e>(
    placed: &mut BTreeMap<TopicPartition, &'a str>,
    load: &mut BTreeMap<&'a str, usize>,
    eligible_for: &dyn Fn(&TopicPartition) -> &'e [&'a str],
    owners: &BTreeMap<TopicPartition, &'a str>,
) where
    'a: 'e,
{
    let max_neutral_chains = placed.len();
    let max_moves = placed.len().saturating_mul(placed.len()) / 2 + 1 + max_neutral_chains;
    let mut neutral_chains = 0usize;
    let sticky = |partition: &TopicPartition, member_id: &str| {
        owners
            .get(partition)
            .is_some_and(|&owner| owner == member_id)
    };
    let free = |partition: &TopicPartition, member_id: &str| !sticky(partition, member_id);
    for _ in 0..max_moves {
        if let Some(step) = find_move(placed, load, eligible_for, free) {
            apply(placed, load, vec![step]);
            continue;
        }
        let Some(step) = find_move(placed, load, eligible_for, sticky) else {
            return;
        };
        let edges = free_moves(placed, eligible_for, &free);
        let count = |member_id: &str| load.get(member_id).copied().unwrap_or(0);
        let (heavy, light) = (count(step.from), count(step.to));
        let chain_of = |gap: usize| {
            free_chain(&edges, step.from, true, &|m| count(m) + gap <= heavy)
                .or_else(|| free_chain(&edges, step.to, false, &|m| count(m) >= light + gap))
        };
        let mut chain = chain_of(2);
        if chain.is_none() && neutral_chains < max_neutral_chains {
            chain = chain_of(1);
            neutral_chains += usize::from(chain.is_some());
        }
        apply(placed, load, chain.unwrap_or_else(|| vec![step]));
    }
    debug_assert!(false, "balance did not converge within {max_moves} moves");
}

/// Carries out `moves`, keeping `load` in step with `placed`.
fn apply<'a>(
    placed: &mut BTreeMap<TopicPartition, &'a str>,
    load: &mut BTreeMap<&'a str, usize>,
    moves: Vec<Move<'a>>,
) {
    for step in moves {
        debug_assert_eq!(placed.get(&step.partition), Some(&step.from));
        placed.insert(step.partition, step.to);
        if let Some(count) = load.get_mut(step.from) {
            *count = count.saturating_sub(1);
        }
        *load.entry(step.to).or_default() += 1;
    }
}

/// The first partition accepted by `consider` whose member has at least two more
/// partitions than its least-loaded eligible member, moved to that member.
fn find_move<'a, 'e>(
    placed: &BTreeMap<TopicPartition, &'a str>,
    load: &BTreeMap<&'a str, usize>,
    eligible_for: &dyn Fn(&TopicPartition) -> &'e [&'a str],
    consider: impl Fn(&TopicPartition, &str) -> bool,
) -> Option<Move<'a>>
where
    'a: 'e,
{
    placed.iter().find_map(|(partition, &from)| {
        if !consider(partition, from) {
            return None;
        }
        let to = least_loaded(eligible_for(partition), load)?;
        let from_load = load.get(from).copied().unwrap_or(0);
        let to_load = load.get(to).copied().unwrap_or(0);
        (from_load >= to_load + 2).then(|| Move {
            partition: partition.clone(),
            from,
            to,
        })
    })
}

/// Every move of a `movable` partition to another member eligible for it.
fn free_moves<'a, 'e>(
    placed: &BTreeMap<TopicPartition, &'a str>,
    eligible_for: &dyn Fn(&TopicPartition) -> &'e [&'a str],
    movable: &dyn Fn(&TopicPartition, &str) -> bool,
) -> Vec<Move<'a>>
where
    'a: 'e,
{
    let movable = placed.iter().filter(|(p, &from)| movable(p, from));
    movable
        .flat_map(|(partition, &from)| {
            let others = eligible_for(partition)
                .iter()
                .filter(move |&&to| to != from);
            others.map(move |&to| Move {
                partition: partition.clone(),
                from,
                to,
            })
        })
        .collect()
}

/// The shortest chain of `edges` that moves one partition's worth of load off `anchor`
/// (`outward`) or onto it, with the member at the other end accepted by `accept`. Members
/// in between give one partition and take one, so only the two ends change load.
fn free_chain<'a>(
    edges: &[Move<'a>],
    anchor: &'a str,
    outward: bool,
    accept: &dyn Fn(&str) -> bool,
) -> Option<Vec<Move<'a>>> {
    let ends = |edge: &Move<'a>| match outward {
        true => (edge.from, edge.to),
        false => (edge.to, edge.from),
    };
    let mut reached_by: BTreeMap<&'a str, &Move<'a>> = BTreeMap::new();
    let mut queue = VecDeque::from([anchor]);
    while let Some(member_id) = queue.pop_front() {
        for edge in edges {
            let (near, far) = ends(edge);
            if near != member_id || far == anchor || reached_by.contains_key(far) {
                continue;
            }
            reached_by.insert(far, edge);
            if !accept(far) {
                queue.push_back(far);
                continue;
            }
            let mut chain = Vec::new();
            let mut at = far;
            while let Some(&edge) = reached_by.get(at).filter(|_| at != anchor) {
                chain.push(edge.clone());
                at = ends(edge).0;
            }
            return Some(chain);
        }
    }
    None
}
