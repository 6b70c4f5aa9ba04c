//! Closed segments, mapped on demand, and the engine-wide cache that bounds how many stay
//! mapped.
//!
//! A log may hold thousands of closed segments; keeping each mapped would make the number of
//! mappings grow with the data. A [`ClosedSegment`] therefore starts unmapped and maps itself
//! the first time a read needs it. The [`SegmentCache`] keeps at most `silt.max.open.segments`
//! of them mapped, evicting by CLOCK (second chance): a hit only sets a flag, so reads take no
//! shared lock; the cache's lock is taken only when a segment is mapped. An evicted segment
//! drops the cache's reference to its reader; fetches that still hold a reader keep its map
//! alive until they finish.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};

use silt_segment::log::{
    check_log, OpenMode, OpenOptions, SealedOpen, Segment, SegmentConfig, SegmentReader,
};

use crate::error::{EngineError, Result};
use crate::sync::lock;

/// No next base offset known (see [`ClosedSegment::expect_next_base`]).
pub(crate) const NO_NEXT_BASE: i64 = -1;

/// A segment that no longer takes appends: its base offset, size, and its reader once mapped.
pub(crate) struct ClosedSegment {
    base_offset: i64,
    dir: Arc<Path>,
    /// Size of the `.log` file in bytes.
    size_bytes: u64,
    slot: Mutex<Option<SegmentReader>>,
    referenced: AtomicBool,
    /// Whether the segment may hold offset gaps (it was, or its log may have been,
    /// compacted): opening then accepts them instead of cutting the file at the first gap.
    /// Set on a segment that compaction replaced too, so a reader that still holds it maps
    /// the cleaned file under the same name correctly.
    offset_gaps: AtomicBool,
    /// Base offset of the next segment: the batches of this one must end exactly there, or
    /// at or before it when the segment may hold offset gaps ([`NO_NEXT_BASE`] when not
    /// known).
    next_base: AtomicI64,
    /// Where the log was found damaged and why: every later read fails the same way,
    /// without scanning the file again.
    corrupt: OnceLock<(u64, String)>,
}

impl std::fmt::Debug for ClosedSegment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClosedSegment")
            .field("base_offset", &self.base_offset)
            .field("size_bytes", &self.size_bytes)
            .finish()
    }
}

impl ClosedSegment {
    /// A closed segment found on disk, not yet mapped.
    pub(crate) fn unmapped(
        dir: Arc<Path>,
        base_offset: i64,
        size_bytes: u64,
        offset_gaps: bool,
    ) -> Arc<Self> {
        Arc::new(ClosedSegment {
            base_offset,
            dir,
            size_bytes,
            slot: Mutex::new(None),
            referenced: AtomicBool::new(false),
            offset_gaps: AtomicBool::new(offset_gaps),
            next_base: AtomicI64::new(NO_NEXT_BASE),
            corrupt: OnceLock::new(),
        })
    }

    /// A segment that just rolled: its reader is already mapped, so it enters the cache.
    pub(crate) fn rolled(dir: Arc<Path>, reader: SegmentReader, cache: &SegmentCache) -> Arc<Self> {
        let segment = Arc::new(ClosedSegment {
            base_offset: reader.base_offset(),
            dir,
            size_bytes: u64::from(reader.size()),
            slot: Mutex::new(Some(reader)),
            referenced: AtomicBool::new(true),
            offset_gaps: AtomicBool::new(false),
            next_base: AtomicI64::new(NO_NEXT_BASE),
            corrupt: OnceLock::new(),
        });
        cache.admit(&segment);
        segment
    }

    pub(crate) fn base_offset(&self) -> i64 {
        self.base_offset
    }

    pub(crate) fn size_bytes(&self) -> u64 {
        self.size_bytes
    }

    /// Path of one of the segment's files.
    pub(crate) fn file(&self, suffix: &str) -> PathBuf {
        silt_segment::log::segment_file(&self.dir, self.base_offset, suffix)
    }

    /// Marks the segment as one whose file may hold offset gaps (see the field).
    pub(crate) fn allow_offset_gaps(&self) {
        self.offset_gaps.store(true, Ordering::Release);
    }

    /// Records where the next segment starts: a segment found ending past it (its last
    /// batch's base offset damaged: it lies outside the CRC) or, in a log without offset
    /// gaps, short of it (batches lost) is refused as corrupt.
    pub(crate) fn expect_next_base(&self, next_base: i64) {
        self.next_base.store(next_base, Ordering::Release);
    }

    /// What [`ClosedSegment::expect_next_base`] recorded (`NO_NEXT_BASE` if nothing).
    pub(crate) fn next_base(&self) -> i64 {
        self.next_base.load(Ordering::Acquire)
    }

    /// Whether the segment is mapped right now.
    pub(crate) fn is_mapped(&self) -> bool {
        lock(&self.slot).is_some()
    }

    /// The segment's reader, mapping it first if it is not mapped. A segment whose indexes
    /// fail the cheap checks is recovered (its indexes rebuilt) before it is read; one whose
    /// log is damaged (a batch torn or failing its CRC, zeros after the last batch, or, in a
    /// log without offset gaps, batches ending short of the next segment) is refused with
    /// [`EngineError::CorruptSegment`], and not cut: it was sealed and synced before the
    /// next segment existed, so recovery's cut would drop acknowledged records that no read
    /// would ever miss.
    pub(crate) fn reader(
        self: &Arc<Self>,
        config: &SegmentConfig,
        cache: &SegmentCache,
    ) -> Result<SegmentReader> {
        self.referenced.store(true, Ordering::Relaxed);
        let mut slot = lock(&self.slot);
        if let Some(reader) = slot.as_ref() {
            return Ok(reader.clone());
        }
        if let Some((position, reason)) = self.corrupt.get() {
            return Err(self.corrupt_error(*position, reason.clone()));
        }
        let options = OpenOptions {
            force_recovery: false,
            offset_gaps: self.offset_gaps.load(Ordering::Acquire),
        };
        let (dir, base) = (&self.dir, self.base_offset);
        let reader = match SegmentReader::open_sealed_with_options(dir, base, config, options)? {
            SealedOpen::Trusted(reader) => {
                self.check_end(reader.size().into(), reader.next_offset(), options)?;
                reader
            }
            SealedOpen::NeedsRecovery(_) => {
                let check = check_log(dir, base, config, options)?;
                let position = u64::from(check.valid_end);
                if let Some(fault) = check.fault {
                    return Err(self.refuse(position, fault.to_string()));
                }
                if position < check.file_len {
                    // Sealing trims a segment to its batches: zeros after them in a closed
                    // one were batches once (a compacted log could not tell from its gaps).
                    let zeros = check.file_len - position;
                    let reason = format!("{zeros} bytes of zeros after the last batch");
                    return Err(self.refuse(position, reason));
                }
                self.check_end(position, check.next_offset, options)?;
                let mode = OpenMode::Sealed;
                let (segment, _report) =
                    Segment::open_with_options(dir, base, config, mode, options)?;
                segment.reader()
            }
        };
        *slot = Some(reader.clone());
        drop(slot);
        cache.admit(self);
        Ok(reader)
    }

    /// The batches must end where the next segment starts, or, in a log with offset gaps,
    /// at or before it. A last batch ending past it would serve records under offsets the
    /// next segment holds (its base offset lies outside the CRC).
    fn check_end(&self, end: u64, next_offset: i64, options: OpenOptions) -> Result<()> {
        let next_base = self.next_base.load(Ordering::Acquire);
        if next_base == NO_NEXT_BASE || next_offset == next_base {
            return Ok(());
        }
        let reason = if next_offset > next_base {
            format!(
                "its batches end at offset {next_offset}, past the next segment's base \
                 offset {next_base}"
            )
        } else if options.offset_gaps {
            return Ok(());
        } else {
            format!(
                "its batches end at offset {next_offset}, but the next segment starts at \
                 {next_base}: batches are missing"
            )
        };
        Err(self.refuse(end, reason))
    }

    /// Remembers that the log is damaged at `position`, and the error reads get for it.
    fn refuse(&self, position: u64, reason: String) -> EngineError {
        let (position, reason) = self.corrupt.get_or_init(|| (position, reason));
        self.corrupt_error(*position, reason.clone())
    }

    fn corrupt_error(&self, position: u64, reason: String) -> EngineError {
        EngineError::CorruptSegment {
            path: self.file(silt_segment::log::LOG_SUFFIX),
            position,
            reason,
        }
    }

    /// Drops the cache's reference to the map (readers elsewhere keep theirs).
    fn unmap(&self) {
        lock(&self.slot).take();
    }
}

/// The engine-wide bound on mapped closed segments (CLOCK eviction).
#[derive(Debug)]
pub(crate) struct SegmentCache {
    capacity: usize,
    ring: Mutex<VecDeque<Weak<ClosedSegment>>>,
}

impl SegmentCache {
    pub(crate) fn new(capacity: usize) -> Self {
        SegmentCache {
            capacity: capacity.max(1),
            ring: Mutex::new(VecDeque::new()),
        }
    }

    /// Registers a newly mapped segment and evicts until at most `capacity` stay mapped.
    fn admit(&self, segment: &Arc<ClosedSegment>) {
        let mut ring = lock(&self.ring);
        ring.push_back(Arc::downgrade(segment));
        // Each entry is looked at most twice (once to clear its flag, once to evict it).
        let mut budget = ring.len() * 2 + 1;
        while ring.len() > self.capacity && budget > 0 {
            budget -= 1;
            let Some(weak) = ring.pop_front() else { break };
            let Some(candidate) = weak.upgrade() else {
                continue; // the segment was deleted: its slot went with it
            };
            if candidate.referenced.swap(false, Ordering::Relaxed) {
                ring.push_back(weak);
            } else {
                candidate.unmap();
            }
        }
    }

    /// Segments the cache holds mapped now (deleted ones not counted).
    pub(crate) fn mapped(&self) -> usize {
        lock(&self.ring)
            .iter()
            .filter_map(Weak::upgrade)
            .filter(|s| s.is_mapped())
            .count()
    }
}
