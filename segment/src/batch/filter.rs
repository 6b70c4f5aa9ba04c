//! Filtering the records of one batch, as log compaction does (Kafka's
//! `MemoryRecords.filterTo`, one batch at a time).
//!
//! The caller decides which records stay; the filter writes what is left of the batch:
//! nothing when no record stays, the batch byte for byte when every record stays (and no
//! delete horizon must be set), and otherwise a new batch holding the kept records at their
//! original offsets. The new batch keeps the original's baseOffset and lastOffsetDelta (so the
//! batch still ends where the producer's sequence numbers say it ends, as Kafka's
//! `buildRetainedRecordsInto` does), its partitionLeaderEpoch, producer id, epoch, base
//! sequence, timestamp type, transactional and control bits and its codec.
//!
//! Delete horizon (KIP-534): when a kept batch holds a tombstone and has no horizon yet, the
//! new batch gets attribute bit 6 and baseTimestamp = the horizon, and every record's
//! timestampDelta is rebased onto it, so each record's timestamp (base + delta) is unchanged.
//! Otherwise baseTimestamp is kept as it was, so kept records are copied byte for byte
//! without being re-encoded (Kafka re-encodes them against the first kept record's
//! timestamp; the record timestamps readers see are the same either way).

use super::compression::{Compressor, DecompressBuffer};
use super::decoder::{Batch, Records};
use super::encoder::{bytes_size, put_bytes, write_header};
use super::header::{BatchHeader, Compression, TimestampType, HEADER_SIZE, LOG_OVERHEAD};
use super::record::{parse_record, Record};
use crate::error::{EncodeFault, Result, SegmentError};
use crate::varint::{put_varint, put_varlong, varint_len, varlong_len};

/// zstd level used when a zstd batch is recompressed (Kafka's default, 3): the batch does
/// not record the level it was written with.
const RECOMPRESS_ZSTD_LEVEL: i32 = 3;

/// Reusable state for filtering batches: the decompression buffer, the compressor, the
/// per-record decisions and the buffer the kept records are encoded into. After warm-up,
/// filtering allocates nothing.
#[derive(Debug, Default)]
pub struct BatchFilter {
    decompress: DecompressBuffer,
    compressor: Compressor,
    keep: Vec<bool>,
    records: Vec<u8>,
}

/// What [`BatchFilter::filter`] wrote for one batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Filtered {
    /// No record stayed: nothing was written.
    Dropped,
    /// Every record stayed: the batch was copied byte for byte.
    Copied,
    /// A new batch with the kept records was written.
    Rewritten,
}

/// The counts of one filtered batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FilterOutcome {
    /// What was written.
    pub filtered: Filtered,
    /// Records kept.
    pub retained: u32,
    /// Records removed.
    pub removed: u32,
    /// Removed records that were tombstones (null value).
    pub tombstones_removed: u32,
    /// Kept records that are tombstones.
    pub tombstones_retained: u32,
    /// The delete horizon of the batch written (`None` when none is set or nothing was
    /// written).
    pub delete_horizon_ms: Option<i64>,
    /// Bytes appended to `out`.
    pub bytes_written: usize,
}

impl BatchFilter {
    /// A filter with empty buffers.
    pub fn new() -> Self {
        BatchFilter::default()
    }

    /// Appends to `out` what is left of `batch` once the records `retain` refuses are removed.
    ///
    /// The batch's CRC is checked first (compaction must not bake corruption into a fresh
    /// checksum). `retain` is called once per record, in offset order. A kept batch that holds
    /// a tombstone and has no delete horizon gets `new_delete_horizon_ms` as its horizon.
    pub fn filter(
        &mut self,
        batch: &Batch<'_>,
        new_delete_horizon_ms: i64,
        retain: impl FnMut(&Record<'_>) -> bool,
        out: &mut Vec<u8>,
    ) -> Result<FilterOutcome> {
        batch.validate()?;
        self.filter_records(batch, new_delete_horizon_ms, retain, out)
    }

    /// [`filter`](Self::filter) for a batch that already passed [`Batch::validate`] over
    /// these very bytes: the CRC is not computed again.
    ///
    /// For a caller that reads the same bytes twice in one operation, as log compaction does
    /// (once to map keys, once to filter): the second CRC would only re-read what the first
    /// checked. Records are still parsed and checked one by one as they are filtered. Debug
    /// builds check the CRC anyway, to catch a caller that breaks the contract.
    pub fn filter_validated(
        &mut self,
        batch: &Batch<'_>,
        new_delete_horizon_ms: i64,
        retain: impl FnMut(&Record<'_>) -> bool,
        out: &mut Vec<u8>,
    ) -> Result<FilterOutcome> {
        debug_assert!(
            batch.validate().is_ok(),
            "filter_validated: the batch at {} fails validation",
            batch.position()
        );
        self.filter_records(batch, new_delete_horizon_ms, retain, out)
    }

    fn filter_records(
        &mut self,
        batch: &Batch<'_>,
        new_delete_horizon_ms: i64,
        mut retain: impl FnMut(&Record<'_>) -> bool,
        out: &mut Vec<u8>,
    ) -> Result<FilterOutcome> {
        let header = batch.header();
        let codec = header.attributes.compression();
        let BatchFilter {
            decompress,
            compressor,
            keep,
            records,
        } = self;
        let section = match codec {
            Compression::None => batch.records_bytes(),
            other => decompress.decompress(other, batch.records_bytes(), batch.position())?,
        };
        let mut outcome = FilterOutcome {
            filtered: Filtered::Dropped,
            retained: 0,
            removed: 0,
            tombstones_removed: 0,
            tombstones_retained: 0,
            delete_horizon_ms: None,
            bytes_written: 0,
        };
        keep.clear();
        for record in Records::new(section, &header, batch.position(), "") {
            let record = record?;
            let kept = retain(&record);
            keep.push(kept);
            let tombstone = u32::from(record.value.is_none());
            if kept {
                outcome.retained += 1;
                outcome.tombstones_retained += tombstone;
            } else {
                outcome.removed += 1;
                outcome.tombstones_removed += tombstone;
            }
        }
        if outcome.retained == 0 {
            return Ok(outcome);
        }
        let horizon = header.delete_horizon_ms();
        let set_horizon = outcome.tombstones_retained > 0 && horizon.is_none();
        let start = out.len();
        if outcome.removed == 0 && !set_horizon {
            out.extend_from_slice(batch.as_bytes());
            outcome.filtered = Filtered::Copied;
            outcome.delete_horizon_ms = horizon;
        } else {
            let base_timestamp = if set_horizon {
                new_delete_horizon_ms
            } else {
                header.base_timestamp
            };
            let plan = Rewrite {
                header: &header,
                section,
                keep,
                base_timestamp,
                set_horizon,
                retained: outcome.retained,
                position: batch.position(),
            };
            plan.write(records, compressor, out)?;
            outcome.filtered = Filtered::Rewritten;
            outcome.delete_horizon_ms = horizon.or(set_horizon.then_some(base_timestamp));
        }
        outcome.bytes_written = out.len() - start;
        Ok(outcome)
    }
}

/// One batch to rewrite with its kept records.
struct Rewrite<'a> {
    header: &'a BatchHeader,
    /// The batch's records section, decompressed, already validated.
    section: &'a [u8],
    keep: &'a [bool],
    base_timestamp: i64,
    set_horizon: bool,
    retained: u32,
    /// Where the batch starts, for errors.
    position: u64,
}

impl Rewrite<'_> {
    /// Encodes the kept records behind a header, compresses them with the batch's codec,
    /// and appends the finished batch (header and CRC written) to `out`.
    fn write(
        &self,
        records: &mut Vec<u8>,
        compressor: &mut Compressor,
        out: &mut Vec<u8>,
    ) -> Result<()> {
        let h = self.header;
        let rebase = self.base_timestamp != h.base_timestamp;
        records.clear();
        records.resize(HEADER_SIZE, 0);
        let mut max_timestamp = i64::MIN;
        let mut pos = 0usize;
        for (index, &kept) in (0u32..).zip(self.keep) {
            let start = pos;
            let raw = parse_record(self.section, &mut pos).map_err(|fault| {
                SegmentError::InvalidRecord {
                    position: self.position,
                    index,
                    offset: start as u64,
                    section: "decompressed ",
                    fault,
                }
            })?;
            if !kept {
                continue;
            }
            let timestamp = h.base_timestamp.wrapping_add(raw.timestamp_delta);
            max_timestamp = max_timestamp.max(timestamp);
            if !rebase {
                records.extend_from_slice(self.section.get(start..pos).unwrap_or_default());
                continue;
            }
            let delta = timestamp
                .checked_sub(self.base_timestamp)
                .ok_or(SegmentError::Encode(EncodeFault::TimestampRange {
                    timestamp,
                    base: self.base_timestamp,
                }))?;
            let headers = raw.headers.raw();
            let body = 1
                + varlong_len(delta)
                + varint_len(raw.offset_delta)
                + bytes_size(raw.key)
                + bytes_size(raw.value)
                + varint_len(raw.headers.len() as i32)
                + headers.len();
            put_varint(records, body as i32);
            records.push(raw.attributes as u8);
            put_varlong(records, delta);
            put_varint(records, raw.offset_delta);
            put_bytes(records, raw.key);
            put_bytes(records, raw.value);
            put_varint(records, raw.headers.len() as i32);
            records.extend_from_slice(headers);
        }
        let codec = h.attributes.compression();
        let start = out.len();
        out.extend_from_slice(records.get(..HEADER_SIZE).unwrap_or_default());
        let body = records.get(HEADER_SIZE..).unwrap_or_default();
        compressor.compress(codec, RECOMPRESS_ZSTD_LEVEL, body, out)?;
        let size = out.len() - start;
        let batch_length = i32::try_from(size - LOG_OVERHEAD)
            .map_err(|_| SegmentError::Encode(EncodeFault::BatchTooLarge(size as u64)))?;
        let attributes = if self.set_horizon {
            h.attributes.with_delete_horizon()
        } else {
            h.attributes
        };
        let max_timestamp = match h.attributes.timestamp_type() {
            TimestampType::LogAppendTime => h.max_timestamp,
            TimestampType::CreateTime => max_timestamp,
        };
        let header = BatchHeader {
            batch_length,
            crc: 0,
            attributes,
            base_timestamp: self.base_timestamp,
            max_timestamp,
            records_count: self.retained as i32,
            ..*h
        };
        write_header(out.get_mut(start..).unwrap_or_default(), &header);
        Ok(())
    }
}
