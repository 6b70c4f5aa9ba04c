//! What [`verify_segment`](super::verify_segment) reports: a [`Problem`] per fault, naming
//! the file and the byte position.

use std::fmt;
use std::path::PathBuf;

use super::MAX_VERIFIED_INDEX_BYTES;
use crate::error::SegmentError;

/// Which of a segment's files a problem is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SegmentFileKind {
    /// The `.log` file.
    Log,
    /// The `.index` file.
    OffsetIndex,
    /// The `.timeindex` file.
    TimeIndex,
}

/// One problem: the file, the byte position in it, and what is wrong.
#[derive(Debug)]
pub struct Problem {
    /// The file.
    pub path: PathBuf,
    /// Which of the segment's files it is.
    pub kind: SegmentFileKind,
    /// Byte position in the file: the start of the batch, or of the index entry.
    pub position: u64,
    /// What is wrong.
    pub fault: Fault,
}

impl Problem {
    /// True for the state a segment is left in when its writer did not close it (the
    /// active segment after a crash, or while an engine has it open): preallocated zeros
    /// after the last batch, or index entries never trimmed. Opening the segment recovers
    /// it. Anywhere else (a closed segment, a cleanly stopped engine) it is damage.
    pub fn is_unclosed_tail(&self) -> bool {
        matches!(
            self.fault,
            Fault::PreallocatedTail { .. } | Fault::UntrimmedIndex { .. }
        )
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} at byte {}: {}",
            self.path.display(),
            self.position,
            self.fault
        )
    }
}

/// What is wrong, for [`Problem`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Fault {
    /// A batch is not a valid RecordBatch v2: its header, CRC-32C or records. A framing
    /// error (header, length) ends the scan of the file.
    #[error("{0}")]
    Batch(SegmentError),
    /// A batch's base offset does not follow the previous batch's next offset.
    #[error("batch base offset {found} does not follow the previous batch, which ends before offset {expected}{}",
        if *.gaps_allowed { " (it goes backwards)" } else { "" })]
    OffsetNotContiguous {
        /// The previous batch's next offset.
        expected: i64,
        /// The batch's base offset.
        found: i64,
        /// Whether gaps were accepted (then only a step back is reported).
        gaps_allowed: bool,
    },
    /// The first batch's base offset is not the segment's base offset (its file name): below
    /// it, or past it in a segment without offset gaps.
    #[error(
        "the first batch's base offset {found} is not the segment's base offset {segment_base}"
    )]
    NotAtSegmentBase {
        /// The segment's base offset.
        segment_base: i64,
        /// The batch's base offset.
        found: i64,
    },
    /// A batch's last offset is more than `i32::MAX` past the segment's base offset, so it
    /// has no relative offset in the indexes.
    #[error("batch last offset {last_offset} is too far past the segment's base offset {segment_base} for a 32-bit relative offset")]
    RelativeOffsetOverflow {
        /// The segment's base offset.
        segment_base: i64,
        /// The batch's last offset.
        last_offset: i64,
    },
    /// Zeros from here to the end of the log: preallocated space after the last batch.
    #[error("{len} bytes of preallocated zeros after the last batch (the segment was not closed; opening it recovers it)")]
    PreallocatedTail {
        /// Bytes of zeros.
        len: u64,
    },
    /// An index file is missing.
    #[error("missing (opening the segment rebuilds it)")]
    MissingIndex,
    /// An index file is larger than [`MAX_VERIFIED_INDEX_BYTES`]; it was not checked.
    #[error("{len} bytes, larger than any index this tool checks ({MAX_VERIFIED_INDEX_BYTES})")]
    IndexTooLarge {
        /// The file's length.
        len: u64,
    },
    /// An index's length is not a whole number of entries: its last entry is cut short.
    #[error("length {len} is not a multiple of the {entry_size}-byte entry: the last entry is cut short")]
    IndexCutShort {
        /// The file's length.
        len: u64,
        /// Bytes per entry.
        entry_size: usize,
    },
    /// Zero entries from here to the end of the index: preallocated slots never trimmed.
    #[error("{entries} preallocated empty entries after the last one (the index was not trimmed; the segment was not closed)")]
    UntrimmedIndex {
        /// How many.
        entries: u64,
    },
    /// An index entry does not rise above the one before it.
    #[error("entry {entry}: {field} {found} does not rise above the previous entry's {previous}")]
    IndexNotIncreasing {
        /// The entry's number.
        entry: u64,
        /// "offset", "position" or "timestamp".
        field: &'static str,
        /// The previous entry's value.
        previous: i64,
        /// This entry's value.
        found: i64,
    },
    /// An offset index entry points inside a batch, not at the start of one.
    #[error("entry {entry} (offset {offset}) points at position {index_position}, which is not the start of a batch")]
    IndexPositionNotBatch {
        /// The entry's number.
        entry: u64,
        /// The entry's offset.
        offset: i64,
        /// The entry's position.
        index_position: u32,
    },
    /// An offset index entry points past the last valid batch.
    #[error("entry {entry} (offset {offset}) points at position {index_position}, past the last batch (which ends at {end})")]
    IndexPositionPastEnd {
        /// The entry's number.
        entry: u64,
        /// The entry's offset.
        offset: i64,
        /// The entry's position.
        index_position: u32,
        /// End of the valid batches.
        end: u64,
    },
    /// The batch at an offset index entry's position does not end at the entry's offset.
    #[error("entry {entry} says offset {offset} ends the batch at position {index_position}, but that batch ends at offset {batch_last_offset}")]
    IndexOffsetMismatch {
        /// The entry's number.
        entry: u64,
        /// The entry's offset.
        offset: i64,
        /// The entry's position.
        index_position: u32,
        /// The batch's last offset.
        batch_last_offset: i64,
    },
    /// A time index entry's offset is in no batch of the segment.
    #[error("entry {entry} (timestamp {timestamp}) names offset {offset}, which no batch of the segment holds")]
    TimeIndexOffsetNotFound {
        /// The entry's number.
        entry: u64,
        /// The entry's timestamp.
        timestamp: i64,
        /// The entry's offset.
        offset: i64,
    },
    /// A time index entry's timestamp is not the largest timestamp of the batches up to
    /// the one holding its offset.
    #[error("entry {entry} says timestamp {timestamp} at offset {offset}, but the largest timestamp up to that batch is {log_max_timestamp} (that batch's own: {batch_max_timestamp})")]
    TimeIndexTimestampMismatch {
        /// The entry's number.
        entry: u64,
        /// The entry's timestamp.
        timestamp: i64,
        /// The entry's offset.
        offset: i64,
        /// maxTimestamp of the batch holding the offset.
        batch_max_timestamp: i64,
        /// Largest maxTimestamp of the batches up to and including it.
        log_max_timestamp: i64,
    },
    /// A closed segment's time index lacks the entry written when it was closed: the
    /// segment's largest timestamp.
    #[error("the last entry has timestamp {last_indexed}, but the segment's largest is {segment_max_timestamp} (a closed segment's time index ends with it)")]
    TimeIndexMissingLast {
        /// The last entry's timestamp (-1 when the index is empty).
        last_indexed: i64,
        /// The largest batch maxTimestamp of the segment.
        segment_max_timestamp: i64,
    },
}
