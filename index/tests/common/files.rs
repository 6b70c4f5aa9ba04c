//! File-system helpers for tests, shared by the index and segment tests (the segment tests
//! include this file by path): open descriptors, read-only files.

use std::path::{Path, PathBuf};

/// The files under `dir` that this process holds open, read from the `/proc/self/fd` links.
pub fn open_fds_under(dir: &Path) -> Vec<PathBuf> {
    let dir = dir.canonicalize().unwrap();
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|entry| std::fs::read_link(entry.ok()?.path()).ok())
        .filter(|target| target.starts_with(&dir))
        .collect()
}

/// Makes every file in `dir` read-only. Returns false when that does not stop this process
/// from writing them (it runs as root), so a test of read-only files must be skipped.
pub fn make_read_only(dir: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let mut any = None;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o444)).unwrap();
        any = Some(path);
    }
    any.is_none_or(|path| std::fs::File::options().write(true).open(path).is_err())
}
