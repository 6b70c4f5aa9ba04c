//! With `enable.auto.commit`, a poll commits the positions of the records the previous polls
//! returned once `auto.commit.interval.ms` has passed since the last automatic commit. So a
//! member that crashes is replaced by one that re-delivers exactly the records handed out
//! since the last automatic commit: at most one interval's worth. A member that closes
//! commits on the way out, and its successor re-delivers nothing.
//!
//! Nothing here depends on scheduling: the test notes instants around every poll and sees
//! in which poll a commit happened (the group's `__consumer_offsets` partition grew), then
//! checks what the clock allows: a commit happens at the first poll that begins one interval
//! after the previous commit ended, never at one that ends less than an interval after the
//! previous commit began.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use silt_consumer::offsets::{codec, OFFSETS_TOPIC};
use silt_consumer::{
    Consumer, ConsumerConfig, ConsumerExt, NoopListener, OffsetReset, TopicPartition,
};
use silt_engine::{Engine, EngineError};
use support::{open, produce, topic};

const GROUP: &str = "g";
const PARTITIONS: u32 = 2;
const RECORDS: usize = 6000;
const INTERVAL: Duration = Duration::from_millis(100);

fn config() -> ConsumerConfig {
    ConsumerConfig {
        max_poll_records: 4,
        auto_commit_interval_ms: INTERVAL.as_millis() as u64,
        session_timeout_ms: 3000,
        heartbeat_interval_ms: 100,
        ..ConsumerConfig::with_group(GROUP)
            .auto_offset_reset(OffsetReset::Earliest)
            .enable_auto_commit(true)
    }
}

fn setup(dir: &std::path::Path) -> Engine {
    let engine = open(dir);
    topic(&engine, "t", PARTITIONS);
    produce(&engine, "t", PARTITIONS, "v", RECORDS);
    engine
}

fn partitions() -> Vec<TopicPartition> {
    (0..PARTITIONS)
        .map(|p| TopicPartition::new("t", p))
        .collect()
}

/// Records in the group's partition of `__consumer_offsets`: every commit appends one per
/// partition it commits (0 before the first commit creates the topic).
fn commit_records(engine: &Engine) -> i64 {
    let partitions = match engine.describe_topic(OFFSETS_TOPIC) {
        Ok(topic) => topic.partitions.len() as u32,
        Err(EngineError::UnknownTopic { .. }) => return 0,
        Err(e) => panic!("{e}"),
    };
    let partition = codec::partition_for(GROUP, partitions);
    engine
        .log(OFFSETS_TOPIC, partition)
        .unwrap()
        .log_end_offset()
        .unwrap()
}

/// One poll as the test saw it.
struct Poll {
    began: Instant,
    ended: Instant,
    /// The member had partitions when the poll began (only then can it commit).
    assigned: bool,
    records: Vec<(TopicPartition, i64)>,
    /// Whether an automatic commit was written during the poll.
    committed: bool,
    /// Positions after the poll (the offsets it would commit).
    positions: BTreeMap<TopicPartition, i64>,
    /// The group's committed offsets after the poll.
    committed_offsets: BTreeMap<TopicPartition, i64>,
}

fn committed_offsets(c: &Consumer) -> BTreeMap<TopicPartition, i64> {
    c.committed(&partitions())
        .unwrap()
        .into_iter()
        .filter_map(|(tp, o)| Some((tp, o?.offset)))
        .collect()
}

fn one_poll(engine: &Engine, c: &mut Consumer) -> Poll {
    let assigned = !c.assignment().is_empty();
    let before = commit_records(engine);
    let began = Instant::now();
    let records: Vec<(TopicPartition, i64)> = c
        .poll(Duration::from_millis(50))
        .unwrap()
        .iter()
        .map(|r| (TopicPartition::new(r.topic, r.partition), r.offset))
        .collect();
    let ended = Instant::now();
    let committed = commit_records(engine) > before;
    let positions = c
        .assignment()
        .iter()
        .map(|tp| (tp.clone(), c.position(tp).unwrap()))
        .collect();
    Poll {
        began,
        ended,
        assigned,
        records,
        committed,
        positions,
        committed_offsets: committed_offsets(c),
    }
}

/// Checks the automatic commits of `polls` against the clock: `created` brackets the
/// consumer's creation, which starts the first interval.
fn assert_commits_follow_the_interval(created: (Instant, Instant), polls: &[Poll]) {
    // The last commit happened between these two instants. An automatic commit with no
    // position known yet writes nothing but still restarts the interval: the poll that gets
    // the first assignment may do that, so it counts as a commit that ended with it.
    let mut last = created;
    for (i, poll) in polls.iter().enumerate() {
        if !poll.assigned {
            assert!(!poll.committed, "poll {i} committed with no partitions");
            last.1 = poll.ended;
            continue;
        }
        if poll.committed {
            assert!(
                poll.ended.duration_since(last.0) >= INTERVAL,
                "poll {i} committed less than one interval after the previous commit"
            );
            let before = polls[..i].last().expect("the first poll has no positions");
            assert_eq!(
                poll.committed_offsets, before.positions,
                "poll {i} commits the positions after the previous poll's records"
            );
            last = (poll.began, poll.ended);
        } else {
            assert!(
                poll.began < last.1 + INTERVAL,
                "poll {i} began one interval after the last commit and did not commit"
            );
        }
    }
}

/// Polls with a little processing time between polls until at least `commits` automatic
/// commits happened and `after` more polls followed the last one (or 3 s passed once the
/// commits are in: then however few followed, the checks still hold).
fn consume(engine: &Engine, c: &mut Consumer, commits: usize, after: usize) -> Vec<Poll> {
    let start = Instant::now();
    let mut polls: Vec<Poll> = Vec::new();
    loop {
        let poll = one_poll(engine, c);
        if poll.assigned && poll.records.is_empty() {
            panic!("ran out of records: the test needs more than {RECORDS}");
        }
        polls.push(poll);
        let made = polls.iter().filter(|p| p.committed).count();
        let since = polls.iter().rev().take_while(|p| !p.committed).count();
        if made >= commits && (since >= after || start.elapsed() > Duration::from_secs(3)) {
            return polls;
        }
        assert!(start.elapsed() < Duration::from_secs(20), "no commits");
        std::thread::sleep(Duration::from_millis(5)); // processing the records
    }
}

/// Polls a new member of the group until it read every partition to its end; returns the
/// records it got.
fn successor_reads_to_the_end(engine: &Engine) -> Vec<(TopicPartition, i64)> {
    let ends: BTreeMap<TopicPartition, i64> = partitions()
        .into_iter()
        .map(|tp| {
            let end = engine
                .log(&tp.topic, tp.partition)
                .unwrap()
                .log_end_offset()
                .unwrap();
            (tp, end)
        })
        .collect();
    let config = ConsumerConfig {
        max_poll_records: 500,
        ..config().enable_auto_commit(false)
    };
    let mut c = engine.consumer(config).unwrap();
    c.subscribe(&["t"], NoopListener).unwrap();
    let seen = support::poll_until(&mut c, Duration::from_secs(30), |seen| {
        let last = support::by_partition(seen);
        ends.iter()
            .all(|(tp, end)| last.get(tp).and_then(|o| o.last()) == Some(&(end - 1)))
    });
    c.close().unwrap();
    seen.into_iter().map(|(tp, o, _)| (tp, o)).collect()
}

/// Asserts `records` hold every offset from `from` to the end of each partition, once.
fn assert_reads_from(records: &[(TopicPartition, i64)], from: &BTreeMap<TopicPartition, i64>) {
    let got = support::by_partition(
        &records
            .iter()
            .map(|(tp, o)| (tp.clone(), *o, String::new()))
            .collect::<Vec<_>>(),
    );
    for (tp, start) in from {
        let expected: Vec<i64> = (*start..(RECORDS / PARTITIONS as usize) as i64).collect();
        assert_eq!(got.get(tp).cloned().unwrap_or_default(), expected, "{tp:?}");
    }
}

#[test]
fn a_crashed_member_is_redelivered_only_what_it_got_since_its_last_auto_commit() {
    let dir = tempfile::tempdir().unwrap();
    let engine = setup(dir.path());
    let created_from = Instant::now();
    let mut c = engine.consumer(config()).unwrap();
    let created = (created_from, Instant::now());
    c.subscribe(&["t"], NoopListener).unwrap();
    let polls = consume(&engine, &mut c, 3, 3);
    c.abandon(); // a crash: no commit on the way out

    assert_commits_follow_the_interval(created, &polls);
    let last_commit = polls.iter().rposition(|p| p.committed).unwrap();
    let since: BTreeSet<(TopicPartition, i64)> = polls[last_commit..]
        .iter()
        .flat_map(|p| p.records.iter().cloned())
        .collect();
    let handed_out: BTreeSet<(TopicPartition, i64)> = polls
        .iter()
        .flat_map(|p| p.records.iter().cloned())
        .collect();
    assert!(!since.is_empty());
    for p in &polls[last_commit + 1..] {
        assert!(
            p.began < polls[last_commit].ended + INTERVAL,
            "every poll whose records come again began within one interval of the commit"
        );
    }

    let redelivered = successor_reads_to_the_end(&engine);
    assert_reads_from(&redelivered, &polls[last_commit].committed_offsets);
    let duplicates: BTreeSet<(TopicPartition, i64)> = redelivered
        .into_iter()
        .filter(|r| handed_out.contains(r))
        .collect();
    assert_eq!(
        duplicates, since,
        "exactly the records returned since the last automatic commit come again"
    );
}

#[test]
fn a_closed_member_commits_and_its_successor_redelivers_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let engine = setup(dir.path());
    let created_from = Instant::now();
    let mut c = engine.consumer(config()).unwrap();
    let created = (created_from, Instant::now());
    c.subscribe(&["t"], NoopListener).unwrap();
    let polls = consume(&engine, &mut c, 1, 2);
    assert_commits_follow_the_interval(created, &polls);
    let last = polls.last().unwrap();
    assert_ne!(
        last.committed_offsets, last.positions,
        "records were handed out since the last automatic commit"
    );
    let before_close = commit_records(&engine);
    c.close().unwrap();
    assert!(commit_records(&engine) > before_close, "close commits");

    let probe = engine.consumer(config().enable_auto_commit(false)).unwrap();
    assert_eq!(committed_offsets(&probe), last.positions);
    drop(probe);
    let handed_out: BTreeSet<(TopicPartition, i64)> = polls
        .iter()
        .flat_map(|p| p.records.iter().cloned())
        .collect();
    let next = successor_reads_to_the_end(&engine);
    assert_reads_from(&next, &last.positions);
    assert!(
        next.iter().all(|r| !handed_out.contains(r)),
        "nothing is delivered twice"
    );
}
