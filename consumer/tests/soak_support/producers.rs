//! The two producers: `acks=1` (acknowledgments through callbacks, explicit partitions) and
//! `acks=all` (acknowledgments through `Delivery` handles, the sticky partitioner). Each
//! writes records whose value encodes (producer, sequence) to the plain topic, and every
//! fourth record also under one of its keys to the compacted topic; every acknowledged
//! (partition, offset, value) goes to the ledger, which checks that no offset is handed out
//! twice and that a key's acknowledgments come at rising offsets.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use silt_engine::config::Acks;
use silt_engine::{
    Delivery, EngineError, Producer, ProducerConfig, ProducerRecord, RecordMetadata,
};

use super::ledger::KeyAck;
use super::records::{id, key, value, COMPACTED, PLAIN, PLAIN_PARTITIONS};
use super::rng::Rng;
use super::world::{Stats, World};

/// Records per burst, and the pause between bursts: about 900 records a second each.
const BURST: u64 = 20;
const PAUSE: Duration = Duration::from_millis(20);
/// Most deliveries the `acks=all` producer leaves unanswered before it waits.
const MAX_IN_FLIGHT: usize = 512;
/// Bound on waiting for the last acknowledgments at the end.
const DRAIN: Duration = Duration::from_secs(30);

/// Where a record went.
#[derive(Debug, Clone)]
enum Target {
    Plain,
    Keyed(String),
}

pub fn spawn(world: &World, pid: u64) -> JoinHandle<()> {
    let world = world.clone();
    std::thread::Builder::new()
        .name(format!("soak-producer-{pid}"))
        .spawn(move || run(world, pid))
        .unwrap()
}

fn run(world: World, pid: u64) {
    let acks = if pid == 0 { Acks::Leader } else { Acks::All };
    let config = ProducerConfig {
        acks,
        linger_ms: 2,
        batch_size: 2048,
        ..ProducerConfig::default()
    };
    let producer = world.engine.producer(config).unwrap();
    let mut rng = Rng::for_actor(world.seed, 10 + pid);
    let outstanding = Arc::new(AtomicU64::new(0));
    let mut in_flight: VecDeque<(Target, u64, Delivery)> = VecDeque::new();
    let mut seq = 0u64;
    while !world.stopping() {
        for _ in 0..BURST {
            seq += 1;
            let rid = id(pid, seq);
            let v = value(rid);
            let keyed = seq.is_multiple_of(4);
            let mut plain = ProducerRecord::new(PLAIN).value(&v);
            if acks == Acks::Leader {
                plain = plain.partition(rng.below(u64::from(PLAIN_PARTITIONS)) as u32);
            }
            let k = key(pid, seq);
            let compacted = ProducerRecord::new(COMPACTED).key(&k).value(&v);
            for (record, target) in [
                (Some(plain), Target::Plain),
                (keyed.then_some(compacted), Target::Keyed(k.clone())),
            ] {
                let Some(record) = record else { continue };
                Stats::add(&world.stats.produced, 1);
                if acks == Acks::Leader {
                    let (w, out) = (world.clone(), Arc::clone(&outstanding));
                    out.fetch_add(1, Ordering::AcqRel);
                    let sent = producer.send_with_callback(record, move |result| {
                        acknowledged(&w, &target, rid, result);
                        out.fetch_sub(1, Ordering::AcqRel);
                    });
                    if let Err(e) = sent {
                        outstanding.fetch_sub(1, Ordering::AcqRel);
                        world.violation(format!("producer {pid}: send failed: {e}"));
                    }
                } else {
                    match producer.send(record) {
                        Ok(delivery) => in_flight.push_back((target, rid, delivery)),
                        Err(e) => world.violation(format!("producer {pid}: send failed: {e}")),
                    }
                }
            }
        }
        while let Some((_, _, d)) = in_flight.front() {
            if !d.is_done() && in_flight.len() <= MAX_IN_FLIGHT {
                break;
            }
            let (target, rid, d) = in_flight.pop_front().unwrap();
            acknowledged(&world, &target, rid, d.wait());
        }
        world.pace(PAUSE);
    }
    finish(&world, pid, &producer, in_flight, &outstanding);
}

/// Waits for every acknowledgment, then closes.
fn finish(
    world: &World,
    pid: u64,
    producer: &Producer,
    in_flight: VecDeque<(Target, u64, Delivery)>,
    outstanding: &AtomicU64,
) {
    if let Err(e) = producer.flush() {
        world.violation(format!("producer {pid}: flush failed: {e}"));
    }
    for (target, rid, d) in in_flight {
        acknowledged(world, &target, rid, d.wait());
    }
    if let Err(e) = producer.close() {
        world.violation(format!("producer {pid}: close failed: {e}"));
    }
    let deadline = Instant::now() + DRAIN;
    while outstanding.load(Ordering::Acquire) > 0 {
        if Instant::now() > deadline {
            return world.violation(format!(
                "producer {pid}: {} callbacks never ran",
                outstanding.load(Ordering::Acquire)
            ));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn acknowledged(
    world: &World,
    target: &Target,
    rid: u64,
    result: Result<RecordMetadata, EngineError>,
) {
    let meta = match result {
        Ok(meta) => meta,
        Err(e) => return world.violation(format!("record {rid:#x} to {target:?} failed: {e}")),
    };
    Stats::add(&world.stats.acked, 1);
    let recorded = match target {
        Target::Plain => world.ledger.ack(meta.partition, meta.offset, rid),
        Target::Keyed(k) => world.ledger.ack_key(
            k,
            KeyAck {
                partition: meta.partition,
                offset: meta.offset,
                id: rid,
            },
        ),
    };
    if let Err(e) = recorded {
        world.violation(e);
    }
}
