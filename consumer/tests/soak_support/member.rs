//! A member of the group: polls, checks every record, commits, and leaves when told (by
//! closing, by being dropped, or by crashing: `Consumer::abandon`).
//!
//! Checked after every poll, for each partition it read:
//! - it owns the partition (see [`Ownership`](super::ownership));
//! - the records start where its position was (the committed offset, for a partition just
//!   assigned) and rise by one, with no gap; the only jump allowed is forward to a log start
//!   that retention or `delete_records` moved past the position, visible as the partition's
//!   log start offset after the poll;
//! - each value is whole and is the record acknowledged at its offset (see the ledger);
//! - its position afterwards is the offset after the last record, or a log start that moved.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{bounded, Receiver, Sender, TryRecvError};
use silt_consumer::{
    Consumer, ConsumerConfig, ConsumerError, ConsumerExt, OffsetReset, RebalanceListener,
    TopicPartition,
};
use silt_engine::Log;

use super::records::{decode, GROUP, PLAIN, PLAIN_PARTITIONS};
use super::rng::Rng;
use super::world::{Stats, World};

/// How a member leaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Leave {
    /// `close()`: revokes (the listener commits), leaves the group at once.
    Close,
    /// Dropped without `close()`: the same, through `Drop`.
    Drop,
    /// `abandon()`: a crash; no revoke, no leave, no more heartbeats. Its partitions move
    /// when its (short) session expires.
    Abandon,
}

/// Where a partition's next record must be.
#[derive(Debug, Clone, Copy)]
enum Expect {
    /// At this offset, or at a log start that moved past it.
    Exactly(i64),
    /// Assigned with nothing committed: at the log start, which was this or later.
    FromLogStart(i64),
}

impl Expect {
    /// Whether the next record (or position) `got` agrees, given the log start now.
    fn allows(self, got: i64, log_start_now: i64) -> bool {
        match self {
            Expect::Exactly(e) => got == e || (got > e && got <= log_start_now),
            Expect::FromLogStart(l) => got >= l && got <= log_start_now,
        }
    }
}

type Expects = Arc<Mutex<BTreeMap<u32, Expect>>>;

/// One record a poll returned: partition, offset, and the id its value encodes.
type Polled = (u32, i64, Result<u64, String>);

/// A member's thread, and how to tell it to leave.
pub struct Member {
    /// Crashes when it leaves (short session, so its partitions do not wait long).
    pub mortal: bool,
    leave: Sender<Leave>,
    thread: JoinHandle<()>,
}

/// `session.timeout.ms` of a mortal member: how long the group waits for it after it crashes.
const MORTAL_SESSION_MS: u64 = 2500;

impl Member {
    pub fn spawn(world: &World, me: usize, rng: &mut Rng) -> Member {
        let mortal = rng.chance(25);
        let cooperative = rng.chance(50);
        let auto_commit = rng.chance(25);
        let strategy = if cooperative {
            "cooperative-sticky"
        } else {
            // Eager (range is not cooperative); cooperative-sticky second, so the group has a
            // common strategy whoever joins.
            "range,cooperative-sticky"
        };
        let mut config = ConsumerConfig::with_group(GROUP)
            .auto_offset_reset(OffsetReset::Earliest)
            .enable_auto_commit(auto_commit)
            .assignment_strategy(strategy)
            .unwrap();
        config.client_id = format!("m{me}");
        config.max_poll_records = 20 + rng.below(180) as usize;
        config.auto_commit_interval_ms = 100;
        if mortal {
            config.session_timeout_ms = MORTAL_SESSION_MS;
            config.heartbeat_interval_ms = 100;
        }
        let (leave, told) = bounded(1);
        let world = world.clone();
        let rng = Rng::for_actor(world.seed, 1000 + me as u64);
        let thread = std::thread::Builder::new()
            .name(format!("soak-m{me}"))
            .spawn(move || run(world, me, config, told, rng, !auto_commit))
            .unwrap();
        Member {
            mortal,
            leave,
            thread,
        }
    }

    /// Tells the member to leave; returns its thread to join.
    pub fn leave(self, how: Leave) -> JoinHandle<()> {
        let _ = self.leave.send(how);
        self.thread
    }
}

/// Keeps the ownership table and the expected positions: member `me`'s rebalance listener.
struct Listener {
    me: usize,
    world: World,
    expects: Expects,
    commits_by_hand: bool,
}

impl RebalanceListener for Listener {
    fn on_partitions_assigned(&mut self, consumer: &mut Consumer, partitions: &[TopicPartition]) {
        let world = &self.world;
        Stats::add(&world.stats.assignments, 1);
        let member_id = consumer.member_id().unwrap_or_default().to_string();
        world.owners.take(world, self.me, &member_id, partitions);
        let committed = match consumer.committed(partitions) {
            Ok(c) => c,
            Err(e) => return world.violation(format!("m{}: committed(): {e}", self.me)),
        };
        let mut expects = self.expects.lock().unwrap();
        for tp in partitions {
            let expect = match committed.get(tp).cloned().flatten() {
                Some(c) => Expect::Exactly(c.offset),
                None => Expect::FromLogStart(log_start(world, tp.partition)),
            };
            expects.insert(tp.partition, expect);
        }
    }

    fn on_partitions_revoked(&mut self, consumer: &mut Consumer, partitions: &[TopicPartition]) {
        if self.commits_by_hand {
            // Kafka's pattern: commit what was processed before the partitions go.
            commit_outcome(&self.world, self.me, consumer.commit_sync());
        }
        self.release(partitions, false);
    }

    fn on_partitions_lost(&mut self, _: &mut Consumer, partitions: &[TopicPartition]) {
        self.release(partitions, true);
    }
}

impl Listener {
    /// Forgets `partitions` and gives them back in the ownership table.
    fn release(&self, partitions: &[TopicPartition], lost: bool) {
        self.expects
            .lock()
            .unwrap()
            .retain(|p, _| !partitions.iter().any(|tp| tp.partition == *p));
        self.world
            .owners
            .give_back(&self.world, self.me, partitions, lost);
    }
}

fn log_start(world: &World, partition: u32) -> i64 {
    world
        .engine
        .log(PLAIN, partition)
        .map_or(0, |l| l.log_start_offset())
}

/// Counts a commit's outcome: refusals during a rebalance are Kafka's, anything else is not.
fn commit_outcome(world: &World, me: usize, result: Result<(), ConsumerError>) {
    match result {
        Ok(()) => Stats::add(&world.stats.commits, 1),
        Err(ConsumerError::CommitFailed { .. } | ConsumerError::RebalanceInProgress { .. }) => {
            Stats::add(&world.stats.commits_refused, 1)
        }
        Err(e) => world.violation(format!("m{me}: commit failed: {e}")),
    }
}

fn run(
    world: World,
    me: usize,
    config: ConsumerConfig,
    told: Receiver<Leave>,
    mut rng: Rng,
    commits_by_hand: bool,
) {
    let logs: Vec<Arc<Log>> = (0..PLAIN_PARTITIONS)
        .map(|p| world.engine.log(PLAIN, p).unwrap())
        .collect();
    let expects = Expects::default();
    let mut consumer = world.engine.consumer(config).unwrap();
    let listener = Listener {
        me,
        world: world.clone(),
        expects: Arc::clone(&expects),
        commits_by_hand,
    };
    consumer.subscribe(&[PLAIN], listener).unwrap();
    Stats::add(&world.stats.members_joined, 1);
    let mut polls_since_commit = 0u32;
    loop {
        let how = match told.try_recv() {
            Ok(how) => Some(how),
            Err(TryRecvError::Empty) => None,
            Err(TryRecvError::Disconnected) => Some(Leave::Close),
        };
        if let Some(how) = how {
            return leave(&world, me, consumer, how, &expects);
        }
        let Some(polled) = poll(&world, me, &mut consumer) else {
            return leave(&world, me, consumer, Leave::Close, &expects);
        };
        let read = !polled.is_empty();
        check_poll(&world, me, &mut consumer, &logs, &expects, polled);
        if rng.chance(2) {
            // Slow processing now and then: the member falls behind, and retention or
            // `delete_records` may move the log start past its position.
            std::thread::sleep(rng.millis(100, 600));
        }
        polls_since_commit += 1;
        if commits_by_hand && (read || polls_since_commit >= 25) {
            polls_since_commit = 0;
            commit(&world, me, &mut consumer, &mut rng);
        }
    }
}

/// One poll, its records copied out (`None`: the poll failed, a violation).
fn poll(world: &World, me: usize, consumer: &mut Consumer) -> Option<Vec<Polled>> {
    match consumer.poll(Duration::from_millis(20)) {
        Ok(records) => Some(
            records
                .iter()
                .map(|r| {
                    let id = if r.topic == PLAIN {
                        decode(r.value)
                    } else {
                        Err(format!("a record of topic {}", r.topic))
                    };
                    (r.partition, r.offset, id)
                })
                .collect(),
        ),
        Err(e) => {
            world.violation(format!("m{me}: poll failed: {e}"));
            None
        }
    }
}

/// Commits the positions: `commit_sync` mostly, `commit_async` (outcome counted in its
/// callback, from a later poll) otherwise.
fn commit(world: &World, me: usize, consumer: &mut Consumer, rng: &mut Rng) {
    if rng.chance(70) {
        commit_outcome(world, me, consumer.commit_sync());
    } else {
        let w = world.clone();
        let result = consumer.commit_async(move |_, result| commit_outcome(&w, me, result));
        if let Err(e) = result {
            world.violation(format!("m{me}: commit_async refused: {e}"));
        }
    }
}

/// The checks after one poll (see the module's doc).
fn check_poll(
    world: &World,
    me: usize,
    consumer: &mut Consumer,
    logs: &[Arc<Log>],
    expects: &Expects,
    polled: Vec<Polled>,
) {
    let checks = Checks {
        world,
        me,
        logs,
        expects,
    };
    let member_id = consumer.member_id().unwrap_or_default().to_string();
    let mut by_partition: BTreeMap<u32, Vec<Polled>> = BTreeMap::new();
    for record in polled {
        by_partition.entry(record.0).or_default().push(record);
    }
    for (p, records) in by_partition {
        if world.owners.check_read(world, me, &member_id, p) {
            checks.records(p, &records);
        }
    }
    // Positions: where the last record left them, or at a log start that moved.
    for tp in consumer.assignment() {
        match consumer.position(&tp) {
            Ok(position) => checks.arrive(tp.partition, position, "position"),
            Err(e) => world.violation(format!("m{me}: position({tp}): {e}")),
        }
    }
}

/// What the checks of one member's poll need.
struct Checks<'a> {
    world: &'a World,
    me: usize,
    logs: &'a [Arc<Log>],
    expects: &'a Expects,
}

impl Checks<'_> {
    /// The records of one partition: from where it was expected, contiguous, each the one
    /// acknowledged at its offset.
    fn records(&self, p: u32, records: &[Polled]) {
        let (world, me) = (self.world, self.me);
        let first = records[0].1;
        self.arrive(p, first, "first record of a poll");
        let mut previous = first - 1;
        for (_, offset, id) in records {
            if *offset != previous + 1 {
                world.violation(format!(
                    "m{me}: {PLAIN}-{p} offsets not contiguous: {offset} after {previous}"
                ));
            }
            previous = *offset;
            let read = id.clone().and_then(|id| world.ledger.read(p, *offset, id));
            if let Err(e) = read {
                world.violation(format!("m{me}: {PLAIN}-{p}@{offset}: {e}"));
            }
        }
        let n = records.len() as u64;
        Stats::add(&world.stats.consumed, n);
        Stats::add(&world.stats.checked, n);
        Stats::add(&world.stats.invariant_checks, n);
        let next = Expect::Exactly(previous + 1);
        self.expects.lock().unwrap().insert(p, next);
    }

    /// `got` (a poll's first record, or a position) must be where partition `p` was
    /// expected, or at a log start that moved past it; it is expected there from now on.
    fn arrive(&self, p: u32, got: i64, what: &str) {
        let (world, me) = (self.world, self.me);
        let Some(expect) = self.expects.lock().unwrap().get(&p).copied() else {
            return world.violation(format!(
                "m{me}: {what} of {PLAIN}-{p}, a partition its listener was never given"
            ));
        };
        let log_start = self.logs[p as usize].log_start_offset();
        if !expect.allows(got, log_start) {
            world.violation(format!(
                "m{me}: {what} of {PLAIN}-{p} at {got}; expected {expect:?} (log start now {log_start})"
            ));
        }
        if matches!(expect, Expect::Exactly(e) if got > e) {
            Stats::add(&world.stats.log_start_resets, 1);
        }
        Stats::add(&world.stats.invariant_checks, 1);
        self.expects.lock().unwrap().insert(p, Expect::Exactly(got));
    }
}

fn leave(world: &World, me: usize, consumer: Consumer, how: Leave, expects: &Expects) {
    match how {
        Leave::Close => match consumer.close() {
            Ok(()) | Err(ConsumerError::CommitFailed { .. }) => {}
            Err(e) => world.violation(format!("m{me}: close failed: {e}")),
        },
        Leave::Drop => drop(consumer),
        Leave::Abandon => {
            // It stops processing now; the group hands its partitions on once its session
            // has expired.
            world.owners.release_all(me);
            expects.lock().unwrap().clear();
            consumer.abandon();
        }
    }
    let held = world.owners.held_by(me);
    if !held.is_empty() {
        world.violation(format!(
            "m{me} left ({how:?}) still holding partitions {held:?}"
        ));
    }
    Stats::add(&world.stats.members_left, 1);
}
