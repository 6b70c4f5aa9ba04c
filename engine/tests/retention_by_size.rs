//! Retention by size (`retention.bytes`, per partition): `Engine::enforce_retention` deletes
//! the oldest closed segments while the partition without the next one would still hold at
//! least `retention.bytes` (Kafka's `deleteRetentionSizeBreachedSegments`), never the active
//! segment. The deleted set is checked against a model built from the batches appended and
//! `segment_base_offsets()`, also after a clean reopen; a `Fetch` taken from a segment before
//! it was deleted still reads all its records intact.

mod common;

use std::path::Path;

use silt_engine::{Engine, EngineError, NewTopic};
use silt_segment::batch::Compression;
use silt_segment::log::{segment_file, LOG_SUFFIX};

/// What was appended to one partition: (first offset, size in bytes) of every batch.
#[derive(Default)]
struct Appended {
    batches: Vec<(i64, u64)>,
    next_offset: i64,
}

impl Appended {
    /// Appends `count` batches of 1 to 30 records (so segments differ in size).
    fn fill(
        &mut self,
        engine: &Engine,
        topic: &str,
        partition: u32,
        count: usize,
        rng: &mut common::Rng,
    ) {
        for _ in 0..count {
            let n = 1 + rng.below(30);
            let first = self.next_offset;
            let batch = common::batch_of(first as u64, n, common::T0, Compression::None);
            let info = engine.append(topic, partition, &batch).unwrap();
            assert_eq!(info.first_offset, first);
            self.batches.push((first, batch.len() as u64));
            self.next_offset = info.last_offset + 1;
        }
    }

    /// (base offset, size in bytes) of every segment of `bases` (oldest first, the active
    /// one last), from the batches each one holds.
    fn segments(&self, bases: &[i64]) -> Vec<(i64, u64)> {
        bases
            .iter()
            .enumerate()
            .map(|(i, &base)| {
                let next = bases.get(i + 1).copied().unwrap_or(i64::MAX);
                let size = self
                    .batches
                    .iter()
                    .filter(|(first, _)| (base..next).contains(first))
                    .map(|(_, size)| size)
                    .sum();
                (base, size)
            })
            .collect()
    }
}

/// Kafka's rule: with `diff = total - retention`, delete the oldest closed segments while
/// `diff - size >= 0`, taking each one's size off `diff`. Returns how many go.
fn model_victims(segments: &[(i64, u64)], retention_bytes: i64) -> usize {
    let total: u64 = segments.iter().map(|(_, s)| s).sum();
    if retention_bytes < 0 || total < retention_bytes as u64 {
        return 0;
    }
    let mut diff = total - retention_bytes as u64;
    let closed = &segments[..segments.len() - 1];
    let mut victims = 0;
    for (_, size) in closed {
        if diff < *size {
            break;
        }
        diff -= size;
        victims += 1;
    }
    victims
}

/// A topic of `partitions` partitions with 4 KiB segments, no time retention, and
/// `retention.bytes`.
fn topic(name: &str, partitions: u32, retention_bytes: i64) -> NewTopic {
    common::small_topic(name, partitions, 4096)
        .config("retention.ms", "-1")
        .config("retention.bytes", retention_bytes.to_string())
}

/// Sets `retention.bytes`, runs retention, and checks the result against the model.
/// Returns the number of segments deleted.
fn enforce_and_check(engine: &Engine, appended: &Appended, retention_bytes: i64) -> usize {
    engine
        .alter_topic_config(
            "t",
            [("retention.bytes", &*retention_bytes.to_string())],
            [],
        )
        .unwrap();
    let log = engine.log("t", 0).unwrap();
    let bases = log.segment_base_offsets().unwrap();
    let segments = appended.segments(&bases);
    let total: u64 = segments.iter().map(|(_, s)| s).sum();
    assert_eq!(
        log.size_bytes().unwrap(),
        total,
        "the model's size is the log's"
    );
    let victims = model_victims(&segments, retention_bytes);

    let report = engine.enforce_retention().unwrap();
    let deleted: u64 = segments[..victims].iter().map(|(_, s)| s).sum();
    assert_eq!(
        report.segments_deleted, victims,
        "retention.bytes {retention_bytes}, segments {segments:?}"
    );
    assert_eq!(report.bytes_deleted, deleted);
    assert_eq!(log.segment_base_offsets().unwrap(), bases[victims..]);
    assert_eq!(log.size_bytes().unwrap(), total - deleted);
    assert_eq!(log.log_start_offset(), bases[victims]);
    if retention_bytes >= 0 && victims < segments.len() - 1 {
        assert!(
            total - deleted - segments[victims].1 < retention_bytes as u64,
            "the next segment was kept because deleting it would go below retention.bytes"
        );
    }
    for &(base, _) in &segments[..victims] {
        assert!(!segment_file(log.dir(), base, LOG_SUFFIX).exists());
    }
    check_records(engine, appended);
    victims
}

/// Every record from the log start to the log end is there and intact.
fn check_records(engine: &Engine, appended: &Appended) {
    let start = engine.log("t", 0).unwrap().log_start_offset();
    let records = common::read_all(engine, "t", 0, start);
    assert_eq!(records.len() as i64, appended.next_offset - start);
    for (i, (offset, value)) in records.iter().enumerate() {
        assert_eq!(*offset, start + i as i64);
        assert_eq!(value, &format!("value-{offset}"));
    }
}

fn setup(dir: &Path, batches: usize, seed: u64) -> (Engine, Appended) {
    let engine = common::open(dir);
    engine.create_topic(topic("t", 1, -1)).unwrap();
    let mut appended = Appended::default();
    appended.fill(&engine, "t", 0, batches, &mut common::Rng(seed));
    (engine, appended)
}

#[test]
fn deletes_the_oldest_segments_the_model_says_for_shrinking_limits() {
    let dir = tempfile::tempdir().unwrap();
    let (engine, appended) = setup(dir.path(), 300, 0x9e37_79b9_7f4a_7c15);
    let log = engine.log("t", 0).unwrap();
    assert!(log.segment_count() > 10, "{}", log.segment_count());
    let total = log.size_bytes().unwrap() as i64;

    let mut limit = total + 1;
    let mut rng = common::Rng(7);
    let mut deleted = 0;
    while log.segment_count() > 1 {
        deleted += enforce_and_check(&engine, &appended, limit);
        limit -= 1 + rng.below(3000) as i64;
        limit = limit.max(0);
    }
    assert!(deleted > 10);
    // Only the active segment is left, whatever the limit.
    assert_eq!(enforce_and_check(&engine, &appended, 0), 0);
}

#[test]
fn the_limit_is_inclusive_at_the_segment_boundary() {
    let dir = tempfile::tempdir().unwrap();
    let (engine, appended) = setup(dir.path(), 100, 42);
    let log = engine.log("t", 0).unwrap();
    let segments = appended.segments(&log.segment_base_offsets().unwrap());
    let total: u64 = segments.iter().map(|(_, s)| s).sum();
    let (first, second) = (segments[0].1, segments[1].1);

    // Without the first segment the log holds one byte too few: it stays.
    assert_eq!(
        enforce_and_check(&engine, &appended, (total - first + 1) as i64),
        0
    );
    // Exactly retention.bytes without it: it goes, and only it.
    assert_eq!(
        enforce_and_check(&engine, &appended, (total - first) as i64),
        1
    );
    // Both of the next two fit exactly.
    let rest = total - first;
    assert_eq!(
        enforce_and_check(&engine, &appended, (rest - second - segments[2].1) as i64),
        2
    );
}

#[test]
fn the_active_segment_is_never_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let (engine, appended) = setup(dir.path(), 100, 3);
    let log = engine.log("t", 0).unwrap();
    let active = *log.segment_base_offsets().unwrap().last().unwrap();
    assert!(enforce_and_check(&engine, &appended, 0) > 1);
    assert_eq!(log.segment_base_offsets().unwrap(), vec![active]);
    assert!(
        log.size_bytes().unwrap() > 0,
        "the active segment still holds its records"
    );
    assert_eq!(engine.enforce_retention().unwrap().segments_deleted, 0);
}

#[test]
fn minus_one_and_a_compacted_topic_keep_everything() {
    let dir = tempfile::tempdir().unwrap();
    let (engine, appended) = setup(dir.path(), 100, 11);
    let log = engine.log("t", 0).unwrap();
    let count = log.segment_count();
    assert_eq!(enforce_and_check(&engine, &appended, -1), 0);
    assert_eq!(log.segment_count(), count);

    engine
        .alter_topic_config(
            "t",
            [("cleanup.policy", "compact"), ("retention.bytes", "0")],
            [],
        )
        .unwrap();
    assert_eq!(engine.enforce_retention().unwrap().segments_deleted, 0);
    assert_eq!(log.segment_count(), count);
    assert_eq!(log.log_start_offset(), 0);
    check_records(&engine, &appended);
}

#[test]
fn sizes_after_a_clean_reopen_give_the_same_decisions() {
    let dir = tempfile::tempdir().unwrap();
    let (engine, appended) = setup(dir.path(), 200, 5);
    let bases = engine.log("t", 0).unwrap().segment_base_offsets().unwrap();
    engine.close().unwrap();
    drop(engine);

    // Closed segments are sized from their (trimmed) files after a clean open.
    let engine = common::open(dir.path());
    let log = engine.log("t", 0).unwrap();
    assert_eq!(log.segment_base_offsets().unwrap(), bases);
    let segments = appended.segments(&bases);
    for &(base, size) in &segments[..segments.len() - 1] {
        let on_disk = std::fs::metadata(segment_file(log.dir(), base, LOG_SUFFIX))
            .unwrap()
            .len();
        assert_eq!(on_disk, size, "segment {base}");
    }
    let total: u64 = segments.iter().map(|(_, s)| s).sum();
    let limit = (total / 3) as i64;
    assert!(enforce_and_check(&engine, &appended, limit) > 0);
    engine.close().unwrap();
    drop(engine);

    let engine = common::open(dir.path());
    check_records(&engine, &appended);
}

#[test]
fn a_fetch_from_a_deleted_segment_reads_all_its_records() {
    let dir = tempfile::tempdir().unwrap();
    let (engine, appended) = setup(dir.path(), 100, 17);
    let log = engine.log("t", 0).unwrap();
    let bases = log.segment_base_offsets().unwrap();
    // The whole first segment, and part of the second from an offset inside it.
    let whole = engine.fetch("t", 0, 0, usize::MAX).unwrap();
    assert_eq!(whole.next_offset(), bases[1], "one fetch reads one segment");
    let middle = bases[1] + (bases[2] - bases[1]) / 2;
    let part = engine.fetch("t", 0, middle, usize::MAX).unwrap();
    let bytes_before = (whole.bytes().to_vec(), part.bytes().to_vec());

    engine
        .alter_topic_config("t", [("retention.bytes", "0")], [])
        .unwrap();
    let report = engine.enforce_retention().unwrap();
    assert!(report.segments_deleted >= 2);
    assert!(!segment_file(log.dir(), bases[0], LOG_SUFFIX).exists());
    assert!(!segment_file(log.dir(), bases[1], LOG_SUFFIX).exists());
    assert!(matches!(
        engine.fetch("t", 0, 0, 1024),
        Err(EngineError::OffsetOutOfRange { .. })
    ));

    // The held fetches read their deleted segments' bytes and records, unchanged.
    assert_eq!(whole.bytes(), &bytes_before.0[..]);
    assert_eq!(part.bytes(), &bytes_before.1[..]);
    let records = common::records(&whole);
    assert_eq!(records.len() as i64, bases[1]);
    for (i, (offset, value)) in records.iter().enumerate() {
        assert_eq!(
            (*offset, value.as_str()),
            (i as i64, &*format!("value-{i}"))
        );
    }
    let records = common::records(&part);
    assert_eq!(records.len() as i64, bases[2] - middle);
    for (i, (offset, value)) in records.iter().enumerate() {
        let want = middle + i as i64;
        assert_eq!((*offset, value.as_str()), (want, &*format!("value-{want}")));
    }
    assert_eq!(appended.next_offset, log.log_end_offset().unwrap());
}

#[test]
fn each_partition_is_measured_on_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let engine = common::open(dir.path());
    engine.create_topic(topic("t", 2, 20_000)).unwrap();
    let mut rng = common::Rng(99);
    let mut big = Appended::default();
    big.fill(&engine, "t", 0, 200, &mut rng);
    let mut small = Appended::default();
    small.fill(&engine, "t", 1, 30, &mut rng);
    let small_size = engine.log("t", 1).unwrap().size_bytes().unwrap();
    assert!(small_size < 20_000, "{small_size}");

    let log0 = engine.log("t", 0).unwrap();
    let segments = big.segments(&log0.segment_base_offsets().unwrap());
    let victims = model_victims(&segments, 20_000);
    assert!(victims > 0);
    let report = engine.enforce_retention().unwrap();
    assert_eq!(report.segments_deleted, victims);
    assert!(log0.size_bytes().unwrap() >= 20_000);
    assert_eq!(
        engine.log("t", 1).unwrap().size_bytes().unwrap(),
        small_size
    );
    assert_eq!(engine.log("t", 1).unwrap().log_start_offset(), 0);
}
