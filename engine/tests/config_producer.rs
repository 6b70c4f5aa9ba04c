//! `ProducerConfig`: the Java producer's keys, their defaults and ranges, parsing, rendering,
//! `from_map`, the acks/idempotence rule, and the typed builder.

mod common;

use std::collections::HashMap;
use std::sync::Arc;

use proptest::prelude::*;
use silt_engine::producer::Partitioner;
use silt_engine::{Acks, EngineError, ProducerConfig, ProducerConfigBuilder};
use silt_segment::batch::Compression;

/// Every integer key with its accepted range and the field it sets.
struct IntKey {
    key: &'static str,
    min: i64,
    max: i64,
    field: fn(&ProducerConfig) -> i128,
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
        k("batch.size", 0, INT, |c| c.batch_size as i128),
        k("buffer.memory", 0, i64::MAX, |c| c.buffer_memory as i128),
        k("compression.zstd.level", -131_072, 22, |c| {
            c.compression_zstd_level.into()
        }),
        k("linger.ms", 0, i64::MAX, |c| c.linger_ms.into()),
        k("max.block.ms", 0, i64::MAX, |c| c.max_block_ms.into()),
        k("max.request.size", 1, INT, |c| c.max_request_size as i128),
        k("silt.producer.writer.threads", 0, 1024, |c| {
            c.writer_threads as i128
        }),
    ]
}

/// Reads the field a boolean key sets (`enable.idempotence`'s is an `Option`).
type BoolField = fn(&ProducerConfig) -> Option<bool>;

/// The keys that take Kafka booleans, with the field each sets.
const BOOL_KEYS: [(&str, BoolField); 3] = [
    ("enable.idempotence", |c| c.enable_idempotence),
    ("partitioner.adaptive.partitioning.enable", |c| {
        Some(c.partitioner_adaptive_partitioning_enable)
    }),
    ("partitioner.ignore.keys", |c| {
        Some(c.partitioner_ignore_keys)
    }),
];

/// Sets `key` to `value` on a default config, expecting an `InvalidConfig` naming both;
/// returns what the error says is expected.
fn assert_refused(key: &str, value: &str) -> String {
    common::assert_refused(key, value, ProducerConfig::set)
}

fn assert_unknown(err: EngineError, key: &str) {
    assert!(err.to_string().contains(&format!("{key:?}")), "{err}");
    assert!(
        matches!(&err, EngineError::UnknownConfig { key: k } if k == key),
        "{err:?}"
    );
}

#[test]
fn defaults_are_the_java_clients() {
    let expected = [
        ("acks", "all"),
        ("batch.size", "16384"),
        ("buffer.memory", "33554432"),
        ("client.id", ""),
        ("compression.type", "none"),
        ("compression.zstd.level", "3"),
        ("enable.idempotence", "true"),
        ("linger.ms", "5"),
        ("max.block.ms", "60000"),
        ("max.request.size", "1048576"),
        ("partitioner.adaptive.partitioning.enable", "true"),
        ("partitioner.ignore.keys", "false"),
        ("silt.producer.writer.threads", "0"),
    ];
    let config = ProducerConfig::default();
    let entries = config.entries();
    let entries: Vec<(&str, &str)> = entries.iter().map(|(k, v)| (*k, v.as_str())).collect();
    assert_eq!(entries, expected);
    // Left unset, as in the Java client: it follows `acks`.
    assert_eq!(config.enable_idempotence, None);
    assert!(config.idempotent());
    assert!(config.partitioner.is_none());
    config.validate().unwrap();
    assert_eq!(ProducerConfig::builder().build().unwrap(), config);
    assert_eq!(ProducerConfig::from_map([("", ""); 0]).unwrap(), config);
}

#[test]
fn keys_are_sorted_and_match_entries() {
    let mut sorted = ProducerConfig::KEYS.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted, ProducerConfig::KEYS);
    assert_eq!(ProducerConfig::KEYS.len(), 13);
    let entry_keys: Vec<&str> = ProducerConfig::default()
        .entries()
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(entry_keys, ProducerConfig::KEYS);
    // Every key is covered by one of this file's typed tests.
    let mut covered: Vec<&str> = int_keys().iter().map(|k| k.key).collect();
    covered.extend(BOOL_KEYS.map(|(key, _)| key));
    covered.extend(["acks", "client.id", "compression.type"]);
    covered.sort_unstable();
    assert_eq!(covered, ProducerConfig::KEYS);
}

#[test]
fn every_key_but_client_id_refuses_garbage() {
    for key in ProducerConfig::KEYS {
        assert!(ProducerConfig::default().get(key).is_ok(), "{key}");
        if *key == "client.id" {
            continue;
        }
        for garbage in ["", " ", "garbage", "99999999999999999999"] {
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
        for value in [min, max, min + 1, max - 1] {
            let mut config = ProducerConfig::default();
            config.set(key, &value.to_string()).unwrap();
            assert_eq!(field(&config), i128::from(value), "{key}={value}");
            assert_eq!(config.get(key).unwrap(), value.to_string());
            config.validate().unwrap();
        }
        let expected = assert_refused(key, &(i128::from(min) - 1).to_string());
        assert_eq!(expected, format!("an integer in [{min}, {max}]"), "{key}");
        assert_refused(key, &(i128::from(max) + 1).to_string());
        for bad in [
            "abc",
            "1.5",
            "1e3",
            "0x10",
            "1_000",
            "--1",
            "10 0",
            "١٢",
            "-99999999999999999999",
        ] {
            assert_refused(key, bad);
        }
    }
}

#[test]
fn integers_are_trimmed_and_may_have_a_plus_sign_as_in_java() {
    let mut config = ProducerConfig::default();
    config.set("batch.size", " 65536\t").unwrap();
    assert_eq!(config.batch_size, 65536);
    config.set("linger.ms", "+20").unwrap();
    assert_eq!(config.linger_ms, 20);
    config.set("compression.zstd.level", "-7").unwrap();
    assert_eq!(config.compression_zstd_level, -7);
}

#[test]
fn acks_takes_kafkas_four_values() {
    for (value, acks, rendered) in [
        ("0", Acks::None, "0"),
        ("1", Acks::Leader, "1"),
        ("all", Acks::All, "all"),
        ("-1", Acks::All, "all"),
        (" all ", Acks::All, "all"),
    ] {
        let mut config = ProducerConfig {
            acks: Acks::None,
            ..ProducerConfig::default()
        };
        config.set("acks", value).unwrap();
        assert_eq!(config.acks, acks, "{value:?}");
        assert_eq!(config.get("acks").unwrap(), rendered);
    }
    // Kafka's validator is case sensitive.
    for value in ["ALL", "All", "2", "-2", "leader", "none", "all,1", "1.0"] {
        let expected = assert_refused("acks", value);
        assert!(expected.contains("\"all\""), "{expected}");
    }
}

#[test]
fn booleans_are_true_or_false_in_any_case() {
    for (key, field) in BOOL_KEYS {
        for (value, parsed) in [
            ("true", true),
            ("false", false),
            ("TRUE", true),
            ("False", false),
            (" tRuE\t", true),
        ] {
            let mut config = ProducerConfig::default();
            config.set(key, value).unwrap();
            assert_eq!(field(&config), Some(parsed), "{key}={value:?}");
            assert_eq!(config.get(key).unwrap(), parsed.to_string());
        }
        for value in ["yes", "no", "1", "0", "t", "on", "truee", "true false"] {
            let expected = assert_refused(key, value);
            assert_eq!(expected, "\"true\" or \"false\"");
        }
    }
}

#[test]
fn compression_type_is_a_codec_silt_can_encode() {
    for (value, codec) in [
        ("none", Compression::None),
        ("gzip", Compression::Gzip),
        ("lz4", Compression::Lz4),
        ("zstd", Compression::Zstd),
        (" zstd ", Compression::Zstd),
    ] {
        let mut config = ProducerConfig::default();
        config.set("compression.type", value).unwrap();
        assert_eq!(config.compression_type, codec, "{value:?}");
        assert_eq!(config.get("compression.type").unwrap(), value.trim());
    }
    for value in ["", "NONE", "Gzip", "brotli", "lz4,zstd", "producer"] {
        assert_refused("compression.type", value);
    }
}

#[test]
fn snappy_is_refused_with_a_clear_message() {
    let expected = assert_refused("compression.type", "snappy");
    assert!(expected.contains("snappy is not supported"), "{expected}");
    let mut config = ProducerConfig::default();
    let shown = config
        .set("compression.type", "snappy")
        .unwrap_err()
        .to_string();
    assert!(shown.contains("compression.type"), "{shown}");
    assert!(shown.contains("snappy is not supported"), "{shown}");
    // However it gets there, `validate` refuses it too.
    let (key, value, expected) = common::invalid(
        ProducerConfig::builder()
            .compression_type(Compression::Snappy)
            .build()
            .unwrap_err(),
    );
    assert_eq!(
        (key.as_str(), value.as_str()),
        ("compression.type", "snappy")
    );
    assert!(expected.contains("snappy is not supported"), "{expected}");
}

#[test]
fn client_id_is_any_string_trimmed_as_kafka_does() {
    for (value, client_id) in [
        ("", ""),
        ("ingest-7", "ingest-7"),
        ("  spaced out  ", "spaced out"),
        ("ünïcødé, commas=and=equals", "ünïcødé, commas=and=equals"),
    ] {
        let mut config = ProducerConfig::default();
        config.set("client.id", value).unwrap();
        assert_eq!(config.client_id, client_id);
        assert_eq!(config.get("client.id").unwrap(), client_id);
        config.validate().unwrap();
    }
}

#[test]
fn unknown_keys_are_named() {
    for key in [
        // Java producer keys silt does not implement.
        "retries",
        "delivery.timeout.ms",
        "request.timeout.ms",
        "compression.lz4.level",
        "compression.gzip.level",
        "max.in.flight.requests.per.connection",
        "partitioner.class",
        "bootstrap.servers",
        "transactional.id",
        // Near misses.
        "ACKS",
        "acks ",
        "batch_size",
        "silt.writer.threads",
        // Other structs' keys.
        "segment.bytes",
        "num.partitions",
        "",
    ] {
        let mut config = ProducerConfig::default();
        assert_unknown(config.set(key, "1").unwrap_err(), key);
        assert_unknown(config.get(key).unwrap_err(), key);
        assert_unknown(ProducerConfig::from_map([(key, "1")]).unwrap_err(), key);
        assert_unknown(ProducerConfig::builder().set(key, "1").unwrap_err(), key);
        assert_eq!(config, ProducerConfig::default());
    }
}

/// A config whose every setting differs from the default, built with typed values.
fn non_default() -> ProducerConfig {
    ProducerConfig::builder()
        .acks(Acks::Leader)
        .batch_size(0)
        .linger_ms(0)
        .buffer_memory(1 << 40)
        .max_block_ms(i64::MAX as u64)
        .max_request_size(1)
        .compression_type(Compression::Zstd)
        .compression_zstd_level(-131_072)
        .partitioner_ignore_keys(true)
        .partitioner_adaptive_partitioning_enable(false)
        .enable_idempotence(false)
        .client_id("ingest")
        .writer_threads(1024)
        .build()
        .unwrap()
}

/// The same settings as [`non_default`], as Java producer properties.
const NON_DEFAULT: [(&str, &str); 13] = [
    ("acks", "1"),
    ("batch.size", "0"),
    ("linger.ms", "0"),
    ("buffer.memory", "1099511627776"),
    ("max.block.ms", "9223372036854775807"),
    ("max.request.size", "1"),
    ("compression.type", "zstd"),
    ("compression.zstd.level", "-131072"),
    ("partitioner.ignore.keys", "true"),
    ("partitioner.adaptive.partitioning.enable", "false"),
    ("enable.idempotence", "false"),
    ("client.id", "ingest"),
    ("silt.producer.writer.threads", "1024"),
];

#[test]
fn builder_equals_the_config_set_from_strings() {
    let built = non_default();
    assert_eq!(ProducerConfig::from_map(NON_DEFAULT).unwrap(), built);
    let mut by_key = ProducerConfig::builder();
    for (key, value) in NON_DEFAULT {
        by_key = by_key.set(key, value).unwrap();
    }
    assert_eq!(by_key.build().unwrap(), built);
    let mut set = ProducerConfig::default();
    for (key, value) in NON_DEFAULT {
        set.set(key, value).unwrap();
    }
    assert_eq!(set, built);
    // Every setting differs from the default, so the comparison covers every field.
    for ((key, a), (_, b)) in ProducerConfig::default()
        .entries()
        .iter()
        .zip(built.entries())
    {
        assert_ne!(*a, b, "{key}");
    }
    // `From` starts a builder at a config.
    assert_eq!(
        ProducerConfigBuilder::from(built.clone()).build().unwrap(),
        built
    );
}

#[test]
fn every_key_round_trips_through_get_and_set() {
    for original in [ProducerConfig::default(), non_default()] {
        for key in ProducerConfig::KEYS {
            let rendered = original.get(key).unwrap();
            let mut copy = original.clone();
            copy.set(key, &rendered).unwrap();
            assert_eq!(copy.get(key).unwrap(), rendered, "{key}");
        }
        let copy = ProducerConfig::from_map(original.entries()).unwrap();
        assert_eq!(copy.entries(), original.entries());
        // `get` renders idempotence's effective value, so the copy pins it down.
        let pinned = ProducerConfig {
            enable_idempotence: Some(original.idempotent()),
            ..original.clone()
        };
        assert_eq!(copy, pinned);
    }
}

#[test]
fn from_map_is_all_or_nothing() {
    let err = ProducerConfig::from_map([("linger.ms", "10"), ("batch.size", "-1")]).unwrap_err();
    let (key, value, _) = common::invalid(err);
    assert_eq!((key.as_str(), value.as_str()), ("batch.size", "-1"));
    let err = ProducerConfig::from_map([("linger.ms", "10"), ("retries", "3")]).unwrap_err();
    assert_unknown(err, "retries");
    // A later entry wins; owned strings and maps work too.
    let config = ProducerConfig::from_map([("linger.ms", "10"), ("linger.ms", "20")]).unwrap();
    assert_eq!(config.linger_ms, 20);
    let owned: HashMap<String, String> = [("client.id".to_owned(), "app".to_owned())].into();
    assert_eq!(ProducerConfig::from_map(owned).unwrap().client_id, "app");
}

#[test]
fn explicit_idempotence_needs_acks_all() {
    // Either order: the rule is checked once every key is set.
    for entries in [
        [("enable.idempotence", "true"), ("acks", "1")],
        [("acks", "1"), ("enable.idempotence", "true")],
        [("acks", "0"), ("enable.idempotence", "TRUE")],
    ] {
        let err = ProducerConfig::from_map(entries).unwrap_err();
        let (key, value, expected) = common::invalid(err);
        assert_eq!(key, "acks");
        assert_eq!(value, entries.iter().find(|(k, _)| *k == "acks").unwrap().1);
        assert!(expected.contains("enable.idempotence=true"), "{expected}");
    }
    let (key, _, _) = common::invalid(
        ProducerConfig::builder()
            .acks(Acks::None)
            .enable_idempotence(true)
            .build()
            .unwrap_err(),
    );
    assert_eq!(key, "acks");
    // `set` alone checks only the value itself.
    let mut config = ProducerConfig::default();
    config.set("enable.idempotence", "true").unwrap();
    config.set("acks", "1").unwrap();
    assert!(config.validate().is_err());

    // Left at its default, idempotence follows acks: off, and accepted.
    let config = ProducerConfig::from_map([("acks", "1")]).unwrap();
    assert_eq!(config.enable_idempotence, None);
    assert!(!config.idempotent());
    assert_eq!(config.get("enable.idempotence").unwrap(), "false");
    // Explicitly off with any acks, explicitly on with all (or -1).
    for acks in ["0", "1", "all"] {
        let config =
            ProducerConfig::from_map([("acks", acks), ("enable.idempotence", "false")]).unwrap();
        assert!(!config.idempotent(), "acks={acks}");
    }
    let config =
        ProducerConfig::from_map([("acks", "-1"), ("enable.idempotence", "true")]).unwrap();
    assert!(config.idempotent());
}

#[test]
fn builder_validates_every_field() {
    let b = ProducerConfig::builder;
    let cases = [
        (b().batch_size(1 << 31), "batch.size", "2147483648"),
        (b().linger_ms(u64::MAX), "linger.ms", "18446744073709551615"),
        (
            b().buffer_memory(usize::MAX),
            "buffer.memory",
            "18446744073709551615",
        ),
        (
            b().max_block_ms(1 << 63),
            "max.block.ms",
            "9223372036854775808",
        ),
        (b().max_request_size(0), "max.request.size", "0"),
        (
            b().max_request_size(1 << 31),
            "max.request.size",
            "2147483648",
        ),
        (
            b().compression_zstd_level(23),
            "compression.zstd.level",
            "23",
        ),
        (
            b().compression_zstd_level(-131_073),
            "compression.zstd.level",
            "-131073",
        ),
        (
            b().compression_type(Compression::Snappy),
            "compression.type",
            "snappy",
        ),
        (
            b().compression_type(Compression::Unknown(6)),
            "compression.type",
            "unknown codec 6",
        ),
        (
            b().writer_threads(1025),
            "silt.producer.writer.threads",
            "1025",
        ),
        (b().acks(Acks::Leader).enable_idempotence(true), "acks", "1"),
    ];
    for (builder, key, value) in cases {
        let (got_key, got_value, _) = common::invalid(builder.build().unwrap_err());
        assert_eq!((got_key.as_str(), got_value.as_str()), (key, value));
    }
    assert!(ProducerConfig::builder().set("batch.size", "-1").is_err());
}

/// Sends everything to one partition.
struct Fixed(u32);

impl Partitioner for Fixed {
    fn partition(&self, _: &str, _: Option<&[u8]>, _: Option<&[u8]>, _: u32) -> Option<u32> {
        Some(self.0)
    }
}

#[test]
fn builder_takes_a_partitioner_compared_by_identity() {
    let partitioner: Arc<dyn Partitioner> = Arc::new(Fixed(2));
    let config = ProducerConfig::builder()
        .partitioner(Arc::clone(&partitioner))
        .build()
        .unwrap();
    let set = config.partitioner.as_ref().unwrap();
    assert!(Arc::ptr_eq(set, &partitioner));
    assert_eq!(set.partition("t", None, None, 3), Some(2));
    assert_eq!(config.clone(), config);
    let other = ProducerConfig::builder()
        .partitioner(Arc::new(Fixed(2)))
        .build()
        .unwrap();
    assert_ne!(other, config, "a different instance");
    assert_ne!(ProducerConfig::default(), config);
    // Not a key: the string settings leave it alone.
    assert_eq!(config.entries(), ProducerConfig::default().entries());
}

proptest! {
    #[test]
    fn any_integer_is_accepted_exactly_when_in_range(value in any::<i64>(), index in 0usize..7) {
        let keys = int_keys();
        let IntKey { key, min, max, field } = keys.get(index).unwrap();
        let mut config = ProducerConfig::default();
        let result = config.set(key, &value.to_string());
        prop_assert_eq!(result.is_ok(), (*min..=*max).contains(&value));
        if result.is_ok() {
            prop_assert_eq!(field(&config), i128::from(value));
            prop_assert!(config.validate().is_ok());
        } else {
            prop_assert_eq!(config, ProducerConfig::default());
        }
    }
}
