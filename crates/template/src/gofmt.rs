//! Go's `fmt` and `strconv` text forms over template values: `Sprint`, `Sprintln`,
//! `Sprintf` (verbs, flags, width and precision, and Go's `%!v(MISSING)`-style error
//! text), float formatting with `%e %f %g`, string quoting and unquoting, and the
//! escapers behind the `html`, `js` and `urlquery` builtins.

use std::fmt::Write as _;

use hearth_model::names::{go_quote, is_go_printable};

use crate::value::Value;

/// Go's `unicode.IsPrint`, closely enough for quoting and escaping.
pub fn is_print(c: char) -> bool {
    is_go_printable(c)
}

/// Whether `fmt` treats the value as a string operand (no spaces around it in `Sprint`).
fn is_string_kind(v: &Value) -> bool {
    match v {
        Value::String(_) => true,
        Value::Object(o) => matches!(o.underlying(), Some(Value::String(_))),
        _ => false,
    }
}

/// `fmt.Sprint`: operands concatenated, a space between two that are not strings.
pub fn sprint(args: &[Value]) -> String {
    let mut out = String::new();
    let mut prev_string = false;
    for (i, a) in args.iter().enumerate() {
        let is_string = is_string_kind(a);
        if i > 0 && !is_string && !prev_string {
            out.push(' ');
        }
        a.write_go(&mut out);
        prev_string = is_string;
    }
    out
}

/// `fmt.Sprintln`: operands separated by spaces, then a newline.
pub fn sprintln(args: &[Value]) -> String {
    let mut out = String::new();
    for (i, a) in args.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        a.write_go(&mut out);
    }
    out.push('\n');
    out
}

#[derive(Default, Clone, Copy)]
struct Flags {
    plus: bool,
    minus: bool,
    sharp: bool,
    space: bool,
    zero: bool,
    width: Option<usize>,
    prec: Option<usize>,
}

/// Go refuses widths and precisions above this (`%!(BADWIDTH)`), which also bounds the
/// memory one verb can ask for.
const MAX_WIDTH: usize = 1_000_000;

/// `fmt.Sprintf`.
pub fn sprintf(format: &str, args: &[Value]) -> String {
    let mut out = String::new();
    let mut argi = 0;
    let b = format.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let Some(rel) = format.get(i..).and_then(|s| s.find('%')) else {
            out.push_str(format.get(i..).unwrap_or(""));
            break;
        };
        out.push_str(format.get(i..i + rel).unwrap_or(""));
        i += rel + 1;
        let mut f = Flags::default();
        while i < b.len() {
            match b[i] {
                b'+' => f.plus = true,
                b'-' => f.minus = true,
                b'#' => f.sharp = true,
                b' ' => f.space = true,
                b'0' => f.zero = true,
                _ => break,
            }
            i += 1;
        }
        // Width.
        if i < b.len() && b[i] == b'*' {
            i += 1;
            match args.get(argi) {
                Some(Value::Int(n)) => {
                    argi += 1;
                    if n.unsigned_abs() as usize > MAX_WIDTH {
                        out.push_str("%!(BADWIDTH)");
                    } else {
                        if *n < 0 {
                            f.minus = true;
                        }
                        f.width = Some(n.unsigned_abs() as usize);
                    }
                }
                _ => {
                    argi += 1;
                    out.push_str("%!(BADWIDTH)");
                }
            }
        } else {
            let (n, next, ok) = parse_num(b, i);
            if !ok {
                out.push_str("%!(BADWIDTH)");
            } else if next > i {
                f.width = Some(n);
            }
            i = next;
        }
        // Precision.
        if i < b.len() && b[i] == b'.' {
            i += 1;
            if i < b.len() && b[i] == b'*' {
                i += 1;
                match args.get(argi) {
                    Some(Value::Int(n)) if *n >= 0 && (*n as u64) <= MAX_WIDTH as u64 => {
                        f.prec = Some(*n as usize)
                    }
                    _ => out.push_str("%!(BADPREC)"),
                }
                argi += 1;
            } else {
                let (n, next, ok) = parse_num(b, i);
                if !ok {
                    out.push_str("%!(BADPREC)");
                }
                f.prec = Some(if ok { n } else { 0 });
                i = next;
            }
        }
        let Some(verb) = format.get(i..).and_then(|s| s.chars().next()) else {
            out.push_str("%!(NOVERB)");
            break;
        };
        i += verb.len_utf8();
        if verb == '%' {
            out.push('%');
            continue;
        }
        let Some(arg) = args.get(argi) else {
            let _ = write!(out, "%!{verb}(MISSING)");
            continue;
        };
        argi += 1;
        format_arg(&mut out, arg, verb, f);
    }
    if argi < args.len() {
        out.push_str("%!(EXTRA ");
        for (k, a) in args.iter().enumerate().skip(argi) {
            if k > argi {
                out.push_str(", ");
            }
            if a.is_nil() {
                out.push_str("<nil>");
            } else {
                let _ = write!(out, "{}=", a.type_name());
                a.write_go(&mut out);
            }
        }
        out.push(')');
    }
    out
}

fn parse_num(b: &[u8], mut i: usize) -> (usize, usize, bool) {
    let mut n: usize = 0;
    let mut ok = true;
    while i < b.len() && b[i].is_ascii_digit() {
        n = n
            .saturating_mul(10)
            .saturating_add(usize::from(b[i] - b'0'));
        if n > MAX_WIDTH {
            ok = false;
        }
        i += 1;
    }
    (n, i, ok)
}

fn bad_verb(out: &mut String, arg: &Value, verb: char) {
    let _ = write!(out, "%!{verb}(");
    if arg.is_nil() {
        out.push_str("<nil>");
    } else {
        let _ = write!(out, "{}=", arg.type_name());
        arg.write_go(out);
    }
    out.push(')');
}

fn pad(out: &mut String, s: &str, f: Flags, zero_ok: bool) {
    let len = s.chars().count();
    let width = f.width.unwrap_or(0);
    if len >= width {
        out.push_str(s);
        return;
    }
    let fill = width - len;
    if f.minus {
        out.push_str(s);
        out.extend(std::iter::repeat_n(' ', fill));
    } else if f.zero && zero_ok {
        // Zero padding goes after the sign.
        let (sign, rest) = match s.as_bytes().first() {
            Some(b'+' | b'-' | b' ') => s.split_at(1),
            _ => ("", s),
        };
        out.push_str(sign);
        out.extend(std::iter::repeat_n('0', fill));
        out.push_str(rest);
    } else {
        out.extend(std::iter::repeat_n(' ', fill));
        out.push_str(s);
    }
}

fn format_arg(out: &mut String, arg: &Value, verb: char, f: Flags) {
    if verb == 'T' {
        pad(out, &arg.type_name(), f, false);
        return;
    }
    match arg {
        Value::Nil => match verb {
            'v' => pad(out, "<nil>", f, false),
            _ => bad_verb(out, arg, verb),
        },
        Value::Bool(b) => match verb {
            't' | 'v' => pad(out, if *b { "true" } else { "false" }, f, false),
            _ => bad_verb(out, arg, verb),
        },
        Value::Int(i) => format_integer(out, i128::from(*i), verb, f, arg),
        Value::Uint(u) => format_integer(out, i128::from(*u), verb, f, arg),
        Value::Float(x) => match verb {
            'v' | 'g' | 'G' | 'e' | 'E' | 'f' | 'F' => {
                let v = if verb == 'v' { 'g' } else { verb };
                let s = format_float(*x, v, f.prec, f.plus, f.space);
                let special = !x.is_finite();
                pad(out, &s, f, !special);
            }
            _ => bad_verb(out, arg, verb),
        },
        Value::String(s) => format_string(out, s, verb, f, arg),
        Value::List(l) => {
            if matches!(verb, 's' | 'q' | 'x' | 'X')
                && l.items.iter().any(|v| !is_string_kind(v))
                && verb != 's'
            {
                bad_verb(out, arg, verb);
                return;
            }
            out.push('[');
            for (k, v) in l.items.iter().enumerate() {
                if k > 0 {
                    out.push(' ');
                }
                format_arg(out, v, verb, Flags { width: None, ..f });
            }
            out.push(']');
        }
        Value::Map(m) => {
            out.push_str("map[");
            for (k, (key, v)) in m.entries.iter().enumerate() {
                if k > 0 {
                    out.push(' ');
                }
                format_string(out, key, verb, Flags::default(), arg);
                out.push(':');
                format_arg(out, v, verb, Flags { width: None, ..f });
            }
            out.push(']');
        }
        Value::Object(o) => {
            if let Some(u) = o.underlying() {
                format_arg(out, &u, verb, f);
                return;
            }
            match verb {
                'v' | 's' | 'q' | 'x' | 'X' => {
                    let mut s = String::new();
                    o.write_go(&mut s);
                    format_string(out, &s, verb, f, arg);
                }
                _ => bad_verb(out, arg, verb),
            }
        }
        Value::Func(_) => match verb {
            'v' | 'p' => pad(out, &arg.to_go_string(), f, false),
            _ => bad_verb(out, arg, verb),
        },
    }
}

fn format_string(out: &mut String, s: &str, verb: char, f: Flags, arg: &Value) {
    let truncated: String;
    let s = match f.prec {
        Some(p) if matches!(verb, 's' | 'v' | 'q') => {
            truncated = s.chars().take(p).collect();
            truncated.as_str()
        }
        _ => s,
    };
    match verb {
        's' | 'v' => pad(out, s, f, false),
        'q' => {
            let q = if f.sharp && can_backquote(s) {
                format!("`{s}`")
            } else {
                go_quote(s)
            };
            pad(out, &q, f, false)
        }
        'x' | 'X' => {
            let mut h = String::new();
            for (k, byte) in s.bytes().enumerate() {
                if k > 0 && f.space {
                    h.push(' ');
                }
                if f.sharp && (k == 0 || f.space) {
                    h.push_str(if verb == 'x' { "0x" } else { "0X" });
                }
                if verb == 'x' {
                    let _ = write!(h, "{byte:02x}");
                } else {
                    let _ = write!(h, "{byte:02X}");
                }
            }
            pad(out, &h, f, false)
        }
        _ => bad_verb(out, arg, verb),
    }
}

fn can_backquote(s: &str) -> bool {
    s.chars()
        .all(|c| c != '`' && c != '\u{FEFF}' && (c == '\t' || !c.is_control()))
}

fn format_integer(out: &mut String, v: i128, verb: char, f: Flags, arg: &Value) {
    let neg = v < 0;
    let mag = v.unsigned_abs();
    let (mut digits, prefix) = match verb {
        'd' | 'v' => (mag.to_string(), ""),
        'b' => (format!("{mag:b}"), if f.sharp { "0b" } else { "" }),
        'o' => (format!("{mag:o}"), if f.sharp { "0" } else { "" }),
        'O' => (format!("{mag:o}"), "0o"),
        'x' => (format!("{mag:x}"), if f.sharp { "0x" } else { "" }),
        'X' => (format!("{mag:X}"), if f.sharp { "0X" } else { "" }),
        'c' => {
            let c = u32::try_from(v)
                .ok()
                .and_then(char::from_u32)
                .unwrap_or('\u{FFFD}');
            pad(out, &c.to_string(), f, false);
            return;
        }
        'q' => {
            let c = u32::try_from(v)
                .ok()
                .and_then(char::from_u32)
                .unwrap_or('\u{FFFD}');
            pad(out, &quote_rune(c), f, false);
            return;
        }
        'U' => {
            let mut s = format!("U+{mag:04X}");
            if f.sharp
                && let Some(c) = u32::try_from(v).ok().and_then(char::from_u32)
                && is_print(c)
            {
                let _ = write!(s, " '{c}'");
            }
            pad(out, &s, f, false);
            return;
        }
        'e' | 'E' | 'f' | 'F' | 'g' | 'G' => {
            bad_verb(out, arg, verb);
            return;
        }
        _ => {
            bad_verb(out, arg, verb);
            return;
        }
    };
    if let Some(p) = f.prec {
        if p == 0 && mag == 0 {
            digits.clear();
        }
        while digits.len() < p {
            digits.insert(0, '0');
        }
    }
    let sign = if neg {
        "-"
    } else if f.plus {
        "+"
    } else if f.space {
        " "
    } else {
        ""
    };
    let s = format!("{sign}{prefix}{digits}");
    // Go ignores the 0 flag when a precision is given.
    let zero_ok = f.prec.is_none();
    if f.zero && zero_ok && !f.minus {
        let width = f.width.unwrap_or(0);
        let body_len = prefix.len() + digits.len() + sign.len();
        if width > body_len {
            out.push_str(sign);
            out.push_str(prefix);
            out.extend(std::iter::repeat_n('0', width - body_len));
            out.push_str(&digits);
            return;
        }
    }
    pad(out, &s, f, false);
}

fn quote_rune(c: char) -> String {
    match c {
        '\'' => "'\\''".into(),
        '"' => "'\"'".into(),
        _ => {
            let q = go_quote(&c.to_string());
            format!("'{}'", &q[1..q.len() - 1])
        }
    }
}

/// Formats a float as Go's `strconv.FormatFloat` with verb `e`, `f` or `g` (upper-case
/// variants too), then applies `fmt`'s sign flags.
pub fn format_float(x: f64, verb: char, prec: Option<usize>, plus: bool, space: bool) -> String {
    let body = if x.is_nan() {
        "NaN".to_string()
    } else if x.is_infinite() {
        if x > 0.0 { "+Inf" } else { "-Inf" }.to_string()
    } else {
        match verb {
            'e' | 'E' => fmt_e(x, prec.unwrap_or(6), verb == 'E'),
            'f' | 'F' => format!("{:.*}", prec.unwrap_or(6), x),
            _ => fmt_g(x, prec, verb == 'G'),
        }
    };
    if x.is_nan() {
        return if plus {
            "+NaN".into()
        } else if space {
            " NaN".into()
        } else {
            body
        };
    }
    if body.starts_with(['-', '+']) {
        if body.starts_with('+') && !plus {
            return if space {
                format!(" {}", &body[1..])
            } else {
                body
            };
        }
        return body;
    }
    if plus {
        format!("+{body}")
    } else if space {
        format!(" {body}")
    } else {
        body
    }
}

/// Decimal digits of `|x|` rounded to `sig` significant digits, trailing zeros trimmed,
/// and the decimal point position (`x = 0.d1d2... * 10^dp`).
fn round_digits(x: f64, sig: usize) -> (String, i32) {
    let s = format!("{:.*e}", sig.saturating_sub(1), x.abs());
    let (mant, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mant.chars().filter(char::is_ascii_digit).collect();
    let trimmed = digits.trim_end_matches('0');
    if trimmed.is_empty() {
        return (String::new(), 0);
    }
    (trimmed.to_string(), exp + 1)
}

fn fmt_e(x: f64, prec: usize, upper: bool) -> String {
    let s = format!("{:.*e}", prec, x);
    let (mant, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let e = if upper { 'E' } else { 'e' };
    let sign = if exp < 0 { '-' } else { '+' };
    format!("{mant}{e}{sign}{:02}", exp.unsigned_abs())
}

fn fmt_g(x: f64, prec: Option<usize>, upper: bool) -> String {
    let Some(p) = prec else {
        let s = hearth_model::float::format_go_g(x);
        return if upper { s.to_uppercase() } else { s };
    };
    let p = p.max(1);
    let (digits, dp) = round_digits(x, p);
    let nd = digits.len() as i32;
    let mut eprec = p as i32;
    if eprec > nd && nd >= dp {
        eprec = nd;
    }
    let exp = dp - 1;
    let neg = x.is_sign_negative() && x != 0.0;
    let mut out = String::new();
    if neg {
        out.push('-');
    }
    if exp < -4 || exp >= eprec {
        let prec = (p as i32).min(nd.max(1)) - 1;
        let mut chars = digits.chars();
        out.push(chars.next().unwrap_or('0'));
        if prec > 0 {
            out.push('.');
            for _ in 0..prec {
                out.push(chars.next().unwrap_or('0'));
            }
        }
        out.push(if upper { 'E' } else { 'e' });
        let e = if digits.is_empty() { 0 } else { exp };
        out.push(if e < 0 { '-' } else { '+' });
        let _ = write!(out, "{:02}", e.unsigned_abs());
        return out;
    }
    let mut prec = p as i32;
    if prec > dp {
        prec = nd;
    }
    let frac = (prec - dp).max(0);
    let dbytes = digits.as_bytes();
    let digit_at = |i: i32| -> char {
        if i >= 0 && i < nd {
            dbytes[i as usize] as char
        } else {
            '0'
        }
    };
    if dp > 0 {
        for i in 0..dp {
            out.push(digit_at(i));
        }
    } else {
        out.push('0');
    }
    if frac > 0 {
        out.push('.');
        for i in 0..frac {
            out.push(digit_at(dp + i));
        }
    }
    out
}

/// `strconv.Unquote` for `"..."`, `` `...` `` and `'...'`.
pub fn unquote(s: &str) -> Result<String, String> {
    let err = || "invalid syntax".to_string();
    let first = s.chars().next().ok_or_else(err)?;
    if s.len() < 2 || !s.ends_with(first) {
        return Err(err());
    }
    let inner = &s[1..s.len() - 1];
    match first {
        '`' => {
            if inner.contains('`') {
                return Err(err());
            }
            Ok(inner.replace('\r', ""))
        }
        '"' | '\'' => {
            let mut out = String::new();
            let mut rest = inner;
            while !rest.is_empty() {
                let (c, tail) = unquote_char(rest, first).ok_or_else(err)?;
                out.push(c);
                rest = tail;
            }
            if first == '\'' && out.chars().count() != 1 {
                return Err(err());
            }
            Ok(out)
        }
        _ => Err(err()),
    }
}

/// `strconv.UnquoteChar`: decodes the first character or escape of `s`.
pub fn unquote_char(s: &str, quote: char) -> Option<(char, &str)> {
    let mut chars = s.chars();
    let c = chars.next()?;
    if c == quote && (quote == '\'' || quote == '"') {
        return None;
    }
    if c != '\\' {
        if c == '\n' && quote != '`' {
            return None;
        }
        return Some((c, chars.as_str()));
    }
    let e = chars.next()?;
    let rest = chars.as_str();
    let simple = match e {
        'a' => Some('\u{7}'),
        'b' => Some('\u{8}'),
        'f' => Some('\u{c}'),
        'n' => Some('\n'),
        'r' => Some('\r'),
        't' => Some('\t'),
        'v' => Some('\u{b}'),
        '\\' => Some('\\'),
        '\'' | '"' => {
            if e != quote {
                return None;
            }
            Some(e)
        }
        _ => None,
    };
    if let Some(c) = simple {
        return Some((c, rest));
    }
    let (len, radix) = match e {
        'x' => (2, 16),
        'u' => (4, 16),
        'U' => (8, 16),
        '0'..='7' => (2, 8),
        _ => return None,
    };
    if e.is_ascii_digit() {
        // Octal: this digit plus two more.
        let digits = rest.get(..len)?;
        let v = u32::from_str_radix(&format!("{e}{digits}"), 8).ok()?;
        if v > 255 {
            return None;
        }
        return Some((char::from_u32(v)?, &rest[len..]));
    }
    let digits = rest.get(..len)?;
    if !digits.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    let v = u32::from_str_radix(digits, radix).ok()?;
    let c = char::from_u32(v)?;
    Some((c, &rest[len..]))
}

/// `template.HTMLEscapeString`.
pub fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => out.push_str("&#34;"),
            '\'' => out.push_str("&#39;"),
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\0' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// `template.JSEscapeString`.
pub fn js_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '"' => out.push_str("\\\""),
            '<' => out.push_str("\\u003C"),
            '>' => out.push_str("\\u003E"),
            '&' => out.push_str("\\u0026"),
            '=' => out.push_str("\\u003D"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u00{:02X}", c as u32);
            }
            c if c.is_ascii() => out.push(c),
            c if is_print(c) => out.push(c),
            c => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
        }
    }
    out
}

/// `url.QueryEscape`.
pub fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => {
                let _ = write!(out, "%{b:02X}");
            }
        }
    }
    out
}

/// `url.QueryUnescape`.
pub fn query_unescape(s: &str) -> Result<String, String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let hex = s.get(i + 1..i + 3).filter(|h| h.len() == 2);
                let Some(v) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) else {
                    let bad = s.get(i..(i + 3).min(s.len())).unwrap_or("");
                    return Err(format!(
                        "invalid URL escape {}",
                        hearth_model::names::go_quote(bad)
                    ));
                };
                out.push(v);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// The text `fmt.Sprint` would give the builtins' arguments, except that an untyped nil
/// prints `<no value>` (Go's `evalArgs`).
pub fn eval_args(args: &[Value]) -> String {
    if let [Value::String(s)] = args {
        return s.to_string();
    }
    let shown: Vec<Value> = args
        .iter()
        .map(|a| {
            if a.is_nil() {
                Value::from("<no value>")
            } else {
                a.clone()
            }
        })
        .collect();
    // "<no value>" stands in for a non-string operand: keep Sprint's spacing rule.
    let mut out = String::new();
    let mut prev_string = false;
    for (i, (orig, a)) in args.iter().zip(&shown).enumerate() {
        let is_string = is_string_kind(orig);
        if i > 0 && !is_string && !prev_string {
            out.push(' ');
        }
        a.write_go(&mut out);
        prev_string = is_string;
    }
    out
}
