//! Dumping a log file: every batch, and with `--deep-iteration` every record.

use std::io::{self, Write};
use std::path::Path;

use serde_json::{json, Value};
use silt::batch::{Batch, Compression, DecompressBuffer, Record};
use silt::log::{parse_segment_file, LogScanner};
use silt::SegmentError;

use super::{format, in_file, Options};

/// What reading one batch's records found.
enum RecordsOutcome {
    /// Every record decoded.
    Read,
    /// The codec is one silt does not decode (snappy): the batch may well be valid.
    Unsupported(Compression),
    /// A record did not decode.
    Failed(SegmentError),
}

/// Dumps the log file `path`; returns its problems.
pub(crate) fn dump(out: &mut impl Write, path: &Path, options: Options) -> io::Result<Vec<String>> {
    let start_offset = parse_segment_file(path).ok();
    let mut dumper = Dumper {
        out,
        options,
        problems: Vec::new(),
        buffer: DecompressBuffer::new(),
        batches_written: 0,
    };
    if options.json {
        write!(
            dumper.out,
            "{{\"file\":{},\"type\":\"log\",\"log_start_offset\":{},\"batches\":[",
            json!(path.display().to_string()),
            json!(start_offset)
        )?;
    } else {
        writeln!(dumper.out, "Dumping {}", path.display())?;
        if let Some(offset) = start_offset {
            writeln!(dumper.out, "Log starting offset: {offset}")?;
        }
    }
    let (valid_bytes, trailing_bytes) = match LogScanner::open(path) {
        Ok(mut scanner) => dumper.scan(path, &mut scanner)?,
        Err(e) => {
            dumper.problems.push(e.to_string());
            (0, 0)
        }
    };
    let Dumper { out, problems, .. } = dumper;
    if options.json {
        writeln!(
            out,
            "],\"valid_bytes\":{valid_bytes},\"trailing_bytes\":{trailing_bytes},\"problems\":{}}}",
            json!(problems)
        )?;
    } else {
        if trailing_bytes > 0 {
            let name = path.file_name().unwrap_or(path.as_os_str());
            writeln!(
                out,
                "Found {trailing_bytes} invalid bytes at the end of {}",
                name.to_string_lossy()
            )?;
        }
        for problem in &problems {
            writeln!(out, "Problem: {problem}")?;
        }
    }
    Ok(problems)
}

struct Dumper<'w, W> {
    out: &'w mut W,
    options: Options,
    problems: Vec<String>,
    buffer: DecompressBuffer,
    batches_written: u64,
}

impl<W: Write> Dumper<'_, W> {
    /// Prints every batch; returns (valid bytes, trailing invalid bytes).
    fn scan(
        &mut self,
        path: &Path,
        scanner: &mut LogScanner<impl io::Read + io::Seek>,
    ) -> io::Result<(u64, u64)> {
        let mut failure = None;
        while let Some(next) = scanner.next_batch() {
            match next {
                Ok(batch) => self.batch(path, &batch)?,
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
        }
        let valid = scanner.position();
        let trailing = scanner.file_len() - valid;
        if let Some(e) = failure {
            let problem = match e {
                SegmentError::Io { .. } => e.to_string(),
                _ if matches!(scanner.rest_is_zeros(), Ok(true)) => in_file(
                    path,
                    format_args!(
                        "{trailing} bytes of zeros from position {valid} to the end: \
                         preallocated space after the last batch (a segment that was not closed)"
                    ),
                ),
                _ => in_file(path, e),
            };
            self.problems.push(problem);
        }
        Ok((valid, trailing))
    }

    /// Prints one batch (and its records when asked) and notes its problems.
    fn batch(&mut self, path: &Path, batch: &Batch<'_>) -> io::Result<()> {
        let validity = batch.validate();
        let valid = validity.is_ok();
        if let Err(e) = validity {
            self.problems.push(in_file(path, e));
        }
        if !self.options.json {
            format::batch_line(self.out, batch, valid)?;
        }
        let mut records = Vec::new();
        // Records are always decoded (a batch whose records do not decode is not valid),
        // and printed with --deep-iteration. Those of a batch failing its CRC are shown
        // when asked, but their errors are that failure's consequences.
        let outcome = if valid || self.options.deep {
            self.records(batch, &mut records)?
        } else {
            RecordsOutcome::Read
        };
        match outcome {
            RecordsOutcome::Read => {}
            RecordsOutcome::Failed(e) if valid => self.problems.push(in_file(path, e)),
            RecordsOutcome::Failed(_) => {}
            RecordsOutcome::Unsupported(Compression::Unknown(id)) => self.problems.push(in_file(
                path,
                format_args!(
                    "batch at position {} has codec id {id}, which Kafka does not define",
                    batch.position()
                ),
            )),
            RecordsOutcome::Unsupported(codec) if self.options.deep && !self.options.json => {
                writeln!(self.out, "| records not shown: {codec} is not supported")?;
            }
            RecordsOutcome::Unsupported(_) => {}
        }
        if self.options.json {
            let mut object = format::batch_json(batch, valid);
            if self.options.deep {
                object["records"] = Value::from(records);
            }
            let comma = if self.batches_written == 0 { "" } else { "," };
            write!(self.out, "{comma}{object}")?;
        }
        self.batches_written += 1;
        Ok(())
    }

    /// Decodes the batch's records, printing them (text) or collecting them (JSON) with
    /// --deep-iteration.
    fn records(
        &mut self,
        batch: &Batch<'_>,
        json_records: &mut Vec<Value>,
    ) -> io::Result<RecordsOutcome> {
        let options = self.options;
        let header = batch.header();
        let records = match batch.records(&mut self.buffer) {
            Ok(records) => records,
            Err(SegmentError::UnsupportedCompression { codec, .. }) => {
                return Ok(RecordsOutcome::Unsupported(codec))
            }
            Err(e) => return Ok(RecordsOutcome::Failed(e)),
        };
        let out = &mut *self.out;
        let mut print = |record: &Record<'_>| -> io::Result<()> {
            if !options.deep {
                return Ok(());
            }
            if options.json {
                json_records.push(format::record_json(&header, record, options.data));
                Ok(())
            } else {
                format::record_line(out, &header, record, options.data)
            }
        };
        for record in records {
            match record {
                Ok(record) => print(&record)?,
                Err(e) => return Ok(RecordsOutcome::Failed(e)),
            }
        }
        Ok(RecordsOutcome::Read)
    }
}
