//! A seal cuts the `.log` file to its end before it fsyncs it. When a later step fails, the
//! segment must not take appends into its map any more: the pages past the new end of the
//! file are gone, and a store there raises SIGBUS. Such a segment refuses appends with
//! `SegmentFull` (its writer rolls or, in silt's engine, the log goes offline), and its
//! readers still read what it holds. Built with the `failpoints` feature.

mod common;

use common::value_batch as batch;
use silt_segment::log::{Segment, SegmentConfig};
use silt_segment::SegmentError;

#[test]
fn a_segment_whose_seal_failed_refuses_appends() {
    let _scenario = fail::FailScenario::setup();
    for (name, op) in [
        ("segment.log.sync", "fsync"),
        ("index.file.truncate", "truncate"),
        ("index.file.sync", "fdatasync"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let config = SegmentConfig {
            segment_bytes: 1 << 20,
            segment_index_bytes: 4096,
            ..SegmentConfig::default()
        };
        let mut segment = Segment::create(dir.path(), 0, &config).unwrap();
        segment.append(&batch("kept")).unwrap();
        let end = segment.size();

        fail::cfg(name, "return(EIO)").unwrap();
        let err = segment.seal().unwrap_err();
        let found = match &err {
            SegmentError::Io { op, .. } => *op,
            SegmentError::Index(silt_index::IndexError::Io { op, .. }) => *op,
            other => panic!("{name}: expected an I/O error, got {other:?}"),
        };
        assert_eq!(found, op, "{name}: {err}");
        fail::remove(name);

        assert!(!segment.is_sealed());
        let len = std::fs::metadata(segment.path()).unwrap().len();
        assert_eq!(len, u64::from(end), "{name}: the file was cut to its end");
        for _ in 0..3 {
            let err = segment.append(&batch("refused")).unwrap_err();
            assert!(
                matches!(err, SegmentError::SegmentFull { available: 0, .. }),
                "{name}: {err:?}"
            );
        }
        assert!(segment.roll_reason(100, 1, 0).is_some());
        assert_eq!(segment.size(), end);
        let reader = segment.reader();
        let slice = reader.read(0, 1 << 20).unwrap().expect("offset 0");
        assert_eq!(slice.batches().count(), 1);
    }
}
