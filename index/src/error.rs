//! `IndexError`: everything that can go wrong in this crate, each variant
//! naming the file and what was wrong with it.

use std::path::{Path, PathBuf};

/// An error from an offset index or a time index.
///
/// Every variant carries the path of the index file. Corruption found while
/// *opening* an index is not an error: it is reported as
/// [`IndexCheck::Rebuild`](crate::IndexCheck) so the caller can rebuild the
/// index from its log.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IndexError {
    /// A system call on the index file failed.
    #[error("index {}: {op} failed: {source}", .path.display())]
    Io {
        /// The index file.
        path: PathBuf,
        /// What was being done: "open", "stat", "mmap", "fallocate",
        /// "truncate", "msync", "fdatasync" or "rename". Indexes keep no
        /// file descriptor, so "open" can also come from a flush, seal or
        /// unseal, which open the file for the duration of the call.
        op: &'static str,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// `max_index_bytes` holds no whole entry, or is too large to map.
    #[error(
        "index {}: max index size {max_index_bytes} bytes is unusable: it must hold at least \
         one {entry_size}-byte entry and fit in the address space",
        .path.display()
    )]
    BadMaxSize {
        /// The index file.
        path: PathBuf,
        /// The size asked for.
        max_index_bytes: u64,
        /// The size of one entry of this index.
        entry_size: usize,
    },
    /// The segment's base offset is negative or so large that relative
    /// offsets would overflow an `i64`.
    #[error(
        "index {}: base offset {base_offset} is out of range (0 ..= i64::MAX - u32::MAX)",
        .path.display()
    )]
    BadBaseOffset {
        /// The index file.
        path: PathBuf,
        /// The base offset given.
        base_offset: i64,
    },
    /// The index has no free slot left: the segment must roll.
    #[error("index {} is full ({entries} entries): roll the segment", .path.display())]
    Full {
        /// The index file.
        path: PathBuf,
        /// How many entries it holds.
        entries: usize,
    },
    /// The index was sealed (its segment rolled) and takes no more appends.
    #[error("index {} is sealed: its segment is no longer active", .path.display())]
    Sealed {
        /// The index file.
        path: PathBuf,
    },
    /// The offset is below the base offset, or more than `u32::MAX` above it,
    /// so it has no relative offset in this segment.
    #[error(
        "index {}: offset {offset} cannot be stored relative to base offset {base_offset} \
         (must be in base ..= base + u32::MAX)",
        .path.display()
    )]
    OffsetOverflow {
        /// The index file.
        path: PathBuf,
        /// The index's base offset.
        base_offset: i64,
        /// The offset that did not fit.
        offset: i64,
    },
    /// An append's offset goes backwards (or, for the offset index, does not
    /// move forward).
    #[error(
        "index {}: offset {offset} appended after offset {last}: offsets must increase",
        .path.display()
    )]
    NotMonotonic {
        /// The index file.
        path: PathBuf,
        /// The offset of the last entry.
        last: i64,
        /// The offset appended.
        offset: i64,
    },
    /// An offset index append's byte position does not move forward.
    #[error(
        "index {}: position {position} appended after position {last}: positions must increase",
        .path.display()
    )]
    PositionNotMonotonic {
        /// The index file.
        path: PathBuf,
        /// The position of the last entry.
        last: u32,
        /// The position appended.
        position: u32,
    },
    /// `unseal` of an index opened as it was (`open_sealed`, mapped at its
    /// length) must map it again at its maximum size, and readers still hold
    /// the old map.
    #[error(
        "index {}: cannot unseal while readers hold its map (it was opened sealed, mapped at \
         its length): drop the readers first",
        .path.display()
    )]
    ReadersOutstanding {
        /// The index file.
        path: PathBuf,
    },
}

impl IndexError {
    /// The index file the error is about.
    pub fn path(&self) -> &Path {
        match self {
            Self::Io { path, .. }
            | Self::BadMaxSize { path, .. }
            | Self::BadBaseOffset { path, .. }
            | Self::Full { path, .. }
            | Self::Sealed { path }
            | Self::OffsetOverflow { path, .. }
            | Self::NotMonotonic { path, .. }
            | Self::PositionNotMonotonic { path, .. }
            | Self::ReadersOutstanding { path } => path,
        }
    }

    /// A closure turning an `io::Error` from `op` on `path` into `Io`.
    pub(crate) fn io<'a>(
        path: &'a Path,
        op: &'static str,
    ) -> impl FnOnce(std::io::Error) -> Self + 'a {
        move |source| Self::Io {
            path: path.to_path_buf(),
            op,
            source,
        }
    }
}
