//! `silt produce`: Kafka's `kafka-console-producer`, one record per stdin line.
//!
//! The reading thread sends each line through the producer (which batches, compresses and
//! appends in its own threads) and hands the record's [`Delivery`] to an acknowledging
//! thread over a bounded channel. That thread waits on the deliveries in input order, so
//! `--print-offsets` lines come out in input order, each as soon as its record and every
//! record before it are acknowledged, while the reader keeps sending: a record never waits
//! for the one before it to be acknowledged.

use std::io::{BufRead, Write};
use std::sync::mpsc::{sync_channel, Receiver, TryRecvError};

use silt::batch::{Compression, RecordHeader};
use silt::{Acks, Delivery, EngineError, ProducerConfig, ProducerRecord};

use super::{key_value, CliError, CliResult, Global};

/// Deliveries in flight between the reading and the acknowledging thread. The producer's
/// `buffer.memory` bounds the records themselves; this bounds the handles.
const DELIVERIES_IN_FLIGHT: usize = 64 * 1024;

/// Longest stdin line accepted (a record's value is further bounded by `max.request.size`).
const MAX_LINE_BYTES: usize = 16 << 20;

/// Arguments of `silt produce`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The topic.
    topic: String,
    /// Split each line at the first SEP into key and value (a line without SEP gets a null
    /// key).
    #[arg(long, value_name = "SEP")]
    key_separator: Option<String>,
    /// Send every record to this partition (else Kafka's partitioner chooses: murmur2 of
    /// the key, or the sticky partitioner for null keys).
    #[arg(long, value_name = "P")]
    partition: Option<u32>,
    /// When a record counts as acknowledged: 0 at once (no offset), 1 once in the page
    /// cache, all once synced to disk.
    #[arg(long, value_enum, default_value = "all")]
    acks: AcksArg,
    /// Compression of the batches.
    #[arg(long, value_enum, default_value = "none")]
    compression: CompressionArg,
    /// A header added to every record; repeatable.
    #[arg(long = "header", value_name = "KEY=VALUE", value_parser = key_value)]
    headers: Vec<(String, String)>,
    /// Print TOPIC-PARTITION@OFFSET for each record, in input order, as soon as it is
    /// acknowledged (@-1 with --acks 0).
    #[arg(long)]
    print_offsets: bool,
}

/// `--acks`.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum AcksArg {
    /// No acknowledgment.
    #[value(name = "0")]
    Zero,
    /// In the page cache.
    #[value(name = "1")]
    One,
    /// Synced to disk.
    #[value(name = "all", alias = "-1")]
    All,
}

/// `--compression`.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum CompressionArg {
    None,
    Gzip,
    Lz4,
    Zstd,
}

/// What the reading thread hands the acknowledging thread, in input order.
enum Sent {
    /// The record is on its way.
    Record(Delivery),
    /// `send` refused the record (too large, …).
    Refused(EngineError),
}

/// What the acknowledging thread saw.
#[derive(Debug, Default)]
struct Acked {
    records: u64,
    failed: u64,
    /// The first write to stdout that failed: nothing more is printed after it.
    write_error: Option<std::io::Error>,
}

/// Runs `silt produce`.
pub fn run(global: &Global, args: Args) -> CliResult<()> {
    if args.key_separator.as_deref() == Some("") {
        return Err(CliError::Usage("--key-separator must not be empty".into()));
    }
    let engine = global.open_engine()?;
    let result = produce(&engine, &args);
    let closed = engine.close();
    let acked = result?;
    closed?;
    if let Some(e) = acked.write_error {
        return Err(CliError::stdout(e));
    }
    if acked.failed > 0 {
        return Err(CliError::Failed(format!(
            "{} of {} records were not acknowledged",
            acked.failed, acked.records
        )));
    }
    Ok(())
}

fn produce(engine: &silt::Engine, args: &Args) -> CliResult<Acked> {
    let topic = engine.describe_topic(&args.topic)?;
    let partitions = topic.partitions.len() as u32;
    if let Some(partition) = args.partition.filter(|p| *p >= partitions) {
        return Err(EngineError::UnknownPartition {
            topic: args.topic.clone(),
            partition,
            partitions,
        }
        .into());
    }
    let producer = engine.producer(ProducerConfig {
        acks: match args.acks {
            AcksArg::Zero => Acks::None,
            AcksArg::One => Acks::Leader,
            AcksArg::All => Acks::All,
        },
        compression_type: match args.compression {
            CompressionArg::None => Compression::None,
            CompressionArg::Gzip => Compression::Gzip,
            CompressionArg::Lz4 => Compression::Lz4,
            CompressionArg::Zstd => Compression::Zstd,
        },
        client_id: "console-producer".into(),
        ..ProducerConfig::default()
    })?;
    let (tx, rx) = sync_channel::<Sent>(DELIVERIES_IN_FLIGHT);
    let print_offsets = args.print_offsets;
    let acker = std::thread::Builder::new()
        .name("silt-produce-acks".into())
        .spawn(move || acknowledge(&rx, print_offsets))
        .map_err(|e| CliError::io("spawn a thread", e))?;

    let headers: Vec<RecordHeader<'_>> = args
        .headers
        .iter()
        .map(|(key, value)| RecordHeader {
            key,
            value: Some(value.as_bytes()),
        })
        .collect();
    let separator = args.key_separator.as_deref().map(str::as_bytes);
    let mut stdin = std::io::stdin().lock();
    let mut line = Vec::new();
    let mut read_error = None;
    loop {
        line.clear();
        match read_line(&mut stdin, &mut line) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                read_error = Some(e);
                break;
            }
        }
        let (key, value) = split_key(&line, separator);
        let mut record = ProducerRecord::new(&args.topic)
            .value(value)
            .headers(&headers);
        record.key = key;
        record.partition = args.partition;
        let sent = match producer.send(record) {
            Ok(delivery) => Sent::Record(delivery),
            Err(e) => Sent::Refused(e),
        };
        if tx.send(sent).is_err() {
            break; // the acknowledging thread is gone; its join reports why
        }
    }
    drop(tx);
    // Seal what is batched now rather than after linger.ms.
    let flushed = producer.flush();
    let acked = acker
        .join()
        .map_err(|_| CliError::Failed("the acknowledging thread panicked".into()))?;
    producer.close()?;
    flushed?;
    if let Some(e) = read_error {
        return Err(e);
    }
    Ok(acked)
}

/// Reads one line into `line` without its `\n` (or `\r\n`). `Ok(false)` at the end of input.
fn read_line(input: &mut impl BufRead, line: &mut Vec<u8>) -> CliResult<bool> {
    let read = std::io::Read::take(&mut *input, MAX_LINE_BYTES as u64 + 1)
        .read_until(b'\n', line)
        .map_err(|e| CliError::io("read stdin", e))?;
    if read == 0 {
        return Ok(false);
    }
    if line.last() == Some(&b'\n') {
        line.pop();
        if line.last() == Some(&b'\r') {
            line.pop();
        }
    } else if line.len() > MAX_LINE_BYTES {
        return Err(CliError::Failed(format!(
            "a stdin line is longer than {MAX_LINE_BYTES} bytes"
        )));
    }
    Ok(true)
}

/// Splits `line` at the first `separator` into key and value; no separator (or none in the
/// line): a null key and the whole line as value.
fn split_key<'a>(line: &'a [u8], separator: Option<&[u8]>) -> (Option<&'a [u8]>, &'a [u8]) {
    let Some(separator) = separator.filter(|s| !s.is_empty()) else {
        return (None, line);
    };
    match line
        .windows(separator.len())
        .position(|window| window == separator)
    {
        Some(at) => (
            line.get(..at),
            line.get(at + separator.len()..).unwrap_or_default(),
        ),
        None => (None, line),
    }
}

/// Waits on every delivery in input order, printing offsets if asked. Output is flushed
/// before each wait that would block, so a printed line never sits in the buffer while the
/// next record is awaited.
fn acknowledge(rx: &Receiver<Sent>, print_offsets: bool) -> Acked {
    let mut acked = Acked::default();
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut printing = print_offsets;
    fn flush(out: &mut impl Write, acked: &mut Acked, printing: &mut bool) {
        if *printing {
            if let Err(e) = out.flush() {
                acked.write_error = Some(e);
                *printing = false;
            }
        }
    }
    loop {
        let sent = match rx.try_recv() {
            Ok(sent) => sent,
            Err(TryRecvError::Empty) => {
                flush(&mut out, &mut acked, &mut printing);
                match rx.recv() {
                    Ok(sent) => sent,
                    Err(_) => break,
                }
            }
            Err(TryRecvError::Disconnected) => break,
        };
        acked.records += 1;
        let result = match sent {
            Sent::Record(delivery) => {
                if !delivery.is_done() {
                    flush(&mut out, &mut acked, &mut printing);
                }
                delivery.wait()
            }
            Sent::Refused(e) => Err(e),
        };
        match result {
            Ok(metadata) if printing => {
                let line = writeln!(
                    out,
                    "{}-{}@{}",
                    metadata.topic, metadata.partition, metadata.offset
                );
                if let Err(e) = line {
                    acked.write_error = Some(e);
                    printing = false;
                }
            }
            Ok(_) => {}
            Err(e) => {
                acked.failed += 1;
                flush(&mut out, &mut acked, &mut printing);
                let _ = writeln!(
                    std::io::stderr(),
                    "silt: the record of line {} was not acknowledged: {e}",
                    acked.records
                );
            }
        }
    }
    flush(&mut out, &mut acked, &mut printing);
    acked
}

#[cfg(test)]
mod tests {
    use super::split_key;

    #[test]
    fn splits_at_the_first_separator_only() {
        assert_eq!(
            split_key(b"k::v::w", Some(b"::")),
            (Some(&b"k"[..]), &b"v::w"[..])
        );
        assert_eq!(split_key(b"no-sep", Some(b":")), (None, &b"no-sep"[..]));
        assert_eq!(split_key(b":v", Some(b":")), (Some(&b""[..]), &b"v"[..]));
        assert_eq!(split_key(b"a:b", None), (None, &b"a:b"[..]));
    }
}
