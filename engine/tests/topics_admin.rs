//! Topic administration: create, list, describe, add partitions, alter configuration and
//! delete, each persisted and restored by a reopen; every refusal is a typed error that
//! names what was wrong and changes nothing (alter is all or nothing, also on disk); data in
//! old and added partitions stays intact; a deleted topic's directories go, and a new topic
//! of the same name starts empty at offset 0.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use silt_engine::{
    Engine, EngineConfig, EngineError, NewTopic, OffsetSpec, TopicConfig, MAX_PARTITIONS,
};

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn reopen(engine: Engine, dir: &Path) -> Engine {
    engine.close().unwrap();
    drop(engine);
    common::open(dir)
}

/// Names of the partition directories (`<topic>-<n>`) of `topic` in `dir`, sorted.
fn partition_dirs(dir: &Path, topic: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| {
            n.strip_prefix(topic)
                .and_then(|rest| rest.strip_prefix('-'))
                .is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
        })
        .collect();
    names.sort();
    names
}

fn overrides(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Appends `batches` batches of 10 records to a partition, numbered from its log end.
fn fill(engine: &Engine, topic: &str, partition: u32, batches: u64) {
    let end = engine
        .list_offsets(topic, partition, OffsetSpec::Latest)
        .unwrap()
        .unwrap()
        .offset as u64;
    for i in 0..batches {
        engine
            .append(topic, partition, &common::batch(end + i * 10, 10))
            .unwrap();
    }
}

/// Every value of a partition, in offset order, from its log start.
fn values(engine: &Engine, topic: &str, partition: u32) -> Vec<String> {
    let start = engine.log(topic, partition).unwrap().log_start_offset();
    common::read_all(engine, topic, partition, start)
        .into_iter()
        .map(|(offset, value)| {
            assert_eq!(value, format!("value-{offset}"), "value of offset {offset}");
            value
        })
        .collect()
}

#[test]
fn create_list_and_describe() {
    let dir = tempfile::tempdir().unwrap();
    let engine = common::open(dir.path());
    let before = now_ms();
    engine
        .create_topic(
            NewTopic::new("orders", 3)
                .config("retention.ms", "86400000")
                .config("cleanup.policy", "compact,delete"),
        )
        .unwrap();
    engine.create_topic(NewTopic::new("audit", 1)).unwrap();
    let after = now_ms();

    assert_eq!(engine.list_topics(), vec!["audit", "orders"], "sorted");
    let orders = engine.describe_topic("orders").unwrap();
    assert_eq!(orders.name, "orders");
    assert!((before..=after).contains(&orders.created_ms));
    assert_eq!(
        orders.overrides,
        overrides(&[
            ("cleanup.policy", "compact,delete"),
            ("retention.ms", "86400000")
        ])
    );
    let expected = EngineConfig::default()
        .topic_defaults
        .with_overrides([
            ("retention.ms", "86400000"),
            ("cleanup.policy", "compact,delete"),
        ])
        .unwrap();
    assert_eq!(orders.config, expected);
    assert_eq!(orders.partitions.len(), 3);
    for (i, p) in orders.partitions.iter().enumerate() {
        assert_eq!(p.partition, i as u32);
        assert_eq!((p.log_start_offset, p.log_end_offset), (0, 0));
        assert_eq!(
            (p.size_bytes, p.segments),
            (0, 0),
            "segments come with the first append"
        );
    }
    assert_eq!(
        partition_dirs(dir.path(), "orders"),
        vec!["orders-0", "orders-1", "orders-2"]
    );
    let audit = engine.describe_topic("audit").unwrap();
    assert!(audit.overrides.is_empty());
    assert_eq!(audit.config, EngineConfig::default().topic_defaults);
}

#[test]
fn describe_reports_offsets_sizes_and_segment_counts() {
    let dir = tempfile::tempdir().unwrap();
    let engine = common::open(dir.path());
    engine
        .create_topic(common::small_topic("t", 2, 4096))
        .unwrap();
    // (first offset, bytes) of every batch appended.
    let mut appended = Vec::new();
    for i in 0..40u64 {
        let batch = common::batch(i * 10, 10);
        let info = engine.append("t", 0, &batch).unwrap();
        appended.push((info.first_offset, batch.len() as u64));
    }
    engine.delete_records("t", 0, 25).unwrap();

    let description = engine.describe_topic("t").unwrap();
    let p0 = &description.partitions[0];
    let log = engine.log("t", 0).unwrap();
    assert_eq!(p0.log_start_offset, 25);
    assert_eq!(p0.log_end_offset, 400);
    assert!(p0.segments > 2, "4 KiB segments rolled: {}", p0.segments);
    assert_eq!(p0.segments, log.segment_count());
    let bases = log.segment_base_offsets().unwrap();
    assert_eq!(p0.segments, bases.len());
    assert!(bases[0] <= 25 && bases.get(1).is_none_or(|&b| b > 25));
    // The size is the bytes of every batch the remaining segments hold.
    let held: u64 = appended
        .iter()
        .filter(|(first, _)| *first >= bases[0])
        .map(|(_, size)| size)
        .sum();
    assert_eq!(p0.size_bytes, held);
    assert_eq!(p0.size_bytes, log.size_bytes().unwrap());

    let p1 = &description.partitions[1];
    assert_eq!((p1.log_start_offset, p1.log_end_offset), (0, 0));
    assert_eq!((p1.size_bytes, p1.segments), (0, 0));
}

#[test]
fn topics_partitions_and_configs_are_restored_by_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let engine = common::open(dir.path());
    engine
        .create_topic(common::small_topic("a", 2, 4096).config("retention.bytes", "1000000"))
        .unwrap();
    engine.create_topic(NewTopic::new("b", 1)).unwrap();
    engine.add_partitions("a", 4).unwrap();
    engine
        .alter_topic_config("b", [("max.message.bytes", "5000")], [])
        .unwrap();
    fill(&engine, "a", 0, 30);
    fill(&engine, "a", 3, 5);
    fill(&engine, "b", 0, 2);
    let before: Vec<_> = engine
        .list_topics()
        .iter()
        .map(|t| engine.describe_topic(t).unwrap())
        .collect();

    let engine = reopen(engine, dir.path());
    assert_eq!(engine.list_topics(), vec!["a", "b"]);
    let after: Vec<_> = engine
        .list_topics()
        .iter()
        .map(|t| engine.describe_topic(t).unwrap())
        .collect();
    assert_eq!(
        after, before,
        "names, partitions, offsets, sizes, overrides and configs"
    );
    assert_eq!(after[0].partitions.len(), 4);
    assert_eq!(after[1].config.max_message_bytes, 5000);
    assert_eq!(engine.log("b", 0).unwrap().config().max_message_bytes, 5000);
    assert_eq!(values(&engine, "a", 0).len(), 300);
    assert_eq!(values(&engine, "a", 3).len(), 50);
    assert_eq!(values(&engine, "b", 0).len(), 20);
}

#[test]
fn the_effective_config_is_recomputed_from_the_engine_defaults_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let engine = common::open(dir.path());
    engine
        .create_topic(NewTopic::new("t", 1).config("retention.ms", "1000"))
        .unwrap();
    engine.close().unwrap();
    drop(engine);

    // Only overrides are stored: a changed engine default applies to the other keys.
    let mut config = common::quiet_config();
    config.topic_defaults.retention_ms = 5000;
    config.topic_defaults.retention_bytes = 123_456;
    let engine = Engine::open(dir.path(), config).unwrap();
    let description = engine.describe_topic("t").unwrap();
    assert_eq!(
        description.overrides,
        overrides(&[("retention.ms", "1000")])
    );
    assert_eq!(description.config.retention_ms, 1000, "the override wins");
    assert_eq!(
        description.config.retention_bytes, 123_456,
        "the new default applies"
    );
}

#[test]
fn creating_an_existing_topic_fails_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let engine = common::open(dir.path());
    engine.create_topic(NewTopic::new("t", 2)).unwrap();
    fill(&engine, "t", 1, 1);
    let err = engine
        .create_topic(NewTopic::new("t", 5).config("retention.ms", "1"))
        .unwrap_err();
    assert!(
        matches!(&err, EngineError::TopicExists { topic } if topic == "t"),
        "{err:?}"
    );
    let description = engine.describe_topic("t").unwrap();
    assert_eq!(description.partitions.len(), 2);
    assert!(description.overrides.is_empty());
    assert_eq!(values(&engine, "t", 1).len(), 10);

    let engine = reopen(engine, dir.path());
    assert!(matches!(
        engine.create_topic(NewTopic::new("t", 1)),
        Err(EngineError::TopicExists { .. })
    ));
    assert_eq!(engine.describe_topic("t").unwrap().partitions.len(), 2);
}

#[test]
fn unknown_topics_are_refused_by_every_operation() {
    let dir = tempfile::tempdir().unwrap();
    let engine = common::open(dir.path());
    engine.create_topic(NewTopic::new("known", 1)).unwrap();
    let unknown = |err: EngineError| {
        assert!(
            matches!(&err, EngineError::UnknownTopic { topic } if topic == "nope"),
            "{err:?}"
        );
    };
    unknown(engine.describe_topic("nope").unwrap_err());
    unknown(engine.delete_topic("nope").unwrap_err());
    unknown(engine.add_partitions("nope", 3).unwrap_err());
    unknown(
        engine
            .alter_topic_config("nope", [("retention.ms", "1")], [])
            .unwrap_err(),
    );
    unknown(engine.log("nope", 0).unwrap_err());
    assert_eq!(engine.list_topics(), vec!["known"]);
}

#[test]
fn invalid_partition_counts_are_refused_with_the_count() {
    let dir = tempfile::tempdir().unwrap();
    let engine = common::open(dir.path());
    let refused = |err: EngineError, want: u32| match err {
        EngineError::InvalidPartitionCount { topic, count, .. } => {
            assert_eq!((topic.as_str(), count), ("t", want));
        }
        other => panic!("expected InvalidPartitionCount, got {other:?}"),
    };
    refused(engine.create_topic(NewTopic::new("t", 0)).unwrap_err(), 0);
    refused(
        engine
            .create_topic(NewTopic::new("t", MAX_PARTITIONS + 1))
            .unwrap_err(),
        MAX_PARTITIONS + 1,
    );
    assert!(engine.list_topics().is_empty());
    assert!(
        partition_dirs(dir.path(), "t").is_empty(),
        "nothing was created"
    );

    engine.create_topic(NewTopic::new("t", 3)).unwrap();
    refused(engine.add_partitions("t", 2).unwrap_err(), 2);
    refused(engine.add_partitions("t", 3).unwrap_err(), 3);
    refused(engine.add_partitions("t", 0).unwrap_err(), 0);
    refused(
        engine.add_partitions("t", MAX_PARTITIONS + 1).unwrap_err(),
        MAX_PARTITIONS + 1,
    );
    assert_eq!(engine.describe_topic("t").unwrap().partitions.len(), 3);
    assert_eq!(partition_dirs(dir.path(), "t"), vec!["t-0", "t-1", "t-2"]);

    let engine = reopen(engine, dir.path());
    assert_eq!(engine.describe_topic("t").unwrap().partitions.len(), 3);
}

#[test]
fn unknown_config_keys_are_named_in_create_and_alter() {
    let dir = tempfile::tempdir().unwrap();
    let engine = common::open(dir.path());
    let named = |err: EngineError, want: &str| {
        let shown = err.to_string();
        match err {
            EngineError::UnknownConfig { key } => assert_eq!(key, want),
            other => panic!("expected UnknownConfig, got {other:?}"),
        }
        assert!(shown.contains(want), "{shown}");
    };
    named(
        engine
            .create_topic(NewTopic::new("t", 1).config("retention.mss", "1"))
            .unwrap_err(),
        "retention.mss",
    );
    assert!(engine.list_topics().is_empty());
    assert!(partition_dirs(dir.path(), "t").is_empty());

    engine.create_topic(NewTopic::new("t", 1)).unwrap();
    named(
        engine
            .alter_topic_config("t", [("segment.size", "1")], [])
            .unwrap_err(),
        "segment.size",
    );
    named(
        engine
            .alter_topic_config("t", [], ["no.such.key"])
            .unwrap_err(),
        "no.such.key",
    );
    assert!(engine.describe_topic("t").unwrap().overrides.is_empty());
}

#[test]
fn invalid_config_values_are_named_with_key_and_value() {
    let dir = tempfile::tempdir().unwrap();
    let engine = common::open(dir.path());
    let named = |err: EngineError, want_key: &str, want_value: &str| {
        let shown = err.to_string();
        match err {
            EngineError::InvalidConfig { key, value, .. } => {
                assert_eq!((key.as_str(), value.as_str()), (want_key, want_value));
            }
            other => panic!("expected InvalidConfig, got {other:?}"),
        }
        assert!(
            shown.contains(want_key) && shown.contains(want_value),
            "{shown}"
        );
    };
    named(
        engine
            .create_topic(NewTopic::new("t", 1).config("retention.ms", "soon"))
            .unwrap_err(),
        "retention.ms",
        "soon",
    );
    named(
        engine
            .create_topic(NewTopic::new("t", 1).config("segment.bytes", "12"))
            .unwrap_err(),
        "segment.bytes",
        "12",
    );
    assert!(engine.list_topics().is_empty());
    assert!(partition_dirs(dir.path(), "t").is_empty());

    engine.create_topic(NewTopic::new("t", 1)).unwrap();
    named(
        engine
            .alter_topic_config("t", [("cleanup.policy", "shred")], [])
            .unwrap_err(),
        "cleanup.policy",
        "shred",
    );
    named(
        engine
            .alter_topic_config("t", [("retention.bytes", "-2")], [])
            .unwrap_err(),
        "retention.bytes",
        "-2",
    );
}

#[test]
fn names_differing_only_by_dot_and_underscore_collide() {
    let dir = tempfile::tempdir().unwrap();
    let engine = common::open(dir.path());
    engine.create_topic(NewTopic::new("a.b", 1)).unwrap();
    let err = engine.create_topic(NewTopic::new("a_b", 1)).unwrap_err();
    match &err {
        EngineError::InvalidTopicName { name, .. } => {
            assert!(name.contains("a_b") && name.contains("a.b"), "{name}");
        }
        other => panic!("expected InvalidTopicName, got {other:?}"),
    }
    assert!(partition_dirs(dir.path(), "a_b").is_empty());
    // "a-b" is not a collision.
    engine.create_topic(NewTopic::new("a-b", 1)).unwrap();

    let engine = reopen(engine, dir.path());
    assert!(matches!(
        engine.create_topic(NewTopic::new("a_b", 1)),
        Err(EngineError::InvalidTopicName { .. })
    ));
    engine.delete_topic("a.b").unwrap();
    engine.create_topic(NewTopic::new("a_b", 1)).unwrap();
    assert!(matches!(
        engine.create_topic(NewTopic::new("a.b", 1)),
        Err(EngineError::InvalidTopicName { .. })
    ));
    assert_eq!(engine.list_topics(), vec!["a-b", "a_b"]);
}

#[test]
fn alter_sets_and_removes_overrides_and_the_logs_use_them() {
    let dir = tempfile::tempdir().unwrap();
    let engine = common::open(dir.path());
    engine
        .create_topic(NewTopic::new("t", 2).config("retention.ms", "1000"))
        .unwrap();
    let config = engine
        .alter_topic_config(
            "t",
            [("max.message.bytes", "200"), ("retention.bytes", "99999")],
            ["retention.ms"],
        )
        .unwrap();
    let defaults = EngineConfig::default().topic_defaults;
    assert_eq!(config.max_message_bytes, 200);
    assert_eq!(config.retention_bytes, 99_999);
    assert_eq!(
        config.retention_ms, defaults.retention_ms,
        "removed: back to the default"
    );
    let description = engine.describe_topic("t").unwrap();
    assert_eq!(
        description.overrides,
        overrides(&[("max.message.bytes", "200"), ("retention.bytes", "99999")])
    );
    assert_eq!(description.config, config);
    for partition in 0..2 {
        assert_eq!(*engine.log("t", partition).unwrap().config(), config);
    }
    // The logs enforce the new max.message.bytes at once.
    let big = common::batch(0, 20);
    assert!(big.len() > 200);
    assert!(matches!(
        engine.append("t", 1, &big),
        Err(EngineError::RecordTooLarge { max: 200, .. })
    ));

    let engine = reopen(engine, dir.path());
    assert_eq!(engine.describe_topic("t").unwrap().config, config);
    assert!(matches!(
        engine.append("t", 0, &big),
        Err(EngineError::RecordTooLarge { max: 200, .. })
    ));
}

/// Overrides to set, as `alter_topic_config` takes them.
type Settings = Vec<(&'static str, &'static str)>;

#[test]
fn alter_is_all_or_nothing_also_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let engine = common::open(dir.path());
    engine
        .create_topic(NewTopic::new("t", 1).config("retention.ms", "1000"))
        .unwrap();
    let before = engine.describe_topic("t").unwrap();

    let attempts: Vec<(Settings, Vec<&str>)> = vec![
        (vec![("retention.bytes", "5"), ("bogus.key", "1")], vec![]),
        (vec![("bogus.key", "1"), ("retention.bytes", "5")], vec![]),
        (
            vec![("retention.bytes", "5"), ("segment.bytes", "1")],
            vec![],
        ),
        (
            vec![("retention.bytes", "5")],
            vec!["retention.ms", "bogus.key"],
        ),
        (vec![("max.message.bytes", "7")], vec!["bogus.key"]),
        (
            vec![
                ("min.compaction.lag.ms", "10"),
                ("max.compaction.lag.ms", "5"),
            ],
            vec![],
        ),
    ];
    for (set, remove) in &attempts {
        let result = engine.alter_topic_config("t", set.iter().copied(), remove.iter().copied());
        assert!(result.is_err(), "{set:?} / {remove:?} was accepted");
        let now = engine.describe_topic("t").unwrap();
        assert_eq!(now.overrides, before.overrides, "{set:?} / {remove:?}");
        assert_eq!(now.config, before.config, "{set:?} / {remove:?}");
        assert_eq!(*engine.log("t", 0).unwrap().config(), before.config);
    }

    let engine = reopen(engine, dir.path());
    let after = engine.describe_topic("t").unwrap();
    assert_eq!(after.overrides, before.overrides);
    assert_eq!(after.config, before.config);
}

#[test]
fn added_partitions_start_empty_and_old_data_is_intact() {
    let dir = tempfile::tempdir().unwrap();
    let engine = common::open(dir.path());
    engine
        .create_topic(common::small_topic("t", 2, 4096).config("retention.ms", "-1"))
        .unwrap();
    fill(&engine, "t", 0, 30);
    fill(&engine, "t", 1, 3);
    engine.add_partitions("t", 5).unwrap();

    let description = engine.describe_topic("t").unwrap();
    assert_eq!(description.partitions.len(), 5);
    assert_eq!(
        partition_dirs(dir.path(), "t"),
        vec!["t-0", "t-1", "t-2", "t-3", "t-4"]
    );
    for p in 2..5 {
        assert_eq!(description.partitions[p].log_end_offset, 0);
        assert_eq!(
            engine.log("t", p as u32).unwrap().config().segment_bytes,
            4096
        );
    }
    assert!(matches!(
        engine.fetch("t", 5, 0, 1),
        Err(EngineError::UnknownPartition {
            partition: 5,
            partitions: 5,
            ..
        })
    ));
    let info = engine.append("t", 4, &common::batch(0, 10)).unwrap();
    assert_eq!(info.first_offset, 0);
    fill(&engine, "t", 1, 1);
    assert_eq!(values(&engine, "t", 0).len(), 300);
    assert_eq!(values(&engine, "t", 1).len(), 40);
    assert_eq!(values(&engine, "t", 4).len(), 10);

    let engine = reopen(engine, dir.path());
    assert_eq!(engine.describe_topic("t").unwrap().partitions.len(), 5);
    assert_eq!(values(&engine, "t", 0).len(), 300);
    assert_eq!(values(&engine, "t", 1).len(), 40);
    assert!(values(&engine, "t", 2).is_empty());
    assert_eq!(values(&engine, "t", 4).len(), 10);
    engine.add_partitions("t", 6).unwrap();
    assert_eq!(engine.describe_topic("t").unwrap().partitions.len(), 6);
}

#[test]
fn deleting_a_topic_removes_its_directories_and_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let engine = common::open(dir.path());
    engine
        .create_topic(common::small_topic("gone", 3, 4096))
        .unwrap();
    engine.create_topic(NewTopic::new("kept", 1)).unwrap();
    fill(&engine, "gone", 0, 20);
    fill(&engine, "kept", 0, 2);
    assert_eq!(partition_dirs(dir.path(), "gone").len(), 3);
    let metadata = dir.path().join("__silt_topics");
    let files = |d: &Path| -> Vec<String> {
        std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect()
    };
    assert!(files(&metadata).iter().any(|f| f.starts_with("gone")));

    engine.delete_topic("gone").unwrap();
    assert_eq!(engine.list_topics(), vec!["kept"]);
    assert!(partition_dirs(dir.path(), "gone").is_empty());
    assert!(!files(&metadata).iter().any(|f| f.starts_with("gone")));
    assert!(matches!(
        engine.fetch("gone", 0, 0, 1),
        Err(EngineError::UnknownTopic { .. })
    ));
    assert!(matches!(
        engine.delete_topic("gone"),
        Err(EngineError::UnknownTopic { .. })
    ));

    let engine = reopen(engine, dir.path());
    assert_eq!(engine.list_topics(), vec!["kept"]);
    assert!(partition_dirs(dir.path(), "gone").is_empty());
    assert_eq!(values(&engine, "kept", 0).len(), 20);
}

#[test]
fn a_recreated_topic_starts_empty_at_offset_zero() {
    let dir = tempfile::tempdir().unwrap();
    let engine = common::open(dir.path());
    engine
        .create_topic(common::small_topic("t", 2, 4096).config("retention.ms", "1000"))
        .unwrap();
    fill(&engine, "t", 0, 30);
    engine.delete_records("t", 0, 150).unwrap();
    engine.flush().unwrap();
    engine.delete_topic("t").unwrap();

    engine.create_topic(NewTopic::new("t", 1)).unwrap();
    let description = engine.describe_topic("t").unwrap();
    assert!(description.overrides.is_empty(), "old overrides are gone");
    assert_eq!(description.partitions.len(), 1);
    let p0 = &description.partitions[0];
    assert_eq!(
        (p0.log_start_offset, p0.log_end_offset, p0.segments),
        (0, 0, 0)
    );
    assert!(engine.fetch("t", 0, 0, 1024).unwrap().is_empty());
    let info = engine.append("t", 0, &common::batch(0, 3)).unwrap();
    assert_eq!(info.first_offset, 0);

    let engine = reopen(engine, dir.path());
    let p0 = &engine.describe_topic("t").unwrap().partitions[0];
    assert_eq!((p0.log_start_offset, p0.log_end_offset), (0, 3));
    assert_eq!(
        values(&engine, "t", 0),
        vec!["value-0", "value-1", "value-2"]
    );
    assert_eq!(partition_dirs(dir.path(), "t"), vec!["t-0"]);
}

#[test]
fn a_topic_recreated_after_a_reopen_starts_empty_too() {
    let dir = tempfile::tempdir().unwrap();
    let engine = common::open(dir.path());
    engine
        .create_topic(common::small_topic("t", 1, 4096))
        .unwrap();
    fill(&engine, "t", 0, 30);
    engine.delete_records("t", 0, 200).unwrap();
    let engine = reopen(engine, dir.path());
    engine.delete_topic("t").unwrap();
    let engine = reopen(engine, dir.path());
    assert!(engine.list_topics().is_empty());

    engine.create_topic(NewTopic::new("t", 1)).unwrap();
    let engine = reopen(engine, dir.path());
    let log = engine.log("t", 0).unwrap();
    assert_eq!(log.log_start_offset(), 0);
    assert_eq!(log.log_end_offset().unwrap(), 0);
    assert_eq!(
        engine
            .append("t", 0, &common::batch(0, 1))
            .unwrap()
            .first_offset,
        0
    );
    // A crash image taken now also starts at 0: no stale log start comes back.
    let crashed = tempfile::tempdir().unwrap();
    common::crash_image(dir.path(), crashed.path());
    let engine2 = common::open(crashed.path());
    assert_eq!(engine2.log("t", 0).unwrap().log_start_offset(), 0);
    assert_eq!(values(&engine2, "t", 0), vec!["value-0"]);
}

#[test]
fn the_topic_config_round_trips_through_new_topic_topic_config() {
    let dir = tempfile::tempdir().unwrap();
    let engine = common::open(dir.path());
    let config = TopicConfig::builder()
        .segment_bytes(1 << 20)
        .retention_ms(-1)
        .retention_bytes(1 << 30)
        .build()
        .unwrap();
    engine
        .create_topic(NewTopic::new("t", 1).topic_config(&config))
        .unwrap();
    assert_eq!(engine.describe_topic("t").unwrap().config, config);
    let engine = reopen(engine, dir.path());
    assert_eq!(engine.describe_topic("t").unwrap().config, config);
}
