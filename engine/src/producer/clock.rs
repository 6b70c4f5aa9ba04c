//! The CreateTime clock of a sending thread.
//!
//! Reading the system clock costs more than encoding a small record, so a shard reads it at
//! most about every half millisecond: in between, the CPU's timestamp counter (one
//! instruction) tells whether half a millisecond has passed, and if not the last reading
//! stands. A timestamp is therefore never more than half a millisecond behind the system
//! clock, which is below the millisecond resolution Kafka's timestamps have.
//!
//! The shortcut is taken only on x86-64 and only where the kernel itself keeps time with the
//! timestamp counter (its `clocksource` is `tsc`, which it picks only when the counter is
//! stable and synchronized across cores); elsewhere every record reads the system clock.
//! The counter's rate is measured once per process (the first clock to watch it for
//! [`CALIBRATION_NS`] publishes it), so a new producer's shards trust it at once.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::Instant;

/// How long the counter is watched before its rate is trusted.
const CALIBRATION_NS: u64 = 20_000_000;

/// Counter ticks in half a millisecond, once a clock of this process has measured it.
static HALF_MS_TICKS: AtomicU64 = AtomicU64::new(0);

/// A shard's clock. Not shared: each shard owns one, behind its lock.
#[derive(Debug)]
pub(crate) struct Clock {
    /// Counter value and ms at the last system clock reading.
    last_ticks: u64,
    last_ms: i64,
    /// Counter ticks in half a millisecond; 0 until calibrated (or if the counter is unusable).
    half_ms_ticks: u64,
    /// Counter value and instant where calibration started.
    anchor: Option<(u64, Instant)>,
}

impl Clock {
    pub(crate) fn new() -> Clock {
        Clock {
            last_ticks: 0,
            last_ms: 0,
            // Relaxed: the value alone is published, and it is the same for every reader.
            half_ms_ticks: HALF_MS_TICKS.load(Ordering::Relaxed),
            anchor: None,
        }
    }

    /// Milliseconds since the Unix epoch, at most half a millisecond stale.
    #[inline]
    pub(crate) fn now_ms(&mut self) -> i64 {
        if self.half_ms_ticks != 0 {
            let ticks = counter();
            if ticks.wrapping_sub(self.last_ticks) < self.half_ms_ticks {
                return self.last_ms;
            }
            self.last_ticks = ticks;
            self.last_ms = crate::log::now_ms();
            return self.last_ms;
        }
        self.read_calibrating()
    }

    #[cold]
    fn read_calibrating(&mut self) -> i64 {
        let ms = crate::log::now_ms();
        if counter_usable() {
            let ticks = counter();
            match self.anchor {
                None => self.anchor = Some((ticks, Instant::now())),
                Some((start, at)) => {
                    let ns = at.elapsed().as_nanos() as u64;
                    if ns >= CALIBRATION_NS {
                        let per_ns = ticks.wrapping_sub(start) as f64 / ns as f64;
                        // A counter that did not advance sensibly is not used.
                        if per_ns.is_finite() && per_ns > 0.01 && per_ns < 100.0 {
                            self.half_ms_ticks = (per_ns * 500_000.0) as u64;
                            HALF_MS_TICKS.store(self.half_ms_ticks, Ordering::Relaxed);
                        } else {
                            self.anchor = None;
                        }
                    }
                }
            }
            self.last_ticks = ticks;
        }
        self.last_ms = ms;
        ms
    }
}

/// A clock for short intervals, copied out of a [`Clock`] so that it can be read outside
/// the shard's lock: the timestamp counter once the shard's clock has calibrated it, else
/// the monotonic clock in nanoseconds.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ticks {
    /// Ticks in a microsecond.
    per_us: u64,
    counter: bool,
}

impl Ticks {
    /// The monotonic clock, in nanoseconds.
    pub(crate) const NANOS: Ticks = Ticks {
        per_us: 1000,
        counter: false,
    };

    /// Now, in ticks.
    #[inline]
    pub(crate) fn now(self) -> u64 {
        if self.counter {
            return counter();
        }
        static START: OnceLock<Instant> = OnceLock::new();
        START.get_or_init(Instant::now).elapsed().as_nanos() as u64
    }

    /// `us` microseconds, in ticks.
    #[inline]
    pub(crate) fn of_us(self, us: u64) -> u64 {
        us.saturating_mul(self.per_us)
    }
}

impl Clock {
    /// The interval clock (see [`Ticks`]).
    #[inline]
    pub(crate) fn ticks(&self) -> Ticks {
        match self.half_ms_ticks {
            0 => Ticks::NANOS,
            half_ms => Ticks {
                per_us: (half_ms / 500).max(1),
                counter: true,
            },
        }
    }
}

/// Whether the timestamp counter may stand in for the clock (see the module docs).
fn counter_usable() -> bool {
    static USABLE: OnceLock<bool> = OnceLock::new();
    *USABLE.get_or_init(|| {
        cfg!(target_arch = "x86_64")
            && std::fs::read_to_string(
                "/sys/devices/system/clocksource/clocksource0/current_clocksource",
            )
            .is_ok_and(|s| s.trim() == "tsc")
    })
}

#[cfg(target_arch = "x86_64")]
#[inline]
fn counter() -> u64 {
    // SAFETY: RDTSC has no preconditions on x86-64 (every x86-64 CPU has it); it only reads
    // the timestamp counter.
    #[allow(unused_unsafe)]
    unsafe {
        core::arch::x86_64::_rdtsc()
    }
}

#[cfg(not(target_arch = "x86_64"))]
#[inline]
fn counter() -> u64 {
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readings_stay_within_a_millisecond_of_the_system_clock() {
        let mut clock = Clock::new();
        let start = Instant::now();
        // Long enough to calibrate, then keep checking the shortcut's answers.
        while start.elapsed().as_millis() < 60 {
            let before = crate::log::now_ms();
            let ours = clock.now_ms();
            let after = crate::log::now_ms();
            assert!(ours <= after, "never ahead of the clock: {ours} > {after}");
            assert!(
                ours + 1 >= before,
                "at most a millisecond behind: {ours} < {before}"
            );
        }
    }
}
