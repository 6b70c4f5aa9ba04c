//! Kafka's RecordBatch v2: header, records, encoder, decoder and compression.
//!
//! The byte layout is documented in `docs/FORMAT.md`; field offsets are in [`field`].

mod compression;
mod decoder;
mod encoder;
mod filter;
mod header;
mod record;

pub use compression::{Compressor, DecompressBuffer, DEFAULT_MAX_DECOMPRESSED_BYTES};
pub use decoder::{Batch, Batches, Records, MAX_BATCH_LENGTH};
pub use encoder::{
    refresh_crc, set_base_offset, set_log_append_time, BatchBuffer, BatchBuilder, BatchConfig, Fit,
    RecordHeader,
};
pub use filter::{BatchFilter, FilterOutcome, Filtered};
pub use header::{
    field, Attributes, BatchHeader, Compression, TimestampType, HEADER_SIZE, LOG_OVERHEAD,
    MAGIC_V2, MIN_BATCH_LENGTH,
};
pub use record::{Header, HeaderIter, Headers, Record};
