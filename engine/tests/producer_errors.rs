//! The producer's typed errors. A send that cannot be made fails at once and writes
//! nothing: an unknown topic, a partition out of range, a negative timestamp, a closed
//! producer. A batch that cannot be appended fails every record in it with `BatchFailed`
//! (handles and callbacks alike) and leaves nothing of it readable: made to happen here by
//! deleting the topic, or shrinking its `max.message.bytes`, while the batch is open.

mod common;
mod producer_support;

use std::sync::{Arc, Mutex};

use common::{open, values};
use producer_support::topic;
use silt_engine::config::{Acks, ProducerConfig};
use silt_engine::producer::ProducerRecord;
use silt_engine::{Delivery, Engine, EngineError, Producer};

fn producer(engine: &Engine, linger_ms: u64) -> Producer {
    engine
        .producer(ProducerConfig {
            acks: Acks::Leader,
            linger_ms,
            ..ProducerConfig::default()
        })
        .unwrap()
}

#[test]
fn an_unknown_topic_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path());
    engine.create_topic(topic("t", 1)).unwrap();
    let producer = producer(&engine, 0);
    let err = producer
        .send(ProducerRecord::new("nope").value("v"))
        .unwrap_err();
    assert!(
        matches!(&err, EngineError::UnknownTopic { topic } if topic == "nope"),
        "{err:?}"
    );
    // Also with an explicit partition and a key.
    let err = producer
        .send(ProducerRecord::new("nope").partition(0).key("k").value("v"))
        .unwrap_err();
    assert!(matches!(err, EngineError::UnknownTopic { .. }), "{err:?}");
    // Once created, the topic is found.
    engine.create_topic(topic("nope", 1)).unwrap();
    let m = producer
        .send(ProducerRecord::new("nope").value("v"))
        .unwrap()
        .wait()
        .unwrap();
    assert_eq!(m.offset, 0);
    producer.close().unwrap();
}

#[test]
fn a_partition_out_of_range_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path());
    engine.create_topic(topic("t", 3)).unwrap();
    let producer = producer(&engine, 0);
    for partition in [3, 4, u32::MAX] {
        let err = producer
            .send(ProducerRecord::new("t").partition(partition).value("v"))
            .unwrap_err();
        match err {
            EngineError::UnknownPartition {
                topic,
                partition: p,
                partitions,
            } => assert_eq!((topic.as_str(), p, partitions), ("t", partition, 3)),
            other => panic!("expected UnknownPartition, got {other:?}"),
        }
    }
    // After the topic grows, the new partition takes records.
    engine.add_partitions("t", 4).unwrap();
    let m = producer
        .send(ProducerRecord::new("t").partition(3).value("v"))
        .unwrap()
        .wait()
        .unwrap();
    assert_eq!((m.partition, m.offset), (3, 0));
    producer.close().unwrap();
    for p in 0..3 {
        assert!(values(&engine, "t", p).is_empty());
    }
}

#[test]
fn a_negative_timestamp_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path());
    engine.create_topic(topic("t", 1)).unwrap();
    let producer = producer(&engine, 0);
    for ts in [-1, i64::MIN] {
        let err = producer
            .send(ProducerRecord::new("t").value("v").timestamp(ts))
            .unwrap_err();
        assert!(
            matches!(&err, EngineError::InvalidRecord { topic, .. } if topic == "t"),
            "{err:?}"
        );
        assert!(err.to_string().contains("timestamp"), "{err}");
    }
    // Zero is a valid timestamp.
    let m = producer
        .send(ProducerRecord::new("t").value("v").timestamp(0))
        .unwrap()
        .wait()
        .unwrap();
    assert_eq!((m.offset, m.timestamp), (0, 0));
    producer.close().unwrap();
    assert_eq!(values(&engine, "t", 0), ["v"]);
}

/// The errors above, for records sent while their partition's batch is open: the common
/// send path (a record for the last topic, into an open batch) must hand each of them to
/// the checks, and leave the open batch as it was.
#[test]
fn refused_sends_leave_the_open_batch_whole() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path());
    engine.create_topic(topic("t", 2)).unwrap();
    let compacted = topic("c", 1).config("cleanup.policy", "compact");
    engine.create_topic(compacted).unwrap();
    // Batches stay open until flush.
    let producer = producer(&engine, 600_000);
    let first = producer
        .send(ProducerRecord::new("t").partition(0).value("first"))
        .unwrap();
    let bad = [
        ProducerRecord::new("t")
            .partition(0)
            .value("v")
            .timestamp(-1),
        ProducerRecord::new("t").partition(2).value("v"),
        ProducerRecord::new("t").partition(u32::MAX).value("v"),
    ];
    for record in bad {
        let err = producer.send(record).unwrap_err();
        assert!(
            matches!(
                err,
                EngineError::InvalidRecord { .. } | EngineError::UnknownPartition { .. }
            ),
            "{err:?}"
        );
    }
    let second = producer
        .send(ProducerRecord::new("t").partition(0).value("second"))
        .unwrap();
    // The compacted topic: a keyed record opens its batch, a keyless one is refused.
    let keyed = producer
        .send(ProducerRecord::new("c").key("k").value("kept"))
        .unwrap();
    let err = producer
        .send(ProducerRecord::new("c").value("no key"))
        .unwrap_err();
    assert!(matches!(err, EngineError::InvalidRecord { .. }), "{err:?}");
    producer.flush().unwrap();
    assert_eq!(first.wait().unwrap().offset, 0);
    assert_eq!(second.wait().unwrap().offset, 1);
    assert_eq!(keyed.wait().unwrap().offset, 0);
    producer.close().unwrap();
    assert_eq!(values(&engine, "t", 0), ["first", "second"]);
    assert!(values(&engine, "t", 1).is_empty());
    assert_eq!(values(&engine, "c", 0), ["kept"]);
}

#[test]
fn sends_after_close_are_refused_on_every_clone() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path());
    engine.create_topic(topic("t", 1)).unwrap();
    let producer = producer(&engine, 0);
    let clone = producer.clone();
    producer.close().unwrap();
    for p in [&producer, &clone] {
        let err = p.send(ProducerRecord::new("t").value("late")).unwrap_err();
        assert!(matches!(err, EngineError::ProducerClosed), "{err:?}");
        let ran = Arc::new(Mutex::new(false));
        let flag = Arc::clone(&ran);
        let err = p
            .send_with_callback(ProducerRecord::new("t").value("late"), move |_| {
                *flag.lock().unwrap() = true;
            })
            .unwrap_err();
        assert!(matches!(err, EngineError::ProducerClosed), "{err:?}");
        assert!(
            !*ran.lock().unwrap(),
            "a refused send's callback never runs"
        );
    }
    assert!(values(&engine, "t", 0).is_empty());
}

/// Sends `n` records to each of partitions 0 and 1 of `t` into batches that stay open, half
/// with handles, half with callbacks; returns the handles and the callbacks' outcomes.
type Outcomes = Arc<Mutex<Vec<silt_engine::Result<silt_engine::RecordMetadata>>>>;

fn open_batches(producer: &Producer, n: usize) -> (Vec<Delivery>, Outcomes) {
    let outcomes: Outcomes = Arc::default();
    let mut deliveries = Vec::new();
    for i in 0..n {
        for p in 0..2 {
            let record = ProducerRecord::new("t").partition(p).value("doomed");
            if i % 2 == 0 {
                deliveries.push(producer.send(record).unwrap());
            } else {
                let outcomes = Arc::clone(&outcomes);
                producer
                    .send_with_callback(record, move |r| outcomes.lock().unwrap().push(r))
                    .unwrap();
            }
        }
    }
    assert!(
        deliveries.iter().all(|d| !d.is_done()),
        "the batches are still open"
    );
    (deliveries, outcomes)
}

/// Every record of the failed batches failed with `BatchFailed` for `t`, its cause matching.
fn assert_all_failed(
    deliveries: Vec<Delivery>,
    outcomes: &Outcomes,
    n: usize,
    cause: impl Fn(&EngineError) -> bool,
) {
    assert_eq!(outcomes.lock().unwrap().len(), n, "every callback ran once");
    let handles = deliveries.into_iter().map(Delivery::wait);
    let callbacks = std::mem::take(&mut *outcomes.lock().unwrap()).into_iter();
    let mut failed = 0;
    for result in handles.chain(callbacks) {
        match result {
            Err(EngineError::BatchFailed {
                topic,
                partition,
                source,
            }) => {
                assert_eq!(topic, "t");
                assert!(partition < 2);
                assert!(cause(&source), "cause: {source:?}");
                failed += 1;
            }
            other => panic!("expected BatchFailed, got {other:?}"),
        }
    }
    assert_eq!(failed, 2 * n);
}

/// Deletes `t` while batches are open, flushes, and checks that every record failed with a
/// cause `cause` accepts and that a new `t` starts empty.
fn delete_under_open_batches(cause: impl Fn(&EngineError) -> bool) {
    const N: usize = 50;
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path());
    engine.create_topic(topic("t", 2)).unwrap();
    let producer = producer(&engine, 3_600_000);
    let (deliveries, outcomes) = open_batches(&producer, N);
    engine.delete_topic("t").unwrap();
    producer.flush().unwrap();
    assert_all_failed(deliveries, &outcomes, N, cause);

    // Nothing of the failed batches reappears in a topic of the same name, which takes
    // records from offset 0.
    engine.create_topic(topic("t", 2)).unwrap();
    let m = producer
        .send(ProducerRecord::new("t").partition(1).value("new"))
        .unwrap();
    producer.flush().unwrap();
    assert_eq!(m.wait().unwrap().offset, 0);
    assert!(values(&engine, "t", 0).is_empty());
    assert_eq!(values(&engine, "t", 1), ["new"]);
    producer.close().unwrap();
}

#[test]
fn a_batch_whose_topic_was_deleted_fails_every_record() {
    delete_under_open_batches(|_| true);
}

#[test]
fn a_batch_whose_topic_was_deleted_names_the_topic_as_the_cause() {
    delete_under_open_batches(
        |cause| matches!(cause, EngineError::UnknownTopic { topic } if topic == "t"),
    );
}

#[test]
fn a_batch_over_a_lowered_max_message_bytes_fails_every_record() {
    const N: usize = 50;
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path());
    engine.create_topic(topic("t", 2)).unwrap();
    let producer = producer(&engine, 3_600_000);
    let (deliveries, outcomes) = open_batches(&producer, N);
    // Each open batch now holds more bytes than the topic accepts.
    engine
        .alter_topic_config("t", [("max.message.bytes", "200")], [])
        .unwrap();
    producer.flush().unwrap();
    assert_all_failed(deliveries, &outcomes, N, |cause| {
        matches!(
            cause,
            EngineError::RecordTooLarge {
                limit: "max.message.bytes",
                max: 200,
                ..
            }
        )
    });
    for p in 0..2 {
        let log = engine.log("t", p).unwrap();
        assert_eq!(
            log.log_end_offset().unwrap(),
            0,
            "nothing of a failed batch is written"
        );
        assert!(values(&engine, "t", p).is_empty());
    }
    // The producer goes on: a record that fits is appended at offset 0.
    let m = producer
        .send(ProducerRecord::new("t").partition(0).value("small"))
        .unwrap();
    producer.flush().unwrap();
    assert_eq!(m.wait().unwrap().offset, 0);
    assert_eq!(values(&engine, "t", 0), ["small"]);
    producer.close().unwrap();
}
