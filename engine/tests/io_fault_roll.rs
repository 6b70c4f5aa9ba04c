//! A segment that cannot be created, or whose indexes cannot grow, fails the append that
//! needed it with the typed I/O error (naming the call and the file), leaves no file of the
//! new segment behind, loses nothing acknowledged and serves nothing half-written; once the
//! cause is gone the same log takes appends again, at the next offset. Each file-level call
//! of a segment's creation fails in turn, through the `failpoints` feature.

mod common;
mod fault_support;

use fault_support::{assert_holds, assert_io, clear, inject, scenario, segment_bases};

const TOPIC: &str = "t";

/// Appends batches of 10 records from `next` until one fails; returns the error and the
/// new `next`.
fn append_until_error(engine: &silt_engine::Engine, next: &mut u64) -> silt_engine::EngineError {
    loop {
        match engine.append(TOPIC, 0, &common::batch(*next, 10)) {
            Ok(info) => {
                assert_eq!(info.first_offset, *next as i64);
                *next += 10;
            }
            Err(e) => return e,
        }
        assert!(*next < 100_000, "the segment never rolled");
    }
}

/// One case: failpoint `name` fails the next roll with `op` on a file whose name contains
/// `file`.
fn roll_fails_and_recovers(name: &str, op: &str, file: &str) {
    let dir = tempfile::tempdir().unwrap();
    let engine = common::open(dir.path());
    engine
        .create_topic(common::small_topic(TOPIC, 1, 8192))
        .unwrap();
    let mut next = 0u64;
    engine.append(TOPIC, 0, &common::batch(0, 10)).unwrap();
    next += 10;
    engine.flush().unwrap();

    inject(name, "return(ENOSPC)");
    let err = append_until_error(&engine, &mut next);
    assert!(
        next > 10,
        "appends went on until a roll was needed ({name})"
    );
    assert_io(&err, op, libc::ENOSPC, file);
    let log = engine.log(TOPIC, 0).unwrap();
    assert!(
        log.failure().is_none(),
        "a failed creation takes nothing offline"
    );
    assert_eq!(
        segment_bases(&engine, TOPIC, 0),
        [0],
        "no file of the new segment is left ({name})"
    );
    assert!(
        fault_support::files(&engine, TOPIC, 0)
            .iter()
            .all(|f| f.starts_with("00000000000000000000.")),
        "{:?}",
        fault_support::files(&engine, TOPIC, 0)
    );
    assert_holds(&engine, TOPIC, 0, next);
    // The cause is still there: the next try fails the same way and changes nothing.
    let again = engine
        .append(TOPIC, 0, &common::batch(next, 10))
        .unwrap_err();
    assert_io(&again, op, libc::ENOSPC, file);
    assert_holds(&engine, TOPIC, 0, next);

    clear(name);
    let info = engine.append(TOPIC, 0, &common::batch(next, 10)).unwrap();
    assert_eq!(info.first_offset, next as i64, "offsets go on with no gap");
    next += 10;
    assert_eq!(segment_bases(&engine, TOPIC, 0), [0, info.first_offset]);
    assert_eq!(engine.log(TOPIC, 0).unwrap().segment_count(), 2);
    engine.flush().unwrap();
    assert_holds(&engine, TOPIC, 0, next);
    engine.close().unwrap();

    let engine = common::open(dir.path());
    assert!(engine.open_report().clean);
    assert_holds(&engine, TOPIC, 0, next);
    engine.append(TOPIC, 0, &common::batch(next, 10)).unwrap();
    assert_holds(&engine, TOPIC, 0, next + 10);
}

#[test]
fn roll_fails_cleanly_when_the_log_file_cannot_be_created() {
    let _scenario = scenario();
    roll_fails_and_recovers("segment.log.create", "open", ".log");
}

#[test]
fn roll_fails_cleanly_when_the_log_file_cannot_be_preallocated() {
    let _scenario = scenario();
    roll_fails_and_recovers("segment.log.fallocate", "fallocate", ".log");
}

#[test]
fn roll_fails_cleanly_when_the_log_file_cannot_be_mapped() {
    let _scenario = scenario();
    roll_fails_and_recovers("segment.log.mmap", "mmap", ".log");
}

#[test]
fn roll_fails_cleanly_when_an_index_cannot_be_created() {
    let _scenario = scenario();
    roll_fails_and_recovers("index.file.create", "open", ".index");
}

#[test]
fn roll_fails_cleanly_when_an_index_cannot_grow() {
    let _scenario = scenario();
    roll_fails_and_recovers("index.file.fallocate", "fallocate", ".index");
}

#[test]
fn roll_fails_cleanly_when_an_index_cannot_be_mapped() {
    let _scenario = scenario();
    roll_fails_and_recovers("index.file.mmap", "mmap", ".index");
}

/// The time index is created after the offset index: a failure there removes both.
#[test]
fn roll_fails_cleanly_when_the_time_index_cannot_grow() {
    let _scenario = scenario();
    // The first preallocation of an index is the offset index's; the second fails.
    roll_fails_and_recovers_with(
        "index.file.fallocate",
        "1*off->return(ENOSPC)",
        ".timeindex",
    );
}

fn roll_fails_and_recovers_with(name: &str, actions: &str, file: &str) {
    let dir = tempfile::tempdir().unwrap();
    let engine = common::open(dir.path());
    engine
        .create_topic(common::small_topic(TOPIC, 1, 8192))
        .unwrap();
    engine.append(TOPIC, 0, &common::batch(0, 10)).unwrap();
    let mut next = 10u64;
    inject(name, actions);
    let err = append_until_error(&engine, &mut next);
    assert_io(&err, "fallocate", libc::ENOSPC, file);
    assert_eq!(segment_bases(&engine, TOPIC, 0), [0]);
    assert!(fault_support::files(&engine, TOPIC, 0)
        .iter()
        .all(|f| f.starts_with("00000000000000000000.")));
    assert_holds(&engine, TOPIC, 0, next);
    clear(name);
    engine.append(TOPIC, 0, &common::batch(next, 10)).unwrap();
    assert_holds(&engine, TOPIC, 0, next + 10);
}

/// Reopening the last segment for appends preallocates its files again (they were trimmed
/// at close): when its index cannot grow back, the append fails with the typed error,
/// reads go on, and the next append, once the cause is gone, succeeds.
#[test]
fn reopening_the_active_segment_fails_cleanly_when_its_index_cannot_grow() {
    let _scenario = scenario();
    for (name, op, file) in [
        ("index.file.fallocate", "fallocate", ".index"),
        ("segment.log.fallocate", "fallocate", ".log"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let engine = common::open(dir.path());
        engine
            .create_topic(common::small_topic(TOPIC, 1, 1 << 20))
            .unwrap();
        engine.append(TOPIC, 0, &common::batch(0, 50)).unwrap();
        engine.close().unwrap();

        let engine = common::open(dir.path());
        assert_holds(&engine, TOPIC, 0, 50);
        inject(name, "return(ENOSPC)");
        let err = engine.append(TOPIC, 0, &common::batch(50, 10)).unwrap_err();
        assert_io(&err, op, libc::ENOSPC, file);
        assert_holds(&engine, TOPIC, 0, 50);
        clear(name);
        let info = engine.append(TOPIC, 0, &common::batch(50, 10)).unwrap();
        assert_eq!(info.first_offset, 50);
        engine.close().unwrap();

        let engine = common::open(dir.path());
        assert_holds(&engine, TOPIC, 0, 60);
    }
}
