//! The crash campaign: a child process produces (`acks=all`, and separately `acks=1`) into
//! a topic whose segments roll every few dozen batches and whose retention deletes them,
//! and into a compacted topic the cleaner keeps cleaning, while it runs retention, cleaning,
//! `delete_records` and flushes of its own and a consumer group reads everything and
//! commits. The parent SIGKILLs it at a random moment (a seeded plan: while it opens, at a
//! random time, right after it begins a cleaning, a retention pass, a `delete_records`, a
//! flush or a commit, or at its n-th acknowledgment), reopens the data directory and checks
//! it (`crash_support/check.rs`):
//!
//! - every acknowledged record (and every record an earlier check saw) is present exactly
//!   once, at its offset, with its bytes, unless it lies below the log start (retention or
//!   `delete_records`); in the compacted topic, every key's last acknowledged (or seen)
//!   record is still its last, or a later one of the key is;
//! - each producer thread's records are in the order it sent them, offsets are contiguous
//!   in `events`, and no offset is handed out twice (the log end never goes back past an
//!   acknowledged offset, nor the log start back at all);
//! - the group's committed offsets are its last acknowledged commit, or the commit it began
//!   after it, whole;
//! - every partition reads from its log start to its end through the normal read path with
//!   every batch's CRC-32C and every record valid; `verify_segment` finds nothing wrong with
//!   any closed segment, nor with any segment after the checker's clean close; nothing a
//!   crash leaves half-done (`.cleaned`, `.swap`, `.deleted`, `.tmp`) outlives the open.
//!
//! No reader sees a partial or corrupt batch while the child runs either: its consumer checks
//! every record it polls, and a reader thread walks every partition from its log start to its
//! end again and again, across rolls, retention and the cleaner's segment swaps.
//!
//! The next cycle goes on with the same directory (a third of the checks open a copy, so
//! the next child recovers the kill's directory itself). `acks=1` records are held to the
//! same standard as `acks=all`: a killed process leaves its writes in the page cache.
//!
//! The campaign lives in silt-consumer's tests because this crate sits on the engine: one
//! child exercises the producer, retention, compaction and group commits together.
//!
//! CI runs 26 cycles per acks setting; `cargo test -p silt-consumer --test crash_campaign --
//! --ignored` runs `SILT_CRASH_CYCLES` (2000) cycles, half of each. `SILT_CRASH_SEED`
//! replays a campaign's plan (every failure names it); `SILT_CRASH_KEEP=1` keeps the data
//! directory for a post-mortem.

mod crash_support;

use silt_engine::config::Acks;

use crash_support::child::{self, ChildArgs};
use crash_support::parent::{ARGS_ENV, DIR_ENV};
use crash_support::{campaign, seed, Figures};

/// Cycles per acks setting in CI (52 in all).
const CI_CYCLES: u64 = 26;

/// The child's role: runs only when the parent started this binary with [`DIR_ENV`] set.
#[test]
fn crash_child() {
    let Ok(dir) = std::env::var(DIR_ENV) else {
        return; // run as a normal test: nothing to do
    };
    let args = std::env::var(ARGS_ENV).expect("child arguments");
    let fields: Vec<&str> = args.split(' ').collect();
    let [acks, cycle, seed] = fields.as_slice() else {
        panic!("child arguments {args:?}");
    };
    let acks = match *acks {
        "all" => Acks::All,
        "1" => Acks::Leader,
        other => panic!("acks {other}"),
    };
    let args = ChildArgs {
        acks,
        cycle: cycle.parse().unwrap(),
        seed: seed.parse().unwrap(),
    };
    child::run(std::path::Path::new(&dir), args);
}

fn run(acks: Acks, cycles: u64) -> Figures {
    let seed = seed();
    eprintln!("crash campaign acks={acks:?}: {cycles} cycles, SILT_CRASH_SEED={seed:#x}");
    let figures = campaign(acks, cycles, seed);
    eprintln!("crash campaign acks={acks:?} (SILT_CRASH_SEED={seed:#x}): {figures}");
    figures
}

#[test]
fn acks_all_records_survive_kill_cycles() {
    let figures = run(Acks::All, CI_CYCLES);
    assert_eq!(figures.cycles, CI_CYCLES);
    assert!(figures.records_acked > 0 && figures.commits_acked > 0);
}

#[test]
fn acks_1_records_survive_kill_cycles() {
    let figures = run(Acks::Leader, CI_CYCLES);
    assert_eq!(figures.cycles, CI_CYCLES);
    assert!(figures.records_acked > 0 && figures.commits_acked > 0);
}

/// Thousands of cycles: `SILT_CRASH_CYCLES` (default 2000), half `acks=all`, half `acks=1`.
#[test]
#[ignore = "long: run with --ignored (SILT_CRASH_CYCLES sets the cycle count)"]
fn long_campaign() {
    let cycles: u64 = std::env::var("SILT_CRASH_CYCLES")
        .map(|s| s.parse().expect("SILT_CRASH_CYCLES"))
        .unwrap_or(2000);
    let mut total = run(Acks::All, cycles / 2);
    total.add(&run(Acks::Leader, cycles - cycles / 2));
    eprintln!("crash campaign, both settings: {total}");
}
