//! A failed sync is never ignored and never retried (fsyncgate: after a failed msync or
//! fdatasync Linux may have dropped the dirty pages, and the next sync succeeds without
//! writing them). The partition goes offline with `LogFailed` naming the failed call: what
//! the sync covered is not acknowledged (a flush fails; `acks=all` deliveries fail), every
//! later append and flush of that partition fails even once the cause is gone, its recovery
//! point stays where it was, reads go on, other partitions carry on, and the engine closes
//! without its clean-shutdown marker. Reopening recovers the partition from its recovery
//! point and makes it writable again. A roll whose seal fails (the old segment may already
//! be cut to its end) takes the partition offline the same way.

mod common;
mod fault_support;

use std::time::Duration;

use fault_support::{assert_holds, assert_log_failed, clear, inject, scenario};
use silt_engine::config::{Acks, ProducerConfig};
use silt_engine::producer::ProducerRecord;
use silt_engine::{Engine, EngineError};

const TOPIC: &str = "t";
const SYNC: &str = "segment.log.sync";

fn clean_shutdown_marker(dir: &std::path::Path) -> bool {
    dir.join(".silt_cleanshutdown").exists()
}

/// Appends `n` records `value-<first…>` to `partition` and returns the next offset.
fn append(engine: &Engine, partition: u32, first: u64, n: u64) -> u64 {
    let info = engine
        .append(TOPIC, partition, &common::batch(first, n))
        .unwrap();
    assert_eq!(info.first_offset, first as i64);
    first + n
}

#[test]
fn a_failed_flush_takes_the_partition_offline_until_reopen() {
    let _scenario = scenario();
    let dir = tempfile::tempdir().unwrap();
    let engine = common::open(dir.path());
    engine
        .create_topic(common::small_topic(TOPIC, 2, 1 << 20))
        .unwrap();
    let mut next = [0u64; 2];
    for (p, next) in (0..).zip(&mut next) {
        *next = append(&engine, p, 0, 40);
    }
    engine.flush().unwrap();
    let durable = next[0] as i64;
    let log = engine.log(TOPIC, 0).unwrap();
    assert_eq!(log.recovery_point(), durable);
    next[0] = append(&engine, 0, next[0], 25);

    inject(SYNC, "return(EIO)");
    let err = engine.flush_up_to(TOPIC, 0, next[0] as i64).unwrap_err();
    let (recovery_point, fault) = assert_log_failed(&err, TOPIC, 0);
    assert_eq!(fault.op, "msync", "{err}");
    assert_eq!(fault.errno, Some(libc::EIO));
    assert!(fault.path.to_string_lossy().ends_with(".log"), "{err}");
    assert_eq!(
        recovery_point, durable,
        "nothing the failed sync covered counts"
    );
    assert_eq!(log.recovery_point(), durable);
    assert!(log.failure().is_some());

    // The cause goes away; the partition stays offline: a retried sync could succeed
    // without writing what the failed one lost.
    clear(SYNC);
    for err in [
        engine.flush_up_to(TOPIC, 0, next[0] as i64).unwrap_err(),
        log.flush().unwrap_err(),
        engine
            .append(TOPIC, 0, &common::batch(next[0], 5))
            .unwrap_err(),
        log.append(&common::batch(next[0], 5)).unwrap_err(),
    ] {
        let (point, fault) = assert_log_failed(&err, TOPIC, 0);
        assert_eq!(
            (point, fault.op),
            (durable, "msync"),
            "the original cause: {err}"
        );
    }
    assert_eq!(log.recovery_point(), durable);
    // What is durable is still served; a flush below it is nothing to do.
    assert_eq!(log.flush_up_to(durable).unwrap(), durable);
    let read = common::read_all(&engine, TOPIC, 0, 0);
    assert!(read.len() as i64 >= durable);
    for (i, (offset, value)) in read.iter().enumerate() {
        assert_eq!(
            (*offset, value.as_str()),
            (i as i64, &*format!("value-{i}"))
        );
    }

    // The other partition carries on.
    next[1] = append(&engine, 1, next[1], 30);
    let p1 = engine.flush_up_to(TOPIC, 1, next[1] as i64).unwrap();
    assert_eq!(p1, next[1] as i64);
    assert_holds(&engine, TOPIC, 1, next[1]);
    // An engine-wide flush syncs every other partition, writes the checkpoints, and reports
    // the offline one.
    next[1] = append(&engine, 1, next[1], 10);
    let err = engine.flush().unwrap_err();
    assert_log_failed(&err, TOPIC, 0);
    assert_eq!(
        engine.log(TOPIC, 1).unwrap().recovery_point(),
        next[1] as i64
    );
    // No clean-shutdown marker: the next open must recover the offline partition.
    let err = engine.close().unwrap_err();
    assert_log_failed(&err, TOPIC, 0);
    assert!(!clean_shutdown_marker(dir.path()));
    drop(engine);

    let engine = common::open(dir.path());
    assert!(!engine.open_report().clean);
    let log = engine.log(TOPIC, 0).unwrap();
    assert!(log.failure().is_none());
    let end = log.log_end_offset().unwrap();
    assert!(
        end >= durable && end <= next[0] as i64,
        "recovered from the recovery point: {end}"
    );
    assert_holds(&engine, TOPIC, 0, end as u64);
    let after = append(&engine, 0, end as u64, 10);
    assert_eq!(
        log.flush().unwrap(),
        after as i64,
        "writable and syncable again"
    );
    assert_holds(&engine, TOPIC, 0, after);
    assert_holds(&engine, TOPIC, 1, next[1]);
    engine.close().unwrap();
}

/// The first sync of a new segment is an fdatasync (its preallocation changed the file's
/// length): its failure counts the same.
#[test]
fn a_failed_fdatasync_of_a_new_segment_takes_the_partition_offline() {
    let _scenario = scenario();
    let dir = tempfile::tempdir().unwrap();
    let engine = common::open(dir.path());
    engine
        .create_topic(common::small_topic(TOPIC, 1, 1 << 20))
        .unwrap();
    let next = append(&engine, 0, 0, 20);
    inject(SYNC, "1*return(EIO)");
    let err = engine.flush_up_to(TOPIC, 0, next as i64).unwrap_err();
    let (point, fault) = assert_log_failed(&err, TOPIC, 0);
    assert_eq!((point, fault.op), (0, "fdatasync"));
    // The failpoint fired once and is spent: the partition is offline all the same.
    assert_log_failed(&engine.flush().unwrap_err(), TOPIC, 0);
    assert!(engine.close().is_err());
    drop(engine);

    let engine = common::open(dir.path());
    let end = engine.log(TOPIC, 0).unwrap().log_end_offset().unwrap();
    assert_holds(&engine, TOPIC, 0, end as u64);
    append(&engine, 0, end as u64, 5);
    engine.flush().unwrap();
}

/// `acks=all`: a batch is acknowledged once synced. When the sync fails, every delivery
/// waiting on it fails with the sync's error, later sends to that partition fail, and
/// another partition's deliveries are acknowledged.
#[test]
fn acks_all_deliveries_fail_when_their_sync_fails() {
    let _scenario = scenario();
    let dir = tempfile::tempdir().unwrap();
    let engine = common::open(dir.path());
    engine
        .create_topic(common::small_topic(TOPIC, 2, 1 << 20))
        .unwrap();
    let producer = engine
        .producer(ProducerConfig {
            acks: Acks::All,
            linger_ms: 0,
            ..ProducerConfig::default()
        })
        .unwrap();
    let send = |partition: u32, i: u64| {
        let value = format!("value-{i}");
        producer
            .send(
                ProducerRecord::new(TOPIC)
                    .partition(partition)
                    .value(&value)
                    .timestamp(common::T0),
            )
            .unwrap()
    };
    let wait = Duration::from_secs(30);
    let mut acked = 0u64;
    for i in 0..20 {
        let metadata = send(0, i).wait_timeout(wait).expect("done").unwrap();
        assert_eq!(metadata.offset, i as i64);
        acked += 1;
    }
    let log = engine.log(TOPIC, 0).unwrap();
    assert!(log.recovery_point() >= acked as i64);

    inject(SYNC, "return(EIO)");
    let failed: Vec<_> = (acked..acked + 10).map(|i| send(0, i)).collect();
    for delivery in &failed {
        let err = delivery.wait_timeout(wait).expect("done").unwrap_err();
        let EngineError::BatchFailed { source, .. } = &err else {
            panic!("expected BatchFailed, got {err:?}");
        };
        let (point, fault) = assert_log_failed(source, TOPIC, 0);
        assert_eq!(point, acked as i64, "nothing past the acknowledged records");
        assert_eq!((fault.op, fault.errno), ("msync", Some(libc::EIO)), "{err}");
    }
    assert_eq!(log.recovery_point(), acked as i64);
    clear(SYNC);
    // Later sends to the offline partition fail at once (their append is refused); the
    // other partition's are acknowledged.
    let err = send(0, 99).wait_timeout(wait).expect("done").unwrap_err();
    assert!(
        matches!(&err, EngineError::BatchFailed { source, .. }
            if matches!(**source, EngineError::LogFailed { partition: 0, .. })),
        "{err:?}"
    );
    for i in 0..10 {
        let metadata = send(1, i).wait_timeout(wait).expect("done").unwrap();
        assert_eq!(metadata.offset, i as i64);
    }
    assert_eq!(engine.log(TOPIC, 1).unwrap().recovery_point(), 10);
    producer.close().unwrap();
    assert!(engine.close().is_err());
    drop(engine);

    // Every acknowledged record is there after the reopen, and the partition takes sends.
    let engine = common::open(dir.path());
    let values = common::values(&engine, TOPIC, 0);
    assert!(values.len() as u64 >= acked);
    for (i, value) in values.iter().enumerate() {
        assert_eq!(value, &format!("value-{i}"));
    }
    let producer = engine
        .producer(ProducerConfig {
            acks: Acks::All,
            ..ProducerConfig::default()
        })
        .unwrap();
    let value = "after";
    let metadata = producer
        .send(ProducerRecord::new(TOPIC).partition(0).value(value))
        .unwrap()
        .wait_timeout(wait)
        .expect("done")
        .unwrap();
    assert_eq!(metadata.offset, values.len() as i64);
    producer.close().unwrap();
    engine.close().unwrap();
}

/// A roll seals the old segment: it cuts the file to its end, then fsyncs it and seals both
/// indexes. When a step fails the old segment may be cut already, so appending to it again
/// would write past the end of its file (SIGBUS): the partition goes offline instead, the
/// new segment's files are removed, and a reopen recovers it.
#[test]
fn a_roll_whose_seal_fails_takes_the_partition_offline() {
    let _scenario = scenario();
    for (name, op) in [
        (SYNC, "fsync"),
        ("segment.log.truncate", "truncate"),
        ("index.file.truncate", "truncate"),
        ("index.file.sync", "fdatasync"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let engine = common::open(dir.path());
        engine
            .create_topic(common::small_topic(TOPIC, 1, 8192))
            .unwrap();
        let mut next = append(&engine, 0, 0, 10);
        engine.flush().unwrap();
        let durable = next as i64;
        inject(name, "return(EIO)");
        let err = loop {
            match engine.append(TOPIC, 0, &common::batch(next, 10)) {
                Ok(_) => next += 10,
                Err(e) => break e,
            }
            assert!(next < 100_000, "never rolled");
        };
        let (point, fault) = assert_log_failed(&err, TOPIC, 0);
        assert_eq!((point, fault.op), (durable, op), "{name}: {err}");
        assert_eq!(
            fault_support::segment_bases(&engine, TOPIC, 0),
            [0],
            "{name}: the new segment's files are removed"
        );
        clear(name);
        // Refused, not written past the end of a cut file.
        for _ in 0..3 {
            let err = engine
                .append(TOPIC, 0, &common::batch(next, 10))
                .unwrap_err();
            assert_log_failed(&err, TOPIC, 0);
        }
        assert_holds(&engine, TOPIC, 0, next);
        assert!(engine.close().is_err());
        drop(engine);

        let engine = common::open(dir.path());
        assert!(!engine.open_report().clean);
        assert_holds(&engine, TOPIC, 0, next);
        let after = append(&engine, 0, next, 10);
        engine.flush().unwrap();
        assert_holds(&engine, TOPIC, 0, after);
        engine.close().unwrap();
    }
}

/// The background flush (`flush.ms`) meets the failure too: it takes the partition offline,
/// reports the error through `take_background_error`, and goes on flushing the others.
#[test]
fn a_failed_background_flush_is_reported_and_the_others_go_on() {
    let _scenario = scenario();
    let dir = tempfile::tempdir().unwrap();
    let config = silt_engine::EngineConfig {
        flush_scheduler_interval_ms: 5,
        ..common::quiet_config()
    };
    let engine = Engine::open(dir.path(), config).unwrap();
    let topic = common::small_topic(TOPIC, 2, 1 << 20).config("flush.ms", "0");
    engine.create_topic(topic).unwrap();
    let first = append(&engine, 0, 0, 10);
    append(&engine, 1, 0, 10);
    let synced = |p: u32, to: i64| {
        let log = engine.log(TOPIC, p).unwrap();
        common::wait_until(Duration::from_secs(30), || log.recovery_point() >= to)
    };
    assert!(synced(0, 10) && synced(1, 10));

    inject(SYNC, "return(EIO)");
    append(&engine, 0, first, 10);
    let log = engine.log(TOPIC, 0).unwrap();
    assert!(common::wait_until(Duration::from_secs(30), || log
        .failure()
        .is_some()));
    clear(SYNC);
    let mut reported = None;
    assert!(common::wait_until(Duration::from_secs(30), || {
        reported = reported.take().or_else(|| engine.take_background_error());
        reported.is_some()
    }));
    assert_log_failed(&reported.unwrap(), TOPIC, 0);
    // Partition 1 is still flushed by the background task.
    append(&engine, 1, 10, 10);
    assert!(synced(1, 20));
    assert_eq!(log.recovery_point(), 10);
    assert!(engine.close().is_err());
}
