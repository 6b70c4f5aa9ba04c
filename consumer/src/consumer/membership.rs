//! The consumer's side of group membership: joining, applying assignments (eager or
//! cooperative), losing partitions when fenced, and the heartbeat thread.

use std::collections::BTreeSet;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{bounded, RecvTimeoutError, Sender};
use silt_engine::Engine;

use super::{Assigned, Consumer, Mode};
use crate::assignor::RebalanceProtocol;
use crate::config::ConsumerConfig;
use crate::coordinator::{mono_ms, GroupCoordinator, JoinRequest, Liveness, SyncOutcome};
use crate::error::{ConsumerError, Result};
use crate::listener::RebalanceListener;
use crate::types::TopicPartition;

/// Bound on join / sync exchanges in one poll (a cooperative rebalance takes two rounds).
const MAX_GROUP_STEPS_PER_POLL: usize = 8;

/// A subscribed consumer's standing in its group.
pub(super) struct Membership {
    pub(super) group: Arc<GroupCoordinator>,
    pub(super) member_id: Option<String>,
    pub(super) generation: i32,
    /// The group epoch last looked at: while it is unchanged there is nothing to do.
    pub(super) seen_epoch: u64,
    /// Set when this consumer must (re)join: first subscribe, a changed subscription, or
    /// partitions revoked in a cooperative round.
    pub(super) rejoin: bool,
    topics_version: u64,
    /// Partitions owned in the last generation, for sticky assignors under eager rebalances
    /// (Kafka keeps them in the subscription's user data).
    previous: Vec<TopicPartition>,
    liveness: Arc<Liveness>,
    heartbeat: Option<(Sender<()>, JoinHandle<()>)>,
}

impl Membership {
    pub(super) fn start(
        engine: &Engine,
        group: Arc<GroupCoordinator>,
        config: &ConsumerConfig,
    ) -> Result<Membership> {
        let liveness = Arc::new(Liveness::new());
        let (stop, stopped) = bounded::<()>(1);
        let beat = {
            let (engine, group, liveness) =
                (engine.clone(), Arc::clone(&group), Arc::clone(&liveness));
            let every = Duration::from_millis(config.heartbeat_interval_ms);
            move || loop {
                match stopped.recv_timeout(every) {
                    Err(RecvTimeoutError::Timeout) => {
                        liveness.heartbeat_ms.store(mono_ms(), Ordering::Release);
                        group.heartbeat(&engine);
                    }
                    _ => return,
                }
            }
        };
        let handle = std::thread::Builder::new()
            .name("silt-heartbeat".into())
            .spawn(beat)
            .map_err(|e| {
                ConsumerError::Engine(silt_engine::EngineError::Io {
                    op: "spawn heartbeat thread",
                    path: engine.data_dir().to_path_buf(),
                    source: e,
                })
            })?;
        Ok(Membership {
            group,
            member_id: None,
            generation: -1,
            seen_epoch: u64::MAX,
            rejoin: true,
            topics_version: engine.topics_version(),
            previous: Vec::new(),
            liveness,
            heartbeat: Some((stop, handle)),
        })
    }

    /// Stamps poll progress (read by the coordinator against `max.poll.interval.ms`).
    pub(super) fn polled(&self) {
        self.liveness.poll_ms.store(mono_ms(), Ordering::Release);
    }

    /// Stops the heartbeat thread.
    pub(super) fn stop(mut self) {
        if let Some((stop, handle)) = self.heartbeat.take() {
            drop(stop);
            let _ = handle.join();
        }
    }
}

impl Drop for Membership {
    fn drop(&mut self) {
        if let Some((stop, handle)) = self.heartbeat.take() {
            drop(stop);
            let _ = handle.join();
        }
    }
}

impl Consumer {
    /// Brings this consumer up to date with its group: joins when needed, applies a new
    /// assignment, handles being fenced. Cheap when nothing changed (two atomic loads).
    pub(super) fn maintain_group(&mut self) -> Result<()> {
        if !matches!(self.mode, Mode::Subscribed(_)) {
            return Ok(());
        }
        let Some(m) = &mut self.membership else {
            return Ok(());
        };
        let version = self.engine.topics_version();
        if version != m.topics_version {
            m.topics_version = version;
            m.group.check_metadata(&self.engine);
        }
        for _ in 0..MAX_GROUP_STEPS_PER_POLL {
            let Some(m) = &mut self.membership else {
                return Ok(());
            };
            let epoch = m.group.epoch();
            if !m.rejoin && epoch == m.seen_epoch {
                return Ok(());
            }
            if m.rejoin || m.member_id.is_none() {
                self.join_group()?;
                continue;
            }
            let Some(m) = &mut self.membership else {
                return Ok(());
            };
            let id = m.member_id.clone().unwrap_or_default();
            let outcome = m.group.sync(&self.engine, &id, m.generation);
            // An assignment may arrive after the next round began (the group delivers a
            // completed generation late): look again before calling the epoch seen.
            if !matches!(outcome, SyncOutcome::Assigned { .. }) {
                m.seen_epoch = epoch;
            }
            match outcome {
                SyncOutcome::Unchanged | SyncOutcome::Waiting => return Ok(()),
                SyncOutcome::Rejoin => m.rejoin = true,
                SyncOutcome::Assigned {
                    generation,
                    partitions,
                } => self.apply_assignment(generation, partitions),
                SyncOutcome::Fenced => self.lose_all(),
                SyncOutcome::FencedInstance => {
                    self.lose_all();
                    return Err(ConsumerError::FencedInstanceId {
                        group: m_group_name(&self.membership),
                        instance_id: self.config.group_instance_id.clone().unwrap_or_default(),
                    });
                }
            }
        }
        Ok(())
    }

    /// Joins (or rejoins). Eager: commits (with auto-commit) and revokes everything first.
    fn join_group(&mut self) -> Result<()> {
        let protocol = self.config.rebalance_protocol();
        if protocol == RebalanceProtocol::Eager && !self.assignment.is_empty() {
            if self.auto_commit_on() {
                let _ = self.commit_sync();
            }
            let all = self.assignment();
            self.call_listener(|l, c| l.on_partitions_revoked(c, &all));
            self.assignment.clear();
        }
        let Mode::Subscribed(topics) = &self.mode else {
            return Ok(());
        };
        let topics = topics.clone();
        let owned = match protocol {
            RebalanceProtocol::Cooperative => self.assignment(),
            RebalanceProtocol::Eager => self
                .membership
                .as_ref()
                .map(|m| m.previous.clone())
                .unwrap_or_default(),
        };
        let Some(m) = &mut self.membership else {
            return Ok(());
        };
        let request = JoinRequest {
            member_id: m.member_id.clone(),
            instance_id: self.config.group_instance_id.clone(),
            client_id: self.config.client_id.clone(),
            topics,
            owned,
            owned_generation: (m.generation >= 0).then_some(m.generation),
            assignors: self.config.partition_assignment_strategy.clone(),
            protocol,
            session_timeout_ms: self.config.session_timeout_ms,
            poll_timeout_ms: self.config.max_poll_interval_ms,
            liveness: Arc::clone(&m.liveness),
        };
        let id = m.group.join(&self.engine, request)?;
        m.member_id = Some(id);
        m.rejoin = false;
        m.seen_epoch = u64::MAX; // look at the group right away
        Ok(())
    }

    /// Applies the assignment of a new generation. Cooperative: partitions no longer
    /// assigned are revoked (after a commit, with auto-commit) and the consumer rejoins at
    /// once so that they can go to their new owner in a second round.
    fn apply_assignment(&mut self, generation: i32, partitions: Vec<TopicPartition>) {
        // The member is in the new generation before it revokes anything (in Kafka the
        // JoinGroup response carries it), so commits made on revoke, automatic or from the
        // listener, are accepted instead of refused as coming from the old generation.
        if let Some(m) = &mut self.membership {
            m.generation = generation;
        }
        let new: BTreeSet<TopicPartition> = partitions.into_iter().collect();
        let revoked: Vec<TopicPartition> = self
            .assignment
            .keys()
            .filter(|tp| !new.contains(*tp))
            .cloned()
            .collect();
        if !revoked.is_empty() {
            if self.auto_commit_on() {
                let offsets = self
                    .positions()
                    .into_iter()
                    .filter(|(tp, _)| revoked.contains(tp))
                    .collect();
                let _ = self.commit_offsets(&offsets);
            }
            self.call_listener(|l, c| l.on_partitions_revoked(c, &revoked));
            for tp in &revoked {
                self.assignment.remove(tp);
            }
        }
        let added: Vec<TopicPartition> = new
            .iter()
            .filter(|tp| !self.assignment.contains_key(*tp))
            .cloned()
            .collect();
        for tp in &added {
            if let Ok(log) = self.engine.log(&tp.topic, tp.partition) {
                self.assignment.insert(tp.clone(), Assigned::new(log));
            }
        }
        if let Some(m) = &mut self.membership {
            m.previous = new.into_iter().collect();
            m.rejoin = !revoked.is_empty()
                && self.config.rebalance_protocol() == RebalanceProtocol::Cooperative;
        }
        self.call_listener(|l, c| l.on_partitions_assigned(c, &added));
    }

    /// The member was fenced: its partitions are lost (not revoked: their new owner may
    /// already read them), and it rejoins as a new member.
    fn lose_all(&mut self) {
        let all = self.assignment();
        if !all.is_empty() {
            self.call_listener(|l, c| l.on_partitions_lost(c, &all));
        }
        self.assignment.clear();
        if let Some(m) = &mut self.membership {
            m.member_id = None;
            m.generation = -1;
            m.previous.clear();
            m.rejoin = true;
        }
    }

    /// Revokes everything and stops the membership; `leave` sends the member away at once
    /// (dynamic members), otherwise its session runs out (static members).
    pub(super) fn leave_group(&mut self, leave: bool) -> Result<()> {
        if matches!(self.mode, Mode::Subscribed(_)) && !self.assignment.is_empty() {
            let all = self.assignment();
            self.call_listener(|l, c| l.on_partitions_revoked(c, &all));
            self.assignment.clear();
        }
        if let Some(m) = self.membership.take() {
            if let (true, Some(id)) = (leave, &m.member_id) {
                m.group.leave(&self.engine, id);
            }
            m.stop();
        }
        Ok(())
    }

    /// Runs a listener callback with the consumer at hand (the listener is taken out for
    /// the call, so it may use the consumer; `poll` inside it is refused).
    fn call_listener(&mut self, f: impl FnOnce(&mut dyn RebalanceListener, &mut Consumer)) {
        if let Some(mut listener) = self.listener.take() {
            self.in_listener = true;
            f(listener.as_mut(), self);
            self.in_listener = false;
            if self.listener.is_none() {
                self.listener = Some(listener);
            }
        }
    }
}

fn m_group_name(m: &Option<Membership>) -> String {
    m.as_ref()
        .map(|m| m.group.name().to_string())
        .unwrap_or_default()
}
