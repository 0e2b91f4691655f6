//! Calendar dates of Unix days, in the proleptic Gregorian calendar and UTC, as Go's
//! `time` package computes them (Howard Hinnant's `civil_from_days`).

/// The `(year, month 1-12, day 1-31)` of a day counted from 1970-01-01 (negative before).
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        // 2016-02-29 (leap day) and 2016-12-31.
        assert_eq!(civil_from_days(16_860), (2016, 2, 29));
        assert_eq!(civil_from_days(17_166), (2016, 12, 31));
        assert_eq!(civil_from_days(-719_468), (0, 3, 1));
    }
}
