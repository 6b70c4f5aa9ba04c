//! Indexes keep no file descriptor: a file is closed once mapped, and appends, lookups,
//! flushes, seal, unseal and rename still work (opening the file by path when they need it).

mod common;

use std::path::Path;

use silt_index::{OffsetIndex, OffsetIndexReader, TimeIndex};

const MAX_BYTES: u64 = 64 * 1024;

fn assert_no_fds(dir: &Path, when: &str) {
    let open = common::files::open_fds_under(dir);
    assert!(open.is_empty(), "{when}: files still open: {open:?}");
}

#[test]
fn indexes_hold_no_descriptors() {
    let dir = tempfile::tempdir().unwrap();
    let mut indexes = Vec::new();
    for n in 0..10i64 {
        let path = dir.path().join(format!("{n}.index"));
        let mut index = OffsetIndex::create(&path, 0, MAX_BYTES).unwrap();
        let mut time_index =
            TimeIndex::create(&dir.path().join(format!("{n}.timeindex")), 0, MAX_BYTES).unwrap();
        for i in 1..=100 {
            index.append(i, i as u32 * 10).unwrap();
            time_index.maybe_append(i * 3, i).unwrap();
        }
        indexes.push((path, index, time_index));
    }
    assert_no_fds(dir.path(), "after create");

    for (path, index, time_index) in &mut indexes {
        index.flush().unwrap(); // the first flush after preallocation fdatasyncs
        index.flush().unwrap();
        index.seal().unwrap();
        index.unseal().unwrap();
        index.append(101, 1_010).unwrap();
        index.seal().unwrap();
        time_index.seal().unwrap();
        let renamed = path.with_extension("index.deleted");
        index.rename(&renamed).unwrap();
        *path = renamed;
    }
    assert_no_fds(dir.path(), "after flush, seal, unseal and rename");

    let mut reopened = Vec::new();
    for (path, index, _) in indexes {
        drop(index);
        let (sealed, _) = OffsetIndex::open_sealed(&path, 0, MAX_BYTES, 10_000).unwrap();
        let (reader, _) = OffsetIndexReader::open_read_only(&path, 0, MAX_BYTES, 10_000).unwrap();
        assert_eq!(reader.entries(), 101);
        // Last: it extends the file for appends, so the others would find it untrimmed.
        let (active, _) = OffsetIndex::open(&path, 0, MAX_BYTES, 10_000).unwrap();
        reopened.push((sealed, active, reader));
    }
    assert_no_fds(dir.path(), "after reopening");
    for (_, active, reader) in &mut reopened {
        active.append(102, 1_020).unwrap();
        assert_eq!(reader.lookup(55).offset, 55);
    }
}
