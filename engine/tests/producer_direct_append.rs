//! Appends in the sending thread: with `linger.ms=0`, a record whose partition has nothing
//! else on the way is sealed and appended by `send` itself, so it is acknowledged (and its
//! callback has run, in the sending thread) when `send` returns; a callback run there may
//! send again; many threads sending to the same partitions at once, some appending
//! themselves and some through the writers, keep every key's order and call back in offset
//! order; a callback that panics in `send` leaves the partition usable; a sender that sends
//! flat out gathers records into batches; threads sending flat out, as many as the CPUs,
//! append their full batches themselves and keep every key's order; and the buffer a
//! sending thread keeps for its next batch goes to a sender that waits for memory.

mod common;
mod producer_support;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::open;
use producer_support::{contiguous_records, fetched_batches, topic};
use silt_engine::config::{Acks, ProducerConfig};
use silt_engine::producer::{key_partition, ProducerRecord};
use silt_engine::RecordMetadata;

fn linger_0(acks: Acks) -> ProducerConfig {
    ProducerConfig {
        acks,
        linger_ms: 0,
        ..ProducerConfig::default()
    }
}

#[test]
fn a_send_returns_acknowledged_with_its_callback_run_in_the_sending_thread() {
    for acks in [Acks::Leader, Acks::None] {
        let dir = tempfile::tempdir().unwrap();
        let engine = open(dir.path());
        engine.create_topic(topic("t", 4)).unwrap();
        let producer = engine.producer(linger_0(acks)).unwrap();
        let me = std::thread::current().id();
        for i in 0..100u32 {
            let value = i.to_string();
            // Pauses between sends: a sender that keeps up, not a saturated one.
            std::thread::sleep(Duration::from_micros(100));
            let delivery = producer
                .send(ProducerRecord::new("t").partition(i % 4).value(&value))
                .unwrap();
            assert!(
                delivery.is_done(),
                "{acks:?}: record {i} acknowledged by send"
            );
            let metadata = delivery.try_result().unwrap().unwrap();
            if acks == Acks::Leader {
                // Two records a round on the partition: this one and the one below.
                assert_eq!(metadata.offset, 2 * i64::from(i / 4));
            }
            let called: Arc<Mutex<Option<std::thread::ThreadId>>> = Arc::default();
            let slot = Arc::clone(&called);
            std::thread::sleep(Duration::from_micros(100));
            producer
                .send_with_callback(
                    ProducerRecord::new("t").partition(i % 4).value(&value),
                    move |result| {
                        result.unwrap();
                        *slot.lock().unwrap() = Some(std::thread::current().id());
                    },
                )
                .unwrap();
            assert_eq!(
                *called.lock().unwrap(),
                Some(me),
                "{acks:?}: record {i} called back in the sending thread before send returned"
            );
        }
        producer.close().unwrap();
    }
}

#[test]
fn a_callback_run_by_send_may_send_again() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path());
    engine.create_topic(topic("t", 1)).unwrap();
    let producer = engine.producer(linger_0(Acks::Leader)).unwrap();
    let again = producer.clone();
    let second: Arc<Mutex<Option<silt_engine::producer::Delivery>>> = Arc::default();
    let slot = Arc::clone(&second);
    producer
        .send_with_callback(ProducerRecord::new("t").value("first"), move |result| {
            result.unwrap();
            let delivery = again
                .send(ProducerRecord::new("t").value("second"))
                .unwrap();
            *slot.lock().unwrap() = Some(delivery);
        })
        .unwrap();
    producer.flush().unwrap();
    let delivery = second.lock().unwrap().take().expect("the callback ran");
    assert_eq!(delivery.wait().unwrap().offset, 1);
    let values: Vec<String> = fetched_batches(&engine, "t", 0)
        .iter()
        .flat_map(|b| b.records.iter().map(|r| r.text().to_string()))
        .collect();
    assert_eq!(values, ["first", "second"]);
    producer.close().unwrap();
}

#[test]
fn a_callback_that_panics_in_send_leaves_the_partition_usable() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path());
    engine.create_topic(topic("t", 1)).unwrap();
    let producer = engine.producer(linger_0(Acks::Leader)).unwrap();
    let sent = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        producer
            .send_with_callback(ProducerRecord::new("t").value("first"), |_| {
                panic!("a callback that panics")
            })
            .unwrap();
    }));
    assert!(sent.is_err(), "the callback ran, and panicked, in send");
    // Later batches of the partition, whoever appends them, are not held up by the claim.
    let other = producer.clone();
    let from_another_thread = std::thread::spawn(move || {
        other
            .send(ProducerRecord::new("t").value("second"))
            .and_then(|d| d.wait())
    })
    .join()
    .unwrap();
    assert_eq!(from_another_thread.unwrap().offset, 1);
    let third = producer
        .send(ProducerRecord::new("t").value("third"))
        .unwrap();
    producer.flush().unwrap();
    assert_eq!(third.wait().unwrap().offset, 2);
    producer.close().unwrap();
}

#[test]
fn concurrent_senders_keep_key_order_and_call_back_in_offset_order() {
    const THREADS: usize = 8;
    const KEYS: usize = 4;
    const PER_KEY: usize = 300;
    const PARTITIONS: u32 = 3;
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path());
    engine.create_topic(topic("t", PARTITIONS)).unwrap();
    let producer = engine.producer(linger_0(Acks::Leader)).unwrap();
    let calls: Arc<Mutex<Vec<RecordMetadata>>> = Arc::default();
    std::thread::scope(|s| {
        for thread in 0..THREADS {
            let (producer, calls) = (producer.clone(), Arc::clone(&calls));
            s.spawn(move || {
                for sequence in 0..PER_KEY {
                    for k in 0..KEYS {
                        let key = format!("{thread}-{k}");
                        let value = format!("{thread}:{k}:{sequence}");
                        let record = ProducerRecord::new("t").key(&key).value(&value);
                        let calls = Arc::clone(&calls);
                        producer
                            .send_with_callback(record, move |r| {
                                calls.lock().unwrap().push(r.unwrap());
                            })
                            .unwrap();
                    }
                }
            });
        }
    });
    producer.flush().unwrap();
    let calls = std::mem::take(&mut *calls.lock().unwrap());
    assert_eq!(calls.len(), THREADS * KEYS * PER_KEY, "one call per record");
    let mut last = [-1i64; PARTITIONS as usize];
    for call in &calls {
        let last = &mut last[call.partition as usize];
        assert!(
            call.offset > *last,
            "partition {} called back out of order",
            call.partition
        );
        *last = call.offset;
    }
    let mut next: HashMap<String, usize> = HashMap::new();
    for p in 0..PARTITIONS {
        for record in contiguous_records(&engine, "t", p) {
            let key = String::from_utf8(record.key.clone().unwrap()).unwrap();
            assert_eq!(key_partition(key.as_bytes(), PARTITIONS), p);
            let sequence: usize = record.text().rsplit(':').next().unwrap().parse().unwrap();
            let seen = next.entry(key.clone()).or_insert(0);
            assert_eq!(sequence, *seen, "key {key} out of order in partition {p}");
            *seen += 1;
        }
    }
    assert_eq!(next.len(), THREADS * KEYS);
    assert!(next.values().all(|&n| n == PER_KEY), "no record is missing");
    producer.close().unwrap();
}

#[test]
fn busy_senders_as_many_as_the_cpus_append_their_full_batches_themselves() {
    // Twice as many threads as CPUs, each filling 16 KiB batches of 4 KB records (with
    // `linger.ms=5`, so only a full batch is sealed by its sender) in a few microseconds.
    let threads = 2 * std::thread::available_parallelism().map_or(1, |n| n.get());
    const PER_THREAD: usize = 2000;
    const PARTITIONS: u32 = 4;
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path());
    engine
        .create_topic(topic("t", PARTITIONS).config("segment.bytes", (64u32 << 20).to_string()))
        .unwrap();
    let producer = engine
        .producer(ProducerConfig {
            acks: Acks::Leader,
            ..ProducerConfig::default()
        })
        .unwrap();
    let in_sender = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    std::thread::scope(|s| {
        for thread in 0..threads {
            let (producer, in_sender) = (producer.clone(), Arc::clone(&in_sender));
            s.spawn(move || {
                let me = std::thread::current().id();
                let mut value = vec![b'v'; 4000];
                for sequence in 0..PER_THREAD {
                    let key = format!("{thread}-{}", sequence % 8);
                    let tag = format!("{thread}:{sequence}:");
                    value[..tag.len()].copy_from_slice(tag.as_bytes());
                    let in_sender = Arc::clone(&in_sender);
                    producer
                        .send_with_callback(
                            ProducerRecord::new("t").key(&key).value(&value),
                            move |r| {
                                r.unwrap();
                                if std::thread::current().id() == me {
                                    in_sender.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                                }
                            },
                        )
                        .unwrap();
                }
            });
        }
    });
    producer.flush().unwrap();
    // Only a sending thread's own seals (of full batches here) run callbacks in it.
    assert!(
        in_sender.load(std::sync::atomic::Ordering::Relaxed) > 0,
        "no full batch was appended by its sending thread"
    );
    let mut next: HashMap<String, usize> = HashMap::new();
    let mut records = 0;
    for p in 0..PARTITIONS {
        for record in contiguous_records(&engine, "t", p) {
            let key = String::from_utf8(record.key.clone().unwrap()).unwrap();
            let mut fields = record.text().split(':');
            let thread: usize = fields.next().unwrap().parse().unwrap();
            let sequence: usize = fields.next().unwrap().parse().unwrap();
            assert_eq!(key, format!("{thread}-{}", sequence % 8));
            let seen = next.entry(key.clone()).or_insert(sequence % 8);
            assert_eq!(sequence, *seen, "key {key} out of order in partition {p}");
            *seen += 8;
            records += 1;
        }
    }
    assert_eq!(records, threads * PER_THREAD, "no record is missing");
    producer.close().unwrap();
}

#[test]
fn a_sender_sending_flat_out_gathers_records_into_batches() {
    const RECORDS: usize = 200_000;
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path());
    engine
        .create_topic(topic("t", 1).config("segment.bytes", (64u32 << 20).to_string()))
        .unwrap();
    let producer = engine.producer(linger_0(Acks::Leader)).unwrap();
    let value = [b'v'; 100];
    for _ in 0..RECORDS {
        drop(
            producer
                .send(ProducerRecord::new("t").value(&value))
                .unwrap(),
        );
    }
    producer.flush().unwrap();
    let batches = fetched_batches(&engine, "t", 0);
    let records: usize = batches.iter().map(|b| b.records.len()).sum();
    assert_eq!(records, RECORDS);
    assert!(
        batches.len() < RECORDS,
        "records sent back to back gather into batches: {} batches",
        batches.len()
    );
    producer.close().unwrap();
}

#[test]
fn a_buffer_kept_for_the_next_batch_goes_to_a_sender_that_waits() {
    const BATCH_SIZE: usize = 4096;
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path());
    engine.create_topic(topic("t", 2)).unwrap();
    let producer = engine
        .producer(ProducerConfig {
            batch_size: BATCH_SIZE,
            // One batch's worth: the buffer the first thread keeps is all there is.
            buffer_memory: BATCH_SIZE,
            max_block_ms: 5_000,
            ..linger_0(Acks::Leader)
        })
        .unwrap();
    let first = producer
        .send(ProducerRecord::new("t").partition(0).value("a"))
        .unwrap();
    assert!(first.is_done(), "appended by send, its buffer kept");
    let other = producer.clone();
    let second = std::thread::spawn(move || {
        other
            .send(ProducerRecord::new("t").partition(1).value("b"))
            .and_then(|d| d.wait())
    })
    .join()
    .unwrap();
    assert_eq!(second.unwrap().offset, 0, "the other thread got the memory");
    producer.close().unwrap();
}
