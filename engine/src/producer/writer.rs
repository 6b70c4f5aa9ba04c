//! The partition writers and the syncer.
//!
//! Each writer thread owns a fixed set of partitions (a partition's batches always go to the
//! same writer, through one bounded channel, so they are appended in the order they were
//! sealed). A writer stamps offsets and copies the batch into the active segment
//! ([`Log::append_produced`]), returns the batch's buffer to the pool, and completes the
//! batch, or, with `acks=all`, passes it to the syncer. The syncer drains everything waiting,
//! syncs each partition once up to the highest offset waiting on it (group commit: one sync
//! for every batch, of every producer, that it covers), and completes the batches.
//!
//! A small batch sealed while its partition has nothing on the way is appended by the
//! sending thread itself, with the same [`append_to_log`] and [`complete`] (see
//! [`route`](super::route) for how that keeps each partition's order); a writer waits for
//! such an append to end before it appends a later batch of the partition.

use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex};

use crossbeam_channel::{Receiver, Sender};

use super::batch_ref::BatchRef;
use super::memory::BufferPool;
use super::record::{Appended, Callbacks};
use super::route::Route;
use crate::error::EngineError;
use crate::log::{Log, LogAppendInfo};
use crate::sync::lock;

/// Most messages a writer takes from its channel before completing what it appended.
const DRAIN: usize = 64;

/// A sealed batch on its way to its partition's writer.
pub(crate) struct ProducedBatch {
    pub(crate) route: Arc<Route>,
    pub(crate) partition: u32,
    pub(crate) bytes: Vec<u8>,
    /// Bytes of `buffer.memory` lent for it.
    pub(crate) reserved: usize,
    pub(crate) delivery: BatchRef,
    pub(crate) callbacks: Callbacks,
}

pub(crate) enum WriterMsg {
    Batch(ProducedBatch),
    /// Counted down once everything before it on this writer is acknowledged.
    Flush(Arc<Latch>),
    /// Everything before it is handled; the writer exits.
    Stop,
}

pub(crate) enum SyncMsg {
    Batch {
        log: Arc<Log>,
        end: i64,
        appended: Appended,
        delivery: BatchRef,
    },
    Flush(Arc<Latch>),
}

/// Counts down to zero; `wait` blocks until it gets there.
pub(crate) struct Latch {
    remaining: Mutex<usize>,
    zero: Condvar,
}

impl Latch {
    pub(crate) fn new(count: usize) -> Arc<Latch> {
        Arc::new(Latch {
            remaining: Mutex::new(count),
            zero: Condvar::new(),
        })
    }

    pub(crate) fn count_down(&self) {
        let mut remaining = lock(&self.remaining);
        *remaining = remaining.saturating_sub(1);
        if *remaining == 0 {
            self.zero.notify_all();
        }
    }

    pub(crate) fn wait(&self) {
        let mut remaining = lock(&self.remaining);
        while *remaining > 0 {
            remaining = self.zero.wait(remaining).unwrap_or_else(|p| p.into_inner());
        }
    }
}

/// A writer thread's loop: append batches until [`WriterMsg::Stop`].
pub(crate) fn run_writer(
    rx: Receiver<WriterMsg>,
    pool: Arc<BufferPool>,
    syncer: Option<Sender<SyncMsg>>,
    linger: Arc<std::sync::OnceLock<std::thread::Thread>>,
) {
    'run: while let Ok(first) = next_message(&rx) {
        let mut next = Some(first);
        let mut taken = 0;
        while let Some(msg) = next.take() {
            match msg {
                WriterMsg::Batch(batch) => append(batch, &pool, syncer.as_ref(), &linger),
                WriterMsg::Flush(latch) => match &syncer {
                    Some(syncer) => {
                        if let Err(e) = syncer.send(SyncMsg::Flush(latch)) {
                            if let SyncMsg::Flush(latch) = e.into_inner() {
                                latch.count_down();
                            }
                        }
                    }
                    None => latch.count_down(),
                },
                WriterMsg::Stop => break 'run,
            }
            taken += 1;
            if taken < DRAIN {
                next = rx.try_recv().ok();
            }
        }
    }
}

/// The next message, waiting for it: first spinning for a short while (a producer that is
/// sending seals a batch every few microseconds, and waking a sleeping writer costs the
/// sealing thread a system call per batch), then sleeping.
fn next_message<T>(rx: &Receiver<T>) -> Result<T, crossbeam_channel::RecvError> {
    const SPIN: std::time::Duration = std::time::Duration::from_micros(50);
    if let Ok(msg) = rx.try_recv() {
        return Ok(msg);
    }
    let start = std::time::Instant::now();
    loop {
        for _ in 0..64 {
            std::hint::spin_loop();
        }
        if let Ok(msg) = rx.try_recv() {
            return Ok(msg);
        }
        if start.elapsed() >= SPIN {
            return rx.recv();
        }
        std::thread::yield_now();
    }
}

/// The writer's part for one batch: waits for a sending thread's append of the partition to
/// end (see [`route`](super::route)), appends the batch, returns its buffer and completes
/// it, and only then counts it done, so that no later batch of the partition can be
/// appended, or completed, before it.
fn append(
    batch: ProducedBatch,
    pool: &BufferPool,
    syncer: Option<&Sender<SyncMsg>>,
    linger: &std::sync::OnceLock<std::thread::Thread>,
) {
    let ProducedBatch {
        route,
        partition,
        mut bytes,
        reserved,
        delivery,
        callbacks,
    } = batch;
    route.wait_unclaimed(partition);
    let result = append_to_log(&route, partition, &mut bytes);
    pool.release(bytes, reserved);
    complete(&route, partition, result, delivery, callbacks, syncer);
    route.dequeued(partition, linger);
}

/// Stamps offsets and copies a sealed batch into its partition's active segment
/// ([`Log::append_produced`]). The caller holds the partition's turn: it is the partition's
/// writer, or a sending thread that claimed the partition.
pub(crate) fn append_to_log(
    route: &Route,
    partition: u32,
    bytes: &mut [u8],
) -> crate::error::Result<LogAppendInfo> {
    match route.log(partition) {
        Some(log) => log.append_produced(bytes),
        None => Err(EngineError::UnknownPartition {
            topic: route.name.to_string(),
            partition,
            partitions: route.partitions(),
        }),
    }
}

/// Completes a batch once [`append_to_log`] returned `result`, running `callbacks`; with
/// `acks=all` (`syncer`), an appended batch goes to the syncer instead, which completes it
/// once it is synced.
pub(crate) fn complete(
    route: &Route,
    partition: u32,
    result: crate::error::Result<LogAppendInfo>,
    delivery: BatchRef,
    callbacks: Callbacks,
    syncer: Option<&Sender<SyncMsg>>,
) {
    let info = match result {
        Ok(info) => info,
        Err(e) => return delivery.complete_with(Err(e), callbacks),
    };
    let appended = Appended {
        base_offset: info.first_offset,
        log_append_time: info.log_append_time,
    };
    match (syncer, route.log(partition)) {
        (Some(syncer), Some(log)) => {
            delivery.set_callbacks(callbacks);
            let msg = SyncMsg::Batch {
                log: Arc::clone(log),
                end: info.last_offset + 1,
                appended,
                delivery,
            };
            if let Err(e) = syncer.send(msg) {
                if let SyncMsg::Batch { delivery, .. } = e.into_inner() {
                    delivery.complete(Err(EngineError::ProducerClosed));
                }
            }
        }
        _ => delivery.complete_with(Ok(appended), callbacks),
    }
}

/// The syncer's loop (`acks=all`): until every writer is gone.
pub(crate) fn run_syncer(rx: Receiver<SyncMsg>) {
    let mut round: Vec<SyncMsg> = Vec::new();
    while let Ok(first) = rx.recv() {
        round.push(first);
        round.extend(rx.try_iter());
        sync_round(&mut round);
    }
}

/// Syncs each partition in `round` once, to the highest end waiting on it, then completes
/// the round's batches (with the sync's error if it failed: an unsynced batch is never
/// acknowledged) and its flush latches.
fn sync_round(round: &mut Vec<SyncMsg>) {
    let mut targets: HashMap<*const Log, (Arc<Log>, i64)> = HashMap::new();
    for msg in round.iter() {
        if let SyncMsg::Batch { log, end, .. } = msg {
            let target = targets
                .entry(Arc::as_ptr(log))
                .or_insert_with(|| (Arc::clone(log), *end));
            target.1 = target.1.max(*end);
        }
    }
    let outcomes: HashMap<*const Log, Option<Arc<EngineError>>> = targets
        .into_iter()
        .map(|(key, (log, end))| (key, log.flush_up_to(end).err().map(Arc::new)))
        .collect();
    for msg in round.drain(..) {
        match msg {
            SyncMsg::Batch {
                log,
                appended,
                delivery,
                ..
            } => match outcomes.get(&Arc::as_ptr(&log)) {
                Some(Some(error)) => delivery.complete_shared(Err(Arc::clone(error))),
                _ => delivery.complete(Ok(appended)),
            },
            SyncMsg::Flush(latch) => latch.count_down(),
        }
    }
}
