//! The engine's own files: topic metadata, offset checkpoints, the producer id block; and
//! whether they agree with the partitions found.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use silt_engine::inspect::{self, TopicMetadataFile};
use silt_engine::producer::PRODUCER_ID_BLOCK_FILE;
use silt_engine::{
    EngineError, CLEANER_CHECKPOINT, LOG_START_CHECKPOINT, RECOVERY_POINT_CHECKPOINT,
};

use super::{PartitionEnds, Report};
use crate::cli::CliResult;

/// The topics of `__silt_topics`.
pub(crate) struct Topics {
    by_name: BTreeMap<String, TopicMetadataFile>,
    /// Whether the directory exists (a data directory silt wrote).
    present: bool,
}

impl Topics {
    /// Whether `topic`'s overrides make it compacted.
    pub fn compacted(&self, topic: &str) -> bool {
        self.by_name
            .get(topic)
            .and_then(|t| t.overrides.get("cleanup.policy"))
            .is_some_and(|policy| policy.split(',').any(|p| p.trim() == "compact"))
    }

    /// Number of topics.
    pub fn len(&self) -> usize {
        self.by_name.len()
    }
}

/// A checkpoint's entries: (topic, partition) → offset.
type Entries = BTreeMap<(String, u32), i64>;

/// The offset checkpoints that exist and parse: (file name, path, entries).
pub(crate) struct Checkpoints {
    files: Vec<(&'static str, PathBuf, Entries)>,
}

impl Checkpoints {
    /// Whether `cleaner-offset-checkpoint` has an entry for the partition: it was compacted,
    /// so its segments may hold offset gaps.
    pub fn cleaned(&self, topic: &str, partition: u32) -> bool {
        self.get(CLEANER_CHECKPOINT)
            .is_some_and(|m| m.contains_key(&(topic.to_string(), partition)))
    }

    fn get(&self, name: &str) -> Option<&Entries> {
        self.files
            .iter()
            .find(|(n, _, _)| *n == name)
            .map(|(_, _, map)| map)
    }
}

/// An engine error about a file, as a problem line with the byte position of its line.
fn problem_line(e: &EngineError) -> String {
    match e {
        EngineError::CorruptMetadata { path, line, reason } => format!(
            "{} at byte {} (line {line}): {reason}",
            path.display(),
            line_position(path, *line)
        ),
        other => other.to_string(),
    }
}

/// Byte position where 1-based `line` of the file starts (0 for line 0 or 1, or when the
/// file cannot be read).
fn line_position(path: &Path, line: usize) -> u64 {
    let Ok(bytes) = std::fs::read(path) else {
        return 0;
    };
    if line <= 1 {
        return 0;
    }
    bytes
        .iter()
        .enumerate()
        .filter(|(_, &b)| b == b'\n')
        .nth(line - 2)
        .map_or(bytes.len() as u64, |(i, _)| i as u64 + 1)
}

/// Reads every topic metadata file of `__silt_topics`.
pub(crate) fn read_topics<W: Write>(dir: &Path, report: &mut Report<W>) -> CliResult<Topics> {
    let topics_dir = dir.join(inspect::TOPICS_DIR);
    let mut topics = Topics {
        by_name: BTreeMap::new(),
        present: true,
    };
    let entries = match std::fs::read_dir(&topics_dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            topics.present = false;
            report.warning(format_args!(
                "{}: missing: no topic metadata (a directory silt did not write?); \
                 partitions are checked without their topics' settings",
                topics_dir.display()
            ))?;
            return Ok(topics);
        }
        Err(e) => {
            report.problem(format_args!("{}: {e}", topics_dir.display()))?;
            return Ok(topics);
        }
    };
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for path in paths {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
        let name = name.unwrap_or_default();
        if name.ends_with(inspect::TMP_SUFFIX) {
            report.warning(format_args!(
                "{}: a temporary file left by an interrupted write (opening the engine removes it)",
                path.display()
            ))?;
            continue;
        }
        report.files += 1;
        match inspect::read_topic_metadata(&path) {
            Ok(Some(meta)) => {
                topics.by_name.insert(meta.name.clone(), meta);
            }
            Ok(None) => {}
            Err(e) => report.problem(problem_line(&e))?,
        }
    }
    Ok(topics)
}

/// Reads the offset checkpoints and the producer id block.
pub(crate) fn read_checkpoints<W: Write>(
    dir: &Path,
    report: &mut Report<W>,
) -> CliResult<Checkpoints> {
    let mut checkpoints = Checkpoints { files: Vec::new() };
    for name in [
        RECOVERY_POINT_CHECKPOINT,
        LOG_START_CHECKPOINT,
        CLEANER_CHECKPOINT,
    ] {
        let path = dir.join(name);
        match inspect::read_offset_checkpoint(&path) {
            Ok(Some(map)) => {
                report.files += 1;
                checkpoints.files.push((name, path, map));
            }
            Ok(None) => {}
            Err(e) => {
                report.files += 1;
                report.problem(problem_line(&e))?;
            }
        }
    }
    let block = dir.join(PRODUCER_ID_BLOCK_FILE);
    match inspect::read_producer_id_block(&block) {
        Ok(Some(_)) => report.files += 1,
        Ok(None) => {}
        Err(e) => {
            report.files += 1;
            report.problem(problem_line(&e))?;
        }
    }
    Ok(checkpoints)
}

/// Byte position of the checkpoint line for (topic, partition): `topic partition offset`.
fn entry_position(path: &Path, topic: &str, partition: u32) -> u64 {
    let Ok(text) = std::fs::read_to_string(path) else {
        return 0;
    };
    let needle = format!("\n{topic} {partition} ");
    text.find(&needle).map_or(0, |i| i as u64 + 1)
}

/// Every topic's partitions exist, every partition belongs to a topic, and the checkpoints
/// name partitions that exist and offsets within their logs.
pub(crate) fn cross_check<W: Write>(
    dir: &Path,
    topics: &Topics,
    checkpoints: &Checkpoints,
    partitions: &BTreeMap<(String, u32), PathBuf>,
    ends: &BTreeMap<(String, u32), PartitionEnds>,
    report: &mut Report<W>,
) -> CliResult<()> {
    check_partitions_exist(dir, topics, partitions, report)?;
    check_checkpoint_offsets(checkpoints, partitions, ends, report)
}

/// Every partition of every topic has its directory; every partition directory belongs to
/// a topic (when the directory has topic metadata at all).
fn check_partitions_exist<W: Write>(
    dir: &Path,
    topics: &Topics,
    partitions: &BTreeMap<(String, u32), PathBuf>,
    report: &mut Report<W>,
) -> CliResult<()> {
    if topics.present {
        for (name, meta) in &topics.by_name {
            for p in 0..meta.partitions {
                if !partitions.contains_key(&(name.clone(), p)) {
                    report.problem(format_args!(
                        "{}: missing: topic {name} has {} partitions",
                        dir.join(format!("{name}-{p}")).display(),
                        meta.partitions
                    ))?;
                }
            }
        }
        for ((topic, p), path) in partitions {
            let known = topics
                .by_name
                .get(topic)
                .is_some_and(|meta| *p < meta.partitions);
            if !known {
                report.warning(format_args!(
                    "{}: belongs to no topic of {} (opening the engine deletes it)",
                    path.display(),
                    inspect::TOPICS_DIR
                ))?;
            }
        }
    }
    Ok(())
}

/// The checkpoints name partitions that exist, and offsets within their logs.
fn check_checkpoint_offsets<W: Write>(
    checkpoints: &Checkpoints,
    partitions: &BTreeMap<(String, u32), PathBuf>,
    ends: &BTreeMap<(String, u32), PartitionEnds>,
    report: &mut Report<W>,
) -> CliResult<()> {
    let log_start = checkpoints.get(LOG_START_CHECKPOINT);
    for (name, path, map) in &checkpoints.files {
        for ((topic, p), &offset) in map {
            let at = || entry_position(path, topic, *p);
            let key = (topic.clone(), *p);
            if !partitions.contains_key(&key) {
                report.warning(format_args!(
                    "{} at byte {}: entry for {topic}-{p}, which has no directory",
                    path.display(),
                    at()
                ))?;
                continue;
            }
            let ends = ends.get(&key).copied().unwrap_or_default();
            let start = log_start.and_then(|m| m.get(&key)).copied().unwrap_or(0);
            let log_end = ends.log_end.unwrap_or(start);
            let first = ends.first_base.unwrap_or(start);
            let what = match *name {
                RECOVERY_POINT_CHECKPOINT => "recovery point",
                LOG_START_CHECKPOINT => "log start offset",
                _ => "first dirty offset",
            };
            if offset > log_end {
                let line = format!(
                    "{} at byte {}: {what} {offset} of {topic}-{p} is past its log end {log_end}",
                    path.display(),
                    at()
                );
                if *name == CLEANER_CHECKPOINT {
                    // The engine reads an out-of-range first dirty offset as none.
                    report.warning(line)?;
                } else {
                    report.problem(line)?;
                }
            } else if *name == CLEANER_CHECKPOINT && offset < first {
                report.warning(format_args!(
                    "{} at byte {}: {what} {offset} of {topic}-{p} is below its first \
                     segment's base offset {first} (the engine reads it as the log start)",
                    path.display(),
                    at()
                ))?;
            }
        }
    }
    Ok(())
}
