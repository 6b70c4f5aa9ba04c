//! The results: rows of medians, their rates and ratios, and the table, markdown, JSON and
//! chart made from them.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::machine::Machine;
use crate::{Op, Workload};

/// Whose row it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Silt,
    Peer,
    Raw,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Silt => "silt",
            Kind::Peer => "peer",
            Kind::Raw => "raw",
        }
    }
}

/// One system on one workload, and the seconds each repetition took.
#[derive(Debug, Clone)]
pub struct Row {
    pub system: &'static str,
    pub kind: Kind,
    /// The workload's raw limit (the denominator of the last column).
    pub limit: bool,
    /// Set when the row does not do the workload's whole job (it is then never the best
    /// peer), saying what it leaves out.
    pub caveat: Option<&'static str>,
    pub seconds: Vec<f64>,
}

impl Row {
    fn new(system: &'static str, kind: Kind, limit: bool) -> Row {
        Row {
            system,
            kind,
            limit,
            caveat: None,
            seconds: Vec::new(),
        }
    }

    pub fn silt(system: &'static str) -> Row {
        Row::new(system, Kind::Silt, false)
    }

    pub fn peer(system: &'static str) -> Row {
        Row::new(system, Kind::Peer, false)
    }

    pub fn raw(system: &'static str) -> Row {
        Row::new(system, Kind::Raw, false)
    }

    /// The raw row the workload's others are divided by.
    pub fn limit(system: &'static str) -> Row {
        Row::new(system, Kind::Raw, true)
    }

    pub fn not_comparable(mut self, caveat: &'static str) -> Row {
        self.caveat = Some(caveat);
        self
    }

    /// The median of the repetitions (the mean of the middle two for an even count).
    pub fn median_s(&self) -> f64 {
        let mut s = self.seconds.clone();
        s.sort_by(f64::total_cmp);
        match s.len() {
            0 => f64::NAN,
            n if n % 2 == 1 => s[n / 2],
            n => (s[n / 2 - 1] + s[n / 2]) / 2.0,
        }
    }
}

/// A row with its figures worked out.
#[derive(Debug, Clone)]
pub struct Line {
    pub row: Row,
    pub median_s: f64,
    pub records_per_s: f64,
    /// 10^6 bytes of record values a second.
    pub mb_per_s: f64,
    pub vs_best_peer: Option<f64>,
    pub vs_limit: Option<f64>,
}

/// Every row of one workload.
#[derive(Debug, Clone)]
pub struct WorkloadResult {
    pub workload: Workload,
    pub lines: Vec<Line>,
    /// The fastest comparable peer row.
    pub best_peer: Option<&'static str>,
    pub limit: Option<&'static str>,
}

impl WorkloadResult {
    pub fn new(workload: Workload, rows: Vec<Row>) -> WorkloadResult {
        let bytes = (workload.records * workload.record_bytes) as f64;
        let rate = |row: &Row| workload.records as f64 / row.median_s();
        let best_peer = rows
            .iter()
            .filter(|r| r.kind == Kind::Peer && r.caveat.is_none())
            .max_by(|a, b| rate(a).total_cmp(&rate(b)));
        let limit = rows.iter().find(|r| r.limit);
        let (best_rate, limit_rate) = (best_peer.map(rate), limit.map(rate));
        let lines = rows
            .iter()
            .map(|row| {
                let median_s = row.median_s();
                let records_per_s = rate(row);
                Line {
                    row: row.clone(),
                    median_s,
                    records_per_s,
                    mb_per_s: bytes / median_s / 1e6,
                    vs_best_peer: best_rate.map(|b| records_per_s / b),
                    vs_limit: limit_rate.map(|l| records_per_s / l),
                }
            })
            .collect();
        WorkloadResult {
            workload,
            lines,
            best_peer: best_peer.map(|r| r.system),
            limit: limit.map(|r| r.system),
        }
    }
}

impl WorkloadResult {
    /// ` [best peer]` or ` [raw limit]` for the rows the ratios divide by, else nothing.
    pub fn role(&self, line: &Line) -> &'static str {
        if self.best_peer == Some(line.row.system) {
            " [best peer]"
        } else if line.row.limit {
            " [raw limit]"
        } else {
            ""
        }
    }
}

/// A whole run.
pub struct Report {
    pub machine: Machine,
    pub quick: bool,
    pub elapsed_s: f64,
    pub results: Vec<WorkloadResult>,
}

const HEADERS: [&str; 6] = [
    "workload",
    "system",
    "records/s",
    "MB/s",
    "× best peer",
    "× raw limit",
];

/// `12.3 M`, `456 k`, `789`.
pub fn format_count(x: f64) -> String {
    if x >= 1e6 {
        format!("{:.2} M", x / 1e6)
    } else if x >= 1e3 {
        format!("{:.1} k", x / 1e3)
    } else {
        format!("{x:.0}")
    }
}

pub fn format_mb(x: f64) -> String {
    if x >= 100.0 {
        format!("{x:.0}")
    } else {
        format!("{x:.1}")
    }
}

pub fn format_ratio(r: Option<f64>) -> String {
    match r {
        None => "-".to_string(),
        Some(r) if r >= 10.0 => format!("{r:.1}×"),
        Some(r) if r >= 0.1 => format!("{r:.2}×"),
        Some(r) => format!("{r:.3}×"),
    }
}

impl Report {
    /// The table's cells, row by row (the workload named on its first row only), and the
    /// footnotes of rows with a caveat.
    fn cells(&self) -> (Vec<[String; 6]>, Vec<String>) {
        let mut rows = Vec::new();
        let mut notes = Vec::new();
        for result in &self.results {
            for (i, line) in result.lines.iter().enumerate() {
                let mut system = line.row.system.to_string();
                if let Some(caveat) = line.row.caveat {
                    let n = match notes.iter().position(|n| n == caveat) {
                        Some(i) => i + 1,
                        None => {
                            notes.push(caveat.to_string());
                            notes.len()
                        }
                    };
                    write!(system, " ({})", "*".repeat(n)).unwrap_or(());
                }
                system.push_str(result.role(line));
                rows.push([
                    if i == 0 {
                        result.workload.name()
                    } else {
                        String::new()
                    },
                    system,
                    format_count(line.records_per_s),
                    format_mb(line.mb_per_s),
                    format_ratio(line.vs_best_peer),
                    format_ratio(line.vs_limit),
                ]);
            }
        }
        (rows, notes)
    }

    /// What the table measured, on which machine: labelled lines for above the table.
    fn preamble(&self) -> Vec<(&'static str, String)> {
        let sizes: Vec<String> = self
            .results
            .iter()
            .map(|r| {
                format!(
                    "{} {} records × {}",
                    r.workload.name(),
                    format_count(r.workload.records as f64),
                    r.workload.reps
                )
            })
            .collect();
        let mut lines = Vec::new();
        if self.quick {
            lines.push(("Quick run", "smoke sizes, not for quoting".to_string()));
        }
        lines.push(("Machine", self.machine.summary()));
        lines.push(("Load average", self.machine.load()));
        lines.push((
            "Method",
            format!(
                "median of the repetitions of each cell, systems taking turns ({}); \
                 batches of {} records for commitlog, fjall, Log::append and the raw writes; \
                 durable rows sync every batch; MB = 10^6 bytes of record values",
                sizes.join(", "),
                crate::BATCH_RECORDS,
            ),
        ));
        lines
    }

    fn limits_note() -> &'static str {
        "Raw limit: write() into the page cache for appends, memcpy for reads, write() + \
         fdatasync per batch over blocks written beforehand (a sync that writes data and no \
         metadata, so commits no journal transaction) for durable appends."
    }

    /// The plain-text table for the terminal.
    pub fn text_table(&self) -> String {
        let (rows, notes) = self.cells();
        let mut widths = HEADERS.map(|h| h.chars().count());
        for row in &rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let line = |cells: &[String]| {
            let mut out = String::new();
            for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
                let pad = " ".repeat(w - cell.chars().count());
                if i < 2 {
                    write!(out, "{cell}{pad}  ").unwrap_or(());
                } else {
                    write!(out, "{pad}{cell}  ").unwrap_or(());
                }
            }
            out.trim_end().to_string()
        };
        let mut out = String::new();
        for (label, text) in self.preamble() {
            writeln!(out, "{label}: {text}").unwrap_or(());
        }
        out.push('\n');
        let header: Vec<String> = HEADERS.iter().map(|h| h.to_string()).collect();
        out.push_str(&line(&header));
        out.push('\n');
        let total: usize = widths.iter().sum::<usize>() + 2 * (widths.len() - 1);
        out.push_str(&"-".repeat(total));
        for (i, row) in rows.iter().enumerate() {
            if i > 0 && !row[0].is_empty() {
                out.push('\n');
            }
            out.push('\n');
            out.push_str(&line(row));
        }
        out.push_str("\n\n");
        out.push_str(Self::limits_note());
        for (i, note) in notes.iter().enumerate() {
            write!(out, "\n({}) {note}", "*".repeat(i + 1)).unwrap_or(());
        }
        out
    }

    /// The table in GitHub markdown, with the machine above it.
    pub fn markdown(&self) -> String {
        let (rows, notes) = self.cells();
        let mut out = String::new();
        for (label, text) in self.preamble() {
            writeln!(out, "**{label}:** {text}  ").unwrap_or(());
        }
        out.push('\n');
        out.push_str(&format!("| {} |\n", HEADERS.join(" | ")));
        out.push_str("| --- | --- | ---: | ---: | ---: | ---: |\n");
        for row in rows {
            let escaped: Vec<String> = row.iter().map(|c| c.replace('|', "\\|")).collect();
            out.push_str(&format!("| {} |\n", escaped.join(" | ")));
        }
        out.push('\n');
        out.push_str(Self::limits_note());
        for (i, note) in notes.iter().enumerate() {
            write!(out, "\n({}) {note}", "\\*".repeat(i + 1)).unwrap_or(());
        }
        out.push('\n');
        out
    }

    pub fn json(&self) -> Value {
        let workloads: Vec<Value> = self
            .results
            .iter()
            .map(|r| {
                let rows: Vec<Value> = r
                    .lines
                    .iter()
                    .map(|l| {
                        json!({
                            "system": l.row.system,
                            "kind": l.row.kind.name(),
                            "raw_limit": l.row.limit,
                            "caveat": l.row.caveat,
                            "seconds": l.row.seconds,
                            "median_seconds": l.median_s,
                            "records_per_sec": l.records_per_s,
                            "mb_per_sec": l.mb_per_s,
                            "ratio_to_best_peer": l.vs_best_peer,
                            "ratio_to_raw_limit": l.vs_limit,
                        })
                    })
                    .collect();
                json!({
                    "name": r.workload.name(),
                    "op": match r.workload.op {
                        Op::Append => "append",
                        Op::Read => "read",
                        Op::Durable => "durable_append",
                    },
                    "record_bytes": r.workload.record_bytes,
                    "records": r.workload.records,
                    "repetitions": r.workload.reps,
                    "batch_records": crate::BATCH_RECORDS,
                    "best_peer": r.best_peer,
                    "raw_limit": r.limit,
                    "rows": rows,
                })
            })
            .collect();
        json!({
            "bench": "silt-benches compare",
            "quick": self.quick,
            "elapsed_seconds": self.elapsed_s,
            "machine": self.machine.json(),
            "units": {
                "mb_per_sec": "10^6 bytes of record values per second",
                "seconds": "timed region of each repetition; the median is reported",
            },
            "workloads": workloads,
        })
    }

    /// Writes `compare.json`, `compare.md` and `compare.svg` into `dir`.
    pub fn write(&self, dir: &Path) -> std::io::Result<Vec<PathBuf>> {
        let files = [
            ("compare.json", format!("{:#}\n", self.json())),
            ("compare.md", self.markdown()),
            ("compare.svg", crate::svg::chart(self)),
        ];
        let mut written = Vec::new();
        for (name, contents) in files {
            let path = dir.join(name);
            std::fs::write(&path, contents)?;
            written.push(path);
        }
        Ok(written)
    }
}
