//! silt's main job on the embedded default, until the CLI's `demo` arrives: open (or
//! create) `./silt-data` (or `$SILT_DATA_DIR`), make sure topic `quickstart` exists, append
//! 100,000 records in batches, flush, read them all back without copying, and print what
//! happened. Run it twice: the second run reopens the data cleanly and appends after it.

use std::time::Instant;

use silt::batch::{BatchBuilder, BatchConfig, DecompressBuffer};
use silt::{Engine, EngineConfig, NewTopic, OffsetSpec};

const TOPIC: &str = "quickstart";
const RECORDS: u64 = 100_000;
const PER_BATCH: u64 = 100;

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
        engine.create_topic(NewTopic::new(TOPIC, 1).config("segment.bytes", "16777216"))?;
        println!("created topic {TOPIC}");
    }
    let log = engine.log(TOPIC, 0)?;
    let first = log.log_end_offset()?;

    let started = Instant::now();
    let mut builder = BatchBuilder::new(BatchConfig::default());
    for i in 0..RECORDS {
        let key = format!("key-{}", i % 16);
        let value = format!("record {} of this run", first as u64 + i);
        builder.append(now_ms(), Some(key.as_bytes()), Some(value.as_bytes()), &[])?;
        if (i + 1) % PER_BATCH == 0 {
            log.append(&builder.finish()?)?;
        }
    }
    log.flush()?;
    let elapsed = started.elapsed();
    println!(
        "appended {RECORDS} records at offsets {first}..{} in {elapsed:?} ({:.1} M records/s), flushed",
        log.log_end_offset()?,
        RECORDS as f64 / elapsed.as_secs_f64() / 1e6
    );

    let started = Instant::now();
    let mut buffer = DecompressBuffer::new();
    let (mut offset, mut read, mut bytes) = (log.log_start_offset(), 0u64, 0u64);
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
    let latest = engine.list_offsets(TOPIC, 0, OffsetSpec::Latest)?;
    println!("latest offset: {:?}", latest.map(|l| l.offset));
    engine.close()?;
    Ok(())
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
