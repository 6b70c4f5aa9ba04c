//! Runs the soak: opens an engine in a temporary directory, starts every actor, lets them run
//! for the configured time while watching for violations, stops them (each within a bound),
//! drains the group and checks what is left, reopens the directory and checks it again, and
//! prints the summary line.

use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use silt_engine::Engine;

use super::conductor::Conductor;
use super::records::{compacted_topic, engine_config, plain_topic};
use super::world::World;
use super::{auditor, churner, drain, maintenance, producers};

/// How long a run lasts and what drives its choices.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// Time under load (`SILT_SOAK_SECS`).
    pub load: Duration,
    /// Seed of every actor's choices (`SILT_SOAK_SEED`, decimal or `0x` hex).
    pub seed: u64,
}

impl Settings {
    /// `SILT_SOAK_SECS` (else `default_secs`) and `SILT_SOAK_SEED` (else a fresh one).
    pub fn from_env(default_secs: u64) -> Settings {
        let secs = std::env::var("SILT_SOAK_SECS")
            .ok()
            .map(|s| {
                s.trim()
                    .parse::<f64>()
                    .expect("SILT_SOAK_SECS: a number of seconds")
            })
            .unwrap_or(default_secs as f64);
        let seed = match std::env::var("SILT_SOAK_SEED") {
            Ok(s) => {
                let s = s.trim();
                match s.strip_prefix("0x") {
                    Some(hex) => u64::from_str_radix(hex, 16),
                    None => s.parse(),
                }
                .expect("SILT_SOAK_SEED: a decimal or 0x-hex number")
            }
            Err(_) => std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(7, |d| d.as_nanos() as u64),
        };
        Settings {
            load: Duration::from_secs_f64(secs.max(0.0)),
            seed,
        }
    }
}

/// Bound on each actor's stop once asked.
const STOP_BOUND: Duration = Duration::from_secs(30);

/// Runs the soak; panics with the violations found, after printing the summary.
pub fn run(settings: Settings) {
    eprintln!(
        "soak: seed {:#x}, {:.1} s of load (replay with SILT_SOAK_SEED={:#x})",
        settings.seed,
        settings.load.as_secs_f64(),
        settings.seed
    );
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::open(dir.path(), engine_config()).unwrap();
    engine.create_topic(plain_topic()).unwrap();
    engine.create_topic(compacted_topic()).unwrap();
    let world = World::new(engine.clone(), settings.seed);
    let began = Instant::now();

    let mut actors: Vec<(&str, JoinHandle<()>)> = vec![
        ("producer 0 (acks=1)", producers::spawn(&world, 0)),
        ("producer 1 (acks=all)", producers::spawn(&world, 1)),
        ("auditor", auditor::spawn(&world)),
        ("retention", maintenance::spawn_retention(&world)),
        ("compaction", maintenance::spawn_compaction(&world)),
        ("churner", churner::spawn(&world)),
    ];
    let conductor = {
        let world = world.clone();
        std::thread::Builder::new()
            .name("soak-conductor".into())
            .spawn(move || Conductor::new(&world).run())
            .unwrap()
    };

    // Under load until the time is up, a violation is found, or an actor stops on its own
    // (it panicked).
    while began.elapsed() < settings.load && world.violations().0 == 0 {
        if let Some((name, _)) = actors.iter().find(|(_, a)| a.is_finished()) {
            world.violation(format!("{name} stopped before the end of the run"));
            break;
        }
        if conductor.is_finished() {
            world.violation("the conductor stopped before the end of the run");
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let loaded = began.elapsed();
    world.request_stop();
    for (name, actor) in actors.drain(..) {
        join_within(&world, name, actor);
    }
    let conductor = wait_within(&world, "conductor", conductor);

    if let Some(conductor) = conductor.filter(|_| world.violations().0 == 0) {
        let bounds = drain::drain_and_check(&world, conductor);
        engine.close().unwrap();
        if world.violations().0 == 0 {
            drain::reopen_and_check(&world, dir.path(), &bounds);
        }
    }
    println!(
        "{}",
        world.stats.summary(loaded.as_secs_f64(), settings.seed)
    );
    let (count, first) = world.violations();
    assert!(
        count == 0,
        "{count} violation(s) (seed {:#x}); the first:\n{}",
        settings.seed,
        first.join("\n")
    );
}

/// Joins `actor`, which was asked to stop: it must within [`STOP_BOUND`] (else it hangs), and
/// without a panic.
pub fn join_within(world: &World, name: &str, actor: JoinHandle<()>) {
    wait_within(world, name, actor);
}

fn wait_within<T>(world: &World, name: &str, actor: JoinHandle<T>) -> Option<T> {
    let deadline = Instant::now() + STOP_BOUND;
    while !actor.is_finished() {
        assert!(
            Instant::now() < deadline,
            "{name} did not stop within {STOP_BOUND:?} of being asked (seed {:#x})",
            world.seed
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    match actor.join() {
        Ok(value) => Some(value),
        Err(panic) => {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            world.violation(format!("{name} panicked: {message}"));
            None
        }
    }
}
