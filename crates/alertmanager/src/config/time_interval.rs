//! `time_intervals`: upstream's `timeinterval` package — times of day, weekdays, days of
//! the month (negative counts from the month's end), months, years, in a location.

use chrono::{Datelike, TimeZone, Timelike};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::time::Time;

/// One interval: every given dimension must contain the instant.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeInterval {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub times: Option<Vec<TimeRange>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weekdays: Option<Vec<WeekdayRange>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub days_of_month: Option<Vec<DayOfMonthRange>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub months: Option<Vec<MonthRange>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub years: Option<Vec<YearRange>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<Location>,
}

/// `start_time`/`end_time` as minutes of the day, end exclusive.
#[derive(Clone, Debug, PartialEq)]
pub struct TimeRange {
    pub start_minute: u32,
    pub end_minute: u32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTimeRange {
    start_time: String,
    end_time: String,
}

fn parse_hhmm(s: &str) -> Result<u32, String> {
    let bad = || format!("couldn't parse timestamp {s}, invalid format");
    if s == "24:00" {
        return Ok(1440);
    }
    let (h, m) = s.split_once(':').ok_or_else(bad)?;
    if h.len() != 2 || m.len() != 2 {
        return Err(bad());
    }
    let h: u32 = h.parse().map_err(|_| bad())?;
    let m: u32 = m.parse().map_err(|_| bad())?;
    if h > 23 || m > 59 {
        return Err(bad());
    }
    Ok(h * 60 + m)
}

impl<'de> Deserialize<'de> for TimeRange {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let r = RawTimeRange::deserialize(d)?;
        if r.start_time.is_empty() || r.end_time.is_empty() {
            return Err(serde::de::Error::custom(
                "both start and end times must be provided",
            ));
        }
        let start = parse_hhmm(&r.start_time).map_err(serde::de::Error::custom)?;
        let end = parse_hhmm(&r.end_time).map_err(serde::de::Error::custom)?;
        if start >= end {
            return Err(serde::de::Error::custom(
                "start time cannot be equal or greater than end time",
            ));
        }
        Ok(TimeRange {
            start_minute: start,
            end_minute: end,
        })
    }
}

fn hhmm(m: u32) -> String {
    format!("{:02}:{:02}", m / 60, m % 60)
}

impl Serialize for TimeRange {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(2))?;
        m.serialize_entry("start_time", &hhmm(self.start_minute))?;
        m.serialize_entry("end_time", &hhmm(self.end_minute))?;
        m.end()
    }
}

/// An inclusive range `begin:end` (or one value) of some calendar unit, as written.
#[derive(Clone, Debug, PartialEq)]
pub struct InclusiveRange {
    pub begin: i32,
    pub end: i32,
    written: String,
}

fn split_range(s: &str) -> (&str, Option<&str>) {
    match s.split_once(':') {
        Some((a, b)) => (a, Some(b)),
        None => (s, None),
    }
}

const WEEKDAYS: [&str; 7] = [
    "sunday",
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
];
const MONTHS: [&str; 12] = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];

fn parse_weekday(s: &str) -> Result<i32, String> {
    let l = s.to_lowercase();
    WEEKDAYS
        .iter()
        .position(|d| *d == l)
        .map(|p| p as i32)
        .ok_or_else(|| format!("{s} is not a valid weekday"))
}

fn parse_month(s: &str) -> Result<i32, String> {
    let l = s.to_lowercase();
    if let Some(p) = MONTHS.iter().position(|d| *d == l) {
        return Ok(p as i32 + 1);
    }
    match s.parse::<i32>() {
        Ok(n) if (1..=12).contains(&n) => Ok(n),
        Ok(n) => Err(format!("{n} is not a valid month")),
        Err(_) => Err(format!("{s} is not a valid month")),
    }
}

macro_rules! range_type {
    ($name:ident, $parse:expr, $check:expr) => {
        #[derive(Clone, Debug, PartialEq)]
        pub struct $name(pub InclusiveRange);

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                let parse: fn(&str) -> Result<i32, String> = $parse;
                let check: fn(i32, i32) -> Result<(), String> = $check;
                let (a, b) = split_range(&s);
                let begin = parse(a.trim()).map_err(serde::de::Error::custom)?;
                let end = match b {
                    Some(b) => parse(b.trim()).map_err(serde::de::Error::custom)?,
                    None => begin,
                };
                check(begin, end).map_err(serde::de::Error::custom)?;
                Ok($name(InclusiveRange {
                    begin,
                    end,
                    written: s,
                }))
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0.written)
            }
        }
    };
}

range_type!(WeekdayRange, parse_weekday, |b, e| if b > e {
    Err("start day cannot be after end day".into())
} else {
    Ok(())
});
range_type!(MonthRange, parse_month, |b, e| if b > e {
    Err("end month cannot be before start month".into())
} else {
    Ok(())
});
range_type!(
    DayOfMonthRange,
    |s| s
        .parse::<i32>()
        .map_err(|_| format!("{s} is not a valid day of the month")),
    |b, e| {
        for d in [b, e] {
            if d == 0 {
                return Err("zero is not a valid day of the month".into());
            }
            if !(-31..=31).contains(&d) {
                return Err(format!("{d} is not a valid day of the month: out of range"));
            }
        }
        if (b > 0 && e < 0) || (b < 0 && e > 0) || b <= e {
            Ok(())
        } else {
            Err("end day must be greater than start day".into())
        }
    }
);
range_type!(
    YearRange,
    |s| s
        .parse::<i32>()
        .map_err(|_| format!("{s} is not a valid year")),
    |b, e| if b > e {
        Err("end year cannot be before start year".into())
    } else {
        Ok(())
    }
);

/// A time zone by IANA name (`UTC`, `Local`, `Europe/Berlin`).
#[derive(Clone, Debug, PartialEq)]
pub struct Location {
    pub name: String,
    pub tz: chrono_tz::Tz,
}

impl<'de> Deserialize<'de> for Location {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        let lookup = if name == "Local" {
            std::env::var("TZ").unwrap_or_else(|_| "UTC".into())
        } else {
            name.clone()
        };
        let tz: chrono_tz::Tz = lookup
            .trim_start_matches(':')
            .parse()
            .map_err(|_| serde::de::Error::custom(format!("unknown time zone {name}")))?;
        Ok(Location { name, tz })
    }
}

impl Serialize for Location {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.name)
    }
}

fn days_in_month(year: i32, month: u32) -> i32 {
    let (ny, nm) = if month == 12 {
        (year + 1, 1)
    } else {
        (year, month + 1)
    };
    let first_next = chrono::NaiveDate::from_ymd_opt(ny, nm, 1);
    let first = chrono::NaiveDate::from_ymd_opt(year, month, 1);
    match (first, first_next) {
        (Some(a), Some(b)) => (b - a).num_days() as i32,
        _ => 31,
    }
}

impl TimeInterval {
    /// Whether `t` falls in the interval (upstream's `ContainsTime`).
    pub fn contains(&self, t: &Time) -> bool {
        let tz = self.location.as_ref().map_or(chrono_tz::UTC, |l| l.tz);
        let lt = tz.from_utc_datetime(&t.naive_utc());
        if let Some(times) = &self.times {
            let m = lt.hour() * 60 + lt.minute();
            if !times
                .iter()
                .any(|r| m >= r.start_minute && m < r.end_minute)
            {
                return false;
            }
        }
        if let Some(days) = &self.days_of_month {
            let dim = days_in_month(lt.year(), lt.month());
            let day = lt.day() as i32;
            let inside = days.iter().any(|r| {
                let r = &r.0;
                let begin = if r.begin < 0 {
                    dim + r.begin + 1
                } else {
                    r.begin
                };
                let end = if r.end < 0 { dim + r.end + 1 } else { r.end };
                if begin > dim {
                    return false;
                }
                let begin = begin.clamp(-dim, dim);
                let end = end.clamp(-dim, dim);
                day >= begin && day <= end
            });
            if !inside {
                return false;
            }
        }
        if let Some(months) = &self.months {
            let m = lt.month() as i32;
            if !months.iter().any(|r| m >= r.0.begin && m <= r.0.end) {
                return false;
            }
        }
        if let Some(wds) = &self.weekdays {
            let w = lt.weekday().num_days_from_sunday() as i32;
            if !wds.iter().any(|r| w >= r.0.begin && w <= r.0.end) {
                return false;
            }
        }
        if let Some(years) = &self.years {
            let y = lt.year();
            if !years.iter().any(|r| y >= r.0.begin && y <= r.0.end) {
                return false;
            }
        }
        true
    }
}

/// A named list of intervals (`time_intervals` / deprecated `mute_time_intervals`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NamedTimeInterval {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub time_intervals: Vec<TimeInterval>,
}

impl NamedTimeInterval {
    /// Whether any of the intervals contains `t`.
    pub fn contains(&self, t: &Time) -> bool {
        self.time_intervals.iter().any(|i| i.contains(t))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::parse_rfc3339;

    fn ti(yaml: &str) -> TimeInterval {
        serde_saphyr::from_str(yaml).unwrap()
    }

    fn at(s: &str) -> Time {
        parse_rfc3339(s).unwrap()
    }

    #[test]
    fn business_hours() {
        let i =
            ti("times:\n- start_time: '09:00'\n  end_time: '17:00'\nweekdays: ['monday:friday']\n");
        assert!(i.contains(&at("2024-03-04T09:00:00Z"))); // Monday
        assert!(!i.contains(&at("2024-03-04T17:00:00Z"))); // end exclusive
        assert!(!i.contains(&at("2024-03-03T10:00:00Z"))); // Sunday
        assert!(i.contains(&at("2024-03-08T16:59:59Z"))); // Friday
    }

    #[test]
    fn negative_days_months_years_and_location() {
        let i = ti("days_of_month: ['-3:-1']\n");
        assert!(i.contains(&at("2024-02-27T00:00:00Z"))); // leap February: 27..29
        assert!(!i.contains(&at("2024-02-26T23:00:00Z")));
        assert!(i.contains(&at("2023-04-30T00:00:00Z")));
        let i = ti("months: ['january:march', '12']\nyears: ['2020:2022']\n");
        assert!(i.contains(&at("2021-12-05T00:00:00Z")));
        assert!(!i.contains(&at("2021-04-05T00:00:00Z")));
        assert!(!i.contains(&at("2023-01-05T00:00:00Z")));
        let i = ti("times:\n- start_time: '00:00'\n  end_time: '01:00'\nlocation: Europe/Berlin\n");
        assert!(i.contains(&at("2024-01-01T23:30:00Z"))); // 00:30 in Berlin
        assert!(!i.contains(&at("2024-01-01T00:30:00Z")));
        let i = ti("times:\n- start_time: '22:00'\n  end_time: '24:00'\n");
        assert!(i.contains(&at("2024-01-01T23:59:00Z")));
    }

    #[test]
    fn errors() {
        let bad = |y: &str| {
            serde_saphyr::from_str::<TimeInterval>(y)
                .unwrap_err()
                .to_string()
        };
        assert!(bad("weekdays: ['funday']").contains("funday is not a valid weekday"));
        assert!(bad("days_of_month: ['0']").contains("zero is not a valid day"));
        assert!(
            bad("times:\n- start_time: '10:00'\n  end_time: '09:00'\n")
                .contains("start time cannot be equal or greater than end time")
        );
        assert!(
            bad("times:\n- start_time: '25:00'\n  end_time: '26:00'\n")
                .contains("couldn't parse timestamp 25:00")
        );
        assert!(bad("location: Mars/Olympus").contains("unknown time zone"));
        assert!(bad("wekdays: []").contains("wekdays"));
    }
}
