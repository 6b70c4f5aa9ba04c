//! An active segment appends with `pwritev` through the file it keeps open (appends under a
//! page, into pages that write left cached, are copied into the map). When that write
//! fails (here an injected EIO; in life a file size limit below the preallocated size, or an
//! I/O error), the append still succeeds: the segment gives its descriptor back and copies
//! this and every later append into its map, whose blocks are preallocated. Readers see every
//! batch, once, at the right offsets. Built with the `failpoints` feature.

use silt_segment::batch::{BatchBuilder, BatchConfig, DecompressBuffer};
use silt_segment::log::{Segment, SegmentConfig};

fn batch(value: &str) -> Vec<u8> {
    let mut builder = BatchBuilder::new(BatchConfig::default());
    builder
        .append(1_700_000_000_000, None, Some(value.as_bytes()), &[])
        .unwrap();
    builder.finish().unwrap()
}

fn open_fds_under(dir: &std::path::Path) -> usize {
    let dir = dir.canonicalize().unwrap();
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|entry| std::fs::read_link(entry.ok()?.path()).ok())
        .filter(|target| target.starts_with(&dir))
        .count()
}

#[test]
fn a_failed_write_falls_back_to_the_map() {
    let _scenario = fail::FailScenario::setup();
    let dir = tempfile::tempdir().unwrap();
    let config = SegmentConfig {
        segment_bytes: 1 << 20,
        segment_index_bytes: 4096,
        ..SegmentConfig::default()
    };
    let mut segment = Segment::create(dir.path(), 0, &config).unwrap();
    segment.append(&batch("written")).unwrap();
    assert_eq!(open_fds_under(dir.path()), 1, "the .log is kept for writes");

    // A page or more: appends that small go to the map anyway while their pages are cached.
    let large = "copied".repeat(1000);
    fail::cfg("segment.log.write", "return(EIO)").unwrap();
    let info = segment.append(&batch(&large)).unwrap();
    assert_eq!(info.base_offset, 1);
    fail::remove("segment.log.write");
    assert_eq!(
        open_fds_under(dir.path()),
        0,
        "the descriptor was given back"
    );
    segment.append(&batch("copied too")).unwrap();

    let reader = segment.reader();
    let slice = reader.read(0, 1 << 20).unwrap().expect("offset 0");
    let mut buffer = DecompressBuffer::new();
    let mut seen = Vec::new();
    for batch in slice.batches() {
        let batch = batch.unwrap();
        batch.validate().unwrap();
        for record in batch.records(&mut buffer).unwrap() {
            let record = record.unwrap();
            seen.push((
                record.offset,
                String::from_utf8(record.value.unwrap().to_vec()).unwrap(),
            ));
        }
    }
    assert_eq!(
        seen,
        [
            (0, "written".to_string()),
            (1, large.clone()),
            (2, "copied too".to_string())
        ]
    );
    segment.seal().unwrap();
}
