//! The producer: Kafka's client-side write path, in-process.
//!
//! [`Engine::producer`] returns a [`Producer`], a cheap cloneable handle. `send` partitions
//! the record in the calling thread (explicit partition, else murmur2 of the key, else the
//! sticky partitioner of KIP-794), encodes it into that partition's open batch, and returns
//! a [`Delivery`]. A batch seals at `batch.size` bytes or after `linger.ms`, gets its header,
//! CRC (and compression) in the thread that sealed it, and crosses a bounded crossbeam
//! channel to the partition's single writer, which appends it and completes its records'
//! deliveries once `acks` is satisfied. A small batch whose partition has nothing else on
//! the way (the usual case with `linger.ms=0` and a moderate rate) is appended by the
//! sending thread itself instead, in the same order (see `route.rs`), so that no thread has
//! to be woken between `send` and the acknowledgment; so is a full batch while the threads
//! sending flat out are as many as the CPUs, when a writer could only take time from them.
//!
//! ```
//! use silt_engine::{Engine, EngineConfig, NewTopic};
//! use silt_engine::config::{Acks, ProducerConfig};
//! use silt_engine::producer::ProducerRecord;
//!
//! let dir = tempfile::tempdir()?;
//! let engine = Engine::open(dir.path(), EngineConfig::default())?;
//! engine.create_topic(NewTopic::new("orders", 3))?;
//!
//! let producer = engine.producer(ProducerConfig { acks: Acks::Leader, ..Default::default() })?;
//! let delivery = producer.send(ProducerRecord::new("orders").key("customer-7").value("2 apples"))?;
//! let metadata = delivery.wait()?;
//! assert_eq!(metadata.offset, 0);
//! producer.close()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod accumulator;
mod batch_ref;
mod clock;
mod ids;
mod memory;
mod pace;
pub mod partitioner;
mod record;
mod route;
mod spin;
mod writer;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::thread::{JoinHandle, Thread};
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Sender};

use crate::config::{Acks, ProducerConfig};
use crate::engine::Engine;
use crate::error::{io_err, EngineError, Result};
use crate::sync::{lock, read, write};
use accumulator::Shard;
use memory::BufferPool;
use route::{Queues, Route};
use writer::{Latch, WriterMsg};

pub(crate) use ids::read_block_file as read_producer_id_block;
pub(crate) use ids::ProducerIdBlock;
pub use ids::PRODUCER_ID_BLOCK_FILE;
pub use partitioner::{key_partition, Partitioner};
pub use record::{Callback, Delivery, ProducerRecord, RecordMetadata};

/// Batches a writer's channel holds before sealing threads wait (memory is bounded by
/// `buffer.memory` first; this only bounds the queue's own length).
const WRITER_QUEUE: usize = 1024;

/// A producer: send records to topics of one engine. Cheap to clone (an `Arc`), `Send` and
/// `Sync`; clones share batches, writers and memory. Dropping the last clone closes it.
#[derive(Clone)]
pub struct Producer {
    handle: Arc<Handle>,
}

impl std::fmt::Debug for Producer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Producer")
            .field("client_id", &self.handle.shared.client_id)
            .field("closed", &self.handle.shared.is_closed())
            .finish_non_exhaustive()
    }
}

/// Owns the threads; closing happens when the last `Producer` drops it.
struct Handle {
    shared: Arc<Shared>,
    threads: Mutex<Threads>,
}

#[derive(Default)]
struct Threads {
    writers: Vec<JoinHandle<()>>,
    syncer: Option<JoinHandle<()>>,
    linger: Option<JoinHandle<()>>,
    /// The first close's result, for later calls.
    closed: Option<std::result::Result<(), String>>,
}

/// What the sending threads, the linger thread and the handle share.
pub(crate) struct Shared {
    engine: Engine,
    config: ProducerConfig,
    client_id: String,
    idempotent: bool,
    max_block: Duration,
    pool: Arc<BufferPool>,
    shards: Box<[Shard]>,
    writers: Box<[Sender<WriterMsg>]>,
    routes: RwLock<HashMap<String, Arc<Route>>>,
    /// Each partition's state, kept across the routes resolved to it.
    queues: Queues,
    /// Whether sending threads may append small batches themselves: not with `acks=all`,
    /// whose batches go through the writers to the syncer's group commit.
    direct_appends: bool,
    closed: AtomicBool,
    /// CPUs the process may use.
    cpus: usize,
    /// What [`nanos`](Self::nanos) counts from.
    epoch: Instant,
    linger_thread: Arc<OnceLock<Thread>>,
    linger_idle: AtomicBool,
}

impl Engine {
    /// A producer for this engine's topics, with `config` (Kafka's producer settings).
    ///
    /// # Errors
    ///
    /// [`EngineError::InvalidConfig`] for settings that do not go together (as
    /// [`ProducerConfig::validate`]), [`EngineError::Closed`] on a closed engine, or
    /// [`EngineError::Io`] if its threads cannot be started.
    pub fn producer(&self, config: ProducerConfig) -> Result<Producer> {
        self.inner.check_open()?;
        config.validate()?;
        Producer::start(self.clone(), config)
    }
}

impl Producer {
    fn start(engine: Engine, config: ProducerConfig) -> Result<Producer> {
        static NEXT_CLIENT: AtomicUsize = AtomicUsize::new(1);
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        let writer_count = match config.writer_threads {
            // Writers copy and spin briefly while idle: half the CPUs leaves the other half
            // to the sending (encoding, compressing) threads.
            0 => (cpus / 2).clamp(1, 4),
            n => n,
        };
        // A power of two, so a thread finds its shard with a mask rather than a division.
        let shard_count = (cpus * 2).max(16).next_power_of_two();
        let client_id = if config.client_id.is_empty() {
            format!("producer-{}", NEXT_CLIENT.fetch_add(1, Ordering::Relaxed))
        } else {
            config.client_id.clone()
        };
        let pool = Arc::new(BufferPool::new(config.buffer_memory, config.batch_size));
        let acks_all = config.acks == Acks::All;
        let (sync_tx, sync_rx) = crossbeam_channel::unbounded();
        let mut threads = Threads::default();
        let mut senders = Vec::with_capacity(writer_count);
        let data_dir = engine.data_dir().to_path_buf();
        let spawn = |name: String, f: Box<dyn FnOnce() + Send>| {
            std::thread::Builder::new()
                .name(name)
                .spawn(f)
                .map_err(io_err("spawn producer thread", &data_dir))
        };
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        let linger_thread: Arc<OnceLock<Thread>> = Arc::new(OnceLock::new());
        let started = || -> Result<()> {
            for i in 0..writer_count {
                let (tx, rx) = bounded(WRITER_QUEUE);
                let pool = Arc::clone(&pool);
                let syncer = acks_all.then(|| sync_tx.clone());
                let linger = Arc::clone(&linger_thread);
                threads.writers.push(spawn(
                    format!("{client_id}-writer-{i}"),
                    Box::new(move || writer::run_writer(rx, pool, syncer, linger)),
                )?);
                senders.push(tx);
            }
            if acks_all {
                threads.syncer = Some(spawn(
                    format!("{client_id}-syncer"),
                    Box::new(move || writer::run_syncer(sync_rx)),
                )?);
            }
            Ok(())
        };
        let result = started();
        drop(sync_tx);
        let shared = Arc::new(Shared {
            idempotent: config.idempotent(),
            max_block: Duration::from_millis(config.max_block_ms),
            client_id: client_id.clone(),
            engine,
            pool,
            shards: (0..shard_count as u64)
                .map(|i| Shard::new(seed.wrapping_add(i.wrapping_mul(0x9e37_79b9_7f4a_7c15))))
                .collect(),
            writers: senders.into_boxed_slice(),
            routes: RwLock::new(HashMap::new()),
            queues: Queues::default(),
            direct_appends: !acks_all,
            closed: AtomicBool::new(false),
            cpus,
            epoch: Instant::now(),
            linger_thread,
            linger_idle: AtomicBool::new(false),
            config,
        });
        let handle = Handle {
            shared: Arc::clone(&shared),
            threads: Mutex::new(threads),
        };
        // From here on, dropping `handle` stops whatever was started.
        result?;
        let linger_shared = Arc::clone(&shared);
        let linger = spawn(
            format!("{client_id}-linger"),
            Box::new(move || run_linger(&linger_shared)),
        )?;
        let _ = shared.linger_thread.set(linger.thread().clone());
        lock(&handle.threads).linger = Some(linger);
        Ok(Producer {
            handle: Arc::new(handle),
        })
    }

    /// Sends a record: partitions it, encodes it into its partition's open batch, and returns
    /// the handle its acknowledgment (or its batch's failure) arrives on.
    ///
    /// Blocks only while `buffer.memory` is used up, for at most `max.block.ms`. When the
    /// record seals a small batch (`linger.ms=0` does at once) and nothing else of its
    /// partition is on the way, `send` appends the batch itself (with `acks` other than
    /// `all`), so the record is acknowledged, and its batch's callbacks have run, when it
    /// returns.
    ///
    /// # Errors
    ///
    /// Errors about this record alone are returned here, and the record is not sent:
    /// [`EngineError::UnknownTopic`], [`EngineError::UnknownPartition`] (an explicit or custom
    /// partition out of range), [`EngineError::RecordTooLarge`] (over `max.request.size`,
    /// the topic's `max.message.bytes` or `buffer.memory`), [`EngineError::InvalidRecord`],
    /// [`EngineError::BufferExhausted`] after `max.block.ms`, and
    /// [`EngineError::ProducerClosed`] after [`close`](Self::close).
    #[inline]
    pub fn send(&self, record: ProducerRecord<'_>) -> Result<Delivery> {
        let shared = &self.handle.shared;
        match shared.shard().send(shared, &record, None)? {
            Some(delivery) => Ok(delivery),
            // A send without a callback always gets its handle.
            None => Err(EngineError::ProducerClosed),
        }
    }

    /// As [`send`](Self::send), with `callback` run once the record is acknowledged or
    /// failed (on a writer thread, or in this one: see [`Callback`]). With `acks=0` it gets
    /// offset -1, as the handle does.
    ///
    /// # Errors
    ///
    /// As [`send`](Self::send); the callback is then not run.
    pub fn send_with_callback(
        &self,
        record: ProducerRecord<'_>,
        callback: impl FnOnce(Result<RecordMetadata>) + Send + 'static,
    ) -> Result<()> {
        let shared = &self.handle.shared;
        shared
            .shard()
            .send(shared, &record, Some(Box::new(callback)))
            .map(drop)
    }

    /// Seals every open batch and waits until everything sent before the call is
    /// acknowledged or failed (per `acks`). Failures reach the records' handles.
    ///
    /// # Errors
    ///
    /// [`EngineError::ProducerClosed`] after [`close`](Self::close).
    pub fn flush(&self) -> Result<()> {
        let shared = &self.handle.shared;
        if shared.is_closed() {
            return Err(EngineError::ProducerClosed);
        }
        shared.flush();
        Ok(())
    }

    /// Sends everything still batched, waits for it all to be acknowledged, and stops the
    /// producer's threads. Later sends (on any clone) fail with
    /// [`EngineError::ProducerClosed`]; closing again does nothing.
    ///
    /// # Errors
    ///
    /// [`EngineError::Io`] if a producer thread panicked.
    pub fn close(&self) -> Result<()> {
        self.handle.close()
    }

    /// The producer's `client.id` (generated as `producer-N` when not set).
    pub fn client_id(&self) -> &str {
        &self.handle.shared.client_id
    }

    /// The settings the producer runs with.
    pub fn config(&self) -> &ProducerConfig {
        &self.handle.shared.config
    }
}

impl Handle {
    fn close(&self) -> Result<()> {
        let mut threads = lock(&self.threads);
        if let Some(closed) = &threads.closed {
            return closed.clone().map_err(|reason| EngineError::Io {
                op: "close producer",
                path: self.shared.engine.data_dir().to_path_buf(),
                source: std::io::Error::other(reason),
            });
        }
        let shared = &self.shared;
        shared.flush();
        shared.closed.store(true, Ordering::Release);
        // Nothing can be batched any more (sends check `closed` under their shard's lock);
        // seal what slipped in between the flush and the store.
        for shard in shared.shards.iter() {
            shard.seal_all(shared);
            shard.wait_direct();
        }
        for writer in shared.writers.iter() {
            let _ = writer.send(WriterMsg::Stop);
        }
        let mut panicked = None;
        let syncer = threads.syncer.take();
        for thread in threads.writers.drain(..).chain(syncer) {
            if thread.join().is_err() {
                panicked = Some("a producer writer thread panicked");
            }
        }
        if let Some(linger) = threads.linger.take() {
            linger.thread().unpark();
            if linger.join().is_err() {
                panicked = Some("the producer's linger thread panicked");
            }
        }
        let result = match panicked {
            None => Ok(()),
            Some(reason) => Err(reason.to_string()),
        };
        threads.closed = Some(result.clone());
        result.map_err(|reason| EngineError::Io {
            op: "close producer",
            path: shared.engine.data_dir().to_path_buf(),
            source: std::io::Error::other(reason),
        })
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        let _ = self.close();
    }
}

impl Shared {
    /// The shard of the calling thread: each thread keeps one for its life.
    #[inline]
    fn shard(&self) -> &Shard {
        static NEXT_SLOT: AtomicUsize = AtomicUsize::new(0);
        thread_local! {
            static SLOT: usize = NEXT_SLOT.fetch_add(1, Ordering::Relaxed);
        }
        let slot = SLOT.with(|slot| *slot);
        // `shards.len()` is a power of two.
        let index = slot & (self.shards.len() - 1);
        #[allow(clippy::indexing_slicing, reason = "index < len by the mask")]
        &self.shards[index]
    }

    /// `at` in nanoseconds since the producer started.
    pub(crate) fn nanos(&self, at: Instant) -> u64 {
        at.saturating_duration_since(self.epoch).as_nanos() as u64
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    #[inline]
    pub(crate) fn topics_version(&self) -> u64 {
        self.engine.inner.topics_version.load(Ordering::Acquire)
    }

    /// The route of `topic` at the engine's current topics version.
    pub(crate) fn resolve(&self, topic: &str) -> Result<Arc<Route>> {
        let version = self.topics_version();
        if let Some(route) = read(&self.routes).get(topic) {
            if route.version == version {
                return Ok(Arc::clone(route));
            }
        }
        self.engine.inner.check_open()?;
        let found = read(&self.engine.inner.topics).get(topic).cloned();
        let mut routes = write(&self.routes);
        let Some(found) = found else {
            routes.remove(topic);
            return Err(EngineError::UnknownTopic {
                topic: topic.to_string(),
            });
        };
        let route = Arc::new(Route::new(
            topic,
            version,
            found,
            &self.config,
            &self.queues,
        ));
        routes.insert(topic.to_string(), Arc::clone(&route));
        Ok(route)
    }

    pub(crate) fn allocate_producer_id(&self) -> Result<i64> {
        let inner = &self.engine.inner;
        lock(&inner.producer_ids).allocate(&inner.dir)
    }

    /// Sends a sealed batch to its partition's writer (blocking while that writer's queue is
    /// full). If the writers are gone, the batch fails.
    pub(crate) fn hand_to_writer(&self, msg: WriterMsg) {
        let WriterMsg::Batch(batch) = &msg else {
            return;
        };
        let index = batch
            .route
            .writer_seed
            .wrapping_add(batch.partition as usize)
            % self.writers.len().max(1);
        let Some(writer) = self.writers.get(index) else {
            return fail(msg, &self.pool);
        };
        if let Err(e) = writer.send(msg) {
            fail(e.into_inner(), &self.pool);
        }
    }

    /// Wakes the linger thread if it sleeps with nothing to wait for.
    #[inline]
    pub(crate) fn wake_linger(&self) {
        if self.linger_idle.load(Ordering::Relaxed)
            && self.linger_idle.swap(false, Ordering::AcqRel)
        {
            if let Some(thread) = self.linger_thread.get() {
                thread.unpark();
            }
        }
    }

    /// Seals every open batch, then waits for every writer (and the syncer) to get past
    /// them, and for the appends sending threads were making themselves.
    fn flush(&self) {
        for shard in self.shards.iter() {
            shard.seal_all(self);
        }
        for shard in self.shards.iter() {
            shard.wait_direct();
        }
        let latch = Latch::new(self.writers.len());
        for writer in self.writers.iter() {
            if writer.send(WriterMsg::Flush(Arc::clone(&latch))).is_err() {
                latch.count_down();
            }
        }
        latch.wait();
    }
}

/// Fails a batch that cannot reach a writer.
fn fail(msg: WriterMsg, pool: &BufferPool) {
    if let WriterMsg::Batch(batch) = msg {
        pool.release(batch.bytes, batch.reserved);
        batch
            .delivery
            .complete_with(Err(EngineError::ProducerClosed), batch.callbacks);
        batch.route.dequeued(batch.partition, &OnceLock::new());
    }
}

/// With `linger.ms=0`, how long the linger thread sleeps while batches wait for their
/// writer: writers wake it when such a partition drains, so this is only a safety net.
const IDLE_WRITER_POLL: Duration = Duration::from_millis(1);

/// The linger thread: seals batches that have waited `linger.ms`, sleeping until the next
/// one is due (or, with none open, until a send leaves one open). With `linger.ms=0` it
/// seals the batches whose partition's writer has gone idle: a writer wakes it when a
/// partition that a batch waits on drains.
fn run_linger(shared: &Shared) {
    let linger = Duration::from_millis(shared.config.linger_ms);
    while !shared.is_closed() {
        // Idle first, then look: a batch opened after the look finds the flag and wakes us.
        shared.linger_idle.store(true, Ordering::SeqCst);
        let now = Instant::now();
        let next = shared
            .shards
            .iter()
            .filter_map(|shard| shard.seal_lingering(shared, now, linger))
            .min();
        match next {
            Some(due) => {
                shared.linger_idle.store(false, Ordering::SeqCst);
                let wait = if linger.is_zero() {
                    IDLE_WRITER_POLL
                } else {
                    due.saturating_duration_since(Instant::now())
                };
                std::thread::park_timeout(wait);
            }
            None => std::thread::park(),
        }
    }
}
