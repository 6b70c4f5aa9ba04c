//! The state a segment's writer shares with its readers, syncers and pretouchers, all
//! lock-free: the map, the published end, how far the log is durable, and the max timestamp.

use std::path::{Path, PathBuf};
use std::sync::atomic::{fence, AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;

use memmap2::MmapRaw;
use silt_index::{OffsetIndexReader, TimeIndexReader, TimestampOffset};

use super::file;
use super::tracking::Recovered;
use crate::error::Result;

/// State shared by the writer and its readers.
///
/// `published` packs the segment's readable end: the high 32 bits are the next offset
/// relative to the base offset, the low 32 bits the end position. One 64-bit store publishes
/// both, so a reader never sees an end position without the offsets that go with it.
/// `synced` packs the durable end the same way. Both grow together (every batch adds at least
/// one offset and one byte), so comparing packed words compares ends.
pub(crate) struct Shared {
    pub(crate) base_offset: i64,
    pub(crate) log_path: PathBuf,
    /// `None` only for an empty sealed segment (a zero-length file cannot be mapped).
    pub(crate) map: Option<MmapRaw>,
    pub(crate) published: AtomicU64,
    /// The published end that is durable; only grows (`fetch_max`), except when the writer
    /// truncates, which it does only while it holds the only reference.
    synced: AtomicU64,
    max_timestamp: MaxTimestamp,
    /// Changes of the `.log` file's length or allocation (preallocation), and how many of
    /// them an fdatasync has made durable: see [`Shared::sync`].
    len_changes: AtomicU64,
    len_synced: AtomicU64,
    sealed: AtomicBool,
    /// Whether batches may leave offsets unused between them (a compacted segment): readers
    /// then accept a batch whose base offset is past the previous batch's next offset, and
    /// otherwise require it to be exactly there.
    offset_gaps: AtomicBool,
    pub(crate) offset_index: OffsetIndexReader,
    pub(crate) time_index: TimeIndexReader,
}

pub(crate) fn pack(next_relative: u32, end: u32) -> u64 {
    (u64::from(next_relative) << 32) | u64::from(end)
}

pub(crate) fn unpack(published: u64) -> (u32, u32) {
    ((published >> 32) as u32, published as u32)
}

/// How far a segment's log is durable: every batch below `end`, i.e. every offset below
/// `next_offset`, has reached the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct SyncedTo {
    /// Offset after the last durable record.
    pub next_offset: i64,
    /// Position after the last durable batch in the `.log` file.
    pub end: u32,
}

impl Shared {
    /// The shared state of a segment whose first `state.end` bytes are published and durable.
    pub(crate) fn new(
        log_path: PathBuf,
        map: Option<MmapRaw>,
        state: &Recovered,
        offset_index: OffsetIndexReader,
        time_index: TimeIndexReader,
    ) -> Shared {
        let base_offset = offset_index.base_offset();
        let end = pack_state(base_offset, state);
        let t = state.tracking;
        Shared {
            base_offset,
            log_path,
            map,
            published: AtomicU64::new(end),
            synced: AtomicU64::new(end),
            max_timestamp: MaxTimestamp::new(t.max_timestamp, t.offset_of_max_timestamp),
            len_changes: AtomicU64::new(0),
            len_synced: AtomicU64::new(0),
            sealed: AtomicBool::new(false),
            offset_gaps: AtomicBool::new(false),
            offset_index,
            time_index,
        }
    }

    /// (next offset, end position) as last published by the writer.
    pub(crate) fn published(&self) -> (i64, u32) {
        let (relative, end) = unpack(self.published.load(Ordering::Acquire));
        (self.base_offset + i64::from(relative), end)
    }

    /// Publishes a new end (writer only, after writing every byte below it).
    pub(crate) fn publish(&self, next_offset: i64, end: u32) {
        let relative = (next_offset - self.base_offset) as u32;
        self.published.store(pack(relative, end), Ordering::Release);
    }

    /// Takes on `state` as published and durable, with its max timestamp. For the writer when
    /// it moves its end back or rebuilds it (recovery, truncation), while no other thread holds
    /// the segment, and with every byte below the end durable.
    pub(crate) fn restore(&self, state: &Recovered) {
        let t = state.tracking;
        self.set_max_timestamp(t.max_timestamp, t.offset_of_max_timestamp);
        let end = pack_state(self.base_offset, state);
        self.synced.store(end, Ordering::Release);
        self.published.store(end, Ordering::Release);
    }

    /// The segment's largest timestamp and the offset of its batch, if any batch has a
    /// timestamp `>= 0`.
    pub(crate) fn max_timestamp(&self) -> Option<TimestampOffset> {
        let (timestamp, offset) = self.max_timestamp.load();
        (timestamp >= 0).then_some(TimestampOffset { timestamp, offset })
    }

    /// Publishes a new max timestamp (writer only).
    pub(crate) fn set_max_timestamp(&self, timestamp: i64, offset: i64) {
        self.max_timestamp.store(timestamp, offset);
    }

    /// Whether the segment was sealed.
    pub(crate) fn is_sealed(&self) -> bool {
        self.sealed.load(Ordering::Acquire)
    }

    /// Marks the segment sealed (writer only).
    pub(crate) fn mark_sealed(&self) {
        self.sealed.store(true, Ordering::Release);
    }

    /// Whether batches may leave offsets unused between them.
    pub(crate) fn offset_gaps(&self) -> bool {
        self.offset_gaps.load(Ordering::Acquire)
    }

    /// Says whether batches may leave offsets unused between them (writer or opener only).
    pub(crate) fn set_offset_gaps(&self, gaps: bool) {
        self.offset_gaps.store(gaps, Ordering::Release);
    }

    /// Records that the `.log` file's length or allocation changed (writer only), so the next
    /// sync fdatasyncs the file.
    pub(crate) fn note_len_change(&self) {
        self.len_changes.fetch_add(1, Ordering::AcqRel);
    }

    /// Records that an fsync or fdatasync of the whole file, begun after every change of its
    /// length so far and after the current end was published, completed.
    pub(crate) fn note_file_synced(&self) {
        let changes = self.len_changes.load(Ordering::Acquire);
        self.len_synced.fetch_max(changes, Ordering::AcqRel);
        let published = self.published.load(Ordering::Acquire);
        self.synced.fetch_max(published, Ordering::AcqRel);
    }

    /// How far the log is durable.
    pub(crate) fn synced_to(&self) -> SyncedTo {
        unpack_synced(self.base_offset, self.synced.load(Ordering::Acquire))
    }

    /// Makes every byte published before the call durable, and records it.
    ///
    /// On Linux, `msync(MS_SYNC)` of a shared file mapping is `vfs_fsync_range(file, start,
    /// end, datasync = 1)`: the range form of fdatasync, which writes the dirty pages of the
    /// range, commits the metadata needed to read them back and flushes the device. So the
    /// msync of `[synced, published)` is all a sync needs, and it needs no file descriptor.
    /// The exception is a change of the file's length or allocation (creation and reopening
    /// preallocate): msync commits it too, but only when it has a range to write, so the
    /// first sync after such a change opens the file and fdatasyncs it whole instead (which
    /// also writes every dirty page, mapped ones included: a shared writable mapping marks a
    /// page dirty in the page cache at its first store).
    ///
    /// Concurrent calls (from [`SegmentSyncer`]s and the writer's flush) are safe: each syncs
    /// from the durable end it loaded to the end it loaded, and the durable end only moves
    /// forward (`fetch_max`), so a caller that finds a range already synced by another skips
    /// it.
    pub(crate) fn sync(&self) -> Result<SyncedTo> {
        let published = self.published.load(Ordering::Acquire);
        let (_, end) = unpack(published);
        let (_, synced_end) = unpack(self.synced.load(Ordering::Acquire));
        let changes = self.len_changes.load(Ordering::Acquire);
        if changes > self.len_synced.load(Ordering::Acquire) {
            let sync = |f: &std::fs::File| file::sync_data(f, &self.log_path);
            file::with_file(&self.log_path, false, sync)?;
            self.len_synced.fetch_max(changes, Ordering::AcqRel);
        } else if let (Some(map), true) = (self.map.as_ref(), end > synced_end) {
            file::sync_range(map, &self.log_path, synced_end as usize, end as usize)?;
        }
        let before = self.synced.fetch_max(published, Ordering::AcqRel);
        Ok(unpack_synced(self.base_offset, before.max(published)))
    }
}

fn pack_state(base_offset: i64, state: &Recovered) -> u64 {
    pack((state.next_offset - base_offset) as u32, state.end)
}

fn unpack_synced(base_offset: i64, synced: u64) -> SyncedTo {
    let (relative, end) = unpack(synced);
    SyncedTo {
        next_offset: base_offset + i64::from(relative),
        end,
    }
}

/// Syncs a segment's log from any thread, for group commit: see [`Segment::syncer`].
///
/// It holds the segment's shared state (and so its map) alive, so it keeps working after the
/// segment was sealed or rolled: then there is nothing past the sealed end to sync, and
/// [`sync`](Self::sync) returns at once.
///
/// [`Segment::syncer`]: super::Segment::syncer
#[derive(Clone)]
pub struct SegmentSyncer {
    pub(crate) shared: Arc<Shared>,
}

impl std::fmt::Debug for SegmentSyncer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SegmentSyncer")
            .field("path", &self.shared.log_path)
            .field("synced_to", &self.synced_to())
            .finish()
    }
}

impl SegmentSyncer {
    /// Makes every batch the writer published before this call durable (msync of the range
    /// not yet synced), and returns how far the log is now durable. Runs alongside appends;
    /// the writer's [`flush`](super::Segment::flush) and other syncers skip what this synced.
    pub fn sync(&self) -> Result<SyncedTo> {
        self.shared.sync()
    }

    /// How far the log is durable, without syncing.
    pub fn synced_to(&self) -> SyncedTo {
        self.shared.synced_to()
    }

    /// The segment's `.log` file.
    pub fn path(&self) -> &Path {
        &self.shared.log_path
    }
}

/// The segment's max timestamp and the offset of its batch, written by the writer and read by
/// any thread: a sequence lock over two atomics. Readers never block the writer and never
/// lock; a reader retries only if it overlapped the writer's two stores.
struct MaxTimestamp {
    /// Even when stable, odd while the writer is storing.
    sequence: AtomicU64,
    timestamp: AtomicI64,
    offset: AtomicI64,
}

impl MaxTimestamp {
    fn new(timestamp: i64, offset: i64) -> Self {
        MaxTimestamp {
            sequence: AtomicU64::new(0),
            timestamp: AtomicI64::new(timestamp),
            offset: AtomicI64::new(offset),
        }
    }

    /// Single writer: the segment's, through `&mut Segment`.
    fn store(&self, timestamp: i64, offset: i64) {
        let sequence = self.sequence.load(Ordering::Relaxed);
        self.sequence
            .store(sequence.wrapping_add(1), Ordering::Relaxed);
        // Orders the odd sequence before the data stores, for readers that see the data.
        fence(Ordering::Release);
        self.timestamp.store(timestamp, Ordering::Relaxed);
        self.offset.store(offset, Ordering::Relaxed);
        self.sequence
            .store(sequence.wrapping_add(2), Ordering::Release);
    }

    fn load(&self) -> (i64, i64) {
        // Every retry means the writer completed a store in between, and the writer's
        // critical section is two stores, so retries are rare and short; after a few spins,
        // yield in case the writer was preempted inside it.
        let mut spins = 0u32;
        loop {
            let before = self.sequence.load(Ordering::Acquire);
            if before.is_multiple_of(2) {
                let pair = (
                    self.timestamp.load(Ordering::Relaxed),
                    self.offset.load(Ordering::Relaxed),
                );
                fence(Ordering::Acquire);
                if self.sequence.load(Ordering::Relaxed) == before {
                    return pair;
                }
            }
            spins += 1;
            if spins < 64 {
                std::hint::spin_loop();
            } else {
                std::thread::yield_now();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{OpenMode, Segment, SegmentConfig};
    use crate::batch::{BatchBuilder, BatchConfig};

    fn batch() -> Vec<u8> {
        let mut builder = BatchBuilder::new(BatchConfig::default());
        builder.append(1, None, Some(b"v"), &[]).unwrap();
        builder.finish().unwrap()
    }

    /// Whether the next sync fdatasyncs the file (its length changed since the last one).
    fn length_change_pending(segment: &Segment) -> bool {
        let shared = &segment.shared;
        shared.len_changes.load(super::Ordering::Acquire)
            > shared.len_synced.load(super::Ordering::Acquire)
    }

    #[test]
    fn only_a_length_change_makes_a_sync_fdatasync() {
        let dir = tempfile::tempdir().unwrap();
        let config = SegmentConfig {
            segment_bytes: 1 << 20,
            segment_index_bytes: 4096,
            ..SegmentConfig::default()
        };
        let mut segment = Segment::create(dir.path(), 0, &config).unwrap();
        assert!(length_change_pending(&segment), "creation preallocated");
        segment.append(&batch()).unwrap();
        segment.syncer().sync().unwrap();
        assert!(!length_change_pending(&segment));
        segment.append(&batch()).unwrap();
        assert!(!length_change_pending(&segment), "appends change no length");
        segment.flush().unwrap();
        segment.seal().unwrap();
        assert!(!length_change_pending(&segment), "seal fsyncs its trim");
        drop(segment);

        // Reopening active preallocates the trimmed file again; reopening sealed writes nothing.
        let (mut segment, _) = Segment::open(dir.path(), 0, &config, OpenMode::Active).unwrap();
        assert!(length_change_pending(&segment));
        segment.syncer().sync().unwrap();
        assert!(!length_change_pending(&segment));
        segment.seal().unwrap();
        drop(segment);
        let (segment, _) = Segment::open(dir.path(), 0, &config, OpenMode::Sealed).unwrap();
        assert!(!length_change_pending(&segment));
    }
}
