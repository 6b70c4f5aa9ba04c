//! Arbitrary bytes as the engine's own files: topic metadata (`__silt_topics/<t>.topic`), the
//! offset checkpoints (`recovery-point-offset-checkpoint`, `log-start-offset-checkpoint`,
//! `cleaner-offset-checkpoint`), `producer-id-block`, and directory entry names (partition
//! directories, segment files), read with the read-only parsers of `silt_engine::inspect`
//! (the same code `Engine::open` runs) and `silt_segment::log::parse_segment_file`.
//!
//! Input layout: the first byte picks the file and flags, the rest is the file.
//!
//! - bits 0-1: 0 topic metadata, 1 offset checkpoint, 2 `producer-id-block`, 3 a directory
//!   entry name (a partition directory, a segment file).
//! - bit 2 (topic metadata): append the file's `crc32c=` line, so the parser gets past the
//!   checksum and into the keys. The file is stored as `<name>.topic` with the value of its
//!   `name=` line when that is a valid topic name, else as `t.topic`.
//! - bit 3: also put the file in place in a fresh data directory and `Engine::open` it (kept
//!   to files that describe at most a few partitions, so a run stays fast).
//! - bits 4-5 (checkpoint): which of the three checkpoint files it is.
//!
//! Properties: nothing panics and nothing allocates from a count in the file; what parses
//! obeys the format (valid topic names, a partition count of 1 to `MAX_PARTITIONS`, offsets
//! not negative, override keys the format can hold) and, written out again as
//! `docs/FORMAT.md` says, parses to the same value; `Engine::open` returns a typed error or an
//! engine that closes.
#![no_main]

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use libfuzzer_sys::fuzz_target;
use silt_engine::inspect::{self, TopicMetadataFile, TOPICS_DIR, TOPIC_FILE_SUFFIX};
use silt_engine::producer::PRODUCER_ID_BLOCK_FILE;
use silt_engine::{
    validate_topic_name, Engine, EngineConfig, EngineError, CLEANER_CHECKPOINT,
    LOG_START_CHECKPOINT, MAX_PARTITIONS, RECOVERY_POINT_CHECKPOINT,
};
use silt_segment::log::{parse_segment_file, segment_file, LOG_SUFFIX};

const CHECKPOINTS: [&str; 3] = [
    RECOVERY_POINT_CHECKPOINT,
    LOG_START_CHECKPOINT,
    CLEANER_CHECKPOINT,
];

/// Largest partition count of a topic whose data directory the target opens.
const MAX_OPENED_PARTITIONS: u32 = 4;

fuzz_target!(|data: &[u8]| {
    let Some((&flags, file)) = data.split_first() else {
        return;
    };
    let open = flags & 0b1000 != 0;
    match flags & 0b11 {
        0 => topic_metadata(file, flags & 0b100 != 0, open),
        1 => checkpoint(file, CHECKPOINTS[usize::from(flags >> 4 & 0b11) % 3], open),
        2 => producer_id_block(file, open),
        _ => partition_dir(file),
    }
});

fn topic_metadata(body: &[u8], seal: bool, open: bool) {
    let mut bytes = body.to_vec();
    if seal {
        let line = format!("crc32c={:08x}\n", crc32c::crc32c(body));
        bytes.extend_from_slice(line.as_bytes());
    }
    let name = stored_name(body);
    let dir = silt_fuzz::scratch_dir();
    let topics = dir.path().join(TOPICS_DIR);
    std::fs::create_dir(&topics).expect("create the topics directory");
    let path = topics.join(format!("{name}{TOPIC_FILE_SUFFIX}"));
    std::fs::write(&path, &bytes).expect("write the metadata file");
    let parsed = match inspect::read_topic_metadata(&path) {
        Ok(parsed) => Some(parsed.expect("the file exists")),
        Err(e) => {
            assert!(matches!(e, EngineError::CorruptMetadata { .. }), "{e:?}");
            None
        }
    };
    if let Some(meta) = &parsed {
        check_metadata(meta, &name);
        let again = topics.join(format!("{}.again{TOPIC_FILE_SUFFIX}", meta.name));
        let mut renamed = meta.clone();
        renamed.name = format!("{}.again", meta.name);
        if validate_topic_name(&renamed.name).is_ok() {
            std::fs::write(&again, render_metadata(&renamed)).expect("write");
            let reread = inspect::read_topic_metadata(&again)
                .expect("a rendered file reads")
                .expect("exists");
            assert_eq!(reread, renamed, "rendered metadata reads back the same");
            std::fs::remove_file(&again).expect("remove");
        }
    }
    let small = parsed
        .as_ref()
        .is_none_or(|m| m.partitions <= MAX_OPENED_PARTITIONS);
    if open && small {
        open_engine(dir.path());
    }
}

fn check_metadata(meta: &TopicMetadataFile, stored: &str) {
    assert!(validate_topic_name(&meta.name).is_ok(), "{meta:?}");
    assert_eq!(meta.name, stored, "the name is the file's");
    assert!(
        (1..=MAX_PARTITIONS).contains(&meta.partitions),
        "partition count {} read from a file",
        meta.partitions
    );
    for (key, value) in &meta.overrides {
        assert!(
            !key.is_empty() && !key.contains(['=', '\n', '\r']),
            "{key:?}"
        );
        assert!(!value.contains(['\n', '\r']), "{value:?}");
    }
}

/// A topic metadata file as `docs/FORMAT.md` ("Engine files") specifies it.
fn render_metadata(meta: &TopicMetadataFile) -> String {
    let mut text = format!(
        "# silt topic metadata\nversion=1\nname={}\npartitions={}\ncreated.ms={}\n",
        meta.name, meta.partitions, meta.created_ms
    );
    for (key, value) in &meta.overrides {
        let _ = writeln!(text, "config.{key}={value}");
    }
    let crc = crc32c::crc32c(text.as_bytes());
    let _ = writeln!(text, "crc32c={crc:08x}");
    text
}

/// The name the file is stored under: its `name=` value if that is a valid topic name (so
/// the parser's name check can pass), else `t`.
fn stored_name(body: &[u8]) -> String {
    body.split(|&b| b == b'\n')
        .filter_map(|line| line.strip_prefix(b"name="))
        .filter_map(|name| std::str::from_utf8(name).ok())
        .find(|name| validate_topic_name(name).is_ok())
        .unwrap_or("t")
        .to_string()
}

fn checkpoint(bytes: &[u8], file: &str, open: bool) {
    let dir = silt_fuzz::scratch_dir();
    let path = dir.path().join(file);
    std::fs::write(&path, bytes).expect("write the checkpoint");
    match inspect::read_offset_checkpoint(&path) {
        Ok(entries) => {
            let entries = entries.expect("the file exists");
            for ((topic, _), offset) in &entries {
                assert!(validate_topic_name(topic).is_ok(), "{topic:?}");
                assert!(*offset >= 0, "negative offset {offset}");
            }
            std::fs::write(&path, render_checkpoint(&entries)).expect("write");
            let reread = inspect::read_offset_checkpoint(&path)
                .expect("a rendered checkpoint reads")
                .expect("exists");
            assert_eq!(reread, entries, "a rendered checkpoint reads back the same");
            std::fs::write(&path, bytes).expect("write the checkpoint");
        }
        Err(e) => assert!(matches!(e, EngineError::CorruptMetadata { .. }), "{e:?}"),
    }
    if open {
        open_engine(dir.path());
    }
}

/// A checkpoint as Kafka's `CheckpointFile` writes it.
fn render_checkpoint(entries: &BTreeMap<(String, u32), i64>) -> String {
    let mut text = format!("0\n{}\n", entries.len());
    for ((topic, partition), offset) in entries {
        let _ = writeln!(text, "{topic} {partition} {offset}");
    }
    text
}

fn producer_id_block(bytes: &[u8], open: bool) {
    let dir = silt_fuzz::scratch_dir();
    let path = dir.path().join(PRODUCER_ID_BLOCK_FILE);
    std::fs::write(&path, bytes).expect("write the block file");
    match inspect::read_producer_id_block(&path) {
        Ok(id) => {
            let id = id.expect("the file exists");
            assert!(id >= 0);
            let text = std::str::from_utf8(bytes).expect("a parsed block is UTF-8");
            assert_eq!(text.trim_end_matches('\n').parse::<i64>().ok(), Some(id));
        }
        Err(e) => assert!(matches!(e, EngineError::CorruptMetadata { .. }), "{e:?}"),
    }
    if open {
        open_engine(dir.path());
    }
}

/// A directory entry's name as a partition directory, and as a segment file.
fn partition_dir(bytes: &[u8]) {
    let Ok(name) = std::str::from_utf8(bytes) else {
        return;
    };
    if let Ok(base) = parse_segment_file(Path::new(name)) {
        assert!(base >= 0);
        let canonical = segment_file(Path::new(""), base, LOG_SUFFIX);
        let file_name = Path::new(name).file_name().map(Path::new);
        assert_eq!(Some(canonical.as_path()), file_name, "one name per segment");
    }
    if let Some((topic, partition)) = inspect::parse_partition_dir(name) {
        assert!(validate_topic_name(topic).is_ok());
        let suffix = name
            .strip_prefix(topic)
            .and_then(|rest| rest.strip_prefix('-'))
            .expect("<topic>-<partition>");
        assert_eq!(suffix.parse::<u32>().ok(), Some(partition));
    }
}

/// Opens the data directory (an unclean open: no marker) and closes it. An error must be a
/// typed one about the files, never a panic.
fn open_engine(dir: &Path) {
    let config = EngineConfig {
        cleaner_enable: false,
        ..EngineConfig::default()
    };
    match Engine::open(dir, config) {
        Ok(engine) => engine.close().expect("close"),
        Err(EngineError::CorruptMetadata { .. })
        | Err(EngineError::UnknownConfig { .. })
        | Err(EngineError::InvalidConfig { .. }) => {}
        Err(e) => panic!("opening a data directory with a hostile file: {e:?}"),
    }
}
