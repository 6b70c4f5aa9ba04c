//! A sealed segment is byte for byte a Kafka `.log` file: appending the batches of the
//! shared Kafka segment vector reproduces it exactly, and opening that file as a segment
//! finds every batch.

mod common;

use std::path::PathBuf;

use silt_segment::batch::Batches;
use silt_segment::log::{segment_file, OpenMode, Segment, SegmentConfig};

fn kafka_segment() -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/testdata/kafka/segment_00000000000000000000.bin");
    std::fs::read(path).unwrap()
}

#[test]
fn appending_kafka_batches_reproduces_the_kafka_file() {
    let kafka = kafka_segment();
    let dir = tempfile::tempdir().unwrap();
    let mut seg = Segment::create(
        dir.path(),
        0,
        &SegmentConfig {
            segment_bytes: 4 << 20,
            ..SegmentConfig::default()
        },
    )
    .unwrap();
    for batch in Batches::new(&kafka, 0) {
        let mut bytes = batch.unwrap().as_bytes().to_vec();
        bytes[..8].copy_from_slice(&999i64.to_be_bytes()); // the writer stamps the real offset
        seg.append(&bytes).unwrap();
    }
    seg.seal().unwrap();
    assert_eq!(
        std::fs::read(segment_file(dir.path(), 0, "log")).unwrap(),
        kafka
    );
}

#[test]
fn a_kafka_log_file_opens_as_a_segment() {
    let kafka = kafka_segment();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(segment_file(dir.path(), 0, "log"), &kafka).unwrap();
    // No index files: they are rebuilt from the log.
    let (seg, report) =
        Segment::open(dir.path(), 0, &SegmentConfig::default(), OpenMode::Sealed).unwrap();
    assert!(report.recovered.is_some());
    assert!(report.torn.is_none());
    assert_eq!(report.batches_checked, 40);
    assert_eq!(seg.size() as usize, kafka.len());
    let last = Batches::new(&kafka, 0).last().unwrap().unwrap();
    assert_eq!(seg.next_offset(), last.next_offset());
    assert!(seg.offset_index_entries() > 0);
    assert_eq!(
        std::fs::read(segment_file(dir.path(), 0, "log")).unwrap(),
        kafka,
        "the log itself is untouched"
    );
}
