//! A standalone consumer (`assign`, no group): poll returns every record in offset order,
//! at most `max.poll.records` at a time; seek, seek_to_beginning/end, pause/resume and lag
//! behave as in Kafka.

mod support;

use std::time::Duration;

use silt_consumer::{ConsumerConfig, ConsumerExt, OffsetReset, TopicPartition};
use support::{open, poll_n, produce, topic};

fn config() -> ConsumerConfig {
    ConsumerConfig::default().auto_offset_reset(OffsetReset::Earliest)
}

#[test]
fn poll_returns_every_record_in_order_within_max_poll_records() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path());
    topic(&engine, "t", 2);
    produce(&engine, "t", 2, "v", 2000);
    let mut consumer = engine
        .consumer(ConsumerConfig {
            max_poll_records: 300,
            ..config()
        })
        .unwrap();
    consumer
        .assign(&[TopicPartition::new("t", 0), TopicPartition::new("t", 1)])
        .unwrap();
    let mut seen = Vec::new();
    while seen.len() < 2000 {
        let records = consumer.poll(Duration::from_secs(5)).unwrap();
        assert!(!records.is_empty(), "records stopped after {}", seen.len());
        assert!(
            records.len() <= 300,
            "{} records in one poll",
            records.len()
        );
        assert_eq!(records.iter().count(), records.len());
        for r in records.iter() {
            assert_eq!(
                r.key.unwrap(),
                format!("k{}", r.offset * 2 + i64::from(r.partition)).as_bytes()
            );
            seen.push((r.partition, r.offset));
        }
    }
    for p in 0..2 {
        let offsets: Vec<i64> = seen.iter().filter(|s| s.0 == p).map(|s| s.1).collect();
        assert_eq!(offsets, (0..1000).collect::<Vec<_>>(), "partition {p}");
    }
    assert!(consumer.poll(Duration::from_millis(20)).unwrap().is_empty());
    let lag = consumer.lag().unwrap();
    assert!(lag.values().all(|&l| l == 0), "{lag:?}");
}

#[test]
fn seek_pause_resume_and_lag() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path());
    topic(&engine, "t", 2);
    produce(&engine, "t", 2, "v", 200);
    let (p0, p1) = (TopicPartition::new("t", 0), TopicPartition::new("t", 1));
    let mut consumer = engine.consumer(config()).unwrap();
    consumer.assign(&[p0.clone(), p1.clone()]).unwrap();

    consumer.seek(&p0, 90).unwrap();
    consumer.seek_to_end(std::slice::from_ref(&p1)).unwrap();
    assert_eq!(consumer.position(&p0).unwrap(), 90);
    assert_eq!(consumer.position(&p1).unwrap(), 100);
    let lag = consumer.lag().unwrap();
    assert_eq!((lag[&p0], lag[&p1]), (10, 0));
    let seen = poll_n(&mut consumer, 10);
    assert_eq!(
        seen.iter().map(|s| s.1).collect::<Vec<_>>(),
        (90..100).collect::<Vec<_>>()
    );

    consumer.seek_to_beginning(&[]).unwrap();
    consumer.pause(std::slice::from_ref(&p0)).unwrap();
    assert_eq!(consumer.paused(), std::slice::from_ref(&p0));
    let seen = poll_n(&mut consumer, 100);
    assert!(
        seen.iter().all(|s| s.0 == p1),
        "a paused partition was read"
    );
    assert_eq!(seen.len(), 100);
    consumer.resume(std::slice::from_ref(&p0)).unwrap();
    let seen = poll_n(&mut consumer, 100);
    assert!(seen.iter().all(|s| s.0 == p0));
    assert_eq!(consumer.position(&p0).unwrap(), 100);

    let other = TopicPartition::new("t", 7);
    assert!(consumer.seek(&other, 0).is_err());
}

#[test]
fn auto_offset_reset_latest_and_none() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path());
    topic(&engine, "t", 1);
    produce(&engine, "t", 1, "old", 10);
    let tp = TopicPartition::new("t", 0);

    let mut latest = engine.consumer(ConsumerConfig::default()).unwrap();
    latest.assign(std::slice::from_ref(&tp)).unwrap();
    assert_eq!(
        latest.position(&tp).unwrap(),
        10,
        "latest starts at the log end"
    );
    produce(&engine, "t", 1, "new", 5);
    let seen = poll_n(&mut latest, 5);
    assert!(seen.iter().all(|s| s.2.starts_with("new")));

    let mut none = engine
        .consumer(ConsumerConfig::with_group("g").auto_offset_reset(OffsetReset::None))
        .unwrap();
    none.assign(std::slice::from_ref(&tp)).unwrap();
    let err = none.poll(Duration::from_millis(10)).unwrap_err();
    assert!(
        matches!(
            err,
            silt_consumer::ConsumerError::NoOffsetForPartition { .. }
        ),
        "{err}"
    );

    // An out-of-range position follows the same rule.
    none.seek(&tp, 1000).unwrap();
    let err = none.poll(Duration::from_millis(10)).unwrap_err();
    assert!(
        matches!(
            err,
            silt_consumer::ConsumerError::OffsetOutOfRange { offset: 1000, .. }
        ),
        "{err}"
    );
    let mut earliest = engine.consumer(config()).unwrap();
    earliest.assign(std::slice::from_ref(&tp)).unwrap();
    earliest.seek(&tp, 1000).unwrap();
    let seen = poll_n(&mut earliest, 15);
    assert_eq!(
        seen.first().map(|s| s.1),
        Some(0),
        "out of range resets to earliest"
    );
}
