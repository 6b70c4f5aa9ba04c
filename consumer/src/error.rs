//! `ConsumerError`: everything the consumer, the group coordinator and the offsets log report.

use silt_engine::EngineError;
use silt_segment::SegmentError;

use crate::types::TopicPartition;

/// What went wrong in a consumer, its group or the offsets log.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConsumerError {
    /// The engine refused (unknown topic, closed engine, I/O, corruption …).
    #[error(transparent)]
    Engine(#[from] EngineError),

    /// A batch or record read for the consumer was invalid.
    #[error(transparent)]
    Segment(#[from] SegmentError),

    /// A consumer setting was wrong.
    #[error("invalid consumer config `{key}` = {value:?}: {reason}")]
    InvalidConfig {
        /// The setting's Kafka name.
        key: String,
        /// The value given.
        value: String,
        /// Why it was refused.
        reason: String,
    },

    /// `auto.offset.reset=none` and the partition has no committed offset (Kafka's
    /// `NoOffsetForPartitionException`), or the position fell out of the log's range.
    #[error("no offset to start {partition} from: nothing committed by group {group:?} and auto.offset.reset=none")]
    NoOffsetForPartition {
        /// The partition.
        partition: TopicPartition,
        /// The group, if any.
        group: Option<String>,
    },

    /// The position is outside the log and `auto.offset.reset=none` (Kafka's
    /// `OffsetOutOfRangeException`).
    #[error("offset {offset} of {partition} is out of range [{log_start}, {log_end}] and auto.offset.reset=none")]
    OffsetOutOfRange {
        /// The partition.
        partition: TopicPartition,
        /// The position that was out of range.
        offset: i64,
        /// The log start offset.
        log_start: i64,
        /// The log end offset.
        log_end: i64,
    },

    /// The operation needs a partition this consumer is not assigned.
    #[error("{partition} is not assigned to this consumer")]
    NotAssigned {
        /// The partition.
        partition: TopicPartition,
    },

    /// `subscribe` after `assign`, or the other way round (Kafka's `IllegalStateException`).
    #[error("{0}")]
    IllegalState(&'static str),

    /// The operation needs `group.id`.
    #[error("{operation} needs group.id to be set")]
    NoGroupId {
        /// What was asked.
        operation: &'static str,
    },

    /// A commit from a member of an older generation, or from a member the group no longer
    /// has (Kafka's `CommitFailedException`: the partitions were reassigned; the records
    /// processed since the last commit will be processed again by their new owner).
    #[error("commit refused for group {group:?}: member {member_id:?} of generation {generation} is not a member of the current generation {current} (it was fenced or a rebalance completed)")]
    CommitFailed {
        /// The group.
        group: String,
        /// The member that committed.
        member_id: String,
        /// The generation it committed from.
        generation: i32,
        /// The group's generation now (-1: the member is gone).
        current: i32,
    },

    /// The group is rebalancing; commit again after the next poll (Kafka's
    /// `RebalanceInProgressException`).
    #[error("group {group:?} is rebalancing: commit after the next poll")]
    RebalanceInProgress {
        /// The group.
        group: String,
    },

    /// A static member with this `group.instance.id` replaced this consumer (Kafka's
    /// `FencedInstanceIdException`).
    #[error("group {group:?}: group.instance.id {instance_id:?} is now used by another consumer")]
    FencedInstanceId {
        /// The group.
        group: String,
        /// The instance id.
        instance_id: String,
    },

    /// No member of the group supports a common assignor.
    #[error("group {group:?}: no assignment strategy is supported by every member (this consumer offers {offered:?})")]
    InconsistentGroupProtocol {
        /// The group.
        group: String,
        /// The strategies this consumer offered.
        offered: Vec<String>,
    },

    /// The group has active members (for `delete_group` and offset resets).
    #[error("group {group:?} is not empty: {members} active member(s)")]
    GroupNotEmpty {
        /// The group.
        group: String,
        /// Members present.
        members: usize,
    },

    /// No such group (no members and no committed offsets).
    #[error("unknown consumer group {group:?}")]
    UnknownGroup {
        /// The group.
        group: String,
    },

    /// A commit the offsets log cannot hold as Kafka's `OffsetCommitKey` / `OffsetCommitValue`:
    /// a group id longer than a Kafka string (32767 bytes), a topic name Kafka would refuse,
    /// a partition past `i32::MAX`, or metadata longer than
    /// [`MAX_OFFSET_METADATA_BYTES`](crate::offsets::MAX_OFFSET_METADATA_BYTES) (Kafka's
    /// `OffsetMetadataTooLarge`). Nothing of the commit is written.
    #[error("commit of {partition} for group {} refused: {reason}", excerpt(.group))]
    InvalidCommit {
        /// The group.
        group: String,
        /// The first partition of the commit that cannot be held (any, for the group id).
        partition: TopicPartition,
        /// What is wrong.
        reason: String,
    },

    /// A record of `__consumer_offsets` could not be decoded.
    #[error("__consumer_offsets-{partition} offset {offset}: {reason}")]
    CorruptOffsetsRecord {
        /// The offsets log partition.
        partition: u32,
        /// The record's offset.
        offset: i64,
        /// What was wrong.
        reason: String,
    },

    /// The consumer was closed.
    #[error("the consumer is closed")]
    Closed,
}

/// `text` quoted for a message, cut after 64 characters (group ids may be long).
fn excerpt(text: &str) -> String {
    match text.char_indices().nth(64) {
        Some((cut, _)) => format!(
            "{:?}… ({} bytes)",
            text.get(..cut).unwrap_or_default(),
            text.len()
        ),
        None => format!("{text:?}"),
    }
}

/// `Result` with [`ConsumerError`].
pub type Result<T, E = ConsumerError> = std::result::Result<T, E>;
