//! Through the engine's API, no topic name can create anything outside the data directory:
//! names with path separators, `.`/`..`, control characters, whitespace, non-ASCII
//! characters, or more than 249 characters are refused with `InvalidTopicName` and leave no
//! trace anywhere, while the longest valid name (249 characters) works and survives a reopen.

mod common;

use std::collections::BTreeSet;
use std::path::Path;

use silt_engine::{Engine, EngineError, NewTopic, OffsetSpec};

/// Names a data directory holds right after `Engine::open`, before any topic exists.
const ENGINE_FILES: [&str; 4] = [
    ".lock",
    "__silt_topics",
    silt_engine::RECOVERY_POINT_CHECKPOINT,
    silt_engine::LOG_START_CHECKPOINT,
];

/// Names that reach outside the data directory or that Kafka refuses.
fn hostile_names() -> Vec<String> {
    vec![
        "../evil".to_string(),
        "../../evil".to_string(),
        "a/b".to_string(),
        "a\\b".to_string(),
        "..".to_string(),
        ".".to_string(),
        String::new(),
        "x".repeat(250),
        "/abs".to_string(),
        "/tmp/evil".to_string(),
        "a\0b".to_string(),
        "name with space".to_string(),
        "tab\there".to_string(),
        "line\nbreak".to_string(),
        "топик".to_string(),
        "caf\u{e9}".to_string(),
        "emoji-\u{1f600}".to_string(),
        "a:b".to_string(),
        "a*b".to_string(),
    ]
}

/// Entry names of a directory, sorted.
fn entries(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

/// Asserts that creating `name` fails with `InvalidTopicName` naming it.
fn assert_refused(engine: &Engine, name: &str) {
    match engine.create_topic(NewTopic::new(name, 1)) {
        Err(EngineError::InvalidTopicName { name: given, .. }) => {
            assert_eq!(given, name, "the error names the name given");
        }
        Err(other) => panic!("{name:?}: expected InvalidTopicName, got {other:?}"),
        Ok(()) => panic!("{name:?} was accepted"),
    }
}

#[test]
fn hostile_names_are_refused_and_create_nothing_anywhere() {
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    let engine = common::open(&data);
    let before = entries(&data);

    for name in hostile_names() {
        assert_refused(&engine, &name);
    }

    assert_eq!(
        entries(root.path()),
        BTreeSet::from(["data".to_string()]),
        "nothing was created beside the data directory"
    );
    assert_eq!(
        entries(&data),
        before,
        "nothing was created in the data directory"
    );
    assert!(entries(&data.join("__silt_topics")).is_empty());
    assert!(engine.list_topics().is_empty());
    engine.close().unwrap();
}

#[test]
fn the_data_directory_holds_only_the_engine_files_after_refusals() {
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    let engine = common::open(&data);
    for name in hostile_names() {
        assert_refused(&engine, &name);
    }
    let expected: BTreeSet<String> = ENGINE_FILES.iter().map(|s| s.to_string()).collect();
    assert_eq!(entries(&data), expected);
}

#[test]
fn hostile_names_are_refused_by_every_topic_operation_without_effect() {
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    let engine = common::open(&data);
    for name in hostile_names() {
        assert!(matches!(
            engine.delete_topic(&name),
            Err(EngineError::UnknownTopic { .. })
        ));
        assert!(matches!(
            engine.describe_topic(&name),
            Err(EngineError::UnknownTopic { .. })
        ));
        assert!(matches!(
            engine.add_partitions(&name, 2),
            Err(EngineError::UnknownTopic { .. })
        ));
        assert!(matches!(
            engine.append(&name, 0, &common::batch(0, 1)),
            Err(EngineError::UnknownTopic { .. })
        ));
    }
    assert_eq!(entries(root.path()), BTreeSet::from(["data".to_string()]));
}

#[test]
fn hostile_names_are_refused_after_a_reopen_too() {
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    let engine = common::open(&data);
    engine.create_topic(NewTopic::new("fine", 1)).unwrap();
    engine.close().unwrap();
    drop(engine);

    let engine = common::open(&data);
    for name in hostile_names() {
        assert_refused(&engine, &name);
    }
    assert_eq!(engine.list_topics(), vec!["fine".to_string()]);
    assert_eq!(entries(root.path()), BTreeSet::from(["data".to_string()]));
}

#[test]
fn the_longest_valid_name_works_and_survives_a_reopen() {
    long_name_round_trips(249);
}

#[test]
fn a_240_character_name_works_and_survives_a_reopen() {
    // The longest name whose metadata file name (`<name>.properties.tmp`) fits in 255 bytes.
    long_name_round_trips(240);
}

/// Creates a topic named with `len` characters, appends, reopens and reads it back.
fn long_name_round_trips(len: usize) {
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    let name: String = "aZ9._-".chars().cycle().take(len).collect();
    let engine = common::open(&data);
    engine
        .create_topic(NewTopic::new(name.as_str(), 2))
        .unwrap();
    let info = engine.append(&name, 1, &common::batch(0, 5)).unwrap();
    assert_eq!((info.first_offset, info.last_offset), (0, 4));
    assert_eq!(engine.list_topics(), vec![name.clone()]);
    engine.close().unwrap();
    drop(engine);

    let engine = common::open(&data);
    assert_eq!(engine.list_topics(), vec![name.clone()]);
    let description = engine.describe_topic(&name).unwrap();
    assert_eq!(description.partitions.len(), 2);
    let latest = engine
        .list_offsets(&name, 1, OffsetSpec::Latest)
        .unwrap()
        .unwrap();
    assert_eq!(latest.offset, 5);
    let values: Vec<String> = common::values(&engine, &name, 1);
    assert_eq!(
        values,
        (0..5).map(|i| format!("value-{i}")).collect::<Vec<_>>()
    );
    assert!(data.join(format!("{name}-0")).is_dir());
    assert!(data.join(format!("{name}-1")).is_dir());
    assert_eq!(entries(root.path()), BTreeSet::from(["data".to_string()]));
}

#[test]
fn a_name_of_only_dots_other_than_dot_and_dot_dot_stays_inside() {
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    let engine = common::open(&data);
    // Kafka accepts "..." (it is no path component of its own); its directory is "...-0".
    engine.create_topic(NewTopic::new("...", 1)).unwrap();
    engine.append("...", 0, &common::batch(0, 1)).unwrap();
    assert!(data.join("...-0").is_dir());
    assert_eq!(entries(root.path()), BTreeSet::from(["data".to_string()]));
    engine.delete_topic("...").unwrap();
    assert!(!data.join("...-0").exists());
}
