//! What opening an existing index found.

/// What `open` found in an existing index file.
///
/// `Ok` means the entries can be trusted. Anything else means the index was
/// emptied and the caller must rebuild it by scanning its log and appending
/// again (Kafka's recovery). Opening never fails because of bad *contents*:
/// an index is derived data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IndexCheck {
    /// The file held a valid index; its entries were kept.
    Ok,
    /// The file was missing or invalid; the index is now empty.
    Rebuild(RebuildReason),
}

impl IndexCheck {
    /// `true` for [`IndexCheck::Ok`].
    pub fn is_ok(&self) -> bool {
        matches!(self, Self::Ok)
    }
}

/// Why an index must be rebuilt.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RebuildReason {
    /// The file did not exist (`open` created it).
    Missing,
    /// The file length is not a whole number of entries (a torn write or a
    /// truncation mid-entry).
    SizeNotMultiple {
        /// The file length in bytes.
        len: u64,
        /// The entry size of this index.
        entry_size: u64,
    },
    /// Entry `entry` does not follow entry `entry - 1`. An index that was not
    /// trimmed by `seal` (the process stopped without closing it) shows up as
    /// this: its preallocated zero tail goes backwards.
    NotMonotonic {
        /// The index of the first bad entry.
        entry: usize,
    },
    /// Entry `entry` points past the end of the log: for the offset index its
    /// position is at or past the log size, for the time index its offset is
    /// at or past the segment's next offset.
    OutOfLog {
        /// The index of the first bad entry.
        entry: usize,
    },
    /// The file is larger than the maximum index size.
    TooLarge {
        /// The file length in bytes.
        len: u64,
        /// The maximum index size in bytes (rounded down to whole entries).
        max: u64,
    },
}
