//! The `silt` command-line tool: Kafka's familiar tools (`kafka-topics`,
//! `kafka-console-producer`, `kafka-console-consumer`, `kafka-consumer-groups`,
//! `kafka-dump-log`, the perf tests) over an embedded data directory, and `silt demo`, the
//! main job. Each command lives in its own module under `cli/`.

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
