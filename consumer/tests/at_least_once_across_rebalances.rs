//! Committing after processing gives at-least-once delivery across rebalances: every
//! produced record is processed, none is skipped, and the only records processed twice
//! are those a crashed member processed but had not committed.
//!
//! Each member polls, processes (adds every record to a ledger), then calls `commit_sync`;
//! its rebalance listener commits again in `on_partitions_revoked`, Kafka's pattern for a
//! commit refused while a rebalance completes. The group goes through members joining, one
//! closing (it committed before it left, so nothing it processed is read again) and one
//! crashing (`Consumer::abandon`) right after processing a poll, before committing: the
//! partitions' next owners resume at its last commit and process that poll's records again.
//!
//! Asserted, for eager (range) and cooperative (cooperative-sticky) groups:
//! - the set of (partition, offset) processed is exactly every offset of every partition;
//! - the records processed twice are exactly the crashed member's uncommitted last poll
//!   (none three times), so no duplicate comes from joining or closing;
//! - every commit made on revoke succeeded, and no live member was fenced (lost its
//!   partitions).
//!
//! The members are polled in turn from the test's thread, so the crash lands exactly
//! between processing and commit. Only the crashing member has a short session timeout.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use silt_consumer::{
    Consumer, ConsumerConfig, ConsumerError, ConsumerExt, GroupState, OffsetReset,
    RebalanceListener, TopicPartition,
};
use silt_engine::Engine;
use support::{open, produce, topic};

const PARTITIONS: u32 = 6;
/// The crashing member's session: how long its partitions wait before they move.
const CRASH_SESSION_MS: u64 = 1000;
/// Bound on each phase of the test.
const PHASE: Duration = Duration::from_secs(8);

/// A processed record: (partition, offset).
type Key = (u32, i64);

/// Commits in `on_partitions_revoked`; a commit refused there, or partitions lost, is a
/// failure of the test.
struct CommitOnRevoke {
    uncommitted: Arc<Mutex<BTreeSet<Key>>>,
    failures: Arc<Mutex<Vec<String>>>,
}

impl RebalanceListener for CommitOnRevoke {
    fn on_partitions_revoked(&mut self, consumer: &mut Consumer, partitions: &[TopicPartition]) {
        match consumer.commit_sync() {
            Ok(()) => self.uncommitted.lock().unwrap().clear(),
            Err(e) => self
                .failures
                .lock()
                .unwrap()
                .push(format!("commit on revoking {partitions:?}: {e}")),
        }
    }

    fn on_partitions_lost(&mut self, _: &mut Consumer, partitions: &[TopicPartition]) {
        self.failures
            .lock()
            .unwrap()
            .push(format!("a live member lost {partitions:?}"));
    }
}

struct Member {
    consumer: Consumer,
    /// Records processed since its last successful commit.
    uncommitted: Arc<Mutex<BTreeSet<Key>>>,
}

/// What the whole group processed.
#[derive(Default)]
struct Ledger {
    processed: BTreeMap<Key, usize>,
    /// `commit_sync` after processing refused because a rebalance completed meanwhile
    /// (allowed: the commit on revoke, or the next one, carries the same offsets).
    refused_commits: usize,
    failures: Arc<Mutex<Vec<String>>>,
}

impl Ledger {
    fn join(&self, engine: &Engine, strategy: &str, session_timeout_ms: u64) -> Member {
        let config = ConsumerConfig {
            session_timeout_ms,
            heartbeat_interval_ms: 50,
            max_poll_records: 7,
            ..ConsumerConfig::with_group("g")
                .auto_offset_reset(OffsetReset::Earliest)
                .enable_auto_commit(false)
                .assignment_strategy(strategy)
                .unwrap()
        };
        let uncommitted = Arc::new(Mutex::new(BTreeSet::new()));
        let mut consumer = engine.consumer(config).unwrap();
        let listener = CommitOnRevoke {
            uncommitted: Arc::clone(&uncommitted),
            failures: Arc::clone(&self.failures),
        };
        consumer.subscribe(&["t"], listener).unwrap();
        Member {
            consumer,
            uncommitted,
        }
    }

    /// One poll, processed; returns how many records it had.
    fn poll_and_process(&mut self, member: &mut Member) -> usize {
        let records = member.consumer.poll(Duration::from_millis(5)).unwrap();
        let keys: Vec<Key> = records.iter().map(|r| (r.partition, r.offset)).collect();
        let mut uncommitted = member.uncommitted.lock().unwrap();
        for key in &keys {
            *self.processed.entry(*key).or_default() += 1;
            uncommitted.insert(*key);
        }
        keys.len()
    }

    fn commit(&mut self, member: &mut Member) {
        match member.consumer.commit_sync() {
            Ok(()) => member.uncommitted.lock().unwrap().clear(),
            Err(ConsumerError::CommitFailed { .. } | ConsumerError::RebalanceInProgress { .. }) => {
                self.refused_commits += 1
            }
            Err(e) => panic!("commit failed: {e}"),
        }
    }

    /// Polls, processes and commits with every member in turn until `done` holds.
    fn drive(
        &mut self,
        engine: &Engine,
        members: &mut [&mut Member],
        what: &str,
        mut done: impl FnMut(&Engine, &[&mut Member], &Ledger) -> bool,
    ) {
        let deadline = Instant::now() + PHASE;
        while !done(engine, members, self) {
            assert!(Instant::now() < deadline, "timed out: {what}");
            for member in members.iter_mut() {
                if self.poll_and_process(member) > 0 {
                    self.commit(member);
                }
            }
        }
    }
}

/// The group is stable, every member is in its generation, and all partitions are owned.
fn stable(engine: &Engine, members: &[&mut Member], _: &Ledger) -> bool {
    let Ok(d) = engine.describe_consumer_group("g") else {
        return false; // nobody joined yet
    };
    d.state == GroupState::Stable
        && members
            .iter()
            .all(|m| m.consumer.generation() == d.generation)
        && members
            .iter()
            .map(|m| m.consumer.assignment().len())
            .sum::<usize>()
            == PARTITIONS as usize
}

/// Every offset of every partition.
fn produced(engine: &Engine) -> BTreeSet<Key> {
    (0..PARTITIONS)
        .flat_map(|p| {
            let end = engine.log("t", p).unwrap().log_end_offset().unwrap();
            (0..end).map(move |offset| (p, offset))
        })
        .collect()
}

fn all_processed(engine: &Engine, _: &[&mut Member], ledger: &Ledger) -> bool {
    produced(engine)
        .iter()
        .all(|key| ledger.processed.contains_key(key))
}

fn every_record_at_least_once_and_duplicates_only_from_the_crash(strategy: &str) {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path());
    topic(&engine, "t", PARTITIONS);
    let long = 45_000;
    let mut ledger = Ledger::default();

    produce(&engine, "t", PARTITIONS, "a", 120);
    let mut m0 = ledger.join(&engine, strategy, long);
    let mut m1 = ledger.join(&engine, strategy, CRASH_SESSION_MS);
    ledger.drive(
        &engine,
        &mut [&mut m0, &mut m1],
        "two members",
        |e, m, l| stable(e, m, l) && !l.processed.is_empty(),
    );

    // A member joins while records are waiting.
    produce(&engine, "t", PARTITIONS, "b", 120);
    let mut m2 = ledger.join(&engine, strategy, long);
    ledger.drive(
        &engine,
        &mut [&mut m0, &mut m1, &mut m2],
        "m2 joins",
        stable,
    );

    // A member closes; it committed what it processed, and commits again on revoke.
    assert!(m0.uncommitted.lock().unwrap().is_empty());
    m0.consumer.close().unwrap();
    ledger.drive(&engine, &mut [&mut m1, &mut m2], "m0 closed", stable);

    // A member crashes between processing a poll and committing it; another joins.
    produce(&engine, "t", PARTITIONS, "c", 120);
    let deadline = Instant::now() + PHASE;
    while ledger.poll_and_process(&mut m1) == 0 {
        assert!(Instant::now() < deadline, "m1 never got records");
    }
    let uncommitted = m1.uncommitted.lock().unwrap().clone();
    assert!(!uncommitted.is_empty());
    m1.consumer.abandon();
    let mut m3 = ledger.join(&engine, strategy, long);
    ledger.drive(&engine, &mut [&mut m2, &mut m3], "m1 crashed", stable);

    produce(&engine, "t", PARTITIONS, "d", 120);
    let mut m4 = ledger.join(&engine, strategy, long);
    ledger.drive(
        &engine,
        &mut [&mut m2, &mut m3, &mut m4],
        "m4 joins",
        |e, m, l| stable(e, m, l) && all_processed(e, m, l),
    );

    let failures = ledger.failures.lock().unwrap().clone();
    assert!(failures.is_empty(), "{failures:?}");
    let all = produced(&engine);
    assert_eq!(all.len(), 480);
    let processed: BTreeSet<Key> = ledger.processed.keys().copied().collect();
    assert_eq!(
        processed, all,
        "every produced record, and only those, processed"
    );
    let twice: BTreeSet<Key> = ledger
        .processed
        .iter()
        .filter(|(_, n)| **n > 1)
        .map(|(key, _)| *key)
        .collect();
    assert!(ledger.processed.values().all(|n| *n <= 2));
    eprintln!(
        "{strategy}: {} records, {} processed twice (the crashed member's uncommitted poll: \
         {}), {} commits after processing refused mid-rebalance",
        all.len(),
        twice.len(),
        uncommitted.len(),
        ledger.refused_commits
    );
    assert_eq!(
        twice, uncommitted,
        "duplicates are exactly what the crashed member processed and did not commit"
    );

    // What the group committed is where it stopped: the end of every partition.
    for m in [&mut m2, &mut m3, &mut m4] {
        m.consumer.commit_sync().unwrap();
    }
    let group = engine.describe_consumer_group("g").unwrap();
    for lag in &group.partitions {
        assert_eq!(lag.committed_offset, lag.log_end_offset, "{lag:?}");
    }
}

#[test]
fn eager_range_group() {
    every_record_at_least_once_and_duplicates_only_from_the_crash("range");
}

#[test]
fn cooperative_sticky_group() {
    every_record_at_least_once_and_duplicates_only_from_the_crash("cooperative-sticky");
}
