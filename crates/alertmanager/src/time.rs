//! Time as Alertmanager shows it: UTC instants, Go's RFC 3339 forms, Go durations.

use chrono::{DateTime, Datelike, SecondsFormat, Timelike, Utc};

/// An instant. `Time::ZERO`-like values are Go's zero time (`0001-01-01T00:00:00Z`).
pub type Time = DateTime<Utc>;

/// The current time.
pub fn now() -> Time {
    DateTime::<Utc>::from(std::time::SystemTime::now())
}

/// Go's zero `time.Time`.
pub fn zero() -> Time {
    DateTime::<Utc>::from_timestamp(-62_135_596_800, 0).unwrap_or_default()
}

pub fn is_zero(t: &Time) -> bool {
    *t == zero()
}

/// `time.RFC3339Nano` as Go's `MarshalJSON` writes it: trailing zeros of the fraction
/// trimmed, `Z` for UTC.
pub fn rfc3339_nano(t: &Time) -> String {
    let mut s = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        t.year(),
        t.month(),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    );
    let ns = t.nanosecond() % 1_000_000_000;
    if ns > 0 {
        let frac = format!("{ns:09}");
        s.push('.');
        s.push_str(frac.trim_end_matches('0'));
    }
    s.push('Z');
    s
}

/// go-openapi's `strfmt.DateTime`: milliseconds always shown.
pub fn rfc3339_millis(t: &Time) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Parses an RFC 3339 time with any fraction and offset.
pub fn parse_rfc3339(s: &str) -> Result<Time, String> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| format!("parsing time {s:?}: {e}"))
}

pub fn add(t: &Time, d: std::time::Duration) -> Time {
    chrono::Duration::from_std(d)
        .ok()
        .and_then(|d| t.checked_add_signed(d))
        .unwrap_or(*t)
}

pub fn sub(t: &Time, d: std::time::Duration) -> Time {
    chrono::Duration::from_std(d)
        .ok()
        .and_then(|d| t.checked_sub_signed(d))
        .unwrap_or(*t)
}

/// Go's `time.Duration.String()`: `1h2m3s`, `500ms`, `0s`.
pub fn go_duration(d: std::time::Duration) -> String {
    hearth_template::gotime::format_duration(i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

/// serde helpers for RFC 3339 times (Go's `time.Time` JSON).
pub mod serde_rfc3339 {
    use super::*;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &Time, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&rfc3339_nano(t))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Time, D::Error> {
        let s = String::deserialize(d)?;
        parse_rfc3339(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_forms() {
        assert_eq!(rfc3339_nano(&zero()), "0001-01-01T00:00:00Z");
        let t = parse_rfc3339("2024-01-02T03:04:05.120+01:00").unwrap();
        assert_eq!(rfc3339_nano(&t), "2024-01-02T02:04:05.12Z");
        assert_eq!(rfc3339_millis(&t), "2024-01-02T02:04:05.120Z");
        assert_eq!(go_duration(std::time::Duration::from_secs(3725)), "1h2m5s");
    }
}
