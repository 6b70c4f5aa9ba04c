//! The consumer: Kafka's `KafkaConsumer`, in-process.

mod fetcher;
mod membership;
mod records;

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use silt_engine::{Engine, EngineError, Log, Waiter};

use crate::config::{ConsumerConfig, OffsetReset};
use crate::coordinator::{GroupCoordinator, GroupDescription, Groups};
use crate::error::{ConsumerError, Result};
use crate::listener::RebalanceListener;
use crate::offsets::CommittedOffset;
use crate::types::TopicPartition;
use fetcher::Pending;
use membership::Membership;
use records::PollBuffers;
pub use records::{ConsumerRecord, ConsumerRecords, RecordsIter};

/// Called with the outcome of a [`Consumer::commit_async`], in commit order.
pub type CommitCallback =
    Box<dyn FnOnce(&BTreeMap<TopicPartition, CommittedOffset>, Result<()>) + Send>;

/// `engine.consumer(config)` and the group tools of `kafka-consumer-groups`, as an
/// extension of the engine (the engine crate cannot name the consumer crate above it).
pub trait ConsumerExt {
    /// A consumer of this engine's topics. See [`Consumer`].
    fn consumer(&self, config: ConsumerConfig) -> Result<Consumer>;

    /// Every group with members or committed offsets.
    fn list_consumer_groups(&self) -> Result<Vec<String>>;

    /// A group's state, members, assignment, committed offsets and lag.
    fn describe_consumer_group(&self, group: &str) -> Result<GroupDescription>;

    /// Sets a group's committed offsets (`kafka-consumer-groups --reset-offsets`). Refused
    /// while the group has members, as in Kafka.
    fn alter_consumer_group_offsets(
        &self,
        group: &str,
        offsets: &BTreeMap<TopicPartition, CommittedOffset>,
    ) -> Result<()>;

    /// Deletes a group's committed offsets (tombstones in the offsets log). Refused while
    /// the group has members.
    fn delete_consumer_group(&self, group: &str) -> Result<()>;
}

impl ConsumerExt for Engine {
    fn consumer(&self, config: ConsumerConfig) -> Result<Consumer> {
        Consumer::new(self, config)
    }

    fn list_consumer_groups(&self) -> Result<Vec<String>> {
        Ok(Groups::of(self)?.names())
    }

    fn describe_consumer_group(&self, group: &str) -> Result<GroupDescription> {
        let groups = Groups::of(self)?;
        if !groups.names().iter().any(|g| g == group) {
            return Err(ConsumerError::UnknownGroup {
                group: group.to_string(),
            });
        }
        Ok(groups.group(group).describe(self, &groups.offsets))
    }

    fn alter_consumer_group_offsets(
        &self,
        group: &str,
        offsets: &BTreeMap<TopicPartition, CommittedOffset>,
    ) -> Result<()> {
        let groups = Groups::of(self)?;
        let coordinator = groups.group(group);
        coordinator
            .commit(self, &groups.offsets, None, offsets)
            .map_err(|e| match e {
                ConsumerError::CommitFailed { .. } => ConsumerError::GroupNotEmpty {
                    group: group.to_string(),
                    members: coordinator.member_count(),
                },
                other => other,
            })
    }

    fn delete_consumer_group(&self, group: &str) -> Result<()> {
        let groups = Groups::of(self)?;
        if !groups.names().iter().any(|g| g == group) {
            return Err(ConsumerError::UnknownGroup {
                group: group.to_string(),
            });
        }
        let members = groups.group(group).member_count();
        if members > 0 {
            return Err(ConsumerError::GroupNotEmpty {
                group: group.to_string(),
                members,
            });
        }
        groups.offsets.delete(self, group, None)?;
        Ok(())
    }
}

/// One assigned partition's state.
#[derive(Debug)]
struct Assigned {
    log: Arc<Log>,
    /// The next offset to hand out (`None`: not yet resolved from the committed offset or
    /// `auto.offset.reset`).
    position: Option<i64>,
    paused: bool,
    /// Fetched batches the polls have not handed out yet (used while `position` is where
    /// they continue from).
    pending: Option<Pending>,
}

impl Assigned {
    fn new(log: Arc<Log>) -> Self {
        Assigned {
            log,
            position: None,
            paused: false,
            pending: None,
        }
    }
}

/// How the consumer got its partitions.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Mode {
    None,
    Subscribed(Vec<String>),
    Assigned,
}

/// Kafka's consumer, in-process: `subscribe` (group management) or `assign`, then `poll`.
///
/// Records are borrowed from the engine's maps (uncompressed batches) or from the
/// consumer's reused decompression buffers, and are valid until the next call that takes
/// the consumer mutably. Like Kafka's consumer it is used from one thread at a time
/// (`Send`, not `Sync`).
///
/// ```
/// use std::time::Duration;
/// use silt_consumer::{ConsumerConfig, ConsumerExt, NoopListener, OffsetReset};
/// use silt_engine::{Engine, EngineConfig, NewTopic, ProducerConfig, ProducerRecord};
///
/// let dir = tempfile::tempdir()?;
/// let engine = Engine::open(dir.path(), EngineConfig::default())?;
/// engine.create_topic(NewTopic::new("orders", 2))?;
/// let producer = engine.producer(ProducerConfig::default())?;
/// for i in 0..10 {
///     producer.send(ProducerRecord::new("orders").key(&format!("k{i}")).value("v"))?;
/// }
/// producer.flush()?;
///
/// let config = ConsumerConfig::with_group("billing").auto_offset_reset(OffsetReset::Earliest);
/// let mut consumer = engine.consumer(config)?;
/// consumer.subscribe(&["orders"], NoopListener)?;
/// let mut seen = 0;
/// while seen < 10 {
///     seen += consumer.poll(Duration::from_millis(100))?.len();
/// }
/// consumer.commit_sync()?;
/// consumer.close()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Consumer {
    engine: Engine,
    config: ConsumerConfig,
    groups: Option<Arc<Groups>>,
    mode: Mode,
    membership: Option<Membership>,
    listener: Option<Box<dyn RebalanceListener>>,
    assignment: BTreeMap<TopicPartition, Assigned>,
    next_auto_commit: Instant,
    async_results: VecDeque<(
        CommitCallback,
        BTreeMap<TopicPartition, CommittedOffset>,
        Result<()>,
    )>,
    buffers: PollBuffers,
    /// Where the next poll starts among the assigned partitions (round robin for fairness).
    rotation: usize,
    /// What an idle poll sleeps on, and what it is registered with while it sleeps.
    wait: PollWait,
    in_listener: bool,
    closed: bool,
    /// The engine's topics version when the assigned logs were last checked against the
    /// engine's (see `Consumer::follow_recreated_topics`).
    topics_version: u64,
}

impl std::fmt::Debug for Consumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Consumer")
            .field("group_id", &self.config.group_id)
            .field("mode", &self.mode)
            .field("assignment", &self.assignment.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// How long an idle poll keeps looking before it sleeps: a record appended meanwhile is
/// seen within a microsecond or two, while waking a sleeping thread takes tens of
/// microseconds on a busy machine (measured by `consumer_e2e_latency`: p50 ~40 µs sleeping,
/// ~6 µs looking, at 100k records/s). After [`POLL_SPIN_HOT`] it yields its time slice
/// between looks, so on a small machine the threads that produce the records (a producer's
/// partition writer) still get the core. Past this, an append wakes it through the log's
/// [`Notify`](silt_engine::Notify).
const POLL_SPIN: Duration = Duration::from_micros(50);

/// The part of [`POLL_SPIN`] spent spinning without yielding.
const POLL_SPIN_HOT: Duration = Duration::from_micros(5);

/// Longest sleep of a subscribed consumer's poll (see `Consumer::max_sleep`).
const METADATA_CHECK: Duration = Duration::from_millis(10);

/// Stands for "no deadline" (a poll timeout of `Duration::MAX`).
const FAR_FUTURE: Duration = Duration::from_secs(365 * 24 * 3600);

/// An idle poll's sleep: one [`Waiter`], registered while the poll sleeps with the
/// [`Notify`](silt_engine::Notify) of each partition it reads (woken by appends) and of its
/// group (woken by rebalances). The lists are kept from poll to poll, so registering
/// allocates nothing once warm.
#[derive(Debug, Default)]
struct PollWait {
    waiter: Waiter,
    logs: Vec<Arc<Log>>,
    group: Option<Arc<GroupCoordinator>>,
    watching: bool,
}

impl PollWait {
    fn watch<'a>(
        &mut self,
        logs: impl Iterator<Item = &'a Arc<Log>>,
        group: Option<&Arc<GroupCoordinator>>,
    ) {
        self.unwatch();
        // A wake-up left from an earlier sleep would only cost one more pass; drop it.
        self.waiter.reset();
        for log in logs {
            log.append_notify().register(&self.waiter);
            self.logs.push(Arc::clone(log));
        }
        if let Some(group) = group {
            group.changes().register(&self.waiter);
            self.group = Some(Arc::clone(group));
        }
        self.watching = true;
    }

    fn unwatch(&mut self) {
        if !self.watching {
            return;
        }
        for log in self.logs.drain(..) {
            log.append_notify().unregister(&self.waiter);
        }
        if let Some(group) = self.group.take() {
            group.changes().unregister(&self.waiter);
        }
        self.watching = false;
    }
}

impl Consumer {
    fn new(engine: &Engine, config: ConsumerConfig) -> Result<Consumer> {
        config.validate()?;
        let groups = match &config.group_id {
            Some(_) => Some(Groups::of(engine)?),
            None => None,
        };
        Ok(Consumer {
            engine: engine.clone(),
            next_auto_commit: Instant::now()
                + Duration::from_millis(config.auto_commit_interval_ms),
            config,
            groups,
            mode: Mode::None,
            membership: None,
            listener: None,
            assignment: BTreeMap::new(),
            async_results: VecDeque::new(),
            buffers: PollBuffers::default(),
            rotation: 0,
            wait: PollWait::default(),
            in_listener: false,
            closed: false,
            topics_version: engine.topics_version(),
        })
    }

    /// The settings.
    pub fn config(&self) -> &ConsumerConfig {
        &self.config
    }

    /// Joins the group and consumes `topics`, with partitions assigned by the group's
    /// leader; `listener` hears of every change. Calling it again changes the subscription.
    pub fn subscribe(
        &mut self,
        topics: &[&str],
        listener: impl RebalanceListener + 'static,
    ) -> Result<()> {
        self.check_usable()?;
        if self.mode == Mode::Assigned {
            return Err(ConsumerError::IllegalState(
                "subscribe after assign: call unsubscribe first",
            ));
        }
        let Some(groups) = &self.groups else {
            return Err(ConsumerError::NoGroupId {
                operation: "subscribe",
            });
        };
        let group_id = self.config.group_id.clone().unwrap_or_default();
        let group = groups.group(&group_id);
        let mut topics: Vec<String> = topics.iter().map(|t| t.to_string()).collect();
        topics.sort();
        topics.dedup();
        self.listener = Some(Box::new(listener));
        match &mut self.membership {
            Some(m) => m.rejoin = true,
            None => self.membership = Some(Membership::start(&self.engine, group, &self.config)?),
        }
        self.mode = Mode::Subscribed(topics);
        Ok(())
    }

    /// Reads exactly `partitions`, with no group management (no rebalances); commits still
    /// go to `group.id` when one is set. Replaces any previous assignment.
    pub fn assign(&mut self, partitions: &[TopicPartition]) -> Result<()> {
        self.check_usable()?;
        if matches!(self.mode, Mode::Subscribed(_)) {
            return Err(ConsumerError::IllegalState(
                "assign after subscribe: call unsubscribe first",
            ));
        }
        let mut next = BTreeMap::new();
        for tp in partitions {
            let log = self.engine.log(&tp.topic, tp.partition)?;
            let kept = self.assignment.remove(tp);
            next.insert(tp.clone(), kept.unwrap_or_else(|| Assigned::new(log)));
        }
        self.assignment = next;
        self.mode = if partitions.is_empty() {
            Mode::None
        } else {
            Mode::Assigned
        };
        Ok(())
    }

    /// Leaves the group (or drops the manual assignment).
    pub fn unsubscribe(&mut self) -> Result<()> {
        self.check_usable()?;
        self.leave_group(true)?;
        self.assignment.clear();
        self.mode = Mode::None;
        Ok(())
    }

    /// The partitions this consumer reads now.
    pub fn assignment(&self) -> Vec<TopicPartition> {
        self.assignment.keys().cloned().collect()
    }

    /// The subscribed topics.
    pub fn subscription(&self) -> Vec<String> {
        match &self.mode {
            Mode::Subscribed(topics) => topics.clone(),
            _ => Vec::new(),
        }
    }

    /// This consumer's member id in its group (`None` before it joined).
    pub fn member_id(&self) -> Option<&str> {
        self.membership.as_ref()?.member_id.as_deref()
    }

    /// The generation of the group this consumer's assignment belongs to (-1: none).
    pub fn generation(&self) -> i32 {
        self.membership.as_ref().map_or(-1, |m| m.generation)
    }

    /// Up to `max.poll.records` records from the assigned, unpaused partitions, waiting up
    /// to `timeout` for some to arrive. Also runs the group's business: heartbeats are sent
    /// by a background thread, but rebalances (and the listener's callbacks), automatic
    /// commits and the callbacks of `commit_async` happen here, in the caller's thread.
    ///
    /// With nothing to return it keeps looking for 50 µs, then sleeps until an append to one
    /// of its (unpaused) partitions or a change in its group wakes it, or the timeout.
    pub fn poll(&mut self, timeout: Duration) -> Result<ConsumerRecords<'_>> {
        self.check_usable()?;
        if self.in_listener {
            return Err(ConsumerError::IllegalState(
                "poll from inside a rebalance listener",
            ));
        }
        let now = Instant::now();
        let deadline = now.checked_add(timeout).unwrap_or(now + FAR_FUTURE);
        self.buffers.clear();
        self.run_async_callbacks();
        let filled = self.poll_until(deadline);
        // Registrations last only while a poll sleeps: appends go back to paying nothing.
        self.wait.unwatch();
        filled?;
        Ok(ConsumerRecords {
            buffers: &self.buffers,
        })
    }

    /// Passes over the partitions until one returns records or `deadline` passes, waiting
    /// between passes: spinning for [`POLL_SPIN`], then sleeping. Before it first sleeps it
    /// registers with every partition it reads and with its group, and makes one more pass:
    /// that pass is the check after registering, so an append or a group change that
    /// happens at any point wakes the sleep or is seen by the pass (no lost wake-up).
    fn poll_until(&mut self, deadline: Instant) -> Result<()> {
        let mut idle_since: Option<Instant> = None;
        loop {
            if let Some(m) = &self.membership {
                m.polled();
            }
            self.follow_recreated_topics();
            self.maintain_group()?;
            self.maybe_auto_commit();
            self.fill()?;
            if self.buffers.count > 0 {
                return Ok(());
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(());
            }
            let idle = now.duration_since(*idle_since.get_or_insert(now));
            if idle < POLL_SPIN {
                if idle < POLL_SPIN_HOT {
                    std::hint::spin_loop();
                } else {
                    std::thread::yield_now();
                }
                continue;
            }
            if !self.wait.watching {
                self.watch();
                continue;
            }
            let until = deadline.min(now + self.max_sleep(now));
            self.wait.waiter.wait_until(until);
            // Whatever woke it (appends, a rebalance, the time), look again from scratch:
            // the assignment may have changed, so registrations are made anew.
            self.wait.unwatch();
        }
    }

    /// A topic deleted and created again under the same name (with as many partitions, so
    /// no rebalance notices) is a new topic: an assigned partition whose log the engine no
    /// longer holds is read from the new log, its position resolved afresh (committed offset
    /// or `auto.offset.reset`) as for a partition just assigned. Without this the consumer
    /// would read the deleted log forever and never see the new topic's records. Costs one
    /// atomic load while no topic changes.
    fn follow_recreated_topics(&mut self) {
        let version = self.engine.topics_version();
        if version == self.topics_version {
            return;
        }
        self.topics_version = version;
        for (tp, assigned) in self.assignment.iter_mut() {
            match self.engine.log(&tp.topic, tp.partition) {
                Ok(log) if !Arc::ptr_eq(&log, &assigned.log) => {
                    let paused = assigned.paused;
                    *assigned = Assigned::new(log);
                    assigned.paused = paused;
                }
                // The same log, or none (deleted: a subscription's rebalance drops it).
                _ => {}
            }
        }
    }

    /// Registers the poll's waiter with every unpaused assigned partition and the group.
    fn watch(&mut self) {
        let group = self.membership.as_ref().map(|m| &m.group);
        let logs = self
            .assignment
            .values()
            .filter(|a| !a.paused)
            .map(|a| &a.log);
        self.wait.watch(logs, group);
    }

    /// The longest one sleep may last besides the poll's deadline: until the next automatic
    /// commit is due, and, for a subscription, [`METADATA_CHECK`] (partitions added to a
    /// subscribed topic are noticed by polls; nothing wakes a sleeper for them).
    fn max_sleep(&self, now: Instant) -> Duration {
        let mut longest = FAR_FUTURE;
        if self.auto_commit_on() {
            longest = longest.min(self.next_auto_commit.saturating_duration_since(now));
        }
        if matches!(self.mode, Mode::Subscribed(_)) {
            longest = longest.min(METADATA_CHECK);
        }
        longest
    }

    /// One pass over the assigned partitions, from where the last poll stopped. The
    /// assignment is walked in place (from `start` to the end, then from the beginning), so a
    /// pass copies no partition names.
    fn fill(&mut self) -> Result<()> {
        let n = self.assignment.len();
        if n == 0 {
            return Ok(());
        }
        let mut budget = self.config.max_poll_records;
        let start = self.rotation % n;
        let positions = Positions::new(&self.config, self.groups.as_deref());
        let buffers = &mut self.buffers;
        let mut visited = 0;
        let mut visit = |tp: &TopicPartition, assigned: &mut Assigned| -> Result<bool> {
            if budget == 0 {
                return Ok(false);
            }
            fill_partition(&positions, tp, assigned, &mut budget, buffers)?;
            visited += 1;
            Ok(true)
        };
        let mut more = true;
        for (tp, assigned) in self.assignment.iter_mut().skip(start) {
            more = visit(tp, assigned)?;
            if !more {
                break;
            }
        }
        if more {
            for (tp, assigned) in self.assignment.iter_mut().take(start) {
                if !visit(tp, assigned)? {
                    break;
                }
            }
        }
        self.rotation = if visited == n {
            start + 1
        } else {
            start + visited
        };
        Ok(())
    }

    /// Moves the position of `partition` to `offset` (the next record read).
    pub fn seek(&mut self, partition: &TopicPartition, offset: i64) -> Result<()> {
        self.check_usable()?;
        let a = self.assigned_mut(partition)?;
        a.position = Some(offset.max(0));
        Ok(())
    }

    /// Moves the positions of `partitions` (all assigned when empty) to their log start.
    pub fn seek_to_beginning(&mut self, partitions: &[TopicPartition]) -> Result<()> {
        self.seek_with(partitions, |log| Ok(log.log_start_offset()))
    }

    /// Moves the positions of `partitions` (all assigned when empty) to their log end.
    pub fn seek_to_end(&mut self, partitions: &[TopicPartition]) -> Result<()> {
        self.seek_with(partitions, |log| Ok(log.log_end_offset()?))
    }

    fn seek_with(
        &mut self,
        partitions: &[TopicPartition],
        to: impl Fn(&Log) -> Result<i64>,
    ) -> Result<()> {
        self.check_usable()?;
        let targets: Vec<TopicPartition> = if partitions.is_empty() {
            self.assignment()
        } else {
            partitions.to_vec()
        };
        for tp in &targets {
            let a = self.assigned_mut(tp)?;
            a.position = Some(to(&a.log)?);
        }
        Ok(())
    }

    /// The offset of the next record `poll` returns from `partition`, resolving it from the
    /// committed offset or `auto.offset.reset` if needed.
    pub fn position(&mut self, partition: &TopicPartition) -> Result<i64> {
        self.check_usable()?;
        match self.assigned_mut(partition)?.position {
            Some(p) => Ok(p),
            None => {
                let positions = Positions::new(&self.config, self.groups.as_deref());
                let assigned = self.assignment.get_mut(partition).ok_or_else(|| {
                    ConsumerError::NotAssigned {
                        partition: partition.clone(),
                    }
                })?;
                positions.resolve(partition, assigned)
            }
        }
    }

    /// What the group committed for `partitions`.
    pub fn committed(
        &self,
        partitions: &[TopicPartition],
    ) -> Result<BTreeMap<TopicPartition, Option<CommittedOffset>>> {
        let (Some(groups), Some(group)) = (&self.groups, &self.config.group_id) else {
            return Err(ConsumerError::NoGroupId {
                operation: "committed",
            });
        };
        Ok(partitions
            .iter()
            .map(|tp| (tp.clone(), groups.offsets.committed(group, tp)))
            .collect())
    }

    /// Stops returning records from `partitions` until resumed (positions are kept, and the
    /// partitions stay assigned).
    pub fn pause(&mut self, partitions: &[TopicPartition]) -> Result<()> {
        for tp in partitions {
            self.assigned_mut(tp)?.paused = true;
        }
        Ok(())
    }

    /// Returns records from `partitions` again.
    pub fn resume(&mut self, partitions: &[TopicPartition]) -> Result<()> {
        for tp in partitions {
            self.assigned_mut(tp)?.paused = false;
        }
        Ok(())
    }

    /// The paused partitions.
    pub fn paused(&self) -> Vec<TopicPartition> {
        self.assignment
            .iter()
            .filter(|(_, a)| a.paused)
            .map(|(tp, _)| tp.clone())
            .collect()
    }

    /// Log end offset minus position, for each assigned partition whose position is known.
    pub fn lag(&self) -> Result<BTreeMap<TopicPartition, i64>> {
        let mut lags = BTreeMap::new();
        for (tp, a) in &self.assignment {
            if let Some(position) = a.position {
                lags.insert(tp.clone(), (a.log.log_end_offset()? - position).max(0));
            }
        }
        Ok(lags)
    }

    /// Commits the positions of every assigned partition (the offsets after the records the
    /// last polls returned) and waits until they are in the offsets log.
    pub fn commit_sync(&mut self) -> Result<()> {
        self.check_usable()?;
        let offsets = self.positions();
        self.commit_offsets(&offsets)
    }

    /// Commits the given offsets (each the next offset to read, as in Kafka).
    pub fn commit_sync_offsets(
        &mut self,
        offsets: &BTreeMap<TopicPartition, CommittedOffset>,
    ) -> Result<()> {
        self.check_usable()?;
        self.commit_offsets(offsets)
    }

    /// Commits the current positions and calls `callback` with the outcome from a later
    /// `poll`, `commit_sync` or `close`, callbacks always in commit order.
    pub fn commit_async(
        &mut self,
        callback: impl FnOnce(&BTreeMap<TopicPartition, CommittedOffset>, Result<()>) + Send + 'static,
    ) -> Result<()> {
        self.check_usable()?;
        let offsets = self.positions();
        let result = self.commit_offsets(&offsets);
        self.async_results
            .push_back((Box::new(callback), offsets, result));
        Ok(())
    }

    fn run_async_callbacks(&mut self) {
        while let Some((callback, offsets, result)) = self.async_results.pop_front() {
            callback(&offsets, result);
        }
    }

    fn positions(&self) -> BTreeMap<TopicPartition, CommittedOffset> {
        self.assignment
            .iter()
            .filter_map(|(tp, a)| Some((tp.clone(), CommittedOffset::new(a.position?))))
            .collect()
    }

    fn commit_offsets(
        &mut self,
        offsets: &BTreeMap<TopicPartition, CommittedOffset>,
    ) -> Result<()> {
        self.run_async_callbacks();
        let (Some(groups), Some(group_id)) = (&self.groups, &self.config.group_id) else {
            return Err(ConsumerError::NoGroupId {
                operation: "commit",
            });
        };
        let member = self
            .membership
            .as_ref()
            .and_then(|m| Some((m.member_id.as_deref()?, m.generation)));
        let group = match &self.membership {
            Some(m) => Arc::clone(&m.group),
            None => groups.group(group_id),
        };
        group.commit(&self.engine, &groups.offsets, member, offsets)
    }

    /// Automatic commit when due (`enable.auto.commit`); a failure is dropped, as the Java
    /// client only logs it: the next commit carries the same or later offsets.
    fn maybe_auto_commit(&mut self) {
        if !self.auto_commit_on() || Instant::now() < self.next_auto_commit {
            return;
        }
        self.next_auto_commit =
            Instant::now() + Duration::from_millis(self.config.auto_commit_interval_ms);
        let _ = self.commit_sync();
    }

    fn auto_commit_on(&self) -> bool {
        self.config.enable_auto_commit
            && self.config.group_id.is_some()
            && !self.assignment.is_empty()
    }

    /// The group this consumer belongs to, as `kafka-consumer-groups --describe` shows it.
    pub fn describe_group(&self) -> Result<GroupDescription> {
        let (Some(groups), Some(group)) = (&self.groups, &self.config.group_id) else {
            return Err(ConsumerError::NoGroupId {
                operation: "describe_group",
            });
        };
        Ok(groups.group(group).describe(&self.engine, &groups.offsets))
    }

    /// Commits (with auto-commit on), tells the listener its partitions are revoked, and
    /// leaves the group, so the partitions move at once. A static member does not leave:
    /// it keeps its partitions for `session.timeout.ms`, waiting to come back (KIP-345).
    pub fn close(mut self) -> Result<()> {
        self.close_inner()
    }

    fn close_inner(&mut self) -> Result<()> {
        if self.closed {
            return Ok(());
        }
        let committed = if self.auto_commit_on() {
            self.commit_sync()
        } else {
            Ok(())
        };
        self.run_async_callbacks();
        let left = self.leave_group(self.config.group_instance_id.is_none());
        self.closed = true;
        committed.and(left)
    }

    /// Stops heartbeating and drops the consumer without leaving the group or committing,
    /// as a crashed process would: its partitions move after `session.timeout.ms`.
    #[doc(hidden)]
    pub fn abandon(mut self) {
        if let Some(m) = self.membership.take() {
            m.stop();
        }
        self.closed = true;
    }

    fn check_usable(&self) -> Result<()> {
        if self.closed {
            return Err(ConsumerError::Closed);
        }
        Ok(())
    }

    fn assigned_mut(&mut self, tp: &TopicPartition) -> Result<&mut Assigned> {
        self.assignment
            .get_mut(tp)
            .ok_or_else(|| ConsumerError::NotAssigned {
                partition: tp.clone(),
            })
    }
}

impl Drop for Consumer {
    fn drop(&mut self) {
        let _ = self.close_inner();
    }
}

/// Most fetches one poll pass makes from one partition: a fetch returns at least one batch,
/// so this bounds a pass over a partition whose batches hold few records.
const MAX_FETCHES_PER_PASS: usize = 8;

/// Reads from `assigned` into `buffers`, at most `budget` records, and moves its position:
/// first from the batches an earlier fetch left, then from new fetches while the budget
/// lasts.
fn fill_partition(
    positions: &Positions<'_>,
    tp: &TopicPartition,
    assigned: &mut Assigned,
    budget: &mut usize,
    buffers: &mut PollBuffers,
) -> Result<()> {
    if assigned.paused {
        return Ok(());
    }
    let mut position = match assigned.position {
        Some(p) => p,
        None => positions.resolve(tp, assigned)?,
    };
    let max_bytes = positions.config.max_partition_fetch_bytes;
    let check_crcs = positions.config.check_crcs;
    for _ in 0..MAX_FETCHES_PER_PASS {
        if *budget == 0 {
            break;
        }
        let pending = match assigned.pending.take() {
            Some(pending) if pending.position() == position => pending,
            _ => match assigned.log.fetch(position, max_bytes) {
                Ok(fetch) if fetch.is_empty() => break,
                Ok(fetch) => Pending::new(fetch, position),
                Err(EngineError::OffsetOutOfRange {
                    log_start, log_end, ..
                }) => {
                    assigned.position = Some(positions.reset(tp, position, log_start, log_end)?);
                    return Ok(());
                }
                Err(e) => return Err(e.into()),
            },
        };
        let (next, left) = fetcher::take_records(
            pending,
            &tp.topic,
            tp.partition,
            budget,
            check_crcs,
            buffers,
        )?;
        position = next;
        assigned.position = Some(next);
        if left.is_some() {
            assigned.pending = left;
            break;
        }
    }
    Ok(())
}

/// How a partition without a valid position gets one: what the consumer reads besides
/// the assignment, borrowed apart from it so a poll can walk the assignment mutably.
struct Positions<'a> {
    config: &'a ConsumerConfig,
    groups: Option<&'a Groups>,
}

impl<'a> Positions<'a> {
    fn new(config: &'a ConsumerConfig, groups: Option<&'a Groups>) -> Self {
        Positions { config, groups }
    }

    /// The position of a partition that has none: the group's committed offset, else
    /// `auto.offset.reset`. Stored in `assigned` and returned.
    fn resolve(&self, tp: &TopicPartition, assigned: &mut Assigned) -> Result<i64> {
        let committed = match (self.groups, &self.config.group_id) {
            (Some(groups), Some(group)) => groups.offsets.committed(group, tp),
            _ => None,
        };
        let position = match committed {
            Some(c) => c.offset,
            None => match self.config.auto_offset_reset {
                OffsetReset::Earliest => assigned.log.log_start_offset(),
                OffsetReset::Latest => assigned.log.log_end_offset()?,
                OffsetReset::None => {
                    return Err(ConsumerError::NoOffsetForPartition {
                        partition: tp.clone(),
                        group: self.config.group_id.clone(),
                    })
                }
            },
        };
        assigned.position = Some(position);
        Ok(position)
    }

    /// Where an out-of-range position goes, by `auto.offset.reset`.
    fn reset(&self, tp: &TopicPartition, offset: i64, log_start: i64, log_end: i64) -> Result<i64> {
        match self.config.auto_offset_reset {
            OffsetReset::Earliest => Ok(log_start),
            OffsetReset::Latest => Ok(log_end),
            OffsetReset::None => Err(ConsumerError::OffsetOutOfRange {
                partition: tp.clone(),
                offset,
                log_start,
                log_end,
            }),
        }
    }
}
