//! Verification of real segments, sealed, unclosed and damaged.

use std::fs::OpenOptions;
use std::io::{Seek, SeekFrom, Write};

use super::*;
use crate::batch::{BatchBuilder, BatchConfig};
use crate::log::{Segment, SegmentConfig};

fn config() -> SegmentConfig {
    SegmentConfig {
        segment_bytes: 1 << 20,
        index_interval_bytes: 200,
        ..SegmentConfig::default()
    }
}

/// A sealed segment of `batches` batches of 3 records (timestamps rising), in `dir`.
fn sealed_segment(dir: &Path, batches: usize) {
    let mut segment = Segment::create(dir, 0, &config()).unwrap();
    for i in 0..batches {
        let mut builder = BatchBuilder::new(BatchConfig::default());
        for j in 0..3 {
            let ts = 1_700_000_000_000 + (i * 3 + j) as i64;
            builder
                .append(ts, Some(b"key"), Some(&[7u8; 100]), &[])
                .unwrap();
        }
        segment.append(&builder.finish().unwrap()).unwrap();
    }
    segment.seal().unwrap();
}

fn verify(dir: &Path) -> SegmentVerification {
    verify_segment(dir, 0, VerifyOptions::default()).unwrap()
}

fn patch(path: &Path, at: u64, bytes: &[u8]) {
    let mut f = OpenOptions::new().write(true).open(path).unwrap();
    f.seek(SeekFrom::Start(at)).unwrap();
    f.write_all(bytes).unwrap();
}

fn faults(report: &SegmentVerification) -> Vec<String> {
    report.problems.iter().map(|p| p.to_string()).collect()
}

#[test]
fn a_sealed_segment_passes_with_its_counts() {
    let dir = tempfile::tempdir().unwrap();
    sealed_segment(dir.path(), 20);
    let report = verify(dir.path());
    assert!(report.is_ok(), "{:?}", faults(&report));
    assert_eq!((report.batches, report.records), (20, 60));
    assert_eq!(report.next_offset, Some(60));
    assert!(report.offset_index_entries > 3);
    assert!(report.time_index_entries > 3);
    assert_eq!(report.valid_end, report.log_len);
}

#[test]
fn a_flipped_bit_is_reported_at_its_batch() {
    let dir = tempfile::tempdir().unwrap();
    sealed_segment(dir.path(), 5);
    let log = segment_file(dir.path(), 0, LOG_SUFFIX);
    let size = std::fs::metadata(&log).unwrap().len() / 5;
    let at = 2 * size + 100;
    let bytes = std::fs::read(&log).unwrap();
    patch(&log, at, &[bytes[at as usize] ^ 0x10]);
    let report = verify(dir.path());
    assert_eq!(report.problems.len(), 1, "{:?}", faults(&report));
    let problem = &report.problems[0];
    assert_eq!(
        (problem.kind, problem.position),
        (SegmentFileKind::Log, 2 * size)
    );
    assert!(matches!(
        problem.fault,
        Fault::Batch(SegmentError::CrcMismatch { .. })
    ));
    // The scan went on: every batch and the records of the others were counted.
    assert_eq!((report.batches, report.records), (5, 12));
}

#[test]
fn a_cut_short_index_and_a_bogus_entry_are_reported_by_entry_position() {
    let dir = tempfile::tempdir().unwrap();
    sealed_segment(dir.path(), 20);
    let index = segment_file(dir.path(), 0, INDEX_SUFFIX);
    let len = std::fs::metadata(&index).unwrap().len();
    // Entry 1 points one byte into its batch.
    let bytes = std::fs::read(&index).unwrap();
    let position = u32::from_be_bytes(bytes[12..16].try_into().unwrap());
    patch(&index, 12, &(position + 1).to_be_bytes());
    OpenOptions::new()
        .write(true)
        .open(&index)
        .unwrap()
        .set_len(len - 3)
        .unwrap();
    let report = verify(dir.path());
    let found: Vec<(u64, &Fault)> = report
        .problems
        .iter()
        .map(|p| (p.position, &p.fault))
        .collect();
    assert!(
        matches!(found[0], (at, Fault::IndexCutShort { .. }) if at == (len - 8)),
        "{:?}",
        faults(&report)
    );
    assert!(
        matches!(found[1], (8, Fault::IndexPositionNotBatch { entry: 1, .. })),
        "{:?}",
        faults(&report)
    );
    assert_eq!(found.len(), 2, "{:?}", faults(&report));
}

#[test]
fn a_wrong_offset_in_an_index_entry_is_a_mismatch() {
    let dir = tempfile::tempdir().unwrap();
    sealed_segment(dir.path(), 20);
    let index = segment_file(dir.path(), 0, INDEX_SUFFIX);
    let bytes = std::fs::read(&index).unwrap();
    let relative = u32::from_be_bytes(bytes[8..12].try_into().unwrap());
    patch(&index, 8, &(relative - 1).to_be_bytes());
    let report = verify(dir.path());
    assert!(
        matches!(
            report.problems[..],
            [Problem {
                position: 8,
                fault: Fault::IndexOffsetMismatch { entry: 1, .. },
                ..
            }]
        ),
        "{:?}",
        faults(&report)
    );
}

#[test]
fn a_wrong_time_index_entry_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    sealed_segment(dir.path(), 20);
    let index = segment_file(dir.path(), 0, TIME_INDEX_SUFFIX);
    let bytes = std::fs::read(&index).unwrap();
    let ts = i64::from_be_bytes(bytes[12..20].try_into().unwrap());
    patch(&index, 12, &(ts - 1).to_be_bytes());
    let report = verify(dir.path());
    assert!(
        matches!(
            report.problems[..],
            [Problem {
                position: 12,
                fault: Fault::TimeIndexTimestampMismatch { entry: 1, .. },
                ..
            }]
        ),
        "{:?}",
        faults(&report)
    );
}

#[test]
fn an_unclosed_segment_reports_only_unclosed_tails() {
    let dir = tempfile::tempdir().unwrap();
    let mut segment = Segment::create(dir.path(), 0, &config()).unwrap();
    for _ in 0..10 {
        let mut builder = BatchBuilder::new(BatchConfig::default());
        builder
            .append(1_700_000_000_000, None, Some(&[1u8; 100]), &[])
            .unwrap();
        segment.append(&builder.finish().unwrap()).unwrap();
    }
    segment.flush().unwrap();
    let report = verify(dir.path());
    assert!(!report.problems.is_empty());
    assert!(
        report.problems.iter().all(Problem::is_unclosed_tail),
        "{:?}",
        faults(&report)
    );
    assert_eq!(report.batches, 10);
    drop(segment);
}

#[test]
fn missing_indexes_and_offset_gaps() {
    let dir = tempfile::tempdir().unwrap();
    sealed_segment(dir.path(), 3);
    std::fs::remove_file(segment_file(dir.path(), 0, INDEX_SUFFIX)).unwrap();
    // The last batch's base offset moves up by one: a gap.
    let log = segment_file(dir.path(), 0, LOG_SUFFIX);
    let size = std::fs::metadata(&log).unwrap().len() / 3;
    patch(&log, 2 * size, &7i64.to_be_bytes());
    let report = verify(dir.path());
    let kinds: Vec<_> = report
        .problems
        .iter()
        .map(|p| (p.kind, p.position))
        .collect();
    assert_eq!(
        kinds,
        vec![
            (SegmentFileKind::Log, 2 * size),
            (SegmentFileKind::OffsetIndex, 0)
        ],
        "{:?}",
        faults(&report)
    );
    let gaps = verify_segment(dir.path(), 0, VerifyOptions { offset_gaps: true }).unwrap();
    assert_eq!(gaps.problems.len(), 1, "{:?}", faults(&gaps));
}

#[test]
fn entries_that_step_back_are_reported_and_stop_the_comparison() {
    let dir = tempfile::tempdir().unwrap();
    sealed_segment(dir.path(), 20);
    let index = segment_file(dir.path(), 0, INDEX_SUFFIX);
    let bytes = std::fs::read(&index).unwrap();
    assert!(bytes.len() >= 24, "needs three entries");
    // Swap entries 1 and 2: entry 2 now goes backwards.
    let (one, two) = (bytes[8..16].to_vec(), bytes[16..24].to_vec());
    patch(&index, 8, &two);
    patch(&index, 16, &one);
    let report = verify(dir.path());
    let offsets: Vec<&Problem> = report
        .problems
        .iter()
        .filter(|p| p.kind == SegmentFileKind::OffsetIndex)
        .collect();
    assert!(
        matches!(
            offsets[..],
            [
                Problem {
                    position: 8,
                    fault: Fault::IndexOffsetMismatch { .. } | Fault::IndexPositionNotBatch { .. },
                    ..
                },
                Problem {
                    position: 16,
                    fault: Fault::IndexNotIncreasing {
                        entry: 2,
                        field: "offset",
                        ..
                    },
                    ..
                },
            ] | [Problem {
                position: 16,
                fault: Fault::IndexNotIncreasing { entry: 2, .. },
                ..
            }]
        ),
        "{:?}",
        faults(&report)
    );
}
