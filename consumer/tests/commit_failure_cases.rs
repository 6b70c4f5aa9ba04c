//! The two classic ways manual commits go wrong, shown with exact counts: a committed offset
//! behind what was processed makes a restarted consumer process those records a second
//! time; a committed offset ahead of what was processed makes it skip records it never
//! processed. Committing after processing does neither.
//!
//! A "crash" is `Consumer::abandon` (no commit, no leave) followed by reopening the engine,
//! as a restarted process would; a consumer resumes at its group's committed offset.

mod support;

use std::collections::BTreeMap;
use std::path::Path;

use silt_consumer::{
    CommittedOffset, Consumer, ConsumerConfig, ConsumerExt, OffsetReset, TopicPartition,
};
use silt_engine::Engine;
use support::{open, produce, topic};

const RECORDS: i64 = 30;
const BATCH: usize = 10;

fn tp() -> TopicPartition {
    TopicPartition::new("t", 0)
}

/// An engine holding `t`/0 with offsets `0..RECORDS`.
fn setup(dir: &Path) -> Engine {
    let engine = open(dir);
    topic(&engine, "t", 1);
    produce(&engine, "t", 1, "v", RECORDS as usize);
    engine
}

/// A manually committing consumer of `t`/0 in group `g`, reading `BATCH` records a poll.
fn consumer(engine: &Engine) -> Consumer {
    let config = ConsumerConfig {
        max_poll_records: BATCH,
        ..ConsumerConfig::with_group("g")
            .auto_offset_reset(OffsetReset::Earliest)
            .enable_auto_commit(false)
    };
    let mut c = engine.consumer(config).unwrap();
    c.assign(&[tp()]).unwrap();
    c
}

/// The offsets of one poll of exactly `BATCH` records.
fn poll_batch(c: &mut Consumer) -> Vec<i64> {
    let offsets: Vec<i64> = support::poll_n(c, BATCH).iter().map(|r| r.1).collect();
    assert_eq!(offsets.len(), BATCH, "max.poll.records bounds each poll");
    offsets
}

/// The process restarts: the engine is reopened and a new consumer reads to the log end,
/// processing every record it gets. Returns the engine and what it processed.
fn restart_and_process_the_rest(dir: &Path, engine: Engine) -> (Engine, Vec<i64>) {
    engine.close().unwrap();
    let engine = open(dir);
    let mut c = consumer(&engine);
    let start = c.position(&tp()).unwrap();
    let rest: Vec<i64> = support::poll_n(&mut c, (RECORDS - start) as usize)
        .iter()
        .map(|r| r.1)
        .collect();
    c.close().unwrap();
    (engine, rest)
}

/// How many times each offset of the topic was processed.
fn times_processed(processed: &[i64]) -> BTreeMap<i64, usize> {
    let mut times: BTreeMap<i64, usize> = (0..RECORDS).map(|o| (o, 0)).collect();
    for offset in processed {
        *times.get_mut(offset).expect("an offset of the topic") += 1;
    }
    times
}

fn offsets_processed(times: &BTreeMap<i64, usize>, n: usize) -> Vec<i64> {
    times
        .iter()
        .filter(|(_, t)| **t == n)
        .map(|(o, _)| *o)
        .collect()
}

fn committed(c: &Consumer) -> i64 {
    c.committed(&[tp()]).unwrap()[&tp()]
        .as_ref()
        .unwrap()
        .offset
}

#[test]
fn processing_then_crashing_before_the_commit_processes_those_records_twice() {
    let dir = tempfile::tempdir().unwrap();
    let engine = setup(dir.path());
    let mut processed = Vec::new();
    let mut c = consumer(&engine);
    processed.extend(poll_batch(&mut c)); // 0..10
    c.commit_sync().unwrap();
    assert_eq!(committed(&c), 10);
    processed.extend(poll_batch(&mut c)); // 10..20, processed but never committed
    c.abandon();

    let (_engine, rest) = restart_and_process_the_rest(dir.path(), engine);
    assert_eq!(rest.first(), Some(&10), "resumes at the committed offset");
    processed.extend(rest);
    let times = times_processed(&processed);
    assert_eq!(processed.len(), 40);
    assert_eq!(offsets_processed(&times, 2), (10..20).collect::<Vec<_>>());
    assert_eq!(offsets_processed(&times, 0), Vec::<i64>::new());
}

#[test]
fn committing_an_older_offset_after_a_newer_one_processes_the_records_between_twice() {
    let dir = tempfile::tempdir().unwrap();
    let engine = setup(dir.path());
    let mut processed = Vec::new();
    let mut c = consumer(&engine);
    processed.extend(poll_batch(&mut c)); // 0..10
    let stale = c.position(&tp()).unwrap();
    processed.extend(poll_batch(&mut c)); // 10..20
    c.commit_sync().unwrap();
    assert_eq!(committed(&c), 20);
    // A late commit of an older position (a retried or reordered commit) lands last.
    let mut offsets = BTreeMap::new();
    offsets.insert(tp(), CommittedOffset::new(stale));
    c.commit_sync_offsets(&offsets).unwrap();
    assert_eq!(
        committed(&c),
        10,
        "the last commit wins, even an older offset"
    );
    c.close().unwrap(); // a clean stop: no automatic commit repairs it

    let (_engine, rest) = restart_and_process_the_rest(dir.path(), engine);
    processed.extend(rest);
    let times = times_processed(&processed);
    assert_eq!(processed.len(), 40);
    assert_eq!(offsets_processed(&times, 2), (10..20).collect::<Vec<_>>());
    assert_eq!(offsets_processed(&times, 0), Vec::<i64>::new());
}

#[test]
fn committing_before_processing_then_crashing_skips_the_unprocessed_records() {
    let dir = tempfile::tempdir().unwrap();
    let engine = setup(dir.path());
    let mut processed = Vec::new();
    let mut c = consumer(&engine);
    let batch = poll_batch(&mut c); // 0..10
    c.commit_sync().unwrap(); // before processing the batch
    assert_eq!(committed(&c), 10);
    processed.extend(&batch[..4]); // 0..4 processed, then the process dies
    c.abandon();

    let (_engine, rest) = restart_and_process_the_rest(dir.path(), engine);
    assert_eq!(
        rest.first(),
        Some(&10),
        "resumes past the unprocessed records"
    );
    processed.extend(rest);
    let times = times_processed(&processed);
    assert_eq!(processed.len(), 24);
    assert_eq!(offsets_processed(&times, 0), (4..10).collect::<Vec<_>>());
    assert_eq!(offsets_processed(&times, 2), Vec::<i64>::new());
}

#[test]
fn committing_after_processing_neither_repeats_nor_skips() {
    let dir = tempfile::tempdir().unwrap();
    let engine = setup(dir.path());
    let mut processed = Vec::new();
    let mut c = consumer(&engine);
    for _ in 0..2 {
        processed.extend(poll_batch(&mut c));
        c.commit_sync().unwrap();
    }
    assert_eq!(committed(&c), 20);
    c.abandon();

    let (_engine, rest) = restart_and_process_the_rest(dir.path(), engine);
    processed.extend(rest);
    let times = times_processed(&processed);
    assert_eq!(processed.len(), RECORDS as usize);
    assert_eq!(
        offsets_processed(&times, 1),
        (0..RECORDS).collect::<Vec<_>>()
    );
}
