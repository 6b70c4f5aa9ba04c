//! One group's coordinator: members, generations, rebalances, liveness and commits.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::Instant;

use silt_engine::{Engine, EngineError, Notify};

use super::state::GroupState;
use crate::assignor::{Assignor, RebalanceProtocol, Subscription};
use crate::error::{ConsumerError, Result};
use crate::offsets::{CommittedOffset, OffsetsLog};
use crate::types::TopicPartition;

/// Milliseconds on a process-wide monotonic clock.
pub(crate) fn mono_ms() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_millis() as u64
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A member's signs of life, written by the consumer without the group's lock: its
/// heartbeat thread stamps `heartbeat_ms`, its `poll` stamps `poll_ms`.
#[derive(Debug)]
pub(crate) struct Liveness {
    pub(crate) heartbeat_ms: AtomicU64,
    pub(crate) poll_ms: AtomicU64,
}

impl Liveness {
    pub(crate) fn new() -> Self {
        let now = mono_ms();
        Liveness {
            heartbeat_ms: AtomicU64::new(now),
            poll_ms: AtomicU64::new(now),
        }
    }
}

/// What a consumer sends to join (Kafka's JoinGroup request).
#[derive(Debug)]
pub(crate) struct JoinRequest {
    /// Its member id, `None` the first time (the coordinator makes one).
    pub member_id: Option<String>,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub topics: Vec<String>,
    /// What it owned in `owned_generation` (eager members: before they revoked it).
    pub owned: Vec<TopicPartition>,
    pub owned_generation: Option<i32>,
    pub assignors: Vec<Arc<dyn Assignor>>,
    /// The protocol this consumer can follow: cooperative only if all its assignors can.
    pub protocol: RebalanceProtocol,
    pub session_timeout_ms: u64,
    pub poll_timeout_ms: u64,
    pub liveness: Arc<Liveness>,
}

/// What a member learns when it looks at the group.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum SyncOutcome {
    /// Nothing new since the generation it knows.
    Unchanged,
    /// A rebalance is under way and the member has not rejoined.
    Rejoin,
    /// The member rejoined; the round waits for the others.
    Waiting,
    /// Its assignment in a new generation.
    Assigned {
        generation: i32,
        partitions: Vec<TopicPartition>,
    },
    /// The member is no longer in the group (it expired or was removed).
    Fenced,
    /// Another consumer took its `group.instance.id`.
    FencedInstance,
}

#[derive(Debug)]
struct Member {
    client_id: String,
    instance_id: Option<String>,
    topics: Vec<String>,
    owned: Vec<TopicPartition>,
    owned_generation: Option<i32>,
    assignors: Vec<Arc<dyn Assignor>>,
    protocol: RebalanceProtocol,
    session_timeout_ms: u64,
    poll_timeout_ms: u64,
    liveness: Arc<Liveness>,
    joined: bool,
    assignment: Vec<TopicPartition>,
    /// The generation `assignment` was made in (`None`: the member joined after it).
    assigned_generation: Option<i32>,
}

#[derive(Debug)]
struct Inner {
    state: GroupState,
    generation: i32,
    leader: Option<String>,
    protocol_name: Option<String>,
    protocol: RebalanceProtocol,
    members: BTreeMap<String, Member>,
    /// `group.instance.id` → member id, for static members.
    instances: HashMap<String, String>,
    /// Member ids whose instance id another consumer took.
    replaced: HashSet<String>,
    next_member: u64,
    round_deadline_ms: u64,
    /// Partition counts the current assignment was made with.
    partitions: BTreeMap<String, u32>,
}

/// One group's coordinator (Kafka's `GroupCoordinator` for one group).
#[derive(Debug)]
pub(crate) struct GroupCoordinator {
    name: String,
    /// Bumped whenever members must look at the group (a rebalance began, a generation was
    /// assigned): a member compares it with the last value it saw, so an unchanged group
    /// costs one atomic load per poll.
    epoch: AtomicU64,
    inner: Mutex<Inner>,
    /// Notified with every epoch bump: wakes members sleeping in `poll`.
    changed: Notify,
}

impl GroupCoordinator {
    pub(crate) fn new(name: &str) -> Self {
        GroupCoordinator {
            name: name.to_string(),
            epoch: AtomicU64::new(0),
            inner: Mutex::new(Inner {
                state: GroupState::Empty,
                generation: 0,
                leader: None,
                protocol_name: None,
                protocol: RebalanceProtocol::Eager,
                members: BTreeMap::new(),
                instances: HashMap::new(),
                replaced: HashSet::new(),
                next_member: 0,
                round_deadline_ms: u64::MAX,
                partitions: BTreeMap::new(),
            }),
            changed: Notify::new(),
        }
    }

    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    pub(crate) fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    pub(crate) fn is_empty(&self) -> bool {
        lock(&self.inner).members.is_empty()
    }

    pub(crate) fn member_count(&self) -> usize {
        lock(&self.inner).members.len()
    }

    /// Notified whenever the epoch moves: a member waiting in `poll` registers here, then
    /// checks the epoch, then sleeps.
    pub(crate) fn changes(&self) -> &Notify {
        &self.changed
    }

    /// Joins (or rejoins) the group; returns the member id. A new member, or a known one
    /// whose subscription changed, starts a rebalance. A static member coming back under a
    /// known `group.instance.id` while the group is stable takes over the old member's
    /// identity and assignment with no rebalance (KIP-345).
    pub(crate) fn join(&self, engine: &Engine, request: JoinRequest) -> Result<String> {
        let mut inner = lock(&self.inner);
        self.expire(&mut inner, engine);
        self.check_protocols(&inner, &request)?;
        if let Some(id) = self.rejoin_static(&mut inner, &request) {
            return Ok(id);
        }
        let id = match request
            .member_id
            .as_ref()
            .filter(|id| inner.members.contains_key(*id))
        {
            Some(id) => id.clone(),
            None => {
                inner.next_member += 1;
                format!("{}-{}", request.client_id, inner.next_member)
            }
        };
        if let Some(instance) = &request.instance_id {
            inner.instances.insert(instance.clone(), id.clone());
        }
        if inner.state != GroupState::PreparingRebalance {
            self.begin_rebalance(&mut inner);
        }
        let (assignment, assigned_generation) =
            inner.members.get(&id).map_or((Vec::new(), None), |m| {
                (m.assignment.clone(), m.assigned_generation)
            });
        inner.members.insert(
            id.clone(),
            Member {
                client_id: request.client_id,
                instance_id: request.instance_id,
                topics: request.topics,
                owned: request.owned,
                owned_generation: request.owned_generation,
                assignors: request.assignors,
                protocol: request.protocol,
                session_timeout_ms: request.session_timeout_ms,
                poll_timeout_ms: request.poll_timeout_ms,
                liveness: request.liveness,
                joined: true,
                assignment,
                assigned_generation,
            },
        );
        self.try_complete(&mut inner, engine);
        Ok(id)
    }

    /// A static member rejoining under a new member id: when the group is stable and the
    /// subscription is unchanged, it replaces the old member in place.
    fn rejoin_static(&self, inner: &mut Inner, request: &JoinRequest) -> Option<String> {
        let instance = request.instance_id.as_ref()?;
        let old_id = inner.instances.get(instance)?.clone();
        if request.member_id.as_ref() == Some(&old_id) {
            return None; // the same consumer rejoining normally
        }
        let mut old = inner.members.remove(&old_id)?;
        inner.replaced.insert(old_id.clone());
        inner.next_member += 1;
        let id = format!("{}-{}", request.client_id, inner.next_member);
        inner.instances.insert(instance.clone(), id.clone());
        if inner.leader.as_ref() == Some(&old_id) {
            inner.leader = Some(id.clone());
        }
        let unchanged = inner.state == GroupState::Stable && old.topics == request.topics;
        old.client_id = request.client_id.clone();
        old.liveness = Arc::clone(&request.liveness);
        old.session_timeout_ms = request.session_timeout_ms;
        old.poll_timeout_ms = request.poll_timeout_ms;
        old.topics = request.topics.clone();
        old.assignors = request.assignors.clone();
        old.joined = true;
        inner.members.insert(id.clone(), old);
        if !unchanged {
            if inner.state != GroupState::PreparingRebalance {
                self.begin_rebalance(inner);
                if let Some(m) = inner.members.get_mut(&id) {
                    m.joined = true;
                }
            }
            return Some(id);
        }
        // Same identity, same partitions: the new member id is announced to it alone.
        if let Some(m) = inner.members.get_mut(&id) {
            m.joined = false;
        }
        self.bump();
        Some(id)
    }

    /// Refuses a member that shares no assignor with the group (Kafka's
    /// INCONSISTENT_GROUP_PROTOCOL).
    fn check_protocols(&self, inner: &Inner, request: &JoinRequest) -> Result<()> {
        let offered: Vec<String> = request
            .assignors
            .iter()
            .map(|a| a.name().to_string())
            .collect();
        let others = inner
            .members
            .iter()
            .filter(|(id, _)| Some(*id) != request.member_id.as_ref());
        let common = offered.iter().any(|name| {
            others
                .clone()
                .all(|(_, m)| m.assignors.iter().any(|a| a.name() == name))
        });
        if common {
            return Ok(());
        }
        Err(ConsumerError::InconsistentGroupProtocol {
            group: self.name.clone(),
            offered,
        })
    }

    /// Where `member_id` stands, given the last generation it knows.
    pub(crate) fn sync(&self, engine: &Engine, member_id: &str, known: i32) -> SyncOutcome {
        let mut inner = lock(&self.inner);
        self.expire(&mut inner, engine);
        let Some(member) = inner.members.get(member_id) else {
            if inner.replaced.contains(member_id) {
                return SyncOutcome::FencedInstance;
            }
            return SyncOutcome::Fenced;
        };
        // A member that has not yet taken its assignment in the last completed generation
        // gets it even after the next round began: in Kafka the SyncGroup responses went
        // out when that generation completed, whatever happens next. Telling it to rejoin
        // instead would make every member that gives up a partition start one more round.
        let undelivered =
            inner.generation != known && member.assigned_generation == Some(inner.generation);
        match inner.state {
            GroupState::PreparingRebalance if member.joined => SyncOutcome::Waiting,
            GroupState::PreparingRebalance if undelivered => SyncOutcome::Assigned {
                generation: inner.generation,
                partitions: member.assignment.clone(),
            },
            GroupState::PreparingRebalance => SyncOutcome::Rejoin,
            _ if inner.generation != known => SyncOutcome::Assigned {
                generation: inner.generation,
                partitions: member.assignment.clone(),
            },
            _ => SyncOutcome::Unchanged,
        }
    }

    /// A heartbeat: checks every member's liveness (the caller stamped its own).
    pub(crate) fn heartbeat(&self, engine: &Engine) {
        let mut inner = lock(&self.inner);
        self.expire(&mut inner, engine);
    }

    /// The member leaves at once (Kafka's LeaveGroup): its partitions move now.
    pub(crate) fn leave(&self, engine: &Engine, member_id: &str) {
        let mut inner = lock(&self.inner);
        if let Some(member) = inner.members.remove(member_id) {
            if let Some(instance) = &member.instance_id {
                inner.instances.remove(instance);
            }
            self.after_removal(&mut inner, engine);
        }
    }

    /// Starts a rebalance when the partition counts of the subscribed topics changed since
    /// the current assignment was made (a topic was created, deleted or grew).
    pub(crate) fn check_metadata(&self, engine: &Engine) {
        let mut inner = lock(&self.inner);
        if inner.state != GroupState::Stable {
            return;
        }
        let topics = subscribed(&inner);
        if partition_counts(engine, &topics) != inner.partitions {
            self.begin_rebalance(&mut inner);
        }
    }

    /// Commits `offsets` for `member` (`None`: a consumer without group management, allowed
    /// only while the group has no members, as in Kafka). A member of another generation, or
    /// one the group no longer has, is refused.
    pub(crate) fn commit(
        &self,
        engine: &Engine,
        log: &OffsetsLog,
        member: Option<(&str, i32)>,
        offsets: &BTreeMap<TopicPartition, CommittedOffset>,
    ) -> Result<()> {
        let mut inner = lock(&self.inner);
        self.expire(&mut inner, engine);
        let refuse = |id: &str, generation: i32, current: i32| ConsumerError::CommitFailed {
            group: self.name.clone(),
            member_id: id.to_string(),
            generation,
            current,
        };
        match member {
            None if !inner.members.is_empty() => return Err(refuse("", -1, inner.generation)),
            None => {}
            Some((id, _)) if !inner.members.contains_key(id) => {
                if inner.replaced.contains(id) {
                    return Err(ConsumerError::FencedInstanceId {
                        group: self.name.clone(),
                        instance_id: String::new(),
                    });
                }
                return Err(refuse(id, member.map_or(-1, |m| m.1), -1));
            }
            Some((id, generation)) if generation != inner.generation => {
                return Err(refuse(id, generation, inner.generation))
            }
            Some(_) => {}
        }
        log.commit(engine, &self.name, offsets)
    }

    /// Removes members whose session or poll interval expired, and, when a rebalance round
    /// is past its deadline, the members that did not rejoin in time.
    fn expire(&self, inner: &mut Inner, engine: &Engine) {
        let now = mono_ms();
        let late_round =
            inner.state == GroupState::PreparingRebalance && now > inner.round_deadline_ms;
        let gone: Vec<String> = inner
            .members
            .iter()
            .filter(|(_, m)| {
                let beat = m.liveness.heartbeat_ms.load(Ordering::Acquire);
                let polled = m.liveness.poll_ms.load(Ordering::Acquire);
                let session = now.saturating_sub(beat) > m.session_timeout_ms;
                // Static members only leave by session timeout (KIP-345).
                let stuck =
                    m.instance_id.is_none() && now.saturating_sub(polled) > m.poll_timeout_ms;
                session || stuck || (late_round && !m.joined)
            })
            .map(|(id, _)| id.clone())
            .collect();
        if gone.is_empty() {
            return;
        }
        for id in &gone {
            if let Some(m) = inner.members.remove(id) {
                if let Some(instance) = &m.instance_id {
                    inner.instances.remove(instance);
                }
            }
        }
        self.after_removal(inner, engine);
    }

    fn after_removal(&self, inner: &mut Inner, engine: &Engine) {
        if inner.members.is_empty() {
            inner.state = GroupState::Empty;
            inner.leader = None;
            inner.generation += 1;
            self.bump();
            return;
        }
        if inner.state != GroupState::PreparingRebalance {
            self.begin_rebalance(inner);
        }
        self.try_complete(inner, engine);
    }

    fn begin_rebalance(&self, inner: &mut Inner) {
        inner.state = GroupState::PreparingRebalance;
        let timeout = inner
            .members
            .values()
            .map(|m| m.poll_timeout_ms)
            .max()
            .unwrap_or(0);
        inner.round_deadline_ms = mono_ms().saturating_add(timeout);
        for member in inner.members.values_mut() {
            member.joined = false;
        }
        self.bump();
    }

    fn bump(&self) {
        self.epoch.fetch_add(1, Ordering::AcqRel);
        self.changed.notify();
    }

    /// Completes the round once every member rejoined: the leader's assignor (the first of
    /// its strategies every member offers) runs here, at once. In Kafka the assignment
    /// travels to the leader's client and back through SyncGroup; in one process that
    /// round trip would only wait for the leader's next poll.
    fn try_complete(&self, inner: &mut Inner, engine: &Engine) {
        if inner.state != GroupState::PreparingRebalance
            || inner.members.values().any(|m| !m.joined)
        {
            return;
        }
        if inner.members.is_empty() {
            inner.state = GroupState::Empty;
            self.bump();
            return;
        }
        let leader = match &inner.leader {
            Some(id) if inner.members.contains_key(id) => id.clone(),
            _ => inner.members.keys().next().cloned().unwrap_or_default(),
        };
        let Some(assignor) = choose_assignor(inner, &leader) else {
            return; // unreachable: joins are checked for a common strategy
        };
        let topics = subscribed(inner);
        let partitions = partition_counts(engine, &topics);
        // Eager members revoked everything before they joined: what they report owning is
        // what they owned before, kept only so that an eager sticky assignor can be sticky.
        // An assignor that can run cooperatively holds back partitions their owners still
        // consume, for a second round those owners trigger by revoking; an eager member
        // triggers none, so its old partitions would never be handed out. It is given
        // what Kafka's eager members report instead: nothing owned.
        let withholds = assignor
            .supported_protocols()
            .contains(&RebalanceProtocol::Cooperative);
        let subscriptions: BTreeMap<String, Subscription> = inner
            .members
            .iter()
            .map(|(id, m)| {
                let still_held = !withholds || m.protocol == RebalanceProtocol::Cooperative;
                let subscription = Subscription {
                    topics: m.topics.clone(),
                    owned_partitions: if still_held {
                        m.owned.clone()
                    } else {
                        Vec::new()
                    },
                    generation: m.owned_generation,
                    group_instance_id: m.instance_id.clone(),
                };
                (id.clone(), subscription)
            })
            .collect();
        let mut assignment = assignor.assign(&partitions, &subscriptions);
        let cooperative = withholds
            && inner
                .members
                .values()
                .all(|m| m.protocol == RebalanceProtocol::Cooperative);
        inner.protocol = if cooperative {
            RebalanceProtocol::Cooperative
        } else {
            RebalanceProtocol::Eager
        };
        inner.generation += 1;
        let generation = inner.generation;
        for (id, member) in &mut inner.members {
            member.assignment = assignment.remove(id).unwrap_or_default();
            member.assigned_generation = Some(generation);
            member.joined = false;
        }
        inner.protocol_name = Some(assignor.name().to_string());
        inner.leader = Some(leader);
        inner.partitions = partitions;
        inner.state = GroupState::Stable;
        self.bump();
    }

    /// The group as `kafka-consumer-groups --describe` shows it.
    pub(crate) fn describe(&self, engine: &Engine, log: &OffsetsLog) -> GroupDescription {
        let inner = {
            let mut inner = lock(&self.inner);
            self.expire(&mut inner, engine);
            snapshot(&inner)
        };
        let committed = log.group_offsets(&self.name);
        let owners: BTreeMap<&TopicPartition, &str> = inner
            .members
            .iter()
            .flat_map(|m| {
                m.assignment
                    .iter()
                    .map(move |tp| (tp, m.member_id.as_str()))
            })
            .collect();
        let partitions: BTreeSet<&TopicPartition> =
            committed.keys().chain(owners.keys().copied()).collect();
        let lags = partitions
            .into_iter()
            .map(|tp| lag_row(engine, tp, committed.get(tp), owners.get(tp).copied()))
            .collect();
        GroupDescription {
            group: self.name.clone(),
            partitions: lags,
            ..inner
        }
    }
}

fn snapshot(inner: &Inner) -> GroupDescription {
    GroupDescription {
        group: String::new(),
        state: inner.state,
        generation: inner.generation,
        protocol: inner.protocol_name.clone(),
        rebalance_protocol: inner.protocol,
        leader: inner.leader.clone(),
        members: inner
            .members
            .iter()
            .map(|(id, m)| MemberDescription {
                member_id: id.clone(),
                group_instance_id: m.instance_id.clone(),
                client_id: m.client_id.clone(),
                assignment: m.assignment.clone(),
            })
            .collect(),
        partitions: Vec::new(),
    }
}

fn lag_row(
    engine: &Engine,
    tp: &TopicPartition,
    committed: Option<&CommittedOffset>,
    owner: Option<&str>,
) -> PartitionLag {
    let log_end = engine
        .log(&tp.topic, tp.partition)
        .and_then(|log| log.log_end_offset())
        .ok();
    let committed = committed.map(|c| c.offset);
    PartitionLag {
        partition: tp.clone(),
        committed_offset: committed,
        log_end_offset: log_end,
        lag: committed.zip(log_end).map(|(c, e)| (e - c).max(0)),
        member_id: owner.map(str::to_string),
    }
}

fn choose_assignor(inner: &Inner, leader: &str) -> Option<Arc<dyn Assignor>> {
    let leader = inner.members.get(leader)?;
    leader
        .assignors
        .iter()
        .find(|a| {
            inner
                .members
                .values()
                .all(|m| m.assignors.iter().any(|b| b.name() == a.name()))
        })
        .cloned()
}

fn subscribed(inner: &Inner) -> BTreeSet<String> {
    inner
        .members
        .values()
        .flat_map(|m| m.topics.iter().cloned())
        .collect()
}

/// Partition counts of the topics that exist; a missing topic is simply not assigned (it is
/// picked up by the rebalance its creation starts).
fn partition_counts(engine: &Engine, topics: &BTreeSet<String>) -> BTreeMap<String, u32> {
    topics
        .iter()
        .filter_map(|t| match engine.describe_topic(t) {
            Ok(d) => Some((t.clone(), d.partitions.len() as u32)),
            Err(EngineError::UnknownTopic { .. }) | Err(_) => None,
        })
        .collect()
}

/// A group, as `kafka-consumer-groups --describe` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupDescription {
    /// The group's name.
    pub group: String,
    /// Its state.
    pub state: GroupState,
    /// The current generation.
    pub generation: i32,
    /// The assignor chosen in the last rebalance.
    pub protocol: Option<String>,
    /// Eager or cooperative.
    pub rebalance_protocol: RebalanceProtocol,
    /// The leader's member id.
    pub leader: Option<String>,
    /// Its members.
    pub members: Vec<MemberDescription>,
    /// Every partition it owns or has committed, with its lag.
    pub partitions: Vec<PartitionLag>,
}

/// One member of a group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberDescription {
    /// The member id the coordinator gave it.
    pub member_id: String,
    /// Its `group.instance.id`, for a static member.
    pub group_instance_id: Option<String>,
    /// Its `client.id`.
    pub client_id: String,
    /// The partitions assigned to it in the current generation.
    pub assignment: Vec<TopicPartition>,
}

/// One row of the lag table: TOPIC, PARTITION, CURRENT-OFFSET, LOG-END-OFFSET, LAG,
/// CONSUMER-ID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionLag {
    /// The partition.
    pub partition: TopicPartition,
    /// The committed offset, if any.
    pub committed_offset: Option<i64>,
    /// The partition's log end offset (`None` if the topic is gone).
    pub log_end_offset: Option<i64>,
    /// Log end minus committed.
    pub lag: Option<i64>,
    /// The member that owns it now.
    pub member_id: Option<String>,
}
