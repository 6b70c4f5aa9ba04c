//! The produce-and-read-back part of `silt demo` in library code: open (or create)
//! `./silt-data` (or `$SILT_DATA_DIR`), make sure topic `quickstart` (4 partitions) exists,
//! produce 1,000,000 keyed records through a producer (Kafka's partitioner,
//! batching and `acks=all`), read every partition back without copying, and print what
//! happened. Run it twice: the second run reopens the data cleanly and appends after it.

use std::time::Instant;

use silt::batch::DecompressBuffer;
use silt::{Acks, Engine, EngineConfig, NewTopic, ProducerConfig, ProducerRecord};

const TOPIC: &str = "quickstart";
const PARTITIONS: u32 = 4;
const RECORDS: u64 = 1_000_000;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::var("SILT_DATA_DIR").unwrap_or_else(|_| "./silt-data".to_string());
    let started = Instant::now();
    let engine = Engine::open(&dir, EngineConfig::default())?;
    let report = engine.open_report();
    println!(
        "opened {dir} in {:?}: clean={} partitions={} recovered segments={}",
        started.elapsed(),
        report.clean,
        report.partitions,
        report.segments_recovered
    );
    if !engine.list_topics().iter().any(|t| t == TOPIC) {
        engine
            .create_topic(NewTopic::new(TOPIC, PARTITIONS).config("segment.bytes", "67108864"))?;
        println!("created topic {TOPIC} with {PARTITIONS} partitions");
    }

    // acks=all: a record is acknowledged once it is synced to disk; one sync covers every
    // batch waiting on its partition.
    let producer = engine.producer(ProducerConfig {
        acks: Acks::All,
        ..ProducerConfig::default()
    })?;
    let started = Instant::now();
    let mut last = None;
    for i in 0..RECORDS {
        let key = format!("user-{}", i % 1000);
        let value = format!("event {i} of this run");
        last = Some(producer.send(ProducerRecord::new(TOPIC).key(&key).value(&value))?);
    }
    producer.flush()?;
    let elapsed = started.elapsed();
    let last = last.map(|d| d.wait()).transpose()?;
    println!(
        "produced {RECORDS} records in {elapsed:?} ({:.1} M records/s, acks=all); the last went to {TOPIC}-{} at offset {}",
        RECORDS as f64 / elapsed.as_secs_f64() / 1e6,
        last.as_ref().map_or(0, |m| m.partition),
        last.as_ref().map_or(-1, |m| m.offset),
    );
    producer.close()?;

    let started = Instant::now();
    let mut buffer = DecompressBuffer::new();
    let (mut read, mut bytes) = (0u64, 0u64);
    for partition in 0..PARTITIONS {
        let log = engine.log(TOPIC, partition)?;
        let mut offset = log.log_start_offset();
        loop {
            let fetch = log.fetch(offset, 1 << 20)?;
            if fetch.is_empty() {
                break;
            }
            fetch.for_each_record(&mut buffer, |record| {
                read += 1;
                bytes += record.value.map_or(0, |v| v.len() as u64);
            })?;
            offset = fetch.next_offset();
        }
    }
    let elapsed = started.elapsed();
    println!(
        "read {read} records ({bytes} value bytes) in {elapsed:?} ({:.1} M records/s)",
        read as f64 / elapsed.as_secs_f64() / 1e6
    );
    let description = engine.describe_topic(TOPIC)?;
    for p in &description.partitions {
        println!(
            "{TOPIC}-{}: log start {}, log end {}, {} bytes in {} segment(s)",
            p.partition, p.log_start_offset, p.log_end_offset, p.size_bytes, p.segments
        );
    }
    engine.close()?;
    Ok(())
}
