//! When appends become durable: `flush.messages=N` syncs once N messages are unsynced
//! (without an explicit flush), the default never syncs on append, `flush.ms` is applied by
//! the background flusher, concurrent `flush_up_to` callers share syncs (group commit), and
//! `Engine::flush` writes Kafka's recovery-point checkpoint with every partition's log end.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Barrier};
use std::time::Duration;

use silt_engine::{Engine, EngineConfig, NewTopic, RECOVERY_POINT_CHECKPOINT};

/// A topic whose segments never roll during a test (rolling syncs too).
fn topic(name: &str, partitions: u32) -> NewTopic {
    NewTopic::new(name, partitions)
        .config("segment.bytes", (64 << 20).to_string())
        .config("retention.ms", "-1")
}

/// Parses Kafka's offset checkpoint format: `0`, the entry count, then `topic partition
/// offset` lines.
fn read_checkpoint(path: &Path) -> BTreeMap<(String, u32), i64> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("0"), "version line of {text:?}");
    let count: usize = lines.next().unwrap().parse().unwrap();
    let mut entries = BTreeMap::new();
    for line in lines {
        let fields: Vec<&str> = line.split(' ').collect();
        assert_eq!(fields.len(), 3, "{line:?}");
        let key = (fields[0].to_string(), fields[1].parse().unwrap());
        assert!(entries.insert(key, fields[2].parse().unwrap()).is_none());
    }
    assert_eq!(entries.len(), count, "{text:?}");
    assert!(text.ends_with('\n'));
    entries
}

#[test]
fn flush_messages_syncs_once_that_many_messages_are_unsynced() {
    let dir = tempfile::tempdir().unwrap();
    let engine = common::open(dir.path());
    engine
        .create_topic(topic("t", 1).config("flush.messages", "10"))
        .unwrap();
    let log = engine.log("t", 0).unwrap();
    let mut end = 0;
    for cycle in 1..=3u64 {
        // 9 messages: below the threshold, nothing is synced.
        for _ in 0..3 {
            engine.append("t", 0, &common::batch(end, 3)).unwrap();
            end += 3;
            assert_eq!(log.sync_count(), cycle - 1, "no sync below 10 messages");
            assert!(log.recovery_point() < end as i64);
        }
        // The 10th to 12th messages: this append syncs everything.
        engine.append("t", 0, &common::batch(end, 3)).unwrap();
        end += 3;
        assert_eq!(log.sync_count(), cycle);
        assert_eq!(log.recovery_point(), end as i64);
        assert_eq!(log.log_end_offset().unwrap(), end as i64);
    }
}

#[test]
fn flush_messages_one_syncs_every_append() {
    let dir = tempfile::tempdir().unwrap();
    let engine = common::open(dir.path());
    engine
        .create_topic(topic("t", 1).config("flush.messages", "1"))
        .unwrap();
    let log = engine.log("t", 0).unwrap();
    for i in 0..20u64 {
        engine.append("t", 0, &common::batch(i * 5, 5)).unwrap();
        assert_eq!(log.sync_count(), i + 1);
        assert_eq!(log.recovery_point(), (i as i64 + 1) * 5);
    }
}

#[test]
fn a_batch_larger_than_flush_messages_syncs_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let engine = common::open(dir.path());
    engine
        .create_topic(topic("t", 1).config("flush.messages", "5"))
        .unwrap();
    let log = engine.log("t", 0).unwrap();
    engine.append("t", 0, &common::batch(0, 50)).unwrap();
    assert_eq!(log.sync_count(), 1);
    assert_eq!(log.recovery_point(), 50);
}

#[test]
fn by_default_appends_never_sync() {
    let dir = tempfile::tempdir().unwrap();
    let engine = common::open(dir.path());
    engine.create_topic(topic("t", 1)).unwrap();
    assert_eq!(
        engine.log("t", 0).unwrap().config().flush_messages,
        i64::MAX
    );
    let log = engine.log("t", 0).unwrap();
    for i in 0..500u64 {
        engine.append("t", 0, &common::batch(i * 10, 10)).unwrap();
    }
    assert_eq!(log.sync_count(), 0);
    assert_eq!(log.recovery_point(), 0);
    assert_eq!(log.log_end_offset().unwrap(), 5000);

    // An explicit flush syncs everything, once.
    assert_eq!(log.flush().unwrap(), 5000);
    assert_eq!(log.sync_count(), 1);
    assert_eq!(log.recovery_point(), 5000);
}

#[test]
fn altering_flush_messages_applies_to_the_next_append() {
    let dir = tempfile::tempdir().unwrap();
    let engine = common::open(dir.path());
    engine.create_topic(topic("t", 1)).unwrap();
    let log = engine.log("t", 0).unwrap();
    engine.append("t", 0, &common::batch(0, 10)).unwrap();
    assert_eq!(log.sync_count(), 0);
    engine
        .alter_topic_config("t", [("flush.messages", "15")], [])
        .unwrap();
    // 10 unsynced before, 10 more: 20 >= 15.
    engine.append("t", 0, &common::batch(10, 10)).unwrap();
    assert_eq!(log.sync_count(), 1);
    assert_eq!(log.recovery_point(), 20);
}

#[test]
fn flush_up_to_a_durable_offset_does_not_sync() {
    let dir = tempfile::tempdir().unwrap();
    let engine = common::open(dir.path());
    engine.create_topic(topic("t", 1)).unwrap();
    let log = engine.log("t", 0).unwrap();
    engine.append("t", 0, &common::batch(0, 10)).unwrap();
    assert_eq!(
        engine.flush_up_to("t", 0, 5).unwrap(),
        10,
        "the sync covers the log end"
    );
    assert_eq!(log.sync_count(), 1);
    for offset in [0, 5, 10] {
        assert_eq!(engine.flush_up_to("t", 0, offset).unwrap(), 10);
    }
    assert_eq!(log.sync_count(), 1, "covered offsets need no sync");
}

#[test]
fn the_background_flusher_applies_flush_ms() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::open(
        dir.path(),
        EngineConfig {
            flush_scheduler_interval_ms: 20,
            ..common::quiet_config()
        },
    )
    .unwrap();
    engine.create_topic(topic("never", 1)).unwrap();
    engine
        .create_topic(topic("timed", 1).config("flush.ms", "50"))
        .unwrap();
    // The default topic's append comes first: any tick that flushes "timed" saw it too.
    engine.append("never", 0, &common::batch(0, 10)).unwrap();
    for i in 0..5u64 {
        engine
            .append("timed", 0, &common::batch(i * 10, 10))
            .unwrap();
    }
    let timed = engine.log("timed", 0).unwrap();
    assert!(
        common::wait_until(Duration::from_secs(30), || timed.recovery_point() == 50),
        "recovery point {} never reached the log end 50",
        timed.recovery_point()
    );
    assert!(timed.sync_count() >= 1);
    let never = engine.log("never", 0).unwrap();
    assert_eq!(never.sync_count(), 0, "flush.ms = i64::MAX is never due");
    assert_eq!(never.recovery_point(), 0);
    assert!(engine.take_background_error().is_none());

    // Later appends are flushed by later ticks.
    engine.append("timed", 0, &common::batch(50, 10)).unwrap();
    assert!(common::wait_until(Duration::from_secs(30), || timed
        .recovery_point()
        == 60));
}

#[test]
fn concurrent_flushes_share_syncs() {
    const THREADS: usize = 8;
    const ROUNDS: usize = 200;
    let dir = tempfile::tempdir().unwrap();
    let engine = common::open(dir.path());
    engine.create_topic(topic("t", 1)).unwrap();
    let log = engine.log("t", 0).unwrap();
    let barrier = Arc::new(Barrier::new(THREADS));
    let threads: Vec<_> = (0..THREADS)
        .map(|_| {
            let (engine, barrier) = (engine.clone(), Arc::clone(&barrier));
            std::thread::spawn(move || {
                let mut calls = 0usize;
                for _ in 0..ROUNDS {
                    let info = engine.append("t", 0, &common::batch(0, 1)).unwrap();
                    // Every thread of the round has appended before any flushes.
                    barrier.wait();
                    let target = info.last_offset + 1;
                    let durable = engine.flush_up_to("t", 0, target).unwrap();
                    assert!(
                        durable >= target,
                        "flush_up_to({target}) returned {durable}"
                    );
                    calls += 1;
                }
                calls
            })
        })
        .collect();
    let calls: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
    assert_eq!(calls, THREADS * ROUNDS);
    let syncs = log.sync_count() as usize;
    assert!(syncs >= 1);
    assert!(
        syncs < calls,
        "{syncs} syncs for {calls} flush_up_to calls: no sharing"
    );
    // The first sync of a round covers every append of the round (all made before the
    // barrier), so the others of that round are covered without syncing.
    assert!(syncs <= ROUNDS, "{syncs} syncs for {ROUNDS} rounds");
    let end = (THREADS * ROUNDS) as i64;
    assert_eq!(log.log_end_offset().unwrap(), end);
    assert_eq!(log.recovery_point(), end);
}

#[test]
fn engine_flush_writes_the_recovery_point_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let engine = common::open(dir.path());
    engine.create_topic(topic("a", 2)).unwrap();
    engine
        .create_topic(common::small_topic("b", 1, 4096).config("retention.ms", "-1"))
        .unwrap();
    for i in 0..7u64 {
        engine.append("a", 0, &common::batch(i * 10, 10)).unwrap();
    }
    for i in 0..40u64 {
        engine.append("b", 0, &common::batch(i * 10, 10)).unwrap();
    }
    // Nothing synced yet except rolls: the checkpoint on disk lags the logs.
    let path = dir.path().join(RECOVERY_POINT_CHECKPOINT);
    let before = read_checkpoint(&path);
    assert!(before.get(&("a".to_string(), 0)).is_none_or(|&o| o < 70));

    engine.flush().unwrap();
    let expected = BTreeMap::from([
        (("a".to_string(), 0), 70),
        (("a".to_string(), 1), 0),
        (("b".to_string(), 0), 400),
    ]);
    assert_eq!(read_checkpoint(&path), expected);
    for ((topic, partition), offset) in &expected {
        let log = engine.log(topic, *partition).unwrap();
        assert_eq!(log.recovery_point(), *offset);
        assert_eq!(log.log_end_offset().unwrap(), *offset);
    }

    // After more appends, the next flush rewrites it.
    engine.append("a", 1, &common::batch(0, 3)).unwrap();
    engine.flush().unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(text, "0\n3\na 0 70\na 1 3\nb 0 400\n");
}

#[test]
fn a_crash_after_flush_keeps_everything_flushed() {
    let dir = tempfile::tempdir().unwrap();
    let engine = common::open(dir.path());
    engine.create_topic(topic("t", 1)).unwrap();
    for i in 0..10u64 {
        engine.append("t", 0, &common::batch(i * 10, 10)).unwrap();
    }
    engine.flush().unwrap();
    let crashed = tempfile::tempdir().unwrap();
    common::crash_image(dir.path(), crashed.path());
    let engine2 = common::open(crashed.path());
    let log = engine2.log("t", 0).unwrap();
    assert_eq!(log.recovery_point(), 100);
    assert_eq!(common::read_all(&engine2, "t", 0, 0).len(), 100);
}
