//! `acks` and what an acknowledgment promises. `acks=0`: the handle is done at once with
//! offset -1, and the records are still written. `acks=1`: a record is acknowledged once
//! appended, so it is readable as soon as `wait()` returns, at contiguous offsets.
//! `acks=all`: a record is acknowledged once synced (the log's recovery point is past it),
//! with one sync shared by every batch waiting (group commit); and every acknowledged
//! record survives SIGKILL of the producing process.

mod common;
mod producer_support;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{open, read_all, values};
use producer_support::topic;
use silt_engine::config::{Acks, ProducerConfig};
use silt_engine::producer::ProducerRecord;

fn config(acks: Acks) -> ProducerConfig {
    ProducerConfig {
        acks,
        ..ProducerConfig::default()
    }
}

#[test]
fn acks_0_is_done_at_once_with_offset_minus_1_and_still_written() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path());
    engine.create_topic(topic("t", 2)).unwrap();
    let producer = engine
        .producer(ProducerConfig {
            linger_ms: 3_600_000, // nothing is appended before the flush
            ..config(Acks::None)
        })
        .unwrap();
    let mut sent = Vec::new();
    for i in 0..100i64 {
        let value = format!("v{i}");
        let d = producer
            .send(
                ProducerRecord::new("t")
                    .partition(i as u32 % 2)
                    .value(&value)
                    .timestamp(common::T0 + i),
            )
            .unwrap();
        assert!(d.is_done(), "acks=0 waits for nothing");
        let metadata = d.try_result().expect("done").unwrap();
        assert_eq!(metadata.offset, -1);
        assert_eq!(metadata.partition, i as u32 % 2);
        assert_eq!(metadata.timestamp, common::T0 + i);
        assert_eq!(&*metadata.topic, "t");
        sent.push(d);
    }
    assert_eq!(
        engine.log("t", 0).unwrap().log_end_offset().unwrap(),
        0,
        "acknowledged before anything was appended"
    );
    producer.flush().unwrap();
    for d in sent {
        assert_eq!(d.wait().unwrap().offset, -1);
    }
    for p in 0..2 {
        let expected: Vec<String> = (0..100)
            .filter(|i| i % 2 == p)
            .map(|i| format!("v{i}"))
            .collect();
        assert_eq!(values(&engine, "t", p as u32), expected);
    }
    producer.close().unwrap();
}

#[test]
fn acks_1_records_are_readable_when_acknowledged_at_contiguous_offsets() {
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path());
    engine.create_topic(topic("t", 3)).unwrap();
    let producer = engine.producer(config(Acks::Leader)).unwrap();
    let mut next = [0i64; 3];
    for i in 0..300u32 {
        let value = format!("v{i}");
        let p = i % 3;
        let metadata = producer
            .send(ProducerRecord::new("t").partition(p).value(&value))
            .unwrap()
            .wait()
            .unwrap();
        assert_eq!(metadata.partition, p);
        assert_eq!(metadata.offset, next[p as usize], "offsets are contiguous");
        next[p as usize] += 1;
        // Readable right away: the record is appended before it is acknowledged.
        let read = read_all(&engine, "t", p, metadata.offset);
        assert_eq!(read, [(metadata.offset, value)]);
    }
    // Windows of async sends: acknowledged in order, contiguous.
    let deliveries: Vec<_> = (0..1000)
        .map(|i| {
            producer
                .send(
                    ProducerRecord::new("t")
                        .partition(0)
                        .value(&format!("w{i}")),
                )
                .unwrap()
        })
        .collect();
    for (i, d) in deliveries.into_iter().enumerate() {
        let metadata = d.wait().unwrap();
        assert_eq!(metadata.offset, 100 + i as i64);
        assert!(engine.log("t", 0).unwrap().log_end_offset().unwrap() > metadata.offset);
    }
    producer.close().unwrap();
}

#[test]
fn acks_all_acknowledges_synced_records_with_shared_syncs() {
    const THREADS: usize = 8;
    const PER_THREAD: usize = 300;
    const RECORDS: usize = THREADS * PER_THREAD;
    let dir = tempfile::tempdir().unwrap();
    let engine = open(dir.path());
    engine.create_topic(topic("t", 2)).unwrap();
    let producer = engine
        .producer(ProducerConfig {
            linger_ms: 0, // batches seal as soon as a writer is idle: many small batches
            ..config(Acks::All)
        })
        .unwrap();
    let logs = [engine.log("t", 0).unwrap(), engine.log("t", 1).unwrap()];
    let syncs_before: u64 = logs.iter().map(|l| l.sync_count()).sum();

    // While the syncs are held, every record is appended but none may be acknowledged.
    let held: Vec<_> = logs.iter().map(|l| l.hold_syncs()).collect();
    let deliveries: Vec<_> = std::thread::scope(|s| {
        let senders: Vec<_> = (0..THREADS)
            .map(|thread| {
                let producer = producer.clone();
                s.spawn(move || {
                    (0..PER_THREAD)
                        .map(|i| {
                            let value = format!("{thread}-{i}");
                            let p = (thread % 2) as u32;
                            producer
                                .send(ProducerRecord::new("t").partition(p).value(&value))
                                .unwrap()
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        senders
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    let appended = || -> usize {
        logs.iter()
            .map(|l| l.log_end_offset().unwrap() as usize)
            .sum()
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while appended() < RECORDS {
        assert!(
            Instant::now() < deadline,
            "only {} records appended",
            appended()
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    assert!(
        deliveries.iter().all(|d| !d.is_done()),
        "a record was acknowledged before any sync"
    );
    drop(held);

    for d in deliveries {
        let metadata = d.wait().unwrap();
        let log = &logs[metadata.partition as usize];
        assert!(
            log.recovery_point() > metadata.offset,
            "offset {} acknowledged with the recovery point at {}",
            metadata.offset,
            log.recovery_point()
        );
    }
    // Every batch queued behind the held sync is covered by the next sync of its partition,
    // so all of them share at most one sync per partition beyond the one that was held.
    let syncs: u64 = logs.iter().map(|l| l.sync_count()).sum::<u64>() - syncs_before;
    assert!(
        (1..=4).contains(&syncs),
        "{syncs} syncs for {RECORDS} records: syncs are not shared"
    );
    let total: usize = (0..2).map(|p| values(&engine, "t", p).len()).sum();
    assert_eq!(total, RECORDS);
    producer.close().unwrap();
}

const CHILD_ENV: &str = "SILT_TEST_ACKS_ALL_PRODUCER_DIR";

/// The child: produces forever with `acks=all` from two threads, printing
/// `ACK <partition> <offset> <value>` once a record is acknowledged.
#[test]
fn child_acks_all_producer() {
    let Ok(dir) = std::env::var(CHILD_ENV) else {
        return; // run as a normal test: nothing to do
    };
    let engine = silt_engine::Engine::open(&dir, common::quiet_config()).unwrap();
    engine.create_topic(topic("t", 2)).unwrap();
    let producer = engine.producer(config(Acks::All)).unwrap();
    std::thread::scope(|s| {
        for thread in 0..2 {
            let producer = producer.clone();
            s.spawn(move || {
                for i in 0.. {
                    let value = format!("{thread}-{i}");
                    let printed = value.clone();
                    producer
                        .send_with_callback(ProducerRecord::new("t").value(&value), move |r| {
                            let m = r.unwrap();
                            println!("ACK {} {} {printed}", m.partition, m.offset);
                        })
                        .unwrap();
                }
            });
        }
    });
}

#[test]
fn acks_all_records_survive_sigkill() {
    const ACKS: usize = 3000;
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_acks_all_producer",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut acknowledged = BTreeMap::new();
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        let Some(ack) = line.strip_prefix("ACK ") else {
            continue;
        };
        let fields: Vec<&str> = ack.split(' ').collect();
        let (p, offset): (u32, i64) = (fields[0].parse().unwrap(), fields[1].parse().unwrap());
        assert!(
            acknowledged
                .insert((p, offset), fields[2].to_string())
                .is_none(),
            "offset {offset} of partition {p} acknowledged twice"
        );
        if acknowledged.len() == ACKS {
            break;
        }
    }
    assert_eq!(acknowledged.len(), ACKS, "the child stopped early");
    // SAFETY: kill only sends a signal to the child we spawned.
    unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
    child.wait().unwrap();

    let engine = open(dir.path());
    assert!(
        !engine.open_report().clean,
        "the child was killed, not closed"
    );
    for p in 0..2u32 {
        let stored: BTreeMap<i64, String> = read_all(&engine, "t", p, 0).into_iter().collect();
        for ((_, offset), value) in acknowledged.range((p, i64::MIN)..=(p, i64::MAX)) {
            assert_eq!(
                stored.get(offset),
                Some(value),
                "acknowledged offset {offset} of partition {p}"
            );
        }
    }
}
