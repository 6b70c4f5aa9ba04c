//! Kafka's sparse offset index and time index, memory-mapped.
//!
//! Every segment of a silt log has two indexes beside its `.log` file, in
//! Kafka's own format (big-endian, see `docs/FORMAT.md`):
//!
//! - [`OffsetIndex`] (`.index`): 8-byte entries, relative offset `u32` then
//!   byte position `u32`, mapping offsets to where their batch starts;
//! - [`TimeIndex`] (`.timeindex`): 12-byte entries, timestamp `i64` then
//!   relative offset `u32`, mapping timestamps to offsets.
//!
//! Both are preallocated to their maximum size (`segment.index.bytes`) with
//! `posix_fallocate`, mapped shared and read-write, and trimmed to their valid
//! entries when the segment rolls ([`OffsetIndex::seal`]). Each has one
//! writer (`&mut self` methods) and any number of lock-free readers
//! ([`OffsetIndex::reader`]) on other threads: the writer fills a slot, then
//! publishes the new entry count with a release store.
//!
//! No file descriptor is kept open: a file is closed as soon as it is
//! mapped, and the few calls that need one (seal, unseal, a flush after the
//! file's length changed) open it by path for the duration of the call.
//!
//! An existing index opens three ways: [`OffsetIndex::open`] extends it to
//! its maximum for appends; [`OffsetIndex::open_sealed`] maps a closed
//! segment's index at its length and writes nothing; and
//! [`OffsetIndexReader::open_read_only`] maps it read-only with no writer at
//! all.
//!
//! Opening an existing index never fails on bad contents: the index is
//! derived data, so [`OffsetIndex::open`] checks it and, if it cannot be
//! trusted, returns it empty with [`IndexCheck::Rebuild`] for the caller to
//! rebuild from its log.
//!
//! Lookups use Kafka's warm-section binary search, which keeps lookups of
//! recent offsets on the few pages at the end of the index.
#![deny(clippy::unwrap_used, clippy::indexing_slicing)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::indexing_slicing))]
#![warn(missing_docs)]

mod check;
mod entries;
mod entry_file;
mod error;
#[doc(hidden)]
pub mod failpoint;
mod offset_index;
mod time_index;

pub use check::{IndexCheck, RebuildReason};
pub use error::IndexError;
pub use offset_index::{OffsetIndex, OffsetIndexReader, OffsetPosition};
pub use time_index::{TimeIndex, TimeIndexReader, TimestampOffset};
