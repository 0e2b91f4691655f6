//! Prometheus durations (`1h30m`, `5m`, `1y`, `250ms`): parsing and printing exactly as
//! `github.com/prometheus/common/model.Duration` does.
//!
//! Durations are counted in milliseconds, the finest unit Prometheus accepts. The range
//! is that of Go's `time.Duration` (nanoseconds in an `i64`), about 292 years.

use std::fmt;

const MS_PER_SECOND: u64 = 1000;
const MS_PER_MINUTE: u64 = 60 * MS_PER_SECOND;
const MS_PER_HOUR: u64 = 60 * MS_PER_MINUTE;
const MS_PER_DAY: u64 = 24 * MS_PER_HOUR;
const MS_PER_WEEK: u64 = 7 * MS_PER_DAY;
const MS_PER_YEAR: u64 = 365 * MS_PER_DAY;

/// Nanoseconds per millisecond: the overflow checks are made in nanoseconds, as in Go.
const NS_PER_MS: u64 = 1_000_000;

/// The largest duration Go's `time.Duration` can hold, in milliseconds.
pub const MAX_DURATION_MS: i64 = i64::MAX / NS_PER_MS as i64;

/// Why a duration string was rejected; the messages are Prometheus' own.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    #[error("empty duration string")]
    Empty,
    #[error("not a valid duration string: {0:?}")]
    Invalid(String),
    #[error("unknown unit {unit:?} in duration {input:?}")]
    UnknownUnit { unit: String, input: String },
    #[error("duration out of range")]
    OutOfRange,
}

/// Units from the biggest to the smallest; a duration must use them in this order.
const UNITS: [(&str, u64); 7] = [
    ("y", MS_PER_YEAR),
    ("w", MS_PER_WEEK),
    ("d", MS_PER_DAY),
    ("h", MS_PER_HOUR),
    ("m", MS_PER_MINUTE),
    ("s", MS_PER_SECOND),
    ("ms", 1),
];

/// Parses a Prometheus duration such as `1h30m` into milliseconds. `0` is accepted
/// without a unit; negative durations are not (callers handle a leading `-`).
pub fn parse_duration(s: &str) -> Result<i64, DurationError> {
    match s {
        "0" => return Ok(0),
        "" => return Err(DurationError::Empty),
        _ => {}
    }
    let invalid = || DurationError::Invalid(s.to_string());
    let bytes = s.as_bytes();
    let mut i = 0;
    let mut total_ns: u64 = 0;
    // Index into UNITS of the last unit seen: units must strictly decrease.
    let mut last_unit: Option<usize> = None;
    while i < bytes.len() {
        let digits_start = i;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        if i == digits_start {
            return Err(invalid());
        }
        let value: u64 = s[digits_start..i].parse().map_err(|_| invalid())?;
        let unit_start = i;
        while i < bytes.len() && !bytes[i].is_ascii_digit() {
            i += 1;
        }
        if i == unit_start {
            return Err(invalid());
        }
        let unit = &s[unit_start..i];
        let Some(unit_index) = UNITS.iter().position(|(name, _)| *name == unit) else {
            return Err(DurationError::UnknownUnit {
                unit: unit.to_string(),
                input: s.to_string(),
            });
        };
        if last_unit.is_some_and(|last| unit_index <= last) {
            return Err(invalid());
        }
        last_unit = Some(unit_index);
        let unit_ns = UNITS[unit_index].1 * NS_PER_MS;
        if value > (1u64 << 63) / unit_ns {
            return Err(DurationError::OutOfRange);
        }
        total_ns = total_ns
            .checked_add(value * unit_ns)
            .ok_or(DurationError::OutOfRange)?;
        if total_ns > i64::MAX as u64 {
            return Err(DurationError::OutOfRange);
        }
    }
    Ok((total_ns / NS_PER_MS) as i64)
}

/// Writes a non-negative duration as Prometheus prints it: `1h30m`, `90d` (years and weeks
/// only when exact), `0s` for zero. A negative duration writes nothing, as in Go; print
/// the sign yourself and pass the magnitude.
pub fn write_duration(out: &mut impl fmt::Write, ms: i64) -> fmt::Result {
    if ms == 0 {
        return out.write_str("0s");
    }
    let Ok(mut rest) = u64::try_from(ms) else {
        return Ok(());
    };
    for (unit, mult) in UNITS {
        // Years and weeks only when they divide exactly: `90d` reads better than `12w6d`.
        let exact_only = mult == MS_PER_YEAR || mult == MS_PER_WEEK;
        if exact_only && rest % mult != 0 {
            continue;
        }
        let v = rest / mult;
        if v > 0 {
            write!(out, "{v}{unit}")?;
            rest -= v * mult;
        }
    }
    Ok(())
}

/// A duration formatted by [`write_duration`].
pub fn format_duration(ms: i64) -> String {
    let mut s = String::new();
    let _ = write_duration(&mut s, ms);
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_like_prometheus() {
        assert_eq!(parse_duration("0"), Ok(0));
        assert_eq!(parse_duration("1h30m"), Ok(90 * 60_000));
        assert_eq!(parse_duration("1m30ms"), Ok(60_030));
        assert_eq!(parse_duration("5y"), Ok(5 * 365 * 86_400_000));
        assert_eq!(parse_duration("2w"), Ok(14 * 86_400_000));
        assert_eq!(parse_duration(""), Err(DurationError::Empty));
        assert_eq!(
            parse_duration("5m1h").unwrap_err().to_string(),
            r#"not a valid duration string: "5m1h""#
        );
        assert_eq!(
            parse_duration("5y1hs").unwrap_err().to_string(),
            r#"unknown unit "hs" in duration "5y1hs""#
        );
        assert_eq!(
            parse_duration("1.5m").unwrap_err().to_string(),
            r#"unknown unit "." in duration "1.5m""#
        );
        assert_eq!(parse_duration("300y"), Err(DurationError::OutOfRange));
        assert_eq!(
            parse_duration("99999999999999999999s"),
            Err(DurationError::Invalid("99999999999999999999s".into()))
        );
    }

    #[test]
    fn prints_like_prometheus() {
        assert_eq!(format_duration(0), "0s");
        assert_eq!(format_duration(90 * 60_000), "1h30m");
        assert_eq!(format_duration(90 * 86_400_000), "90d");
        assert_eq!(format_duration(14 * 86_400_000), "2w");
        assert_eq!(format_duration(365 * 86_400_000), "1y");
        assert_eq!(format_duration(4_018), "4s18ms");
        assert_eq!(format_duration(100_000), "1m40s");
        assert_eq!(format_duration(-5), "");
    }
}
