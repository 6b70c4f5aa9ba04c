//! Helpers shared by the index tests.
#![allow(dead_code)]

use std::path::Path;

use silt_index::OffsetIndex;

pub mod files;

/// Writes a sealed (trimmed) offset index with `n` entries: offset `base + 2i + 1` at
/// position `100 (i + 1)`.
pub fn sealed_offset_index(path: &Path, base: i64, max_bytes: u64, n: i64) {
    let mut index = OffsetIndex::create(path, base, max_bytes).unwrap();
    for i in 0..n {
        index
            .append(base + 2 * i + 1, 100 * (i as u32 + 1))
            .unwrap();
    }
    index.seal().unwrap();
}
