//! silt-engine: a data directory of topics, each a set of partition logs of segments, with
//! the zero-copy read path, retention and durability.
//!
//! - [`Engine`]: opens and locks a data directory; creates, alters, describes and deletes
//!   topics; appends, fetches, lists offsets, deletes records, flushes.
//! - [`Log`]: one partition: ordered segments, roll, log start and end offsets, group commit.
//! - [`Fetch`]: whole batches borrowed from a segment's map, and their records.
//! - [`TopicConfig`] / [`EngineConfig`]: Kafka's names and defaults, typed or by string.
//! - [`inspect`]: read-only access to the engine's own files (metadata, checkpoints), for
//!   tools that check a data directory without opening it.
//!
//! File layouts and the recovery procedure are in `docs/FORMAT.md`.
#![deny(clippy::unwrap_used, clippy::indexing_slicing)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::indexing_slicing))]
#![warn(missing_docs)]

mod background;
mod checkpoint;
pub mod config;
mod engine;
mod error;
mod extension;
mod fetch;
mod fsutil;
pub mod inspect;
mod log;
mod metadata;
mod name;
pub mod producer;
mod sync;
mod topic;

pub use config::{
    Acks, CleanupPolicy, EngineConfig, EngineConfigBuilder, ProducerConfig, ProducerConfigBuilder,
    TopicConfig, TopicConfigBuilder,
};
pub use engine::{Engine, OpenReport, LOCK_FILE, LOG_START_CHECKPOINT, RECOVERY_POINT_CHECKPOINT};
pub use error::{EngineError, Result};
pub use fetch::{Fetch, FetchedRecords};
pub use log::cleaner::CLEANER_CHECKPOINT;
pub use log::{
    CleanerReport, CleanerStats, CleanerStep, ListedOffset, Log, LogAppendInfo, LogToClean, Notify,
    OffsetSpec, RetentionReport, Waiter,
};
pub use name::{topic_collides, validate_topic_name};
pub use producer::{Delivery, Producer, ProducerRecord, RecordMetadata};
pub use topic::{NewTopic, PartitionDescription, TopicDescription, MAX_PARTITIONS};
