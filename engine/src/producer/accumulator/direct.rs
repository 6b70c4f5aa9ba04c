//! Appends in the sending thread (see [`route`](crate::producer::route)): the batch a
//! `send` seals and appends itself while it holds the shard's lock, completed once it has
//! released it; the buffer it keeps for its next batch; and, with `linger.ms=0`, the pace
//! that tells when its records should gather into batches (see
//! [`pace`](crate::producer::pace)).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use super::{Shard, ShardState};
use crate::error::Result;
use crate::log::LogAppendInfo;
use crate::producer::batch_ref::BatchRef;
use crate::producer::record::Callbacks;
use crate::producer::route::Route;
use crate::producer::writer::{self, ProducedBatch};
use crate::producer::Shared;

/// Largest sealed batch a sending thread appends itself rather than handing it to the
/// partition's writer. A small batch costs less to append than waking the writer does; a
/// large one is a copy the writer does better on another core while the sender encodes the
/// next. A batch a busy sender filled follows [`DirectRule`] instead (see [`BUSY_FILL`]).
pub(super) const DIRECT_APPEND_MAX_BYTES: usize = 8192;

/// With `linger.ms=0`, what a saturated sender's batch gathers before it seals (see
/// [`pace`](crate::producer::pace)): about 30 records of 100 bytes, a few microseconds of
/// sending. Sealed with its last record, it stays within [`DIRECT_APPEND_MAX_BYTES`] unless
/// that record is large.
pub(super) const GATHER_BYTES: usize = 4096;

/// With `linger.ms=0`, how long the linger thread leaves a gathering batch (see
/// [`GATHER_BYTES`]) to the sending thread: the last batch of a saturated run, whose
/// sender paused, is sealed by its next send or, at the latest, then.
pub(super) const GATHER_TAIL: std::time::Duration = std::time::Duration::from_millis(1);

/// A sending thread that fills a batch within this time is busy: at 100-byte records and the
/// default `batch.size`, 3 million records a second or more. While busy senders are as
/// many as the CPUs, each appends its own full batches (when their partition can be claimed)
/// rather than handing them to a writer: the writer's copy costs the same CPU time either
/// way, and a writer competing with the senders for the cores adds its spinning, wake-ups
/// and cache traffic to it.
pub(super) const BUSY_FILL: std::time::Duration = std::time::Duration::from_micros(50);

/// How long a busy sending thread waits for its partition to drain before it hands its full
/// batch to the writer after all: about the time a writer takes to append a few batches.
const CLAIM_PATIENCE: std::time::Duration = std::time::Duration::from_micros(20);

/// How long a sending thread counts as busy after it filled a batch within [`BUSY_FILL`].
const BUSY_HOLD: std::time::Duration = std::time::Duration::from_millis(1);

/// A batch the sending thread appended itself under the shard's lock, to complete (run
/// callbacks, which may send again) once it has released the lock.
pub(super) struct DirectBatch {
    route: Arc<Route>,
    partition: u32,
    result: Result<LogAppendInfo>,
    delivery: BatchRef,
    callbacks: Callbacks,
}

impl Shard {
    /// With `linger.ms=0`, whether the sending thread is saturated (see
    /// [`pace`](crate::producer::pace)). Called under the shard's lock, at the start of a send.
    #[inline]
    pub(super) fn pace(&self, state: &mut ShardState) -> bool {
        let ticks = state.clock.ticks();
        let last_end = self.last_end.load(Ordering::Relaxed);
        state.pace.saturated(ticks, ticks.now(), last_end)
    }

    /// Waits until the append a sending thread makes of a batch this shard sealed, if one is
    /// under way, is done (for `flush` and `close`, after [`seal_all`](Self::seal_all)).
    pub(crate) fn wait_direct(&self) {
        let seen = self.direct.load(Ordering::Acquire);
        if seen.is_multiple_of(2) {
            return;
        }
        let mut spins = 0u32;
        while self.direct.load(Ordering::Acquire) == seen {
            if spins < 100 {
                std::hint::spin_loop();
                spins += 1;
            } else {
                std::thread::yield_now();
            }
        }
    }

    /// Returns the shard's spare buffer to the pool (a sender is about to wait for memory).
    pub(crate) fn reclaim_spare(&self, shared: &Shared) {
        let spare = self.state.lock().spare.take();
        if let Some(buffer) = spare {
            shared.pool.release(buffer, shared.pool.poolable());
        }
    }
}

/// Which sealed batches the sending thread may append itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum DirectRule {
    /// Small ones ([`DIRECT_APPEND_MAX_BYTES`]): a batch sealed with its partition idle.
    Small,
    /// None: a batch a busy sender filled while CPUs are left for the writer, which then
    /// copies it while the sender fills the next.
    Never,
    /// Any, waiting briefly for the partition: busy senders occupy every CPU.
    AnySize,
}

impl Shared {
    /// Called by a sending thread whose batch, opened at `opened`, just filled: marks its
    /// shard busy (`busy_until`) if it filled within [`BUSY_FILL`], and says which rule its
    /// append follows.
    pub(super) fn filled_batch_rule(&self, opened: Instant, busy_until: &AtomicU64) -> DirectRule {
        let now = Instant::now();
        if now.duration_since(opened) > BUSY_FILL {
            return DirectRule::Small;
        }
        let now_ns = self.nanos(now);
        busy_until.store(now_ns + BUSY_HOLD.as_nanos() as u64, Ordering::Relaxed);
        let busy = self
            .shards
            .iter()
            .filter(|shard| shard.busy_until.load(Ordering::Relaxed) > now_ns)
            .count();
        if busy >= self.cpus {
            DirectRule::AnySize
        } else {
            DirectRule::Never
        }
    }
}

impl ShardState {
    /// Appends `batch` here if `send` allows it, the batch is small and its partition can be
    /// claimed, and leaves it in `direct` for the sending thread to complete once it has
    /// released the lock; else gives the batch back, for the writer.
    pub(super) fn append_direct(
        &mut self,
        shared: &Shared,
        batch: ProducedBatch,
    ) -> Option<ProducedBatch> {
        let claimed = self.direct_allowed
            && match self.direct_rule {
                DirectRule::Small => {
                    batch.bytes.len() <= DIRECT_APPEND_MAX_BYTES
                        && batch.route.claim(batch.partition)
                }
                DirectRule::Never => false,
                DirectRule::AnySize => batch.route.claim_within(batch.partition, CLAIM_PATIENCE),
            };
        if !claimed {
            return Some(batch);
        }
        self.direct_allowed = false;
        let ProducedBatch {
            route,
            partition,
            mut bytes,
            reserved,
            delivery,
            callbacks,
        } = batch;
        let result = writer::append_to_log(&route, partition, &mut bytes);
        self.keep_spare(shared, bytes, reserved);
        self.direct = Some(DirectBatch {
            route,
            partition,
            result,
            delivery,
            callbacks,
        });
        None
    }

    /// Keeps the buffer of a batch appended here as the shard's spare, or returns it.
    fn keep_spare(&mut self, shared: &Shared, mut buffer: Vec<u8>, reserved: usize) {
        let poolable = shared.pool.poolable();
        if self.spare.is_none()
            && reserved == poolable
            && buffer.capacity() == poolable
            && !shared.pool.has_waiters()
        {
            buffer.clear();
            self.spare = Some(buffer);
        } else {
            shared.pool.release(buffer, reserved);
        }
    }
}

impl DirectBatch {
    /// Completes the batch the sending thread appended (callbacks included), then ends its
    /// claim on the partition and stores `directs` (even: none under way) in the shard's
    /// count, even if a callback panics.
    pub(super) fn complete(self, shared: &Shared, count: &AtomicU64, directs: u64) {
        let DirectBatch {
            route,
            partition,
            result,
            delivery,
            callbacks,
        } = self;
        let claim = Claim {
            route,
            partition,
            shared,
            count,
            directs,
        };
        writer::complete(&claim.route, partition, result, delivery, callbacks, None);
    }
}

/// A sending thread's claim on a partition, ended when dropped (see [`DirectBatch::complete`]).
struct Claim<'a> {
    route: Arc<Route>,
    partition: u32,
    shared: &'a Shared,
    count: &'a AtomicU64,
    directs: u64,
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        self.route
            .unclaim(self.partition, &self.shared.linger_thread);
        self.count.store(self.directs, Ordering::Release);
    }
}
