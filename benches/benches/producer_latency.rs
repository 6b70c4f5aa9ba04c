//! The producer's latency and memory (issue 4): not throughput, so a plain `main` rather than
//! criterion. Prints a table and writes it as JSON to `target/producer_latency.json`.
//!
//! Both use 100-byte values, a topic of 8 partitions, `acks=1`, no compression and one
//! sending thread, in a fresh engine in `$TMPDIR`.
//!
//! - Memory: resident anonymous memory (`RssAnon`: heap and stacks, not the page cache or
//!   the mapped segments) sampled every millisecond while 10,000,000 records are produced
//!   and flushed; target: the peak stays within `buffer.memory` + 32 MiB. It runs first, in
//!   a process that has allocated little else.
//! - Latency: the most records/s one thread sends with `linger.ms=0` (sent, then flushed),
//!   (with the same timed sends), then sends paced at half that rate, each timed from just before `send_with_callback`
//!   to its callback (which runs once the record is acknowledged); target: p99 ≤ 1 ms.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use silt_benches::produce::{
    engine_with_topic, records_in_topic, rss_anon_bytes, send_range, settle_disk, Values, TOPIC,
};
use silt_engine::producer::ProducerRecord;
use silt_engine::{Acks, Producer, ProducerConfig};

const VALUE_BYTES: usize = 100;
const SEED: u64 = 0x5117_0004;
const MIB: f64 = (1 << 20) as f64;

/// What resident anonymous memory may exceed `buffer.memory` by.
const MEMORY_HEADROOM_BYTES: u64 = 32 << 20;
const MEMORY_SAMPLE_INTERVAL: Duration = Duration::from_millis(1);
/// 10M records are ~1.1 GB, ~140 MB a partition: one segment each.
const MEMORY_SEGMENT_BYTES: u32 = 256 << 20;

/// Bounds on the records of the paced run.
const PACED_RECORDS_MIN: usize = 5_000;
const PACED_RECORDS_MAX: usize = 3_000_000;
const LATENCY_SEGMENT_BYTES: u32 = 64 << 20;
const LATENCY_P99_TARGET_NS: u64 = 1_000_000;

/// A latency slot no callback has written yet; a failed record writes [`FAILED`].
const PENDING: u64 = u64::MAX;
const FAILED: u64 = u64::MAX - 1;

struct MemoryReport {
    records: usize,
    buffer_memory_bytes: u64,
    limit_bytes: u64,
    before_producer_bytes: u64,
    peak_bytes: u64,
    samples: u64,
    records_per_s: f64,
}

struct LatencyReport {
    /// The median of the runs below.
    max_rate_per_s: f64,
    max_rate_runs_per_s: Vec<f64>,
    paced_rate_per_s: f64,
    achieved_rate_per_s: f64,
    records: usize,
    /// Most a send started after its scheduled time.
    max_lag_us: f64,
    latency_us_p50: f64,
    latency_us_p99: f64,
    latency_us_p999: f64,
    latency_us_max: f64,
}

fn acks_1() -> ProducerConfig {
    ProducerConfig {
        acks: Acks::Leader,
        ..ProducerConfig::default()
    }
}

/// Produces `records` (the 10M) with a sampler thread reading `RssAnon` every
/// millisecond.
fn memory_while_producing(values: &Values, records: usize) -> MemoryReport {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = engine_with_topic(dir.path(), MEMORY_SEGMENT_BYTES);
    let config = acks_1();
    let buffer_memory_bytes = config.buffer_memory as u64;
    let before_producer_bytes = rss_anon_bytes().expect("RssAnon in /proc/self/status");
    let stop = AtomicBool::new(false);
    let (elapsed, (peak_bytes, samples)) = std::thread::scope(|s| {
        let sampler = s.spawn(|| {
            let (mut peak, mut samples) = (0u64, 0u64);
            while !stop.load(Ordering::Relaxed) {
                peak = peak.max(rss_anon_bytes().unwrap_or(0));
                samples += 1;
                std::thread::sleep(MEMORY_SAMPLE_INTERVAL);
            }
            (peak, samples)
        });
        let producer = engine.producer(config).expect("producer");
        let start = Instant::now();
        send_range(&producer, values, None, 0..records);
        producer.flush().expect("flush");
        let elapsed = start.elapsed();
        producer.close().expect("close producer");
        stop.store(true, Ordering::Relaxed);
        (elapsed, sampler.join().expect("sampler"))
    });
    assert_eq!(records_in_topic(&engine), records as u64);
    engine.close().expect("close engine");
    MemoryReport {
        records,
        buffer_memory_bytes,
        limit_bytes: buffer_memory_bytes + MEMORY_HEADROOM_BYTES,
        before_producer_bytes,
        peak_bytes,
        samples,
        records_per_s: records as f64 / elapsed.as_secs_f64(),
    }
}

fn linger_0() -> ProducerConfig {
    ProducerConfig {
        linger_ms: 0,
        ..acks_1()
    }
}

/// Runs of the maximum-rate measurement; their median is taken (single runs range over 2×
/// on this shared 2-core machine).
const MAX_RATE_RUNS: usize = 5;

/// Records/s of one thread sending `records` flat out with `linger.ms=0`, to the flush: the
/// median of [`MAX_RATE_RUNS`] runs, and every run.
fn max_rate_linger_0(values: &Values, records: usize) -> (f64, Vec<f64>) {
    let runs: Vec<f64> = (0..MAX_RATE_RUNS)
        .map(|_| max_rate_run(values, records))
        .collect();
    let mut sorted = runs.clone();
    sorted.sort_by(f64::total_cmp);
    (sorted[sorted.len() / 2], runs)
}

fn max_rate_run(values: &Values, records: usize) -> f64 {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = engine_with_topic(dir.path(), LATENCY_SEGMENT_BYTES);
    let producer = engine.producer(linger_0()).expect("producer");
    settle_disk();
    // The same sends as the paced run (a callback timing each record), flat out: the
    // maximum rate of the workload whose latency is measured at half of it.
    let latencies_ns: Arc<[AtomicU64]> = (0..records).map(|_| AtomicU64::new(PENDING)).collect();
    let start = Instant::now();
    for i in 0..records {
        timed_send(&producer, values, i, &latencies_ns, Instant::now());
    }
    producer.flush().expect("flush");
    let elapsed = start.elapsed();
    producer.close().expect("close producer");
    assert_eq!(records_in_topic(&engine), records as u64);
    engine.close().expect("close engine");
    records as f64 / elapsed.as_secs_f64()
}

/// Sends at `rate` records/s for `seconds` with `linger.ms=0`, timing each record from just
/// before `send_with_callback` to its callback.
///
/// A send is due every ~1-2 µs, too often to sleep between sends, and spinning would take a
/// core from the producer's writers on a small machine (which an application sending at
/// half rate would not). So the sender sleeps until the next record is due and then sends
/// every record due by then: bursts of what fell due during one sleep (the kernel's timer
/// slack makes that ~50-100 µs), at `rate` on average. Each record's latency starts at its
/// own send, and how late sends started against their schedule is reported as the lag.
fn latency_at(values: &Values, rate: f64, max_rate_per_s: f64, seconds: f64) -> LatencyReport {
    let records = ((rate * seconds) as usize).clamp(PACED_RECORDS_MIN, PACED_RECORDS_MAX);
    let latencies_ns: Arc<[AtomicU64]> = (0..records).map(|_| AtomicU64::new(PENDING)).collect();
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = engine_with_topic(dir.path(), LATENCY_SEGMENT_BYTES);
    let producer = engine.producer(linger_0()).expect("producer");
    settle_disk();
    let due = |start: Instant, i: usize| start + Duration::from_secs_f64(i as f64 / rate);
    let mut max_lag = Duration::ZERO;
    let start = Instant::now();
    let mut next = 0;
    while next < records {
        let now = Instant::now();
        let due_by_now = ((now - start).as_secs_f64() * rate) as usize + 1;
        for i in next..due_by_now.min(records) {
            let sent = Instant::now();
            max_lag = max_lag.max(sent.saturating_duration_since(due(start, i)));
            timed_send(&producer, values, i, &latencies_ns, sent);
        }
        next = next.max(due_by_now.min(records));
        if next < records {
            std::thread::sleep(due(start, next).saturating_duration_since(Instant::now()));
        }
    }
    let sending = start.elapsed();
    producer.flush().expect("flush");
    producer.close().expect("close producer");
    engine.close().expect("close engine");

    let mut sorted: Vec<u64> = latencies_ns
        .iter()
        .map(|slot| slot.load(Ordering::Relaxed))
        .collect();
    assert!(
        !sorted.contains(&PENDING),
        "flush returned before every callback ran"
    );
    assert!(!sorted.contains(&FAILED), "a record failed");
    sorted.sort_unstable();
    let quantile_us = |q: f64| {
        let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
        sorted[rank - 1] as f64 / 1e3
    };
    LatencyReport {
        max_rate_per_s,
        max_rate_runs_per_s: Vec::new(),
        paced_rate_per_s: rate,
        achieved_rate_per_s: records as f64 / sending.as_secs_f64(),
        records,
        max_lag_us: max_lag.as_secs_f64() * 1e6,
        latency_us_p50: quantile_us(0.50),
        latency_us_p99: quantile_us(0.99),
        latency_us_p999: quantile_us(0.999),
        latency_us_max: quantile_us(1.0),
    }
}

/// Sends record `i` with a callback that stores its send-to-acknowledgment time in
/// `slots[i]` (or [`FAILED`]).
fn timed_send(
    producer: &Producer,
    values: &Values,
    i: usize,
    slots: &Arc<[AtomicU64]>,
    sent: Instant,
) {
    let slots = Arc::clone(slots);
    producer
        .send_with_callback(
            ProducerRecord::new(TOPIC).value(values.get(i)),
            move |result| {
                let ns = match result {
                    Ok(_) => sent.elapsed().as_nanos() as u64,
                    Err(_) => FAILED,
                };
                slots[i].store(ns, Ordering::Relaxed);
            },
        )
        .expect("send");
}

fn verdict(ok: bool) -> &'static str {
    if ok {
        "PASS"
    } else {
        "FAIL"
    }
}

fn print_table(memory: &MemoryReport, latency: &LatencyReport) {
    println!("producer_latency: 100-byte values, 8 partitions, acks=1, no compression, 1 thread");
    println!();
    println!("latency, linger.ms=0");
    let runs: Vec<String> = latency
        .max_rate_runs_per_s
        .iter()
        .map(|r| format!("{:.3}", r / 1e6))
        .collect();
    println!(
        "  max rate                  {:>10.3} M records/s (median of {})",
        latency.max_rate_per_s / 1e6,
        runs.join(", ")
    );
    println!(
        "  paced at half             {:>10.3} M records/s (achieved {:.3} M/s, {} records, max lag {:.0} µs)",
        latency.paced_rate_per_s / 1e6,
        latency.achieved_rate_per_s / 1e6,
        latency.records,
        latency.max_lag_us
    );
    println!(
        "  send→ack p50              {:>10.1} µs",
        latency.latency_us_p50
    );
    println!(
        "  send→ack p99              {:>10.1} µs   target ≤ 1000 µs: {}",
        latency.latency_us_p99,
        verdict(latency.latency_us_p99 * 1e3 <= LATENCY_P99_TARGET_NS as f64)
    );
    println!(
        "  send→ack p99.9            {:>10.1} µs",
        latency.latency_us_p999
    );
    println!(
        "  send→ack max              {:>10.1} µs",
        latency.latency_us_max
    );
    println!();
    println!(
        "memory, {} records at {:.2} M records/s",
        memory.records,
        memory.records_per_s / 1e6
    );
    println!(
        "  RssAnon before producer   {:>10.1} MiB",
        memory.before_producer_bytes as f64 / MIB
    );
    println!(
        "  RssAnon peak              {:>10.1} MiB   ({} samples)",
        memory.peak_bytes as f64 / MIB,
        memory.samples
    );
    println!(
        "  limit                     {:>10.1} MiB   (buffer.memory {:.0} MiB + 32 MiB): {}",
        memory.limit_bytes as f64 / MIB,
        memory.buffer_memory_bytes as f64 / MIB,
        verdict(memory.peak_bytes <= memory.limit_bytes)
    );
}

fn json(memory: &MemoryReport, latency: &LatencyReport) -> String {
    format!(
        "{{\n  \"latency\": {{\n    \"max_rate_per_s\": {:.0},\n    \"max_rate_runs_per_s\": [{}],\n    \"paced_rate_per_s\": {:.0},\n    \"achieved_rate_per_s\": {:.0},\n    \"records\": {},\n    \"max_lag_us\": {:.1},\n    \"latency_us_p50\": {:.2},\n    \"latency_us_p99\": {:.2},\n    \"latency_us_p999\": {:.2},\n    \"latency_us_max\": {:.2},\n    \"target_latency_us_p99\": {}\n  }},\n  \"memory\": {{\n    \"records\": {},\n    \"records_per_s\": {:.0},\n    \"buffer_memory_bytes\": {},\n    \"limit_bytes\": {},\n    \"rss_anon_before_producer_bytes\": {},\n    \"rss_anon_peak_bytes\": {},\n    \"samples\": {}\n  }}\n}}\n",
        latency.max_rate_per_s,
        latency
            .max_rate_runs_per_s
            .iter()
            .map(|r| format!("{r:.0}"))
            .collect::<Vec<_>>()
            .join(", "),
        latency.paced_rate_per_s,
        latency.achieved_rate_per_s,
        latency.records,
        latency.max_lag_us,
        latency.latency_us_p50,
        latency.latency_us_p99,
        latency.latency_us_p999,
        latency.latency_us_max,
        LATENCY_P99_TARGET_NS / 1000,
        memory.records,
        memory.records_per_s,
        memory.buffer_memory_bytes,
        memory.limit_bytes,
        memory.before_producer_bytes,
        memory.peak_bytes,
        memory.samples,
    )
}

/// The cargo target directory: a bench runs as `<target>/<profile>/deps/<name>-<hash>`.
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().ok();
    let from_exe = exe.as_deref().and_then(|exe| {
        let deps = exe.parent()?;
        (deps.file_name()? == "deps").then_some(())?;
        Some(deps.parent()?.parent()?.to_path_buf())
    });
    from_exe.unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"))
}

/// How much each measurement does: the figures under `cargo bench`, a smoke run under
/// `cargo test` (which runs bench targets without `--bench`, as criterion's test mode does).
struct Scale {
    memory_records: usize,
    max_rate_records: usize,
    paced_seconds: f64,
}

const BENCH: Scale = Scale {
    memory_records: 10_000_000,
    max_rate_records: 1_000_000,
    paced_seconds: 3.0,
};

const SMOKE: Scale = Scale {
    memory_records: 100_000,
    max_rate_records: 20_000,
    paced_seconds: 0.1,
};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // Under `cargo bench -- FILTER`, run only if the filter names this bench.
    let filters: Vec<&String> = args.iter().filter(|a| !a.starts_with('-')).collect();
    if !filters.is_empty()
        && !filters
            .iter()
            .any(|f| "producer_latency".contains(f.as_str()))
    {
        return;
    }
    let bench = args.iter().any(|a| a == "--bench");
    let scale = if bench { &BENCH } else { &SMOKE };
    let values = Values::generate(VALUE_BYTES, SEED);
    let memory = memory_while_producing(&values, scale.memory_records);
    let (max_rate, max_rate_runs) = max_rate_linger_0(&values, scale.max_rate_records);
    let mut latency = latency_at(&values, max_rate / 2.0, max_rate, scale.paced_seconds);
    latency.max_rate_runs_per_s = max_rate_runs;
    print_table(&memory, &latency);
    if !bench {
        println!("\n(smoke run: pass --bench, as `cargo bench` does, for the real figures)");
        return;
    }
    let path = target_dir().join("producer_latency.json");
    match std::fs::write(&path, json(&memory, &latency)) {
        Ok(()) => println!("\nwrote {}", path.display()),
        Err(e) => eprintln!("\ncould not write {}: {e}", path.display()),
    }
}
