//! Kafka's `RoundRobinAssignor`: all partitions dealt out one at a time around the group.

use std::collections::{BTreeMap, BTreeSet};

use super::range::{empty_assignment, members_in_order, sort_each};
use super::{Assignor, RebalanceProtocol, Subscription};
use crate::types::TopicPartition;

/// Deals every subscribed partition, sorted by (topic, partition), to the members in a
/// circle (Kafka's `roundrobin`).
///
/// Each partition goes to the next member in the circle that subscribes to its topic;
/// members that do not are skipped without losing their turn for later partitions. Unlike
/// [`RangeAssignor`](super::RangeAssignor), the extra partitions of many topics spread over
/// the whole group, so counts differ by at most one when all members share a subscription.
#[derive(Debug, Default, Clone, Copy)]
pub struct RoundRobinAssignor;

impl Assignor for RoundRobinAssignor {
    fn name(&self) -> &str {
        "roundrobin"
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
        let subscribed_topics: BTreeSet<&String> = members
            .iter()
            .flat_map(|(_, subscription)| subscription.topics.iter())
            .collect();
        let mut cursor = 0usize;
        for (topic, &partition_count) in partitions_per_topic {
            if !subscribed_topics.contains(topic) {
                continue;
            }
            for partition in 0..partition_count {
                // Some member subscribes to `topic`, so one lap of the circle finds it.
                let mut lap = (0..members.len()).map(|step| (cursor + step) % members.len());
                let found = lap.find(|&index| {
                    members
                        .get(index)
                        .is_some_and(|(_, subscription)| subscription.topics.contains(topic))
                });
                let Some(index) = found else { continue };
                if let Some((member_id, _)) = members.get(index) {
                    if let Some(partitions) = assignment.get_mut(*member_id) {
                        partitions.push(TopicPartition::new(topic, partition));
                    }
                }
                cursor = (index + 1) % members.len();
            }
        }
        sort_each(&mut assignment);
        assignment
    }
}
