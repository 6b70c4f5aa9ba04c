//! Durable file-system steps the engine's small files share: atomic replacement
//! (`write_atomic`), directory syncs, durable removal, and bounded reading and line
//! splitting of the text files silt writes (checkpoints, topic metadata). The formats
//! and the crash argument are in `docs/FORMAT.md`, "Engine files".

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use crate::error::{io_err, EngineError, Result};

/// Suffix of the temporary file `write_atomic` writes before renaming it into place.
/// Readers ignore such files; `remove_stale_tmp` deletes those a crash left behind.
pub(crate) const TMP_SUFFIX: &str = ".tmp";

/// Longest excerpt of a file's text quoted in an error message, in characters, so a
/// corrupt multi-megabyte line does not become a multi-megabyte message.
const EXCERPT_CHARS: usize = 64;

/// Opens `dir` and fsyncs it, making the creations, renames and removals of entries in
/// it durable. POSIX makes a rename durable only once its directory is synced.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    silt_index::failpoint!("engine.fsutil.sync_dir", io_err("fsync directory", dir));
    let handle = File::open(dir).map_err(io_err("open directory", dir))?;
    handle.sync_all().map_err(io_err("fsync directory", dir))
}

/// The directory holding `path`: its parent, or `.` for a bare file name.
fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    }
}

/// The temporary file `write_atomic` writes before renaming it over `path`: in the same
/// directory (so the rename never crosses file systems and is atomic), named
/// `.<crc32c of the file name, 8 hex digits>.tmp`. A fixed-length name, because a file
/// name may already be near the 255-byte limit (a 249-character topic's metadata file).
pub(crate) fn tmp_path(path: &Path) -> PathBuf {
    let name = path.file_name().unwrap_or_default().as_encoded_bytes();
    let tmp = format!(".{:08x}{TMP_SUFFIX}", crc32c::crc32c(name));
    parent_dir(path).join(tmp)
}

/// Replaces `path` with `bytes` so that a crash at any point leaves either the old file
/// or the new one, never a mix or a torn file: write `path.tmp`, fdatasync it, rename it
/// over `path`, fsync the directory. Without the fdatasync before the rename a crash
/// could leave the new name pointing at blocks never written (a zero-length or zero-filled
/// file on ext4 and XFS); without the directory fsync the rename itself may be lost.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = tmp_path(path);
    if let Err(err) = write_synced(&tmp, bytes) {
        // Best effort: a leftover tmp file is harmless (readers skip it) and is removed
        // at the next open, so a failure to remove it here is not worth reporting.
        let _ = fs::remove_file(&tmp);
        return Err(err);
    }
    if let Err(err) = rename(&tmp, path) {
        let _ = fs::remove_file(&tmp);
        return Err(err);
    }
    sync_dir(parent_dir(path))
}

fn rename(from: &Path, to: &Path) -> Result<()> {
    silt_index::failpoint!("engine.fsutil.rename", io_err("rename", to));
    fs::rename(from, to).map_err(io_err("rename", to))
}

/// Creates or truncates `path`, writes `bytes` and fdatasyncs it. On a new file
/// fdatasync also persists its length, the one piece of metadata reading it needs.
///
/// A failed fdatasync fails the write as a whole, and the caller removes the file: a later
/// write starts a new file from its bytes, so it never relies on pages a failed sync may
/// have dropped.
fn write_synced(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
        .map_err(io_err("create", path))?;
    silt_index::failpoint!("engine.fsutil.write", io_err("write", path));
    file.write_all(bytes).map_err(io_err("write", path))?;
    silt_index::failpoint!("engine.fsutil.fdatasync", io_err("fdatasync", path));
    file.sync_data().map_err(io_err("fdatasync", path))
}

/// Removes the `*.tmp` files (not directories) directly inside `dir` — what a crash in
/// the middle of `write_atomic` leaves — and syncs `dir` if any was removed. Returns how
/// many were removed.
pub(crate) fn remove_stale_tmp(dir: &Path) -> Result<usize> {
    let mut removed = 0;
    for entry in fs::read_dir(dir).map_err(io_err("read directory", dir))? {
        let entry = entry.map_err(io_err("read directory", dir))?;
        let is_tmp = entry
            .file_name()
            .as_encoded_bytes()
            .ends_with(TMP_SUFFIX.as_bytes());
        let file_type = entry.file_type().map_err(io_err("stat", entry.path()))?;
        if is_tmp && !file_type.is_dir() {
            let path = entry.path();
            fs::remove_file(&path).map_err(io_err("remove", &path))?;
            removed += 1;
        }
    }
    if removed > 0 {
        sync_dir(dir)?;
    }
    Ok(removed)
}

/// Removes the directory tree `dir` and fsyncs its parent, so the removal survives a
/// crash. A missing `dir` is not an error. A crash during the removal can leave part of
/// the tree; callers first make the tree unreachable (remove what refers to it) so a
/// partial tree is garbage, not data.
pub(crate) fn remove_dir_all_durable(dir: &Path) -> Result<()> {
    match fs::remove_dir_all(dir) {
        Ok(()) => {}
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(err) => return Err(io_err("remove directory", dir)(err)),
    }
    sync_dir(parent_dir(dir))
}

/// Reads all of `path` if it is at most `limit_bytes` long; `None` if it does not exist.
/// A larger file is refused from its length alone, without reading it, and the read
/// itself stops past the limit, so a file that grows meanwhile cannot exhaust memory.
pub(crate) fn read_bounded(path: &Path, limit_bytes: u64) -> Result<Option<Vec<u8>>> {
    let file = match File::open(path) {
        Ok(file) => file,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(err) => return Err(io_err("open", path)(err)),
    };
    let len = file.metadata().map_err(io_err("stat", path))?.len();
    let too_large = |len: u64| {
        corrupt(
            path,
            0,
            format!("file is {len} bytes, more than the limit of {limit_bytes}"),
        )
    };
    if len > limit_bytes {
        return Err(too_large(len));
    }
    // `len <= limit_bytes`, a few MiB at most, so the capacity is bounded.
    let mut bytes = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
    file.take(limit_bytes.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(io_err("read", path))?;
    let read = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
    if read > limit_bytes {
        return Err(too_large(read));
    }
    Ok(Some(bytes))
}

/// [`EngineError::CorruptMetadata`] for `path`, at 1-based `line` (0: the whole file).
pub(crate) fn corrupt(path: &Path, line: usize, reason: impl Into<String>) -> EngineError {
    EngineError::CorruptMetadata {
        path: path.to_path_buf(),
        line,
        reason: reason.into(),
    }
}

/// Splits the text of a small silt file into its lines, without their `'\n'`. Every line
/// must end in `'\n'` (a file cut short ends without one), be UTF-8, and hold no `'\r'`.
/// An empty file has no lines. Line `i` of the result is line `i + 1` of the file.
pub(crate) fn split_lines<'a>(path: &Path, bytes: &'a [u8]) -> Result<Vec<&'a str>> {
    if bytes.is_empty() {
        return Ok(Vec::new());
    }
    let Some(body) = bytes.strip_suffix(b"\n") else {
        let last = bytes.iter().filter(|&&b| b == b'\n').count() + 1;
        return Err(corrupt(
            path,
            last,
            "the last line has no newline: the file was cut short",
        ));
    };
    let mut lines = Vec::new();
    for (index, raw) in body.split(|&b| b == b'\n').enumerate() {
        let line = std::str::from_utf8(raw)
            .map_err(|_| corrupt(path, index + 1, "the line is not valid UTF-8"))?;
        if line.contains('\r') {
            return Err(corrupt(path, index + 1, "the line holds a carriage return"));
        }
        lines.push(line);
    }
    Ok(lines)
}

/// Parses `text` as the canonical decimal form of a `T`: what `T`'s `Display` writes,
/// so no `+`, no leading zeros, no `-0`, no spaces. Silt writes numbers that way, and
/// a number it would not have written means the file was damaged or hand-edited.
pub(crate) fn parse_canonical<T>(text: &str) -> Option<T>
where
    T: std::str::FromStr + std::fmt::Display,
{
    text.parse::<T>().ok().filter(|n| n.to_string() == text)
}

/// `text` quoted for an error message, cut to [`EXCERPT_CHARS`] characters.
pub(crate) fn excerpt(text: &str) -> String {
    match text.char_indices().nth(EXCERPT_CHARS) {
        Some((cut, _)) => format!("{:?}…", text.get(..cut).unwrap_or_default()),
        None => format!("{text:?}"),
    }
}

/// Checks a topic name read from a file with `crate::name::validate_topic_name`, and
/// returns the reason it is refused, quoting at most an excerpt of it.
pub(crate) fn check_topic_name(name: &str) -> std::result::Result<(), String> {
    crate::name::validate_topic_name(name).map_err(|err| match err {
        EngineError::InvalidTopicName { reason, .. } => {
            format!("invalid topic name {}: {reason}", excerpt(name))
        }
        other => other.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsString;

    #[test]
    fn write_atomic_creates_replaces_and_leaves_no_tmp() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("file");
        write_atomic(&path, b"first").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"first");
        write_atomic(&path, b"second, longer").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"second, longer");
        write_atomic(&path, b"").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"");
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![OsString::from("file")]);
    }

    #[test]
    fn write_atomic_overwrites_a_stale_tmp() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("file");
        fs::write(tmp_path(&path), b"stale garbage that is longer").unwrap();
        write_atomic(&path, b"new").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"new");
        assert!(!tmp_path(&path).exists());
    }

    #[test]
    fn write_atomic_into_a_missing_directory_names_the_tmp_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("missing").join("file");
        match write_atomic(&path, b"x") {
            Err(EngineError::Io { op, path: at, .. }) => {
                assert_eq!(op, "create");
                assert_eq!(at, tmp_path(&path));
            }
            other => panic!("expected an Io error, got {other:?}"),
        }
    }

    #[test]
    fn remove_stale_tmp_removes_only_tmp_files() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("a.tmp"), b"").unwrap();
        fs::write(dir.path().join("b.properties.tmp"), b"x").unwrap();
        fs::write(dir.path().join("keep"), b"").unwrap();
        fs::write(dir.path().join("tmp"), b"").unwrap();
        fs::create_dir(dir.path().join("dir.tmp")).unwrap();
        assert_eq!(remove_stale_tmp(dir.path()).unwrap(), 2);
        let mut names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, ["dir.tmp", "keep", "tmp"]);
        assert_eq!(remove_stale_tmp(dir.path()).unwrap(), 0);
    }

    #[test]
    fn remove_dir_all_durable_removes_a_tree_and_tolerates_absence() {
        let dir = tempfile::tempdir().unwrap();
        let tree = dir.path().join("topic-0");
        fs::create_dir_all(tree.join("sub")).unwrap();
        fs::write(tree.join("sub").join("f"), b"data").unwrap();
        remove_dir_all_durable(&tree).unwrap();
        assert!(!tree.exists());
        remove_dir_all_durable(&tree).unwrap();
    }

    #[test]
    fn sync_dir_of_a_missing_directory_is_an_io_error() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing");
        assert!(matches!(
            sync_dir(&missing),
            Err(EngineError::Io { op: "open directory", ref path, .. }) if *path == missing
        ));
        sync_dir(dir.path()).unwrap();
    }

    #[test]
    fn read_bounded_refuses_a_large_file_and_reads_a_small_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        assert_eq!(read_bounded(&path, 4).unwrap(), None);
        fs::write(&path, b"1234").unwrap();
        assert_eq!(read_bounded(&path, 4).unwrap().unwrap(), b"1234");
        fs::write(&path, b"12345").unwrap();
        assert!(matches!(
            read_bounded(&path, 4),
            Err(EngineError::CorruptMetadata { line: 0, .. })
        ));
    }

    #[test]
    fn split_lines_requires_terminated_utf8_lines() {
        let path = Path::new("f");
        assert_eq!(split_lines(path, b"").unwrap(), Vec::<&str>::new());
        assert_eq!(split_lines(path, b"\n").unwrap(), [""]);
        assert_eq!(split_lines(path, b"a\nb c\n").unwrap(), ["a", "b c"]);
        let line_of = |bytes: &[u8]| match split_lines(path, bytes) {
            Err(EngineError::CorruptMetadata { line, .. }) => line,
            other => panic!("expected CorruptMetadata, got {other:?}"),
        };
        assert_eq!(line_of(b"a"), 1);
        assert_eq!(line_of(b"a\nb"), 2);
        assert_eq!(line_of(b"a\n\xff\n"), 2);
        assert_eq!(line_of(b"a\r\n"), 1);
    }

    #[test]
    fn parse_canonical_accepts_only_what_display_writes() {
        assert_eq!(parse_canonical::<u32>("0"), Some(0));
        assert_eq!(parse_canonical::<i64>("-5"), Some(-5));
        assert_eq!(parse_canonical::<u32>("4294967295"), Some(u32::MAX));
        for bad in ["", "+1", "01", "-0", " 1", "1 ", "4294967296", "1e3", "0x1"] {
            assert_eq!(parse_canonical::<u32>(bad), None, "{bad:?}");
        }
        assert_eq!(parse_canonical::<i64>("-0"), None);
    }

    #[test]
    fn excerpt_cuts_long_text_on_a_character_boundary() {
        assert_eq!(excerpt("abc"), "\"abc\"");
        let long = "é".repeat(100);
        let cut = excerpt(&long);
        assert!(cut.ends_with('…'));
        assert_eq!(cut.chars().filter(|&c| c == 'é').count(), EXCERPT_CHARS);
    }
}
