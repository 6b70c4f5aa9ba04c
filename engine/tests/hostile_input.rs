//! Hostile input at every public entry point of the engine: malformed topic names,
//! partition counts, partitions, offsets, sizes, configs, oversize and malformed batches, and
//! data directory files with crafted counts. Each is refused with a typed error, leaves the
//! data directory as it was, creates nothing beside it, and the engine keeps working.
//!
//! Decoders never size an allocation from a length they have not checked against the bytes
//! present: a thread-local counter behind this test binary's global allocator records the
//! largest single allocation made while crafted inputs (a batch claiming 2^31 records, a
//! varint length far past the buffer, a compressed section claiming an enormous size, a
//! topic metadata file claiming 2^32 partitions, a checkpoint claiming a million entries)
//! are decoded, and each test bounds it.

mod common;
#[path = "common/counting_alloc.rs"]
mod counting_alloc;

use std::collections::BTreeSet;
use std::path::Path;

use common::{batch, open, small_topic, T0};
use counting_alloc::largest_allocation;
use silt_engine::config::ProducerConfig;
use silt_engine::producer::ProducerRecord;
use silt_engine::{
    inspect, Engine, EngineConfig, EngineError, NewTopic, OffsetSpec, TopicConfig,
    LOG_START_CHECKPOINT, MAX_PARTITIONS, RECOVERY_POINT_CHECKPOINT,
};
use silt_segment::batch::{Batch, Batches, DecompressBuffer, HEADER_SIZE};
use silt_segment::SegmentError;

#[test]
fn the_allocation_counter_sees_this_threads_allocations() {
    let (v, largest) = largest_allocation(|| vec![1u8; 3 << 20]);
    assert!(largest >= 3 << 20, "{largest}");
    drop(v);
    let ((), largest) = largest_allocation(|| ());
    assert_eq!(largest, 0);
}

/// Bound on any allocation while decoding a crafted input of a few bytes.
const SMALL_ALLOCATION: usize = 64 << 10;

/// Names of a directory's entries.
fn entries(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

/// Every file and directory under `dir`, recursively, relative to it.
fn tree(dir: &Path) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let path = e.unwrap().path();
            out.insert(path.strip_prefix(dir).unwrap().display().to_string());
            if path.is_dir() {
                stack.push(path);
            }
        }
    }
    out
}

/// A data directory `<root>/data` with topic `t` (2 partitions, small segments) holding
/// three records in partition 0.
fn setup() -> (tempfile::TempDir, Engine) {
    let root = tempfile::tempdir().unwrap();
    let engine = open(&root.path().join("data"));
    engine.create_topic(small_topic("t", 2, 4096)).unwrap();
    engine.append("t", 0, &batch(0, 3)).unwrap();
    (root, engine)
}

fn assert_nothing_beside_the_data_dir(root: &Path) {
    assert_eq!(
        entries(root),
        BTreeSet::from(["data".to_string()]),
        "nothing was created beside the data directory"
    );
}

/// Names Kafka refuses; several would reach outside the data directory as paths.
fn hostile_names() -> Vec<String> {
    let mut names: Vec<String> = [
        "",
        ".",
        "..",
        "../x",
        "../../x",
        "x/..",
        "a/b",
        "/abs",
        "a\\b",
        "..\\x",
        "a\0b",
        "\0",
        "é",
        "топик",
        "a b",
        "a\nb",
        ".\u{200b}",
        "a:b",
        "*",
        "t/../../x",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    names.push("x".repeat(250));
    names.push("x".repeat(100_000));
    names
}

#[test]
fn hostile_topic_names_are_refused_by_every_entry_point_and_reach_nothing() {
    let (root, engine) = setup();
    let data = root.path().join("data");
    let before = tree(&data);
    let producer = engine.producer(ProducerConfig::default()).unwrap();
    for name in hostile_names() {
        let shown = format!("{:?}", name.get(..40).unwrap_or(&name));
        match engine.create_topic(NewTopic::new(name.as_str(), 1)) {
            Err(EngineError::InvalidTopicName { .. }) => {}
            other => panic!("create {shown}: {other:?}"),
        }
        let unknown = |result: Result<(), EngineError>, what: &str| match result {
            Err(EngineError::UnknownTopic { topic }) => assert_eq!(topic, name),
            other => panic!("{what} {shown}: {other:?}"),
        };
        unknown(engine.log(&name, 0).map(drop), "log");
        unknown(engine.append(&name, 0, &batch(0, 1)).map(drop), "append");
        unknown(engine.fetch(&name, 0, 0, 1024).map(drop), "fetch");
        unknown(
            engine.list_offsets(&name, 0, OffsetSpec::Latest).map(drop),
            "list",
        );
        unknown(
            engine.delete_records(&name, 0, 0).map(drop),
            "delete_records",
        );
        unknown(engine.flush_up_to(&name, 0, 1).map(drop), "flush_up_to");
        unknown(engine.describe_topic(&name).map(drop), "describe");
        unknown(engine.delete_topic(&name), "delete");
        unknown(engine.add_partitions(&name, 2), "add_partitions");
        let alter = engine.alter_topic_config(&name, [("retention.ms", "1")], []);
        unknown(alter.map(drop), "alter");
        match producer.send(ProducerRecord::new(&name).value("v")) {
            Err(EngineError::UnknownTopic { .. }) => {}
            other => panic!("send to {shown}: {:?}", other.map(drop)),
        }
    }
    producer.close().unwrap();
    assert_eq!(engine.list_topics(), vec!["t".to_string()]);
    assert_eq!(tree(&data), before, "the data directory is as it was");
    assert_nothing_beside_the_data_dir(root.path());
    engine.close().unwrap();
}

#[test]
fn names_that_collide_as_kafka_sees_them_are_refused() {
    let (root, engine) = setup();
    engine.create_topic(NewTopic::new("a.b", 1)).unwrap();
    for name in ["a_b", "a.b"] {
        match engine.create_topic(NewTopic::new(name, 1)) {
            Err(EngineError::InvalidTopicName { .. }) if name == "a_b" => {}
            Err(EngineError::TopicExists { .. }) if name == "a.b" => {}
            other => panic!("{name}: {other:?}"),
        }
    }
    engine.create_topic(NewTopic::new("a-b", 1)).unwrap();
    assert_eq!(engine.list_topics(), ["a-b", "a.b", "t"]);
    assert!(!root.path().join("data").join("a_b-0").exists());
    engine.close().unwrap();
}

#[test]
fn partition_counts_and_partitions_out_of_range_are_refused() {
    let (root, engine) = setup();
    let data = root.path().join("data");
    let before = tree(&data);
    for count in [0, MAX_PARTITIONS + 1, u32::MAX] {
        match engine.create_topic(NewTopic::new("n", count)) {
            Err(EngineError::InvalidPartitionCount { count: c, .. }) => assert_eq!(c, count),
            other => panic!("{count} partitions: {other:?}"),
        }
    }
    for total in [0, 1, 2, MAX_PARTITIONS + 1, u32::MAX] {
        match engine.add_partitions("t", total) {
            Err(EngineError::InvalidPartitionCount { .. }) => {}
            other => panic!("grow to {total}: {other:?}"),
        }
    }
    assert_eq!(tree(&data), before, "no partition directory was made");
    for partition in [2, 3, MAX_PARTITIONS, u32::MAX] {
        let unknown = |result: Result<(), EngineError>, what: &str| match result {
            Err(EngineError::UnknownPartition { partitions: 2, .. }) => {}
            other => panic!("{what} t-{partition}: {other:?}"),
        };
        unknown(engine.log("t", partition).map(drop), "log");
        unknown(
            engine.append("t", partition, &batch(0, 1)).map(drop),
            "append",
        );
        unknown(engine.fetch("t", partition, 0, 1).map(drop), "fetch");
        let listed = engine.list_offsets("t", partition, OffsetSpec::Earliest);
        unknown(listed.map(drop), "list");
        unknown(engine.delete_records("t", partition, 0).map(drop), "delete");
        unknown(
            engine.flush_up_to("t", partition, 0).map(drop),
            "flush_up_to",
        );
    }
    let producer = engine.producer(ProducerConfig::default()).unwrap();
    let sent = producer.send(ProducerRecord::new("t").partition(u32::MAX).value("v"));
    assert!(
        matches!(sent, Err(EngineError::UnknownPartition { .. })),
        "{:?}",
        sent.map(drop)
    );
    producer.close().unwrap();
    assert_nothing_beside_the_data_dir(root.path());
    engine.close().unwrap();
}

#[test]
fn offsets_outside_the_log_are_out_of_range_and_change_nothing() {
    let (root, engine) = setup();
    for offset in [-1, i64::MIN, 4, i64::MAX] {
        match engine.fetch("t", 0, offset, 1 << 20) {
            Err(EngineError::OffsetOutOfRange {
                offset: o,
                log_start: 0,
                log_end: 3,
                ..
            }) => assert_eq!(o, offset),
            other => panic!("fetch at {offset}: {other:?}"),
        }
        match engine.delete_records("t", 0, offset) {
            Err(EngineError::OffsetOutOfRange { .. }) => {}
            other => panic!("delete_records before {offset}: {other:?}"),
        }
    }
    let listed = |spec| engine.list_offsets("t", 0, spec).unwrap().map(|l| l.offset);
    assert_eq!(listed(OffsetSpec::Timestamp(i64::MIN)), Some(0));
    assert_eq!(listed(OffsetSpec::Timestamp(-1)), Some(0));
    assert_eq!(listed(OffsetSpec::Timestamp(i64::MAX)), None);
    assert_eq!(
        engine
            .list_offsets("t", 1, OffsetSpec::MaxTimestamp)
            .unwrap(),
        None
    );
    for offset in [i64::MIN, -1, 0, i64::MAX] {
        engine.flush_up_to("t", 0, offset).unwrap();
    }
    let log = engine.log("t", 0).unwrap();
    assert_eq!(
        (log.log_start_offset(), log.log_end_offset().unwrap()),
        (0, 3)
    );
    assert_eq!(common::values(&engine, "t", 0).len(), 3);
    assert_nothing_beside_the_data_dir(root.path());
    engine.close().unwrap();
}

#[test]
fn fetch_sizes_of_zero_and_of_usize_max_are_served() {
    let (_root, engine) = setup();
    engine.append("t", 0, &batch(3, 2)).unwrap();
    let first = engine.fetch("t", 0, 0, 0).unwrap();
    assert_eq!(
        first.batches().count(),
        1,
        "max_bytes 0 still gives the first batch"
    );
    assert_eq!(first.next_offset(), 3);
    let all = engine.fetch("t", 0, 0, usize::MAX).unwrap();
    assert_eq!(all.batches().count(), 2);
    assert_eq!(all.next_offset(), 5);
    let empty = engine.fetch("t", 1, 0, usize::MAX).unwrap();
    assert!(empty.is_empty());
    engine.close().unwrap();
}

/// (key, value) pairs every config entry point must refuse.
const BAD_TOPIC_CONFIGS: &[(&str, &str)] = &[
    ("no.such.key", "1"),
    ("", "1"),
    ("segment.bytes", "0"),
    ("segment.bytes", "60"),
    ("segment.bytes", "2147483648"),
    ("segment.bytes", "-1"),
    ("segment.bytes", "1e6"),
    ("segment.bytes", ""),
    ("segment.bytes", "99999999999999999999999"),
    ("segment.index.bytes", "11"),
    ("retention.ms", "-2"),
    ("retention.bytes", "-2"),
    ("min.cleanable.dirty.ratio", "NaN"),
    ("min.cleanable.dirty.ratio", "1.5"),
    ("min.cleanable.dirty.ratio", "-0.1"),
    ("cleanup.policy", ""),
    ("cleanup.policy", "compact,bogus"),
    ("message.timestamp.type", "createtime"),
    ("max.message.bytes", "-1"),
    ("max.compaction.lag.ms", "0"),
    ("flush.messages", "0"),
    ("retention.ms", "1000\n"),
    ("retention.ms", "1\0"),
];

#[test]
fn unknown_and_invalid_topic_configs_are_refused_and_change_nothing() {
    let (root, engine) = setup();
    let data = root.path().join("data");
    let before = tree(&data);
    let config_before = engine.describe_topic("t").unwrap();
    for &(key, value) in BAD_TOPIC_CONFIGS {
        let typed = |result: Result<(), EngineError>, what: &str| match result {
            Err(EngineError::UnknownConfig { .. } | EngineError::InvalidConfig { .. }) => {}
            other => panic!("{what} {key:?}={value:?}: {other:?}"),
        };
        typed(
            engine.create_topic(NewTopic::new("n", 1).config(key, value)),
            "create",
        );
        let altered = engine.alter_topic_config("t", [(key, value)], []);
        typed(altered.map(drop), "alter");
        // The typed setter trims whitespace as Kafka does; only the metadata file's line
        // format refuses a line break.
        if !value.contains('\n') {
            typed(TopicConfig::default().set(key, value), "TopicConfig::set");
        }
    }
    // Both kinds of refusal: lag bounds that only conflict together.
    let lags = NewTopic::new("n", 1)
        .config("min.compaction.lag.ms", "10")
        .config("max.compaction.lag.ms", "5");
    assert!(matches!(
        engine.create_topic(lags),
        Err(EngineError::InvalidConfig { .. })
    ));
    match engine.alter_topic_config("t", [], ["no.such.key"]) {
        Err(EngineError::UnknownConfig { .. }) => {}
        other => panic!("remove an unknown key: {other:?}"),
    }
    assert_eq!(engine.describe_topic("t").unwrap(), config_before);
    assert_eq!(engine.list_topics(), ["t"]);
    assert_eq!(tree(&data), before);
    assert_nothing_beside_the_data_dir(root.path());
    engine.close().unwrap();
}

#[test]
fn invalid_engine_and_producer_configs_are_refused() {
    for (key, value) in [
        ("no.such.key", "1"),
        ("num.partitions", "0"),
        ("log.cleaner.dedupe.buffer.size", "1"),
        ("log.retention.hours", "-2"),
        ("log.retention.check.interval.ms", "0"),
        ("offsets.topic.num.partitions", "0"),
        // Values the topic it creates at the first commit could not take.
        ("offsets.topic.num.partitions", "100001"),
        ("offsets.topic.segment.bytes", "60"),
        ("log.segment.bytes", "60"),
        ("silt.max.open.segments", "0"),
    ] {
        match EngineConfig::from_map([(key, value)]) {
            Err(EngineError::UnknownConfig { .. } | EngineError::InvalidConfig { .. }) => {}
            other => panic!("{key}={value}: {other:?}"),
        }
    }
    for (key, value) in [
        ("no.such.key", "1"),
        ("acks", "2"),
        ("compression.type", "snappy"),
        ("compression.zstd.level", "23"),
        ("max.request.size", "0"),
        ("batch.size", "-1"),
        ("linger.ms", "-1"),
        ("enable.idempotence", "yes"),
        ("silt.producer.writer.threads", "1000000"),
    ] {
        match ProducerConfig::from_map([(key, value)]) {
            Err(EngineError::UnknownConfig { .. } | EngineError::InvalidConfig { .. }) => {}
            other => panic!("{key}={value}: {:?}", other.map(drop)),
        }
    }
    // Settings that do not go together, by map or through the struct.
    let conflicting = ProducerConfig::from_map([("acks", "1"), ("enable.idempotence", "true")]);
    assert!(matches!(
        conflicting,
        Err(EngineError::InvalidConfig { .. })
    ));
    let (_root, engine) = setup();
    let config = ProducerConfig {
        acks: silt_engine::Acks::Leader,
        enable_idempotence: Some(true),
        max_request_size: 0,
        ..ProducerConfig::default()
    };
    match engine.producer(config) {
        Err(EngineError::InvalidConfig { .. }) => {}
        other => panic!("conflicting producer settings: {:?}", other.map(drop)),
    }
    engine.close().unwrap();
}

#[test]
fn out_of_range_config_structs_fail_typed_where_they_are_used() {
    // Fields are public: a struct can hold what no key would accept.
    let config = EngineConfig {
        max_open_segments: 0,
        retention_check_interval_ms: 0,
        flush_scheduler_interval_ms: 0,
        cleaner_dedupe_buffer_bytes: 0,
        offsets_topic_num_partitions: 0,
        topic_defaults: TopicConfig {
            segment_bytes: 0,
            segment_index_bytes: 0,
            min_cleanable_dirty_ratio: f64::NAN,
            ..TopicConfig::default()
        },
        ..EngineConfig::default()
    };
    assert!(matches!(
        config.validate(),
        Err(EngineError::InvalidConfig { .. })
    ));
    let root = tempfile::tempdir().unwrap();
    match Engine::open(root.path().join("data"), config) {
        Err(EngineError::InvalidConfig { .. }) => {}
        // Opening tolerates what it can clamp; a topic cannot use the bad defaults.
        Ok(engine) => {
            match engine.create_topic(NewTopic::new("t", 1)) {
                Err(EngineError::InvalidConfig { .. }) => {}
                other => panic!("a topic with invalid defaults: {other:?}"),
            }
            assert!(engine.list_topics().is_empty());
            engine.close().unwrap();
        }
        Err(e) => panic!("open with out-of-range settings: {e:?}"),
    }
    assert_nothing_beside_the_data_dir(root.path());
}

#[test]
fn oversize_records_and_batches_are_refused_and_write_nothing() {
    let (root, engine) = setup();
    engine
        .create_topic(small_topic("s", 1, 1024).config("max.message.bytes", "600"))
        .unwrap();
    // Over max.message.bytes (600) of `s`, and over segment.bytes (4096) of `t`.
    for (topic, records) in [("s", 40), ("t", 300)] {
        let oversize = common::batch_of(0, records, T0, silt_segment::batch::Compression::None);
        match engine.append(topic, 0, &oversize) {
            Err(EngineError::RecordTooLarge { size, .. }) => assert_eq!(size, oversize.len()),
            other => panic!("append {} bytes to {topic}: {other:?}", oversize.len()),
        }
    }
    let producer = engine
        .producer(ProducerConfig::from_map([("max.request.size", "1000")]).unwrap())
        .unwrap();
    let value = vec![7u8; 1 << 20];
    for topic in ["s", "t"] {
        match producer.send(ProducerRecord::new(topic).value(&value)) {
            Err(EngineError::RecordTooLarge { .. }) => {}
            other => panic!("send 1 MiB to {topic}: {:?}", other.map(drop)),
        }
    }
    match producer.send(ProducerRecord::new("t").value("v").timestamp(-5)) {
        Err(EngineError::InvalidRecord { .. }) => {}
        other => panic!("negative timestamp: {:?}", other.map(drop)),
    }
    producer.close().unwrap();
    assert_eq!(engine.log("s", 0).unwrap().log_end_offset().unwrap(), 0);
    assert_eq!(engine.log("t", 0).unwrap().log_end_offset().unwrap(), 3);
    assert_nothing_beside_the_data_dir(root.path());
    engine.close().unwrap();
}

/// A batch of `records` (the records section as given) claiming `count` records and
/// `last_offset_delta`, with a correct CRC.
fn crafted_batch(count: i32, last_offset_delta: i32, attributes: i16, records: &[u8]) -> Vec<u8> {
    let mut b = Vec::with_capacity(HEADER_SIZE + records.len());
    b.extend_from_slice(&0i64.to_be_bytes()); // baseOffset
    b.extend_from_slice(&(49 + records.len() as i32).to_be_bytes()); // batchLength
    b.extend_from_slice(&(-1i32).to_be_bytes()); // partitionLeaderEpoch
    b.push(2); // magic
    b.extend_from_slice(&[0; 4]); // crc, below
    b.extend_from_slice(&attributes.to_be_bytes());
    b.extend_from_slice(&last_offset_delta.to_be_bytes());
    b.extend_from_slice(&T0.to_be_bytes()); // baseTimestamp
    b.extend_from_slice(&T0.to_be_bytes()); // maxTimestamp
    b.extend_from_slice(&(-1i64).to_be_bytes()); // producerId
    b.extend_from_slice(&(-1i16).to_be_bytes()); // producerEpoch
    b.extend_from_slice(&(-1i32).to_be_bytes()); // baseSequence
    b.extend_from_slice(&count.to_be_bytes());
    b.extend_from_slice(records);
    let crc = crc32c::crc32c(&b[21..]);
    b[17..21].copy_from_slice(&crc.to_be_bytes());
    b
}

/// A zig-zag LEB128 varint.
fn varint(value: i64) -> Vec<u8> {
    let mut v = ((value << 1) ^ (value >> 63)) as u64;
    let mut out = Vec::new();
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
    out
}

/// One record's bytes: `length` is what its length varint claims, `body` what follows.
fn record(length: i64, body: &[u8]) -> Vec<u8> {
    let mut out = varint(length);
    out.extend_from_slice(body);
    out
}

/// Decodes every record of `bytes` as a reader does; the first error, if any.
fn decode_all(bytes: &[u8], buffer: &mut DecompressBuffer) -> Result<usize, SegmentError> {
    let mut n = 0;
    for batch in Batches::new(bytes, 0) {
        let batch = batch?;
        batch.validate()?;
        for record in batch.records(buffer)? {
            record?;
            n += 1;
        }
    }
    Ok(n)
}

/// Record bodies with lengths that claim far more than the bytes hold.
fn lying_records() -> Vec<(&'static str, Vec<u8>)> {
    // attributes, timestampDelta 0, offsetDelta 0, then the key length.
    let head = [0u8, 0, 0];
    let mut key_huge = head.to_vec();
    key_huge.extend(varint(i32::MAX as i64));
    let mut value_huge = head.to_vec();
    value_huge.extend(varint(-1)); // null key
    value_huge.extend(varint(i32::MAX as i64));
    let mut headers_huge = head.to_vec();
    headers_huge.extend(varint(-1));
    headers_huge.extend(varint(-1));
    headers_huge.extend(varint(i32::MAX as i64)); // header count
    let mut header_key_huge = head.to_vec();
    header_key_huge.extend(varint(-1));
    header_key_huge.extend(varint(-1));
    header_key_huge.extend(varint(1));
    header_key_huge.extend(varint(i32::MAX as i64));
    let whole = |body: Vec<u8>| record(body.len() as i64, &body);
    vec![
        ("record length", record(i32::MAX as i64, &head)),
        ("negative record length", record(-7, &head)),
        ("key length", whole(key_huge)),
        ("value length", whole(value_huge)),
        ("header count", whole(headers_huge)),
        ("header key length", whole(header_key_huge)),
        ("over-long varint", record(0, &[0xff; 12])),
    ]
}

#[test]
fn batches_claiming_huge_counts_and_lengths_fail_without_allocating_them() {
    let mut buffer = DecompressBuffer::new();
    // 2^31 - 1 records claimed, one present.
    let one = record(6, &[0, 0, 0, 1, 1, 0]);
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("records count", crafted_batch(i32::MAX, i32::MAX, 0, &one)),
        ("negative count", crafted_batch(-1, 0, 0, &one)),
    ]
    .into_iter()
    .chain(
        lying_records()
            .into_iter()
            .map(|(what, r)| (what, crafted_batch(1, 0, 0, &r))),
    )
    .collect();
    let (_root, engine) = setup();
    for (what, bytes) in &cases {
        let (result, largest) = largest_allocation(|| decode_all(bytes, &mut buffer));
        assert!(result.is_err(), "{what}: {result:?}");
        assert!(
            largest < SMALL_ALLOCATION,
            "{what}: allocated {largest} bytes"
        );
        let (appended, largest) = largest_allocation(|| engine.append("t", 1, bytes));
        assert!(
            matches!(
                appended,
                Err(EngineError::Segment(_) | EngineError::InvalidBatch { .. })
            ),
            "{what}: {appended:?}"
        );
        assert!(
            largest < SMALL_ALLOCATION,
            "{what}: append allocated {largest} bytes"
        );
    }
    // A batch length far past the bytes present, and a megabyte of garbage.
    let mut long = crafted_batch(1, 0, 0, &one);
    long[8..12].copy_from_slice(&i32::MAX.to_be_bytes());
    let garbage = vec![0xffu8; 1 << 20];
    for (what, bytes) in [("batch length", &long[..]), ("garbage", &garbage[..])] {
        let (result, largest) = largest_allocation(|| decode_all(bytes, &mut buffer));
        assert!(result.is_err(), "{what}");
        assert!(
            largest < SMALL_ALLOCATION,
            "{what}: allocated {largest} bytes"
        );
    }
    assert!(matches!(
        Batch::parse(&long, 0),
        Err(SegmentError::Incomplete { .. } | SegmentError::InvalidLength { .. })
    ));
    assert_eq!(engine.log("t", 1).unwrap().log_end_offset().unwrap(), 0);
    engine.close().unwrap();
}

/// Compressed records sections that claim (or unpack to) far more than they hold.
fn lying_compressed() -> Vec<(&'static str, i16, Vec<u8>)> {
    // zstd frame header: single segment, 8-byte content size of 2^40, then nothing.
    let mut zstd = vec![0x28, 0xb5, 0x2f, 0xfd, 0xe0];
    zstd.extend_from_slice(&(1u64 << 40).to_le_bytes());
    // LZ4 frame: content size flag, 4 MiB blocks, content size 2^60, then a block claiming
    // 4 MiB with a few bytes present.
    let mut lz4 = vec![0x04, 0x22, 0x4d, 0x18, 0x68, 0x70];
    lz4.extend_from_slice(&(1u64 << 60).to_le_bytes());
    lz4.push(0); // header checksum (wrong; some decoders check it)
    lz4.extend_from_slice(&(4u32 << 20).to_le_bytes());
    lz4.extend_from_slice(&[1, 2, 3]);
    // gzip: a header, a stored block claiming 65535 bytes, and a 4 GiB ISIZE trailer.
    let mut gzip = vec![
        0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff, 0x01, 0xff, 0xff, 0, 0,
    ];
    gzip.extend_from_slice(&[0xff; 8]);
    vec![("zstd", 4, zstd), ("lz4", 3, lz4), ("gzip", 1, gzip)]
}

#[test]
fn compressed_sections_claiming_huge_sizes_fail_without_allocating_them() {
    let mut buffer = DecompressBuffer::new();
    for (codec, attributes, section) in lying_compressed() {
        let bytes = crafted_batch(1, 0, attributes, &section);
        let (result, largest) = largest_allocation(|| decode_all(&bytes, &mut buffer));
        assert!(result.is_err(), "{codec}: {result:?}");
        // LZ4 frames may declare 4 MiB blocks, which a decoder may buffer whole.
        assert!(largest <= 8 << 20, "{codec}: allocated {largest} bytes");
    }
    // A decompression bomb: 64 MiB of zeros in a few KiB, read with a 1 MiB bound.
    let zeros = vec![0u8; 64 << 20];
    let mut builder = silt_segment::batch::BatchBuilder::new(silt_segment::batch::BatchConfig {
        compression: silt_segment::batch::Compression::Zstd,
        ..Default::default()
    });
    builder.append(T0, None, Some(&zeros), &[]).unwrap();
    let bomb = builder.finish().unwrap();
    drop(zeros);
    assert!(bomb.len() < 64 << 10);
    let mut bounded = DecompressBuffer::with_limit(1 << 20);
    let (result, largest) = largest_allocation(|| decode_all(&bomb, &mut bounded));
    assert!(
        matches!(result, Err(SegmentError::DecompressedTooLarge { .. })),
        "{result:?}"
    );
    assert!(
        largest <= 2 << 20,
        "allocated {largest} bytes for a 1 MiB bound"
    );
}

/// Writes a topic metadata file as `docs/FORMAT.md` specifies it (with its CRC line).
fn metadata_file(name: &str, partitions: &str) -> String {
    let body = format!(
        "# silt topic metadata\nversion=1\nname={name}\npartitions={partitions}\ncreated.ms=0\n"
    );
    format!("{body}crc32c={:08x}\n", crc32c::crc32c(body.as_bytes()))
}

#[test]
fn engine_files_claiming_huge_counts_are_refused_without_allocating() {
    for partitions in ["4294967295", "100001", "0"] {
        let root = tempfile::tempdir().unwrap();
        let data = root.path().join("data");
        std::fs::create_dir_all(data.join(inspect::TOPICS_DIR)).unwrap();
        let file = data.join(inspect::TOPICS_DIR).join("t.topic");
        std::fs::write(&file, metadata_file("t", partitions)).unwrap();
        match inspect::read_topic_metadata(&file) {
            Err(EngineError::CorruptMetadata { line: 4, .. }) => {}
            other => panic!("partitions={partitions}: {other:?}"),
        }
        let (opened, largest) = largest_allocation(|| Engine::open(&data, EngineConfig::default()));
        match opened {
            Err(EngineError::CorruptMetadata { path, line: 4, .. }) => assert_eq!(path, file),
            other => panic!("open with partitions={partitions}: {other:?}"),
        }
        assert!(
            largest < SMALL_ALLOCATION,
            "{partitions}: allocated {largest} bytes"
        );
        assert_eq!(
            entries(&data),
            BTreeSet::from([inspect::TOPICS_DIR.into(), ".lock".into()])
        );
        assert_nothing_beside_the_data_dir(root.path());
    }
    for (file, text) in [
        (RECOVERY_POINT_CHECKPOINT, "0\n1048576\n".to_string()),
        (LOG_START_CHECKPOINT, "0\n1048577\n".to_string()),
        (LOG_START_CHECKPOINT, format!("0\n{}\n", u64::MAX)),
        ("producer-id-block", "9".repeat(10 << 20)),
    ] {
        let root = tempfile::tempdir().unwrap();
        let path = root.path().join(file);
        std::fs::write(&path, &text).unwrap();
        let (read, largest) = largest_allocation(|| {
            if file == "producer-id-block" {
                inspect::read_producer_id_block(&path).map(drop)
            } else {
                inspect::read_offset_checkpoint(&path).map(drop)
            }
        });
        assert!(
            matches!(read, Err(EngineError::CorruptMetadata { .. })),
            "{file}: {read:?}"
        );
        assert!(
            largest < SMALL_ALLOCATION,
            "{file}: allocated {largest} bytes"
        );
        if file != "producer-id-block" {
            let opened = Engine::open(root.path(), EngineConfig::default());
            assert!(
                matches!(opened, Err(EngineError::CorruptMetadata { .. })),
                "open with {file}: {opened:?}"
            );
        }
    }
}

#[test]
fn hostile_data_directories_are_typed_errors() {
    let root = tempfile::tempdir().unwrap();
    let file = root.path().join("file");
    std::fs::write(&file, "x").unwrap();
    assert!(matches!(
        Engine::open(&file, EngineConfig::default()),
        Err(EngineError::Io { .. })
    ));
    let data = root.path().join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::write(data.join(inspect::TOPICS_DIR), "not a directory").unwrap();
    assert!(matches!(
        Engine::open(&data, EngineConfig::default()),
        Err(EngineError::CorruptMetadata { .. })
    ));
    std::fs::remove_file(data.join(inspect::TOPICS_DIR)).unwrap();
    std::fs::create_dir(data.join(inspect::TOPICS_DIR)).unwrap();
    // A metadata file whose name is not its topic's, and one whose name is not a topic's.
    for (file, name) in [("t.topic", "u"), ("..topic", "."), ("a b.topic", "a b")] {
        let path = data.join(inspect::TOPICS_DIR).join(file);
        std::fs::write(&path, metadata_file(name, "1")).unwrap();
        match Engine::open(&data, EngineConfig::default()) {
            Err(EngineError::CorruptMetadata { path: p, .. }) => assert_eq!(p, path),
            other => panic!("{file}: {other:?}"),
        }
        std::fs::remove_file(&path).unwrap();
    }
    assert_eq!(
        entries(root.path()),
        BTreeSet::from(["data".to_string(), "file".to_string()])
    );
}
