//! The accumulator: open batches, one per partition per shard, filled in the sending
//! thread and sealed (header, CRC, compression) there before they cross to the writers.
//!
//! A producer has a fixed set of shards and each thread always uses the same one, so
//! threads that send at once do not share a lock or a batch: a shard's mutex is only ever
//! contended by the linger thread (sealing batches that waited `linger.ms`), by `flush`,
//! or by threads beyond the number of shards.
//!
//! Most sends take a short path ([`ShardState::append_fast`]): a record for the topic last
//! sent to, whose partition's open batch it fits without filling. Everything else (a batch
//! to seal or open, `linger.ms=0`, callbacks, errors) takes the general one, which places
//! the record the same way. A send costs about 350 instructions (100-byte value, one
//! thread), about 50 of them the batch's CRC.
//!
//! A small batch that a `send` seals for a partition with nothing else on the way is
//! appended by the sending thread itself, under the shard's lock, and completed (callbacks
//! run) once it has released it (see [`route`](super::route) and [`direct`]): with
//! `linger.ms=0` and a steady trickle of records, no thread is woken between `send` and the
//! record's acknowledgment. A thread that sends flat out with `linger.ms=0` lets its records
//! gather into batches instead of sealing each alone (see [`pace`](super::pace)).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use silt_segment::batch::{BatchBuffer, BatchConfig, Compressor, Fit, TimestampType, HEADER_SIZE};

use super::batch_ref::{BatchRef, OpenRef};
use super::clock::Clock;
use super::pace::Pace;
use super::partitioner::{key_partition, Rng, Sticky};
use super::record::{BatchDelivery, Callback, Callbacks, Delivery, ProducerRecord};
use super::route::Route;
use super::spin::SpinLock;
use super::writer::{ProducedBatch, WriterMsg};
use super::Shared;
use crate::config::Acks;
use crate::error::{EngineError, Result};
use direct::{DirectBatch, DirectRule, GATHER_BYTES, GATHER_TAIL};

mod direct;

/// One shard of the accumulator.
pub(crate) struct Shard {
    state: SpinLock<ShardState>,
    /// Appends by sending threads of batches this shard sealed: odd while one is under way.
    /// At most one is (a claim needs it even, and is made under the shard's lock), so
    /// `flush` can wait for the one it sees with no risk of waiting on later ones forever.
    /// Only the thread making that append changes it, so it is stored, not incremented.
    direct: AtomicU64,
    /// With `linger.ms=0`: when (in [`Ticks`](super::clock::Ticks)) the last `send` on this
    /// shard ended.
    last_end: AtomicU64,
    /// Until when (ns on the producer's clock) this shard's sending thread counts as busy:
    /// it filled a batch fast (see [`direct::BUSY_FILL`]).
    busy_until: AtomicU64,
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
    /// Whether the next batch sealed may be appended by the sending thread: set by `send`
    /// for its own seals only, while no such append of this shard is under way.
    direct_allowed: bool,
    /// Which batches may be appended there: set for a batch the sending thread filled (see
    /// [`direct::BUSY_FILL`]), else small ones.
    direct_rule: DirectRule,
    /// The batch the sending thread appended itself, to complete once it has released the
    /// shard's lock.
    direct: Option<DirectBatch>,
    /// A `batch.size` buffer kept back from a batch appended here, for the next batch: it
    /// spares the pool's lock twice per batch and stays in this core's cache. Counted as
    /// lent; returned while senders wait for memory (see `BufferPool::has_waiters`).
    spare: Option<Vec<u8>>,
    /// With `linger.ms=0`: the sending thread's pace, and whether the current send is part
    /// of a saturated run (see [`pace`](super::pace)).
    pace: Pace,
    saturated: bool,
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
    delivery: OpenRef,
    opened: Instant,
    callbacks: Callbacks,
    /// Opened by a saturated sender with `linger.ms=0`: records gather in it until it holds
    /// [`GATHER_BYTES`].
    gather: bool,
}

/// Where [`ShardState::append_elsewhere`] put a record.
enum Placed {
    /// In this partition's batch, taking this many bytes; and whether the batch was opened
    /// for it.
    In(u32, usize, bool),
    /// Nowhere yet: the caller must get this first.
    Need(Append),
}

/// What an append under the shard lock needs first.
enum Append {
    /// The record's handle (none for a record sent with a callback).
    Done(Option<Delivery>),
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
                direct_allowed: false,
                direct_rule: DirectRule::Small,
                direct: None,
                spare: None,
                pace: Pace::default(),
                saturated: false,
            }),
            direct: AtomicU64::new(0),
            last_end: AtomicU64::new(0),
            busy_until: AtomicU64::new(0),
        }
    }

    /// Partitions and appends one record, sealing batches as they fill; returns the record's
    /// handle, or `None` when it was sent with a `callback`.
    #[inline]
    pub(crate) fn send(
        &self,
        shared: &Shared,
        record: &ProducerRecord<'_>,
        callback: Option<Callback>,
    ) -> Result<Option<Delivery>> {
        if callback.is_none() && shared.config.linger_ms != 0 {
            let mut state = self.state.lock();
            if let Some(delivery) = state.append_fast(shared, record) {
                return Ok(Some(delivery));
            }
        }
        self.send_slow(shared, record, callback)
    }

    /// [`send`](Self::send) for every record the fast path leaves: the one that fills or
    /// opens a batch, `linger.ms=0`, callbacks, other topics than the last, and errors.
    #[inline(never)]
    fn send_slow(
        &self,
        shared: &Shared,
        record: &ProducerRecord<'_>,
        mut callback: Option<Callback>,
    ) -> Result<Option<Delivery>> {
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
            let directs = self.direct.load(Ordering::Relaxed);
            let ticks = (shared.config.linger_ms == 0).then(|| state.clock.ticks());
            state.saturated = ticks.is_some() && self.pace(&mut state);
            state.direct_allowed = shared.direct_appends && directs.is_multiple_of(2);
            let appended = state.append(
                shared,
                &self.busy_until,
                record,
                timestamp,
                &mut callback,
                &mut memory,
            );
            state.direct_allowed = false;
            // Checked first: taking moves the whole slot, on every send.
            let direct = if state.direct.is_some() {
                state.direct.take()
            } else {
                None
            };
            if direct.is_some() {
                // Odd, under the lock: a `flush` that seals this shard after us sees it.
                self.direct.store(directs + 1, Ordering::Relaxed);
            }
            drop(state);
            if let Some(batch) = direct {
                // Outside the shard's lock: the batch's callbacks may send again.
                batch.complete(shared, &self.direct, directs + 2);
            }
            if let Some(ticks) = ticks {
                self.last_end.store(ticks.now(), Ordering::Relaxed);
            }
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
                    let buffer = shared.pool.allocate(size, shared.max_block, || {
                        for shard in shared.shards.iter() {
                            shard.reclaim_spare(shared);
                        }
                    })?;
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
            // `linger.ms=0`: the batches whose partition has nothing on the way, but not a
            // batch that a saturated sender is still filling.
            state.seal_where(shared, |route, p, batch| {
                route.idle(p) && (!batch.gather || now.duration_since(batch.opened) >= GATHER_TAIL)
            });
        } else {
            state.seal_where(shared, |_, _, batch| {
                now.duration_since(batch.opened) >= linger
            });
        }
        // A linger too long to add to an instant never comes due; only size, flush and close
        // seal those batches.
        state
            .oldest_open()
            .and_then(|opened| opened.checked_add(linger))
    }
}

impl ShardState {
    #[allow(
        clippy::too_many_arguments,
        reason = "the send's parts, passed through"
    )]
    fn append(
        &mut self,
        shared: &Shared,
        busy_until: &AtomicU64,
        record: &ProducerRecord<'_>,
        timestamp: i64,
        callback: &mut Option<Callback>,
        memory: &mut Option<(Vec<u8>, usize)>,
    ) -> Result<Append> {
        let t = self.topic_index(shared, record.topic)?;
        let (partition, sticky) = self.choose_partition(shared, t, record)?;
        let topic = self.topics.get_mut(t).ok_or_else(gone)?;
        if record.key.is_none() && topic.route.compacted {
            return Err(EngineError::InvalidRecord {
                topic: record.topic.to_string(),
                reason: crate::log::cleaner::KEYLESS_IN_COMPACTED_TOPIC,
            });
        }
        // Most records go into the partition's open batch. One that fits it is within every
        // size limit, since the batch is.
        let (partition, appended, opened) = match topic.try_append(partition, timestamp, record)? {
            Some(appended) => (partition, appended, false),
            None => match self.append_elsewhere(
                shared, busy_until, t, partition, sticky, timestamp, record, memory,
            )? {
                Placed::In(partition, appended, opened) => (partition, appended, opened),
                Placed::Need(append) => return Ok(append),
            },
        };
        let p = partition as usize;
        let topic = self.topics.get_mut(t).ok_or_else(gone)?;
        let batch_limit = topic.route.batch_limit;
        let open = topic
            .batches
            .get_mut(p)
            .and_then(Option::as_mut)
            .ok_or_else(gone)?;
        let index = open.buffer.len() - 1;
        let delivery = match callback.take() {
            Some(callback) => {
                open.callbacks.push((index, timestamp, callback));
                None
            }
            None => Some(Delivery::in_batch(open.delivery.handle(), index, timestamp)),
        };
        let full = open.buffer.size() >= batch_limit;
        // With `linger.ms=0` a batch seals as soon as its partition has nothing on the way;
        // while it has, records gather in it (Kafka's sender likewise drains whatever
        // accumulated while it was busy), as they do while a saturated sender fills it.
        let gathering = self.saturated && open.buffer.size() < GATHER_BYTES;
        let idle = shared.config.linger_ms == 0
            && !gathering
            && (topic.route.idle(p) || (!full && topic.route.wait_for_drain(p)));
        if full {
            self.seal_filled(shared, busy_until, t, partition);
        } else if idle {
            self.seal(shared, t, partition);
        }
        let topic = self.topics.get_mut(t).ok_or_else(gone)?;
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

    /// The common send, in as few instructions as it takes: a record for the last topic
    /// sent to, placed as [`append`](Self::append) would place it, that fits its
    /// partition's open batch and leaves it short of `batch.size`. It is then exactly what
    /// `append` would do: nothing to seal, open or wake, and the sticky partitioner only
    /// counts the bytes. Any other record is `None`, with nothing changed, for `append`.
    /// For `send` without a callback, with `linger.ms` above 0.
    #[inline]
    fn append_fast(&mut self, shared: &Shared, record: &ProducerRecord<'_>) -> Option<Delivery> {
        if shared.is_closed() {
            return None;
        }
        let timestamp = match record.timestamp {
            Some(t) if t >= 0 => t,
            Some(_) => return None,
            None => self.clock.now_ms(),
        };
        let version = shared.topics_version();
        let topic = self.topics.get_mut(self.last)?;
        if topic.route.version != version || *topic.route.name != *record.topic {
            return None;
        }
        let partitions = topic.route.partitions();
        let (partition, sticky) = match (record.partition, record.key) {
            (Some(p), _) => (p, false),
            (None, _) if shared.config.partitioner.is_some() => return None,
            (None, Some(key)) if !shared.config.partitioner_ignore_keys => {
                (key_partition(key, partitions), false)
            }
            (None, _) => (topic.sticky.current()?, true),
        };
        if partition >= partitions || (record.key.is_none() && topic.route.compacted) {
            return None;
        }
        let batch_limit = topic.route.batch_limit;
        let open = topic.batches.get_mut(partition as usize)?.as_mut()?;
        // Within `batch.size - 1`: a record that fills the batch seals it, which is
        // `append`'s to do.
        let limit = open.reserved.min(batch_limit.saturating_sub(1));
        let Fit::Appended(appended) =
            open.buffer
                .append_if_fits(timestamp, record.key, record.value, record.headers, limit)
        else {
            return None;
        };
        let index = open.buffer.len() - 1;
        let delivery = Delivery::in_batch(open.delivery.handle(), index, timestamp);
        if sticky {
            topic.sticky.produced(appended, batch_limit, false, true);
        }
        Some(delivery)
    }

    /// Places a record that does not fit the open batch of `partition` (or found none): seals
    /// that batch, moves a sticky record on to the next partition, and opens a batch if the
    /// record fits nowhere else. Out of line: it runs once per batch, and inlined, the
    /// compiler would size every record alone ahead of the common path.
    #[cold]
    #[inline(never)]
    #[allow(
        clippy::too_many_arguments,
        reason = "the send's parts, passed through"
    )]
    fn append_elsewhere(
        &mut self,
        shared: &Shared,
        busy_until: &AtomicU64,
        t: usize,
        mut partition: u32,
        sticky: bool,
        timestamp: i64,
        record: &ProducerRecord<'_>,
        memory: &mut Option<(Vec<u8>, usize)>,
    ) -> Result<Placed> {
        let (key, value, headers) = (record.key, record.value, record.headers);
        let alone = HEADER_SIZE + BatchBuffer::first_record_size(key, value, headers);
        let topic = self.topics.get_mut(t).ok_or_else(gone)?;
        check_size(shared, &topic.route, partition, alone)?;
        let mut fitted = None;
        // A record that does not fit the open batch seals it; a sticky record then moves to
        // the next partition (KIP-794 switches once the partition's batch is full), which may
        // hold a batch too full for the record as well.
        if topic.has_open(partition) {
            self.seal_filled(shared, busy_until, t, partition);
            if sticky {
                let topic = self.topics.get_mut(t).ok_or_else(gone)?;
                topic.sticky.switch();
                partition = self.choose_partition(shared, t, record)?.0;
                let topic = self.topics.get_mut(t).ok_or_else(gone)?;
                fitted = topic.try_append(partition, timestamp, record)?;
                if fitted.is_none() && topic.has_open(partition) {
                    self.seal(shared, t, partition);
                }
            }
        }
        if let Some(appended) = fitted {
            return Ok(Placed::In(partition, appended, false));
        }
        if let Some(append) = self.open_batch(shared, t, partition, alone, memory)? {
            return Ok(Placed::Need(append));
        }
        let topic = self.topics.get_mut(t).ok_or_else(gone)?;
        let appended = topic
            .try_append(partition, timestamp, record)?
            .ok_or_else(gone)?;
        Ok(Placed::In(partition, appended, true))
    }

    /// Opens a batch for partition `partition` of topic `t` (which has none), of
    /// `batch.size` or the `alone` bytes of a larger record: `None` once it is open, or what
    /// the caller must get first.
    fn open_batch(
        &mut self,
        shared: &Shared,
        t: usize,
        partition: u32,
        alone: usize,
        memory: &mut Option<(Vec<u8>, usize)>,
    ) -> Result<Option<Append>> {
        let topic = self.topics.get_mut(t).ok_or_else(gone)?;
        let size = alone.max(topic.route.batch_limit);
        let (mut buffer, hot) = match memory.take() {
            Some((buffer, reserved)) if reserved == size => (buffer, false),
            Some(other) => {
                *memory = Some(other);
                return Ok(Some(Append::NeedMemory(size)));
            }
            None => match self.spare.take() {
                Some(spare) if size == shared.pool.poolable() => (spare, true),
                spare => {
                    self.spare = spare;
                    match shared.pool.try_allocate(size) {
                        Some(buffer) => (buffer, false),
                        None => return Ok(Some(Append::NeedMemory(size))),
                    }
                }
            },
        };
        let delivery = OpenRef::new(BatchDelivery::new(
            Arc::clone(&topic.route.name),
            partition,
            shared.config.acks == Acks::None,
        ));
        if !hot {
            warm(&mut buffer);
        }
        if let Some(slot) = topic.batches.get_mut(partition as usize) {
            *slot = Some(OpenBatch {
                buffer: BatchBuffer::new(buffer),
                reserved: size,
                delivery,
                opened: Instant::now(),
                callbacks: Vec::new(),
                gather: self.saturated,
            });
            self.open += 1;
        }
        Ok(None)
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
                let topic = self.topics.get_mut(t).ok_or_else(gone)?;
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
        let topic = self.topics.get_mut(t).ok_or_else(gone)?;
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
                    &topic.route.queues,
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

    /// Seals every open batch for which `due(route, partition, batch)` holds.
    fn seal_where(&mut self, shared: &Shared, due: impl Fn(&Route, usize, &OpenBatch) -> bool) {
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
                        .is_some_and(|b| due(&topic.route, p, b))
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
    /// partition's writer; or, if `send` allows it, the batch is small and the partition can
    /// be claimed, appends it here and leaves it in `direct` for the sending thread to
    /// complete once it has released the lock. Runs under the shard lock, so a partition's
    /// batches from one shard reach the log in the order they were filled.
    fn seal(&mut self, shared: &Shared, t: usize, p: u32) {
        let Some(batch) = self.finish(shared, t, p) else {
            return;
        };
        let Some(batch) = self.append_direct(shared, batch) else {
            return;
        };
        batch.route.queued(p);
        shared.hand_to_writer(WriterMsg::Batch(batch));
    }

    /// As [`seal`](Self::seal), for a batch the sending thread filled: a busy sender leaves
    /// it to the writer while CPUs are left, and appends it itself, whatever its size, once
    /// busy senders occupy every CPU (see [`direct::BUSY_FILL`]).
    fn seal_filled(&mut self, shared: &Shared, busy_until: &AtomicU64, t: usize, p: u32) {
        if self.direct_allowed {
            let opened = self
                .topics
                .get(t)
                .and_then(|topic| topic.batches.get(p as usize))
                .and_then(Option::as_ref)
                .map(|open| open.opened);
            if let Some(opened) = opened {
                self.direct_rule = shared.filled_batch_rule(opened, busy_until);
            }
        }
        self.seal(shared, t, p);
        self.direct_rule = DirectRule::Small;
    }

    /// Takes the open batch of partition `p` of topic `t` (if any) and finishes it: header,
    /// producer id and sequence (idempotent producers), compression, CRC. A batch that
    /// cannot be finished fails here.
    fn finish(&mut self, shared: &Shared, t: usize, p: u32) -> Option<ProducedBatch> {
        let topic = self.topics.get_mut(t)?;
        let open = topic.batches.get_mut(p as usize).and_then(Option::take)?;
        self.open -= 1;
        let records = open.buffer.len();
        let mut config = BatchConfig {
            compression: shared.config.compression_type,
            zstd_level: shared.config.compression_zstd_level,
            timestamp_type: TimestampType::CreateTime,
            ..BatchConfig::default()
        };
        let route = Arc::clone(&topic.route);
        let OpenBatch {
            buffer,
            reserved,
            delivery,
            callbacks,
            ..
        } = open;
        let delivery = delivery.seal();
        let fail = |e: EngineError, delivery: BatchRef, callbacks| {
            shared.pool.release(Vec::new(), reserved);
            delivery.complete_with(Err(e), callbacks);
        };
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
                    fail(e, delivery, callbacks);
                    return None;
                }
            };
            let sequence = self.topics.get_mut(t)?.sequences.get_mut(p as usize)?;
            config.producer_id = producer_id;
            config.producer_epoch = 0;
            config.base_sequence = *sequence;
            *sequence = increment_sequence(*sequence, records as i32);
        }
        match buffer.finish(&config, &mut self.compressor) {
            Ok(bytes) => Some(ProducedBatch {
                route,
                partition: p,
                bytes,
                reserved,
                delivery,
                callbacks,
            }),
            Err(e) => {
                fail(e.into(), delivery, callbacks);
                None
            }
        }
    }
}

impl TopicBatches {
    /// Appends the record to the open batch of `partition` if there is one and the record
    /// fits it: the bytes it took, or `None`. Refused records are the cold path's
    /// ([`refused`]), so the common answer comes back in registers.
    #[inline]
    fn try_append(
        &mut self,
        partition: u32,
        timestamp: i64,
        record: &ProducerRecord<'_>,
    ) -> Result<Option<usize>> {
        let Some(open) = self
            .batches
            .get_mut(partition as usize)
            .and_then(Option::as_mut)
        else {
            return Ok(None);
        };
        match open.buffer.append_if_fits(
            timestamp,
            record.key,
            record.value,
            record.headers,
            open.reserved,
        ) {
            Fit::Appended(size) => Ok(Some(size)),
            Fit::NoRoom => Ok(None),
            Fit::Refused => Err(refused(&open.buffer, timestamp, record)),
        }
    }

    fn has_open(&self, partition: u32) -> bool {
        self.batches
            .get(partition as usize)
            .is_some_and(Option::is_some)
    }
}

/// The error of a batch or topic slot found missing under the shard lock, which only a
/// closing producer clears. Built on demand: an error value made and dropped on every send
/// costs a call to its destructor.
#[cold]
fn gone() -> EngineError {
    EngineError::ProducerClosed
}

/// Why the open batch refused a record.
#[cold]
#[inline(never)]
fn refused(buffer: &BatchBuffer, timestamp: i64, record: &ProducerRecord<'_>) -> EngineError {
    buffer
        .refusal(timestamp, record.key, record.value, record.headers)
        .into()
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
