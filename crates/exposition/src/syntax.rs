//! Lexical rules shared by the Prometheus text format and OpenMetrics: character classes
//! of names, quoted strings, escapes, and the position bookkeeping behind error messages.

use std::borrow::Cow;

use hearth_model::MetricType;
use hearth_model::float::{format_openmetrics, parse_go_float};

/// A parse failure with its position: 1-based line and column (in characters) for the
/// text formats; line 0 for the protobuf format, whose message names the byte offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.line == 0 {
            return f.write_str(&self.message);
        }
        write!(
            f,
            "line {}, column {}: {}",
            self.line, self.column, self.message
        )
    }
}

impl std::error::Error for ParseError {}

const METRIC_START: u8 = 1;
const METRIC_CHAR: u8 = 2;
const LABEL_START: u8 = 4;
const LABEL_CHAR: u8 = 8;

/// Character classes: `[a-zA-Z_:]` starts a metric name, `[a-zA-Z_]` a label name.
static CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        let alpha = b.is_ascii_alphabetic() || b == b'_';
        let digit = b.is_ascii_digit();
        let mut v = 0;
        if alpha || b == b':' {
            v |= METRIC_START | METRIC_CHAR;
        }
        if digit {
            v |= METRIC_CHAR | LABEL_CHAR;
        }
        if alpha {
            v |= LABEL_START | LABEL_CHAR;
        }
        t[c] = v;
        c += 1;
    }
    t
};

pub(crate) fn is_metric_start(b: u8) -> bool {
    CLASS[b as usize] & METRIC_START != 0
}

pub(crate) fn is_label_start(b: u8) -> bool {
    CLASS[b as usize] & LABEL_START != 0
}

/// End of the metric name starting at `pos` (which must be a metric-name start byte).
#[inline]
pub(crate) fn scan_metric_name(b: &[u8], mut pos: usize) -> usize {
    while pos < b.len() && CLASS[b[pos] as usize] & METRIC_CHAR != 0 {
        pos += 1;
    }
    pos
}

/// End of the label name starting at `pos` (which must be a label-name start byte).
#[inline]
pub(crate) fn scan_label_name(b: &[u8], mut pos: usize) -> usize {
    while pos < b.len() && CLASS[b[pos] as usize] & LABEL_CHAR != 0 {
        pos += 1;
    }
    pos
}

/// A quoted string found by [`scan_quoted`].
pub(crate) struct Quoted {
    /// Index just past the closing quote.
    pub end: usize,
    pub has_escape: bool,
    pub newlines: usize,
}

/// Scans a `"…"` string whose opening quote is at `pos`. A backslash escapes any next
/// byte. Returns `None` if the string is not closed (or, when `allow_newline` is false,
/// contains a raw line feed).
#[inline]
pub(crate) fn scan_quoted(b: &[u8], pos: usize, allow_newline: bool) -> Option<Quoted> {
    let mut i = pos + 1;
    let mut has_escape = false;
    let mut newlines = 0;
    loop {
        // Label values are short: a plain loop beats memchr's setup for the first bytes.
        let short_end = b.len().min(i + 32);
        while i < short_end && !matches!(b[i], b'"' | b'\\' | b'\n') {
            i += 1;
        }
        if i == short_end {
            i += memchr::memchr3(b'"', b'\\', b'\n', b.get(i..)?)?;
        }
        match b[i] {
            b'"' => {
                return Some(Quoted {
                    end: i + 1,
                    has_escape,
                    newlines,
                });
            }
            b'\\' => {
                has_escape = true;
                // As in upstream's lexers (`\\.`), a backslash cannot escape a line feed.
                if b.get(i + 1) == Some(&b'\n') {
                    return None;
                }
                i += 2;
            }
            _ => {
                if !allow_newline {
                    return None;
                }
                newlines += 1;
                i += 1;
            }
        }
    }
}

/// A quoted string at `p` (unescaped), with the index after it; counts its lines.
fn quoted_token<'a>(
    input: &'a str,
    p: usize,
    lines: &mut LineTracker,
) -> Option<(Cow<'a, str>, usize)> {
    let b = input.as_bytes();
    let q = scan_quoted(b, p, true)?;
    lines.newlines_in(b, p, q.end, q.newlines);
    Some((
        unescape_label_value(&input[p + 1..q.end - 1], q.has_escape),
        q.end,
    ))
}

/// A label name at `p`: a legacy name or a quoted string. Returns the name, whether it
/// was quoted (a quoted string alone may be the metric name), and the index after it.
#[inline]
pub(crate) fn label_name_token<'a>(
    input: &'a str,
    p: usize,
    lines: &mut LineTracker,
) -> Option<(Cow<'a, str>, bool, usize)> {
    match input.as_bytes().get(p) {
        Some(b'"') => quoted_token(input, p, lines).map(|(s, end)| (s, true, end)),
        Some(&c) if is_label_start(c) => {
            let end = scan_label_name(input.as_bytes(), p);
            Some((Cow::Borrowed(&input[p..end]), false, end))
        }
        _ => None,
    }
}

/// A metric name at `p` (metadata lines): a legacy name or a quoted string.
pub(crate) fn metric_name_token<'a>(
    input: &'a str,
    p: usize,
    lines: &mut LineTracker,
) -> Option<(Cow<'a, str>, usize)> {
    match input.as_bytes().get(p) {
        Some(b'"') => quoted_token(input, p, lines),
        Some(&c) if is_metric_start(c) => {
            let end = scan_metric_name(input.as_bytes(), p);
            Some((Cow::Borrowed(&input[p..end]), end))
        }
        _ => None,
    }
}

/// Undoes label-value escaping: `\"`, `\\` and `\n`; other backslashes stay as written.
pub(crate) fn unescape_label_value(s: &str, has_escape: bool) -> Cow<'_, str> {
    if !has_escape {
        return Cow::Borrowed(s);
    }
    unescape(s, true)
}

/// Undoes HELP escaping of the text format: `\\` and `\n` only.
pub(crate) fn unescape_help(s: &str) -> Cow<'_, str> {
    if !s.contains('\\') {
        return Cow::Borrowed(s);
    }
    unescape(s, false)
}

fn unescape(s: &str, quote: bool) -> Cow<'_, str> {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.clone().next() {
            Some('\\') => {
                out.push('\\');
                chars.next();
            }
            Some('n') => {
                out.push('\n');
                chars.next();
            }
            Some('"') if quote => {
                out.push('"');
                chars.next();
            }
            _ => out.push('\\'),
        }
    }
    Cow::Owned(out)
}

/// Prometheus rewrites `le` of classic histograms and `quantile` of summaries into the
/// OpenMetrics float form (`le="1"` becomes `le="1.0"`), so both formats give one series.
#[inline]
pub(crate) fn normalize_le_quantile<'a>(
    mtype: MetricType,
    name: &str,
    value: Cow<'a, str>,
) -> Cow<'a, str> {
    let applies = (mtype == MetricType::Histogram && name == "le")
        || (mtype == MetricType::Summary && name == "quantile");
    if !applies {
        return value;
    }
    match parse_go_float(&value) {
        Ok(f) => {
            let norm = format_openmetrics(f);
            if norm == value {
                value
            } else {
                Cow::Owned(norm)
            }
        }
        Err(_) => value,
    }
}

/// Tracks lines for error positions.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct LineTracker {
    pub line: usize,
    pub line_start: usize,
}

impl LineTracker {
    pub fn new() -> LineTracker {
        LineTracker {
            line: 1,
            line_start: 0,
        }
    }

    /// Records a line feed at byte index `at`.
    pub fn newline(&mut self, at: usize) {
        self.line += 1;
        self.line_start = at + 1;
    }

    /// Records `count` line feeds inside `b[from..to]` (multi-line quoted strings).
    pub fn newlines_in(&mut self, b: &[u8], from: usize, to: usize, count: usize) {
        if count == 0 {
            return;
        }
        self.line += count;
        if let Some(last) = memchr::memrchr(b'\n', &b[from..to]) {
            self.line_start = from + last + 1;
        }
    }

    /// An error at byte `at` of `input`.
    pub fn error(&self, input: &str, at: usize, message: String) -> ParseError {
        let at = at.min(input.len());
        let start = self.line_start.min(at);
        let column = input
            .get(start..at)
            .map_or(at - start, |s| s.chars().count())
            + 1;
        ParseError {
            line: self.line,
            column,
            message,
        }
    }
}

/// How a token looks in an error message: the text from `at` to the end of the line
/// (at most 40 characters), or `EOF`.
pub(crate) fn describe_at(input: &str, at: usize) -> String {
    if at >= input.len() {
        return "EOF".to_string();
    }
    let rest = &input[at..];
    let end = rest.find('\n').map_or(rest.len(), |e| e.max(1));
    let mut s: String = rest[..end].chars().take(40).collect();
    if s.is_empty() {
        s.push('\n');
    }
    format!("{s:?}")
}

/// Checks the input is UTF-8 and converts it, reporting the position of the first bad byte.
pub(crate) fn input_str(input: &[u8]) -> Result<&str, ParseError> {
    std::str::from_utf8(input).map_err(|e| {
        let at = e.valid_up_to();
        let before = &input[..at];
        let line = before.iter().filter(|&&c| c == b'\n').count() + 1;
        let line_start = memchr::memrchr(b'\n', before).map_or(0, |i| i + 1);
        let column = std::str::from_utf8(&before[line_start..])
            .map_or(at - line_start, |s| s.chars().count())
            + 1;
        ParseError {
            line,
            column,
            message: "invalid UTF-8 in exposition".to_string(),
        }
    })
}

/// Parses a sample value as Prometheus does (decimal floats, Inf, NaN; no hex, no `_`).
/// NaN becomes Prometheus' canonical NaN bit pattern.
pub(crate) fn parse_value(s: &str) -> Result<f64, String> {
    match parse_go_float(s) {
        Ok(v) if v.is_nan() => Ok(f64::from_bits(hearth_model::sample::NORMAL_NAN_BITS)),
        Ok(v) => Ok(v),
        Err(e) => Err(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_strings() {
        let b = br#""a\"b" rest"#;
        let q = scan_quoted(b, 0, false).unwrap();
        assert_eq!(q.end, 6);
        assert!(q.has_escape);
        assert!(scan_quoted(b"\"abc", 0, false).is_none());
        assert!(scan_quoted(b"\"a\nb\"", 0, false).is_none());
        assert_eq!(scan_quoted(b"\"a\nb\"", 0, true).unwrap().newlines, 1);
    }

    #[test]
    fn escapes() {
        assert_eq!(
            unescape_label_value(r#"a\"b\\c\nd\z"#, true),
            "a\"b\\c\nd\\z"
        );
        assert_eq!(unescape_label_value(r"\\n", true), "\\n");
        assert_eq!(unescape_help(r#"a\"b\\c\nd"#), "a\\\"b\\c\nd");
    }

    #[test]
    fn le_normalization() {
        let n = |t, l, v: &str| normalize_le_quantile(t, l, Cow::Borrowed(v)).into_owned();
        assert_eq!(n(MetricType::Histogram, "le", "1"), "1.0");
        assert_eq!(n(MetricType::Histogram, "le", "+Inf"), "+Inf");
        assert_eq!(n(MetricType::Histogram, "le", "0.00001"), "1e-05");
        assert_eq!(n(MetricType::Summary, "quantile", "0.5"), "0.5");
        assert_eq!(n(MetricType::Gauge, "le", "1"), "1");
        assert_eq!(n(MetricType::Histogram, "le", "foo"), "foo");
    }

    #[test]
    fn error_positions() {
        let input = "ab\ncdé f";
        let mut t = LineTracker::new();
        t.newline(2);
        let e = t.error(input, 8, "x".into());
        assert_eq!((e.line, e.column), (2, 5));
    }
}
