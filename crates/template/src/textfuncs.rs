//! Functions Prometheus and Alertmanager both define (`toUpper`, `toLower`, `match`,
//! `reReplaceAll`, `humanizeDuration`, ...) and the number conversion they share
//! (`ConvertToFloat` of prometheus/common).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::funcs::Function;
use crate::gotime::GoDuration;
use crate::value::{ParamType, Signature, Value};

/// Maps each character to its single-character case form, keeping characters whose
/// mapping is several characters (Go's `unicode.ToUpper` works rune by rune).
fn map_case<I: Iterator<Item = char>>(c: char, mapped: impl Fn(char) -> I) -> char {
    let mut m = mapped(c);
    match (m.next(), m.next()) {
        (Some(x), None) => x,
        _ => c,
    }
}

/// `strings.ToUpper`.
pub fn to_upper(s: &str) -> String {
    s.chars().map(|c| map_case(c, char::to_uppercase)).collect()
}

/// `strings.ToLower`.
pub fn to_lower(s: &str) -> String {
    s.chars().map(|c| map_case(c, char::to_lowercase)).collect()
}

/// Go's deprecated `strings.Title`: upper-cases letters that follow a separator.
pub fn strings_title(s: &str) -> String {
    fn is_separator(c: char) -> bool {
        if c.is_ascii() {
            return !(c.is_ascii_alphanumeric() || c == '_');
        }
        if c.is_alphanumeric() {
            return false;
        }
        c.is_whitespace()
    }
    let mut prev = ' ';
    s.chars()
        .map(|c| {
            let out = if is_separator(prev) {
                map_case(c, char::to_uppercase)
            } else {
                c
            };
            prev = c;
            out
        })
        .collect()
}

/// `cases.Title(language.AmericanEnglish)` (Alertmanager's `title`): words start upper
/// case and continue lower case.
pub fn cases_title(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut in_word = false;
    let mut prev_apostrophe = false;
    for c in s.chars() {
        if c.is_alphanumeric() {
            out.push(if in_word {
                map_case(c, char::to_lowercase)
            } else {
                map_case(c, char::to_uppercase)
            });
            in_word = true;
            prev_apostrophe = false;
        } else {
            // An apostrophe inside a word ("don't") does not start a new word.
            let keeps_word = in_word && (c == '\'' || c == '’') && !prev_apostrophe;
            in_word = keeps_word;
            prev_apostrophe = keeps_word;
            out.push(c);
        }
    }
    out
}

/// Go `regexp` patterns compiled once and shared.
pub fn go_regexp(pattern: &str) -> Result<Arc<regex::Regex>, hearth_model::RegexError> {
    static CACHE: Mutex<Option<HashMap<String, Arc<regex::Regex>>>> = Mutex::new(None);
    let mut guard = CACHE.lock().unwrap_or_else(|e| e.into_inner());
    let cache = guard.get_or_insert_with(HashMap::new);
    if let Some(re) = cache.get(pattern) {
        return Ok(re.clone());
    }
    let re = Arc::new(hearth_model::compile_go_regexp(pattern)?);
    if cache.len() >= 512 {
        cache.clear();
    }
    cache.insert(pattern.to_string(), re.clone());
    Ok(re)
}

/// `regexp.MatchString`.
pub fn match_fn() -> Function {
    Function::new(
        Signature::new(vec![ParamType::String, ParamType::String]),
        |a| {
            let (p, s) = two_strings(a);
            let re = go_regexp(p).map_err(|e| e.to_string())?;
            Ok(Value::Bool(re.is_match(s)))
        },
    )
}

/// `regexp.MustCompile(pattern).ReplaceAllString(text, repl)`.
pub fn re_replace_all_fn() -> Function {
    Function::new(
        Signature::new(vec![
            ParamType::String,
            ParamType::String,
            ParamType::String,
        ]),
        |a| {
            let p = a.first().and_then(Value::as_str).unwrap_or("");
            let repl = a.get(1).and_then(Value::as_str).unwrap_or("");
            let text = a.get(2).and_then(Value::as_str).unwrap_or("");
            let re = go_regexp(p).map_err(|e| {
                let quoted = if p.contains('`') {
                    hearth_model::names::go_quote(p)
                } else {
                    format!("`{p}`")
                };
                format!("regexp: Compile({quoted}): {e}")
            })?;
            Ok(Value::from(re.replace_all(text, repl).into_owned()))
        },
    )
}

fn two_strings(a: &[Value]) -> (&str, &str) {
    (
        a.first().and_then(Value::as_str).unwrap_or(""),
        a.get(1).and_then(Value::as_str).unwrap_or(""),
    )
}

/// A `func(string) string`.
pub fn string_fn(f: fn(&str) -> String) -> Function {
    Function::new(Signature::new(vec![ParamType::String]), move |a| {
        Ok(Value::from(f(a
            .first()
            .and_then(Value::as_str)
            .unwrap_or(""))))
    })
}

/// prometheus/common's `ConvertToFloat`.
pub fn convert_to_float(v: &Value) -> Result<f64, String> {
    match v {
        Value::Float(f) => Ok(*f),
        Value::Int(i) => Ok(*i as f64),
        Value::Uint(u) => Ok(*u as f64),
        Value::String(s) => crate::number::parse_float(s).ok_or_else(|| {
            format!(
                "strconv.ParseFloat: parsing {}: invalid syntax",
                hearth_model::names::go_quote(s)
            )
        }),
        Value::Object(o) => match o.as_any().downcast_ref::<GoDuration>() {
            Some(d) => Ok(d.0 as f64 / 1e9),
            None => Err(format!("can't convert {} to float", v.type_name())),
        },
        _ => Err(format!("can't convert {} to float", v.type_name())),
    }
}

/// `%.4g` as Go's fmt prints it.
pub fn g4(v: f64) -> String {
    crate::gofmt::format_float(v, 'g', Some(4), false, false)
}

/// prometheus/common's `HumanizeDuration`: seconds to `1d 2h 3m 4s`, `1.234s`, `100ms`.
pub fn humanize_duration(v: f64) -> String {
    if v.is_nan() || v.is_infinite() {
        return g4(v);
    }
    if v == 0.0 {
        return format!("{}s", g4(v));
    }
    if v.abs() >= 1.0 {
        let (sign, v) = if v < 0.0 { ("-", -v) } else { ("", v) };
        let d = v as i64;
        let (secs, mins, hours, days) = (d % 60, (d / 60) % 60, (d / 3600) % 24, d / 86400);
        if days != 0 {
            return format!("{sign}{days}d {hours}h {mins}m {secs}s");
        }
        if hours != 0 {
            return format!("{sign}{hours}h {mins}m {secs}s");
        }
        if mins != 0 {
            return format!("{sign}{mins}m {secs}s");
        }
        return format!("{sign}{}s", g4(v));
    }
    let mut v = v;
    let mut prefix = "";
    for p in ["m", "u", "n", "p", "f", "a", "z", "y"] {
        if v.abs() >= 1.0 {
            break;
        }
        prefix = p;
        v *= 1000.0;
    }
    format!("{}{prefix}s", g4(v))
}

pub fn humanize_duration_fn() -> Function {
    Function::new(Signature::new(vec![ParamType::Any]), |a| {
        let v = convert_to_float(a.first().unwrap_or(&Value::Nil))?;
        Ok(Value::from(humanize_duration(v)))
    })
}

pub fn safe_html_fn() -> Function {
    Function::new(Signature::new(vec![ParamType::String]), |a| {
        Ok(crate::html::safe_html(
            a.first().and_then(Value::as_str).unwrap_or("").to_string(),
        ))
    })
}
