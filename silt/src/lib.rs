//! silt: an embedded, memory-mapped, Kafka-compatible log storage engine.
//!
//! This is the one crate applications add. It re-exports:
//!
//! - the engine: [`Engine`] (a data directory of topics and partition logs), [`Log`],
//!   [`Fetch`], [`NewTopic`], [`TopicConfig`], [`EngineConfig`], [`OffsetSpec`];
//! - the producer: [`Producer`] (from [`Engine::producer`]), [`ProducerRecord`],
//!   [`ProducerConfig`], [`Delivery`] and [`RecordMetadata`], with Kafka's partitioners,
//!   batching, compression and acks;
//! - the consumer: [`Consumer`] (from [`ConsumerExt::consumer`]: `use silt::ConsumerExt`),
//!   [`ConsumerConfig`], consumer groups with Kafka's assignors and rebalance protocols, and
//!   committed offsets in the compacted `__consumer_offsets` topic;
//! - [`batch`]: Kafka's RecordBatch v2 codec (build and read batches exactly as Kafka
//!   writes them, with none / gzip / lz4 / zstd records);
//! - [`log`]: mmap'd segment files with their sparse offset and time indexes, one writer and
//!   lock-free readers, and recovery of torn tails;
//! - [`index`]: the offset index and time index on their own;
//! - [`murmur2`]: Kafka's key hash and the Java client's partition choice.
//!
//! ```
//! use silt::batch::{BatchBuilder, BatchConfig, Compression, DecompressBuffer};
//! use silt::{Engine, EngineConfig, NewTopic, OffsetSpec};
//!
//! let dir = tempfile::tempdir()?;
//! let engine = Engine::open(dir.path(), EngineConfig::default())?;
//! engine.create_topic(NewTopic::new("clicks", 2).config("segment.bytes", "1048576"))?;
//!
//! let mut builder = BatchBuilder::new(BatchConfig { compression: Compression::Lz4, ..BatchConfig::default() });
//! builder.append(1_700_000_000_000, Some(b"user-1"), Some(b"clicked"), &[])?;
//! engine.append("clicks", 1, &builder.finish()?)?;
//!
//! let fetch = engine.fetch("clicks", 1, 0, 1 << 20)?;
//! let mut buffer = DecompressBuffer::new();
//! fetch.for_each_record(&mut buffer, |record| assert_eq!(record.key, Some(&b"user-1"[..])))?;
//! assert_eq!(engine.list_offsets("clicks", 1, OffsetSpec::Latest)?.map(|o| o.offset), Some(1));
//! engine.close()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(clippy::unwrap_used, clippy::indexing_slicing)]
#![warn(missing_docs)]

pub use silt_consumer::{
    assignor, offsets, CommitCallback, CommittedOffset, Consumer, ConsumerConfig, ConsumerError,
    ConsumerExt, ConsumerRecord, ConsumerRecords, GroupDescription, GroupState, MemberDescription,
    NoopListener, OffsetReset, PartitionLag, RebalanceListener, RebalanceProtocol, TopicPartition,
};
pub use silt_engine::producer::{Callback, Partitioner};
pub use silt_engine::{
    config, producer, Acks, CleanupPolicy, Delivery, Engine, EngineConfig, EngineConfigBuilder,
    EngineError, Fetch, FetchedRecords, ListedOffset, Log, LogAppendInfo, NewTopic, OffsetSpec,
    OpenReport, PartitionDescription, Producer, ProducerConfig, ProducerConfigBuilder,
    ProducerRecord, RecordMetadata, RetentionReport, TopicConfig, TopicConfigBuilder,
    TopicDescription,
};
pub use silt_index as index;
pub use silt_index::IndexError;
pub use silt_segment::{batch, log, murmur2, SegmentError};
