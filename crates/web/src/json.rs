//! JSON as Prometheus writes it: Go's `encoding/json` string escaping (HTML characters
//! and U+2028/U+2029 escaped), sample values as strings in Go's float format,
//! timestamps as seconds with millisecond fractions, label sets as objects in label
//! order, native histograms as `{count, sum, buckets: [[rule, lower, upper, count]]}`,
//! and query results (vector, matrix, scalar, string).
//!
//! Query results are written straight into a `String` (they can be large); smaller
//! structures go through serde with [`GoFormatter`], which escapes strings the same way.

use std::io;

use hearth_model::{FloatHistogram, Labels};
use hearth_promql::Value;
use hearth_promql::engine::{Matrix, Vector};
use serde::Serialize;

/// Appends `s` as a JSON string literal, escaped as Go's `encoding/json` does.
pub fn write_str(out: &mut String, s: &str) {
    out.push('"');
    let mut start = 0;
    for (i, c) in s.char_indices() {
        let esc: Option<&str> = match c {
            '"' => Some("\\\""),
            '\\' => Some("\\\\"),
            '\n' => Some("\\n"),
            '\r' => Some("\\r"),
            '\t' => Some("\\t"),
            '<' => Some("\\u003c"),
            '>' => Some("\\u003e"),
            '&' => Some("\\u0026"),
            '\u{2028}' => Some("\\u2028"),
            '\u{2029}' => Some("\\u2029"),
            c if (c as u32) < 0x20 => None,
            _ => continue,
        };
        out.push_str(&s[start..i]);
        match esc {
            Some(e) => out.push_str(e),
            None => push_u_escape(out, c as u32),
        }
        start = i + c.len_utf8();
    }
    out.push_str(&s[start..]);
    out.push('"');
}

fn push_u_escape(out: &mut String, c: u32) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push_str("\\u00");
    out.push(HEX[(c >> 4) as usize & 0xf] as char);
    out.push(HEX[c as usize & 0xf] as char);
}

/// Appends a millisecond timestamp as seconds: `1435781451.781`, `-1.5` is `-1.500`, and
/// whole seconds without a fraction (upstream's `jsonutil.MarshalTimestamp`).
pub fn write_timestamp(out: &mut String, t: i64) {
    use std::fmt::Write as _;
    let mut t = i128::from(t);
    if t < 0 {
        out.push('-');
        t = -t;
    }
    let _ = write!(out, "{}", t / 1000);
    let fraction = t % 1000;
    if fraction != 0 {
        let _ = write!(out, ".{fraction:03}");
    }
}

/// Formats a sample value as the API does (`jsonutil.MarshalFloat`, without quotes):
/// Go's `'f'` format, or `'e'` below 1e-6 and from 1e21 on; `NaN`, `+Inf`, `-Inf`.
pub fn format_value(f: f64) -> String {
    let abs = f.abs();
    if abs != 0.0 && abs.is_finite() && !(1e-6..1e21).contains(&abs) {
        // Go's 'e' with shortest digits is its 'g' in exponent form at these magnitudes.
        hearth_model::float::format_go_g(f)
    } else {
        hearth_model::float::format_go_f(f)
    }
}

/// Go's `encoding/json` form of a float64 (a JSON number: `600`, `0.0125`, `1e-7`);
/// `null` for values JSON cannot carry (Go fails the whole response on them).
pub fn go_json_float(f: f64) -> String {
    if !f.is_finite() {
        return "null".to_string();
    }
    let s = format_value(f);
    // Go writes e-07 as e-7.
    match s.find("e-0") {
        Some(i) => format!("{}e-{}", &s[..i], &s[i + 3..]),
        None => s,
    }
}

/// Appends a sample value as a JSON string.
pub fn write_value(out: &mut String, f: f64) {
    out.push('"');
    out.push_str(&format_value(f));
    out.push('"');
}

/// Appends a label set as a JSON object, in label order.
pub fn write_labels(out: &mut String, labels: &Labels) {
    out.push('{');
    for (i, l) in labels.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_str(out, l.name.as_str());
        out.push(':');
        write_str(out, l.value.as_str());
    }
    out.push('}');
}

/// Appends a native histogram: count, sum and the non-empty buckets with their boundary
/// rule (0: lower exclusive, upper inclusive; 1: lower inclusive, upper exclusive;
/// 2: both exclusive; 3: both inclusive).
pub fn write_histogram(out: &mut String, h: &FloatHistogram) {
    out.push_str("{\"count\":");
    write_value(out, h.count);
    out.push_str(",\"sum\":");
    write_value(out, h.sum);
    let mut found = false;
    for b in h.all_bucket_iter() {
        if b.count == 0.0 {
            continue;
        }
        out.push(',');
        if !found {
            out.push_str("\"buckets\":[");
            found = true;
        }
        let rule = match (b.lower_inclusive, b.upper_inclusive) {
            (false, true) => 0,
            (true, false) => 1,
            (false, false) => 2,
            (true, true) => 3,
        };
        out.push('[');
        out.push(char::from(b'0' + rule));
        out.push(',');
        write_value(out, b.lower);
        out.push(',');
        write_value(out, b.upper);
        out.push(',');
        write_value(out, b.count);
        out.push(']');
    }
    if found {
        out.push(']');
    }
    out.push('}');
}

fn write_point(out: &mut String, t: i64, f: f64) {
    out.push('[');
    write_timestamp(out, t);
    out.push(',');
    write_value(out, f);
    out.push(']');
}

fn write_hpoint(out: &mut String, t: i64, h: &FloatHistogram) {
    out.push('[');
    write_timestamp(out, t);
    out.push(',');
    write_histogram(out, h);
    out.push(']');
}

/// Appends an instant vector: `[{"metric":{…},"value":[t,"v"]}, …]`, with `histogram`
/// instead of `value` for histogram samples.
pub fn write_vector(out: &mut String, v: &Vector) {
    out.push('[');
    for (i, s) in v.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str("{\"metric\":");
        write_labels(out, &s.metric);
        match &s.h {
            Some(h) => {
                out.push_str(",\"histogram\":");
                write_hpoint(out, s.t, h);
            }
            None => {
                out.push_str(",\"value\":");
                write_point(out, s.t, s.f);
            }
        }
        out.push('}');
    }
    out.push(']');
}

/// Appends a matrix: `[{"metric":{…},"values":[[t,"v"],…],"histograms":[[t,{…}],…]}]`,
/// each key only when the series has points of that kind.
pub fn write_matrix(out: &mut String, m: &Matrix) {
    out.push('[');
    for (i, s) in m.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str("{\"metric\":");
        write_labels(out, &s.metric);
        if !s.floats.is_empty() {
            out.push_str(",\"values\":[");
            for (j, p) in s.floats.iter().enumerate() {
                if j > 0 {
                    out.push(',');
                }
                write_point(out, p.t, p.f);
            }
            out.push(']');
        }
        if !s.histograms.is_empty() {
            out.push_str(",\"histograms\":[");
            for (j, p) in s.histograms.iter().enumerate() {
                if j > 0 {
                    out.push(',');
                }
                write_hpoint(out, p.t, &p.h);
            }
            out.push(']');
        }
        out.push('}');
    }
    out.push(']');
}

/// Appends a query result value (the `result` of `/api/v1/query`).
pub fn write_result(out: &mut String, v: &Value) {
    match v {
        Value::Scalar { t, v } => write_point(out, *t, *v),
        Value::String { t, v } => {
            out.push('[');
            write_timestamp(out, *t);
            out.push(',');
            write_str(out, v);
            out.push(']');
        }
        Value::Vector(v) => write_vector(out, v),
        Value::Matrix(m) => write_matrix(out, m),
    }
}

/// serde_json's compact output with Go's string escaping (`<`, `>`, `&`, U+2028 and
/// U+2029 as `\uXXXX`; other control characters as `\u00xx`).
#[derive(Debug, Default, Clone, Copy)]
pub struct GoFormatter;

impl serde_json::ser::Formatter for GoFormatter {
    fn write_string_fragment<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        let mut start = 0;
        for (i, c) in fragment.char_indices() {
            let esc = match c {
                '<' => "\\u003c",
                '>' => "\\u003e",
                '&' => "\\u0026",
                '\u{2028}' => "\\u2028",
                '\u{2029}' => "\\u2029",
                _ => continue,
            };
            writer.write_all(&fragment.as_bytes()[start..i])?;
            writer.write_all(esc.as_bytes())?;
            start = i + c.len_utf8();
        }
        writer.write_all(&fragment.as_bytes()[start..])
    }

    fn write_f64<W: ?Sized + io::Write>(&mut self, writer: &mut W, value: f64) -> io::Result<()> {
        writer.write_all(go_json_float(value).as_bytes())
    }

    fn write_f32<W: ?Sized + io::Write>(&mut self, writer: &mut W, value: f32) -> io::Result<()> {
        self.write_f64(writer, f64::from(value))
    }

    fn write_char_escape<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        char_escape: serde_json::ser::CharEscape,
    ) -> io::Result<()> {
        use serde_json::ser::CharEscape;
        let s: &[u8] = match char_escape {
            CharEscape::Quote => b"\\\"",
            CharEscape::ReverseSolidus => b"\\\\",
            CharEscape::LineFeed => b"\\n",
            CharEscape::CarriageReturn => b"\\r",
            CharEscape::Tab => b"\\t",
            CharEscape::Solidus => b"/",
            CharEscape::Backspace => b"\\u0008",
            CharEscape::FormFeed => b"\\u000c",
            CharEscape::AsciiControl(b) => {
                let mut s = String::new();
                push_u_escape(&mut s, u32::from(b));
                return writer.write_all(s.as_bytes());
            }
        };
        writer.write_all(s)
    }
}

/// Serializes `v` with [`GoFormatter`].
pub fn to_string<T: Serialize + ?Sized>(v: &T) -> String {
    let mut buf = Vec::new();
    let mut ser = serde_json::Serializer::with_formatter(&mut buf, GoFormatter);
    if v.serialize(&mut ser).is_err() {
        // Only maps with non-string keys fail, and the API has none.
        return "null".to_string();
    }
    String::from_utf8(buf).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// Serializes a [`Labels`] as a JSON object in label order (for serde-derived types).
pub fn serialize_labels<S: serde::Serializer>(l: &Labels, s: S) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap;
    let mut m = s.serialize_map(Some(l.len()))?;
    for label in l.iter() {
        m.serialize_entry(label.name.as_str(), label.value.as_str())?;
    }
    m.end()
}

/// A timestamp in ms written as Go's `time.Time` JSON: RFC 3339 with nanoseconds
/// trimmed of trailing zeros, in UTC (`0001-01-01T00:00:00Z` for the zero time).
pub fn format_go_time(ms: Option<i64>) -> String {
    use chrono::{DateTime, Datelike, Timelike, Utc};
    let Some(dt) = ms.and_then(DateTime::<Utc>::from_timestamp_millis) else {
        return "0001-01-01T00:00:00Z".to_string();
    };
    let mut s = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        dt.year(),
        dt.month(),
        dt.day(),
        dt.hour(),
        dt.minute(),
        dt.second()
    );
    let nanos = dt.nanosecond() % 1_000_000_000;
    if nanos != 0 {
        let frac = format!("{nanos:09}");
        s.push('.');
        s.push_str(frac.trim_end_matches('0'));
    }
    s.push('Z');
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use hearth_model::labels;

    #[test]
    fn strings_escape_as_go() {
        let mut s = String::new();
        write_str(&mut s, "a\"b\\c\n<x>&\u{1}\u{2028}é");
        assert_eq!(s, r#""a\"b\\c\n\u003cx\u003e\u0026\u0001\u2028é""#);
        let v = serde_json::json!({"k": "<a\u{8}>"});
        assert_eq!(to_string(&v), r#"{"k":"\u003ca\u0008\u003e"}"#);
        let v = serde_json::json!([600.0, 0.0125, 1e-7, 1.5e21, -0.0]);
        assert_eq!(to_string(&v), "[600,0.0125,1e-7,1.5e+21,-0]");
    }

    #[test]
    fn timestamps_and_values() {
        let cases = [
            (1_435_781_451_781, "1435781451.781"),
            (1500, "1.500"),
            (1000, "1"),
            (5, "0.005"),
            (-1500, "-1.500"),
            (0, "0"),
        ];
        for (t, want) in cases {
            let mut s = String::new();
            write_timestamp(&mut s, t);
            assert_eq!(s, want);
        }
        assert_eq!(format_value(1.0), "1");
        assert_eq!(format_value(0.1), "0.1");
        assert_eq!(format_value(1e6), "1000000");
        assert_eq!(format_value(1e-7), "1e-07");
        assert_eq!(format_value(1.5e21), "1.5e+21");
        assert_eq!(format_value(-0.0), "-0");
        assert_eq!(format_value(f64::NAN), "NaN");
        assert_eq!(format_value(f64::NEG_INFINITY), "-Inf");
        assert_eq!(format_value(123456789.125), "123456789.125");
    }

    #[test]
    fn labels_object() {
        let mut s = String::new();
        write_labels(&mut s, &labels!("__name__" => "up", "job" => "a<b"));
        assert_eq!(s, r#"{"__name__":"up","job":"a\u003cb"}"#);
    }

    #[test]
    fn go_time() {
        assert_eq!(format_go_time(Some(0)), "1970-01-01T00:00:00Z");
        assert_eq!(
            format_go_time(Some(1_600_000_000_120)),
            "2020-09-13T12:26:40.12Z"
        );
        assert_eq!(format_go_time(None), "0001-01-01T00:00:00Z");
    }
}
