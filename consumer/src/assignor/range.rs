//! Kafka's `RangeAssignor`: each topic split into contiguous ranges, one per member.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use super::{Assignor, RebalanceProtocol, Subscription};
use crate::types::TopicPartition;

/// Splits every topic on its own into contiguous ranges, in member order (Kafka's `range`,
/// its default before 3.0).
///
/// Per topic, the `n` partitions go to the `m` subscribed members as ranges of `n / m`, the
/// first `n % m` members taking one more. Because each topic is split independently, the
/// first members get the extra partition of every topic: co-partitioned topics (same key,
/// same partition count) land partition `i` of each on the same member, which is why joins
/// prefer it, at the price of balance when there are many small topics.
#[derive(Debug, Default, Clone, Copy)]
pub struct RangeAssignor;

impl Assignor for RangeAssignor {
    fn name(&self) -> &str {
        "range"
    }

    fn supported_protocols(&self) -> &[RebalanceProtocol] {
        &[RebalanceProtocol::Eager]
    }

    fn assign(
        &self,
        partitions_per_topic: &BTreeMap<String, u32>,
        subscriptions: &BTreeMap<String, Subscription>,
    ) -> BTreeMap<String, Vec<TopicPartition>> {
        let mut assignment = empty_assignment(subscriptions);
        let members = members_in_order(subscriptions);
        for (topic, &partition_count) in partitions_per_topic {
            let subscribed: Vec<&str> = members
                .iter()
                .filter(|(_, subscription)| subscription.topics.contains(topic))
                .map(|(member_id, _)| *member_id)
                .collect();
            let Ok(member_count) = u32::try_from(subscribed.len()) else {
                continue;
            };
            if member_count == 0 {
                continue;
            }
            let per_member = partition_count / member_count;
            let with_extra = partition_count % member_count;
            let mut next = 0u32;
            for (index, member_id) in (0u32..).zip(subscribed) {
                let length = per_member + u32::from(index < with_extra);
                if let Some(partitions) = assignment.get_mut(member_id) {
                    partitions.extend((next..next + length).map(|p| TopicPartition::new(topic, p)));
                }
                next += length;
            }
            debug_assert_eq!(next, partition_count, "range split must cover the topic");
        }
        sort_each(&mut assignment);
        assignment
    }
}

/// Members in Kafka's `MemberInfo` order: static members (with a `group.instance.id`) first,
/// by instance id, then dynamic members by member id.
///
/// Ordering by instance id keeps a static member's place, and so its ranges, across
/// restarts, where its member id changes but its instance id does not. Ties fall back to the
/// member id so the order is total and the assignment deterministic.
pub(crate) fn members_in_order(
    subscriptions: &BTreeMap<String, Subscription>,
) -> Vec<(&str, &Subscription)> {
    let mut members: Vec<(&str, &Subscription)> = subscriptions
        .iter()
        .map(|(member_id, subscription)| (member_id.as_str(), subscription))
        .collect();
    members.sort_by(|(a_id, a), (b_id, b)| {
        let by_instance = match (&a.group_instance_id, &b.group_instance_id) {
            (Some(a_instance), Some(b_instance)) => a_instance.cmp(b_instance),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => Ordering::Equal,
        };
        by_instance.then_with(|| a_id.cmp(b_id))
    });
    members
}

/// One empty entry per member: the contract says every member appears, even with nothing.
pub(crate) fn empty_assignment(
    subscriptions: &BTreeMap<String, Subscription>,
) -> BTreeMap<String, Vec<TopicPartition>> {
    subscriptions
        .keys()
        .map(|member_id| (member_id.clone(), Vec::new()))
        .collect()
}

/// Sorts each member's partitions by (topic, partition), the order the contract promises.
pub(crate) fn sort_each(assignment: &mut BTreeMap<String, Vec<TopicPartition>>) {
    for partitions in assignment.values_mut() {
        partitions.sort();
    }
}
