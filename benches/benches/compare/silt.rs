//! silt's rows: the producer (what an application uses), the engine's `Log::append` of
//! batches built beforehand (the storage alone), the consumer and `Log::fetch`.
//!
//! Every engine holds one topic of one partition, the single ordered log that commitlog and
//! fjall hold too. Its `segment.bytes` is the power of two above what a run writes (at most
//! Kafka's 1 GiB): silt preallocates its active segment at that size, and deleting a 1 GiB
//! preallocation after a durable run of 10 MB would leave the disk discarding it during the
//! next system's turn. No run rolls a segment.

use std::hint::black_box;
use std::ops::Range;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use silt_benches::produce::{send_range, TOPIC};
use silt_consumer::{ConsumerConfig, ConsumerExt, OffsetReset, TopicPartition};
use silt_engine::producer::ProducerRecord;
use silt_engine::{Acks, Engine, EngineConfig, NewTopic, ProducerConfig};
use silt_segment::batch::{BatchBuilder, BatchConfig, DecompressBuffer};

use crate::report::Row;
use crate::{touch, Input, Reader, Writer, BATCH_RECORDS, FETCH_BYTES};

/// An engine in `dir` with [`TOPIC`], one partition whose segment holds all of `input`.
fn engine(dir: &Path, input: &Input) -> Engine {
    // Record and batch framing add well under 32 bytes a record.
    let bytes = (input.records * (input.record_bytes + 32)) as u64;
    let segment_bytes = bytes.next_power_of_two().clamp(1 << 20, 1 << 30);
    let engine = Engine::open(dir, EngineConfig::default()).expect("open engine");
    engine
        .create_topic(NewTopic::new(TOPIC, 1).config("segment.bytes", segment_bytes.to_string()))
        .expect("create topic");
    engine
}

/// Checks that the partition holds `records` records (synced, when `durable`), then closes
/// the engine.
fn check_and_close(engine: Engine, records: usize, durable: bool) {
    let log = engine.log(TOPIC, 0).expect("partition");
    let end = log.log_end_offset().expect("log end offset");
    assert_eq!(end, records as i64, "silt holds every record");
    if durable {
        assert!(log.recovery_point() >= end, "every record is synced");
        assert!(
            log.sync_count() >= records.div_ceil(BATCH_RECORDS) as u64,
            "a sync per batch"
        );
    }
    drop(log);
    engine.close().expect("close engine");
}

fn producer_config(acks: Acks) -> ProducerConfig {
    ProducerConfig {
        acks,
        ..ProducerConfig::default()
    }
}

/// The input's records as uncompressed batches of [`BATCH_RECORDS`] (null keys, the values),
/// back to back, with each batch's byte range.
struct PreBuilt {
    bytes: Vec<u8>,
    batches: Vec<Range<usize>>,
}

impl PreBuilt {
    fn new(input: &Input) -> PreBuilt {
        // Now, as a producer would stamp them (and far from any retention limit).
        let timestamp_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        let mut builder = BatchBuilder::new(BatchConfig::default());
        let mut bytes = Vec::with_capacity(input.records * (input.record_bytes + 16));
        let mut batches = Vec::with_capacity(input.records.div_ceil(BATCH_RECORDS));
        for first in (0..input.records).step_by(BATCH_RECORDS) {
            let start = bytes.len();
            for i in first..(first + BATCH_RECORDS).min(input.records) {
                builder
                    .append(timestamp_ms, None, Some(input.values.get(i)), &[])
                    .expect("record encodes");
            }
            builder.finish_into(&mut bytes).expect("batch encodes");
            batches.push(start..bytes.len());
        }
        PreBuilt { bytes, batches }
    }

    fn batches(&self) -> impl Iterator<Item = &[u8]> {
        self.batches.iter().map(|r| &self.bytes[r.clone()])
    }
}

/// The producer with `acks=1` and the engine's `Log::append` of pre-built batches.
pub fn append_writers(input: &Input) -> Vec<Writer<'_>> {
    let pre_built = PreBuilt::new(input);
    vec![
        Writer {
            row: Row::silt("silt Producer, acks=1"),
            run: Box::new(move |dir| {
                let engine = engine(dir, input);
                let producer = engine
                    .producer(producer_config(Acks::Leader))
                    .expect("producer");
                let start = Instant::now();
                send_range(&producer, &input.values, None, 0..input.records);
                producer.flush().expect("flush");
                let took = start.elapsed();
                producer.close().expect("close producer");
                check_and_close(engine, input.records, false);
                took
            }),
        },
        Writer {
            row: Row::silt("silt Log::append, batches of 100"),
            run: Box::new(move |dir| {
                let engine = engine(dir, input);
                let log = engine.log(TOPIC, 0).expect("partition");
                let start = Instant::now();
                for batch in pre_built.batches() {
                    log.append(batch).expect("append");
                }
                let took = start.elapsed();
                drop(log);
                check_and_close(engine, input.records, false);
                took
            }),
        },
    ]
}

/// The producer with `acks=all` and a `flush()` every 100 sends, and `Log::append` followed
/// by `flush_up_to` the batch's end.
pub fn durable_writers(input: &Input) -> Vec<Writer<'_>> {
    let pre_built = PreBuilt::new(input);
    vec![
        Writer {
            row: Row::silt("silt Producer, acks=all, flush() per 100"),
            run: Box::new(move |dir| {
                let engine = engine(dir, input);
                let producer = engine
                    .producer(producer_config(Acks::All))
                    .expect("producer");
                let start = Instant::now();
                for first in (0..input.records).step_by(BATCH_RECORDS) {
                    for i in first..(first + BATCH_RECORDS).min(input.records) {
                        producer
                            .send(ProducerRecord::new(TOPIC).value(input.values.get(i)))
                            .expect("send");
                    }
                    producer.flush().expect("flush");
                }
                let took = start.elapsed();
                producer.close().expect("close producer");
                check_and_close(engine, input.records, true);
                took
            }),
        },
        Writer {
            row: Row::silt("silt Log::append + flush_up_to per batch"),
            run: Box::new(move |dir| {
                let engine = engine(dir, input);
                let log = engine.log(TOPIC, 0).expect("partition");
                let start = Instant::now();
                for batch in pre_built.batches() {
                    let info = log.append(batch).expect("append");
                    log.flush_up_to(info.last_offset + 1).expect("flush");
                }
                let took = start.elapsed();
                drop(log);
                check_and_close(engine, input.records, true);
                took
            }),
        },
    ]
}

/// An engine holding the input, written by the producer with `acks=1` (the batches a
/// producer makes are what a consumer reads).
fn produced_engine(dir: &Path, input: &Input) -> Engine {
    let engine = engine(dir, input);
    let producer = engine
        .producer(producer_config(Acks::Leader))
        .expect("producer");
    send_range(&producer, &input.values, None, 0..input.records);
    producer.close().expect("close producer");
    engine
}

/// The consumer (standalone, `assign`, from the earliest offset, Kafka's defaults otherwise:
/// `max.poll.records` 500, `check.crcs`) and `Log::fetch` of 1 MiB, each on its own engine.
pub fn readers(input: &Input) -> Vec<Reader<'_>> {
    vec![
        Reader {
            row: Row::silt("silt Consumer::poll"),
            setup: Box::new(move |dir| {
                let engine = produced_engine(dir, input);
                Box::new(move || {
                    let config = ConsumerConfig::default()
                        .auto_offset_reset(OffsetReset::Earliest)
                        .enable_auto_commit(false);
                    let mut consumer = engine.consumer(config).expect("consumer");
                    consumer
                        .assign(&[TopicPartition::new(TOPIC, 0)])
                        .expect("assign");
                    let (mut count, mut sum) = (0, 0);
                    let start = Instant::now();
                    while count < input.records {
                        let records = consumer.poll(Duration::from_millis(100)).expect("poll");
                        for record in records.iter() {
                            sum += touch(record.value.unwrap_or_default());
                            count += 1;
                        }
                    }
                    let took = start.elapsed();
                    assert_eq!((count, sum), (input.records, input.checksum));
                    consumer.close().expect("close consumer");
                    took
                })
            }),
        },
        Reader {
            row: Row::silt("silt Log::fetch"),
            setup: Box::new(move |dir| {
                let engine = produced_engine(dir, input);
                let log = engine.log(TOPIC, 0).expect("partition");
                let mut buffer = DecompressBuffer::new();
                Box::new(move || {
                    // The engine must outlive the reads: dropping its last handle closes it.
                    let _engine = &engine;
                    let (mut count, mut sum) = (0, 0);
                    let start = Instant::now();
                    let end = log.log_end_offset().expect("log end offset");
                    let mut offset = 0;
                    while offset < end {
                        let fetch = log.fetch(offset, FETCH_BYTES).expect("fetch");
                        count += fetch
                            .for_each_record(&mut buffer, |r| {
                                sum += touch(r.value.unwrap_or_default())
                            })
                            .expect("records");
                        offset = fetch.next_offset();
                    }
                    let took = start.elapsed();
                    assert_eq!((count, black_box(sum)), (input.records, input.checksum));
                    took
                })
            }),
        },
    ]
}
