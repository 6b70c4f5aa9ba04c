//! Runs `silt verify` on a data directory and reads its `PROBLEM` lines.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// Longest one `silt verify` may take before the campaign calls it hung.
const VERIFY_DEADLINE: Duration = Duration::from_secs(120);

/// One `PROBLEM` line: the file it names and the byte position, when it gives one.
#[derive(Debug, Clone)]
pub struct ProblemLine {
    pub path: PathBuf,
    pub position: Option<u64>,
    pub line: String,
}

/// What one run printed.
#[derive(Debug)]
pub struct Verified {
    pub code: Option<i32>,
    pub problems: Vec<ProblemLine>,
    pub stdout: String,
    pub stderr: String,
}

impl Verified {
    /// The problems naming `path`.
    pub fn naming<'a>(&'a self, path: &'a Path) -> impl Iterator<Item = &'a ProblemLine> + 'a {
        self.problems.iter().filter(move |p| p.path == path)
    }
}

/// `silt --data-dir DIR verify`, within [`VERIFY_DEADLINE`].
pub fn run(dir: &Path) -> Verified {
    let mut child = Command::new(env!("CARGO_BIN_EXE_silt"))
        .arg("--data-dir")
        .arg(dir)
        .arg("verify")
        .env_remove("SILT_DATA_DIR")
        .env("RUST_BACKTRACE", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn silt verify");
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        let (mut out, mut err) = (String::new(), String::new());
        stdout.read_to_string(&mut out).ok();
        stderr.read_to_string(&mut err).ok();
        tx.send(()).ok();
        (out, err)
    });
    if rx.recv_timeout(VERIFY_DEADLINE).is_err() {
        child.kill().ok();
        child.wait().ok();
        panic!("silt verify on {} did not finish", dir.display());
    }
    let status = child.wait().unwrap();
    let (stdout, stderr) = reader.join().unwrap();
    let problems = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("PROBLEM "))
        .map(parse)
        .collect();
    Verified {
        code: status.code(),
        problems,
        stdout,
        stderr,
    }
}

/// `PATH at byte N: …` or `PATH: …`.
fn parse(line: &str) -> ProblemLine {
    if let Some((path, rest)) = line.split_once(" at byte ") {
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        return ProblemLine {
            path: PathBuf::from(path),
            position: digits.parse().ok(),
            line: line.to_string(),
        };
    }
    let path = line.split_once(": ").map_or(line, |(p, _)| p);
    ProblemLine {
        path: PathBuf::from(path),
        position: None,
        line: line.to_string(),
    }
}
