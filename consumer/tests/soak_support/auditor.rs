//! Checks the plain topic and the group's commits continuously, beside the load:
//! - the engine's background task (retention, cleaner) meets no error but typed ones from a
//!   topic deleted under it;
//! - log start and log end never go back, and the log end is past every acknowledged offset;
//! - acknowledged records (a random sample, and the newest) are readable with their bytes,
//!   unless retention moved the log start past them;
//! - every committed offset `c` of the group is at most the log end, the record at `c` (below
//!   the end) and at `c - 1` are readable unless below the log start, and every offset from
//!   the log start up to `c` was read by some member (at-least-once so far).

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::JoinHandle;

use silt_consumer::ConsumerExt;
use silt_engine::{EngineError, Log};
use silt_segment::batch::DecompressBuffer;

use super::records::{decode, describe_id, GROUP, PLAIN, PLAIN_PARTITIONS};
use super::rng::Rng;
use super::world::{is_gone, Stats, World};

/// Acknowledged records read back per partition per round.
const SAMPLES: usize = 6;

pub fn spawn(world: &World) -> JoinHandle<()> {
    let world = world.clone();
    std::thread::Builder::new()
        .name("soak-auditor".into())
        .spawn(move || Auditor::new(world).run())
        .unwrap()
}

pub struct Auditor {
    world: World,
    rng: Rng,
    logs: Vec<Arc<Log>>,
    /// (log start, log end) last seen per partition.
    seen: Vec<(i64, i64)>,
    buffer: DecompressBuffer,
}

impl Auditor {
    pub fn new(world: World) -> Auditor {
        let logs = (0..PLAIN_PARTITIONS)
            .map(|p| world.engine.log(PLAIN, p).unwrap())
            .collect();
        Auditor {
            rng: Rng::for_actor(world.seed, 4),
            world,
            logs,
            seen: vec![(0, 0); PLAIN_PARTITIONS as usize],
            buffer: DecompressBuffer::new(),
        }
    }

    fn run(mut self) {
        while !self.world.stopping() {
            let pause = self.rng.millis(40, 120);
            self.world.pace(pause);
            self.round();
        }
    }

    /// One pass over every partition, and a look at the engine's background task.
    pub fn round(&mut self) {
        if let Some(e) = self.world.engine.take_background_error() {
            if is_gone(&e) {
                Stats::add(&self.world.stats.typed_errors, 1);
            } else {
                self.world.violation(format!(
                    "the background task (retention, cleaner) failed: {e}"
                ));
            }
        }
        let committed = self.committed();
        for p in 0..PLAIN_PARTITIONS {
            self.partition(p, committed.get(&p).copied());
        }
    }

    /// The group's committed offsets in the plain topic (and its generation, for the summary).
    fn committed(&mut self) -> BTreeMap<u32, i64> {
        let Ok(d) = self.world.engine.describe_consumer_group(GROUP) else {
            return BTreeMap::new(); // no member yet, nothing committed yet
        };
        let generation = u64::try_from(d.generation).unwrap_or(0);
        self.world
            .stats
            .generations
            .fetch_max(generation, Ordering::Relaxed);
        d.partitions
            .iter()
            .filter(|l| l.partition.topic == PLAIN)
            .filter_map(|l| Some((l.partition.partition, l.committed_offset?)))
            .collect()
    }

    fn partition(&mut self, p: u32, committed: Option<i64>) {
        let world = self.world.clone();
        let max_acked = world.ledger.max_acked(p);
        let log = Arc::clone(&self.logs[p as usize]);
        let start = log.log_start_offset();
        let end = match log.log_end_offset() {
            Ok(end) => end,
            Err(e) => return world.violation(format!("{PLAIN}-{p}: log end: {e}")),
        };
        let (seen_start, seen_end) = self.seen[p as usize];
        if start < seen_start || end < seen_end || start > end {
            world.violation(format!(
                "{PLAIN}-{p}: [{start}, {end}) after [{seen_start}, {seen_end})"
            ));
        }
        self.seen[p as usize] = (start, end);
        if let Some(m) = max_acked {
            if end <= m {
                world.violation(format!(
                    "{PLAIN}-{p}: log end {end}, but {m} was acknowledged"
                ));
            }
        }
        let mut checks = 2u64;
        if let Some(c) = committed {
            checks += self.check_commit(&log, p, c, start, end);
        }
        let mut samples = world.ledger.sample(p, start, SAMPLES, &mut self.rng);
        if let Some(m) = max_acked.filter(|m| *m >= start) {
            samples.extend(world.ledger.acked(p, m).map(|id| (m, id)));
        }
        for (offset, id) in samples {
            self.read_at(&log, p, offset, Some(id));
            checks += 1;
        }
        Stats::add(&world.stats.invariant_checks, checks);
    }

    fn check_commit(&mut self, log: &Log, p: u32, c: i64, start: i64, end: i64) -> u64 {
        let world = self.world.clone();
        if c > end {
            world.violation(format!(
                "group {GROUP} committed {c} in {PLAIN}-{p}, past its end {end}"
            ));
            return 1;
        }
        if c >= start && c < end {
            self.read_at(log, p, c, world.ledger.acked(p, c));
        }
        if c > start {
            self.read_at(log, p, c - 1, world.ledger.acked(p, c - 1));
        }
        match world.ledger.check_read_below(p, start, c) {
            Ok(n) => 3 + n,
            Err(e) => {
                world.violation(format!("group {GROUP}: {e}"));
                3
            }
        }
    }

    /// Reads the record at `offset`: it must be there with the id acknowledged (when known),
    /// unless the log start has moved past it.
    fn read_at(&mut self, log: &Log, p: u32, offset: i64, expected: Option<u64>) {
        let world = &self.world;
        let fetch = match log.fetch(offset, 1) {
            Ok(fetch) => fetch,
            Err(EngineError::OffsetOutOfRange { .. }) if offset < log.log_start_offset() => return,
            Err(e) => return world.violation(format!("{PLAIN}-{p}@{offset}: read failed: {e}")),
        };
        let mut found = None;
        let read = fetch.for_each_record(&mut self.buffer, |r| {
            if r.offset == offset {
                found = Some(decode(r.value));
            }
        });
        match (read, found) {
            (Err(e), _) => world.violation(format!("{PLAIN}-{p}@{offset}: invalid batch: {e}")),
            (Ok(_), None) => world.violation(format!(
                "{PLAIN}-{p}@{offset}: a fetch there did not return it (log [{}, {}))",
                fetch.log_start_offset(),
                fetch.log_end_offset()
            )),
            (Ok(_), Some(Err(e))) => world.violation(format!("{PLAIN}-{p}@{offset}: {e}")),
            (Ok(_), Some(Ok(id))) => {
                if let Some(expected) = expected.filter(|e| *e != id) {
                    world.violation(format!(
                        "{PLAIN}-{p}@{offset}: holds {}, but {} was acknowledged there",
                        describe_id(id),
                        describe_id(expected)
                    ));
                }
            }
        }
    }
}
