//! An active segment appends with `pwritev` through the file it keeps open (appends under a
//! page, into pages that write left cached, are copied into the map). When that write
//! fails (here an injected EIO; in life a file size limit below the preallocated size, or an
//! I/O error), the append still succeeds: the segment gives its descriptor back and copies
//! this and every later append into its map, whose blocks are preallocated. Readers see every
//! batch, once, at the right offsets. Built with the `failpoints` feature.

mod common;

use common::value_batch as batch;
use silt_segment::log::{Segment, SegmentConfig};

fn open_fds_under(dir: &std::path::Path) -> usize {
    common::files::open_fds_under(dir).len()
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

    let seen = common::records_of(segment.reader().bytes());
    assert_eq!(
        seen,
        [
            (0, b"written".to_vec()),
            (1, large.clone().into_bytes()),
            (2, b"copied too".to_vec())
        ]
    );
    segment.seal().unwrap();
}
