//! silt-segment: Kafka's RecordBatch v2 codec and mmap'd log segments.
//!
//! - [`batch`]: build and read RecordBatch v2 bytes exactly as Kafka writes them
//!   (CRC-32C, varints, none/gzip/lz4/zstd), with copy-free views.
//! - [`log`]: a `.log` segment file, preallocated and mmap'd, with its offset and time
//!   indexes; one writer, lock-free readers, recovery of torn tails.
//! - [`murmur2`]: Kafka's key hash, for partitioning.
//!
//! Byte layouts and the recovery procedure are specified in `docs/FORMAT.md`.
#![deny(clippy::unwrap_used, clippy::indexing_slicing)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::indexing_slicing))]
#![warn(missing_docs)]

pub mod batch;
mod checksum;
mod error;
pub mod log;
pub mod murmur2;
mod varint;

pub use error::{EncodeFault, HeaderFault, RecordFault, Result, SegmentError};
