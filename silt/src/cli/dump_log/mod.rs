//! `silt dump-log`: Kafka's `kafka-dump-log` (`DumpLogSegments`) for `.log`, `.index` and
//! `.timeindex` files.
//!
//! A log file (any name but the two index extensions, so the test vectors' `.bin` files
//! work too) prints one line per batch in Kafka's format; `--deep-iteration` adds a line
//! per record with its metadata, `--print-data-log` its key and payload as well (and implies
//! `--deep-iteration`, as in Kafka). Index files print their entries, and are checked against
//! the segment's `.log` file beside them when there is one. `--json` prints instead one JSON
//! object per file, one per line, with the same fields (`snake_case`).
//!
//! Every file is dumped even when an earlier one fails. The command exits non-zero when a
//! file holds anything that is not a valid batch (a framing error, a CRC mismatch, a record
//! that does not decode) or an index entry that disagrees with its log, after printing
//! everything valid before it; the error line names the file and the byte position.

mod format;
mod index_file;
mod log_file;

use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use super::{CliError, CliResult, Global};

/// Arguments of `silt dump-log`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Files to dump: `.log` segments (or any file of RecordBatches back to back), `.index`
    /// and `.timeindex` files.
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
    /// Print each record's metadata and its key and payload (implies --deep-iteration).
    #[arg(long)]
    print_data_log: bool,
    /// Print each record's metadata (offset, timestamp, sizes, sequence, header keys).
    #[arg(long)]
    deep_iteration: bool,
    /// For index files: check the entries against the log without printing them.
    #[arg(long)]
    verify_index_only: bool,
    /// Print one JSON object per file (one per line) instead of Kafka's text.
    #[arg(long)]
    json: bool,
}

/// What to print, decided once from the flags.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Options {
    /// One line (or object) per record.
    pub deep: bool,
    /// Keys and payloads too.
    pub data: bool,
    /// Index files: check only.
    pub verify_only: bool,
    /// JSON instead of text.
    pub json: bool,
}

/// Runs `silt dump-log`.
pub fn run(_global: &Global, args: Args) -> CliResult<()> {
    let options = Options {
        deep: args.deep_iteration || args.print_data_log,
        data: args.print_data_log,
        verify_only: args.verify_index_only,
        json: args.json,
    };
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let mut failures: Vec<String> = Vec::new();
    for path in &args.files {
        let problems = dump_file(&mut out, path, options)?;
        failures.extend(problems);
    }
    out.flush()
        .map_err(|e| CliError::io("write to stdout", e))?;
    match failures.as_slice() {
        [] => Ok(()),
        [one] => Err(CliError::Failed(one.clone())),
        [first, rest @ ..] => Err(CliError::Failed(format!(
            "{first} (and {} more, listed above)",
            rest.len()
        ))),
    }
}

/// Dumps one file; returns its problems, each a line naming the file and position. An
/// error is only for output that cannot be written.
fn dump_file(out: &mut impl Write, path: &Path, options: Options) -> CliResult<Vec<String>> {
    let extension = path.extension().and_then(|e| e.to_str());
    let result = match extension {
        Some("index") => index_file::dump(out, path, index_file::Kind::Offset, options),
        Some("timeindex") => index_file::dump(out, path, index_file::Kind::Time, options),
        _ => log_file::dump(out, path, options),
    };
    result.map_err(|e| CliError::io("write to stdout", e))
}

/// `problem` prefixed with the file's path: the form every reported problem takes.
pub(crate) fn in_file(path: &Path, problem: impl std::fmt::Display) -> String {
    format!("{}: {problem}", path.display())
}
