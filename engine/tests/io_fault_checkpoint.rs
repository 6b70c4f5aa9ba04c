//! The engine's small files — the recovery-point and log-start checkpoints, a topic's
//! metadata — are replaced atomically (write a temporary file, fdatasync, rename, sync the
//! directory). When a step fails the caller gets the typed I/O error naming the call and the
//! file, the previous version stays in place (or, for a new topic, nothing at all), no
//! temporary file is left, no record is lost, and the next write, once the cause is gone,
//! succeeds. A write that fails starts over from a new file, so it never relies on pages a
//! failed fdatasync may have dropped.

mod common;
mod fault_support;

use std::path::Path;

use fault_support::{assert_holds, assert_io, clear, inject, scenario};

const TOPIC: &str = "t";
const RECOVERY: &str = "recovery-point-offset-checkpoint";
const LOG_START: &str = "log-start-offset-checkpoint";

/// The failpoints of `write_atomic`, in the order it meets them: (name, actions, the call the
/// error names, errno, whether the new file is in place when it fails).
const STEPS: [(&str, &str, &str, i32, bool); 4] = [
    (
        "engine.fsutil.write",
        "return(ENOSPC)",
        "write",
        libc::ENOSPC,
        false,
    ),
    (
        "engine.fsutil.fdatasync",
        "return(EIO)",
        "fdatasync",
        libc::EIO,
        false,
    ),
    (
        "engine.fsutil.rename",
        "return(EIO)",
        "rename",
        libc::EIO,
        false,
    ),
    // The directory sync after the rename: the new file is in place, maybe not durably.
    (
        "engine.fsutil.sync_dir",
        "return(EIO)",
        "fsync directory",
        libc::EIO,
        true,
    ),
];

/// The offset a checkpoint file records for `t`-0.
fn checkpointed(dir: &Path, file: &str) -> Option<i64> {
    let text = std::fs::read_to_string(dir.join(file)).ok()?;
    text.lines()
        .find_map(|line| line.strip_prefix(&format!("{TOPIC} 0 ")))
        .map(|offset| offset.parse().unwrap())
}

/// Names of the temporary files `write_atomic` leaves in `dir` (none, it must).
fn tmp_files(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".tmp"))
        .collect()
}

#[test]
fn a_failed_checkpoint_write_keeps_the_previous_one_and_the_next_succeeds() {
    let _scenario = scenario();
    for (name, actions, op, errno, replaced) in STEPS {
        let dir = tempfile::tempdir().unwrap();
        let engine = common::open(dir.path());
        engine
            .create_topic(common::small_topic(TOPIC, 1, 1 << 20))
            .unwrap();
        engine.append(TOPIC, 0, &common::batch(0, 30)).unwrap();
        engine.flush().unwrap();
        assert_eq!(checkpointed(dir.path(), RECOVERY), Some(30));
        engine.append(TOPIC, 0, &common::batch(30, 20)).unwrap();

        inject(name, actions);
        let err = engine.flush().unwrap_err();
        // The temporary file, the checkpoint it replaces, or the data directory.
        let file = match op {
            "write" | "fdatasync" => ".tmp",
            "rename" => RECOVERY,
            _ => "",
        };
        let fault = assert_io(&err, op, errno, file);
        if op == "fsync directory" {
            assert_eq!(fault.path, dir.path(), "{err}");
        }
        let expected = if replaced { Some(50) } else { Some(30) };
        assert_eq!(checkpointed(dir.path(), RECOVERY), expected, "{name}");
        assert!(tmp_files(dir.path()).is_empty(), "{name}");
        // The data is synced (the log's flush came first) and served.
        assert_eq!(engine.log(TOPIC, 0).unwrap().recovery_point(), 50);
        assert_holds(&engine, TOPIC, 0, 50);

        // DeleteRecords persists the log start before returning: it reports the failure.
        let err = engine.delete_records(TOPIC, 0, 10).unwrap_err();
        assert_io(&err, op, errno, file);

        clear(name);
        engine.append(TOPIC, 0, &common::batch(50, 10)).unwrap();
        engine.flush().unwrap();
        assert_eq!(checkpointed(dir.path(), RECOVERY), Some(60));
        assert_eq!(engine.delete_records(TOPIC, 0, 10).unwrap(), 10);
        assert_eq!(checkpointed(dir.path(), LOG_START), Some(10));
        assert!(tmp_files(dir.path()).is_empty());
        engine.close().unwrap();

        let engine = common::open(dir.path());
        assert_eq!(engine.log(TOPIC, 0).unwrap().log_start_offset(), 10);
        let read = common::read_all(&engine, TOPIC, 0, 10);
        assert_eq!(read.len(), 50);
        assert_eq!(read.first().unwrap(), &(10, "value-10".to_string()));
        assert_eq!(read.last().unwrap(), &(59, "value-59".to_string()));
    }
}

/// A checkpoint that failed to be written is not trusted from memory: after a crash (no
/// clean shutdown) the engine recovers from the checkpoint that is on disk, and every
/// record is there.
#[test]
fn a_crash_after_a_failed_checkpoint_recovers_from_the_previous_one() {
    let _scenario = scenario();
    let dir = tempfile::tempdir().unwrap();
    let engine = common::open(dir.path());
    engine
        .create_topic(common::small_topic(TOPIC, 1, 4096))
        .unwrap();
    let mut next = 0u64;
    while engine.log(TOPIC, 0).unwrap().segment_count() < 3 {
        engine.append(TOPIC, 0, &common::batch(next, 10)).unwrap();
        next += 10;
    }
    engine.flush().unwrap();
    let first = checkpointed(dir.path(), RECOVERY).unwrap();
    engine.append(TOPIC, 0, &common::batch(next, 10)).unwrap();
    next += 10;
    inject("engine.fsutil.write", "return(ENOSPC)");
    engine.flush().unwrap_err();
    clear("engine.fsutil.write");
    assert_eq!(checkpointed(dir.path(), RECOVERY), Some(first));

    let image = tempfile::tempdir().unwrap();
    common::crash_image(dir.path(), image.path());
    drop(engine);
    let engine = common::open(image.path());
    assert!(!engine.open_report().clean);
    assert_holds(&engine, TOPIC, 0, next);
}

/// `create_topic` records the topic's metadata last: when that (or making its partition
/// directories durable) fails, the topic does not exist — not listed, no directory, no
/// metadata file, not even after a reopen — and creating it again succeeds.
#[test]
fn create_topic_fails_cleanly_when_its_metadata_cannot_be_written() {
    let _scenario = scenario();
    let cases = [
        // The partition directories' sync, before the metadata is written.
        (
            "engine.fsutil.sync_dir",
            "1*return(EIO)",
            "fsync directory",
            libc::EIO,
        ),
        (
            "engine.fsutil.write",
            "return(ENOSPC)",
            "write",
            libc::ENOSPC,
        ),
        (
            "engine.fsutil.fdatasync",
            "return(EIO)",
            "fdatasync",
            libc::EIO,
        ),
        ("engine.fsutil.rename", "return(EIO)", "rename", libc::EIO),
        // The metadata directory's sync after the rename: the file was in place already.
        (
            "engine.fsutil.sync_dir",
            "1*off->return(EIO)",
            "fsync directory",
            libc::EIO,
        ),
    ];
    for (name, actions, op, errno) in cases {
        let dir = tempfile::tempdir().unwrap();
        let engine = common::open(dir.path());
        inject(name, actions);
        let err = engine
            .create_topic(common::small_topic(TOPIC, 2, 1 << 20))
            .unwrap_err();
        assert_io(&err, op, errno, "");
        let absent = |engine: &silt_engine::Engine| {
            assert!(!engine.list_topics().contains(&TOPIC.to_string()), "{name}");
            assert!(matches!(
                engine.append(TOPIC, 0, &common::batch(0, 1)),
                Err(silt_engine::EngineError::UnknownTopic { .. })
            ));
            for p in 0..2 {
                assert!(!dir.path().join(format!("{TOPIC}-{p}")).exists(), "{name}");
            }
            let meta = dir.path().join("__silt_topics");
            assert!(!meta.join(format!("{TOPIC}.topic")).exists(), "{name}");
            assert!(tmp_files(&meta).is_empty(), "{name}");
        };
        absent(&engine);
        clear(name);
        engine.close().unwrap();
        let engine = common::open(dir.path());
        absent(&engine);

        engine
            .create_topic(common::small_topic(TOPIC, 2, 1 << 20))
            .unwrap();
        engine.append(TOPIC, 1, &common::batch(0, 5)).unwrap();
        engine.close().unwrap();
        let engine = common::open(dir.path());
        assert_holds(&engine, TOPIC, 1, 5);
        assert_holds(&engine, TOPIC, 0, 0);
    }
}
