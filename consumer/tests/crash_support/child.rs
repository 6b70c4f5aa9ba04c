//! The child process of the crash campaign: produces, cleans, enforces retention, deletes
//! records, reads everything and commits group offsets all at once, until the parent kills
//! it, saying on stdout what was acknowledged.
//!
//! Every line it prints starts with `@@` (the test harness may have printed on the same line
//! before it):
//!
//! - `READY`: the engine is open and the topics exist;
//! - `ACK <topic> <partition> <offset> <id>`: a send returned its offset;
//! - `BEGIN <op>` (`BEGIN delrec <partition>`): a maintenance operation starts;
//! - `DELREC <partition> <before> <new start>`: `delete_records` returned;
//! - `TRY <n> <topic>/<partition>=<offset>,…` and `COMMITTED <n>`: before `commit_sync`, and
//!   once it returned;
//! - `SCANNED <records>`: the concurrent reader finished a pass;
//! - `BUG <what>`: a record was read back wrong, or a thread panicked; the child then exits
//!   with status 86.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use silt_consumer::{ConsumerConfig, ConsumerExt, OffsetReset, TopicPartition};
use silt_engine::config::{Acks, ProducerConfig};
use silt_engine::producer::ProducerRecord;
use silt_engine::{Engine, Producer};
use silt_segment::batch::{Compression, RecordHeader};

use super::records::{
    check_record, child_config, key, read_log, topics, value, Id, ReadError, Rng, COMPACTED,
    EVENTS, EVENTS_PARTITIONS, GROUP, ID_HEADER, PRODUCER_THREADS,
};

/// Exit status of a child that read a record back wrong or panicked.
pub const BUG_EXIT: i32 = 86;
/// A child the parent forgot to kill stops by itself after this long.
const LIFETIME: Duration = Duration::from_secs(300);

/// What the parent tells the child, through the environment.
#[derive(Debug, Clone, Copy)]
pub struct ChildArgs {
    pub acks: Acks,
    pub cycle: u64,
    pub seed: u64,
}

/// Counts acknowledged records, so maintenance runs in step with production (a bounded
/// wait on a condition, never a sleep).
#[derive(Default)]
struct Progress {
    acked: Mutex<u64>,
    changed: Condvar,
}

impl Progress {
    fn add(&self, n: u64) {
        *self.acked.lock().unwrap() += n;
        self.changed.notify_all();
    }

    /// Waits until `target` records were acknowledged; false once `deadline` passed.
    fn wait_for(&self, target: u64, deadline: Instant) -> bool {
        let mut acked = self.acked.lock().unwrap();
        while *acked < target {
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            acked = self.changed.wait_timeout(acked, deadline - now).unwrap().0;
        }
        true
    }
}

fn bug(what: String) -> ! {
    println!("@@BUG {what}");
    std::process::exit(BUG_EXIT);
}

/// Runs the child until killed (or [`LIFETIME`]).
pub fn run(dir: &Path, args: ChildArgs) {
    // A panic in any thread is a finding: the others would go on and hide it.
    let report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        report(info);
        bug(format!("panic: {info}"));
    }));
    let deadline = Instant::now() + LIFETIME;
    let engine = Engine::open(dir, child_config()).expect("child: open engine");
    for (name, topic) in topics() {
        if !engine.list_topics().iter().any(|t| t == name) {
            engine.create_topic(topic).expect("child: create topic");
        }
    }
    println!("@@READY");
    let progress = Progress::default();
    let mut rng = Rng::new(args.seed);
    std::thread::scope(|s| {
        for thread in 0..PRODUCER_THREADS {
            let compression = if thread % 2 == 0 {
                Compression::None
            } else {
                Compression::Lz4
            };
            let producer = engine
                .producer(ProducerConfig {
                    acks: args.acks,
                    compression_type: compression,
                    linger_ms: rng.below(3),
                    ..ProducerConfig::default()
                })
                .expect("child: producer");
            let (progress, rng) = (&progress, Rng::new(rng.next()));
            s.spawn(move || produce(&producer, args.cycle, thread, rng, progress, deadline));
        }
        let (engine_ref, progress, maintenance) = (&engine, &progress, Rng::new(rng.next()));
        s.spawn(move || maintain(engine_ref, maintenance, progress, deadline));
        s.spawn(move || scan(engine_ref, progress, deadline));
        consume_and_commit(&engine, Rng::new(rng.next()), deadline);
    });
}

/// Sends bursts of records, waits for each burst's acknowledgments and reports them.
fn produce(
    producer: &Producer,
    cycle: u64,
    thread: u64,
    mut rng: Rng,
    progress: &Progress,
    deadline: Instant,
) {
    let mut counter = 0;
    while Instant::now() < deadline {
        let burst = 1 + rng.below(24);
        let mut deliveries = Vec::new();
        for _ in 0..burst {
            let id = Id::new(cycle, thread, counter);
            counter += 1;
            let topic = if rng.below(4) == 0 { COMPACTED } else { EVENTS };
            let (k, v, id_bytes) = (key(topic, id), value(topic, id), id.0.to_be_bytes());
            let headers = [RecordHeader {
                key: ID_HEADER,
                value: Some(&id_bytes),
            }];
            let mut record = ProducerRecord::new(topic).key(&k).headers(&headers);
            record.value = v.as_deref();
            if topic == EVENTS {
                record = record.partition(rng.below(u64::from(EVENTS_PARTITIONS)) as u32);
            }
            let delivery = producer.send(record).expect("child: send");
            deliveries.push((topic, id, delivery));
        }
        for (topic, id, delivery) in deliveries {
            let m = delivery.wait().expect("child: delivery");
            println!("@@ACK {topic} {} {} {id}", m.partition, m.offset);
        }
        progress.add(burst);
    }
}

/// Maintenance operations, one every hundred or so acknowledged records: compaction,
/// retention, `delete_records`, a full flush (which writes the checkpoints).
fn maintain(engine: &Engine, mut rng: Rng, progress: &Progress, deadline: Instant) {
    let mut target = 0;
    loop {
        target += 20 + rng.below(200);
        if !progress.wait_for(target, deadline) {
            return;
        }
        match rng.below(10) {
            0..=3 => {
                println!("@@BEGIN clean");
                engine.clean_logs().expect("child: clean_logs");
            }
            4..=6 => {
                println!("@@BEGIN retention");
                engine
                    .enforce_retention()
                    .expect("child: enforce_retention");
            }
            7..=8 => {
                let p = rng.below(u64::from(EVENTS_PARTITIONS)) as u32;
                let log = engine.log(EVENTS, p).expect("child: log");
                let start = log.log_start_offset();
                let end = log.log_end_offset().expect("child: log end");
                let before = start + (end - start) * rng.below(4) as i64 / 10;
                println!("@@BEGIN delrec {p}");
                let new_start = engine
                    .delete_records(EVENTS, p, before)
                    .expect("child: delete_records");
                println!("@@DELREC {p} {before} {new_start}");
            }
            _ => {
                println!("@@BEGIN flush");
                engine.flush().expect("child: flush");
            }
        }
    }
}

/// A reader walking every partition from its log start to its end while everything else
/// runs (rolls, retention, cleaning and its segment swaps), every few hundred acknowledged
/// records: no batch it reads may be partial or corrupt, no record other than one sent.
/// Says `SCANNED <records>` after each pass.
fn scan(engine: &Engine, progress: &Progress, deadline: Instant) {
    let mut target = 0;
    loop {
        target += 300;
        if !progress.wait_for(target, deadline) {
            return;
        }
        let mut records = 0u64;
        for tp in super::all_partitions() {
            let log = engine.log(&tp.topic, tp.partition).expect("child: log");
            let end = log.log_end_offset().expect("child: log end");
            let mut from = log.log_start_offset();
            loop {
                match read_log(&log, from, end, |offset, _| {
                    records += 1;
                    from = offset + 1;
                }) {
                    Ok(_) => break,
                    // Retention deleted what was to be read next: go on from the new start.
                    Err(ReadError::BelowLogStart { log_start }) => from = log_start,
                    Err(ReadError::Bad(what)) => bug(format!("scan: {what}")),
                }
            }
        }
        println!("@@SCANNED {records}");
    }
}

/// One consumer of every partition, in the group: reads everything, checks every record,
/// and commits its positions every few polls.
fn consume_and_commit(engine: &Engine, mut rng: Rng, deadline: Instant) {
    let config = ConsumerConfig::with_group(GROUP)
        .enable_auto_commit(false)
        .auto_offset_reset(OffsetReset::Earliest);
    let mut consumer = engine.consumer(config).expect("child: consumer");
    let partitions = super::all_partitions();
    consumer.assign(&partitions).expect("child: assign");
    let mut last_read: BTreeMap<TopicPartition, i64> = BTreeMap::new();
    let mut commits = 0u64;
    while Instant::now() < deadline {
        let records = consumer
            .poll(Duration::from_millis(20))
            .expect("child: poll");
        for r in records.iter() {
            if let Err(e) = check_record(r.topic, r.partition, r.key, r.value, r.headers) {
                bug(format!(
                    "poll {}/{} offset {}: {e}",
                    r.topic, r.partition, r.offset
                ));
            }
            let tp = TopicPartition::new(r.topic, r.partition);
            let last = last_read.entry(tp).or_insert(-1);
            if r.offset <= *last {
                bug(format!(
                    "poll {}/{}: offset {} after {}",
                    r.topic, r.partition, r.offset, last
                ));
            }
            *last = r.offset;
        }
        if rng.below(4) != 0 {
            continue;
        }
        // Resolving every position first makes `commit_sync` commit all of them, so the
        // line below says exactly what it commits.
        let mut listed = Vec::new();
        for tp in &partitions {
            let position = consumer.position(tp).expect("child: position");
            listed.push(format!("{}/{}={position}", tp.topic, tp.partition));
        }
        commits += 1;
        println!("@@TRY {commits} {}", listed.join(","));
        consumer.commit_sync().expect("child: commit_sync");
        println!("@@COMMITTED {commits}");
    }
}
