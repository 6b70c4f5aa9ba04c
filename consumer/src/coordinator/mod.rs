//! The group coordinator: one [`GroupCoordinator`] per group, kept by the engine.
//!
//! Kafka's coordinator runs in a broker and speaks JoinGroup / SyncGroup / Heartbeat /
//! LeaveGroup / OffsetCommit over the network. silt's members live in the same process, so
//! the same state machine is a struct behind a lock that consumers call directly: joining
//! is a call, a rebalance is noticed through an atomic epoch, and liveness is two atomics
//! per member (last heartbeat, last poll) that the coordinator reads when it checks for
//! expired members.

mod group;
mod state;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use silt_engine::Engine;

pub(crate) use group::{mono_ms, GroupCoordinator, JoinRequest, Liveness, SyncOutcome};
pub use group::{GroupDescription, MemberDescription, PartitionLag};
pub use state::GroupState;

use crate::error::Result;
use crate::offsets::OffsetsLog;

/// Every group of one engine, and the offsets log they commit to. Attached to the engine
/// with [`Engine::extension`], so all consumers of a data directory share it.
#[derive(Debug)]
pub(crate) struct Groups {
    groups: Mutex<HashMap<String, Arc<GroupCoordinator>>>,
    pub(crate) offsets: OffsetsLog,
}

impl Groups {
    /// The engine's groups, replaying `__consumer_offsets` on first use.
    pub(crate) fn of(engine: &Engine) -> Result<Arc<Groups>> {
        engine.extension(|engine| {
            Ok(Groups {
                groups: Mutex::new(HashMap::new()),
                offsets: OffsetsLog::open(
                    engine,
                    engine.config().offsets_topic_num_partitions,
                    engine.config().offsets_topic_segment_bytes,
                )?,
            })
        })
    }

    /// The coordinator of `group`, created empty if new.
    pub(crate) fn group(&self, group: &str) -> Arc<GroupCoordinator> {
        let mut groups = group::lock(&self.groups);
        Arc::clone(
            groups
                .entry(group.to_string())
                .or_insert_with(|| Arc::new(GroupCoordinator::new(group))),
        )
    }

    /// Every group known: with members now, or with committed offsets.
    pub(crate) fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = group::lock(&self.groups)
            .iter()
            .filter(|(_, g)| !g.is_empty())
            .map(|(name, _)| name.clone())
            .collect();
        names.extend(self.offsets.groups());
        names.sort();
        names.dedup();
        names
    }
}
