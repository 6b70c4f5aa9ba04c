//! Topic metadata: one small checksummed properties file per topic in
//! `<data-dir>/__silt_topics/`, holding what Kafka keeps in ZooKeeper/KRaft: the
//! partition count, the creation time and the topic's configuration overrides. The byte
//! format is in `docs/FORMAT.md`, "Engine files".

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::error::{io_err, EngineError, Result};
use crate::fsutil::{
    check_topic_name, corrupt, excerpt, parse_canonical, read_bounded, remove_stale_tmp,
    split_lines, sync_dir, tmp_path, write_atomic, TMP_SUFFIX,
};
use crate::topic::MAX_PARTITIONS;

/// The directory of topic metadata files inside the data directory. It cannot be taken
/// for a partition directory: those are named `<topic>-<digits>`.
pub(crate) const TOPICS_DIR: &str = "__silt_topics";

/// Extension of a topic metadata file: `<topic>.topic`. Short enough that the longest
/// valid topic name (249 characters) still makes a file name within the 255-byte limit.
pub(crate) const EXTENSION: &str = ".topic";

/// First line of every topic metadata file.
const HEADER: &str = "# silt topic metadata";

/// The format version this code writes and reads.
const VERSION: &str = "1";

/// Prefix of the keys holding the topic's configuration overrides.
const CONFIG_PREFIX: &str = "config.";

/// Prefix of the last line, the CRC-32C of every byte before it.
const CRC_PREFIX: &[u8] = b"crc32c=";

/// Largest topic metadata file read or written: 1 MiB, far above any real set of
/// overrides. A larger file is refused before it is read.
pub(crate) const MAX_METADATA_BYTES: u64 = 1 << 20;

/// What the engine persists about one topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TopicMetadata {
    /// The topic's name (valid by `validate_topic_name`).
    pub name: String,
    /// Its number of partitions, 1 to `MAX_PARTITIONS`.
    pub partitions: u32,
    /// When it was created, in Unix milliseconds.
    pub created_ms: i64,
    /// Its configuration overrides (Kafka's topic-level configs set at creation or since),
    /// by key; the defaults are not stored, so a changed engine default applies.
    pub overrides: BTreeMap<String, String>,
}

/// The `__silt_topics` directory of a data directory.
#[derive(Debug, Clone)]
pub(crate) struct MetadataDir {
    /// `<data-dir>/__silt_topics`.
    dir: PathBuf,
}

impl MetadataDir {
    /// Opens `<data_dir>/__silt_topics`, creating it (durably) if missing, and removes the
    /// temporary files a crash during a `write` left behind.
    pub(crate) fn open(data_dir: &Path) -> Result<MetadataDir> {
        let dir = data_dir.join(TOPICS_DIR);
        match fs::create_dir(&dir) {
            Ok(()) => sync_dir(data_dir)?,
            Err(err) if err.kind() == io::ErrorKind::AlreadyExists => {
                let meta = fs::metadata(&dir).map_err(io_err("stat", &dir))?;
                if !meta.is_dir() {
                    return Err(corrupt(
                        &dir,
                        0,
                        "expected the topic metadata directory, found a file",
                    ));
                }
            }
            Err(err) => return Err(io_err("create directory", &dir)(err)),
        }
        remove_stale_tmp(&dir)?;
        Ok(MetadataDir { dir })
    }

    /// The metadata file of topic `name`: `__silt_topics/<name>.topic`. `name` must
    /// be a valid topic name for the path to stay inside the directory.
    pub(crate) fn path_of(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}{EXTENSION}"))
    }

    /// Reads and checks every topic's metadata, sorted by name. Temporary files are
    /// skipped; any other file that is not a well-formed `<topic>.topic` is
    /// `CorruptMetadata`, since the directory belongs to silt and a stray file means
    /// something or someone else wrote there.
    pub(crate) fn load_all(&self) -> Result<Vec<TopicMetadata>> {
        let mut topics = Vec::new();
        for entry in fs::read_dir(&self.dir).map_err(io_err("read directory", &self.dir))? {
            let entry = entry.map_err(io_err("read directory", &self.dir))?;
            let path = entry.path();
            let file_name = entry.file_name();
            if file_name
                .as_encoded_bytes()
                .ends_with(TMP_SUFFIX.as_bytes())
            {
                continue;
            }
            let name = file_name
                .to_str()
                .and_then(|f| f.strip_suffix(EXTENSION))
                .ok_or_else(|| corrupt(&path, 0, "not a topic metadata file (<topic>.topic)"))?;
            // A file removed since the listing is a topic deleted meanwhile: skip it.
            if let Some(bytes) = read_bounded(&path, MAX_METADATA_BYTES)? {
                topics.push(parse(&path, name, &bytes)?);
            }
        }
        topics.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(topics)
    }

    /// Writes `meta` to its file atomically: a crash leaves the previous version or this
    /// one. Refuses an invalid topic name, zero partitions, and override keys or values
    /// the format cannot hold (line breaks, `=` in a key, an empty key).
    pub(crate) fn write(&self, meta: &TopicMetadata) -> Result<()> {
        crate::name::validate_topic_name(&meta.name)?;
        if meta.partitions == 0 {
            return Err(EngineError::InvalidPartitionCount {
                topic: meta.name.clone(),
                count: 0,
                reason: "a topic needs at least one partition",
            });
        }
        for (key, value) in &meta.overrides {
            check_override(key, value)?;
        }
        let path = self.path_of(&meta.name);
        let text = render(meta);
        if u64::try_from(text.len()).unwrap_or(u64::MAX) > MAX_METADATA_BYTES {
            let reason = format!(
                "refusing to write {} bytes, more than the limit of {MAX_METADATA_BYTES}",
                text.len()
            );
            return Err(corrupt(&path, 0, reason));
        }
        debug_assert_eq!(
            parse(&path, &meta.name, text.as_bytes()).ok().as_ref(),
            Some(meta)
        );
        write_atomic(&path, text.as_bytes())
    }

    /// Removes topic `name`'s metadata durably (the directory is synced). A missing file
    /// is not an error, so a deletion interrupted by a crash can be repeated.
    pub(crate) fn remove(&self, name: &str) -> Result<()> {
        crate::name::validate_topic_name(name)?;
        let path = self.path_of(name);
        for file in [tmp_path(&path), path] {
            match fs::remove_file(&file) {
                Ok(()) => {}
                Err(err) if err.kind() == io::ErrorKind::NotFound => {}
                Err(err) => return Err(io_err("remove", &file)(err)),
            }
        }
        sync_dir(&self.dir)
    }
}

/// Reads and checks the metadata file `path` on its own, without opening (or creating) the
/// directory: what [`MetadataDir::load_all`] does for each file. `None` when it does not
/// exist. For read-only tools (`crate::inspect`).
pub(crate) fn read_file(path: &Path) -> Result<Option<TopicMetadata>> {
    let name = path
        .file_name()
        .and_then(|f| f.to_str())
        .and_then(|f| f.strip_suffix(EXTENSION))
        .ok_or_else(|| corrupt(path, 0, "not a topic metadata file (<topic>.topic)"))?;
    match read_bounded(path, MAX_METADATA_BYTES)? {
        Some(bytes) => parse(path, name, &bytes).map(Some),
        None => Ok(None),
    }
}

/// Refuses an override the line format cannot hold: a key that is empty or holds a line
/// break or `=`, a value that holds a line break.
fn check_override(key: &str, value: &str) -> Result<()> {
    let invalid = |expected: &str| EngineError::InvalidConfig {
        key: key.to_owned(),
        value: value.to_owned(),
        expected: expected.to_owned(),
    };
    let has_break = |s: &str| s.contains(['\n', '\r']);
    if key.is_empty() || has_break(key) || key.contains('=') {
        return Err(invalid("a non-empty key without line breaks or '='"));
    }
    if has_break(value) {
        return Err(invalid("no line breaks"));
    }
    Ok(())
}

/// The file's bytes for `meta`, checksum line included.
fn render(meta: &TopicMetadata) -> String {
    let mut text = format!(
        "{HEADER}\nversion={VERSION}\nname={}\npartitions={}\ncreated.ms={}\n",
        meta.name, meta.partitions, meta.created_ms
    );
    for (key, value) in &meta.overrides {
        // Writing to a String cannot fail.
        let _ = writeln!(text, "{CONFIG_PREFIX}{key}={value}");
    }
    let crc = crc32c::crc32c(text.as_bytes());
    let _ = writeln!(text, "crc32c={crc:08x}");
    text
}

/// Parses and checks the file `path` of topic `file_name` (its name less `.topic`).
fn parse(path: &Path, file_name: &str, bytes: &[u8]) -> Result<TopicMetadata> {
    let body = check_crc(path, bytes)?;
    let lines = split_lines(path, body)?;
    check_preamble(path, &lines)?;
    let (fields, overrides) = collect_keys(path, lines.iter().zip(1..).skip(2))?;
    let field = |key: &str| {
        fields
            .get(key)
            .copied()
            .ok_or_else(|| corrupt(path, 0, format!("missing the required key {key}")))
    };
    let name = check_name(path, file_name, field("name")?)?;
    let (value, line) = field("partitions")?;
    // Bounded as `create_topic` bounds it: opening allocates and opens one log per partition.
    let partitions = parse_canonical::<u32>(value)
        .filter(|count| (1..=MAX_PARTITIONS).contains(count))
        .ok_or_else(|| {
            let reason = format!(
                "partitions {} is not a count of 1 to {MAX_PARTITIONS}",
                excerpt(value)
            );
            corrupt(path, line, reason)
        })?;
    let (value, line) = field("created.ms")?;
    let created_ms = parse_canonical::<i64>(value).ok_or_else(|| {
        let reason = format!("created.ms {} is not a decimal number", excerpt(value));
        corrupt(path, line, reason)
    })?;
    Ok(TopicMetadata {
        name,
        partitions,
        created_ms,
        overrides,
    })
}

/// Checks lines 1 and 2: the header comment and `version=1`. The version comes before
/// any other key so that a future format is refused as such, not as a list of faults.
fn check_preamble(path: &Path, lines: &[&str]) -> Result<()> {
    if lines.first() != Some(&HEADER) {
        return Err(corrupt(
            path,
            1,
            format!("expected the header line {HEADER:?}"),
        ));
    }
    match lines.get(1) {
        Some(&line) if line == format!("version={VERSION}") => Ok(()),
        Some(line) if line.starts_with("version=") => {
            let reason = format!(
                "unsupported {}: silt reads version={VERSION}",
                excerpt(line)
            );
            Err(corrupt(path, 2, reason))
        }
        _ => Err(corrupt(path, 2, "expected version=1 on line 2")),
    }
}

/// The required keys of a topic metadata file, beside `version`.
const REQUIRED_KEYS: [&str; 3] = ["name", "partitions", "created.ms"];

/// The required keys found in a file: each one's value and 1-based line.
type Fields<'a> = BTreeMap<&'a str, (&'a str, usize)>;

/// Splits the numbered `key=value` lines after the preamble into the required keys
/// (value and line of each) and the `config.` overrides, refusing unknown, empty and
/// duplicate keys.
fn collect_keys<'a>(
    path: &Path,
    numbered: impl Iterator<Item = (&'a &'a str, usize)>,
) -> Result<(Fields<'a>, BTreeMap<String, String>)> {
    let mut fields = BTreeMap::new();
    let mut overrides = BTreeMap::new();
    for (&text, line) in numbered {
        let (key, value) = text.split_once('=').ok_or_else(|| {
            corrupt(
                path,
                line,
                format!("expected key=value, found {}", excerpt(text)),
            )
        })?;
        let duplicate = if let Some(config_key) = key.strip_prefix(CONFIG_PREFIX) {
            if config_key.is_empty() {
                return Err(corrupt(path, line, "empty configuration key"));
            }
            overrides
                .insert(config_key.to_owned(), value.to_owned())
                .is_some()
        } else if REQUIRED_KEYS.contains(&key) {
            fields.insert(key, (value, line)).is_some()
        } else {
            return Err(corrupt(path, line, format!("unknown key {}", excerpt(key))));
        };
        if duplicate {
            return Err(corrupt(
                path,
                line,
                format!("duplicate key {}", excerpt(key)),
            ));
        }
    }
    Ok((fields, overrides))
}

/// Checks the `name` field (its value and line): a valid topic name, equal to the name
/// the file is stored under.
fn check_name(path: &Path, file_name: &str, (value, line): (&str, usize)) -> Result<String> {
    check_topic_name(value).map_err(|reason| corrupt(path, line, reason))?;
    if value != file_name {
        let reason = format!(
            "name {} differs from the file's name {}",
            excerpt(value),
            excerpt(file_name)
        );
        return Err(corrupt(path, line, reason));
    }
    Ok(value.to_owned())
}

/// Checks the last line, `crc32c=<8 lowercase hex digits>`, against the CRC-32C of every
/// byte before it, and returns those bytes. Runs before anything else is parsed, so a
/// torn or bit-flipped file is reported as such.
fn check_crc<'a>(path: &Path, bytes: &'a [u8]) -> Result<&'a [u8]> {
    let lines_before = |b: &[u8]| b.iter().filter(|&&c| c == b'\n').count();
    let Some(without_newline) = bytes.strip_suffix(b"\n") else {
        let reason = "the file does not end with a newline: it was cut short";
        return Err(corrupt(path, lines_before(bytes) + 1, reason));
    };
    let body_len = without_newline
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    let (body, crc_line) = without_newline.split_at(body_len);
    let line = lines_before(body) + 1;
    let hex = crc_line
        .strip_prefix(CRC_PREFIX)
        .filter(|hex| hex.len() == 8 && hex.iter().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
        .and_then(|hex| std::str::from_utf8(hex).ok())
        .ok_or_else(|| {
            corrupt(
                path,
                line,
                "expected the last line crc32c=<8 lowercase hex digits>",
            )
        })?;
    let stated = u32::from_str_radix(hex, 16).map_err(|_| corrupt(path, line, "bad crc32c"))?;
    let actual = crc32c::crc32c(body);
    if stated != actual {
        let reason =
            format!("checksum mismatch: the file says {stated:08x}, its bytes give {actual:08x}");
        return Err(corrupt(path, line, reason));
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> TopicMetadata {
        TopicMetadata {
            name: "orders".to_owned(),
            partitions: 3,
            created_ms: 1_700_000_000_000,
            overrides: BTreeMap::from([
                ("retention.ms".to_owned(), "86400000".to_owned()),
                ("cleanup.policy".to_owned(), "compact,delete".to_owned()),
            ]),
        }
    }

    const SAMPLE_BYTES: &str = "# silt topic metadata\nversion=1\nname=orders\npartitions=3\n\
        created.ms=1700000000000\nconfig.cleanup.policy=compact,delete\n\
        config.retention.ms=86400000\n";

    fn open() -> (tempfile::TempDir, MetadataDir) {
        let data = tempfile::tempdir().unwrap();
        let dir = MetadataDir::open(data.path()).unwrap();
        (data, dir)
    }

    /// `body` with a correct checksum line appended.
    fn seal(body: &str) -> Vec<u8> {
        format!("{body}crc32c={:08x}\n", crc32c::crc32c(body.as_bytes())).into_bytes()
    }

    /// The `CorruptMetadata` line and reason of parsing `bytes` as topic `orders`.
    fn corrupt_line(bytes: &[u8]) -> (usize, String) {
        match parse(Path::new("orders.properties"), "orders", bytes) {
            Err(EngineError::CorruptMetadata { line, reason, .. }) => (line, reason),
            other => panic!(
                "expected CorruptMetadata for {:?}, got {other:?}",
                String::from_utf8_lossy(bytes)
            ),
        }
    }

    #[test]
    fn the_file_is_the_documented_text() {
        let (_data, dir) = open();
        dir.write(&sample()).unwrap();
        let bytes = fs::read(dir.path_of("orders")).unwrap();
        assert_eq!(bytes, seal(SAMPLE_BYTES));
    }

    #[test]
    fn the_example_in_format_md_is_valid() {
        let doc = "# silt topic metadata\nversion=1\nname=orders\npartitions=3\n\
            created.ms=1700000000000\nconfig.cleanup.policy=compact\n\
            config.retention.ms=86400000\ncrc32c=8debc3ae\n";
        let meta = parse(Path::new("orders.properties"), "orders", doc.as_bytes()).unwrap();
        assert_eq!(meta.overrides["cleanup.policy"], "compact");
        assert_eq!(render(&meta), doc);
    }

    #[test]
    fn round_trips_and_loads_sorted() {
        let (_data, dir) = open();
        let mut other = sample();
        other.name = "a.b-c_d".to_owned();
        other.partitions = 1;
        other.created_ms = 0;
        other.overrides.clear();
        other
            .overrides
            .insert("weird".to_owned(), "v=with=equals and spaces, é".to_owned());
        other.overrides.insert("empty".to_owned(), String::new());
        dir.write(&sample()).unwrap();
        dir.write(&other).unwrap();
        assert_eq!(dir.load_all().unwrap(), vec![other, sample()]);
    }

    #[test]
    fn write_replaces_and_remove_is_durable_and_idempotent() {
        let (data, dir) = open();
        let mut meta = sample();
        dir.write(&meta).unwrap();
        meta.partitions = 8;
        dir.write(&meta).unwrap();
        assert_eq!(dir.load_all().unwrap(), vec![meta]);
        dir.remove("orders").unwrap();
        dir.remove("orders").unwrap();
        assert!(dir.load_all().unwrap().is_empty());
        let names: Vec<_> = fs::read_dir(data.path().join(TOPICS_DIR))
            .unwrap()
            .collect();
        assert!(names.is_empty());
    }

    #[test]
    fn open_removes_stale_tmp_files_and_readers_skip_them() {
        let (data, dir) = open();
        dir.write(&sample()).unwrap();
        let tmp = tmp_path(&dir.path_of("orders"));
        fs::write(&tmp, b"torn").unwrap();
        assert_eq!(dir.load_all().unwrap(), vec![sample()]);
        let dir = MetadataDir::open(data.path()).unwrap();
        assert!(!tmp.exists());
        assert_eq!(dir.load_all().unwrap(), vec![sample()]);
    }

    #[test]
    fn every_truncation_is_corrupt() {
        let bytes = seal(SAMPLE_BYTES);
        for len in 0..bytes.len() {
            corrupt_line(&bytes[..len]);
        }
    }

    #[test]
    fn every_bit_flip_is_corrupt() {
        let bytes = seal(SAMPLE_BYTES);
        for bit in 0..bytes.len() * 8 {
            let mut flipped = bytes.clone();
            flipped[bit / 8] ^= 1 << (bit % 8);
            corrupt_line(&flipped);
        }
    }

    #[test]
    fn malformed_files_name_the_line() {
        let head = "# silt topic metadata\nversion=1\n";
        let ok = "name=orders\npartitions=3\ncreated.ms=5\n";
        let cases: Vec<(String, usize, &str)> = vec![
            (format!("# silt\nversion=1\n{ok}"), 1, "header"),
            (
                format!("# silt topic metadata\nversion=2\n{ok}"),
                2,
                "unsupported",
            ),
            (format!("# silt topic metadata\n{ok}"), 2, "version=1"),
            (
                format!("{head}name=orders\npartitions=3\n"),
                0,
                "created.ms",
            ),
            (format!("{head}partitions=3\ncreated.ms=5\n"), 0, "name"),
            (
                format!("{head}name=orders\ncreated.ms=5\n"),
                0,
                "partitions",
            ),
            (format!("{head}{ok}partitions=4\n"), 6, "duplicate key"),
            (
                format!("{head}{ok}config.a=1\nconfig.a=2\n"),
                7,
                "duplicate key",
            ),
            (
                format!("{head}{ok}config.=1\n"),
                6,
                "empty configuration key",
            ),
            (format!("{head}{ok}owner=me\n"), 6, "unknown key"),
            (format!("{head}{ok}no equals sign\n"), 6, "key=value"),
            (format!("{head}{ok}\n"), 6, "key=value"),
            (
                format!("{head}name=orders\npartitions=0\ncreated.ms=5\n"),
                4,
                "count of 1 to 100000",
            ),
            (
                format!("{head}name=orders\npartitions=03\ncreated.ms=5\n"),
                4,
                "count of 1 to 100000",
            ),
            (
                format!("{head}name=orders\npartitions=-1\ncreated.ms=5\n"),
                4,
                "count of 1 to 100000",
            ),
            (
                format!("{head}name=orders\npartitions=4294967295\ncreated.ms=5\n"),
                4,
                "count of 1 to 100000",
            ),
            (
                format!("{head}name=orders\npartitions=3\ncreated.ms=x\n"),
                5,
                "created.ms",
            ),
            (
                format!("{head}name=other\npartitions=3\ncreated.ms=5\n"),
                3,
                "differs",
            ),
            (
                format!("{head}name=orders\r\npartitions=3\ncreated.ms=5\n"),
                3,
                "carriage return",
            ),
        ];
        for (body, line, needle) in cases {
            let (got_line, reason) = corrupt_line(&seal(&body));
            assert_eq!(got_line, line, "{body:?}: {reason}");
            assert!(
                reason.contains(needle),
                "{body:?}: {reason:?} lacks {needle:?}"
            );
        }
    }

    #[test]
    fn malformed_checksum_lines_are_corrupt() {
        let body = "# silt topic metadata\nversion=1\nname=orders\npartitions=3\ncreated.ms=5\n";
        let mut upper = seal(body);
        let n = upper.len();
        upper[n - 3] = b'A';
        assert_eq!(
            corrupt_line(&upper),
            (
                6,
                "expected the last line crc32c=<8 lowercase hex digits>".to_owned()
            )
        );
        let wrong = format!("{body}crc32c=00000000\n");
        assert!(corrupt_line(wrong.as_bytes())
            .1
            .contains("checksum mismatch"));
        assert!(corrupt_line(format!("{body}crc32c=0\n").as_bytes())
            .1
            .contains("8 lowercase"));
        assert!(corrupt_line(body.as_bytes()).1.contains("crc32c"));
        assert_eq!(corrupt_line(b"").0, 1);
        assert!(corrupt_line(b"").1.contains("cut short"));
        assert!(corrupt_line(&seal("")).1.contains("header"));
    }

    #[test]
    fn invalid_names_are_corrupt() {
        let body = "# silt topic metadata\nversion=1\nname=..\npartitions=1\ncreated.ms=5\n";
        match parse(Path::new("...properties"), "..", &seal(body)) {
            Err(EngineError::CorruptMetadata {
                line: 3, reason, ..
            }) => {
                assert!(reason.contains("invalid topic name"), "{reason}")
            }
            other => panic!("expected CorruptMetadata, got {other:?}"),
        }
    }

    #[test]
    fn stray_and_oversized_files_are_corrupt() {
        let (_data, dir) = open();
        fs::write(dir.dir.join("notes.txt"), b"hi").unwrap();
        assert!(matches!(
            dir.load_all(),
            Err(EngineError::CorruptMetadata { line: 0, .. })
        ));
        fs::remove_file(dir.dir.join("notes.txt")).unwrap();
        let big = fs::File::create(dir.path_of("big")).unwrap();
        big.set_len(MAX_METADATA_BYTES + 1).unwrap();
        match dir.load_all() {
            Err(EngineError::CorruptMetadata {
                line: 0, reason, ..
            }) => assert!(reason.contains("limit")),
            other => panic!("expected CorruptMetadata, got {other:?}"),
        }
    }

    #[test]
    fn write_refuses_what_the_format_cannot_hold() {
        let (_data, dir) = open();
        let with = |key: &str, value: &str| {
            let mut meta = sample();
            meta.overrides.insert(key.to_owned(), value.to_owned());
            dir.write(&meta)
        };
        for (key, value) in [
            ("a\nb", "v"),
            ("a=b", "v"),
            ("", "v"),
            ("k", "x\ny"),
            ("k", "x\r"),
        ] {
            assert!(
                matches!(with(key, value), Err(EngineError::InvalidConfig { .. })),
                "{key:?}={value:?}"
            );
        }
        let mut zero = sample();
        zero.partitions = 0;
        assert!(matches!(
            dir.write(&zero),
            Err(EngineError::InvalidPartitionCount { .. })
        ));
        let mut bad_name = sample();
        bad_name.name = "../escape".to_owned();
        assert!(matches!(
            dir.write(&bad_name),
            Err(EngineError::InvalidTopicName { .. })
        ));
        assert!(matches!(
            dir.remove("../escape"),
            Err(EngineError::InvalidTopicName { .. })
        ));
        assert!(dir.load_all().unwrap().is_empty());
    }

    #[test]
    fn open_refuses_a_file_in_place_of_the_directory() {
        let data = tempfile::tempdir().unwrap();
        fs::write(data.path().join(TOPICS_DIR), b"").unwrap();
        assert!(matches!(
            MetadataDir::open(data.path()),
            Err(EngineError::CorruptMetadata { line: 0, .. })
        ));
    }
}
