//! Recovery of a segment that failed the cheap checks at open (Kafka's `LogSegment.recover`),
//! and truncation.
//!
//! Every batch from the start is validated (length, magic, CRC-32C, offsets contiguous), the
//! file is cut at the first invalid or incomplete batch, and both indexes are rebuilt from
//! the valid batches with the rule appends use.

use std::sync::Arc;

use silt_index::{OffsetIndex, TimeIndex};

use std::path::Path;

use super::config::SegmentConfig;
use super::file::{self, LogMap, SegmentPaths};
use super::open::{OpenMode, OpenOptions, OpenReport};
use super::segment::Segment;
use super::tracking::Recovered;
use crate::batch::{Batch, HEADER_SIZE};
use crate::error::{HeaderFault, Result, SegmentError};

impl Segment {
    /// Recovers the segment whose log `log` maps and whose indexes were opened as `indexes`:
    /// rebuilds both indexes from every valid batch, cuts the file after the last one, makes
    /// what it kept durable, and in `Sealed` mode trims the files and seals the segment.
    pub(crate) fn recover(
        paths: SegmentPaths,
        log: LogMap,
        (offset_index, time_index): (OffsetIndex, TimeIndex),
        config: &SegmentConfig,
        (mode, offset_gaps): (OpenMode, bool),
        report: &mut OpenReport,
    ) -> Result<Segment> {
        let base = offset_index.base_offset();
        let index_bytes = u64::from(config.segment_index_bytes);
        // An index opened as it was (sealed, mapped at its length) takes no appends: the
        // rebuild starts from a new, preallocated one. An appendable one is cleared.
        let mut offset_index = if offset_index.is_sealed() {
            OffsetIndex::create(&paths.index, base, index_bytes)?
        } else {
            offset_index
        };
        let mut time_index = if time_index.is_sealed() {
            TimeIndex::create(&paths.time_index, base, index_bytes)?
        } else {
            time_index
        };
        offset_index.clear()?;
        time_index.clear()?;
        // At most `i32::MAX`: `LogMap::open` checks it.
        let file_len = log.file_len as u32;
        let indexes = (offset_index, time_index);
        let state = Recovered::empty(base);
        let mut segment = Segment::assemble(paths, log, indexes, *config, state, false);
        segment.set_offset_gaps(offset_gaps);
        segment.rebuild(file_len, mode, report)?;
        if mode == OpenMode::Sealed {
            segment.seal_after_open()?;
        }
        Ok(segment)
    }

    /// Validates every batch from the start, rebuilding both (empty) indexes, and cuts the file
    /// at the first invalid or incomplete batch.
    fn rebuild(&mut self, file_len: u32, mode: OpenMode, report: &mut OpenReport) -> Result<()> {
        let base = self.base_offset();
        // Copy the scan's findings out of the borrowed bytes before touching `self`.
        let mut found = Vec::new();
        let gaps = self.offset_gaps;
        let (valid_end, torn) = match self.bytes_below(file_len) {
            Some(bytes) => scan_valid(bytes, (base, gaps), |b| found.push(b)),
            None => (0, None),
        };
        for b in &found {
            self.index_batch(b.position, b.size, b.last_offset, b.max_timestamp);
        }
        report.batches_checked = found.len() as u64;
        report.torn = torn;
        report.valid_end = valid_end;
        self.cut_and_sync(file_len, valid_end, mode)?;
        self.restore(Recovered {
            end: valid_end,
            next_offset: found.last().map_or(base, |b| b.last_offset + 1),
            tracking: self.tracking,
        });
        Ok(())
    }

    /// Drops everything past `valid_end` from the file, so the bytes after the new end read as
    /// zeros (an active segment is preallocated back to its capacity, a sealed one mapped again
    /// at its new length), then fdatasyncs the file. Recovery trusts bytes it read from the
    /// page cache, which outlive a crash of the process but not of the machine: they must be
    /// durable before the segment calls them synced.
    fn cut_and_sync(&mut self, file_len: u32, valid_end: u32, mode: OpenMode) -> Result<()> {
        let path = self.paths.log.clone();
        let file = file::open_rw(&path, false)?;
        if valid_end < file_len {
            file::set_len(&file, &path, u64::from(valid_end))?;
            match mode {
                OpenMode::Active => file::preallocate(&file, &path, u64::from(self.capacity))?,
                OpenMode::Sealed => {
                    // The old map reaches past the new end of the file.
                    let new_map = file::map(&file, &path, u64::from(valid_end), false)?;
                    let shared = Arc::get_mut(&mut self.shared).ok_or_else(|| {
                        SegmentError::ReadersOutstanding {
                            op: "recover",
                            path: path.clone(),
                        }
                    })?;
                    shared.map = new_map;
                    self.capacity = valid_end;
                }
            }
        }
        file::sync_data(&file, &path)?;
        self.shared.note_file_synced();
        Ok(())
    }

    /// Seals a segment recovered in `Sealed` mode: the roll-time time index entry, and both
    /// indexes trimmed (the log was cut to its valid end already).
    fn seal_after_open(&mut self) -> Result<()> {
        self.append_final_time_entry()?;
        self.offset_index.seal()?;
        self.time_index.seal()?;
        self.sealed = true;
        self.shared.mark_sealed();
        self.capacity = self.end;
        Ok(())
    }

    /// Removes every batch at or past `offset` (recovery): the end moves back to the batch
    /// that contains `offset` and the indexes are cut to match. Refused while readers, syncers
    /// or pretouchers exist, since the bytes they borrowed would be overwritten by later
    /// appends, and refused with [`SegmentError::Sealed`] for a sealed segment, whose files
    /// are trimmed and whose log may be mapped read-only: reopen it in
    /// [`OpenMode::Active`] first.
    pub fn truncate_to(&mut self, offset: i64) -> Result<u64> {
        if self.sealed {
            return Err(SegmentError::Sealed {
                path: self.paths.log.clone(),
            });
        }
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
        let state = scan_state(self, position)?;
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

/// What recovery would keep of a segment's log, found by [`check_log`] without writing
/// anything.
#[derive(Debug)]
pub struct LogCheck {
    /// Length of the `.log` file.
    pub file_len: u64,
    /// End of the valid batches: where recovery would cut the file.
    pub valid_end: u32,
    /// Offset after the last valid batch (the base offset when there is none).
    pub next_offset: i64,
    /// Why the valid batches end before the file does, unless what follows them is
    /// preallocated zeros: the torn or corrupt batch recovery would cut off with everything
    /// after it. `None` when recovery would lose no batch.
    pub fault: Option<SegmentError>,
}

/// Validates every batch of the log of segment `base_offset` in `dir` as recovery does
/// (framing, CRC-32C, offsets contiguous, or rising with `options.offset_gaps`), reading the
/// file through a read-only map and writing nothing. A caller that must not lose data, such
/// as a reader of a segment closed long ago, asks this before letting recovery cut a file.
///
/// ```
/// use silt_segment::batch::{BatchBuilder, BatchConfig};
/// use silt_segment::log::{check_log, segment_file, OpenOptions, Segment, SegmentConfig};
///
/// let dir = tempfile::tempdir()?;
/// let config = SegmentConfig { segment_bytes: 1 << 20, ..SegmentConfig::default() };
/// let mut segment = Segment::create(dir.path(), 0, &config)?;
/// let mut builder = BatchBuilder::new(BatchConfig::default());
/// builder.append(1_700_000_000_000, None, Some(b"hello"), &[])?;
/// segment.append(&builder.finish()?)?;
/// segment.seal()?;
/// drop(segment);
///
/// let log = segment_file(dir.path(), 0, "log");
/// let mut bytes = std::fs::read(&log)?;
/// bytes[70] ^= 1; // inside the record: the CRC no longer matches
/// std::fs::write(&log, &bytes)?;
/// let check = check_log(dir.path(), 0, &config, OpenOptions::default())?;
/// assert_eq!((check.valid_end, check.next_offset), (0, 0));
/// assert!(check.fault.is_some());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn check_log(
    dir: &Path,
    base_offset: i64,
    config: &SegmentConfig,
    options: OpenOptions,
) -> Result<LogCheck> {
    config.validate()?;
    if base_offset < 0 {
        return Err(SegmentError::InvalidBaseOffset(base_offset));
    }
    let paths = SegmentPaths::new(dir, base_offset);
    let log = LogMap::open(&paths.log, config, OpenMode::Sealed)?;
    let bytes = log.bytes();
    let mut next_offset = base_offset;
    let (valid_end, mut fault) = scan_valid(bytes, (base_offset, options.offset_gaps), |b| {
        next_offset = b.last_offset + 1;
    });
    // Recovery takes a zeroed header for the preallocated region; here the zeros must run
    // to the end of the file, or batches follow them that recovery would cut.
    let rest = bytes.get(valid_end as usize..).unwrap_or_default();
    if fault.is_none() && rest.iter().any(|&b| b != 0) {
        fault = Batch::parse(rest, u64::from(valid_end)).err();
    }
    Ok(LogCheck {
        file_len: log.file_len,
        valid_end,
        next_offset,
        fault,
    })
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
/// the previous batch, or only rising with `offset_gaps`, and within 32-bit relative range),
/// calling `found` for each valid
/// batch. Returns the end of the valid prefix and, if it ended on something other than the
/// end of the bytes or a zeroed (preallocated) header, the error that ended it.
pub(crate) fn scan_valid(
    bytes: &[u8],
    (base_offset, offset_gaps): (i64, bool),
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
                Some(e) if offset_gaps => base >= e,
                Some(e) => base == e,
                // The first batch starts at the segment's base offset, as the reader
                // requires (past it only where compaction leaves gaps).
                None if offset_gaps => base >= base_offset,
                None => base == base_offset,
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
    let (end, _) = scan_valid(bytes, (base, segment.offset_gaps), |b| {
        state
            .tracking
            .observe(b.size, b.last_offset, b.max_timestamp, interval);
        state.next_offset = b.last_offset + 1;
    });
    state.end = end;
    Ok(state)
}
