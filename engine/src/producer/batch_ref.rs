//! Counted references to a batch's [`BatchDelivery`] that cost no atomic operation per
//! record.
//!
//! Every record sent gets a [`Delivery`](super::Delivery) handle that refers to its batch's
//! shared fate. With an `Arc`, creating a handle and dropping it are two atomic
//! read-modify-writes per record, each of which also waits for the record's encoding stores
//! to drain: removing them took the sending thread from 87 to 77 ns a record. Here:
//!
//! - While a batch is open, its [`OpenRef`] holds a *biased* count ([`BIAS`] references). A
//!   handle made from it ([`OpenRef::handle`]) only bumps a plain counter under the shard's
//!   lock; when the batch seals, one atomic subtraction gives back the part of the bias
//!   that no handle took ([`OpenRef::seal`]).
//! - A dropped handle ([`HandleRef`]) does not decrement at once: each thread keeps the
//!   last batch it dropped handles of and how many, and gives them back in one atomic
//!   subtraction when it drops a handle of another batch, or when it exits. A thread that
//!   drops handles as it sends (the common case) makes one atomic operation per batch.
//!
//! The price of the deferral: a batch's `BatchDelivery` (not its records, which the writer
//! frees when it appends them) lives until the thread that dropped its last handles drops
//! one of another batch, or exits.

use std::cell::Cell;
use std::marker::PhantomData;
use std::ops::Deref;
use std::ptr::NonNull;
use std::sync::atomic::{fence, AtomicUsize, Ordering};

use super::record::BatchDelivery;

/// References an open batch's [`OpenRef`] stands for: more than any batch can hold records
/// (a batch is under 2 GiB and a record takes at least 7 bytes), plus the one its sealed
/// form keeps.
const BIAS: usize = 1 << (usize::BITS - 2);

/// A `BatchDelivery` with its reference count.
struct Counted {
    refs: AtomicUsize,
    delivery: BatchDelivery,
}

/// Gives back `n` references to `counted`, freeing it with the last.
///
/// # Safety
///
/// The caller owns `n` references to `counted` and uses none of them afterwards.
unsafe fn release(counted: NonNull<Counted>, n: usize) {
    // SAFETY: the caller's references keep `counted` alive until this subtraction.
    let refs = unsafe { &counted.as_ref().refs };
    if refs.fetch_sub(n, Ordering::Release) == n {
        // Every other owner's last use happened before its release subtraction.
        fence(Ordering::Acquire);
        // SAFETY: that was the last reference; `counted` came from `Box::leak` in
        // `OpenRef::new`, and nothing reaches it any more.
        drop(unsafe { Box::from_raw(counted.as_ptr()) });
    }
}

/// The open batch's hold on its delivery: [`BIAS`] references, less those its handles took.
pub(crate) struct OpenRef {
    counted: NonNull<Counted>,
    issued: usize,
}

// SAFETY: an `OpenRef` owns its references as an `Arc<BatchDelivery>` would; the delivery is
// `Send + Sync`, and the plain counter is only touched through `&mut self`.
unsafe impl Send for OpenRef {}
// SAFETY: `&OpenRef` only reaches the `BatchDelivery`, which is `Sync`.
unsafe impl Sync for OpenRef {}

impl OpenRef {
    pub(crate) fn new(delivery: BatchDelivery) -> OpenRef {
        let counted = Box::new(Counted {
            refs: AtomicUsize::new(BIAS),
            delivery,
        });
        OpenRef {
            counted: NonNull::from(Box::leak(counted)),
            issued: 0,
        }
    }

    /// A reference for one record's handle: no atomic operation.
    #[inline]
    pub(crate) fn handle(&mut self) -> HandleRef {
        // A batch holds far fewer records than the bias (see `BIAS`).
        debug_assert!(self.issued < BIAS - 1);
        self.issued += 1;
        HandleRef {
            counted: self.counted,
            _owns: PhantomData,
        }
    }

    /// The sealed batch's reference: what the bias holds beyond it and the handles goes
    /// back in one subtraction.
    pub(crate) fn seal(self) -> BatchRef {
        let counted = self.counted;
        let unused = BIAS - self.issued - 1;
        std::mem::forget(self);
        // SAFETY: `counted` is alive: this `OpenRef` held `BIAS - issued` references, of
        // which it gives back all but the one the `BatchRef` keeps.
        unsafe { counted.as_ref() }
            .refs
            .fetch_sub(unused, Ordering::Release);
        BatchRef { counted }
    }
}

impl Drop for OpenRef {
    fn drop(&mut self) {
        // SAFETY: this `OpenRef` holds `BIAS - issued` references and is gone after this.
        unsafe { release(self.counted, BIAS - self.issued) }
    }
}

impl Deref for OpenRef {
    type Target = BatchDelivery;

    fn deref(&self) -> &BatchDelivery {
        // SAFETY: the references this `OpenRef` holds keep `counted` alive.
        unsafe { &self.counted.as_ref().delivery }
    }
}

/// A sealed batch's counted reference (as `Arc<BatchDelivery>`).
pub(crate) struct BatchRef {
    counted: NonNull<Counted>,
}

// SAFETY: as `Arc<BatchDelivery>`: shared ownership of a `Send + Sync` value.
unsafe impl Send for BatchRef {}
// SAFETY: as above.
unsafe impl Sync for BatchRef {}

impl Clone for BatchRef {
    fn clone(&self) -> BatchRef {
        // SAFETY: `self` keeps `counted` alive. Relaxed, as `Arc::clone`: the new reference
        // is made from one already held.
        unsafe { self.counted.as_ref() }
            .refs
            .fetch_add(1, Ordering::Relaxed);
        BatchRef {
            counted: self.counted,
        }
    }
}

impl Drop for BatchRef {
    fn drop(&mut self) {
        // SAFETY: this `BatchRef` holds one reference and is gone after this.
        unsafe { release(self.counted, 1) }
    }
}

impl Deref for BatchRef {
    type Target = BatchDelivery;

    fn deref(&self) -> &BatchDelivery {
        // SAFETY: the reference this `BatchRef` holds keeps `counted` alive.
        unsafe { &self.counted.as_ref().delivery }
    }
}

/// One record handle's reference, given back through the dropping thread's [`Deferred`].
pub(crate) struct HandleRef {
    counted: NonNull<Counted>,
    /// Owns a reference, as `BatchRef` does (for drop check).
    _owns: PhantomData<Counted>,
}

// SAFETY: as `BatchRef`.
unsafe impl Send for HandleRef {}
// SAFETY: as `BatchRef`.
unsafe impl Sync for HandleRef {}

impl Deref for HandleRef {
    type Target = BatchDelivery;

    fn deref(&self) -> &BatchDelivery {
        // SAFETY: the reference this handle holds keeps `counted` alive.
        unsafe { &self.counted.as_ref().delivery }
    }
}

impl Drop for HandleRef {
    #[inline]
    fn drop(&mut self) {
        let counted = self.counted;
        let deferred = DEFERRED.try_with(|d| d.add(counted));
        if deferred.is_err() {
            // This thread's `Deferred` is gone (the thread is exiting).
            // SAFETY: this handle holds one reference and is gone after this.
            unsafe { release(counted, 1) }
        }
    }
}

/// A thread's handle references not yet given back: `count` of `batch`'s.
struct Deferred {
    batch: Cell<Option<NonNull<Counted>>>,
    count: Cell<usize>,
}

impl Deferred {
    #[inline]
    fn add(&self, counted: NonNull<Counted>) {
        if self.batch.get() == Some(counted) {
            self.count.set(self.count.get() + 1);
        } else {
            // The state is whole before `release`, which may drop callbacks that drop
            // handles and come back here.
            let previous = self.batch.replace(Some(counted));
            let count = self.count.replace(1);
            if let Some(previous) = previous {
                // SAFETY: the handles this thread dropped gave it `count` references to
                // `previous`, and they are no longer recorded here.
                unsafe { release(previous, count) }
            }
        }
    }
}

impl Drop for Deferred {
    fn drop(&mut self) {
        if let Some(batch) = self.batch.take() {
            // SAFETY: as in `add`: the references recorded here, given back once.
            unsafe { release(batch, self.count.replace(0)) }
        }
    }
}

thread_local! {
    static DEFERRED: Deferred = const {
        Deferred {
            batch: Cell::new(None),
            count: Cell::new(0),
        }
    };
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::producer::record::Appended;

    fn delivery() -> BatchDelivery {
        BatchDelivery::new(Arc::from("t"), 0, false)
    }

    fn refs(batch: &BatchRef) -> usize {
        // SAFETY: `batch` keeps it alive.
        unsafe { batch.counted.as_ref() }
            .refs
            .load(Ordering::Relaxed)
    }

    /// Counts the deliveries freed: each carries a callback holding one of these.
    struct Freed(Arc<std::sync::atomic::AtomicUsize>);

    impl Drop for Freed {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// A delivery whose freeing `freed` counts.
    fn counted_delivery(freed: &Arc<std::sync::atomic::AtomicUsize>) -> BatchDelivery {
        let delivery = delivery();
        let guard = Freed(Arc::clone(freed));
        delivery.set_callbacks(vec![(0, 0, Box::new(move |_| drop(guard)))]);
        delivery
    }

    #[test]
    fn handles_dropped_across_threads_free_every_delivery_exactly_once() {
        const THREADS: usize = 4;
        const BATCHES: usize = 2000;
        let freed = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (to_droppers, handles) = crossbeam_channel::bounded::<Vec<HandleRef>>(64);
        // Joined with `JoinHandle::join`, which returns once a thread has exited, its
        // thread-locals (and so what it deferred) dropped; a scope may return before that.
        let mut threads = Vec::new();
        // Droppers: take handles of many batches, interleaved, and drop them one by one, so
        // each thread defers and gives back references of batch after batch.
        for _ in 0..THREADS {
            let handles = handles.clone();
            threads.push(std::thread::spawn(move || {
                for batch in handles {
                    for handle in batch {
                        drop(handle);
                    }
                }
            }));
        }
        drop(handles);
        // Makers: open batches, hand out handles (some dropped before the seal, some after,
        // some in this thread), seal, and keep or drop the sealed reference.
        for maker in 0..THREADS {
            let (to_droppers, freed) = (to_droppers.clone(), Arc::clone(&freed));
            threads.push(std::thread::spawn(move || {
                let mut kept = Vec::new();
                for b in 0..BATCHES {
                    let mut open = OpenRef::new(counted_delivery(&freed));
                    let before: Vec<HandleRef> = (0..(b % 7)).map(|_| open.handle()).collect();
                    to_droppers.send(before).expect("droppers run");
                    let mine: Vec<HandleRef> = (0..(b % 3)).map(|_| open.handle()).collect();
                    if (b + maker) % 11 == 0 {
                        drop(open); // never sealed: the handles keep it
                    } else {
                        let sealed = open.seal();
                        if b % 2 == 0 {
                            kept.push(sealed.clone());
                        }
                    }
                    drop(mine);
                }
                drop(kept);
            }));
        }
        drop(to_droppers);
        for thread in threads {
            thread.join().expect("no thread panics");
        }
        assert_eq!(freed.load(Ordering::SeqCst), THREADS * BATCHES);
    }

    #[test]
    fn sealing_keeps_one_reference_per_live_handle_plus_the_batch() {
        let mut open = OpenRef::new(delivery());
        let handles: Vec<HandleRef> = (0..5).map(|_| open.handle()).collect();
        let sealed = open.seal();
        assert_eq!(refs(&sealed), 6);
        drop(handles);
        // Deferred: one of them gives the five back only once another batch's handle drops.
        std::thread::scope(|s| {
            s.spawn(|| {
                let mut other = OpenRef::new(delivery());
                let handle = other.handle();
                drop(other.seal());
                drop(handle);
            });
        });
        // The main thread still defers the five; a thread exit gives back what it deferred.
        assert_eq!(refs(&sealed), 6);
    }

    #[test]
    fn a_thread_gives_back_its_deferred_references_when_it_exits() {
        let mut open = OpenRef::new(delivery());
        let handles: Vec<HandleRef> = (0..3).map(|_| open.handle()).collect();
        let sealed = open.seal();
        std::thread::spawn(move || drop(handles))
            .join()
            .expect("thread");
        assert_eq!(refs(&sealed), 1);
        let copy = sealed.clone();
        assert_eq!(refs(&sealed), 2);
        drop(copy);
        assert_eq!(refs(&sealed), 1);
    }

    #[test]
    fn handles_dropped_before_the_seal_are_counted() {
        let mut open = OpenRef::new(delivery());
        let first = open.handle();
        let second = open.handle();
        std::thread::spawn(move || drop((first, second)))
            .join()
            .expect("thread");
        let third = open.handle();
        let sealed = open.seal();
        assert_eq!(refs(&sealed), 2);
        std::thread::spawn(move || drop(third))
            .join()
            .expect("thread");
        assert_eq!(refs(&sealed), 1);
    }

    #[test]
    fn an_open_batch_dropped_unsealed_leaves_its_handles_valid() {
        let mut open = OpenRef::new(delivery());
        let handle = open.handle();
        drop(open);
        handle.complete(Ok(Appended {
            base_offset: 0,
            log_append_time: None,
        }));
        std::thread::spawn(move || drop(handle))
            .join()
            .expect("thread");
    }
}
