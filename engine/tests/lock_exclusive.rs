//! The data directory is owned by one `Engine`: a second opener, in this process or another,
//! gets `AlreadyOpen` and touches nothing.

mod common;

use std::process::Command;

use silt_engine::{Engine, EngineError};

const CHILD_ENV: &str = "SILT_TEST_LOCK_DIR";

fn listing(dir: &std::path::Path) -> Vec<(String, u64, std::time::SystemTime)> {
    let mut out: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let m = e.metadata().unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                m.len(),
                m.modified().unwrap(),
            )
        })
        .collect();
    out.sort();
    out
}

#[test]
fn second_open_in_this_process_fails_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let engine = common::open(dir.path());
    engine
        .create_topic(common::small_topic("t", 2, 1 << 20))
        .unwrap();
    engine.append("t", 0, &common::batch(0, 3)).unwrap();
    let before = listing(dir.path());

    let err = Engine::open(dir.path(), common::quiet_config()).unwrap_err();
    assert!(matches!(err, EngineError::AlreadyOpen { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("already open by another process/handle"),
        "{err}"
    );
    assert_eq!(
        listing(dir.path()),
        before,
        "the failed open touched nothing"
    );

    // The first engine is unaffected; once closed, the directory opens again.
    assert_eq!(common::read_all(&engine, "t", 0, 0).len(), 3);
    engine.close().unwrap();
    let engine = common::open(dir.path());
    assert_eq!(common::read_all(&engine, "t", 0, 0).len(), 3);
}

/// The child: tries to open the directory and exits 3 on AlreadyOpen, 0 on success.
#[test]
fn child_opener() {
    let Ok(dir) = std::env::var(CHILD_ENV) else {
        return;
    };
    match Engine::open(&dir, common::quiet_config()) {
        Err(EngineError::AlreadyOpen { .. }) => std::process::exit(3),
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => std::process::exit(0),
    }
}

#[test]
fn another_process_gets_already_open() {
    let dir = tempfile::tempdir().unwrap();
    let engine = common::open(dir.path());
    let run_child = || {
        Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "child_opener", "--test-threads=1"])
            .env(CHILD_ENV, dir.path())
            .status()
            .unwrap()
            .code()
    };
    assert_eq!(run_child(), Some(3), "locked while this process holds it");
    engine.close().unwrap();
    drop(engine);
    assert_eq!(run_child(), Some(0), "free once closed");
}
