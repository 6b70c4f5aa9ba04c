//! Topic churn: scratch topics created and deleted every few dozen milliseconds, under a few
//! names that keep coming back, while one producer (kept across incarnations) writes to them,
//! consumers read them, and the maintenance threads walk every partition of the engine.
//!
//! Each creation writes records tagged with the topic's incarnation, then
//! - a standalone consumer reads them back (all of them above the log start, each with its
//!   bytes and at its acknowledged offset);
//! - a subscribed consumer (its own group, no commits) must come to read the new
//!   incarnation, and never an older incarnation of a name after a newer one.
//!
//! Each deletion races the producer's in-flight batches and an assigned consumer. What may
//! fail, fails with a typed error (`UnknownTopic`, `UnknownPartition`, a batch failed for one
//! of these): never an I/O error, a corrupt read, or a panic. After the deletion, sends,
//! lookups and descriptions of the topic are `UnknownTopic`.

use std::collections::BTreeMap;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use silt_consumer::{
    Consumer, ConsumerConfig, ConsumerError, ConsumerExt, NoopListener, OffsetReset, TopicPartition,
};
use silt_engine::config::Acks;
use silt_engine::{EngineError, Producer, ProducerConfig, ProducerRecord};

use super::records::{scratch_decode, scratch_topic, scratch_value, SCRATCH_NAMES};
use super::rng::Rng;
use super::world::{is_gone, Stats, World};

/// Records written to each incarnation, and more sent as it is deleted.
const RECORDS: u64 = 24;
const DOOMED_RECORDS: u64 = 8;
/// Bound on each wait for a consumer to read what it must.
const READ_BOUND: Duration = Duration::from_secs(15);

pub fn spawn(world: &World) -> JoinHandle<()> {
    let world = world.clone();
    std::thread::Builder::new()
        .name("soak-churner".into())
        .spawn(move || Churner::new(world).run())
        .unwrap()
}

fn consumer_gone(e: &ConsumerError) -> bool {
    matches!(e, ConsumerError::Engine(e) if is_gone(e))
}

struct Churner {
    world: World,
    rng: Rng,
    producer: Producer,
    /// Subscribed to every scratch name, in group `soak-scratch`.
    watcher: Consumer,
    /// Name → (incarnation, partitions) of the scratch topics that exist.
    live: BTreeMap<String, (u64, u32)>,
    /// Highest incarnation of each name the watcher returned.
    watched: BTreeMap<String, u64>,
    next_incarnation: u64,
}

impl Churner {
    fn new(world: World) -> Churner {
        let producer = world
            .engine
            .producer(ProducerConfig {
                acks: Acks::Leader,
                linger_ms: 0,
                ..ProducerConfig::default()
            })
            .unwrap();
        let config = ConsumerConfig::with_group("soak-scratch")
            .auto_offset_reset(OffsetReset::Earliest)
            .enable_auto_commit(false);
        let mut watcher = world.engine.consumer(config).unwrap();
        let names: Vec<String> = (0..SCRATCH_NAMES).map(|i| format!("scratch-{i}")).collect();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        watcher.subscribe(&names, NoopListener).unwrap();
        Churner {
            rng: Rng::for_actor(world.seed, 5),
            world,
            producer,
            watcher,
            live: BTreeMap::new(),
            watched: BTreeMap::new(),
            next_incarnation: 1,
        }
    }

    fn run(mut self) {
        while !self.world.stopping() {
            let pause = self.rng.millis(20, 60);
            self.world.pace(pause);
            let name = format!("scratch-{}", self.rng.below(SCRATCH_NAMES));
            if self.live.contains_key(&name) {
                self.delete(&name);
                // Often the name comes back at once: whoever held the old topic must notice.
                if self.rng.chance(50) {
                    self.create(&name);
                }
            } else {
                self.create(&name);
            }
            self.watch();
        }
        let names: Vec<String> = self.live.keys().cloned().collect();
        for name in names {
            self.delete(&name);
        }
        if let Err(e) = self.watcher.close() {
            self.world
                .violation(format!("churner: closing the watcher: {e}"));
        }
        if let Err(e) = self.producer.close() {
            self.world
                .violation(format!("churner: closing the producer: {e}"));
        }
    }

    fn create(&mut self, name: &str) {
        let world = self.world.clone();
        let incarnation = self.next_incarnation;
        self.next_incarnation += 1;
        let partitions = 1 + self.rng.below(3) as u32;
        let compact = self.rng.chance(30);
        if let Err(e) = world
            .engine
            .create_topic(scratch_topic(name, partitions, compact))
        {
            return world.violation(format!("create_topic({name}): {e}"));
        }
        Stats::add(&world.stats.topics_created, 1);
        self.live
            .insert(name.to_string(), (incarnation, partitions));
        // Write, and wait for every acknowledgment: the topic exists throughout.
        let mut acked: BTreeMap<(u32, i64), u64> = BTreeMap::new();
        let mut deliveries = Vec::new();
        for i in 0..RECORDS {
            let (key, value) = (format!("k{i}"), scratch_value(name, incarnation, i));
            let record = ProducerRecord::new(name)
                .partition((i % u64::from(partitions)) as u32)
                .key(&key)
                .value(&value);
            match self.producer.send(record) {
                Ok(d) => deliveries.push((i, d)),
                Err(e) => return world.violation(format!("send to new topic {name}: {e}")),
            }
        }
        for (i, d) in deliveries {
            match d.wait() {
                Ok(meta) => {
                    acked.insert((meta.partition, meta.offset), i);
                }
                Err(e) => return world.violation(format!("record {i} to new topic {name}: {e}")),
            }
        }
        self.read_back(name, incarnation, partitions, &acked);
        // The watcher must come to read this incarnation.
        let deadline = Instant::now() + READ_BOUND;
        let key = name.to_string();
        while self.watched.get(&key) != Some(&incarnation) {
            if Instant::now() > deadline {
                return world.violation(format!(
                    "the watcher never read incarnation {incarnation} of {name} (last read: {:?}; assigned {:?})",
                    self.watched.get(&key),
                    self.watcher.assignment()
                ));
            }
            self.watch();
        }
    }

    /// A standalone consumer reads the new topic: every acknowledged record at or above the
    /// log start, at its offset, tagged with this incarnation.
    fn read_back(
        &mut self,
        name: &str,
        incarnation: u64,
        partitions: u32,
        acked: &BTreeMap<(u32, i64), u64>,
    ) {
        let world = &self.world;
        let tps: Vec<TopicPartition> = (0..partitions)
            .map(|p| TopicPartition::new(name, p))
            .collect();
        let config = ConsumerConfig::default().auto_offset_reset(OffsetReset::Earliest);
        let mut reader = world.engine.consumer(config).unwrap();
        reader.assign(&tps).unwrap();
        let mut read: BTreeMap<(u32, i64), u64> = BTreeMap::new();
        let deadline = Instant::now() + READ_BOUND;
        let ends: Vec<i64> = tps
            .iter()
            .map(|tp| {
                world
                    .engine
                    .log(name, tp.partition)
                    .unwrap()
                    .log_end_offset()
                    .unwrap()
            })
            .collect();
        while tps
            .iter()
            .zip(&ends)
            .any(|(tp, end)| reader.position(tp).unwrap() < *end)
        {
            if Instant::now() > deadline {
                return world.violation(format!("{name}: could not read to {ends:?}"));
            }
            let records = match reader.poll(Duration::from_millis(10)) {
                Ok(records) => records,
                Err(e) => return world.violation(format!("{name}: poll: {e}")),
            };
            for r in records.iter() {
                match scratch_decode(name, r.value) {
                    Some((inc, i)) if inc == incarnation => {
                        read.insert((r.partition, r.offset), i);
                    }
                    other => world.violation(format!(
                        "{name}-{}@{}: read {other:?} in incarnation {incarnation}",
                        r.partition, r.offset
                    )),
                }
            }
        }
        for (&(p, offset), &i) in acked {
            let start = world.engine.log(name, p).unwrap().log_start_offset();
            match read.get(&(p, offset)) {
                Some(&got) if got == i => {}
                None if offset < start => {}
                other => world.violation(format!(
                    "{name}-{p}@{offset}: record {i} acknowledged there, read back {other:?}"
                )),
            }
        }
        Stats::add(&world.stats.invariant_checks, acked.len() as u64);
    }

    /// Deletes `name` while records are in flight to it and a consumer is assigned to it.
    fn delete(&mut self, name: &str) {
        let world = self.world.clone();
        let Some((incarnation, partitions)) = self.live.remove(name) else {
            return;
        };
        let tps: Vec<TopicPartition> = (0..partitions)
            .map(|p| TopicPartition::new(name, p))
            .collect();
        let config = ConsumerConfig::default().auto_offset_reset(OffsetReset::Earliest);
        let mut doomed = world.engine.consumer(config).unwrap();
        doomed.assign(&tps).unwrap();
        self.poll_doomed(&mut doomed, name, incarnation);
        let mut in_flight = Vec::new();
        for i in RECORDS..RECORDS + DOOMED_RECORDS {
            let value = scratch_value(name, incarnation, i);
            match self
                .producer
                .send(ProducerRecord::new(name).key("k").value(&value))
            {
                Ok(d) => in_flight.push(d),
                Err(e) => world.violation(format!("send to {name} before deleting it: {e}")),
            }
        }
        if let Err(e) = world.engine.delete_topic(name) {
            return world.violation(format!("delete_topic({name}): {e}"));
        }
        Stats::add(&world.stats.topics_deleted, 1);
        for d in in_flight {
            match d.wait() {
                Ok(_) => {}
                Err(e) if is_gone(&e) => Stats::add(&world.stats.typed_errors, 1),
                Err(e) => world.violation(format!("record to {name} as it was deleted: {e}")),
            }
        }
        self.poll_doomed(&mut doomed, name, incarnation);
        drop(doomed);
        match self.producer.send(ProducerRecord::new(name).value("late")) {
            Err(EngineError::UnknownTopic { .. }) => Stats::add(&world.stats.typed_errors, 1),
            Err(e) => world.violation(format!("send to deleted {name}: {e}")),
            Ok(_) => world.violation(format!("send to deleted {name} was accepted")),
        }
        if !matches!(
            world.engine.log(name, 0),
            Err(EngineError::UnknownTopic { .. })
        ) {
            world.violation(format!("{name} still has a log after its deletion"));
        }
        if !matches!(
            world.engine.describe_topic(name),
            Err(EngineError::UnknownTopic { .. })
        ) {
            world.violation(format!("{name} is still described after its deletion"));
        }
        Stats::add(&world.stats.invariant_checks, 3);
    }

    /// A poll of a consumer assigned to a topic being deleted: records of this incarnation
    /// only, or a typed error.
    fn poll_doomed(&self, doomed: &mut Consumer, name: &str, incarnation: u64) {
        match doomed.poll(Duration::from_millis(1)) {
            Ok(records) => {
                for r in records.iter() {
                    if scratch_decode(name, r.value).map(|(inc, _)| inc) != Some(incarnation) {
                        self.world.violation(format!(
                            "{name}-{}@{}: a consumer of incarnation {incarnation} read {:?}",
                            r.partition,
                            r.offset,
                            String::from_utf8_lossy(r.value.unwrap_or_default())
                        ));
                    }
                }
            }
            Err(e) if consumer_gone(&e) => Stats::add(&self.world.stats.typed_errors, 1),
            Err(e) => self
                .world
                .violation(format!("poll of {name} as it was deleted: {e}")),
        }
    }

    /// One poll of the watcher: no record of a name is of an older incarnation than one it
    /// returned before.
    fn watch(&mut self) {
        let world = self.world.clone();
        let records = match self.watcher.poll(Duration::from_millis(5)) {
            Ok(records) => records,
            Err(e) if consumer_gone(&e) => return Stats::add(&world.stats.typed_errors, 1),
            Err(e) => return world.violation(format!("watcher poll: {e}")),
        };
        for r in records.iter() {
            let Some((inc, _)) = scratch_decode(r.topic, r.value) else {
                world.violation(format!(
                    "watcher: {}-{}@{}: not a scratch record",
                    r.topic, r.partition, r.offset
                ));
                continue;
            };
            let newest = self.watched.entry(r.topic.to_string()).or_insert(0);
            if inc < *newest {
                world.violation(format!(
                    "watcher: {}-{}@{} is of incarnation {inc}, after incarnation {newest}",
                    r.topic, r.partition, r.offset
                ));
            }
            *newest = (*newest).max(inc);
        }
    }
}
