//! Argument parsing and dispatch. Every command is a module with an `Args` (or a
//! `Command` of subcommands) and a `run` that returns [`CliResult`]; `main` turns an error
//! into one line on stderr and a non-zero exit, never a panic.

mod consume;
mod demo;
mod dump_log;
mod error;
mod groups;
mod perf;
mod produce;
mod topics;
mod verify;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use silt::{Engine, EngineConfig};

pub use error::{CliError, CliResult};

/// silt: an embedded, Kafka-compatible log storage engine, and its tools.
#[derive(Debug, Parser)]
#[command(name = "silt", version, about, long_about = None)]
pub struct Cli {
    /// The data directory.
    #[arg(
        long,
        global = true,
        env = "SILT_DATA_DIR",
        default_value = "./silt-data",
        value_name = "DIR"
    )]
    pub data_dir: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Produce, consume with a group of three (with a rebalance) and show what happened.
    Demo(demo::Args),
    /// Create, list, describe, alter and delete topics (kafka-topics).
    #[command(subcommand)]
    Topics(topics::Command),
    /// Produce one record per stdin line (kafka-console-producer).
    Produce(produce::Args),
    /// Print records to stdout (kafka-console-consumer).
    Consume(consume::Args),
    /// List, describe, reset and delete consumer groups (kafka-consumer-groups).
    #[command(subcommand)]
    Groups(groups::Command),
    /// Print the batches of Kafka `.log` files (kafka-dump-log).
    DumpLog(dump_log::Args),
    /// Check every segment and index of the data directory.
    Verify(verify::Args),
    /// Producer and consumer performance tests (kafka-*-perf-test).
    #[command(subcommand)]
    Perf(perf::Command),
}

/// What every command gets besides its own arguments.
#[derive(Debug)]
pub struct Global {
    /// `--data-dir`.
    pub data_dir: PathBuf,
}

impl Global {
    /// Opens the data directory (creating it if missing) with the default configuration.
    pub fn open_engine(&self) -> CliResult<Engine> {
        self.open_engine_with(EngineConfig::default())
    }

    /// Opens the data directory with `config`.
    pub fn open_engine_with(&self, config: EngineConfig) -> CliResult<Engine> {
        Ok(Engine::open(&self.data_dir, config)?)
    }
}

/// Parses `KEY=VALUE` (split at the first `=`, the key not empty): clap's value parser for
/// `--config`, `--header` and the other repeatable settings.
pub fn key_value(arg: &str) -> Result<(String, String), String> {
    match arg.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_string(), value.to_string())),
        _ => Err(format!("expected KEY=VALUE, got {arg:?}")),
    }
}

/// Writes one line to stdout and flushes it.
pub fn print_line(line: std::fmt::Arguments<'_>) -> CliResult<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}")
        .and_then(|()| out.flush())
        .map_err(CliError::stdout)
}

/// Parses the command line, runs the command, and reports an error as one line.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => return error::report_usage(&err),
    };
    let global = Global {
        data_dir: cli.data_dir,
    };
    let result = match cli.command {
        Command::Demo(args) => demo::run(&global, args),
        Command::Topics(command) => topics::run(&global, command),
        Command::Produce(args) => produce::run(&global, args),
        Command::Consume(args) => consume::run(&global, args),
        Command::Groups(command) => groups::run(&global, command),
        Command::DumpLog(args) => dump_log::run(&global, args),
        Command::Verify(args) => verify::run(&global, args),
        Command::Perf(command) => perf::run(&global, command),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => err.report(),
    }
}
