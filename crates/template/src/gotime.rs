//! Go's `time.Time` and `time.Duration` as template objects: printing (`String()`),
//! `Format` with Go reference layouts (`2006-01-02 15:04:05.999999999 -0700 MST`), the
//! accessor methods templates use, and time zones from the IANA database (`tz`).

use std::fmt::Write as _;

use chrono::{DateTime, Datelike, Offset, Timelike, Utc};
use chrono_tz::{OffsetName, Tz};

use crate::value::{Object, ParamType, Signature, Value};

/// A Go `time.Location`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Location {
    Utc,
    Zone(Tz),
}

/// Go's `time.Time`: an instant (nanoseconds since the Unix epoch) in a location.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GoTime {
    pub unix_nanos: i128,
    pub loc: Location,
}

/// Go's `time.Duration` (nanoseconds).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GoDuration(pub i64);

/// Nanoseconds from 0001-01-01 UTC (Go's zero time) to the Unix epoch.
const ZERO_TIME_UNIX_SECS: i64 = -62_135_596_800;

impl GoTime {
    pub fn from_unix_nanos(n: i128) -> GoTime {
        GoTime {
            unix_nanos: n,
            loc: Location::Utc,
        }
    }

    pub fn from_unix_millis(ms: i64) -> GoTime {
        GoTime::from_unix_nanos(i128::from(ms) * 1_000_000)
    }

    /// Go's zero `time.Time` (`0001-01-01 00:00:00 +0000 UTC`).
    pub fn zero() -> GoTime {
        GoTime::from_unix_nanos(i128::from(ZERO_TIME_UNIX_SECS) * 1_000_000_000)
    }

    pub fn now() -> GoTime {
        let d = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as i128)
            .unwrap_or(0);
        GoTime::from_unix_nanos(d)
    }

    pub fn is_zero(&self) -> bool {
        self.unix_nanos == i128::from(ZERO_TIME_UNIX_SECS) * 1_000_000_000
    }

    pub fn unix_secs(&self) -> i64 {
        i64::try_from(self.unix_nanos.div_euclid(1_000_000_000)).unwrap_or(i64::MAX)
    }

    fn subsec_nanos(&self) -> u32 {
        self.unix_nanos.rem_euclid(1_000_000_000) as u32
    }

    fn utc(&self) -> Option<DateTime<Utc>> {
        DateTime::from_timestamp(self.unix_secs(), self.subsec_nanos())
    }

    /// Wall-clock fields and zone in the time's location.
    fn parts(&self) -> Option<Parts> {
        let utc = self.utc()?;
        Some(match self.loc {
            Location::Utc => Parts::from_dt(&utc, 0, "UTC".into()),
            Location::Zone(tz) => {
                let local = utc.with_timezone(&tz);
                let offset = local.offset().fix().local_minus_utc();
                let name = local
                    .offset()
                    .abbreviation()
                    .map(str::to_string)
                    .unwrap_or_default();
                Parts::from_dt(&local, offset, name)
            }
        })
    }

    /// Go's `Time.Format`.
    pub fn format(&self, layout: &str) -> String {
        match self.parts() {
            Some(p) => format_layout(&p, layout),
            None => String::from("<time out of range>"),
        }
    }

    /// RFC 3339 with nanoseconds, as `encoding/json` writes times.
    pub fn to_rfc3339_nano(&self) -> String {
        self.format("2006-01-02T15:04:05.999999999Z07:00")
    }
}

impl std::fmt::Display for GoTime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.format("2006-01-02 15:04:05.999999999 -0700 MST"))
    }
}

/// Go's `time.LoadLocation`.
pub fn load_location(name: &str) -> Result<Location, String> {
    match name {
        "" | "UTC" => Ok(Location::Utc),
        // No local zone is configured for the server; Go would read /etc/localtime.
        "Local" => Ok(Location::Utc),
        _ => name
            .parse::<Tz>()
            .map(Location::Zone)
            .map_err(|_| format!("unknown time zone {name}")),
    }
}

struct Parts {
    year: i32,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
    nanos: u32,
    weekday: u32,
    yday: u32,
    offset: i32,
    zone: String,
}

impl Parts {
    fn from_dt<T: Datelike + Timelike>(dt: &T, offset: i32, zone: String) -> Parts {
        Parts {
            year: dt.year(),
            month: dt.month(),
            day: dt.day(),
            hour: dt.hour(),
            minute: dt.minute(),
            second: dt.second(),
            nanos: dt.nanosecond() % 1_000_000_000,
            weekday: dt.weekday().num_days_from_sunday(),
            yday: dt.ordinal(),
            offset,
            zone,
        }
    }
}

const LONG_MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const LONG_DAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];

fn month_name(m: u32) -> &'static str {
    LONG_MONTHS
        .get((m as usize).wrapping_sub(1))
        .copied()
        .unwrap_or("%!Month")
}

fn day_name(d: u32) -> &'static str {
    LONG_DAYS.get(d as usize).copied().unwrap_or("%!Weekday")
}

/// The layout elements of Go's reference time.
enum Std {
    LongMonth,
    Month,
    NumMonth,
    ZeroMonth,
    LongWeekDay,
    WeekDay,
    Day,
    UnderDay,
    ZeroDay,
    UnderYearDay,
    ZeroYearDay,
    Hour,
    Hour12,
    ZeroHour12,
    Minute,
    ZeroMinute,
    Second,
    ZeroSecond,
    LongYear,
    Year,
    PM,
    Pm,
    Tz,
    Iso(&'static str),
    Num(&'static str),
    Frac {
        sep: char,
        digits: usize,
        trim: bool,
    },
}

fn starts_lower(s: &str) -> bool {
    s.chars().next().is_some_and(|c| c.is_ascii_lowercase())
}

/// Go's `nextStdChunk`: the literal prefix, the element and the rest of the layout.
fn next_chunk(layout: &str) -> (&str, Option<Std>, &str) {
    let b = layout.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let rest = &layout[i..];
        let found: Option<(Std, usize)> = match b[i] {
            b'J' if rest.starts_with("Jan") => {
                if rest.starts_with("January") {
                    Some((Std::LongMonth, 7))
                } else if !starts_lower(&rest[3..]) {
                    Some((Std::Month, 3))
                } else {
                    None
                }
            }
            b'M' if rest.starts_with("Mon") => {
                if rest.starts_with("Monday") {
                    Some((Std::LongWeekDay, 6))
                } else if !starts_lower(&rest[3..]) {
                    Some((Std::WeekDay, 3))
                } else {
                    None
                }
            }
            b'M' if rest.starts_with("MST") => Some((Std::Tz, 3)),
            b'0' if b.get(i + 1).is_some_and(|c| (b'1'..=b'6').contains(c)) => Some((
                match b[i + 1] {
                    b'1' => Std::ZeroMonth,
                    b'2' => Std::ZeroDay,
                    b'3' => Std::ZeroHour12,
                    b'4' => Std::ZeroMinute,
                    b'5' => Std::ZeroSecond,
                    _ => Std::Year,
                },
                2,
            )),
            b'0' if rest.starts_with("002") => Some((Std::ZeroYearDay, 3)),
            b'1' => {
                if rest.starts_with("15") {
                    Some((Std::Hour, 2))
                } else {
                    Some((Std::NumMonth, 1))
                }
            }
            b'2' => {
                if rest.starts_with("2006") {
                    Some((Std::LongYear, 4))
                } else {
                    Some((Std::Day, 1))
                }
            }
            b'_' if rest.starts_with("_2") => {
                if rest.starts_with("_2006") {
                    // "_" then the year.
                    return (&layout[..i + 1], Some(Std::LongYear), &layout[i + 5..]);
                }
                Some((Std::UnderDay, 2))
            }
            b'_' if rest.starts_with("__2") => Some((Std::UnderYearDay, 3)),
            b'3' => Some((Std::Hour12, 1)),
            b'4' => Some((Std::Minute, 1)),
            b'5' => Some((Std::Second, 1)),
            b'P' if rest.starts_with("PM") => Some((Std::PM, 2)),
            b'p' if rest.starts_with("pm") => Some((Std::Pm, 2)),
            b'-' => ["-07:00:00", "-070000", "-07:00", "-0700", "-07"]
                .into_iter()
                .find(|p| rest.starts_with(p))
                .map(|p| (Std::Num(p), p.len())),
            b'Z' => ["Z07:00:00", "Z070000", "Z07:00", "Z0700", "Z07"]
                .into_iter()
                .find(|p| rest.starts_with(p))
                .map(|p| (Std::Iso(p), p.len())),
            b'.' | b',' if matches!(b.get(i + 1), Some(b'0' | b'9')) => {
                let ch = b[i + 1];
                let mut j = i + 1;
                while j < b.len() && b[j] == ch {
                    j += 1;
                }
                if b.get(j).is_some_and(u8::is_ascii_digit) {
                    None
                } else {
                    Some((
                        Std::Frac {
                            sep: b[i] as char,
                            digits: j - i - 1,
                            trim: ch == b'9',
                        },
                        j - i,
                    ))
                }
            }
            _ => None,
        };
        if let Some((std, len)) = found {
            return (&layout[..i], Some(std), &layout[i + len..]);
        }
        i += layout[i..].chars().next().map_or(1, char::len_utf8);
    }
    (layout, None, "")
}

fn format_layout(p: &Parts, layout: &str) -> String {
    let mut out = String::new();
    let mut rest = layout;
    loop {
        let (prefix, std, tail) = next_chunk(rest);
        out.push_str(prefix);
        let Some(std) = std else { break };
        rest = tail;
        let hour12 = match p.hour % 12 {
            0 => 12,
            h => h,
        };
        match std {
            Std::LongMonth => out.push_str(month_name(p.month)),
            Std::Month => out.push_str(&month_name(p.month)[..3]),
            Std::NumMonth => {
                let _ = write!(out, "{}", p.month);
            }
            Std::ZeroMonth => {
                let _ = write!(out, "{:02}", p.month);
            }
            Std::LongWeekDay => out.push_str(day_name(p.weekday)),
            Std::WeekDay => out.push_str(&day_name(p.weekday)[..3]),
            Std::Day => {
                let _ = write!(out, "{}", p.day);
            }
            Std::UnderDay => {
                let _ = write!(out, "{:>2}", p.day);
            }
            Std::ZeroDay => {
                let _ = write!(out, "{:02}", p.day);
            }
            Std::UnderYearDay => {
                let _ = write!(out, "{:>3}", p.yday);
            }
            Std::ZeroYearDay => {
                let _ = write!(out, "{:03}", p.yday);
            }
            Std::Hour => {
                let _ = write!(out, "{:02}", p.hour);
            }
            Std::Hour12 => {
                let _ = write!(out, "{hour12}");
            }
            Std::ZeroHour12 => {
                let _ = write!(out, "{hour12:02}");
            }
            Std::Minute => {
                let _ = write!(out, "{}", p.minute);
            }
            Std::ZeroMinute => {
                let _ = write!(out, "{:02}", p.minute);
            }
            Std::Second => {
                let _ = write!(out, "{}", p.second);
            }
            Std::ZeroSecond => {
                let _ = write!(out, "{:02}", p.second);
            }
            Std::LongYear => {
                if p.year < 0 {
                    let _ = write!(out, "-{:04}", -i64::from(p.year));
                } else {
                    let _ = write!(out, "{:04}", p.year);
                }
            }
            Std::Year => {
                let _ = write!(out, "{:02}", p.year.rem_euclid(100));
            }
            Std::PM => out.push_str(if p.hour >= 12 { "PM" } else { "AM" }),
            Std::Pm => out.push_str(if p.hour >= 12 { "pm" } else { "am" }),
            Std::Tz => {
                if !p.zone.is_empty() {
                    out.push_str(&p.zone);
                } else {
                    write_offset(&mut out, p.offset, "-0700");
                }
            }
            Std::Iso(pat) => {
                if p.offset == 0 {
                    out.push('Z');
                } else {
                    write_offset(&mut out, p.offset, &pat.replacen('Z', "-", 1));
                }
            }
            Std::Num(pat) => write_offset(&mut out, p.offset, pat),
            Std::Frac { sep, digits, trim } => {
                let mut frac = format!("{:09}", p.nanos);
                frac.truncate(digits.min(9));
                while frac.len() < digits {
                    frac.push('0');
                }
                if trim {
                    let t = frac.trim_end_matches('0');
                    if !t.is_empty() {
                        out.push(sep);
                        out.push_str(t);
                    }
                } else {
                    out.push(sep);
                    out.push_str(&frac);
                }
            }
        }
    }
    out
}

fn write_offset(out: &mut String, offset: i32, pat: &str) {
    let sign = if offset < 0 { '-' } else { '+' };
    let abs = offset.unsigned_abs();
    let (h, m, s) = (abs / 3600, (abs / 60) % 60, abs % 60);
    out.push(sign);
    let _ = write!(out, "{h:02}");
    match pat {
        "-07:00:00" => {
            let _ = write!(out, ":{m:02}:{s:02}");
        }
        "-070000" => {
            let _ = write!(out, "{m:02}{s:02}");
        }
        "-07:00" => {
            let _ = write!(out, ":{m:02}");
        }
        "-0700" => {
            let _ = write!(out, "{m:02}");
        }
        _ => {}
    }
}

/// Go's `Duration.String()`: `1h2m3.5s`, `1.5ms`, `0s`.
pub fn format_duration(d: i64) -> String {
    let neg = d < 0;
    let u = d.unsigned_abs();
    let mut out = String::new();
    if neg {
        out.push('-');
    }
    let frac = |v: u64, prec: u32| -> (u64, String) {
        let p = 10u64.pow(prec);
        let f = format!("{:0width$}", v % p, width = prec as usize);
        let f = f.trim_end_matches('0');
        (
            v / p,
            if f.is_empty() {
                String::new()
            } else {
                format!(".{f}")
            },
        )
    };
    if u < 1_000_000_000 {
        let (prec, unit) = match u {
            0 => return "0s".into(),
            1..=999 => (0, "ns"),
            1_000..=999_999 => (3, "µs"),
            _ => (6, "ms"),
        };
        let (int, f) = frac(u, prec);
        let _ = write!(out, "{int}{f}{unit}");
        return out;
    }
    let (secs, f) = frac(u, 9);
    let (h, m, s) = (secs / 3600, (secs / 60) % 60, secs % 60);
    if h > 0 {
        let _ = write!(out, "{h}h{m}m");
    } else if secs >= 60 {
        let _ = write!(out, "{m}m");
    }
    let _ = write!(out, "{s}{f}s");
    out
}

impl Object for GoTime {
    fn type_name(&self) -> &str {
        "time.Time"
    }

    fn method(&self, name: &str) -> Option<Signature> {
        use ParamType::*;
        Some(match name {
            "Format" => Signature::new(vec![String]),
            "Add" | "Truncate" | "Round" => Signature::new(vec![Object("time.Duration")]),
            "Sub" | "Before" | "After" | "Equal" => Signature::new(vec![Object("time.Time")]),
            "String" | "Unix" | "UnixMilli" | "UnixMicro" | "UnixNano" | "UTC" | "Local"
            | "Year" | "Month" | "Day" | "Hour" | "Minute" | "Second" | "Nanosecond"
            | "Weekday" | "YearDay" | "IsZero" => Signature::default(),
            _ => return None,
        })
    }

    fn call_method(&self, name: &str, args: Vec<Value>) -> Result<Value, String> {
        let p = self.parts().ok_or("time out of range")?;
        let dur = |a: Option<&Value>| {
            a.and_then(|v| v.downcast::<GoDuration>())
                .map_or(0, |d| d.0)
        };
        let other = |a: Option<&Value>| a.and_then(|v| v.downcast::<GoTime>()).copied();
        Ok(match name {
            "Format" => {
                Value::from(self.format(args.first().and_then(Value::as_str).unwrap_or("")))
            }
            "String" => Value::from(self.to_string()),
            "Unix" => Value::Int(self.unix_secs()),
            "UnixMilli" => {
                Value::Int(i64::try_from(self.unix_nanos.div_euclid(1_000_000)).unwrap_or(0))
            }
            "UnixMicro" => {
                Value::Int(i64::try_from(self.unix_nanos.div_euclid(1_000)).unwrap_or(0))
            }
            "UnixNano" => Value::Int(i64::try_from(self.unix_nanos).unwrap_or(0)),
            "UTC" | "Local" => Value::object(GoTime {
                unix_nanos: self.unix_nanos,
                loc: Location::Utc,
            }),
            "Year" => Value::Int(i64::from(p.year)),
            "Month" => Value::from(month_name(p.month)),
            "Day" => Value::Int(i64::from(p.day)),
            "Hour" => Value::Int(i64::from(p.hour)),
            "Minute" => Value::Int(i64::from(p.minute)),
            "Second" => Value::Int(i64::from(p.second)),
            "Nanosecond" => Value::Int(i64::from(p.nanos)),
            "Weekday" => Value::from(day_name(p.weekday)),
            "YearDay" => Value::Int(i64::from(p.yday)),
            "IsZero" => Value::Bool(self.is_zero()),
            "Add" => Value::object(GoTime {
                unix_nanos: self.unix_nanos + i128::from(dur(args.first())),
                loc: self.loc,
            }),
            "Truncate" | "Round" => {
                let d = i128::from(dur(args.first()));
                if d <= 0 {
                    Value::object(*self)
                } else {
                    // Go rounds relative to the zero time.
                    let zero = i128::from(ZERO_TIME_UNIX_SECS) * 1_000_000_000;
                    let since = self.unix_nanos - zero;
                    let mut r = since - since.rem_euclid(d);
                    if name == "Round" && since.rem_euclid(d) * 2 >= d {
                        r += d;
                    }
                    Value::object(GoTime {
                        unix_nanos: zero + r,
                        loc: self.loc,
                    })
                }
            }
            "Sub" => {
                let o = other(args.first()).ok_or("missing time")?;
                let d = (self.unix_nanos - o.unix_nanos)
                    .clamp(i128::from(i64::MIN), i128::from(i64::MAX));
                Value::object(GoDuration(d as i64))
            }
            "Before" | "After" | "Equal" => {
                let o = other(args.first()).ok_or("missing time")?;
                Value::Bool(match name {
                    "Before" => self.unix_nanos < o.unix_nanos,
                    "After" => self.unix_nanos > o.unix_nanos,
                    _ => self.unix_nanos == o.unix_nanos,
                })
            }
            _ => return Err(format!("no method {name}")),
        })
    }

    fn write_go(&self, out: &mut String) {
        out.push_str(&self.to_string());
    }

    fn write_json(&self, out: &mut String) -> bool {
        crate::json::write_json_string(out, &self.to_rfc3339_nano());
        true
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

impl Object for GoDuration {
    fn type_name(&self) -> &str {
        "time.Duration"
    }

    fn method(&self, name: &str) -> Option<Signature> {
        match name {
            "String" | "Seconds" | "Minutes" | "Hours" | "Milliseconds" | "Microseconds"
            | "Nanoseconds" | "Abs" => Some(Signature::default()),
            "Round" | "Truncate" => Some(Signature::new(vec![ParamType::Object("time.Duration")])),
            _ => None,
        }
    }

    fn call_method(&self, name: &str, args: Vec<Value>) -> Result<Value, String> {
        let d = self.0;
        let m = args
            .first()
            .and_then(|v| v.downcast::<GoDuration>())
            .map_or(0, |x| x.0);
        Ok(match name {
            "String" => Value::from(format_duration(d)),
            "Seconds" => Value::Float(d as f64 / 1e9),
            "Minutes" => Value::Float(d as f64 / 6e10),
            "Hours" => Value::Float(d as f64 / 3.6e12),
            "Milliseconds" => Value::Int(d / 1_000_000),
            "Microseconds" => Value::Int(d / 1_000),
            "Nanoseconds" => Value::Int(d),
            "Abs" => Value::object(GoDuration(d.checked_abs().unwrap_or(i64::MAX))),
            "Truncate" | "Round" => {
                if m <= 0 {
                    Value::object(*self)
                } else {
                    let mut r = d - d % m;
                    if name == "Round" && i128::from(d % m).abs() * 2 >= i128::from(m) {
                        r = r.saturating_add(if d < 0 { -m } else { m });
                    }
                    Value::object(GoDuration(r))
                }
            }
            _ => return Err(format!("no method {name}")),
        })
    }

    fn underlying(&self) -> Option<Value> {
        None
    }

    fn write_go(&self, out: &mut String) {
        out.push_str(&format_duration(self.0));
    }

    fn write_json(&self, out: &mut String) -> bool {
        out.push_str(&self.0.to_string());
        true
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}
