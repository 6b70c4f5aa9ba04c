//! `silt perf produce` and `silt perf consume`: Kafka's `kafka-producer-perf-test` and
//! `kafka-consumer-perf-test` against the embedded engine.
//!
//! Both show progress on stderr while they run (a bar, drawn only on a terminal) and print
//! the summary of Kafka's tools at the end; `--json` prints instead exactly one JSON object
//! with `records`, `records_per_sec`, `mb_per_sec` and `latency_ms` (`avg`, `p50`, `p95`,
//! `p99`, `p999`, `max`; `null` for consume, which has no per-record latency), plus a few
//! fields of context.

mod consume;
mod produce;
mod stats;

use super::{CliResult, Global};

/// Subcommands of `silt perf`.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Produce records as fast as possible (or at --throughput) and report throughput and
    /// latency (kafka-producer-perf-test).
    Produce(produce::Args),
    /// Consume records with a group and report throughput (kafka-consumer-perf-test).
    Consume(consume::Args),
}

/// Runs `silt perf`.
pub fn run(global: &Global, command: Command) -> CliResult<()> {
    match command {
        Command::Produce(args) => produce::run(global, args),
        Command::Consume(args) => consume::run(global, args),
    }
}
