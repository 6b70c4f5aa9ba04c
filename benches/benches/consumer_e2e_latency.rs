//! End-to-end latency (issue 5): from `Producer::send` to the record coming out of
//! `Consumer::poll` in another thread, at a steady 100,000 records/s. Not throughput, so a
//! plain `main` rather than criterion: prints p50 / p99 / p99.9 / max and writes them as
//! JSON to `target/consumer_e2e_latency.json`.
//!
//! - silt: one partition, a producer with `linger.ms=0` and `acks=1`, 100-byte values that
//!   carry their send time; one consumer thread (`assign`, no group) polling in a loop.
//!   Targets: p50 ≤ 20 µs, p99 ≤ 100 µs.
//! - silt without the producer: the sending thread appends each record with `Log::append`
//!   (a one-record batch): the log's wake-up and the poll alone.
//! - Baseline, same run, same pacing: the send time crossing a bounded crossbeam channel to
//!   a thread blocked in `recv`: the floor of any handoff between two threads here.
//!
//! Pacing: a record is due every 10 µs, too often to sleep between records (a sleep takes
//! ≥ 50 µs with the default timer slack) and spinning would take a core from the
//! threads measured on a small machine. So the sender (timer slack set to 1 µs) sleeps
//! until the next record is due and then sends every record due by then, which keeps the
//! rate at 100k/s on average in small bursts. Each latency starts at its record's own send.
//! Both sides run [`ROUNDS`] times, alternating; each quantile reported is the median of
//! the rounds (this machine is shared, so single rounds vary).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use silt_benches::BASE_TIMESTAMP_MS;
use silt_consumer::{ConsumerConfig, ConsumerExt, OffsetReset, TopicPartition};
use silt_engine::{Acks, Engine, EngineConfig, NewTopic, ProducerConfig, ProducerRecord};
use silt_segment::batch::{BatchBuilder, BatchConfig};

const RATE_PER_S: f64 = 100_000.0;
const VALUE_BYTES: usize = 100;
const SEGMENT_BYTES: u32 = 64 << 20;
const TARGET_P50_US: f64 = 20.0;
const TARGET_P99_US: f64 = 100.0;

/// Rounds of each side, alternating (the median of each quantile is reported).
const ROUNDS: usize = 3;

/// Latencies of one run, sorted, in nanoseconds, and how the pacing went.
struct Run {
    sorted_ns: Vec<u64>,
    achieved_per_s: f64,
}

impl Run {
    fn quantile_us(&self, q: f64) -> f64 {
        let n = self.sorted_ns.len();
        let rank = ((q * n as f64).ceil() as usize).clamp(1, n);
        self.sorted_ns[rank - 1] as f64 / 1e3
    }
}

/// Sends `records` records at [`RATE_PER_S`] with `send(i, now_ns)`, where `now_ns` is the
/// send time in ns since `epoch`; returns the achieved rate.
fn paced(records: usize, epoch: Instant, mut send: impl FnMut(usize, u64)) -> f64 {
    set_timer_slack_ns(1_000);
    let due = |start: Instant, i: usize| start + Duration::from_secs_f64(i as f64 / RATE_PER_S);
    let start = Instant::now();
    let mut next = 0;
    while next < records {
        let due_by_now = ((start.elapsed().as_secs_f64() * RATE_PER_S) as usize + 1).min(records);
        for i in next..due_by_now {
            send(i, epoch.elapsed().as_nanos() as u64);
        }
        next = next.max(due_by_now);
        if next < records {
            std::thread::sleep(due(start, next).saturating_duration_since(Instant::now()));
        }
    }
    records as f64 / start.elapsed().as_secs_f64()
}

/// Sets this thread's timer slack (how late the kernel may wake a sleep, 50 µs by default).
fn set_timer_slack_ns(ns: libc::c_ulong) {
    // SAFETY: PR_SET_TIMERSLACK takes one integer argument and changes only this thread's
    // timer slack; the unused arguments are ignored.
    unsafe {
        libc::prctl(libc::PR_SET_TIMERSLACK, ns, 0, 0, 0);
    }
}

fn sorted(mut ns: Vec<u64>) -> Vec<u64> {
    ns.sort_unstable();
    ns
}

/// How the silt runs write: through a producer (the figure), or with
/// `Log::append` from the sending thread (the log and the consumer alone, no producer
/// pipeline: what the poll's wake-up costs on its own).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Writes {
    Producer,
    Append,
}

/// silt: producer (or append) → log → consumer, in a fresh engine.
fn silt_run(records: usize, writes: Writes) -> Run {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = Engine::open(dir.path(), EngineConfig::default()).expect("open");
    engine
        .create_topic(NewTopic::new("t", 1).config("segment.bytes", SEGMENT_BYTES.to_string()))
        .expect("topic");
    let log = engine.log("t", 0).expect("log");
    let producer = engine
        .producer(ProducerConfig {
            linger_ms: 0,
            acks: Acks::Leader,
            ..ProducerConfig::default()
        })
        .expect("producer");
    let config = ConsumerConfig {
        enable_auto_commit: false,
        ..ConsumerConfig::default()
    }
    .auto_offset_reset(OffsetReset::Earliest);
    let mut consumer = engine.consumer(config).expect("consumer");
    consumer
        .assign(&[TopicPartition::new("t", 0)])
        .expect("assign");
    let epoch = Instant::now();
    let (latencies, achieved) = std::thread::scope(|s| {
        let reader = s.spawn(move || {
            let mut latencies = Vec::with_capacity(records);
            while latencies.len() < records {
                let polled = consumer.poll(Duration::from_millis(100)).expect("poll");
                for r in polled.iter() {
                    let now = epoch.elapsed().as_nanos() as u64;
                    let value = r.value.unwrap_or_default();
                    let sent = value
                        .first_chunk::<8>()
                        .map(|b| u64::from_le_bytes(*b))
                        .expect("a timestamped value");
                    latencies.push(now.saturating_sub(sent));
                }
            }
            latencies
        });
        let mut value = [b'v'; VALUE_BYTES];
        let mut builder = BatchBuilder::new(BatchConfig::default());
        let mut batch = Vec::new();
        let achieved = paced(records, epoch, |_, now_ns| {
            value[..8].copy_from_slice(&now_ns.to_le_bytes());
            match writes {
                Writes::Producer => {
                    producer
                        .send(ProducerRecord::new("t").partition(0).value(&value))
                        .expect("send");
                }
                Writes::Append => {
                    builder
                        .append(BASE_TIMESTAMP_MS, None, Some(&value), &[])
                        .expect("record");
                    batch.clear();
                    builder.finish_into(&mut batch).expect("batch");
                    log.append(&batch).expect("append");
                }
            }
        });
        (reader.join().expect("reader"), achieved)
    });
    producer.close().expect("close producer");
    engine.close().expect("close engine");
    Run {
        sorted_ns: sorted(latencies),
        achieved_per_s: achieved,
    }
}

/// Baseline: the send time through a crossbeam channel to a thread blocked in `recv`.
fn channel_run(records: usize) -> Run {
    let (tx, rx) = crossbeam_channel::bounded::<[u8; VALUE_BYTES]>(1024);
    let epoch = Instant::now();
    std::thread::scope(|s| {
        let reader = s.spawn(move || {
            let mut latencies = Vec::with_capacity(records);
            while latencies.len() < records {
                let value = rx.recv().expect("recv");
                let now = epoch.elapsed().as_nanos() as u64;
                let sent = value
                    .first_chunk::<8>()
                    .map(|b| u64::from_le_bytes(*b))
                    .unwrap_or(now);
                latencies.push(now.saturating_sub(sent));
            }
            latencies
        });
        let mut value = [b'v'; VALUE_BYTES];
        let achieved = paced(records, epoch, |_, now_ns| {
            value[..8].copy_from_slice(&now_ns.to_le_bytes());
            tx.send(value).expect("send");
        });
        Run {
            sorted_ns: sorted(reader.join().expect("reader")),
            achieved_per_s: achieved,
        }
    })
}

/// The median over rounds of each reported figure.
struct Summary {
    p50_us: f64,
    p99_us: f64,
    p999_us: f64,
    max_us: f64,
    achieved_per_s: f64,
    rounds_p50_us: Vec<f64>,
    rounds_p99_us: Vec<f64>,
}

fn summarize(runs: &[Run]) -> Summary {
    let median = |f: &dyn Fn(&Run) -> f64| {
        let mut v: Vec<f64> = runs.iter().map(f).collect();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    Summary {
        p50_us: median(&|r| r.quantile_us(0.50)),
        p99_us: median(&|r| r.quantile_us(0.99)),
        p999_us: median(&|r| r.quantile_us(0.999)),
        max_us: median(&|r| r.quantile_us(1.0)),
        achieved_per_s: median(&|r| r.achieved_per_s),
        rounds_p50_us: runs.iter().map(|r| r.quantile_us(0.50)).collect(),
        rounds_p99_us: runs.iter().map(|r| r.quantile_us(0.99)).collect(),
    }
}

fn verdict(ok: bool) -> &'static str {
    if ok {
        "PASS"
    } else {
        "FAIL"
    }
}

fn print_row(name: &str, s: &Summary) {
    println!(
        "  {name:<28} p50 {:>8.1} µs  p99 {:>8.1} µs  p99.9 {:>8.1} µs  max {:>9.1} µs  ({:.0}/s)",
        s.p50_us, s.p99_us, s.p999_us, s.max_us, s.achieved_per_s
    );
}

fn json_of(s: &Summary) -> String {
    let list = |v: &[f64]| {
        v.iter()
            .map(|x| format!("{x:.2}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    format!(
        "{{\"latency_us_p50\": {:.2}, \"latency_us_p99\": {:.2}, \"latency_us_p999\": {:.2}, \"latency_us_max\": {:.2}, \"achieved_rate_per_s\": {:.0}, \"rounds_p50_us\": [{}], \"rounds_p99_us\": [{}]}}",
        s.p50_us,
        s.p99_us,
        s.p999_us,
        s.max_us,
        s.achieved_per_s,
        list(&s.rounds_p50_us),
        list(&s.rounds_p99_us)
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

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let filters: Vec<&String> = args.iter().filter(|a| !a.starts_with('-')).collect();
    if !filters.is_empty()
        && !filters
            .iter()
            .any(|f| "consumer_e2e_latency".contains(f.as_str()))
    {
        return;
    }
    // `cargo bench` passes --bench; `cargo test` runs bench targets without it: a smoke run.
    let bench = args.iter().any(|a| a == "--bench");
    let (records, rounds) = if bench {
        ((RATE_PER_S * 1.5) as usize, ROUNDS)
    } else {
        (2_000, 1)
    };
    let (mut silt, mut append, mut channel) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..rounds {
        channel.push(channel_run(records));
        silt.push(silt_run(records, Writes::Producer));
        append.push(silt_run(records, Writes::Append));
    }
    let (silt, append, channel) = (summarize(&silt), summarize(&append), summarize(&channel));
    println!(
        "consumer_e2e_latency: send → poll at {:.0} records/s, 100-byte values, 1 partition, \
         linger.ms=0, acks=1 ({records} records a round, median of {rounds} rounds)",
        RATE_PER_S
    );
    print_row("silt producer → consumer", &silt);
    print_row("silt Log::append → consumer", &append);
    print_row("crossbeam channel (baseline)", &channel);
    println!(
        "  targets: p50 ≤ {TARGET_P50_US} µs: {}, p99 ≤ {TARGET_P99_US} µs: {}",
        verdict(silt.p50_us <= TARGET_P50_US),
        verdict(silt.p99_us <= TARGET_P99_US)
    );
    if !bench {
        println!("\n(smoke run: pass --bench, as `cargo bench` does, for the real figures)");
        return;
    }
    let json = format!(
        "{{\n  \"rate_per_s\": {RATE_PER_S:.0},\n  \"records_per_round\": {records},\n  \"rounds\": {rounds},\n  \"silt\": {},\n  \"silt_append\": {},\n  \"crossbeam_channel\": {},\n  \"target_latency_us_p50\": {TARGET_P50_US},\n  \"target_latency_us_p99\": {TARGET_P99_US}\n}}\n",
        json_of(&silt),
        json_of(&append),
        json_of(&channel)
    );
    let path = target_dir().join("consumer_e2e_latency.json");
    match std::fs::write(&path, json) {
        Ok(()) => println!("\nwrote {}", path.display()),
        Err(e) => eprintln!("\ncould not write {}: {e}", path.display()),
    }
}
