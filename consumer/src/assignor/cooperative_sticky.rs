//! Kafka's `CooperativeStickyAssignor`: the sticky assignment, handed out in two rounds.

use std::collections::BTreeMap;

use super::sticky::sticky_assign;
use super::{Assignor, RebalanceProtocol, Subscription};
use crate::types::TopicPartition;

/// The sticky assignment under the cooperative protocol (Kafka's `cooperative-sticky`,
/// KIP-429).
///
/// Members keep consuming what they own during a rebalance, so a partition cannot go to its
/// new owner while another member still owns it: two members would consume it at once.
/// Such a partition is left out of this round; its owner sees it missing from its
/// assignment, revokes it, and rejoins, and the follow-up rebalance assigns it, now
/// unowned. Everything else is [`StickyAssignor`](super::StickyAssignor)'s assignment, so
/// after the second round the group is where one eager sticky rebalance would put it, having
/// stopped only the partitions that move.
#[derive(Debug, Default, Clone, Copy)]
pub struct CooperativeStickyAssignor;

impl Assignor for CooperativeStickyAssignor {
    fn name(&self) -> &str {
        "cooperative-sticky"
    }

    fn supported_protocols(&self) -> &[RebalanceProtocol] {
        &[RebalanceProtocol::Eager, RebalanceProtocol::Cooperative]
    }

    fn assign(
        &self,
        partitions_per_topic: &BTreeMap<String, u32>,
        subscriptions: &BTreeMap<String, Subscription>,
    ) -> BTreeMap<String, Vec<TopicPartition>> {
        let outcome = sticky_assign(partitions_per_topic, subscriptions);
        let owners = outcome.owners;
        let mut assignment = outcome.assignment;
        // Kafka's `adjustAssignment`: hold back partitions still owned by someone else.
        for (member_id, partitions) in &mut assignment {
            partitions.retain(|partition| {
                owners
                    .get(partition)
                    .is_none_or(|&owner| owner == member_id.as_str())
            });
        }
        assignment
    }
}
