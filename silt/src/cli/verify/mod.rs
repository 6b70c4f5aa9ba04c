//! `silt verify`: checks every file of a data directory (segments, both indexes, topic
//! metadata, checkpoints) and reports each problem by file and byte position.
//!
//! It works on the files directly, read-only: opening an [`Engine`](silt::Engine) would take
//! the lock, recover and cut logs, and delete stray files, which is what a check must not
//! do. Segments are checked by [`silt::log::verify_segment`] (every batch's framing, CRC and
//! records, offsets, every index entry against the batch it names); the engine's own files
//! by [`silt_engine::inspect`], with the engine's own parsers. On top of those, a partition's
//! segments must follow one another in offset order, and the checkpoints must name
//! partitions and offsets that exist.
//!
//! A segment left open (the last of a partition after a crash, or while an engine has the
//! directory open) has preallocated zeros after its last batch and untrimmed indexes: that
//! is a warning when the directory was not closed cleanly, since opening it recovers them,
//! and a problem anywhere else.

mod engine_files;
mod partition;

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

use silt_engine::{inspect, LOCK_FILE};

use super::{CliError, CliResult, Global};

/// Arguments of `silt verify`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Accept offset gaps in every partition, not only in compacted ones (for a directory
    /// whose engine made `compact` the default `log.cleanup.policy`).
    #[arg(long)]
    allow_offset_gaps: bool,
    /// Print a line for every segment checked.
    #[arg(long, short)]
    verbose: bool,
}

/// One partition's offsets, as its segments give them.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct PartitionEnds {
    /// Base offset of the first segment.
    pub first_base: Option<i64>,
    /// Next offset after the last batch (or the last segment's base offset when empty).
    pub log_end: Option<i64>,
}

/// Everything found so far, printed as it is found.
pub(crate) struct Report<W: Write> {
    out: W,
    verbose: bool,
    pub problems: u64,
    pub warnings: u64,
    first_problem: Option<String>,
    pub files: u64,
    pub segments: u64,
    pub batches: u64,
    pub records: u64,
    pub bytes: u64,
}

impl<W: Write> Report<W> {
    /// A problem: `silt verify` will exit non-zero.
    pub fn problem(&mut self, line: impl std::fmt::Display) -> CliResult<()> {
        let line = line.to_string();
        self.problems += 1;
        if self.first_problem.is_none() {
            self.first_problem = Some(line.clone());
        }
        self.print(format_args!("PROBLEM {line}"))
    }

    /// Something unusual that is not damage.
    pub fn warning(&mut self, line: impl std::fmt::Display) -> CliResult<()> {
        self.warnings += 1;
        self.print(format_args!("warning {line}"))
    }

    /// A line printed only with `--verbose`.
    pub fn detail(&mut self, line: impl std::fmt::Display) -> CliResult<()> {
        if self.verbose {
            self.print(line)?;
        }
        Ok(())
    }

    fn print(&mut self, line: impl std::fmt::Display) -> CliResult<()> {
        writeln!(self.out, "{line}").map_err(|e| CliError::io("write to stdout", e))
    }
}

/// What the directory-level files say, needed by the partitions.
pub(crate) struct DirState {
    /// The directory had a clean-shutdown marker.
    pub clean: bool,
    /// Another process holds the directory's lock.
    pub in_use: bool,
    /// Accept gaps everywhere.
    pub all_gaps: bool,
}

/// Runs `silt verify`.
pub fn run(global: &Global, args: Args) -> CliResult<()> {
    let dir = &global.data_dir;
    match std::fs::metadata(dir) {
        Ok(meta) if meta.is_dir() => {}
        Ok(_) => {
            return Err(CliError::Failed(format!(
                "{} is not a directory",
                dir.display()
            )))
        }
        Err(e) => return Err(CliError::io(format!("data directory {}", dir.display()), e)),
    }
    let stdout = io::stdout();
    let mut report = Report {
        out: BufWriter::new(stdout.lock()),
        verbose: args.verbose,
        problems: 0,
        warnings: 0,
        first_problem: None,
        files: 0,
        segments: 0,
        batches: 0,
        records: 0,
        bytes: 0,
    };
    report.print(format_args!("Verifying {}", dir.display()))?;
    let state = DirState {
        clean: dir.join(inspect::CLEAN_SHUTDOWN_FILE).exists(),
        in_use: lock_is_held(dir),
        all_gaps: args.allow_offset_gaps,
    };
    if state.in_use {
        report.warning(format_args!(
            "{}: held by another process: the directory is in use, and its active \
             segments may change while they are read",
            dir.join(LOCK_FILE).display()
        ))?;
    }
    let topics = engine_files::read_topics(dir, &mut report)?;
    let checkpoints = engine_files::read_checkpoints(dir, &mut report)?;
    let partitions = partition::list(dir, &mut report)?;
    let mut ends: BTreeMap<(String, u32), PartitionEnds> = BTreeMap::new();
    for ((topic, number), path) in &partitions {
        let gaps = state.all_gaps || topics.compacted(topic) || checkpoints.cleaned(topic, *number);
        let found = partition::verify(path, gaps, &state, &mut report)?;
        ends.insert((topic.clone(), *number), found);
    }
    engine_files::cross_check(dir, &topics, &checkpoints, &partitions, &ends, &mut report)?;
    summarize(report, topics.len(), partitions.len())
}

/// Whether another process holds the data directory's lock. The check takes a shared
/// lock on `.lock` and releases it at once; it never creates the file.
fn lock_is_held(dir: &Path) -> bool {
    match File::open(dir.join(LOCK_FILE)) {
        Ok(file) => matches!(
            file.try_lock_shared(),
            Err(std::fs::TryLockError::WouldBlock)
        ),
        Err(_) => false,
    }
}

fn summarize<W: Write>(mut report: Report<W>, topics: usize, partitions: usize) -> CliResult<()> {
    let totals = format!(
        "{} files checked: {topics} topics, {partitions} partitions, {} segments, \
         {} batches, {} records, {} bytes of batches",
        report.files, report.segments, report.batches, report.records, report.bytes
    );
    let count = |n: u64, what: &str| match n {
        1 => format!("1 {what}"),
        n => format!("{n} {what}s"),
    };
    let verdict = match (report.problems, report.warnings) {
        (0, 0) => "no problems found".to_string(),
        (0, w) => format!("no problems found ({})", count(w, "warning")),
        (p, w) => format!("{}, {}", count(p, "problem"), count(w, "warning")),
    };
    report.print(format_args!("{totals}; {verdict}."))?;
    report
        .out
        .flush()
        .map_err(|e| CliError::io("write to stdout", e))?;
    match report.first_problem {
        None => Ok(()),
        Some(first) if report.problems == 1 => {
            Err(CliError::Failed(format!("verify found a problem: {first}")))
        }
        Some(first) => Err(CliError::Failed(format!(
            "verify found {} problems (listed above), the first: {first}",
            report.problems
        ))),
    }
}
