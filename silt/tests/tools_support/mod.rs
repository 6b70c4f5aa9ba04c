//! Helpers shared by the tests of the inspection and performance tools (`dump-log`,
//! `verify`, `perf`): running the `silt` binary, the Kafka test vectors, and data
//! directories written through the library.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use silt::{Acks, Engine, EngineConfig, NewTopic, ProducerConfig, ProducerRecord};

/// What one run of the binary printed and how it exited.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    fn from(output: Output) -> Run {
        Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Asserts a failure reported as one line on stderr, without a panic, and returns it.
    pub fn one_error_line(&self) -> &str {
        assert_ne!(self.code, 0, "expected a failure: {self:?}");
        let lines: Vec<&str> = self.stderr.lines().collect();
        assert_eq!(lines.len(), 1, "expected one line on stderr: {self:?}");
        assert!(lines[0].starts_with("silt: "), "{self:?}");
        assert!(!self.stderr.contains("panicked"), "{self:?}");
        lines[0]
    }
}

/// Runs `silt` with `args`, with `--data-dir` set to `data_dir`.
pub fn silt(data_dir: &Path, args: &[&str]) -> Run {
    let output = Command::new(env!("CARGO_BIN_EXE_silt"))
        .arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .env_remove("SILT_DATA_DIR")
        .output()
        .expect("run the silt binary");
    Run::from(output)
}

/// Runs `silt` with `args` and no data directory of interest (a fresh temporary one).
pub fn silt_anywhere(args: &[&str]) -> Run {
    let dir = tempfile::tempdir().unwrap();
    silt(dir.path(), args)
}

/// A Kafka test vector of `shared/testdata/kafka/`, read in place.
pub fn vector(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/testdata/kafka")
        .join(name)
}

/// The JSON describing a vector (`NAME.json`).
pub fn vector_json(name: &str) -> serde_json::Value {
    let text = std::fs::read_to_string(vector(&format!("{name}.json"))).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// A data directory written by an engine through the library, cleanly closed: topic
/// `events` with 2 partitions of several small segments (`segment.bytes` 32 KiB) of small
/// batches, keyed records of about 100 bytes, `records` in all.
pub fn healthy_dir(records: usize) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::open(dir.path(), EngineConfig::default()).unwrap();
    write_events(&engine, records);
    engine.close().unwrap();
    dir
}

/// Creates topic `events` and writes `records` records to it through a producer.
pub fn write_events(engine: &Engine, records: usize) {
    engine
        .create_topic(NewTopic::new("events", 2).config("segment.bytes", "32768"))
        .unwrap();
    // Small batches: many per segment, so the indexes get several entries.
    let config = ProducerConfig {
        acks: Acks::Leader,
        batch_size: 1024,
        ..ProducerConfig::default()
    };
    let producer = engine.producer(config).unwrap();
    let value = [b'v'; 100];
    for i in 0..records {
        let key = format!("key-{i}");
        producer
            .send(ProducerRecord::new("events").key(&key).value(&value))
            .unwrap();
    }
    producer.close().unwrap();
}

/// The `.log` files of a partition directory, in offset order.
pub fn segments(partition_dir: &Path) -> Vec<PathBuf> {
    let mut logs: Vec<PathBuf> = std::fs::read_dir(partition_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    logs.sort();
    logs
}

/// Positions of the batches of a `.log` file (from their length fields).
pub fn batch_positions(log: &Path) -> Vec<u64> {
    let bytes = std::fs::read(log).unwrap();
    let mut positions = Vec::new();
    let mut at = 0usize;
    while at + 12 <= bytes.len() {
        positions.push(at as u64);
        let length = i32::from_be_bytes(bytes[at + 8..at + 12].try_into().unwrap());
        at += 12 + length as usize;
    }
    positions
}

/// Flips one bit of the file at `position`.
pub fn flip_bit(path: &Path, position: u64) {
    let mut bytes = std::fs::read(path).unwrap();
    bytes[position as usize] ^= 0x04;
    std::fs::write(path, bytes).unwrap();
}

/// Every file under `dir` (recursively) with its bytes, sorted by path.
pub fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let bytes = std::fs::read(&path).unwrap();
                files.push((path, bytes));
            }
        }
    }
    files.sort();
    files
}
