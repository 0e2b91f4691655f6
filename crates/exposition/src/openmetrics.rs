//! Parser for OpenMetrics 1.0 text (`application/openmetrics-text; version=1.0.0`).
//!
//! By default acceptance follows Prometheus' scrape parser
//! (`model/textparse/openmetricsparse.go`): exact single blanks between tokens, no blank
//! lines, only `# HELP`/`# TYPE`/`# UNIT` comments, timestamps in float seconds,
//! exemplars after ` # `, and a mandatory `# EOF`. [`OpenMetricsOptions::strict`] also
//! rejects the syntax OpenMetrics forbids but Prometheus tolerates; the semantic rules of
//! the specification (histogram structure, counter values, grouping) are checked by
//! [`crate::validate::OpenMetricsValidator`].

use std::borrow::Cow;

use hearth_model::{Exemplar, Labels, MetricType, Timestamp};

use crate::entry::{Entry, LabelPair, SampleEntry};
use crate::syntax::{
    LineTracker, ParseError, describe_at, input_str, is_metric_start, label_name_token,
    metric_name_token, normalize_le_quantile, parse_value, scan_metric_name, scan_quoted,
    unescape_label_value,
};

/// Parser options.
#[derive(Debug, Clone, Copy, Default)]
pub struct OpenMetricsOptions {
    /// Reject what OpenMetrics forbids but Prometheus accepts: trailing commas in label
    /// sets, repeated exemplar label names, exemplar label sets over 128 characters.
    pub strict: bool,
    /// Look ahead for the `_created` line of each counter, summary and histogram series
    /// and report it as [`SampleEntry::created_timestamp`].
    pub created_timestamps: bool,
    /// Do not yield `_created` lines of counters, summaries and histograms as samples.
    pub skip_created_series: bool,
}

/// Streaming parser of OpenMetrics text.
pub struct OpenMetricsParser<'a> {
    input: &'a str,
    b: &'a [u8],
    pos: usize,
    lines: LineTracker,
    opts: OpenMetricsOptions,
    /// Type from the last `# TYPE` line (kept across families, as upstream does).
    mtype: MetricType,
    /// Name of the family of the last metadata line, for `_created` matching.
    family: &'a str,
    labels: Vec<LabelPair<'a>>,
    exemplar_labels: Vec<LabelPair<'a>>,
    exemplars: Vec<Exemplar>,
    /// Last created-timestamp lookup: the series key and what was found.
    ct_cache: Option<(String, Option<Timestamp>)>,
    /// Line of the entry returned last (for messages about it).
    entry_line: usize,
    done: bool,
}

/// Everything about a sample line except its labels (which live in the parser).
struct SampleLine<'a> {
    start: usize,
    series_end: usize,
    name: Cow<'a, str>,
    value: f64,
    timestamp: Option<Timestamp>,
    has_exemplar: bool,
}

impl<'a> OpenMetricsParser<'a> {
    /// Fails only if the input is not UTF-8.
    pub fn new(
        input: &'a [u8],
        opts: OpenMetricsOptions,
    ) -> Result<OpenMetricsParser<'a>, ParseError> {
        let input = input_str(input)?;
        Ok(OpenMetricsParser {
            input,
            b: input.as_bytes(),
            pos: 0,
            lines: LineTracker::new(),
            opts,
            mtype: MetricType::Unknown,
            family: "",
            labels: Vec::with_capacity(16),
            exemplar_labels: Vec::new(),
            exemplars: Vec::new(),
            ct_cache: None,
            entry_line: 1,
            done: false,
        })
    }

    /// The next entry; `Ok(None)` after `# EOF`.
    #[allow(clippy::should_implement_trait)] // a lending iterator: entries borrow the parser
    pub fn next(&mut self) -> Result<Option<Entry<'_>>, ParseError> {
        loop {
            if self.done {
                return Ok(None);
            }
            let start = self.pos;
            self.entry_line = self.lines.line;
            match self.b.get(start) {
                None => return Err(self.unexpected(start, "data does not end with # EOF")),
                Some(b'#') => return self.hash_line(start),
                Some(&c) if c == b'{' || is_metric_start(c) => {
                    let line = self.sample_line(start)?;
                    if self.opts.skip_created_series && self.is_created_series(&line.name) {
                        continue;
                    }
                    let created_timestamp = if self.opts.created_timestamps {
                        self.created_timestamp(&line.name)
                    } else {
                        None
                    };
                    return Ok(Some(Entry::Sample(SampleEntry {
                        series: &self.b[line.start..line.series_end],
                        name: line.name,
                        labels: &self.labels,
                        value: line.value,
                        timestamp: line.timestamp,
                        exemplars: if line.has_exemplar {
                            &self.exemplars
                        } else {
                            &[]
                        },
                        created_timestamp,
                    })));
                }
                Some(_) => return Err(self.unexpected(start, "expected a valid start token")),
            }
        }
    }

    /// The line of the entry returned by the last call to `next`.
    pub fn entry_line(&self) -> usize {
        self.entry_line
    }

    fn unexpected(&self, at: usize, expected: &str) -> ParseError {
        let mut msg = expected.to_string();
        if !expected.contains("EOF") || at < self.b.len() {
            msg = format!("{expected}, got {}", describe_at(self.input, at));
        }
        self.lines.error(self.input, at, msg)
    }

    fn error(&self, at: usize, msg: String) -> ParseError {
        self.lines.error(self.input, at, msg)
    }

    fn end_line(&mut self, p: usize) {
        self.lines.newline(p);
        self.pos = p + 1;
    }

    fn hash_line(&mut self, start: usize) -> Result<Option<Entry<'_>>, ParseError> {
        if self.b.get(start + 1) != Some(&b' ') {
            return Err(self.unexpected(start, "expected a valid start token"));
        }
        let kw = start + 2;
        let rest = &self.b[kw..];
        if rest.starts_with(b"EOF") {
            let mut p = kw + 3;
            if self.b.get(p) == Some(&b'\n') {
                p += 1;
            }
            if p != self.b.len() {
                return Err(self.error(p, "unexpected data after # EOF".to_string()));
            }
            self.done = true;
            return Ok(None);
        }
        let kind = if rest.starts_with(b"HELP ") {
            "HELP"
        } else if rest.starts_with(b"TYPE ") {
            "TYPE"
        } else if rest.starts_with(b"UNIT ") {
            "UNIT"
        } else {
            return Err(self.unexpected(
                start,
                "expected a valid start token (# HELP, # TYPE, # UNIT or # EOF)",
            ));
        };
        let mut p = kw + 5;
        let Some((name, end)) = metric_name_token(self.input, p, &mut self.lines) else {
            return Err(self.unexpected(p, &format!("expected metric name after {kind}")));
        };
        p = end;
        let newline = memchr::memchr(b'\n', &self.b[p..]).map(|i| p + i);
        let Some(newline) = newline.filter(|_| self.b.get(p) == Some(&b' ')) else {
            return Err(self.unexpected(p, &format!("expected text in {kind}")));
        };
        let text = &self.input[p + 1..newline];
        self.family = match &name {
            Cow::Borrowed(s) => s,
            // Escaped quoted names are rare; matching `_created` then uses the raw text.
            Cow::Owned(_) => &self.input[kw + 6..p - 1],
        };
        let entry = match kind {
            "HELP" => Entry::Help {
                name,
                help: unescape_label_value(text, text.contains('\\')),
            },
            "TYPE" => {
                // OpenMetrics has no `untyped` (the text format's name for unknown).
                let metric_type = match text.parse::<MetricType>() {
                    Ok(t) if text != "untyped" => t,
                    _ => return Err(self.error(p + 1, format!("invalid metric type {text:?}"))),
                };
                self.mtype = metric_type;
                Entry::Type { name, metric_type }
            }
            _ => {
                if !text.is_empty() {
                    let ok = name.len() > text.len()
                        && name.ends_with(text)
                        && name.as_bytes()[name.len() - text.len() - 1] == b'_';
                    if !ok {
                        return Err(self.error(
                            p + 1,
                            format!("unit {text:?} not a suffix of metric {name:?}"),
                        ));
                    }
                }
                Entry::Unit {
                    name,
                    unit: Cow::Borrowed(text),
                }
            }
        };
        self.end_line(newline);
        Ok(Some(entry))
    }

    fn is_created_series(&self, name: &str) -> bool {
        requires_created(self.mtype) && name.len() >= 8 && name.ends_with("_created")
    }

    fn sample_line(&mut self, start: usize) -> Result<SampleLine<'a>, ParseError> {
        self.labels.clear();
        let mut name: Option<Cow<'a, str>> = None;
        let mut p = start;
        if self.b[p] != b'{' {
            let end = scan_metric_name(self.b, p);
            name = Some(Cow::Borrowed(&self.input[p..end]));
            p = end;
        }
        if self.b.get(p) == Some(&b'{') {
            p = self.labels_block(p + 1, Some(&mut name))?;
        }
        let series_end = p;
        let Some(name) = name else {
            return Err(self.error(
                start,
                format!(
                    "metric name not set while parsing: {:?}",
                    &self.input[start..p]
                ),
            ));
        };
        let (value, mut p) = self.space_token(p, "expected value after metric")?;
        let value = parse_value(value)
            .map_err(|e| self.error(p - value.len(), format!("{e} while parsing sample value")))?;
        let mut timestamp = None;
        let mut has_exemplar = false;
        loop {
            match self.b.get(p) {
                None => return Err(self.unexpected(p, "data does not end with # EOF")),
                Some(b'\n') => {
                    self.end_line(p);
                    break;
                }
                Some(b' ') if self.b[p + 1..].starts_with(b"# {") => {
                    p = self.exemplar(p + 4)?;
                    has_exemplar = true;
                    self.end_line(p);
                    break;
                }
                Some(b' ')
                    if timestamp.is_none()
                        && matches!(self.b.get(p + 1), Some(c) if !matches!(c, b'c' | b' ' | b'\n')) =>
                {
                    let (ts, next) = self.space_token(p, "expected timestamp")?;
                    timestamp = Some(self.parse_timestamp(ts, next - ts.len(), "timestamp")?);
                    p = next;
                }
                Some(_) if timestamp.is_some() => {
                    return Err(self.unexpected(p, "expected next entry after timestamp"));
                }
                Some(_) => return Err(self.unexpected(p, "expected timestamp or new record")),
            }
        }
        Ok(SampleLine {
            start,
            series_end,
            name,
            value,
            timestamp,
            has_exemplar,
        })
    }

    /// A token of the form `{S}[^ \n]+` at `p`: returns it and the index after it.
    fn space_token(&self, p: usize, expected: &str) -> Result<(&'a str, usize), ParseError> {
        if self.b.get(p) != Some(&b' ') {
            return Err(self.unexpected(p, expected));
        }
        let start = p + 1;
        let mut end = start;
        while end < self.b.len() && !matches!(self.b[end], b' ' | b'\n') {
            end += 1;
        }
        if end == start {
            return Err(self.unexpected(start, expected));
        }
        Ok((&self.input[start..end], end))
    }

    fn parse_timestamp(&self, s: &str, at: usize, what: &str) -> Result<Timestamp, ParseError> {
        if let Some(ms) = decimal_seconds_to_ms(s) {
            return Ok(ms);
        }
        let f = parse_value(s).map_err(|e| self.error(at, format!("{e} while parsing {what}")))?;
        if !f.is_finite() {
            return Err(self.error(at, format!("invalid {what} {s}")));
        }
        // Saturating, as Go's float-to-int conversion of huge OpenMetrics timestamps.
        Ok((f * 1000.0) as Timestamp)
    }

    /// Parses the exemplar after ` # {`; returns the index of the line feed ending it.
    fn exemplar(&mut self, p: usize) -> Result<usize, ParseError> {
        let labels_start = p;
        self.exemplar_labels.clear();
        let p = self.labels_block(p, None)?;
        if self.opts.strict {
            self.check_exemplar_labels(labels_start)?;
        }
        let (v, mut p) = self.space_token(p, "expected value after exemplar labels")?;
        let value = parse_value(v)
            .map_err(|e| self.error(p - v.len(), format!("{e} while parsing exemplar value")))?;
        let mut timestamp = None;
        if self.b.get(p) == Some(&b' ') {
            let (ts, next) = self.space_token(p, "expected exemplar timestamp")?;
            timestamp = Some(self.parse_timestamp(ts, next - ts.len(), "exemplar timestamp")?);
            p = next;
        }
        match self.b.get(p) {
            Some(b'\n') => {}
            None => return Err(self.unexpected(p, "data does not end with # EOF")),
            Some(_) => return Err(self.unexpected(p, "expected next entry after exemplar")),
        }
        let labels = Labels::new(
            self.exemplar_labels
                .iter()
                .map(|l| (l.name.as_ref(), l.value.as_ref())),
        );
        self.exemplars.clear();
        self.exemplars.push(Exemplar {
            labels,
            value,
            timestamp,
        });
        Ok(p)
    }

    fn check_exemplar_labels(&self, at: usize) -> Result<(), ParseError> {
        let l = &self.exemplar_labels;
        if let Some(dup) = l
            .iter()
            .enumerate()
            .find(|(i, a)| l[..*i].iter().any(|b| b.name == a.name))
        {
            return Err(self.error(
                at,
                format!("duplicate exemplar label name {:?}", dup.1.name),
            ));
        }
        let runes: usize = l
            .iter()
            .map(|p| p.name.chars().count() + p.value.chars().count())
            .sum();
        if runes > hearth_model::exemplar::MAX_EXEMPLAR_LABELS_RUNES {
            return Err(self.error(
                at,
                format!(
                    "exemplar labels have {runes} UTF-8 characters, exceeding the limit of 128"
                ),
            ));
        }
        Ok(())
    }

    /// Parses label pairs after `{` up to and including `}`; returns the index after `}`.
    /// `name` is `None` for exemplar label sets (which cannot carry a metric name).
    fn labels_block(
        &mut self,
        mut p: usize,
        mut name: Option<&mut Option<Cow<'a, str>>>,
    ) -> Result<usize, ParseError> {
        let exemplar = name.is_none();
        let mut after_comma = false;
        loop {
            if self.b.get(p) == Some(&b'}') {
                if after_comma && self.opts.strict {
                    return Err(self.error(p, "trailing comma in label set".to_string()));
                }
                return Ok(p + 1);
            }
            let Some((lname, quoted, end)) = label_name_token(self.input, p, &mut self.lines)
            else {
                return Err(self.unexpected(p, "expected label name"));
            };
            p = end;
            if quoted && matches!(self.b.get(p), Some(b',' | b'}')) {
                let Some(name) = name.as_deref_mut() else {
                    return Err(
                        self.unexpected(p, "expected equal (exemplars cannot name a metric)")
                    );
                };
                if name.is_some() {
                    return Err(self.error(p, "metric name already set".to_string()));
                }
                *name = Some(lname);
                if self.b[p] == b'}' {
                    return Ok(p + 1);
                }
                p += 1;
                after_comma = true;
                continue;
            }
            if self.b.get(p) != Some(&b'=') {
                return Err(self.unexpected(p, "expected equal"));
            }
            p += 1;
            if self.b.get(p) != Some(&b'"') {
                return Err(self.unexpected(p, "expected label value"));
            }
            let Some(q) = scan_quoted(self.b, p, false) else {
                return Err(self.unexpected(p, "expected label value (unterminated quoted string)"));
            };
            let raw = unescape_label_value(&self.input[p + 1..q.end - 1], q.has_escape);
            p = q.end;
            if exemplar {
                self.exemplar_labels.push(LabelPair {
                    name: lname,
                    value: raw,
                });
            } else {
                // Strict mode reports values as written, so `le="+INF"` can be rejected.
                let value = if self.opts.strict {
                    raw
                } else {
                    normalize_le_quantile(self.mtype, &lname, raw)
                };
                self.labels.push(LabelPair { name: lname, value });
            }
            match self.b.get(p) {
                Some(b',') => {
                    p += 1;
                    after_comma = true;
                }
                Some(b'}') => after_comma = false,
                _ => return Err(self.unexpected(p, "expected comma or brace close")),
            }
        }
    }

    /// Finds the `_created` line of the current series (see upstream's CreatedTimestamp):
    /// it must follow within the family, with the same labels apart from `le`/`quantile`.
    fn created_timestamp(&mut self, name: &str) -> Option<Timestamp> {
        if !requires_created(self.mtype) || name.ends_with("_created") {
            return None;
        }
        let key = self.series_key(self.family, &self.labels);
        if let Some((k, ct)) = &self.ct_cache
            && *k == key
        {
            return *ct;
        }
        let mut ahead = OpenMetricsParser {
            input: self.input,
            b: self.b,
            pos: self.pos,
            lines: self.lines,
            opts: OpenMetricsOptions::default(),
            mtype: self.mtype,
            family: self.family,
            labels: Vec::new(),
            exemplar_labels: Vec::new(),
            exemplars: Vec::new(),
            ct_cache: None,
            entry_line: 1,
            done: false,
        };
        let mut found = None;
        while let Ok(Some(Entry::Sample(s))) = ahead.next() {
            let Some(base) = s.name.strip_suffix("_created") else {
                continue;
            };
            if self.series_key(base, s.labels) == key {
                found = Some((s.value * 1000.0) as Timestamp);
            }
            break;
        }
        self.ct_cache = Some((key, found));
        found
    }

    fn series_key(&self, family: &str, labels: &[LabelPair<'_>]) -> String {
        let skip = match self.mtype {
            MetricType::Summary => "quantile",
            MetricType::Histogram => "le",
            _ => "",
        };
        let mut key = String::from(family);
        for l in labels.iter().filter(|l| l.name != skip) {
            key.push('\u{0}');
            key.push_str(&l.name);
            key.push('\u{0}');
            key.push_str(&l.value);
        }
        key
    }
}

/// Converts plain decimal seconds (`1726839814.223`) to milliseconds exactly, truncating
/// digits beyond the millisecond and saturating out-of-range values. Upstream multiplies a
/// float by 1000, which can land one millisecond low (`…222.9999`); exact decimal
/// arithmetic gives the timestamp that was written. Other forms return `None`.
fn decimal_seconds_to_ms(s: &str) -> Option<Timestamp> {
    let (neg, body) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let (int, frac) = body.split_once('.').unwrap_or((body, ""));
    if (int.is_empty() && frac.is_empty())
        || !int.bytes().all(|c| c.is_ascii_digit())
        || !frac.bytes().all(|c| c.is_ascii_digit())
    {
        return None;
    }
    let mut ms: i128 = 0;
    for c in int.bytes() {
        ms = (ms * 10 + i128::from(c - b'0')).min(i128::from(i64::MAX) * 10);
    }
    let mut frac_ms = 0i128;
    for c in frac.bytes().chain(std::iter::repeat(b'0')).take(3) {
        frac_ms = frac_ms * 10 + i128::from(c - b'0');
    }
    let total = ms * 1000 + frac_ms;
    let total = if neg { -total } else { total };
    Some(total.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as Timestamp)
}

fn requires_created(t: MetricType) -> bool {
    matches!(
        t,
        MetricType::Counter | MetricType::Summary | MetricType::Histogram
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(input: &str, opts: OpenMetricsOptions) -> Result<Vec<String>, ParseError> {
        let mut p = OpenMetricsParser::new(input.as_bytes(), opts)?;
        let mut out = Vec::new();
        while let Some(e) = p.next()? {
            out.push(match e {
                Entry::Help { name, help } => format!("help {name} {help:?}"),
                Entry::Type { name, metric_type } => format!("type {name} {metric_type}"),
                Entry::Unit { name, unit } => format!("unit {name} {unit}"),
                Entry::Comment(c) => format!("comment {c:?}"),
                Entry::Sample(s) => format!(
                    "{} {} ts={:?} ct={:?} ex={:?}",
                    s.to_labels(),
                    s.value,
                    s.timestamp,
                    s.created_timestamp,
                    s.exemplars
                        .first()
                        .map(|e| (e.labels.to_string(), e.value, e.timestamp))
                ),
                Entry::Histogram(_) => "histogram".into(),
            });
        }
        Ok(out)
    }

    #[test]
    fn sample_with_exemplar_and_timestamps() {
        let got = parse(
            "# TYPE a counter\n# HELP a he\\\"lp\na_total{b=\"c\"} 1 1.5 # {trace_id=\"x\"} 0.5 2\n# EOF\n",
            OpenMetricsOptions::default(),
        )
        .unwrap();
        assert_eq!(got[1], "help a \"he\\\"lp\"");
        assert_eq!(
            got[2],
            r#"{__name__="a_total", b="c"} 1 ts=Some(1500) ct=None ex=Some(("{trace_id=\"x\"}", 0.5, Some(2000)))"#
        );
    }

    #[test]
    fn created_timestamps() {
        let input = "# TYPE a counter\na_total{x=\"1\"} 1\na_created{x=\"1\"} 10.5\na_total{x=\"2\"} 2\n\
            # TYPE h histogram\nh_bucket{le=\"1\"} 0\nh_bucket{le=\"+Inf\"} 1\nh_count 1\nh_sum 1\nh_created 3\n# EOF\n";
        let opts = OpenMetricsOptions {
            created_timestamps: true,
            skip_created_series: true,
            ..Default::default()
        };
        let got = parse(input, opts).unwrap();
        assert!(got[1].contains("ct=Some(10500)"), "{}", got[1]);
        assert!(got[2].contains("ct=None"), "{}", got[2]);
        assert_eq!(got.len(), 8, "{got:#?}");
        assert!(
            got[4].contains("le=\"1.0\"") && got[4].contains("ct=Some(3000)"),
            "{}",
            got[4]
        );
        assert!(
            got[7].contains("h_sum") && got[7].contains("ct=Some(3000)"),
            "{}",
            got[7]
        );
    }

    #[test]
    fn syntax_errors() {
        let d = OpenMetricsOptions::default();
        for bad in [
            "a 1\n",
            "a 1\n\n# EOF\n",
            "a  1\n# EOF\n",
            "a 1 \n# EOF\n",
            "a{a=\"1\" ,b=\"2\"} 1\n# EOF\n",
            "a 1\n# EOF\nx",
            "# TYPE a untyped\n# EOF\n",
            "# UNIT a_s m\n# EOF\n",
            "# random comment\n# EOF\n",
            "a 1 # {} 1 \n# EOF\n",
            "a 1 NaN\n# EOF\n",
        ] {
            assert!(parse(bad, d).is_err(), "{bad:?}");
        }
        let strict = OpenMetricsOptions { strict: true, ..d };
        assert!(parse("a{a=\"1\",} 1\n# EOF\n", d).is_ok());
        assert!(parse("a{a=\"1\",} 1\n# EOF\n", strict).is_err());
        let e = parse("a 1\nb{c=\"d\"} x\n# EOF\n", d).unwrap_err();
        assert_eq!((e.line, e.column), (2, 10), "{e}");
    }

    #[test]
    fn exact_decimal_timestamps() {
        assert_eq!(
            decimal_seconds_to_ms("1726839814.223"),
            Some(1_726_839_814_223)
        );
        assert_eq!(decimal_seconds_to_ms("-1.5"), Some(-1500));
        assert_eq!(decimal_seconds_to_ms("0.0000000001"), Some(0));
        assert_eq!(
            decimal_seconds_to_ms("12345678901234567890.1"),
            Some(i64::MAX)
        );
        assert_eq!(decimal_seconds_to_ms(".5"), Some(500));
        assert_eq!(decimal_seconds_to_ms("1e3"), None);
        assert_eq!(decimal_seconds_to_ms("."), None);
    }

    #[test]
    fn quoted_names() {
        let got = parse(
            "# TYPE \"my.counter\" counter\n{\"my.counter_total\",\"a.b\"=\"c\"} 1\n# EOF",
            OpenMetricsOptions::default(),
        )
        .unwrap();
        assert_eq!(
            got[1],
            r#"{__name__="my.counter_total", "a.b"="c"} 1 ts=None ct=None ex=None"#
        );
    }
}
