//! A clean close leaves a marker and recovery points, so the next open validates nothing; an
//! unclean open validates only the segments from the one holding the recovery point on, and
//! cuts a torn tail there.

mod common;

use std::io::Write;

use silt_engine::RECOVERY_POINT_CHECKPOINT;

fn fill(engine: &silt_engine::Engine, segments: usize) -> u64 {
    let log = engine.log("t", 0).unwrap();
    let mut next = 0;
    while log.segment_count() < segments {
        engine.append("t", 0, &common::batch(next, 10)).unwrap();
        next += 10;
    }
    next
}

#[test]
fn clean_reopen_validates_nothing_and_appends_continue() {
    let dir = tempfile::tempdir().unwrap();
    let engine = common::open(dir.path());
    engine
        .create_topic(common::small_topic("t", 1, 16 << 10))
        .unwrap();
    let next = fill(&engine, 5);
    engine.close().unwrap();
    drop(engine);

    let engine = common::open(dir.path());
    let report = engine.open_report();
    assert!(report.clean);
    assert_eq!(report.segments_recovered, 0);
    assert_eq!(report.bytes_validated, 0);
    let log = engine.log("t", 0).unwrap();
    assert_eq!(
        log.recovery_point(),
        next as i64,
        "the whole log was durable at close"
    );
    assert_eq!(log.log_end_offset().unwrap(), next as i64);
    let info = engine.append("t", 0, &common::batch(next, 10)).unwrap();
    assert_eq!(info.first_offset, next as i64);
    assert_eq!(common::read_all(&engine, "t", 0, 0).len() as u64, next + 10);
}

#[test]
fn unclean_open_recovers_only_after_the_recovery_point() {
    let dir = tempfile::tempdir().unwrap();
    let engine = common::open(dir.path());
    engine
        .create_topic(common::small_topic("t", 1, 16 << 10))
        .unwrap();
    let flushed = fill(&engine, 6);
    engine.flush().unwrap(); // recovery point = log end, checkpoint written
    let log = engine.log("t", 0).unwrap();
    assert_eq!(log.recovery_point(), flushed as i64);
    // More appends after the checkpoint: these lie past the recovery point.
    let mut next = flushed;
    for _ in 0..5 {
        engine.append("t", 0, &common::batch(next, 10)).unwrap();
        next += 10;
    }
    let crashed_dir = tempfile::tempdir().unwrap();
    let crashed = crashed_dir.path().to_path_buf();
    common::crash_image(dir.path(), &crashed);
    assert!(crashed.join(RECOVERY_POINT_CHECKPOINT).exists());

    let engine2 = common::open(&crashed);
    let report = engine2.open_report();
    assert!(!report.clean);
    assert_eq!(
        report.segments_recovered, 1,
        "only the segment holding the recovery point (the last) is validated"
    );
    assert!(report.bytes_validated > 0);
    let all = common::read_all(&engine2, "t", 0, 0);
    assert_eq!(
        all.len() as u64,
        next,
        "page-cache data survives a process crash"
    );
}

#[test]
fn unclean_open_cuts_a_torn_tail() {
    let dir = tempfile::tempdir().unwrap();
    let engine = common::open(dir.path());
    engine
        .create_topic(common::small_topic("t", 1, 1 << 20))
        .unwrap();
    for i in 0..10 {
        engine.append("t", 0, &common::batch(i * 10, 10)).unwrap();
    }
    let crashed_dir = tempfile::tempdir().unwrap();
    let crashed = crashed_dir.path().to_path_buf();
    common::crash_image(dir.path(), &crashed);
    // Tear the last batch: overwrite its last bytes with garbage in the copy.
    let log_file = crashed.join("t-0").join("00000000000000000000.log");
    let end = engine.log("t", 0).unwrap().size_bytes().unwrap();
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .open(&log_file)
        .unwrap();
    use std::io::Seek;
    f.seek(std::io::SeekFrom::Start(end - 5)).unwrap();
    f.write_all(&[0xAB; 5]).unwrap();
    drop(f);

    let engine2 = common::open(&crashed);
    let report = engine2.open_report();
    assert_eq!(report.partitions_truncated, 1);
    let all = common::read_all(&engine2, "t", 0, 0);
    assert_eq!(all.len(), 90, "the torn batch is gone, the rest is intact");
    let info = engine2.append("t", 0, &common::batch(90, 10)).unwrap();
    assert_eq!(info.first_offset, 90);
}
