//! The 61-byte RecordBatch v2 header: field positions, attributes, and a copy-free view.

use std::fmt;

use crate::error::{HeaderFault, Result, SegmentError};

/// Size of the RecordBatch v2 header, up to and including recordsCount.
pub const HEADER_SIZE: usize = 61;
/// Bytes before `batchLength` counts: baseOffset and batchLength themselves.
pub const LOG_OVERHEAD: usize = 12;
/// The only magic value silt reads and writes.
pub const MAGIC_V2: i8 = 2;
/// Smallest valid batchLength: a header with no records.
pub const MIN_BATCH_LENGTH: i32 = (HEADER_SIZE - LOG_OVERHEAD) as i32;

/// Byte offsets of the header fields (big-endian), as in Kafka's `DefaultRecordBatch`.
pub mod field {
    /// baseOffset i64.
    pub const BASE_OFFSET: usize = 0;
    /// batchLength i32: bytes after this field.
    pub const LENGTH: usize = 8;
    /// partitionLeaderEpoch i32.
    pub const PARTITION_LEADER_EPOCH: usize = 12;
    /// magic i8.
    pub const MAGIC: usize = 16;
    /// crc u32: CRC-32C of everything from `ATTRIBUTES` to the end of the batch.
    pub const CRC: usize = 17;
    /// attributes i16.
    pub const ATTRIBUTES: usize = 21;
    /// lastOffsetDelta i32.
    pub const LAST_OFFSET_DELTA: usize = 23;
    /// baseTimestamp i64.
    pub const BASE_TIMESTAMP: usize = 27;
    /// maxTimestamp i64.
    pub const MAX_TIMESTAMP: usize = 35;
    /// producerId i64.
    pub const PRODUCER_ID: usize = 43;
    /// producerEpoch i16.
    pub const PRODUCER_EPOCH: usize = 51;
    /// baseSequence i32.
    pub const BASE_SEQUENCE: usize = 53;
    /// recordsCount i32.
    pub const RECORDS_COUNT: usize = 57;
    /// First byte of the records section.
    pub const RECORDS: usize = 61;
}

/// Codec bits 0-2 of the attributes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Compression {
    /// No compression.
    #[default]
    None,
    /// gzip (decoded; encoded for completeness).
    Gzip,
    /// snappy (neither decoded nor encoded: "unsupported compression").
    Snappy,
    /// LZ4 frame format with independent blocks.
    Lz4,
    /// zstd.
    Zstd,
    /// Codec ids 5-7, which Kafka does not define.
    Unknown(u8),
}

impl Compression {
    /// The codec id stored in attribute bits 0-2.
    pub fn id(self) -> u8 {
        match self {
            Compression::None => 0,
            Compression::Gzip => 1,
            Compression::Snappy => 2,
            Compression::Lz4 => 3,
            Compression::Zstd => 4,
            Compression::Unknown(id) => id & 0x07,
        }
    }

    /// The codec of an id (bits 0-2).
    pub fn from_id(id: u8) -> Self {
        match id & 0x07 {
            0 => Compression::None,
            1 => Compression::Gzip,
            2 => Compression::Snappy,
            3 => Compression::Lz4,
            4 => Compression::Zstd,
            other => Compression::Unknown(other),
        }
    }

    /// Kafka's `compression.type` name.
    pub fn name(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Snappy => "snappy",
            Compression::Lz4 => "lz4",
            Compression::Zstd => "zstd",
            Compression::Unknown(_) => "unknown",
        }
    }
}

impl fmt::Display for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Compression::Unknown(id) => write!(f, "unknown codec {id}"),
            other => f.write_str(other.name()),
        }
    }
}

/// Attribute bit 3.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum TimestampType {
    /// The producer's timestamps.
    #[default]
    CreateTime,
    /// The broker's (here: the writer's) append time, stored as maxTimestamp.
    LogAppendTime,
}

/// The attributes field (i16), decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Attributes(pub i16);

impl Attributes {
    const TIMESTAMP_TYPE: i16 = 1 << 3;
    const TRANSACTIONAL: i16 = 1 << 4;
    const CONTROL: i16 = 1 << 5;
    const DELETE_HORIZON: i16 = 1 << 6;

    /// Builds attributes from their parts.
    pub fn new(
        compression: Compression,
        timestamp_type: TimestampType,
        transactional: bool,
        control: bool,
    ) -> Self {
        let mut bits = i16::from(compression.id());
        if timestamp_type == TimestampType::LogAppendTime {
            bits |= Self::TIMESTAMP_TYPE;
        }
        if transactional {
            bits |= Self::TRANSACTIONAL;
        }
        if control {
            bits |= Self::CONTROL;
        }
        Attributes(bits)
    }

    /// Bits 0-2.
    pub fn compression(self) -> Compression {
        Compression::from_id((self.0 & 0x07) as u8)
    }

    /// Bit 3.
    pub fn timestamp_type(self) -> TimestampType {
        if self.0 & Self::TIMESTAMP_TYPE != 0 {
            TimestampType::LogAppendTime
        } else {
            TimestampType::CreateTime
        }
    }

    /// Bit 4.
    pub fn is_transactional(self) -> bool {
        self.0 & Self::TRANSACTIONAL != 0
    }

    /// Bit 5.
    pub fn is_control(self) -> bool {
        self.0 & Self::CONTROL != 0
    }

    /// Bit 6: baseTimestamp holds the delete horizon (set by compaction).
    pub fn has_delete_horizon(self) -> bool {
        self.0 & Self::DELETE_HORIZON != 0
    }

    /// These attributes with bit 6 set: what compaction writes when it stores a delete
    /// horizon in baseTimestamp (Kafka's KIP-534).
    pub fn with_delete_horizon(self) -> Self {
        Attributes(self.0 | Self::DELETE_HORIZON)
    }
}

/// The header fields, copied out of the bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchHeader {
    /// Offset of the first record.
    pub base_offset: i64,
    /// Bytes after the length field.
    pub batch_length: i32,
    /// Leader epoch (silt writes -1... or what the caller set).
    pub partition_leader_epoch: i32,
    /// Always 2 after validation.
    pub magic: i8,
    /// CRC-32C from attributes to the end.
    pub crc: u32,
    /// Attribute bits.
    pub attributes: Attributes,
    /// Offset of the last record minus the base offset.
    pub last_offset_delta: i32,
    /// Timestamp of the first record (or the delete horizon).
    pub base_timestamp: i64,
    /// Largest timestamp in the batch (the append time under LogAppendTime).
    pub max_timestamp: i64,
    /// Producer id, -1 if none.
    pub producer_id: i64,
    /// Producer epoch, -1 if none.
    pub producer_epoch: i16,
    /// Sequence of the first record, -1 if none.
    pub base_sequence: i32,
    /// Number of records.
    pub records_count: i32,
}

impl BatchHeader {
    /// Reads the header fields from the first 61 bytes, without validating them.
    #[inline]
    pub fn read(h: &[u8; HEADER_SIZE]) -> Self {
        BatchHeader {
            base_offset: be_i64(h, field::BASE_OFFSET),
            batch_length: be_i32(h, field::LENGTH),
            partition_leader_epoch: be_i32(h, field::PARTITION_LEADER_EPOCH),
            magic: h[field::MAGIC] as i8,
            crc: be_i32(h, field::CRC) as u32,
            attributes: Attributes(be_i16(h, field::ATTRIBUTES)),
            last_offset_delta: be_i32(h, field::LAST_OFFSET_DELTA),
            base_timestamp: be_i64(h, field::BASE_TIMESTAMP),
            max_timestamp: be_i64(h, field::MAX_TIMESTAMP),
            producer_id: be_i64(h, field::PRODUCER_ID),
            producer_epoch: be_i16(h, field::PRODUCER_EPOCH),
            base_sequence: be_i32(h, field::BASE_SEQUENCE),
            records_count: be_i32(h, field::RECORDS_COUNT),
        }
    }

    /// Writes the header fields into 61 bytes.
    pub fn write(&self, h: &mut [u8; HEADER_SIZE]) {
        h[0..8].copy_from_slice(&self.base_offset.to_be_bytes());
        h[8..12].copy_from_slice(&self.batch_length.to_be_bytes());
        h[12..16].copy_from_slice(&self.partition_leader_epoch.to_be_bytes());
        h[16] = self.magic as u8;
        h[17..21].copy_from_slice(&self.crc.to_be_bytes());
        h[21..23].copy_from_slice(&self.attributes.0.to_be_bytes());
        h[23..27].copy_from_slice(&self.last_offset_delta.to_be_bytes());
        h[27..35].copy_from_slice(&self.base_timestamp.to_be_bytes());
        h[35..43].copy_from_slice(&self.max_timestamp.to_be_bytes());
        h[43..51].copy_from_slice(&self.producer_id.to_be_bytes());
        h[51..53].copy_from_slice(&self.producer_epoch.to_be_bytes());
        h[53..57].copy_from_slice(&self.base_sequence.to_be_bytes());
        h[57..61].copy_from_slice(&self.records_count.to_be_bytes());
    }

    /// Offset of the last record.
    pub fn last_offset(&self) -> i64 {
        self.base_offset
            .saturating_add(i64::from(self.last_offset_delta))
    }

    /// Offset after the last record.
    pub fn next_offset(&self) -> i64 {
        self.last_offset().saturating_add(1)
    }

    /// The delete horizon compaction stored in baseTimestamp (attribute bit 6), if any:
    /// Kafka's `RecordBatch.deleteHorizonMs`. Tombstones of the batch may be removed by a
    /// cleaning that starts at or after it.
    pub fn delete_horizon_ms(&self) -> Option<i64> {
        self.attributes
            .has_delete_horizon()
            .then_some(self.base_timestamp)
    }

    /// Total size of the batch in bytes (12 + batchLength).
    #[inline]
    pub fn total_size(&self) -> u64 {
        LOG_OVERHEAD as u64 + self.batch_length.max(0) as u64
    }

    /// Checks what the header alone can tell: magic 2, length in `[MIN_BATCH_LENGTH, max_length]`,
    /// counts and deltas not negative, and a next offset (base offset + lastOffsetDelta + 1)
    /// that fits an i64. `position` is used in errors.
    #[inline]
    pub fn check(&self, position: u64, max_length: i32) -> Result<()> {
        if self.magic != MAGIC_V2 {
            return Err(SegmentError::UnsupportedMagic {
                position,
                magic: self.magic,
            });
        }
        if self.batch_length < MIN_BATCH_LENGTH || self.batch_length > max_length {
            return Err(SegmentError::InvalidLength {
                position,
                length: self.batch_length,
                min: MIN_BATCH_LENGTH,
                max: max_length,
            });
        }
        let fault = if self.records_count < 0 {
            Some(HeaderFault::NegativeCount(self.records_count))
        } else if self.last_offset_delta < 0 {
            Some(HeaderFault::NegativeLastOffsetDelta(self.last_offset_delta))
        } else if self.base_offset < 0 {
            Some(HeaderFault::NegativeBaseOffset(self.base_offset))
        } else if self
            .base_offset
            .checked_add(i64::from(self.last_offset_delta) + 1)
            .is_none()
        {
            // `Batch::last_offset` and `next_offset` add these: bounded here, they cannot
            // overflow for any batch that parses.
            Some(HeaderFault::OffsetOverflow {
                base_offset: self.base_offset,
                last_offset_delta: self.last_offset_delta,
            })
        } else {
            None
        };
        match fault {
            Some(fault) => Err(SegmentError::InvalidHeader { position, fault }),
            None => Ok(()),
        }
    }
}

#[allow(clippy::indexing_slicing)] // fixed offsets inside a fixed-size array: checked at compile time by the constants
fn be_i64(h: &[u8; HEADER_SIZE], at: usize) -> i64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&h[at..at + 8]);
    i64::from_be_bytes(b)
}

#[allow(clippy::indexing_slicing)]
fn be_i32(h: &[u8; HEADER_SIZE], at: usize) -> i32 {
    let mut b = [0u8; 4];
    b.copy_from_slice(&h[at..at + 4]);
    i32::from_be_bytes(b)
}

#[allow(clippy::indexing_slicing)]
fn be_i16(h: &[u8; HEADER_SIZE], at: usize) -> i16 {
    i16::from_be_bytes([h[at], h[at + 1]])
}
