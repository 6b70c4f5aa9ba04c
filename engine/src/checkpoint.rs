//! Kafka's offset checkpoint files (`recovery-point-offset-checkpoint`,
//! `log-start-offset-checkpoint`) and the clean-shutdown marker. The byte format is
//! Kafka's `CheckpointFile` with `OffsetCheckpointFile`'s entry formatter, so Kafka's
//! tools read silt's files and silt reads Kafka's; see `docs/FORMAT.md`, "Engine files".

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::io;
use std::path::{Path, PathBuf};

use crate::error::{io_err, Result};
use crate::fsutil::{
    check_topic_name, corrupt, excerpt, parse_canonical, read_bounded, split_lines, sync_dir,
    tmp_path, write_atomic,
};

/// The only checkpoint format version, Kafka's `OffsetCheckpointFile.CURRENT_VERSION`.
const VERSION: &str = "0";

/// Largest checkpoint file read or written: 64 MiB, room for about a million entries
/// with long topic names. A larger file is refused before it is read.
pub(crate) const MAX_CHECKPOINT_BYTES: u64 = 64 << 20;

/// Most entries one checkpoint file may hold: one per partition of the data directory.
/// The count line is checked against it before any entry is parsed.
pub(crate) const MAX_CHECKPOINT_ENTRIES: usize = 1 << 20;

/// Name of the marker file that says the engine stopped cleanly (Kafka's
/// `.kafka_cleanshutdown`). Present at open: every log was flushed and sealed, so
/// recovery can be skipped.
pub(crate) const CLEAN_SHUTDOWN_FILE: &str = ".silt_cleanshutdown";

/// One offset checkpoint file: a map from (topic, partition) to an offset, replaced as a
/// whole by every write.
#[derive(Debug, Clone)]
pub(crate) struct OffsetCheckpoint {
    /// The file.
    path: PathBuf,
}

impl OffsetCheckpoint {
    /// The checkpoint kept in `path`; nothing is read or created until `read`/`write`.
    pub(crate) fn new(path: impl Into<PathBuf>) -> OffsetCheckpoint {
        OffsetCheckpoint { path: path.into() }
    }

    /// The file this checkpoint lives in.
    #[cfg(test)]
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Reads the checkpoint. A missing file is an empty map (a new data directory, or a
    /// crash before the first write); any other deviation from the format is
    /// `CorruptMetadata` naming the line.
    pub(crate) fn read(&self) -> Result<BTreeMap<(String, u32), i64>> {
        match read_bounded(&self.path, MAX_CHECKPOINT_BYTES)? {
            None => Ok(BTreeMap::new()),
            Some(bytes) => parse(&self.path, &bytes),
        }
    }

    /// Replaces the checkpoint with `entries`, written in the order given, atomically
    /// (`write_atomic`): a crash leaves the previous checkpoint or this one. Entries that
    /// `read` would refuse (an invalid topic name, a negative offset, a duplicate) are
    /// refused here, before anything is written.
    pub(crate) fn write<'a>(
        &self,
        entries: impl IntoIterator<Item = (&'a str, u32, i64)>,
    ) -> Result<()> {
        let mut body = String::new();
        let mut seen = BTreeSet::new();
        for (topic, partition, offset) in entries {
            let line = seen.len() + 3;
            let refuse =
                |reason: String| corrupt(&self.path, line, format!("refusing to write: {reason}"));
            if seen.len() == MAX_CHECKPOINT_ENTRIES {
                return Err(refuse(format!(
                    "more than {MAX_CHECKPOINT_ENTRIES} entries"
                )));
            }
            check_entry(topic, partition, offset).map_err(refuse)?;
            if !seen.insert((topic, partition)) {
                return Err(refuse(format!("duplicate entry for {topic}-{partition}")));
            }
            // Writing to a String cannot fail.
            let _ = writeln!(body, "{topic} {partition} {offset}");
        }
        let text = format!("{VERSION}\n{}\n{body}", seen.len());
        if u64::try_from(text.len()).unwrap_or(u64::MAX) > MAX_CHECKPOINT_BYTES {
            let reason = format!(
                "refusing to write {} bytes, more than the limit of {MAX_CHECKPOINT_BYTES}",
                text.len()
            );
            return Err(corrupt(&self.path, 0, reason));
        }
        debug_assert_eq!(
            parse(&self.path, text.as_bytes()).map(|m| m.len()).ok(),
            Some(seen.len())
        );
        write_atomic(&self.path, text.as_bytes())
    }
}

/// Parses a whole checkpoint file: version line, count line, `count` entry lines.
fn parse(path: &Path, bytes: &[u8]) -> Result<BTreeMap<(String, u32), i64>> {
    let lines = split_lines(path, bytes)?;
    let mut numbered = lines.iter().zip(1..);
    let Some((version, _)) = numbered.next() else {
        return Err(corrupt(
            path,
            1,
            "the file is empty: expected the version line \"0\"",
        ));
    };
    if *version != VERSION {
        let reason = format!(
            "unsupported version {}: silt reads version 0",
            excerpt(version)
        );
        return Err(corrupt(path, 1, reason));
    }
    let Some((count, _)) = numbered.next() else {
        return Err(corrupt(path, 2, "missing the entry count line"));
    };
    let count = match parse_canonical::<usize>(count) {
        Some(count) if count <= MAX_CHECKPOINT_ENTRIES => count,
        Some(count) => {
            let reason =
                format!("entry count {count} is more than the limit of {MAX_CHECKPOINT_ENTRIES}");
            return Err(corrupt(path, 2, reason));
        }
        None => {
            let reason = format!(
                "entry count {} is not a non-negative decimal number",
                excerpt(count)
            );
            return Err(corrupt(path, 2, reason));
        }
    };
    let mut entries = BTreeMap::new();
    for (text, line) in numbered {
        if entries.len() == count {
            let reason = format!("more entries than the count {count} on line 2");
            return Err(corrupt(path, line, reason));
        }
        let (topic, partition, offset) =
            parse_entry(text).map_err(|reason| corrupt(path, line, reason))?;
        if entries
            .insert((topic.to_owned(), partition), offset)
            .is_some()
        {
            let reason = format!("duplicate entry for {topic}-{partition}");
            return Err(corrupt(path, line, reason));
        }
    }
    if entries.len() != count {
        let reason = format!(
            "the count on line 2 is {count} but the file holds {} entries: it was cut short",
            entries.len()
        );
        return Err(corrupt(path, lines.len() + 1, reason));
    }
    Ok(entries)
}

/// Parses one entry line, `topic partition offset`, separated by single spaces.
fn parse_entry(text: &str) -> std::result::Result<(&str, u32, i64), String> {
    let mut fields = text.split(' ');
    let (Some(topic), Some(partition), Some(offset), None) =
        (fields.next(), fields.next(), fields.next(), fields.next())
    else {
        return Err(format!(
            "expected 3 fields \"topic partition offset\" separated by single spaces, found {}",
            text.split(' ').count()
        ));
    };
    let partition = parse_canonical::<u32>(partition).ok_or_else(|| {
        format!(
            "partition {} is not a non-negative decimal number",
            excerpt(partition)
        )
    })?;
    let offset = parse_canonical::<i64>(offset)
        .ok_or_else(|| format!("offset {} is not a decimal number", excerpt(offset)))?;
    check_entry(topic, partition, offset)?;
    Ok((topic, partition, offset))
}

/// What `read` and `write` both require of an entry: a valid topic name and an offset
/// of at least zero (offsets are positions in a log; Kafka never checkpoints -1).
fn check_entry(topic: &str, partition: u32, offset: i64) -> std::result::Result<(), String> {
    check_topic_name(topic)?;
    if offset < 0 {
        return Err(format!("negative offset {offset} for {topic}-{partition}"));
    }
    Ok(())
}

/// Writes the clean-shutdown marker into `dir`, durably: the last step of a clean close,
/// after every log has been flushed and the checkpoints written. The file is empty.
pub(crate) fn write_clean_shutdown(dir: &Path) -> Result<()> {
    write_atomic(&dir.join(CLEAN_SHUTDOWN_FILE), b"")
}

/// Whether `dir` holds the clean-shutdown marker, removing it (and a leftover temporary
/// of it) durably before returning: the directory is synced, so a crash of the session
/// that is starting cannot later be mistaken for a clean stop. Call it at open, before
/// the engine writes anything.
pub(crate) fn take_clean_shutdown(dir: &Path) -> Result<bool> {
    let marker = dir.join(CLEAN_SHUTDOWN_FILE);
    let present = remove_if_present(&marker)?;
    let tmp_present = remove_if_present(&tmp_path(&marker))?;
    if present || tmp_present {
        sync_dir(dir)?;
    }
    Ok(present)
}

/// Removes the file at `path`; whether it was there.
fn remove_if_present(path: &Path) -> Result<bool> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(err) => Err(io_err("remove", path)(err)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::EngineError;
    use proptest::prelude::*;
    use std::fs;

    const KAFKA_EXAMPLE: &[u8] = b"0\n2\ntopicA 0 100\ntopicB 3 42\n";

    fn checkpoint() -> (tempfile::TempDir, OffsetCheckpoint) {
        let dir = tempfile::tempdir().unwrap();
        let file = OffsetCheckpoint::new(dir.path().join("recovery-point-offset-checkpoint"));
        (dir, file)
    }

    /// The line of the `CorruptMetadata` error reading `bytes` gives, and its reason.
    fn corrupt_line(bytes: &[u8]) -> (usize, String) {
        let (_dir, file) = checkpoint();
        fs::write(file.path(), bytes).unwrap();
        match file.read() {
            Err(EngineError::CorruptMetadata { path, line, reason }) => {
                assert_eq!(path, file.path());
                (line, reason)
            }
            other => panic!("expected CorruptMetadata for {bytes:?}, got {other:?}"),
        }
    }

    #[test]
    fn written_bytes_are_kafkas_format() {
        let (_dir, file) = checkpoint();
        file.write([("topicA", 0, 100), ("topicB", 3, 42)]).unwrap();
        assert_eq!(fs::read(file.path()).unwrap(), KAFKA_EXAMPLE);
        let read = file.read().unwrap();
        let expected = BTreeMap::from([
            (("topicA".to_owned(), 0), 100),
            (("topicB".to_owned(), 3), 42),
        ]);
        assert_eq!(read, expected);
    }

    #[test]
    fn entries_keep_the_order_given() {
        let (_dir, file) = checkpoint();
        file.write([("b", 1, 7), ("a", 2, 0)]).unwrap();
        assert_eq!(fs::read(file.path()).unwrap(), b"0\n2\nb 1 7\na 2 0\n");
    }

    #[test]
    fn missing_file_reads_empty_and_empty_checkpoint_round_trips() {
        let (_dir, file) = checkpoint();
        assert!(file.read().unwrap().is_empty());
        file.write([]).unwrap();
        assert_eq!(fs::read(file.path()).unwrap(), b"0\n0\n");
        assert!(file.read().unwrap().is_empty());
    }

    #[test]
    fn write_leaves_no_tmp_file() {
        let (dir, file) = checkpoint();
        file.write([("t", 0, 1)]).unwrap();
        file.write([("t", 0, 2)]).unwrap();
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["recovery-point-offset-checkpoint"]);
    }

    #[test]
    fn every_truncation_is_detected() {
        for len in 0..KAFKA_EXAMPLE.len() {
            let (line, _) = corrupt_line(&KAFKA_EXAMPLE[..len]);
            assert!((1..=5).contains(&line), "cut at {len}: line {line}");
        }
    }

    #[test]
    fn a_torn_tmp_file_leaves_the_old_checkpoint() {
        // A crash inside write_atomic before the rename: the new content is partly in
        // the tmp file, and readers see exactly the old checkpoint.
        let (_dir, file) = checkpoint();
        file.write([("old", 0, 1)]).unwrap();
        let old = file.read().unwrap();
        for len in 0..=KAFKA_EXAMPLE.len() {
            fs::write(tmp_path(file.path()), &KAFKA_EXAMPLE[..len]).unwrap();
            assert_eq!(file.read().unwrap(), old);
        }
    }

    #[test]
    fn malformed_files_name_the_line() {
        let cases: &[(&[u8], usize, &str)] = &[
            (b"", 1, "empty"),
            (b"1\n0\n", 1, "unsupported version"),
            (b"00\n0\n", 1, "unsupported version"),
            (b"0\n", 2, "count line"),
            (b"0\n-1\n", 2, "not a non-negative"),
            (b"0\n01\nt 0 1\n", 2, "not a non-negative"),
            (b"0\n99999999999\n", 2, "more than the limit"),
            (b"0\n1\n", 3, "cut short"),
            (b"0\n1\nt 0 1\nu 0 1\n", 4, "more entries"),
            (b"0\n0\nt 0 1\n", 3, "more entries"),
            (b"0\n1\nt 0\n", 3, "3 fields"),
            (b"0\n1\nt 0 1 2\n", 3, "3 fields"),
            (b"0\n1\nt  0 1\n", 3, "3 fields"),
            (b"0\n1\nt\t0 1\n", 3, "3 fields"),
            (b"0\n1\nt -1 1\n", 3, "partition"),
            (b"0\n1\nt 4294967296 1\n", 3, "partition"),
            (b"0\n1\nt x 1\n", 3, "partition"),
            (b"0\n1\nt 0 +1\n", 3, "offset"),
            (b"0\n1\nt 0 9223372036854775808\n", 3, "offset"),
            (b"0\n1\nt 0 -1\n", 3, "negative offset"),
            (b"0\n1\n.. 0 1\n", 3, "invalid topic name"),
            (b"0\n1\na/b 0 1\n", 3, "invalid topic name"),
            (b"0\n1\n 0 1\n", 3, "invalid topic name"),
            (b"0\n2\nt 0 1\nt 0 2\n", 4, "duplicate entry for t-0"),
            (b"0\n1\nt 0 1", 3, "no newline"),
            (b"0\n1\nt 0 1\r\n", 3, "carriage return"),
            (b"0\n1\nt\xff 0 1\n", 3, "UTF-8"),
        ];
        for &(bytes, line, reason) in cases {
            let (got_line, got_reason) = corrupt_line(bytes);
            assert_eq!(got_line, line, "{bytes:?}: {got_reason}");
            assert!(
                got_reason.contains(reason),
                "{bytes:?}: {got_reason:?} lacks {reason:?}"
            );
        }
    }

    #[test]
    fn an_oversized_file_is_refused_without_reading_it() {
        let (_dir, file) = checkpoint();
        let handle = fs::File::create(file.path()).unwrap();
        handle.set_len(MAX_CHECKPOINT_BYTES + 1).unwrap(); // sparse: nothing to read
        assert!(matches!(
            file.read(),
            Err(EngineError::CorruptMetadata { line: 0, .. })
        ));
    }

    #[test]
    fn a_huge_count_does_not_allocate() {
        let (line, reason) = corrupt_line(format!("0\n{}\n", usize::MAX).as_bytes());
        assert_eq!(line, 2);
        assert!(reason.contains("limit"), "{reason}");
    }

    #[test]
    fn write_refuses_what_read_would_refuse() {
        let (_dir, file) = checkpoint();
        file.write([("kept", 0, 5)]).unwrap();
        let refused = |result: Result<()>, needle: &str| match result {
            Err(EngineError::CorruptMetadata { line, reason, .. }) => {
                assert!(reason.contains(needle), "{reason}");
                line
            }
            other => panic!("expected a refusal, got {other:?}"),
        };
        assert_eq!(
            refused(file.write([("t", 0, 1), ("t", 1, -1)]), "negative offset"),
            4
        );
        assert_eq!(
            refused(file.write([("t", 0, 1), ("t", 0, 2)]), "duplicate"),
            4
        );
        assert_eq!(
            refused(file.write([("a b", 0, 1)]), "invalid topic name"),
            3
        );
        assert_eq!(refused(file.write([("", 0, 1)]), "invalid topic name"), 3);
        assert_eq!(fs::read(file.path()).unwrap(), b"0\n1\nkept 0 5\n");
    }

    #[test]
    fn reads_kafka_files_with_max_values() {
        let (line, _) = corrupt_line(b"0\n1\nt 0 9223372036854775808\n");
        assert_eq!(line, 3);
        let (_dir, file) = checkpoint();
        fs::write(
            file.path(),
            b"0\n1\n__consumer_offsets 4294967295 9223372036854775807\n",
        )
        .unwrap();
        let read = file.read().unwrap();
        assert_eq!(read[&("__consumer_offsets".to_owned(), u32::MAX)], i64::MAX);
    }

    #[test]
    fn clean_shutdown_marker_is_taken_once() {
        let dir = tempfile::tempdir().unwrap();
        assert!(!take_clean_shutdown(dir.path()).unwrap());
        write_clean_shutdown(dir.path()).unwrap();
        assert!(dir.path().join(CLEAN_SHUTDOWN_FILE).exists());
        assert!(take_clean_shutdown(dir.path()).unwrap());
        assert!(!dir.path().join(CLEAN_SHUTDOWN_FILE).exists());
        assert!(!take_clean_shutdown(dir.path()).unwrap());
    }

    #[test]
    fn a_leftover_marker_tmp_is_not_a_clean_shutdown() {
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join(CLEAN_SHUTDOWN_FILE);
        fs::write(tmp_path(&marker), b"").unwrap();
        assert!(!take_clean_shutdown(dir.path()).unwrap());
        assert!(!tmp_path(&marker).exists());
    }

    proptest! {
        #[test]
        fn round_trips(entries in proptest::collection::btree_map(
            ("[a-zA-Z0-9._-]{1,20}", any::<u32>()), 0..i64::MAX, 0..40)) {
            prop_assume!(entries.keys().all(|(t, _)| t != "." && t != ".."));
            let (_dir, file) = checkpoint();
            file.write(entries.iter().map(|((t, p), o)| (t.as_str(), *p, *o))).unwrap();
            prop_assert_eq!(file.read().unwrap(), entries);
        }
    }
}
