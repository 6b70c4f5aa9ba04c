//! Where a keyed record goes: the partition the Java client would pick for every key of
//! `shared/testdata/kafka/murmur2.tsv`, for each partition count there; with
//! `partitioner.ignore.keys=true` keyed records are spread by the sticky partitioner
//! instead; a custom `Partitioner` decides first, its `None` falls back to the built-in
//! choice, and a partition it names outside the topic fails the send.

mod common;
mod producer_support;

use std::path::PathBuf;
use std::sync::Arc;

use common::open;
use producer_support::topic;
use silt_engine::config::{Acks, ProducerConfig};
use silt_engine::producer::{key_partition, Partitioner, ProducerRecord};
use silt_engine::EngineError;

/// One row of `murmur2.tsv`: the key and the Java client's partition per partition count.
struct Row {
    key: Vec<u8>,
    partitions: Vec<(u32, u32)>,
}

fn murmur2_rows() -> Vec<Row> {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/testdata/kafka/murmur2.tsv");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split('\t').collect();
    assert_eq!(
        &header[..2],
        ["key_hex", "murmur2"],
        "the tsv's columns changed"
    );
    let counts: Vec<u32> = header[2..]
        .iter()
        .map(|c| c.strip_prefix('p').unwrap().parse().unwrap())
        .collect();
    lines
        .filter(|l| !l.is_empty())
        .map(|line| {
            let fields: Vec<&str> = line.split('\t').collect();
            assert_eq!(fields.len(), header.len(), "row {line:?}");
            let hex = fields[0];
            let key = (0..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
                .collect();
            let partitions = counts
                .iter()
                .zip(&fields[2..])
                .map(|(&n, p)| (n, p.parse().unwrap()))
                .collect();
            Row { key, partitions }
        })
        .collect()
}

fn leader_acks() -> ProducerConfig {
    ProducerConfig {
        acks: Acks::Leader,
        ..ProducerConfig::default()
    }
}

#[test]
fn every_key_of_the_vectors_lands_where_the_java_client_puts_it() {
    let rows = murmur2_rows();
    assert!(rows.len() > 400, "the vectors hold {} keys", rows.len());
    assert!(
        rows.iter().any(|r| r.key.is_empty()),
        "the empty key is among them"
    );
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path());
    let counts: Vec<u32> = rows[0].partitions.iter().map(|&(n, _)| n).collect();
    for &n in &counts {
        engine.create_topic(topic(format!("p{n}"), n)).unwrap();
    }
    let producer = engine.producer(leader_acks()).unwrap();
    let mut sent = Vec::new();
    for (i, row) in rows.iter().enumerate() {
        for &(n, expected) in &row.partitions {
            let topic = format!("p{n}");
            let value = i.to_string();
            let delivery = producer
                .send(ProducerRecord::new(&topic).key(&row.key[..]).value(&value))
                .unwrap();
            sent.push((delivery, n, expected, i));
        }
    }
    producer.flush().unwrap();
    let mut per_partition = std::collections::HashMap::<(u32, u32), Vec<String>>::new();
    for (delivery, n, expected, i) in sent {
        let metadata = delivery.wait().unwrap();
        assert_eq!(
            metadata.partition, expected,
            "key {:02x?} on {n} partitions",
            rows[i].key
        );
        assert_eq!(&*metadata.topic, format!("p{n}"));
        assert_eq!(
            key_partition(&rows[i].key, n),
            expected,
            "the public key_partition agrees"
        );
        per_partition
            .entry((n, expected))
            .or_default()
            .push(i.to_string());
    }
    // What the metadata says is where the records really are.
    for ((n, partition), expected) in per_partition {
        assert_eq!(
            common::values(&engine, &format!("p{n}"), partition),
            expected
        );
    }
    producer.close().unwrap();
}

#[test]
fn ignore_keys_spreads_keyed_records_with_the_sticky_partitioner() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path());
    engine.create_topic(topic("t", 8)).unwrap();
    let producer = engine
        .producer(ProducerConfig {
            partitioner_ignore_keys: true,
            batch_size: 1024,
            linger_ms: 0,
            ..leader_acks()
        })
        .unwrap();
    // Keys that hash to every partition; the same key over and over.
    let keys: Vec<String> = (0..64).map(|i| format!("key-{i}")).collect();
    assert_eq!(
        keys.iter()
            .map(|k| key_partition(k.as_bytes(), 8))
            .collect::<std::collections::HashSet<_>>()
            .len(),
        8
    );
    let mut partitions = Vec::new();
    for i in 0..2000 {
        let key = if i % 2 == 0 {
            &keys[i / 2 % 64]
        } else {
            &keys[0]
        };
        let delivery = producer
            .send(ProducerRecord::new("t").key(key).value("0123456789"))
            .unwrap();
        partitions.push(delivery.wait().unwrap().partition);
    }
    // Sticky: the first records (whose keys hash to 8 different partitions) share one.
    assert!(
        partitions[..16].iter().all(|&p| p == partitions[0]),
        "keys were hashed: {:?}",
        &partitions[..16]
    );
    let used: std::collections::HashSet<u32> = partitions.iter().copied().collect();
    assert!(used.len() > 1, "the sticky partition moves on: {used:?}");
    let runs = partitions.windows(2).filter(|w| w[0] != w[1]).count() + 1;
    assert!(
        runs < 2000 / 8,
        "records come in sticky runs, not one partition each: {runs} runs"
    );
    producer.close().unwrap();
}

/// Sends records whose value names a partition there (`"to:<n>"`) and lets every other
/// record go to the built-in partitioner.
struct ByValue;

impl Partitioner for ByValue {
    fn partition(
        &self,
        topic: &str,
        _key: Option<&[u8]>,
        value: Option<&[u8]>,
        partitions: u32,
    ) -> Option<u32> {
        assert_eq!(topic, "t");
        assert_eq!(partitions, 4);
        let value = std::str::from_utf8(value?).ok()?;
        value.strip_prefix("to:")?.parse().ok()
    }
}

fn custom_producer(engine: &silt_engine::Engine) -> silt_engine::Producer {
    engine
        .producer(ProducerConfig {
            partitioner: Some(Arc::new(ByValue)),
            ..leader_acks()
        })
        .unwrap()
}

#[test]
fn a_custom_partitioner_decides_before_keys_and_an_explicit_partition_before_it() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path());
    engine.create_topic(topic("t", 4)).unwrap();
    let producer = custom_producer(&engine);
    for p in 0..4u32 {
        // A key that hashes elsewhere: the partitioner's choice wins.
        let key = (0..)
            .map(|i| format!("k{i}"))
            .find(|k| key_partition(k.as_bytes(), 4) != p)
            .unwrap();
        let value = format!("to:{p}");
        let chosen = producer
            .send(ProducerRecord::new("t").key(&key).value(&value))
            .unwrap()
            .wait()
            .unwrap();
        assert_eq!(chosen.partition, p, "the custom partitioner is used");
        // An explicit partition wins over the partitioner.
        let explicit = producer
            .send(
                ProducerRecord::new("t")
                    .partition((p + 1) % 4)
                    .value(&value),
            )
            .unwrap()
            .wait()
            .unwrap();
        assert_eq!(explicit.partition, (p + 1) % 4);
    }
    producer.close().unwrap();
}

#[test]
fn a_custom_partitioner_without_an_answer_falls_back_to_sticky() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path());
    engine.create_topic(topic("t", 4)).unwrap();
    let producer = engine
        .producer(ProducerConfig {
            partitioner: Some(Arc::new(ByValue)),
            batch_size: 512,
            linger_ms: 0,
            ..leader_acks()
        })
        .unwrap();
    let partitions: Vec<u32> = (0..1000)
        .map(|_| {
            producer
                .send(ProducerRecord::new("t").value("no choice"))
                .unwrap()
                .wait()
                .unwrap()
                .partition
        })
        .collect();
    assert!(
        partitions[..8].iter().all(|&p| p == partitions[0]),
        "{partitions:?}"
    );
    let used: std::collections::HashSet<u32> = partitions.iter().copied().collect();
    assert!(
        used.len() > 1,
        "sticky moves on after a batch's worth: {used:?}"
    );
    producer.close().unwrap();
}

#[test]
fn a_custom_partitioner_without_an_answer_leaves_keyed_records_to_murmur2() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path());
    engine.create_topic(topic("t", 4)).unwrap();
    let producer = custom_producer(&engine);
    // Keys hashing to each of the 4 partitions, sent one after the other.
    let keys: Vec<String> = (0..4u32)
        .map(|p| {
            (0..)
                .map(|i| format!("k{i}"))
                .find(|k| key_partition(k.as_bytes(), 4) == p)
                .unwrap()
        })
        .collect();
    let partitions: Vec<u32> = keys
        .iter()
        .map(|key| {
            producer
                .send(ProducerRecord::new("t").key(key).value("no choice"))
                .unwrap()
                .wait()
                .unwrap()
                .partition
        })
        .collect();
    assert_eq!(
        partitions,
        vec![0, 1, 2, 3],
        "Partitioner::partition returning None hands a keyed record to Kafka's built-in \
         choice, murmur2 of its key"
    );
    producer.close().unwrap();
}

#[test]
fn a_custom_partition_outside_the_topic_fails_the_send() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path());
    engine.create_topic(topic("t", 4)).unwrap();
    let producer = custom_producer(&engine);
    let err = producer
        .send(ProducerRecord::new("t").key("k").value("to:4"))
        .unwrap_err();
    match err {
        EngineError::UnknownPartition {
            topic,
            partition,
            partitions,
        } => assert_eq!((topic.as_str(), partition, partitions), ("t", 4, 4)),
        other => panic!("expected UnknownPartition, got {other:?}"),
    }
    // The producer goes on; nothing of the refused record was written.
    let ok = producer
        .send(ProducerRecord::new("t").value("to:3"))
        .unwrap()
        .wait()
        .unwrap();
    assert_eq!((ok.partition, ok.offset), (3, 0));
    producer.close().unwrap();
    for p in 0..4 {
        let expected: Vec<String> = if p == 3 { vec!["to:3".into()] } else { vec![] };
        assert_eq!(common::values(&engine, "t", p), expected);
    }
}
