//! Faulting in the pages of the map ahead of the writer.
//!
//! A write to a page of a shared file mapping that is not yet resident takes a page fault
//! (allocate a page-cache page, zero it, map it): about a microsecond per 4 KiB, which
//! halves the speed of the copy. Populating pages in bulk with `MADV_POPULATE_WRITE` does
//! the same work without a trap per page, and a `Pretoucher` can do it off the writer's
//! thread altogether.

use std::sync::Arc;

use super::file;
use super::segment::Segment;
use super::shared::Shared;

/// How far ahead of its end the writer faults in pages, one syscall per window.
pub const PREFAULT_WINDOW_BYTES: usize = 1 << 20;

impl Segment {
    /// Faults in the pages an append of `len` bytes is about to write, a window at a time,
    /// with one `MADV_POPULATE_WRITE` per window instead of one page fault per 4 KiB page.
    /// Amortised over `PREFAULT_WINDOW_BYTES`, it costs one syscall per window, not per batch.
    pub(crate) fn prefault_for(&mut self, len: usize) {
        let want = self.end as usize + len;
        if want <= self.prefaulted_end as usize {
            return;
        }
        let until = (want + PREFAULT_WINDOW_BYTES).min(self.capacity as usize);
        if let Some(map) = self.shared.map.as_ref() {
            file::populate_write(
                map,
                (self.prefaulted_end as usize).max(self.end as usize),
                until,
            );
        }
        self.prefaulted_end = until as u32;
    }

    /// Faults in the pages of the next `bytes` bytes past the end (MADV_POPULATE_WRITE), so
    /// the appends that follow write resident memory. Meant for a background thread: see
    /// [`Segment::pretoucher`].
    pub fn prefault(&self, bytes: usize) {
        self.pretoucher().touch_ahead(bytes);
    }

    /// A handle another thread can use to fault in pages ahead of the writer.
    pub fn pretoucher(&self) -> Pretoucher {
        Pretoucher {
            shared: Arc::clone(&self.shared),
        }
    }
}

/// Faults in pages ahead of a segment's writer from another thread (see
/// [`Segment::pretoucher`]). Holding one keeps the mapping alive.
#[derive(Clone)]
pub struct Pretoucher {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Pretoucher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pretoucher")
            .field("path", &self.shared.log_path)
            .finish()
    }
}

impl Pretoucher {
    /// Populates `[end, end + bytes)` of the mapping, where `end` is the published end.
    pub fn touch_ahead(&self, bytes: usize) {
        let (_, end) = self.shared.published();
        self.touch_range(end as usize, end as usize + bytes);
    }

    /// Populates `[start, end)` of the mapping (clamped to it).
    pub fn touch_range(&self, start: usize, end: usize) {
        if let Some(map) = self.shared.map.as_ref() {
            file::populate_write(map, start, end);
        }
    }
}
