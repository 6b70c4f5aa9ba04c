//! `silt groups`: Kafka's `kafka-consumer-groups` over the data directory.
//!
//! Groups live in this process: a group seen by a separate `silt` command has no active
//! members (only one process holds the directory), just its committed offsets, which is
//! exactly when Kafka allows resetting and deleting them.

use std::collections::BTreeMap;
use std::io::Write;

use silt::{CommittedOffset, ConsumerExt, Engine, GroupDescription, TopicPartition};

use super::{print_line, CliError, CliResult, Global};

/// Subcommands of `silt groups`.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// List consumer groups (with members or committed offsets), one a line.
    List,
    /// Show a group's committed offsets, log end offsets, lag and owners.
    Describe(DescribeArgs),
    /// Set a group's committed offsets for a topic (the group must have no active members).
    ResetOffsets(ResetArgs),
    /// Delete a group's committed offsets (the group must have no active members).
    Delete(DeleteArgs),
}

/// `silt groups describe G`.
#[derive(Debug, clap::Args)]
pub struct DescribeArgs {
    /// The group.
    group: String,
}

/// `silt groups reset-offsets G --topic T (--to-earliest | --to-latest | --to-offset O)`.
#[derive(Debug, clap::Args)]
#[command(group(
    clap::ArgGroup::new("target")
        .required(true)
        .args(["to_earliest", "to_latest", "to_offset"])
))]
pub struct ResetArgs {
    /// The group.
    group: String,
    /// The topic, or `TOPIC:P,P,...` for some of its partitions.
    #[arg(long, value_name = "T")]
    topic: String,
    /// Reset to each partition's log start offset.
    #[arg(long)]
    to_earliest: bool,
    /// Reset to each partition's log end offset.
    #[arg(long)]
    to_latest: bool,
    /// Reset to this offset (clamped into each partition's [log start, log end]).
    #[arg(long, value_name = "O")]
    to_offset: Option<i64>,
    /// Print the new offsets without committing them.
    #[arg(long)]
    dry_run: bool,
}

/// `silt groups delete G`.
#[derive(Debug, clap::Args)]
pub struct DeleteArgs {
    /// The group.
    group: String,
}

/// Runs `silt groups`.
pub fn run(global: &Global, command: Command) -> CliResult<()> {
    let engine = global.open_engine()?;
    let result = match command {
        Command::List => list(&engine),
        Command::Describe(args) => describe(&engine, &args),
        Command::ResetOffsets(args) => reset_offsets(&engine, &args),
        Command::Delete(args) => delete(&engine, &args),
    };
    let closed = engine.close();
    result?;
    Ok(closed?)
}

fn list(engine: &Engine) -> CliResult<()> {
    let mut out = std::io::stdout().lock();
    for group in engine.list_consumer_groups()? {
        writeln!(out, "{group}").map_err(CliError::stdout)?;
    }
    out.flush().map_err(CliError::stdout)
}

fn describe(engine: &Engine, args: &DescribeArgs) -> CliResult<()> {
    let description = engine.describe_consumer_group(&args.group)?;
    if description.members.is_empty() {
        let _ = writeln!(
            std::io::stderr(),
            "Consumer group '{}' has no active members.",
            args.group
        );
    }
    let mut out = std::io::stdout().lock();
    write_lag_table(&mut out, &description)
        .and_then(|()| out.flush())
        .map_err(CliError::stdout)
}

/// Writes a group's lag table: TOPIC, PARTITION, CURRENT-OFFSET, LOG-END-OFFSET, LAG,
/// CONSUMER-ID, `-` where a value is unknown (no commit yet, no owner).
pub(super) fn write_lag_table(
    out: &mut impl Write,
    description: &GroupDescription,
) -> std::io::Result<()> {
    let dash = |value: Option<i64>| value.map_or_else(|| "-".to_string(), |v| v.to_string());
    let rows: Vec<Vec<String>> = description
        .partitions
        .iter()
        .map(|p| {
            vec![
                p.partition.topic.clone(),
                p.partition.partition.to_string(),
                dash(p.committed_offset),
                dash(p.log_end_offset),
                dash(p.lag),
                p.member_id.clone().unwrap_or_else(|| "-".to_string()),
            ]
        })
        .collect();
    write_table(
        out,
        &[
            "TOPIC",
            "PARTITION",
            "CURRENT-OFFSET",
            "LOG-END-OFFSET",
            "LAG",
            "CONSUMER-ID",
        ],
        &rows,
    )
}

/// Writes `rows` under `headers`, each column as wide as its widest cell plus two spaces
/// (the last column unpadded), as Kafka's tools print tables.
pub(super) fn write_table(
    out: &mut impl Write,
    headers: &[&str],
    rows: &[Vec<String>],
) -> std::io::Result<()> {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.len()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut line = |cells: &mut dyn Iterator<Item = &str>| -> std::io::Result<()> {
        let mut text = String::new();
        for (cell, width) in cells.zip(&widths) {
            text.push_str(&format!("{cell:<width$}  "));
        }
        writeln!(out, "{}", text.trim_end())
    };
    line(&mut headers.iter().copied())?;
    for row in rows {
        line(&mut row.iter().map(String::as_str))?;
    }
    Ok(())
}

fn reset_offsets(engine: &Engine, args: &ResetArgs) -> CliResult<()> {
    let (topic, only) = parse_topic_partitions(&args.topic)?;
    let description = engine.describe_topic(topic)?;
    let partitions = description.partitions.len() as u32;
    if let Some(&partition) = only.iter().flatten().find(|p| **p >= partitions) {
        return Err(silt::EngineError::UnknownPartition {
            topic: topic.to_string(),
            partition,
            partitions,
        }
        .into());
    }
    let mut offsets = BTreeMap::new();
    for p in &description.partitions {
        if only
            .as_ref()
            .is_some_and(|only| !only.contains(&p.partition))
        {
            continue;
        }
        let offset = match (args.to_earliest, args.to_latest, args.to_offset) {
            (true, _, _) => p.log_start_offset,
            (_, true, _) => p.log_end_offset,
            (_, _, Some(offset)) => offset.clamp(p.log_start_offset, p.log_end_offset),
            _ => {
                return Err(CliError::Usage(
                    "reset-offsets needs --to-earliest, --to-latest or --to-offset".into(),
                ))
            }
        };
        offsets.insert(
            TopicPartition::new(topic, p.partition),
            CommittedOffset::new(offset),
        );
    }
    if !args.dry_run {
        engine.alter_consumer_group_offsets(&args.group, &offsets)?;
    }
    let rows: Vec<Vec<String>> = offsets
        .iter()
        .map(|(tp, offset)| {
            vec![
                args.group.clone(),
                tp.topic.clone(),
                tp.partition.to_string(),
                offset.offset.to_string(),
            ]
        })
        .collect();
    let mut out = std::io::stdout().lock();
    write_table(
        &mut out,
        &["GROUP", "TOPIC", "PARTITION", "NEW-OFFSET"],
        &rows,
    )
    .and_then(|()| out.flush())
    .map_err(CliError::stdout)
}

/// `TOPIC` or `TOPIC:P,P,...`.
fn parse_topic_partitions(arg: &str) -> CliResult<(&str, Option<Vec<u32>>)> {
    let Some((topic, list)) = arg.split_once(':') else {
        return Ok((arg, None));
    };
    let partitions = list
        .split(',')
        .map(|p| p.trim().parse::<u32>())
        .collect::<Result<Vec<u32>, _>>()
        .map_err(|_| {
            CliError::Usage(format!(
                "--topic {arg:?}: expected TOPIC or TOPIC:PARTITION,PARTITION,..."
            ))
        })?;
    Ok((topic, Some(partitions)))
}

fn delete(engine: &Engine, args: &DeleteArgs) -> CliResult<()> {
    engine.delete_consumer_group(&args.group)?;
    print_line(format_args!(
        "Deletion of requested consumer groups ('{}') was successful.",
        args.group
    ))
}

#[cfg(test)]
mod tests {
    use super::{parse_topic_partitions, write_table};

    #[test]
    fn pads_columns_to_the_widest_cell() {
        let mut out = Vec::new();
        let rows = vec![vec!["orders".to_string(), "10".to_string()]];
        write_table(&mut out, &["TOPIC", "PARTITION"], &rows).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "TOPIC   PARTITION\norders  10\n"
        );
    }

    #[test]
    fn parses_topic_and_partitions() {
        assert_eq!(parse_topic_partitions("t").unwrap(), ("t", None));
        assert_eq!(
            parse_topic_partitions("t:0,2").unwrap(),
            ("t", Some(vec![0, 2]))
        );
        assert!(parse_topic_partitions("t:x").is_err());
    }
}
