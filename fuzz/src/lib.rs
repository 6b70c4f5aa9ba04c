//! Helpers shared by the fuzz targets in `fuzz_targets/`.

use std::path::PathBuf;

/// A fresh temporary directory for one fuzz input, removed when dropped.
///
/// It is made under `$SILT_FUZZ_TMPDIR` if set, else under `/dev/shm` where that exists:
/// the segment target preallocates a 1 MiB `.log` file per input, and on tmpfs that runs
/// about ten times faster than on a disk-backed `/tmp`. Otherwise the system temp dir.
pub fn scratch_dir() -> tempfile::TempDir {
    let parent = std::env::var_os("SILT_FUZZ_TMPDIR")
        .map(PathBuf::from)
        .or_else(|| {
            let shm = PathBuf::from("/dev/shm");
            shm.is_dir().then_some(shm)
        })
        .unwrap_or_else(std::env::temp_dir);
    tempfile::Builder::new()
        .prefix("silt-fuzz-")
        .tempdir_in(&parent)
        .or_else(|_| tempfile::tempdir())
        .expect("create a temporary directory")
}
