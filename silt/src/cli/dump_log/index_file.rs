//! Dumping an offset index or a time index: its entries, checked against the segment's
//! `.log` file beside it when there is one (as `kafka-dump-log` does).

use std::io::{self, Read, Write};
use std::path::Path;

use serde_json::{json, Value};
use silt::log::{
    segment_file, verify_segment, SegmentFileKind, VerifyOptions, LOG_SUFFIX,
    MAX_VERIFIED_INDEX_BYTES,
};

use super::{in_file, Options};

/// Which index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `.index`: relative offset u32, position u32.
    Offset,
    /// `.timeindex`: timestamp i64, relative offset u32.
    Time,
}

impl Kind {
    fn entry_bytes(self) -> usize {
        match self {
            Kind::Offset => 8,
            Kind::Time => 12,
        }
    }

    fn file_kind(self) -> SegmentFileKind {
        match self {
            Kind::Offset => SegmentFileKind::OffsetIndex,
            Kind::Time => SegmentFileKind::TimeIndex,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Kind::Offset => "offset_index",
            Kind::Time => "time_index",
        }
    }
}

/// The base offset an index file's name gives (`00000000000000001234.index` → 1234).
fn base_offset(path: &Path) -> Option<i64> {
    let name = path.file_name()?.to_str()?;
    let (digits, _) = name.split_once('.')?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

fn word(entry: &[u8], at: usize) -> u32 {
    entry
        .get(at..at + 4)
        .and_then(|b| b.try_into().ok())
        .map_or(0, u32::from_be_bytes)
}

/// Dumps the index `path`; returns its problems.
pub(crate) fn dump(
    out: &mut impl Write,
    path: &Path,
    kind: Kind,
    options: Options,
) -> io::Result<Vec<String>> {
    if !options.json {
        writeln!(out, "Dumping {}", path.display())?;
    }
    let mut problems = Vec::new();
    let Some(base) = base_offset(path) else {
        problems.push(in_file(
            path,
            "not a segment index file name (20 decimal digits, then .index or .timeindex)",
        ));
        return finish(out, path, kind, options, (Vec::new(), None), problems);
    };
    let bytes = match read_bounded(path) {
        Ok(bytes) => bytes,
        Err(e) => {
            problems.push(in_file(path, e));
            return finish(out, path, kind, options, (Vec::new(), None), problems);
        }
    };
    // Kafka's rule: an index is preallocated, so after a crash it may hold zero entries at
    // its end; stop at the first one past the first entry.
    let mut entries = Vec::new();
    for (i, entry) in bytes.chunks_exact(kind.entry_bytes()).enumerate() {
        if i > 0 && entry.iter().all(|&b| b == 0) {
            break;
        }
        let value = match kind {
            Kind::Offset => json!({
                "offset": base + i64::from(word(entry, 0)),
                "position": word(entry, 4),
            }),
            Kind::Time => json!({
                "timestamp": (i64::from(word(entry, 0)) << 32) | i64::from(word(entry, 4)),
                "offset": base + i64::from(word(entry, 8)),
            }),
        };
        entries.push(value);
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    let checked = if segment_file(dir, base, LOG_SUFFIX).is_file() {
        // The same checks as `silt verify`, keeping this file's problems only.
        let options = VerifyOptions { offset_gaps: true };
        match verify_segment(dir, base, options) {
            Ok(report) => problems.extend(
                report
                    .problems
                    .iter()
                    .filter(|p| p.kind == kind.file_kind())
                    .map(ToString::to_string),
            ),
            Err(e) => problems.push(e.to_string()),
        }
        Some(true)
    } else {
        Some(false)
    };
    finish(out, path, kind, options, (entries, checked), problems)
}

/// Prints the entries (unless only verifying) and the problems.
fn finish(
    out: &mut impl Write,
    path: &Path,
    kind: Kind,
    options: Options,
    (entries, checked): (Vec<Value>, Option<bool>),
    problems: Vec<String>,
) -> io::Result<Vec<String>> {
    if options.json {
        let entries = if options.verify_only {
            Value::Null
        } else {
            Value::from(entries)
        };
        let object = json!({
            "file": path.display().to_string(),
            "type": kind.name(),
            "checked_against_log": checked,
            "entries": entries,
            "problems": problems,
        });
        writeln!(out, "{object}")?;
        return Ok(problems);
    }
    if checked == Some(false) {
        writeln!(
            out,
            "No .log file beside it: entries not checked against the log."
        )?;
    }
    if entries.is_empty() && problems.is_empty() {
        writeln!(out, "{} is empty.", path.display())?;
    }
    if !options.verify_only {
        for entry in &entries {
            match kind {
                Kind::Offset => writeln!(
                    out,
                    "offset: {} position: {}",
                    entry["offset"], entry["position"]
                )?,
                Kind::Time => writeln!(
                    out,
                    "timestamp: {} offset: {}",
                    entry["timestamp"], entry["offset"]
                )?,
            }
        }
    }
    for problem in &problems {
        writeln!(out, "Problem: {problem}")?;
    }
    Ok(problems)
}

/// Reads an index file, refusing one larger than any index (it is read whole).
fn read_bounded(path: &Path) -> io::Result<Vec<u8>> {
    let file = std::fs::File::open(path)?;
    let len = file.metadata()?.len();
    if len > MAX_VERIFIED_INDEX_BYTES {
        return Err(io::Error::other(format!(
            "{len} bytes, larger than any index ({MAX_VERIFIED_INDEX_BYTES})"
        )));
    }
    let mut bytes = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
    file.take(MAX_VERIFIED_INDEX_BYTES)
        .read_to_end(&mut bytes)?;
    Ok(bytes)
}
