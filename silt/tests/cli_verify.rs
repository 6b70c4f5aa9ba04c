//! `silt verify`: a healthy data directory written by the engine passes with a summary;
//! damage (a flipped bit in a closed segment, an index cut short, a bogus index entry,
//! corrupt metadata, a checkpoint past the log) is reported by file and byte position with a
//! non-zero exit; and verifying changes nothing.

mod tools_support;

use std::path::Path;

use silt::{Engine, EngineConfig};
use tools_support::{
    batch_positions, flip_bit, healthy_dir, segments, silt, snapshot, write_events,
};

/// The `PROBLEM` lines of a run.
fn problems(run: &tools_support::Run) -> Vec<&str> {
    run.stdout
        .lines()
        .filter(|l| l.starts_with("PROBLEM "))
        .collect()
}

#[test]
fn a_healthy_directory_passes_with_a_summary() {
    let dir = healthy_dir(3000);
    let run = silt(dir.path(), &["verify"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stderr, "");
    let summary = run.stdout.lines().last().unwrap();
    assert!(summary.contains("no problems found"), "{summary}");
    assert!(summary.contains(" 3000 records"), "{summary}");
    assert!(summary.contains("1 topics, 2 partitions"), "{summary}");
    assert!(problems(&run).is_empty());
    assert!(!run.stdout.contains("warning"), "{}", run.stdout);
    // Several segments per partition, each listed with --verbose.
    let verbose = silt(dir.path(), &["verify", "--verbose"]);
    let listed = verbose
        .stdout
        .lines()
        .filter(|l| l.ends_with(", ok"))
        .count();
    assert!(listed >= 4, "{}", verbose.stdout);
}

#[test]
fn verifying_changes_nothing() {
    let dir = healthy_dir(1000);
    let before = snapshot(dir.path());
    assert_eq!(silt(dir.path(), &["verify"]).code, 0);
    let log = &segments(&dir.path().join("events-1"))[0];
    flip_bit(log, 100);
    let damaged = snapshot(dir.path());
    assert_ne!(silt(dir.path(), &["verify"]).code, 0);
    assert_eq!(
        snapshot(dir.path()),
        damaged,
        "verify wrote to the directory"
    );
    assert_eq!(before.len(), damaged.len());
}

#[test]
fn a_flipped_bit_in_a_closed_segment_is_reported_at_its_batch() {
    let dir = healthy_dir(3000);
    let logs = segments(&dir.path().join("events-0"));
    assert!(logs.len() >= 2, "need a closed segment: {logs:?}");
    let log = &logs[0];
    let positions = batch_positions(log);
    let batch = positions[positions.len() / 2];
    flip_bit(log, batch + 80);

    let run = silt(dir.path(), &["verify"]);
    let line = run.one_error_line();
    assert!(line.contains(&log.display().to_string()), "{line}");
    let found = problems(&run);
    assert_eq!(found.len(), 1, "{}", run.stdout);
    let expected = format!(
        "PROBLEM {} at byte {batch}: checksum mismatch",
        log.display()
    );
    assert!(
        found[0].starts_with(&expected),
        "{}\nexpected {expected}",
        found[0]
    );
    assert!(run
        .stdout
        .lines()
        .last()
        .unwrap()
        .contains("1 problem, 0 warnings"));
}

#[test]
fn an_index_cut_short_is_reported_at_its_last_entry() {
    let dir = healthy_dir(3000);
    let index = segments(&dir.path().join("events-1"))[0].with_extension("index");
    let len = std::fs::metadata(&index).unwrap().len();
    assert!(len >= 16, "the index needs entries: {len}");
    std::fs::OpenOptions::new()
        .write(true)
        .open(&index)
        .unwrap()
        .set_len(len - 3)
        .unwrap();

    let run = silt(dir.path(), &["verify"]);
    run.one_error_line();
    let found = problems(&run);
    assert_eq!(found.len(), 1, "{}", run.stdout);
    let expected = format!(
        "PROBLEM {} at byte {}: length {} is not a multiple",
        index.display(),
        len - 8,
        len - 3
    );
    assert!(
        found[0].starts_with(&expected),
        "{}\nexpected {expected}",
        found[0]
    );
}

#[test]
fn a_bogus_index_entry_is_reported_by_entry() {
    let dir = healthy_dir(3000);
    let log = &segments(&dir.path().join("events-0"))[0];
    let index = log.with_extension("index");
    let time_index = log.with_extension("timeindex");
    // Offset index entry 1: a position inside a batch.
    let mut bytes = std::fs::read(&index).unwrap();
    let position = u32::from_be_bytes(bytes[12..16].try_into().unwrap());
    bytes[12..16].copy_from_slice(&(position + 5).to_be_bytes());
    std::fs::write(&index, &bytes).unwrap();
    // Time index entry 0: a timestamp the log does not hold.
    let mut times = std::fs::read(&time_index).unwrap();
    let ts = i64::from_be_bytes(times[0..8].try_into().unwrap());
    times[0..8].copy_from_slice(&(ts - 1).to_be_bytes());
    std::fs::write(&time_index, &times).unwrap();

    let run = silt(dir.path(), &["verify"]);
    run.one_error_line();
    let found = problems(&run);
    // The time index may also lose its last entry's agreement with the segment's largest
    // timestamp (when entry 0 is the last): a third problem, after these two.
    assert!(found.len() >= 2, "{}", run.stdout);
    let offset = format!("PROBLEM {} at byte 8: entry 1 (offset", index.display());
    assert!(found[0].starts_with(&offset), "{}", found[0]);
    assert!(
        found[0].contains(&format!("points at position {}", position + 5)),
        "{}",
        found[0]
    );
    let time = format!(
        "PROBLEM {} at byte 0: entry 0 says timestamp {}",
        time_index.display(),
        ts - 1
    );
    assert!(found[1].starts_with(&time), "{}", found[1]);
}

#[test]
fn corrupt_metadata_and_a_checkpoint_past_the_log_are_reported() {
    let dir = healthy_dir(500);
    let meta = dir.path().join("__silt_topics/events.topic");
    let text = std::fs::read_to_string(&meta).unwrap();
    std::fs::write(&meta, text.replace("partitions=2", "partitions=3")).unwrap();
    let checkpoint = dir.path().join("recovery-point-offset-checkpoint");
    let text = std::fs::read_to_string(&checkpoint).unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with("events 1 "))
        .unwrap()
        .to_string();
    std::fs::write(&checkpoint, text.replace(&line, "events 1 999999")).unwrap();

    let run = silt(dir.path(), &["verify"]);
    run.one_error_line();
    let found = problems(&run);
    assert_eq!(found.len(), 2, "{}", run.stdout);
    assert!(
        found[0].starts_with(&format!("PROBLEM {} at byte ", meta.display())),
        "{}",
        found[0]
    );
    assert!(found[0].contains("checksum mismatch"), "{}", found[0]);
    let at = text.find("events 1 ").unwrap();
    let expected = format!(
        "PROBLEM {} at byte {at}: recovery point 999999 of events-1 is past its log end",
        checkpoint.display()
    );
    assert!(
        found[1].starts_with(&expected),
        "{}\nexpected {expected}",
        found[1]
    );
}

#[test]
fn a_missing_partition_directory_is_a_problem() {
    let dir = healthy_dir(200);
    std::fs::remove_dir_all(dir.path().join("events-1")).unwrap();
    let run = silt(dir.path(), &["verify"]);
    run.one_error_line();
    let found = problems(&run);
    assert_eq!(found.len(), 1, "{}", run.stdout);
    assert!(found[0].contains("events-1: missing"), "{}", run.stdout);
    // The checkpoints' entries for it are only warnings.
    assert!(run
        .stdout
        .contains("entry for events-1, which has no directory"));
}

#[test]
fn a_directory_in_use_passes_with_warnings_for_its_active_segments() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::open(dir.path(), EngineConfig::default()).unwrap();
    write_events(&engine, 2000);
    // The engine stays open: its lock is held and the active segments are preallocated.
    let run = silt(dir.path(), &["verify"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout.contains("held by another process"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("preallocated zeros"), "{}", run.stdout);
    assert!(problems(&run).is_empty(), "{}", run.stdout);
    engine.close().unwrap();
    // Closed: no warnings left.
    let run = silt(dir.path(), &["verify"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(!run.stdout.contains("warning"), "{}", run.stdout);
}

#[test]
fn an_unclosed_tail_in_a_cleanly_closed_directory_is_damage() {
    let dir = healthy_dir(500);
    let logs = segments(&dir.path().join("events-0"));
    let last = logs.last().unwrap();
    let len = std::fs::metadata(last).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(last)
        .unwrap()
        .set_len(len + 4096)
        .unwrap();
    let run = silt(dir.path(), &["verify"]);
    run.one_error_line();
    let found = problems(&run);
    assert_eq!(found.len(), 1, "{}", run.stdout);
    let expected = format!(
        "PROBLEM {} at byte {len}: 4096 bytes of preallocated zeros",
        last.display()
    );
    assert!(found[0].starts_with(&expected), "{}", found[0]);
}

#[test]
fn a_missing_data_directory_is_one_line() {
    let run = silt(Path::new("/nonexistent/silt-data"), &["verify"]);
    let line = run.one_error_line();
    assert!(line.contains("/nonexistent/silt-data"), "{line}");
}
