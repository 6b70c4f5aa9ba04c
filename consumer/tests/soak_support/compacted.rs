//! The compacted topic's invariant: the last acknowledged record of every key is readable
//! (it, or a later record of the key), whatever the cleaner did. Read through a standalone
//! consumer from the log start to the end, over segments the cleaner may be swapping.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use silt_consumer::{Consumer, ConsumerConfig, ConsumerExt, OffsetReset, TopicPartition};
use silt_engine::Engine;

use super::records::{decode, describe_id, key, COMPACTED, COMPACTED_PARTITIONS};
use super::world::{Stats, World};

/// Bound on one read of the whole topic.
const READ_BOUND: Duration = Duration::from_secs(20);

pub struct CompactedReader {
    engine: Engine,
    consumer: Consumer,
    partitions: Vec<TopicPartition>,
}

impl CompactedReader {
    /// A reader of `engine`'s compacted topic (the run's, or the reopened one).
    pub fn new(engine: &Engine) -> CompactedReader {
        let config = ConsumerConfig::default().auto_offset_reset(OffsetReset::Earliest);
        let mut consumer = engine.consumer(config).unwrap();
        let partitions: Vec<TopicPartition> = (0..COMPACTED_PARTITIONS)
            .map(|p| TopicPartition::new(COMPACTED, p))
            .collect();
        consumer.assign(&partitions).unwrap();
        CompactedReader {
            engine: engine.clone(),
            consumer,
            partitions,
        }
    }

    /// Reads the whole topic and holds every key to its last acknowledged record.
    pub fn check(&mut self, world: &World) {
        // Acknowledged before the ends are read, so below them.
        let acked = world.ledger.keys();
        let mut ends = BTreeMap::new();
        for tp in &self.partitions {
            let log = self.engine.log(COMPACTED, tp.partition).unwrap();
            ends.insert(tp.partition, log.log_end_offset().unwrap());
        }
        let Some(latest) = self.read_to(world, &ends) else {
            return;
        };
        let mut checks = 0u64;
        for (k, ack) in &acked {
            checks += 1;
            match latest.get(k) {
                None => world.violation(format!(
                    "{COMPACTED}: key {k} is gone; {} was acknowledged at {}-{}",
                    describe_id(ack.id),
                    ack.partition,
                    ack.offset
                )),
                Some(&(p, offset, id)) => {
                    let later = offset > ack.offset;
                    if p != ack.partition || !(later || id == ack.id) || offset < ack.offset {
                        world.violation(format!(
                            "{COMPACTED}: key {k}: last acknowledged {} at {}-{}, but the log's last is {} at {p}-{offset}",
                            describe_id(ack.id), ack.partition, ack.offset, describe_id(id)
                        ));
                    }
                }
            }
        }
        Stats::add(&world.stats.invariant_checks, checks);
    }

    /// Every key's last record in `[log start, ends)`: key → (partition, offset, id).
    fn read_to(
        &mut self,
        world: &World,
        ends: &BTreeMap<u32, i64>,
    ) -> Option<BTreeMap<String, (u32, i64, u64)>> {
        self.consumer.seek_to_beginning(&[]).unwrap();
        let mut latest = BTreeMap::new();
        let deadline = Instant::now() + READ_BOUND;
        loop {
            let mut done = true;
            for tp in &self.partitions {
                done &= self.consumer.position(tp).unwrap() >= ends[&tp.partition];
            }
            if done {
                return Some(latest);
            }
            if Instant::now() > deadline {
                world.violation(format!(
                    "{COMPACTED}: could not read to {ends:?} within {READ_BOUND:?}"
                ));
                return None;
            }
            let records = match self.consumer.poll(Duration::from_millis(20)) {
                Ok(records) => records,
                Err(e) => {
                    world.violation(format!("{COMPACTED}: poll failed: {e}"));
                    return None;
                }
            };
            for r in records.iter() {
                let id = match decode(r.value) {
                    Ok(id) => id,
                    Err(e) => {
                        world.violation(format!("{COMPACTED}-{}@{}: {e}", r.partition, r.offset));
                        continue;
                    }
                };
                let k = String::from_utf8_lossy(r.key.unwrap_or_default()).into_owned();
                let (pid, seq) = ((id >> 48) - 1, id & ((1 << 48) - 1));
                if k != key(pid, seq) {
                    world.violation(format!(
                        "{COMPACTED}-{}@{}: key {k} does not go with {}",
                        r.partition,
                        r.offset,
                        describe_id(id)
                    ));
                }
                // One producer writes a key, in sequence order: later offsets, later records.
                if let Some(&(_, before, earlier)) = latest.get(&k) {
                    if before >= r.offset || earlier >= id {
                        world.violation(format!(
                            "{COMPACTED}-{}: key {k}: {} at {} after {} at {before}",
                            r.partition,
                            describe_id(id),
                            r.offset,
                            describe_id(earlier)
                        ));
                    }
                }
                latest.insert(k, (r.partition, r.offset, id));
            }
        }
    }
}
