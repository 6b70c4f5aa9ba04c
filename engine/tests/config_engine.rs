//! `EngineConfig`: the engine's own keys, Kafka's broker-level defaults for topic settings,
//! `from_map` precedence, and the typed builder.

mod common;

use std::collections::HashMap;

use silt_engine::{CleanupPolicy, EngineConfig, EngineError, TopicConfig};
use silt_segment::batch::TimestampType;

const INT: i64 = i32::MAX as i64;

/// Sets `key` to `value` on a default config, expecting an `InvalidConfig` naming both;
/// returns what the error says is expected.
fn assert_refused(key: &str, value: &str) -> String {
    common::assert_refused(key, value, EngineConfig::set)
}

#[test]
fn defaults() {
    let config = EngineConfig::default();
    assert_eq!(config.topic_defaults, TopicConfig::default());
    assert_eq!(config.num_partitions, 1);
    assert_eq!(config.retention_check_interval_ms, 300_000);
    assert_eq!(config.retention_max_segments_per_tick, 64);
    assert_eq!(config.flush_scheduler_interval_ms, 1000);
    assert_eq!(config.flush_offset_checkpoint_interval_ms, 60_000);
    assert_eq!(config.max_open_segments, 1024);
    config.validate().unwrap();
    assert_eq!(EngineConfig::builder().build().unwrap(), config);
    assert_eq!(EngineConfig::from_map([("", ""); 0]).unwrap(), config);
}

#[test]
fn keys_are_sorted_and_all_known() {
    let mut sorted = EngineConfig::KEYS.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted, EngineConfig::KEYS);
    assert_eq!(EngineConfig::KEYS.len(), 29);
    for key in EngineConfig::KEYS {
        // Known keys refuse garbage as a bad value, not as an unknown key.
        assert_refused(key, "garbage");
        assert_refused(key, "");
        assert_refused(key, "99999999999999999999");
    }
}

#[test]
fn own_keys_accept_their_range_and_nothing_else() {
    type Field = fn(&EngineConfig) -> u64;
    let keys: [(&str, i64, Field); 6] = [
        ("num.partitions", INT, |c| c.num_partitions.into()),
        ("log.retention.check.interval.ms", i64::MAX, |c| {
            c.retention_check_interval_ms
        }),
        ("silt.retention.max.segments.per.tick", INT, |c| {
            c.retention_max_segments_per_tick as u64
        }),
        ("log.flush.scheduler.interval.ms", i64::MAX, |c| {
            c.flush_scheduler_interval_ms
        }),
        ("log.flush.offset.checkpoint.interval.ms", INT, |c| {
            c.flush_offset_checkpoint_interval_ms
        }),
        ("silt.max.open.segments", INT, |c| {
            c.max_open_segments as u64
        }),
    ];
    for (key, max, field) in keys {
        for value in [1, 2, max - 1, max] {
            let mut config = EngineConfig::default();
            config.set(key, &value.to_string()).unwrap();
            assert_eq!(
                i128::from(field(&config)),
                i128::from(value),
                "{key}={value}"
            );
            config.validate().unwrap();
        }
        let expected = assert_refused(key, "0");
        assert_eq!(expected, format!("an integer in [1, {max}]"));
        for bad in [
            "-1",
            &(i128::from(max) + 1).to_string(),
            "1.0",
            "ten",
            "1e3",
        ] {
            assert_refused(key, bad);
        }
    }
}

/// Each broker key, its topic key, and a valid non-default value.
const BROKER_KEYS: [(&str, &str, &str); 15] = [
    ("log.segment.bytes", "segment.bytes", "1048576"),
    ("log.roll.ms", "segment.ms", "60000"),
    ("log.index.size.max.bytes", "segment.index.bytes", "4096"),
    ("log.index.interval.bytes", "index.interval.bytes", "128"),
    ("log.retention.ms", "retention.ms", "-1"),
    ("log.retention.bytes", "retention.bytes", "1073741824"),
    ("log.cleanup.policy", "cleanup.policy", "compact,delete"),
    ("message.max.bytes", "max.message.bytes", "2097152"),
    (
        "log.message.timestamp.type",
        "message.timestamp.type",
        "LogAppendTime",
    ),
    ("log.flush.interval.messages", "flush.messages", "100"),
    ("log.flush.interval.ms", "flush.ms", "500"),
    (
        "log.cleaner.delete.retention.ms",
        "delete.retention.ms",
        "0",
    ),
    (
        "log.cleaner.min.compaction.lag.ms",
        "min.compaction.lag.ms",
        "10",
    ),
    (
        "log.cleaner.max.compaction.lag.ms",
        "max.compaction.lag.ms",
        "20",
    ),
    (
        "log.cleaner.min.cleanable.ratio",
        "min.cleanable.dirty.ratio",
        "0.25",
    ),
];

#[test]
fn broker_keys_set_topic_defaults() {
    for (broker_key, topic_key, value) in BROKER_KEYS {
        let mut config = EngineConfig::default();
        config.set(broker_key, value).unwrap();
        let mut expected = TopicConfig::default();
        expected.set(topic_key, value).unwrap();
        assert_ne!(
            expected,
            TopicConfig::default(),
            "{topic_key}={value} is a default"
        );
        assert_eq!(config.topic_defaults, expected, "{broker_key}");
        assert_eq!(config.topic_defaults.get(topic_key).unwrap(), value);
        // Nothing but the topic defaults moved.
        assert_eq!(
            EngineConfig {
                topic_defaults: TopicConfig::default(),
                ..config
            },
            EngineConfig::default()
        );
    }
}

#[test]
fn broker_keys_cover_every_topic_key() {
    let mut topic_keys: Vec<&str> = BROKER_KEYS.iter().map(|(_, t, _)| *t).collect();
    topic_keys.sort_unstable();
    assert_eq!(topic_keys, TopicConfig::KEYS);
}

#[test]
fn broker_key_errors_name_the_broker_key() {
    for (broker_key, value) in [
        ("log.segment.bytes", "60"),
        ("log.roll.ms", "0"),
        ("log.index.size.max.bytes", "4"),
        ("log.retention.ms", "-2"),
        ("log.cleanup.policy", "none"),
        ("log.message.timestamp.type", "Now"),
        ("log.cleaner.min.cleanable.ratio", "1.5"),
        ("message.max.bytes", "-1"),
        ("log.flush.interval.messages", "0"),
    ] {
        let expected = assert_refused(broker_key, value);
        assert!(!expected.is_empty());
    }
    let err = EngineConfig::default()
        .set("log.segment.bytes", "60")
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid value \"60\" for configuration log.segment.bytes: \
         expected an integer in [61, 2147483647]"
    );
}

#[test]
fn topic_keys_are_not_engine_keys() {
    for key in [
        "segment.bytes",
        "retention.ms",
        "no.such.key",
        "NUM.PARTITIONS",
        "",
    ] {
        let err = EngineConfig::default().set(key, "1").unwrap_err();
        assert!(matches!(&err, EngineError::UnknownConfig { key: k } if k == key));
        assert!(err.to_string().contains(&format!("{key:?}")), "{err}");
    }
}

#[test]
fn hours_and_minutes_are_converted_to_milliseconds() {
    let cases = [
        ("log.retention.hours", "1", "retention.ms", 3_600_000),
        ("log.retention.hours", "168", "retention.ms", 604_800_000),
        ("log.retention.hours", "0", "retention.ms", 0),
        ("log.retention.hours", "-1", "retention.ms", -1),
        (
            "log.retention.hours",
            "2147483647",
            "retention.ms",
            INT * 3_600_000,
        ),
        ("log.retention.minutes", "5", "retention.ms", 300_000),
        ("log.retention.minutes", "-1", "retention.ms", -1),
        ("log.roll.hours", "1", "segment.ms", 3_600_000),
        ("log.roll.hours", "24", "segment.ms", 86_400_000),
    ];
    for (key, value, topic_key, ms) in cases {
        let mut config = EngineConfig::default();
        config.set(key, value).unwrap();
        assert_eq!(
            config.topic_defaults.get(topic_key).unwrap(),
            ms.to_string(),
            "{key}={value}"
        );
    }
    for (key, value) in [
        ("log.retention.hours", "-2"),
        ("log.retention.hours", "2147483648"),
        ("log.retention.hours", "1.5"),
        ("log.retention.minutes", "-2"),
        ("log.roll.hours", "0"),
        ("log.roll.hours", "-1"),
    ] {
        assert_refused(key, value);
    }
    assert_eq!(
        assert_refused("log.roll.hours", "0"),
        "an integer in [1, 2147483647]"
    );
}

#[test]
fn from_map_prefers_the_finest_unit_in_any_order() {
    let retention = [
        ("log.retention.ms", "1000"),
        ("log.retention.minutes", "2"),
        ("log.retention.hours", "3"),
    ];
    // Every order of the three gives `log.retention.ms`.
    for order in [
        [0, 1, 2],
        [0, 2, 1],
        [1, 0, 2],
        [1, 2, 0],
        [2, 0, 1],
        [2, 1, 0],
    ] {
        let entries = order.map(|i| retention[i]);
        let config = EngineConfig::from_map(entries).unwrap();
        assert_eq!(config.topic_defaults.retention_ms, 1000, "{entries:?}");
    }
    let minutes_over_hours =
        EngineConfig::from_map([("log.retention.minutes", "2"), ("log.retention.hours", "3")])
            .unwrap();
    assert_eq!(minutes_over_hours.topic_defaults.retention_ms, 120_000);
    let roll = EngineConfig::from_map([("log.roll.ms", "5"), ("log.roll.hours", "1")]).unwrap();
    assert_eq!(roll.topic_defaults.segment_ms, 5);
}

#[test]
fn from_map_takes_the_last_value_of_a_repeated_key() {
    let config =
        EngineConfig::from_map([("num.partitions", "3"), ("num.partitions", "7")]).unwrap();
    assert_eq!(config.num_partitions, 7);
}

#[test]
fn from_map_reads_owned_strings() {
    let map: HashMap<String, String> = [
        ("num.partitions", "4"),
        ("log.segment.bytes", "1048576"),
        ("log.cleanup.policy", "compact"),
        ("silt.max.open.segments", "16"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let config = EngineConfig::from_map(&map).unwrap();
    assert_eq!(config.num_partitions, 4);
    assert_eq!(config.max_open_segments, 16);
    assert_eq!(config.topic_defaults.segment_bytes, 1 << 20);
    assert_eq!(config.topic_defaults.cleanup_policy, CleanupPolicy::COMPACT);
}

#[test]
fn from_map_reports_bad_entries_and_conflicts() {
    let err = EngineConfig::from_map([("num.partitions", "2"), ("bogus", "1")]).unwrap_err();
    assert!(matches!(err, EngineError::UnknownConfig { key } if key == "bogus"));
    let err = EngineConfig::from_map([("num.partitions", "0")]).unwrap_err();
    assert_eq!(common::invalid(err).0, "num.partitions");
    let err = EngineConfig::from_map([
        ("log.cleaner.min.compaction.lag.ms", "100"),
        ("log.cleaner.max.compaction.lag.ms", "50"),
    ])
    .unwrap_err();
    assert_eq!(common::invalid(err).0, "min.compaction.lag.ms");
}

#[test]
fn builder_sets_every_field() {
    let topic_defaults = TopicConfig::builder()
        .segment_bytes(1 << 20)
        .message_timestamp_type(TimestampType::LogAppendTime)
        .build()
        .unwrap();
    let config = EngineConfig::builder()
        .topic_defaults(topic_defaults.clone())
        .num_partitions(8)
        .retention_check_interval_ms(1)
        .retention_max_segments_per_tick(1)
        .flush_scheduler_interval_ms(2)
        .flush_offset_checkpoint_interval_ms(3)
        .max_open_segments(1)
        .build()
        .unwrap();
    assert_eq!(
        config,
        EngineConfig {
            topic_defaults,
            num_partitions: 8,
            retention_check_interval_ms: 1,
            retention_max_segments_per_tick: 1,
            flush_scheduler_interval_ms: 2,
            flush_offset_checkpoint_interval_ms: 3,
            max_open_segments: 1,
            ..EngineConfig::default()
        }
    );
    let by_key = EngineConfig::builder()
        .set("log.retention.hours", "1")
        .unwrap()
        .build()
        .unwrap();
    assert_eq!(by_key.topic_defaults.retention_ms, 3_600_000);
}

#[test]
fn builder_validates_every_field() {
    let b = EngineConfig::builder;
    let cases = [
        (b().num_partitions(0), "num.partitions", "0"),
        (b().num_partitions(1 << 31), "num.partitions", "2147483648"),
        (
            b().retention_check_interval_ms(0),
            "log.retention.check.interval.ms",
            "0",
        ),
        (
            b().retention_check_interval_ms(u64::MAX),
            "log.retention.check.interval.ms",
            "18446744073709551615",
        ),
        (
            b().retention_max_segments_per_tick(0),
            "silt.retention.max.segments.per.tick",
            "0",
        ),
        (
            b().flush_scheduler_interval_ms(0),
            "log.flush.scheduler.interval.ms",
            "0",
        ),
        (
            b().flush_offset_checkpoint_interval_ms(0),
            "log.flush.offset.checkpoint.interval.ms",
            "0",
        ),
        (
            b().flush_offset_checkpoint_interval_ms(1 << 31),
            "log.flush.offset.checkpoint.interval.ms",
            "2147483648",
        ),
        (b().max_open_segments(0), "silt.max.open.segments", "0"),
        (
            b().max_open_segments(1 << 31),
            "silt.max.open.segments",
            "2147483648",
        ),
        // Topic defaults built by hand, past their builder, are checked too.
        (
            b().topic_defaults(TopicConfig {
                segment_bytes: 1,
                ..TopicConfig::default()
            }),
            "segment.bytes",
            "1",
        ),
    ];
    for (builder, key, value) in cases {
        let (got_key, got_value, _) = common::invalid(builder.build().unwrap_err());
        assert_eq!((got_key.as_str(), got_value.as_str()), (key, value));
    }
}

#[test]
fn cleaner_keys_have_kafkas_names_defaults_and_ranges() {
    let defaults = EngineConfig::default();
    assert!(defaults.cleaner_enable);
    assert_eq!(defaults.cleaner_backoff_ms, 15_000);
    assert_eq!(defaults.cleaner_dedupe_buffer_bytes, 128 << 20);
    let config = EngineConfig::from_map([
        ("log.cleaner.enable", "FALSE"),
        ("log.cleaner.backoff.ms", "250"),
        ("log.cleaner.dedupe.buffer.size", "1048576"),
    ])
    .unwrap();
    assert!(!config.cleaner_enable);
    assert_eq!(config.cleaner_backoff_ms, 250);
    assert_eq!(config.cleaner_dedupe_buffer_bytes, 1 << 20);
    assert_eq!(assert_refused("log.cleaner.enable", "yes"), "true or false");
    assert_refused("log.cleaner.backoff.ms", "0");
    assert_refused("log.cleaner.dedupe.buffer.size", "1024");
    let built = EngineConfig::builder()
        .cleaner_enable(false)
        .cleaner_backoff_ms(5)
        .cleaner_dedupe_buffer_bytes(1 << 20)
        .build()
        .unwrap();
    assert_eq!((built.cleaner_enable, built.cleaner_backoff_ms), (false, 5));
    assert!(EngineConfig::builder()
        .cleaner_backoff_ms(0)
        .build()
        .is_err());
}

#[test]
fn offsets_topic_keys_have_kafkas_names_defaults_and_ranges() {
    let defaults = EngineConfig::default();
    assert_eq!(defaults.offsets_topic_num_partitions, 50);
    assert_eq!(defaults.offsets_topic_segment_bytes, 100 << 20);
    let config = EngineConfig::from_map([
        ("offsets.topic.num.partitions", "3"),
        ("offsets.topic.segment.bytes", "1048576"),
    ])
    .unwrap();
    assert_eq!(config.offsets_topic_num_partitions, 3);
    assert_eq!(config.offsets_topic_segment_bytes, 1 << 20);
    assert_refused("offsets.topic.num.partitions", "0");
    assert_refused("offsets.topic.segment.bytes", "0");
    let built = EngineConfig::builder()
        .offsets_topic_num_partitions(7)
        .build()
        .unwrap();
    assert_eq!(built.offsets_topic_num_partitions, 7);
}
