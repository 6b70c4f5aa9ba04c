//! Does an index agree with its log? The batches are found by [`LogScanner`] (framing and
//! CRC checked), and the entries an engine must have written are recomputed with Kafka's
//! rule: an offset index entry for a batch once more than `index.interval.bytes` were
//! appended since the last one (never the first batch), and a time index entry with it
//! when the largest timestamp so far grew.

use std::path::Path;

use silt::log::LogScanner;

/// One batch as the scan found it.
#[derive(Debug, Clone, Copy)]
struct Scanned {
    position: u64,
    size: u64,
    last_offset: i64,
    max_timestamp: i64,
}

/// Every valid batch of the log, and whether the scan reached the end of the file.
fn scan(log: &Path) -> (Vec<Scanned>, bool) {
    let mut scanner = LogScanner::open(log).unwrap();
    let mut batches: Vec<Scanned> = Vec::new();
    while let Some(next) = scanner.next_batch() {
        let Ok(batch) = next else { break };
        let backwards = batches
            .last()
            .is_some_and(|b| batch.base_offset() <= b.last_offset);
        if batch.validate().is_err() || backwards {
            return (batches, false);
        }
        batches.push(Scanned {
            position: batch.position(),
            size: batch.size() as u64,
            last_offset: batch.last_offset(),
            max_timestamp: batch.max_timestamp(),
        });
    }
    (batches, scanner.position() == scanner.file_len())
}

/// Whether every batch of `log` is whole and valid to its end.
pub fn log_is_intact(log: &Path) -> bool {
    scan(log).1
}

fn entries<const N: usize>(path: &Path) -> Result<Vec<[u8; N]>, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if bytes.len() % N != 0 {
        return Err(format!(
            "{}: length {} is not whole entries",
            path.display(),
            bytes.len()
        ));
    }
    Ok(bytes
        .chunks_exact(N)
        .map(|c| c.try_into().unwrap())
        .collect())
}

/// Checks the offset index and time index of the closed segment `base` in `dir` against a
/// scan of its log: the offset index holds exactly the entries the rule gives; every time
/// index entry names the largest timestamp up to its batch, the rule's entries are all
/// there, and the last one is the segment's largest. `Err` names the first disagreement.
pub fn agree(dir: &Path, base: i64, interval: u64) -> Result<(), String> {
    let log = silt::log::segment_file(dir, base, "log");
    let (batches, intact) = scan(&log);
    if !intact {
        return Err(format!("{}: the log is not intact", log.display()));
    }
    let index = silt::log::segment_file(dir, base, "index");
    let found: Vec<(i64, u64)> = entries::<8>(&index)?
        .iter()
        .map(|e| {
            let rel = u32::from_be_bytes(e[..4].try_into().unwrap());
            let pos = u32::from_be_bytes(e[4..].try_into().unwrap());
            (base + i64::from(rel), u64::from(pos))
        })
        .collect();
    let (offsets, times, max) = rule(&batches, interval);
    if found != offsets {
        return Err(format!(
            "{}: entries {found:?}, a scan of the log gives {offsets:?}",
            index.display()
        ));
    }
    let time_index = silt::log::segment_file(dir, base, "timeindex");
    let found: Vec<(i64, i64)> = entries::<12>(&time_index)?
        .iter()
        .map(|e| {
            let ts = i64::from_be_bytes(e[..8].try_into().unwrap());
            let rel = u32::from_be_bytes(e[8..].try_into().unwrap());
            (ts, base + i64::from(rel))
        })
        .collect();
    let shown = time_index.display();
    for &(ts, offset) in &found {
        // The largest timestamp up to the batch holding the offset, and where it was.
        let upto = batches.iter().position(|b| b.last_offset >= offset);
        let best = upto.and_then(|i| max_through(&batches[..=i]));
        if best != Some((ts, offset)) {
            return Err(format!(
                "{shown}: entry ({ts}, {offset}), the log gives {best:?} up to that offset"
            ));
        }
    }
    if let Some(missing) = times.iter().find(|t| !found.contains(t)) {
        return Err(format!(
            "{shown}: the rule's entry {missing:?} is missing: {found:?}"
        ));
    }
    if max.is_some() && found.last().copied() != max {
        return Err(format!(
            "{shown}: last entry {:?}, the segment's largest {max:?}",
            found.last()
        ));
    }
    Ok(())
}

/// The largest max timestamp of `batches` and the last offset of the first batch with it.
fn max_through(batches: &[Scanned]) -> Option<(i64, i64)> {
    let mut best: Option<(i64, i64)> = None;
    for b in batches {
        if b.max_timestamp >= 0 && best.is_none_or(|(t, _)| b.max_timestamp > t) {
            best = Some((b.max_timestamp, b.last_offset));
        }
    }
    best
}

type Rule = (Vec<(i64, u64)>, Vec<(i64, i64)>, Option<(i64, i64)>);

/// The offset index entries and time index entries appends write, and the segment's
/// largest (timestamp, offset).
fn rule(batches: &[Scanned], interval: u64) -> Rule {
    let (mut offsets, mut times) = (Vec::new(), Vec::new());
    let mut since = 0u64;
    let mut max: Option<(i64, i64)> = None;
    for b in batches {
        if b.max_timestamp >= 0 && max.is_none_or(|(t, _)| b.max_timestamp > t) {
            max = Some((b.max_timestamp, b.last_offset));
        }
        if since > interval {
            since = 0;
            offsets.push((b.last_offset, b.position));
            let grew = max.filter(|&(t, _)| times.last().is_none_or(|&(l, _)| t > l));
            times.extend(grew);
        }
        since += b.size;
    }
    (offsets, times, max)
}
