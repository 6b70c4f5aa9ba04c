//! `silt perf produce`: Kafka's `ProducerPerformance`.
//!
//! K threads share one producer and send `--num-records` records of `--record-size` bytes
//! (one payload of random capital letters, no key, as Kafka's tool sends), each paced by
//! `--throughput` / K. A record's latency runs from just before `send` to its callback
//! (acknowledgment per `--acks`), recorded in an HdrHistogram in microseconds. The summary
//! is Kafka's line, with its percentiles in fractional milliseconds (Kafka's are whole
//! milliseconds, all 0 at silt's latencies).

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;
use silt::{Engine, EngineError, NewTopic, Producer, ProducerConfig, ProducerRecord};

use super::stats::{self, LatencyMs, Recorder, Throttle, MB};
use crate::cli::{CliError, CliResult, Global};

/// Arguments of `silt perf produce`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The topic; created with --partitions partitions if missing.
    #[arg(long)]
    topic: String,
    /// Records to send.
    #[arg(long, value_name = "N")]
    num_records: u64,
    /// Bytes per record (its value; records have no key).
    #[arg(long, value_name = "BYTES")]
    record_size: usize,
    /// Partitions of the topic when it is created [default: 1].
    #[arg(long, value_name = "P")]
    partitions: Option<u32>,
    /// Threads sending through the one producer.
    #[arg(long, value_name = "K", default_value_t = 1)]
    producers: usize,
    /// acks: 0, 1 or all.
    #[arg(long, value_name = "A", default_value = "all")]
    acks: String,
    /// compression.type: none, gzip, lz4 or zstd.
    #[arg(long, value_name = "C", default_value = "none")]
    compression: String,
    /// batch.size in bytes [default: the producer's, 16384].
    #[arg(long, value_name = "S")]
    batch_size: Option<u64>,
    /// linger.ms [default: the producer's, 5].
    #[arg(long, value_name = "L")]
    linger_ms: Option<u64>,
    /// Most records per second, over all threads; -1 for no limit.
    #[arg(long, value_name = "R", default_value_t = -1.0, allow_negative_numbers = true)]
    throughput: f64,
    /// Any other producer setting, with its Kafka name (repeatable).
    #[arg(long = "producer-prop", value_name = "KEY=VALUE")]
    producer_props: Vec<String>,
    /// Print one JSON object instead of Kafka's summary line.
    #[arg(long)]
    json: bool,
}

/// The producer settings the flags ask for; a bad value is a usage error naming the flag.
fn producer_config(args: &Args) -> CliResult<ProducerConfig> {
    let mut config = ProducerConfig::default();
    let mut set = |flag: &str, key: &str, value: &str| {
        config
            .set(key, value)
            .map_err(|e| CliError::Usage(format!("{flag} {value}: {e}")))
    };
    set("--acks", "acks", &args.acks)?;
    set("--compression", "compression.type", &args.compression)?;
    if let Some(size) = args.batch_size {
        set("--batch-size", "batch.size", &size.to_string())?;
    }
    if let Some(ms) = args.linger_ms {
        set("--linger-ms", "linger.ms", &ms.to_string())?;
    }
    for prop in &args.producer_props {
        let (key, value) = prop.split_once('=').ok_or_else(|| {
            CliError::Usage(format!("--producer-prop {prop}: expected KEY=VALUE"))
        })?;
        set("--producer-prop", key, value)?;
    }
    Ok(config)
}

fn check_args(args: &Args) -> CliResult<()> {
    if args.producers == 0 {
        return Err(CliError::Usage("--producers must be at least 1".into()));
    }
    if args.partitions == Some(0) {
        return Err(CliError::Usage("--partitions must be at least 1".into()));
    }
    if args.throughput == 0.0 || args.throughput.is_nan() {
        return Err(CliError::Usage(
            "--throughput must be positive, or -1 for no limit".into(),
        ));
    }
    Ok(())
}

/// Creates the topic with `partitions` if it does not exist; says so on stderr when it
/// exists with another count.
fn ensure_topic(engine: &Engine, topic: &str, partitions: Option<u32>) -> CliResult<()> {
    match engine.describe_topic(topic) {
        Ok(description) => {
            let have = description.partitions.len();
            if let Some(asked) = partitions.filter(|&p| p as usize != have) {
                let note = format!(
                    "silt: topic {topic} exists with {have} partitions; --partitions {asked} ignored"
                );
                let _ = writeln!(std::io::stderr(), "{note}");
            }
            Ok(())
        }
        Err(EngineError::UnknownTopic { .. }) => {
            match engine.create_topic(NewTopic::new(topic, partitions.unwrap_or(1))) {
                Ok(()) | Err(EngineError::TopicExists { .. }) => Ok(()),
                Err(e) => Err(e.into()),
            }
        }
        Err(e) => Err(e.into()),
    }
}

/// Kafka's payload: random capital letters (deterministic here).
fn payload(size: usize) -> Vec<u8> {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..size)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            b'A' + (state % 26) as u8
        })
        .collect()
}

/// Runs `silt perf produce`.
pub fn run(global: &Global, args: Args) -> CliResult<()> {
    check_args(&args)?;
    let config = producer_config(&args)?;
    let engine = global.open_engine()?;
    ensure_topic(&engine, &args.topic, args.partitions)?;
    let producer = engine.producer(config)?;
    // The callbacks must be 'static and should not each clone an `Arc` (an atomic
    // increment and decrement per record, on one contended cache line): the recorder lives
    // for the rest of the process, which ends after the run.
    let recorder: &'static Recorder = Box::leak(Box::new(Recorder::new()?));
    let (sent, elapsed) = drive(&producer, &args, recorder)?;
    producer.close()?;
    engine.close()?;
    summarize(&args, recorder, sent, elapsed)
}

/// Sends every record from `--producers` threads, shows progress, and flushes; returns
/// the records sent and the time from the first send to the end of the flush.
fn drive(
    producer: &Producer,
    args: &Args,
    recorder: &'static Recorder,
) -> CliResult<(u64, Duration)> {
    let value = payload(args.record_size);
    let bar = stats::progress(args.num_records, "acknowledged");
    let stop = AtomicBool::new(false);
    let start = Instant::now();
    let result = std::thread::scope(|scope| {
        scope.spawn(|| stats::follow(&bar, &recorder.acked, &stop));
        let threads: Vec<_> = (0..args.producers)
            .map(|i| {
                let count = share(args.num_records, args.producers, i);
                let throttle = Throttle::new(args.throughput / args.producers as f64, start);
                let (topic, value) = (args.topic.as_str(), value.as_slice());
                scope.spawn(move || send_all(producer, topic, value, count, throttle, recorder))
            })
            .collect();
        let mut sent = 0;
        let mut first_error = None;
        for thread in threads {
            match thread.join() {
                Ok(Ok(n)) => sent += n,
                Ok(Err(e)) => {
                    first_error.get_or_insert(e);
                }
                Err(_) => {
                    first_error.get_or_insert(CliError::Failed("a sending thread panicked".into()));
                }
            }
        }
        let flushed = producer.flush();
        let elapsed = start.elapsed();
        stop.store(true, Ordering::Release);
        match (first_error, flushed) {
            (Some(e), _) => Err(e),
            (None, Err(e)) => Err(e.into()),
            (None, Ok(())) => Ok((sent, elapsed)),
        }
    });
    bar.finish_and_clear();
    result
}

/// Prints Kafka's summary line (or the JSON object); fails if any record was not
/// acknowledged.
fn summarize(args: &Args, recorder: &Recorder, sent: u64, elapsed: Duration) -> CliResult<()> {
    let acked = recorder.acked.load(Ordering::Relaxed);
    let latency = LatencyMs::of(&recorder.merged()?);
    let records_per_sec = stats::per_second(acked as f64, elapsed);
    let mb_per_sec = stats::per_second(acked as f64 * args.record_size as f64, elapsed) / MB;
    let failed = recorder.failed.load(Ordering::Relaxed);
    let line = if args.json {
        json!({
            "records": acked,
            "records_per_sec": records_per_sec,
            "mb_per_sec": mb_per_sec,
            "latency_ms": latency.json(),
            "failed": failed,
            "elapsed_ms": elapsed.as_secs_f64() * 1000.0,
            "record_size": args.record_size,
            "producers": args.producers,
            "acks": args.acks,
            "compression": args.compression,
        })
        .to_string()
    } else {
        format!(
            "{acked} records sent, {records_per_sec:.6} records/sec ({mb_per_sec:.2} MB/sec), \
             {:.2} ms avg latency, {:.2} ms max latency, {:.2} ms 50th, {:.2} ms 95th, \
             {:.2} ms 99th, {:.2} ms 99.9th.",
            latency.avg, latency.max, latency.p50, latency.p95, latency.p99, latency.p999
        )
    };
    stats::print_line(&line)?;
    if failed > 0 || acked != sent {
        let first = recorder
            .first_error()
            .unwrap_or_else(|| "no error reported".into());
        return Err(CliError::Failed(format!(
            "{} of {sent} records were not acknowledged; the first error: {first}",
            sent - acked.min(sent)
        )));
    }
    Ok(())
}

/// Thread `i`'s share of `total` records over `threads`.
fn share(total: u64, threads: usize, i: usize) -> u64 {
    let threads = threads as u64;
    total / threads + u64::from((i as u64) < total % threads)
}

/// Sends `count` records, pacing them; returns how many were sent. A send refused outright
/// (the record is not sent) ends the thread with the error.
fn send_all(
    producer: &Producer,
    topic: &str,
    value: &[u8],
    count: u64,
    throttle: Throttle,
    recorder: &'static Recorder,
) -> CliResult<u64> {
    for sent in 0..count {
        let record = ProducerRecord::new(topic).value(value);
        let at = Instant::now();
        producer.send_with_callback(record, move |result| match result {
            Ok(_) => recorder.acknowledged(at),
            Err(e) => recorder.failed(&e),
        })?;
        throttle.pace(sent + 1);
    }
    Ok(count)
}
