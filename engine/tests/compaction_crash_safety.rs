//! A crash at any step of a segment swap leaves the old segment or the cleaned one, whole,
//! never a mix or a duplicate offset. Each test stops the cleaning after a step (the test
//! hook `Log::stop_cleaning_after`), copies the directory as a crash would leave it, opens
//! the copy and checks the log is all-old or all-new, no temporary file is left, and a
//! later cleaning completes.

mod common;

use std::path::Path;

use common::compaction::{assert_offsets_rise, compact_topic, keyed_batch, read_log, roll, Entry};
use silt_engine::{CleanerStep, EngineError};
use silt_segment::batch::Compression;

/// A log of one closed segment full of overwrites, plus the active one. Returns the records
/// before cleaning and after a complete cleaning (done on a copy).
fn setup(dir: &Path) -> (Vec<Entry>, Vec<Entry>) {
    let engine = common::open(dir);
    engine.create_topic(compact_topic("t", 1024)).unwrap();
    let log = engine.log("t", 0).unwrap();
    for i in 0..12 {
        let v = i.to_string();
        log.append(&keyed_batch(
            &[("a", Some(&v)), ("b", Some(&v))],
            common::T0,
            Compression::None,
        ))
        .unwrap();
    }
    roll(&log, common::T0);
    assert_eq!(log.segment_count(), 2);
    let old = read_log(&log);
    engine.close().unwrap();
    let copy = tempfile::tempdir().unwrap();
    common::crash_image(dir, copy.path());
    let engine = common::open(copy.path());
    engine
        .log("t", 0)
        .unwrap()
        .clean(common::T0)
        .unwrap()
        .expect("dirty");
    let new = read_log(&engine.log("t", 0).unwrap());
    assert_ne!(old, new);
    (old, new)
}

/// Cleans with the hook at `step`, then returns a crash image of the directory.
fn crash_after(dir: &Path, step: CleanerStep) -> tempfile::TempDir {
    let engine = common::open(dir);
    let log = engine.log("t", 0).unwrap();
    log.stop_cleaning_after(Some(step));
    match log.clean(common::T0) {
        Err(EngineError::CleanerInterrupted {
            step: s,
            base_offset: 0,
            ..
        }) => assert_eq!(s, step),
        other => panic!("expected an interruption, got {other:?}"),
    }
    let image = tempfile::tempdir().unwrap();
    common::crash_image(dir, image.path());
    image
}

fn partition_files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir.join("t-0"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

/// Opens the crashed copy and checks it holds `expected`, with no leftover file, then that
/// a cleaning still works and yields `cleaned`.
fn check_recovered(image: &Path, expected: &[Entry], cleaned: &[Entry]) {
    let engine = common::open(image);
    let log = engine.log("t", 0).unwrap();
    let got = read_log(&log);
    assert_offsets_rise(&got);
    assert_eq!(got, expected);
    for name in partition_files(image) {
        assert!(
            !name.ends_with(".cleaned") && !name.ends_with(".swap") && !name.ends_with(".deleted"),
            "leftover {name}"
        );
    }
    log.clean(common::T0).unwrap();
    assert_eq!(read_log(&log), cleaned);
    engine.close().unwrap();
    let engine = common::open(image);
    assert_eq!(read_log(&engine.log("t", 0).unwrap()), cleaned);
}

#[test]
fn a_crash_with_cleaned_files_keeps_the_old_segment() {
    let dir = tempfile::tempdir().unwrap();
    let (old, new) = setup(dir.path());
    let image = crash_after(dir.path(), CleanerStep::Cleaned);
    assert!(partition_files(image.path())
        .iter()
        .any(|n| n.ends_with(".log.cleaned")));
    check_recovered(image.path(), &old, &new);
}

#[test]
fn a_crash_after_the_swap_is_decided_completes_it() {
    let dir = tempfile::tempdir().unwrap();
    let (_, new) = setup(dir.path());
    let image = crash_after(dir.path(), CleanerStep::Swapped);
    let files = partition_files(image.path());
    assert!(files.iter().any(|n| n.ends_with(".log.swap")));
    assert!(
        files.contains(&"00000000000000000000.log".to_string()),
        "old segment intact"
    );
    check_recovered(image.path(), &new, &new);
}

#[test]
fn a_crash_after_the_swap_with_the_old_segment_deleted_completes_it() {
    let dir = tempfile::tempdir().unwrap();
    let (_, new) = setup(dir.path());
    let image = crash_after(dir.path(), CleanerStep::Swapped);
    for kind in ["log", "index", "timeindex"] {
        std::fs::remove_file(
            image
                .path()
                .join(format!("t-0/00000000000000000000.{kind}")),
        )
        .unwrap();
    }
    check_recovered(image.path(), &new, &new);
}

#[test]
fn a_crash_with_the_old_segment_renamed_deleted_completes_the_swap() {
    let dir = tempfile::tempdir().unwrap();
    let (_, new) = setup(dir.path());
    let image = crash_after(dir.path(), CleanerStep::OldRenamed);
    let files = partition_files(image.path());
    assert!(files.iter().any(|n| n.ends_with(".log.deleted")));
    assert!(files.iter().any(|n| n.ends_with(".log.swap")));
    check_recovered(image.path(), &new, &new);
}

#[test]
fn a_crash_before_the_deleted_files_are_removed_keeps_the_new_segment() {
    let dir = tempfile::tempdir().unwrap();
    let (_, new) = setup(dir.path());
    let image = crash_after(dir.path(), CleanerStep::Replaced);
    let files = partition_files(image.path());
    assert!(files.iter().any(|n| n.ends_with(".log.deleted")));
    assert!(!files.iter().any(|n| n.ends_with(".swap")));
    check_recovered(image.path(), &new, &new);
}

#[test]
fn index_swaps_without_the_log_swap_are_undone() {
    let dir = tempfile::tempdir().unwrap();
    let (old, new) = setup(dir.path());
    let image = crash_after(dir.path(), CleanerStep::Swapped);
    // As if the crash came between renaming the indexes and the `.log`.
    let part = image.path().join("t-0");
    std::fs::rename(
        part.join("00000000000000000000.log.swap"),
        part.join("00000000000000000000.log.cleaned"),
    )
    .unwrap();
    check_recovered(image.path(), &old, &new);
}
