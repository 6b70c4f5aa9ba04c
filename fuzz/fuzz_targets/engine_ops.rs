//! A sequence of engine operations (structured, via `arbitrary`) on a fresh data directory,
//! checked against a model of what each partition must hold.
//!
//! Operations: create and delete topics (among names that collide, `b.c` and `b_c`), add
//! partitions, append batches built from the input (keys from a small set so compaction has
//! work, any codec, timestamps from long ago to the future), append batches whose bytes the
//! input then damages (with the CRC fixed up or not) or raw input bytes, fetch and
//! `list_offsets` at arbitrary offsets with arbitrary sizes, `delete_records`, alter topic
//! configs (valid and invalid values, unknown keys), retention, `clean_logs`, flush, and close
//! plus reopen. Segments are a few KiB, so they roll often; indexes are small; nothing syncs
//! more than an open and a close do.
//!
//! Invariants:
//! - no panic; every refusal is a typed error, and the outcome of creating, deleting and
//!   growing topics, of `delete_records` and of appending well-formed batches is the one
//!   predicted;
//! - an append gets the log end as its first offset and moves the end by its record count;
//!   a batch the engine accepted decodes;
//! - reading a partition from its log start to its end gives batches that validate and
//!   records with rising offsets, each the one appended at that offset; without compaction
//!   the offsets are contiguous and every acknowledged record at or past the log start is
//!   there; with compaction the latest value of each key still is;
//! - the log start only grows, and the log end only by appends;
//! - a close and a reopen preserve each partition's start, end and records exactly.
#![no_main]

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use silt_engine::{Engine, EngineConfig, EngineError, NewTopic, OffsetSpec, MAX_PARTITIONS};
use silt_segment::batch::{
    Batch, BatchBuilder, BatchConfig, Batches, Compression, DecompressBuffer, RecordHeader,
};

/// Operations run per input.
const MAX_OPS: usize = 48;
/// Records in one built batch, and batches in one append.
const MAX_RECORDS: usize = 16;
const MAX_BATCHES: usize = 4;
/// Longest value of a built record.
const MAX_VALUE_BYTES: usize = 512;

/// Topic names: two of them collide (Kafka reads `.` as `_`).
const TOPICS: [&str; 3] = ["a", "b.c", "b_c"];
/// Keys of built records.
const KEYS: [&[u8]; 4] = [b"k0", b"k1", b"k2", b"k3"];
/// Base of the built records' timestamps.
const DAY_MS: i64 = 24 * 3600 * 1000;

/// Alterable configs: key, values, and whether each value is valid.
const ALTERS: &[(&str, &[(&str, bool)])] = &[
    (
        "segment.bytes",
        &[("512", true), ("4096", true), ("60", false), ("x", false)],
    ),
    (
        "cleanup.policy",
        &[
            ("compact", true),
            ("delete", true),
            ("compact,delete", true),
            ("bogus", false),
        ],
    ),
    (
        "retention.ms",
        &[
            ("-1", true),
            ("1", true),
            ("604800000", true),
            ("-2", false),
        ],
    ),
    (
        "retention.bytes",
        &[("-1", true), ("0", true), ("2048", true), ("1e3", false)],
    ),
    (
        "message.timestamp.type",
        &[("CreateTime", true), ("LogAppendTime", true), ("x", false)],
    ),
    (
        "max.message.bytes",
        &[("200", true), ("1048588", true), ("-1", false)],
    ),
    (
        "min.cleanable.dirty.ratio",
        &[("0", true), ("0.5", true), ("1", true), ("NaN", false)],
    ),
    ("delete.retention.ms", &[("0", true), ("86400000", true)]),
    (
        "index.interval.bytes",
        &[("0", true), ("64", true), ("4096", true)],
    ),
    (
        "segment.index.bytes",
        &[("12", true), ("48", true), ("1024", true), ("11", false)],
    ),
    ("no.such.key", &[("1", false)]),
];

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Policy {
    Delete,
    Compact,
    CompactDelete,
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Timestamp {
    DaysAgo(u8),
    Now,
    DaysAhead(u8),
    Missing,
}

#[derive(Arbitrary, Debug)]
struct RecordSpec {
    key: Option<u8>,
    value: Option<Vec<u8>>,
    timestamp: Timestamp,
    header: bool,
}

#[derive(Arbitrary, Debug)]
struct BatchSpec {
    codec: u8,
    records: Vec<RecordSpec>,
}

/// An offset, mostly near a partition's bounds.
#[derive(Arbitrary, Debug, Clone, Copy)]
enum At {
    Start(i8),
    End(i8),
    Raw(i64),
}

#[derive(Arbitrary, Debug)]
enum Spec {
    Earliest,
    Latest,
    MaxTimestamp,
    Timestamp(Timestamp),
}

#[derive(Arbitrary, Debug)]
enum Op {
    Create {
        topic: u8,
        partitions: u8,
        policy: Policy,
        segment_kib: u8,
        log_append_time: bool,
    },
    Delete {
        topic: u8,
    },
    AddPartitions {
        topic: u8,
        total: u8,
    },
    /// Appends the batches, `1 + repeat % 8` times (so a short input fills segments).
    Append {
        topic: u8,
        partition: u8,
        batches: Vec<BatchSpec>,
        repeat: u8,
    },
    AppendDamaged {
        topic: u8,
        partition: u8,
        batch: BatchSpec,
        flips: Vec<(u16, u8)>,
        fix_crc: bool,
    },
    AppendRaw {
        topic: u8,
        partition: u8,
        bytes: Vec<u8>,
    },
    Fetch {
        topic: u8,
        partition: u8,
        at: At,
        max_bytes: u16,
    },
    ListOffsets {
        topic: u8,
        partition: u8,
        spec: Spec,
    },
    DeleteRecords {
        topic: u8,
        partition: u8,
        before: At,
    },
    Alter {
        topic: u8,
        key: u8,
        value: u8,
    },
    Retention,
    Clean,
    Flush,
    Reopen,
}

/// One acknowledged record.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Rec {
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
}

/// What one partition must hold.
#[derive(Debug, Default, Clone)]
struct PartitionModel {
    start: i64,
    end: i64,
    /// Acknowledged records at or past `start` that may still be there.
    records: BTreeMap<i64, Rec>,
}

#[derive(Debug)]
struct TopicModel {
    partitions: Vec<PartitionModel>,
    /// The topic is, or once was, compacted: records may be gone and offsets have gaps.
    compacted: bool,
}

struct Harness {
    dir: tempfile::TempDir,
    engine: Engine,
    topics: BTreeMap<&'static str, TopicModel>,
    builder: BatchBuilder,
    buffer: DecompressBuffer,
    now_ms: i64,
}

fuzz_target!(|ops: Vec<Op>| {
    let dir = silt_fuzz::scratch_dir();
    let engine = open(dir.path());
    let mut h = Harness {
        dir,
        engine,
        topics: BTreeMap::new(),
        builder: BatchBuilder::new(BatchConfig::default()),
        buffer: DecompressBuffer::with_limit(1 << 20),
        now_ms: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64),
    };
    for op in ops.iter().take(MAX_OPS) {
        h.run(op);
    }
    h.check_all(false);
    h.reopen();
    h.engine.close().expect("close");
});

fn config() -> EngineConfig {
    let mut config = EngineConfig {
        cleaner_enable: false,
        cleaner_dedupe_buffer_bytes: 24 * 1024,
        ..EngineConfig::default()
    };
    for (key, value) in [
        ("segment.bytes", "4096"),
        ("segment.index.bytes", "240"),
        ("index.interval.bytes", "256"),
    ] {
        config
            .topic_defaults
            .set(key, value)
            .expect("a valid default");
    }
    config
}

fn open(dir: &Path) -> Engine {
    Engine::open(dir, config()).expect("open the data directory")
}

fn topic_name(topic: u8) -> &'static str {
    TOPICS[usize::from(topic) % TOPICS.len()]
}

fn collides(a: &str, b: &str) -> bool {
    a.replace('.', "_") == b.replace('.', "_")
}

impl Timestamp {
    fn get(self, now_ms: i64) -> i64 {
        match self {
            Timestamp::DaysAgo(d) => now_ms - DAY_MS * i64::from(d) * 4,
            Timestamp::Now => now_ms,
            Timestamp::DaysAhead(d) => now_ms + DAY_MS * i64::from(d),
            Timestamp::Missing => -1,
        }
    }
}

impl At {
    fn get(self, p: &PartitionModel) -> i64 {
        match self {
            At::Start(d) => p.start.saturating_add(i64::from(d)),
            At::End(d) => p.end.saturating_add(i64::from(d)),
            At::Raw(o) => o,
        }
    }
}

impl Harness {
    fn partition(&self, topic: u8, partition: u8) -> Option<(&'static str, u32, &PartitionModel)> {
        let name = topic_name(topic);
        let model = self.topics.get(name)?;
        let index = usize::from(partition) % model.partitions.len().max(1);
        Some((name, index as u32, model.partitions.get(index)?))
    }

    fn run(&mut self, op: &Op) {
        match op {
            Op::Create {
                topic,
                partitions,
                policy,
                segment_kib,
                log_append_time,
            } => self.create(*topic, *partitions, *policy, *segment_kib, *log_append_time),
            Op::Delete { topic } => {
                let name = topic_name(*topic);
                match self.engine.delete_topic(name) {
                    Ok(()) => assert!(self.topics.remove(name).is_some(), "deleted {name}"),
                    Err(EngineError::UnknownTopic { .. }) => {
                        assert!(!self.topics.contains_key(name))
                    }
                    Err(e) => panic!("delete {name}: {e:?}"),
                }
            }
            Op::AddPartitions { topic, total } => {
                let name = topic_name(*topic);
                let total = u32::from(*total % 8);
                let current = self.topics.get(name).map(|t| t.partitions.len() as u32);
                match (self.engine.add_partitions(name, total), current) {
                    (Ok(()), Some(n)) if total > n => {
                        let model = self.topics.get_mut(name).expect("exists");
                        model
                            .partitions
                            .resize(total as usize, PartitionModel::default());
                    }
                    (Err(EngineError::InvalidPartitionCount { .. }), Some(n)) if total <= n => {}
                    (Err(EngineError::UnknownTopic { .. }), None) => {}
                    (got, current) => {
                        panic!("add_partitions({name}, {total}) with {current:?}: {got:?}")
                    }
                }
            }
            Op::Append {
                topic,
                partition,
                batches,
                repeat,
            } => {
                for _ in 0..=repeat % 8 {
                    self.append_built(*topic, *partition, batches);
                }
            }
            Op::AppendDamaged {
                topic,
                partition,
                batch,
                flips,
                fix_crc,
            } => {
                let Some(mut bytes) = self.build(std::slice::from_ref(batch)) else {
                    return;
                };
                for &(at, xor) in flips.iter().take(8) {
                    let len = bytes.len();
                    if let Some(b) = bytes.get_mut(usize::from(at) % len) {
                        *b ^= xor;
                    }
                }
                if *fix_crc {
                    if let Some(attributes_on) = bytes.get(21..) {
                        let crc = crc32c::crc32c(attributes_on);
                        bytes
                            .get_mut(17..21)
                            .expect("a whole header")
                            .copy_from_slice(&crc.to_be_bytes());
                    }
                }
                self.append_raw(*topic, *partition, &bytes);
            }
            Op::AppendRaw {
                topic,
                partition,
                bytes,
            } => self.append_raw(*topic, *partition, bytes),
            Op::Fetch {
                topic,
                partition,
                at,
                max_bytes,
            } => self.fetch(*topic, *partition, *at, usize::from(*max_bytes)),
            Op::ListOffsets {
                topic,
                partition,
                spec,
            } => self.list_offsets(*topic, *partition, spec),
            Op::DeleteRecords {
                topic,
                partition,
                before,
            } => self.delete_records(*topic, *partition, *before),
            Op::Alter { topic, key, value } => self.alter(*topic, *key, *value),
            Op::Retention => {
                self.engine.enforce_retention().expect("retention");
                self.check_all(false);
            }
            Op::Clean => {
                self.engine.clean_logs().expect("clean");
                self.check_all(false);
            }
            Op::Flush => self.engine.flush().expect("flush"),
            Op::Reopen => self.reopen(),
        }
    }

    fn create(&mut self, topic: u8, partitions: u8, policy: Policy, kib: u8, append_time: bool) {
        let name = topic_name(topic);
        let partitions = u32::from(partitions % 5);
        let policy_name = match policy {
            Policy::Delete => "delete",
            Policy::Compact => "compact",
            Policy::CompactDelete => "compact,delete",
        };
        let mut new = NewTopic::new(name, partitions)
            .config("cleanup.policy", policy_name)
            .config(
                "segment.bytes",
                (512 * (u32::from(kib % 16) + 1)).to_string(),
            );
        if append_time {
            new = new.config("message.timestamp.type", "LogAppendTime");
        }
        let exists = self.topics.contains_key(name);
        let collision = self.topics.keys().any(|t| *t != name && collides(t, name));
        match self.engine.create_topic(new) {
            Ok(()) => {
                assert!(!exists && !collision && (1..=MAX_PARTITIONS).contains(&partitions));
                let model = TopicModel {
                    partitions: vec![PartitionModel::default(); partitions as usize],
                    compacted: !matches!(policy, Policy::Delete),
                };
                self.topics.insert(name, model);
            }
            Err(EngineError::TopicExists { .. }) => assert!(exists),
            Err(EngineError::InvalidTopicName { .. }) => assert!(collision),
            Err(EngineError::InvalidPartitionCount { .. }) => assert_eq!(partitions, 0),
            Err(e) => panic!("create {name}: {e:?}"),
        }
    }

    /// Builds the batches of `specs` back to back; `None` if none has a record.
    fn build(&mut self, specs: &[BatchSpec]) -> Option<Vec<u8>> {
        let mut out = Vec::new();
        for spec in specs.iter().take(MAX_BATCHES) {
            let compression = match spec.codec % 4 {
                0 => Compression::None,
                1 => Compression::Gzip,
                2 => Compression::Lz4,
                _ => Compression::Zstd,
            };
            let config = BatchConfig {
                compression,
                ..BatchConfig::default()
            };
            assert!(self.builder.set_config(config));
            for r in spec.records.iter().take(MAX_RECORDS) {
                let key = r.key.map(|k| KEYS[usize::from(k) % KEYS.len()]);
                let value = r
                    .value
                    .as_deref()
                    .map(|v| v.get(..MAX_VALUE_BYTES).unwrap_or(v));
                let header = [RecordHeader {
                    key: "h",
                    value: Some(b"v"),
                }];
                let headers: &[RecordHeader<'_>] = if r.header { &header } else { &[] };
                let _ = self
                    .builder
                    .append(r.timestamp.get(self.now_ms), key, value, headers);
            }
            if !self.builder.is_empty() {
                self.builder.finish_into(&mut out).expect("finish");
            }
        }
        (!out.is_empty()).then_some(out)
    }

    fn append_built(&mut self, topic: u8, partition: u8, specs: &[BatchSpec]) {
        let Some((name, p, _)) = self.partition(topic, partition) else {
            return;
        };
        let Some(bytes) = self.build(specs) else {
            return;
        };
        let config = self.engine.log(name, p).expect("log").config();
        let limit = config.max_message_bytes.min(config.segment_bytes) as usize;
        let records = self.decode(&bytes).expect("built batches decode");
        let too_large = Batches::new(&bytes, 0).any(|b| b.is_ok_and(|b| b.size() > limit));
        let keyless = config.cleanup_policy.compact && records.iter().any(|r| r.key.is_none());
        match self.engine.append(name, p, &bytes) {
            Ok(info) => {
                assert!(
                    !too_large && !keyless,
                    "{name}-{p} accepted a batch it must refuse"
                );
                self.acknowledged(name, p, info.first_offset, info.last_offset, records);
            }
            Err(EngineError::RecordTooLarge { .. }) => assert!(too_large),
            Err(EngineError::InvalidRecord { .. }) => assert!(keyless),
            Err(e) => panic!("appending built batches to {name}-{p}: {e:?}"),
        }
    }

    fn append_raw(&mut self, topic: u8, partition: u8, bytes: &[u8]) {
        let Some((name, p, _)) = self.partition(topic, partition) else {
            return;
        };
        match self.engine.append(name, p, bytes) {
            Ok(info) => {
                let records = self
                    .decode(bytes)
                    .expect("a batch the engine accepted decodes");
                self.acknowledged(name, p, info.first_offset, info.last_offset, records);
            }
            Err(
                EngineError::Segment(_)
                | EngineError::InvalidBatch { .. }
                | EngineError::InvalidRecord { .. }
                | EngineError::RecordTooLarge { .. },
            ) => {}
            Err(e) => panic!("appending raw bytes to {name}-{p}: {e:?}"),
        }
        self.check(name, p, false);
    }

    /// The records of well-formed batches, in order; `None` if any does not decode.
    fn decode(&mut self, bytes: &[u8]) -> Option<Vec<Rec>> {
        let mut out = Vec::new();
        for batch in Batches::new(bytes, 0) {
            let batch = batch.ok()?;
            batch.validate().ok()?;
            for record in batch.records(&mut self.buffer).ok()? {
                let record = record.ok()?;
                out.push(Rec {
                    key: record.key.map(<[u8]>::to_vec),
                    value: record.value.map(<[u8]>::to_vec),
                });
            }
        }
        Some(out)
    }

    fn acknowledged(&mut self, name: &str, p: u32, first: i64, last: i64, records: Vec<Rec>) {
        let model = self.model_mut(name, p);
        assert_eq!(
            first, model.end,
            "{name}-{p}: an append starts at the log end"
        );
        assert_eq!(
            last - first + 1,
            records.len() as i64,
            "{name}-{p}: offsets for every record"
        );
        for (offset, rec) in (first..).zip(records) {
            model.records.insert(offset, rec);
        }
        model.end = last + 1;
    }

    fn model_mut(&mut self, name: &str, p: u32) -> &mut PartitionModel {
        self.topics
            .get_mut(name)
            .and_then(|t| t.partitions.get_mut(p as usize))
            .expect("a modelled partition")
    }

    fn fetch(&mut self, topic: u8, partition: u8, at: At, max_bytes: usize) {
        let Some((name, p, model)) = self.partition(topic, partition) else {
            return;
        };
        let compacted = self.topics.get(name).is_some_and(|t| t.compacted);
        let offset = at.get(model);
        let (start, end) = (model.start, model.end);
        match self.engine.fetch(name, p, offset, max_bytes) {
            Ok(fetch) => {
                assert!((start..=end).contains(&offset), "{name}-{p}@{offset}");
                assert_eq!(
                    (fetch.log_start_offset(), fetch.log_end_offset()),
                    (start, end)
                );
                let mut first = None;
                for batch in fetch.batches() {
                    let batch = batch.expect("a fetched batch parses");
                    for record in fetch.records(&batch, &mut self.buffer).expect("validates") {
                        let record = record.expect("a fetched record decodes");
                        first.get_or_insert(record.offset);
                    }
                }
                if offset < end && !compacted {
                    assert_eq!(
                        first,
                        Some(offset),
                        "{name}-{p}: a fetch starts at its offset"
                    );
                }
                if let Some(first) = first {
                    assert!(first >= offset && first < end);
                }
            }
            Err(EngineError::OffsetOutOfRange { .. }) => {
                assert!(
                    !(start..=end).contains(&offset),
                    "{name}-{p}@{offset} in range"
                )
            }
            Err(e) => panic!("fetch {name}-{p}@{offset}: {e:?}"),
        }
    }

    fn list_offsets(&mut self, topic: u8, partition: u8, spec: &Spec) {
        let Some((name, p, model)) = self.partition(topic, partition) else {
            return;
        };
        let spec = match spec {
            Spec::Earliest => OffsetSpec::Earliest,
            Spec::Latest => OffsetSpec::Latest,
            Spec::MaxTimestamp => OffsetSpec::MaxTimestamp,
            Spec::Timestamp(t) => OffsetSpec::Timestamp(t.get(self.now_ms)),
        };
        let listed = self
            .engine
            .list_offsets(name, p, spec)
            .unwrap_or_else(|e| panic!("list_offsets {name}-{p} {spec:?}: {e:?}"));
        match (spec, listed) {
            (OffsetSpec::Earliest, Some(l)) => assert_eq!(l.offset, model.start),
            (OffsetSpec::Latest, Some(l)) => assert_eq!(l.offset, model.end),
            (OffsetSpec::Earliest | OffsetSpec::Latest, None) => panic!("{spec:?} is always known"),
            (_, Some(l)) => assert!(
                (model.start..model.end).contains(&l.offset),
                "{name}-{p} {spec:?} gave {l:?} outside [{}, {})",
                model.start,
                model.end
            ),
            (_, None) => {}
        }
    }

    fn delete_records(&mut self, topic: u8, partition: u8, before: At) {
        let Some((name, p, model)) = self.partition(topic, partition) else {
            return;
        };
        let before = before.get(model);
        let (start, end) = (model.start, model.end);
        match self.engine.delete_records(name, p, before) {
            Ok(new_start) => {
                assert!((0..=end).contains(&before));
                assert_eq!(new_start, start.max(before));
                let model = self.model_mut(name, p);
                model.start = new_start;
                model.records = model.records.split_off(&new_start);
            }
            Err(EngineError::OffsetOutOfRange { .. }) => {
                assert!(!(0..=end).contains(&before))
            }
            Err(e) => panic!("delete_records {name}-{p} before {before}: {e:?}"),
        }
        self.check(name, p, false);
    }

    fn alter(&mut self, topic: u8, key: u8, value: u8) {
        let name = topic_name(topic);
        let (key, values) = ALTERS[usize::from(key) % ALTERS.len()];
        let (value, valid) = values[usize::from(value) % values.len()];
        let exists = self.topics.contains_key(name);
        match self.engine.alter_topic_config(name, [(key, value)], []) {
            Ok(config) => {
                assert!(exists && valid, "{name}: {key}={value} accepted");
                if config.cleanup_policy.compact {
                    self.topics.get_mut(name).expect("exists").compacted = true;
                }
            }
            Err(EngineError::UnknownTopic { .. }) => assert!(!exists),
            Err(EngineError::UnknownConfig { .. } | EngineError::InvalidConfig { .. }) => {
                assert!(!valid, "{name}: {key}={value} refused")
            }
            Err(e) => panic!("alter {name} {key}={value}: {e:?}"),
        }
    }

    fn reopen(&mut self) {
        self.check_all(false);
        self.engine.close().expect("close");
        self.engine = open(self.dir.path());
        let names: BTreeSet<&str> = self.topics.keys().copied().collect();
        let listed = self.engine.list_topics();
        assert_eq!(
            listed.iter().map(String::as_str).collect::<BTreeSet<_>>(),
            names,
            "a reopen keeps every topic"
        );
        self.check_all(true);
    }

    fn check_all(&mut self, exact: bool) {
        let partitions: Vec<(&'static str, u32)> = self
            .topics
            .iter()
            .flat_map(|(name, t)| (0..t.partitions.len() as u32).map(move |p| (*name, p)))
            .collect();
        for (name, p) in partitions {
            self.check(name, p, exact);
        }
    }

    /// Reads the whole partition and checks it against the model; retention and compaction
    /// may have removed records, which the model then forgets. With `exact` (after a
    /// reopen) nothing may have changed.
    fn check(&mut self, name: &str, p: u32, exact: bool) {
        let compacted = self.topics.get(name).is_some_and(|t| t.compacted);
        let log = self
            .engine
            .log(name, p)
            .expect("a modelled partition exists");
        let start = log.log_start_offset();
        let end = log.log_end_offset().expect("log end");
        let mut model = self.model_mut(name, p).clone();
        assert_eq!(
            end, model.end,
            "{name}-{p}: the log end moves only by appends"
        );
        if exact {
            assert_eq!(
                start, model.start,
                "{name}-{p}: a reopen keeps the log start"
            );
        }
        assert!(
            start >= model.start && start <= end,
            "{name}-{p}: log start {start} (was {}, end {end})",
            model.start
        );
        let mut read: BTreeMap<i64, Rec> = BTreeMap::new();
        let mut offset = start;
        while offset < end {
            let fetch = log.fetch(offset, 4096).expect("fetch inside the log");
            if fetch.is_empty() {
                assert!(
                    compacted,
                    "{name}-{p}: nothing at {offset} below the end {end}"
                );
                break;
            }
            for batch in fetch.batches() {
                let batch: Batch<'_> = batch.expect("a stored batch parses");
                for record in fetch.records(&batch, &mut self.buffer).expect("validates") {
                    let record = record.expect("a stored record decodes");
                    let last = read.last_key_value().map(|(o, _)| *o);
                    assert!(
                        record.offset >= start && record.offset < end,
                        "{name}-{p}: offset {} outside [{start}, {end})",
                        record.offset
                    );
                    assert!(last.is_none_or(|l| record.offset > l), "offsets rise");
                    if !compacted {
                        assert_eq!(
                            record.offset,
                            last.map_or(start, |l| l + 1),
                            "{name}-{p}: offsets are contiguous"
                        );
                    }
                    let rec = Rec {
                        key: record.key.map(<[u8]>::to_vec),
                        value: record.value.map(<[u8]>::to_vec),
                    };
                    assert_eq!(
                        model.records.get(&record.offset),
                        Some(&rec),
                        "{name}-{p}@{}: the record appended there",
                        record.offset
                    );
                    read.insert(record.offset, rec);
                }
            }
            assert!(fetch.next_offset() > offset, "a fetch makes progress");
            offset = fetch.next_offset();
        }
        let expected = model.records.split_off(&start);
        if exact || !compacted {
            assert_eq!(
                read.keys().collect::<Vec<_>>(),
                expected.keys().collect::<Vec<_>>(),
                "{name}-{p}: every acknowledged record from the log start is there"
            );
        } else {
            let mut latest: BTreeMap<&Option<Vec<u8>>, (i64, &Rec)> = BTreeMap::new();
            for (offset, rec) in &expected {
                latest.insert(&rec.key, (*offset, rec));
            }
            for (offset, rec) in latest.values() {
                if rec.key.is_some() && rec.value.is_some() {
                    assert!(
                        read.contains_key(offset),
                        "{name}-{p}: the latest value of key {:?} (offset {offset}) is gone",
                        rec.key
                    );
                }
            }
        }
        let model = self.model_mut(name, p);
        model.start = start;
        model.records = read;
    }
}
