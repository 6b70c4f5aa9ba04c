//! silt side by side with the peers a user would pick instead, and with the machine's own
//! limits, in one run (issue 6, "Side by side with the peers").
//!
//! ```text
//! cargo bench -p silt-benches --bench compare              # the full run, a few minutes
//! cargo bench -p silt-benches --bench compare -- --quick   # tiny sizes, a smoke run
//! SILT_COMPARE_QUICK=1 cargo bench -p silt-benches --bench compare
//! cargo bench -p silt-benches --bench compare -- --only durable  # some workloads only
//! ```
//!
//! Workloads, each on the same record values (text-like, from [`Values`]) for every system:
//!
//! - **append** 100-byte and 1 KiB records into the page cache: silt's producer with `acks=1`
//!   and its defaults (one partition, `batch.size` 16384, `linger.ms` 5); silt's
//!   `Log::append` of batches of 100 records built beforehand (the engine alone, no producer);
//!   the `commitlog` crate appending `MessageBuf`s of 100; fjall used as a queue (one
//!   keyspace, big-endian u64 sequence numbers as keys, one write batch of 100 per commit,
//!   which fjall writes to its journal with `write()`); and the raw limits, memcpy of the
//!   value bytes into memory and `write()` of them, 100 records a call, into a fresh file.
//! - **read** them back: silt's `Consumer::poll` (standalone, `assign`) and `Log::fetch` of
//!   1 MiB, both checking every batch's CRC-32C; commitlog's `read` of 1 MiB (it does not
//!   check its hashes unless asked); a fjall range scan from key 0; memcpy of the value
//!   bytes; `read()` of them from a file in the page cache, 1 MiB a call. Every reader
//!   touches every value (its length and first byte, summed and checked against the input).
//! - **durable append**, each batch of 100 records synced before the next: silt's producer
//!   with `acks=all` and `flush()` after every 100 sends; `Log::append` + `flush_up_to`;
//!   commitlog's append + `flush()` + `fdatasync` of its segment file (its `flush()` alone
//!   msyncs the offset index and leaves the segment in the page cache: the row without the
//!   fdatasync is shown too, marked not durable, and is not a "best peer"); fjall's commit
//!   with `PersistMode::SyncData`; and `write()` + `fdatasync` of the same bytes, into a
//!   growing file (what commitlog and fjall do: every sync commits the journal for the new
//!   size) and over blocks written beforehand (the raw limit: a sync that writes data alone).
//!
//! Every cell is the median of several repetitions, systems taking turns within each
//! repetition (in an order rotated by one each time) so that the load other processes put on
//! this shared machine, and the disk work one system's deletion leaves, fall on all of them
//! alike. Writers start each repetition in a fresh directory after an untimed sync(2);
//! readers read the data their own writer left (fjall's memtable flushed to tables first).
//! The timed region of a writer ends when its last append (or `flush()`) returns; opening,
//! closing, checking and deleting are not timed.
//!
//! Output: a table on stdout (records/s, MB/s where MB is 10^6 bytes of record values, the
//! ratio to the best of commitlog and fjall, and the ratio to the workload's raw limit:
//! `write()` for appends, memcpy for reads, `write()` + `fdatasync` over written blocks for
//! durable appends), and
//! the same as `target/compare/compare.{json,md,svg}` (`target/compare/quick/` for a quick
//! run and `target/compare/partial/` for an `--only` one, so that neither overwrites a full
//! result). Run as a test (`cargo test --benches`, which passes no `--bench`) it makes a
//! quick run.

mod machine;
mod peers;
mod raw;
mod report;
mod silt;
mod svg;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use silt_benches::produce::{settle_disk, Values};

use report::{Report, Row, WorkloadResult};

/// Records per append for commitlog, fjall, silt's `Log::append` and the raw writes; also
/// the records between two syncs of the durable workload.
pub const BATCH_RECORDS: usize = 100;

/// Bytes a reader asks for at a time (Kafka's `max.partition.fetch.bytes`).
pub const FETCH_BYTES: usize = 1 << 20;

/// Seed of the record values (the producer benches' values, so figures line up).
const SEED: u64 = 0x5117_0006;

/// What one run measures: sizes and repetitions of every workload.
#[derive(Debug, Clone, Copy)]
struct Plan {
    quick: bool,
    small_records: usize,
    large_records: usize,
    durable_small_records: usize,
    durable_large_records: usize,
    /// Repetitions of the append and read cells.
    reps: usize,
    /// Repetitions of the durable cells (each takes seconds).
    durable_reps: usize,
}

impl Plan {
    /// 300 MB of 100-byte values and 400 MB of 1 KiB ones: each append takes 0.1-4 s here
    /// depending on the system. A sync takes from 40 µs to 3 ms on this shared virtual disk,
    /// and which it is drifts over seconds with what other processes write: the durable
    /// workloads take many turns of 300 and 200 syncs (10 ms to 1 s each) rather than a few
    /// long ones, so that every system sees the disk in each of its moods.
    const FULL: Plan = Plan {
        quick: false,
        small_records: 3_000_000,
        large_records: 400_000,
        durable_small_records: 30_000,
        durable_large_records: 20_000,
        reps: 7,
        durable_reps: 7,
    };

    /// Enough to run every line of every system once, in seconds.
    const QUICK: Plan = Plan {
        quick: true,
        small_records: 20_000,
        large_records: 5_000,
        durable_small_records: 2_000,
        durable_large_records: 1_000,
        reps: 3,
        durable_reps: 3,
    };

    /// The workloads, in the order they run.
    fn workloads(&self) -> [Workload; 6] {
        let w = |op, record_bytes, records, reps| Workload {
            op,
            record_bytes,
            records,
            reps,
        };
        [
            w(Op::Append, 100, self.small_records, self.reps),
            w(Op::Append, 1024, self.large_records, self.reps),
            w(Op::Read, 100, self.small_records, self.reps),
            w(Op::Read, 1024, self.large_records, self.reps),
            w(
                Op::Durable,
                100,
                self.durable_small_records,
                self.durable_reps,
            ),
            w(
                Op::Durable,
                1024,
                self.durable_large_records,
                self.durable_reps,
            ),
        ]
    }
}

/// The command line (and environment).
#[derive(Debug, Clone)]
struct Options {
    plan: Plan,
    /// Runs only the workloads whose name contains this (`--only durable`).
    only: Option<String>,
}

impl Options {
    /// Quick when asked (`--quick`, `SILT_COMPARE_QUICK`) or when run as a test (`cargo test
    /// --benches` passes no `--bench`): a full run belongs to `cargo bench` alone. `--only
    /// TEXT` (or `SILT_COMPARE_ONLY`) keeps the workloads whose name contains TEXT.
    fn from_env() -> Options {
        let args: Vec<String> = std::env::args().skip(1).collect();
        let env_quick =
            std::env::var("SILT_COMPARE_QUICK").is_ok_and(|v| !v.is_empty() && v != "0");
        let as_test = !args.iter().any(|a| a == "--bench");
        let quick = env_quick || as_test || args.iter().any(|a| a == "--quick");
        let only = args
            .iter()
            .position(|a| a == "--only")
            .and_then(|i| args.get(i + 1).cloned())
            .or_else(|| std::env::var("SILT_COMPARE_ONLY").ok())
            .filter(|o| !o.is_empty() && !o.starts_with("--"));
        Options {
            plan: if quick { Plan::QUICK } else { Plan::FULL },
            only,
        }
    }

    /// Where the report goes: `target/compare/`, or a subdirectory for a quick or partial
    /// run so that the full result is never overwritten by a lesser one.
    fn out_dir(&self) -> PathBuf {
        let dir = target_dir().join("compare");
        match (self.plan.quick, self.only.is_some()) {
            (false, false) => dir,
            (true, false) => dir.join("quick"),
            (_, true) => dir.join("partial"),
        }
    }
}

/// What a workload does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Append,
    Read,
    Durable,
}

/// One workload: an operation on `records` records of `record_bytes`-byte values.
#[derive(Debug, Clone, Copy)]
pub struct Workload {
    pub op: Op,
    pub record_bytes: usize,
    pub records: usize,
    pub reps: usize,
}

impl Workload {
    pub fn name(&self) -> String {
        let size = match self.record_bytes {
            1024 => "1 KiB".to_string(),
            b => format!("{b} B"),
        };
        match self.op {
            Op::Append => format!("append {size}"),
            Op::Read => format!("read {size}"),
            Op::Durable => format!("durable append {size}"),
        }
    }
}

/// The records of a workload, shared by every system.
pub struct Input {
    pub values: Values,
    /// The values of records `0..records`, back to back (what the raw baselines copy and
    /// write).
    pub payload: Vec<u8>,
    pub record_bytes: usize,
    pub records: usize,
    /// What a reader touching every value sums: [`touch`] over all of them.
    pub checksum: u64,
}

impl Input {
    fn new(record_bytes: usize, records: usize) -> Input {
        let values = Values::generate(record_bytes, SEED ^ record_bytes as u64);
        let mut payload = Vec::with_capacity(records * record_bytes);
        let mut checksum = 0;
        for i in 0..records {
            let value = values.get(i);
            payload.extend_from_slice(value);
            checksum += touch(value);
        }
        Input {
            values,
            payload,
            record_bytes,
            records,
            checksum,
        }
    }

    /// The payload bytes of a batch of [`BATCH_RECORDS`] records.
    pub fn batch_bytes(&self) -> usize {
        BATCH_RECORDS * self.record_bytes
    }
}

/// What a reader does with each value: reads its length and its first byte.
#[inline]
pub fn touch(value: &[u8]) -> u64 {
    value.len() as u64 + u64::from(value.first().copied().unwrap_or(0))
}

/// One system's writer: given a fresh directory, writes the workload's records and returns
/// the timed part.
pub struct Writer<'a> {
    pub row: Row,
    pub run: Box<dyn FnMut(&Path) -> Duration + 'a>,
}

/// Reads the whole data set once, returning the time it took.
pub type ReadAll<'a> = Box<dyn FnMut() -> Duration + 'a>;

/// One system's reader: set up once (untimed) in its directory, then called once per
/// repetition.
pub struct Reader<'a> {
    pub row: Row,
    pub setup: Box<dyn FnOnce(&Path) -> ReadAll<'a> + 'a>,
}

/// The order systems take their turns in repetition `rep`: rotated by one each time, so
/// that no system always follows the same one (and, say, the disk work its deletion left).
fn turns(rep: usize, systems: usize) -> impl Iterator<Item = usize> {
    (0..systems).map(move |i| (i + rep) % systems)
}

/// Runs `writers` `reps` times each, taking turns, each time in a fresh directory under
/// `data_root` after an untimed sync(2).
fn run_writers(workload: &Workload, mut writers: Vec<Writer<'_>>, data_root: &Path) -> Vec<Row> {
    for rep in 0..workload.reps {
        for i in turns(rep, writers.len()) {
            let writer = &mut writers[i];
            let dir = tempfile::tempdir_in(data_root).expect("data dir");
            settle_disk();
            let took = (writer.run)(dir.path());
            drop(dir);
            progress(workload, &writer.row, rep, took);
            writer.row.seconds.push(took.as_secs_f64());
        }
    }
    writers.into_iter().map(|w| w.row).collect()
}

/// Sets every reader up, then reads `reps` times with each, taking turns.
fn run_readers(workload: &Workload, readers: Vec<Reader<'_>>, data_root: &Path) -> Vec<Row> {
    let dir = tempfile::tempdir_in(data_root).expect("data dir");
    let mut ready = Vec::new();
    for (i, reader) in readers.into_iter().enumerate() {
        let started = Instant::now();
        let sub = dir.path().join(i.to_string());
        std::fs::create_dir_all(&sub).expect("reader dir");
        let read = (reader.setup)(&sub);
        eprintln!(
            "{}: {} set up in {:.2} s",
            workload.name(),
            reader.row.system,
            started.elapsed().as_secs_f64()
        );
        ready.push((reader.row, read));
    }
    settle_disk();
    for rep in 0..workload.reps {
        for i in turns(rep, ready.len()) {
            let (row, read) = &mut ready[i];
            let took = read();
            progress(workload, row, rep, took);
            row.seconds.push(took.as_secs_f64());
        }
    }
    // The readers (engines, databases) close before their directory goes.
    ready.into_iter().map(|(row, _)| row).collect()
}

fn progress(workload: &Workload, row: &Row, rep: usize, took: Duration) {
    eprintln!(
        "{}: {} rep {}/{}: {:.3} s",
        workload.name(),
        row.system,
        rep + 1,
        workload.reps,
        took.as_secs_f64()
    );
}

/// Every system on one workload.
fn run_workload(workload: Workload, data_root: &Path) -> WorkloadResult {
    let input = Input::new(workload.record_bytes, workload.records);
    let rows = match workload.op {
        Op::Append => {
            let mut writers = silt::append_writers(&input);
            writers.extend(peers::append_writers(&input));
            writers.extend(raw::append_writers(&input));
            run_writers(&workload, writers, data_root)
        }
        Op::Durable => {
            let mut writers = silt::durable_writers(&input);
            writers.extend(peers::durable_writers(&input));
            writers.extend(raw::durable_writers(&input));
            run_writers(&workload, writers, data_root)
        }
        Op::Read => {
            let mut readers = silt::readers(&input);
            readers.extend(peers::readers(&input));
            readers.extend(raw::readers(&input));
            run_readers(&workload, readers, data_root)
        }
    };
    WorkloadResult::new(workload, rows)
}

/// The target directory: `CARGO_TARGET_DIR`, else the ancestor of this executable that
/// holds cargo's `CACHEDIR.TAG`, else the workspace's `target/`.
fn target_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(dir);
    }
    if let Ok(exe) = std::env::current_exe() {
        if let Some(dir) = exe.ancestors().find(|d| d.join("CACHEDIR.TAG").is_file()) {
            return dir.to_path_buf();
        }
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../target")
}

fn main() {
    let options = Options::from_env();
    let out_dir = options.out_dir();
    std::fs::create_dir_all(&out_dir).expect("create the output directory");
    let data_root = tempfile::Builder::new()
        .prefix("data-")
        .tempdir_in(&out_dir)
        .expect("data directory");
    let machine = machine::Machine::detect(data_root.path());
    eprintln!("compare: {machine}; data in {}", data_root.path().display());
    let started = Instant::now();

    let results = options
        .plan
        .workloads()
        .into_iter()
        .filter(|w| {
            options
                .only
                .as_ref()
                .is_none_or(|o| w.name().contains(o.as_str()))
        })
        .map(|workload| run_workload(workload, data_root.path()))
        .collect();

    let report = Report {
        machine: machine.finish(),
        quick: options.plan.quick,
        elapsed_s: started.elapsed().as_secs_f64(),
        results,
    };
    let written = report.write(&out_dir).expect("write the report files");
    println!("{}\n", report.text_table());
    for path in written {
        println!("wrote {}", path.display());
    }
}
