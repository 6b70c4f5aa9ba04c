//! The partition directories: their segments, checked one by one and in sequence.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};

use silt::log::{segment_file, verify_segment, VerifyOptions, LOG_SUFFIX};
use silt_engine::producer::PRODUCER_ID_BLOCK_FILE;
use silt_engine::{
    inspect, CLEANER_CHECKPOINT, LOCK_FILE, LOG_START_CHECKPOINT, RECOVERY_POINT_CHECKPOINT,
};

use super::{DirState, PartitionEnds, Report};
use crate::cli::{CliError, CliResult};

/// Files of a data directory that are not partitions: silt's own, and Kafka's (a Kafka log
/// directory can be checked too).
const KNOWN_FILES: &[&str] = &[
    LOCK_FILE,
    inspect::CLEAN_SHUTDOWN_FILE,
    RECOVERY_POINT_CHECKPOINT,
    LOG_START_CHECKPOINT,
    CLEANER_CHECKPOINT,
    PRODUCER_ID_BLOCK_FILE,
    inspect::TOPICS_DIR,
    ".kafka_cleanshutdown",
    "meta.properties",
    "replication-offset-checkpoint",
    "bootstrap.checkpoint",
];

/// Kafka's files in a partition directory, which silt neither writes nor checks.
fn is_kafka_partition_file(name: &str) -> bool {
    name == "leader-epoch-checkpoint"
        || name == "partition.metadata"
        || name.ends_with(".snapshot")
        || name.ends_with(".txnindex")
}

fn read_dir_sorted(dir: &Path) -> CliResult<Vec<(String, PathBuf)>> {
    let entries =
        std::fs::read_dir(dir).map_err(|e| CliError::io(format!("list {}", dir.display()), e))?;
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| CliError::io(format!("list {}", dir.display()), e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        names.push((name, entry.path()));
    }
    names.sort();
    Ok(names)
}

/// The partition directories of the data directory, by (topic, partition); warns about
/// entries that are neither partitions nor known files.
pub(crate) fn list<W: Write>(
    dir: &Path,
    report: &mut Report<W>,
) -> CliResult<BTreeMap<(String, u32), PathBuf>> {
    let mut partitions = BTreeMap::new();
    for (name, path) in read_dir_sorted(dir)? {
        if let Some((topic, partition)) = inspect::parse_partition_dir(&name) {
            if path.is_dir() {
                partitions.insert((topic.to_string(), partition), path);
                continue;
            }
        }
        if name.ends_with(inspect::TMP_SUFFIX) {
            report.warning(format_args!(
                "{}: a temporary file left by an interrupted write (opening the engine removes it)",
                path.display()
            ))?;
        } else if !KNOWN_FILES.contains(&name.as_str()) {
            report.warning(format_args!(
                "{}: not a partition directory nor a file silt knows",
                path.display()
            ))?;
        }
    }
    Ok(partitions)
}

/// What a partition directory holds, by segment base offset.
#[derive(Default)]
struct Listing {
    logs: BTreeSet<i64>,
    indexes: BTreeSet<i64>,
}

/// `<20 digits>.<suffix>` → (base offset, suffix).
fn segment_name(name: &str) -> Option<(i64, &str)> {
    let (digits, suffix) = name.split_once('.')?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((digits.parse().ok()?, suffix))
}

fn list_partition<W: Write>(dir: &Path, report: &mut Report<W>) -> CliResult<Listing> {
    let mut listing = Listing::default();
    for (name, path) in read_dir_sorted(dir)? {
        match segment_name(&name) {
            Some((base, "log")) => {
                listing.logs.insert(base);
            }
            Some((base, "index" | "timeindex")) => {
                listing.indexes.insert(base);
            }
            Some((_, suffix))
                if suffix.ends_with(".cleaned")
                    || suffix.ends_with(".swap")
                    || suffix.ends_with(".deleted") =>
            {
                report.warning(format_args!(
                    "{}: left by an interrupted compaction (opening the engine completes or \
                     discards it)",
                    path.display()
                ))?;
            }
            _ if is_kafka_partition_file(&name) => {}
            _ => report.warning(format_args!("{}: not a segment file", path.display()))?,
        }
    }
    for base in listing.indexes.difference(&listing.logs) {
        report.warning(format_args!(
            "{}: index files without their .log file",
            segment_file(dir, *base, LOG_SUFFIX).display()
        ))?;
    }
    Ok(listing)
}

/// Verifies every segment of the partition in `dir`, and that each follows the one
/// before. `gaps`: the partition may hold compaction's offset gaps.
pub(crate) fn verify<W: Write>(
    dir: &Path,
    gaps: bool,
    state: &DirState,
    report: &mut Report<W>,
) -> CliResult<PartitionEnds> {
    let listing = list_partition(dir, report)?;
    let last = listing.logs.last().copied();
    let mut ends = PartitionEnds {
        first_base: listing.logs.first().copied(),
        log_end: None,
    };
    for &base in &listing.logs {
        let log = segment_file(dir, base, LOG_SUFFIX);
        report.segments += 1;
        report.files += 1 + ["index", "timeindex"]
            .iter()
            .filter(|suffix| log.with_extension(suffix).exists())
            .count() as u64;
        let found = match verify_segment(dir, base, VerifyOptions { offset_gaps: gaps }) {
            Ok(found) => found,
            Err(e) => {
                report.problem(e)?;
                continue;
            }
        };
        report.batches += found.batches;
        report.records += found.records;
        report.bytes += found.valid_end;
        // The last segment of a directory not closed cleanly may be the active one, left
        // with preallocated tails; opening the engine recovers it.
        let may_be_open = Some(base) == last && (!state.clean || state.in_use);
        let mut problems = 0;
        for problem in &found.problems {
            if problem.is_unclosed_tail() && may_be_open {
                report.warning(format_args!(
                    "{problem} (the active segment of a directory not closed cleanly)"
                ))?;
            } else {
                problems += 1;
                report.problem(problem)?;
            }
        }
        if let Some(previous_end) = ends.log_end {
            follows(&log, (previous_end, base, found.first_offset), gaps, report)?;
        }
        ends.log_end = Some(
            found
                .next_offset
                .unwrap_or(base)
                .max(ends.log_end.unwrap_or(base)),
        );
        report.detail(format_args!(
            "{}: {} batches, {} records, offsets {}..{}, {} bytes{}",
            log.display(),
            found.batches,
            found.records,
            found.first_offset.unwrap_or(base),
            found.next_offset.unwrap_or(base),
            found.valid_end,
            if problems == 0 { ", ok" } else { "" }
        ))?;
    }
    Ok(ends)
}

/// A segment must start at or after the previous one's end, and, without offset gaps, its
/// first batch exactly there.
fn follows<W: Write>(
    log: &Path,
    (previous_end, base, first): (i64, i64, Option<i64>),
    gaps: bool,
    report: &mut Report<W>,
) -> CliResult<()> {
    if base < previous_end {
        return report.problem(format_args!(
            "{} at byte 0: the segment's base offset {base} lies below the end of the \
             previous segment ({previous_end}): the two overlap",
            log.display()
        ));
    }
    match first {
        Some(first) if first < previous_end => report.problem(format_args!(
            "{} at byte 0: the first batch starts at offset {first}, below the end of the \
             previous segment ({previous_end}): the two overlap",
            log.display()
        )),
        Some(first) if !gaps && first > previous_end => report.problem(format_args!(
            "{} at byte 0: the first batch starts at offset {first}, but the previous \
             segment ends before offset {previous_end}: offsets {previous_end}..{first} are missing",
            log.display()
        )),
        _ => Ok(()),
    }
}
