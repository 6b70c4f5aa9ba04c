//! What both perf tools share: the latency recorder, the throttle, progress, and the
//! numbers of the summary.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use hdrhistogram::Histogram;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::{json, Value};

use crate::cli::{CliError, CliResult};

/// Largest latency recorded exactly: one hour, in microseconds (longer ones saturate).
const MAX_LATENCY_US: u64 = 3_600_000_000;

/// Histograms the recorder spreads its threads over. Callbacks run on the producer's writer
/// threads (at most four) and its syncer: with a shard each they never contend.
const SHARDS: usize = 8;

/// Bytes in Kafka's "MB" (a mebibyte: `1024 * 1024`, as the perf tools divide).
pub(crate) const MB: f64 = 1024.0 * 1024.0;

/// Per-record latencies (send to acknowledgment) in an HdrHistogram, recorded from the
/// producer's callbacks.
///
/// Each recording thread takes a shard (a mutex that only it locks in practice) on its
/// first record, so recording is an uncontended lock and an array increment: no allocation.
pub(crate) struct Recorder {
    shards: Box<[Mutex<Histogram<u64>>]>,
    next_shard: AtomicUsize,
    /// Records acknowledged without error.
    pub acked: AtomicU64,
    /// Records that failed.
    pub failed: AtomicU64,
    first_error: Mutex<Option<String>>,
}

thread_local! {
    /// This thread's shard, once it has recorded.
    static SHARD: Cell<Option<usize>> = const { Cell::new(None) };
}

impl Recorder {
    pub(crate) fn new() -> CliResult<Recorder> {
        let mut shards = Vec::with_capacity(SHARDS);
        for _ in 0..SHARDS {
            let histogram = Histogram::new_with_bounds(1, MAX_LATENCY_US, 3)
                .map_err(|e| CliError::Failed(format!("latency histogram: {e}")))?;
            shards.push(Mutex::new(histogram));
        }
        Ok(Recorder {
            shards: shards.into_boxed_slice(),
            next_shard: AtomicUsize::new(0),
            acked: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            first_error: Mutex::new(None),
        })
    }

    /// This thread's shard (`index < SHARDS`, so always `Some`).
    fn shard(&self) -> Option<&Mutex<Histogram<u64>>> {
        let index = SHARD.with(|shard| match shard.get() {
            Some(i) => i,
            None => {
                let i = self.next_shard.fetch_add(1, Ordering::Relaxed) % SHARDS;
                shard.set(Some(i));
                i
            }
        });
        self.shards.get(index)
    }

    /// Records one acknowledgment of a record sent at `sent`.
    #[inline]
    pub(crate) fn acknowledged(&self, sent: Instant) {
        let micros = u64::try_from(sent.elapsed().as_micros()).unwrap_or(u64::MAX);
        if let Some(Ok(mut histogram)) = self.shard().map(Mutex::lock) {
            histogram.saturating_record(micros.max(1));
        }
        self.acked.fetch_add(1, Ordering::Relaxed);
    }

    /// Records one failure.
    #[cold]
    pub(crate) fn failed(&self, error: &dyn std::fmt::Display) {
        self.failed.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut first) = self.first_error.lock() {
            first.get_or_insert_with(|| error.to_string());
        }
    }

    /// The first failure's message.
    pub(crate) fn first_error(&self) -> Option<String> {
        self.first_error.lock().ok().and_then(|e| e.clone())
    }

    /// Every shard merged.
    pub(crate) fn merged(&self) -> CliResult<Histogram<u64>> {
        let mut all = Histogram::new_with_bounds(1, MAX_LATENCY_US, 3)
            .map_err(|e| CliError::Failed(format!("latency histogram: {e}")))?;
        for shard in self.shards.iter() {
            if let Ok(histogram) = shard.lock() {
                all.add(&*histogram)
                    .map_err(|e| CliError::Failed(format!("latency histogram: {e}")))?;
            }
        }
        Ok(all)
    }
}

/// Latencies in milliseconds, as the summary reports them.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LatencyMs {
    pub avg: f64,
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
}

impl LatencyMs {
    pub(crate) fn of(histogram: &Histogram<u64>) -> LatencyMs {
        let ms = |us: u64| us as f64 / 1000.0;
        if histogram.is_empty() {
            return LatencyMs {
                avg: 0.0,
                p50: 0.0,
                p95: 0.0,
                p99: 0.0,
                p999: 0.0,
                max: 0.0,
            };
        }
        LatencyMs {
            avg: histogram.mean() / 1000.0,
            p50: ms(histogram.value_at_quantile(0.50)),
            p95: ms(histogram.value_at_quantile(0.95)),
            p99: ms(histogram.value_at_quantile(0.99)),
            p999: ms(histogram.value_at_quantile(0.999)),
            max: ms(histogram.max()),
        }
    }

    pub(crate) fn json(&self) -> Value {
        // Microsecond resolution: three decimals of a millisecond.
        let round = |v: f64| (v * 1000.0).round() / 1000.0;
        json!({
            "avg": round(self.avg),
            "p50": round(self.p50),
            "p95": round(self.p95),
            "p99": round(self.p99),
            "p999": round(self.p999),
            "max": round(self.max),
        })
    }
}

/// Kafka's `ThroughputThrottler`, per thread: keeps `records` sent after `elapsed` at or
/// below `target` per second by sleeping when ahead of schedule. It sleeps only once a
/// millisecond or more ahead, so the sleeps are few and long enough to be accurate.
pub(crate) struct Throttle {
    per_second: Option<f64>,
    start: Instant,
}

impl Throttle {
    /// `per_second` ≤ 0 (Kafka's -1): unlimited.
    pub(crate) fn new(per_second: f64, start: Instant) -> Throttle {
        Throttle {
            per_second: (per_second > 0.0).then_some(per_second),
            start,
        }
    }

    /// Called after `sent` records: sleeps while ahead of the target rate.
    #[inline]
    pub(crate) fn pace(&self, sent: u64) {
        let Some(rate) = self.per_second else {
            return;
        };
        let due = Duration::from_secs_f64(sent as f64 / rate);
        let now = self.start.elapsed();
        if due > now + Duration::from_millis(1) {
            std::thread::sleep(due - now);
        }
    }
}

/// A progress bar on stderr (hidden when stderr is not a terminal) following `done`.
pub(crate) fn progress(total: u64, what: &str) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    let template = format!(
        "{{spinner}} {what} {{pos}}/{{len}} [{{bar:40}}] {{per_sec}} ({{elapsed}}, eta {{eta}})"
    );
    if let Ok(style) = ProgressStyle::with_template(&template) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

/// Moves `bar` along with `done` every 100 ms until `done` reaches `total` or `stop` says so;
/// runs on its own thread.
pub(crate) fn follow(bar: &ProgressBar, done: &AtomicU64, stop: &std::sync::atomic::AtomicBool) {
    while !stop.load(Ordering::Acquire) {
        bar.set_position(done.load(Ordering::Relaxed));
        std::thread::sleep(Duration::from_millis(100));
    }
    bar.set_position(done.load(Ordering::Relaxed));
}

/// `time` as Kafka's perf tools print it (`yyyy-MM-dd HH:mm:ss:SSS`), in UTC.
pub(crate) fn kafka_date(time: SystemTime) -> String {
    let ms = time
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let (days, ms_of_day) = (ms.div_euclid(86_400_000), ms.rem_euclid(86_400_000));
    let (year, month, day) = civil_from_days(days);
    let (h, m, s, milli) = (
        ms_of_day / 3_600_000,
        ms_of_day / 60_000 % 60,
        ms_of_day / 1000 % 60,
        ms_of_day % 1000,
    );
    format!("{year:04}-{month:02}-{day:02} {h:02}:{m:02}:{s:02}:{milli:03}")
}

/// Days since 1970-01-01 → (year, month, day) in the proleptic Gregorian calendar (Howard
/// Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Writes `line` and a newline to stdout (an error, not a panic, when stdout is closed).
pub(crate) fn print_line(line: &str) -> CliResult<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}")
        .and_then(|()| out.flush())
        .map_err(|e| CliError::io("write to stdout", e))
}

/// `records` over `elapsed`, per second; 0 for no time.
pub(crate) fn per_second(amount: f64, elapsed: Duration) -> f64 {
    let secs = elapsed.as_secs_f64();
    if secs > 0.0 {
        amount / secs
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_print_as_kafka_prints_them_in_utc() {
        let t = UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
        assert_eq!(kafka_date(t), "2023-11-14 22:13:20:123");
        assert_eq!(kafka_date(UNIX_EPOCH), "1970-01-01 00:00:00:000");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
        assert_eq!(kafka_date(leap), "2000-02-29 00:00:00:000");
    }

    #[test]
    fn latencies_come_out_in_milliseconds() {
        let recorder = Recorder::new().unwrap();
        for us in [1000u64, 2000, 3000, 4000] {
            recorder
                .shard()
                .unwrap()
                .lock()
                .unwrap()
                .record(us)
                .unwrap();
        }
        let latency = LatencyMs::of(&recorder.merged().unwrap());
        assert!((latency.avg - 2.5).abs() < 0.01, "{latency:?}");
        assert!((latency.max - 4.0).abs() < 0.01, "{latency:?}");
        assert!((latency.p50 - 2.0).abs() < 0.01, "{latency:?}");
    }
}
