//! A topic as a producer sends to it ([`Route`]), and what the sending threads and the
//! writers share about each of its partitions ([`PartitionQueue`]): how many batches are on
//! their way into the log, and whether a sending thread is appending one itself.
//!
//! # Appending in the sending thread
//!
//! A sealed batch normally crosses a channel to its partition's writer thread. When the
//! batch is small and nothing of its partition is queued or being appended, the thread that
//! sealed it appends it itself instead (caller-runs): waking a sleeping writer costs a system
//! call and a trip through the scheduler, tens of microseconds at the median and
//! milliseconds when threads compete for few cores, while the append of a small batch costs
//! well under a microsecond. Order is kept by one rule on the partition's state word: a
//! sending thread may claim the partition only when it counts zero batches (none sealed
//! earlier is queued, being appended or being completed), and while the claim stands every
//! later batch goes to the writer, which waits for the claim to end before appending. A
//! partition's batches are therefore appended, and completed, in the order they were sealed.
//!
//! Batches of any size take the same path while the threads sending flat out are as many as
//! the CPUs: a writer would then only compete with them for the cores. A sending thread then
//! waits a few microseconds for its partition to drain before it gives up on the claim
//! ([`Route::claim_within`]).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::Thread;

use super::partitioner::QueueLength;
use crate::config::ProducerConfig;
use crate::log::Log;
use crate::sync::lock;
use crate::topic::Topic;

/// The bit of [`PartitionQueue`]'s state word set while a sending thread appends a batch of
/// the partition itself; the other bits count batches sealed and not yet done.
const DIRECT: u32 = 1 << 31;

/// One partition's shared state. Aligned to a cache line: sending threads and writers
/// update the words of different partitions at once.
#[repr(align(64))]
#[derive(Default)]
pub(crate) struct PartitionQueue {
    /// Batches sealed and not yet done (appended and completed, or handed to the syncer),
    /// the one a sending thread appends itself included, plus [`DIRECT`] while it does.
    state: AtomicU32,
    /// With `linger.ms=0`: a batch was left open because the partition was busy, so whoever
    /// drains the partition wakes the linger thread to seal it.
    waiting: AtomicBool,
}

impl PartitionQueue {
    /// Batches sealed and not yet done (for adaptive partitioning).
    #[inline]
    pub(crate) fn len(&self) -> u32 {
        self.state.load(Ordering::Relaxed) & !DIRECT
    }

    /// Whether nothing of the partition is queued or being appended.
    #[inline]
    fn idle(&self) -> bool {
        self.state.load(Ordering::SeqCst) == 0
    }

    /// Counts a batch handed to the writer (before it is sent).
    #[inline]
    fn queued(&self) {
        self.state.fetch_add(1, Ordering::Relaxed);
    }

    /// Claims the partition for an append in the sending thread: only when no batch of it
    /// is queued, being appended or being completed. Acquire: the claimer sees everything
    /// the last batch's appender did, its completion included.
    #[inline]
    fn claim(&self) -> bool {
        self.state
            .compare_exchange(0, DIRECT | 1, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
    }

    /// A writer about to append a batch of this partition waits for a claim to end (the
    /// batch was sealed after the claimed one, or the claim would have failed). The wait is
    /// bounded by one small append and its completion.
    #[inline]
    fn wait_unclaimed(&self) {
        let mut spins = 0u32;
        while self.state.load(Ordering::Acquire) & DIRECT != 0 {
            if spins < SPINS_BEFORE_YIELD {
                std::hint::spin_loop();
                spins += 1;
            } else {
                std::thread::yield_now();
            }
        }
    }

    /// Takes `done` off the state (1 for a writer's batch, [`DIRECT`]` | 1` for a claimed
    /// one), release ordered after the batch's append and completion; if that drained a
    /// partition a batch waits on, wakes the linger thread to seal it.
    #[inline]
    fn done(&self, done: u32, linger: &OnceLock<Thread>) {
        let drained = self.state.fetch_sub(done, Ordering::SeqCst) == done;
        // A load first: the flag is rarely set, and a swap is a locked instruction.
        if drained
            && self.waiting.load(Ordering::SeqCst)
            && self.waiting.swap(false, Ordering::SeqCst)
        {
            if let Some(thread) = linger.get() {
                thread.unpark();
            }
        }
    }

    /// Asks whoever drains the partition to wake the linger thread; returns whether it
    /// drained meanwhile (then the caller seals the batch itself).
    fn wait_for_drain(&self) -> bool {
        if !self.waiting.load(Ordering::Relaxed) {
            self.waiting.store(true, Ordering::SeqCst);
        }
        // Either this load sees the drain, or the drainer's swap sees the flag.
        self.idle()
    }
}

impl QueueLength for Arc<PartitionQueue> {
    #[inline]
    fn queue_length(&self) -> u32 {
        self.len()
    }
}

/// Spins of a writer waiting for a claim before it starts yielding.
const SPINS_BEFORE_YIELD: u32 = 200;

/// The [`PartitionQueue`] of every partition a producer has sent to, by log: routes are
/// resolved again whenever the engine's topics change (any topic, created or altered), and
/// a partition's new route must count the batches its old one still has on the way, or a
/// batch could be appended in the sending thread ahead of them.
#[derive(Default)]
pub(crate) struct Queues {
    by_log: Mutex<HashMap<usize, Arc<PartitionQueue>>>,
}

impl Queues {
    /// The queues of `logs`, shared with earlier routes to the same logs. Entries no route
    /// holds any more are dropped (none of their batches is on the way: batches hold their
    /// route).
    fn of(&self, logs: &[Arc<Log>]) -> Box<[Arc<PartitionQueue>]> {
        let mut by_log = lock(&self.by_log);
        by_log.retain(|_, queue| Arc::strong_count(queue) > 1);
        logs.iter()
            .map(|log| {
                let key = Arc::as_ptr(log) as usize;
                Arc::clone(by_log.entry(key).or_default())
            })
            .collect()
    }
}

/// A topic as a producer sends to it: its logs, looked up once per change of the engine's
/// topics, and the state of each partition (batches on the way, for adaptive partitioning,
/// `linger.ms=0` and appends in the sending thread).
pub(crate) struct Route {
    pub(crate) name: Arc<str>,
    /// The engine's topics version this route was resolved at.
    pub(crate) version: u64,
    pub(crate) topic: Arc<Topic>,
    /// Per partition.
    pub(crate) queues: Box<[Arc<PartitionQueue>]>,
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
        producer: &ProducerConfig,
        queues: &Queues,
    ) -> Route {
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
            queues: queues.of(topic.logs()),
            max_message_bytes,
            writer_seed: name
                .bytes()
                .fold(0usize, |h, b| h.wrapping_mul(31).wrapping_add(b.into())),
            topic,
        }
    }

    pub(crate) fn partitions(&self) -> u32 {
        self.queues.len() as u32
    }

    pub(crate) fn log(&self, partition: u32) -> Option<&Arc<Log>> {
        self.topic.logs().get(partition as usize)
    }

    /// Whether `partition` has nothing queued or being appended.
    #[inline]
    pub(crate) fn idle(&self, partition: usize) -> bool {
        self.queues.get(partition).is_none_or(|q| q.idle())
    }

    /// A batch of `partition` stays open until the partition drains (`linger.ms=0`): asks
    /// the drainer to wake the linger thread then. Returns whether it drained meanwhile
    /// (then the caller seals it itself).
    pub(crate) fn wait_for_drain(&self, partition: usize) -> bool {
        self.queues
            .get(partition)
            .is_none_or(|q| q.wait_for_drain())
    }

    /// Counts a batch of `partition` handed to its writer.
    #[inline]
    pub(crate) fn queued(&self, partition: u32) {
        if let Some(q) = self.queues.get(partition as usize) {
            q.queued();
        }
    }

    /// Claims `partition` for an append in the sending thread (see the module's doc).
    #[inline]
    pub(crate) fn claim(&self, partition: u32) -> bool {
        self.queues
            .get(partition as usize)
            .is_some_and(|q| q.claim())
    }

    /// As [`claim`](Self::claim), waiting up to `patience` for the partition to drain: what
    /// is on its way is at most a few batches, appended by a writer or another sending thread.
    pub(crate) fn claim_within(&self, partition: u32, patience: std::time::Duration) -> bool {
        let Some(q) = self.queues.get(partition as usize) else {
            return false;
        };
        if q.claim() {
            return true;
        }
        let start = std::time::Instant::now();
        loop {
            for _ in 0..SPINS_BEFORE_YIELD {
                std::hint::spin_loop();
                if q.idle() && q.claim() {
                    return true;
                }
            }
            if start.elapsed() >= patience {
                return false;
            }
            std::thread::yield_now();
        }
    }

    /// Waits until no sending thread appends a batch of `partition` (the writer, before it
    /// appends one).
    #[inline]
    pub(crate) fn wait_unclaimed(&self, partition: u32) {
        if let Some(q) = self.queues.get(partition as usize) {
            q.wait_unclaimed();
        }
    }

    /// A batch of `partition` the writer was handed is done (appended and completed, or
    /// handed to the syncer, or failed).
    #[inline]
    pub(crate) fn dequeued(&self, partition: u32, linger: &OnceLock<Thread>) {
        if let Some(q) = self.queues.get(partition as usize) {
            q.done(1, linger);
        }
    }

    /// The batch a sending thread claimed `partition` for is done: ends the claim.
    #[inline]
    pub(crate) fn unclaim(&self, partition: u32, linger: &OnceLock<Thread>) {
        if let Some(q) = self.queues.get(partition as usize) {
            q.done(DIRECT | 1, linger);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_claim_needs_an_idle_partition_and_holds_it() {
        let linger = OnceLock::new();
        let q = PartitionQueue::default();
        q.queued();
        assert!(!q.claim(), "a batch is queued");
        q.done(1, &linger);
        assert!(q.claim());
        assert!(!q.idle() && !q.claim(), "claimed");
        q.queued();
        assert_eq!(q.len(), 2, "the claimed batch counts");
        q.done(DIRECT | 1, &linger);
        assert_eq!(q.len(), 1);
        q.wait_unclaimed(); // returns: the claim ended
        q.done(1, &linger);
        assert!(q.idle());
    }

    #[test]
    fn a_writer_waits_for_the_claim_to_end() {
        let linger = OnceLock::new();
        let q = Arc::new(PartitionQueue::default());
        assert!(q.claim());
        let ended = Arc::new(AtomicBool::new(false));
        let writer = {
            let (q, ended) = (Arc::clone(&q), Arc::clone(&ended));
            std::thread::spawn(move || {
                q.wait_unclaimed();
                ended.load(Ordering::Acquire)
            })
        };
        std::thread::sleep(std::time::Duration::from_millis(20));
        ended.store(true, Ordering::Release);
        q.done(DIRECT | 1, &linger);
        assert!(
            writer.join().unwrap(),
            "the writer went on only after the claim"
        );
    }
}
