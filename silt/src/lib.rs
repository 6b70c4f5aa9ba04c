//! silt: an embedded, memory-mapped, Kafka-compatible log storage engine.
//!
//! This is the one crate applications add. Today it re-exports the storage core:
//!
//! - [`batch`]: Kafka's RecordBatch v2 codec (build and read batches exactly as Kafka
//!   writes them, with none / gzip / lz4 / zstd records).
//! - [`log`]: mmap'd segment files with their sparse offset and time indexes, one writer and
//!   lock-free readers, and recovery of torn tails.
//! - [`index`]: the offset index and time index on their own.
//! - [`murmur2`]: Kafka's key hash and the Java client's partition choice.
//!
//! ```
//! use silt::batch::{Batch, BatchBuilder, BatchConfig, Compression, DecompressBuffer};
//!
//! let mut builder = BatchBuilder::new(BatchConfig { compression: Compression::Lz4, ..BatchConfig::default() });
//! builder.append(1_700_000_000_000, Some(b"user-1"), Some(b"clicked"), &[])?;
//! let bytes = builder.finish()?;
//!
//! let batch = Batch::parse(&bytes, 0)?;
//! batch.validate()?;
//! let mut buffer = DecompressBuffer::new();
//! for record in batch.records(&mut buffer)? {
//!     let record = record?;
//!     assert_eq!(record.key, Some(&b"user-1"[..]));
//! }
//! # Ok::<(), silt::SegmentError>(())
//! ```
#![deny(clippy::unwrap_used, clippy::indexing_slicing)]
#![warn(missing_docs)]

pub use silt_index as index;
pub use silt_index::IndexError;
pub use silt_segment::{batch, log, murmur2, SegmentError};
