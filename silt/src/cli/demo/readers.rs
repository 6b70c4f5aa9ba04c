//! The demo's consumer group: three consumer threads and what they share with the thread
//! that runs the show.
//!
//! Each consumer subscribes with the cooperative-sticky assignor and pauses what it is
//! assigned until the whole group has formed (`go`), so that the "before" assignment is the
//! group of three and no consumer reads alone while the others are still joining. The last
//! consumer commits and leaves when told to (`leave`); the others read until `stop`.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use silt::{
    Consumer, ConsumerConfig, ConsumerError, ConsumerExt, Engine, RebalanceListener, TopicPartition,
};

use crate::cli::{CliError, CliResult};

/// How long one poll waits for records (short, so flags are seen promptly).
const POLL_TIMEOUT: Duration = Duration::from_millis(20);

/// How often each consumer commits its positions while it reads.
const COMMIT_INTERVAL: Duration = Duration::from_millis(200);

/// Attempts at the final commit, each after a short poll that lets a rebalance finish.
const FINAL_COMMIT_ATTEMPTS: usize = 100;

/// What the consumer threads and the main thread share.
pub(super) struct Shared {
    /// The group has formed: resume the paused partitions and read.
    pub(super) go: AtomicBool,
    /// The leaving consumer should commit and close now.
    pub(super) leave: AtomicBool,
    /// When the leaving consumer's `close` returned.
    pub(super) left: OnceLock<Instant>,
    /// Everyone commits and closes.
    pub(super) stop: AtomicBool,
    /// Per partition, the offset after the highest record read by anyone.
    pub(super) read_through: Vec<AtomicI64>,
    /// Records read, per consumer (duplicates would count twice).
    pub(super) records: Vec<AtomicU64>,
    /// Key and value bytes read, all consumers.
    pub(super) bytes: AtomicU64,
}

impl Shared {
    pub(super) fn new(partitions: u32, consumers: usize) -> Self {
        Shared {
            go: AtomicBool::new(false),
            leave: AtomicBool::new(false),
            left: OnceLock::new(),
            stop: AtomicBool::new(false),
            read_through: (0..partitions).map(|_| AtomicI64::new(0)).collect(),
            records: (0..consumers).map(|_| AtomicU64::new(0)).collect(),
            bytes: AtomicU64::new(0),
        }
    }

    /// Records read so far by all consumers.
    pub(super) fn total_records(&self) -> u64 {
        self.records.iter().map(|r| r.load(Ordering::Relaxed)).sum()
    }

    /// Whether every partition was read up to `ends` (its log end offset).
    pub(super) fn read_all(&self, ends: &[i64]) -> bool {
        self.read_through
            .iter()
            .zip(ends)
            .all(|(read, end)| read.load(Ordering::Acquire) >= *end)
    }
}

/// One consumer thread's instructions.
pub(super) struct Reader {
    pub(super) engine: Engine,
    pub(super) shared: Arc<Shared>,
    pub(super) topic: &'static str,
    pub(super) group: &'static str,
    /// Its index in `shared.records`; its client id is `consumer-<index + 1>`.
    pub(super) index: usize,
    /// Whether it is the one that leaves halfway.
    pub(super) leaves: bool,
}

/// Client id of consumer `index`.
pub(super) fn client_id(index: usize) -> String {
    format!("consumer-{}", index + 1)
}

impl Reader {
    /// Runs the consumer until it leaves or is stopped, committing as it goes.
    pub(super) fn run(self) -> CliResult<()> {
        let mut config = ConsumerConfig::with_group(self.group);
        config.client_id = client_id(self.index);
        config.set("partition.assignment.strategy", "cooperative-sticky")?;
        config.set("auto.offset.reset", "earliest")?;
        config.enable_auto_commit = false;
        let mut consumer = self.engine.consumer(config)?;
        consumer.subscribe(
            &[self.topic],
            PauseUntilGo {
                shared: Arc::clone(&self.shared),
            },
        )?;
        let shared = &self.shared;
        let mut resumed = false;
        let mut last_commit = Instant::now();
        loop {
            if shared.stop.load(Ordering::Acquire)
                || (self.leaves && shared.leave.load(Ordering::Acquire))
            {
                break;
            }
            if !resumed && shared.go.load(Ordering::Acquire) {
                let assigned = consumer.assignment();
                consumer.resume(&assigned)?;
                resumed = true;
            }
            self.poll_once(&mut consumer)?;
            if last_commit.elapsed() >= COMMIT_INTERVAL {
                last_commit = Instant::now();
                commit(&mut consumer, false)?;
            }
        }
        self.final_commit(&mut consumer)?;
        consumer.close()?;
        if self.leaves {
            let _ = shared.left.set(Instant::now());
        }
        Ok(())
    }

    /// One poll: counts the records and publishes how far each partition was read.
    fn poll_once(&self, consumer: &mut Consumer) -> CliResult<()> {
        let records = consumer.poll(POLL_TIMEOUT)?;
        if records.is_empty() {
            return Ok(());
        }
        let mut bytes = 0u64;
        let mut last: Option<(u32, i64)> = None;
        let publish = |(partition, next): (u32, i64)| {
            if let Some(read) = self.shared.read_through.get(partition as usize) {
                read.fetch_max(next, Ordering::AcqRel);
            }
        };
        // Records come partition by partition, in offset order within each.
        for record in records.iter() {
            bytes +=
                (record.key.map_or(0, <[u8]>::len) + record.value.map_or(0, <[u8]>::len)) as u64;
            match last {
                Some((partition, _)) if partition != record.partition => {
                    last.take().map(publish);
                }
                _ => {}
            }
            last = Some((record.partition, record.offset + 1));
        }
        last.map(publish);
        if let Some(count) = self.shared.records.get(self.index) {
            count.fetch_add(records.len() as u64, Ordering::Relaxed);
        }
        self.shared.bytes.fetch_add(bytes, Ordering::Relaxed);
        Ok(())
    }

    /// Commits the final positions; a rebalance in progress is let finish by a short poll
    /// (whose records are counted as usual) and the commit retried.
    fn final_commit(&self, consumer: &mut Consumer) -> CliResult<()> {
        for _ in 0..FINAL_COMMIT_ATTEMPTS {
            if commit(consumer, true)? {
                return Ok(());
            }
            self.poll_once(consumer)?;
        }
        Err(CliError::Failed(format!(
            "{} could not commit its final offsets: the group kept rebalancing",
            client_id(self.index)
        )))
    }
}

/// Commits the consumer's positions. `Ok(false)` if the group is rebalancing (the commit
/// belongs to a generation that is ending: retry after the next poll). Only `last` commits
/// report that; the periodic ones just skip a beat.
fn commit(consumer: &mut Consumer, last: bool) -> CliResult<bool> {
    match consumer.commit_sync() {
        Ok(()) => Ok(true),
        Err(ConsumerError::RebalanceInProgress { .. } | ConsumerError::CommitFailed { .. }) => {
            Ok(!last)
        }
        Err(e) => Err(e.into()),
    }
}

/// Pauses newly assigned partitions until the group has formed.
struct PauseUntilGo {
    shared: Arc<Shared>,
}

impl RebalanceListener for PauseUntilGo {
    fn on_partitions_assigned(&mut self, consumer: &mut Consumer, partitions: &[TopicPartition]) {
        if !self.shared.go.load(Ordering::Acquire) {
            // Cannot fail: the partitions were just assigned.
            let _ = consumer.pause(partitions);
        }
    }
}
