//! `buffer.memory`: the bytes a producer's batches may hold at once, lent out as buffers.
//!
//! Like Kafka's `BufferPool`, buffers of exactly `batch.size` bytes are kept on a free list
//! and reused, so steady producing allocates nothing; other sizes (a record larger than a
//! batch) are allocated and freed. A request that does not fit waits, up to `max.block.ms`,
//! for buffers to come back.
//!
//! A shard may keep one `batch.size` buffer back (a spare) for its next batch, while no
//! sender waits here: see [`BufferPool::has_waiters`] and the `reclaim` of
//! [`BufferPool::allocate`].

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use crate::error::{EngineError, Result};
use crate::sync::lock;

pub(crate) struct BufferPool {
    limit: usize,
    poolable: usize,
    state: Mutex<PoolState>,
    returned: Condvar,
    /// `PoolState::waiters`, readable without the lock.
    waiters: AtomicUsize,
}

struct PoolState {
    /// Bytes neither lent out nor on the free list.
    unpooled: usize,
    /// Buffers of capacity `poolable`, ready to lend.
    free: Vec<Vec<u8>>,
    /// Senders waiting for memory.
    waiters: usize,
}

impl BufferPool {
    pub(crate) fn new(limit: usize, poolable: usize) -> Self {
        BufferPool {
            limit,
            poolable,
            state: Mutex::new(PoolState {
                unpooled: limit,
                free: Vec::new(),
                waiters: 0,
            }),
            returned: Condvar::new(),
            waiters: AtomicUsize::new(0),
        }
    }

    /// The size of the buffers the pool keeps (`batch.size`).
    pub(crate) fn poolable(&self) -> usize {
        self.poolable
    }

    /// Whether a sender waits for memory: a shard then returns a spare buffer rather than
    /// keeping it. Registration happens before the waiter reclaims spares (under each
    /// shard's lock), so a shard either sees the waiter or has its spare reclaimed.
    pub(crate) fn has_waiters(&self) -> bool {
        self.waiters.load(Ordering::Relaxed) > 0
    }

    /// `buffer.memory`.
    pub(crate) fn limit(&self) -> usize {
        self.limit
    }

    /// A buffer of capacity at least `size`, or `None` if that much is not free now.
    pub(crate) fn try_allocate(&self, size: usize) -> Option<Vec<u8>> {
        let mut state = lock(&self.state);
        if state.waiters > 0 {
            return None; // first come, first served: queue behind the waiters
        }
        self.take(&mut state, size)
    }

    /// A buffer of capacity at least `size`, waiting up to `max_block` for memory to be
    /// returned; [`EngineError::BufferExhausted`] if none was in time. `reclaim` runs once
    /// this sender counts as waiting, before it waits: it returns the shards' spares.
    pub(crate) fn allocate(
        &self,
        size: usize,
        max_block: Duration,
        reclaim: impl FnOnce(),
    ) -> Result<Vec<u8>> {
        let start = Instant::now();
        {
            let mut state = lock(&self.state);
            state.waiters += 1;
            self.waiters.store(state.waiters, Ordering::Relaxed);
        }
        reclaim();
        let mut state = lock(&self.state);
        let result = loop {
            if let Some(buffer) = self.take(&mut state, size) {
                break Ok(buffer);
            }
            let waited = start.elapsed();
            let Some(left) = max_block.checked_sub(waited).filter(|d| !d.is_zero()) else {
                break Err(EngineError::BufferExhausted {
                    requested: size,
                    waited_ms: waited.as_millis() as u64,
                    buffer_memory: self.limit,
                });
            };
            state = self
                .returned
                .wait_timeout(state, left)
                .map_or_else(|p| p.into_inner().0, |(guard, _)| guard);
        };
        state.waiters -= 1;
        self.waiters.store(state.waiters, Ordering::Relaxed);
        drop(state);
        // Another waiter may fit in what is left.
        self.returned.notify_all();
        result
    }

    /// Returns a buffer that was lent for `size` bytes.
    pub(crate) fn release(&self, mut buffer: Vec<u8>, size: usize) {
        let mut state = lock(&self.state);
        if size == self.poolable && buffer.capacity() == self.poolable {
            buffer.clear();
            state.free.push(buffer);
        } else {
            state.unpooled += size;
            drop(buffer);
        }
        let wake = state.waiters > 0;
        drop(state);
        if wake {
            self.returned.notify_all();
        }
    }

    /// Bytes neither lent out nor waiting on the free list, plus the free list's.
    #[cfg(test)]
    fn available(&self) -> usize {
        let state = lock(&self.state);
        state.unpooled + state.free.len() * self.poolable
    }

    fn take(&self, state: &mut PoolState, size: usize) -> Option<Vec<u8>> {
        if size == self.poolable {
            if let Some(buffer) = state.free.pop() {
                return Some(buffer);
            }
        }
        // Give free buffers back to the unpooled memory until `size` fits.
        while state.unpooled < size {
            state.free.pop()?;
            state.unpooled += self.poolable;
        }
        state.unpooled -= size;
        Some(Vec::with_capacity(size))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pooled_buffers_are_reused_and_memory_is_bounded() {
        let pool = BufferPool::new(4096, 1024);
        let a = pool.try_allocate(1024).unwrap();
        let b = pool.try_allocate(3072).unwrap();
        assert!(pool.try_allocate(1).is_none(), "all 4096 bytes are lent");
        let a_ptr = a.as_ptr();
        pool.release(a, 1024);
        let again = pool.try_allocate(1024).unwrap();
        assert_eq!(again.as_ptr(), a_ptr, "a batch.size buffer is reused");
        pool.release(again, 1024);
        pool.release(b, 3072);
        assert_eq!(pool.available(), 4096);
        // A large request takes the free list back.
        let big = pool.try_allocate(4096).unwrap();
        assert_eq!(pool.available(), 0);
        pool.release(big, 4096);
    }

    #[test]
    fn allocate_times_out_then_succeeds_once_memory_returns() {
        let pool = std::sync::Arc::new(BufferPool::new(1000, 1000));
        let held = pool.allocate(1000, Duration::ZERO, || ()).unwrap();
        let err = pool
            .allocate(10, Duration::from_millis(20), || ())
            .unwrap_err();
        assert!(
            matches!(err, EngineError::BufferExhausted { requested: 10, .. }),
            "{err}"
        );
        let waiter = {
            let pool = std::sync::Arc::clone(&pool);
            std::thread::spawn(move || {
                pool.allocate(10, Duration::from_secs(60), || ())
                    .map(|b| b.capacity())
            })
        };
        pool.release(held, 1000);
        assert!(waiter.join().unwrap().unwrap() >= 10);
    }
}
