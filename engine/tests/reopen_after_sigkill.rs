//! Reopen after an unclean stop: a child process appends (acknowledging each append on
//! stdout once it returned, i.e. once the batch is in the page cache) and is killed with
//! SIGKILL mid-stream. Every acknowledged record must come back exactly once, in order, with
//! its bytes, and the log must take appends again at the right offset.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

const CHILD_ENV: &str = "SILT_TEST_APPENDER_DIR";

/// The child: appends forever to `t`/0 and prints `ACK <last offset>` after each append.
#[test]
fn child_appender() {
    let Ok(dir) = std::env::var(CHILD_ENV) else {
        return; // run as a normal test: nothing to do
    };
    let engine = silt_engine::Engine::open(&dir, common::quiet_config()).unwrap();
    if !engine.list_topics().contains(&"t".to_string()) {
        engine
            .create_topic(common::small_topic("t", 1, 64 << 10))
            .unwrap();
    }
    let log = engine.log("t", 0).unwrap();
    let mut next = log.log_end_offset().unwrap() as u64;
    loop {
        let n = 1 + next % 7;
        let info = log.append(&common::batch(next, n)).unwrap();
        assert_eq!(info.first_offset, next as i64);
        next += n;
        println!("ACK {}", info.last_offset);
    }
}

/// Runs the child until it acknowledged `acks` appends, kills it, returns the last ack.
fn run_and_kill(dir: &std::path::Path, acks: usize) -> i64 {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_appender",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut last = -1;
    let mut seen = 0;
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        if let Some(offset) = line.strip_prefix("ACK ") {
            last = offset.trim().parse().unwrap();
            seen += 1;
            if seen == acks {
                break;
            }
        }
    }
    assert_eq!(seen, acks, "the child stopped early");
    // SAFETY: kill only sends a signal to the child we spawned.
    unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
    child.wait().unwrap();
    last
}

#[test]
fn acknowledged_appends_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let mut acknowledged = -1;
    for cycle in 0..5 {
        let last = run_and_kill(dir.path(), 50 + cycle * 97);
        assert!(last > acknowledged, "the log end never goes backwards");
        acknowledged = last;

        let engine = common::open(dir.path());
        let report = engine.open_report();
        assert!(
            !report.clean,
            "a killed process leaves no clean-shutdown marker"
        );
        assert!(report.segments_recovered >= 1);
        let all = common::read_all(&engine, "t", 0, 0);
        assert!(
            all.len() as i64 > acknowledged,
            "cycle {cycle}: {} records, acknowledged up to {acknowledged}",
            all.len()
        );
        for (i, (offset, value)) in all.iter().enumerate() {
            assert_eq!(*offset, i as i64, "offsets are contiguous");
            assert_eq!(value, &format!("value-{i}"), "bytes intact");
        }
        engine.close().unwrap();
    }
    // A clean reopen after all that validates nothing.
    let engine = common::open(dir.path());
    assert!(engine.open_report().clean);
    assert_eq!(engine.open_report().segments_recovered, 0);
}
