//! The phases of a group (Kafka's `GroupState`, as `kafka-consumer-groups` shows them).

use std::fmt;

/// Where a group is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GroupState {
    /// No members (it may still have committed offsets).
    Empty,
    /// A rebalance began: members are rejoining.
    PreparingRebalance,
    /// Every member has its assignment for the current generation.
    Stable,
}

impl fmt::Display for GroupState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            GroupState::Empty => "Empty",
            GroupState::PreparingRebalance => "PreparingRebalance",
            GroupState::Stable => "Stable",
        })
    }
}
