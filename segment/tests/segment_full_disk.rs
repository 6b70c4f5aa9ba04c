//! A full disk is an error when a segment is created (preallocation), never a SIGBUS later,
//! and what was already written stays readable. The disk is "filled" with RLIMIT_FSIZE,
//! which makes `posix_fallocate` past the limit fail with EFBIG, as ENOSPC would.

mod common;

use silt_segment::batch::Compression;
use silt_segment::log::{OpenMode, Segment, SegmentConfig};
use silt_segment::SegmentError;

#[test]
fn creation_fails_cleanly_when_the_disk_is_full() {
    let dir = tempfile::tempdir().unwrap();
    let config = SegmentConfig {
        segment_bytes: 256 << 10,
        ..common::small_config()
    };
    let mut first = Segment::create(dir.path(), 0, &config).unwrap();
    let b = common::batch(0, 10, 100, Compression::None);
    first.append(&b).unwrap();

    // SAFETY: setrlimit and signal only change this test process's limits and disposition;
    // this file holds a single test, so no other test thread depends on them.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
        let limit = libc::rlimit {
            rlim_cur: 128 << 10,
            rlim_max: libc::RLIM_INFINITY,
        };
        assert_eq!(libc::setrlimit(libc::RLIMIT_FSIZE, &limit), 0);
    }
    let err = Segment::create(dir.path(), 1000, &config).unwrap_err();
    assert!(
        matches!(
            err,
            SegmentError::Io {
                op: "fallocate",
                ..
            }
        ),
        "{err}"
    );
    assert!(
        err.to_string().contains("00000000000000001000.log"),
        "the error names the file: {err}"
    );

    // The segment created before the limit still appends (its blocks were reserved) and reads.
    first.append(&b).unwrap();
    assert_eq!(common::records_of(first.reader().bytes()).len(), 20);
    first.seal().unwrap();
    drop(first);
    let (seg, _) = Segment::open(dir.path(), 0, &config, OpenMode::Sealed).unwrap();
    assert_eq!(seg.next_offset(), 20);

    // SAFETY: as above; the limit is lifted again.
    unsafe {
        let limit = libc::rlimit {
            rlim_cur: libc::RLIM_INFINITY,
            rlim_max: libc::RLIM_INFINITY,
        };
        assert_eq!(libc::setrlimit(libc::RLIMIT_FSIZE, &limit), 0);
    }
    Segment::create(dir.path(), 1000, &config).unwrap();
}
