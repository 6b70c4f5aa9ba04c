//! `silt perf consume`: Kafka's `ConsumerPerformance`.
//!
//! K consumers of one group (Kafka's default: a fresh `perf-consumer-N` group, so a run
//! reads from the start) poll the topic until `--messages` records were read between
//! them, or until nothing arrived for `--timeout` ms. The summary is Kafka's CSV header and
//! line; its dates are UTC. `rebalance.time.ms` is the time until every consumer had its
//! first assignment, `fetch.time.ms` the rest of the run.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};
use silt::{
    Consumer, ConsumerConfig, ConsumerExt, Engine, OffsetReset, RebalanceListener, TopicPartition,
};

use super::stats::{self, MB};
use crate::cli::{CliError, CliResult, Global};

/// How long one poll waits before the loop checks the stop conditions again.
const POLL_WAIT: Duration = Duration::from_millis(100);

/// Arguments of `silt perf consume`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The topic.
    #[arg(long)]
    topic: String,
    /// Records to read, over all consumers.
    #[arg(long, value_name = "N")]
    messages: u64,
    /// The consumer group [default: a new perf-consumer-N group].
    #[arg(long, value_name = "G")]
    group: Option<String>,
    /// Consumers in the group, each on its own thread.
    #[arg(long, value_name = "K", default_value_t = 1)]
    consumers: usize,
    /// Give up when no record arrives for this long (ms).
    #[arg(long, value_name = "MS", default_value_t = 10_000)]
    timeout: u64,
    /// Any other consumer setting, with its Kafka name (repeatable).
    #[arg(long = "consumer-prop", value_name = "KEY=VALUE")]
    consumer_props: Vec<String>,
    /// Print one JSON object instead of Kafka's summary.
    #[arg(long)]
    json: bool,
}

/// What the consumer threads share.
struct Shared {
    target: u64,
    consumers: usize,
    timeout: Duration,
    start: Instant,
    consumed: AtomicU64,
    bytes: AtomicU64,
    /// Microseconds from the start to the last record any consumer got.
    last_record_us: AtomicU64,
    /// Consumers that have had their first assignment, and when the last one did (µs).
    joined: AtomicUsize,
    group_formed_us: AtomicU64,
    /// Microseconds from the start to the end of the last consumer's loop.
    end_us: AtomicU64,
    timed_out: AtomicBool,
}

impl Shared {
    fn micros(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_micros()).unwrap_or(u64::MAX)
    }

    fn done(&self) -> bool {
        self.consumed.load(Ordering::Relaxed) >= self.target
            || self.timed_out.load(Ordering::Relaxed)
    }
}

/// Notes each consumer's first assignment, for `rebalance.time.ms`.
struct JoinListener {
    shared: Arc<Shared>,
    joined: bool,
}

impl RebalanceListener for JoinListener {
    fn on_partitions_assigned(&mut self, _: &mut Consumer, _: &[TopicPartition]) {
        if !self.joined {
            self.joined = true;
            if self.shared.joined.fetch_add(1, Ordering::AcqRel) + 1 == self.shared.consumers {
                self.shared
                    .group_formed_us
                    .store(self.shared.micros(), Ordering::Release);
            }
        }
    }
}

fn consumer_config(args: &Args, group: &str) -> CliResult<ConsumerConfig> {
    let mut config = ConsumerConfig::with_group(group).auto_offset_reset(OffsetReset::Earliest);
    for prop in &args.consumer_props {
        let (key, value) = prop.split_once('=').ok_or_else(|| {
            CliError::Usage(format!("--consumer-prop {prop}: expected KEY=VALUE"))
        })?;
        config
            .set(key, value)
            .map_err(|e| CliError::Usage(format!("--consumer-prop {prop}: {e}")))?;
    }
    Ok(config)
}

/// A group name no earlier run used: Kafka's `perf-consumer-<random>`.
fn fresh_group() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!("perf-consumer-{}", (nanos ^ std::process::id()) % 100_000)
}

/// Runs `silt perf consume`.
pub fn run(global: &Global, args: Args) -> CliResult<()> {
    if args.consumers == 0 {
        return Err(CliError::Usage("--consumers must be at least 1".into()));
    }
    let group = args.group.clone().unwrap_or_else(fresh_group);
    let config = consumer_config(&args, &group)?;
    let engine = global.open_engine()?;
    engine.describe_topic(&args.topic)?;
    let shared = Arc::new(Shared {
        target: args.messages,
        consumers: args.consumers,
        timeout: Duration::from_millis(args.timeout),
        start: Instant::now(),
        consumed: AtomicU64::new(0),
        bytes: AtomicU64::new(0),
        last_record_us: AtomicU64::new(0),
        joined: AtomicUsize::new(0),
        group_formed_us: AtomicU64::new(0),
        end_us: AtomicU64::new(0),
        timed_out: AtomicBool::new(false),
    });
    let start_time = SystemTime::now();
    let bar = stats::progress(args.messages, "consumed");
    let stop = AtomicBool::new(false);
    std::thread::scope(|scope| -> CliResult<()> {
        scope.spawn(|| stats::follow(&bar, &shared.consumed, &stop));
        let threads: Vec<_> = (0..args.consumers)
            .map(|_| {
                let (engine, config, topic) = (&engine, config.clone(), args.topic.as_str());
                let shared = Arc::clone(&shared);
                scope.spawn(move || consume(engine, config, topic, shared))
            })
            .collect();
        let mut first_error = None;
        for thread in threads {
            let result = thread
                .join()
                .unwrap_or_else(|_| Err(CliError::Failed("a consumer thread panicked".into())));
            if let Err(e) = result {
                // Stop the others: the run cannot complete.
                shared.timed_out.store(true, Ordering::Relaxed);
                first_error.get_or_insert(e);
            }
        }
        stop.store(true, Ordering::Release);
        first_error.map_or(Ok(()), Err)
    })?;
    bar.finish_and_clear();
    engine.close()?;
    report(&args, &group, &shared, start_time)
}

/// One consumer's loop.
fn consume(
    engine: &Engine,
    config: ConsumerConfig,
    topic: &str,
    shared: Arc<Shared>,
) -> CliResult<()> {
    let mut consumer = engine.consumer(config)?;
    let listener = JoinListener {
        shared: Arc::clone(&shared),
        joined: false,
    };
    consumer.subscribe(&[topic], listener)?;
    while !shared.done() {
        let records = consumer.poll(POLL_WAIT)?;
        if records.is_empty() {
            let last = Duration::from_micros(shared.last_record_us.load(Ordering::Relaxed));
            if shared.start.elapsed().saturating_sub(last) > shared.timeout {
                shared.timed_out.store(true, Ordering::Relaxed);
            }
            continue;
        }
        let (mut count, mut bytes) = (0u64, 0u64);
        for record in records.iter() {
            count += 1;
            bytes +=
                (record.key.map_or(0, <[u8]>::len) + record.value.map_or(0, <[u8]>::len)) as u64;
        }
        shared
            .last_record_us
            .fetch_max(shared.micros(), Ordering::Relaxed);
        shared.bytes.fetch_add(bytes, Ordering::Relaxed);
        shared.consumed.fetch_add(count, Ordering::Relaxed);
    }
    shared.end_us.fetch_max(shared.micros(), Ordering::Relaxed);
    consumer.close()?;
    Ok(())
}

/// Prints Kafka's summary (or the JSON object); fails when fewer records than asked came.
fn report(args: &Args, group: &str, shared: &Shared, start_time: SystemTime) -> CliResult<()> {
    let consumed = shared.consumed.load(Ordering::Relaxed);
    let mb = shared.bytes.load(Ordering::Relaxed) as f64 / MB;
    let elapsed = Duration::from_micros(shared.end_us.load(Ordering::Relaxed));
    let rebalance =
        Duration::from_micros(shared.group_formed_us.load(Ordering::Relaxed)).min(elapsed);
    let fetch = elapsed.saturating_sub(rebalance);
    let end_time = start_time + elapsed;
    let (mb_per_sec, per_sec) = (
        stats::per_second(mb, elapsed),
        stats::per_second(consumed as f64, elapsed),
    );
    let (fetch_mb_per_sec, fetch_per_sec) = (
        stats::per_second(mb, fetch),
        stats::per_second(consumed as f64, fetch),
    );
    if args.json {
        let object = json!({
            "records": consumed,
            "records_per_sec": per_sec,
            "mb_per_sec": mb_per_sec,
            "latency_ms": Value::Null,
            "mb": mb,
            "elapsed_ms": elapsed.as_secs_f64() * 1000.0,
            "rebalance_time_ms": rebalance.as_millis() as u64,
            "fetch_time_ms": fetch.as_millis() as u64,
            "fetch_mb_per_sec": fetch_mb_per_sec,
            "fetch_records_per_sec": fetch_per_sec,
            "group": group,
            "consumers": args.consumers,
        });
        stats::print_line(&object.to_string())?;
    } else {
        stats::print_line(
            "start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec, \
             rebalance.time.ms, fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec",
        )?;
        stats::print_line(&format!(
            "{}, {}, {mb:.4}, {mb_per_sec:.4}, {consumed}, {per_sec:.4}, {}, {}, {fetch_mb_per_sec:.4}, {fetch_per_sec:.4}",
            stats::kafka_date(start_time),
            stats::kafka_date(end_time),
            rebalance.as_millis(),
            fetch.as_millis(),
        ))?;
    }
    if consumed < args.messages {
        return Err(CliError::Failed(format!(
            "consumed {consumed} of {} messages: none arrived for {} ms (--timeout)",
            args.messages, args.timeout
        )));
    }
    Ok(())
}
