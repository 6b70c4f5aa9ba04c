//! Compaction meets a write failure. Before the swap is decided (the cleaned segment's
//! files cannot be created, preallocated, trimmed or synced; the renames to `.swap` or the
//! directory sync after them fail) the cleaning fails with the typed I/O error, the log is
//! exactly as before with no temporary file left, and the next cleaning, once the cause is
//! gone, succeeds. After the swap is decided (a rename of the install fails) the directory is
//! part way between old and new segments: the log goes offline (`LogFailed`), reads go on,
//! other partitions carry on, and reopening finishes the swap as after a crash.

mod common;
mod fault_support;

use std::path::Path;

use common::compaction::{compact_topic, compacted, keyed_batch, read_log, roll, Entry};
use fault_support::{assert_holds, assert_io, assert_log_failed, clear, files, inject, scenario};
use silt_engine::Engine;
use silt_segment::batch::Compression;

const TOPIC: &str = "t";

/// A compacted log of several closed segments full of overwrites (so a cleaning merges
/// them), plus the active one. Returns its records and what a cleaning leaves of them.
fn setup(dir: &Path) -> (Engine, Vec<Entry>, Vec<Entry>) {
    let engine = common::open(dir);
    engine.create_topic(compact_topic(TOPIC, 1024)).unwrap();
    let log = engine.log(TOPIC, 0).unwrap();
    for i in 0..40 {
        let (v, k) = (i.to_string(), format!("k{}", i % 5));
        log.append(&keyed_batch(
            &[("a", Some(&v)), ("b", Some(&v)), (&k, Some(&v))],
            common::T0,
            Compression::None,
        ))
        .unwrap();
    }
    roll(&log, common::T0);
    assert!(log.segment_count() >= 4, "{}", log.segment_count());
    let entries = read_log(&log);
    let active_base = *log.segment_base_offsets().unwrap().last().unwrap();
    let cleaned = compacted(&entries, active_base);
    assert!(cleaned.len() < entries.len());
    (engine, entries, cleaned)
}

/// No file of a cleaning in progress is left in the partition's directory.
#[track_caller]
fn assert_no_temporary_files(engine: &Engine) {
    let left: Vec<String> = files(engine, TOPIC, 0)
        .into_iter()
        .filter(|f| f.ends_with(".cleaned") || f.ends_with(".swap") || f.ends_with(".deleted"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn a_cleaning_that_fails_before_its_swap_is_decided_changes_nothing() {
    let _scenario = scenario();
    let cases = [
        // Writing the cleaned segment.
        ("segment.log.create", "open", libc::ENOSPC, ".log.cleaned"),
        (
            "segment.log.fallocate",
            "fallocate",
            libc::ENOSPC,
            ".log.cleaned",
        ),
        ("index.file.create", "open", libc::ENOSPC, ".index.cleaned"),
        (
            "index.file.fallocate",
            "fallocate",
            libc::ENOSPC,
            ".index.cleaned",
        ),
        // Sealing it: trim, fsync, then the indexes' trim and fdatasync.
        (
            "segment.log.truncate",
            "truncate",
            libc::EIO,
            ".log.cleaned",
        ),
        ("segment.log.sync", "fsync", libc::EIO, ".log.cleaned"),
        (
            "index.file.truncate",
            "truncate",
            libc::EIO,
            ".index.cleaned",
        ),
        ("index.file.sync", "fdatasync", libc::EIO, ".index.cleaned"),
        // Deciding the swap: the renames to `.swap`, the directory sync after them.
        ("engine.cleaner.swap", "rename", libc::EIO, ".log.cleaned"),
        (
            "engine.fsutil.sync_dir",
            "fsync directory",
            libc::EIO,
            "t-0",
        ),
    ];
    for (name, op, errno, file) in cases {
        let dir = tempfile::tempdir().unwrap();
        let (engine, entries, cleaned) = setup(dir.path());
        let log = engine.log(TOPIC, 0).unwrap();
        let errno_name = if errno == libc::ENOSPC {
            "ENOSPC"
        } else {
            "EIO"
        };
        inject(name, &format!("return({errno_name})"));
        let err = log.clean(common::T0).unwrap_err();
        assert_io(&err, op, errno, file);
        assert!(log.failure().is_none(), "{name}: nothing was decided");
        assert_eq!(read_log(&log), entries, "{name}: the log is as it was");
        assert_no_temporary_files(&engine);
        assert_eq!(log.first_dirty_offset(), -1, "{name}");

        clear(name);
        log.clean(common::T0).unwrap().expect("still dirty");
        assert_eq!(read_log(&log), cleaned, "{name}");
        assert_no_temporary_files(&engine);
        log.append(&keyed_batch(
            &[("z", Some("after"))],
            common::T0,
            Compression::None,
        ))
        .unwrap();
        engine.close().unwrap();

        let engine = common::open(dir.path());
        let log = engine.log(TOPIC, 0).unwrap();
        let mut expected = cleaned.clone();
        let next = entries.last().unwrap().0 + 1;
        expected.push((next, Some("z".into()), Some("after".into())));
        assert_eq!(read_log(&log), expected, "{name}");
    }
}

#[test]
fn a_swap_that_fails_after_its_commit_point_takes_the_log_offline_until_reopen() {
    let _scenario = scenario();
    let dir = tempfile::tempdir().unwrap();
    let (engine, entries, cleaned) = setup(dir.path());
    engine
        .create_topic(common::small_topic("other", 1, 1 << 20))
        .unwrap();
    let log = engine.log(TOPIC, 0).unwrap();
    let name = "engine.cleaner.install";
    inject(name, "return(EIO)");
    let err = log.clean(common::T0).unwrap_err();
    let (_, fault) = assert_log_failed(&err, TOPIC, 0);
    assert_eq!(
        (fault.op, fault.errno),
        ("rename", Some(libc::EIO)),
        "{err}"
    );
    assert!(fault.path.to_string_lossy().ends_with(".log.swap"), "{err}");
    assert!(log.failure().is_some());
    // Reads go on from the segments the log lists (still mapped, or not yet replaced).
    assert_eq!(read_log(&log), entries);
    let batch = keyed_batch(&[("z", Some("refused"))], common::T0, Compression::None);
    assert_log_failed(&log.append(&batch).unwrap_err(), TOPIC, 0);
    assert_log_failed(&log.clean(common::T0).unwrap_err(), TOPIC, 0);
    // The engine's cleaning skips the offline log; the other partition carries on.
    engine.clean_logs().unwrap();
    engine.append("other", 0, &common::batch(0, 10)).unwrap();
    engine.flush_up_to("other", 0, 10).unwrap();
    assert_log_failed(&engine.close().unwrap_err(), TOPIC, 0);
    drop((log, engine));

    // Opening finishes the decided swap; while its rename still fails, so does the open,
    // with the same typed error and nothing changed.
    let err = Engine::open(dir.path(), common::quiet_config()).unwrap_err();
    assert_io(&err, "rename", libc::EIO, ".log.swap");
    clear(name);
    let engine = common::open(dir.path());
    assert!(!engine.open_report().clean);
    let log = engine.log(TOPIC, 0).unwrap();
    assert!(log.failure().is_none());
    assert_eq!(read_log(&log), cleaned);
    assert_no_temporary_files(&engine);
    log.append(&keyed_batch(
        &[("z", Some("after"))],
        common::T0,
        Compression::None,
    ))
    .unwrap();
    log.flush().unwrap();
    assert_eq!(read_log(&log).last().unwrap().2.as_deref(), Some("after"));
    assert_holds(&engine, "other", 0, 10);
    engine.close().unwrap();
}
