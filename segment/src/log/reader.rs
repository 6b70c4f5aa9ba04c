//! The read side of a segment: lock-free, on any thread, up to the published end.

use std::path::Path;
use std::sync::Arc;

use silt_index::TimestampOffset;

use super::shared::{Shared, SyncedTo};
use crate::batch::{Batch, Batches, DecompressBuffer};
use crate::error::{HeaderFault, Result, SegmentError};

/// A cloneable, `Send + Sync` reader of one segment.
///
/// It holds the segment's mapping alive (an `Arc`), so a reader can go on reading after the
/// segment rolled, was sealed, or its files were removed from the directory.
#[derive(Clone)]
pub struct SegmentReader {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for SegmentReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (next, end) = self.published();
        f.debug_struct("SegmentReader")
            .field("path", &self.shared.log_path)
            .field("base_offset", &self.shared.base_offset)
            .field("next_offset", &next)
            .field("size", &end)
            .finish()
    }
}

/// Whole batches returned by [`SegmentReader::read`], borrowed from the segment's map.
#[derive(Debug, Clone, Copy)]
pub struct ReadSlice<'a> {
    /// Position of the first batch in the `.log` file.
    pub position: u32,
    /// The batches, exactly as stored (for a future `sendfile`).
    pub bytes: &'a [u8],
    /// Offset after the last batch in `bytes`.
    pub next_offset: i64,
}

impl<'a> ReadSlice<'a> {
    /// Iterates the batches.
    pub fn batches(&self) -> Batches<'a> {
        Batches::new(self.bytes, u64::from(self.position))
    }
}

impl SegmentReader {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        SegmentReader { shared }
    }

    /// (next offset, end position) as last published by the writer.
    fn published(&self) -> (i64, u32) {
        self.shared.published()
    }

    /// The segment's `.log` file.
    pub fn path(&self) -> &Path {
        &self.shared.log_path
    }

    /// Whether the segment was sealed (rolled or closed): its size no longer changes.
    pub fn is_sealed(&self) -> bool {
        self.shared.is_sealed()
    }

    /// The largest timestamp in the segment and the offset of the batch that has it (Kafka's
    /// `maxTimestampSoFar` and its offset), or `None` if no batch has a timestamp `>= 0`.
    ///
    /// The writer publishes it, lock-free, before the end that covers its batch, so it counts
    /// every batch a reader can see (and, during an append, possibly one it cannot see yet).
    /// For a closed segment it comes from the time index's last entry (the roll-time entry)
    /// and the batches the open walked past the last index entry.
    pub fn max_timestamp(&self) -> Option<TimestampOffset> {
        self.shared.max_timestamp()
    }

    /// How far the log is durable: see [`SegmentSyncer`](super::SegmentSyncer).
    pub fn synced_to(&self) -> SyncedTo {
        self.shared.synced_to()
    }

    /// First offset of the segment.
    pub fn base_offset(&self) -> i64 {
        self.shared.base_offset
    }

    /// Offset after the last published record.
    pub fn next_offset(&self) -> i64 {
        self.published().0
    }

    /// Published size in bytes.
    pub fn size(&self) -> u32 {
        self.published().1
    }

    /// Every published byte: the batches from position 0 to the end.
    pub fn bytes(&self) -> &[u8] {
        let end = self.published().1 as usize;
        self.bytes_to(end)
    }

    fn bytes_to(&self, end: usize) -> &[u8] {
        match self.shared.map.as_ref() {
            Some(map) if end <= map.len() && end > 0 => {
                // SAFETY: `end` was published by the writer (Release) after it wrote every byte
                // below it, and loaded here with Acquire, so `[0, end)` is initialised; the
                // writer only writes at or past the published end (or, in `truncate_to`, when
                // no reader exists), so nothing mutates these bytes while the slice lives. The
                // `Arc<Shared>` borrowed by `&self` keeps the mapping alive. The file beneath is
                // at least `end` long: sealing trims it to exactly the end.
                unsafe { std::slice::from_raw_parts(map.as_ptr(), end) }
            }
            _ => &[],
        }
    }

    /// Iterates every published batch.
    pub fn batches(&self) -> Batches<'_> {
        Batches::new(self.bytes(), 0)
    }

    /// Position and batch of the first batch whose last offset is `>= offset`, found with the
    /// offset index and a forward scan of batch headers; `None` past the end.
    ///
    /// The index is a hint, never trusted blindly: the batch at an entry's position must end at
    /// the entry's offset. If it does not (a damaged index), the scan starts from the first
    /// batch instead, so a bad index costs time, never a wrong answer.
    ///
    /// The base offset lies outside the CRC, so the scan checks that each batch follows the
    /// one before (exactly, or at or past its next offset in a segment with offset gaps) and
    /// that the first batch starts at the segment's base offset (or past it, with gaps); with
    /// gaps, the batch after the one found must follow it too. A damaged base offset is an
    /// [`SegmentError::InvalidHeader`] error, never records handed out under offsets they were
    /// not written at.
    pub fn locate(&self, offset: i64) -> Result<Option<(u32, Batch<'_>)>> {
        // Look up the index before loading the end: an entry published before that load
        // points below the end.
        let entry = self.shared.offset_index.lookup(offset);
        let (next, end) = self.published();
        if offset >= next {
            return Ok(None);
        }
        let bytes = self.bytes_to(end as usize);
        let trusted = entry.position > 0
            && entry.position < end
            && bytes
                .get(entry.position as usize..)
                .and_then(|b| Batch::parse(b, u64::from(entry.position)).ok())
                .is_some_and(|b| b.last_offset() == entry.offset);
        let from = if trusted { entry.position } else { 0 };
        // From the first batch, the segment's base offset; from an entry, whatever the
        // entry's batch (which ends where the entry says) starts at.
        let mut expected = (!trusted).then_some(self.base_offset());
        let mut batches = Batches::new(
            bytes.get(from as usize..).unwrap_or_default(),
            u64::from(from),
        )
        .peekable();
        while let Some(batch) = batches.next() {
            let batch = batch?;
            self.check_follows(&batch, expected)?;
            check_below(&batch, next)?;
            if batch.last_offset() >= offset {
                // With gaps, a base offset raised by damage still follows the batch before
                // it; only the batch after it can tell, by going backwards.
                if let Some(Ok(after)) = batches.peek().filter(|_| self.shared.offset_gaps()) {
                    self.check_follows(after, Some(batch.next_offset()))?;
                }
                return Ok(Some((batch.position() as u32, batch)));
            }
            expected = Some(batch.next_offset());
        }
        Ok(None)
    }

    /// Whether `batch` may follow a batch ending before `expected` (`None`: anything may).
    /// (Below the segment's end too: see [`check_below`].)
    fn check_follows(&self, batch: &Batch<'_>, expected: Option<i64>) -> Result<()> {
        let Some(expected) = expected else {
            return Ok(());
        };
        let found = batch.base_offset();
        let follows = if self.shared.offset_gaps() {
            found >= expected
        } else {
            found == expected
        };
        if follows {
            return Ok(());
        }
        Err(SegmentError::InvalidHeader {
            position: batch.position(),
            fault: HeaderFault::OffsetGap { expected, found },
        })
    }

    /// Whole batches starting with the one that holds `offset`, up to `max_bytes` in all, but
    /// always at least that first batch (as Kafka's fetch does, so a consumer never stalls
    /// on a batch larger than its limit). `None` when `offset` is at or past the end.
    /// An offset below the base offset reads from the first batch. The batches returned follow
    /// one another as [`locate`](Self::locate) checks (with gaps, so does the batch after
    /// each): the slice ends before a batch, or with gaps a pair, that does not, and a read
    /// from there gets the error.
    pub fn read(&self, offset: i64, max_bytes: usize) -> Result<Option<ReadSlice<'_>>> {
        let Some((position, first)) = self.locate(offset)? else {
            return Ok(None);
        };
        let (next, end) = self.published();
        let bytes = self.bytes_to(end as usize);
        let rest = bytes.get(position as usize..).unwrap_or_default();
        let mut len = first.size();
        let mut next_offset = first.next_offset();
        // (end, next offset) before the last batch taken: with gaps, where the slice ends if
        // the batch after that one does not follow it, since either may be the damaged one
        // (without gaps, every batch taken followed the one before it exactly).
        let gaps = self.shared.offset_gaps();
        let mut before_last = (len, next_offset);
        for batch in Batches::new(
            rest.get(len..).unwrap_or_default(),
            u64::from(position) + len as u64,
        ) {
            let Ok(batch) = batch else { break };
            if check_below(&batch, next).is_err() {
                break; // this batch is the damaged one
            }
            if self.check_follows(&batch, Some(next_offset)).is_err() {
                if gaps {
                    (len, next_offset) = before_last;
                }
                break;
            }
            if len + batch.size() > max_bytes {
                break;
            }
            before_last = (len, next_offset);
            len += batch.size();
            next_offset = batch.next_offset();
        }
        Ok(Some(ReadSlice {
            position,
            bytes: rest.get(..len).unwrap_or_default(),
            next_offset,
        }))
    }

    /// Kafka's offsetsForTimes inside one segment: the first record with a timestamp
    /// `>= timestamp`, found through the time index, the offset index and a scan. `None` if
    /// no record is that late. Compressed batches are decompressed into `buffer`.
    pub fn find_by_timestamp(
        &self,
        timestamp: i64,
        buffer: &mut DecompressBuffer,
    ) -> Result<Option<TimestampOffset>> {
        let from_offset = self.shared.time_index.lookup(timestamp).offset;
        let Some((position, _)) = self.locate(from_offset)? else {
            return Ok(None);
        };
        let (_, end) = self.published();
        let bytes = self.bytes_to(end as usize);
        for batch in Batches::new(
            bytes.get(position as usize..).unwrap_or_default(),
            u64::from(position),
        ) {
            let batch = batch?;
            if batch.max_timestamp() < timestamp {
                continue;
            }
            for record in batch.records(buffer)? {
                let record = record?;
                if record.timestamp >= timestamp {
                    return Ok(Some(TimestampOffset {
                        timestamp: record.timestamp,
                        offset: record.offset,
                    }));
                }
            }
        }
        Ok(None)
    }

    /// Largest entry of the offset index at or below `offset` (for tests and tools).
    pub fn index_lookup(&self, offset: i64) -> silt_index::OffsetPosition {
        self.shared.offset_index.lookup(offset)
    }

    /// Largest entry of the time index at or below `timestamp` (for tests and tools).
    pub fn time_index_lookup(&self, timestamp: i64) -> TimestampOffset {
        self.shared.time_index.lookup(timestamp)
    }
}

/// A batch below the end the reader loaded must end below its next offset `next`: with
/// compaction's gaps a base offset raised by damage still follows the batch before it, and
/// in the last batch nothing after it can tell (the segment's end, found when it was opened
/// or appended to, can).
fn check_below(batch: &Batch<'_>, next: i64) -> Result<()> {
    if batch.last_offset() < next {
        return Ok(());
    }
    Err(SegmentError::InvalidHeader {
        position: batch.position(),
        fault: HeaderFault::PastSegmentEnd {
            next_offset: next,
            last_offset: batch.last_offset(),
        },
    })
}
