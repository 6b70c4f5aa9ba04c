//! `CliError`: what a command can fail with, printed as one line on stderr.

use std::io::{self, Write};
use std::process::ExitCode;

use silt::{ConsumerError, EngineError, IndexError, SegmentError};

/// Result of a command.
pub type CliResult<T> = Result<T, CliError>;

/// Why a command failed. Each is printed as `silt: <message>` and exits with its code.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The engine refused or failed (unknown topic, directory held by another process, …).
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// A consumer or group operation failed.
    #[error(transparent)]
    Consumer(#[from] ConsumerError),
    /// A segment file or the codec reported an error.
    #[error(transparent)]
    Segment(#[from] SegmentError),
    /// An index file reported an error.
    #[error(transparent)]
    Index(#[from] IndexError),
    /// Reading input or writing output failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being read or written.
        what: String,
        /// What the system said.
        #[source]
        source: io::Error,
    },
    /// Arguments that parse but cannot be used together or as given.
    #[error("{0}")]
    Usage(String),
    /// The command ran and found a problem it must report with a non-zero exit (a record
    /// not acknowledged, an invalid batch, a corrupt file): the message says what.
    #[error("{0}")]
    Failed(String),
}

impl CliError {
    /// An I/O error while doing `what`.
    pub fn io(what: impl Into<String>, source: io::Error) -> CliError {
        CliError::Io {
            what: what.into(),
            source,
        }
    }

    /// A failed write to stdout (a closed pipe among them: [`CliError::report`] exits
    /// quietly on that one).
    pub fn stdout(source: io::Error) -> CliError {
        CliError::io("write to stdout", source)
    }

    /// Prints this error as one line on stderr and returns its exit code (2 for usage
    /// errors, 1 otherwise). A closed stdout (`silt consume | head`) exits quietly.
    pub fn report(&self) -> ExitCode {
        if let CliError::Io { source, .. } = self {
            if source.kind() == io::ErrorKind::BrokenPipe {
                return ExitCode::SUCCESS;
            }
        }
        let line = self.to_string().replace('\n', " ");
        let _ = writeln!(io::stderr(), "silt: {line}");
        match self {
            CliError::Usage(_) => ExitCode::from(2),
            _ => ExitCode::FAILURE,
        }
    }
}

/// Reports a command-line parsing error: `--help` and `--version` print in full to stdout
/// and exit 0; a missing subcommand prints the help to stdout and one line on stderr, and
/// exits 2; anything else prints clap's first paragraph as one line (the error itself,
/// without the usage block) on stderr and exits 2.
pub fn report_usage(err: &clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    match err.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            let _ = write!(io::stdout(), "{}", err.render());
            ExitCode::SUCCESS
        }
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = write!(io::stdout(), "{}", err.render());
            let _ = writeln!(
                io::stderr(),
                "silt: a subcommand is missing (see the list above, or silt --help)"
            );
            ExitCode::from(2)
        }
        _ => {
            // clap's first paragraph is the error (with the arguments it is about on the
            // lines under it); the usage block and tips follow after blank lines.
            let rendered = err.render().to_string();
            let first: Vec<&str> = rendered
                .lines()
                .skip_while(|l| l.trim().is_empty())
                .take_while(|l| !l.trim().is_empty())
                .map(str::trim)
                .collect();
            let line = first.join(" ");
            let line = match line.trim_start_matches("error: ") {
                "" => "invalid arguments",
                line => line,
            };
            let _ = writeln!(io::stderr(), "silt: {line} (see silt --help)");
            ExitCode::from(2)
        }
    }
}
