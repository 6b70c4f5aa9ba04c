//! [`verify_segment`]: a full, read-only check of one segment's three files, reporting
//! every problem by file and byte position (`silt verify`).
//!
//! Opening a segment ([`Segment::open`](super::Segment::open)) answers a different
//! question: can it be trusted cheaply, and if not, what must be cut? It reads a few KiB and
//! stops at the first doubt. Verification reads everything and says what is wrong and
//! where: every batch's framing, CRC-32C and records (decompressed), offsets contiguous
//! (or rising, where compaction leaves gaps), and every entry of both indexes against the
//! batches it names. It writes nothing and maps nothing: the log is read through
//! [`LogScanner`], the indexes with bounded reads, so it is safe on files another process
//! owns.
//!
//! The log and both indexes are checked in one pass: index entries are sorted by position
//! (offset index) and by offset (time index), so each is compared with the batch it names
//! as the scan passes it, and memory stays bounded by one batch plus the index files.

mod index;
mod problem;

use std::path::{Path, PathBuf};

use super::scan::LogScanner;
use super::{segment_file, INDEX_SUFFIX, LOG_SUFFIX, TIME_INDEX_SUFFIX};
use crate::batch::{Batch, DecompressBuffer};
use crate::error::{Result, SegmentError};
use index::{load_index, OffsetChecker, TimeChecker, OFFSET_ENTRY_BYTES, TIME_ENTRY_BYTES};
pub use problem::{Fault, Problem, SegmentFileKind};

/// Largest index file read into memory (1 GiB, far above Kafka's default
/// `segment.index.bytes` of 10 MiB); a larger one is reported, not read.
pub const MAX_VERIFIED_INDEX_BYTES: u64 = 1 << 30;

/// What [`verify_segment`] accepts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VerifyOptions {
    /// Accept batches whose base offset lies past the previous batch's next offset (the gaps
    /// compaction leaves). Without it they are reported, as recovery would treat them.
    pub offset_gaps: bool,
}

/// What [`verify_segment`] found.
#[derive(Debug)]
pub struct SegmentVerification {
    /// The segment's base offset (from its file name).
    pub base_offset: i64,
    /// Length of the `.log` file.
    pub log_len: u64,
    /// End of the last batch whose framing is valid: the bytes before it are whole batches.
    pub valid_end: u64,
    /// Batches read (valid or not, as long as their framing is).
    pub batches: u64,
    /// Records read in them.
    pub records: u64,
    /// Base offset of the first batch.
    pub first_offset: Option<i64>,
    /// Next offset after the last batch.
    pub next_offset: Option<i64>,
    /// Largest batch maxTimestamp (-1 when none).
    pub max_timestamp: i64,
    /// Entries of the offset index (without an untrimmed tail).
    pub offset_index_entries: u64,
    /// Entries of the time index (without an untrimmed tail).
    pub time_index_entries: u64,
    /// Every problem found, in file order within each file.
    pub problems: Vec<Problem>,
}

impl SegmentVerification {
    /// True when nothing is wrong.
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Verifies the segment with base offset `base_offset` in `dir`: its `.log` file, its
/// offset index and its time index, reading them without writing or mapping anything.
///
/// Problems with the files' contents are [`SegmentVerification::problems`]; the error is
/// for a `.log` file that cannot be opened or read, or an index that cannot be read.
///
/// ```
/// use silt_segment::batch::{BatchBuilder, BatchConfig};
/// use silt_segment::log::{verify_segment, Segment, SegmentConfig, VerifyOptions};
///
/// let dir = tempfile::tempdir()?;
/// let config = SegmentConfig { segment_bytes: 1 << 20, ..SegmentConfig::default() };
/// let mut segment = Segment::create(dir.path(), 0, &config)?;
/// let mut builder = BatchBuilder::new(BatchConfig::default());
/// builder.append(1_700_000_000_000, None, Some(b"hello"), &[])?;
/// segment.append(&builder.finish()?)?;
/// segment.seal()?;
///
/// let report = verify_segment(dir.path(), 0, VerifyOptions::default())?;
/// assert!(report.is_ok(), "{:?}", report.problems);
/// assert_eq!((report.batches, report.records), (1, 1));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn verify_segment(
    dir: &Path,
    base_offset: i64,
    options: VerifyOptions,
) -> Result<SegmentVerification> {
    let log_path = segment_file(dir, base_offset, LOG_SUFFIX);
    let mut problems = Vec::new();
    let offset_index = load_index::<OFFSET_ENTRY_BYTES>(
        &segment_file(dir, base_offset, INDEX_SUFFIX),
        SegmentFileKind::OffsetIndex,
        &mut problems,
    )?;
    let time_index = load_index::<TIME_ENTRY_BYTES>(
        &segment_file(dir, base_offset, TIME_INDEX_SUFFIX),
        SegmentFileKind::TimeIndex,
        &mut problems,
    )?;
    let offsets = OffsetChecker::new(offset_index, base_offset, &mut problems);
    let times = TimeChecker::new(time_index, base_offset, &mut problems);
    let mut walk = Walk {
        base_offset,
        options,
        log_path: log_path.clone(),
        offsets,
        times,
        report: SegmentVerification {
            base_offset,
            log_len: 0,
            valid_end: 0,
            batches: 0,
            records: 0,
            first_offset: None,
            next_offset: None,
            max_timestamp: -1,
            offset_index_entries: 0,
            time_index_entries: 0,
            problems,
        },
        buffer: DecompressBuffer::new(),
    };
    walk.scan(&log_path)?;
    Ok(walk.finish())
}

/// The state of one verification pass.
struct Walk {
    base_offset: i64,
    options: VerifyOptions,
    log_path: PathBuf,
    offsets: OffsetChecker,
    times: TimeChecker,
    report: SegmentVerification,
    buffer: DecompressBuffer,
}

impl Walk {
    fn log_problem(&mut self, position: u64, fault: Fault) {
        self.report.problems.push(Problem {
            path: self.log_path.clone(),
            kind: SegmentFileKind::Log,
            position,
            fault,
        });
    }

    fn scan(&mut self, log_path: &Path) -> Result<()> {
        let mut scanner = LogScanner::open(log_path)?;
        self.report.log_len = scanner.file_len();
        let mut log_faults = Vec::new();
        let mut index_problems = Vec::new();
        while let Some(next) = scanner.next_batch() {
            let batch = match next {
                Ok(batch) => batch,
                Err(SegmentError::Io { op, path, source }) => {
                    return Err(SegmentError::Io { op, path, source })
                }
                Err(e) => {
                    let position = scanner.position();
                    let fault = if scanner.rest_is_zeros()? {
                        Fault::PreallocatedTail {
                            len: scanner.file_len() - position,
                        }
                    } else {
                        Fault::Batch(e)
                    };
                    log_faults.push((position, fault));
                    break;
                }
            };
            self.check_batch(&batch, &mut log_faults);
            self.offsets
                .see_batch(batch.position(), batch.last_offset(), &mut index_problems);
            self.times.see_batch(&batch, &mut index_problems);
        }
        let end = scanner.position();
        self.report.valid_end = end;
        self.report.max_timestamp = self.times.max_timestamp();
        let tail_is_zeros = log_faults
            .iter()
            .any(|(_, f)| matches!(f, Fault::PreallocatedTail { .. }));
        for (position, fault) in log_faults {
            self.log_problem(position, fault);
        }
        self.offsets.finish(end, &mut index_problems);
        self.times.finish(!tail_is_zeros, &mut index_problems);
        self.report.problems.append(&mut index_problems);
        Ok(())
    }

    /// Checks one batch whose framing is valid: offsets, CRC, records.
    fn check_batch(&mut self, batch: &Batch<'_>, faults: &mut Vec<(u64, Fault)>) {
        let position = batch.position();
        let report = &mut self.report;
        report.batches += 1;
        let base = batch.base_offset();
        match report.next_offset {
            None if base < self.base_offset
                || (base != self.base_offset && !self.options.offset_gaps) =>
            {
                faults.push((
                    position,
                    Fault::NotAtSegmentBase {
                        segment_base: self.base_offset,
                        found: base,
                    },
                ))
            }
            Some(expected)
                if base < expected || (base != expected && !self.options.offset_gaps) =>
            {
                faults.push((
                    position,
                    Fault::OffsetNotContiguous {
                        expected,
                        found: base,
                        gaps_allowed: self.options.offset_gaps,
                    },
                ))
            }
            _ => {}
        }
        if report.first_offset.is_none() {
            report.first_offset = Some(base);
        }
        if batch.last_offset() - self.base_offset > i64::from(i32::MAX) {
            faults.push((
                position,
                Fault::RelativeOffsetOverflow {
                    segment_base: self.base_offset,
                    last_offset: batch.last_offset(),
                },
            ));
        }
        report.next_offset = Some(batch.next_offset());
        if let Err(e) = batch.validate() {
            faults.push((position, Fault::Batch(e)));
            return;
        }
        match batch.records(&mut self.buffer) {
            Ok(records) => {
                for record in records {
                    match record {
                        Ok(_) => report.records += 1,
                        Err(e) => {
                            faults.push((position, Fault::Batch(e)));
                            break;
                        }
                    }
                }
            }
            Err(e) => faults.push((position, Fault::Batch(e))),
        }
    }

    fn finish(mut self) -> SegmentVerification {
        self.report.offset_index_entries = self.offsets.entry_count();
        self.report.time_index_entries = self.times.entry_count();
        // Log problems first, then the offset index's, then the time index's, each in file
        // order (a stable sort keeps the order they were found in).
        self.report.problems.sort_by_key(|p| match p.kind {
            SegmentFileKind::Log => 0,
            SegmentFileKind::OffsetIndex => 1,
            SegmentFileKind::TimeIndex => 2,
        });
        self.report
    }
}

#[cfg(test)]
mod tests;
