//! An idle poll sleeps on its partitions' append notifiers and an append wakes it: the poll
//! returns the record long before its timeout. The registrations last only while the poll
//! sleeps, and a paused partition is not watched.
//!
//! The test waits (bounded) until the sleeping poll is registered before appending, so the
//! append always races with a poll that is about to sleep or asleep; a lost wake-up would
//! show as a poll that returns only at its 30 s timeout.

mod support;

use std::time::{Duration, Instant};

use silt_consumer::{ConsumerConfig, ConsumerExt, OffsetReset, TopicPartition};
use silt_engine::Log;
use support::{open, produce, topic};

const POLL_TIMEOUT: Duration = Duration::from_secs(30);

/// Waits until `log` has `n` registered waiters (bounded by 10 s).
fn wait_for_waiters(log: &Log, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while log.append_notify().waiters() != n {
        assert!(Instant::now() < deadline, "the poll never registered");
        std::thread::yield_now();
    }
}

#[test]
fn an_append_wakes_a_sleeping_poll() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path());
    topic(&engine, "t", 2);
    let (p0, p1) = (engine.log("t", 0).unwrap(), engine.log("t", 1).unwrap());
    let mut consumer = engine
        .consumer(ConsumerConfig::default().auto_offset_reset(OffsetReset::Earliest))
        .unwrap();
    let (tp0, tp1) = (TopicPartition::new("t", 0), TopicPartition::new("t", 1));
    consumer.assign(&[tp0, tp1.clone()]).unwrap();
    consumer.pause(std::slice::from_ref(&tp1)).unwrap();
    for round in 0..3 {
        std::thread::scope(|s| {
            let poller = s.spawn(|| {
                let start = Instant::now();
                let records = consumer.poll(POLL_TIMEOUT).unwrap();
                let offsets: Vec<i64> = records.iter().map(|r| r.offset).collect();
                (offsets, start.elapsed())
            });
            wait_for_waiters(&p0, 1);
            assert_eq!(
                p1.append_notify().waiters(),
                0,
                "a paused partition is watched"
            );
            produce(&engine, "t", 1, "v", 1);
            let (offsets, took) = poller.join().unwrap();
            assert_eq!(offsets, vec![round]);
            assert!(took < POLL_TIMEOUT, "woken only by the timeout: {took:?}");
        });
        assert_eq!(p0.append_notify().waiters(), 0, "registered after the poll");
    }
}
