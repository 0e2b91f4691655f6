//! Float parsing and formatting with Go's `strconv` semantics.
//!
//! Prometheus prints numbers with `strconv.FormatFloat(f, 'g' or 'f', -1, 64)` and parses
//! them with `strconv.ParseFloat`; labels such as `le="0.5"` and API responses carry those
//! strings, so hearth must produce exactly the same text.

/// Formats like Go's `strconv.FormatFloat(f, 'g', -1, 64)`: shortest round-trip digits, in
/// exponent form (`1e+06`, `1.5e-07`) when the decimal exponent is below -4 or at least 6
/// (Go decides with precision 6 in shortest mode), positional otherwise.
pub fn format_go_g(f: f64) -> String {
    let mut out = String::new();
    write_go_g(&mut out, f);
    out
}

/// Appends the Go `'g'` shortest formatting of `f` to `out`.
pub fn write_go_g(out: &mut String, f: f64) {
    if let Some(s) = special(f) {
        out.push_str(s);
        return;
    }
    let (neg, digits, exp) = shortest_digits(f);
    if neg {
        out.push('-');
    }
    if !(-4..6).contains(&exp) {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        out.push('e');
        out.push(if exp < 0 { '-' } else { '+' });
        let e = exp.unsigned_abs();
        if e < 10 {
            out.push('0');
        }
        out.push_str(&e.to_string());
    } else {
        write_positional(out, &digits, exp);
    }
}

/// Formats like Go's `strconv.FormatFloat(f, 'f', -1, 64)` (what the HTTP API returns).
pub fn format_go_f(f: f64) -> String {
    if let Some(s) = special(f) {
        return s.to_string();
    }
    // Rust's Display is the shortest round-trip positional form, as Go's 'f' with -1.
    let s = f.to_string();
    if s == "-0" { "-0".to_string() } else { s }
}

/// Formats a float as OpenMetrics requires for `le`/`quantile` labels and values:
/// like Go's `'g'`, but integral values get a `.0` (`1.0`, `1e+06` stays).
pub fn format_openmetrics(f: f64) -> String {
    if let Some(s) = special(f) {
        return s.to_string();
    }
    let mut s = format_go_g(f);
    if !s.contains(['e', '.']) {
        s.push_str(".0");
    }
    s
}

fn special(f: f64) -> Option<&'static str> {
    if f.is_nan() {
        Some("NaN")
    } else if f == f64::INFINITY {
        Some("+Inf")
    } else if f == f64::NEG_INFINITY {
        Some("-Inf")
    } else {
        None
    }
}

/// Shortest round-trip decimal digits of a finite `f`, and the decimal exponent of the
/// first digit: `f = 0.d1d2d3... * 10^(exp+1)`.
fn shortest_digits(f: f64) -> (bool, String, i32) {
    // `{:e}` gives the shortest round-trip digits in scientific form, e.g. "-1.5e-7".
    let s = format!("{:e}", f);
    let neg = s.starts_with('-');
    let s = s.trim_start_matches('-');
    let (mant, exp) = s.split_once('e').unwrap_or((s, "0"));
    let digits: String = mant.chars().filter(|c| *c != '.').collect();
    (neg, digits, exp.parse().unwrap_or(0))
}

fn write_positional(out: &mut String, digits: &str, exp: i32) {
    if exp < 0 {
        out.push_str("0.");
        for _ in 0..(-exp - 1) {
            out.push('0');
        }
        out.push_str(digits);
        return;
    }
    let int_len = exp as usize + 1;
    if digits.len() <= int_len {
        out.push_str(digits);
        for _ in digits.len()..int_len {
            out.push('0');
        }
    } else {
        out.push_str(&digits[..int_len]);
        out.push('.');
        out.push_str(&digits[int_len..]);
    }
}

/// Why a number did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseFloatError {
    #[error("strconv.ParseFloat: parsing {0:?}: invalid syntax")]
    Syntax(String),
    #[error("strconv.ParseFloat: parsing {0:?}: value out of range")]
    Range(String),
}

/// Parses like Go's `strconv.ParseFloat(s, 64)` restricted to what Prometheus accepts in
/// expositions: decimal numbers with optional sign and exponent, `Inf`/`Infinity`/`NaN`
/// in any case. Hexadecimal floats and `_` separators are rejected, as Prometheus does.
/// Finite numbers too large for f64 are a range error, as in Go.
pub fn parse_go_float(s: &str) -> Result<f64, ParseFloatError> {
    if let Some(v) = parse_short_decimal(s) {
        return Ok(v);
    }
    let b = s.as_bytes();
    let body = match b.first() {
        Some(b'+' | b'-') => &b[1..],
        _ => b,
    };
    if body.is_empty() {
        return Err(ParseFloatError::Syntax(s.to_string()));
    }
    let first = body[0];
    if first.is_ascii_alphabetic() {
        let word = &s[s.len() - body.len()..];
        let neg = b[0] == b'-';
        return if word.eq_ignore_ascii_case("inf") || word.eq_ignore_ascii_case("infinity") {
            Ok(if neg {
                f64::NEG_INFINITY
            } else {
                f64::INFINITY
            })
        } else if word.eq_ignore_ascii_case("nan") {
            Ok(f64::NAN)
        } else {
            Err(ParseFloatError::Syntax(s.to_string()))
        };
    }
    // Rust's parser accepts exactly Go's decimal grammar once words and hex are excluded.
    if body.len() > 1
        && body[0] == b'0'
        && matches!(body[1], b'x' | b'X' | b'b' | b'B' | b'o' | b'O')
    {
        return Err(ParseFloatError::Syntax(s.to_string()));
    }
    match s.parse::<f64>() {
        Ok(v) if v.is_infinite() => Err(ParseFloatError::Range(s.to_string())),
        Ok(v) => Ok(v),
        Err(_) => Err(ParseFloatError::Syntax(s.to_string())),
    }
}

/// Exact powers of ten up to 10^22 (all representable in f64).
const POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/// The common case of metric values (`12`, `-0.25`, `1027.5`): a plain decimal with at
/// most 15 significant digits. Mantissa and power of ten are then exact in f64, so one
/// division is correctly rounded (Clinger's fast path) and matches a full parse.
fn parse_short_decimal(s: &str) -> Option<f64> {
    let b = s.as_bytes();
    let (neg, mut i) = match b.first()? {
        b'-' => (true, 1),
        b'+' => (false, 1),
        _ => (false, 0),
    };
    let mut mantissa: u64 = 0;
    let mut digits = 0u32;
    let mut frac_digits = 0usize;
    let mut seen_point = false;
    let mut any_digit = false;
    while i < b.len() {
        match b[i] {
            c @ b'0'..=b'9' => {
                any_digit = true;
                if mantissa != 0 || c != b'0' {
                    digits += 1;
                    if digits > 15 {
                        return None;
                    }
                }
                mantissa = mantissa * 10 + u64::from(c - b'0');
                if seen_point {
                    frac_digits += 1;
                }
            }
            b'.' if !seen_point => seen_point = true,
            _ => return None,
        }
        i += 1;
    }
    if !any_digit || frac_digits >= POW10.len() {
        return None;
    }
    let v = mantissa as f64 / POW10[frac_digits];
    Some(if neg { -v } else { v })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_g_formatting() {
        let cases = [
            (0.0, "0"),
            (1.0, "1"),
            (-1.5, "-1.5"),
            (100000.0, "100000"),
            (1e6, "1e+06"),
            (1.5e-7, "1.5e-07"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (123456.7, "123456.7"),
            (1234567.0, "1.234567e+06"),
            (0.1, "0.1"),
            (1e21, "1e+21"),
            (1e100, "1e+100"),
            (f64::MAX, "1.7976931348623157e+308"),
            (5e-324, "5e-324"),
            (f64::INFINITY, "+Inf"),
            (f64::NAN, "NaN"),
        ];
        for (f, want) in cases {
            assert_eq!(format_go_g(f), want, "{f:e}");
        }
    }

    #[test]
    fn go_f_and_openmetrics() {
        assert_eq!(format_go_f(1e21), "1000000000000000000000");
        assert_eq!(format_go_f(1e-7), "0.0000001");
        assert_eq!(format_go_f(f64::NEG_INFINITY), "-Inf");
        assert_eq!(format_openmetrics(1.0), "1.0");
        assert_eq!(format_openmetrics(0.5), "0.5");
        assert_eq!(format_openmetrics(1e6), "1e+06");
        assert_eq!(format_openmetrics(100.0), "100.0");
    }

    #[test]
    fn short_decimals_match_the_full_parser() {
        let cases = [
            "0",
            "-0",
            "1",
            "1.",
            ".5",
            "-0.25",
            "1027.5",
            "0.1",
            "0.3",
            "123456789012345",
            "0.000000000000000000001",
            "9007199254740993",
            "1.7976931348623157",
            "00000000000000000000001.5",
            "+3.25",
            "0.1234567890123456789",
        ];
        for c in cases {
            let want: f64 = c.parse().unwrap();
            let got = parse_go_float(c).unwrap();
            assert_eq!(got.to_bits(), want.to_bits(), "{c}");
        }
        for bad in [".", "-", "-.", "1.2.3", "1a", "1e5", "inf"] {
            assert!(parse_short_decimal(bad).is_none(), "{bad}");
        }
        // Random decimals of every length and point position agree bit for bit.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..200_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let digits = format!("{}", x % 10u64.pow((x % 16) as u32 + 1));
            let point = (x >> 40) as usize % (digits.len() + 1);
            let s = format!("{}.{}", &digits[..point], &digits[point..]);
            let want: f64 = s.parse().unwrap();
            assert_eq!(parse_go_float(&s).unwrap().to_bits(), want.to_bits(), "{s}");
        }
    }

    #[test]
    fn go_parsing() {
        assert_eq!(parse_go_float("1.5e3"), Ok(1500.0));
        assert_eq!(parse_go_float("+Inf"), Ok(f64::INFINITY));
        assert_eq!(parse_go_float("-inf"), Ok(f64::NEG_INFINITY));
        assert_eq!(parse_go_float("Infinity"), Ok(f64::INFINITY));
        assert!(parse_go_float("NaN").unwrap().is_nan());
        assert_eq!(parse_go_float(".5"), Ok(0.5));
        assert_eq!(parse_go_float("00001"), Ok(1.0));
        for bad in [
            "", "-", "0x1p-3", "0x1", "1_000", "1e", "a", "1.1.1", " 1", "0b1", "0o1", "infx",
        ] {
            assert!(parse_go_float(bad).is_err(), "{bad}");
        }
        assert!(matches!(
            parse_go_float("1e400"),
            Err(ParseFloatError::Range(_))
        ));
    }
}
