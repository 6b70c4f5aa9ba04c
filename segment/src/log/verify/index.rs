//! The indexes' side of a verification: reading an index file, and comparing its entries
//! with the batches as the scan passes them (entries are sorted like the batches: by
//! position in the offset index, by offset in the time index).

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use super::problem::{Fault, Problem, SegmentFileKind};
use super::MAX_VERIFIED_INDEX_BYTES;
use crate::batch::Batch;
use crate::error::Result;
use crate::log::file::io_err;

/// Bytes per offset index entry.
pub(super) const OFFSET_ENTRY_BYTES: usize = 8;
/// Bytes per time index entry.
pub(super) const TIME_ENTRY_BYTES: usize = 12;

/// An index file's entries, as read.
pub(super) struct IndexFile<const N: usize> {
    path: PathBuf,
    /// The entries before an untrimmed zero tail (if any).
    entries: Vec<[u8; N]>,
    /// Whether a zero tail was found (the index was never trimmed).
    untrimmed: bool,
}

/// Reads an index file, reporting a missing, oversized, cut-short or untrimmed one.
/// `None` when there is nothing to check entries against.
pub(super) fn load_index<const N: usize>(
    path: &Path,
    kind: SegmentFileKind,
    problems: &mut Vec<Problem>,
) -> Result<Option<IndexFile<N>>> {
    let mut report = |position: u64, fault: Fault| {
        problems.push(Problem {
            path: path.to_path_buf(),
            kind,
            position,
            fault,
        })
    };
    let file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            report(0, Fault::MissingIndex);
            return Ok(None);
        }
        Err(e) => return Err(io_err("open", path)(e)),
    };
    let len = file.metadata().map_err(io_err("stat", path))?.len();
    if len > MAX_VERIFIED_INDEX_BYTES {
        report(0, Fault::IndexTooLarge { len });
        return Ok(None);
    }
    let mut bytes = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
    file.take(MAX_VERIFIED_INDEX_BYTES)
        .read_to_end(&mut bytes)
        .map_err(io_err("read", path))?;
    let whole = bytes.len() / N * N;
    if whole != bytes.len() {
        let fault = Fault::IndexCutShort {
            len: bytes.len() as u64,
            entry_size: N,
        };
        report(whole as u64, fault);
    }
    let mut entries: Vec<[u8; N]> = bytes
        .chunks_exact(N)
        .filter_map(|c| c.try_into().ok())
        .collect();
    // Zero entries at the end: a preallocated index never trimmed. The first entry counts
    // only when every entry is zero (a real first entry can be all zeros in a time index:
    // timestamp 0 at the base offset).
    let nonzero_len = entries
        .iter()
        .rposition(|e| e.iter().any(|&b| b != 0))
        .map_or(0, |i| i + 1);
    let zero_from = if nonzero_len == 0 && entries.len() == 1 {
        1
    } else {
        nonzero_len
    };
    let untrimmed = zero_from < entries.len();
    if untrimmed {
        let fault = Fault::UntrimmedIndex {
            entries: (entries.len() - zero_from) as u64,
        };
        report((zero_from * N) as u64, fault);
        entries.truncate(zero_from);
    }
    Ok(Some(IndexFile {
        path: path.to_path_buf(),
        entries,
        untrimmed,
    }))
}

fn be_u32(bytes: &[u8], at: usize) -> u32 {
    bytes
        .get(at..at + 4)
        .and_then(|b| b.try_into().ok())
        .map_or(0, u32::from_be_bytes)
}

fn be_i64(bytes: &[u8], at: usize) -> i64 {
    bytes
        .get(at..at + 8)
        .and_then(|b| b.try_into().ok())
        .map_or(0, i64::from_be_bytes)
}

/// How an entry fails to rise above the previous one: (field, previous, found).
type StepBack = Option<(&'static str, i64, i64)>;

/// The entries of `index`, decoded, up to the first that does not rise above the one
/// before it (reported): entries past a step back cannot be matched with the batches in
/// order.
fn rising_prefix<const N: usize, E>(
    index: &IndexFile<N>,
    kind: SegmentFileKind,
    decode: impl Fn(&[u8; N]) -> E,
    step_back: impl Fn(&E, &E) -> StepBack,
    problems: &mut Vec<Problem>,
) -> Vec<E> {
    let mut entries: Vec<E> = Vec::with_capacity(index.entries.len());
    for (i, raw) in index.entries.iter().enumerate() {
        let entry = decode(raw);
        let fault = entries.last().and_then(|last| step_back(last, &entry));
        if let Some((field, previous, found)) = fault {
            problems.push(Problem {
                path: index.path.clone(),
                kind,
                position: (i * N) as u64,
                fault: Fault::IndexNotIncreasing {
                    entry: i as u64,
                    field,
                    previous,
                    found,
                },
            });
            break;
        }
        entries.push(entry);
    }
    entries
}

/// The offset index entries, in position order, compared with batches as the scan passes.
pub(super) struct OffsetChecker {
    path: PathBuf,
    /// (offset, position) of the entries that rise, in order.
    entries: Vec<(i64, u32)>,
    next: usize,
}

impl OffsetChecker {
    pub(super) fn new(index: Option<IndexFile<8>>, base: i64, problems: &mut Vec<Problem>) -> Self {
        let Some(index) = index else {
            return OffsetChecker {
                path: PathBuf::new(),
                entries: Vec::new(),
                next: 0,
            };
        };
        let decode = |raw: &[u8; 8]| (base + i64::from(be_u32(raw, 0)), be_u32(raw, 4));
        let step_back = |&(offset, position): &(i64, u32), &(o, p): &(i64, u32)| {
            if o <= offset {
                Some(("offset", offset, o))
            } else if p <= position {
                Some(("position", i64::from(position), i64::from(p)))
            } else {
                None
            }
        };
        let kind = SegmentFileKind::OffsetIndex;
        let entries = rising_prefix(&index, kind, decode, step_back, problems);
        OffsetChecker {
            path: index.path,
            entries,
            next: 0,
        }
    }

    fn problem(&self, entry: usize, fault: Fault) -> Problem {
        Problem {
            path: self.path.clone(),
            kind: SegmentFileKind::OffsetIndex,
            position: (entry * OFFSET_ENTRY_BYTES) as u64,
            fault,
        }
    }

    /// Checks the entries up to the batch at `position` (ending at `last_offset`).
    pub(super) fn see_batch(
        &mut self,
        position: u64,
        last_offset: i64,
        problems: &mut Vec<Problem>,
    ) {
        while let Some(&(offset, index_position)) = self.entries.get(self.next) {
            let at = u64::from(index_position);
            if at > position {
                break;
            }
            let entry = self.next as u64;
            if at < position {
                let fault = Fault::IndexPositionNotBatch {
                    entry,
                    offset,
                    index_position,
                };
                problems.push(self.problem(self.next, fault));
            } else if offset != last_offset {
                let fault = Fault::IndexOffsetMismatch {
                    entry,
                    offset,
                    index_position,
                    batch_last_offset: last_offset,
                };
                problems.push(self.problem(self.next, fault));
            }
            self.next += 1;
        }
    }

    /// Entries checked (those before an untrimmed tail or a step back).
    pub(super) fn entry_count(&self) -> u64 {
        self.entries.len() as u64
    }

    /// Entries left after the last batch point past it.
    pub(super) fn finish(&mut self, end: u64, problems: &mut Vec<Problem>) {
        while let Some(&(offset, index_position)) = self.entries.get(self.next) {
            let fault = Fault::IndexPositionPastEnd {
                entry: self.next as u64,
                offset,
                index_position,
                end,
            };
            problems.push(self.problem(self.next, fault));
            self.next += 1;
        }
    }
}

/// The time index entries, in offset order, compared with batches as the scan passes.
pub(super) struct TimeChecker {
    path: PathBuf,
    /// (timestamp, offset) of the entries that rise, in order.
    entries: Vec<(i64, i64)>,
    next: usize,
    present: bool,
    untrimmed: bool,
    /// Largest batch maxTimestamp seen so far.
    max_so_far: i64,
}

impl TimeChecker {
    pub(super) fn new(
        index: Option<IndexFile<12>>,
        base: i64,
        problems: &mut Vec<Problem>,
    ) -> Self {
        let Some(index) = index else {
            return TimeChecker {
                path: PathBuf::new(),
                entries: Vec::new(),
                next: 0,
                present: false,
                untrimmed: false,
                max_so_far: -1,
            };
        };
        let decode = |raw: &[u8; 12]| (be_i64(raw, 0), base + i64::from(be_u32(raw, 8)));
        let step_back = |&(timestamp, offset): &(i64, i64), &(t, o): &(i64, i64)| {
            if t <= timestamp {
                Some(("timestamp", timestamp, t))
            } else if o < offset {
                Some(("offset", offset, o))
            } else {
                None
            }
        };
        let kind = SegmentFileKind::TimeIndex;
        let entries = rising_prefix(&index, kind, decode, step_back, problems);
        TimeChecker {
            path: index.path,
            entries,
            next: 0,
            present: true,
            untrimmed: index.untrimmed,
            max_so_far: -1,
        }
    }

    fn problem(&self, entry: usize, fault: Fault) -> Problem {
        Problem {
            path: self.path.clone(),
            kind: SegmentFileKind::TimeIndex,
            position: (entry * TIME_ENTRY_BYTES) as u64,
            fault,
        }
    }

    /// Checks the entries whose offsets fall up to the end of `batch`.
    pub(super) fn see_batch(&mut self, batch: &Batch<'_>, problems: &mut Vec<Problem>) {
        let batch_max = batch.max_timestamp();
        self.max_so_far = self.max_so_far.max(batch_max);
        while let Some(&(timestamp, offset)) = self.entries.get(self.next) {
            if offset > batch.last_offset() {
                break;
            }
            let entry = self.next as u64;
            let fault = if offset < batch.base_offset() {
                Some(Fault::TimeIndexOffsetNotFound {
                    entry,
                    timestamp,
                    offset,
                })
            } else if timestamp != batch_max || timestamp != self.max_so_far {
                Some(Fault::TimeIndexTimestampMismatch {
                    entry,
                    timestamp,
                    offset,
                    batch_max_timestamp: batch_max,
                    log_max_timestamp: self.max_so_far,
                })
            } else {
                None
            };
            if let Some(fault) = fault {
                problems.push(self.problem(self.next, fault));
            }
            self.next += 1;
        }
    }

    /// Entries checked (those before an untrimmed tail or a step back).
    pub(super) fn entry_count(&self) -> u64 {
        self.entries.len() as u64
    }

    /// Largest batch maxTimestamp seen so far (-1 when none).
    pub(super) fn max_timestamp(&self) -> i64 {
        self.max_so_far
    }

    /// Entries left name offsets past the last batch; a closed segment's index ends with
    /// its largest timestamp.
    pub(super) fn finish(&mut self, closed: bool, problems: &mut Vec<Problem>) {
        while let Some(&(timestamp, offset)) = self.entries.get(self.next) {
            let fault = Fault::TimeIndexOffsetNotFound {
                entry: self.next as u64,
                timestamp,
                offset,
            };
            problems.push(self.problem(self.next, fault));
            self.next += 1;
        }
        let last_indexed = self.entries.last().map_or(-1, |&(t, _)| t);
        if closed && self.present && !self.untrimmed && last_indexed < self.max_so_far {
            let fault = Fault::TimeIndexMissingLast {
                last_indexed,
                segment_max_timestamp: self.max_so_far,
            };
            let last = self.entries.len().saturating_sub(1);
            problems.push(self.problem(last, fault));
        }
    }
}
