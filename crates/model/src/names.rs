//! Metric and label name rules, and the quoting Prometheus uses when printing them.
//!
//! Prometheus 3 accepts any non-empty UTF-8 string as a metric or label name; names
//! outside the legacy character set must be written quoted (`{"my.metric", "a.b"="c"}`).

use std::fmt::Write;

/// `[a-zA-Z_:][a-zA-Z0-9_:]*`: a metric name that can be written without quotes.
pub fn is_legacy_metric_name(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && (b[0].is_ascii_alphabetic() || b[0] == b'_' || b[0] == b':')
        && b[1..]
            .iter()
            .all(|&c| c.is_ascii_alphanumeric() || c == b'_' || c == b':')
}

/// `[a-zA-Z_][a-zA-Z0-9_]*`: a label name that can be written without quotes.
pub fn is_legacy_label_name(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && (b[0].is_ascii_alphabetic() || b[0] == b'_')
        && b[1..]
            .iter()
            .all(|&c| c.is_ascii_alphanumeric() || c == b'_')
}

/// Whether a name is acceptable under UTF-8 name validation (Prometheus 3 default).
pub fn is_valid_utf8_name(name: &str) -> bool {
    !name.is_empty()
}

/// Label names starting with `__` are reserved for internal use.
pub fn is_reserved_label_name(name: &str) -> bool {
    name.starts_with("__")
}

/// How metric and label names are validated (`metric_name_validation_scheme` in
/// prometheus.yml): Prometheus 3 defaults to UTF-8, `legacy` restores the old character set.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum ValidationScheme {
    #[default]
    Utf8,
    Legacy,
}

impl ValidationScheme {
    pub fn is_valid_label_name(self, name: &str) -> bool {
        match self {
            ValidationScheme::Utf8 => is_valid_utf8_name(name),
            ValidationScheme::Legacy => is_legacy_label_name(name),
        }
    }

    pub fn is_valid_metric_name(self, name: &str) -> bool {
        match self {
            ValidationScheme::Utf8 => is_valid_utf8_name(name),
            ValidationScheme::Legacy => is_legacy_metric_name(name),
        }
    }

    /// The spelling used in configuration files.
    pub fn as_str(self) -> &'static str {
        match self {
            ValidationScheme::Utf8 => "utf8",
            ValidationScheme::Legacy => "legacy",
        }
    }
}

/// Appends `s` quoted exactly as Go's `strconv.Quote` does, which is how Prometheus
/// prints label values and quoted names.
pub fn write_go_quoted(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if is_go_printable(c) => out.push(c),
            c if (c as u32) < 0x80 => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if (c as u32) < 0x10000 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => {
                let _ = write!(out, "\\U{:08x}", c as u32);
            }
        }
    }
    out.push('"');
}

/// Returns `s` quoted as Go's `strconv.Quote` does.
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    write_go_quoted(&mut out, s);
    out
}

/// An approximation of Go's `unicode.IsPrint`: graphic characters and the ASCII space.
/// Control characters, non-ASCII spaces and invisible format characters are escaped.
pub fn is_go_printable(c: char) -> bool {
    if c.is_ascii() {
        return (' '..='~').contains(&c);
    }
    !(c.is_control()
        || c.is_whitespace()
        || matches!(c as u32,
            0xAD | 0x600..=0x605 | 0x61C | 0x6DD | 0x70F | 0x180E | 0x200B..=0x200F
            | 0x202A..=0x202E | 0x2060..=0x2064 | 0x2066..=0x206F | 0xFEFF | 0xFFF9..=0xFFFB
            | 0xE000..=0xF8FF | 0xF0000..=0x10FFFF)
        || (c as u32 & 0xFFFE) == 0xFFFE)
}

/// Appends a label name, quoted when it is not a legacy name.
pub fn write_label_name(out: &mut String, name: &str) {
    if is_legacy_label_name(name) {
        out.push_str(name);
    } else {
        write_go_quoted(out, name);
    }
}

/// Escapes a label value for the Prometheus text formats (`\\`, `\"`, `\n`).
pub fn write_escaped_label_value(out: &mut String, v: &str) {
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_names() {
        assert!(is_legacy_metric_name("http_requests:rate5m"));
        assert!(!is_legacy_metric_name("0abc"));
        assert!(!is_legacy_metric_name("a.b"));
        assert!(!is_legacy_metric_name(""));
        assert!(is_legacy_label_name("_a1"));
        assert!(!is_legacy_label_name("a:b"));
    }

    #[test]
    fn quoting_matches_go() {
        assert_eq!(go_quote("a\"b\\c\nd"), r#""a\"b\\c\nd""#);
        assert_eq!(go_quote("\u{1}"), r#""\x01""#);
        assert_eq!(go_quote("ü日本"), "\"ü日本\"");
        assert_eq!(go_quote("\u{a0}"), r#""\u00a0""#);
        assert_eq!(go_quote("\u{7f}"), r#""\x7f""#);
    }
}
