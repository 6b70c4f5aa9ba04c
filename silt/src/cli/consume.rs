//! `silt consume`: Kafka's `kafka-console-consumer`.
//!
//! Records are printed as the console consumer's `DefaultMessageFormatter` prints them:
//! the optional fields `CreateTime:<ts>`, `Partition:<p>`, `Offset:<o>`, the headers
//! (`k:v,k:v` or `NO_HEADERS`) and the key, in that order, each followed by a tab, then the
//! value; a null key or value prints as `null`. `--json` prints one object per record
//! instead.
//!
//! With `--group`, offsets are committed by hand, never ahead of the output: a record's
//! offset is committed only after the line printing it was flushed to stdout (at-least-once
//! for whoever reads the output). Commits happen as records are printed (at most every
//! [`COMMIT_INTERVAL`]) and once more on exit, also on SIGINT and SIGTERM.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::time::{Duration, Instant};

use silt::batch::TimestampType;
use silt::{
    CommittedOffset, Consumer, ConsumerConfig, ConsumerError, ConsumerExt, ConsumerRecord, Engine,
    EngineError, NoopListener, OffsetReset, TopicPartition,
};

use super::{CliError, CliResult, Global};

/// How often offsets are committed while records keep coming.
const COMMIT_INTERVAL: Duration = Duration::from_millis(1000);

/// Longest a single poll waits, so that a signal or `--timeout-ms` is noticed soon.
const POLL_STEP: Duration = Duration::from_millis(100);

/// Arguments of `silt consume`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The topic.
    topic: String,
    /// Consume as a member of this consumer group, committing offsets as records are
    /// printed and on exit.
    #[arg(long, value_name = "G")]
    group: Option<String>,
    /// Start from the earliest record when there is no committed offset (or no group);
    /// otherwise only records produced from now on are printed.
    #[arg(long, conflicts_with = "offset")]
    from_beginning: bool,
    /// Read only this partition (no group management).
    #[arg(long, value_name = "P")]
    partition: Option<u32>,
    /// Where to start in --partition: an offset, `earliest` or `latest`.
    #[arg(long, value_name = "O", requires = "partition", value_parser = start_offset)]
    offset: Option<StartOffset>,
    /// Exit after printing N records.
    #[arg(long, value_name = "N")]
    max_messages: Option<u64>,
    /// Exit when no record arrives for T milliseconds.
    #[arg(long, value_name = "T")]
    timeout_ms: Option<u64>,
    /// Print the key (tab-separated, before the value).
    #[arg(long)]
    print_key: bool,
    /// Print `Partition:<p>`.
    #[arg(long)]
    print_partition: bool,
    /// Print `Offset:<o>`.
    #[arg(long)]
    print_offset: bool,
    /// Print `CreateTime:<ms>` (or `LogAppendTime:<ms>`).
    #[arg(long)]
    print_timestamp: bool,
    /// Print the headers as `k:v,k:v` (`NO_HEADERS` when there are none).
    #[arg(long)]
    print_headers: bool,
    /// Print one JSON object per record: topic, partition, offset, timestamp, key, value
    /// (UTF-8 strings, null when null) and headers (a list of {"key", "value"}).
    #[arg(
        long,
        conflicts_with_all = ["print_key", "print_partition", "print_offset", "print_timestamp", "print_headers"]
    )]
    json: bool,
}

/// `--offset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StartOffset {
    Earliest,
    Latest,
    At(i64),
}

fn start_offset(arg: &str) -> Result<StartOffset, String> {
    match arg {
        "earliest" => Ok(StartOffset::Earliest),
        "latest" => Ok(StartOffset::Latest),
        _ => arg
            .parse::<i64>()
            .ok()
            .filter(|o| *o >= 0)
            .map(StartOffset::At)
            .ok_or_else(|| format!("expected an offset >= 0, earliest or latest, got {arg:?}")),
    }
}

/// Runs `silt consume`.
pub fn run(global: &Global, args: Args) -> CliResult<()> {
    signals::install().map_err(|e| CliError::io("install signal handlers", e))?;
    let engine = global.open_engine()?;
    let result = consume(&engine, &args);
    let closed = engine.close();
    let printed = result?;
    closed?;
    let _ = writeln!(std::io::stderr(), "Processed a total of {printed} messages");
    Ok(())
}

/// Consumes until `--max-messages`, `--timeout-ms` or a signal; returns how many records
/// were printed.
fn consume(engine: &Engine, args: &Args) -> CliResult<u64> {
    let topic = engine.describe_topic(&args.topic)?;
    let partitions = topic.partitions.len() as u32;
    let format = Format {
        args,
        timestamp_type: match topic.config.message_timestamp_type {
            TimestampType::CreateTime => "CreateTime",
            TimestampType::LogAppendTime => "LogAppendTime",
        },
    };
    let mut config = match &args.group {
        Some(group) => ConsumerConfig::with_group(group.as_str()),
        None => ConsumerConfig::default(),
    };
    config.client_id = "console-consumer".into();
    config.enable_auto_commit = false;
    config.auto_offset_reset = if args.from_beginning {
        OffsetReset::Earliest
    } else {
        OffsetReset::Latest
    };
    let mut consumer = engine.consumer(config)?;
    match (args.partition, &args.group) {
        (Some(partition), _) => {
            if partition >= partitions {
                return Err(EngineError::UnknownPartition {
                    topic: args.topic.clone(),
                    partition,
                    partitions,
                }
                .into());
            }
            let tp = TopicPartition::new(args.topic.as_str(), partition);
            consumer.assign(std::slice::from_ref(&tp))?;
            match args.offset {
                Some(StartOffset::Earliest) => consumer.seek_to_beginning(&[])?,
                Some(StartOffset::Latest) => consumer.seek_to_end(&[])?,
                Some(StartOffset::At(offset)) => consumer.seek(&tp, offset)?,
                None => {}
            }
        }
        (None, Some(_)) => consumer.subscribe(&[args.topic.as_str()], NoopListener)?,
        (None, None) => {
            let all: Vec<TopicPartition> = (0..partitions)
                .map(|p| TopicPartition::new(args.topic.as_str(), p))
                .collect();
            consumer.assign(&all)?;
        }
    }
    let mut session = Session {
        consumer,
        grouped: args.group.is_some(),
        printed_through: BTreeMap::new(),
        returned: BTreeSet::new(),
        committed: BTreeMap::new(),
        last_commit: Instant::now(),
    };
    let outcome = session.run(args, &format);
    // Commit what was printed whatever ended the loop (a closed stdout included).
    let committed = session.commit(true);
    let closed = session.consumer.close();
    let printed = outcome?;
    committed?;
    closed?;
    Ok(printed)
}

/// A consumer and the offsets it printed, by partition of the one topic.
struct Session {
    consumer: Consumer,
    grouped: bool,
    /// Per partition, the offset after the last record written and flushed to stdout.
    printed_through: BTreeMap<u32, i64>,
    /// Partitions that returned records (printed or not): the others' positions are
    /// where they started, and are committed as they are, as Kafka's consumer does.
    returned: BTreeSet<u32>,
    /// What the last commit stored.
    committed: BTreeMap<u32, i64>,
    last_commit: Instant,
}

impl Session {
    fn run(&mut self, args: &Args, format: &Format<'_>) -> CliResult<u64> {
        let idle_limit = args.timeout_ms.map(Duration::from_millis);
        let max = args.max_messages.unwrap_or(u64::MAX);
        let mut out = std::io::BufWriter::new(std::io::stdout().lock());
        let mut printed = 0u64;
        let mut last_record = Instant::now();
        let mut pending = BTreeMap::new();
        while printed < max && !signals::requested() {
            let step = match idle_limit {
                Some(limit) => {
                    let left = limit.saturating_sub(last_record.elapsed());
                    if left.is_zero() {
                        break;
                    }
                    left.min(POLL_STEP)
                }
                None => POLL_STEP,
            };
            let records = self.consumer.poll(step)?;
            if records.is_empty() {
                continue;
            }
            for record in records.iter() {
                self.returned.insert(record.partition);
                if printed == max {
                    continue; // fetched but not printed: never committed
                }
                format.write(&mut out, &record).map_err(CliError::stdout)?;
                pending.insert(record.partition, record.offset + 1);
                printed += 1;
            }
            out.flush().map_err(CliError::stdout)?;
            self.printed_through.append(&mut pending);
            last_record = Instant::now();
            if self.last_commit.elapsed() >= COMMIT_INTERVAL {
                self.commit(false)?;
            }
        }
        Ok(printed)
    }

    /// Commits, for each assigned partition, the offset after its last printed record (a
    /// partition that returned nothing yet: its position), where that changed since the
    /// last commit. Only with a group. A commit refused because the group is rebalancing is
    /// retried later, unless `last`.
    fn commit(&mut self, last: bool) -> CliResult<()> {
        self.last_commit = Instant::now();
        if !self.grouped {
            return Ok(());
        }
        let mut offsets = BTreeMap::new();
        for tp in self.consumer.assignment() {
            let offset = match self.printed_through.get(&tp.partition) {
                Some(offset) => *offset,
                None if !self.returned.contains(&tp.partition) => self.consumer.position(&tp)?,
                None => continue,
            };
            if self.committed.get(&tp.partition) != Some(&offset) {
                offsets.insert(tp, CommittedOffset::new(offset));
            }
        }
        if offsets.is_empty() {
            return Ok(());
        }
        match self.consumer.commit_sync_offsets(&offsets) {
            Ok(()) => {
                for (tp, offset) in offsets {
                    self.committed.insert(tp.partition, offset.offset);
                }
                Ok(())
            }
            Err(ConsumerError::RebalanceInProgress { .. }) if !last => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

/// How records are printed.
struct Format<'a> {
    args: &'a Args,
    /// `CreateTime` or `LogAppendTime`, by the topic's `message.timestamp.type`.
    timestamp_type: &'static str,
}

impl Format<'_> {
    fn write(&self, out: &mut impl Write, record: &ConsumerRecord<'_>) -> std::io::Result<()> {
        if self.args.json {
            return write_json(out, record);
        }
        let args = self.args;
        if args.print_timestamp {
            write!(out, "{}:{}\t", self.timestamp_type, record.timestamp)?;
        }
        if args.print_partition {
            write!(out, "Partition:{}\t", record.partition)?;
        }
        if args.print_offset {
            write!(out, "Offset:{}\t", record.offset)?;
        }
        if args.print_headers {
            if record.headers.is_empty() {
                out.write_all(b"NO_HEADERS")?;
            }
            for (i, header) in record.headers.iter().enumerate() {
                if i > 0 {
                    out.write_all(b",")?;
                }
                out.write_all(header.key)?;
                out.write_all(b":")?;
                out.write_all(header.value.unwrap_or(b"null"))?;
            }
            out.write_all(b"\t")?;
        }
        if args.print_key {
            out.write_all(record.key.unwrap_or(b"null"))?;
            out.write_all(b"\t")?;
        }
        out.write_all(record.value.unwrap_or(b"null"))?;
        out.write_all(b"\n")
    }
}

/// One record as a JSON object on one line, its fields in the documented order.
fn write_json(out: &mut impl Write, record: &ConsumerRecord<'_>) -> std::io::Result<()> {
    write!(out, "{{\"topic\":")?;
    write_json_text(out, Some(record.topic.as_bytes()))?;
    write!(
        out,
        ",\"partition\":{},\"offset\":{},\"timestamp\":{},\"key\":",
        record.partition, record.offset, record.timestamp
    )?;
    write_json_text(out, record.key)?;
    out.write_all(b",\"value\":")?;
    write_json_text(out, record.value)?;
    out.write_all(b",\"headers\":[")?;
    for (i, header) in record.headers.iter().enumerate() {
        out.write_all(if i == 0 { b"{\"key\":" } else { b",{\"key\":" })?;
        write_json_text(out, Some(header.key))?;
        out.write_all(b",\"value\":")?;
        write_json_text(out, header.value)?;
        out.write_all(b"}")?;
    }
    out.write_all(b"]}\n")
}

/// Bytes as a JSON string (invalid UTF-8 replaced by U+FFFD), or `null`.
fn write_json_text(out: &mut impl Write, bytes: Option<&[u8]>) -> std::io::Result<()> {
    match bytes {
        Some(bytes) => serde_json::to_writer(&mut *out, &String::from_utf8_lossy(bytes))
            .map_err(std::io::Error::from),
        None => out.write_all(b"null"),
    }
}

/// SIGINT and SIGTERM set a flag the consume loop checks between polls, so that an
/// interrupted consumer still commits what it printed and leaves its group.
mod signals {
    use std::sync::atomic::{AtomicBool, Ordering};

    static REQUESTED: AtomicBool = AtomicBool::new(false);

    extern "C" fn on_signal(_signal: libc::c_int) {
        REQUESTED.store(true, Ordering::Relaxed);
    }

    /// Installs the handler for SIGINT and SIGTERM.
    pub(super) fn install() -> std::io::Result<()> {
        for signal in [libc::SIGINT, libc::SIGTERM] {
            // SAFETY: the handler only stores to an atomic (async-signal-safe); the
            // `sigaction` struct is fully initialised (zeroed, then an empty mask, the
            // handler and SA_RESTART, so blocking reads and writes resume after it runs).
            let result = unsafe {
                let mut action: libc::sigaction = std::mem::zeroed();
                libc::sigemptyset(&mut action.sa_mask);
                action.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as usize;
                action.sa_flags = libc::SA_RESTART;
                libc::sigaction(signal, &action, std::ptr::null_mut())
            };
            if result != 0 {
                return Err(std::io::Error::last_os_error());
            }
        }
        Ok(())
    }

    /// Whether a signal asked the process to stop.
    pub(super) fn requested() -> bool {
        REQUESTED.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::{start_offset, StartOffset};

    #[test]
    fn parses_start_offsets() {
        assert_eq!(start_offset("earliest"), Ok(StartOffset::Earliest));
        assert_eq!(start_offset("latest"), Ok(StartOffset::Latest));
        assert_eq!(start_offset("42"), Ok(StartOffset::At(42)));
        assert!(start_offset("-1").is_err());
        assert!(start_offset("x").is_err());
    }
}
