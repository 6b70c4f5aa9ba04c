//! Test-only fault injection, shared by silt's crates (the `failpoints` cargo feature).
//!
//! The file-level calls that can meet a full disk or a failing device (create, fallocate,
//! mmap, truncate, msync/fdatasync/fsync, the writes and renames of the engine's small files)
//! each sit behind a failpoint named `crate.area.op` (`index.file.fallocate`,
//! `segment.log.sync`, `engine.fsutil.write`, …; `docs/RELIABILITY.md`, "Full disk and I/O
//! errors", lists them). A test turns one on with `fail::cfg(name, "return(ENOSPC)")` (or
//! `"1*return(EIO)"` to fail once), and the call fails with that `io::Error` through its
//! normal error path: the caller sees the same typed `Io` error, naming the operation and
//! the file, that the real failure gives.
//!
//! Without the feature [`failpoint!`](crate::failpoint!) expands to nothing and the `fail`
//! crate is not a dependency; with it, a failpoint that no test configured costs a read lock
//! and a hash lookup, once per file-level call, never per record.

#[cfg(feature = "failpoints")]
pub use fail;

/// The `io::Error` a failpoint configured `return(ARG)` injects: `ARG` names an errno
/// (`ENOSPC`, `EFBIG`, `EDQUOT`, `EIO`, `EROFS`) or gives its number; a bare `return` is
/// `EIO`.
#[cfg(feature = "failpoints")]
pub fn injected_error(arg: Option<String>) -> std::io::Error {
    let errno = match arg.as_deref().map(str::trim) {
        None | Some("") | Some("EIO") => libc::EIO,
        Some("ENOSPC") => libc::ENOSPC,
        Some("EFBIG") => libc::EFBIG,
        Some("EDQUOT") => libc::EDQUOT,
        Some("EROFS") => libc::EROFS,
        Some(other) => other.parse().unwrap_or(libc::EIO),
    };
    std::io::Error::from_raw_os_error(errno)
}

/// `failpoint!("crate.area.op", to_error)`: with the `failpoints` feature, when the failpoint
/// is configured `return(ARG)`, returns `Err(to_error(injected_error(ARG)))` from the
/// enclosing function (`to_error` maps an `io::Error` to the function's error type, as the
/// real call's `map_err` does). Without the feature it expands to nothing.
#[cfg(feature = "failpoints")]
#[macro_export]
#[doc(hidden)]
macro_rules! failpoint {
    ($name:literal, $to_error:expr) => {
        $crate::failpoint::fail::fail_point!($name, |arg: Option<String>| {
            Err(($to_error)($crate::failpoint::injected_error(arg)))
        })
    };
}

/// Without the `failpoints` feature: nothing.
#[cfg(not(feature = "failpoints"))]
#[macro_export]
#[doc(hidden)]
macro_rules! failpoint {
    ($name:literal, $to_error:expr) => {};
}
