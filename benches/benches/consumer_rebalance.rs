//! A ninth member joining a cooperative group (issue 5): how long until the group is stable
//! again, and which partitions stopped meanwhile. A plain `main` (not criterion): a round
//! takes a group of threads, and what is measured is when the last of them got its final
//! assignment. Prints a table and writes it as JSON to `target/consumer_rebalance.json`.
//!
//! Each round: 8 members of a new group subscribe to a topic of 64 partitions with
//! `cooperative-sticky` and a 10 ms heartbeat interval, each in its own thread polling in a
//! loop; once they are stable (8 partitions each), a ninth member subscribes. Measured: from
//! just before the ninth member is created to the moment the last of the nine applied its
//! assignment of the final generation (the group is then stable: every partition owned,
//! every member in the group's generation). Target: ≤ 10 ms (median of the rounds).
//!
//! Checked in every round (the run fails otherwise): the partitions revoked during the
//! rebalance are exactly those whose owner changed, and no other partition was revoked,
//! lost, or assigned anew: the rest were owned throughout. How long the moved partitions
//! were without an owner (revoked by the old owner → assigned to the new one) is reported.
//!
//! Baseline, same run: the `cooperative-sticky` assignor alone on the same input (9 members,
//! 64 partitions, 8 of the members owning the previous assignment), median of many runs.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use silt_consumer::assignor::{self, Subscription};
use silt_consumer::{
    Consumer, ConsumerConfig, ConsumerExt, GroupState, OffsetReset, RebalanceListener,
    TopicPartition,
};
use silt_engine::{Engine, EngineConfig, NewTopic};

const PARTITIONS: u32 = 64;
const MEMBERS: usize = 8;
const HEARTBEAT_INTERVAL_MS: u64 = 10;
/// A member's poll timeout: polls sleep until records or group changes wake them, so this
/// only bounds how long a member takes to notice the end of the round.
const POLL_TIMEOUT: Duration = Duration::from_millis(5);
/// Bound on waiting for a group to settle (reaching it fails the run).
const SETTLE_TIMEOUT: Duration = Duration::from_secs(30);
const TARGET_STABLE_MS: f64 = 10.0;
const ASSIGNOR_RUNS: usize = 2_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Revoked,
    Assigned,
    Lost,
}

#[derive(Debug, Clone)]
struct Event {
    member: usize,
    kind: Kind,
    partitions: Vec<TopicPartition>,
    at: Instant,
}

/// What each member last applied: written by its rebalance listener, read by the main thread.
#[derive(Debug, Clone)]
struct Slot {
    member_id: Option<String>,
    generation: i32,
    assignment: BTreeSet<TopicPartition>,
    at: Instant,
}

struct Shared {
    slots: Mutex<Vec<Option<Slot>>>,
    events: Mutex<Vec<Event>>,
    stop: AtomicBool,
}

/// A member's listener: logs every call, and publishes the assignment it applied.
struct Listener {
    member: usize,
    shared: Arc<Shared>,
}

impl Listener {
    fn log(&self, kind: Kind, partitions: &[TopicPartition]) {
        let event = Event {
            member: self.member,
            kind,
            partitions: partitions.to_vec(),
            at: Instant::now(),
        };
        self.shared.events.lock().expect("events").push(event);
    }
}

impl RebalanceListener for Listener {
    fn on_partitions_revoked(&mut self, _: &mut Consumer, partitions: &[TopicPartition]) {
        self.log(Kind::Revoked, partitions);
    }

    fn on_partitions_assigned(&mut self, consumer: &mut Consumer, partitions: &[TopicPartition]) {
        let at = Instant::now();
        self.log(Kind::Assigned, partitions);
        let slot = Slot {
            member_id: consumer.member_id().map(str::to_string),
            generation: consumer.generation(),
            assignment: consumer.assignment().into_iter().collect(),
            at,
        };
        if let Some(s) = self
            .shared
            .slots
            .lock()
            .expect("slots")
            .get_mut(self.member)
        {
            *s = Some(slot);
        }
    }

    fn on_partitions_lost(&mut self, _: &mut Consumer, partitions: &[TopicPartition]) {
        self.log(Kind::Lost, partitions);
    }
}

fn member_config(group: &str) -> ConsumerConfig {
    ConsumerConfig {
        heartbeat_interval_ms: HEARTBEAT_INTERVAL_MS,
        enable_auto_commit: false,
        ..ConsumerConfig::with_group(group)
    }
    .auto_offset_reset(OffsetReset::Latest)
    .assignment_strategy("cooperative-sticky")
    .expect("strategy")
}

/// A member's thread: subscribe, then poll until told to stop.
fn run_member(engine: Engine, group: String, member: usize, shared: Arc<Shared>) {
    let mut consumer = engine.consumer(member_config(&group)).expect("consumer");
    let listener = Listener {
        member,
        shared: Arc::clone(&shared),
    };
    consumer.subscribe(&["t"], listener).expect("subscribe");
    while !shared.stop.load(Ordering::Acquire) {
        consumer.poll(POLL_TIMEOUT).expect("poll");
    }
    // Leaving would start rebalances among members that no longer poll: just stop.
    consumer.abandon();
}

/// The slots of `members` once they agree with the group: stable, every member in its
/// generation with the assignment the group gave it, every partition owned. `None` if that
/// does not happen within [`SETTLE_TIMEOUT`].
fn wait_stable(engine: &Engine, group: &str, shared: &Shared, members: usize) -> Option<Vec<Slot>> {
    let deadline = Instant::now() + SETTLE_TIMEOUT;
    while Instant::now() < deadline {
        std::thread::sleep(Duration::from_micros(200));
        let slots: Vec<Slot> = shared
            .slots
            .lock()
            .expect("slots")
            .iter()
            .take(members)
            .flatten()
            .cloned()
            .collect();
        if slots.len() < members || slots.iter().any(|s| s.generation != slots[0].generation) {
            continue;
        }
        let owned: usize = slots.iter().map(|s| s.assignment.len()).sum();
        let distinct: BTreeSet<&TopicPartition> =
            slots.iter().flat_map(|s| &s.assignment).collect();
        if owned != PARTITIONS as usize || distinct.len() != owned {
            continue;
        }
        let Ok(d) = engine.describe_consumer_group(group) else {
            continue;
        };
        let agrees = d.state == GroupState::Stable
            && d.generation == slots[0].generation
            && d.members.len() == members
            && slots.iter().all(|s| {
                d.members.iter().any(|m| {
                    Some(&m.member_id) == s.member_id.as_ref()
                        && m.assignment.iter().collect::<BTreeSet<_>>()
                            == s.assignment.iter().collect()
                })
            });
        if agrees {
            return Some(slots);
        }
    }
    None
}

fn owners(slots: &[Slot]) -> BTreeMap<TopicPartition, usize> {
    slots
        .iter()
        .enumerate()
        .flat_map(|(i, s)| s.assignment.iter().map(move |tp| (tp.clone(), i)))
        .collect()
}

struct Round {
    stable_ms: f64,
    generations: i32,
    moved: usize,
    /// Longest time a moved partition had no owner (revoked → assigned), in ms.
    max_unowned_ms: f64,
}

/// One round in group `group`; panics if a check fails.
fn round(engine: &Engine, group: &str) -> Round {
    let shared = Arc::new(Shared {
        slots: Mutex::new(vec![None; MEMBERS + 1]),
        events: Mutex::new(Vec::new()),
        stop: AtomicBool::new(false),
    });
    let spawn = |member: usize| {
        let (engine, group, shared) = (engine.clone(), group.to_string(), Arc::clone(&shared));
        std::thread::Builder::new()
            .name(format!("member-{member}"))
            .spawn(move || run_member(engine, group, member, shared))
            .expect("spawn member")
    };
    let mut threads: Vec<_> = (0..MEMBERS).map(spawn).collect();
    let before = wait_stable(engine, group, &shared, MEMBERS).expect("8 members settle");
    let before_generation = before[0].generation;
    let before_owners = owners(&before);
    shared.events.lock().expect("events").clear();

    let start = Instant::now();
    threads.push(spawn(MEMBERS));
    let after = wait_stable(engine, group, &shared, MEMBERS + 1).expect("9 members settle");
    let stable = after
        .iter()
        .map(|s| s.at)
        .max()
        .expect("slots")
        .duration_since(start);
    shared.stop.store(true, Ordering::Release);
    for t in threads {
        t.join().expect("member thread");
    }

    let after_owners = owners(&after);
    let moved: BTreeSet<&TopicPartition> = before_owners
        .iter()
        .filter(|(tp, owner)| after_owners.get(*tp) != Some(*owner))
        .map(|(tp, _)| tp)
        .collect();
    let events = shared.events.lock().expect("events").clone();
    let touched = |kind: Kind| -> BTreeSet<&TopicPartition> {
        events
            .iter()
            .filter(|e| e.kind == kind)
            .flat_map(|e| &e.partitions)
            .collect()
    };
    let revoked = touched(Kind::Revoked);
    assert_eq!(
        revoked, moved,
        "revoked partitions differ from the moved ones"
    );
    assert!(
        events.iter().filter(|e| e.kind == Kind::Revoked).all(|e| e
            .partitions
            .iter()
            .all(|tp| before_owners.get(tp) == Some(&e.member))),
        "a partition was revoked from a member that did not own it"
    );
    assert!(touched(Kind::Lost).is_empty(), "partitions were lost");
    assert_eq!(
        touched(Kind::Assigned),
        moved,
        "partitions other than the moved ones were assigned anew"
    );
    assert!(
        after[MEMBERS]
            .assignment
            .iter()
            .all(|tp| moved.contains(tp)),
        "the new member got a partition that did not move"
    );
    let at = |kind: Kind, tp: &TopicPartition| {
        events
            .iter()
            .find(|e| e.kind == kind && e.partitions.contains(tp))
            .map(|e| e.at)
    };
    let max_unowned = moved
        .iter()
        .filter_map(|tp| Some(at(Kind::Assigned, tp)?.duration_since(at(Kind::Revoked, tp)?)))
        .max()
        .unwrap_or_default();
    Round {
        stable_ms: stable.as_secs_f64() * 1e3,
        generations: after[0].generation - before_generation,
        moved: moved.len(),
        max_unowned_ms: max_unowned.as_secs_f64() * 1e3,
    }
}

/// The assignor alone: 9 members over 64 partitions, 8 of them owning an earlier 8-member
/// assignment. Returns the median run time in µs.
fn assignor_median_us(runs: usize) -> f64 {
    let assignor = assignor::by_name("cooperative-sticky").expect("assignor");
    let partitions: BTreeMap<String, u32> = [("t".to_string(), PARTITIONS)].into();
    let subscription = |owned: Vec<TopicPartition>, generation: Option<i32>| Subscription {
        topics: vec!["t".to_string()],
        owned_partitions: owned,
        generation,
        group_instance_id: None,
    };
    let eight: BTreeMap<String, Subscription> = (0..MEMBERS)
        .map(|i| (format!("member-{i}"), subscription(Vec::new(), None)))
        .collect();
    let previous = assignor.assign(&partitions, &eight);
    let mut nine: BTreeMap<String, Subscription> = previous
        .into_iter()
        .map(|(id, owned)| (id, subscription(owned, Some(1))))
        .collect();
    nine.insert(format!("member-{MEMBERS}"), subscription(Vec::new(), None));
    let mut times: Vec<f64> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            let assignment = std::hint::black_box(assignor.assign(&partitions, &nine));
            let took = start.elapsed();
            assert_eq!(assignment.len(), MEMBERS + 1);
            took.as_secs_f64() * 1e6
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// The cargo target directory: a bench runs as `<target>/<profile>/deps/<name>-<hash>`.
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().ok();
    let from_exe = exe.as_deref().and_then(|exe| {
        let deps = exe.parent()?;
        (deps.file_name()? == "deps").then_some(())?;
        Some(deps.parent()?.parent()?.to_path_buf())
    });
    from_exe.unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"))
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let filters: Vec<&String> = args.iter().filter(|a| !a.starts_with('-')).collect();
    if !filters.is_empty()
        && !filters
            .iter()
            .any(|f| "consumer_rebalance".contains(f.as_str()))
    {
        return;
    }
    // `cargo bench` passes --bench; `cargo test` runs bench targets without it: a smoke run.
    let bench = args.iter().any(|a| a == "--bench");
    let (rounds, assignor_runs) = if bench { (7, ASSIGNOR_RUNS) } else { (1, 10) };

    let dir = tempfile::tempdir().expect("tempdir");
    let engine = Engine::open(dir.path(), EngineConfig::default()).expect("open");
    engine
        .create_topic(NewTopic::new("t", PARTITIONS).config("segment.bytes", "1048576"))
        .expect("topic");
    let results: Vec<Round> = (0..rounds)
        .map(|i| round(&engine, &format!("g{i}")))
        .collect();
    let assignor_us = assignor_median_us(assignor_runs);
    engine.close().expect("close");

    let stable_ms = median(results.iter().map(|r| r.stable_ms).collect());
    let unowned_ms = median(results.iter().map(|r| r.max_unowned_ms).collect());
    let all_ms: Vec<String> = results
        .iter()
        .map(|r| format!("{:.2}", r.stable_ms))
        .collect();
    println!(
        "consumer_rebalance: a 9th member joins a cooperative-sticky group of 8 over {PARTITIONS} \
         partitions (heartbeat.interval.ms={HEARTBEAT_INTERVAL_MS}), median of {rounds} rounds"
    );
    println!(
        "  stable again after          {stable_ms:>8.2} ms   target ≤ {TARGET_STABLE_MS} ms: {}  (rounds: {})",
        if stable_ms <= TARGET_STABLE_MS { "PASS" } else { "FAIL" },
        all_ms.join(", ")
    );
    let r = &results[0];
    println!(
        "  generations, moved          {:>8}      {} partitions moved; revoked = moved, the other {} owned throughout (checked every round)",
        r.generations,
        r.moved,
        PARTITIONS as usize - r.moved
    );
    println!("  moved partitions unowned    {unowned_ms:>8.2} ms   (longest, revoke → new owner)");
    println!("  assignor alone (baseline)   {:>8.2} ms   ({assignor_us:.1} µs, median of {assignor_runs} runs)", assignor_us / 1e3);
    if !bench {
        println!("\n(smoke run: pass --bench, as `cargo bench` does, for the real figures)");
        return;
    }
    let json = format!(
        "{{\n  \"partitions\": {PARTITIONS},\n  \"members_before\": {MEMBERS},\n  \"rounds\": {rounds},\n  \"stable_ms_median\": {stable_ms:.3},\n  \"stable_ms_rounds\": [{}],\n  \"moved_partitions\": {},\n  \"moved_unowned_ms_median\": {unowned_ms:.3},\n  \"assignor_us_median\": {assignor_us:.2},\n  \"target_stable_ms\": {TARGET_STABLE_MS}\n}}\n",
        all_ms.join(", "),
        r.moved
    );
    let path = target_dir().join("consumer_rebalance.json");
    match std::fs::write(&path, json) {
        Ok(()) => println!("\nwrote {}", path.display()),
        Err(e) => eprintln!("\ncould not write {}: {e}", path.display()),
    }
}
