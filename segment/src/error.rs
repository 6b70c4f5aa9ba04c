//! `SegmentError`: everything the codec and the segment files can report.

use std::path::PathBuf;

use crate::batch::Compression;

/// Errors of the RecordBatch codec and of segment files.
///
/// Positions are byte positions: in the input slice for the codec (the start of the
/// batch plus the offset of the fault inside it), in the `.log` file for segments.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SegmentError {
    /// Fewer bytes are present than the batch header says it has: a torn tail, not
    /// corrupt data. `needed` counts from `position`.
    #[error("incomplete batch at position {position}: needs {needed} bytes, only {available} present (torn tail)")]
    Incomplete {
        /// Start of the batch.
        position: u64,
        /// Bytes the batch needs (header, or header plus batch length).
        needed: u64,
        /// Bytes actually present from `position`.
        available: u64,
    },
    /// The magic byte is not 2: an older message format silt does not read.
    #[error("unsupported format at position {position}: magic byte {magic}, only RecordBatch v2 (magic 2) is supported")]
    UnsupportedMagic {
        /// Start of the batch.
        position: u64,
        /// The magic byte found.
        magic: i8,
    },
    /// The batch length field is outside what a batch can be.
    #[error(
        "invalid batch length {length} at position {position}: must be between {min} and {max}"
    )]
    InvalidLength {
        /// Start of the batch.
        position: u64,
        /// The batchLength field.
        length: i32,
        /// Smallest valid value.
        min: i32,
        /// Largest accepted value.
        max: i32,
    },
    /// The stored CRC-32C does not match the bytes.
    #[error("checksum mismatch in batch at position {position}: stored crc {stored:#010x}, computed {computed:#010x}")]
    CrcMismatch {
        /// Start of the batch.
        position: u64,
        /// CRC in the header.
        stored: u32,
        /// CRC of the bytes.
        computed: u32,
    },
    /// The batch's codec is one silt does not decode.
    #[error("unsupported compression {codec} in batch at position {position}")]
    UnsupportedCompression {
        /// Start of the batch.
        position: u64,
        /// Codec bits 0-2 of the attributes, by name where known.
        codec: Compression,
    },
    /// A header field is inconsistent (records count, offsets, attributes).
    #[error("invalid batch header at position {position}: {fault}")]
    InvalidHeader {
        /// Start of the batch.
        position: u64,
        /// What is wrong.
        fault: HeaderFault,
    },
    /// A record inside a batch is malformed.
    #[error("invalid record {index} of batch at position {position} (byte {offset} of its {section}records): {fault}")]
    InvalidRecord {
        /// Start of the batch.
        position: u64,
        /// Index of the record in the batch.
        index: u32,
        /// Byte offset inside the (decompressed) records section.
        offset: u64,
        /// "" or "decompressed " to say which bytes `offset` counts.
        section: &'static str,
        /// What is wrong.
        fault: RecordFault,
    },
    /// The compressed records section could not be decompressed.
    #[error("cannot decompress {codec} records of batch at position {position}: {source}")]
    Decompress {
        /// Start of the batch.
        position: u64,
        /// The codec.
        codec: Compression,
        /// The codec's error.
        source: std::io::Error,
    },
    /// Decompression would exceed the configured bound.
    #[error("records of batch at position {position} decompress to more than {limit} bytes")]
    DecompressedTooLarge {
        /// Start of the batch.
        position: u64,
        /// The bound (`DecodeLimits::max_decompressed_bytes`).
        limit: usize,
    },
    /// Compression of a records section failed.
    #[error("cannot compress records with {codec}: {source}")]
    Compress {
        /// The codec.
        codec: Compression,
        /// The codec's error.
        source: std::io::Error,
    },
    /// The builder was given something Kafka's format cannot hold.
    #[error("cannot encode batch: {0}")]
    Encode(EncodeFault),
    /// A file operation failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done ("open", "stat", "fallocate", "mmap", "truncate", "msync",
        /// "fdatasync", "fsync"). Segments keep no file descriptor, so "open" can also come
        /// from a seal, a recovery cut or a sync, which open the file for their duration.
        op: &'static str,
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// An index failed.
    #[error(transparent)]
    Index(#[from] silt_index::IndexError),
    /// A batch does not fit in the segment; the caller must roll.
    #[error("segment {path} is full: {needed} bytes needed, {available} left (roll: {reason})")]
    SegmentFull {
        /// The `.log` file.
        path: PathBuf,
        /// Size of the batch.
        needed: u64,
        /// Room left.
        available: u64,
        /// Which roll condition applies.
        reason: crate::log::RollReason,
    },
    /// The segment was sealed (rolled or closed) and takes no more appends or truncations.
    #[error("segment {path} is sealed")]
    Sealed {
        /// The `.log` file.
        path: PathBuf,
    },
    /// A batch handed to `append` is not a well-formed batch.
    #[error("cannot append to {path}: {source}")]
    BadAppend {
        /// The `.log` file.
        path: PathBuf,
        /// What is wrong with the batch.
        #[source]
        source: Box<SegmentError>,
    },
    /// A setting is outside the range it accepts.
    #[error("invalid config: {key} = {value}, must be {expected}")]
    InvalidConfig {
        /// Kafka's name of the setting.
        key: &'static str,
        /// The value given.
        value: i64,
        /// The accepted range, in words.
        expected: &'static str,
    },
    /// A negative base offset was given for a segment.
    #[error("invalid base offset {0}: must not be negative")]
    InvalidBaseOffset(i64),
    /// A file is larger than a segment can be (`i32::MAX` bytes).
    #[error("{path} is {len} bytes, larger than any segment can be ({max})", max = i32::MAX)]
    FileTooLarge {
        /// The file.
        path: PathBuf,
        /// Its length.
        len: u64,
    },
    /// `append` was given no bytes.
    #[error("nothing to append")]
    EmptyAppend,
    /// An operation that rewrites bytes readers may hold was asked for while readers (or
    /// syncers, or pretouchers) exist.
    #[error("cannot {op} {path} while readers hold it")]
    ReadersOutstanding {
        /// "truncate", "recover".
        op: &'static str,
        /// The `.log` file.
        path: PathBuf,
    },
    /// A file name is not `<20-digit base offset>.log`.
    #[error("{path} is not a segment file name (expected 20 decimal digits and .log)")]
    BadFileName {
        /// The file.
        path: PathBuf,
    },
}

/// What is wrong with a batch header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HeaderFault {
    /// recordsCount is negative.
    #[error("negative records count {0}")]
    NegativeCount(i32),
    /// lastOffsetDelta is negative.
    #[error("negative last offset delta {0}")]
    NegativeLastOffsetDelta(i32),
    /// An uncompressed batch's records count disagrees with lastOffsetDelta + 1.
    #[error("records count {count} inconsistent with last offset delta {last_offset_delta}")]
    CountMismatch {
        /// recordsCount.
        count: i32,
        /// lastOffsetDelta.
        last_offset_delta: i32,
    },
    /// The batch's base offset does not follow the previous batch.
    #[error("base offset {found} does not follow previous batch (expected {expected})")]
    OffsetGap {
        /// Expected base offset.
        expected: i64,
        /// Found base offset.
        found: i64,
    },
    /// The batch claims offsets at or past the segment's end (its next offset): its base
    /// offset, outside the CRC, was raised by damage.
    #[error(
        "batch ends at offset {last_offset}, past the segment's end (next offset {next_offset})"
    )]
    PastSegmentEnd {
        /// The segment's next offset.
        next_offset: i64,
        /// The batch's last offset.
        last_offset: i64,
    },
    /// Records iterated disagree with the records count.
    #[error("records section holds {found} records, header says {count}")]
    RecordsMissing {
        /// recordsCount.
        count: i32,
        /// Records found.
        found: u32,
    },
    /// Bytes remain after the last record.
    #[error("{0} bytes after the last record")]
    TrailingBytes(u64),
    /// Base offset negative.
    #[error("negative base offset {0}")]
    NegativeBaseOffset(i64),
    /// The batch's offsets do not fit an i64: its next offset (base offset + lastOffsetDelta
    /// + 1) would overflow.
    #[error("base offset {base_offset} + last offset delta {last_offset_delta} overflows an i64")]
    OffsetOverflow {
        /// baseOffset.
        base_offset: i64,
        /// lastOffsetDelta.
        last_offset_delta: i32,
    },
}

/// What is wrong with one record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RecordFault {
    /// A varint ran past its maximum length (5 bytes for varint, 10 for varlong).
    #[error("over-long varint")]
    VarintTooLong,
    /// A varint was cut off by the end of the bytes.
    #[error("varint cut off")]
    VarintCut,
    /// The record length is negative or larger than what remains.
    #[error("record length {length} with {remaining} bytes remaining")]
    BadLength {
        /// The length field.
        length: i64,
        /// Bytes after the length field.
        remaining: u64,
    },
    /// A key, value or header length is below -1 or past the record's end.
    #[error("{field} length {length} does not fit in the record")]
    BadFieldLength {
        /// "key", "value", "header key", "header value".
        field: &'static str,
        /// The length field.
        length: i64,
    },
    /// A header key is null.
    #[error("header key is null")]
    NullHeaderKey,
    /// The header count is negative or larger than the record can hold.
    #[error("bad header count {0}")]
    BadHeaderCount(i64),
    /// The record's fields do not fill exactly its declared length.
    #[error("record declares {declared} bytes, its fields use {used}")]
    LengthMismatch {
        /// Declared length.
        declared: u64,
        /// Bytes the fields use.
        used: u64,
    },
    /// The offset delta is not the record's index in the batch.
    #[error("offset delta {found}, expected {expected}")]
    OffsetDelta {
        /// Expected (the index).
        expected: i64,
        /// Found.
        found: i64,
    },
}

/// What the builder cannot encode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeFault {
    /// A field is longer than an i32 varint can say.
    #[error("{field} of {len} bytes is too long")]
    FieldTooLong {
        /// Which field.
        field: &'static str,
        /// Its length.
        len: usize,
    },
    /// The batch would be larger than i32::MAX.
    #[error("batch of {0} bytes is too large")]
    BatchTooLarge(u64),
    /// Too many records in one batch.
    #[error("more than i32::MAX records")]
    TooManyRecords,
    /// The timestamp delta does not fit.
    #[error("timestamp {timestamp} is too far from the base timestamp {base}")]
    TimestampRange {
        /// Record timestamp.
        timestamp: i64,
        /// Batch base timestamp.
        base: i64,
    },
    /// A batch needs at least one record.
    #[error("a batch needs at least one record")]
    Empty,
    /// A record's encoding took other than the bytes it was sized at (a bug in silt).
    #[error("a record sized at {sized} bytes was encoded in another size")]
    SizeMismatch {
        /// Bytes the record was sized at.
        sized: usize,
    },
    /// Snappy and gzip are decode-only (gzip) or unsupported (snappy).
    #[error("cannot encode with {0}")]
    Codec(Compression),
}

/// Result alias.
pub type Result<T, E = SegmentError> = std::result::Result<T, E>;
