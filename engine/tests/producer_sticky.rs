//! The uniform sticky partitioner (KIP-794) for records without a key: one sending thread
//! stays on a partition for about `batch.size` bytes, then moves on, so over time every
//! partition of the topic gets records, and each batch written holds records of one such
//! run (the partition switches at batch boundaries, never leaving a half-filled batch to be
//! topped up by a later run).

mod common;
mod producer_support;

use std::collections::{BTreeMap, HashMap};

use common::open;
use producer_support::{fetched_batches, record_size, topic};
use silt_engine::config::{Acks, ProducerConfig};
use silt_engine::producer::ProducerRecord;
use silt_engine::Engine;
use silt_segment::batch::HEADER_SIZE;

const PARTITIONS: u32 = 8;
const BATCH_SIZE: usize = 1024;
const RECORDS: usize = 6000;
const T: i64 = common::T0;

/// A fixed-width value, so every record (all with timestamp `T`, at offset deltas below 64)
/// encodes to the same size.
fn value(i: usize) -> String {
    format!("record-{i:08}-{}", "x".repeat(24))
}

/// Sends `RECORDS` null-key records from one thread and returns the partition of each.
fn send_all(engine: &Engine, linger_ms: u64) -> Vec<u32> {
    let producer = engine
        .producer(ProducerConfig {
            acks: Acks::Leader,
            batch_size: BATCH_SIZE,
            linger_ms,
            ..ProducerConfig::default()
        })
        .unwrap();
    let deliveries: Vec<_> = (0..RECORDS)
        .map(|i| {
            producer
                .send(ProducerRecord::new("t").value(&value(i)).timestamp(T))
                .unwrap()
        })
        .collect();
    producer.flush().unwrap();
    let partitions = deliveries
        .into_iter()
        .map(|d| d.wait().unwrap().partition)
        .collect();
    producer.close().unwrap();
    partitions
}

/// Lengths of the runs of equal partitions, in order.
fn runs(partitions: &[u32]) -> Vec<usize> {
    let mut out = vec![1];
    for w in partitions.windows(2) {
        if w[0] == w[1] {
            *out.last_mut().unwrap() += 1;
        } else {
            out.push(1);
        }
    }
    out
}

#[test]
fn null_keys_cover_every_partition_in_runs_of_a_batch_worth() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path());
    engine.create_topic(topic("t", PARTITIONS)).unwrap();
    let partitions = send_all(&engine, 0);

    let mut counts = BTreeMap::new();
    for &p in &partitions {
        *counts.entry(p).or_insert(0usize) += 1;
    }
    assert_eq!(
        counts.len(),
        PARTITIONS as usize,
        "every partition gets records: {counts:?}"
    );
    // What the metadata says is where the records are.
    for (&p, &n) in &counts {
        assert_eq!(common::values(&engine, "t", p).len(), n);
    }

    // A run is about batch.size bytes of records: at least a full batch's worth, and far
    // below two batches' worth (runs that happened to pick the same partition again merge,
    // so look at the typical run).
    let size = record_size(None, Some(value(0).as_bytes()), &[]);
    let full_batch = (BATCH_SIZE - HEADER_SIZE) / size;
    let worth = BATCH_SIZE.div_ceil(size);
    let runs = runs(&partitions);
    let complete = &runs[..runs.len() - 1];
    assert!(complete.len() > 50, "{} runs", complete.len());
    for &run in complete {
        assert!(
            run >= full_batch,
            "a run of {run} records is shorter than a batch of {full_batch}: {runs:?}"
        );
    }
    let mut sorted = complete.to_vec();
    sorted.sort_unstable();
    let median = sorted[sorted.len() / 2];
    assert!(
        (full_batch..=2 * worth).contains(&median),
        "the typical run is {median} records; a batch's worth is {worth}"
    );
}

/// Maps each record (by its value) to the index of the run of partitions it was sent in.
fn run_of_each(partitions: &[u32]) -> HashMap<String, usize> {
    let mut run = 0;
    partitions
        .iter()
        .enumerate()
        .map(|(i, &p)| {
            if i > 0 && partitions[i - 1] != p {
                run += 1;
            }
            (value(i), run)
        })
        .collect()
}

/// Checks that every batch on disk holds records of one run only.
fn assert_batches_hold_one_run(engine: &Engine, partitions: &[u32]) {
    let run_of = run_of_each(partitions);
    let mut batches = 0;
    for p in 0..PARTITIONS {
        for batch in fetched_batches(engine, "t", p) {
            batches += 1;
            let runs: Vec<usize> = batch.records.iter().map(|r| run_of[r.text()]).collect();
            assert!(
                runs.iter().all(|&r| r == runs[0]),
                "partition {p}: the batch at offset {} mixes records of runs {:?}",
                batch.header.base_offset,
                runs.iter().collect::<std::collections::BTreeSet<_>>()
            );
        }
    }
    assert!(batches > 0);
}

#[test]
fn with_a_long_linger_every_batch_holds_one_run() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path());
    engine.create_topic(topic("t", PARTITIONS)).unwrap();
    // Only batch.size (and the final flush) seals batches: a batch left open when the
    // partition switches stays open until the sticky partitioner comes back.
    let partitions = send_all(&engine, 600_000);
    assert_batches_hold_one_run(&engine, &partitions);
    // And batches are full: all but the last of each partition hold a full batch's worth.
    let size = record_size(None, Some(value(0).as_bytes()), &[]);
    let full_batch = (BATCH_SIZE - HEADER_SIZE) / size;
    for p in 0..PARTITIONS {
        let batches = fetched_batches(&engine, "t", p);
        let counts: Vec<usize> = batches.iter().map(|b| b.records.len()).collect();
        if let Some((_, all_but_last)) = counts.split_last() {
            assert!(
                all_but_last.iter().all(|&n| n == full_batch),
                "partition {p}: batches of {counts:?} records, full is {full_batch}"
            );
        }
    }
}

/// A sticky record that fits neither its partition's batch nor the next partition's seals
/// both and starts a fresh batch: no batch grows past `batch.size`, so none exceeds a
/// topic `max.message.bytes` equal to it and every record is delivered.
#[test]
fn a_sticky_record_never_overfills_the_partition_it_moves_to() {
    const LIMIT: usize = 1000;
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path());
    engine
        .create_topic(topic("t", 2).config("max.message.bytes", LIMIT.to_string()))
        .unwrap();
    let producer = engine
        .producer(ProducerConfig {
            acks: Acks::Leader,
            batch_size: LIMIT,
            linger_ms: 3_600_000, // only size, flush and close seal
            ..ProducerConfig::default()
        })
        .unwrap();
    let filler = "f".repeat(400);
    let big = "b".repeat(300);
    let mut deliveries = Vec::new();
    // Each round leaves both partitions' batches about 830 bytes full, then sends a record
    // that fits neither: whichever partition the sticky choice moves to is full too.
    for _ in 0..20 {
        for p in 0..2 {
            for _ in 0..2 {
                let record = ProducerRecord::new("t").partition(p).value(&filler);
                deliveries.push(producer.send(record).unwrap());
            }
        }
        deliveries.push(producer.send(ProducerRecord::new("t").value(&big)).unwrap());
        producer.flush().unwrap();
    }
    for d in deliveries {
        d.wait().expect("every batch is within max.message.bytes");
    }
    for p in 0..2 {
        for batch in fetched_batches(&engine, "t", p) {
            let size = batch.header.total_size() as usize;
            assert!(size <= LIMIT, "a batch of {size} bytes");
        }
    }
    producer.close().unwrap();
}
