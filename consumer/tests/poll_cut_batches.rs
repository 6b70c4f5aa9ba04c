//! Polls cut batches at `max.poll.records` and keep what they fetched for the next polls:
//! every record comes out exactly once and in order whatever the cut, with and without
//! `check.crcs`, and a seek into (or out of) the batches a poll left moves the position as
//! it should.

mod support;

use std::time::Duration;

use silt_consumer::{Consumer, ConsumerConfig, ConsumerExt, OffsetReset, TopicPartition};
use silt_engine::Engine;
use silt_segment::batch::{BatchBuilder, BatchConfig};
use support::{open, topic};

const BATCHES: i64 = 10;
const PER_BATCH: i64 = 13;
const RECORDS: i64 = BATCHES * PER_BATCH;

/// `t-0` holding [`RECORDS`] records `v<offset>` in batches of [`PER_BATCH`].
fn engine_with_batches(dir: &std::path::Path) -> Engine {
    let engine = open(dir);
    topic(&engine, "t", 1);
    for b in 0..BATCHES {
        let mut builder = BatchBuilder::new(BatchConfig::default());
        for i in 0..PER_BATCH {
            let value = format!("v{}", b * PER_BATCH + i);
            builder
                .append(1_700_000_000_000, Some(b"k"), Some(value.as_bytes()), &[])
                .unwrap();
        }
        engine.append("t", 0, &builder.finish().unwrap()).unwrap();
    }
    engine
}

fn consumer(engine: &Engine, max_poll_records: usize, check_crcs: bool) -> Consumer {
    let mut c = engine
        .consumer(
            ConsumerConfig {
                max_poll_records,
                check_crcs,
                ..ConsumerConfig::default()
            }
            .auto_offset_reset(OffsetReset::Earliest),
        )
        .unwrap();
    c.assign(&[TopicPartition::new("t", 0)]).unwrap();
    c
}

/// (offset, value) of one poll, checking each value names its offset.
fn poll_once(c: &mut Consumer) -> Vec<i64> {
    let records = c.poll(Duration::from_millis(200)).unwrap();
    records
        .iter()
        .map(|r| {
            assert_eq!(r.value, Some(format!("v{}", r.offset).as_bytes()));
            r.offset
        })
        .collect()
}

#[test]
fn every_record_once_in_order_whatever_the_cut() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine_with_batches(dir.path());
    for check_crcs in [true, false] {
        for max in [1, 5, 13, 14, 50, 1000] {
            let mut c = consumer(&engine, max, check_crcs);
            let mut seen = Vec::new();
            while (seen.len() as i64) < RECORDS {
                let polled = poll_once(&mut c);
                assert!(!polled.is_empty(), "a poll returned nothing before the end");
                assert!(polled.len() <= max);
                seen.extend(polled);
            }
            assert_eq!(seen, (0..RECORDS).collect::<Vec<_>>(), "max {max}");
            assert!(c.poll(Duration::ZERO).unwrap().is_empty());
        }
    }
}

#[test]
fn a_seek_moves_the_position_within_and_beyond_what_was_fetched() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine_with_batches(dir.path());
    let tp = TopicPartition::new("t", 0);
    let mut c = consumer(&engine, 5, true);
    assert_eq!(poll_once(&mut c), vec![0, 1, 2, 3, 4]);
    c.seek(&tp, 2).unwrap();
    assert_eq!(poll_once(&mut c), vec![2, 3, 4, 5, 6]);
    c.seek(&tp, 100).unwrap();
    assert_eq!(poll_once(&mut c), vec![100, 101, 102, 103, 104]);
    c.seek(&tp, 11).unwrap();
    assert_eq!(poll_once(&mut c), vec![11, 12, 13, 14, 15]);
    assert_eq!(c.position(&tp).unwrap(), 16);
    c.seek_to_end(&[]).unwrap();
    assert!(c.poll(Duration::ZERO).unwrap().is_empty());
}
