//! The end of a run: the group reads everything left and commits it, its members close, and
//! what is left is checked: every acknowledged record at or above the log start was read by
//! the group at least once; every offset below the log end was acknowledged; no partition is
//! still owned. Then the directory is reopened and read again: the same log starts and ends,
//! every record with its acknowledged bytes, the group's commits at the log ends, every key
//! of the compacted topic at its last acknowledged record or later.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use silt_consumer::{ConsumerConfig, ConsumerExt, GroupState, OffsetReset, TopicPartition};
use silt_engine::{Engine, EngineConfig};

use super::auditor::Auditor;
use super::compacted::CompactedReader;
use super::conductor::Conductor;
use super::harness::join_within;
use super::records::{decode, describe_id, GROUP, PLAIN, PLAIN_PARTITIONS};
use super::world::{is_gone, Stats, World};

/// Bound on the group catching up with the log ends once the load stops.
const DRAIN_BOUND: Duration = Duration::from_secs(30);

/// (log start, log end) of every plain partition.
pub type Bounds = Vec<(i64, i64)>;

fn bounds(engine: &Engine) -> Bounds {
    (0..PLAIN_PARTITIONS)
        .map(|p| {
            let log = engine.log(PLAIN, p).unwrap();
            (log.log_start_offset(), log.log_end_offset().unwrap())
        })
        .collect()
}

fn committed(engine: &Engine) -> (GroupState, BTreeMap<u32, i64>) {
    let d = engine.describe_consumer_group(GROUP).unwrap();
    let offsets = d
        .partitions
        .iter()
        .filter(|l| l.partition.topic == PLAIN)
        .filter_map(|l| Some((l.partition.partition, l.committed_offset?)))
        .collect();
    (d.state, offsets)
}

/// Lets the members read and commit everything, closes them, and checks what is left.
/// Returns the plain topic's bounds, for [`reopen_and_check`].
pub fn drain_and_check(world: &World, mut conductor: Conductor) -> Bounds {
    let engine = &world.engine;
    if conductor.live() == 0 {
        conductor.join_one();
    }
    let deadline = Instant::now() + DRAIN_BOUND;
    loop {
        let ends: BTreeMap<u32, i64> = bounds(engine)
            .iter()
            .enumerate()
            .map(|(p, (_, end))| (p as u32, *end))
            .collect();
        let (state, offsets) = committed(engine);
        if state == GroupState::Stable && offsets == ends {
            break;
        }
        if Instant::now() > deadline {
            world.violation(format!(
                "the group did not catch up within {DRAIN_BOUND:?}: committed {offsets:?}, log ends {ends:?}, {state:?}"
            ));
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Auditor::new(world.clone()).round();
    for member in conductor.close_all() {
        join_within(world, "member", member);
    }
    let owned = world.owners.all();
    if !owned.is_empty() {
        world.violation(format!(
            "partitions still owned after every member left: {owned:?}"
        ));
    }
    let bounds = bounds(engine);
    let (_, offsets) = committed(engine);
    for (p, &(start, end)) in bounds.iter().enumerate() {
        let p = p as u32;
        match world.ledger.check_final(p, start, end) {
            Ok(n) => Stats::add(&world.stats.invariant_checks, n),
            Err(e) => world.violation(e),
        }
        if offsets.get(&p) != Some(&end) {
            world.violation(format!(
                "{PLAIN}-{p}: committed {:?} after the members closed, log end {end}",
                offsets.get(&p)
            ));
        }
    }
    CompactedReader::new(engine).check(world);
    if let Some(e) = engine.take_background_error() {
        if is_gone(&e) {
            Stats::add(&world.stats.typed_errors, 1);
        } else {
            world.violation(format!("the background task failed: {e}"));
        }
    }
    bounds
}

/// The engine of the reopen: nothing in the background, so what is read stays still.
fn quiet_config() -> EngineConfig {
    EngineConfig::from_map([
        ("log.retention.check.interval.ms", "3600000"),
        ("log.cleaner.enable", "false"),
    ])
    .unwrap()
}

/// Reopens `dir` (closed cleanly) and reads it all again.
pub fn reopen_and_check(world: &World, dir: &Path, before: &Bounds) {
    let engine = Engine::open(dir, quiet_config()).unwrap();
    let after = bounds(&engine);
    if &after != before {
        world.violation(format!(
            "{PLAIN} was [start, end) {before:?} before the reopen, {after:?} after"
        ));
    }
    let (_, offsets) = committed(&engine);
    for (p, (_, end)) in after.iter().enumerate() {
        if offsets.get(&(p as u32)) != Some(end) {
            world.violation(format!(
                "{PLAIN}-{p}: committed {:?} after the reopen, log end {end}",
                offsets.get(&(p as u32))
            ));
        }
    }
    let config = ConsumerConfig::default().auto_offset_reset(OffsetReset::Earliest);
    let mut reader = engine.consumer(config).unwrap();
    let tps: Vec<TopicPartition> = (0..PLAIN_PARTITIONS)
        .map(|p| TopicPartition::new(PLAIN, p))
        .collect();
    reader.assign(&tps).unwrap();
    let mut next: Vec<i64> = after.iter().map(|(start, _)| *start).collect();
    let deadline = Instant::now() + DRAIN_BOUND;
    while next.iter().zip(&after).any(|(n, (_, end))| n < end) {
        assert!(
            Instant::now() < deadline,
            "could not read {PLAIN} back after the reopen"
        );
        for r in reader.poll(Duration::from_millis(10)).unwrap().iter() {
            let p = r.partition as usize;
            let expected = world.ledger.acked(r.partition, r.offset);
            match decode(r.value) {
                Ok(id) if r.offset == next[p] && expected == Some(id) => {}
                got => world.violation(format!(
                    "after the reopen, {PLAIN}-{p}@{} (expected offset {}) holds {:?}, acknowledged {:?}",
                    r.offset,
                    next[p],
                    got.map(describe_id),
                    expected.map(describe_id)
                )),
            }
            next[p] = r.offset + 1;
            Stats::add(&world.stats.invariant_checks, 1);
        }
    }
    drop(reader);
    CompactedReader::new(&engine).check(world);
    engine.close().unwrap();
}
