//! `silt topics`: Kafka's `kafka-topics` over the data directory.
//!
//! `describe` prints what `kafka-topics --describe` prints, one topic line then one line per
//! partition, with silt's offsets and sizes where Kafka shows leaders and replicas (an
//! embedded engine has one copy of each partition, in this directory).

use std::io::Write;

use silt::offsets::OFFSETS_TOPIC;
use silt::{Engine, NewTopic, TopicDescription};

use super::{key_value, print_line, CliError, CliResult, Global};

/// Subcommands of `silt topics`.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Create a topic.
    Create(CreateArgs),
    /// List topic names, one a line.
    List(ListArgs),
    /// Describe a topic (or every topic): partitions, offsets, sizes and configuration.
    Describe(DescribeArgs),
    /// Delete a topic and all its data.
    Delete(DeleteArgs),
    /// Add partitions to a topic or change its configuration.
    Alter(AlterArgs),
}

/// `silt topics create NAME --partitions N [--config k=v]...`.
#[derive(Debug, clap::Args)]
pub struct CreateArgs {
    /// The topic's name: `[a-zA-Z0-9._-]`, 1 to 249 characters.
    name: String,
    /// Number of partitions.
    #[arg(long, value_name = "N")]
    partitions: u32,
    /// A topic setting with its Kafka name (`retention.ms=86400000`); repeatable.
    #[arg(long = "config", value_name = "KEY=VALUE", value_parser = key_value)]
    configs: Vec<(String, String)>,
    /// Succeed without doing anything if the topic already exists.
    #[arg(long)]
    if_not_exists: bool,
}

/// `silt topics list`.
#[derive(Debug, clap::Args)]
pub struct ListArgs {
    /// Leave out internal topics (`__consumer_offsets`).
    #[arg(long)]
    exclude_internal: bool,
}

/// `silt topics describe [NAME]`.
#[derive(Debug, clap::Args)]
pub struct DescribeArgs {
    /// The topic; every topic when left out.
    name: Option<String>,
    /// Leave out internal topics when describing every topic.
    #[arg(long)]
    exclude_internal: bool,
}

/// `silt topics delete NAME`.
#[derive(Debug, clap::Args)]
pub struct DeleteArgs {
    /// The topic.
    name: String,
    /// Succeed without doing anything if the topic does not exist.
    #[arg(long)]
    if_exists: bool,
}

/// `silt topics alter NAME [--partitions N] [--config k=v]...`.
#[derive(Debug, clap::Args)]
pub struct AlterArgs {
    /// The topic.
    name: String,
    /// The new total number of partitions (partitions can be added, never removed).
    #[arg(long, value_name = "N")]
    partitions: Option<u32>,
    /// A topic setting to set, with its Kafka name; repeatable.
    #[arg(long = "config", value_name = "KEY=VALUE", value_parser = key_value)]
    configs: Vec<(String, String)>,
    /// A topic setting to remove (back to the engine default); repeatable.
    #[arg(long = "delete-config", value_name = "KEY")]
    delete_configs: Vec<String>,
}

/// Runs `silt topics`.
pub fn run(global: &Global, command: Command) -> CliResult<()> {
    let engine = global.open_engine()?;
    let result = match command {
        Command::Create(args) => create(&engine, args),
        Command::List(args) => list(&engine, &args),
        Command::Describe(args) => describe(&engine, &args),
        Command::Delete(args) => delete(&engine, &args),
        Command::Alter(args) => alter(&engine, args),
    };
    let closed = engine.close();
    result?;
    Ok(closed?)
}

fn create(engine: &Engine, args: CreateArgs) -> CliResult<()> {
    if args.if_not_exists && engine.list_topics().contains(&args.name) {
        return Ok(());
    }
    let mut topic = NewTopic::new(args.name.as_str(), args.partitions);
    for (key, value) in args.configs {
        topic = topic.config(key, value);
    }
    engine.create_topic(topic)?;
    print_line(format_args!("Created topic {}.", args.name))
}

fn list(engine: &Engine, args: &ListArgs) -> CliResult<()> {
    let mut out = std::io::stdout().lock();
    for name in engine.list_topics() {
        if args.exclude_internal && is_internal(&name) {
            continue;
        }
        writeln!(out, "{name}").map_err(CliError::stdout)?;
    }
    out.flush().map_err(CliError::stdout)
}

fn describe(engine: &Engine, args: &DescribeArgs) -> CliResult<()> {
    let names = match &args.name {
        Some(name) => vec![name.clone()],
        None => engine
            .list_topics()
            .into_iter()
            .filter(|name| !(args.exclude_internal && is_internal(name)))
            .collect(),
    };
    let mut out = std::io::stdout().lock();
    for name in names {
        let description = engine.describe_topic(&name)?;
        write_description(&mut out, &description).map_err(CliError::stdout)?;
    }
    out.flush().map_err(CliError::stdout)
}

/// Writes a topic as `kafka-topics --describe` does: a topic line (partition count and the
/// settings the topic overrides), then a tab-indented line per partition.
pub(super) fn write_description(
    out: &mut impl Write,
    description: &TopicDescription,
) -> std::io::Result<()> {
    let configs: Vec<String> = description
        .overrides
        .iter()
        .map(|(key, value)| format!("{key}={value}"))
        .collect();
    writeln!(
        out,
        "Topic: {}\tPartitionCount: {}\tReplicationFactor: 1\tConfigs: {}",
        description.name,
        description.partitions.len(),
        configs.join(",")
    )?;
    for p in &description.partitions {
        writeln!(
            out,
            "\tTopic: {}\tPartition: {}\tLogStartOffset: {}\tLogEndOffset: {}\tSize: {}\tSegments: {}",
            description.name,
            p.partition,
            p.log_start_offset,
            p.log_end_offset,
            p.size_bytes,
            p.segments
        )?;
    }
    Ok(())
}

fn delete(engine: &Engine, args: &DeleteArgs) -> CliResult<()> {
    if args.if_exists && !engine.list_topics().contains(&args.name) {
        return Ok(());
    }
    engine.delete_topic(&args.name)?;
    print_line(format_args!("Deleted topic {}.", args.name))
}

fn alter(engine: &Engine, args: AlterArgs) -> CliResult<()> {
    if args.partitions.is_none() && args.configs.is_empty() && args.delete_configs.is_empty() {
        return Err(CliError::Usage(
            "topics alter needs --partitions, --config or --delete-config".into(),
        ));
    }
    let before = engine.describe_topic(&args.name)?;
    // Check the settings before adding partitions, so that a bad value changes nothing.
    let mut check = before.config.clone();
    for (key, value) in &args.configs {
        check.set(key, value)?;
    }
    let mut changes = Vec::new();
    if let Some(total) = args.partitions {
        engine.add_partitions(&args.name, total)?;
        changes.push(format!("partitions {} -> {total}", before.partitions.len()));
    }
    if !args.configs.is_empty() || !args.delete_configs.is_empty() {
        engine.alter_topic_config(
            &args.name,
            args.configs.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            args.delete_configs.iter().map(String::as_str),
        )?;
        changes.extend(args.configs.iter().map(|(k, v)| format!("set {k}={v}")));
        changes.extend(args.delete_configs.iter().map(|k| format!("removed {k}")));
    }
    print_line(format_args!(
        "Altered topic {}: {}.",
        args.name,
        changes.join(", ")
    ))
}

fn is_internal(topic: &str) -> bool {
    topic == OFFSETS_TOPIC
}
