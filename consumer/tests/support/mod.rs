//! Helpers shared by the consumer tests.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use silt_consumer::{Consumer, TopicPartition};
use silt_engine::{Engine, EngineConfig, NewTopic, ProducerConfig, ProducerRecord};

pub fn open(dir: &Path) -> Engine {
    Engine::open(dir, EngineConfig::default()).unwrap()
}

pub fn topic(engine: &Engine, name: &str, partitions: u32) {
    engine
        .create_topic(NewTopic::new(name, partitions).config("segment.bytes", "1048576"))
        .unwrap();
}

/// Produces `n` records with values `{prefix}{i}` round robin over the partitions of
/// `topic` (explicit partitions, so the placement is known), and waits for them.
pub fn produce(engine: &Engine, topic: &str, partitions: u32, prefix: &str, n: usize) {
    let producer = engine.producer(ProducerConfig::default()).unwrap();
    for i in 0..n {
        producer
            .send(
                ProducerRecord::new(topic)
                    .partition((i % partitions as usize) as u32)
                    .key(&format!("k{i}"))
                    .value(&format!("{prefix}{i}")),
            )
            .unwrap();
    }
    producer.close().unwrap();
}

/// Polls until `f` says stop or `timeout` passes; returns (partition, offset, value) of
/// every record seen.
pub fn poll_until(
    consumer: &mut Consumer,
    timeout: Duration,
    mut stop: impl FnMut(&[(TopicPartition, i64, String)]) -> bool,
) -> Vec<(TopicPartition, i64, String)> {
    let deadline = Instant::now() + timeout;
    let mut seen = Vec::new();
    while !stop(&seen) && Instant::now() < deadline {
        let records = consumer.poll(Duration::from_millis(20)).unwrap();
        for r in records.iter() {
            seen.push((
                TopicPartition::new(r.topic, r.partition),
                r.offset,
                String::from_utf8(r.value.unwrap_or_default().to_vec()).unwrap(),
            ));
        }
    }
    seen
}

/// Polls until `n` records arrived (or 30 s).
pub fn poll_n(consumer: &mut Consumer, n: usize) -> Vec<(TopicPartition, i64, String)> {
    poll_until(consumer, Duration::from_secs(30), |seen| seen.len() >= n)
}

/// Waits up to `timeout` for `f` to hold, polling every consumer in `consumers` meanwhile
/// (their group business happens in poll).
pub fn settle(
    consumers: &mut [&mut Consumer],
    timeout: Duration,
    mut f: impl FnMut(&[&mut Consumer]) -> bool,
) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        for c in consumers.iter_mut() {
            let _ = c.poll(Duration::from_millis(1)).unwrap().len();
        }
        if f(consumers) {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
    }
}

pub fn assignment_sizes(consumers: &[&mut Consumer]) -> Vec<usize> {
    consumers.iter().map(|c| c.assignment().len()).collect()
}

/// Values per partition, in offset order.
pub fn by_partition(seen: &[(TopicPartition, i64, String)]) -> BTreeMap<TopicPartition, Vec<i64>> {
    let mut out: BTreeMap<TopicPartition, Vec<i64>> = BTreeMap::new();
    for (tp, offset, _) in seen {
        out.entry(tp.clone()).or_default().push(*offset);
    }
    out
}

/// Like [`settle`], and also waits until the group is stable with every consumer in its
/// current generation.
pub fn settle_stable(
    engine: &Engine,
    group: &str,
    consumers: &mut [&mut Consumer],
    timeout: Duration,
    mut f: impl FnMut(&[&mut Consumer]) -> bool,
) -> bool {
    use silt_consumer::ConsumerExt;
    settle(consumers, timeout, |cs| {
        let Ok(d) = engine.describe_consumer_group(group) else {
            return false;
        };
        d.state == silt_consumer::GroupState::Stable
            && cs.iter().all(|c| c.generation() == d.generation)
            && f(cs)
    })
}

/// A rebalance listener that records every call into a shared log.
#[derive(Clone, Default)]
pub struct Recorder(pub std::sync::Arc<std::sync::Mutex<Vec<Event>>>);

/// A listener call: its name and partitions.
pub type Event = (String, Vec<TopicPartition>);

impl silt_consumer::RebalanceListener for Recorder {
    fn on_partitions_revoked(&mut self, _: &mut Consumer, p: &[TopicPartition]) {
        self.0.lock().unwrap().push(("revoked".into(), p.to_vec()));
    }
    fn on_partitions_assigned(&mut self, _: &mut Consumer, p: &[TopicPartition]) {
        self.0.lock().unwrap().push(("assigned".into(), p.to_vec()));
    }
    fn on_partitions_lost(&mut self, _: &mut Consumer, p: &[TopicPartition]) {
        self.0.lock().unwrap().push(("lost".into(), p.to_vec()));
    }
}

impl Recorder {
    pub fn take(&self) -> Vec<Event> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}
