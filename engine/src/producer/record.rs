//! What a producer is given ([`ProducerRecord`]) and what it gives back ([`Delivery`],
//! [`RecordMetadata`]).

use std::sync::atomic::{fence, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

use silt_segment::batch::RecordHeader;

use super::batch_ref::HandleRef;
use crate::error::{EngineError, Result};
use crate::sync::lock;

/// A record to send: topic, optional partition, key, value, headers and timestamp, all
/// borrowed (the producer encodes them into its batch before `send` returns).
///
/// ```
/// use silt_engine::producer::ProducerRecord;
/// use silt_segment::batch::RecordHeader;
///
/// let headers = [RecordHeader { key: "trace", value: Some(b"abc") }];
/// let record = ProducerRecord::new("orders")
///     .key("customer-7")
///     .value(b"{\"qty\":2}")
///     .headers(&headers)
///     .timestamp(1_700_000_000_000);
/// assert_eq!(record.partition, None);
/// ```
#[derive(Debug, Clone, Copy)]
pub struct ProducerRecord<'a> {
    /// The topic.
    pub topic: &'a str,
    /// The partition; `None` lets the partitioner choose.
    pub partition: Option<u32>,
    /// The key; `None` is Kafka's null key.
    pub key: Option<&'a [u8]>,
    /// The value; `None` is Kafka's null value (a tombstone in a compacted topic).
    pub value: Option<&'a [u8]>,
    /// Headers, in order.
    pub headers: &'a [RecordHeader<'a>],
    /// CreateTime in ms since the epoch; `None` takes the clock's time at `send`.
    pub timestamp: Option<i64>,
}

impl<'a> ProducerRecord<'a> {
    /// A record for `topic` with no key, value, headers, partition or timestamp.
    pub fn new(topic: &'a str) -> Self {
        ProducerRecord {
            topic,
            partition: None,
            key: None,
            value: None,
            headers: &[],
            timestamp: None,
        }
    }

    /// Sets the key.
    pub fn key<K: AsRef<[u8]> + ?Sized>(mut self, key: &'a K) -> Self {
        self.key = Some(key.as_ref());
        self
    }

    /// Sets the value.
    pub fn value<V: AsRef<[u8]> + ?Sized>(mut self, value: &'a V) -> Self {
        self.value = Some(value.as_ref());
        self
    }

    /// Sends to this partition, whatever the partitioner would choose.
    pub fn partition(mut self, partition: u32) -> Self {
        self.partition = Some(partition);
        self
    }

    /// Sets the headers.
    pub fn headers(mut self, headers: &'a [RecordHeader<'a>]) -> Self {
        self.headers = headers;
        self
    }

    /// Sets the CreateTime (ms since the epoch, not negative).
    pub fn timestamp(mut self, timestamp: i64) -> Self {
        self.timestamp = Some(timestamp);
        self
    }
}

/// Where an acknowledged record was written (Kafka's `RecordMetadata`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordMetadata {
    /// The topic.
    pub topic: Arc<str>,
    /// The partition.
    pub partition: u32,
    /// The record's offset; -1 with `acks=0`, which waits for nothing.
    pub offset: i64,
    /// The record's timestamp: its CreateTime, or the append time on a `LogAppendTime`
    /// topic (with `acks=0`, always the CreateTime).
    pub timestamp: i64,
}

/// A callback run once a record is acknowledged or has failed: on one of the producer's
/// writer threads, or, for a small batch that the sending thread appended itself (see
/// [`Producer::send`](super::Producer::send)), in that thread before `send` returns. Keep it
/// short; it may send again, but must not call `flush` or `close`, nor wait for a record
/// sent after its own, which would wait for itself.
pub type Callback = Box<dyn FnOnce(Result<RecordMetadata>) + Send>;

/// What the writer did with a batch.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Appended {
    pub(crate) base_offset: i64,
    pub(crate) log_append_time: Option<i64>,
}

/// The callbacks of a batch's records: (record index in the batch, CreateTime, callback).
pub(crate) type Callbacks = Vec<(u32, i64, Callback)>;

/// The shared fate of every record of one batch: set once by whoever appended it (a writer,
/// the syncer, or the sending thread), read by the records' [`Delivery`] handles.
pub(crate) struct BatchDelivery {
    topic: Arc<str>,
    partition: u32,
    /// `acks=0`: handles were completed at send, callbacks get offset -1.
    no_acks: bool,
    result: OnceLock<std::result::Result<Appended, Arc<EngineError>>>,
    /// Callbacks handed over before the batch goes to the syncer ([`set_callbacks`]); the
    /// lock waiters sleep on.
    ///
    /// [`set_callbacks`]: BatchDelivery::set_callbacks
    waiting: Mutex<Callbacks>,
    /// Threads blocked in `wait`: completing takes the lock and wakes them only if there are
    /// any (a condvar notification is a system call even with no one to wake).
    waiters: AtomicUsize,
    done: Condvar,
}

impl BatchDelivery {
    pub(crate) fn new(topic: Arc<str>, partition: u32, no_acks: bool) -> Self {
        BatchDelivery {
            topic,
            partition,
            no_acks,
            result: OnceLock::new(),
            waiting: Mutex::new(Vec::new()),
            waiters: AtomicUsize::new(0),
            done: Condvar::new(),
        }
    }

    /// Hands over the callbacks of the batch's records, for [`complete`](Self::complete) or
    /// [`complete_shared`](Self::complete_shared) to run (batches completed by the syncer).
    pub(crate) fn set_callbacks(&self, callbacks: Callbacks) {
        if !callbacks.is_empty() {
            let mut waiting = lock(&self.waiting);
            if waiting.is_empty() {
                *waiting = callbacks;
            } else {
                waiting.extend(callbacks);
            }
        }
    }

    /// Completes the batch: every handle sees `result`, every callback runs.
    pub(crate) fn complete(&self, result: std::result::Result<Appended, EngineError>) {
        self.complete_shared(result.map_err(Arc::new));
    }

    /// As [`complete`](Self::complete), with an error several batches share.
    pub(crate) fn complete_shared(&self, result: std::result::Result<Appended, Arc<EngineError>>) {
        self.publish(result);
        let callbacks = std::mem::take(&mut *lock(&self.waiting));
        self.call_back(callbacks);
    }

    /// As [`complete`](Self::complete), running `callbacks` (which were never handed over):
    /// no lock is taken unless a thread waits.
    pub(crate) fn complete_with(
        &self,
        result: std::result::Result<Appended, EngineError>,
        callbacks: Callbacks,
    ) {
        self.publish(result.map_err(Arc::new));
        self.call_back(callbacks);
    }

    /// Sets the result and wakes the threads waiting for it.
    fn publish(&self, result: std::result::Result<Appended, Arc<EngineError>>) {
        let _ = self.result.set(result);
        // Orders the result's store before the load of the waiter count; `wait_until` fences
        // between counting itself and checking the result: one of the two sees the other.
        fence(Ordering::SeqCst);
        if self.waiters.load(Ordering::Relaxed) > 0 {
            // A counted waiter holds the lock until it sleeps on the condvar: taking it here
            // makes the notification come after the sleep began.
            drop(lock(&self.waiting));
            self.done.notify_all();
        }
    }

    fn call_back(&self, callbacks: Callbacks) {
        for (index, timestamp, callback) in callbacks {
            callback(self.metadata(index, timestamp));
        }
    }

    fn metadata(&self, index: u32, timestamp: i64) -> Result<RecordMetadata> {
        match self.result.get() {
            Some(Ok(appended)) => Ok(RecordMetadata {
                topic: Arc::clone(&self.topic),
                partition: self.partition,
                offset: if self.no_acks {
                    -1
                } else {
                    appended.base_offset + i64::from(index)
                },
                timestamp: match appended.log_append_time {
                    Some(time) if !self.no_acks => time,
                    _ => timestamp,
                },
            }),
            Some(Err(source)) => Err(EngineError::BatchFailed {
                topic: self.topic.to_string(),
                partition: self.partition,
                source: Arc::clone(source),
            }),
            None => Err(EngineError::ProducerClosed),
        }
    }

    fn wait_until(&self, deadline: Option<Instant>) -> bool {
        if self.result.get().is_some() {
            return true;
        }
        let mut guard = lock(&self.waiting);
        self.waiters.fetch_add(1, Ordering::Relaxed);
        fence(Ordering::SeqCst);
        let mut done = true;
        while self.result.get().is_none() {
            guard = match deadline {
                None => self.done.wait(guard).unwrap_or_else(|p| p.into_inner()),
                Some(deadline) => {
                    let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                        done = false;
                        break;
                    };
                    self.done
                        .wait_timeout(guard, left)
                        .map_or_else(|p| p.into_inner().0, |(g, _)| g)
                }
            };
        }
        drop(guard);
        self.waiters.fetch_sub(1, Ordering::Relaxed);
        done
    }
}

/// The handle [`Producer::send`](super::Producer::send) returns: the record's
/// [`RecordMetadata`] once its batch is acknowledged (per `acks`), or the batch's error.
///
/// Dropping it does not cancel anything: the record is sent either way.
///
/// With `acks=0` it is done at once, with offset -1 (Kafka's), whatever becomes of the batch.
pub struct Delivery {
    /// The record's batch; record `index` of it, sent with CreateTime `timestamp`.
    batch: HandleRef,
    index: u32,
    timestamp: i64,
}

impl std::fmt::Debug for Delivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Delivery")
            .field("topic", &self.batch.topic)
            .field("partition", &self.batch.partition)
            .field("index", &self.index)
            .field("done", &self.is_done())
            .finish()
    }
}

impl Delivery {
    pub(crate) fn in_batch(batch: HandleRef, index: u32, timestamp: i64) -> Self {
        Delivery {
            batch,
            index,
            timestamp,
        }
    }

    /// Blocks until the record is acknowledged or failed.
    ///
    /// # Errors
    ///
    /// [`EngineError::BatchFailed`] with the reason its batch could not be appended (or
    /// synced, with `acks=all`).
    pub fn wait(self) -> Result<RecordMetadata> {
        self.wait_inner(None)
            .unwrap_or(Err(EngineError::ProducerClosed))
    }

    /// As [`wait`](Self::wait), for at most `timeout`; `None` if the record is still in
    /// flight then.
    pub fn wait_timeout(&self, timeout: Duration) -> Option<Result<RecordMetadata>> {
        self.wait_inner(Some(Instant::now() + timeout))
    }

    /// The outcome if the record is done, without blocking.
    pub fn try_result(&self) -> Option<Result<RecordMetadata>> {
        self.wait_inner(Some(Instant::now()))
    }

    /// Whether the record is acknowledged or failed.
    pub fn is_done(&self) -> bool {
        self.batch.no_acks || self.batch.result.get().is_some()
    }

    fn wait_inner(&self, deadline: Option<Instant>) -> Option<Result<RecordMetadata>> {
        let batch = &self.batch;
        if batch.no_acks {
            return Some(Ok(RecordMetadata {
                topic: Arc::clone(&batch.topic),
                partition: batch.partition,
                offset: -1,
                timestamp: self.timestamp,
            }));
        }
        batch
            .wait_until(deadline)
            .then(|| batch.metadata(self.index, self.timestamp))
    }
}
