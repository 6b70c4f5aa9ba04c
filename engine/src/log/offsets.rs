//! `list_offsets`: Kafka's ListOffsets (earliest, latest, max timestamp, offsetsForTimes).

use std::sync::Arc;

use silt_segment::batch::{Batches, DecompressBuffer};
use silt_segment::log::SegmentReader;

use super::Log;
use crate::error::Result;
use crate::sync::read;

/// Which offset [`Log::list_offsets`] looks up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OffsetSpec {
    /// The log start offset (Kafka's `-2`).
    Earliest,
    /// The log end offset (Kafka's `-1`).
    Latest,
    /// The record with the largest timestamp (Kafka's `-3`); the earliest of equals.
    MaxTimestamp,
    /// The first record whose timestamp is at or after this one (Kafka's offsetsForTimes).
    Timestamp(i64),
}

/// An offset found by [`Log::list_offsets`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListedOffset {
    /// The offset.
    pub offset: i64,
    /// The record's timestamp; -1 for `Earliest` and `Latest`, as Kafka answers.
    pub timestamp: i64,
}

impl Log {
    /// Looks up an offset. `None` when the log holds no record for the spec (an empty log,
    /// or no record as late as the timestamp).
    pub fn list_offsets(&self, spec: OffsetSpec) -> Result<Option<ListedOffset>> {
        let at = |offset| ListedOffset {
            offset,
            timestamp: -1,
        };
        match spec {
            OffsetSpec::Earliest => Ok(Some(at(self.log_start_offset()))),
            OffsetSpec::Latest => Ok(Some(at(self.log_end_offset()?))),
            OffsetSpec::MaxTimestamp => self.offset_of_max_timestamp(),
            OffsetSpec::Timestamp(timestamp) => self.offset_for_timestamp(timestamp),
        }
    }

    /// Every segment's reader, oldest first (maps closed segments as needed).
    fn readers(&self) -> Result<Vec<SegmentReader>> {
        let active = self.active_reader()?;
        let closed: Vec<_> = read(&self.view).closed.iter().map(Arc::clone).collect();
        let config = self.config().segment_config();
        let mut readers = Vec::with_capacity(closed.len() + 1);
        for segment in &closed {
            readers.push(segment.reader(&config, &self.cache)?);
        }
        readers.extend(active);
        Ok(readers)
    }

    fn offset_for_timestamp(&self, timestamp: i64) -> Result<Option<ListedOffset>> {
        let log_start = self.log_start_offset();
        let mut buffer = DecompressBuffer::new();
        for reader in self.readers()? {
            if reader.next_offset() <= log_start
                || reader
                    .max_timestamp()
                    .is_none_or(|m| m.timestamp < timestamp)
            {
                continue;
            }
            // The time index gives a lower bound on the offset; never start below the log start.
            let from = reader.time_index_lookup(timestamp).offset.max(log_start);
            let found = scan(&reader, from, &mut buffer, |ts| ts >= timestamp)?;
            if found.is_some() {
                return Ok(found);
            }
        }
        Ok(None)
    }

    fn offset_of_max_timestamp(&self) -> Result<Option<ListedOffset>> {
        let log_start = self.log_start_offset();
        let mut best: Option<(i64, SegmentReader)> = None;
        for reader in self.readers()? {
            if reader.next_offset() <= log_start {
                continue;
            }
            if let Some(max) = reader.max_timestamp() {
                if best.as_ref().is_none_or(|(t, _)| max.timestamp > *t) {
                    best = Some((max.timestamp, reader));
                }
            }
        }
        let Some((max, reader)) = best else {
            return Ok(None);
        };
        let mut buffer = DecompressBuffer::new();
        scan(&reader, log_start, &mut buffer, |ts| ts >= max)
    }
}

/// The first record at or after offset `from` in `reader` whose timestamp satisfies `wanted`.
fn scan(
    reader: &SegmentReader,
    from: i64,
    buffer: &mut DecompressBuffer,
    wanted: impl Fn(i64) -> bool,
) -> Result<Option<ListedOffset>> {
    let Some((position, _)) = reader.locate(from)? else {
        return Ok(None);
    };
    let bytes = reader.bytes().get(position as usize..).unwrap_or_default();
    for batch in Batches::new(bytes, u64::from(position)) {
        let batch = batch?;
        if !wanted(batch.max_timestamp()) {
            continue;
        }
        for record in batch.records(buffer)? {
            let record = record?;
            if record.offset >= from && wanted(record.timestamp) {
                return Ok(Some(ListedOffset {
                    offset: record.offset,
                    timestamp: record.timestamp,
                }));
            }
        }
    }
    Ok(None)
}
