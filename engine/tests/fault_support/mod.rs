//! Helpers of the fault-injection tests (`io_fault_*`, built with the `failpoints` feature):
//! one failpoint scenario at a time, and the checks every such test makes — which call and
//! which file an error names, what a partition's directory holds, what reads back.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use silt_engine::{Engine, EngineError};
use silt_index::IndexError;
use silt_segment::SegmentError;

/// fail-rs's failpoints are process-wide and a test binary runs its tests on several threads:
/// every test holds this for its whole run (it is fail-rs's own scenario lock), and dropping
/// it turns every failpoint off again, however the test ended.
pub fn scenario() -> fail::FailScenario<'static> {
    fail::FailScenario::setup()
}

/// Configures failpoint `name` (`"return(ENOSPC)"`, `"1*return(EIO)"`, `"1*off->return"`…).
pub fn inject(name: &str, actions: &str) {
    fail::cfg(name, actions).expect("a valid failpoint action");
}

/// Turns failpoint `name` off: the cause is gone.
pub fn clear(name: &str) {
    fail::remove(name);
}

/// An I/O error as an engine error carries it, however deep: the call, the file, the errno.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IoFault {
    pub op: &'static str,
    pub path: PathBuf,
    pub errno: Option<i32>,
}

/// The I/O error inside `err`: an `Io` variant of the engine, a segment or an index, found
/// through `LogFailed`'s cause and `BatchFailed`'s source. `None` for any other error.
pub fn io_fault(err: &EngineError) -> Option<IoFault> {
    let fault = |op: &'static str, path: &Path, source: &std::io::Error| IoFault {
        op,
        path: path.to_path_buf(),
        errno: source.raw_os_error(),
    };
    let index = |e: &IndexError| match e {
        IndexError::Io { op, path, source } => Some(fault(op, path, source)),
        _ => None,
    };
    match err {
        EngineError::Io { op, path, source } => Some(fault(op, path, source)),
        EngineError::Segment(SegmentError::Io { op, path, source }) => {
            Some(fault(op, path, source))
        }
        EngineError::Segment(SegmentError::Index(e)) | EngineError::Index(e) => index(e),
        EngineError::LogFailed { cause, .. } => io_fault(cause),
        EngineError::BatchFailed { source, .. } => io_fault(source),
        _ => None,
    }
}

/// Asserts that `err` carries an I/O error of call `op` with `errno`, on a file whose name
/// contains `file`, and that its message names both; returns the fault.
#[track_caller]
pub fn assert_io(err: &EngineError, op: &str, errno: i32, file: &str) -> IoFault {
    let fault = io_fault(err).unwrap_or_else(|| panic!("expected an I/O error, got {err:?}"));
    assert_eq!(fault.op, op, "{err}");
    assert_eq!(fault.errno, Some(errno), "{err}");
    let name = fault
        .path
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    assert!(name.contains(file), "{} is not a {file} file: {err}", name);
    let shown = err.to_string();
    assert!(shown.contains(op), "the message names the call: {shown}");
    assert!(shown.contains(&name), "the message names the file: {shown}");
    fault
}

/// Asserts that `err` is `LogFailed` for `topic`-`partition`, caused by an I/O error, and
/// returns its recovery point and that error.
#[track_caller]
pub fn assert_log_failed(err: &EngineError, topic: &str, partition: u32) -> (i64, IoFault) {
    let EngineError::LogFailed {
        topic: t,
        partition: p,
        recovery_point,
        cause,
    } = err
    else {
        panic!("expected LogFailed for {topic}-{partition}, got {err:?}");
    };
    assert_eq!((t.as_str(), *p), (topic, partition), "{err}");
    let shown = err.to_string();
    assert!(shown.contains("reopen"), "says what to do: {shown}");
    let fault = io_fault(cause).unwrap_or_else(|| panic!("an I/O error caused it: {cause:?}"));
    (*recovery_point, fault)
}

/// The file names in a partition's directory, sorted.
pub fn files(engine: &Engine, topic: &str, partition: u32) -> Vec<String> {
    let dir = engine.data_dir().join(format!("{topic}-{partition}"));
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

/// The `.log` files of a partition's directory, as base offsets.
pub fn segment_bases(engine: &Engine, topic: &str, partition: u32) -> Vec<i64> {
    files(engine, topic, partition)
        .iter()
        .filter_map(|n| n.strip_suffix(".log"))
        .map(|n| n.parse().unwrap())
        .collect()
}

/// Asserts that partition `topic`-`partition` holds exactly records `0..count` as
/// `common::batch` writes them (`value-<offset>`) and nothing past them: the log end is
/// `count` and a fetch there is empty.
#[track_caller]
pub fn assert_holds(engine: &Engine, topic: &str, partition: u32, count: u64) {
    let all = crate::common::read_all(engine, topic, partition, 0);
    assert_eq!(all.len() as u64, count, "records of {topic}-{partition}");
    for (i, (offset, value)) in all.iter().enumerate() {
        assert_eq!(*offset, i as i64);
        assert_eq!(value, &format!("value-{i}"));
    }
    let log = engine.log(topic, partition).unwrap();
    assert_eq!(log.log_end_offset().unwrap(), count as i64);
    assert!(engine
        .fetch(topic, partition, count as i64, 1 << 20)
        .unwrap()
        .is_empty());
}
