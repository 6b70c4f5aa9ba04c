//! The machine a run was measured on, from `/proc` (Linux): CPU model, cores, memory,
//! kernel, the filesystem of the data directory, and the load average before and after
//! (this machine is shared, so the load says how far to trust the figures).

use std::fmt;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

#[derive(Debug, Clone)]
pub struct Machine {
    pub cpu: String,
    pub cores: usize,
    pub memory_gib: f64,
    pub kernel: String,
    pub filesystem: String,
    pub load_start: Option<[f64; 3]>,
    pub load_end: Option<[f64; 3]>,
    pub started_unix_s: u64,
}

fn read(path: &str) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// The first `key : value` line of `/proc/cpuinfo` or `/proc/meminfo` with `key`.
fn field(text: &str, key: &str) -> Option<String> {
    text.lines().find_map(|line| {
        let (k, v) = line.split_once(':')?;
        (k.trim() == key).then(|| v.trim().to_string())
    })
}

/// The model name, with the family and model numbers when the name alone is vague (a VM
/// may show just `AMD EPYC`).
fn cpu_name(cpuinfo: &str) -> String {
    let name = field(cpuinfo, "model name").unwrap_or_else(|| "unknown CPU".to_string());
    match (field(cpuinfo, "cpu family"), field(cpuinfo, "model")) {
        (Some(family), Some(model)) => format!("{name} (family {family}, model {model})"),
        _ => name,
    }
}

fn load_average() -> Option<[f64; 3]> {
    let text = read("/proc/loadavg");
    let mut it = text.split_whitespace().map(|x| x.parse::<f64>().ok());
    Some([it.next()??, it.next()??, it.next()??])
}

/// The type and source of the mount holding `dir` (the longest mount point above it).
fn filesystem_of(dir: &Path) -> String {
    let dir = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    let mountinfo = read("/proc/self/mountinfo");
    let best = mountinfo
        .lines()
        .filter_map(|line| {
            // `id parent major:minor root mount-point options ... - type source options`
            let (left, right) = line.split_once(" - ")?;
            let mount_point = left.split_whitespace().nth(4)?;
            let mut right = right.split_whitespace();
            let (fs, source) = (right.next()?, right.next()?);
            dir.starts_with(mount_point)
                .then(|| (mount_point.len(), format!("{fs} ({source})")))
        })
        .max_by_key(|(len, _)| *len);
    best.map_or_else(|| "unknown".to_string(), |(_, fs)| fs)
}

impl Machine {
    /// The machine now, with `data_dir`'s filesystem.
    pub fn detect(data_dir: &Path) -> Machine {
        let cpuinfo = read("/proc/cpuinfo");
        let mem_kib: f64 = field(&read("/proc/meminfo"), "MemTotal")
            .and_then(|v| v.trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0.0);
        Machine {
            cpu: cpu_name(&cpuinfo),
            cores: std::thread::available_parallelism().map_or(0, |n| n.get()),
            memory_gib: mem_kib / (1024.0 * 1024.0),
            kernel: read("/proc/sys/kernel/osrelease").trim().to_string(),
            filesystem: filesystem_of(data_dir),
            load_start: load_average(),
            load_end: None,
            started_unix_s: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
        }
    }

    /// Records the load average at the end of the run.
    pub fn finish(mut self) -> Machine {
        self.load_end = load_average();
        self
    }

    pub fn json(&self) -> Value {
        json!({
            "cpu": self.cpu,
            "cores": self.cores,
            "memory_gib": self.memory_gib,
            "kernel": self.kernel,
            "filesystem": self.filesystem,
            "load_average_start": self.load_start,
            "load_average_end": self.load_end,
            "started_unix_seconds": self.started_unix_s,
            "started_utc": utc_date(self.started_unix_s),
        })
    }
}

/// `YYYY-MM-DD HH:MM UTC` (Howard Hinnant's days-to-civil).
fn utc_date(unix_s: u64) -> String {
    let days = (unix_s / 86_400) as i64;
    let (hour, minute) = ((unix_s % 86_400) / 3600, (unix_s % 3600) / 60);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02} {hour:02}:{minute:02} UTC")
}

fn format_load(load: Option<[f64; 3]>) -> String {
    load.map_or_else(
        || "?".to_string(),
        |[one, five, fifteen]| format!("{one:.2} {five:.2} {fifteen:.2}"),
    )
}

impl Machine {
    /// The machine and the date: `AMD EPYC …, 2 cores, 24 GiB, Linux …, ext4 (…), <date>`.
    pub fn summary(&self) -> String {
        format!(
            "{}, {} cores, {:.0} GiB, Linux {}, {}, {}",
            self.cpu,
            self.cores,
            self.memory_gib,
            self.kernel,
            self.filesystem,
            utc_date(self.started_unix_s),
        )
    }

    /// The load average: `A B C at the start, D E F at the end`.
    pub fn load(&self) -> String {
        let mut load = format_load(self.load_start);
        if self.load_end.is_some() {
            load.push_str(&format!(
                " at the start, {} at the end",
                format_load(self.load_end)
            ));
        }
        load
    }
}

impl fmt::Display for Machine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}; load average {}", self.summary(), self.load())
    }
}
