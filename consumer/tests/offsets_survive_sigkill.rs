//! Committed offsets survive a SIGKILL: a child process commits over and over (`commit_sync`,
//! one offset per partition, all moving at every commit), saying on stdout which commit it
//! starts and which one `commit_sync` acknowledged, and is killed mid-stream. Reopened, the
//! engine holds exactly one of the child's commits, whole (one commit is one batch): the last
//! acknowledged one, or the one it had started after it.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

use silt_consumer::{ConsumerConfig, ConsumerExt, TopicPartition};
use silt_engine::{Engine, EngineConfig, NewTopic};

const CHILD_ENV: &str = "SILT_TEST_COMMITTER_DIR";
const GROUP: &str = "g";
const PARTITIONS: u32 = 3;

/// Small offsets-log segments, so a child's commits span several of them.
fn engine(dir: impl AsRef<Path>) -> Engine {
    let config = EngineConfig::from_map([
        ("offsets.topic.num.partitions", "4"),
        ("offsets.topic.segment.bytes", "16384"),
    ])
    .unwrap();
    Engine::open(dir, config).unwrap()
}

fn partitions() -> Vec<TopicPartition> {
    (0..PARTITIONS)
        .map(|p| TopicPartition::new("t", p))
        .collect()
}

/// The offset commit number `n` sets for `partition` (each partition its own pace).
fn offset_of(n: u64, partition: u32) -> i64 {
    (n * u64::from(partition + 1)) as i64
}

fn config() -> ConsumerConfig {
    ConsumerConfig::with_group(GROUP).enable_auto_commit(false)
}

/// The commit number the group's offsets say, checking that every partition agrees.
fn recovered_commit(engine: &Engine) -> Option<u64> {
    let c = engine.consumer(config()).unwrap();
    let committed = c.committed(&partitions()).unwrap();
    let n = committed[&partitions()[0]]
        .as_ref()
        .map(|o| o.offset as u64);
    let expected = partitions()
        .into_iter()
        .map(|tp| {
            let offset = n.map(|n| offset_of(n, tp.partition));
            (tp, offset)
        })
        .collect();
    let got: std::collections::BTreeMap<TopicPartition, Option<i64>> = committed
        .into_iter()
        .map(|(tp, o)| (tp, o.map(|o| o.offset)))
        .collect();
    assert_eq!(got, expected, "every partition holds the same commit");
    n
}

/// The child: resumes after the group's last commit and commits forever, printing
/// `TRY <n>` before `commit_sync` and `ACK <n>` once it returned.
#[test]
fn child_committer() {
    let Ok(dir) = std::env::var(CHILD_ENV) else {
        return; // run as a normal test: nothing to do
    };
    let engine = engine(&dir);
    let start = recovered_commit(&engine).unwrap_or(0);
    let mut consumer = engine.consumer(config()).unwrap();
    consumer.assign(&partitions()).unwrap();
    for n in start + 1.. {
        for tp in partitions() {
            consumer.seek(&tp, offset_of(n, tp.partition)).unwrap();
        }
        println!("TRY {n}");
        consumer.commit_sync().unwrap();
        println!("ACK {n}");
    }
}

/// What the child said before it died.
#[derive(Debug, Default)]
struct Said {
    first_ack: Option<u64>,
    last_try: Option<u64>,
    last_ack: Option<u64>,
}

impl Said {
    /// Notes one line of the child's; true for an acknowledgement. (The harness prints
    /// `test child_committer ... ` before the test runs, so a marker may start mid-line.)
    fn read(&mut self, line: &str) -> bool {
        if let Some((_, n)) = line.split_once("TRY ") {
            self.last_try = Some(n.trim().parse().unwrap());
        } else if let Some((_, n)) = line.split_once("ACK ") {
            let n = n.trim().parse().unwrap();
            assert_eq!(self.last_try, Some(n), "an ack follows its try");
            self.first_ack.get_or_insert(n);
            self.last_ack = Some(n);
            return true;
        }
        false
    }
}

/// Runs the child until it acknowledged `acks` commits, SIGKILLs it, and reads what it
/// printed up to its death.
fn run_and_kill(dir: &Path, acks: usize) -> Said {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_committer",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut said = Said::default();
    let mut seen = 0;
    for line in lines.by_ref() {
        if said.read(&line.unwrap()) {
            seen += 1;
            if seen == acks {
                break;
            }
        }
    }
    assert_eq!(seen, acks, "the child stopped early");
    child.kill().unwrap(); // SIGKILL on Unix
    let status = child.wait().unwrap();
    assert!(!status.success(), "the child was killed, not finished");
    // What the child printed before the signal landed (still in the pipe).
    for line in lines {
        let Ok(line) = line else { break };
        said.read(&line);
    }
    said
}

#[test]
fn committed_offsets_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    {
        let engine = engine(dir.path());
        engine.create_topic(NewTopic::new("t", PARTITIONS)).unwrap();
        engine.close().unwrap();
    }
    let mut previous = 0;
    for (cycle, acks) in [40, 150, 333].into_iter().enumerate() {
        let said = run_and_kill(dir.path(), acks);
        let last_ack = said.last_ack.unwrap();
        let last_try = said.last_try.unwrap();
        assert_eq!(
            said.first_ack,
            Some(previous + 1),
            "the child resumed right after the recovered commit"
        );
        assert!(last_ack >= previous + acks as u64);

        let engine = engine(dir.path());
        assert!(
            !engine.open_report().clean,
            "a killed process leaves no clean-shutdown marker"
        );
        let recovered = recovered_commit(&engine).expect("the group has commits");
        assert!(
            recovered == last_ack || (recovered == last_try && last_try == last_ack + 1),
            "cycle {cycle}: recovered commit {recovered}, last acknowledged {last_ack}, \
             last started {last_try}"
        );
        let segments = engine
            .log(
                silt_consumer::offsets::OFFSETS_TOPIC,
                silt_consumer::offsets::codec::partition_for(GROUP, 4),
            )
            .unwrap()
            .segment_count();
        assert!(
            cycle == 0 || segments > 1,
            "the commits span several segments"
        );
        engine.close().unwrap();
        previous = recovered;
    }
}
