//! One case of the campaign: copy a template, damage one file, and hold the engine, the
//! consumer and `silt verify` to what they promise about it.

use std::collections::{BTreeMap, BTreeSet};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use silt::{Engine, EngineError};

use super::indexes;
use super::judge::{self, Allowance};
use super::model::{Model, Rec};
use super::mutate::{first_change, Mutation};
use super::read;
use super::targets::{self, Kind, Target};
use super::template::{self, Template};
use super::verify;

/// What one case found.
#[derive(Debug, Default)]
pub struct Outcome {
    pub class: String,
    pub op: &'static str,
    /// Why `silt verify` need not see it, when it need not.
    pub exempt: Option<&'static str>,
    pub by_verify: bool,
    pub by_open: bool,
    pub by_read: bool,
    /// The engine rewrote the damaged file (recovery cut it or rebuilt it).
    pub repaired: bool,
    /// Broken promises: each fails the campaign.
    pub failures: Vec<String>,
    /// Wrong data the format cannot see (counted, not failed).
    pub unseen_data: usize,
}

/// Everything a case needs.
pub struct Case<'a> {
    pub template: &'a Template,
    pub model: &'a Model,
    pub target: &'a Target,
    pub mutation: Mutation,
}

/// Segment files of every partition, by path, as they are now.
fn segment_files(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut files = BTreeMap::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if !path.is_dir() {
            continue;
        }
        for file in std::fs::read_dir(&path).unwrap() {
            let file = file.unwrap().path();
            let ext = file.extension().and_then(|e| e.to_str()).unwrap_or("");
            if ext == "log" || ext == "index" || ext == "timeindex" {
                files.insert(file.clone(), std::fs::read(&file).unwrap());
            }
        }
    }
    files
}

impl Case<'_> {
    /// Runs the case in `scratch` (an empty directory).
    pub fn run(&self, scratch: &Path) -> Outcome {
        let dir = scratch.join("data");
        template::copy_dir(&self.template.path, &dir);
        let path = dir.join(&self.target.rel);
        let before = std::fs::read(&path).unwrap();
        let after = self.mutation.apply(&before);
        std::fs::write(&path, &after).unwrap();
        first_change(&before, &after).expect("a mutation changes the file");
        let first = targets::first_checked_change(self.target, self.model, &before, &after);
        let exemption = targets::exemption(
            self.target,
            self.model,
            (self.template.clean, self.mutation.op() == "recrc"),
            (&before, &after),
            &path,
        );
        let mut out = Outcome {
            class: self.target.class.clone(),
            op: self.mutation.op(),
            exempt: exemption.reason,
            ..Outcome::default()
        };
        let files_before = segment_files(&dir);
        // To look at a failed case by hand: the damaged directory, before and after.
        let keep = std::env::var_os("SILT_CORRUPTION_KEEP").map(PathBuf::from);
        if let Some(keep) = &keep {
            template::copy_dir(&dir, &keep.join("before"));
        }
        self.check_verify(&dir, &path, first, &mut out);
        let allowance = Allowance::new(self, first, exemption.data_exempt);
        let session = catch_unwind(AssertUnwindSafe(|| {
            let mut inner = Outcome::default();
            self.session(&dir, &allowance, &mut inner);
            inner
        }));
        match session {
            Ok(inner) => {
                out.by_open |= inner.by_open;
                out.by_read |= inner.by_read;
                out.unseen_data += inner.unseen_data;
                out.failures.extend(inner.failures);
            }
            Err(panic) => out
                .failures
                .push(format!("panicked: {}", panic_message(&panic))),
        }
        let now = std::fs::read(&path).ok();
        out.repaired = now.as_deref() != Some(after.as_slice());
        self.check_valid_prefix(&after, first, now.as_deref(), &mut out);
        self.check_indexes(&dir, &path, &files_before, &mut out);
        if let Some(keep) = &keep {
            template::copy_dir(&dir, &keep.join("after"));
        }
        if out.exempt.is_none() && !out.by_verify {
            out.failures.push("silt verify did not report it".into());
        }
        out
    }

    /// An active segment keeps its valid prefix, the batches of the `damaged` file before the
    /// damage, byte for byte: recovery cuts at the damaged batch and appends go on after it.
    fn check_valid_prefix(
        &self,
        damaged: &[u8],
        first: u64,
        now: Option<&[u8]>,
        out: &mut Outcome,
    ) {
        if self.target.kind != Kind::Log || !self.target.last {
            return;
        }
        let (p, s) = self.target.segment_of(self.model).unwrap();
        let segment = &p.segments[s];
        let keep = match targets::damage(segment, first).batch {
            Some(b) => segment.batches[b].position,
            None => segment.valid_end,
        } as usize;
        if !now.is_some_and(|now| now.starts_with(&damaged[..keep.min(damaged.len())])) {
            out.failures.push(format!(
                "the active segment's {keep} bytes of batches before the damage changed"
            ));
        }
    }

    /// `silt verify` must exit non-zero naming the damaged file (or, for a segment, one of
    /// its files) at a position no later than the damage's unit; it must not panic, nor blame
    /// a partition that was not touched.
    fn check_verify(&self, dir: &Path, path: &Path, first: u64, out: &mut Outcome) {
        let run = verify::run(dir);
        if run.stderr.contains("panicked") {
            out.failures
                .push(format!("silt verify panicked: {}", run.stderr));
            return;
        }
        let siblings: Vec<PathBuf> = match self.target.kind {
            Kind::Log | Kind::Index | Kind::TimeIndex => ["log", "index", "timeindex"]
                .iter()
                .map(|ext| path.with_extension(ext))
                .collect(),
            _ => vec![path.to_path_buf()],
        };
        let partition_dir = path.parent().unwrap();
        for problem in &run.problems {
            let in_partition =
                problem.path.parent() == Some(partition_dir) && self.target.partition.is_some();
            let checkpoint = problem.path.parent() == Some(dir)
                && problem
                    .path
                    .file_name()
                    .is_some_and(|n| n.to_string_lossy().contains("checkpoint"));
            if !in_partition && !checkpoint && problem.path != path {
                out.failures.push(format!(
                    "silt verify blamed an undamaged file: {}",
                    problem.line
                ));
            }
        }
        let named = run.problems.iter().any(|p| siblings.contains(&p.path))
            || run.stderr.contains(&path.display().to_string());
        out.by_verify = run.code != Some(0) && named;
        if let Some(problem) = run.naming(path).min_by_key(|p| p.position) {
            // Bytes appended are damage wherever a unit of the new length ends.
            let appended = std::fs::metadata(path).map_or(0, |m| m.len());
            let limit = if self.mutation.op().starts_with("extend") {
                self.position_limit(first).max(appended)
            } else {
                self.position_limit(first)
            };
            if problem.position.is_some_and(|p| p > limit) {
                out.failures.push(format!(
                    "silt verify placed the damage at byte {:?}, after the unit holding \
                     byte {first} (limit {limit}): {}",
                    problem.position, problem.line
                ));
            }
        }
        if out.exempt.is_none() && !out.by_verify {
            out.failures.push(format!(
                "verify output (exit {:?}):\n{}{}",
                run.code, run.stdout, run.stderr
            ));
        }
    }

    /// The last position a report of damage at byte `first` may name: the start of the unit
    /// (batch, entry) after the one holding it.
    fn position_limit(&self, first: u64) -> u64 {
        match self.target.kind {
            Kind::Log => {
                let (p, s) = self.target.segment_of(self.model).unwrap();
                let segment = &p.segments[s];
                match segment.batch_at(first) {
                    Some(b) => segment.batches.get(b + 1).map_or(first, |n| n.position),
                    None => first,
                }
            }
            Kind::Index => first / 8 * 8 + 8,
            Kind::TimeIndex => first / 12 * 12 + 12,
            // A line of text: its start is at or before the damage; a checksum or a count
            // may be reported at the line that states it, anywhere in the file.
            _ => u64::MAX,
        }
    }

    /// Opens the engine, reads everything, appends, closes, reopens.
    fn session(&self, dir: &Path, allowance: &Allowance, out: &mut Outcome) {
        let engine = match Engine::open(dir, template::engine_config()) {
            Ok(engine) => engine,
            Err(e) => return self.judge_refusal(dir, &e, out),
        };
        if self.target.kind == Kind::TopicMetadata {
            out.failures
                .push("the engine opened with damaged topic metadata".into());
        }
        let report = engine.open_report();
        out.by_open |= report.partitions_truncated > 0;
        let mut readings = BTreeMap::new();
        for p in &self.model.partitions {
            let reading = read::fetch_all(&engine, &p.topic, p.partition);
            judge::partition(p, &reading, allowance, &report, false, out);
            if reading.errors.is_empty() && reading.failures.is_empty() && !allowance.touches(p) {
                out.failures
                    .extend(read::timestamp_lookups(&engine, p, reading.log_start));
            }
            readings.insert(p.name(), reading);
        }
        judge::group(self, &engine, &readings, allowance, out);
        self.poll(&engine, &readings, allowance, &report, out);
        if self.target.kind == Kind::ProducerIdBlock {
            judge::producer(dir, &engine, &self.target.rel, out);
        }
        let appended = judge::append(self, &engine, out);
        if let Err(e) = engine.close() {
            out.failures.push(format!("close: {e:?}"));
        }
        drop(engine);
        self.reopen(dir, allowance, appended, &report, out);
    }

    /// The engine refused to open: only damaged metadata or checkpoints may make it, with
    /// `CorruptMetadata` naming the file.
    fn judge_refusal(&self, dir: &Path, e: &EngineError, out: &mut Outcome) {
        let names_it = matches!(e, EngineError::CorruptMetadata { path, .. }
            if *path == dir.join(&self.target.rel));
        let may_refuse = matches!(self.target.kind, Kind::TopicMetadata | Kind::Checkpoint);
        if may_refuse && names_it {
            out.by_open = true;
        } else {
            out.failures.push(format!("open refused: {e:?}"));
        }
    }

    /// A standalone consumer reads the damaged partition (or `events-0`) from its start.
    fn poll(
        &self,
        engine: &Engine,
        readings: &BTreeMap<String, read::Reading>,
        allowance: &Allowance,
        report: &silt::OpenReport,
        out: &mut Outcome,
    ) {
        let name = match &self.target.partition {
            Some(p) if !p.starts_with("__") => p.clone(),
            _ => "events-0".to_string(),
        };
        let p = self.model.partition(&name).unwrap();
        let fetched = &readings[&name];
        let reading = read::poll_all(
            engine,
            &p.topic,
            p.partition,
            fetched.log_start,
            fetched.log_end,
        );
        judge::partition(p, &reading, allowance, report, true, out);
    }

    /// The directory opens again, cleanly, and reads as it did, with the appended batch.
    fn reopen(
        &self,
        dir: &Path,
        allowance: &Allowance,
        appended: Option<(String, i64, Vec<Rec>)>,
        report: &silt::OpenReport,
        out: &mut Outcome,
    ) {
        let engine = match Engine::open(dir, template::engine_config()) {
            Ok(engine) => engine,
            Err(e) => return out.failures.push(format!("reopen: {e:?}")),
        };
        if !engine.open_report().clean {
            out.failures
                .push("a clean close did not leave a clean directory".into());
        }
        let segment_hit = self.target.partition.is_some();
        if let Some((name, first, written)) = appended.filter(|_| segment_hit) {
            let p = self.model.partition(&name).unwrap();
            let mut reading = read::fetch_all(&engine, &p.topic, p.partition);
            let tail: Vec<Rec> = reading
                .records
                .iter()
                .filter(|(o, _)| *o >= first)
                .map(|(_, r)| r.clone())
                .collect();
            if tail != written && reading.errors.is_empty() {
                out.failures.push(format!(
                    "after reopening, {name} from {first} reads {tail:?}, written {written:?}"
                ));
            }
            reading.records.retain(|(o, _)| *o < first);
            reading.log_end = reading.log_end.min(first);
            judge::partition(p, &reading, allowance, report, false, out);
        }
        if let Err(e) = engine.close() {
            out.failures.push(format!("close after reopen: {e:?}"));
        }
    }

    /// Every index agrees with a scan of its log: those the engine wrote in the session,
    /// and those of the segments the mutation did not touch. Skipped: the damaged segment
    /// when the engine left it as it was (refused, or a damage only reads check), and an
    /// index the engine trusted and appended to (a hint, checked by every lookup).
    fn check_indexes(
        &self,
        dir: &Path,
        target: &Path,
        before: &BTreeMap<PathBuf, Vec<u8>>,
        out: &mut Outcome,
    ) {
        let after = segment_files(dir);
        let bases: BTreeSet<(PathBuf, i64)> = after
            .keys()
            .filter(|p| p.extension().is_some_and(|e| e == "log"))
            .map(|p| {
                let base = p.file_stem().unwrap().to_str().unwrap().parse().unwrap();
                (p.parent().unwrap().to_path_buf(), base)
            })
            .collect();
        for (partition_dir, base) in bases {
            let log = silt::log::segment_file(&partition_dir, base, "log");
            let files = [
                log.clone(),
                log.with_extension("index"),
                log.with_extension("timeindex"),
            ];
            let changed = files.iter().any(|f| before.get(f) != after.get(f));
            if !changed && !indexes::log_is_intact(&log) {
                continue; // as the template left it: an unclosed segment
            }
            if files.iter().any(|f| f == target) {
                let kept = before
                    .get(target)
                    .zip(after.get(target))
                    .is_some_and(|(b, a)| target != log && kept_entries(b, a));
                if !changed || kept || !indexes::log_is_intact(&log) {
                    continue;
                }
            }
            let interval = u64::from(template::INDEX_INTERVAL_BYTES);
            if let Err(e) = indexes::agree(&partition_dir, base, interval) {
                out.failures
                    .push(format!("index disagrees with the log: {e}"));
            }
        }
    }
}

/// Whether the index `after` still holds every entry of `before` (the damaged file): the
/// engine trusted it and appended to it, rather than rebuilding it.
fn kept_entries(before: &[u8], after: &[u8]) -> bool {
    let written = |b: &[u8]| b.iter().rposition(|&x| x != 0).map_or(0, |i| i + 1);
    let n = written(before);
    after.len() >= n && after[..n] == before[..n]
}

fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "(no message)".into()
    }
}
