//! The single writer of an index file, and the three ways of opening one.
//!
//! The file is preallocated with `posix_fallocate` to its maximum size before
//! it is mapped for appends, so a full disk is an error at create/open time,
//! never a SIGBUS on a page fault in the middle of an append.
//!
//! No file descriptor is kept: once a file is mapped, its `File` is closed (a
//! shared mapping stays valid without it). An engine holds thousands of
//! segments, two indexes each, and descriptors must not scale with them. The
//! rare calls that need a descriptor (trim, preallocate, fdatasync) open the
//! file by path for the duration of the call.

use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use memmap2::{MmapOptions, MmapRaw};

use crate::check::{IndexCheck, RebuildReason};
use crate::entries::Entries;
use crate::error::IndexError;

/// How an existing index file is mapped when it is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mapping {
    /// Read-write over the maximum size, the file preallocated to it once
    /// its entries passed the checks: appendable.
    Preallocated,
    /// Read-write at the file's length: a sealed index, nothing written.
    AtLength,
    /// Read-only at the file's length, the file opened read-only.
    ReadOnly,
}

/// The single writer of an index file.
#[derive(Debug)]
pub(crate) struct EntryFile<const W: usize> {
    path: PathBuf,
    entries: Arc<Entries<W>>,
    /// `max_index_bytes` rounded down to whole entries: the size the file is
    /// preallocated to while it takes appends.
    max_bytes: u64,
    /// Slots appends may fill: the capacity, or the count once sealed.
    max_entries: usize,
    sealed: bool,
    /// Whether the file's length or allocation changed since its last
    /// fdatasync, so that `flush` must fdatasync rather than msync (see
    /// [`flush`](Self::flush)).
    len_dirty: AtomicBool,
}

impl<const W: usize> EntryFile<W> {
    /// Creates (truncating) an empty index file preallocated to
    /// `max_index_bytes` rounded down to whole entries.
    pub(crate) fn create(
        path: &Path,
        base_offset: i64,
        max_index_bytes: u64,
    ) -> Result<Self, IndexError> {
        let max_bytes = checked_limits::<W>(path, base_offset, max_index_bytes)?;
        Self::create_checked(path, base_offset, max_bytes)
    }

    fn create_checked(path: &Path, base_offset: i64, max_bytes: u64) -> Result<Self, IndexError> {
        crate::failpoint!("index.file.create", IndexError::io(path, "open"));
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)
            .map_err(IndexError::io(path, "open"))?;
        preallocate(path, &file, max_bytes)?;
        let map = map_file(path, &file, max_bytes, true)?;
        let entries = Entries::new(map, base_offset, 0);
        Ok(Self::writer(path, entries, max_bytes, false))
    }

    fn writer(path: &Path, entries: Entries<W>, max_bytes: u64, sealed: bool) -> Self {
        let max_entries = if sealed {
            entries.len()
        } else {
            entries.capacity
        };
        Self {
            path: path.to_path_buf(),
            entries: Arc::new(entries),
            max_bytes,
            max_entries,
            sealed,
            // An appendable file was just preallocated (its length may have grown).
            len_dirty: AtomicBool::new(!sealed),
        }
    }

    /// Opens an existing index file (creating it if missing), keeping its
    /// entries if its length is valid and `validate` accepts them.
    ///
    /// Unless `sealed`, the file ends preallocated to its maximum either way,
    /// for appends. With `sealed` (the index of a closed segment), a trusted
    /// file is opened as it is: mapped read-write at its length, nothing
    /// extended, trimmed or written, and sealed. An untrusted one is recreated
    /// empty and preallocated in both cases, for the caller to rebuild.
    pub(crate) fn open(
        path: &Path,
        base_offset: i64,
        max_index_bytes: u64,
        sealed: bool,
        validate: impl FnOnce(&Entries<W>) -> Result<(), RebuildReason>,
    ) -> Result<(Self, IndexCheck), IndexError> {
        let mapping = if sealed {
            Mapping::AtLength
        } else {
            Mapping::Preallocated
        };
        let max_bytes = checked_limits::<W>(path, base_offset, max_index_bytes)?;
        match load(path, base_offset, max_bytes, mapping, validate)? {
            Ok(entries) => {
                let sealed = mapping != Mapping::Preallocated;
                let index = Self::writer(path, entries, max_bytes, sealed);
                Ok((index, IndexCheck::Ok))
            }
            Err(reason) => {
                let index = Self::create_checked(path, base_offset, max_bytes)?;
                Ok((index, IndexCheck::Rebuild(reason)))
            }
        }
    }

    /// The shared state, for lookups and readers.
    #[inline]
    pub(crate) fn entries(&self) -> &Arc<Entries<W>> {
        &self.entries
    }

    /// The index file's path.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Entries appends may fill (the entry count once sealed).
    pub(crate) fn max_entries(&self) -> usize {
        self.max_entries
    }

    /// Whether `seal` was called.
    pub(crate) fn is_sealed(&self) -> bool {
        self.sealed
    }

    /// `Sealed` if the index takes no more appends.
    pub(crate) fn ensure_not_sealed(&self) -> Result<(), IndexError> {
        if self.sealed {
            return Err(IndexError::Sealed {
                path: self.path.clone(),
            });
        }
        Ok(())
    }

    /// Writes `words` into the next slot and publishes it. The caller has
    /// checked that it keeps the entries ordered.
    pub(crate) fn push(&mut self, words: [u32; W]) -> Result<(), IndexError> {
        self.ensure_not_sealed()?;
        let count = self.entries.count.load(Ordering::Relaxed);
        if count >= self.max_entries {
            return Err(IndexError::Full {
                path: self.path.clone(),
                entries: count,
            });
        }
        // SAFETY: `count < max_entries <= capacity`.
        let slot = unsafe { self.entries.slot_unchecked(count) };
        for (word, value) in slot.iter().zip(words) {
            word.store(value.to_be(), Ordering::Relaxed);
        }
        // Release: a reader that sees the new count sees the words above.
        self.entries.count.store(count + 1, Ordering::Release);
        Ok(())
    }

    /// Drops every entry from `new_len` on and zeroes their slots, so a crash
    /// before the next `seal` cannot resurrect them on reopen. For recovery,
    /// before readers are handed out: a reader racing it may read zeros.
    pub(crate) fn truncate(&mut self, new_len: usize) {
        let old_len = self.entries.count.load(Ordering::Relaxed);
        if new_len >= old_len {
            return;
        }
        self.entries.count.store(new_len, Ordering::Release);
        for i in new_len..old_len {
            // SAFETY: `i < old_len <= capacity`. A writer's map is always
            // read-write.
            let slot = unsafe { self.entries.slot_unchecked(i) };
            for word in slot {
                word.store(0, Ordering::Relaxed);
            }
        }
    }

    /// Makes the published entries durable.
    ///
    /// On Linux, `msync(MS_SYNC)` of a shared file mapping is
    /// `vfs_fsync_range(file, start, end, datasync = 1)`: the range form of
    /// fdatasync, which also commits the metadata needed to read the range
    /// back. It needs no descriptor. But it only runs for a non-empty range,
    /// so after the file's length or allocation changed (create, open,
    /// unseal) one fdatasync of the whole file makes that change durable;
    /// it also writes every dirty page, mapped ones included, so no msync is
    /// needed with it.
    pub(crate) fn flush(&self) -> Result<(), IndexError> {
        if self.len_dirty.load(Ordering::Acquire) {
            with_file(&self.path, false, |file| self.fdatasync(file))?;
            self.len_dirty.store(false, Ordering::Release);
            return Ok(());
        }
        let bytes = self.entries.len() * Entries::<W>::ENTRY_BYTES;
        match self.entries.map.as_ref() {
            Some(map) if bytes > 0 => {
                crate::failpoint!("index.file.sync", IndexError::io(&self.path, "msync"));
                map.flush_range(0, bytes)
                    .map_err(IndexError::io(&self.path, "msync"))
            }
            _ => Ok(()),
        }
    }

    fn fdatasync(&self, file: &File) -> Result<(), IndexError> {
        crate::failpoint!("index.file.sync", IndexError::io(&self.path, "fdatasync"));
        file.sync_data()
            .map_err(IndexError::io(&self.path, "fdatasync"))
    }

    /// Trims the file to its entries (Kafka's `trimToValidSize`), makes them
    /// durable and refuses further appends. The map is kept as it is: readers
    /// may hold it, and they only touch published entries, which all lie
    /// below the new file length. Idempotent.
    pub(crate) fn seal(&mut self) -> Result<(), IndexError> {
        if self.sealed {
            return Ok(());
        }
        let count = self.entries.len();
        let valid_bytes = (count * Entries::<W>::ENTRY_BYTES) as u64;
        // One fdatasync makes both the entries (mapped pages included) and the
        // new length durable.
        with_file(&self.path, true, |file| {
            crate::failpoint!(
                "index.file.truncate",
                IndexError::io(&self.path, "truncate")
            );
            file.set_len(valid_bytes)
                .map_err(IndexError::io(&self.path, "truncate"))?;
            self.fdatasync(file)
        })?;
        self.len_dirty.store(false, Ordering::Release);
        self.max_entries = count;
        self.sealed = true;
        Ok(())
    }

    /// Undoes `seal`: re-preallocates the file to its maximum size so appends
    /// can continue (Kafka's `resize(maxIndexSize)` after truncating a rolled
    /// segment back into the active one). An index opened at its length is
    /// mapped again at the maximum size, which needs every reader dropped
    /// first. Idempotent.
    pub(crate) fn unseal(&mut self) -> Result<(), IndexError> {
        if !self.sealed {
            return Ok(());
        }
        let (path, max_bytes) = (&self.path, self.max_bytes);
        let remap = self.entries.mapped_bytes() < max_bytes;
        let entries = if remap {
            Some(
                Arc::get_mut(&mut self.entries)
                    .ok_or_else(|| IndexError::ReadersOutstanding { path: path.clone() })?,
            )
        } else {
            None
        };
        with_file(path, true, |file| {
            preallocate(path, file, max_bytes)?;
            if let Some(entries) = entries {
                let count = entries.len();
                *entries = Entries::new(
                    map_file(path, file, max_bytes, true)?,
                    entries.base_offset(),
                    count,
                );
            }
            Ok(())
        })?;
        self.len_dirty.store(true, Ordering::Release);
        self.max_entries = self.entries.capacity;
        self.sealed = false;
        Ok(())
    }

    /// Renames the file; the map is kept.
    pub(crate) fn rename(&mut self, new_path: &Path) -> Result<(), IndexError> {
        std::fs::rename(&self.path, new_path).map_err(IndexError::io(&self.path, "rename"))?;
        self.path = new_path.to_path_buf();
        Ok(())
    }
}

/// Opens an existing index read-only, as it is: mapped read-only at the
/// file's length, the file untouched. A missing or untrusted file gives empty
/// entries and the reason; nothing is created or rewritten.
pub(crate) fn open_read_only<const W: usize>(
    path: &Path,
    base_offset: i64,
    max_index_bytes: u64,
    validate: impl FnOnce(&Entries<W>) -> Result<(), RebuildReason>,
) -> Result<(Arc<Entries<W>>, IndexCheck), IndexError> {
    let max_bytes = checked_limits::<W>(path, base_offset, max_index_bytes)?;
    Ok(
        match load(path, base_offset, max_bytes, Mapping::ReadOnly, validate)? {
            Ok(entries) => (Arc::new(entries), IndexCheck::Ok),
            Err(reason) => (
                Arc::new(Entries::new(None, base_offset, 0)),
                IndexCheck::Rebuild(reason),
            ),
        },
    )
}

/// Opens the file at `path`, checks its length, maps it as `mapping` says and
/// validates its entries; the file is closed again on return. `Ok(Err(..))`
/// says why the file is missing or cannot be trusted, and then nothing was
/// written. With `Mapping::Preallocated` the file is preallocated to
/// `max_bytes` once its entries passed (the map already covers it: mapping
/// past the end of a file is allowed, and only entries below it are read).
fn load<const W: usize>(
    path: &Path,
    base_offset: i64,
    max_bytes: u64,
    mapping: Mapping,
    validate: impl FnOnce(&Entries<W>) -> Result<(), RebuildReason>,
) -> Result<Result<Entries<W>, RebuildReason>, IndexError> {
    let writable = mapping != Mapping::ReadOnly;
    let file = match OpenOptions::new().read(true).write(writable).open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Err(RebuildReason::Missing)),
        Err(e) => return Err(IndexError::io(path, "open")(e)),
    };
    let len = file.metadata().map_err(IndexError::io(path, "stat"))?.len();
    let entry_size = Entries::<W>::ENTRY_BYTES as u64;
    if len > max_bytes {
        return Ok(Err(RebuildReason::TooLarge {
            len,
            max: max_bytes,
        }));
    }
    if len % entry_size != 0 {
        return Ok(Err(RebuildReason::SizeNotMultiple { len, entry_size }));
    }
    let map_len = match mapping {
        Mapping::Preallocated => max_bytes,
        Mapping::AtLength | Mapping::ReadOnly => len,
    };
    // `len <= max_bytes`, which `checked_limits` made sure fits in usize.
    let count = (len / entry_size) as usize;
    let entries = Entries::new(
        map_file(path, &file, map_len, writable)?,
        base_offset,
        count,
    );
    if let Err(reason) = validate(&entries) {
        return Ok(Err(reason));
    }
    if mapping == Mapping::Preallocated {
        preallocate(path, &file, max_bytes)?;
    }
    Ok(Ok(entries))
}

/// Runs `f` on the file at `path`, opened (read-write if `writable`) for the
/// duration of the call only: indexes keep no descriptor.
fn with_file<T>(
    path: &Path,
    writable: bool,
    f: impl FnOnce(&File) -> Result<T, IndexError>,
) -> Result<T, IndexError> {
    let file = OpenOptions::new()
        .read(true)
        .write(writable)
        .open(path)
        .map_err(IndexError::io(path, "open"))?;
    f(&file)
}

/// Maps the first `len` bytes of `file` shared; `None` for 0 bytes.
fn map_file(
    path: &Path,
    file: &File,
    len: u64,
    writable: bool,
) -> Result<Option<MmapRaw>, IndexError> {
    if len == 0 {
        return Ok(None);
    }
    crate::failpoint!("index.file.mmap", IndexError::io(path, "mmap"));
    // Callers pass at most `max_bytes`, which `checked_limits` made sure fits.
    let mut options = MmapOptions::new();
    options.len(len as usize);
    let map = if writable {
        options.map_raw(file)
    } else {
        options.map_raw_read_only(file)
    }
    .map_err(IndexError::io(path, "mmap"))?;
    // Index pages are touched a few at a time (the tail on append, a binary search on
    // lookup). Without this hint the first write fault of a fresh 10 MiB index triggers
    // the kernel's read-ahead, which zero-fills megabytes of the preallocated file and
    // stalls that append for milliseconds. A failed hint changes nothing but speed.
    let _ = map.advise(memmap2::Advice::Random);
    Ok(Some(map))
}

/// Checks the base offset and returns `max_index_bytes` rounded down to whole
/// entries, which must hold at least one entry and be mappable.
fn checked_limits<const W: usize>(
    path: &Path,
    base_offset: i64,
    max_index_bytes: u64,
) -> Result<u64, IndexError> {
    let entry_size = Entries::<W>::ENTRY_BYTES;
    if !(0..=i64::MAX - i64::from(u32::MAX)).contains(&base_offset) {
        return Err(IndexError::BadBaseOffset {
            path: path.to_path_buf(),
            base_offset,
        });
    }
    let max_bytes = max_index_bytes - max_index_bytes % entry_size as u64;
    let mappable = usize::try_from(max_bytes).is_ok_and(|b| b <= isize::MAX as usize);
    if max_bytes == 0 || !mappable {
        return Err(IndexError::BadMaxSize {
            path: path.to_path_buf(),
            max_index_bytes,
            entry_size,
        });
    }
    Ok(max_bytes)
}

/// Allocates disk blocks for the first `len` bytes of `file` (extending it),
/// so page faults on the map never meet a full disk.
#[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd"))]
fn preallocate(path: &Path, file: &File, len: u64) -> Result<(), IndexError> {
    use std::os::fd::AsRawFd;
    crate::failpoint!("index.file.fallocate", IndexError::io(path, "fallocate"));
    let len = libc::off_t::try_from(len).map_err(|_| IndexError::Io {
        path: path.to_path_buf(),
        op: "fallocate",
        source: io::Error::from(io::ErrorKind::InvalidInput),
    })?;
    loop {
        // SAFETY: `file` is an open descriptor for the duration of the call;
        // posix_fallocate takes no pointers.
        let rc = unsafe { libc::posix_fallocate(file.as_raw_fd(), 0, len) };
        match rc {
            0 => return Ok(()),
            libc::EINTR => continue,
            errno => {
                return Err(IndexError::io(path, "fallocate")(
                    io::Error::from_raw_os_error(errno),
                ))
            }
        }
    }
}

/// Without posix_fallocate, extend the file (sparse).
#[cfg(not(any(target_os = "linux", target_os = "android", target_os = "freebsd")))]
fn preallocate(path: &Path, file: &File, len: u64) -> Result<(), IndexError> {
    crate::failpoint!("index.file.fallocate", IndexError::io(path, "fallocate"));
    if file.metadata().map_err(IndexError::io(path, "stat"))?.len() < len {
        file.set_len(len)
            .map_err(IndexError::io(path, "fallocate"))?;
    }
    Ok(())
}
