//! `TopicConfig`: Kafka's topic-level keys, their defaults and ranges, parsing, rendering,
//! overrides and the typed builder.

mod common;

use proptest::prelude::*;
use silt_engine::{CleanupPolicy, EngineError, TopicConfig};
use silt_segment::batch::TimestampType;

/// Every integer key with its accepted range and the field it sets.
struct IntKey {
    key: &'static str,
    min: i64,
    max: i64,
    field: fn(&TopicConfig) -> i128,
}

const INT: i64 = i32::MAX as i64;

fn int_keys() -> Vec<IntKey> {
    let k = |key, min, max, field| IntKey {
        key,
        min,
        max,
        field,
    };
    vec![
        k("delete.retention.ms", 0, i64::MAX, |c| {
            c.delete_retention_ms.into()
        }),
        k("flush.messages", 1, i64::MAX, |c| c.flush_messages.into()),
        k("flush.ms", 0, i64::MAX, |c| c.flush_ms.into()),
        k("index.interval.bytes", 0, INT, |c| {
            c.index_interval_bytes.into()
        }),
        k("max.compaction.lag.ms", 1, i64::MAX, |c| {
            c.max_compaction_lag_ms.into()
        }),
        k("max.message.bytes", 0, INT, |c| c.max_message_bytes.into()),
        k("min.compaction.lag.ms", 0, i64::MAX, |c| {
            c.min_compaction_lag_ms.into()
        }),
        k("retention.bytes", -1, i64::MAX, |c| {
            c.retention_bytes.into()
        }),
        k("retention.ms", -1, i64::MAX, |c| c.retention_ms.into()),
        k("segment.bytes", 61, INT, |c| c.segment_bytes.into()),
        k("segment.index.bytes", 12, INT, |c| {
            c.segment_index_bytes.into()
        }),
        k("segment.ms", 1, i64::MAX, |c| c.segment_ms.into()),
    ]
}

/// Sets `key` to `value` on a default config, expecting an `InvalidConfig` naming both;
/// returns what the error says is expected.
fn assert_refused(key: &str, value: &str) -> String {
    common::assert_refused(key, value, TopicConfig::set)
}

#[test]
fn defaults_are_kafkas() {
    let expected = [
        ("cleanup.policy", "delete"),
        ("delete.retention.ms", "86400000"),
        ("flush.messages", "9223372036854775807"),
        ("flush.ms", "9223372036854775807"),
        ("index.interval.bytes", "4096"),
        ("max.compaction.lag.ms", "9223372036854775807"),
        ("max.message.bytes", "1048588"),
        ("message.timestamp.type", "CreateTime"),
        ("min.cleanable.dirty.ratio", "0.5"),
        ("min.compaction.lag.ms", "0"),
        ("retention.bytes", "-1"),
        ("retention.ms", "604800000"),
        ("segment.bytes", "1073741824"),
        ("segment.index.bytes", "10485760"),
        ("segment.ms", "604800000"),
    ];
    let entries = TopicConfig::default().entries();
    let entries: Vec<(&str, &str)> = entries.iter().map(|(k, v)| (*k, v.as_str())).collect();
    assert_eq!(entries, expected);
    assert!(TopicConfig::default().validate().is_ok());
    assert_eq!(
        TopicConfig::builder().build().unwrap(),
        TopicConfig::default()
    );
}

#[test]
fn keys_are_sorted_and_match_entries() {
    let mut sorted = TopicConfig::KEYS.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted, TopicConfig::KEYS);
    assert_eq!(TopicConfig::KEYS.len(), 15);
    let entry_keys: Vec<&str> = TopicConfig::default()
        .entries()
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(entry_keys, TopicConfig::KEYS);
}

#[test]
fn every_key_is_known_and_refuses_garbage() {
    for key in TopicConfig::KEYS {
        assert!(TopicConfig::default().get(key).is_ok(), "{key}");
        for garbage in ["", "garbage", "99999999999999999999"] {
            assert_refused(key, garbage);
        }
    }
}

#[test]
fn integer_keys_accept_their_range_and_nothing_else() {
    for IntKey {
        key,
        min,
        max,
        field,
    } in int_keys()
    {
        for value in [min, max, min.saturating_add(1), max.saturating_sub(1)] {
            let mut config = TopicConfig::default();
            config.set(key, &value.to_string()).unwrap();
            assert_eq!(field(&config), i128::from(value), "{key}={value}");
            assert_eq!(config.get(key).unwrap(), value.to_string());
        }
        let expected = assert_refused(key, &(i128::from(min) - 1).to_string());
        assert_eq!(expected, format!("an integer in [{min}, {max}]"), "{key}");
        assert_refused(key, &(i128::from(max) + 1).to_string());
        for bad in [
            "",
            " ",
            "abc",
            "1.5",
            "1e3",
            "0x10",
            "1_000",
            "--1",
            "10 0",
            "١٢",
            "-99999999999999999999",
            "99999999999999999999",
        ] {
            assert_refused(key, bad);
        }
    }
}

#[test]
fn integers_are_trimmed_and_may_have_a_plus_sign_as_in_java() {
    let mut config = TopicConfig::default();
    config.set("segment.bytes", " 1048576\t").unwrap();
    assert_eq!(config.segment_bytes, 1 << 20);
    config.set("retention.ms", "+60000").unwrap();
    assert_eq!(config.retention_ms, 60_000);
}

#[test]
fn cleanup_policy_accepts_kafkas_lists() {
    let cases = [
        ("delete", CleanupPolicy::DELETE, "delete"),
        ("compact", CleanupPolicy::COMPACT, "compact"),
        (
            "compact,delete",
            CleanupPolicy::COMPACT_DELETE,
            "compact,delete",
        ),
        (
            "delete,compact",
            CleanupPolicy::COMPACT_DELETE,
            "compact,delete",
        ),
        (
            "compact, delete",
            CleanupPolicy::COMPACT_DELETE,
            "compact,delete",
        ),
        (
            "delete , compact",
            CleanupPolicy::COMPACT_DELETE,
            "compact,delete",
        ),
        (" compact ", CleanupPolicy::COMPACT, "compact"),
        ("delete,delete", CleanupPolicy::DELETE, "delete"),
    ];
    for (value, policy, rendered) in cases {
        let mut config = TopicConfig::default();
        config.set("cleanup.policy", value).unwrap();
        assert_eq!(config.cleanup_policy, policy, "{value:?}");
        assert_eq!(config.get("cleanup.policy").unwrap(), rendered);
        assert_eq!(policy.to_string(), rendered);
    }
}

#[test]
fn cleanup_policy_refuses_anything_else() {
    for value in [
        "",
        " ",
        ",",
        "none",
        "Delete",
        "COMPACT",
        "compact;delete",
        "compact,",
        ",delete",
        "compact,,delete",
        "compact delete",
        "compact,foo",
    ] {
        let expected = assert_refused("cleanup.policy", value);
        assert!(expected.contains("compact,delete"), "{expected}");
    }
}

#[test]
fn timestamp_type_is_create_time_or_log_append_time() {
    let mut config = TopicConfig::default();
    config
        .set("message.timestamp.type", "LogAppendTime")
        .unwrap();
    assert_eq!(config.message_timestamp_type, TimestampType::LogAppendTime);
    assert_eq!(
        config.get("message.timestamp.type").unwrap(),
        "LogAppendTime"
    );
    config.set("message.timestamp.type", "CreateTime").unwrap();
    assert_eq!(config.message_timestamp_type, TimestampType::CreateTime);
    for value in ["", "createtime", "Create Time", "LOG_APPEND_TIME", "0"] {
        let expected = assert_refused("message.timestamp.type", value);
        assert!(expected.contains("LogAppendTime"), "{expected}");
    }
}

#[test]
fn dirty_ratio_is_a_number_in_zero_to_one() {
    for (value, ratio, rendered) in [
        ("0", 0.0, "0.0"),
        ("1", 1.0, "1.0"),
        ("0.25", 0.25, "0.25"),
        (" 0.75 ", 0.75, "0.75"),
        ("1.0", 1.0, "1.0"),
        ("5e-1", 0.5, "0.5"),
    ] {
        let mut config = TopicConfig::default();
        config.set("min.cleanable.dirty.ratio", value).unwrap();
        assert_eq!(config.min_cleanable_dirty_ratio, ratio, "{value:?}");
        assert_eq!(config.get("min.cleanable.dirty.ratio").unwrap(), rendered);
    }
    for value in ["", "-0.1", "1.01", "2", "NaN", "inf", "-inf", "half", "0,5"] {
        let expected = assert_refused("min.cleanable.dirty.ratio", value);
        assert_eq!(expected, "a number in [0, 1]");
    }
}

#[test]
fn unknown_keys_are_named() {
    for key in [
        "segment_bytes",
        "SEGMENT.BYTES",
        "log.segment.bytes",
        "segment.bytes ",
        "compression.type",
        "",
    ] {
        let mut config = TopicConfig::default();
        let err = config.set(key, "1").unwrap_err();
        assert!(err.to_string().contains(&format!("{key:?}")), "{err}");
        assert!(matches!(&err, EngineError::UnknownConfig { key: k } if k == key));
        assert!(matches!(
            config.get(key),
            Err(EngineError::UnknownConfig { key: k }) if k == key
        ));
    }
}

fn non_default() -> TopicConfig {
    TopicConfig::builder()
        .segment_bytes(1 << 20)
        .segment_ms(3_600_000)
        .segment_index_bytes(4096)
        .index_interval_bytes(0)
        .retention_ms(-1)
        .retention_bytes(1 << 40)
        .cleanup_policy(CleanupPolicy::COMPACT_DELETE)
        .max_message_bytes(0)
        .message_timestamp_type(TimestampType::LogAppendTime)
        .flush_messages(1)
        .flush_ms(0)
        .delete_retention_ms(0)
        .min_compaction_lag_ms(1000)
        .max_compaction_lag_ms(1000)
        .min_cleanable_dirty_ratio(0.1)
        .build()
        .unwrap()
}

#[test]
fn entries_round_trip_through_set() {
    for original in [TopicConfig::default(), non_default()] {
        let mut copy = TopicConfig::default();
        for (key, value) in original.entries() {
            copy.set(key, &value).unwrap();
        }
        assert_eq!(copy, original);
        let rebuilt = TopicConfig::default()
            .with_overrides(original.entries())
            .unwrap();
        assert_eq!(rebuilt, original);
    }
    // Every field of `non_default` differs from the default, so the round trip covers all.
    let default = TopicConfig::default().entries();
    for ((key, a), (_, b)) in default.iter().zip(non_default().entries()) {
        assert_ne!(*a, b, "{key}");
    }
}

#[test]
fn with_overrides_applies_on_top_of_the_base() {
    let base = non_default();
    let config = base
        .with_overrides([("retention.ms", "1000"), ("cleanup.policy", "delete")])
        .unwrap();
    assert_eq!(config.retention_ms, 1000);
    assert_eq!(config.cleanup_policy, CleanupPolicy::DELETE);
    assert_eq!(config.segment_bytes, base.segment_bytes);
    let owned = vec![("segment.ms".to_owned(), "5".to_owned())];
    assert_eq!(base.with_overrides(owned).unwrap().segment_ms, 5);
    assert_eq!(
        base.with_overrides(Vec::<(&str, &str)>::new()).unwrap(),
        base
    );
}

#[test]
fn with_overrides_is_all_or_nothing() {
    let base = TopicConfig::default();
    let err = base
        .with_overrides([("retention.ms", "1000"), ("segment.bytes", "1")])
        .unwrap_err();
    assert_eq!(common::invalid(err).0, "segment.bytes");
    let err = base
        .with_overrides([("retention.ms", "1000"), ("no.such.key", "1")])
        .unwrap_err();
    assert!(matches!(err, EngineError::UnknownConfig { key } if key == "no.such.key"));
    assert_eq!(base, TopicConfig::default());
}

#[test]
fn compaction_lags_are_checked_against_each_other_once_all_are_set() {
    let base = TopicConfig::default();
    // Either order works when the end state is consistent.
    let a = base
        .with_overrides([
            ("max.compaction.lag.ms", "10"),
            ("min.compaction.lag.ms", "10"),
        ])
        .unwrap();
    let b = base
        .with_overrides([
            ("min.compaction.lag.ms", "10"),
            ("max.compaction.lag.ms", "10"),
        ])
        .unwrap();
    assert_eq!(a, b);
    let err = base
        .with_overrides([
            ("min.compaction.lag.ms", "11"),
            ("max.compaction.lag.ms", "10"),
        ])
        .unwrap_err();
    let (key, value, expected) = common::invalid(err);
    assert_eq!(
        (key.as_str(), value.as_str()),
        ("min.compaction.lag.ms", "11")
    );
    assert!(
        expected.contains("max.compaction.lag.ms (10)"),
        "{expected}"
    );
    // `set` alone checks only the value's own range.
    let mut config = TopicConfig::default();
    config.set("max.compaction.lag.ms", "1").unwrap();
    config.set("min.compaction.lag.ms", "2").unwrap();
    assert!(config.validate().is_err());
}

#[test]
fn builder_validates_every_field() {
    let b = TopicConfig::builder;
    let cases = [
        (b().segment_bytes(60), "segment.bytes", "60"),
        (b().segment_bytes(1 << 31), "segment.bytes", "2147483648"),
        (b().segment_bytes(u32::MAX), "segment.bytes", "4294967295"),
        (b().segment_index_bytes(11), "segment.index.bytes", "11"),
        (
            b().segment_index_bytes(1 << 31),
            "segment.index.bytes",
            "2147483648",
        ),
        (
            b().index_interval_bytes(u32::MAX),
            "index.interval.bytes",
            "4294967295",
        ),
        (b().segment_ms(0), "segment.ms", "0"),
        (b().retention_ms(-2), "retention.ms", "-2"),
        (
            b().retention_bytes(i64::MIN),
            "retention.bytes",
            "-9223372036854775808",
        ),
        (
            b().max_message_bytes(1 << 31),
            "max.message.bytes",
            "2147483648",
        ),
        (b().flush_messages(0), "flush.messages", "0"),
        (b().flush_ms(-1), "flush.ms", "-1"),
        (b().delete_retention_ms(-1), "delete.retention.ms", "-1"),
        (b().min_compaction_lag_ms(-1), "min.compaction.lag.ms", "-1"),
        (b().max_compaction_lag_ms(0), "max.compaction.lag.ms", "0"),
        (
            b().min_cleanable_dirty_ratio(1.5),
            "min.cleanable.dirty.ratio",
            "1.5",
        ),
        (
            b().min_cleanable_dirty_ratio(-0.5),
            "min.cleanable.dirty.ratio",
            "-0.5",
        ),
        (
            b().min_cleanable_dirty_ratio(f64::NAN),
            "min.cleanable.dirty.ratio",
            "NaN",
        ),
        (
            b().cleanup_policy(CleanupPolicy {
                delete: false,
                compact: false,
            }),
            "cleanup.policy",
            "",
        ),
        (
            b().min_compaction_lag_ms(5).max_compaction_lag_ms(4),
            "min.compaction.lag.ms",
            "5",
        ),
    ];
    for (builder, key, value) in cases {
        let (got_key, got_value, _) = common::invalid(builder.build().unwrap_err());
        assert_eq!((got_key.as_str(), got_value.as_str()), (key, value));
    }
}

#[test]
fn builder_sets_every_field() {
    let config = non_default();
    assert_eq!(config.segment_bytes, 1 << 20);
    assert_eq!(config.segment_ms, 3_600_000);
    assert_eq!(config.segment_index_bytes, 4096);
    assert_eq!(config.index_interval_bytes, 0);
    assert_eq!(config.retention_ms, -1);
    assert_eq!(config.retention_bytes, 1 << 40);
    assert_eq!(config.cleanup_policy, CleanupPolicy::COMPACT_DELETE);
    assert_eq!(config.max_message_bytes, 0);
    assert_eq!(config.message_timestamp_type, TimestampType::LogAppendTime);
    assert_eq!(config.flush_messages, 1);
    assert_eq!(config.flush_ms, 0);
    assert_eq!(config.delete_retention_ms, 0);
    assert_eq!(config.min_compaction_lag_ms, 1000);
    assert_eq!(config.max_compaction_lag_ms, 1000);
    assert_eq!(config.min_cleanable_dirty_ratio, 0.1);
}

#[test]
fn builder_from_starts_at_the_base() {
    let base = non_default();
    let derived = TopicConfig::builder_from(&base)
        .retention_ms(5)
        .build()
        .unwrap();
    assert_eq!(derived.retention_ms, 5);
    assert_eq!(
        TopicConfig {
            retention_ms: -1,
            ..derived.clone()
        },
        base,
        "only retention.ms differs"
    );
    let by_key = TopicConfig::builder_from(&base)
        .set("retention.ms", "5")
        .unwrap()
        .build()
        .unwrap();
    assert_eq!(by_key, derived);
    assert!(TopicConfig::builder().set("retention.ms", "-5").is_err());
}

#[test]
fn accepted_segment_settings_always_make_a_valid_segment_config() {
    for (bytes, index_bytes, ms, interval) in [
        ("61", "12", "1", "0"),
        (
            "2147483647",
            "2147483647",
            "9223372036854775807",
            "2147483647",
        ),
    ] {
        let config = TopicConfig::default()
            .with_overrides([
                ("segment.bytes", bytes),
                ("segment.index.bytes", index_bytes),
                ("segment.ms", ms),
                ("index.interval.bytes", interval),
            ])
            .unwrap();
        let segment = config.segment_config();
        segment.validate().unwrap();
        assert_eq!(segment.segment_bytes.to_string(), bytes);
        assert_eq!(segment.segment_index_bytes.to_string(), index_bytes);
        assert_eq!(segment.segment_ms.to_string(), ms);
        assert_eq!(segment.index_interval_bytes.to_string(), interval);
    }
}

proptest! {
    #[test]
    fn any_integer_is_accepted_exactly_when_in_range(value in any::<i64>(), index in 0usize..12) {
        let keys = int_keys();
        let IntKey { key, min, max, field } = keys.get(index).unwrap();
        let mut config = TopicConfig::default();
        let result = config.set(key, &value.to_string());
        prop_assert_eq!(result.is_ok(), (*min..=*max).contains(&value));
        if result.is_ok() {
            prop_assert_eq!(field(&config), i128::from(value));
            prop_assert!(config.validate().is_ok() || *key == "min.compaction.lag.ms");
        }
    }

    #[test]
    fn any_valid_config_round_trips(
        segment_bytes in 61u32..=i32::MAX as u32,
        retention_ms in -1i64..,
        ratio in 0.0f64..=1.0,
        compact in any::<bool>(),
    ) {
        let config = TopicConfig::builder()
            .segment_bytes(segment_bytes)
            .retention_ms(retention_ms)
            .min_cleanable_dirty_ratio(ratio)
            .cleanup_policy(CleanupPolicy { delete: true, compact })
            .build()
            .unwrap();
        let copy = TopicConfig::default().with_overrides(config.entries()).unwrap();
        prop_assert_eq!(copy, config);
    }
}
