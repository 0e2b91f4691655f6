//! What the pushgateway is started with (upstream's flags, parsed by the binary), Go's
//! duration syntax of `--persistence.interval`, and the route prefix rule.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use crate::own_metrics::BuildInfo;

/// The pushgateway's settings.
#[derive(Debug, Clone)]
pub struct PushgatewayConfig {
    /// `--web.telemetry-path`.
    pub telemetry_path: String,
    /// Effective route prefix: empty, or starting and not ending with `/`.
    pub route_prefix: String,
    pub enable_admin_api: bool,
    pub enable_lifecycle: bool,
    pub persistence_file: Option<PathBuf>,
    pub persistence_interval: Duration,
    /// Inverse of `--push.disable-consistency-check`.
    pub check_consistency: bool,
    /// Flag names and values as `/api/v1/status` reports them.
    pub flags: BTreeMap<String, String>,
    pub build: BuildInfo,
}

impl Default for PushgatewayConfig {
    fn default() -> PushgatewayConfig {
        PushgatewayConfig {
            telemetry_path: "/metrics".into(),
            route_prefix: String::new(),
            enable_admin_api: false,
            enable_lifecycle: false,
            persistence_file: None,
            persistence_interval: Duration::from_secs(300),
            check_consistency: true,
            flags: BTreeMap::new(),
            build: BuildInfo::default(),
        }
    }
}

/// Upstream's `computeRoutePrefix`: the prefix, else the path of the external URL; `/`
/// means none; otherwise it starts and does not end with `/`.
pub fn route_prefix(prefix: &str, external_url: &str) -> String {
    let mut p = if prefix.is_empty() {
        external_url_path(external_url).to_string()
    } else {
        prefix.to_string()
    };
    if p == "/" {
        return String::new();
    }
    if !p.starts_with('/') {
        p.insert(0, '/');
    }
    p.strip_suffix('/').map(str::to_string).unwrap_or(p)
}

/// The path of a URL such as `http://host:9091/push/`.
fn external_url_path(url: &str) -> &str {
    let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    let path = after_scheme.find('/').map_or("", |i| &after_scheme[i..]);
    path.split(['?', '#']).next().unwrap_or("")
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("time: invalid duration {0:?}")]
pub struct GoDurationError(pub String);

/// Go's `time.ParseDuration`: `300ms`, `1.5h`, `2h45m`, `5m0s`; units ns, us, µs, ms,
/// s, m, h.
pub fn parse_go_duration(s: &str) -> Result<Duration, GoDurationError> {
    let err = || GoDurationError(s.to_string());
    let body = s.strip_prefix('+').unwrap_or(s);
    if body.starts_with('-') {
        return if body == "-0" {
            Ok(Duration::ZERO)
        } else {
            Err(err())
        };
    }
    if body == "0" {
        return Ok(Duration::ZERO);
    }
    if body.is_empty() {
        return Err(err());
    }
    let mut rest = body;
    let mut total: f64 = 0.0;
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let num = &rest[..num_end];
        if num.is_empty() || num == "." {
            return Err(err());
        }
        let value: f64 = num.parse().map_err(|_| err())?;
        rest = &rest[num_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let nanos_per = match &rest[..unit_end] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return Err(err()),
        };
        rest = &rest[unit_end..];
        total += value * nanos_per;
    }
    if total > i64::MAX as f64 {
        return Err(err());
    }
    Ok(Duration::from_nanos(total.round() as u64))
}

/// Go's `time.Duration.String()`: `5m0s`, `1h30m0s`, `1.5s`, `300ms`, `0s`.
pub fn format_go_duration(d: Duration) -> String {
    let nanos = d.as_nanos();
    if nanos == 0 {
        return "0s".into();
    }
    let frac = |value: u128, unit: u128, suffix: &str| {
        let whole = value / unit;
        let rem = value % unit;
        if rem == 0 {
            return format!("{whole}{suffix}");
        }
        let width = unit.ilog10() as usize;
        let digits = format!("{rem:0width$}");
        format!("{whole}.{}{suffix}", digits.trim_end_matches('0'))
    };
    if nanos < 1_000 {
        return format!("{nanos}ns");
    }
    if nanos < 1_000_000 {
        return frac(nanos, 1_000, "µs");
    }
    if nanos < 1_000_000_000 {
        return frac(nanos, 1_000_000, "ms");
    }
    let secs_nanos = nanos % 60_000_000_000;
    let minutes = nanos / 60_000_000_000;
    let mut out = String::new();
    if minutes >= 60 {
        out.push_str(&format!("{}h", minutes / 60));
    }
    if minutes > 0 {
        out.push_str(&format!("{}m", minutes % 60));
    }
    out.push_str(&frac(secs_nanos, 1_000_000_000, "s"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        for (s, d) in [
            ("5m", 300_000),
            ("5m0s", 300_000),
            ("1h30m", 5_400_000),
            ("1.5s", 1_500),
            ("300ms", 300),
            ("0", 0),
            ("2h45m10.5s", 9_910_500),
        ] {
            assert_eq!(parse_go_duration(s), Ok(Duration::from_millis(d)), "{s}");
        }
        for bad in ["", "5", "5x", "-5m", "m", ".s", "1..2s"] {
            assert!(parse_go_duration(bad).is_err(), "{bad}");
        }
        assert_eq!(
            parse_go_duration("5x").unwrap_err().to_string(),
            "time: invalid duration \"5x\""
        );
        for (d, s) in [
            (Duration::from_secs(300), "5m0s"),
            (Duration::from_secs(5400), "1h30m0s"),
            (Duration::from_millis(1500), "1.5s"),
            (Duration::from_millis(300), "300ms"),
            (Duration::ZERO, "0s"),
            (Duration::from_secs(3600), "1h0m0s"),
        ] {
            assert_eq!(format_go_duration(d), s);
        }
    }

    #[test]
    fn route_prefixes() {
        assert_eq!(route_prefix("", ""), "");
        assert_eq!(route_prefix("/", ""), "");
        assert_eq!(route_prefix("push/", ""), "/push");
        assert_eq!(route_prefix("", "http://example.org:9091/gw/"), "/gw");
        assert_eq!(route_prefix("/x", "http://example.org/gw"), "/x");
        assert_eq!(route_prefix("", "http://example.org"), "");
    }
}
