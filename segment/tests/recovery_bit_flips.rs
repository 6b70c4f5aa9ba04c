//! A flipped bit anywhere in a segment's batches is found by recovery: the batch it hit and
//! everything after it are cut, everything before it stays. The only bytes no check covers
//! are the partitionLeaderEpoch (outside the CRC, and not checked by Kafka either).

mod common;

use silt_segment::batch::{Batches, Compression};
use silt_segment::log::{segment_file, OpenMode, Segment};

#[test]
fn every_bit_flip_in_a_middle_batch_is_found() {
    let template = tempfile::tempdir().unwrap();
    let mut seg = Segment::create(template.path(), 0, &common::small_config()).unwrap();
    for i in 0..3 {
        seg.append(&common::batch(
            i,
            2,
            8,
            [Compression::None, Compression::Lz4, Compression::Zstd][i as usize],
        ))
        .unwrap();
    }
    seg.seal().unwrap();
    drop(seg);
    let log = std::fs::read(segment_file(template.path(), 0, "log")).unwrap();
    let batches: Vec<(usize, usize)> = Batches::new(&log, 0)
        .map(|b| b.unwrap())
        .map(|b| (b.position() as usize, b.size()))
        .collect();
    let (start, size) = batches[1];

    for byte in start..start + size {
        if (start + 12..start + 16).contains(&byte) {
            continue; // partitionLeaderEpoch
        }
        for bit in 0..8 {
            let dir = tempfile::tempdir().unwrap();
            let mut bad = log.clone();
            bad[byte] ^= 1 << bit;
            std::fs::write(segment_file(dir.path(), 0, "log"), &bad).unwrap();
            let (seg, report) = Segment::open_with(
                dir.path(),
                0,
                &common::small_config(),
                OpenMode::Sealed,
                true,
            )
            .unwrap();
            assert_eq!(
                seg.size() as usize,
                start,
                "flip of bit {bit} at byte {byte}"
            );
            assert_eq!(seg.next_offset(), 2);
            assert!(report.torn.is_some());
        }
    }
}
