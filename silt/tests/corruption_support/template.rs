//! The data directories the campaign damages: one written by an engine and closed cleanly,
//! one written by a child process killed with SIGKILL (no clean-shutdown marker, active
//! segments preallocated, indexes untrimmed, records past the recovery point). Both hold
//! every kind of file silt writes:
//!
//! - `events` (2 partitions, 16 KiB segments): partition 0 from an idempotent lz4 producer
//!   (`acks=all`, so `producer-id-block` exists), partition 1 from direct appends cycling
//!   none / zstd / gzip / lz4 with null keys, null values and headers, and a log start
//!   moved by `delete_records` (`log-start-offset-checkpoint`);
//! - `compacted` (1 partition, 8 KiB segments, `cleanup.policy=compact`): keyed records and
//!   tombstones, cleaned (`cleaner-offset-checkpoint`, segments with offset gaps), then more
//!   records in the active segment;
//! - `__consumer_offsets` (2 partitions, 4 KiB segments): group `g` commits many times,
//!   group `h` commits then is deleted (tombstones), the log is cleaned, then `g` commits
//!   again.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use silt::batch::{BatchBuilder, BatchConfig, Compression, RecordHeader};
use silt::{
    Acks, CommittedOffset, ConsumerExt, Engine, EngineConfig, NewTopic, ProducerConfig,
    ProducerRecord, TopicPartition,
};

/// Timestamp of the first record.
pub const T0: i64 = 1_700_000_000_000;
/// `index.interval.bytes` of every topic: several index entries per segment.
pub const INDEX_INTERVAL_BYTES: u32 = 1024;
/// The group whose committed offsets the campaign checks.
pub const GROUP: &str = "g";
/// Partitions of `__consumer_offsets`.
pub const OFFSETS_PARTITIONS: u32 = 2;

/// The engine configuration the templates are written and reopened with: no background
/// work that could race with a copy, small indexes, small offsets-log segments.
pub fn engine_config() -> EngineConfig {
    let mut config = EngineConfig {
        retention_check_interval_ms: 3_600_000,
        flush_scheduler_interval_ms: 3_600_000,
        flush_offset_checkpoint_interval_ms: 3_600_000,
        cleaner_enable: false,
        offsets_topic_num_partitions: OFFSETS_PARTITIONS,
        offsets_topic_segment_bytes: 4096,
        ..EngineConfig::default()
    };
    config.topic_defaults.segment_index_bytes = 4096;
    config.topic_defaults.index_interval_bytes = INDEX_INTERVAL_BYTES;
    config
}

/// A template directory and what it must hold.
pub struct Template {
    /// Keeps the directory alive.
    _dir: tempfile::TempDir,
    /// The data directory.
    pub path: PathBuf,
    /// Whether it was closed cleanly.
    pub clean: bool,
    /// The committed offsets of [`GROUP`].
    pub committed: BTreeMap<TopicPartition, i64>,
}

/// Names the directory a child process writes the unclean template into (see
/// [`write_unclean`]).
pub const WRITER_ENV: &str = "SILT_CORRUPTION_TEMPLATE_DIR";

/// Writes a data directory. With `clean`, the engine is closed. Otherwise a child process
/// (this test binary, running `corruption_template_writer`) writes it, flushes, appends
/// more, and is killed with SIGKILL once it says so: the directory is what a crash leaves.
pub fn build(clean: bool) -> Template {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data");
    if clean {
        let engine = Engine::open(&path, engine_config()).unwrap();
        write_all(&engine);
        engine.close().unwrap();
    } else {
        write_in_child_and_kill(&path);
    }
    Template {
        _dir: dir,
        path,
        clean,
        committed: committed(),
    }
}

fn write_all(engine: &Engine) {
    write_events(engine);
    write_compacted(engine);
    write_offsets(engine);
}

/// In the child: writes everything, flushes (checkpoints), appends records that only the
/// page cache holds, says `READY` and waits to be killed (if the parent goes away first,
/// it exits without closing anything).
pub fn write_unclean(dir: &Path) {
    let engine = Engine::open(dir, engine_config()).unwrap();
    write_all(&engine);
    engine.flush().unwrap();
    engine
        .append("events", 1, &batch(1000, 5, Compression::None))
        .unwrap();
    engine.append("compacted", 0, &keyed(900, 6)).unwrap();
    engine
        .append("events", 0, &batch(2000, 4, Compression::Lz4))
        .unwrap();
    println!("READY");
    std::io::stdout().flush().unwrap();
    let mut line = String::new();
    std::io::stdin().read_line(&mut line).ok();
    std::process::exit(1);
}

fn write_in_child_and_kill(path: &Path) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "corruption_template_writer",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(WRITER_ENV, path)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let ready = BufReader::new(stdout)
            .lines()
            .map_while(std::result::Result::ok)
            .any(|line| line.ends_with("READY")); // after libtest's `test … ` on that line
        tx.send(ready).ok();
    });
    let ready = rx.recv_timeout(WRITER_DEADLINE);
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert_eq!(ready, Ok(true), "the template writer did not get ready");
}

/// Longest the template writer may take (it writes about a megabyte).
const WRITER_DEADLINE: std::time::Duration = std::time::Duration::from_secs(120);

fn write_events(engine: &Engine) {
    let topic = NewTopic::new("events", 2).config("segment.bytes", "16384");
    engine.create_topic(topic).unwrap();
    let config = ProducerConfig {
        acks: Acks::All,
        batch_size: 700,
        compression_type: Compression::Lz4,
        ..ProducerConfig::default()
    };
    let producer = engine.producer(config).unwrap();
    let mut deliveries = Vec::new();
    for i in 0..600u32 {
        let key = format!("key-{}", i % 37);
        let value = format!("value-{i}-{}", "x".repeat((i % 50) as usize));
        let record = ProducerRecord::new("events")
            .partition(0)
            .key(key.as_bytes())
            .value(value.as_bytes())
            .timestamp(T0 + i64::from(i) * 10);
        deliveries.push(producer.send(record).unwrap());
    }
    for delivery in deliveries {
        delivery.wait().unwrap();
    }
    producer.close().unwrap();
    let codecs = [
        Compression::None,
        Compression::Zstd,
        Compression::Gzip,
        Compression::Lz4,
    ];
    for i in 0..90u32 {
        let codec = codecs[(i % 4) as usize];
        engine.append("events", 1, &batch(i * 7, 7, codec)).unwrap();
    }
    engine.delete_records("events", 1, 9).unwrap();
}

/// One batch of `n` records numbered from `first`: every third key null, every fifth value
/// null, every fourth record with headers.
pub fn batch(first: u32, n: u32, compression: Compression) -> Vec<u8> {
    let mut builder = BatchBuilder::new(BatchConfig {
        compression,
        ..BatchConfig::default()
    });
    for i in first..first + n {
        let key = format!("k{i}");
        let value = format!("payload-{i}-{}", "y".repeat((i % 40) as usize));
        let headers = [RecordHeader {
            key: "h",
            value: Some(b"hv"),
        }];
        let headers: &[RecordHeader<'_>] = if i % 4 == 0 { &headers } else { &[] };
        let key = (i % 3 != 0).then_some(key.as_bytes());
        let value = (i % 5 != 0).then_some(value.as_bytes());
        let ts = T0 + i64::from(i) * 3;
        builder.append(ts, key, value, headers).unwrap();
    }
    builder.finish().unwrap().to_vec()
}

/// One batch of `n` keyed records (keys repeat every 25, every seventh a tombstone).
pub fn keyed(first: u32, n: u32) -> Vec<u8> {
    let mut builder = BatchBuilder::new(BatchConfig::default());
    for i in first..first + n {
        let key = format!("ck{}", i % 25);
        let value = format!("cv-{i}-{}", "z".repeat((i % 30) as usize));
        let value = (i % 7 != 3).then_some(value.as_bytes());
        builder
            .append(T0 + i64::from(i), Some(key.as_bytes()), value, &[])
            .unwrap();
    }
    builder.finish().unwrap().to_vec()
}

fn write_compacted(engine: &Engine) {
    let topic = NewTopic::new("compacted", 1)
        .config("cleanup.policy", "compact")
        .config("segment.bytes", "8192")
        .config("min.cleanable.dirty.ratio", "0.01")
        .config("delete.retention.ms", "86400000");
    engine.create_topic(topic).unwrap();
    for i in 0..60u32 {
        engine.append("compacted", 0, &keyed(i * 5, 5)).unwrap();
    }
    let report = engine.clean_logs().unwrap();
    assert!(report.logs_cleaned >= 1, "{report:?}");
    for i in 60..66u32 {
        engine.append("compacted", 0, &keyed(i * 5, 5)).unwrap();
    }
}

/// Commits of groups `g` and `h`.
fn write_offsets(engine: &Engine) {
    let tps = [
        TopicPartition::new("events", 0),
        TopicPartition::new("events", 1),
    ];
    let commit = |group: &str, round: i64| {
        let mut offsets = BTreeMap::new();
        for (i, tp) in tps.iter().enumerate() {
            let mut committed = CommittedOffset::new(round * 3 + i as i64);
            committed.metadata = format!("round {round}");
            committed.commit_timestamp = T0 + round;
            offsets.insert(tp.clone(), committed);
        }
        engine
            .alter_consumer_group_offsets(group, &offsets)
            .unwrap();
    };
    for round in 0..60 {
        commit(GROUP, round);
        if round % 10 == 0 {
            commit("h", round);
        }
    }
    engine.delete_consumer_group("h").unwrap();
    engine.clean_logs().unwrap();
    for round in 60..=LAST_ROUND {
        commit(GROUP, round);
    }
}

/// The last commit round of [`GROUP`].
const LAST_ROUND: i64 = 74;

/// What [`GROUP`] committed last: offset `round × 3 + i` for `events-i`.
fn committed() -> BTreeMap<TopicPartition, i64> {
    (0..2)
        .map(|i| {
            (
                TopicPartition::new("events", i),
                LAST_ROUND * 3 + i64::from(i),
            )
        })
        .collect()
}

/// Copies a directory tree.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::write(&target, std::fs::read(entry.path()).unwrap()).unwrap();
        }
    }
}
