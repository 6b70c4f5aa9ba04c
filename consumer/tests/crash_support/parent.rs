//! The parent's side of one cycle: start the child, read what it says, SIGKILL it when the
//! cycle's [`KillPlan`] says, and hand back everything it said before it died.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use silt_consumer::TopicPartition;
use silt_engine::config::Acks;

use super::child::{ChildArgs, BUG_EXIT};
use super::records::{Id, Rng, COMPACTED, EVENTS};
use super::Ctx;

/// Environment variable naming the child's data directory (and making the test a child).
pub const DIR_ENV: &str = "SILT_CRASH_CHILD_DIR";
/// Environment variable with the child's `<acks> <cycle> <seed>`.
pub const ARGS_ENV: &str = "SILT_CRASH_CHILD_ARGS";
/// The test function the child runs.
pub const CHILD_TEST: &str = "crash_child";
/// Longest a trigger is waited for (the child opening, or reaching an operation) before
/// it is killed anyway: a bound on a condition, so a slow machine still ends the cycle.
const TRIGGER_LIMIT: Duration = Duration::from_secs(30);

/// When the parent kills the child.
#[derive(Debug, Clone, Copy)]
pub enum KillPlan {
    /// This long after it was started: while it opens (and recovers) the engine, or
    /// creates the topics.
    AfterSpawn(Duration),
    /// This long after it opened the engine: anywhere in producing, rolling, retention,
    /// cleaning, committing.
    AfterReady(Duration),
    /// This long after it said it begins its `nth` operation `op` (`clean`, `retention`,
    /// `delrec`, `flush`, or `commit`).
    OnBegin {
        op: &'static str,
        nth: u32,
        extra: Duration,
    },
    /// At its `nth` acknowledgment: in the middle of appends (and rolls).
    AtAck(u32),
}

impl KillPlan {
    pub fn draw(rng: &mut Rng) -> KillPlan {
        let micros = |rng: &mut Rng, max: u64| Duration::from_micros(rng.below(max));
        match rng.below(20) {
            0..=1 => KillPlan::AfterSpawn(micros(rng, 120_000)),
            2..=9 => {
                // Mostly short, sometimes long: kills spread over a run's first moments
                // (the consumer's first fetch, the first commit) and its steady state.
                let max = [20_000, 100_000, 400_000][rng.below(3) as usize];
                KillPlan::AfterReady(micros(rng, max))
            }
            10..=17 => KillPlan::OnBegin {
                op: ["clean", "retention", "delrec", "flush", "commit"][rng.below(5) as usize],
                nth: 1 + rng.below(2) as u32,
                extra: micros(rng, 3_000),
            },
            _ => KillPlan::AtAck(1 + rng.below(3000) as u32),
        }
    }

    /// Short name, for the figures.
    pub fn kind(&self) -> &'static str {
        match self {
            KillPlan::AfterSpawn(_) => "after-spawn",
            KillPlan::AfterReady(_) => "after-ready",
            KillPlan::OnBegin { op, .. } => op,
            KillPlan::AtAck(_) => "at-ack",
        }
    }
}

/// One line of the child's.
#[derive(Debug, Clone)]
pub enum Said {
    Ready,
    Ack {
        topic: &'static str,
        partition: u32,
        offset: i64,
        id: Id,
    },
    /// An operation begins (`delrec` says on which partition of `events`).
    Begin {
        op: String,
        partition: Option<u32>,
    },
    DeleteRecords {
        partition: u32,
        before: i64,
        new_start: i64,
    },
    Try {
        n: u64,
        offsets: BTreeMap<TopicPartition, i64>,
    },
    Committed(u64),
    /// A pass of the child's concurrent reader, and the records it checked.
    Scanned(u64),
    Bug(String),
}

/// Parses one complete line; `None` for lines without the marker (the test harness's).
fn parse(line: &str) -> Option<Said> {
    let (_, said) = line.split_once("@@")?;
    let fields: Vec<&str> = said.split_whitespace().collect();
    let int = |i: usize| -> i64 {
        fields
            .get(i)
            .and_then(|f| f.parse().ok())
            .unwrap_or_else(|| panic!("malformed child line {line:?}"))
    };
    let said = match fields.first().copied() {
        Some("READY") => Said::Ready,
        Some("ACK") => Said::Ack {
            topic: match fields.get(1).copied() {
                Some(EVENTS) => EVENTS,
                Some(COMPACTED) => COMPACTED,
                _ => panic!("malformed child line {line:?}"),
            },
            partition: int(2) as u32,
            offset: int(3),
            id: Id(fields
                .get(4)
                .and_then(|f| u64::from_str_radix(f, 16).ok())
                .unwrap_or_else(|| panic!("malformed child line {line:?}"))),
        },
        Some("BEGIN") => Said::Begin {
            op: fields.get(1).unwrap_or(&"").to_string(),
            partition: fields.get(2).map(|_| int(2) as u32),
        },
        Some("DELREC") => Said::DeleteRecords {
            partition: int(1) as u32,
            before: int(2),
            new_start: int(3),
        },
        Some("TRY") => Said::Try {
            n: int(1) as u64,
            offsets: fields
                .get(2)
                .unwrap_or(&"")
                .split(',')
                .map(|entry| {
                    let parsed = entry.split_once('=').and_then(|(tp, offset)| {
                        let (topic, p) = tp.split_once('/')?;
                        let tp = TopicPartition::new(topic, p.parse().ok()?);
                        Some((tp, offset.parse().ok()?))
                    });
                    parsed.unwrap_or_else(|| panic!("malformed child line {line:?}"))
                })
                .collect(),
        },
        Some("COMMITTED") => Said::Committed(int(1) as u64),
        Some("SCANNED") => Said::Scanned(int(1) as u64),
        Some("BUG") => Said::Bug(said.trim_end().to_string()),
        _ => panic!("malformed child line {line:?}"),
    };
    Some(said)
}

/// What a killed child said, in order.
#[derive(Debug)]
pub struct ChildRun {
    pub said: Vec<Said>,
    /// The plan's trigger never came within [`TRIGGER_LIMIT`]; the child was killed anyway.
    pub trigger_missed: bool,
}

/// Runs the child on `dir` and SIGKILLs it as `plan` says.
pub fn run_and_kill(dir: &Path, args: ChildArgs, plan: KillPlan, ctx: &Ctx) -> ChildRun {
    let acks = match args.acks {
        Acks::All => "all",
        Acks::Leader => "1",
        Acks::None => "0",
    };
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", CHILD_TEST, "--nocapture", "--test-threads=1"])
        .env(DIR_ENV, dir)
        .env(ARGS_ENV, format!("{acks} {} {}", args.cycle, args.seed))
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let spawned = Instant::now();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        loop {
            line.clear();
            // A line cut by the kill has no newline: it was never said in full.
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) if !line.ends_with('\n') => return,
                Ok(_) => {
                    if let Some(said) = parse(&line) {
                        if tx.send(said).is_err() {
                            return;
                        }
                    }
                }
            }
        }
    });
    let mut said = Vec::new();
    let trigger_missed = !wait_for_trigger(&rx, plan, spawned, &mut said);
    child.kill().unwrap(); // SIGKILL
    let status = child.wait().unwrap();
    reader.join().unwrap();
    said.extend(rx.try_iter());
    if status.signal() != Some(SIGKILL) {
        let bug = said.iter().find_map(|s| match s {
            Said::Bug(what) => Some(what.clone()),
            _ => None,
        });
        let tail: Vec<_> = said.iter().rev().take(10).collect();
        panic!(
            "{ctx}: the child ended by itself ({status}{}): {bug:?}; its last lines: {tail:?}",
            if status.code() == Some(BUG_EXIT) {
                ", it read a record back wrong or panicked"
            } else {
                ""
            }
        );
    }
    ChildRun {
        said,
        trigger_missed,
    }
}

/// SIGKILL's number on Linux, what `Child::kill` sends.
const SIGKILL: i32 = 9;

/// Collects what the child says until the plan's moment; false when the trigger did not
/// come within [`TRIGGER_LIMIT`] (or the child died first).
fn wait_for_trigger(
    rx: &Receiver<Said>,
    plan: KillPlan,
    spawned: Instant,
    said: &mut Vec<Said>,
) -> bool {
    let limit = spawned + TRIGGER_LIMIT;
    // Waits until `deadline` collecting lines; true when it was reached.
    let collect_until = |deadline: Instant, said: &mut Vec<Said>| loop {
        let now = Instant::now();
        if now >= deadline {
            return true;
        }
        match rx.recv_timeout(deadline - now) {
            Ok(s) => said.push(s),
            Err(RecvTimeoutError::Timeout) => return true,
            Err(RecvTimeoutError::Disconnected) => return false,
        }
    };
    // Waits for the `nth` line matching `is`; true when it came.
    let collect_nth = |is: &dyn Fn(&Said) -> bool, nth: u32, said: &mut Vec<Said>| {
        let mut seen = 0;
        loop {
            let now = Instant::now();
            if now >= limit {
                return false;
            }
            match rx.recv_timeout(limit - now) {
                Ok(s) => {
                    seen += u32::from(is(&s));
                    said.push(s);
                    if seen == nth {
                        return true;
                    }
                }
                Err(_) => return false,
            }
        }
    };
    match plan {
        KillPlan::AfterSpawn(delay) => collect_until(spawned + delay, said),
        KillPlan::AfterReady(delay) => {
            collect_nth(&|s| matches!(s, Said::Ready), 1, said)
                && collect_until(Instant::now() + delay, said)
        }
        KillPlan::OnBegin { op, nth, extra } => {
            let is = |s: &Said| match s {
                Said::Begin { op: o, .. } => o == op,
                Said::Try { .. } => op == "commit",
                _ => false,
            };
            collect_nth(&is, nth, said) && collect_until(Instant::now() + extra, said)
        }
        KillPlan::AtAck(nth) => collect_nth(&|s| matches!(s, Said::Ack { .. }), nth, said),
    }
}
