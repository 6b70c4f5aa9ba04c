//! Retention and compaction, each on its own thread, beside the engine's background task
//! (which runs both too): explicit retention passes and `delete_records` on the plain
//! topic; `clean_logs`, each followed by a check of the compacted topic.
//!
//! Both walk every partition of the engine, scratch topics included, while the churner
//! creates and deletes them: they must not fail because a topic went away under them.

use std::thread::JoinHandle;

use super::compacted::CompactedReader;
use super::records::{PLAIN, PLAIN_PARTITIONS};
use super::rng::Rng;
use super::world::{is_gone, Stats, World};

pub fn spawn_retention(world: &World) -> JoinHandle<()> {
    let world = world.clone();
    std::thread::Builder::new()
        .name("soak-retention".into())
        .spawn(move || retention(world))
        .unwrap()
}

pub fn spawn_compaction(world: &World) -> JoinHandle<()> {
    let world = world.clone();
    std::thread::Builder::new()
        .name("soak-compaction".into())
        .spawn(move || compaction(world))
        .unwrap()
}

fn retention(world: World) {
    let mut rng = Rng::for_actor(world.seed, 2);
    while !world.stopping() {
        world.pace(rng.millis(80, 300));
        if rng.chance(80) {
            match world.engine.enforce_retention() {
                Ok(report) => {
                    Stats::add(&world.stats.retention_passes, 1);
                    Stats::add(
                        &world.stats.segments_deleted,
                        report.segments_deleted as u64,
                    );
                }
                Err(e) if is_gone(&e) => Stats::add(&world.stats.typed_errors, 1),
                Err(e) => world.violation(format!("enforce_retention: {e}")),
            }
        } else {
            delete_records(&world, &mut rng);
        }
    }
}

/// Moves the log start of one plain partition forward: by a fifth of what it holds, or to
/// within a hundred and fifty records of its end, under the feet of a member that lags.
fn delete_records(world: &World, rng: &mut Rng) {
    let p = rng.below(u64::from(PLAIN_PARTITIONS)) as u32;
    let log = world.engine.log(PLAIN, p).unwrap();
    let start = log.log_start_offset();
    let end = log.log_end_offset().unwrap();
    let before = if rng.chance(50) {
        start + (end - start) / 5
    } else {
        end - rng.below((end - start).min(150) as u64 + 1) as i64
    };
    match world.engine.delete_records(PLAIN, p, before) {
        Ok(new_start) if new_start >= before && log.log_start_offset() >= before => {
            Stats::add(&world.stats.delete_records, 1);
        }
        Ok(new_start) => world.violation(format!(
            "delete_records({PLAIN}-{p}, {before}) left the log start at {new_start} / {}",
            log.log_start_offset()
        )),
        Err(e) => world.violation(format!("delete_records({PLAIN}-{p}, {before}): {e}")),
    }
    Stats::add(&world.stats.invariant_checks, 1);
}

fn compaction(world: World) {
    let mut rng = Rng::for_actor(world.seed, 3);
    let mut reader = CompactedReader::new(&world.engine);
    while !world.stopping() {
        world.pace(rng.millis(150, 400));
        match world.engine.clean_logs() {
            Ok(report) => Stats::add(&world.stats.cleanings, report.logs_cleaned as u64),
            Err(e) if is_gone(&e) => Stats::add(&world.stats.typed_errors, 1),
            Err(e) => world.violation(format!("clean_logs: {e}")),
        }
        reader.check(&world);
    }
}
