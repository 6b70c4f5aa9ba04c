//! A sequence of consumer-group operations (structured, via `arbitrary`) over one engine:
//! members join group `g` (any assignor, static or dynamic, short or long sessions, any
//! subscription), poll, commit (their positions, or arbitrary offsets and metadata), seek,
//! pause, unsubscribe, close and crash (`abandon`); standalone consumers `assign` partitions
//! and commit to the same group; records are produced, partitions added and topics created
//! and deleted under the group; the group is described, its offsets altered and deleted; and
//! the engine is closed and reopened, which replays `__consumer_offsets`. All in the fuzzing
//! thread, with zero poll timeouts, so a run takes milliseconds.
//!
//! Invariants:
//! - no panic, and no error that means a bug (I/O, corruption, a record of the offsets log
//!   that does not decode);
//! - ownership, kept by each member's rebalance listener, never has two members holding a
//!   partition at once, and a poll returns records only from partitions its member holds
//!   (except where Kafka does not promise it: a member expired while still running, a zombie,
//!   which only members with a short session can become; a static member replaced by a new
//!   consumer with its `group.instance.id`);
//! - after the group settles with only live members, every partition of the subscribed
//!   topics is owned by exactly one member, and the listeners agree with the coordinator;
//! - what a successful commit committed is what the group reports, and a reopen (an op, and
//!   at the end of every run that committed) replays it.
#![no_main]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use silt_consumer::{
    CommittedOffset, Consumer, ConsumerConfig, ConsumerError, ConsumerExt, GroupState, OffsetReset,
    RebalanceListener, TopicPartition,
};
use silt_engine::{Engine, EngineConfig, EngineError, NewTopic};
use silt_segment::batch::{BatchBuilder, BatchConfig};

const MAX_OPS: usize = 48;
const SLOTS: usize = 4;
const GROUP: &str = "g";
/// Topics members subscribe to; the last one does not exist until an op creates it.
const TOPICS: [&str; 3] = ["t", "u", "w"];
const STRATEGIES: [&str; 5] = [
    "range",
    "roundrobin",
    "sticky",
    "cooperative-sticky",
    "range,cooperative-sticky",
];
/// A short session: such a member can expire within a run, by a crash or by a late heartbeat.
const SHORT_SESSION_MS: u64 = 120;
const LONG_SESSION_MS: u64 = 45_000;
/// Longest a `Settle` waits for the group, in wall time.
const SETTLE: Duration = Duration::from_millis(250);

#[derive(Arbitrary, Debug)]
enum Offset {
    Position,
    Raw(i64),
    Small(u8),
}

#[derive(Arbitrary, Debug)]
enum Op {
    Join {
        slot: u8,
        strategy: u8,
        instance: Option<bool>,
        short_session: bool,
        topics: u8,
        reset: u8,
    },
    Assign {
        slot: u8,
        partitions: u8,
    },
    Poll {
        slot: u8,
    },
    /// Commits the member's positions, or `offset` for its assigned partitions and
    /// `topic`-`partition` (a member may commit any partition; the group checks only its
    /// generation).
    Commit {
        slot: u8,
        offset: Offset,
        metadata_bytes: u16,
        topic: u8,
        partition: u8,
    },
    Seek {
        slot: u8,
        partition: u8,
        offset: i64,
    },
    Pause {
        slot: u8,
        resume: bool,
    },
    Unsubscribe {
        slot: u8,
    },
    Close {
        slot: u8,
    },
    Abandon {
        slot: u8,
    },
    Produce {
        topic: u8,
        partition: u8,
        records: u8,
    },
    AddPartitions {
        topic: u8,
        total: u8,
    },
    CreateTopic {
        topic: u8,
        partitions: u8,
    },
    DeleteTopic {
        topic: u8,
    },
    Describe,
    AlterOffsets {
        topic: u8,
        partition: u8,
        offset: i64,
    },
    DeleteGroup,
    Settle,
    Reopen,
}

/// Who owns what, as the members' listeners report it.
#[derive(Debug, Default)]
struct Table {
    owners: BTreeMap<TopicPartition, usize>,
    /// Members that may hold partitions the group already gave to another without a
    /// violation (Kafka's zombies): those with a short session, which may expire while they
    /// run, and static members sharing their `group.instance.id` with another consumer (the
    /// one that joins last fences the other).
    zombies: BTreeSet<usize>,
    /// Static members' instance ids.
    instance: BTreeMap<usize, String>,
    violations: Vec<String>,
}

impl Table {
    fn take(&mut self, me: usize, partitions: &[TopicPartition]) {
        for tp in partitions {
            if let Some(holder) = self.owners.insert(tp.clone(), me) {
                if holder != me && !self.zombies.contains(&holder) {
                    self.violations
                        .push(format!("m{me} was assigned {tp} while m{holder} held it"));
                }
            }
        }
    }

    fn give_back(&mut self, me: usize, partitions: &[TopicPartition], how: &str) {
        for tp in partitions {
            match self.owners.get(tp).copied() {
                Some(owner) if owner == me => {
                    self.owners.remove(tp);
                }
                // A zombie gives back what the group already moved on.
                _ if self.zombies.contains(&me) => {}
                other => self
                    .violations
                    .push(format!("m{me} {how} {tp}, held by {other:?}")),
            }
        }
    }

    fn forget(&mut self, me: usize) {
        self.owners.retain(|_, owner| *owner != me);
    }
}

#[derive(Clone, Default)]
struct Shared(Arc<Mutex<Table>>);

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Table> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

struct Tracker {
    me: usize,
    table: Shared,
}

impl RebalanceListener for Tracker {
    fn on_partitions_assigned(&mut self, _: &mut Consumer, partitions: &[TopicPartition]) {
        self.table.lock().take(self.me, partitions);
    }

    fn on_partitions_revoked(&mut self, _: &mut Consumer, partitions: &[TopicPartition]) {
        self.table.lock().give_back(self.me, partitions, "revoked");
    }

    fn on_partitions_lost(&mut self, _: &mut Consumer, partitions: &[TopicPartition]) {
        self.table.lock().give_back(self.me, partitions, "lost");
    }
}

struct Member {
    consumer: Consumer,
    /// Its ownership id in the table (unique per run, so a slot's next member is another).
    me: usize,
    subscribed: bool,
}

struct Harness {
    dir: tempfile::TempDir,
    engine: Engine,
    slots: Vec<Option<Member>>,
    table: Shared,
    next_member: usize,
    /// The group's committed offsets, as the last successful commit left them.
    committed: BTreeMap<TopicPartition, CommittedOffset>,
    /// Members that left without leaving (crashed, or static and closed): the group holds
    /// their partitions until their session ends, so it cannot settle with live members only.
    departed: bool,
}

fuzz_target!(|ops: Vec<Op>| {
    let dir = silt_fuzz::scratch_dir();
    let engine = open(dir.path());
    create(&engine, "t", 3);
    create(&engine, "u", 2);
    let mut h = Harness {
        dir,
        engine,
        slots: (0..SLOTS).map(|_| None).collect(),
        table: Shared::default(),
        next_member: 0,
        committed: BTreeMap::new(),
        departed: false,
    };
    for op in ops.iter().take(MAX_OPS) {
        h.run(op);
        h.assert_no_violation();
    }
    h.settle();
    h.close_all();
    h.assert_no_violation();
    if !h.committed.is_empty() {
        h.reopen();
    }
    h.engine.close().expect("close");
});

fn open(dir: &std::path::Path) -> Engine {
    let mut config = EngineConfig {
        cleaner_enable: false,
        offsets_topic_num_partitions: 3,
        offsets_topic_segment_bytes: 65536,
        ..EngineConfig::default()
    };
    config
        .topic_defaults
        .set("segment.index.bytes", "4096")
        .expect("valid");
    Engine::open(dir, config).expect("open")
}

fn create(engine: &Engine, name: &str, partitions: u32) {
    let topic = NewTopic::new(name, partitions).config("segment.bytes", "65536");
    match engine.create_topic(topic) {
        Ok(()) | Err(EngineError::TopicExists { .. }) => {}
        Err(e) => panic!("create {name}: {e:?}"),
    }
}

/// Errors that only a bug can cause.
fn check(result: Result<(), ConsumerError>, what: &str) {
    if let Err(
        e @ (ConsumerError::Engine(
            EngineError::Io { .. }
            | EngineError::Segment(_)
            | EngineError::Index(_)
            | EngineError::CorruptMetadata { .. },
        )
        | ConsumerError::Segment(_)
        | ConsumerError::CorruptOffsetsRecord { .. }),
    ) = result
    {
        panic!("{what}: {e:?}");
    }
}

fn partitions_of(engine: &Engine, topic: &str) -> u32 {
    engine
        .describe_topic(topic)
        .map_or(0, |d| d.partitions.len() as u32)
}

impl Harness {
    fn member(&mut self, slot: u8) -> Option<&mut Member> {
        self.slots
            .get_mut(usize::from(slot) % SLOTS)
            .and_then(Option::as_mut)
    }

    fn run(&mut self, op: &Op) {
        match op {
            Op::Join {
                slot,
                strategy,
                instance,
                short_session,
                topics,
                reset,
            } => self.join(*slot, *strategy, *instance, *short_session, *topics, *reset),
            Op::Assign { slot, partitions } => self.assign(*slot, *partitions),
            Op::Poll { slot } => {
                self.poll(*slot);
            }
            Op::Commit {
                slot,
                offset,
                metadata_bytes,
                topic,
                partition,
            } => {
                let tp = TopicPartition::new(
                    TOPICS[usize::from(*topic) % TOPICS.len()],
                    u32::from(*partition % 4),
                );
                self.commit(*slot, offset, usize::from(*metadata_bytes), tp);
            }
            Op::Seek {
                slot,
                partition,
                offset,
            } => {
                if let Some(m) = self.member(*slot) {
                    let assigned = m.consumer.assignment();
                    if let Some(tp) = assigned.get(usize::from(*partition) % assigned.len().max(1))
                    {
                        check(m.consumer.seek(tp, *offset), "seek");
                        check(m.consumer.position(tp).map(drop), "position");
                    }
                }
            }
            Op::Pause { slot, resume } => {
                if let Some(m) = self.member(*slot) {
                    let assigned = m.consumer.assignment();
                    let result = if *resume {
                        m.consumer.resume(&assigned)
                    } else {
                        m.consumer.pause(&assigned)
                    };
                    check(result, "pause");
                }
            }
            Op::Unsubscribe { slot } => {
                if let Some(m) = self.member(*slot) {
                    let me = m.me;
                    check(m.consumer.unsubscribe(), "unsubscribe");
                    m.subscribed = false;
                    self.table.lock().forget(me);
                }
            }
            Op::Close { slot } => self.close(*slot),
            Op::Abandon { slot } => {
                if let Some(m) = self
                    .slots
                    .get_mut(usize::from(*slot) % SLOTS)
                    .and_then(Option::take)
                {
                    self.table.lock().forget(m.me);
                    self.departed |= m.subscribed;
                    m.consumer.abandon();
                }
            }
            Op::Produce {
                topic,
                partition,
                records,
            } => self.produce(*topic, *partition, *records),
            Op::AddPartitions { topic, total } => {
                let name = TOPICS[usize::from(*topic) % TOPICS.len()];
                match self.engine.add_partitions(name, u32::from(*total % 6)) {
                    Ok(())
                    | Err(EngineError::UnknownTopic { .. })
                    | Err(EngineError::InvalidPartitionCount { .. }) => {}
                    Err(e) => panic!("add partitions: {e:?}"),
                }
            }
            Op::CreateTopic { topic, partitions } => {
                let name = TOPICS[usize::from(*topic) % TOPICS.len()];
                create(&self.engine, name, u32::from(*partitions % 4) + 1);
            }
            Op::DeleteTopic { topic } => {
                let name = TOPICS[usize::from(*topic) % TOPICS.len()];
                match self.engine.delete_topic(name) {
                    Ok(()) | Err(EngineError::UnknownTopic { .. }) => {}
                    Err(e) => panic!("delete topic: {e:?}"),
                }
            }
            Op::Describe => {
                check(self.engine.list_consumer_groups().map(drop), "list groups");
                check(
                    self.engine.describe_consumer_group(GROUP).map(drop),
                    "describe",
                );
            }
            Op::AlterOffsets {
                topic,
                partition,
                offset,
            } => {
                let tp = TopicPartition::new(
                    TOPICS[usize::from(*topic) % TOPICS.len()],
                    u32::from(*partition % 4),
                );
                let offsets = BTreeMap::from([(tp, CommittedOffset::new(*offset))]);
                let result = self.engine.alter_consumer_group_offsets(GROUP, &offsets);
                if result.is_ok() {
                    self.committed.extend(offsets);
                }
                check(result, "alter offsets");
            }
            Op::DeleteGroup => {
                let result = self.engine.delete_consumer_group(GROUP);
                if result.is_ok() {
                    self.committed.clear();
                }
                check(result, "delete group");
            }
            Op::Settle => self.settle(),
            Op::Reopen => self.reopen(),
        }
    }

    fn join(
        &mut self,
        slot: u8,
        strategy: u8,
        instance: Option<bool>,
        short: bool,
        topics: u8,
        reset: u8,
    ) {
        self.close(slot);
        let me = self.next_member;
        self.next_member += 1;
        let session_timeout_ms = if short {
            SHORT_SESSION_MS
        } else {
            LONG_SESSION_MS
        };
        let mut config = ConsumerConfig {
            session_timeout_ms,
            heartbeat_interval_ms: 30,
            max_poll_records: 7,
            enable_auto_commit: false,
            auto_offset_reset: match reset % 3 {
                0 => OffsetReset::Earliest,
                1 => OffsetReset::Latest,
                _ => OffsetReset::None,
            },
            ..ConsumerConfig::with_group(GROUP)
        };
        config
            .set(
                "partition.assignment.strategy",
                STRATEGIES[usize::from(strategy) % STRATEGIES.len()],
            )
            .expect("a known strategy");
        if let Some(which) = instance {
            config.group_instance_id = Some(format!("i{}", u8::from(which)));
        }
        {
            let mut table = self.table.lock();
            if short {
                table.zombies.insert(me);
            }
            if let Some(id) = &config.group_instance_id {
                // Whichever of two consumers with one instance id joins last fences the
                // other, and joins happen in polls: either may end up the zombie.
                let sharing: Vec<usize> = table
                    .instance
                    .iter()
                    .filter(|(_, other)| *other == id)
                    .map(|(m, _)| *m)
                    .collect();
                if !sharing.is_empty() {
                    table.zombies.extend(sharing);
                    table.zombies.insert(me);
                }
                table.instance.insert(me, id.clone());
            }
        }
        let mut consumer = self.engine.consumer(config).expect("a valid config");
        let names: Vec<&str> = TOPICS
            .iter()
            .enumerate()
            .filter(|(i, _)| topics >> i & 1 == 1)
            .map(|(_, t)| *t)
            .collect();
        let tracker = Tracker {
            me,
            table: self.table.clone(),
        };
        check(consumer.subscribe(&names, tracker), "subscribe");
        self.slots[usize::from(slot) % SLOTS] = Some(Member {
            consumer,
            me,
            subscribed: true,
        });
    }

    fn assign(&mut self, slot: u8, partitions: u8) {
        self.close(slot);
        let me = self.next_member;
        self.next_member += 1;
        let config = ConsumerConfig {
            enable_auto_commit: false,
            auto_offset_reset: OffsetReset::Earliest,
            ..ConsumerConfig::with_group(GROUP)
        };
        let mut consumer = self.engine.consumer(config).expect("a valid config");
        let wanted: Vec<TopicPartition> = (0..8u32)
            .filter(|i| partitions >> i & 1 == 1)
            .map(|i| TopicPartition::new(TOPICS[(i % 2) as usize], i / 2))
            .collect();
        match consumer.assign(&wanted) {
            Ok(()) => {}
            Err(ConsumerError::Engine(
                EngineError::UnknownTopic { .. } | EngineError::UnknownPartition { .. },
            )) => {}
            Err(e) => panic!("assign {wanted:?}: {e:?}"),
        }
        self.slots[usize::from(slot) % SLOTS] = Some(Member {
            consumer,
            me,
            subscribed: false,
        });
    }

    /// Polls the member in `slot`; false if the poll failed in a way that takes it out of
    /// the group for good (no assignor in common with the group, or fenced by a consumer
    /// with its `group.instance.id`).
    fn poll(&mut self, slot: u8) -> bool {
        let table = self.table.clone();
        let Some(m) = self.member(slot) else {
            return true;
        };
        let me = m.me;
        let subscribed = m.subscribed;
        match m.consumer.poll(Duration::ZERO) {
            Ok(records) => {
                let t = table.lock();
                let mut last: BTreeMap<TopicPartition, i64> = BTreeMap::new();
                for r in records.iter() {
                    let tp = TopicPartition::new(r.topic, r.partition);
                    assert!(r.offset >= 0);
                    if let Some(previous) = last.insert(tp.clone(), r.offset) {
                        assert!(r.offset > previous, "{tp}: offsets rise within a poll");
                    }
                    if subscribed && t.owners.get(&tp) != Some(&me) && !t.zombies.contains(&me) {
                        panic!(
                            "m{me} polled {tp}@{} held by {:?}",
                            r.offset,
                            t.owners.get(&tp)
                        );
                    }
                }
            }
            Err(
                ConsumerError::InconsistentGroupProtocol { .. }
                | ConsumerError::FencedInstanceId { .. },
            ) => return false,
            Err(e) => check(Err(e), "poll"),
        }
        true
    }

    fn commit(&mut self, slot: u8, offset: &Offset, metadata_bytes: usize, extra: TopicPartition) {
        let Some(m) = self.member(slot) else {
            return;
        };
        let (result, offsets) = match offset {
            Offset::Position => {
                let assigned = m.consumer.assignment();
                let result = m.consumer.commit_sync();
                let committed = m.consumer.committed(&assigned);
                let offsets: BTreeMap<TopicPartition, CommittedOffset> = match committed {
                    Ok(c) => c.into_iter().filter_map(|(tp, c)| Some((tp, c?))).collect(),
                    Err(e) => {
                        check(Err(e), "committed");
                        BTreeMap::new()
                    }
                };
                (result, offsets)
            }
            Offset::Raw(_) | Offset::Small(_) => {
                let value = match offset {
                    Offset::Raw(o) => *o,
                    Offset::Small(o) => i64::from(*o),
                    Offset::Position => 0,
                };
                let metadata = "é".repeat(metadata_bytes % 20_000);
                let offsets: BTreeMap<TopicPartition, CommittedOffset> = m
                    .consumer
                    .assignment()
                    .into_iter()
                    .chain([extra])
                    .map(|tp| {
                        let mut c = CommittedOffset::new(value);
                        c.metadata.clone_from(&metadata);
                        (tp, c)
                    })
                    .collect();
                (m.consumer.commit_sync_offsets(&offsets), offsets)
            }
        };
        if result.is_ok() {
            self.committed.extend(offsets);
        }
        check(result, "commit");
    }

    fn produce(&mut self, topic: u8, partition: u8, records: u8) {
        let name = TOPICS[usize::from(topic) % TOPICS.len()];
        let partitions = partitions_of(&self.engine, name);
        if partitions == 0 || records == 0 {
            return;
        }
        let mut builder = BatchBuilder::new(BatchConfig::default());
        for i in 0..records % 16 + 1 {
            let key = [i];
            builder
                .append(1_700_000_000_000, Some(&key), Some(b"value"), &[])
                .expect("append");
        }
        let batch = builder.finish().expect("finish");
        let p = u32::from(partition) % partitions;
        match self.engine.append(name, p, &batch) {
            Ok(_) | Err(EngineError::UnknownTopic { .. }) => {}
            Err(e) => panic!("produce: {e:?}"),
        }
    }

    fn close(&mut self, slot: u8) {
        let Some(m) = self
            .slots
            .get_mut(usize::from(slot) % SLOTS)
            .and_then(Option::take)
        else {
            return;
        };
        let me = m.me;
        let static_member = self.table.lock().instance.contains_key(&me);
        self.departed |= m.subscribed && static_member;
        check(m.consumer.close(), "close");
        let mut table = self.table.lock();
        let left: Vec<_> = table
            .owners
            .iter()
            .filter(|(_, o)| **o == me)
            .map(|(tp, _)| tp.clone())
            .collect();
        if !left.is_empty() && !table.zombies.contains(&me) {
            table
                .violations
                .push(format!("m{me} closed still holding {left:?}"));
        }
        table.forget(me);
    }

    fn close_all(&mut self) {
        for slot in 0..SLOTS as u8 {
            self.close(slot);
        }
    }

    /// Polls every member until the group is stable with exactly the live subscribed
    /// members, then checks that they own every partition of their topics, once.
    fn settle(&mut self) {
        let live: Vec<usize> = (0..SLOTS)
            .filter(|&s| self.slots[s].as_ref().is_some_and(|m| m.subscribed))
            .collect();
        if live.is_empty() || self.departed {
            return;
        }
        let deadline = Instant::now() + SETTLE;
        while Instant::now() < deadline {
            for &s in &live {
                if !self.poll(s as u8) {
                    return; // a member that cannot be in the group: it cannot settle
                }
            }
            let Ok(d) = self.engine.describe_consumer_group(GROUP) else {
                continue;
            };
            let members = |s: &usize| self.slots[*s].as_ref().map(|m| &m.consumer);
            let settled = d.state == GroupState::Stable
                && d.members.len() == live.len()
                && live
                    .iter()
                    .filter_map(members)
                    .all(|c| c.generation() == d.generation && c.member_id().is_some());
            if !settled {
                continue;
            }
            // Every member of the generation holds exactly what the coordinator gave it.
            let mut owned: BTreeMap<TopicPartition, usize> = BTreeMap::new();
            let table = self.table.lock();
            for c in live.iter().filter_map(members) {
                let id = c.member_id().unwrap_or_default();
                let Some(desc) = d.members.iter().find(|m| m.member_id == id) else {
                    return; // a zombie's id: the group moved on without it
                };
                let mut mine = c.assignment();
                mine.sort();
                let mut given = desc.assignment.clone();
                given.sort();
                if mine != given {
                    return; // a cooperative second round is still to come
                }
                for tp in mine {
                    assert!(owned.insert(tp.clone(), 0).is_none(), "{tp} owned twice");
                }
            }
            let subscribed: BTreeSet<&str> = live
                .iter()
                .filter_map(members)
                .flat_map(|c| c.subscription())
                .filter_map(|t| TOPICS.iter().copied().find(|n| *n == t))
                .collect();
            for topic in subscribed {
                for p in 0..partitions_of(&self.engine, topic) {
                    let tp = TopicPartition::new(topic, p);
                    assert!(owned.contains_key(&tp), "{tp} is owned by no member");
                    let holder = table.owners.get(&tp);
                    assert!(holder.is_some(), "no listener holds {tp}");
                }
            }
            return;
        }
    }

    fn reopen(&mut self) {
        self.close_all();
        self.engine.close().expect("close");
        self.engine = open(self.dir.path());
        self.departed = false;
        if self.committed.is_empty() {
            return;
        }
        let reader = self
            .engine
            .consumer(ConsumerConfig::with_group(GROUP))
            .expect("a consumer");
        let partitions: Vec<TopicPartition> = self.committed.keys().cloned().collect();
        let found = reader
            .committed(&partitions)
            .expect("committed offsets replay");
        for (tp, expected) in &self.committed {
            let got = found.get(tp).cloned().flatten();
            let got = got.map(|c| (c.offset, c.metadata));
            let want = Some((expected.offset, expected.metadata.clone()));
            assert_eq!(got, want, "{tp}: the committed offset survives a reopen");
        }
    }

    fn assert_no_violation(&self) {
        let t = self.table.lock();
        assert!(t.violations.is_empty(), "{:#?}", t.violations);
    }
}
