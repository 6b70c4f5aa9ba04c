//! One writer appends while readers on other threads read without locks: every read returns
//! whole, valid batches with contiguous offsets, and never anything past the published end.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use silt_segment::batch::{Batches, Compression};
use silt_segment::log::{Segment, SegmentConfig};

#[test]
fn readers_see_whole_batches_while_the_writer_appends() {
    let dir = tempfile::tempdir().unwrap();
    let config = SegmentConfig {
        segment_bytes: 8 << 20,
        segment_index_bytes: 64 << 10,
        index_interval_bytes: 512,
        ..SegmentConfig::default()
    };
    let mut seg = Segment::create(dir.path(), 0, &config).unwrap();
    let batches: Vec<Vec<u8>> = (0..64)
        .map(|i| {
            common::batch(
                i,
                1 + (i % 9) as u32,
                20 + (i as usize * 13) % 200,
                Compression::None,
            )
        })
        .collect();
    let done = Arc::new(AtomicBool::new(false));
    let reader = seg.reader();

    let readers: Vec<_> = (0..2)
        .map(|t| {
            let reader = reader.clone();
            let done = Arc::clone(&done);
            std::thread::spawn(move || {
                let mut reads = 0u64;
                let mut x = 0x9e37_79b9_7f4a_7c15u64 ^ t;
                // Bounded: stops when the writer is done, after at least one more full pass.
                loop {
                    let finished = done.load(Ordering::Acquire);
                    let next = reader.next_offset();
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    if next > 0 {
                        let offset = (x % next as u64) as i64;
                        let slice = reader
                            .read(offset, 1 + (x % 8192) as usize)
                            .unwrap()
                            .expect("below the published end");
                        let mut expected = None;
                        for batch in Batches::new(slice.bytes, 0) {
                            let batch = batch.unwrap();
                            batch.validate().unwrap();
                            if let Some(e) = expected {
                                assert_eq!(batch.base_offset(), e, "offsets contiguous");
                            } else {
                                assert!(
                                    batch.base_offset() <= offset && offset <= batch.last_offset()
                                );
                            }
                            expected = Some(batch.next_offset());
                        }
                        assert!(expected.unwrap() <= reader.next_offset());
                        reads += 1;
                    }
                    if finished {
                        break;
                    }
                }
                reads
            })
        })
        .collect();

    let mut appended = 0;
    while seg.roll_reason(600, 9, 0).is_none() && appended < 20_000 {
        seg.append(&batches[appended % batches.len()]).unwrap();
        appended += 1;
    }
    done.store(true, Ordering::Release);
    for r in readers {
        assert!(r.join().unwrap() > 0);
    }
    // Sealing while readers hold the map is safe: they still read everything.
    seg.seal().unwrap();
    assert_eq!(
        common::records_of(reader.bytes()).len() as i64,
        seg.next_offset()
    );
}
