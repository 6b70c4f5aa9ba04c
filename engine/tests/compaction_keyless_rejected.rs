//! A compacted topic refuses records without a key (Kafka: "Compacted topic cannot accept
//! message without key"), through `Engine::append` (the whole batch, nothing written) and
//! through a producer's `send`; `compact,delete` likewise; a `delete` topic accepts them.

mod common;

use silt_engine::producer::ProducerRecord;
use silt_engine::{EngineError, ProducerConfig};

fn keyless_batch() -> Vec<u8> {
    let mut builder = silt_segment::batch::BatchBuilder::new(Default::default());
    builder
        .append(common::T0, Some(b"k"), Some(b"v"), &[])
        .unwrap();
    builder
        .append(common::T0, None, Some(b"no key"), &[])
        .unwrap();
    builder.finish().unwrap()
}

#[test]
fn append_refuses_keyless_records_in_compacted_topics() {
    let dir = tempfile::tempdir().unwrap();
    let engine = common::open(dir.path());
    for (name, policy) in [("c", "compact"), ("cd", "compact,delete"), ("d", "delete")] {
        let topic = common::small_topic(name, 1, 4096).config("cleanup.policy", policy);
        engine.create_topic(topic).unwrap();
        let result = engine.append(name, 0, &keyless_batch());
        if policy == "delete" {
            result.unwrap();
            continue;
        }
        match result {
            Err(EngineError::InvalidRecord { topic, reason }) => {
                assert_eq!(topic, name);
                assert!(reason.contains("without key"), "{reason}");
            }
            other => panic!("{policy}: expected InvalidRecord, got {other:?}"),
        }
        assert_eq!(
            engine.log(name, 0).unwrap().log_end_offset().unwrap(),
            0,
            "nothing written"
        );
        engine.append(name, 0, &common::batch(0, 3)).unwrap();
    }
}

#[test]
fn send_refuses_keyless_records_in_compacted_topics() {
    let dir = tempfile::tempdir().unwrap();
    let engine = common::open(dir.path());
    let topic = common::small_topic("c", 2, 4096).config("cleanup.policy", "compact");
    engine.create_topic(topic).unwrap();
    engine
        .create_topic(common::small_topic("d", 1, 4096))
        .unwrap();
    let producer = engine.producer(ProducerConfig::default()).unwrap();
    match producer.send(ProducerRecord::new("c").value("v")) {
        Err(EngineError::InvalidRecord { topic, reason }) => {
            assert_eq!(topic, "c");
            assert!(reason.contains("without key"), "{reason}");
        }
        other => panic!("expected InvalidRecord, got {:?}", other.map(|_| ())),
    }
    assert!(producer
        .send(ProducerRecord::new("c").partition(1).value("v"))
        .is_err());
    let keyed = producer
        .send(ProducerRecord::new("c").key("k").value("v"))
        .unwrap();
    producer
        .send(ProducerRecord::new("d").value("v"))
        .unwrap()
        .wait()
        .unwrap();
    keyed.wait().unwrap();
    producer.close().unwrap();
}

#[test]
fn a_topic_altered_to_compact_refuses_keyless_records_from_then_on() {
    let dir = tempfile::tempdir().unwrap();
    let engine = common::open(dir.path());
    engine
        .create_topic(common::small_topic("t", 1, 4096))
        .unwrap();
    let producer = engine.producer(ProducerConfig::default()).unwrap();
    producer
        .send(ProducerRecord::new("t").value("v"))
        .unwrap()
        .wait()
        .unwrap();
    engine
        .alter_topic_config("t", [("cleanup.policy", "compact")], [])
        .unwrap();
    assert!(matches!(
        producer.send(ProducerRecord::new("t").value("v")),
        Err(EngineError::InvalidRecord { .. })
    ));
    assert!(matches!(
        engine.append("t", 0, &keyless_batch()),
        Err(EngineError::InvalidRecord { .. })
    ));
    producer.close().unwrap();
}
