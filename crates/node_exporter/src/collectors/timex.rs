//! `timex`: the kernel's clock discipline state from `adjtimex(2)`.

use crate::collector::{CollectError, Collector};
use crate::sink::MetricSink;
use crate::sys;
pub use crate::sys::Timex;

/// `adjtimex` returns this state while the clock is not synchronised.
const TIME_ERROR: i32 = 5;
/// Status bit: offsets are in nanoseconds rather than microseconds.
const STA_NANO: i32 = 0x2000;
/// Frequencies are in ppm with a 16-bit binary fraction.
const PPM16_FRAC: f64 = 65536.0 * 1_000_000.0;

/// Writes the metrics of one `adjtimex` result (apart from the syscall, for tests).
pub fn write_timex(sink: &mut MetricSink, t: &Timex) {
    let divisor = if t.status & STA_NANO != 0 { 1e9 } else { 1e6 };
    let gauges: [(&str, &str, f64); 13] = [
        (
            "node_timex_sync_status",
            "Is clock synchronized to a reliable server (1 = yes, 0 = no).",
            if t.state == TIME_ERROR { 0.0 } else { 1.0 },
        ),
        (
            "node_timex_offset_seconds",
            "Time offset in between local system and reference clock.",
            t.offset as f64 / divisor,
        ),
        (
            "node_timex_frequency_adjustment_ratio",
            "Local clock frequency adjustment.",
            1.0 + t.freq as f64 / PPM16_FRAC,
        ),
        (
            "node_timex_maxerror_seconds",
            "Maximum error in seconds.",
            t.maxerror as f64 / 1e6,
        ),
        (
            "node_timex_estimated_error_seconds",
            "Estimated error in seconds.",
            t.esterror as f64 / 1e6,
        ),
        (
            "node_timex_status",
            "Value of the status array bits.",
            t.status as f64,
        ),
        (
            "node_timex_loop_time_constant",
            "Phase-locked loop time constant.",
            t.constant as f64,
        ),
        (
            "node_timex_tick_seconds",
            "Seconds between clock ticks.",
            t.tick as f64 / 1e6,
        ),
        (
            "node_timex_pps_frequency_hertz",
            "Pulse per second frequency.",
            t.ppsfreq as f64 / PPM16_FRAC,
        ),
        (
            "node_timex_pps_jitter_seconds",
            "Pulse per second jitter.",
            t.jitter as f64 / divisor,
        ),
        (
            "node_timex_pps_shift_seconds",
            "Pulse per second interval duration.",
            t.shift as f64,
        ),
        (
            "node_timex_pps_stability_hertz",
            "Pulse per second stability, average of recent frequency changes.",
            t.stabil as f64 / PPM16_FRAC,
        ),
        (
            "node_timex_tai_offset_seconds",
            "International Atomic Time (TAI) offset.",
            t.tai as f64,
        ),
    ];
    for (name, help, v) in gauges {
        sink.gauge(name, help, &[], v);
    }
    for (name, help, v) in [
        (
            "node_timex_pps_jitter_total",
            "Pulse per second count of jitter limit exceeded events.",
            t.jitcnt,
        ),
        (
            "node_timex_pps_calibration_total",
            "Pulse per second count of calibration intervals.",
            t.calcnt,
        ),
        (
            "node_timex_pps_error_total",
            "Pulse per second count of calibration errors.",
            t.errcnt,
        ),
        (
            "node_timex_pps_stability_exceeded_total",
            "Pulse per second count of stability limit exceeded events.",
            t.stbcnt,
        ),
    ] {
        sink.counter(name, help, &[], v as f64);
    }
}

pub struct TimexCollector;

impl Collector for TimexCollector {
    fn name(&self) -> &'static str {
        "timex"
    }

    fn update(&self, sink: &mut MetricSink) -> Result<(), CollectError> {
        let t = sys::adjtimex()
            .map_err(|e| CollectError::Other(format!("failed to retrieve adjtimex stats: {e}")))?;
        write_timex(sink, &t);
        Ok(())
    }
}
