//! The group's membership over time: members join, and leave by closing, by being dropped,
//! or by crashing, every second or two, between two and five of them at a time.

use std::thread::JoinHandle;

use super::member::{Leave, Member};
use super::rng::Rng;
use super::world::World;

/// Fewest and most members while the run goes on.
const MIN_MEMBERS: usize = 2;
const MAX_MEMBERS: usize = 5;

pub struct Conductor {
    world: World,
    rng: Rng,
    members: Vec<Member>,
    next: usize,
    /// Threads of members that left, to join at the end.
    gone: Vec<JoinHandle<()>>,
}

impl Conductor {
    pub fn new(world: &World) -> Conductor {
        Conductor {
            world: world.clone(),
            rng: Rng::for_actor(world.seed, 1),
            members: Vec::new(),
            next: 0,
            gone: Vec::new(),
        }
    }

    pub fn join_one(&mut self) {
        let member = Member::spawn(&self.world, self.next, &mut self.rng);
        self.next += 1;
        self.members.push(member);
    }

    fn leave_one(&mut self) {
        let i = self.rng.below(self.members.len() as u64) as usize;
        let member = self.members.swap_remove(i);
        let how = if member.mortal {
            Leave::Abandon
        } else if self.rng.chance(60) {
            Leave::Close
        } else {
            Leave::Drop
        };
        self.gone.push(member.leave(how));
    }

    /// Changes the membership until the run stops.
    pub fn run(mut self) -> Conductor {
        while self.members.len() < MIN_MEMBERS {
            self.join_one();
        }
        while !self.world.stopping() {
            let pause = self.rng.millis(600, 2200);
            self.world.pace(pause);
            if self.world.stopping() {
                break;
            }
            let join = match self.members.len() {
                n if n <= MIN_MEMBERS => true,
                n if n >= MAX_MEMBERS => false,
                _ => self.rng.chance(50),
            };
            if join {
                self.join_one();
            } else {
                self.leave_one();
            }
        }
        self
    }

    /// Members still in the group.
    pub fn live(&self) -> usize {
        self.members.len()
    }

    /// Every member closes; returns once every member thread has finished.
    pub fn close_all(mut self) -> Vec<JoinHandle<()>> {
        for member in self.members.drain(..) {
            self.gone.push(member.leave(Leave::Close));
        }
        self.gone
    }
}
