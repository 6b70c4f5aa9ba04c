//! `silt demo`: the main job, and a tour of Kafka's model in one process.
//!
//! It (re)creates a topic of 8 partitions in the data directory, produces a few million
//! keyed records through the producer (progress bar on stderr), reads them back with a
//! consumer group of three threads, closes one of them halfway so that the group
//! rebalances, and prints what happened: each phase's throughput, the assignment before and
//! after the rebalance, and the group's lag table. Every step says in a line or two what
//! Kafka concept it shows.

mod readers;

use std::fmt::Write as _;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use silt::{
    ConsumerError, ConsumerExt, Engine, GroupDescription, GroupState, NewTopic, ProducerConfig,
    ProducerRecord,
};

use super::groups::{write_lag_table, write_table};
use super::topics::write_description;
use super::{print_line, CliError, CliResult, Global};
use readers::{client_id, Reader, Shared};

/// `--data-dir`'s default (see `cli::Cli`).
const DEFAULT_DATA_DIR: &str = "./silt-data";
const TOPIC: &str = "demo";
const GROUP: &str = "demo-readers";
const PARTITIONS: u32 = 8;
const CONSUMERS: usize = 3;
/// Distinct keys: each key's records land in one partition, in order.
const KEYS: u64 = 100_000;
/// Bytes of each value.
const VALUE_BYTES: usize = 100;
/// Segment size of the demo topic: small enough to see segments roll, and to keep the
/// preallocated active segments modest.
const SEGMENT_BYTES: u32 = 64 << 20;
/// How long the group may take to form or to rebalance before the demo gives up.
const GROUP_DEADLINE: Duration = Duration::from_secs(30);
/// How long reading everything may take before the demo gives up.
const READ_DEADLINE: Duration = Duration::from_secs(300);
/// How often the main thread looks at the group and the progress.
const WATCH_INTERVAL: Duration = Duration::from_millis(2);
/// How often it looks while the group rebalances (the rebalance is timed).
const REBALANCE_WATCH_INTERVAL: Duration = Duration::from_micros(100);

/// Arguments of `silt demo`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Records to produce.
    #[arg(long, value_name = "N", default_value_t = 3_000_000)]
    records: u64,
}

/// Runs `silt demo`.
pub fn run(global: &Global, args: Args) -> CliResult<()> {
    if args.records < 2 {
        return Err(CliError::Usage("--records must be at least 2".into()));
    }
    let started = Instant::now();
    let engine = global.open_engine()?;
    let result = Demo {
        engine: &engine,
        records: args.records,
    }
    .run(global);
    let closed = engine.close();
    result?;
    closed?;
    print_line(format_args!(
        "\nDone in {:.1} s. The data stays in {}.",
        started.elapsed().as_secs_f64(),
        global.data_dir.display()
    ))
}

struct Demo<'a> {
    engine: &'a Engine,
    records: u64,
}

/// Throughput of a phase.
struct Rate {
    records: u64,
    bytes: u64,
    elapsed: Duration,
}

impl std::fmt::Display for Rate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let secs = self.elapsed.as_secs_f64().max(1e-9);
        write!(
            f,
            "{} records ({:.0} MB) in {:.2} s: {:.2} M records/s, {:.0} MB/s",
            thousands(self.records),
            self.bytes as f64 / 1e6,
            secs,
            self.records as f64 / secs / 1e6,
            self.bytes as f64 / secs / 1e6
        )
    }
}

impl Demo<'_> {
    fn run(&self, global: &Global) -> CliResult<()> {
        self.line(format_args!(
            "silt demo: Kafka's model in one process, data in {} (Kafka's own directory layout \
             and RecordBatch v2 files).",
            global.data_dir.display()
        ))?;
        self.create_topic()?;
        let produced = self.produce()?;
        self.consume(produced)?;
        self.show_lag()?;
        // The commands to try next name the directory unless it is the default.
        let silt = if global.data_dir == Path::new(DEFAULT_DATA_DIR) {
            "silt".to_string()
        } else {
            format!("silt --data-dir {}", global.data_dir.display())
        };
        self.line(format_args!(
            "\nTry next (`cargo run --release -- <command>` from the repository, or \
             target/release/silt <command>):\n  \
             {silt} topics describe {TOPIC}\n  \
             {silt} consume {TOPIC} --partition 0 --offset 0 --max-messages 3 --print-key --print-offset\n  \
             {silt} groups describe {GROUP}\n  \
             {silt} groups reset-offsets {GROUP} --topic {TOPIC} --to-earliest\n  \
             {silt} dump-log {}/{TOPIC}-0/00000000000000000000.log",
            global.data_dir.display()
        ))
    }

    /// Step 1: a fresh topic (and a fresh group), so that reruns start from nothing.
    fn create_topic(&self) -> CliResult<()> {
        self.line(format_args!("\n1. A topic of {PARTITIONS} partitions"))?;
        let mut recreated = false;
        if self.engine.list_topics().iter().any(|t| t == TOPIC) {
            self.engine.delete_topic(TOPIC)?;
            recreated = true;
        }
        match self.engine.delete_consumer_group(GROUP) {
            Ok(()) | Err(ConsumerError::UnknownGroup { .. }) => {}
            Err(e) => return Err(e.into()),
        }
        self.engine.create_topic(
            NewTopic::new(TOPIC, PARTITIONS).config("segment.bytes", SEGMENT_BYTES.to_string()),
        )?;
        self.line(format_args!(
            "   Created topic {TOPIC:?}{}. Each partition is an ordered, append-only log: a \
             directory {TOPIC}-<p>/ of segment files (.log) with sparse offset and time indexes.",
            if recreated {
                " (the previous run's topic and group were deleted first)"
            } else {
                ""
            }
        ))
    }

    /// Step 2: produce through the producer; returns the phase's throughput.
    fn produce(&self) -> CliResult<Rate> {
        let config = ProducerConfig::default();
        self.line(format_args!(
            "\n2. Produce\n   One producer sends {} records with {} distinct keys and {VALUE_BYTES}-byte \
             values. Kafka's partitioner hashes each key (murmur2), so a key's records stay in \
             one partition, in order. Records are batched per partition (batch.size={}, \
             linger.ms={}) and acks=all acknowledges a batch once it is synced to disk (one \
             fdatasync shared by every batch waiting on a partition).",
            thousands(self.records),
            thousands(KEYS),
            config.batch_size,
            config.linger_ms
        ))?;
        let producer = self.engine.producer(ProducerConfig {
            client_id: "demo-producer".into(),
            ..config
        })?;
        let bar = progress_bar(self.records, "produced")?;
        let started = Instant::now();
        let (mut key, mut value) = (String::new(), String::new());
        let mut bytes = 0u64;
        let tick = (self.records / 200).max(1);
        for i in 0..self.records {
            fill_record(i, &mut key, &mut value);
            bytes += (key.len() + value.len()) as u64;
            producer.send(ProducerRecord::new(TOPIC).key(&key).value(&value))?;
            if i % tick == 0 {
                bar.set_position(i);
            }
        }
        producer.flush()?;
        let elapsed = started.elapsed();
        producer.close()?;
        bar.finish_and_clear();
        let description = self.engine.describe_topic(TOPIC)?;
        let stored: i64 = description
            .partitions
            .iter()
            .map(|p| p.log_end_offset)
            .sum();
        if stored != self.records as i64 {
            return Err(CliError::Failed(format!(
                "the topic holds {stored} records after producing {}: some were not acknowledged",
                self.records
            )));
        }
        let rate = Rate {
            records: self.records,
            bytes,
            elapsed,
        };
        self.line(format_args!("   Produced {rate} (acks=all)."))?;
        self.line(format_args!(
            "   Every record is in the log. The topic now (LogEndOffset = records in the partition; \
             the keys spread them evenly):"
        ))?;
        let mut text = Vec::new();
        write_description(&mut text, &description).map_err(CliError::stdout)?;
        self.indented(&text)?;
        Ok(rate)
    }

    /// Step 3: a group of three reads everything; one leaves halfway.
    fn consume(&self, produced: Rate) -> CliResult<()> {
        self.line(format_args!(
            "\n3. Consume with a group of {CONSUMERS}\n   Three consumers (threads) subscribe \
             to {TOPIC:?} in group {GROUP:?}. The group coordinator gives each partition to \
             exactly one member (assignor: cooperative-sticky); each member reads its \
             partitions from the group's committed offsets and commits its position every \
             200 ms."
        ))?;
        let ends: Vec<i64> = self
            .engine
            .describe_topic(TOPIC)?
            .partitions
            .iter()
            .map(|p| p.log_end_offset)
            .collect();
        let shared = Arc::new(Shared::new(PARTITIONS, CONSUMERS));
        let mut threads = Vec::with_capacity(CONSUMERS);
        for index in 0..CONSUMERS {
            let reader = Reader {
                engine: self.engine.clone(),
                shared: Arc::clone(&shared),
                topic: TOPIC,
                group: GROUP,
                index,
                leaves: index + 1 == CONSUMERS,
            };
            let thread = std::thread::Builder::new()
                .name(client_id(index))
                .spawn(move || reader.run())
                .map_err(|e| CliError::io("spawn a consumer thread", e))?;
            threads.push(thread);
        }
        let watched = self.watch(&shared, &ends, &threads);
        shared.stop.store(true, Ordering::Release);
        // A consumer's own error says more than the watcher's "a consumer stopped early".
        let mut first_error = None;
        for thread in threads {
            let joined = thread
                .join()
                .map_err(|_| CliError::Failed("a consumer thread panicked".into()))
                .and_then(|r| r);
            if let Err(e) = joined {
                first_error.get_or_insert(e);
            }
        }
        if let Some(e) = first_error {
            return Err(e);
        }
        let read_elapsed = watched?;
        let read = shared.total_records();
        let rate = Rate {
            records: read,
            bytes: shared.bytes.load(Ordering::Relaxed),
            elapsed: read_elapsed,
        };
        let per_consumer: Vec<String> = shared
            .records
            .iter()
            .enumerate()
            .map(|(i, r)| format!("{} {}", client_id(i), thousands(r.load(Ordering::Relaxed))))
            .collect();
        self.line(format_args!(
            "   Consumed {rate} ({}). Polls hand out records borrowed from the memory-mapped \
             segments (no copy); the consumers here only count them. {}",
            per_consumer.join(", "),
            if read == produced.records {
                "Each record was read exactly once: the leaving consumer committed before it \
                 left, and its partitions' new owners started from those offsets."
                    .to_string()
            } else {
                format!(
                    "{} records were read twice: a partition moved before its position was \
                     committed, so its new owner re-read from the last commit (at-least-once).",
                    thousands(read.saturating_sub(produced.records))
                )
            }
        ))
    }

    /// Watches the group while it reads: waits for it to form, lets it read, asks the last
    /// consumer to leave halfway, and waits for the rebalance and for the end of the topic.
    /// Returns how long reading took.
    fn watch(
        &self,
        shared: &Shared,
        ends: &[i64],
        threads: &[std::thread::JoinHandle<CliResult<()>>],
    ) -> CliResult<Duration> {
        let total: u64 = ends.iter().map(|e| *e as u64).sum();
        // A consumer thread that ends before `stop` failed (its join says why), except the
        // one that leaves, once it has left.
        let crashed = || {
            threads.iter().enumerate().any(|(i, t)| {
                t.is_finished() && !(i + 1 == CONSUMERS && shared.left.get().is_some())
            })
        };
        let formed = wait_for_group(self.engine, CONSUMERS, &crashed)?;
        self.line(format_args!(
            "   The group formed (generation {}). Assignment before the rebalance:",
            formed.generation
        ))?;
        self.assignment(&formed)?;
        shared.go.store(true, Ordering::Release);
        let started = Instant::now();
        let bar = progress_bar(total, "consumed")?;
        let mut leave_at: Option<u64> = None;
        let mut after: Option<(GroupDescription, Duration)> = None;
        loop {
            let read = shared.total_records();
            bar.set_position(read.min(total));
            if leave_at.is_none() && read >= total / 2 {
                shared.leave.store(true, Ordering::Release);
                leave_at = Some(read);
            }
            let mut pause = WATCH_INTERVAL;
            if let (None, Some(left)) = (&after, shared.left.get()) {
                let group = self.engine.describe_consumer_group(GROUP)?;
                if is_stable(&group, CONSUMERS - 1) {
                    after = Some((group, left.elapsed()));
                } else if left.elapsed() > GROUP_DEADLINE {
                    return Err(CliError::Failed(format!(
                        "the group did not rebalance within {GROUP_DEADLINE:?} of {} leaving",
                        client_id(CONSUMERS - 1)
                    )));
                } else {
                    pause = REBALANCE_WATCH_INTERVAL;
                }
            }
            if after.is_some() && shared.read_all(ends) {
                break;
            }
            if crashed() {
                return Err(CliError::Failed("a consumer stopped early".into()));
            }
            if started.elapsed() > READ_DEADLINE {
                return Err(CliError::Failed(format!(
                    "the group did not read the topic within {READ_DEADLINE:?}"
                )));
            }
            std::thread::sleep(pause);
        }
        let elapsed = started.elapsed();
        bar.finish_and_clear();
        let Some((after, took)) = after else {
            return Err(CliError::Failed("the group never rebalanced".into()));
        };
        let leaver = client_id(CONSUMERS - 1);
        self.line(format_args!(
            "   When half the records had been read ({}), {leaver} committed its offsets and \
             closed. Closing leaves the group, so the coordinator started a rebalance at once; \
             the group was stable again {:.1} ms later (generation {} -> {}). Cooperative \
             rebalancing moves only the partitions that must move: the others kept theirs and \
             took over {leaver}'s, starting from its last commit. Assignment after the \
             rebalance:",
            thousands(leave_at.unwrap_or_default()),
            took.as_secs_f64() * 1e3,
            formed.generation,
            after.generation,
        ))?;
        self.assignment(&after)?;
        Ok(elapsed)
    }

    /// Step 4: the committed offsets and lag, as `silt groups describe` shows them.
    fn show_lag(&self) -> CliResult<()> {
        let group = self.engine.describe_consumer_group(GROUP)?;
        self.line(format_args!(
            "\n4. The group's offsets (silt groups describe {GROUP})\n   A committed offset is the \
             next offset the group will read; LAG = LOG-END-OFFSET - CURRENT-OFFSET. Every \
             member committed and left (state {}), so no CONSUMER-ID owns a partition, and a \
             lag of 0 everywhere means the group has read the whole topic. A consumer that \
             joins {GROUP:?} later starts from these offsets.",
            group.state
        ))?;
        let mut text = Vec::new();
        write_lag_table(&mut text, &group).map_err(CliError::stdout)?;
        self.indented(&text)
    }

    /// Prints which member owns which partitions.
    fn assignment(&self, group: &GroupDescription) -> CliResult<()> {
        let mut members: Vec<_> = group.members.iter().collect();
        members.sort_by(|a, b| a.client_id.cmp(&b.client_id));
        let rows: Vec<Vec<String>> = members
            .iter()
            .map(|m| {
                let mut partitions: Vec<u32> = m.assignment.iter().map(|tp| tp.partition).collect();
                partitions.sort_unstable();
                let list: Vec<String> = partitions.iter().map(u32::to_string).collect();
                vec![m.client_id.clone(), m.member_id.clone(), list.join(", ")]
            })
            .collect();
        let mut text = Vec::new();
        write_table(&mut text, &["CONSUMER", "MEMBER-ID", "PARTITIONS"], &rows)
            .map_err(CliError::stdout)?;
        self.indented(&text)
    }

    /// Prints one line to stdout.
    fn line(&self, line: std::fmt::Arguments<'_>) -> CliResult<()> {
        print_line(line)
    }

    /// Prints `text` with every line indented under the step it belongs to.
    fn indented(&self, text: &[u8]) -> CliResult<()> {
        for line in String::from_utf8_lossy(text).lines() {
            print_line(format_args!("     {line}"))?;
        }
        Ok(())
    }
}

/// Waits until the group is stable with `members` members sharing every partition.
fn wait_for_group(
    engine: &Engine,
    members: usize,
    crashed: &dyn Fn() -> bool,
) -> CliResult<GroupDescription> {
    let deadline = Instant::now() + GROUP_DEADLINE;
    loop {
        match engine.describe_consumer_group(GROUP) {
            Ok(group) if is_stable(&group, members) => return Ok(group),
            Ok(_) | Err(ConsumerError::UnknownGroup { .. }) => {}
            Err(e) => return Err(e.into()),
        }
        if crashed() {
            return Err(CliError::Failed("a consumer stopped early".into()));
        }
        if Instant::now() > deadline {
            return Err(CliError::Failed(format!(
                "the group did not form within {GROUP_DEADLINE:?}"
            )));
        }
        std::thread::sleep(WATCH_INTERVAL);
    }
}

/// Stable, with `members` members that together own every partition.
fn is_stable(group: &GroupDescription, members: usize) -> bool {
    let owned: usize = group.members.iter().map(|m| m.assignment.len()).sum();
    group.state == GroupState::Stable
        && group.members.len() == members
        && owned == PARTITIONS as usize
}

/// Fills in record `i`: key `user-<i mod KEYS>` and a JSON value of `VALUE_BYTES` bytes
/// (padded inside its `pad` field).
fn fill_record(i: u64, key: &mut String, value: &mut String) {
    key.clear();
    value.clear();
    let _ = write!(key, "user-{}", i % KEYS);
    let _ = write!(
        value,
        "{{\"seq\":{i},\"user\":\"{key}\",\"event\":\"page-view\",\"page\":\"/items/{}\",\"pad\":\"",
        i % 977
    );
    const CLOSE: &str = "\"}";
    while value.len() + CLOSE.len() < VALUE_BYTES {
        value.push('.');
    }
    value.push_str(CLOSE);
}

/// A progress bar on stderr (hidden when stderr is not a terminal).
fn progress_bar(len: u64, what: &str) -> CliResult<ProgressBar> {
    let style = ProgressStyle::with_template(&format!(
        "   [{{elapsed_precise}}] {{wide_bar}} {{human_pos}}/{{human_len}} {what} ({{per_sec}})"
    ))
    .map_err(|e| CliError::Failed(format!("progress bar template: {e}")))?;
    Ok(ProgressBar::new(len).with_style(style))
}

/// `1234567` as `1,234,567`.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{fill_record, thousands, VALUE_BYTES};

    #[test]
    fn groups_thousands() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(3_000_000), "3,000,000");
    }

    #[test]
    fn values_have_the_advertised_size() {
        let (mut key, mut value) = (String::new(), String::new());
        for i in [0, 12_345, 2_999_999] {
            fill_record(i, &mut key, &mut value);
            assert_eq!(key, format!("user-{}", i % 100_000));
            assert_eq!(value.len(), VALUE_BYTES, "{value}");
            assert!(value.starts_with(&format!("{{\"seq\":{i},")) && value.ends_with(".\"}"));
        }
    }
}
