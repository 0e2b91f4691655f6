//! Go's text formatting of numbers, runes and byte strings, as Prometheus' printer and
//! error messages produce them (`strconv.FormatFloat`, `%v`, `%q`, `strconv.Quote`).

use std::fmt::Write;

use hearth_model::names::go_quote;

/// Go's `strconv.FormatFloat(v, 'f', -1, 64)`: the shortest digits that round-trip, never
/// in exponent form; infinities as `+Inf`/`-Inf`.
pub fn format_float_f(v: f64) -> String {
    if let Some(s) = non_finite(v) {
        return s.to_string();
    }
    // Rust's Display is the shortest round-trip representation in positional notation.
    format!("{v}")
}

/// Go's `%v` (`strconv.FormatFloat(v, 'g', -1, 64)`): shortest digits, in exponent form
/// when the decimal exponent is below -4 or at least 6.
pub fn format_float_g(v: f64) -> String {
    if let Some(s) = non_finite(v) {
        return s.to_string();
    }
    let (negative, digits, exp) = shortest_digits(v);
    let mut out = String::new();
    if negative {
        out.push('-');
    }
    // `exp` is the exponent of the first digit: v = 0.d1d2... * 10^(exp+1).
    if !(-4..6).contains(&exp) {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        let _ = write!(
            out,
            "e{}{:02}",
            if exp < 0 { '-' } else { '+' },
            exp.unsigned_abs()
        );
    } else {
        write_positional(&mut out, &digits, exp + 1);
    }
    out
}

/// Go's `%.Nf` (`strconv.FormatFloat(v, 'f', N, 64)`).
pub fn format_float_fixed(v: f64, precision: usize) -> String {
    if let Some(s) = non_finite(v) {
        return s.to_string();
    }
    format!("{v:.precision$}")
}

fn non_finite(v: f64) -> Option<&'static str> {
    if v.is_nan() {
        Some("NaN")
    } else if v == f64::INFINITY {
        Some("+Inf")
    } else if v == f64::NEG_INFINITY {
        Some("-Inf")
    } else {
        None
    }
}

/// Sign, shortest round-trip decimal digits (no leading zeros, at least one digit) and the
/// decimal exponent of the first digit.
fn shortest_digits(v: f64) -> (bool, String, i32) {
    // Rust's `{:e}` gives the shortest round-trip digits as `d.ddde[-]x`.
    let s = format!("{:e}", v.abs());
    let (mantissa, exp) = s.split_once('e').unwrap_or((s.as_str(), "0"));
    let digits: String = mantissa.chars().filter(|c| c.is_ascii_digit()).collect();
    let exp: i32 = exp.parse().unwrap_or(0);
    (v.is_sign_negative(), digits, exp)
}

/// Writes `digits` with the decimal point after `point` digits (may be ≤ 0 or beyond).
fn write_positional(out: &mut String, digits: &str, point: i32) {
    if point <= 0 {
        out.push_str("0.");
        for _ in 0..(-point) {
            out.push('0');
        }
        out.push_str(digits);
        return;
    }
    let point = point as usize;
    if point >= digits.len() {
        out.push_str(digits);
        for _ in digits.len()..point {
            out.push('0');
        }
    } else {
        out.push_str(&digits[..point]);
        out.push('.');
        out.push_str(&digits[point..]);
    }
}

/// Go's `strconv.Quote` of a byte string: like [`go_quote`], with bytes that are not valid
/// UTF-8 written as `\xNN`.
pub fn go_quote_bytes(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() + 2);
    out.push('"');
    for chunk in bytes.utf8_chunks() {
        let quoted = go_quote(chunk.valid());
        out.push_str(&quoted[1..quoted.len() - 1]);
        for b in chunk.invalid() {
            let _ = write!(out, "\\x{b:02x}");
        }
    }
    out.push('"');
    out
}

/// Replaces U+FFFD in quoted text by its escape `\ufffd`. The lexer rejects a literal
/// U+FFFD in strings, as upstream does (Go decodes invalid UTF-8 to it), so printed
/// queries must not contain one.
pub fn escape_replacement_characters(quoted: &str) -> String {
    quoted.replace('\u{FFFD}', "\\ufffd")
}

/// Go's `%q` of a rune: `'x'`, `'\n'`, `'\''`.
pub fn go_quote_rune(c: char) -> String {
    match c {
        '\'' => "'\\''".to_string(),
        '"' => "'\"'".to_string(),
        _ => {
            let quoted = go_quote(c.encode_utf8(&mut [0; 4]));
            format!("'{}'", &quoted[1..quoted.len() - 1])
        }
    }
}

/// Go's `%.Nq`: the string cut to `max_chars` characters, then quoted.
pub fn go_quote_truncated(s: &str, max_chars: usize) -> String {
    match s.char_indices().nth(max_chars) {
        Some((i, _)) => go_quote(&s[..i]),
        None => go_quote(s),
    }
}

/// Go's `%#U` of a rune, used in escape-sequence errors: `U+0063 'c'`.
pub fn go_unicode_notation(c: char) -> String {
    let quoted = go_quote(c.encode_utf8(&mut [0; 4]));
    // `%#U` prints the character itself only when it is printable.
    if quoted.len() == c.len_utf8() + 2 || c == '"' || c == '\\' {
        format!("U+{:04X} '{}'", c as u32, c)
    } else {
        format!("U+{:04X}", c as u32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_like_go() {
        assert_eq!(format_float_f(1.0), "1");
        assert_eq!(format_float_f(0.005), "0.005");
        assert_eq!(format_float_f(1e21), "1000000000000000000000");
        assert_eq!(format_float_f(f64::INFINITY), "+Inf");
        assert_eq!(format_float_f(-0.0), "-0");
        assert_eq!(format_float_g(0.0), "0");
        assert_eq!(format_float_g(123456.0), "123456");
        assert_eq!(format_float_g(1e6), "1e+06");
        assert_eq!(format_float_g(1.5e-7), "1.5e-07");
        assert_eq!(format_float_g(0.0001), "0.0001");
        assert_eq!(format_float_g(-2.5), "-2.5");
        assert_eq!(format_float_g(1e100), "1e+100");
        assert_eq!(format_float_g(f64::NEG_INFINITY), "-Inf");
        assert_eq!(format_float_fixed(10.0, 3), "10.000");
        assert_eq!(format_float_fixed(f64::NAN, 3), "NaN");
    }

    #[test]
    fn quoting_like_go() {
        assert_eq!(go_quote_bytes(b"a\xc5z"), r#""a\xc5z""#);
        assert_eq!(go_quote_bytes("ü\"".as_bytes()), r#""ü\"""#);
        assert_eq!(go_quote_rune('.'), "'.'");
        assert_eq!(go_quote_rune('\''), r"'\''");
        assert_eq!(go_quote_rune('"'), "'\"'");
        assert_eq!(go_quote_rune('\n'), r"'\n'");
        assert_eq!(go_quote_truncated("abcdefghijkl", 10), r#""abcdefghij""#);
        assert_eq!(go_unicode_notation('c'), "U+0063 'c'");
        assert_eq!(go_unicode_notation('\n'), "U+000A");
    }
}
