//! A member that closes loses its partitions at once; one that crashes (no heartbeats)
//! loses them after `session.timeout.ms`; one that stops polling loses them after
//! `max.poll.interval.ms`, and learns it lost them (not revoked) when it polls again.

mod support;

use std::time::{Duration, Instant};

use silt_consumer::{Consumer, ConsumerConfig, ConsumerExt, NoopListener};
use silt_engine::Engine;
use support::{open, settle_stable, topic, Recorder};

fn member(engine: &Engine, config: ConsumerConfig, listener: Recorder) -> Consumer {
    let mut c = engine.consumer(config).unwrap();
    c.subscribe(&["t"], listener).unwrap();
    c
}

fn two_members(engine: &Engine, config: ConsumerConfig) -> (Consumer, Consumer, Recorder) {
    let recorder = Recorder::default();
    let mut a = member(engine, config.clone(), recorder.clone());
    let mut b = member(engine, config, Recorder::default());
    assert!(settle_stable(
        engine,
        "g",
        &mut [&mut a, &mut b],
        Duration::from_secs(10),
        |cs| { cs.iter().all(|c| c.assignment().len() == 2) }
    ));
    (a, b, recorder)
}

/// Polls `survivor` until it owns all 4 partitions; returns how long that took.
fn survivor_takes_all(engine: &Engine, survivor: &mut Consumer) -> Duration {
    let start = Instant::now();
    assert!(
        settle_stable(
            engine,
            "g",
            &mut [survivor],
            Duration::from_secs(20),
            |cs| cs[0].assignment().len() == 4
        ),
        "the survivor never got every partition"
    );
    start.elapsed()
}

#[test]
fn a_closed_member_loses_its_partitions_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path());
    topic(&engine, "t", 4);
    let (a, mut b, recorder) = two_members(&engine, ConsumerConfig::with_group("g"));
    recorder.take();
    a.close().unwrap();
    assert_eq!(
        recorder.take().first().map(|e| e.0.as_str()),
        Some("revoked")
    );
    // The default session timeout is 45 s: moving within seconds means it left at once.
    let took = survivor_takes_all(&engine, &mut b);
    assert!(took < Duration::from_secs(10), "{took:?}");
}

#[test]
fn a_crashed_member_loses_its_partitions_after_the_session_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path());
    topic(&engine, "t", 4);
    let config = ConsumerConfig {
        session_timeout_ms: 600,
        heartbeat_interval_ms: 50,
        ..ConsumerConfig::with_group("g")
    };
    let (a, mut b, _) = two_members(&engine, config);
    let crashed = Instant::now();
    a.abandon();
    let took = survivor_takes_all(&engine, &mut b);
    // The session runs from the last heartbeat, at most one interval before the crash.
    assert!(
        crashed.elapsed() >= Duration::from_millis(550),
        "moved after {took:?}, before the session timeout"
    );
}

#[test]
fn a_member_that_stops_polling_loses_its_partitions_after_the_poll_interval() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path());
    topic(&engine, "t", 4);
    let config = ConsumerConfig {
        max_poll_interval_ms: 500,
        heartbeat_interval_ms: 50,
        ..ConsumerConfig::with_group("g")
    };
    let (mut a, mut b, recorder) = two_members(&engine, config);
    recorder.take();
    let stopped = Instant::now();
    let took = survivor_takes_all(&engine, &mut b);
    assert!(
        stopped.elapsed() >= Duration::from_millis(450),
        "moved after {took:?}"
    );
    // Still heartbeating, but it stopped polling: when it polls again it learns the
    // partitions were lost, and it rejoins.
    a.poll(Duration::from_millis(10)).unwrap();
    let events = recorder.take();
    assert_eq!(
        events.first().map(|e| (e.0.as_str(), e.1.len())),
        Some(("lost", 2)),
        "{events:?}"
    );
    let err = a.commit_sync();
    assert!(err.is_ok() || matches!(err, Err(silt_consumer::ConsumerError::CommitFailed { .. })));
    let _ = NoopListener;
}
