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

    /// Every segment's reader, oldest first. Closed segments are mapped only as the
    /// iteration reaches them, so a lookup that stops early maps no more than it read. A
    /// segment that retention (or compaction) took out of the list and removed since the
    /// list was read is passed over: its records are gone (or in the segment replacing it).
    fn readers(&self) -> Result<impl Iterator<Item = Result<SegmentReader>> + '_> {
        let active = self.active_reader()?;
        let closed: Vec<_> = read(&self.view).closed.iter().map(Arc::clone).collect();
        let config = self.config().segment_config();
        Ok(closed
            .into_iter()
            .filter_map(move |segment| match segment.reader(&config, &self.cache) {
                Ok(reader) => Some(Ok(reader)),
                Err(_) if !self.lists(&segment) => None,
                Err(e) => Some(Err(e)),
            })
            .chain(active.map(Ok)))
    }

    fn offset_for_timestamp(&self, timestamp: i64) -> Result<Option<ListedOffset>> {
        let log_start = self.log_start_offset();
        let mut buffer = DecompressBuffer::new();
        for reader in self.readers()? {
            let reader = reader?;
            if reader.next_offset() <= log_start
                || reader
                    .max_timestamp()
                    .is_none_or(|m| m.timestamp < timestamp)
            {
                continue;
            }
            // The time index's last entry at or below the timestamp names the batch where
            // the segment's max timestamp first reached that entry's value: no earlier batch
            // holds a record as late as `timestamp`, so the scan may start at that batch.
            let from = reader.time_index_lookup(timestamp).offset.max(log_start);
            let mut found = None;
            for_each_record(&reader, from, log_start, &mut buffer, |offset, ts| {
                if ts >= timestamp {
                    found = Some(ListedOffset {
                        offset,
                        timestamp: ts,
                    });
                }
                found.is_none()
            })?;
            if found.is_some() {
                return Ok(found);
            }
        }
        Ok(None)
    }

    fn offset_of_max_timestamp(&self) -> Result<Option<ListedOffset>> {
        let log_start = self.log_start_offset();
        let mut buffer = DecompressBuffer::new();
        let mut best: Option<(ListedOffset, SegmentReader)> = None;
        for reader in self.readers()? {
            let reader = reader?;
            let Some(max) = reader
                .max_timestamp()
                .filter(|_| reader.next_offset() > log_start)
            else {
                continue;
            };
            if best
                .as_ref()
                .is_some_and(|(b, _)| max.timestamp <= b.timestamp)
            {
                continue;
            }
            let candidate = if reader.base_offset() >= log_start {
                // The recorded offset is in the batch where the max was first reached.
                Some(ListedOffset {
                    offset: max.offset,
                    timestamp: max.timestamp,
                })
            } else {
                // Partly below the log start: the recorded max may be a deleted record.
                let mut found: Option<ListedOffset> = None;
                for_each_record(&reader, log_start, log_start, &mut buffer, |offset, ts| {
                    if found.is_none_or(|f| ts > f.timestamp) {
                        found = Some(ListedOffset {
                            offset,
                            timestamp: ts,
                        });
                    }
                    true
                })?;
                found
            };
            if let Some(c) =
                candidate.filter(|c| best.as_ref().is_none_or(|(b, _)| c.timestamp > b.timestamp))
            {
                best = Some((c, reader));
            }
        }
        let Some((max, reader)) = best else {
            return Ok(None);
        };
        // The first record holding the max, from the batch the candidate points into.
        let mut found = None;
        for_each_record(&reader, max.offset, log_start, &mut buffer, |offset, ts| {
            if ts == max.timestamp {
                found = Some(ListedOffset {
                    offset,
                    timestamp: ts,
                });
            }
            found.is_none()
        })?;
        Ok(found.or(Some(max)))
    }
}

/// Calls `f(offset, timestamp)` for every record of `reader` at or after `min_offset`, from
/// the batch holding offset `from` on, until `f` returns false.
fn for_each_record(
    reader: &SegmentReader,
    from: i64,
    min_offset: i64,
    buffer: &mut DecompressBuffer,
    mut f: impl FnMut(i64, i64) -> bool,
) -> Result<()> {
    let Some((position, _)) = reader.locate(from)? else {
        return Ok(());
    };
    let bytes = reader.bytes().get(position as usize..).unwrap_or_default();
    for batch in Batches::new(bytes, u64::from(position)) {
        let batch = batch?;
        for record in batch.records(buffer)? {
            let record = record?;
            if record.offset >= min_offset && !f(record.offset, record.timestamp) {
                return Ok(());
            }
        }
    }
    Ok(())
}
