//! `send_with_callback`: each callback runs exactly once, with the metadata `wait()` would
//! give for that record (topic, partition, offset, timestamp, matching what is stored), and
//! the callbacks of a partition run in offset order. With `acks=0` they get offset -1 as the
//! handles do; a failed batch runs each of its callbacks once with the error.

mod common;
mod producer_support;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use common::{open, read_all, T0};
use producer_support::topic;
use silt_engine::config::{Acks, ProducerConfig};
use silt_engine::producer::ProducerRecord;
use silt_engine::{EngineError, RecordMetadata};

/// (record number, outcome) in the order the callbacks ran.
type Calls = Arc<Mutex<Vec<(usize, silt_engine::Result<RecordMetadata>)>>>;

fn callback(
    calls: &Calls,
    i: usize,
) -> impl FnOnce(silt_engine::Result<RecordMetadata>) + Send + 'static {
    let calls = Arc::clone(calls);
    move |result| calls.lock().unwrap().push((i, result))
}

#[test]
fn callbacks_run_once_in_offset_order_with_the_metadata_wait_gives() {
    const THREADS: usize = 4;
    const PER_THREAD: usize = 1500;
    const PARTITIONS: u32 = 3;
    for acks in [Acks::Leader, Acks::All] {
        let dir = tempfile::tempdir().unwrap();
        let engine = open(dir.path());
        engine.create_topic(topic("t", PARTITIONS)).unwrap();
        let producer = engine
            .producer(ProducerConfig {
                acks,
                batch_size: 4096,
                ..ProducerConfig::default()
            })
            .unwrap();
        let calls: Calls = Arc::default();
        // Records alternate between callbacks and handles, so that both ride in the same
        // batches and the handles' metadata can be compared with their neighbours'.
        let handles = Mutex::new(Vec::new());
        std::thread::scope(|s| {
            for thread in 0..THREADS {
                let (producer, calls, handles) = (producer.clone(), &calls, &handles);
                s.spawn(move || {
                    for j in 0..PER_THREAD {
                        let i = thread * PER_THREAD + j;
                        let value = i.to_string();
                        let record = ProducerRecord::new("t")
                            .partition(i as u32 % PARTITIONS)
                            .value(&value)
                            .timestamp(T0 + i as i64);
                        if j % 2 == 0 {
                            producer
                                .send_with_callback(record, callback(calls, i))
                                .unwrap();
                        } else {
                            let d = producer.send(record).unwrap();
                            handles.lock().unwrap().push((i, d));
                        }
                    }
                });
            }
        });
        producer.flush().unwrap();
        let calls = std::mem::take(&mut *calls.lock().unwrap());
        let records = THREADS * PER_THREAD;
        assert_eq!(calls.len(), records / 2, "{acks:?}: one call per record");

        // Where each record really is, by its value.
        let mut stored = HashMap::new();
        for p in 0..PARTITIONS {
            for (offset, value) in read_all(&engine, "t", p, 0) {
                stored.insert(value.parse::<usize>().unwrap(), (p, offset));
            }
        }
        assert_eq!(stored.len(), records);

        let mut seen = vec![false; records];
        let mut last_offset = [-1i64; PARTITIONS as usize];
        for (i, result) in calls {
            let m = result.unwrap();
            assert!(
                !std::mem::replace(&mut seen[i], true),
                "record {i} called back twice"
            );
            assert_eq!(&*m.topic, "t");
            assert_eq!((m.partition, m.offset), stored[&i], "{acks:?}: record {i}");
            assert_eq!(m.timestamp, T0 + i as i64);
            let last = &mut last_offset[m.partition as usize];
            assert!(
                m.offset > *last,
                "{acks:?}: partition {} called back out of order",
                m.partition
            );
            *last = m.offset;
        }
        // The handles of the other records agree with the log the same way.
        for (i, d) in handles.into_inner().unwrap() {
            let m = d.wait().unwrap();
            assert_eq!(
                (m.partition, m.offset, m.timestamp),
                (stored[&i].0, stored[&i].1, T0 + i as i64)
            );
        }
        producer.close().unwrap();
    }
}

#[test]
fn a_callback_and_a_handle_for_the_same_batch_agree() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path());
    engine.create_topic(topic("t", 1)).unwrap();
    let producer = engine
        .producer(ProducerConfig {
            acks: Acks::Leader,
            linger_ms: 3_600_000,
            ..ProducerConfig::default()
        })
        .unwrap();
    let calls: Calls = Arc::default();
    let first = producer
        .send(ProducerRecord::new("t").value("a").timestamp(T0))
        .unwrap();
    producer
        .send_with_callback(
            ProducerRecord::new("t").value("b").timestamp(T0 + 1),
            callback(&calls, 1),
        )
        .unwrap();
    let third = producer
        .send(ProducerRecord::new("t").value("c").timestamp(T0 + 2))
        .unwrap();
    assert!(
        calls.lock().unwrap().is_empty(),
        "not called back before the batch is appended"
    );
    producer.flush().unwrap();
    let (first, third) = (first.wait().unwrap(), third.wait().unwrap());
    let calls = std::mem::take(&mut *calls.lock().unwrap());
    assert_eq!(calls.len(), 1);
    let middle = calls[0].1.as_ref().unwrap();
    assert_eq!(middle.topic, first.topic);
    assert_eq!(middle.partition, first.partition);
    assert_eq!((first.offset, middle.offset, third.offset), (0, 1, 2));
    assert_eq!(middle.timestamp, T0 + 1);
    producer.close().unwrap();
}

#[test]
fn with_acks_0_callbacks_get_offset_minus_1_like_the_handles() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path());
    engine.create_topic(topic("t", 2)).unwrap();
    let producer = engine
        .producer(ProducerConfig {
            acks: Acks::None,
            ..ProducerConfig::default()
        })
        .unwrap();
    let calls: Calls = Arc::default();
    for i in 0..200 {
        let record = ProducerRecord::new("t")
            .partition(i as u32 % 2)
            .value("v")
            .timestamp(T0 + i as i64);
        let handle = producer.send(record).unwrap().wait().unwrap();
        assert_eq!(handle.offset, -1);
        producer
            .send_with_callback(record, callback(&calls, i))
            .unwrap();
    }
    producer.flush().unwrap();
    let calls = std::mem::take(&mut *calls.lock().unwrap());
    assert_eq!(calls.len(), 200);
    let mut seen = [false; 200];
    for (i, result) in calls {
        let m = result.unwrap();
        assert!(!std::mem::replace(&mut seen[i], true));
        assert_eq!(
            (m.partition, m.offset, m.timestamp),
            (i as u32 % 2, -1, T0 + i as i64)
        );
    }
    producer.close().unwrap();
    assert_eq!(
        read_all(&engine, "t", 0, 0).len() + read_all(&engine, "t", 1, 0).len(),
        400
    );
}

#[test]
fn a_failed_batch_calls_back_each_record_once_with_the_error() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path());
    engine.create_topic(topic("t", 1)).unwrap();
    let producer = engine
        .producer(ProducerConfig {
            acks: Acks::Leader,
            linger_ms: 3_600_000,
            ..ProducerConfig::default()
        })
        .unwrap();
    let calls: Calls = Arc::default();
    for i in 0..20 {
        producer
            .send_with_callback(ProducerRecord::new("t").value("v"), callback(&calls, i))
            .unwrap();
    }
    engine.delete_topic("t").unwrap();
    producer.flush().unwrap();
    let mut calls = std::mem::take(&mut *calls.lock().unwrap());
    calls.sort_by_key(|(i, _)| *i);
    assert_eq!(
        calls.iter().map(|(i, _)| *i).collect::<Vec<_>>(),
        (0..20).collect::<Vec<_>>()
    );
    for (i, result) in calls {
        assert!(
            matches!(&result, Err(EngineError::BatchFailed { topic, partition: 0, .. }) if topic == "t"),
            "record {i}: {result:?}"
        );
    }
    producer.close().unwrap();
}
