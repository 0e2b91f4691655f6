//! Timestamps, float samples and the staleness marker.

use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch, as everywhere in Prometheus.
pub type Timestamp = i64;

/// The bit pattern of the NaN that marks a series as stale (Prometheus' `value.StaleNaN`).
pub const STALE_NAN_BITS: u64 = 0x7ff0_0000_0000_0002;
/// The bit pattern of the ordinary NaN Prometheus writes (`value.NormalNaN`).
pub const NORMAL_NAN_BITS: u64 = 0x7ff8_0000_0000_0001;

/// The staleness marker value.
pub fn stale_nan() -> f64 {
    f64::from_bits(STALE_NAN_BITS)
}

/// Whether `v` is exactly the staleness marker (other NaNs are ordinary values).
pub fn is_stale_nan(v: f64) -> bool {
    v.to_bits() == STALE_NAN_BITS
}

/// One float sample.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    pub t: Timestamp,
    pub v: f64,
}

/// The current time in milliseconds.
pub fn now_ms() -> Timestamp {
    system_time_ms(SystemTime::now())
}

/// Converts a system time to milliseconds since the epoch (negative before 1970).
pub fn system_time_ms(t: SystemTime) -> Timestamp {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_millis() as Timestamp,
        Err(e) => -(e.duration().as_millis() as Timestamp),
    }
}

/// Converts float seconds (OpenMetrics timestamps) to milliseconds, as Prometheus does:
/// truncated toward zero after scaling. Returns `None` for non-finite input.
pub fn seconds_to_ms(s: f64) -> Option<Timestamp> {
    if !s.is_finite() {
        return None;
    }
    let ms = s * 1000.0;
    if ms >= i64::MAX as f64 || ms <= i64::MIN as f64 {
        return None;
    }
    Some(ms as Timestamp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_marker() {
        assert!(is_stale_nan(stale_nan()));
        assert!(stale_nan().is_nan());
        assert!(!is_stale_nan(f64::NAN));
        assert!(!is_stale_nan(f64::from_bits(NORMAL_NAN_BITS)));
    }

    #[test]
    fn seconds() {
        assert_eq!(seconds_to_ms(1.5), Some(1500));
        assert_eq!(seconds_to_ms(-1.5), Some(-1500));
        assert_eq!(seconds_to_ms(f64::INFINITY), None);
    }
}
