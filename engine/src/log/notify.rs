//! Wake-ups for readers that wait for appends: [`Notify`], a source (a log's appends; any
//! other event a reader waits for, such as a consumer group's changes), and [`Waiter`], one
//! waiting thread's side, which can watch several sources at once.
//!
//! The append path pays for this only when someone waits: a sequentially consistent fence and
//! one atomic load of the waiter count. Nobody waiting, it takes no lock and makes no system
//! call; someone waiting, it takes the registry's lock and wakes each registered waiter (a
//! system call only for a waiter that is asleep).
//!
//! No wake-up is lost, because a waiter registers *before* it checks for what it waits for:
//!
//! ```text
//! append:  publish the new end (release) · fence(SeqCst) · load waiter count
//! waiter:  register (count + 1)          · fence(SeqCst) · read the end (acquire) · sleep
//! ```
//!
//! With a fence on each side, either the append sees the waiter registered (and wakes it,
//! and a wake that comes before the sleep makes the sleep return at once), or the waiter's
//! check sees the appended data (and does not sleep).

use std::sync::atomic::{fence, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Instant;

use crate::sync::lock;

/// A source of wake-ups that [`Waiter`]s register with: every [`Log`](crate::Log) has one
/// for its appends ([`Log::append_notify`](crate::Log::append_notify)).
///
/// [`Notify::notify`] costs one fence and one atomic load while no waiter is registered,
/// so it can sit on a hot path.
#[derive(Debug, Default)]
pub struct Notify {
    /// Registered waiters: what [`Notify::notify`] reads first, without the lock.
    count: AtomicUsize,
    /// The registered waiters themselves (bounded by the threads waiting).
    waiters: Mutex<Vec<Waiter>>,
}

impl Notify {
    /// A source with no waiter registered.
    pub fn new() -> Self {
        Notify::default()
    }

    /// Wakes every registered waiter. Call it after publishing what waiters wait for (with a
    /// release store or stronger): a waiter registered before that store is woken, and one
    /// registered after it sees the store when it checks.
    #[inline]
    pub fn notify(&self) {
        // Orders the caller's publishing store before the load of the count (the other half
        // of the fence in `register`).
        fence(Ordering::SeqCst);
        if self.count.load(Ordering::Relaxed) == 0 {
            return;
        }
        self.notify_registered();
    }

    #[cold]
    fn notify_registered(&self) {
        for waiter in lock(&self.waiters).iter() {
            waiter.wake();
        }
    }

    /// Registers `waiter`: from now on every [`Notify::notify`] wakes it, until
    /// [`Notify::unregister`]. The caller must check for what it waits for *after* this
    /// returns, and only then sleep in [`Waiter::wait_until`].
    pub fn register(&self, waiter: &Waiter) {
        {
            let mut waiters = lock(&self.waiters);
            waiters.push(waiter.clone());
            self.count.store(waiters.len(), Ordering::Relaxed);
        }
        // Orders the count's store before the caller's check (see the module's doc).
        fence(Ordering::SeqCst);
    }

    /// Removes one registration of `waiter` (none: nothing happens).
    pub fn unregister(&self, waiter: &Waiter) {
        let mut waiters = lock(&self.waiters);
        if let Some(i) = waiters
            .iter()
            .position(|w| Arc::ptr_eq(&w.inner, &waiter.inner))
        {
            waiters.swap_remove(i);
        }
        self.count.store(waiters.len(), Ordering::Relaxed);
    }

    /// Waiters registered now.
    pub fn waiters(&self) -> usize {
        self.count.load(Ordering::Relaxed)
    }
}

/// One thread's wait on one or more [`Notify`] sources. Cloning gives another handle to the
/// same waiter.
///
/// A wake-up that arrives while the thread is not asleep is kept, and makes the next
/// [`Waiter::wait_until`] return at once; [`Waiter::reset`] drops it.
#[derive(Debug, Clone, Default)]
pub struct Waiter {
    inner: Arc<WaiterInner>,
}

#[derive(Debug, Default)]
struct WaiterInner {
    state: Mutex<WaiterState>,
    wake: Condvar,
}

#[derive(Debug, Default)]
struct WaiterState {
    woken: bool,
    /// True while the thread sleeps on `wake`: only then does a wake-up signal the
    /// condition variable (a system call).
    asleep: bool,
}

impl Waiter {
    /// A waiter, not yet woken.
    pub fn new() -> Self {
        Waiter::default()
    }

    /// Wakes the waiter (its sleep returns, or its next one does not start).
    pub fn wake(&self) {
        let mut state = lock(&self.inner.state);
        state.woken = true;
        if state.asleep {
            self.inner.wake.notify_one();
        }
    }

    /// Forgets a wake-up not yet consumed.
    pub fn reset(&self) {
        lock(&self.inner.state).woken = false;
    }

    /// Sleeps until woken or until `deadline`; returns whether it was woken (and consumes
    /// the wake-up).
    pub fn wait_until(&self, deadline: Instant) -> bool {
        let mut state = lock(&self.inner.state);
        while !state.woken {
            let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                break;
            };
            if left.is_zero() {
                break;
            }
            state.asleep = true;
            state = match self.inner.wake.wait_timeout(state, left) {
                Ok((state, _)) => state,
                Err(poisoned) => poisoned.into_inner().0,
            };
            state.asleep = false;
        }
        std::mem::take(&mut state.woken)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_wake_before_the_wait_is_kept() {
        let waiter = Waiter::new();
        waiter.wake();
        assert!(waiter.wait_until(Instant::now() + Duration::from_secs(60)));
        assert!(!waiter.wait_until(Instant::now()));
    }

    #[test]
    fn reset_drops_a_pending_wake() {
        let waiter = Waiter::new();
        waiter.wake();
        waiter.reset();
        assert!(!waiter.wait_until(Instant::now() + Duration::from_millis(1)));
    }

    #[test]
    fn registrations_are_counted() {
        let notify = Notify::new();
        let (a, b) = (Waiter::new(), Waiter::new());
        notify.register(&a);
        notify.register(&b);
        assert_eq!(notify.waiters(), 2);
        notify.notify();
        assert!(a.wait_until(Instant::now()));
        assert!(b.wait_until(Instant::now()));
        notify.unregister(&a);
        notify.unregister(&a);
        assert_eq!(notify.waiters(), 1);
        notify.notify();
        assert!(!a.wait_until(Instant::now()));
        assert!(b.wait_until(Instant::now()));
    }
}
