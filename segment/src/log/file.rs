//! The `.log` file: creation, preallocation, mapping, trimming and syncing.
//!
//! Preallocation (`posix_fallocate`) reserves the blocks of the whole segment when it is
//! created, so a full disk is an `Io` error at that moment. Without it, the first write to
//! a page of a sparse file whose block cannot be allocated raises SIGBUS in the writer.

use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use memmap2::{MmapOptions, MmapRaw};

use crate::error::{Result, SegmentError};

/// Wraps an I/O error with the operation and the file.
pub(crate) fn io_err(op: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> SegmentError {
    let path = path.to_path_buf();
    move |source| SegmentError::Io { op, path, source }
}

/// Opens (creating if asked) a segment file for reading and writing.
pub(crate) fn open_rw(path: &Path, create_new: bool) -> Result<File> {
    let mut options = OpenOptions::new();
    options.read(true).write(true);
    if create_new {
        options.create(true).truncate(true);
    }
    options.open(path).map_err(io_err("open", path))
}

/// Reserves blocks so that the file is at least `len` bytes long.
pub(crate) fn preallocate(file: &File, path: &Path, len: u64) -> Result<()> {
    let too_large = || SegmentError::FileTooLarge {
        path: path.to_path_buf(),
        len,
    };
    let len_off = libc::off_t::try_from(len).map_err(|_| too_large())?;
    // SAFETY: posix_fallocate only reads the descriptor and integers; the fd is open for
    // writing for the duration of the call because `file` is borrowed.
    let rc = unsafe { libc::posix_fallocate(file.as_raw_fd(), 0, len_off) };
    if rc != 0 {
        return Err(io_err("fallocate", path)(
            std::io::Error::from_raw_os_error(rc),
        ));
    }
    Ok(())
}

/// Maps `len` bytes of `file` read-write (shared), or read-only.
pub(crate) fn map(file: &File, path: &Path, len: u64, writable: bool) -> Result<Option<MmapRaw>> {
    if len == 0 {
        return Ok(None);
    }
    let len = usize::try_from(len).map_err(|_| SegmentError::FileTooLarge {
        path: path.to_path_buf(),
        len,
    })?;
    let options = {
        let mut o = MmapOptions::new();
        o.len(len);
        o
    };
    let map = if writable {
        options.map_raw(file)
    } else {
        options.map_raw_read_only(file)
    };
    map.map(Some).map_err(io_err("mmap", path))
}

/// Syncs `[start, end)` of a shared mapping to disk. On Linux, `msync(MS_SYNC)` of a shared
/// file mapping is `vfs_fsync_range(.., datasync)`: it writes the dirty pages of that range
/// and flushes the device, which is what an `fdatasync` of the range would do.
pub(crate) fn sync_range(map: &MmapRaw, path: &Path, start: usize, end: usize) -> Result<()> {
    if end <= start {
        return Ok(());
    }
    map.flush_range(start, end - start)
        .map_err(io_err("msync", path))
}

/// Faults in `[start, end)` of a writable shared mapping as if written, without changing it
/// (`MADV_POPULATE_WRITE`, Linux 5.14+), so later writes find resident, writable pages.
/// Falls back to `MADV_WILLNEED` (read-ahead only) on older kernels. Best effort.
pub(crate) fn populate_write(map: &MmapRaw, start: usize, end: usize) {
    const PAGE: usize = 4096;
    let start = start / PAGE * PAGE;
    let end = end.min(map.len());
    if end <= start {
        return;
    }
    // SAFETY: `start < end <= map.len()`, so the range lies inside the mapping, and
    // `start` is page-aligned as madvise requires (the mapping itself is page-aligned).
    // MADV_POPULATE_WRITE populates page tables without modifying the contents, so it
    // cannot race with the writer's stores or a reader's loads.
    let rc = unsafe {
        libc::madvise(
            map.as_mut_ptr().add(start).cast(),
            end - start,
            libc::MADV_POPULATE_WRITE,
        )
    };
    if rc != 0 {
        // SAFETY: as above; WILLNEED is a hint that never changes contents.
        unsafe {
            libc::madvise(
                map.as_mut_ptr().add(start).cast(),
                end - start,
                libc::MADV_WILLNEED,
            );
        }
    }
}

/// Sets the file length (trimming on seal, cutting a torn tail in recovery).
pub(crate) fn set_len(file: &File, path: &Path, len: u64) -> Result<()> {
    file.set_len(len).map_err(io_err("truncate", path))
}

/// Paths of a segment's three files.
#[derive(Debug, Clone)]
pub(crate) struct SegmentPaths {
    pub log: PathBuf,
    pub index: PathBuf,
    pub time_index: PathBuf,
}

impl SegmentPaths {
    pub(crate) fn new(dir: &Path, base_offset: i64) -> Self {
        SegmentPaths {
            log: super::segment_file(dir, base_offset, super::LOG_SUFFIX),
            index: super::segment_file(dir, base_offset, super::INDEX_SUFFIX),
            time_index: super::segment_file(dir, base_offset, super::TIME_INDEX_SUFFIX),
        }
    }
}
