//! Consecutive segments whose cleaned batches fit in one segment are rewritten as one (as
//! Kafka's `groupSegmentsBySize`), and a crash at any step of such a swap leaves either the
//! old segments or the merged one: opening deletes the old segments the merged one covers.
//! An old segment that cleaning emptied, at the end of a group, lies past the merged
//! segment's offsets; a crash may leave it in place, which still reads as a valid log.

mod common;

use std::collections::HashMap;
use std::path::Path;

use common::compaction::{
    assert_offsets_rise, compact_topic, compacted, keyed_batch, read_log, roll, Entry,
};
use silt_engine::{CleanerStep, EngineError, Log};
use silt_segment::batch::Compression;

const SEGMENT_BYTES: u32 = 1024;

fn append(log: &Log, records: &[(&str, Option<&str>)]) {
    log.append(&keyed_batch(records, common::T0, Compression::None))
        .unwrap();
}

/// Three closed segments: `a` and `b` (long values); keys `x0..x4` (overwritten in the next
/// segment, so this one is emptied by cleaning); `x0..x4` again and unique keys. The first
/// two are merged; the third does not fit with them in 1024 bytes.
fn setup(dir: &Path) -> (Vec<Entry>, Vec<Entry>) {
    let engine = common::open(dir);
    engine
        .create_topic(compact_topic("t", SEGMENT_BYTES))
        .unwrap();
    let log = engine.log("t", 0).unwrap();
    let long = "v".repeat(200);
    append(&log, &[("a", Some(&long)), ("b", Some(&long))]);
    roll(&log, common::T0);
    let xs: Vec<String> = (0..5).map(|i| format!("x{i}")).collect();
    let old: Vec<(&str, Option<&str>)> = xs.iter().map(|k| (k.as_str(), Some("old"))).collect();
    append(&log, &old);
    roll(&log, common::T0);
    let new: Vec<(&str, Option<&str>)> = xs.iter().map(|k| (k.as_str(), Some("new"))).collect();
    append(&log, &new);
    let value = "u".repeat(100);
    for i in 0..3 {
        append(&log, &[(&format!("unique-{i}"), Some(&value))]);
    }
    roll(&log, common::T0);
    assert_eq!(log.segment_count(), 4);
    let before = read_log(&log);
    engine.close().unwrap();
    let copy = tempfile::tempdir().unwrap();
    common::crash_image(dir, copy.path());
    let engine = common::open(copy.path());
    let log = engine.log("t", 0).unwrap();
    let stats = log.clean(common::T0).unwrap().expect("dirty");
    assert_eq!(stats.segments_cleaned, 3);
    assert_eq!(
        log.segment_count(),
        3,
        "the first two segments are merged, the third is cleaned alone"
    );
    let after = read_log(&log);
    let end = log.segment_base_offsets().unwrap()[2];
    assert_eq!(after, compacted(&before, end));
    (before, after)
}

/// Cleans with the hook at `step` (the first swap is the merged group's, at base 0), then
/// returns a crash image of the directory.
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

fn latest_values(entries: &[Entry]) -> HashMap<Option<String>, Option<String>> {
    entries
        .iter()
        .map(|(_, k, v)| (k.clone(), v.clone()))
        .collect()
}

/// Opens the crash image and checks its log: records of the original log at their offsets,
/// every record the complete cleaning keeps, the same latest value for every key, no
/// leftover file; then that a cleaning makes it the complete cleaning's result.
fn check_recovered(image: &Path, before: &[Entry], after: &[Entry]) -> Vec<Entry> {
    let engine = common::open(image);
    let log = engine.log("t", 0).unwrap();
    let got = read_log(&log);
    assert_offsets_rise(&got);
    for entry in &got {
        assert!(before.contains(entry), "{entry:?} was never written");
    }
    for entry in after {
        assert!(got.contains(entry), "{entry:?} was lost");
    }
    assert_eq!(latest_values(&got), latest_values(after));
    for entry in std::fs::read_dir(image.join("t-0")).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        assert!(
            !name.ends_with(".cleaned") && !name.ends_with(".swap") && !name.ends_with(".deleted"),
            "leftover {name}"
        );
    }
    log.clean(common::T0).unwrap();
    assert_eq!(read_log(&log), after);
    engine.close().unwrap();
    let engine = common::open(image);
    assert_eq!(read_log(&engine.log("t", 0).unwrap()), after);
    got
}

#[test]
fn small_segments_are_merged_into_one() {
    let dir = tempfile::tempdir().unwrap();
    setup(dir.path());
}

#[test]
fn a_crash_with_cleaned_files_keeps_the_old_segments() {
    let dir = tempfile::tempdir().unwrap();
    let (before, after) = setup(dir.path());
    let image = crash_after(dir.path(), CleanerStep::Cleaned);
    let got = check_recovered(image.path(), &before, &after);
    assert_eq!(got, before);
}

#[test]
fn a_crash_after_the_swap_is_decided_installs_the_merged_segment() {
    let dir = tempfile::tempdir().unwrap();
    let (before, after) = setup(dir.path());
    let image = crash_after(dir.path(), CleanerStep::Swapped);
    // The emptied second segment lies past the merged segment's offsets: it stays.
    let got = check_recovered(image.path(), &before, &after);
    assert!(got.iter().any(|(_, _, v)| v.as_deref() == Some("old")));
    assert!(got.len() < before.len(), "the first segment was cleaned");
}

#[test]
fn a_crash_after_the_swap_deletes_the_merged_segments_it_covers() {
    let dir = tempfile::tempdir().unwrap();
    setup(dir.path());
    let image = crash_after(dir.path(), CleanerStep::Swapped);
    // As if the merged segment held the second segment's records: opening must delete the
    // second segment, or its offsets would be there twice.
    let part = image.path().join("t-0");
    let second = std::fs::read_dir(&part)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".log") && !n.starts_with("00000000000000000000"))
        .min()
        .unwrap();
    let mut merged = std::fs::read(part.join(&second)).unwrap();
    let mut swap = std::fs::read(part.join("00000000000000000000.log.swap")).unwrap();
    swap.append(&mut merged);
    std::fs::write(part.join("00000000000000000000.log.swap"), swap).unwrap();
    let engine = common::open(image.path());
    let got = read_log(&engine.log("t", 0).unwrap());
    assert_offsets_rise(&got);
    assert!(!part.join(&second).exists(), "{second} was merged");
}

#[test]
fn a_crash_with_the_old_segments_renamed_completes_the_swap() {
    let dir = tempfile::tempdir().unwrap();
    let (before, after) = setup(dir.path());
    let image = crash_after(dir.path(), CleanerStep::OldRenamed);
    check_recovered(image.path(), &before, &after);
}

#[test]
fn a_crash_before_the_deleted_files_are_removed_keeps_the_merged_segment() {
    let dir = tempfile::tempdir().unwrap();
    let (before, after) = setup(dir.path());
    let image = crash_after(dir.path(), CleanerStep::Replaced);
    let got = check_recovered(image.path(), &before, &after);
    assert!(
        !got.iter().any(|(_, _, v)| v.as_deref() == Some("old")),
        "the merged segments are gone"
    );
}
