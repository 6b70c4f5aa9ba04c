//! Partition assignors: how a group's leader splits the subscribed partitions among members.
//!
//! Kafka's four, with its balance and stickiness rules: [`RangeAssignor`] (`range`),
//! [`RoundRobinAssignor`] (`roundrobin`), [`StickyAssignor`] (`sticky`) and
//! [`CooperativeStickyAssignor`] (`cooperative-sticky`). Users may implement [`Assignor`].

mod cooperative_sticky;
mod range;
mod round_robin;
mod sticky;

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::sync::Arc;

pub use cooperative_sticky::CooperativeStickyAssignor;
pub use range::RangeAssignor;
pub use round_robin::RoundRobinAssignor;
pub use sticky::StickyAssignor;

use crate::types::TopicPartition;

/// The rebalance protocols (KIP-429).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RebalanceProtocol {
    /// Every member revokes all its partitions before the assignment (stop the world).
    Eager,
    /// Members keep their partitions; only those that move are revoked, and they are
    /// assigned to their new owner in a second rebalance.
    Cooperative,
}

/// What one member tells the leader: its subscription and what it owns now.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Subscription {
    /// Topics the member subscribes to.
    pub topics: Vec<String>,
    /// Partitions the member owned in its last generation (empty after an eager revoke).
    pub owned_partitions: Vec<TopicPartition>,
    /// The generation in which it owned them (`None`: never a member before).
    pub generation: Option<i32>,
    /// Its `group.instance.id`, for static members (KIP-345).
    pub group_instance_id: Option<String>,
}

/// Splits partitions among the members of a group (Kafka's `ConsumerPartitionAssignor`).
pub trait Assignor: Debug + Send + Sync {
    /// The name `partition.assignment.strategy` selects it by (`range`, `roundrobin`,
    /// `sticky`, `cooperative-sticky`).
    fn name(&self) -> &str;

    /// The protocols it supports, preferred last (Kafka's `supportedProtocols`).
    fn supported_protocols(&self) -> &[RebalanceProtocol] {
        &[RebalanceProtocol::Eager]
    }

    /// Assigns partitions. `partitions_per_topic` holds every subscribed topic that exists,
    /// with its partition count; `subscriptions` is keyed by member id. Every member gets an
    /// entry (possibly empty); every partition of a subscribed topic goes to exactly one
    /// member subscribed to its topic.
    fn assign(
        &self,
        partitions_per_topic: &BTreeMap<String, u32>,
        subscriptions: &BTreeMap<String, Subscription>,
    ) -> BTreeMap<String, Vec<TopicPartition>>;
}

/// The built-in assignor that `partition.assignment.strategy` names, with Kafka's names
/// (`range`, `roundrobin`, `sticky`, `cooperative-sticky`), or `None` for any other name.
///
/// The names are Kafka's so that configuration written for Kafka's clients selects the
/// same strategy here.
///
/// ```
/// let assignor = silt_consumer::assignor::by_name("cooperative-sticky").unwrap();
/// assert_eq!(assignor.name(), "cooperative-sticky");
/// ```
pub fn by_name(name: &str) -> Option<Arc<dyn Assignor>> {
    match name {
        "range" => Some(Arc::new(RangeAssignor)),
        "roundrobin" => Some(Arc::new(RoundRobinAssignor)),
        "sticky" => Some(Arc::new(StickyAssignor)),
        "cooperative-sticky" => Some(Arc::new(CooperativeStickyAssignor)),
        _ => None,
    }
}
