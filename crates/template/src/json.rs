//! Go `encoding/json` output for template values (Alertmanager's `toJson`): map keys
//! sorted, `<`, `>`, `&`, U+2028 and U+2029 escaped, floats as Go writes them.

use std::fmt::Write as _;

use crate::value::Value;

pub fn write_json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Go's float encoding: shortest digits, exponent form below 1e-6 and from 1e21.
pub fn write_json_float(out: &mut String, f: f64) -> Result<(), String> {
    if !f.is_finite() {
        return Err(format!(
            "json: unsupported value: {}",
            hearth_model::float::format_go_g(f)
        ));
    }
    let abs = f.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        let s = format!("{f:e}");
        // Rust writes `1e-7`/`1.5e21`; Go writes `1e-07`→`1e-7` and `1.5e+21`.
        let (m, e) = s.split_once('e').unwrap_or((&s, "0"));
        if let Some(neg) = e.strip_prefix('-') {
            let _ = write!(out, "{m}e-{neg}");
        } else {
            let _ = write!(out, "{m}e+{e}");
        }
    } else {
        out.push_str(&hearth_model::float::format_go_f(f));
    }
    Ok(())
}

/// Marshals `v`; fails as Go does on NaN and infinities.
pub fn to_json(v: &Value) -> Result<String, String> {
    let mut out = String::new();
    write_json_checked(&mut out, v)?;
    Ok(out)
}

/// Marshals `v`, writing `null` for values JSON cannot hold.
pub fn write_json(out: &mut String, v: &Value) {
    let mut tmp = String::new();
    match write_json_checked(&mut tmp, v) {
        Ok(()) => out.push_str(&tmp),
        Err(_) => out.push_str("null"),
    }
}

fn write_json_checked(out: &mut String, v: &Value) -> Result<(), String> {
    match v {
        Value::Nil => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(i) => out.push_str(&i.to_string()),
        Value::Uint(u) => out.push_str(&u.to_string()),
        Value::Float(f) => write_json_float(out, *f)?,
        Value::String(s) => write_json_string(out, s),
        Value::List(l) => {
            out.push('[');
            for (i, e) in l.items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json_checked(out, e)?;
            }
            out.push(']');
        }
        Value::Map(m) => {
            out.push('{');
            for (i, (k, e)) in m.entries.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json_string(out, k);
                out.push(':');
                write_json_checked(out, e)?;
            }
            out.push('}');
        }
        Value::Object(o) => {
            if !o.write_json(out) {
                match o.underlying() {
                    Some(u) => write_json_checked(out, &u)?,
                    None => out.push_str("{}"),
                }
            }
        }
        Value::Func(_) => return Err("json: unsupported type: func".into()),
    }
    Ok(())
}
