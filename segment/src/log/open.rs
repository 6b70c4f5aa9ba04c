//! Opening a segment: the cheap check that trusts a cleanly closed one, shared by the writer's
//! [`Segment::open`] and the read-only [`SegmentReader::open_sealed`].
//!
//! A segment is trusted when both indexes pass their checks and the batch headers from the
//! last offset index entry chain exactly to the end of the file with contiguous offsets (and,
//! for appends, the last batch passes its CRC): that reads a few KiB, not the segment. Anything else (a preallocated tail of zeros after
//! a crash, a torn batch, a bad index) calls for recovery (`recovery.rs`).

use std::path::Path;
use std::sync::Arc;

use silt_index::{
    IndexCheck, OffsetIndex, OffsetIndexReader, RebuildReason, TimeIndex, TimeIndexReader,
};

use super::config::SegmentConfig;
use super::file::{LogMap, SegmentPaths};
use super::reader::SegmentReader;
use super::segment::Segment;
use super::shared::Shared;
use super::tracking::Recovered;
use crate::batch::{Batch, Batches};
use crate::error::{Result, SegmentError};

/// How a segment is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenMode {
    /// The active segment: mapped read-write, preallocated back to `segment.bytes`, appendable.
    Active,
    /// A closed segment: mapped read-only at its size, no appends. A trusted one is opened
    /// as it is, writing nothing; a recovered one is cut and its files trimmed.
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

/// Options of [`Segment::open_with_options`] and [`SegmentReader::open_sealed_with_options`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OpenOptions {
    /// Validate and rebuild unconditionally (recovery), instead of trusting a segment that
    /// passes the cheap checks.
    pub force_recovery: bool,
    /// Accept batches whose base offset lies past the previous batch's next offset: the
    /// offsets a compacted segment leaves unused (Kafka's recovery accepts them always).
    /// Without it, such a gap is treated as corruption: the base offset lies outside the
    /// CRC, so contiguity is what detects a damaged one in a segment never compacted.
    pub offset_gaps: bool,
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

/// What [`SegmentReader::open_sealed`] found.
#[derive(Debug)]
pub enum SealedOpen {
    /// The segment passed the cheap checks: a reader of it, as it is.
    Trusted(SegmentReader),
    /// The segment failed them, and why; nothing was written. Open it with
    /// [`Segment::open`] in [`OpenMode::Sealed`] to recover it.
    NeedsRecovery(RecoveryCause),
}

impl Segment {
    /// Opens the segment with base offset `base_offset` in `dir`, trusting it if the cheap
    /// checks pass and recovering it otherwise. Nothing in the files can make this panic.
    /// No file stays open.
    pub fn open(
        dir: &Path,
        base_offset: i64,
        config: &SegmentConfig,
        mode: OpenMode,
    ) -> Result<(Segment, OpenReport)> {
        Segment::open_with(dir, base_offset, config, mode, false)
    }

    /// As [`Segment::open`]; with `force_recovery`, validates and rebuilds unconditionally.
    ///
    /// In [`OpenMode::Sealed`], a trusted segment is opened as it is, writing nothing: the log
    /// is mapped read-only and both indexes at their file lengths. In [`OpenMode::Active`] the
    /// log and both indexes are preallocated back to their maximum sizes for appends.
    pub fn open_with(
        dir: &Path,
        base_offset: i64,
        config: &SegmentConfig,
        mode: OpenMode,
        force_recovery: bool,
    ) -> Result<(Segment, OpenReport)> {
        let options = OpenOptions {
            force_recovery,
            offset_gaps: false,
        };
        Segment::open_with_options(dir, base_offset, config, mode, options)
    }

    /// As [`Segment::open_with`], with [`OpenOptions`] (recovery forced, offset gaps
    /// accepted).
    pub fn open_with_options(
        dir: &Path,
        base_offset: i64,
        config: &SegmentConfig,
        mode: OpenMode,
        options: OpenOptions,
    ) -> Result<(Segment, OpenReport)> {
        let OpenOptions {
            force_recovery,
            offset_gaps,
        } = options;
        config.validate()?;
        let paths = SegmentPaths::new(dir, base_offset);
        let log = LogMap::open(&paths.log, config, mode)?;
        let file_len = log.file_len;
        let index_bytes = u64::from(config.segment_index_bytes);
        let ((offset_index, offset_check), (time_index, time_check)) = match mode {
            OpenMode::Active => (
                OffsetIndex::open(&paths.index, base_offset, index_bytes, file_len)?,
                TimeIndex::open(&paths.time_index, base_offset, index_bytes)?,
            ),
            OpenMode::Sealed => (
                OffsetIndex::open_sealed(&paths.index, base_offset, index_bytes, file_len)?,
                TimeIndex::open_sealed(&paths.time_index, base_offset, index_bytes)?,
            ),
        };
        let verdict = if force_recovery {
            Err(RecoveryCause::Forced)
        } else {
            let offset = (&offset_index.reader(), offset_check);
            trust(
                &log,
                (base_offset, offset_gaps, mode == OpenMode::Active),
                offset,
                (&time_index.reader(), time_check),
            )
        };
        let mut report = OpenReport {
            recovered: verdict.as_ref().err().cloned(),
            file_len,
            valid_end: 0,
            batches_checked: 0,
            torn: None,
        };
        let indexes = (offset_index, time_index);
        let segment = match verdict {
            Ok(state) => {
                report.valid_end = state.end;
                let sealed = mode == OpenMode::Sealed;
                let mut segment = Segment::assemble(paths, log, indexes, *config, state, sealed);
                segment.set_offset_gaps(offset_gaps);
                if mode == OpenMode::Active && log_grew(&segment, file_len) {
                    segment.shared.note_len_change();
                }
                segment
            }
            Err(_) => {
                let how = (mode, offset_gaps);
                Segment::recover(paths, log, indexes, config, how, &mut report)?
            }
        };
        Ok((segment, report))
    }
}

/// Whether opening preallocated the log past the length it had.
fn log_grew(segment: &Segment, file_len: u64) -> bool {
    u64::from(segment.capacity) > file_len
}

impl SegmentReader {
    /// Opens a closed segment for reading only, writing nothing: the `.log` file and both
    /// indexes are opened read-only and mapped at their lengths (so this works on read-only
    /// files), and the same cheap checks as [`Segment::open`] decide whether the segment can
    /// be trusted as it is. No file stays open.
    ///
    /// A segment that fails them, including one whose index file is missing (Kafka deletes
    /// them sometimes), is [`SealedOpen::NeedsRecovery`], not an error: the caller then
    /// recovers it with [`Segment::open`] in [`OpenMode::Sealed`]. An empty `.log` file with
    /// empty indexes is trusted, with an empty reader. Errors are I/O failures (a missing
    /// `.log` file among them) and bad arguments.
    ///
    /// ```
    /// use silt_segment::batch::{BatchBuilder, BatchConfig};
    /// use silt_segment::log::{SealedOpen, Segment, SegmentConfig, SegmentReader};
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
    /// let SealedOpen::Trusted(reader) = SegmentReader::open_sealed(dir.path(), 0, &config)? else {
    ///     panic!("a sealed segment is trusted");
    /// };
    /// assert_eq!(reader.next_offset(), 1);
    /// assert!(reader.is_sealed());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn open_sealed(dir: &Path, base_offset: i64, config: &SegmentConfig) -> Result<SealedOpen> {
        SegmentReader::open_sealed_with_options(dir, base_offset, config, OpenOptions::default())
    }

    /// As [`SegmentReader::open_sealed`], accepting offset gaps between batches when
    /// `options.offset_gaps` is set (`force_recovery` is ignored: this never recovers).
    pub fn open_sealed_with_options(
        dir: &Path,
        base_offset: i64,
        config: &SegmentConfig,
        options: OpenOptions,
    ) -> Result<SealedOpen> {
        config.validate()?;
        if base_offset < 0 {
            return Err(SegmentError::InvalidBaseOffset(base_offset));
        }
        let paths = SegmentPaths::new(dir, base_offset);
        let log = LogMap::open(&paths.log, config, OpenMode::Sealed)?;
        let index_bytes = u64::from(config.segment_index_bytes);
        let (offset_index, offset_check) = OffsetIndexReader::open_read_only(
            &paths.index,
            base_offset,
            index_bytes,
            log.file_len,
        )?;
        let (time_index, time_check) =
            TimeIndexReader::open_read_only(&paths.time_index, base_offset, index_bytes)?;
        let offset = (&offset_index, offset_check);
        let base = (base_offset, options.offset_gaps, false);
        let state = match trust(&log, base, offset, (&time_index, time_check)) {
            Ok(state) => state,
            Err(cause) => return Ok(SealedOpen::NeedsRecovery(cause)),
        };
        let shared = Shared::new(paths.log, log.map, &state, offset_index, time_index);
        shared.set_offset_gaps(options.offset_gaps);
        shared.mark_sealed();
        Ok(SealedOpen::Trusted(SegmentReader::new(Arc::new(shared))))
    }
}

/// The cheap checks that decide whether a segment is trusted as it is: both indexes passed
/// theirs, and the tail walk ([`walk_tail`], given (base offset, offset gaps, check the last
/// batch's CRC)) chains to the end of the file. Returns the state the segment's bytes leave,
/// or why it must be recovered.
fn trust(
    log: &LogMap,
    walk: (i64, bool, bool),
    (offset_index, offset_check): (&OffsetIndexReader, IndexCheck),
    (time_index, time_check): (&TimeIndexReader, IndexCheck),
) -> std::result::Result<Recovered, RecoveryCause> {
    if let IndexCheck::Rebuild(reason) = offset_check {
        return Err(RecoveryCause::OffsetIndex(reason));
    }
    if let IndexCheck::Rebuild(reason) = time_check {
        return Err(RecoveryCause::TimeIndex(reason));
    }
    walk_tail(log.bytes(), walk, offset_index, time_index)
        .map_err(|position| RecoveryCause::Tail { position })
}

/// The tail walk: from the last offset index entry, batch headers must chain with contiguous
/// offsets to exactly the end of `bytes` (the whole file), with `check_last_crc` (a segment
/// opened for appends) the last batch must pass its CRC-32C, and the time index must agree
/// with them. Returns the state, or where it broke.
fn walk_tail(
    bytes: &[u8],
    (base, offset_gaps, check_last_crc): (i64, bool, bool),
    offset_index: &OffsetIndexReader,
    time_index: &TimeIndexReader,
) -> std::result::Result<Recovered, u64> {
    let mut state = Recovered::empty(base);
    if bytes.is_empty() {
        let indexes_empty = offset_index.entries() == 0 && time_index.entries() == 0;
        return if indexes_empty { Ok(state) } else { Err(0) };
    }
    // At most `i32::MAX`: `LogMap::open` checks the file length.
    let file_len = bytes.len() as u32;
    // The first batch's max timestamp decides segment.ms rolling.
    let first = Batch::parse(bytes, 0).map_err(|_| 0u64)?;
    // The first batch starts at the segment's base offset (past it only with compaction's
    // gaps), as the reader requires of a scan from the start, wherever the walk begins.
    let first_at_base = if offset_gaps {
        first.base_offset() >= base
    } else {
        first.base_offset() == base
    };
    if !first_at_base {
        return Err(0);
    }
    state.tracking.rolling_timestamp = Some(first.max_timestamp());
    let (from, expect_last) = match offset_index.last_entry() {
        Some(e) => (e.position, Some(e.offset)),
        None => (0, None),
    };
    let last_time_entry = time_index.last_entry();
    if let Some(t) = last_time_entry {
        state.tracking.max_timestamp = t.timestamp;
        state.tracking.offset_of_max_timestamp = t.offset;
    }
    let mut next: Option<i64> = None;
    let mut last: Option<Batch<'_>> = None;
    let tail = bytes.get(from as usize..).ok_or(u64::from(from))?;
    for batch in Batches::new(tail, u64::from(from)) {
        let batch = batch.map_err(|e| error_position(&e, u64::from(from)))?;
        let ok = match next {
            Some(n) if offset_gaps => batch.base_offset() >= n,
            Some(n) => batch.base_offset() == n,
            // From the start, `first` was checked above.
            None => expect_last.is_none_or(|l| batch.last_offset() == l),
        };
        if !ok || batch.last_offset() - base > i64::from(i32::MAX) {
            return Err(batch.position());
        }
        state
            .tracking
            .see_timestamp(batch.max_timestamp(), batch.last_offset());
        next = Some(batch.next_offset());
        last = Some(batch);
    }
    // The last batch's header gives the next offset, and its lastOffsetDelta lies inside the
    // CRC only: appends must not go on from a damaged one. (Readers check every CRC.)
    if let Some(batch) = last.filter(|_| check_last_crc) {
        batch.validate().map_err(|_| batch.position())?;
    }
    state.end = file_len;
    state.next_offset = next.unwrap_or(base);
    state.tracking.bytes_since_index_entry = file_len - from;
    if let Some(t) = last_time_entry {
        // The time index's last entry must be the max timestamp so far: a later batch before
        // its offset with a larger timestamp means the index belongs to other data; and so do
        // entries past the end of the log.
        if state.tracking.offset_of_max_timestamp < t.offset || t.offset >= state.next_offset {
            return Err(u64::from(from));
        }
    }
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
