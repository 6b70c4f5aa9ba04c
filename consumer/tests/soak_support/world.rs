//! What every actor shares: the engine, the ledger, the counters of the summary, the list of
//! violations, and the stop flag.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use silt_engine::{Engine, EngineError};

use super::ledger::Ledger;
use super::ownership::Ownership;

/// Whether `e` says a topic is gone (or its partition is): what an operation racing the
/// topic's deletion may meet, and the only error it may meet.
pub fn is_gone(e: &EngineError) -> bool {
    match e {
        EngineError::UnknownTopic { .. } | EngineError::UnknownPartition { .. } => true,
        EngineError::BatchFailed { source, .. } => is_gone(source),
        _ => false,
    }
}

/// Cheap to clone: one per actor thread.
#[derive(Clone)]
pub struct World {
    pub engine: Engine,
    pub ledger: Arc<Ledger>,
    pub owners: Arc<Ownership>,
    pub stats: Arc<Stats>,
    violations: Arc<Violations>,
    stop: Arc<AtomicBool>,
    pub seed: u64,
}

impl World {
    pub fn new(engine: Engine, seed: u64) -> World {
        World {
            engine,
            ledger: Arc::new(Ledger::default()),
            owners: Arc::new(Ownership::default()),
            stats: Arc::new(Stats::default()),
            violations: Arc::new(Violations::default()),
            stop: Arc::new(AtomicBool::new(false)),
            seed,
        }
    }

    /// Records a broken invariant; the harness stops the run at its next look.
    pub fn violation(&self, what: impl Into<String>) {
        let what = what.into();
        eprintln!("soak violation: {what}");
        let mut v = self.violations.list.lock().unwrap();
        v.count += 1;
        if v.first.len() < 40 {
            v.first.push(what);
        }
    }

    /// The violations so far (the first 40) and how many there were.
    pub fn violations(&self) -> (u64, Vec<String>) {
        let v = self.violations.list.lock().unwrap();
        (v.count, v.first.clone())
    }

    pub fn stopping(&self) -> bool {
        self.stop.load(Ordering::Acquire)
    }

    pub fn request_stop(&self) {
        self.stop.store(true, Ordering::Release);
    }

    /// Sleeps `pause` (an actor's pacing), cut short in steps of 10 ms when the run stops.
    pub fn pace(&self, pause: Duration) {
        let step = Duration::from_millis(10);
        let mut left = pause;
        while !left.is_zero() && !self.stopping() {
            let now = left.min(step);
            std::thread::sleep(now);
            left -= now;
        }
    }
}

#[derive(Default)]
struct Violations {
    list: Mutex<ViolationList>,
}

#[derive(Default)]
struct ViolationList {
    count: u64,
    first: Vec<String>,
}

/// The counters of the summary line.
#[derive(Default)]
pub struct Stats {
    pub produced: AtomicU64,
    pub acked: AtomicU64,
    pub consumed: AtomicU64,
    pub checked: AtomicU64,
    pub commits: AtomicU64,
    pub commits_refused: AtomicU64,
    pub assignments: AtomicU64,
    pub members_joined: AtomicU64,
    pub members_left: AtomicU64,
    pub generations: AtomicU64,
    pub topics_created: AtomicU64,
    pub topics_deleted: AtomicU64,
    pub typed_errors: AtomicU64,
    pub retention_passes: AtomicU64,
    pub segments_deleted: AtomicU64,
    pub delete_records: AtomicU64,
    pub cleanings: AtomicU64,
    pub invariant_checks: AtomicU64,
    pub zombie_takeovers: AtomicU64,
    pub log_start_resets: AtomicU64,
}

impl Stats {
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }

    /// One line: what the run did.
    pub fn summary(&self, seconds: f64, seed: u64) -> String {
        let g = Stats::get;
        format!(
            "soak: {seconds:.1} s (seed {seed:#x}): records produced {} / acknowledged {}; \
             consumed {} / checked {}; commits {} ({} refused); rebalances: {} generations, \
             {} assignments, {} members joined / {} left; topics created {} / deleted {} \
             ({} typed errors met); retention passes {} ({} segments deleted, {} delete_records, \
             {} consumer resets to the log start); cleanings {}; invariant checks {}; \
             zombie takeovers {}",
            g(&self.produced),
            g(&self.acked),
            g(&self.consumed),
            g(&self.checked),
            g(&self.commits),
            g(&self.commits_refused),
            g(&self.generations),
            g(&self.assignments),
            g(&self.members_joined),
            g(&self.members_left),
            g(&self.topics_created),
            g(&self.topics_deleted),
            g(&self.typed_errors),
            g(&self.retention_passes),
            g(&self.segments_deleted),
            g(&self.delete_records),
            g(&self.log_start_resets),
            g(&self.cleanings),
            g(&self.invariant_checks),
            g(&self.zombie_takeovers),
        )
    }
}
