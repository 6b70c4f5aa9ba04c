//! `SegmentSyncer` (group commit): syncs from another thread while the writer appends, covers
//! only what was published before it started, shares the durable end with the writer's
//! `flush` and other syncers, and keeps working after the segment was sealed.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use silt_segment::batch::{Batches, Compression};
use silt_segment::log::{OpenMode, Segment, SegmentConfig, SegmentReader, SyncedTo};

/// `synced` ends on a batch boundary of `reader`'s bytes, with the offsets that go with it.
fn assert_on_a_boundary(reader: &SegmentReader, synced: SyncedTo) {
    let bytes = &reader.bytes()[..synced.end as usize];
    let next = Batches::new(bytes, 0)
        .map(|b| b.unwrap().next_offset())
        .last()
        .unwrap_or(reader.base_offset());
    assert_eq!(next, synced.next_offset, "{synced:?}");
}

#[test]
fn sync_covers_the_published_end_and_flush_skips_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut seg = Segment::create(dir.path(), 7, &common::small_config()).unwrap();
    let syncer = seg.syncer();
    let reader = seg.reader();
    let empty = SyncedTo {
        next_offset: 7,
        end: 0,
    };
    assert_eq!(syncer.synced_to(), empty);
    assert_eq!(syncer.sync().unwrap(), empty);
    for i in 0..30 {
        seg.append(&common::batch(i, 2, 40, Compression::None))
            .unwrap();
    }
    assert_eq!(seg.synced_offset(), 7);
    assert_eq!(seg.unflushed_bytes(), seg.size());
    let synced = syncer.sync().unwrap();
    assert_eq!(
        synced,
        SyncedTo {
            next_offset: 67,
            end: seg.size()
        }
    );
    assert_eq!(reader.synced_to(), synced);
    assert_eq!((seg.synced_offset(), seg.unflushed_bytes()), (67, 0));
    assert_eq!(
        syncer.clone().sync().unwrap(),
        synced,
        "nothing new: the same end"
    );
    seg.flush().unwrap();
    assert_eq!(syncer.synced_to(), synced);
    assert_eq!(syncer.path(), seg.path());
}

#[test]
fn concurrent_syncers_are_monotonic_and_never_pass_the_published_end() {
    let dir = tempfile::tempdir().unwrap();
    let config = SegmentConfig {
        segment_bytes: 16 << 20,
        segment_index_bytes: 1 << 20,
        ..common::small_config()
    };
    let mut seg = Segment::create(dir.path(), 0, &config).unwrap();
    let (syncer, reader) = (seg.syncer(), seg.reader());
    let done = Arc::new(AtomicBool::new(false));
    let syncers: Vec<_> = (0..3)
        .map(|_| {
            let (syncer, reader, done) = (syncer.clone(), reader.clone(), Arc::clone(&done));
            std::thread::spawn(move || {
                let mut last = syncer.synced_to();
                let mut syncs = 0u32;
                while !done.load(Ordering::Acquire) {
                    let synced = syncer.sync().unwrap();
                    // Loaded after the sync: the end it covered was published before.
                    let (end, next) = (reader.size(), reader.next_offset());
                    assert!(synced >= last, "went back from {last:?} to {synced:?}");
                    assert!(synced.end <= end && synced.next_offset <= next);
                    assert_on_a_boundary(&reader, synced);
                    last = synced;
                    syncs += 1;
                }
                (last, syncs)
            })
        })
        .collect();
    let writer = std::thread::spawn(move || {
        for i in 0..3_000 {
            seg.append(&common::batch(i, 3, 100, Compression::None))
                .unwrap();
            if i % 500 == 0 {
                seg.flush().unwrap(); // the writer's own flush races the syncers too
            }
        }
        seg.seal().unwrap();
        seg
    });
    let seg = writer.join().unwrap();
    done.store(true, Ordering::Release);
    for handle in syncers {
        let (last, syncs) = handle.join().unwrap();
        assert!(syncs > 0);
        assert!(last.end <= seg.size());
    }
    // Sealing synced everything; a sync after it has nothing left to do.
    let sealed_end = SyncedTo {
        next_offset: 9_000,
        end: seg.size(),
    };
    assert_eq!(syncer.synced_to(), sealed_end);
    assert_eq!(syncer.sync().unwrap(), sealed_end);
}

#[test]
fn syncer_outlives_a_roll_and_the_writer() {
    let dir = tempfile::tempdir().unwrap();
    let mut seg = Segment::create(dir.path(), 0, &common::small_config()).unwrap();
    let syncer = seg.syncer();
    seg.append(&common::batch(0, 4, 40, Compression::None))
        .unwrap();
    let size = seg.size();
    seg.seal().unwrap();
    drop(seg);
    let sealed = SyncedTo {
        next_offset: 4,
        end: size,
    };
    assert_eq!(syncer.sync().unwrap(), sealed);
    assert_eq!(syncer.sync().unwrap(), sealed);
}

#[test]
fn a_reopened_segment_starts_synced() {
    let dir = tempfile::tempdir().unwrap();
    let config = common::small_config();
    let mut seg = Segment::create(dir.path(), 0, &config).unwrap();
    for i in 0..10 {
        seg.append(&common::batch(i, 1, 40, Compression::None))
            .unwrap();
    }
    seg.seal().unwrap();
    drop(seg);
    for mode in [OpenMode::Sealed, OpenMode::Active] {
        let (mut seg, _) = Segment::open(dir.path(), 0, &config, mode).unwrap();
        assert_eq!((seg.synced_offset(), seg.unflushed_bytes()), (10, 0));
        if mode == OpenMode::Active {
            seg.append(&common::batch(10, 1, 40, Compression::None))
                .unwrap();
            assert_eq!(seg.syncer().sync().unwrap().next_offset, 11);
            seg.seal().unwrap();
        }
    }
}
