//! silt-consumer: Kafka's consumer, in-process.
//!
//! - [`assignor`]: the range, round-robin, sticky and cooperative-sticky assignors.
#![deny(clippy::unwrap_used, clippy::indexing_slicing)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::indexing_slicing))]
#![warn(missing_docs)]

pub mod assignor;
mod config;
mod consumer;
mod coordinator;
mod error;
mod listener;
pub mod offsets;
mod types;

pub use assignor::{Assignor, RebalanceProtocol, Subscription};
pub use config::{ConsumerConfig, OffsetReset, KEYS as CONSUMER_CONFIG_KEYS};
pub use consumer::{
    CommitCallback, Consumer, ConsumerExt, ConsumerRecord, ConsumerRecords, RecordsIter,
};
pub use coordinator::{GroupDescription, GroupState, MemberDescription, PartitionLag};
pub use error::{ConsumerError, Result};
pub use listener::{NoopListener, RebalanceListener};
pub use offsets::CommittedOffset;
pub use types::TopicPartition;
