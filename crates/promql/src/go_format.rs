//! Go's text formatting of numbers, runes and byte strings, as Prometheus' printer and
//! error messages produce them (`strconv.FormatFloat`, `%v`, `%q`, `strconv.Quote`).

use std::fmt::Write;

use hearth_model::names::go_quote;

pub use hearth_model::float::{format_go_f as format_float_f, format_go_g as format_float_g};

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
