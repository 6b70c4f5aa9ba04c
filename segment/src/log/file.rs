//! The `.log` file: creation, preallocation, mapping, trimming and syncing.
//!
//! Preallocation (`posix_fallocate`) reserves the blocks of the whole segment when it is
//! created, so a full disk is an `Io` error at that moment. Without it, the first write to
//! a page of a sparse file whose block cannot be allocated raises SIGBUS in the writer.
//!
//! An active segment keeps its file open to append with `pwritev` ([`AppendFile`]), within
//! a process-wide budget of descriptors ([`set_append_file_budget`]); a segment over the
//! budget copies its appends into the map instead. Copying into a shared mapping makes the
//! kernel fault each new page in first: read-ahead allocates and zeroes the pages (in
//! lumps of the device's read-ahead size, 8 MiB on some machines) before the copy overwrites
//! them, which costs about as much again as the copy. `pwritev` of whole pages skips the
//! zeroing and the lumps. Readers read through the map either way: it is the same page cache.
//!
//! No other file descriptor outlives the call that opens it: a shared mapping stays valid
//! without it, and an engine holds thousands of segments mapped. The few operations that
//! need one (trimming on seal, cutting in recovery, fdatasync) open the file by path for the
//! duration of the call ([`with_file`]).

use std::fs::{File, OpenOptions};
use std::io::IoSlice;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use memmap2::{MmapOptions, MmapRaw};

use super::config::SegmentConfig;
use super::open::OpenMode;
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
        silt_index::failpoint!("segment.log.create", io_err("open", path));
        options.create(true).truncate(true);
    }
    options.open(path).map_err(io_err("open", path))
}

/// Opens an existing segment file read-only.
pub(crate) fn open_ro(path: &Path) -> Result<File> {
    File::open(path).map_err(io_err("open", path))
}

/// Active segments holding an [`AppendFile`] now.
static APPEND_FILES: AtomicUsize = AtomicUsize::new(0);
/// How many may; `usize::MAX` until first read, then half the soft `RLIMIT_NOFILE`.
static APPEND_FILE_BUDGET: AtomicUsize = AtomicUsize::new(usize::MAX);

/// Sets how many active segments of this process may keep their `.log` file open to append
/// with `pwritev`; the others (and all of them at 0) copy appends into their mapping, which
/// costs the writer about twice as much CPU per byte. The default is half the soft
/// `RLIMIT_NOFILE` when it is first needed, leaving the other half to the application.
/// Segments already holding a file keep it.
pub fn set_append_file_budget(files: usize) {
    APPEND_FILE_BUDGET.store(files.min(usize::MAX - 1), Ordering::Relaxed);
}

fn append_file_budget() -> usize {
    let budget = APPEND_FILE_BUDGET.load(Ordering::Relaxed);
    if budget != usize::MAX {
        return budget;
    }
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes the limit into the struct it is given, which lives on this
    // stack frame for the duration of the call.
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) };
    let soft = if rc == 0 {
        usize::try_from(limit.rlim_cur).unwrap_or(usize::MAX)
    } else {
        0
    };
    let computed = (soft / 2).min(usize::MAX - 1);
    // A budget set meanwhile wins.
    let _ = APPEND_FILE_BUDGET.compare_exchange(
        usize::MAX,
        computed,
        Ordering::Relaxed,
        Ordering::Relaxed,
    );
    APPEND_FILE_BUDGET.load(Ordering::Relaxed)
}

/// An active segment's `.log` file, kept open for appends, counted against the budget.
pub(crate) struct AppendFile {
    file: File,
}

impl AppendFile {
    /// Keeps `file` open if the budget allows another; `None` (closing it) otherwise.
    pub(crate) fn keep(file: File) -> Option<AppendFile> {
        let budget = append_file_budget();
        let mut kept = APPEND_FILES.load(Ordering::Relaxed);
        loop {
            if kept >= budget {
                return None;
            }
            match APPEND_FILES.compare_exchange_weak(
                kept,
                kept + 1,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return Some(AppendFile { file }),
                Err(now) => kept = now,
            }
        }
    }

    /// Writes `slices`, in order, at `offset` (`pwritev`, repeated after a short write).
    pub(crate) fn write_all_at(
        &self,
        path: &Path,
        mut slices: &mut [IoSlice<'_>],
        mut offset: u64,
    ) -> Result<()> {
        // At most `IOV_MAX` (1024 on Linux) slices a call.
        const MAX_SLICES: usize = 1024;
        silt_index::failpoint!("segment.log.write", io_err("pwritev", path));
        while !slices.is_empty() {
            let count = slices.len().min(MAX_SLICES);
            let off = libc::off_t::try_from(offset).map_err(|_| SegmentError::FileTooLarge {
                path: path.to_path_buf(),
                len: offset,
            })?;
            // SAFETY: `IoSlice` is ABI-compatible with `iovec` on Unix (documented by std),
            // and the `count` slices it points to are borrowed for the duration of the call;
            // pwritev only reads them.
            let written = unsafe {
                libc::pwritev(
                    self.file.as_raw_fd(),
                    slices.as_ptr().cast::<libc::iovec>(),
                    count as libc::c_int,
                    off,
                )
            };
            let written = match usize::try_from(written) {
                Ok(0) => {
                    let e = std::io::Error::from(std::io::ErrorKind::WriteZero);
                    return Err(io_err("pwritev", path)(e));
                }
                Ok(n) => n,
                Err(_) => {
                    let e = std::io::Error::last_os_error();
                    if e.kind() == std::io::ErrorKind::Interrupted {
                        continue;
                    }
                    return Err(io_err("pwritev", path)(e));
                }
            };
            offset += written as u64;
            IoSlice::advance_slices(&mut slices, written);
        }
        Ok(())
    }
}

impl Drop for AppendFile {
    fn drop(&mut self) {
        APPEND_FILES.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Runs `f` on the file at `path`, opened (read-write if `writable`) for the duration of
/// the call only.
pub(crate) fn with_file<T>(
    path: &Path,
    writable: bool,
    f: impl FnOnce(&File) -> Result<T>,
) -> Result<T> {
    let file = if writable {
        open_rw(path, false)?
    } else {
        open_ro(path)?
    };
    f(&file)
}

/// fdatasync: every dirty page of the file (mapped ones included) and the metadata needed
/// to read them back, such as its length.
pub(crate) fn sync_data(file: &File, path: &Path) -> Result<()> {
    silt_index::failpoint!("segment.log.sync", io_err("fdatasync", path));
    file.sync_data().map_err(io_err("fdatasync", path))
}

/// Reserves blocks so that the file is at least `len` bytes long.
pub(crate) fn preallocate(file: &File, path: &Path, len: u64) -> Result<()> {
    let too_large = || SegmentError::FileTooLarge {
        path: path.to_path_buf(),
        len,
    };
    let len_off = libc::off_t::try_from(len).map_err(|_| too_large())?;
    silt_index::failpoint!("segment.log.fallocate", io_err("fallocate", path));
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
    silt_index::failpoint!("segment.log.mmap", io_err("mmap", path));
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
    silt_index::failpoint!("segment.log.sync", io_err("msync", path));
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

/// fsync: the file's data and all its metadata (a seal's new length included).
pub(crate) fn sync_all(file: &File, path: &Path) -> Result<()> {
    silt_index::failpoint!("segment.log.sync", io_err("fsync", path));
    file.sync_all().map_err(io_err("fsync", path))
}

/// Sets the file length (trimming on seal, cutting a torn tail in recovery).
pub(crate) fn set_len(file: &File, path: &Path, len: u64) -> Result<()> {
    silt_index::failpoint!("segment.log.truncate", io_err("truncate", path));
    file.set_len(len).map_err(io_err("truncate", path))
}

/// A segment's `.log` file, mapped; the file itself is closed again unless it is kept for
/// appends.
pub(crate) struct LogMap {
    /// `None` for an empty file opened sealed.
    pub map: Option<MmapRaw>,
    /// The file, kept open for `pwritev` appends (an active segment, within the budget).
    pub append_file: Option<AppendFile>,
    /// The file's length when it was opened.
    pub file_len: u64,
    /// Bytes mapped: the preallocated size for an active segment, the file length for a
    /// sealed one.
    pub capacity: u64,
}

impl LogMap {
    /// Maps the `.log` file at `path`: `Active`, read-write and preallocated back to
    /// `segment.bytes`; `Sealed`, read-only at its length, the file opened read-only and
    /// nothing written.
    pub(crate) fn open(path: &Path, config: &SegmentConfig, mode: OpenMode) -> Result<LogMap> {
        let active = mode == OpenMode::Active;
        let file = if active {
            open_rw(path, false)?
        } else {
            open_ro(path)?
        };
        let file_len = file.metadata().map_err(io_err("stat", path))?.len();
        if file_len > i32::MAX as u64 {
            return Err(SegmentError::FileTooLarge {
                path: path.to_path_buf(),
                len: file_len,
            });
        }
        let capacity = if active {
            let capacity = file_len.max(u64::from(config.segment_bytes));
            preallocate(&file, path, capacity)?;
            capacity
        } else {
            file_len
        };
        let map = map(&file, path, capacity, active)?;
        Ok(LogMap {
            map,
            append_file: if active { AppendFile::keep(file) } else { None },
            file_len,
            capacity,
        })
    }

    /// The file's bytes as they were opened, `[0, file_len)`; empty for an empty file.
    pub(crate) fn bytes(&self) -> &[u8] {
        match self.map.as_ref() {
            Some(map) if self.file_len as usize <= map.len() => {
                // SAFETY: `[0, file_len)` lies inside the mapping (checked), which lives as
                // long as `self`. No writer exists yet: a `LogMap` is only read before it is
                // handed to a `Segment` or a reader, so nothing mutates these bytes while the
                // borrow lives.
                unsafe { std::slice::from_raw_parts(map.as_ptr(), self.file_len as usize) }
            }
            _ => &[],
        }
    }
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

    /// The three paths with `suffix` appended (`.cleaned`, `.swap`).
    pub(crate) fn with_suffix(dir: &Path, base_offset: i64, suffix: &str) -> Self {
        let add = |path: PathBuf| {
            let mut name = path.into_os_string();
            name.push(suffix);
            PathBuf::from(name)
        };
        let plain = SegmentPaths::new(dir, base_offset);
        SegmentPaths {
            log: add(plain.log),
            index: add(plain.index),
            time_index: add(plain.time_index),
        }
    }
}
