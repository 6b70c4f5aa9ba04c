//! Appends wake readers waiting on the log's [`Notify`]: a waiter registered before an
//! append is woken by it (both append paths: `Log::append` and the producer's writer), no
//! wake-up is lost between a reader's check and its sleep, one waiter can watch several
//! logs, and an unregistered waiter costs appends nothing and hears nothing.
//!
//! Every wait is bounded by a long deadline that a correct implementation never reaches:
//! a lost wake-up fails the test (after the deadline) instead of hanging it.

mod common;

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use silt_engine::{Acks, Log, ProducerConfig, ProducerRecord, Waiter};

/// Far longer than any wake-up takes: reaching it means the wake-up was lost.
const LOST: Duration = Duration::from_secs(20);

fn log_with_topic(engine: &silt_engine::Engine, partitions: u32) -> Vec<Arc<Log>> {
    engine
        .create_topic(common::small_topic("t", partitions, 1 << 20))
        .unwrap();
    (0..partitions)
        .map(|p| engine.log("t", p).unwrap())
        .collect()
}

/// Registers, checks, and sleeps only if nothing new arrived: the reader's protocol.
/// Returns the end offset it saw, once it is past `seen`.
fn wait_past(log: &Log, waiter: &Waiter, seen: i64) -> i64 {
    let deadline = Instant::now() + LOST;
    loop {
        log.append_notify().register(waiter);
        let end = log.log_end_offset().unwrap();
        if end > seen {
            log.append_notify().unregister(waiter);
            return end;
        }
        let woken = waiter.wait_until(deadline);
        log.append_notify().unregister(waiter);
        assert!(
            woken,
            "no wake-up within {LOST:?}: an append's wake-up was lost"
        );
    }
}

#[test]
fn an_append_wakes_a_registered_waiter() {
    let dir = tempfile::tempdir().unwrap();
    let engine = common::open(dir.path());
    let logs = log_with_topic(&engine, 1);
    let log = Arc::clone(&logs[0]);
    let waiter = Waiter::new();
    log.append_notify().register(&waiter);
    assert_eq!(log.log_end_offset().unwrap(), 0);
    std::thread::scope(|s| {
        let sleeper = s.spawn(|| waiter.wait_until(Instant::now() + LOST));
        engine.append("t", 0, &common::batch(0, 1)).unwrap();
        assert!(
            sleeper.join().unwrap(),
            "the append did not wake the waiter"
        );
    });
    log.append_notify().unregister(&waiter);
    assert_eq!(log.append_notify().waiters(), 0);
}

#[test]
fn no_wake_up_is_lost_between_the_check_and_the_sleep() {
    const APPENDS: i64 = 2_000;
    let dir = tempfile::tempdir().unwrap();
    let engine = common::open(dir.path());
    let logs = log_with_topic(&engine, 1);
    let log = Arc::clone(&logs[0]);
    // The reader acknowledges each offset it saw; the writer appends the next record only
    // then, so that every append races with a reader that is about to sleep.
    let acknowledged = AtomicI64::new(0);
    std::thread::scope(|s| {
        s.spawn(|| {
            let waiter = Waiter::new();
            let mut seen = 0;
            while seen < APPENDS {
                seen = wait_past(&log, &waiter, seen);
                acknowledged.store(seen, Ordering::Release);
            }
        });
        let deadline = Instant::now() + LOST;
        for i in 0..APPENDS {
            while acknowledged.load(Ordering::Acquire) < i {
                assert!(Instant::now() < deadline, "the reader stopped at {i}");
                std::hint::spin_loop();
            }
            engine.append("t", 0, &common::batch(i as u64, 1)).unwrap();
        }
    });
    assert_eq!(log.log_end_offset().unwrap(), APPENDS);
    assert_eq!(log.append_notify().waiters(), 0);
}

#[test]
fn the_producers_appends_wake_waiters_too() {
    let dir = tempfile::tempdir().unwrap();
    let engine = common::open(dir.path());
    let logs = log_with_topic(&engine, 1);
    let log = Arc::clone(&logs[0]);
    let producer = engine
        .producer(ProducerConfig {
            acks: Acks::Leader,
            linger_ms: 0,
            ..ProducerConfig::default()
        })
        .unwrap();
    std::thread::scope(|s| {
        let reader = s.spawn(|| {
            let waiter = Waiter::new();
            let mut seen = 0;
            while seen < 100 {
                seen = wait_past(&log, &waiter, seen);
            }
            seen
        });
        for i in 0..100 {
            let value = format!("v{i}");
            producer
                .send(ProducerRecord::new("t").partition(0).value(&value))
                .unwrap();
        }
        assert_eq!(reader.join().unwrap(), 100);
    });
    producer.close().unwrap();
}

#[test]
fn one_waiter_watches_several_logs() {
    let dir = tempfile::tempdir().unwrap();
    let engine = common::open(dir.path());
    let logs = log_with_topic(&engine, 3);
    let waiter = Waiter::new();
    for log in &logs {
        log.append_notify().register(&waiter);
    }
    for (p, log) in logs.iter().enumerate() {
        let p = p as u32;
        std::thread::scope(|s| {
            let sleeper = s.spawn(|| waiter.wait_until(Instant::now() + LOST));
            engine.append("t", p, &common::batch(0, 1)).unwrap();
            assert!(
                sleeper.join().unwrap(),
                "partition {p}'s append did not wake"
            );
        });
        assert_eq!(log.log_end_offset().unwrap(), 1);
    }
    for log in &logs {
        log.append_notify().unregister(&waiter);
        assert_eq!(log.append_notify().waiters(), 0);
    }
}

#[test]
fn an_unregistered_waiter_hears_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let engine = common::open(dir.path());
    let logs = log_with_topic(&engine, 1);
    let log = &logs[0];
    let waiter = Waiter::new();
    log.append_notify().register(&waiter);
    log.append_notify().unregister(&waiter);
    assert_eq!(log.append_notify().waiters(), 0);
    engine.append("t", 0, &common::batch(0, 1)).unwrap();
    // The append is done (append returned): had it woken the waiter, the wake-up would be
    // kept, and this would return true.
    assert!(!waiter.wait_until(Instant::now()));
}

#[test]
fn appends_go_on_while_waiters_come_and_go() {
    // Registrations racing with appends: nothing deadlocks, and every waiter that sleeps is
    // woken by some later append.
    let dir = tempfile::tempdir().unwrap();
    let engine = common::open(dir.path());
    let logs = log_with_topic(&engine, 1);
    let log = Arc::clone(&logs[0]);
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        for _ in 0..3 {
            s.spawn(|| {
                let waiter = Waiter::new();
                let mut seen = 0;
                while !stop.load(Ordering::Acquire) {
                    seen = wait_past(&log, &waiter, seen);
                }
            });
        }
        for i in 0..3_000u64 {
            engine.append("t", 0, &common::batch(i, 1)).unwrap();
        }
        stop.store(true, Ordering::Release);
        // Waiters still asleep wake on this last append and see the stop flag.
        engine.append("t", 0, &common::batch(3_000, 1)).unwrap();
    });
    assert_eq!(log.append_notify().waiters(), 0);
}
