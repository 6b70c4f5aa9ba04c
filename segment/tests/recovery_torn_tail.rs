//! Torn tail: the last batch cut at every byte position, then reopen. Exactly the earlier
//! batches remain, and new appends continue at the right offset.

mod common;

use std::fs::OpenOptions;

use silt_segment::batch::Compression;
use silt_segment::log::{segment_file, OpenMode, Segment};

fn write_segment(dir: &std::path::Path, batches: &[Vec<u8>]) -> (u64, i64) {
    let mut seg = Segment::create(dir, 100, &common::small_config()).unwrap();
    for b in batches {
        seg.append(b).unwrap();
    }
    seg.seal().unwrap();
    let size = u64::from(seg.size());
    (size, seg.next_offset())
}

#[test]
fn cut_last_batch_at_every_byte() {
    let batches: Vec<Vec<u8>> = (0..5)
        .map(|i| common::batch(i, 3, 40, Compression::None))
        .collect();
    let last_len = batches.last().unwrap().len() as u64;
    let template = tempfile::tempdir().unwrap();
    let (full_size, _) = write_segment(template.path(), &batches);
    let earlier_end = full_size - last_len;
    let log = std::fs::read(segment_file(template.path(), 100, "log")).unwrap();

    for cut in earlier_end..full_size {
        for mode in [OpenMode::Active, OpenMode::Sealed] {
            let dir = tempfile::tempdir().unwrap();
            common::copy_segment(template.path(), dir.path(), 100);
            let path = segment_file(dir.path(), 100, "log");
            OpenOptions::new()
                .write(true)
                .open(&path)
                .unwrap()
                .set_len(cut)
                .unwrap();

            let (mut seg, report) =
                Segment::open(dir.path(), 100, &common::small_config(), mode).unwrap();
            assert_eq!(u64::from(seg.size()), earlier_end, "cut at {cut}");
            assert_eq!(seg.next_offset(), 100 + 4 * 3, "cut at {cut}");
            if cut > earlier_end {
                assert!(report.recovered.is_some(), "cut at {cut} must recover");
                // In an active segment the cut is followed by preallocated zeros, so a cut
                // that left only zero bytes is indistinguishable from preallocation.
                let written = &log[earlier_end as usize..cut as usize];
                if mode == OpenMode::Sealed || written.iter().any(|&b| b != 0) {
                    assert!(report.torn.is_some(), "cut at {cut} is a torn tail");
                }
            }
            let reader = seg.reader();
            assert_eq!(common::records_of(reader.bytes()).len(), 12);
            assert_eq!(reader.bytes(), &log[..earlier_end as usize]);
            if mode == OpenMode::Active {
                let info = seg
                    .append(&common::batch(9, 2, 10, Compression::None))
                    .unwrap();
                assert_eq!(info.base_offset, 112);
                assert_eq!(
                    seg.reader()
                        .read(112, 1 << 20)
                        .unwrap()
                        .unwrap()
                        .batches()
                        .count(),
                    1
                );
            } else {
                assert_eq!(
                    std::fs::metadata(&path).unwrap().len(),
                    earlier_end,
                    "sealed file trimmed"
                );
            }
        }
    }
}

/// A crash leaves the active segment preallocated: valid batches then zeros. Reopening
/// trusts nothing past the last valid batch and treats the zeros as no data.
#[test]
fn unclean_active_segment_is_recovered() {
    let dir = tempfile::tempdir().unwrap();
    let mut seg = Segment::create(dir.path(), 0, &common::small_config()).unwrap();
    for i in 0..50 {
        seg.append(&common::batch(i, 4, 64, Compression::None))
            .unwrap();
    }
    let (end, next, entries) = (seg.size(), seg.next_offset(), seg.offset_index_entries());
    assert!(entries > 0);
    drop(seg); // no seal: as if the process died

    let (seg, report) =
        Segment::open(dir.path(), 0, &common::small_config(), OpenMode::Active).unwrap();
    assert!(report.recovered.is_some());
    assert!(
        report.torn.is_none(),
        "zeros after the end are preallocation, not a torn tail"
    );
    assert_eq!(
        (seg.size(), seg.next_offset(), seg.offset_index_entries()),
        (end, next, entries)
    );
}

/// Garbage (not zeros) after the last batch of an active segment is cut, and reading
/// zeros there afterwards shows nothing stale survives.
#[test]
fn garbage_after_tail_is_cut_and_zeroed() {
    let dir = tempfile::tempdir().unwrap();
    let mut seg = Segment::create(dir.path(), 0, &common::small_config()).unwrap();
    let b = common::batch(0, 5, 30, Compression::None);
    seg.append(&b).unwrap();
    seg.append(&b).unwrap();
    let end = seg.size() as usize;
    drop(seg);
    // Half of a third batch, as a torn write leaves it.
    let path = segment_file(dir.path(), 0, "log");
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[end..end + b.len() / 2].copy_from_slice(&b[..b.len() / 2]);
    std::fs::write(&path, &bytes).unwrap();

    let (mut seg, report) =
        Segment::open(dir.path(), 0, &common::small_config(), OpenMode::Active).unwrap();
    assert!(report.torn.is_some());
    assert_eq!(seg.size() as usize, end);
    let on_disk = std::fs::read(&path).unwrap();
    assert!(
        on_disk[end..end + b.len()].iter().all(|&x| x == 0),
        "torn bytes zeroed"
    );
    assert_eq!(seg.append(&b).unwrap().base_offset, 10);
}
