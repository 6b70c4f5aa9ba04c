//! Opening stays cheap at scale: 10,000 partitions reopen without touching their segments,
//! and mappings stay bounded: closed segments are mapped on demand and released by the LRU
//! (`silt.max.open.segments`), and no segment holds a file descriptor.

mod common;

use silt_engine::{Engine, EngineConfig};

fn silt_maps(dir: &std::path::Path) -> usize {
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
    let dir = dir.to_string_lossy().into_owned();
    maps.lines().filter(|l| l.contains(&dir)).count()
}

fn silt_fds(dir: &std::path::Path) -> usize {
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.unwrap().path()).ok())
        .filter(|target| target.starts_with(dir))
        .count()
}

#[test]
fn ten_thousand_partitions_reopen_without_mapping_anything() {
    let dir = tempfile::tempdir().unwrap();
    let engine = common::open(dir.path());
    engine
        .create_topic(common::small_topic("wide", 10_000, 64 << 10))
        .unwrap();
    for p in (0..10_000).step_by(500) {
        engine.append("wide", p, &common::batch(0, 5)).unwrap();
    }
    engine.close().unwrap();
    drop(engine);

    let engine = common::open(dir.path());
    let report = engine.open_report();
    assert!(report.clean);
    assert_eq!(report.partitions, 10_000);
    assert_eq!(report.segments_recovered, 0);
    assert_eq!(silt_maps(dir.path()), 0, "opening mapped no segment");
    assert!(silt_fds(dir.path()) <= 1, "only the lock file is open");

    for p in (0..10_000).step_by(500) {
        assert_eq!(
            common::read_all(&engine, "wide", p, 0).len(),
            5,
            "partition {p}"
        );
    }
    assert_eq!(engine.log("wide", 1).unwrap().log_end_offset().unwrap(), 0);
    assert!(
        silt_fds(dir.path()) <= 1,
        "segments hold no file descriptors"
    );
}

#[test]
fn closed_segments_stay_mapped_only_up_to_the_cap() {
    let dir = tempfile::tempdir().unwrap();
    let config = EngineConfig {
        max_open_segments: 4,
        ..common::quiet_config()
    };
    let engine = Engine::open(dir.path(), config.clone()).unwrap();
    engine
        .create_topic(common::small_topic("t", 1, 8 << 10))
        .unwrap();
    let mut next = 0;
    while engine.log("t", 0).unwrap().segment_count() < 40 {
        engine.append("t", 0, &common::batch(next, 20)).unwrap();
        next += 20;
    }
    engine.close().unwrap();
    drop(engine);

    let engine = Engine::open(dir.path(), config).unwrap();
    let all = common::read_all(&engine, "t", 0, 0);
    assert_eq!(all.len() as u64, next);
    assert!(
        engine.mapped_closed_segments() <= 4,
        "{}",
        engine.mapped_closed_segments()
    );
    // Three files per mapped segment (log, index, time index), plus the active segment's.
    let maps = silt_maps(dir.path());
    assert!(maps <= 3 * 5, "{maps} mappings of segment files");
    assert_eq!(silt_fds(dir.path()), 1, "only the lock file is open");
}
