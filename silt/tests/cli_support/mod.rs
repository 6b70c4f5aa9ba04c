//! Runs the `silt` binary against a temporary data directory, for the CLI's end-to-end
//! tests. Every wait is bounded: a child that does not answer in time fails the test
//! instead of hanging it.
#![allow(dead_code)] // each test file uses its own part

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, ChildStdout, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant};

use silt::{Engine, EngineConfig, NewTopic, ProducerConfig, ProducerRecord};

/// Longest a test waits on a child: generous, as the machine may be busy.
pub const CHILD_DEADLINE: Duration = Duration::from_secs(120);

/// A temporary data directory and the binary to run on it.
pub struct Silt {
    pub dir: tempfile::TempDir,
}

impl Silt {
    pub fn new() -> Silt {
        Silt {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub fn data_dir(&self) -> &Path {
        self.dir.path()
    }

    /// `silt --data-dir <dir> ARGS`, with no `SILT_DATA_DIR` and a backtrace asked for (so
    /// that a panic would show).
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_silt"));
        command
            .arg("--data-dir")
            .arg(self.data_dir())
            .args(args)
            .env_remove("SILT_DATA_DIR")
            .env("RUST_BACKTRACE", "1");
        command
    }

    /// Runs `silt ARGS` with `stdin` as input, within [`CHILD_DEADLINE`].
    pub fn run_with_input(&self, args: &[&str], stdin: &[u8]) -> Output {
        let mut child = self
            .command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut input = child.stdin.take().unwrap();
        let stdin = stdin.to_vec();
        let writer = std::thread::spawn(move || {
            let _ = input.write_all(&stdin);
        });
        let output = wait_with_output(child);
        writer.join().unwrap();
        output
    }

    /// Runs `silt ARGS` with empty input.
    pub fn run(&self, args: &[&str]) -> Output {
        self.run_with_input(args, b"")
    }

    /// Runs `silt ARGS`, asserts it succeeded, and returns its stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        self.ok_with_input(args, b"")
    }

    /// Runs `silt ARGS` with `stdin`, asserts it succeeded, and returns its stdout.
    pub fn ok_with_input(&self, args: &[&str], stdin: &[u8]) -> String {
        let output = self.run_with_input(args, stdin);
        assert!(
            output.status.success(),
            "silt {args:?} failed with {}: {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    }

    /// Runs `silt ARGS`, asserts it failed with `code` and one `silt: ` line on stderr, and
    /// returns that line.
    pub fn fails(&self, args: &[&str], code: i32) -> String {
        let output = self.run(args);
        assert_fails(&output, code, &format!("silt {args:?}"))
    }

    /// Opens the data directory in this process (the CLI must not be running).
    pub fn engine(&self) -> Engine {
        Engine::open(self.data_dir(), EngineConfig::default()).unwrap()
    }

    /// Creates `topic` with `partitions` and sends `records` (partition, key, value,
    /// headers) with acks=all, through the library.
    pub fn seed(&self, topic: &str, partitions: u32, records: &[Seed<'_>]) {
        let engine = self.engine();
        engine
            .create_topic(NewTopic::new(topic, partitions))
            .unwrap();
        let producer = engine.producer(ProducerConfig::default()).unwrap();
        let mut deliveries = Vec::new();
        for seed in records {
            let headers: Vec<silt::batch::RecordHeader<'_>> = seed
                .headers
                .iter()
                .map(|(k, v)| silt::batch::RecordHeader {
                    key: k,
                    value: v.map(str::as_bytes),
                })
                .collect();
            let mut record = ProducerRecord::new(topic)
                .partition(seed.partition)
                .headers(&headers)
                .timestamp(seed.timestamp);
            record.key = seed.key.map(str::as_bytes);
            record.value = seed.value.map(str::as_bytes);
            deliveries.push(producer.send(record).unwrap());
        }
        for delivery in deliveries {
            delivery.wait().unwrap();
        }
        producer.close().unwrap();
        engine.close().unwrap();
    }
}

/// One record for [`Silt::seed`].
#[derive(Debug, Clone, Copy)]
pub struct Seed<'a> {
    pub partition: u32,
    pub key: Option<&'a str>,
    pub value: Option<&'a str>,
    pub headers: &'a [(&'a str, Option<&'a str>)],
    pub timestamp: i64,
}

impl<'a> Seed<'a> {
    /// A record with a key and a value, no headers, at timestamp 1_700_000_000_000.
    pub fn new(partition: u32, key: &'a str, value: &'a str) -> Self {
        Seed {
            partition,
            key: Some(key),
            value: Some(value),
            headers: &[],
            timestamp: 1_700_000_000_000,
        }
    }
}

/// Asserts that a finished command failed with `code` and printed exactly one line on
/// stderr, `silt: ...`, with no panic or backtrace; returns that line.
pub fn assert_fails(output: &Output, code: i32, what: &str) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(
        output.status.code(),
        Some(code),
        "{what}: expected exit {code}, got {}; stderr: {stderr}",
        output.status
    );
    assert_one_error_line(&stderr, what)
}

/// Asserts `stderr` is one `silt: ...` line without a panic; returns it.
pub fn assert_one_error_line(stderr: &str, what: &str) -> String {
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(
        lines.len(),
        1,
        "{what}: expected one stderr line, got {stderr:?}"
    );
    let line = lines[0];
    assert!(line.starts_with("silt: "), "{what}: {line:?}");
    assert!(
        !stderr.contains("panicked") && !stderr.contains("backtrace"),
        "{what}: {stderr:?}"
    );
    line.to_string()
}

/// Waits for `child` to exit within [`CHILD_DEADLINE`] (killing it otherwise) and collects
/// its output.
pub fn wait_with_output(mut child: Child) -> Output {
    let stdout = child.stdout.take().map(drain);
    let stderr = child.stderr.take().map(drain);
    let status = wait_for_exit(&mut child, CHILD_DEADLINE);
    Output {
        status,
        stdout: stdout.map(|t| t.join().unwrap()).unwrap_or_default(),
        stderr: stderr.map(|t| t.join().unwrap()).unwrap_or_default(),
    }
}

/// Waits for `child` to exit within `deadline`; kills it and fails the test otherwise.
pub fn wait_for_exit(child: &mut Child, deadline: Duration) -> ExitStatus {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if started.elapsed() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the child did not exit within {deadline:?}");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn drain(mut from: impl Read + Send + 'static) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = from.read_to_end(&mut bytes);
        bytes
    })
}

/// The lines of a running child's stdout, as they come.
pub struct Lines {
    rx: Receiver<String>,
}

impl Lines {
    pub fn new(stdout: ChildStdout) -> Lines {
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        Lines { rx }
    }

    /// The next line, waiting at most [`CHILD_DEADLINE`]; `None` when stdout closed.
    pub fn next(&self) -> Option<String> {
        match self.rx.recv_timeout(CHILD_DEADLINE) {
            Ok(line) => Some(line),
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => None,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                panic!("no line from the child within {CHILD_DEADLINE:?}")
            }
        }
    }
}

/// The group's lag table as rows of cells (header first).
pub fn table(stdout: &str) -> Vec<Vec<String>> {
    stdout
        .lines()
        .map(|l| l.split_whitespace().map(str::to_string).collect())
        .collect()
}
