//! A process killed inside `write_atomic` (between writing the temporary file and renaming
//! it over a checkpoint) leaves `.<crc32c of the name>.tmp` in the data directory. The next
//! open removes it, as FORMAT.md's "Atomic replacement" says, and as it removes those of the
//! topic metadata directory. (Found by the crash campaign, `consumer/tests/crash_campaign.rs`:
//! a kill mid-checkpoint left the file for good.)

mod common;

use silt_engine::{LOG_START_CHECKPOINT, RECOVERY_POINT_CHECKPOINT};

fn tmp_of(dir: &std::path::Path, name: &str) -> std::path::PathBuf {
    dir.join(format!(".{:08x}.tmp", crc32c::crc32c(name.as_bytes())))
}

#[test]
fn open_removes_the_tmp_files_a_killed_checkpoint_write_left() {
    let dir = tempfile::tempdir().unwrap();
    let engine = common::open(dir.path());
    engine
        .create_topic(common::small_topic("t", 1, 64 << 10))
        .unwrap();
    engine.append("t", 0, &common::batch(0, 3)).unwrap();
    engine.close().unwrap();

    let leftovers = [
        tmp_of(dir.path(), RECOVERY_POINT_CHECKPOINT),
        tmp_of(dir.path(), LOG_START_CHECKPOINT),
    ];
    for tmp in &leftovers {
        std::fs::write(tmp, b"0\n1\nt 0").unwrap(); // torn: the write was cut short
    }
    let engine = common::open(dir.path());
    for tmp in &leftovers {
        assert!(!tmp.exists(), "{} outlived the open", tmp.display());
    }
    assert_eq!(
        common::values(&engine, "t", 0),
        ["value-0", "value-1", "value-2"],
        "the checkpoints the temporary files would have replaced are intact"
    );
    engine.close().unwrap();
}
