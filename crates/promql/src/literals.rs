//! The values of literal tokens: numbers as Go's `strconv.ParseInt(s, 0, 64)` then
//! `strconv.ParseFloat` read them (hex, octal, `_` separators, `Inf`, `NaN`), and strings
//! as Prometheus' `strutil.Unquote` reads them (Go escapes, byte-valued `\x` and octal).

use hearth_model::names::go_quote;

/// Reads a number token's text as upstream does: as an integer in any Go base first,
/// then as a float. The error text is Go's (`strconv.ParseFloat: parsing "x": ...`).
pub fn parse_number(text: &str) -> Result<f64, String> {
    if let Some(i) = parse_go_int(text) {
        return Ok(i as f64);
    }
    parse_go_float(text)
        .map_err(|reason| format!("strconv.ParseFloat: parsing {}: {reason}", go_quote(text)))
}

/// Go's `strconv.ParseInt(s, 0, 64)`; `None` on any error (the caller falls back to float).
fn parse_go_int(s: &str) -> Option<i64> {
    let (negative, body) = split_sign(s);
    if body.is_empty() {
        return None;
    }
    let lower: String = body
        .chars()
        .take(2)
        .collect::<String>()
        .to_ascii_lowercase();
    let (radix, digits) = if lower == "0x" {
        (16, &body[2..])
    } else if lower == "0b" {
        (2, &body[2..])
    } else if lower == "0o" {
        (8, &body[2..])
    } else if body.len() > 1 && body.starts_with('0') {
        (8, &body[1..])
    } else {
        (10, body)
    };
    if body.contains('_') && !underscores_ok(body) {
        return None;
    }
    let digits: String = digits.chars().filter(|&c| c != '_').collect();
    if digits.is_empty() {
        return None;
    }
    let magnitude = u64::from_str_radix(&digits, radix).ok()?;
    if negative {
        if magnitude > i64::MIN.unsigned_abs() {
            return None;
        }
        Some((magnitude as i64).wrapping_neg())
    } else {
        i64::try_from(magnitude).ok()
    }
}

fn split_sign(s: &str) -> (bool, &str) {
    match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    }
}

/// Go's rule: `_` only between digits, or between a base prefix and a digit.
fn underscores_ok(s: &str) -> bool {
    let (_, s) = split_sign(s);
    let bytes = s.as_bytes();
    let mut saw = b'^';
    let mut i = 0;
    let mut hex = false;
    if bytes.len() >= 2
        && bytes[0] == b'0'
        && matches!(bytes[1].to_ascii_lowercase(), b'b' | b'o' | b'x')
    {
        hex = bytes[1].eq_ignore_ascii_case(&b'x');
        i = 2;
        saw = b'0';
    }
    while i < bytes.len() {
        let c = bytes[i];
        if c.is_ascii_digit() || (hex && c.is_ascii_hexdigit()) {
            saw = b'0';
        } else if c == b'_' {
            if saw != b'0' {
                return false;
            }
            saw = b'_';
        } else {
            if saw == b'_' {
                return false;
            }
            saw = b'!';
        }
        i += 1;
    }
    saw != b'_'
}

/// Go's `strconv.ParseFloat(s, 64)`; the error is the reason only.
fn parse_go_float(s: &str) -> Result<f64, &'static str> {
    const SYNTAX: &str = "invalid syntax";
    const RANGE: &str = "value out of range";
    let (negative, body) = split_sign(s);
    let lower = body.to_ascii_lowercase();
    match lower.as_str() {
        "inf" | "infinity" => {
            return Ok(if negative {
                f64::NEG_INFINITY
            } else {
                f64::INFINITY
            });
        }
        "nan" if s.len() == body.len() => return Ok(f64::NAN),
        _ => {}
    }
    if body.contains('_') && !underscores_ok(s) {
        return Err(SYNTAX);
    }
    let cleaned: String = body.chars().filter(|&c| c != '_').collect();
    let magnitude = if lower.starts_with("0x") {
        parse_hex_float(&cleaned[2..]).ok_or(SYNTAX)?
    } else {
        let bytes = cleaned.as_bytes();
        // Only what Go accepts: digits, one '.', an exponent with digits.
        let valid = !bytes.is_empty()
            && bytes
                .iter()
                .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'))
            && bytes.iter().any(|b| b.is_ascii_digit());
        if !valid {
            return Err(SYNTAX);
        }
        cleaned.parse::<f64>().map_err(|_| SYNTAX)?
    };
    if magnitude.is_infinite() {
        return Err(RANGE);
    }
    Ok(if negative { -magnitude } else { magnitude })
}

/// A hexadecimal float after `0x`: mantissa with optional `.`, then a mandatory
/// `p` exponent in decimal.
fn parse_hex_float(s: &str) -> Option<f64> {
    let (mantissa, exponent) = s.split_once(['p', 'P'])?;
    let (int_part, frac_part) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if int_part.is_empty() && frac_part.is_empty() {
        return None;
    }
    let mut value = 0f64;
    for c in int_part.chars().chain(frac_part.chars()) {
        value = value * 16.0 + f64::from(c.to_digit(16)?);
    }
    let exponent: i32 = exponent.parse().ok()?;
    let frac_digits = i32::try_from(frac_part.len()).ok()?;
    Some(value * 2f64.powi(exponent.saturating_sub(frac_digits.saturating_mul(4))))
}

/// The bytes a string token denotes. The token comes from the lexer, which has already
/// checked its escapes, so malformed input is passed through rather than rejected.
pub fn unquote(token: &str) -> Vec<u8> {
    let mut chars = token.chars();
    let Some(quote) = chars.next() else {
        return Vec::new();
    };
    let inner = token
        .get(quote.len_utf8()..token.len().saturating_sub(quote.len_utf8()))
        .unwrap_or("");
    if quote == '`' {
        return inner.as_bytes().to_vec();
    }
    let mut out = Vec::with_capacity(inner.len());
    let mut it = inner.chars().peekable();
    while let Some(c) = it.next() {
        if c != '\\' {
            let mut buf = [0u8; 4];
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            continue;
        }
        let Some(e) = it.next() else { break };
        let simple = match e {
            'a' => Some(0x07),
            'b' => Some(0x08),
            'f' => Some(0x0c),
            'n' => Some(b'\n'),
            'r' => Some(b'\r'),
            't' => Some(b'\t'),
            'v' => Some(0x0b),
            '\\' => Some(b'\\'),
            '\'' => Some(b'\''),
            '"' => Some(b'"'),
            _ => None,
        };
        if let Some(b) = simple {
            out.push(b);
            continue;
        }
        let (count, radix, is_byte) = match e {
            '0'..='7' => (2, 8, true),
            'x' => (2, 16, true),
            'u' => (4, 16, false),
            'U' => (8, 16, false),
            _ => continue,
        };
        let mut value: u32 = if radix == 8 {
            e.to_digit(8).unwrap_or(0)
        } else {
            0
        };
        for _ in 0..count {
            let Some(d) = it.next().and_then(|c| c.to_digit(radix)) else {
                break;
            };
            value = value.saturating_mul(radix).saturating_add(d);
        }
        if is_byte {
            out.push(u8::try_from(value).unwrap_or(u8::MAX));
        } else if let Some(c) = char::from_u32(value) {
            let mut buf = [0u8; 4];
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
        }
    }
    out
}

/// A string token's value as text; invalid UTF-8 becomes U+FFFD.
pub fn unquote_lossy(token: &str) -> String {
    String::from_utf8_lossy(&unquote(token)).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_like_go() {
        assert_eq!(parse_number("0755"), Ok(493.0));
        assert_eq!(parse_number("0xc"), Ok(12.0));
        assert_eq!(parse_number("0x_1F"), Ok(31.0));
        assert_eq!(parse_number("1_000"), Ok(1000.0));
        assert_eq!(parse_number("09"), Ok(9.0));
        assert_eq!(parse_number("5."), Ok(5.0));
        assert_eq!(parse_number(".5"), Ok(0.5));
        assert_eq!(parse_number("5e-3"), Ok(0.005));
        assert_eq!(parse_number("Inf"), Ok(f64::INFINITY));
        assert!(parse_number("NaN").unwrap().is_nan());
        assert_eq!(parse_number("0x1p-2"), Ok(0.25));
        let huge = "9".repeat(400);
        assert_eq!(
            parse_number(&huge).unwrap_err(),
            format!("strconv.ParseFloat: parsing \"{huge}\": value out of range")
        );
        assert_eq!(
            parse_number("0x").unwrap_err(),
            "strconv.ParseFloat: parsing \"0x\": invalid syntax"
        );
    }

    #[test]
    fn strings_like_prometheus() {
        assert_eq!(unquote(r#""a\"b""#), b"a\"b");
        assert_eq!(unquote(r"'a\'b'"), b"a'b");
        assert_eq!(unquote(r"`a\nb`"), b"a\\nb");
        let mut expected = vec![0xff, 0xff];
        expected.extend("炬😀".bytes());
        assert_eq!(unquote(r#""\xff\377\u70ac\U0001F600""#), expected);
        assert_eq!(
            unquote(r#""\a\b\f\n\r\t\v\\""#),
            b"\x07\x08\x0c\n\r\t\x0b\\"
        );
    }
}
