//! Commits: a committed offset is the next offset to read; it survives reopening the
//! engine (replayed from `__consumer_offsets`); `commit_async` callbacks run in commit
//! order; a commit from a member of an older generation is refused with a typed error.

mod support;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use silt_consumer::{
    CommittedOffset, ConsumerConfig, ConsumerError, ConsumerExt, NoopListener, OffsetReset,
    TopicPartition,
};
use support::{open, poll_n, produce, settle_stable, topic};

fn config() -> ConsumerConfig {
    ConsumerConfig::with_group("g")
        .auto_offset_reset(OffsetReset::Earliest)
        .enable_auto_commit(false)
}

#[test]
fn committed_offsets_survive_reopen_and_resume_the_group() {
    let dir = tempfile::tempdir().unwrap();
    let tp = TopicPartition::new("t", 0);
    {
        let engine = open(dir.path());
        topic(&engine, "t", 1);
        produce(&engine, "t", 1, "v", 100);
        let mut c = engine.consumer(config()).unwrap();
        c.subscribe(&["t"], NoopListener).unwrap();
        let seen = poll_n(&mut c, 40);
        // Commit exactly after the 40th record: the next offset to read is 40.
        let mut offsets = BTreeMap::new();
        offsets.insert(tp.clone(), CommittedOffset::new(seen[39].1 + 1));
        c.commit_sync_offsets(&offsets).unwrap();
        assert_eq!(
            c.committed(std::slice::from_ref(&tp)).unwrap()[&tp]
                .as_ref()
                .unwrap()
                .offset,
            40
        );
        c.close().unwrap();
        engine.close().unwrap();
    }
    let engine = open(dir.path());
    let described = engine.describe_consumer_group("g").unwrap();
    assert_eq!(described.partitions[0].committed_offset, Some(40));
    assert_eq!(described.partitions[0].lag, Some(60));
    let mut c = engine.consumer(config()).unwrap();
    c.subscribe(&["t"], NoopListener).unwrap();
    let seen = poll_n(&mut c, 60);
    assert_eq!(
        seen.first().map(|s| s.1),
        Some(40),
        "resumes at the committed offset"
    );
    assert_eq!(seen.len(), 60);
}

#[test]
fn commit_async_callbacks_run_in_commit_order() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path());
    topic(&engine, "t", 1);
    produce(&engine, "t", 1, "v", 50);
    let tp = TopicPartition::new("t", 0);
    let mut c = engine.consumer(config()).unwrap();
    c.assign(std::slice::from_ref(&tp)).unwrap();
    let order = Arc::new(Mutex::new(Vec::new()));
    for i in 0..5 {
        c.seek(&tp, i * 10).unwrap();
        let order = Arc::clone(&order);
        c.commit_async(move |offsets, result| {
            result.unwrap();
            order
                .lock()
                .unwrap()
                .push(offsets.values().next().unwrap().offset);
        })
        .unwrap();
    }
    c.commit_sync().unwrap(); // runs the pending callbacks
    assert_eq!(*order.lock().unwrap(), [0, 10, 20, 30, 40]);
    assert_eq!(
        c.committed(std::slice::from_ref(&tp)).unwrap()[&tp]
            .as_ref()
            .unwrap()
            .offset,
        40
    );
}

#[test]
fn a_commit_from_an_older_generation_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path());
    topic(&engine, "t", 2);
    let short = ConsumerConfig {
        max_poll_interval_ms: 300,
        heartbeat_interval_ms: 20,
        ..config()
    };
    let mut stale = engine.consumer(short).unwrap();
    stale.subscribe(&["t"], NoopListener).unwrap();
    let mut other = engine.consumer(config()).unwrap();
    other.subscribe(&["t"], NoopListener).unwrap();
    assert!(settle_stable(
        &engine,
        "g",
        &mut [&mut stale, &mut other],
        Duration::from_secs(10),
        |c| { c.iter().all(|c| c.assignment().len() == 1) }
    ));
    // `stale` stops polling past its poll interval: the group moves on without it.
    assert!(settle_stable(
        &engine,
        "g",
        &mut [&mut other],
        Duration::from_secs(10),
        |c| { c[0].assignment().len() == 2 }
    ));
    let err = stale.commit_sync().unwrap_err();
    assert!(matches!(err, ConsumerError::CommitFailed { .. }), "{err}");
    assert!(err.to_string().contains("generation"), "{err}");
}
