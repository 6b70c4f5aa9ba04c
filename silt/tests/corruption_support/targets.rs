//! The files of a template, by kind, and what a mutation of each one did: which batch of a
//! segment it reached first, and whether the format can see it at all.

use std::path::{Path, PathBuf};

use silt_engine::inspect;

use super::model::{Model, PartitionModel, SegmentInfo};
use super::mutate::Shape;

/// What a file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Log,
    Index,
    TimeIndex,
    TopicMetadata,
    Checkpoint,
    ProducerIdBlock,
    CleanShutdown,
    Lock,
}

/// One file the campaign may damage.
#[derive(Debug, Clone)]
pub struct Target {
    /// Path inside the data directory.
    pub rel: PathBuf,
    pub kind: Kind,
    /// For segment files: the partition (`events-0`) and the segment's index in it.
    pub partition: Option<String>,
    pub segment: Option<usize>,
    /// The partition's last segment (the active one).
    pub last: bool,
    /// The tally it counts in.
    pub class: String,
}

/// Every file of the template, grouped by class (in a stable order).
pub fn targets(dir: &Path, model: &Model) -> Vec<(String, Vec<Target>)> {
    let mut all = Vec::new();
    for p in &model.partitions {
        let topic_class = match p.topic.as_str() {
            "events" => "events",
            "compacted" => "compacted",
            _ => "offsets",
        };
        for (s, segment) in p.segments.iter().enumerate() {
            let last = s + 1 == p.segments.len();
            let state = if last { "active" } else { "closed" };
            for (ext, kind) in [
                ("log", Kind::Log),
                ("index", Kind::Index),
                ("timeindex", Kind::TimeIndex),
            ] {
                let path = silt::log::segment_file(&dir.join(p.name()), segment.base, ext);
                if path.exists() {
                    all.push(Target {
                        rel: path.strip_prefix(dir).unwrap().to_path_buf(),
                        kind,
                        partition: Some(p.name()),
                        segment: Some(s),
                        last,
                        class: format!("{topic_class} .{ext} ({state})"),
                    });
                }
            }
        }
    }
    let engine_files = [
        (silt_engine::RECOVERY_POINT_CHECKPOINT, Kind::Checkpoint),
        (silt_engine::LOG_START_CHECKPOINT, Kind::Checkpoint),
        (silt_engine::CLEANER_CHECKPOINT, Kind::Checkpoint),
        ("producer-id-block", Kind::ProducerIdBlock),
        (inspect::CLEAN_SHUTDOWN_FILE, Kind::CleanShutdown),
        (silt_engine::LOCK_FILE, Kind::Lock),
    ];
    for (name, kind) in engine_files {
        if dir.join(name).exists() {
            all.push(engine_file(PathBuf::from(name), kind, name.to_string()));
        }
    }
    let mut topics: Vec<PathBuf> = std::fs::read_dir(dir.join(inspect::TOPICS_DIR))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    topics.sort();
    for path in topics {
        let rel = path.strip_prefix(dir).unwrap().to_path_buf();
        all.push(engine_file(
            rel,
            Kind::TopicMetadata,
            "topic metadata".into(),
        ));
    }
    let mut classes: Vec<(String, Vec<Target>)> = Vec::new();
    for target in all {
        match classes.iter_mut().find(|(c, _)| *c == target.class) {
            Some((_, list)) => list.push(target),
            None => classes.push((target.class.clone(), vec![target])),
        }
    }
    classes
}

fn engine_file(rel: PathBuf, kind: Kind, class: String) -> Target {
    Target {
        rel,
        kind,
        partition: None,
        segment: None,
        last: false,
        class,
    }
}

impl Target {
    /// The partition and segment of a segment file.
    pub fn segment_of<'m>(&self, model: &'m Model) -> Option<(&'m PartitionModel, usize)> {
        let p = model.partition(self.partition.as_deref()?)?;
        Some((p, self.segment?))
    }

    /// How mutations are aimed at this file.
    pub fn shape(&self, model: &Model) -> Shape {
        match self.kind {
            Kind::Log => {
                let (p, s) = self.segment_of(model).unwrap();
                let batches = p.segments[s].batches.iter();
                Shape::Log {
                    batches: batches.map(|b| (b.position, b.size)).collect(),
                    // The offsets log's decoder is what such records reach.
                    recrc: p.topic == silt::offsets::OFFSETS_TOPIC,
                }
            }
            Kind::Index => Shape::Index(8),
            Kind::TimeIndex => Shape::Index(12),
            _ => Shape::Text,
        }
    }
}

/// Where a mutation of a `.log` file first reached: the batch (by index) holding the first
/// changed byte, and the first offset that may be lost with it. `None` batch: past the
/// last valid batch (an extension, or the preallocated tail).
#[derive(Debug, Clone, Copy)]
pub struct Damage {
    pub batch: Option<usize>,
    pub lost_from: i64,
}

pub fn damage(segment: &SegmentInfo, first_change: u64) -> Damage {
    let batch = segment.batch_at(first_change);
    let end = segment
        .batches
        .last()
        .map_or(segment.base, |b| b.last_offset + 1);
    Damage {
        batch,
        lost_from: batch.map_or(end, |b| segment.batches[b].base_offset),
    }
}

/// The first changed byte a check can see: for a `.log` file, not one of a batch's
/// partitionLeaderEpoch (which nothing checks).
pub fn first_checked_change(target: &Target, model: &Model, before: &[u8], after: &[u8]) -> u64 {
    let first = super::mutate::first_change(before, after).unwrap_or(0);
    if target.kind == Kind::TimeIndex {
        // A time index entry whose offset moved within its batch leads lookups where it did:
        // the first change a check can see is the first other one.
        let unseen =
            |d: u64| d % 12 >= 8 && entry_moved_within_batch(target, model, before, after, d / 12);
        return changed(before, after)
            .into_iter()
            .find(|&d| !unseen(d))
            .unwrap_or(first);
    }
    let Some((p, s)) = target
        .segment_of(model)
        .filter(|_| target.kind == Kind::Log)
    else {
        return first;
    };
    let epoch = |d: u64| {
        p.segments[s]
            .batches
            .iter()
            .any(|b| (b.position + 12..b.position + 16).contains(&d))
    };
    let common = before.len().min(after.len()) as u64;
    changed(before, after)
        .into_iter()
        .find(|&d| !epoch(d))
        .unwrap_or(if before.len() == after.len() {
            first
        } else {
            common
        })
}

/// Every byte position where `after` differs from `before` within their common length.
fn changed(before: &[u8], after: &[u8]) -> Vec<u64> {
    before
        .iter()
        .zip(after)
        .enumerate()
        .filter(|(_, (a, b))| a != b)
        .map(|(i, _)| i as u64)
        .collect()
}

/// Why the format cannot (or need not) show this mutation, when it cannot; `None` when
/// `silt verify` must report it. `data_exempt`: the mutation can change what reads return
/// without any check seeing it (a limit of Kafka's format, counted, not failed).
#[derive(Debug, Clone, Default)]
pub struct Exemption {
    pub reason: Option<&'static str>,
    pub data_exempt: bool,
}

impl Exemption {
    /// `silt verify` need not see it, for `reason`.
    fn because(reason: &'static str) -> Exemption {
        Exemption {
            reason: Some(reason),
            data_exempt: false,
        }
    }
}

pub fn exemption(
    target: &Target,
    model: &Model,
    (clean, recrc): (bool, bool),
    (before, after): (&[u8], &[u8]),
    mutated_path: &Path,
) -> Exemption {
    match target.kind {
        Kind::Lock | Kind::CleanShutdown => Exemption::because("its contents are never read"),
        Kind::TopicMetadata => Exemption::default(),
        Kind::ProducerIdBlock => match inspect::read_producer_id_block(mutated_path) {
            Ok(_) => Exemption::because("still a valid producer id block (no checksum)"),
            Err(_) => Exemption::default(),
        },
        Kind::Checkpoint => checkpoint_exemption(target, model, mutated_path),
        Kind::Index | Kind::TimeIndex => index_exemption(target, model, clean, before, after),
        Kind::Log if recrc => Exemption {
            reason: Some(
                "records changed under a recomputed CRC (valid as far as any check can tell)",
            ),
            data_exempt: true,
        },
        Kind::Log => log_exemption(target, model, clean, before, after),
    }
}

fn checkpoint_exemption(target: &Target, model: &Model, path: &Path) -> Exemption {
    let Ok(Some(entries)) = inspect::read_offset_checkpoint(path) else {
        return Exemption::default();
    };
    let bounds_checked = target.rel != Path::new(silt_engine::CLEANER_CHECKPOINT);
    let past_end = entries.iter().any(|((topic, partition), &offset)| {
        model
            .partition(&format!("{topic}-{partition}"))
            .is_some_and(|p| bounds_checked && offset > p.log_end)
    });
    if past_end {
        return Exemption::default();
    }
    Exemption::because(
        "a checkpoint that parses, with offsets inside the logs (no checksum in Kafka's format)",
    )
}

/// The length of `bytes` without its trailing zeros, rounded up to whole `entry`s.
fn written_len(bytes: &[u8], entry: u64) -> u64 {
    let nonzero = bytes
        .iter()
        .rposition(|&b| b != 0)
        .map_or(0, |i| i as u64 + 1);
    nonzero.div_ceil(entry) * entry
}

fn index_exemption(
    target: &Target,
    model: &Model,
    clean: bool,
    before: &[u8],
    after: &[u8],
) -> Exemption {
    let entry = if target.kind == Kind::Index { 8 } else { 12 };
    let zeros_only = changed(before, after).is_empty()
        && after.len() as u64 >= written_len(before, entry)
        && (after.len() as u64).is_multiple_of(entry)
        && after.iter().skip(before.len()).all(|&b| b == 0);
    if !clean && target.last && zeros_only {
        return Exemption::because("only the preallocated tail of an unclosed index");
    }
    let whole_entries_dropped = target.kind == Kind::Index
        && after.len() < before.len()
        && (after.len() as u64).is_multiple_of(entry)
        && before.starts_with(after);
    if whole_entries_dropped {
        return Exemption::because("whole offset index entries dropped (a sparser index is valid)");
    }
    let time_entries_dropped = target.kind == Kind::TimeIndex
        && !clean
        && target.last
        && after.len() < before.len()
        && (after.len() as u64).is_multiple_of(entry)
        && before.starts_with(after);
    if time_entries_dropped {
        // Only a sealed segment's time index must end with the segment's largest timestamp.
        return Exemption::because(
            "whole time index entries dropped from an unclosed segment (recovered at open)",
        );
    }
    if target.kind == Kind::TimeIndex && moved_within_batch(target, model, before, after) {
        return Exemption::because(
            "a time index entry's offset moved within its batch (lookups unchanged)",
        );
    }
    Exemption::default()
}

/// Whether only the offsets of time index entries changed, each to another offset of the
/// same batch: the entry still leads a lookup to the batch it named.
fn moved_within_batch(target: &Target, model: &Model, before: &[u8], after: &[u8]) -> bool {
    let diff = changed(before, after);
    before.len() == after.len()
        && !diff.is_empty()
        && diff.iter().all(|&d| d % 12 >= 8)
        && diff
            .iter()
            .all(|&d| entry_moved_within_batch(target, model, before, after, d / 12))
}

/// Whether time index entry `entry` names, in `after`, an offset of the batch it named in
/// `before` (both files holding the entry whole).
fn entry_moved_within_batch(
    target: &Target,
    model: &Model,
    before: &[u8],
    after: &[u8],
    entry: u64,
) -> bool {
    let Some((p, s)) = target.segment_of(model) else {
        return false;
    };
    let segment = &p.segments[s];
    let at = entry as usize * 12 + 8;
    let offset_at = |bytes: &[u8]| {
        let rel = u32::from_be_bytes(bytes.get(at..at + 4)?.try_into().ok()?);
        Some(segment.base + i64::from(rel))
    };
    let batch_of = |o: i64| {
        segment
            .batches
            .iter()
            .position(|b| b.base_offset <= o && o <= b.last_offset)
    };
    match (offset_at(before), offset_at(after)) {
        (Some(old), Some(new)) => batch_of(old).is_some() && batch_of(old) == batch_of(new),
        _ => false,
    }
}

fn log_exemption(
    target: &Target,
    model: &Model,
    clean: bool,
    before: &[u8],
    after: &[u8],
) -> Exemption {
    let (p, s) = target.segment_of(model).unwrap();
    let segment = &p.segments[s];
    let diff = changed(before, after);
    let same_len = before.len() == after.len();
    let unclosed = !clean && target.last;
    let reason = |r: &'static str, data_exempt: bool| Exemption {
        reason: Some(r),
        data_exempt,
    };
    if unclosed && diff.iter().all(|&d| d >= segment.valid_end) {
        let zeros = after
            .iter()
            .skip(segment.valid_end as usize)
            .all(|&b| b == 0);
        if zeros {
            return reason("only the preallocated zeros of an unclosed segment", false);
        }
    }
    let boundary = segment
        .batches
        .iter()
        .any(|b| b.position == after.len() as u64);
    if unclosed && diff.is_empty() && after.len() < before.len() && boundary {
        return reason(
            "cut at a batch boundary: what a crash before that append leaves",
            false,
        );
    }
    if !target.last && p.compacted() && diff.is_empty() && after.len() < before.len() {
        let at_boundary = after.is_empty() || boundary;
        if at_boundary {
            // What is left is a valid segment, and where compaction leaves gaps a segment
            // may end anywhere below the next: reads cannot tell (verify can, by the indexes).
            return Exemption {
                reason: None,
                data_exempt: true,
            };
        }
    }
    let within = |field: std::ops::Range<u64>| {
        same_len
            && !diff.is_empty()
            && diff.iter().all(|&d| {
                segment
                    .batches
                    .iter()
                    .any(|b| (b.position + field.start..b.position + field.end).contains(&d))
            })
    };
    if within(12..16) {
        return reason(
            "partitionLeaderEpoch only (outside the CRC; Kafka checks it no more)",
            false,
        );
    }
    if within(0..8) && p.compacted() {
        return reason(
            "a base offset (outside the CRC) in a log where offset gaps are valid",
            true,
        );
    }
    // A base offset raised where gaps are valid is seen only by the batch after it going
    // backwards: the last batch has none, and its offsets move with the log end.
    let touches_base = diff.iter().any(|&d| {
        segment
            .batches
            .iter()
            .any(|b| (b.position..b.position + 8).contains(&d))
    });
    Exemption {
        reason: None,
        data_exempt: touches_base && p.compacted(),
    }
}
