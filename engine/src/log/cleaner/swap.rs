//! Putting a cleaned segment in place of the old one, crash-safely (Kafka's
//! `replaceSegments`), and finishing or undoing an interrupted swap when a log opens.
//!
//! A cleaned segment has the base offset of the segment it replaces, so each of its three
//! files replaces exactly one old file. The steps, each a rename within the partition
//! directory:
//!
//! 1. The cleaned segment is written as `<base>.log.cleaned`, `.index.cleaned`,
//!    `.timeindex.cleaned` and synced (sealing fsyncs them).
//! 2. The `.cleaned` files are renamed `.swap`, the indexes first and the `.log` last, and
//!    the directory is synced. `<base>.log.swap` existing is the commit point: from then on
//!    the swap is completed, by this run or by the next open.
//! 3. The old files get their `.deleted` names (hard links, so the final name never
//!    dangles), then the `.swap` files are renamed over the final names (indexes first,
//!    `.log` last), and the directory is synced.
//! 4. The `.deleted` files are removed.
//!
//! At open, [`recover_swaps`] deletes every `.cleaned` file (the old segment is intact) and
//! every `.swap` file of a base without `<base>.log.swap` (step 2 did not finish); for a
//! base with `<base>.log.swap` it renames each remaining `.swap` file over its final name;
//! then it deletes every `.deleted` file. A crash at any point leaves the old segment or
//! the new one, whole.

use std::path::{Path, PathBuf};

use silt_segment::log::{segment_file, INDEX_SUFFIX, LOG_SUFFIX, TIME_INDEX_SUFFIX};

use crate::error::{io_err, Result};
use crate::fsutil::sync_dir;

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
    /// The old files were renamed `.deleted`.
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

/// `<dir>/<base>.<kind><suffix>`.
pub(crate) fn suffixed(dir: &Path, base: i64, kind: &str, suffix: &str) -> PathBuf {
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
pub(crate) fn decide(dir: &Path, base: i64) -> Result<()> {
    for kind in KINDS {
        let from = suffixed(dir, base, kind, CLEANED_SUFFIX);
        rename(&from, &suffixed(dir, base, kind, SWAP_SUFFIX))?;
    }
    sync_dir(dir)
}

/// Undoes step 2 (the old segment is gone: retention deleted it meanwhile).
pub(crate) fn remove_swap(dir: &Path, base: i64) -> Result<()> {
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
pub(crate) fn retire_old(dir: &Path, base: i64) -> Result<()> {
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

/// Step 3b: every `.swap` file of `base` still there is renamed over its final name
/// (indexes first, the `.log` last). Also how recovery completes a decided swap. The caller
/// syncs the directory.
pub(crate) fn install(dir: &Path, base: i64) -> Result<()> {
    for kind in KINDS {
        let from = suffixed(dir, base, kind, SWAP_SUFFIX);
        if from.exists() {
            rename(&from, &segment_file(dir, base, kind))?;
        }
    }
    Ok(())
}

/// Step 4: removes the `.deleted` files of `base`.
pub(crate) fn remove_deleted(dir: &Path, base: i64) -> Result<()> {
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
    for entry in entries {
        let path = entry.map_err(io_err("list", dir))?.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        if name.ends_with(CLEANED_SUFFIX) || name.ends_with(DELETED_SUFFIX) {
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
