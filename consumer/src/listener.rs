//! The rebalance listener (Kafka's `ConsumerRebalanceListener`).

use crate::consumer::Consumer;
use crate::types::TopicPartition;

/// Told when partitions move. Each call runs in the thread that called
/// [`Consumer::poll`] (or `close`), with the consumer at hand, so `on_partitions_revoked`
/// can commit what was processed before the partitions go.
pub trait RebalanceListener: Send {
    /// `partitions` are taken away in an orderly rebalance: commit now if you commit by hand.
    /// Under the eager protocol every owned partition is revoked; under the cooperative one,
    /// only those that move.
    fn on_partitions_revoked(&mut self, consumer: &mut Consumer, partitions: &[TopicPartition]) {
        let _ = (consumer, partitions);
    }

    /// `partitions` were added to this consumer's assignment (called after every
    /// rebalance, possibly with none).
    fn on_partitions_assigned(&mut self, consumer: &mut Consumer, partitions: &[TopicPartition]) {
        let _ = (consumer, partitions);
    }

    /// `partitions` were lost: the member was fenced (its session or poll interval expired),
    /// and their new owner may already read them. Commits would be refused: do not commit.
    /// By default, as in Kafka, this calls `on_partitions_revoked`.
    fn on_partitions_lost(&mut self, consumer: &mut Consumer, partitions: &[TopicPartition]) {
        self.on_partitions_revoked(consumer, partitions);
    }
}

/// A listener that does nothing.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoopListener;

impl RebalanceListener for NoopListener {}
