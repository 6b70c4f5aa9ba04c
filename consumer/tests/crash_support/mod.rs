//! The crash campaign's machinery (see `tests/crash_campaign.rs`): the child's workload
//! ([`child`]), killing it ([`parent`]), and the checks after each kill ([`check`]).

pub mod check;
pub mod child;
pub mod parent;
pub mod records;

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::time::{Duration, Instant};

use silt_consumer::TopicPartition;
use silt_engine::config::Acks;
use silt_engine::Engine;

use check::Model;
use child::ChildArgs;
use parent::KillPlan;
use records::{
    checker_config, mix, Rng, COMPACTED, COMPACTED_PARTITIONS, EVENTS, EVENTS_PARTITIONS,
};

/// Every partition the consumer group reads and commits.
pub fn all_partitions() -> Vec<TopicPartition> {
    let events = (0..EVENTS_PARTITIONS).map(|p| TopicPartition::new(EVENTS, p));
    let compacted = (0..COMPACTED_PARTITIONS).map(|p| TopicPartition::new(COMPACTED, p));
    events.chain(compacted).collect()
}

/// Names the cycle in every failure, with what replays it.
#[derive(Debug, Clone, Copy)]
pub struct Ctx {
    pub acks: Acks,
    pub seed: u64,
    pub cycle: u64,
    pub plan: KillPlan,
}

impl fmt::Display for Ctx {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "[acks={:?} cycle {} plan {:?}; replay with SILT_CRASH_SEED={:#x}]",
            self.acks, self.cycle, self.plan, self.seed
        )
    }
}

/// What a campaign did and checked.
#[derive(Debug, Default)]
pub struct Figures {
    pub cycles: u64,
    /// Kills whose trigger never came (the child was killed anyway).
    pub triggers_missed: u64,
    pub plans: BTreeMap<&'static str, u64>,
    pub ops_begun: BTreeMap<String, u64>,
    pub records_acked: u64,
    /// Acknowledged records found at their offsets by the check after their cycle.
    pub acked_verified: u64,
    /// Acknowledged records retention or `delete_records` removed before the check.
    pub acked_below_log_start: u64,
    /// Acknowledged records of the compacted topic a later record of their key replaced.
    pub acked_compacted_away: u64,
    /// Records read back and checked, over all checks.
    pub records_read: u64,
    pub batches_read: u64,
    /// Passes of the child's reader over every partition while it ran, and their records.
    pub child_scans: u64,
    pub child_scanned_records: u64,
    pub commits_acked: u64,
    /// Kills that landed between a commit's start and its acknowledgment.
    pub commits_in_flight_at_kill: u64,
    pub commit_checks: u64,
    pub segments_verified: u64,
    /// Checks made on a copy of the data directory (the child then recovers the original).
    pub checks_on_copy: u64,
    /// Kills that left files of a cleaning (`.cleaned`, `.swap`, `.deleted`), of an atomic
    /// file replacement (`.tmp`), by suffix: the kill landed mid-compaction or mid-checkpoint.
    pub kills_leaving: BTreeMap<&'static str, u64>,
    /// Partitions whose log the reopen cut at a torn or corrupt batch (kills mid-append).
    pub partitions_truncated: u64,
    /// Segments the reopen validated batch by batch.
    pub segments_recovered: u64,
    pub elapsed: Duration,
}

impl Figures {
    pub fn add(&mut self, other: &Figures) {
        self.cycles += other.cycles;
        self.triggers_missed += other.triggers_missed;
        for (k, v) in &other.plans {
            *self.plans.entry(k).or_default() += v;
        }
        for (k, v) in &other.ops_begun {
            *self.ops_begun.entry(k.clone()).or_default() += v;
        }
        self.records_acked += other.records_acked;
        self.acked_verified += other.acked_verified;
        self.acked_below_log_start += other.acked_below_log_start;
        self.acked_compacted_away += other.acked_compacted_away;
        self.records_read += other.records_read;
        self.batches_read += other.batches_read;
        self.child_scans += other.child_scans;
        self.child_scanned_records += other.child_scanned_records;
        self.commits_acked += other.commits_acked;
        self.commits_in_flight_at_kill += other.commits_in_flight_at_kill;
        self.commit_checks += other.commit_checks;
        self.segments_verified += other.segments_verified;
        self.checks_on_copy += other.checks_on_copy;
        for (k, v) in &other.kills_leaving {
            *self.kills_leaving.entry(k).or_default() += v;
        }
        self.partitions_truncated += other.partitions_truncated;
        self.segments_recovered += other.segments_recovered;
        self.elapsed += other.elapsed;
    }
}

impl fmt::Display for Figures {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} kill cycles in {:.1} s ({} checked on a copy; {} triggers missed)",
            self.cycles,
            self.elapsed.as_secs_f64(),
            self.checks_on_copy,
            self.triggers_missed
        )?;
        writeln!(f, "  kills by plan: {:?}", self.plans)?;
        writeln!(f, "  operations begun: {:?}", self.ops_begun)?;
        writeln!(
            f,
            "  kills leaving half-done files: {:?}; reopens recovered {} segments and cut {} \
             torn logs",
            self.kills_leaving, self.segments_recovered, self.partitions_truncated
        )?;
        writeln!(
            f,
            "  records acknowledged {}: {} found at their offsets, {} below the log start \
             (retention, delete_records), {} replaced by a later version of their key",
            self.records_acked,
            self.acked_verified,
            self.acked_below_log_start,
            self.acked_compacted_away
        )?;
        writeln!(
            f,
            "  records read back and checked {} in {} batches (CRC-32C each); {} segments \
             verified",
            self.records_read, self.batches_read, self.segments_verified
        )?;
        writeln!(
            f,
            "  read by the child while it ran: {} records in {} passes over every partition",
            self.child_scanned_records, self.child_scans
        )?;
        write!(
            f,
            "  commits acknowledged {} ({} in flight at a kill); committed offsets checked {} \
             times",
            self.commits_acked, self.commits_in_flight_at_kill, self.commit_checks
        )
    }
}

/// The campaign's seed: `SILT_CRASH_SEED` (decimal or 0x-hex), else fresh.
pub fn seed() -> u64 {
    match std::env::var("SILT_CRASH_SEED") {
        Ok(s) => {
            let s = s.trim();
            let parsed = match s.strip_prefix("0x") {
                Some(hex) => u64::from_str_radix(hex, 16),
                None => s.parse(),
            };
            parsed.unwrap_or_else(|_| panic!("SILT_CRASH_SEED={s} is not a number"))
        }
        Err(_) => {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap();
            mix(now.as_nanos() as u64 ^ u64::from(std::process::id()))
        }
    }
}

/// Runs `cycles` kill cycles on one data directory, producing with `acks`.
pub fn campaign(acks: Acks, cycles: u64, seed: u64) -> Figures {
    let started = Instant::now();
    let mut dir = tempfile::tempdir().unwrap();
    let scratch = tempfile::tempdir().unwrap();
    if std::env::var_os("SILT_CRASH_KEEP").is_some() {
        // Keep the data directory for a post-mortem (`silt verify`, `silt dump-log`).
        dir.disable_cleanup(true);
        eprintln!(
            "crash campaign acks={acks:?}: data directory {}",
            dir.path().display()
        );
    }
    let mut rng = Rng::new(seed ^ if acks == Acks::All { 0xa11 } else { 0x1 });
    let mut model = Model::new();
    let mut figures = Figures::default();
    for cycle in 0..cycles {
        let plan = KillPlan::draw(&mut rng);
        let ctx = Ctx {
            acks,
            seed,
            cycle,
            plan,
        };
        let args = ChildArgs {
            acks,
            cycle,
            seed: rng.next(),
        };
        let run = parent::run_and_kill(dir.path(), args, plan, &ctx);
        *figures.plans.entry(plan.kind()).or_default() += 1;
        figures.triggers_missed += u64::from(run.trigger_missed);
        let absorbed = model.absorb(&run.said, &ctx, &mut figures);
        for suffix in check::half_done_files(dir.path()) {
            *figures.kills_leaving.entry(suffix).or_default() += 1;
        }

        // A third of the checks open a copy, leaving the original as the kill left it, so
        // the next child recovers it itself (and may be killed while it does).
        let on_copy = rng.below(3) == 0;
        let copy = scratch.path().join(cycle.to_string());
        let checked = if on_copy {
            copy_dir(dir.path(), &copy);
            figures.checks_on_copy += 1;
            copy.as_path()
        } else {
            dir.path()
        };
        let engine = Engine::open(checked, checker_config())
            .unwrap_or_else(|e| panic!("{ctx}: reopen after the kill: {e}"));
        let report = engine.open_report();
        figures.segments_recovered += report.segments_recovered as u64;
        figures.partitions_truncated += report.partitions_truncated as u64;
        check::check(&engine, &mut model, &absorbed, &ctx, &mut figures);
        let segments = check::segments(&engine);
        engine
            .close()
            .unwrap_or_else(|e| panic!("{ctx}: close: {e}"));
        // After a clean close every segment is sealed: all of them verify.
        check::verify_all(&segments, &ctx, &mut figures, false);
        if on_copy {
            std::fs::remove_dir_all(&copy).unwrap();
        }
        figures.cycles += 1;
    }
    figures.elapsed = started.elapsed();
    figures
}

/// Copies a data directory file by file, as the kill left it.
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}
