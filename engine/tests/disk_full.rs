//! A full disk, for real: a child process (this test binary run again, `--exact --ignored`
//! on [`disk_full_child`]) lowers its own RLIMIT_FSIZE, which makes every call that would
//! grow a file past the limit fail with EFBIG, as a full disk fails them with ENOSPC (SIGXFSZ
//! is ignored so the calls return the error). Segments and indexes are preallocated with
//! `posix_fallocate`, so the disk fills at a roll — a typed error naming the call and the
//! file — never as a SIGBUS in the middle of an append.
//!
//! The child checks, under the limit, that the roll (its `.log`, and separately its index)
//! fails with the typed error and leaves no file of the new segment; that every acknowledged
//! record reads back and nothing past them is served; that a checkpoint write and a topic
//! creation fail typed and leave the previous state; then it raises the limit again and shows
//! the same engine carries on (appends at the next offset, the topic is created, the
//! checkpoints are written), closes it, and prints what it acknowledged. The parent checks
//! the child's exit status, reopens the directory, and verifies every acknowledged record.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};

use silt_engine::{Engine, EngineError};
use silt_index::IndexError;
use silt_segment::SegmentError;

/// Environment variable naming the child's data directory.
const DIR_ENV: &str = "SILT_DISK_FULL_DIR";
/// The file size limit while the disk is "full": more than a segment of `i`, less than a
/// segment of `t` and less than an index of `i`.
const LIMIT_BYTES: u64 = 256 << 10;
/// `t`: segments larger than the limit, so its roll fails at the `.log`.
const LOG_TOPIC: &str = "t";
const LOG_SEGMENT_BYTES: u32 = 512 << 10;
/// `i`: segments within the limit and indexes past it, so its roll fails at an index.
const INDEX_TOPIC: &str = "i";
const INDEX_SEGMENT_BYTES: u32 = 64 << 10;
const INDEX_BYTES: u32 = 1 << 20;

/// Sets the soft RLIMIT_FSIZE of this process (the hard limit stays unlimited, so it can be
/// raised again) and ignores SIGXFSZ, so that a call past the limit fails with EFBIG instead
/// of killing the process.
fn set_file_size_limit(bytes: u64) {
    let limit = libc::rlimit {
        rlim_cur: bytes as libc::rlim_t,
        rlim_max: libc::RLIM_INFINITY,
    };
    // SAFETY: signal and setrlimit take no pointers but `&limit`, valid for the call; they
    // change only this process's SIGXFSZ disposition and file size limit, and this process
    // is the child, running this one test.
    unsafe {
        assert_ne!(libc::signal(libc::SIGXFSZ, libc::SIG_IGN), libc::SIG_ERR);
        assert_eq!(libc::setrlimit(libc::RLIMIT_FSIZE, &limit), 0);
    }
}

/// Appends batches of 100 records to `topic`-0 from `*next` until one fails; returns the
/// error.
fn append_until_full(engine: &Engine, topic: &str, next: &mut u64) -> EngineError {
    loop {
        match engine.append(topic, 0, &common::batch(*next, 100)) {
            Ok(info) => {
                assert_eq!(info.first_offset, *next as i64);
                *next += 100;
            }
            Err(e) => return e,
        }
        assert!(*next < 1_000_000, "{topic}: the segment never filled");
    }
}

/// The I/O error inside `err`: (call, errno, file name).
fn io_of(err: &EngineError) -> (&'static str, Option<i32>, String) {
    let name = |path: &Path| path.file_name().unwrap().to_string_lossy().into_owned();
    match err {
        EngineError::Io { op, path, source }
        | EngineError::Segment(SegmentError::Io { op, path, source }) => {
            (op, source.raw_os_error(), name(path))
        }
        EngineError::Segment(SegmentError::Index(IndexError::Io { op, path, source })) => {
            (op, source.raw_os_error(), name(path))
        }
        other => panic!("expected an I/O error, got {other:?}"),
    }
}

/// Asserts that `topic`-0 holds exactly records `0..count` and serves nothing past them.
fn assert_holds(engine: &Engine, topic: &str, count: u64) {
    let all = common::read_all(engine, topic, 0, 0);
    assert_eq!(all.len() as u64, count, "{topic}");
    for (i, (offset, value)) in all.iter().enumerate() {
        assert_eq!(
            (*offset, value.as_str()),
            (i as i64, &*format!("value-{i}"))
        );
    }
    let log = engine.log(topic, 0).unwrap();
    assert_eq!(log.log_end_offset().unwrap(), count as i64, "{topic}");
    let past = engine.fetch(topic, 0, count as i64, 1 << 20).unwrap();
    assert!(
        past.is_empty(),
        "{topic}: nothing past the acknowledged records"
    );
}

/// The `.log` files of `topic`-0.
fn segment_files(dir: &Path, topic: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir.join(format!("{topic}-0")))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

/// The child: fills the "disk" and checks how each write fails; prints `ACKED <topic>
/// <count>` for each topic and `CHILD OK` at the end.
#[test]
#[ignore = "the child process of full_disk_fails_typed_and_the_engine_carries_on"]
fn disk_full_child() {
    let Ok(dir) = std::env::var(DIR_ENV) else {
        return; // not started by the parent: nothing to do
    };
    let dir = Path::new(&dir);
    let engine = common::open(dir);
    engine
        .create_topic(common::small_topic(LOG_TOPIC, 1, LOG_SEGMENT_BYTES))
        .unwrap();
    engine
        .create_topic(
            common::small_topic(INDEX_TOPIC, 1, INDEX_SEGMENT_BYTES)
                .config("segment.index.bytes", INDEX_BYTES.to_string()),
        )
        .unwrap();
    let mut next = [0u64; 2];
    for (topic, next) in [LOG_TOPIC, INDEX_TOPIC].iter().zip(&mut next) {
        engine.append(topic, 0, &common::batch(0, 100)).unwrap();
        *next = 100;
    }
    engine.flush().unwrap();

    // The disk is full: the first segments are preallocated, the next ones cannot be.
    set_file_size_limit(LIMIT_BYTES);
    let err = append_until_full(&engine, LOG_TOPIC, &mut next[0]);
    assert!(next[0] > 100, "appends went on until a roll");
    let (op, errno, file) = io_of(&err);
    assert_eq!((op, errno), ("fallocate", Some(libc::EFBIG)), "{err}");
    assert!(
        file.ends_with(".log") && err.to_string().contains(&file),
        "{err}"
    );
    let err = append_until_full(&engine, INDEX_TOPIC, &mut next[1]);
    let (op, errno, file) = io_of(&err);
    assert_eq!((op, errno), ("fallocate", Some(libc::EFBIG)), "{err}");
    assert!(
        file.ends_with(".index") && err.to_string().contains(&file),
        "{err}"
    );
    for (topic, next) in [LOG_TOPIC, INDEX_TOPIC].iter().zip(next) {
        let log = engine.log(topic, 0).unwrap();
        assert!(log.failure().is_none(), "a full disk takes nothing offline");
        assert_eq!(
            segment_files(dir, topic),
            [
                "00000000000000000000.index",
                "00000000000000000000.log",
                "00000000000000000000.timeindex"
            ],
            "{topic}: no file of the segment that could not be created"
        );
        assert_holds(&engine, topic, next);
    }
    // Syncing what is there needs no new block; the checkpoints do.
    set_file_size_limit(16);
    let err = engine.flush().unwrap_err();
    let (op, errno, file) = io_of(&err);
    assert_eq!((op, errno), ("write", Some(libc::EFBIG)), "{err}");
    assert!(file.ends_with(".tmp"), "{err}");
    assert_eq!(
        engine.log(LOG_TOPIC, 0).unwrap().recovery_point(),
        next[0] as i64
    );
    let err = engine
        .create_topic(common::small_topic("n", 1, 1 << 20))
        .unwrap_err();
    assert_eq!(io_of(&err).0, "write", "{err}");
    assert!(!engine.list_topics().contains(&"n".to_string()));
    assert!(!dir.join("n-0").exists());

    // Space is back: the same engine carries on.
    set_file_size_limit(libc::RLIM_INFINITY);
    for (topic, next) in [LOG_TOPIC, INDEX_TOPIC].iter().zip(&mut next) {
        let info = engine.append(topic, 0, &common::batch(*next, 100)).unwrap();
        assert_eq!(info.first_offset, *next as i64, "{topic}: no gap");
        *next += 100;
        assert_eq!(engine.log(topic, 0).unwrap().segment_count(), 2, "{topic}");
        assert_holds(&engine, topic, *next);
    }
    engine
        .create_topic(common::small_topic("n", 1, 1 << 20))
        .unwrap();
    engine.append("n", 0, &common::batch(0, 7)).unwrap();
    engine.flush().unwrap();
    engine.close().unwrap();
    println!("ACKED {LOG_TOPIC} {}", next[0]);
    println!("ACKED {INDEX_TOPIC} {}", next[1]);
    println!("ACKED n 7");
    println!("CHILD OK");
}

#[test]
fn full_disk_fails_typed_and_the_engine_carries_on() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "disk_full_child",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(DIR_ENV, dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stdout.lines().any(|l| l.ends_with("CHILD OK")),
        "the child failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    let acked: Vec<(String, u64)> = stdout
        .lines()
        // The harness's "test disk_full_child ... " may start the first line.
        .filter_map(|l| l.split_once("ACKED ").map(|(_, rest)| rest))
        .map(|l| {
            let (topic, count) = l.split_once(' ').unwrap();
            (topic.to_string(), count.parse().unwrap())
        })
        .collect();
    assert_eq!(acked.len(), 3, "{stdout}");

    // Reopened without the limit: every acknowledged record, nothing else.
    let engine = common::open(dir.path());
    assert!(engine.open_report().clean);
    for (topic, count) in &acked {
        assert_holds(&engine, topic, *count);
        engine.append(topic, 0, &common::batch(*count, 10)).unwrap();
        assert_holds(&engine, topic, count + 10);
    }
    engine.close().unwrap();
}
