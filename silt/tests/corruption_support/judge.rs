//! The oracle: what reads may return after a given damage. A record returned must be the
//! one written at its offset; a record written and not returned must be explained (cut off
//! the active segment's torn tail, cut by recovery after an unclean stop, or behind a typed
//! error a read met); errors belong only to the damaged partition.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use silt::batch::{Batches, Compression, DecompressBuffer};
use silt::{Acks, Engine, OpenReport, ProducerConfig, ProducerRecord};

use super::case::{Case, Outcome};
use super::model::{PartitionModel, Rec};
use super::read::{self, Reading};
use super::targets::{self, Kind};
use super::template::{self, GROUP};

/// What the damage of a case may cost the reads.
#[derive(Debug, Clone)]
pub struct Allowance {
    /// The damaged partition (segment files only).
    partition: Option<String>,
    kind: Kind,
    /// The partition's last segment was hit.
    last: bool,
    /// First offset a `.log` mutation may have lost.
    lost_from: i64,
    /// Base offset of the damaged segment.
    segment_base: i64,
    /// Base offset of the segment after the damaged one (`i64::MAX` for the last).
    segment_end: i64,
    /// Unclean template, and the damaged segment is one recovery validates at open.
    recovered_at_open: bool,
    /// Offsets may be renumbered without any check seeing it (see `targets::Exemption`).
    pub data_exempt: bool,
    /// The log start offset checkpoint was hit: records below the log start may hide.
    log_start_target: bool,
}

impl Allowance {
    pub fn new(case: &Case<'_>, first: u64, data_exempt: bool) -> Allowance {
        let target = case.target;
        let mut allowance = Allowance {
            partition: target.partition.clone(),
            kind: target.kind,
            last: target.last,
            lost_from: i64::MAX,
            segment_base: i64::MAX,
            segment_end: i64::MAX,
            recovered_at_open: false,
            data_exempt,
            log_start_target: target.rel == Path::new(silt_engine::LOG_START_CHECKPOINT),
        };
        if let Some((p, s)) = target.segment_of(case.model) {
            let segment = &p.segments[s];
            if target.kind == Kind::Log {
                allowance.lost_from = targets::damage(segment, first).lost_from;
            }
            allowance.segment_base = segment.base;
            allowance.segment_end = p.segments.get(s + 1).map_or(i64::MAX, |n| n.base);
            let rp = p.recovery_point.unwrap_or(i64::MIN);
            let first_recovered = p
                .segments
                .partition_point(|seg| seg.base < rp)
                .saturating_sub(1);
            allowance.recovered_at_open = !case.template.clean && s >= first_recovered;
        }
        allowance
    }

    /// Whether `p` is the damaged partition.
    pub fn touches(&self, p: &PartitionModel) -> bool {
        self.partition.as_deref() == Some(p.name().as_str())
    }

    /// Whether offset `o` of `p` may be missing from a read that met `errors`. A closed
    /// segment refused as corrupt (`CorruptSegment`) may be missing whole.
    fn may_lose(
        &self,
        p: &PartitionModel,
        o: i64,
        errors: &[(i64, String)],
        report: &OpenReport,
    ) -> bool {
        if !self.touches(p) || self.kind != Kind::Log {
            return false;
        }
        if self.data_exempt {
            return true;
        }
        let refused = errors.iter().any(|(_, e)| e.contains("CorruptSegment"));
        let from = if refused {
            self.segment_base
        } else {
            self.lost_from
        };
        let cut = self.recovered_at_open && report.partitions_truncated > 0;
        if o >= from && o < self.segment_end {
            return !errors.is_empty() || self.last || cut;
        }
        o >= self.segment_end && cut
    }
}

/// Judges one reading of partition `p` (a fetch loop, or with `poll` a consumer's polls,
/// which stop at the first error).
pub fn partition(
    p: &PartitionModel,
    reading: &Reading,
    allowance: &Allowance,
    report: &OpenReport,
    poll: bool,
    out: &mut Outcome,
) {
    let label = format!("{} {}", if poll { "poll" } else { "fetch" }, p.name());
    for f in &reading.failures {
        out.failures.push(format!("{label}: {f}"));
    }
    let damaged = allowance.touches(p);
    if !reading.errors.is_empty() {
        if damaged && allowance.kind == Kind::Log {
            out.by_read = true;
        } else {
            out.failures.push(format!(
                "{label}: errors reading a partition whose data was not damaged: {:?}",
                reading.errors
            ));
        }
    }
    let mut wrong = Vec::new();
    for (o, rec) in &reading.records {
        if p.records.get(o) != Some(rec) {
            wrong.push(format!(
                "offset {o}: {rec:?}, written {:?}",
                p.records.get(o)
            ));
        }
    }
    if !wrong.is_empty() {
        if damaged && allowance.data_exempt {
            out.unseen_data += wrong.len();
        } else {
            out.failures.push(format!(
                "{label}: {} records not as written, the first {}",
                wrong.len(),
                wrong[0]
            ));
        }
    }
    if !poll && reading.log_start != p.log_start && !allowance.log_start_target {
        out.failures.push(format!(
            "{label}: log start {}, was {}",
            reading.log_start, p.log_start
        ));
    }
    if reading.log_end > p.log_end && !(damaged && allowance.data_exempt) {
        out.failures.push(format!(
            "{label}: log end {} past the {} written",
            reading.log_end, p.log_end
        ));
    }
    let returned: BTreeSet<i64> = reading.records.iter().map(|r| r.0).collect();
    let first_error = reading.errors.first().map(|e| e.0);
    let start = if allowance.log_start_target {
        reading.log_start.max(p.log_start.min(reading.log_start))
    } else {
        p.log_start
    };
    let missing: Vec<i64> = p
        .records
        .range(start..p.log_end)
        .map(|(&o, _)| o)
        .filter(|o| !returned.contains(o))
        .filter(|&o| !(poll && first_error.is_some_and(|e| o >= e)))
        .filter(|&o| !allowance.may_lose(p, o, &reading.errors, report))
        .collect();
    if !missing.is_empty() {
        out.failures.push(format!(
            "{label}: {} records silently missing: {}",
            missing.len(),
            ranges(&missing)
        ));
    }
}

/// `[1, 2, 3, 7]` → `1..=3, 7`.
fn ranges(offsets: &[i64]) -> String {
    let mut parts = Vec::new();
    let mut i = 0;
    while i < offsets.len() {
        let mut j = i;
        while j + 1 < offsets.len() && offsets[j + 1] == offsets[j] + 1 {
            j += 1;
        }
        parts.push(if i == j {
            offsets[i].to_string()
        } else {
            format!("{}..={}", offsets[i], offsets[j])
        });
        i = j + 1;
    }
    parts.join(", ")
}

/// The group's committed offsets: what a replay of the records the reads returned gives,
/// or a typed error when a read of the offsets log met one; never a different offset.
pub fn group(
    case: &Case<'_>,
    engine: &Engine,
    readings: &BTreeMap<String, Reading>,
    allowance: &Allowance,
    out: &mut Outcome,
) {
    let offsets: Vec<&PartitionModel> = case
        .model
        .partitions
        .iter()
        .filter(|p| p.topic == silt::offsets::OFFSETS_TOPIC)
        .collect();
    let errors: Vec<String> = offsets
        .iter()
        .flat_map(|p| readings[&p.name()].errors.iter().map(|e| e.1.clone()))
        .collect();
    let offsets_hit = offsets.iter().any(|p| allowance.touches(p));
    // A base offset moved where gaps are valid renumbers records unseen; records changed
    // under a fixed CRC are read back as they are, and must replay exactly so.
    let exempt = offsets_hit && allowance.data_exempt && case.mutation.op() != "recrc";
    let mut expected = BTreeMap::new();
    let mut undecodable = false;
    for p in &offsets {
        match read::replay(&readings[&p.name()].records, GROUP) {
            Ok(map) => expected.extend(map),
            Err(_) => undecodable = true,
        }
    }
    match read::committed(engine, GROUP) {
        Err(_) if !errors.is_empty() || undecodable => out.by_read = true,
        Err(e) => out.failures.push(format!("committed offsets: {e}")),
        Ok(map) if !errors.is_empty() => out.failures.push(format!(
            "the replay read past a damaged offsets log ({errors:?}) and gave {map:?}"
        )),
        Ok(map) if undecodable => out.failures.push(format!(
            "the replay passed over a record that does not decode and gave {map:?}"
        )),
        Ok(map) if map != expected => {
            if exempt {
                out.unseen_data += 1;
            } else {
                out.failures.push(format!(
                    "committed offsets {map:?}, the offsets log holds {expected:?}"
                ));
            }
        }
        Ok(map) => {
            if !offsets_hit && map != case.template.committed {
                out.failures.push(format!(
                    "committed offsets {map:?}, committed {:?}",
                    case.template.committed
                ));
            }
        }
    }
}

/// An idempotent producer reserves its id from `producer-id-block`: a damaged one that does
/// not parse must fail the send with `CorruptMetadata` naming the file.
pub fn producer(dir: &Path, engine: &Engine, rel: &Path, out: &mut Outcome) {
    let path = dir.join(rel);
    let config = ProducerConfig {
        acks: Acks::All,
        ..ProducerConfig::default()
    };
    let producer = engine.producer(config).unwrap();
    let record = ProducerRecord::new("events")
        .partition(0)
        .key(b"pid")
        .value(b"check");
    let sent = producer
        .send(record)
        .map_err(|e| format!("{e:?}"))
        .and_then(|d| d.wait().map(drop).map_err(|e| format!("{e:?}")));
    producer.close().ok();
    let parses = silt_engine::inspect::read_producer_id_block(&path).is_ok();
    match sent {
        Ok(()) if parses => {}
        Ok(()) => out
            .failures
            .push("a producer reserved ids from a damaged producer-id-block".into()),
        Err(e) if e.contains("CorruptMetadata") && e.contains(&path.display().to_string()) => {
            out.by_read = true;
        }
        Err(e) => out.failures.push(format!("producer: {e}")),
    }
}

/// One batch appended after the damage: at the log end, and read back as written.
/// Returns the partition, the batch's first offset and its records.
pub fn append(
    case: &Case<'_>,
    engine: &Engine,
    out: &mut Outcome,
) -> Option<(String, i64, Vec<Rec>)> {
    let name = match &case.target.partition {
        Some(p) if !p.starts_with("__") => p.clone(),
        _ => "events-0".to_string(),
    };
    let p = case.model.partition(&name).unwrap();
    let bytes = if p.compacted() {
        template::keyed(5000, 3)
    } else {
        template::batch(5000, 3, Compression::Zstd)
    };
    let log = engine.log(&p.topic, p.partition).ok()?;
    let end = log.log_end_offset().ok()?;
    let info = match log.append(&bytes) {
        Ok(info) => info,
        Err(e) => {
            out.failures.push(format!("append to {name}: {e:?}"));
            return None;
        }
    };
    if info.first_offset != end {
        out.failures.push(format!(
            "append to {name} at {}, the log end was {end}",
            info.first_offset
        ));
    }
    let mut buffer = DecompressBuffer::new();
    let mut written = Vec::new();
    for batch in Batches::new(&bytes, 0) {
        let batch = batch.unwrap();
        for record in batch.records(&mut buffer).unwrap() {
            written.push(Rec::of(&record.unwrap()));
        }
    }
    let back = read::fetch_from(engine, &p.topic, p.partition, Some(info.first_offset));
    let got: Vec<Rec> = back.records.iter().map(|(_, r)| r.clone()).collect();
    if got != written {
        out.failures.push(format!(
            "{name}: the appended batch reads back as {got:?}, written {written:?}"
        ));
    }
    Some((name, info.first_offset, written))
}
