//! Descriptors a segment keeps: only an active segment's own `.log` file, open for
//! `pwritev` appends, within the process's budget (`set_append_file_budget`). Indexes are
//! mapped and closed; sealed, reopened-sealed and recovered segments hold nothing; and
//! appends, reads, flushes, syncs, seals, truncation and recovery all work (the calls that
//! need a descriptor open the file for their duration). An active segment over the budget
//! holds nothing either and copies its appends into the map, writing the same bytes.
//!
//! One test, because the budget is process-wide and the phases change it.

mod common;

use std::path::{Path, PathBuf};

use silt_segment::batch::Compression;
use silt_segment::log::{set_append_file_budget, OpenMode, SealedOpen, Segment, SegmentReader};

fn open_fds(dir: &Path) -> Vec<PathBuf> {
    let mut open = common::files::open_fds_under(dir);
    open.sort();
    open
}

fn assert_no_fds(dir: &Path, when: &str) {
    let open = open_fds(dir);
    assert!(open.is_empty(), "{when}: files still open: {open:?}");
}

fn log_files(segments: &[Segment]) -> Vec<PathBuf> {
    let mut logs: Vec<PathBuf> = segments
        .iter()
        .map(|s| s.path().canonicalize().unwrap())
        .collect();
    logs.sort();
    logs
}

#[test]
fn segments_hold_only_the_active_log_file_within_the_budget() {
    set_append_file_budget(1 << 20);
    let dir = tempfile::tempdir().unwrap();
    let config = common::small_config();
    let mut segments = Vec::new();
    for s in 0..8i64 {
        let mut seg = Segment::create(dir.path(), s * 1000, &config).unwrap();
        for i in 0..50 {
            seg.append(&common::batch(i, 3, 60, Compression::None))
                .unwrap();
        }
        segments.push(seg);
    }
    assert_eq!(
        open_fds(dir.path()),
        log_files(&segments),
        "after create and append: each active segment's .log, nothing else"
    );

    // Flush (the first one fdatasyncs after preallocation), sync, read, truncate, seal.
    let mut readers = Vec::new();
    for seg in &mut segments {
        seg.flush().unwrap();
        seg.syncer().sync().unwrap();
        assert!(seg.truncate_to(seg.base_offset() + 120).unwrap() > 0);
        seg.append(&common::batch(99, 2, 60, Compression::None))
            .unwrap();
        seg.seal().unwrap();
        let reader = seg.reader();
        assert_eq!(common::records_of(reader.bytes()).len(), 122);
        readers.push(reader);
    }
    assert_no_fds(dir.path(), "after flush, sync, truncate and seal");

    // Reopen in every way, including one that recovers.
    drop(segments);
    let (active, _) = Segment::open(dir.path(), 0, &config, OpenMode::Active).unwrap();
    let (sealed, _) = Segment::open(dir.path(), 1000, &config, OpenMode::Sealed).unwrap();
    let (recovered, report) =
        Segment::open_with(dir.path(), 2000, &config, OpenMode::Sealed, true).unwrap();
    assert!(report.recovered.is_some());
    let SealedOpen::Trusted(lazy) = SegmentReader::open_sealed(dir.path(), 3000, &config).unwrap()
    else {
        panic!("a sealed segment opens trusted");
    };
    assert_eq!(
        open_fds(dir.path()),
        vec![active.path().canonicalize().unwrap()],
        "after reopening: the active segment's .log only"
    );

    for reader in [active.reader(), sealed.reader(), recovered.reader(), lazy] {
        assert_eq!(common::records_of(reader.bytes()).len(), 122);
        assert!(reader.read(121, 1 << 20).unwrap().is_some());
    }
    let mut active = active;
    active
        .append(&common::batch(100, 1, 10, Compression::None))
        .unwrap();
    active.flush().unwrap();
    active.seal().unwrap();
    assert_no_fds(
        dir.path(),
        "after appending to the reopened segment and sealing it",
    );
    drop(readers);

    // Over the budget: no descriptor, appends copied into the map, the same bytes written.
    set_append_file_budget(0);
    let mapped_dir = tempfile::tempdir().unwrap();
    let written_dir = tempfile::tempdir().unwrap();
    let mut mapped = Segment::create(mapped_dir.path(), 0, &config).unwrap();
    assert_no_fds(mapped_dir.path(), "created over the budget");
    set_append_file_budget(1 << 20);
    let mut written = Segment::create(written_dir.path(), 0, &config).unwrap();
    assert_eq!(open_fds(written_dir.path()).len(), 1);
    for i in 0..40 {
        // Batches carry base offsets the segment restamps: both ways must.
        let batch = common::batch(1000 + i, 1 + (i % 4) as u32, 40, Compression::None);
        let a = mapped.append(&batch).unwrap();
        let b = written.append(&batch).unwrap();
        assert_eq!(a, b);
    }
    let many: Vec<u8> = (0..5)
        .flat_map(|i| common::batch(i, 2, 30, Compression::None))
        .collect();
    assert_eq!(
        mapped.append(&many).unwrap(),
        written.append(&many).unwrap()
    );
    // Small appends go to the map while the pages the last write left cached last; larger
    // ones, and small ones past those pages, are written: mixed, still the same bytes.
    for i in 0..30u64 {
        let batch = if i % 3 == 0 {
            common::batch(2000 + i, 3, 3000, Compression::None)
        } else {
            common::batch(2000 + i, 2, 50, Compression::None)
        };
        assert_eq!(
            mapped.append(&batch).unwrap(),
            written.append(&batch).unwrap()
        );
    }
    assert_eq!(mapped.reader().bytes(), written.reader().bytes());
    mapped.seal().unwrap();
    written.seal().unwrap();
    assert_no_fds(written_dir.path(), "sealed");
    assert_eq!(
        std::fs::read(mapped.path()).unwrap(),
        std::fs::read(written.path()).unwrap(),
        "the files are byte for byte the same"
    );
}
