//! A full disk fails the append that needs a new segment with a typed error; reads go on,
//! nothing written is lost, and appends succeed again once space is back. The disk is
//! "filled" with RLIMIT_FSIZE (this file holds one test, so the limit touches nothing else),
//! which makes `posix_fallocate` past the limit fail with EFBIG, as ENOSPC would.

mod common;

use silt_engine::EngineError;
use silt_segment::SegmentError;

fn set_file_size_limit(bytes: u64) {
    let limit = libc::rlimit {
        rlim_cur: bytes as libc::rlim_t,
        rlim_max: libc::RLIM_INFINITY,
    };
    // SAFETY: setrlimit and signal only change this test process's limit and the SIGXFSZ
    // disposition; this binary runs a single test.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
        assert_eq!(libc::setrlimit(libc::RLIMIT_FSIZE, &limit), 0);
    }
}

#[test]
fn roll_fails_on_a_full_disk_and_recovers_when_space_returns() {
    let dir = tempfile::tempdir().unwrap();
    let engine = common::open(dir.path());
    let segment_bytes = 256 << 10;
    engine
        .create_topic(common::small_topic("t", 1, segment_bytes))
        .unwrap();
    engine.append("t", 0, &common::batch(0, 100)).unwrap();
    let mut next = 100u64;

    // The first segment's blocks are reserved; the limit stops the next one being created.
    set_file_size_limit(u64::from(segment_bytes) / 2);
    let err = loop {
        match engine.append("t", 0, &common::batch(next, 100)) {
            Ok(_) => next += 100,
            Err(e) => break e,
        }
        assert!(next < 1_000_000, "the segment never filled");
    };
    assert!(next > 100, "appends went on until a roll was needed");
    assert!(
        matches!(
            err,
            EngineError::Segment(SegmentError::Io {
                op: "fallocate",
                ..
            })
        ),
        "a typed I/O error naming the call: {err}"
    );
    assert!(err.to_string().contains(".log"), "names the file: {err}");

    // Reads go on and see everything acknowledged, nothing of the failed append.
    let all = common::read_all(&engine, "t", 0, 0);
    assert_eq!(all.len() as u64, next);
    assert_eq!(
        engine.log("t", 0).unwrap().log_end_offset().unwrap(),
        next as i64
    );

    set_file_size_limit(libc::RLIM_INFINITY);
    let info = engine.append("t", 0, &common::batch(next, 100)).unwrap();
    assert_eq!(
        info.first_offset, next as i64,
        "offsets continue with no gap"
    );
    next += 100;
    let bases = engine.log("t", 0).unwrap().segment_base_offsets().unwrap();
    assert_eq!(bases.len(), 2, "{bases:?} {next}");
    engine.close().unwrap();

    let engine = common::open(dir.path());
    let all = common::read_all(&engine, "t", 0, 0);
    assert_eq!(all.len() as u64, next);
    for (i, (offset, value)) in all.iter().enumerate() {
        assert_eq!(*offset, i as i64);
        assert_eq!(value, &format!("value-{i}"));
    }
}
