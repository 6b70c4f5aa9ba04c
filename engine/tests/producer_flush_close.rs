//! `flush` and `close` lose nothing: every record sent before them is acknowledged and
//! readable, in send order per partition, and sends after `close` fail with a typed error.

mod common;

use common::{open, read_all};
use silt_engine::config::{Acks, ProducerConfig};
use silt_engine::producer::ProducerRecord;
use silt_engine::{EngineError, NewTopic};

#[test]
fn flush_then_close_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path());
    engine.create_topic(NewTopic::new("t", 4)).unwrap();
    let producer = engine
        .producer(ProducerConfig {
            acks: Acks::Leader,
            linger_ms: 10_000, // only size, flush and close seal batches
            ..ProducerConfig::default()
        })
        .unwrap();
    let mut deliveries = Vec::new();
    for i in 0..10_000u32 {
        let value = format!("v{i}");
        let partition = i % 4;
        deliveries.push(
            producer
                .send(ProducerRecord::new("t").partition(partition).value(&value))
                .unwrap(),
        );
    }
    producer.flush().unwrap();
    assert!(
        deliveries.iter().all(|d| d.is_done()),
        "flush waited for every record"
    );
    for (i, d) in deliveries.into_iter().enumerate() {
        let m = d.wait().unwrap();
        assert_eq!(m.partition, i as u32 % 4);
        assert_eq!(m.offset, (i / 4) as i64);
    }
    // Records still batched at close are appended by it.
    for i in 10_000..10_010u32 {
        producer
            .send(
                ProducerRecord::new("t")
                    .partition(0)
                    .value(&format!("v{i}")),
            )
            .unwrap();
    }
    producer.close().unwrap();
    let values: Vec<String> = read_all(&engine, "t", 0, 0)
        .into_iter()
        .map(|(_, v)| v)
        .collect();
    let expected: Vec<String> = (0..10_010u32)
        .filter(|i| *i >= 10_000 || i % 4 == 0)
        .map(|i| format!("v{i}"))
        .collect();
    assert_eq!(values, expected);
    let err = producer
        .send(ProducerRecord::new("t").value("late"))
        .unwrap_err();
    assert!(matches!(err, EngineError::ProducerClosed), "{err:?}");
    assert!(matches!(producer.flush(), Err(EngineError::ProducerClosed)));
    producer.close().unwrap();
}
