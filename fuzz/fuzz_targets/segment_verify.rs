//! Arbitrary segment files checked by `verify_segment` (`silt verify`), which reads them
//! through `read` calls, batch by batch, without mapping or writing anything; then opened
//! with forced recovery, which must agree with it.
//!
//! Input layout as `segment_recover`'s, read from the end: the last byte is flags (bit 0:
//! verify and recover accepting compaction's offset gaps; bit 2: write an offset index file;
//! bit 3: write a time index file); for each index file asked for, one more byte from the
//! end gives its length `n` and the `n` bytes before it are its contents; the rest is the
//! `.log` file.
//!
//! Properties:
//! - contents are never an error: `verify_segment` returns a report (only I/O may fail);
//! - the report's framing agrees with an in-memory walk of the same bytes: as many batches,
//!   ending at the same position, with the same next offset;
//! - a log the report finds nothing wrong with is kept whole by recovery (same length, same
//!   next offset), and a log recovery keeps whole, with no torn tail, has no problem in the
//!   report but in its indexes and in records: recovery checks batches (framing, CRC-32C,
//!   offsets) as Kafka's does, not the records inside a batch whose CRC holds, which only a
//!   writer's bug could produce and which reads and `silt verify` report.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use silt_segment::batch::Batches;
use silt_segment::log::{
    segment_file, verify_segment, Fault, OpenMode, OpenOptions, Segment, SegmentConfig,
    SegmentFileKind, VerifyOptions, INDEX_SUFFIX, LOG_SUFFIX, TIME_INDEX_SUFFIX,
};
use silt_segment::SegmentError;

const BASE_OFFSET: i64 = 0;

fn config() -> SegmentConfig {
    SegmentConfig {
        segment_bytes: 1 << 20,
        segment_index_bytes: 4096,
        index_interval_bytes: 64,
        ..SegmentConfig::default()
    }
}

fn write(path: &Path, bytes: &[u8]) {
    std::fs::write(path, bytes).expect("write input file");
}

/// The input's parts: flags, the log, the offset index and the time index.
type Parts<'a> = (u8, &'a [u8], Option<&'a [u8]>, Option<&'a [u8]>);

/// Splits the input as the doc comment says.
fn split(data: &[u8]) -> Parts<'_> {
    let (flags, mut rest) = match data.split_last() {
        Some((&flags, rest)) => (flags, rest),
        None => (0, data),
    };
    let mut take_file = |wanted: bool| -> Option<&[u8]> {
        if !wanted {
            return None;
        }
        let (&len, before) = rest.split_last().unwrap_or((&0, rest));
        let (log, file) = before.split_at(before.len() - (len as usize).min(before.len()));
        rest = log;
        Some(file)
    };
    let offset_index = take_file(flags & 0b0100 != 0);
    let time_index = take_file(flags & 0b1000 != 0);
    (flags, rest, offset_index, time_index)
}

fuzz_target!(|data: &[u8]| {
    let (flags, log, offset_index, time_index) = split(data);
    let gaps = flags & 1 != 0;
    let dir = silt_fuzz::scratch_dir();
    let dir = dir.path();
    write(&segment_file(dir, BASE_OFFSET, LOG_SUFFIX), log);
    if let Some(bytes) = offset_index {
        write(&segment_file(dir, BASE_OFFSET, INDEX_SUFFIX), bytes);
    }
    if let Some(bytes) = time_index {
        write(&segment_file(dir, BASE_OFFSET, TIME_INDEX_SUFFIX), bytes);
    }

    let options = VerifyOptions { offset_gaps: gaps };
    let report = match verify_segment(dir, BASE_OFFSET, options) {
        Ok(report) => report,
        Err(SegmentError::Io { .. }) => return,
        Err(e) => panic!("verifying arbitrary contents failed: {e}"),
    };
    assert_eq!(report.log_len, log.len() as u64);
    assert!(report.valid_end <= report.log_len);

    // The framing the report saw is the framing of the bytes.
    let mut batches = Batches::new(log, 0);
    let mut count = 0u64;
    let mut next = None;
    for batch in &mut batches {
        let Ok(batch) = batch else { break };
        count += 1;
        next = Some(batch.next_offset());
    }
    assert_eq!(report.batches, count, "batches framed");
    assert_eq!(
        report.valid_end,
        batches.consumed() as u64,
        "end of the framed batches"
    );
    assert_eq!(report.next_offset, next, "next offset");

    let log_ok = !report
        .problems
        .iter()
        .any(|p| p.kind == SegmentFileKind::Log);
    let open = OpenOptions {
        force_recovery: true,
        offset_gaps: gaps,
    };
    let (segment, opened) =
        match Segment::open_with_options(dir, BASE_OFFSET, &config(), OpenMode::Sealed, open) {
            Ok(opened) => opened,
            Err(SegmentError::Io { .. }) => return,
            Err(e) => panic!("recovering arbitrary contents failed: {e}"),
        };
    let kept_whole = u64::from(opened.valid_end) == report.log_len && opened.torn.is_none();
    if log_ok {
        assert!(
            kept_whole,
            "a log verify finds sound loses bytes in recovery: {opened:?}"
        );
        assert_eq!(
            segment.next_offset(),
            report.next_offset.unwrap_or(BASE_OFFSET)
        );
    }
    if kept_whole && report.log_len > 0 {
        let log_problems: Vec<_> = report
            .problems
            .iter()
            .filter(|p| p.kind == SegmentFileKind::Log)
            .filter(|p| !matches!(p.fault, Fault::Batch(SegmentError::InvalidRecord { .. })))
            .map(ToString::to_string)
            .collect();
        assert!(
            log_problems.is_empty(),
            "recovery keeps the log whole but verify reports {log_problems:?}"
        );
    }
});
