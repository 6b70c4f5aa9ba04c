//! Who owns each partition of the group's topic, as the members' rebalance listeners say:
//! `on_partitions_assigned` takes a partition and must find it free, `on_partitions_revoked`
//! gives back one the member holds, `on_partitions_lost` gives back what it still holds.
//!
//! One exception is Kafka's, not a fault: a member the coordinator expired while it still
//! ran (a zombie) learns of it only at its next poll, so its partitions may already have a new
//! owner. A take from a holder that is no longer a member of the group is counted as a zombie
//! takeover rather than a violation; so is a zombie's read of a partition it no longer owns.
//! Members that do not crash have long sessions, so this takes a starved heartbeat thread.

use std::collections::BTreeMap;
use std::sync::Mutex;

use silt_consumer::{ConsumerExt, TopicPartition};

use super::records::GROUP;
use super::world::{Stats, World};

#[derive(Debug, Clone)]
struct Owner {
    me: usize,
    member_id: String,
}

#[derive(Default)]
pub struct Ownership {
    owners: Mutex<BTreeMap<u32, Owner>>,
}

/// Whether `member_id` is in the group now (the coordinator expires whom it must first).
fn in_group(world: &World, member_id: &str) -> bool {
    match world.engine.describe_consumer_group(GROUP) {
        Ok(d) => d.members.iter().any(|m| m.member_id == member_id),
        Err(_) => false,
    }
}

impl Ownership {
    pub fn take(&self, world: &World, me: usize, member_id: &str, partitions: &[TopicPartition]) {
        let mut owners = self.owners.lock().unwrap();
        for tp in partitions {
            let new = Owner {
                me,
                member_id: member_id.to_string(),
            };
            if let Some(old) = owners.insert(tp.partition, new) {
                if old.me != me && in_group(world, &old.member_id) {
                    world.violation(format!(
                        "m{me} ({member_id}) was assigned {tp} while m{} ({}) held it",
                        old.me, old.member_id
                    ));
                } else if old.me != me {
                    Stats::add(&world.stats.zombie_takeovers, 1);
                } else {
                    world.violation(format!("m{me} was assigned {tp}, which it held already"));
                }
            }
        }
    }

    /// Gives back `partitions`: revoked ones must be held by `me`; lost ones may have been
    /// taken by a new owner already.
    pub fn give_back(&self, world: &World, me: usize, partitions: &[TopicPartition], lost: bool) {
        let mut owners = self.owners.lock().unwrap();
        for tp in partitions {
            match owners.get(&tp.partition) {
                Some(o) if o.me == me => {
                    owners.remove(&tp.partition);
                }
                _ if lost => {}
                other => world.violation(format!(
                    "m{me} revoked {tp}, held by {:?}",
                    other.map(|o| o.me)
                )),
            }
        }
    }

    /// Whether `me` may process records of `partition` now; a record of a partition it does
    /// not own is a violation unless it is a zombie.
    pub fn check_read(&self, world: &World, me: usize, member_id: &str, partition: u32) -> bool {
        let owners = self.owners.lock().unwrap();
        match owners.get(&partition) {
            Some(o) if o.me == me => true,
            other => {
                let holder = other.map(|o| o.me);
                drop(owners);
                if in_group(world, member_id) {
                    world.violation(format!(
                        "m{me} ({member_id}) polled records of partition {partition}, owned by {holder:?}"
                    ));
                } else {
                    Stats::add(&world.stats.zombie_takeovers, 1);
                }
                false
            }
        }
    }

    /// A crashing member stops processing: what it held is free for the group to hand out
    /// once its session expires.
    pub fn release_all(&self, me: usize) {
        self.owners.lock().unwrap().retain(|_, o| o.me != me);
    }

    pub fn held_by(&self, me: usize) -> Vec<u32> {
        let owners = self.owners.lock().unwrap();
        owners
            .iter()
            .filter(|(_, o)| o.me == me)
            .map(|(p, _)| *p)
            .collect()
    }

    pub fn all(&self) -> BTreeMap<u32, usize> {
        let owners = self.owners.lock().unwrap();
        owners.iter().map(|(p, o)| (*p, o.me)).collect()
    }
}
