//! Records keep flowing from the partitions that stay put during a cooperative rebalance
//! (KIP-429), and stop for every partition during an eager one.
//!
//! Cooperative: `a` owns all 6 partitions of a stable group when `b` joins. The first round
//! leaves `a` three partitions and holds back the three that move; `a` revokes exactly those
//! and rejoins, and the second round cannot finish before `b` rejoins. The test does not poll
//! `b` in between, so the group stays in that second round: `a` must meanwhile return records
//! produced after its revocation, from every kept partition and from no other. When `b` gets
//! its assignment, it is exactly what `a` revoked, and `a` revoked nothing else.
//! (`rebalance_protocols.rs` checks how many partitions are revoked; this file checks which
//! ones, and that records flow during the rebalance.)
//!
//! Eager: `a` and `c` share the 6 partitions when `b` joins. `a` revokes everything it owns
//! and rejoins; until `c` rejoins too the round waits, and `a` polls no record at all, not
//! even from the partitions it gets back afterwards, though they have records to read.
//!
//! Everything runs in the test's thread: a member's rebalance steps happen only in its own
//! `poll`, so which member has done what is decided by the order of the polls.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use silt_consumer::{Consumer, ConsumerConfig, ConsumerExt, GroupState, OffsetReset};
use silt_consumer::{RebalanceProtocol, TopicPartition};
use silt_engine::Engine;
use support::{open, poll_until, produce, settle_stable, topic, Event, Recorder};

const PARTITIONS: u32 = 6;

fn member(engine: &Engine, strategy: &str, recorder: &Recorder) -> Consumer {
    let config = ConsumerConfig {
        // Small polls, so records from several partitions take several polls.
        max_poll_records: 4,
        ..ConsumerConfig::with_group("g")
            .auto_offset_reset(OffsetReset::Earliest)
            .enable_auto_commit(false)
            .assignment_strategy(strategy)
            .unwrap()
    };
    let mut c = engine.consumer(config).unwrap();
    c.subscribe(&["t"], recorder.clone()).unwrap();
    c
}

fn partitions_of(events: &[Event], kind: &str) -> BTreeSet<TopicPartition> {
    events
        .iter()
        .filter(|e| e.0 == kind)
        .flat_map(|e| e.1.iter().cloned())
        .collect()
}

fn state(engine: &Engine) -> GroupState {
    engine.describe_consumer_group("g").unwrap().state
}

/// Each partition's log end offset now.
fn log_ends(engine: &Engine) -> BTreeMap<TopicPartition, i64> {
    (0..PARTITIONS)
        .map(|p| {
            let end = engine.log("t", p).unwrap().log_end_offset().unwrap();
            (TopicPartition::new("t", p), end)
        })
        .collect()
}

#[test]
fn cooperative_kept_partitions_are_consumed_while_the_group_rebalances() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path());
    topic(&engine, "t", PARTITIONS);
    produce(&engine, "t", PARTITIONS, "before", 60);
    let (a_events, b_events) = (Recorder::default(), Recorder::default());
    let mut a = member(&engine, "cooperative-sticky", &a_events);
    assert!(settle_stable(
        &engine,
        "g",
        &mut [&mut a],
        Duration::from_secs(10),
        |c| c[0].assignment().len() == PARTITIONS as usize
    ));
    let owned_before: BTreeSet<TopicPartition> = a.assignment().into_iter().collect();
    a_events.take();

    // `b` joins: its first poll starts the rebalance.
    let mut b = member(&engine, "cooperative-sticky", &b_events);
    assert!(b.poll(Duration::from_millis(10)).unwrap().is_empty());
    assert_eq!(state(&engine), GroupState::PreparingRebalance);

    // `a` rejoins, learns which partitions move, revokes them and rejoins for the round
    // that hands them to `b`.
    poll_until(&mut a, Duration::from_secs(10), |_| {
        !partitions_of(&a_events.0.lock().unwrap(), "revoked").is_empty()
    });
    let revoked = partitions_of(&a_events.take(), "revoked");
    let kept: BTreeSet<TopicPartition> = a.assignment().into_iter().collect();
    assert_eq!(
        revoked.len(),
        3,
        "half the partitions move to b: {revoked:?}"
    );
    assert!(kept.is_disjoint(&revoked));
    assert_eq!(
        kept.union(&revoked).cloned().collect::<BTreeSet<_>>(),
        owned_before
    );

    // Mid-rebalance (b has not rejoined): records produced now are read from every kept
    // partition, and only from kept partitions.
    let produced_from = log_ends(&engine);
    produce(&engine, "t", PARTITIONS, "during", 60);
    let mut fresh: BTreeSet<TopicPartition> = BTreeSet::new();
    let during = poll_until(&mut a, Duration::from_secs(10), |seen| {
        for (tp, offset, _) in seen {
            if *offset >= produced_from[tp] {
                fresh.insert(tp.clone());
            }
        }
        fresh == kept
    });
    assert_eq!(fresh, kept, "a read new records from every kept partition");
    for (tp, offset, value) in &during {
        assert!(
            kept.contains(tp),
            "{tp}@{offset} ({value}) is not a kept partition"
        );
    }
    assert_eq!(
        state(&engine),
        GroupState::PreparingRebalance,
        "the records were read during the rebalance"
    );
    assert!(b.assignment().is_empty() && b_events.take().iter().all(|e| e.1.is_empty()));

    // `b` rejoins: the round completes and b gets exactly the revoked partitions.
    assert!(settle_stable(
        &engine,
        "g",
        &mut [&mut a, &mut b],
        Duration::from_secs(10),
        |c| c[1].assignment().len() == revoked.len()
    ));
    let b_got = partitions_of(&b_events.take(), "assigned");
    assert_eq!(b_got, revoked, "b gets exactly the partitions a revoked");
    assert_eq!(b.assignment().into_iter().collect::<BTreeSet<_>>(), revoked);
    assert_eq!(a.assignment().into_iter().collect::<BTreeSet<_>>(), kept);
    let later = a_events.take();
    assert!(
        later.iter().all(|e| e.1.is_empty()),
        "a revoked nothing but the moved partitions: {later:?}"
    );
    assert_eq!(
        engine
            .describe_consumer_group("g")
            .unwrap()
            .rebalance_protocol,
        RebalanceProtocol::Cooperative
    );
}

#[test]
fn eager_stops_every_partition_until_the_rebalance_completes() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path());
    topic(&engine, "t", PARTITIONS);
    let (a_events, c_events) = (Recorder::default(), Recorder::default());
    let mut a = member(&engine, "range", &a_events);
    let mut c = member(&engine, "range", &c_events);
    assert!(settle_stable(
        &engine,
        "g",
        &mut [&mut a, &mut c],
        Duration::from_secs(10),
        |cs| cs.iter().all(|c| c.assignment().len() == 3)
    ));
    let a_before: BTreeSet<TopicPartition> = a.assignment().into_iter().collect();
    let c_before: BTreeSet<TopicPartition> = c.assignment().into_iter().collect();
    a_events.take();
    c_events.take();

    let mut b = member(&engine, "range", &Recorder::default());
    assert!(b.poll(Duration::from_millis(10)).unwrap().is_empty());
    assert_eq!(state(&engine), GroupState::PreparingRebalance);

    // `a` revokes everything it owns before rejoining; the round then waits for `c`.
    assert!(a.poll(Duration::from_millis(10)).unwrap().is_empty());
    assert_eq!(partitions_of(&a_events.take(), "revoked"), a_before);
    assert!(a.assignment().is_empty());

    // Records wait in a's former partitions, but a reads none of them until the round
    // completes.
    produce(&engine, "t", PARTITIONS, "during", 60);
    for _ in 0..5 {
        let n = a.poll(Duration::from_millis(20)).unwrap().len();
        assert_eq!(n, 0, "a read records during an eager rebalance");
        assert_eq!(state(&engine), GroupState::PreparingRebalance);
    }
    assert!(a.assignment().is_empty() && a_events.take().is_empty());

    // `c` rejoins (revoking everything too); a gets partitions again and reads them.
    assert!(settle_stable(
        &engine,
        "g",
        &mut [&mut a, &mut c, &mut b],
        Duration::from_secs(10),
        |cs| cs.iter().all(|c| c.assignment().len() == 2)
    ));
    assert_eq!(partitions_of(&c_events.take(), "revoked"), c_before);
    let a_after: BTreeSet<TopicPartition> = a.assignment().into_iter().collect();
    assert!(
        !a_after.is_disjoint(&a_before),
        "range gives a some of its old partitions back, and eager had revoked those too"
    );
    let seen = poll_until(&mut a, Duration::from_secs(10), |seen| {
        seen.iter().map(|s| &s.0).collect::<BTreeSet<_>>().len() == a_after.len()
    });
    for (tp, _, _) in &seen {
        assert!(a_after.contains(tp));
    }
}
