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
