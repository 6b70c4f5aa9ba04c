//! The accumulator: open batches, one per partition per shard, filled in the sending
//! thread and sealed (header, CRC, compression) there before they cross to the writers.
//!
//! A producer has a fixed set of shards and each thread always uses the same one, so
//! threads that send at once do not share a lock or a batch: a shard's mutex is only ever
//! contended by the linger thread (sealing batches that waited `linger.ms`), by `flush`,
//! or by threads beyond the number of shards.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Instant;

use silt_segment::batch::{BatchBuffer, BatchConfig, Compressor, TimestampType, HEADER_SIZE};

use super::clock::Clock;
use super::partitioner::{key_partition, Rng, Sticky};
use super::record::{BatchDelivery, Callback, Delivery, ProducerRecord, RecordMetadata};
use super::spin::SpinLock;
use super::writer::{ProducedBatch, WriterMsg};
use super::Shared;
use crate::config::Acks;
use crate::error::{EngineError, Result};
use crate::log::Log;
use crate::topic::Topic;

/// A topic as a producer sends to it: its logs, looked up once per change of the engine's
/// topics, and how many batches each partition has queued (for adaptive partitioning).
pub(crate) struct Route {
    pub(crate) name: Arc<str>,
    /// The engine's topics version this route was resolved at.
    pub(crate) version: u64,
    pub(crate) topic: Arc<Topic>,
    /// Batches sealed and not yet appended, per partition.
    pub(crate) queued: Box<[AtomicU32]>,
    /// Per partition, with `linger.ms=0`: a batch was left open because the writer was
    /// busy, so the writer wakes the linger thread when the partition drains.
    waiting: Box<[AtomicBool]>,
    pub(crate) max_message_bytes: usize,
    /// The topic's `cleanup.policy` includes `compact`: records without a key are refused
    /// (decided once per route, so `send` tests one flag and the key).
    pub(crate) compacted: bool,
    /// Where a batch seals: the smallest of `batch.size`, `max.request.size` and the topic's
    /// `max.message.bytes` (a batch the writer would refuse is never built).
    pub(crate) batch_limit: usize,
    /// Spreads partitions of different topics over the writers.
    pub(crate) writer_seed: usize,
}

impl Route {
    pub(crate) fn new(
        name: &str,
        version: u64,
        topic: Arc<Topic>,
        producer: &crate::config::ProducerConfig,
    ) -> Route {
        let partitions = topic.logs().len();
        let config = topic.logs().first().map(|log| log.config());
        let max_message_bytes = config
            .as_ref()
            .map_or(usize::MAX, |c| c.max_message_bytes as usize);
        let compacted = config.is_some_and(|c| c.cleanup_policy.compact);
        Route {
            compacted,
            batch_limit: producer
                .batch_size
                .min(producer.max_request_size)
                .min(max_message_bytes),
            name: Arc::from(name),
            version,
            queued: (0..partitions).map(|_| AtomicU32::new(0)).collect(),
            waiting: (0..partitions).map(|_| AtomicBool::new(false)).collect(),
            max_message_bytes,
            writer_seed: name
                .bytes()
                .fold(0usize, |h, b| h.wrapping_mul(31).wrapping_add(b.into())),
            topic,
        }
    }

    pub(crate) fn partitions(&self) -> u32 {
        self.queued.len() as u32
    }

    pub(crate) fn log(&self, partition: u32) -> Option<&Arc<Log>> {
        self.topic.logs().get(partition as usize)
    }

    /// Whether `partition` has nothing queued for its writer.
    fn writer_idle(&self, partition: usize) -> bool {
        self.queued
            .get(partition)
            .is_none_or(|q| q.load(Ordering::SeqCst) == 0)
    }

    /// A batch of `partition` stays open until its writer drains (`linger.ms=0`): asks the
    /// writer to wake the linger thread then. Returns whether the writer drained meanwhile
    /// (then the caller seals it itself).
    fn wait_for_writer(&self, partition: usize) -> bool {
        if let Some(waiting) = self.waiting.get(partition) {
            if !waiting.load(Ordering::Relaxed) {
                waiting.store(true, Ordering::SeqCst);
            }
        }
        // Either this load sees the writer's decrement, or the writer's swap sees the flag.
        self.writer_idle(partition)
    }

    /// The writer appended one batch of `partition`; if that drained a partition a batch
    /// waits on, wakes the linger thread to seal it.
    pub(crate) fn dequeued(
        &self,
        partition: u32,
        linger: &std::sync::OnceLock<std::thread::Thread>,
    ) {
        let p = partition as usize;
        let drained = self
            .queued
            .get(p)
            .is_some_and(|q| q.fetch_sub(1, Ordering::SeqCst) == 1);
        if drained
            && self
                .waiting
                .get(p)
                .is_some_and(|w| w.swap(false, Ordering::SeqCst))
        {
            if let Some(thread) = linger.get() {
                thread.unpark();
            }
        }
    }
}

/// One shard of the accumulator.
pub(crate) struct Shard {
    state: SpinLock<ShardState>,
}

struct ShardState {
    topics: Vec<TopicBatches>,
    /// Index in `topics` of the last topic sent to (most sends go to the same one).
    last: usize,
    /// Open batches across `topics`.
    open: usize,
    compressor: Compressor,
    rng: Rng,
    clock: Clock,
    /// This shard's producer id (idempotent producers), taken on first use.
    producer_id: Option<i64>,
}

/// A shard's open batches for one topic.
struct TopicBatches {
    route: Arc<Route>,
    batches: Vec<Option<OpenBatch>>,
    /// Next sequence number per partition (idempotent producers).
    sequences: Vec<i32>,
    sticky: Sticky,
}

struct OpenBatch {
    buffer: BatchBuffer,
    /// Bytes of `buffer.memory` lent for this batch.
    reserved: usize,
    delivery: Arc<BatchDelivery>,
    opened: Instant,
    callbacks: Vec<(u32, i64, Callback)>,
}

/// What an append under the shard lock needs first.
enum Append {
    Done(Delivery),
    /// A new batch of this many bytes, which the pool could not lend without waiting.
    NeedMemory(usize),
}

impl Shard {
    pub(crate) fn new(seed: u64) -> Shard {
        Shard {
            state: SpinLock::new(ShardState {
                topics: Vec::new(),
                last: 0,
                open: 0,
                compressor: Compressor::new(),
                rng: Rng::seeded(seed),
                clock: Clock::new(),
                producer_id: None,
            }),
        }
    }

    /// Partitions and appends one record, sealing batches as they fill.
    pub(crate) fn send(
        &self,
        shared: &Shared,
        record: &ProducerRecord<'_>,
        mut callback: Option<Callback>,
    ) -> Result<Delivery> {
        if record.timestamp.is_some_and(|t| t < 0) {
            return Err(EngineError::InvalidRecord {
                topic: record.topic.to_string(),
                reason: "the timestamp is negative",
            });
        }
        let mut memory: Option<(Vec<u8>, usize)> = None;
        loop {
            let mut state = self.state.lock();
            if shared.is_closed() {
                drop(state);
                if let Some((buffer, size)) = memory {
                    shared.pool.release(buffer, size);
                }
                return Err(EngineError::ProducerClosed);
            }
            let timestamp = match record.timestamp {
                Some(t) => t,
                None => state.clock.now_ms(),
            };
            let appended = state.append(shared, record, timestamp, &mut callback, &mut memory);
            drop(state);
            match appended {
                Ok(Append::Done(delivery)) => {
                    if let Some((buffer, size)) = memory {
                        shared.pool.release(buffer, size);
                    }
                    return Ok(delivery);
                }
                Ok(Append::NeedMemory(size)) => {
                    if let Some((buffer, size)) = memory.take() {
                        shared.pool.release(buffer, size);
                    }
                    let buffer = shared.pool.allocate(size, shared.max_block)?;
                    memory = Some((buffer, size));
                }
                Err(e) => {
                    if let Some((buffer, size)) = memory {
                        shared.pool.release(buffer, size);
                    }
                    return Err(e);
                }
            }
        }
    }

    /// Seals every open batch (for `flush` and `close`).
    pub(crate) fn seal_all(&self, shared: &Shared) {
        let mut state = self.state.lock();
        if state.open == 0 {
            return;
        }
        state.seal_where(shared, |_, _, _| true);
    }

    /// Seals the batches open for `linger` or longer; returns when the oldest remaining one
    /// will be due, if any. A shard whose lock is held is looked at again shortly: its
    /// owner is sending, and seals full batches itself.
    pub(crate) fn seal_lingering(
        &self,
        shared: &Shared,
        now: Instant,
        linger: std::time::Duration,
    ) -> Option<Instant> {
        const BUSY_RETRY: std::time::Duration = std::time::Duration::from_micros(200);
        let Some(mut state) = self.state.try_lock() else {
            return Some(now + BUSY_RETRY);
        };
        if state.open == 0 {
            return None;
        }
        if linger.is_zero() {
            // `linger.ms=0`: the batches whose partition has nothing queued for its writer.
            state.seal_where(shared, |route, p, _| route.writer_idle(p));
        } else {
            state.seal_where(shared, |_, _, opened| now.duration_since(opened) >= linger);
        }
        // A linger too long to add to an instant never comes due; only size, flush and close
        // seal those batches.
        state
            .oldest_open()
            .and_then(|opened| opened.checked_add(linger))
    }
}

impl ShardState {
    fn append(
        &mut self,
        shared: &Shared,
        record: &ProducerRecord<'_>,
        timestamp: i64,
        callback: &mut Option<Callback>,
        memory: &mut Option<(Vec<u8>, usize)>,
    ) -> Result<Append> {
        let t = self.topic_index(shared, record.topic)?;
        let (key, value, headers) = (record.key, record.value, record.headers);
        let alone = HEADER_SIZE + BatchBuffer::first_record_size(key, value, headers);
        let (mut partition, sticky) = self.choose_partition(shared, t, record)?;
        let topic = self.topics.get_mut(t).ok_or(EngineError::ProducerClosed)?;
        if key.is_none() && topic.route.compacted {
            return Err(EngineError::InvalidRecord {
                topic: record.topic.to_string(),
                reason: crate::log::cleaner::KEYLESS_IN_COMPACTED_TOPIC,
            });
        }
        check_size(shared, &topic.route, partition, alone)?;

        // A record that does not fit the open batch seals it; a sticky record then moves to
        // the next partition (KIP-794 switches once the partition's batch is full).
        if !topic.fits(partition, timestamp, record) {
            self.seal(shared, t, partition);
            if sticky {
                let topic = self.topics.get_mut(t).ok_or(EngineError::ProducerClosed)?;
                topic.sticky.switch();
                partition = self.choose_partition(shared, t, record)?.0;
                // The next partition may hold a batch too full for the record as well.
                let topic = self.topics.get(t).ok_or(EngineError::ProducerClosed)?;
                if !topic.fits(partition, timestamp, record) {
                    self.seal(shared, t, partition);
                }
            }
        }
        let p = partition as usize;
        let topic = self.topics.get_mut(t).ok_or(EngineError::ProducerClosed)?;
        let mut opened = false;
        if topic.batches.get(p).is_some_and(Option::is_none) {
            let size = alone.max(topic.route.batch_limit);
            let buffer = match memory.take() {
                Some((buffer, reserved)) if reserved == size => buffer,
                Some(other) => {
                    *memory = Some(other);
                    return Ok(Append::NeedMemory(size));
                }
                None => match shared.pool.try_allocate(size) {
                    Some(buffer) => buffer,
                    None => return Ok(Append::NeedMemory(size)),
                },
            };
            let delivery = Arc::new(BatchDelivery::new(
                Arc::clone(&topic.route.name),
                partition,
                shared.config.acks == Acks::None,
            ));
            let mut buffer = buffer;
            warm(&mut buffer);
            if let Some(slot) = topic.batches.get_mut(p) {
                *slot = Some(OpenBatch {
                    buffer: BatchBuffer::new(buffer),
                    reserved: size,
                    delivery,
                    opened: Instant::now(),
                    callbacks: Vec::new(),
                });
            }
            self.open += 1;
            opened = true;
        }

        let topic = self.topics.get_mut(t).ok_or(EngineError::ProducerClosed)?;
        let batch_limit = topic.route.batch_limit;
        let open = topic
            .batches
            .get_mut(p)
            .and_then(Option::as_mut)
            .ok_or(EngineError::ProducerClosed)?;
        let before = open.buffer.size();
        open.buffer.append(timestamp, key, value, headers)?;
        let appended = open.buffer.size() - before;
        let index = open.buffer.len() - 1;
        let delivery = if shared.config.acks == Acks::None {
            Delivery::ready(RecordMetadata {
                topic: Arc::clone(&topic.route.name),
                partition,
                offset: -1,
                timestamp,
            })
        } else {
            Delivery::in_batch(Arc::clone(&open.delivery), index, timestamp)
        };
        if let Some(callback) = callback.take() {
            open.callbacks.push((index, timestamp, callback));
        }
        let full = open.buffer.size() >= batch_limit;
        // With `linger.ms=0` a batch seals as soon as its partition's writer has nothing
        // queued; while the writer is busy, records gather in it (Kafka's sender likewise
        // drains whatever accumulated while it was busy).
        let writer_idle = shared.config.linger_ms == 0
            && (topic.route.writer_idle(p) || (!full && topic.route.wait_for_writer(p)));
        if full || writer_idle {
            self.seal(shared, t, partition);
        }
        let topic = self.topics.get_mut(t).ok_or(EngineError::ProducerClosed)?;
        let still_open = topic.batches.get(p).is_some_and(Option::is_some);
        if sticky {
            topic
                .sticky
                .produced(appended, batch_limit, full, still_open);
        }
        if opened && still_open {
            shared.wake_linger();
        }
        Ok(Append::Done(delivery))
    }

    /// Index in `topics` of `name`, looking the topic up again if the engine's topics
    /// changed since it was last resolved.
    #[inline]
    fn topic_index(&mut self, shared: &Shared, name: &str) -> Result<usize> {
        let version = shared.topics_version();
        if let Some(topic) = self.topics.get(self.last) {
            if topic.route.version == version && &*topic.route.name == name {
                return Ok(self.last);
            }
        }
        self.topic_index_slow(shared, name, version)
    }

    #[cold]
    fn topic_index_slow(&mut self, shared: &Shared, name: &str, version: u64) -> Result<usize> {
        let found = self.topics.iter().position(|t| &*t.route.name == name);
        if let Some(t) = found.filter(|&t| {
            self.topics
                .get(t)
                .is_some_and(|x| x.route.version == version)
        }) {
            self.last = t;
            return Ok(t);
        }
        let route = shared.resolve(name)?;
        let t = match found {
            Some(t) => {
                let same = self
                    .topics
                    .get(t)
                    .is_some_and(|x| Arc::ptr_eq(&x.route.topic, &route.topic));
                if !same {
                    // The topic was altered, grown or recreated: what was batched for the old
                    // one goes to the old one's logs.
                    self.seal_topic(shared, t);
                }
                let topic = self.topics.get_mut(t).ok_or(EngineError::ProducerClosed)?;
                let partitions = route.partitions() as usize;
                topic
                    .batches
                    .resize_with(partitions.max(topic.batches.len()), || None);
                topic
                    .sequences
                    .resize(partitions.max(topic.sequences.len()), 0);
                topic.route = route;
                t
            }
            None => {
                let partitions = route.partitions() as usize;
                self.topics.push(TopicBatches {
                    route,
                    batches: (0..partitions).map(|_| None).collect(),
                    sequences: vec![0; partitions],
                    sticky: Sticky::new(),
                });
                self.topics.len() - 1
            }
        };
        self.last = t;
        Ok(t)
    }

    /// Kafka's choice: explicit partition, custom partitioner, key hash, sticky; and whether
    /// the sticky partitioner made it.
    #[inline]
    fn choose_partition(
        &mut self,
        shared: &Shared,
        t: usize,
        record: &ProducerRecord<'_>,
    ) -> Result<(u32, bool)> {
        let topic = self.topics.get_mut(t).ok_or(EngineError::ProducerClosed)?;
        let partitions = topic.route.partitions();
        let chosen = match record.partition {
            Some(p) => Some(p),
            None => match &shared.config.partitioner {
                Some(custom) => {
                    custom.partition(record.topic, record.key, record.value, partitions)
                }
                None => None,
            },
        };
        let chosen = chosen.or_else(|| match record.key {
            Some(key) if !shared.config.partitioner_ignore_keys => {
                Some(key_partition(key, partitions))
            }
            _ => None,
        });
        match chosen {
            Some(p) if p < partitions => Ok((p, false)),
            Some(p) => Err(EngineError::UnknownPartition {
                topic: record.topic.to_string(),
                partition: p,
                partitions,
            }),
            None => Ok((
                topic.sticky.partition(
                    &topic.route.queued,
                    shared.config.partitioner_adaptive_partitioning_enable,
                    &mut self.rng,
                ),
                true,
            )),
        }
    }

    fn oldest_open(&self) -> Option<Instant> {
        self.topics
            .iter()
            .flat_map(|t| t.batches.iter().flatten())
            .map(|b| b.opened)
            .min()
    }

    /// Seals every open batch for which `due(route, partition, opened)` holds.
    fn seal_where(&mut self, shared: &Shared, due: impl Fn(&Route, usize, Instant) -> bool) {
        for t in 0..self.topics.len() {
            let Some(topic) = self.topics.get(t) else {
                continue;
            };
            let ready: Vec<u32> = (0..topic.batches.len())
                .filter(|&p| {
                    topic
                        .batches
                        .get(p)
                        .and_then(Option::as_ref)
                        .is_some_and(|b| due(&topic.route, p, b.opened))
                })
                .map(|p| p as u32)
                .collect();
            for p in ready {
                self.seal(shared, t, p);
            }
        }
    }

    fn seal_topic(&mut self, shared: &Shared, t: usize) {
        let Some(topic) = self.topics.get(t) else {
            return;
        };
        for p in 0..topic.batches.len() as u32 {
            self.seal(shared, t, p);
        }
    }

    /// Seals the open batch of partition `p` of topic `t` (if any) and hands it to the
    /// partition's writer. Runs under the shard lock, so a partition's batches from one
    /// shard reach its writer in the order they were filled.
    fn seal(&mut self, shared: &Shared, t: usize, p: u32) {
        let Some(topic) = self.topics.get_mut(t) else {
            return;
        };
        let Some(open) = topic.batches.get_mut(p as usize).and_then(Option::take) else {
            return;
        };
        self.open -= 1;
        let records = open.buffer.len();
        let mut config = BatchConfig {
            compression: shared.config.compression_type,
            zstd_level: shared.config.compression_zstd_level,
            timestamp_type: TimestampType::CreateTime,
            ..BatchConfig::default()
        };
        let route = Arc::clone(&topic.route);
        open.delivery.set_callbacks(open.callbacks);
        let delivery = open.delivery;
        if shared.idempotent {
            let producer_id = match self.producer_id {
                Some(id) => Ok(id),
                None => shared
                    .allocate_producer_id()
                    .inspect(|&id| self.producer_id = Some(id)),
            };
            let producer_id = match producer_id {
                Ok(id) => id,
                Err(e) => {
                    shared.pool.release(Vec::new(), open.reserved);
                    delivery.complete(Err(e));
                    return;
                }
            };
            let Some(topic) = self.topics.get_mut(t) else {
                return;
            };
            let Some(sequence) = topic.sequences.get_mut(p as usize) else {
                return;
            };
            config.producer_id = producer_id;
            config.producer_epoch = 0;
            config.base_sequence = *sequence;
            *sequence = increment_sequence(*sequence, records as i32);
        }
        let bytes = match open.buffer.finish(&config, &mut self.compressor) {
            Ok(bytes) => bytes,
            Err(e) => {
                shared.pool.release(Vec::new(), open.reserved);
                delivery.complete(Err(e.into()));
                return;
            }
        };
        if let Some(queued) = route.queued.get(p as usize) {
            queued.fetch_add(1, Ordering::Relaxed);
        }
        shared.hand_to_writer(WriterMsg::Batch(ProducedBatch {
            route,
            partition: p,
            bytes,
            reserved: open.reserved,
            delivery,
        }));
    }
}

impl TopicBatches {
    /// Whether the record fits the open batch of `partition` (or there is none).
    fn fits(&self, partition: u32, timestamp: i64, record: &ProducerRecord<'_>) -> bool {
        self.batches
            .get(partition as usize)
            .and_then(Option::as_ref)
            .is_none_or(|open| {
                let size =
                    open.buffer
                        .record_size(timestamp, record.key, record.value, record.headers);
                open.buffer.size() + size <= open.reserved
            })
    }
}

/// Refuses a record whose batch (this record alone) would be larger than a limit.
fn check_size(shared: &Shared, route: &Route, partition: u32, size: usize) -> Result<()> {
    let limits = [
        (shared.config.max_request_size, "max.request.size"),
        (route.max_message_bytes, "max.message.bytes"),
        (shared.pool.limit(), "buffer.memory"),
    ];
    for (max, limit) in limits {
        if size > max {
            return Err(EngineError::RecordTooLarge {
                topic: route.name.to_string(),
                partition,
                size,
                max: max.min(u32::MAX as usize) as u32,
                limit,
            });
        }
    }
    Ok(())
}

/// Writes the whole of a fresh batch buffer once, so the records encoded into it land in
/// lines this core already owns. A recycled buffer was last read by a writer thread on
/// another core; without this, every record's stores would wait for those lines to come
/// back, one record at a time behind the shard lock's release.
fn warm(buffer: &mut Vec<u8>) {
    buffer.clear();
    buffer
        .spare_capacity_mut()
        .fill(std::mem::MaybeUninit::new(0));
}

/// Kafka's `DefaultRecordBatch.incrementSequence`: sequences wrap from `i32::MAX` to 0.
fn increment_sequence(sequence: i32, increment: i32) -> i32 {
    if sequence > i32::MAX - increment {
        increment - (i32::MAX - sequence) - 1
    } else {
        sequence + increment
    }
}

#[cfg(test)]
mod tests {
    use super::increment_sequence;

    #[test]
    fn sequences_wrap_as_kafka_does() {
        assert_eq!(increment_sequence(0, 5), 5);
        assert_eq!(increment_sequence(i32::MAX - 4, 5), 0);
        assert_eq!(increment_sequence(i32::MAX, 1), 0);
        assert_eq!(increment_sequence(i32::MAX - 1, 5), 3);
    }
}
