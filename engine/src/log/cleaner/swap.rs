//! Putting a cleaned segment in place of the old ones, crash-safely (Kafka's
//! `replaceSegments`), and finishing or undoing an interrupted swap when a log opens.
//!
//! A cleaned segment replaces one or more consecutive old segments (a group) and has the
//! base offset of the first, so each of its three files replaces one file of the first old
//! segment; the others' files go. The steps, each a rename within the partition directory:
//!
//! 1. The cleaned segment is written as `<base>.log.cleaned`, `.index.cleaned`,
//!    `.timeindex.cleaned` and synced (sealing fsyncs them).
//! 2. The `.cleaned` files are renamed `.swap`, the indexes first and the `.log` last, and
//!    the directory is synced. `<base>.log.swap` existing is the commit point: from then on
//!    the swap is completed, by this run or by the next open.
//! 3. The first old segment's files get their `.deleted` names (hard links, so the final
//!    name never dangles), the `.swap` files are renamed over the final names (indexes
//!    first, `.log` last), and the other old segments' files are renamed `.deleted`.
//! 4. The `.deleted` files are removed. The directory is synced by the next swap's step 2,
//!    or at the end of the cleaning.
//!
//! At open, [`recover_swaps`] deletes every `.cleaned` file (the old segments are intact)
//! and every `.swap` file of a base without `<base>.log.swap` (step 2 did not finish); for a
//! base with `<base>.log.swap` it deletes the segments based inside the swap segment's
//! offsets (the other old segments of its group, as Kafka's recovery does) and renames each
//! remaining `.swap` file over its final name; then it deletes every `.deleted` file. A
//! crash at any point leaves the old segments or the new one, whole. (An old segment of the
//! group that cleaning emptied lies past the swap segment's last offset, and a crash can
//! leave it in place: its records come after the new segment's, so the log is still valid,
//! just less clean until the next cleaning.)

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use silt_segment::batch::{field, HEADER_SIZE, LOG_OVERHEAD};
use silt_segment::log::{
    parse_segment_file, segment_file, SegmentConfig, INDEX_SUFFIX, LOG_SUFFIX, TIME_INDEX_SUFFIX,
};

use crate::error::{io_err, EngineError, Result};
use crate::fsutil::sync_dir;
use crate::log::segments::{ClosedSegment, NO_NEXT_BASE};
use crate::log::Log;
use crate::sync::{lock, read, write};

/// Suffix of a cleaned segment's files while they are written.
pub(crate) const CLEANED_SUFFIX: &str = ".cleaned";
/// Suffix of a cleaned segment's files once the swap is decided.
pub(crate) const SWAP_SUFFIX: &str = ".swap";
/// Suffix of a replaced segment's files until they are removed.
pub(crate) const DELETED_SUFFIX: &str = ".deleted";

/// A segment's file kinds, in the order their renames are made: the `.log` last, since its
/// rename is the one recovery keys on.
const KINDS: [&str; 3] = [INDEX_SUFFIX, TIME_INDEX_SUFFIX, LOG_SUFFIX];

/// The steps of a swap, for tests that stop a cleaning part way to simulate a crash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[non_exhaustive]
pub enum CleanerStep {
    /// The `.cleaned` files are written and synced.
    Cleaned,
    /// The `.cleaned` files were renamed `.swap` (the swap is decided).
    Swapped,
    /// The old files were renamed `.deleted` (the first segment's hard-linked, those of the
    /// segments merged into it renamed).
    OldRenamed,
    /// The `.swap` files were renamed to their final names; `.deleted` files remain.
    Replaced,
}

impl CleanerStep {
    pub(crate) fn code(self) -> u8 {
        match self {
            CleanerStep::Cleaned => 1,
            CleanerStep::Swapped => 2,
            CleanerStep::OldRenamed => 3,
            CleanerStep::Replaced => 4,
        }
    }
}

/// Steps 2 to 4 for a cleaned segment of `new_size` bytes written and sealed as
/// `<base>.*.cleaned`, `base` being `old[0]`'s base offset: it replaces the consecutive
/// segments `old`, in the directory and in the log's list. The renames and the list change
/// happen under the writer's lock, which retention and roll change the list under: the old
/// segments cannot be deleted meanwhile, and readers see the old list or the new one. `stop`
/// is the test hook's [`CleanerStep`] code.
///
/// The directory is not synced after the final renames: the swap was decided (step 2's
/// sync), so a crash that loses them leaves the `.swap` files, which opening installs; the
/// next swap's step 2, or the end of the cleaning, syncs them.
///
/// A file operation that fails before the swap is decided undoes step 2 (the old segments
/// were never touched) and fails the cleaning, which a later one retries. One that fails
/// after it leaves the directory part way between the old segments and the new one, which
/// the log's list no longer describes: the log goes offline ([`Log::fail`]), and the next
/// open finishes the swap as it does after a crash.
pub(crate) fn replace(
    log: &Log,
    old: &[Arc<ClosedSegment>],
    new_size: u64,
    config: &SegmentConfig,
    stop: u8,
) -> Result<()> {
    let Some(first) = old.first() else {
        return Ok(());
    };
    let (dir, base) = (log.dir(), first.base_offset());
    let check = |step: CleanerStep| check_stop(log, base, stop, step);
    check(CleanerStep::Cleaned)?;
    if let Err(e) = decide(dir, base) {
        // Best effort: what is left is removed by the next cleaning of this base or open.
        let _ = remove_swap(dir, base);
        let _ = remove_cleaned(dir, base);
        return Err(e);
    }
    check(CleanerStep::Swapped)?;
    {
        let _writer = lock(&log.writer);
        let Some(position) = position_of(&read(&log.view).closed, old) else {
            // Retention deleted a segment while it was cleaned: nothing to replace.
            remove_swap(dir, base)?;
            return Ok(());
        };
        // The cleaned file ends where the last segment it replaces ended, at most.
        let next_base = old.last().map_or(NO_NEXT_BASE, |s| s.next_base());
        for segment in old {
            // A reader that still holds an old segment and maps it now finds the new file.
            segment.allow_offset_gaps();
        }
        first.expect_next_base(next_base);
        for segment in old.iter().skip(1) {
            // A reader that took a merged segment from the old list maps it by name, and its
            // name is about to go: map it now, while its files are there (best effort: the
            // segment cache may still unmap it).
            let _ = segment.reader(config, &log.cache);
        }
        let offline = |e: EngineError| log.fail(e, log.recovery_point());
        retire_old(dir, base).map_err(offline)?;
        // The merged segments go while `<base>.log.swap` still marks the swap as decided: a
        // crash from here on is finished by recovery, which deletes every segment the swap
        // covers before installing it. Installing first would leave, after a crash, the
        // cleaned segment beside old segments it covers, with nothing marking it unfinished.
        for segment in old.iter().skip(1) {
            retire_merged(dir, segment.base_offset()).map_err(offline)?;
        }
        check(CleanerStep::OldRenamed)?;
        install(dir, base).map_err(offline)?;
        let new = ClosedSegment::unmapped(Arc::clone(&log.dir), base, new_size, true);
        new.expect_next_base(next_base);
        write(&log.view)
            .closed
            .splice(position..position + old.len(), [new]);
    }
    check(CleanerStep::Replaced)?;
    for segment in old {
        remove_deleted(dir, segment.base_offset())?;
    }
    Ok(())
}

/// Where the consecutive segments `old` lie in `closed`, if all of them still do.
fn position_of(closed: &[Arc<ClosedSegment>], old: &[Arc<ClosedSegment>]) -> Option<usize> {
    let first = old.first()?;
    let position = closed.iter().position(|s| Arc::ptr_eq(s, first))?;
    let now = closed.get(position..position + old.len())?;
    now.iter()
        .zip(old)
        .all(|(a, b)| Arc::ptr_eq(a, b))
        .then_some(position)
}

/// Fails with `CleanerInterrupted` when the test hook (`stop`) asks to stop after `step`.
fn check_stop(log: &Log, base_offset: i64, stop: u8, step: CleanerStep) -> Result<()> {
    if stop == step.code() {
        return Err(EngineError::CleanerInterrupted {
            topic: log.topic().to_string(),
            partition: log.partition(),
            base_offset,
            step,
        });
    }
    Ok(())
}

/// `<dir>/<base>.<kind><suffix>`.
fn suffixed(dir: &Path, base: i64, kind: &str, suffix: &str) -> PathBuf {
    let mut name = segment_file(dir, base, kind).into_os_string();
    name.push(suffix);
    PathBuf::from(name)
}

fn rename(from: &Path, to: &Path) -> Result<()> {
    std::fs::rename(from, to).map_err(io_err("rename", from))
}

fn remove_if_present(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io_err("remove", path)(e)),
        _ => Ok(()),
    }
}

/// Removes the `.cleaned` files of `base` (a cleaning that was abandoned).
pub(crate) fn remove_cleaned(dir: &Path, base: i64) -> Result<()> {
    for kind in KINDS {
        remove_if_present(&suffixed(dir, base, kind, CLEANED_SUFFIX))?;
    }
    Ok(())
}

/// Step 2: `.cleaned` → `.swap`, then a directory sync. After it the swap is decided.
fn decide(dir: &Path, base: i64) -> Result<()> {
    silt_index::failpoint!(
        "engine.cleaner.swap",
        io_err("rename", suffixed(dir, base, LOG_SUFFIX, CLEANED_SUFFIX))
    );
    for kind in KINDS {
        let from = suffixed(dir, base, kind, CLEANED_SUFFIX);
        rename(&from, &suffixed(dir, base, kind, SWAP_SUFFIX))?;
    }
    sync_dir(dir)
}

/// Undoes step 2 (the old segment is gone: retention deleted it meanwhile).
fn remove_swap(dir: &Path, base: i64) -> Result<()> {
    // The `.log` first: without it the index swaps no longer count as decided.
    for kind in KINDS.iter().rev() {
        remove_if_present(&suffixed(dir, base, kind, SWAP_SUFFIX))?;
    }
    Ok(())
}

/// Step 3a: the old files get their `.deleted` name. They are hard-linked rather than
/// renamed, so that the final name always names a whole segment (old until step 3b renames
/// the new file over it): a reader mapping the segment in between never finds it missing.
/// A missing index is fine (opening rebuilds one).
fn retire_old(dir: &Path, base: i64) -> Result<()> {
    for kind in KINDS {
        let from = segment_file(dir, base, kind);
        let to = suffixed(dir, base, kind, DELETED_SUFFIX);
        remove_if_present(&to)?;
        match std::fs::hard_link(&from, &to) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(io_err("link", &from)(e))
            }
            _ => {}
        }
    }
    Ok(())
}

/// Step 3c: the files of an old segment merged into the cleaned segment of an earlier base
/// are renamed `.deleted` (no file takes their name). A missing index is fine.
fn retire_merged(dir: &Path, base: i64) -> Result<()> {
    for kind in KINDS {
        let from = segment_file(dir, base, kind);
        match std::fs::rename(&from, suffixed(dir, base, kind, DELETED_SUFFIX)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(io_err("rename", &from)(e))
            }
            _ => {}
        }
    }
    Ok(())
}

/// Step 3b: every `.swap` file of `base` still there is renamed over its final name
/// (indexes first, the `.log` last). Also how recovery completes a decided swap. The caller
/// syncs the directory.
fn install(dir: &Path, base: i64) -> Result<()> {
    silt_index::failpoint!(
        "engine.cleaner.install",
        io_err("rename", suffixed(dir, base, LOG_SUFFIX, SWAP_SUFFIX))
    );
    for kind in KINDS {
        let from = suffixed(dir, base, kind, SWAP_SUFFIX);
        if from.exists() {
            rename(&from, &segment_file(dir, base, kind))?;
        }
    }
    Ok(())
}

/// Step 4: removes the `.deleted` files of `base`.
fn remove_deleted(dir: &Path, base: i64) -> Result<()> {
    for kind in KINDS {
        remove_if_present(&suffixed(dir, base, kind, DELETED_SUFFIX))?;
    }
    Ok(())
}

/// Finishes or undoes the swaps a crash interrupted in `dir` (see the module docs). Returns
/// how many swaps were completed.
pub(crate) fn recover_swaps(dir: &Path) -> Result<usize> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(0); // a new partition: nothing to recover
    };
    let mut decided = Vec::new();
    let mut stray = Vec::new();
    let mut segments = Vec::new();
    for entry in entries {
        let path = entry.map_err(io_err("list", dir))?.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        if let Ok(base) = parse_segment_file(&path) {
            segments.push(base);
        } else if name.ends_with(CLEANED_SUFFIX) || name.ends_with(DELETED_SUFFIX) {
            stray.push(path);
        } else if let Some(stem) = name.strip_suffix(SWAP_SUFFIX) {
            match stem.strip_suffix(&format!(".{LOG_SUFFIX}")) {
                Some(base) => decided.extend(base.parse::<i64>().ok()),
                None => stray.push(path), // an index swap: kept only with its `.log.swap`
            }
        }
    }
    let touched = !decided.is_empty() || !stray.is_empty();
    for &base in &decided {
        let next = swap_next_offset(dir, base)?;
        for &merged in segments.iter().filter(|&&b| b > base && b < next) {
            for kind in KINDS {
                remove_if_present(&segment_file(dir, merged, kind))?;
            }
        }
        install(dir, base)?;
    }
    for path in stray {
        if path.exists() {
            remove_if_present(&path)?;
        }
    }
    if touched {
        sync_dir(dir)?;
    }
    Ok(decided.len())
}

/// The offset after the last batch of `<base>.log.swap` (`base` if it holds none): the old
/// segments based below it, past `base`, were merged into it. Walks the batch headers; the
/// file was synced whole before it was renamed `.swap`, so a header that does not parse, or
/// whose offsets do not follow the previous batch's, can only be the end.
fn swap_next_offset(dir: &Path, base: i64) -> Result<i64> {
    let path = suffixed(dir, base, LOG_SUFFIX, SWAP_SUFFIX);
    let file = File::open(&path).map_err(io_err("open", &path))?;
    let len = file.metadata().map_err(io_err("stat", &path))?.len();
    let mut next = base;
    let mut position = 0u64;
    let mut header = [0u8; field::LAST_OFFSET_DELTA + 4];
    while position + HEADER_SIZE as u64 <= len {
        file.read_exact_at(&mut header, position)
            .map_err(io_err("read", &path))?;
        let int = |at: usize| {
            header
                .get(at..at + 4)
                .and_then(|b| <[u8; 4]>::try_from(b).ok())
        };
        let (Some(base_offset), Some(length), Some(last_delta)) = (
            header
                .get(field::BASE_OFFSET..field::BASE_OFFSET + 8)
                .and_then(|b| <[u8; 8]>::try_from(b).ok())
                .map(i64::from_be_bytes),
            int(field::LENGTH).map(i32::from_be_bytes),
            int(field::LAST_OFFSET_DELTA).map(i32::from_be_bytes),
        ) else {
            break;
        };
        let size = u64::try_from(length).unwrap_or(0) + LOG_OVERHEAD as u64;
        // Offsets rise from batch to batch (with gaps): anything else is not a batch.
        if size < HEADER_SIZE as u64 || position + size > len || base_offset < next {
            break;
        }
        next = base_offset.saturating_add(i64::from(last_delta).max(0) + 1);
        position += size;
    }
    Ok(next)
}
