//! Parser for the Prometheus text format 0.0.4 (`text/plain; version=0.0.4`).
//!
//! Acceptance follows Prometheus' own parser (`model/textparse/promparse.go`): blanks and
//! tabs may separate any two tokens, blank lines are skipped, `#` lines other than
//! `# HELP` / `# TYPE` are comments, label values may contain escaped quotes, and metric
//! and label names may be quoted (`{"my.metric", "a.b"="c"}`). The last line must end with
//! a line feed.

use std::borrow::Cow;

use hearth_model::MetricType;

use crate::entry::{Entry, LabelPair, SampleEntry};
use crate::syntax::{
    LineTracker, ParseError, describe_at, input_str, is_metric_start, label_name_token,
    metric_name_token, normalize_le_quantile, parse_value, scan_metric_name, scan_quoted,
    unescape_help, unescape_label_value,
};

/// Streaming parser of the Prometheus text format.
pub struct TextParser<'a> {
    input: &'a str,
    b: &'a [u8],
    pos: usize,
    lines: LineTracker,
    /// Type from the last `# TYPE` line; Prometheus keeps it across families.
    mtype: MetricType,
    labels: Vec<LabelPair<'a>>,
    /// Line of the entry returned last (for messages about it).
    entry_line: usize,
    done: bool,
}

impl<'a> TextParser<'a> {
    /// Fails only if the input is not UTF-8.
    pub fn new(input: &'a [u8]) -> Result<TextParser<'a>, ParseError> {
        let input = input_str(input)?;
        Ok(TextParser {
            input,
            b: input.as_bytes(),
            pos: 0,
            lines: LineTracker::new(),
            mtype: MetricType::Unknown,
            labels: Vec::with_capacity(16),
            entry_line: 1,
            done: false,
        })
    }

    /// The next entry, `Ok(None)` at the end of the input.
    #[allow(clippy::should_implement_trait)] // a lending iterator: entries borrow the parser
    pub fn next(&mut self) -> Result<Option<Entry<'_>>, ParseError> {
        if self.done {
            return Ok(None);
        }
        loop {
            self.skip_blanks();
            self.entry_line = self.lines.line;
            let Some(&c) = self.b.get(self.pos) else {
                self.done = true;
                return Ok(None);
            };
            match c {
                b'\n' => {
                    self.lines.newline(self.pos);
                    self.pos += 1;
                }
                // Upstream's lexer treats a NUL at the start of a line as the end.
                0 => {
                    self.done = true;
                    return Ok(None);
                }
                b'#' => return self.comment_or_metadata().map(Some),
                b'{' => return self.sample(self.pos).map(Some),
                c if is_metric_start(c) => return self.sample(self.pos).map(Some),
                _ => return Err(self.unexpected(self.pos, "expected a valid start token")),
            }
        }
    }

    /// The line of the entry returned by the last call to `next`.
    pub fn entry_line(&self) -> usize {
        self.entry_line
    }

    fn skip_blanks(&mut self) {
        while matches!(self.b.get(self.pos), Some(b' ' | b'\t')) {
            self.pos += 1;
        }
    }

    fn unexpected(&self, at: usize, expected: &str) -> ParseError {
        self.lines.error(
            self.input,
            at,
            format!("{expected}, got {}", describe_at(self.input, at)),
        )
    }

    /// Consumes the line feed that ends a line (`at` must point to it).
    fn end_line(&mut self, expected: &str) -> Result<(), ParseError> {
        if self.b.get(self.pos) != Some(&b'\n') {
            let mut msg = expected.to_string();
            if self.pos >= self.b.len() {
                msg.push_str(" (the last line must end with a line feed)");
            }
            return Err(self.unexpected(self.pos, &msg));
        }
        self.lines.newline(self.pos);
        self.pos += 1;
        Ok(())
    }

    fn rest_of_line(&self, from: usize) -> usize {
        memchr::memchr(b'\n', &self.b[from..]).map_or(self.b.len(), |i| from + i)
    }

    fn comment_or_metadata(&mut self) -> Result<Entry<'_>, ParseError> {
        let hash = self.pos;
        let mut p = hash + 1;
        let blank_after_hash = matches!(self.b.get(p), Some(b' ' | b'\t'));
        while matches!(self.b.get(p), Some(b' ' | b'\t')) {
            p += 1;
        }
        let keyword = &self.b[p..];
        let is_help = keyword.starts_with(b"HELP");
        let is_meta = blank_after_hash
            && (is_help || keyword.starts_with(b"TYPE"))
            && matches!(keyword.get(4), Some(b' ' | b'\t'));
        if !is_meta {
            let end = self.rest_of_line(hash);
            let text = &self.input[p..end];
            self.pos = end;
            if end >= self.b.len() {
                self.done = true;
            } else {
                self.end_line("linebreak expected after comment")?;
            }
            return Ok(Entry::Comment(text));
        }
        p += 4;
        while matches!(self.b.get(p), Some(b' ' | b'\t')) {
            p += 1;
        }
        let kind = if is_help { "HELP" } else { "TYPE" };
        let Some((name, end)) = metric_name_token(self.input, p, &mut self.lines) else {
            return Err(self.unexpected(p, &format!("expected metric name after {kind}")));
        };
        p = end;
        let end = self.rest_of_line(p);
        // Upstream drops exactly the first character after the name (normally the blank).
        let text = match self.input.get(p..end) {
            Some(t) if t.len() > 1 => {
                let first = t.chars().next().map_or(1, char::len_utf8);
                &t[first..]
            }
            _ => "",
        };
        let text_start = end - text.len();
        self.pos = end;
        if is_help {
            self.end_line("linebreak expected after metadata")?;
            return Ok(Entry::Help {
                name,
                help: unescape_help(text),
            });
        }
        let metric_type = match text {
            "counter" => MetricType::Counter,
            "gauge" => MetricType::Gauge,
            "histogram" => MetricType::Histogram,
            "summary" => MetricType::Summary,
            "untyped" => MetricType::Unknown,
            other => {
                return Err(self.lines.error(
                    self.input,
                    text_start,
                    format!("invalid metric type {other:?}"),
                ));
            }
        };
        self.end_line("linebreak expected after metadata")?;
        self.mtype = metric_type;
        Ok(Entry::Type { name, metric_type })
    }

    fn sample(&mut self, start: usize) -> Result<Entry<'_>, ParseError> {
        self.labels.clear();
        let mut name: Option<Cow<'a, str>> = None;
        let mut p = start;
        if self.b[p] != b'{' {
            let end = scan_metric_name(self.b, p);
            name = Some(Cow::Borrowed(&self.input[p..end]));
            p = end;
            while matches!(self.b.get(p), Some(b' ' | b'\t')) {
                p += 1;
            }
        }
        let mut series_end = p;
        if self.b.get(p) == Some(&b'{') {
            p = self.labels_block(p + 1, &mut name)?;
            series_end = p;
        } else if let Some(n) = &name {
            series_end = start + n.len();
        }
        let Some(name) = name else {
            return Err(self.lines.error(
                self.input,
                start,
                format!(
                    "metric name not set while parsing: {:?}",
                    &self.input[start..p]
                ),
            ));
        };
        while matches!(self.b.get(p), Some(b' ' | b'\t')) {
            p += 1;
        }
        let vstart = p;
        while p < self.b.len() && !matches!(self.b[p], b' ' | b'\t' | b'\n' | b'{') {
            p += 1;
        }
        if p == vstart {
            return Err(self.unexpected(p, "expected value after metric"));
        }
        let value = parse_value(&self.input[vstart..p]).map_err(|e| {
            self.lines.error(
                self.input,
                vstart,
                format!("{e} while parsing sample value"),
            )
        })?;
        while matches!(self.b.get(p), Some(b' ' | b'\t')) {
            p += 1;
        }
        let mut timestamp = None;
        if self.b.get(p).is_some_and(u8::is_ascii_digit) {
            let tstart = p;
            while self.b.get(p).is_some_and(u8::is_ascii_digit) {
                p += 1;
            }
            let ts = self.input[tstart..p].parse::<i64>().map_err(|_| {
                self.lines.error(
                    self.input,
                    tstart,
                    format!("timestamp {:?} out of range", &self.input[tstart..p]),
                )
            })?;
            timestamp = Some(ts);
            while matches!(self.b.get(p), Some(b' ' | b'\t')) {
                p += 1;
            }
            self.pos = p;
            self.end_line("expected next entry after timestamp")?;
        } else {
            self.pos = p;
            self.end_line("expected timestamp or new record")?;
        }
        Ok(Entry::Sample(SampleEntry {
            series: &self.b[start..series_end],
            name,
            labels: &self.labels,
            value,
            timestamp,
            exemplars: &[],
            created_timestamp: None,
        }))
    }

    /// Parses label pairs after `{` up to and including `}`; returns the index after `}`.
    fn labels_block(
        &mut self,
        mut p: usize,
        name: &mut Option<Cow<'a, str>>,
    ) -> Result<usize, ParseError> {
        loop {
            while matches!(self.b.get(p), Some(b' ' | b'\t')) {
                p += 1;
            }
            if self.b.get(p) == Some(&b'}') {
                return Ok(p + 1);
            }
            let Some((lname, quoted, end)) = label_name_token(self.input, p, &mut self.lines)
            else {
                return Err(self.unexpected(p, "expected label name"));
            };
            p = end;
            while matches!(self.b.get(p), Some(b' ' | b'\t')) {
                p += 1;
            }
            if quoted && matches!(self.b.get(p), Some(b',' | b'}')) {
                // A quoted string alone is the metric name.
                if name.is_some() {
                    return Err(self.lines.error(
                        self.input,
                        p,
                        "metric name already set".to_string(),
                    ));
                }
                *name = Some(lname);
                if self.b[p] == b'}' {
                    return Ok(p + 1);
                }
                p += 1;
                continue;
            }
            if self.b.get(p) != Some(&b'=') {
                return Err(self.unexpected(p, "expected equal"));
            }
            p += 1;
            while matches!(self.b.get(p), Some(b' ' | b'\t')) {
                p += 1;
            }
            if self.b.get(p) != Some(&b'"') {
                return Err(self.unexpected(p, "expected label value"));
            }
            let Some(q) = scan_quoted(self.b, p, true) else {
                return Err(self.unexpected(p, "expected label value (unterminated quoted string)"));
            };
            let raw = unescape_label_value(&self.input[p + 1..q.end - 1], q.has_escape);
            self.lines.newlines_in(self.b, p, q.end, q.newlines);
            p = q.end;
            let value = normalize_le_quantile(self.mtype, &lname, raw);
            self.labels.push(LabelPair { name: lname, value });
            while matches!(self.b.get(p), Some(b' ' | b'\t')) {
                p += 1;
            }
            // Upstream allows a trailing comma and even a missing one between pairs.
            if self.b.get(p) == Some(&b',') {
                p += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_all(input: &str) -> Result<Vec<String>, ParseError> {
        let mut p = TextParser::new(input.as_bytes())?;
        let mut out = Vec::new();
        while let Some(e) = p.next()? {
            out.push(match e {
                Entry::Help { name, help } => format!("help {name} {help:?}"),
                Entry::Type { name, metric_type } => format!("type {name} {metric_type}"),
                Entry::Unit { name, unit } => format!("unit {name} {unit}"),
                Entry::Comment(c) => format!("comment {c:?}"),
                Entry::Sample(s) => format!(
                    "{} {} {:?} [{}]",
                    s.to_labels(),
                    s.value,
                    s.timestamp,
                    String::from_utf8_lossy(s.series)
                ),
                Entry::Histogram(_) => "histogram".into(),
            });
        }
        Ok(out)
    }

    #[test]
    fn typical_page() {
        let input = "# HELP go_goroutines Number of goroutines.\n# TYPE go_goroutines gauge\ngo_goroutines 42\n\n\
            # a comment\nhttp_requests_total{method=\"post\",code=\"200\"} 1027 1395066363000\n\
            \t metric_without_timestamp_and_labels 12.47\nsomething_weird{problem=\"division by zero\"} +Inf -3982045\n";
        // Negative timestamps are not valid in the text format.
        assert!(parse_all(input).is_err());
        let ok = input.replace(" -3982045", "");
        let got = parse_all(&ok).unwrap();
        assert_eq!(
            got,
            vec![
                "help go_goroutines \"Number of goroutines.\"",
                "type go_goroutines gauge",
                "{__name__=\"go_goroutines\"} 42 None [go_goroutines]",
                "comment \"a comment\"",
                "{__name__=\"http_requests_total\", code=\"200\", method=\"post\"} 1027 Some(1395066363000) [http_requests_total{method=\"post\",code=\"200\"}]",
                "{__name__=\"metric_without_timestamp_and_labels\"} 12.47 None [metric_without_timestamp_and_labels]",
                "{__name__=\"something_weird\", problem=\"division by zero\"} inf None [something_weird{problem=\"division by zero\"}]",
            ]
        );
    }

    #[test]
    fn escapes_and_quoted_names() {
        let got = parse_all(
            "# HELP \"my.metric\" a\\\\b\\nc\n{\"my.metric\", \"a.b\"=\"x\\\"y\\\\z\\n\", c=\"\"} 1\n",
        )
        .unwrap();
        assert_eq!(got[0], "help my.metric \"a\\\\b\\nc\"");
        assert!(
            got[1].starts_with(r#"{__name__="my.metric", "a.b"="x\"y\\z\n"} 1"#),
            "{}",
            got[1]
        );
    }

    #[test]
    fn le_and_quantile_are_normalized() {
        let got = parse_all(
            "# TYPE h histogram\nh_bucket{le=\"1\"} 1\n# TYPE s summary\ns{quantile=\"0.50\"} 1\n",
        )
        .unwrap();
        assert!(got[1].contains("le=\"1.0\""), "{}", got[1]);
        assert!(got[3].contains("quantile=\"0.5\""), "{}", got[3]);
    }

    #[test]
    fn errors_have_positions() {
        let e = parse_all("a 1\nb{c \"d\"} 2\n").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.message.contains("expected equal"), "{e}");
        assert_eq!(e.column, 5);
        let e = parse_all("a 1").unwrap_err();
        assert!(
            e.message
                .contains("the last line must end with a line feed"),
            "{e}"
        );
        let e = parse_all("# TYPE a foo\n").unwrap_err();
        assert_eq!(
            (e.line, e.column, e.message.as_str()),
            (1, 10, "invalid metric type \"foo\"")
        );
        let e = parse_all("a 0x1p3\n").unwrap_err();
        assert_eq!(e.column, 3);
        assert!(parse_all("a{} 1 2 3\n").is_err());
        assert!(parse_all("{} 1\n").is_err());
        assert!(parse_all("a 1 -5\n").is_err());
        assert!(parse_all("a{b=\"c\"}{ 1\n").is_err());
        assert!(parse_all("a{\"x\",\"y\"} 1\n").is_err());
        assert!(parse_all("a 1 99999999999999999999\n").is_err());
        assert!(parse_all("a{b=\"\\\nc\"} 1\n").is_err());
    }

    #[test]
    fn lenient_where_upstream_is() {
        assert!(parse_all("a { b = \"c\" d=\"e\", } 1\n").is_ok());
        assert!(parse_all("a{b=\"multi\nline\"} 1\n").is_ok());
        assert!(parse_all("#HELP not metadata\n# HELP\n").is_ok());
        assert_eq!(parse_all("a 1\n\0garbage").unwrap().len(), 1);
    }
}
