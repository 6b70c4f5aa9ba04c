//! Opening a segment: the cheap check of a cleanly closed one, and recovery of one that
//! was not (Kafka's `LogSegment.recover`).
//!
//! A segment is trusted when both indexes pass their checks and the batch headers from the
//! last offset index entry chain exactly to the end of the file with contiguous offsets:
//! that reads a few KiB, not the segment. Anything else (a preallocated tail of zeros after
//! a crash, a torn batch, a bad index) triggers recovery: every batch from the start is
//! validated (length, magic, CRC-32C, offsets contiguous), the file is cut at the first
//! invalid or incomplete batch, and both indexes are rebuilt from the valid batches.

use std::path::Path;
use std::sync::Arc;

use silt_index::{IndexCheck, OffsetIndex, RebuildReason, TimeIndex};

use super::config::SegmentConfig;
use super::file::{self, SegmentPaths};
use super::segment::{Recovered, Segment};
use crate::batch::{Batch, Batches, HEADER_SIZE};
use crate::error::{HeaderFault, Result, SegmentError};

/// How a segment is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenMode {
    /// The active segment: mapped read-write, preallocated back to `segment.bytes`, appendable.
    Active,
    /// A closed segment: mapped read-only at its size, its files trimmed, no appends.
    Sealed,
}

/// Why a segment was recovered rather than trusted.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RecoveryCause {
    /// The caller asked for it (e.g. the segment lies past the log's recovery point).
    Forced,
    /// The offset index failed its check.
    OffsetIndex(RebuildReason),
    /// The time index failed its check.
    TimeIndex(RebuildReason),
    /// The batch headers from the last index entry do not chain to the end of the file (a
    /// crash left the preallocated tail, or a torn batch), or disagree with the index.
    Tail {
        /// Where the chain broke.
        position: u64,
    },
}

/// What opening a segment found and did.
#[derive(Debug)]
pub struct OpenReport {
    /// `None` when the segment was trusted as it was; the cause when it was recovered.
    pub recovered: Option<RecoveryCause>,
    /// Length of the `.log` file before opening.
    pub file_len: u64,
    /// End of the valid batches (the new file length for a sealed segment).
    pub valid_end: u32,
    /// Batches validated by recovery (0 when trusted).
    pub batches_checked: u64,
    /// The error that ended the recovery scan before the end of the file: `None` when the
    /// valid batches were followed by nothing or by preallocated zeros, `Some` for a torn or
    /// corrupt tail (which was cut off).
    pub torn: Option<SegmentError>,
}

impl OpenReport {
    /// True when recovery cut off bytes that were not preallocated zeros.
    pub fn truncated_garbage(&self) -> bool {
        self.torn.is_some()
    }
}

impl Segment {
    /// Opens the segment with base offset `base_offset` in `dir`, trusting it if the cheap
    /// checks pass and recovering it otherwise. Nothing in the files can make this panic.
    pub fn open(
        dir: &Path,
        base_offset: i64,
        config: &SegmentConfig,
        mode: OpenMode,
    ) -> Result<(Segment, OpenReport)> {
        Segment::open_with(dir, base_offset, config, mode, false)
    }

    /// As [`Segment::open`]; with `force_recovery`, validates and rebuilds unconditionally.
    pub fn open_with(
        dir: &Path,
        base_offset: i64,
        config: &SegmentConfig,
        mode: OpenMode,
        force_recovery: bool,
    ) -> Result<(Segment, OpenReport)> {
        config.validate()?;
        let paths = SegmentPaths::new(dir, base_offset);
        let file = file::open_rw(&paths.log, false)?;
        let file_len = file
            .metadata()
            .map_err(file::io_err("stat", &paths.log))?
            .len();
        if file_len > i32::MAX as u64 {
            return Err(SegmentError::FileTooLarge {
                path: paths.log,
                len: file_len,
            });
        }
        let capacity = match mode {
            OpenMode::Active => {
                let capacity = file_len.max(u64::from(config.segment_bytes));
                file::preallocate(&file, &paths.log, capacity)?;
                capacity
            }
            OpenMode::Sealed => file_len,
        };
        let map = file::map(&file, &paths.log, capacity, mode == OpenMode::Active)?;
        let index_bytes = u64::from(config.segment_index_bytes);
        let (offset_index, offset_check) =
            OffsetIndex::open(&paths.index, base_offset, index_bytes, file_len)?;
        let (time_index, time_check) =
            TimeIndex::open(&paths.time_index, base_offset, index_bytes)?;
        let mut segment = Segment::assemble(
            file,
            paths,
            map,
            offset_index,
            time_index,
            *config,
            capacity as u32,
            Recovered::empty(base_offset),
            false,
        );

        let cause = match (force_recovery, offset_check, time_check) {
            (true, _, _) => Some(RecoveryCause::Forced),
            (_, IndexCheck::Rebuild(r), _) => Some(RecoveryCause::OffsetIndex(r)),
            (_, _, IndexCheck::Rebuild(r)) => Some(RecoveryCause::TimeIndex(r)),
            _ => match segment.walk_tail(file_len as u32) {
                Ok(state) => {
                    segment.restore(state);
                    None
                }
                Err(position) => Some(RecoveryCause::Tail { position }),
            },
        };
        let mut report = OpenReport {
            recovered: cause,
            file_len,
            valid_end: segment.end,
            batches_checked: 0,
            torn: None,
        };
        if report.recovered.is_some() {
            segment.recover(file_len as u32, mode, &mut report)?;
        }
        if mode == OpenMode::Sealed {
            segment.seal_after_open()?;
        }
        Ok((segment, report))
    }

    /// The cheap check: from the last offset index entry, batch headers must chain with
    /// contiguous offsets to exactly `file_len`. Returns the state, or where it broke.
    fn walk_tail(&self, file_len: u32) -> std::result::Result<Recovered, u64> {
        let base = self.base_offset();
        let mut state = Recovered::empty(base);
        if file_len == 0 {
            let indexes_empty = self.offset_index.entries() == 0 && self.time_index.entries() == 0;
            return if indexes_empty { Ok(state) } else { Err(0) };
        }
        let bytes = self.bytes_below(file_len).ok_or(0u64)?;
        // The first batch's max timestamp decides segment.ms rolling.
        if file_len > 0 {
            let first = Batch::parse(bytes, 0).map_err(|_| 0u64)?;
            state.tracking.rolling_timestamp = Some(first.max_timestamp());
        }
        let (from, expect_last) = match self.offset_index.last_entry() {
            Some(e) => (e.position, Some(e.offset)),
            None => (0, None),
        };
        if let Some(t) = self.time_index.last_entry() {
            state.tracking.max_timestamp = t.timestamp;
            state.tracking.offset_of_max_timestamp = t.offset;
        }
        let mut next: Option<i64> = None;
        let tail = bytes.get(from as usize..).ok_or(u64::from(from))?;
        for batch in Batches::new(tail, u64::from(from)) {
            let batch = batch.map_err(|e| error_position(&e, u64::from(from)))?;
            let ok = match next {
                Some(n) => batch.base_offset() == n,
                None => {
                    expect_last.map_or(batch.base_offset() >= base, |l| batch.last_offset() == l)
                }
            };
            if !ok || batch.last_offset() - base > i64::from(i32::MAX) {
                return Err(batch.position());
            }
            state
                .tracking
                .see_timestamp(batch.max_timestamp(), batch.last_offset());
            next = Some(batch.next_offset());
        }
        // The time index's last entry must be the max timestamp so far: a later batch before
        // its offset with a larger timestamp means the index belongs to other data.
        if let Some(t) = self.time_index.last_entry() {
            if state.tracking.offset_of_max_timestamp < t.offset {
                return Err(u64::from(from));
            }
        }
        state.end = file_len;
        state.next_offset = next.unwrap_or(base);
        state.tracking.bytes_since_index_entry = file_len - from;
        // Entries past the end of the log mean the index belongs to other data.
        if self
            .time_index
            .last_entry()
            .is_some_and(|t| t.offset >= state.next_offset)
        {
            return Err(u64::from(from));
        }
        Ok(state)
    }

    /// Validates every batch from the start, rebuilding both indexes, and cuts the file at the
    /// first invalid or incomplete batch.
    fn recover(&mut self, file_len: u32, mode: OpenMode, report: &mut OpenReport) -> Result<()> {
        self.offset_index.clear()?;
        self.time_index.clear()?;
        let base = self.base_offset();
        self.restore(Recovered::empty(base));
        let Some(bytes) = self.bytes_below(file_len) else {
            return Ok(());
        };
        // Copy the scan's findings out of the borrowed bytes before touching `self`.
        let mut found = Vec::new();
        let (valid_end, torn) = scan_valid(bytes, base, |b| found.push(b));
        for b in &found {
            self.index_batch(b.position, b.size, b.last_offset, b.max_timestamp);
        }
        report.batches_checked = found.len() as u64;
        self.end = valid_end;
        self.next_offset = found.last().map_or(base, |b| b.last_offset + 1);
        self.synced_end = valid_end;
        self.publish();
        report.torn = torn;
        report.valid_end = valid_end;
        if valid_end < file_len {
            self.cut_tail(valid_end, mode)?;
        }
        Ok(())
    }

    /// Drops everything past `valid_end` from the file, so the bytes after the new end read as
    /// zeros (an active segment is preallocated back to its capacity).
    fn cut_tail(&mut self, valid_end: u32, mode: OpenMode) -> Result<()> {
        file::set_len(&self.file, &self.paths.log, u64::from(valid_end))?;
        match mode {
            OpenMode::Active => {
                file::preallocate(&self.file, &self.paths.log, u64::from(self.capacity))
            }
            OpenMode::Sealed => {
                // Map just the valid bytes: the old map reaches past the new end of the file.
                let path = self.paths.log.clone();
                let shared =
                    Arc::get_mut(&mut self.shared).ok_or(SegmentError::ReadersOutstanding {
                        op: "recover",
                        path,
                    })?;
                shared.map = file::map(&self.file, &self.paths.log, u64::from(valid_end), false)?;
                self.capacity = valid_end;
                Ok(())
            }
        }
    }

    /// Trims a segment opened in `Sealed` mode (its indexes were re-extended by opening them).
    fn seal_after_open(&mut self) -> Result<()> {
        self.append_final_time_entry()?;
        self.offset_index.seal()?;
        self.time_index.seal()?;
        self.sealed = true;
        self.capacity = self.end;
        Ok(())
    }

    /// Removes every batch at or past `offset` (recovery): the end moves back to the batch
    /// that contains `offset` and the indexes are cut to match. Refused while readers exist,
    /// since the bytes they borrowed would be overwritten by later appends.
    pub fn truncate_to(&mut self, offset: i64) -> Result<u64> {
        if Arc::strong_count(&self.shared) > 1 {
            return Err(SegmentError::ReadersOutstanding {
                op: "truncate",
                path: self.paths.log.clone(),
            });
        }
        if offset >= self.next_offset {
            return Ok(0);
        }
        let reader = self.reader();
        let position = match reader.locate(offset.max(self.base_offset()))? {
            Some((position, _)) => position,
            None => self.end,
        };
        drop(reader);
        let state = super::recovery::scan_state(self, position)?;
        let removed = u64::from(self.end - state.end);
        // Make everything up to the old end durable first, so that after the cut the synced
        // end can be the new end.
        self.flush()?;
        self.offset_index.truncate_to_position(state.end)?;
        self.time_index.truncate_to(state.next_offset)?;
        // Zero the cut bytes, durably, so nothing stale can follow the new end after a crash.
        if let Some(map) = self.shared.map.as_ref() {
            let (from, to) = (state.end as usize, self.end as usize);
            // SAFETY: `[from, to)` lies inside the map (below the old end); no reader exists
            // (strong count checked above), so nothing else accesses these bytes.
            unsafe { std::ptr::write_bytes(map.as_mut_ptr().add(from), 0, to - from) };
            file::sync_range(map, &self.paths.log, from, to)?;
        }
        self.restore(state);
        Ok(removed)
    }

    /// The mapped bytes `[0, len)` (at open, before any reader exists).
    fn bytes_below(&self, len: u32) -> Option<&[u8]> {
        let map = self.shared.map.as_ref()?;
        if len as usize > map.len() || len == 0 {
            return None;
        }
        // SAFETY: `[0, len)` lies inside the mapping; during open and recovery the segment has
        // no readers and nothing writes to the map while this shared borrow of `self` lives.
        Some(unsafe { std::slice::from_raw_parts(map.as_ptr(), len as usize) })
    }
}

/// One valid batch found by a scan.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ScannedBatch {
    pub position: u32,
    pub size: u32,
    pub last_offset: i64,
    pub max_timestamp: i64,
}

/// Walks `bytes` batch by batch, fully validating each (header, CRC, offsets contiguous with
/// the previous batch and within 32-bit relative range), calling `found` for each valid
/// batch. Returns the end of the valid prefix and, if it ended on something other than the
/// end of the bytes or a zeroed (preallocated) header, the error that ended it.
pub(crate) fn scan_valid(
    bytes: &[u8],
    base_offset: i64,
    mut found: impl FnMut(ScannedBatch),
) -> (u32, Option<SegmentError>) {
    let mut pos = 0usize;
    let mut expected: Option<i64> = None;
    let max_length = i32::try_from(bytes.len()).unwrap_or(i32::MAX);
    while pos < bytes.len() {
        let rest = bytes.get(pos..).unwrap_or_default();
        let checked = Batch::parse_bounded(rest, pos as u64, max_length).and_then(|batch| {
            batch.validate()?;
            let base = batch.base_offset();
            let ok = match expected {
                Some(e) => base == e,
                None => base >= base_offset,
            };
            if !ok || batch.last_offset() - base_offset > i64::from(i32::MAX) {
                let fault = HeaderFault::OffsetGap {
                    expected: expected.unwrap_or(base_offset),
                    found: base,
                };
                return Err(SegmentError::InvalidHeader {
                    position: pos as u64,
                    fault,
                });
            }
            Ok(batch)
        });
        match checked {
            Ok(batch) => {
                found(ScannedBatch {
                    position: pos as u32,
                    size: batch.size() as u32,
                    last_offset: batch.last_offset(),
                    max_timestamp: batch.max_timestamp(),
                });
                expected = Some(batch.next_offset());
                pos += batch.size();
            }
            Err(e) => {
                // A zeroed header is the preallocated region after the last write; anything
                // else, including a short run of zeros at the end of a trimmed file, was torn.
                let zeros =
                    rest.len() >= HEADER_SIZE && rest.iter().take(HEADER_SIZE).all(|&b| b == 0);
                return (pos as u32, if zeros { None } else { Some(e) });
            }
        }
    }
    (pos as u32, None)
}

/// The writer state of a segment cut at `position` (which must be a batch boundary), by a scan
/// of the batches below it. Used by `truncate_to`.
pub(crate) fn scan_state(segment: &Segment, position: u32) -> Result<Recovered> {
    let base = segment.base_offset();
    let mut state = Recovered::empty(base);
    let Some(bytes) = segment.bytes_below(position) else {
        return Ok(state);
    };
    let interval = segment.config.index_interval_bytes;
    let (end, _) = scan_valid(bytes, base, |b| {
        state
            .tracking
            .observe(b.size, b.last_offset, b.max_timestamp, interval);
        state.next_offset = b.last_offset + 1;
    });
    state.end = end;
    Ok(state)
}

fn error_position(e: &SegmentError, fallback: u64) -> u64 {
    match e {
        SegmentError::Incomplete { position, .. }
        | SegmentError::UnsupportedMagic { position, .. }
        | SegmentError::InvalidLength { position, .. }
        | SegmentError::InvalidHeader { position, .. } => *position,
        _ => fallback,
    }
}
