//! Retention passes that run at once (the background task, `enforce_retention`,
//! `delete_records`) delete segment files in offset order, so a process killed in the middle
//! leaves the log's oldest segments (which reappear, below an older log start) and never a
//! hole. Each pass takes its segments out of the log's list under the writer's lock and
//! removed their files after releasing it: a second pass could take the next segments and
//! remove their files first, and a kill then left a later segment without an earlier one
//! (offsets missing in the middle of the log, read as a corrupt segment). (Found by the crash
//! campaign, `consumer/tests/crash_campaign.rs`.)

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

const CHILD_ENV: &str = "SILT_TEST_RETENTION_RACER_DIR";
/// Kill cycles: a hole shows up within a few on a two-core machine without the ordering.
const CYCLES: u64 = 100;

/// The child: one thread appends; two delete records below the tail as fast as they can
/// (each call a retention pass over the segments below the new log start).
#[test]
fn child_retention_racer() {
    let Ok(dir) = std::env::var(CHILD_ENV) else {
        return; // run as a normal test: nothing to do
    };
    let engine = silt_engine::Engine::open(&dir, common::quiet_config()).unwrap();
    if !engine.list_topics().contains(&"t".to_string()) {
        engine
            .create_topic(common::small_topic("t", 1, 2048).config("retention.ms", "-1"))
            .unwrap();
    }
    let log = engine.log("t", 0).unwrap();
    println!("READY");
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| loop {
                let end = log.log_end_offset().unwrap();
                if end - 40 > log.log_start_offset() {
                    engine.delete_records("t", 0, end - 40).unwrap();
                }
            });
        }
        let mut next = log.log_end_offset().unwrap() as u64;
        loop {
            log.append(&common::batch(next, 4)).unwrap();
            next += 4;
        }
    });
}

/// Runs the child, kills it `delay` after it is ready.
fn run_and_kill(dir: &Path, delay: Duration) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_retention_racer",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    assert!(
        lines.any(|l| l.unwrap().contains("READY")),
        "the child did not start"
    );
    std::thread::sleep(delay); // a random kill moment: the point of the test
    child.kill().unwrap(); // SIGKILL
    assert!(!child.wait().unwrap().success(), "killed, not finished");
}

#[test]
fn a_kill_during_concurrent_retention_passes_leaves_no_hole() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = common::Rng(0x9e37_79b9_7f4a_7c15);
    for cycle in 0..CYCLES {
        run_and_kill(dir.path(), Duration::from_micros(2_000 + rng.below(30_000)));
        let engine = common::open(dir.path());
        let log = engine.log("t", 0).unwrap();
        let (start, end) = (log.log_start_offset(), log.log_end_offset().unwrap());
        let offsets: Vec<i64> = common::read_all(&engine, "t", 0, start)
            .into_iter()
            .map(|(offset, _)| offset)
            .collect();
        assert_eq!(
            offsets,
            (start..end).collect::<Vec<_>>(),
            "cycle {cycle}: the log from {start} to {end} has a hole; segments {:?}",
            log.segment_base_offsets().unwrap()
        );
        engine.close().unwrap();
    }
}
