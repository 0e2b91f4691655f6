//! The commands of a test script and the line-based parser that reads them (upstream's
//! `test.parse`, `parseLoad`, `parseEval`, `parseExpect`).

use std::fmt;
use std::sync::LazyLock;

use hearth_model::names::go_quote;
use hearth_model::{Labels, parse_duration};
use regex::Regex;

use crate::ast::Expr;
use crate::error::ParseError;
use crate::lexer::{TokenKind, lex_expression};
use crate::literals::{parse_number, unquote};
use crate::parser::{ParserOptions, parse_expr};
use crate::series::{SeriesValue, parse_series_desc};

use super::start_timestamps::parse_start_timestamp_sequence;

/// A parsed script: its commands in file order.
#[derive(Debug, Clone)]
pub struct Script {
    pub commands: Vec<Command>,
}

impl Script {
    /// The `eval` commands.
    pub fn evals(&self) -> impl Iterator<Item = &EvalCommand> {
        self.commands.iter().filter_map(|c| match c {
            Command::Eval(e) => Some(e.as_ref()),
            _ => None,
        })
    }
}

#[derive(Debug, Clone)]
pub enum Command {
    Load(LoadCommand),
    Clear(ClearCommand),
    Eval(Box<EvalCommand>),
}

impl Command {
    /// The 1-based line of the command in the file.
    pub fn line(&self) -> usize {
        match self {
            Command::Load(c) => c.line,
            Command::Clear(c) => c.line,
            Command::Eval(c) => c.line,
        }
    }
}

/// `clear`: remove all loaded data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClearCommand {
    pub line: usize,
}

/// `load <interval>` (or `load_with_nhcb`) and its series. Samples are at
/// `0, interval, 2*interval, ...` milliseconds.
#[derive(Debug, Clone)]
pub struct LoadCommand {
    pub line: usize,
    pub interval_ms: i64,
    /// `load_with_nhcb`: also load classic histograms (`_bucket`, `_count`, `_sum`
    /// series) converted to native histograms with custom buckets.
    pub with_nhcb: bool,
    /// In file order. As upstream, a later line for the same labels replaces an earlier
    /// one.
    pub series: Vec<LoadSeries>,
}

/// One series of a `load` block.
#[derive(Debug, Clone)]
pub struct LoadSeries {
    pub line: usize,
    pub labels: Labels,
    pub values: Vec<Option<SeriesValue>>,
    /// Start timestamps from an `@st` line (or a standalone default `@st` line), one per
    /// value: milliseconds relative to the sample's own timestamp, `None` for none.
    pub start_timestamps: Option<Vec<Option<i64>>>,
}

/// When an `eval` runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EvalQuery {
    /// `eval instant at <time>`, milliseconds since the epoch.
    Instant { at_ms: i64 },
    /// `eval range from <start> to <end> step <step>`.
    Range {
        start_ms: i64,
        end_ms: i64,
        step_ms: i64,
    },
}

/// The deprecated `eval_fail`, `eval_warn`, `eval_info`, `eval_ordered` forms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LegacyModifier {
    /// Expects the query to fail.
    Fail,
    /// Expects at least one warning.
    Warn,
    /// Expects at least one info annotation.
    Info,
    /// Expects the results in the given order.
    Ordered,
}

/// The type of an `expect` line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExpectKind {
    Ordered,
    Fail,
    Warn,
    NoWarn,
    Info,
    NoInfo,
}

/// How an `expect` line matches a message.
#[derive(Debug, Clone)]
pub enum MessageMatch {
    /// No `msg:`/`regex:` part: any message.
    Any,
    /// `msg: text`: the exact message.
    Exact(String),
    /// `regex: pattern`: a message the pattern matches (anywhere).
    Regex(Regex),
}

impl MessageMatch {
    pub fn matches(&self, message: &str) -> bool {
        match self {
            MessageMatch::Any => true,
            MessageMatch::Exact(m) => m == message,
            MessageMatch::Regex(r) => r.is_match(message),
        }
    }
}

/// An `expect <kind> [msg:|regex: ...]` line.
#[derive(Debug, Clone)]
pub struct Expectation {
    pub line: usize,
    pub kind: ExpectKind,
    pub message: MessageMatch,
}

/// `expect range vector from <start> to <end> step <step>`: an instant query returning
/// a range vector with samples at these times (milliseconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RangeVectorTimes {
    pub start_ms: i64,
    pub end_ms: i64,
    pub step_ms: i64,
}

/// One expected series of an `eval`.
#[derive(Debug, Clone)]
pub struct ExpectedSeries {
    pub line: usize,
    pub labels: Labels,
    /// One value for an instant query; one per step for range queries and range vectors.
    pub values: Vec<Option<SeriesValue>>,
    /// 1-based position for ordered results, counted as upstream counts it.
    pub position: usize,
}

/// What an `eval` expects as its result.
#[derive(Debug, Clone)]
pub enum ExpectedResult {
    /// No result lines: an empty result (or a failure, when one is expected).
    None,
    /// A bare number line: a scalar result.
    Scalar(f64),
    Series(Vec<ExpectedSeries>),
}

/// An `eval` command with everything that follows it.
#[derive(Debug, Clone)]
pub struct EvalCommand {
    pub line: usize,
    /// The query text as written.
    pub expr: String,
    /// The query parsed with every feature enabled ([`ParserOptions::all`]).
    pub parsed: Expr,
    pub query: EvalQuery,
    pub legacy: Option<LegacyModifier>,
    /// `expected_fail_message <text>` (after `eval_fail` only).
    pub expected_fail_message: Option<String>,
    /// `expected_fail_regexp <pattern>` (after `eval_fail` only).
    pub expected_fail_regexp: Option<Regex>,
    /// The `expect` lines, in order.
    pub expectations: Vec<Expectation>,
    /// `expect range vector ...`. Upstream then evaluates the instant query at `end_ms`.
    pub expected_range_vector: Option<RangeVectorTimes>,
    /// `expect string "..."`.
    pub expected_string: Option<String>,
    pub expected: ExpectedResult,
}

impl EvalCommand {
    /// Whether the result must come in the listed order.
    pub fn is_ordered(&self) -> bool {
        self.legacy == Some(LegacyModifier::Ordered)
            || self.expects(ExpectKind::Ordered).next().is_some()
    }

    /// Whether the query must fail.
    pub fn is_fail(&self) -> bool {
        self.legacy == Some(LegacyModifier::Fail) || self.expects(ExpectKind::Fail).next().is_some()
    }

    /// The `expect` lines of one kind.
    pub fn expects(&self, kind: ExpectKind) -> impl Iterator<Item = &Expectation> {
        self.expectations.iter().filter(move |e| e.kind == kind)
    }

    /// Upstream also runs each instant query as a range query with equal start and end,
    /// except when a range vector or a string is expected.
    pub fn exclude_from_range_query(&self) -> bool {
        self.expected_range_vector.is_some() || self.expected_string.is_some()
    }
}

/// Why a script could not be read.
#[derive(Debug, Clone)]
pub enum ScriptError {
    /// A query or series description that does not parse; positions are in the file.
    Parse(ParseError),
    /// Anything else, on a 1-based line.
    Line { line: usize, message: String },
}

impl fmt::Display for ScriptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScriptError::Parse(e) => e.fmt(f),
            ScriptError::Line { line, message } => write!(f, "line {line}: {message}"),
        }
    }
}

impl std::error::Error for ScriptError {}

/// The command patterns of upstream's `test.go`.
struct Patterns {
    load: Regex,
    eval_instant: Regex,
    eval_range: Regex,
    expect: Regex,
    expect_range: Regex,
}

static PATTERNS: LazyLock<Result<Patterns, regex::Error>> = LazyLock::new(|| {
    Ok(Patterns {
        load: Regex::new(r"^load(?:_(with_nhcb))?\s+(.+?)$")?,
        eval_instant: Regex::new(
            r"^eval(?:_(fail|warn|ordered|info))?\s+instant\s+(?:at\s+(.+?))?\s+(.+)$",
        )?,
        eval_range: Regex::new(
            r"^eval(?:_(fail|warn|info))?\s+range\s+from\s+(.+)\s+to\s+(.+)\s+step\s+(.+?)\s+(.+)$",
        )?,
        expect: Regex::new(
            r"^expect\s+(ordered|fail|warn|no_warn|info|no_info)(?:\s+(regex|msg):(.+))?$",
        )?,
        expect_range: Regex::new(r"^expect range vector\s+from\s+(.+)\s+to\s+(.+)\s+step\s+(.+)$")?,
    })
});

const RANGE_VECTOR_PREFIX: &str = "expect range vector";
const EXPECT_STRING_PREFIX: &str = "expect string";

/// Parses a whole test script.
pub fn parse_script(input: &str) -> Result<Script, ScriptError> {
    let patterns = PATTERNS.as_ref().map_err(|e| ScriptError::Line {
        line: 0,
        message: format!("internal pattern error: {e}"),
    })?;
    // Lines are trimmed; comment lines become empty, so they end blocks as upstream.
    let lines: Vec<&str> = input
        .split('\n')
        .map(|l| {
            let l = l.trim();
            if l.starts_with('#') { "" } else { l }
        })
        .collect();
    let mut reader = Reader {
        lines,
        patterns,
        commands: Vec::new(),
    };
    reader.parse()?;
    Ok(Script {
        commands: reader.commands,
    })
}

struct Reader<'a> {
    lines: Vec<&'a str>,
    patterns: &'a Patterns,
    commands: Vec<Command>,
}

fn line_error(i: usize, message: impl Into<String>) -> ScriptError {
    ScriptError::Line {
        line: i + 1,
        message: message.into(),
    }
}

fn duration_ms(s: &str) -> Result<i64, hearth_model::DurationError> {
    parse_duration(s)
}

/// A series description on line `i` (0-based), with errors placed in the file.
fn parse_series_line(
    line: &str,
    i: usize,
) -> Result<(Labels, Vec<Option<SeriesValue>>), ScriptError> {
    parse_series_desc(line).map_err(|mut e| {
        e.relocate(line, i, 0);
        ScriptError::Parse(e)
    })
}

/// An `@st` line: the metric (with `@st` glued to it) and the sequence.
fn is_start_timestamp_line(line: &str) -> bool {
    match line.find([' ', '\t']) {
        Some(i) => line[..i].ends_with("@st"),
        None => false,
    }
}

impl<'a> Reader<'a> {
    /// The next line of the current block, moving `i` to it; `None` at an empty line or
    /// the end of the file, with `i` left on the block's last line.
    fn next_block_line(&self, i: &mut usize) -> Option<&'a str> {
        let line = self.lines.get(*i + 1).copied().filter(|l| !l.is_empty())?;
        *i += 1;
        Some(line)
    }

    fn parse(&mut self) -> Result<(), ScriptError> {
        let mut i = 0;
        while i < self.lines.len() {
            let l = self.lines[i];
            if l.is_empty() {
                i += 1;
                continue;
            }
            let first = l
                .split([' ', '\t'])
                .next()
                .unwrap_or("")
                .to_ascii_lowercase();
            if first == "clear" {
                self.commands
                    .push(Command::Clear(ClearCommand { line: i + 1 }));
            } else if first.starts_with("load") {
                i = self.parse_load(i)?;
            } else if first.starts_with("eval") {
                i = self.parse_eval(i)?;
            } else {
                return Err(line_error(i, format!("invalid command {}", go_quote(l))));
            }
            i += 1;
        }
        Ok(())
    }

    /// Parses the `load` block starting at line `i`; returns its last line.
    fn parse_load(&mut self, mut i: usize) -> Result<usize, ScriptError> {
        let Some(caps) = self.patterns.load.captures(self.lines[i]) else {
            return Err(line_error(
                i,
                "invalid load command. (load[_with_nhcb] <step:duration>)",
            ));
        };
        let with_nhcb = caps.get(1).is_some();
        let step = caps.get(2).map_or("", |m| m.as_str());
        let interval_ms = duration_ms(step).map_err(|e| {
            line_error(
                i,
                format!("invalid step definition {}: {e}", go_quote(step)),
            )
        })?;
        let mut cmd = LoadCommand {
            line: i + 1,
            interval_ms,
            with_nhcb,
            series: Vec::new(),
        };
        let mut default_start_timestamps: Option<Vec<Option<i64>>> = None;
        let mut pending: Option<(Labels, Vec<Option<i64>>, usize)> = None;
        while let Some(line) = self.next_block_line(&mut i) {
            if is_start_timestamp_line(line) {
                if let Some((_, _, at)) = &pending {
                    return Err(line_error(*at, "@st line has no following sample line"));
                }
                let (labels, sts) = parse_start_timestamp_line(line, i)?;
                match labels {
                    // A standalone `@st` line sets the default for the lines after it.
                    None => default_start_timestamps = Some(sts),
                    Some(labels) => pending = Some((labels, sts, i)),
                }
                continue;
            }
            let (labels, values) = parse_series_line(line, i)?;
            let start_timestamps = match pending.take() {
                Some((st_labels, sts, at)) => {
                    if st_labels != labels {
                        return Err(line_error(
                            at,
                            "@st metric does not match the following sample line metric",
                        ));
                    }
                    if sts.len() != values.len() {
                        return Err(line_error(
                            at,
                            format!(
                                "@st line has {} values but sample line has {}",
                                sts.len(),
                                values.len()
                            ),
                        ));
                    }
                    Some(sts)
                }
                None => default_start_timestamps.as_ref().and_then(|d| {
                    // The default repeats over the values.
                    (!d.is_empty()).then(|| (0..values.len()).map(|k| d[k % d.len()]).collect())
                }),
            };
            cmd.series.push(LoadSeries {
                line: i + 1,
                labels,
                values,
                start_timestamps,
            });
        }
        if let Some((_, _, at)) = pending {
            return Err(line_error(at, "@st line has no following sample line"));
        }
        self.commands.push(Command::Load(cmd));
        Ok(i)
    }

    /// Parses the `eval` block starting at line `i`; returns its last line.
    fn parse_eval(&mut self, mut i: usize) -> Result<usize, ScriptError> {
        let line = self.lines[i];
        let instant = self.patterns.eval_instant.captures(line);
        let range = self.patterns.eval_range.captures(line);
        let (modifier, expr) = match (&instant, &range) {
            (Some(c), _) => (c.get(1), c.get(3)),
            (None, Some(c)) => (c.get(1), c.get(5)),
            (None, None) => {
                return Err(line_error(
                    i,
                    "invalid evaluation command. Must be either 'eval[_fail|_warn|_ordered] instant [at <offset:duration>] <query>' or 'eval[_fail|_warn] range from <from> to <to> step <step> <query>'",
                ));
            }
        };
        let expr = expr.map_or("", |m| m.as_str()).to_string();
        let parsed = parse_expr(&expr, &ParserOptions::all()).map_err(|mut e| {
            let column = line.find(expr.as_str()).unwrap_or(0);
            e.relocate(line, i, column);
            ScriptError::Parse(e)
        })?;
        let format_error = |i: usize, message: String| {
            line_error(
                i,
                format!("error in eval {expr} (line {}): {message}", i + 1),
            )
        };
        let eval_line = i;
        let query = match (&instant, &range) {
            (Some(c), _) => {
                let at = c.get(2).map_or("", |m| m.as_str());
                let at_ms = duration_ms(at).map_err(|e| {
                    format_error(
                        i,
                        format!("invalid timestamp definition {}: {e}", go_quote(at)),
                    )
                })?;
                EvalQuery::Instant { at_ms }
            }
            (None, Some(c)) => {
                let field = |n: usize| c.get(n).map_or("", |m| m.as_str());
                let (start_ms, end_ms, step_ms) = parse_range_times(field(2), field(3), field(4))
                    .map_err(|e| format_error(i, e))?;
                EvalQuery::Range {
                    start_ms,
                    end_ms,
                    step_ms,
                }
            }
            (None, None) => return Err(line_error(i, "invalid evaluation command")),
        };
        let legacy = match modifier.map(|m| m.as_str()) {
            Some("fail") => Some(LegacyModifier::Fail),
            Some("warn") => Some(LegacyModifier::Warn),
            Some("info") => Some(LegacyModifier::Info),
            Some("ordered") => Some(LegacyModifier::Ordered),
            _ => None,
        };
        let is_instant = matches!(query, EvalQuery::Instant { .. });
        let mut cmd = EvalCommand {
            line: eval_line + 1,
            expr: expr.clone(),
            parsed,
            query,
            legacy,
            expected_fail_message: None,
            expected_fail_regexp: None,
            expectations: Vec::new(),
            expected_range_vector: None,
            expected_string: None,
            expected: ExpectedResult::None,
        };
        let legacy_fail = legacy == Some(LegacyModifier::Fail);
        let mut series: Vec<ExpectedSeries> = Vec::new();
        // Upstream counts positions per loop iteration, minus the `expect` lines.
        let mut j: usize = 1;
        while let Some(def) = self.next_block_line(&mut i) {
            if legacy_fail {
                if let Some(rest) = def.strip_prefix("expected_fail_message") {
                    cmd.expected_fail_message = Some(rest.trim().to_string());
                    break;
                }
                if let Some(rest) = def.strip_prefix("expected_fail_regexp") {
                    let pattern = rest.trim();
                    let re = Regex::new(pattern).map_err(|e| {
                        format_error(
                            i,
                            format!("invalid regexp '{pattern}' for expected_fail_regexp: {e}"),
                        )
                    })?;
                    cmd.expected_fail_regexp = Some(re);
                    break;
                }
            }
            if def.starts_with(RANGE_VECTOR_PREFIX) {
                let times = self
                    .parse_expect_range_vector(def)
                    .map_err(|e| format_error(i, e))?;
                cmd.expected_range_vector = Some(times);
                j += 1;
                continue;
            }
            if def.starts_with(EXPECT_STRING_PREFIX) {
                cmd.expected_string =
                    Some(parse_expected_string(def).map_err(|e| format_error(i, e))?);
                j += 1;
                continue;
            }
            if def.split(' ').next() == Some("expect") {
                let expectation = self.parse_expect(def, i).map_err(|e| format_error(i, e))?;
                cmd.expectations.push(expectation);
                validate_expectations(&cmd).map_err(|e| format_error(i, e.to_string()))?;
                continue;
            }
            if let Ok(v) = parse_number(def) {
                cmd.expected = ExpectedResult::Scalar(v);
                break;
            }
            let (labels, values) = parse_series_line(def, i)?;
            if values.len() > 1 && is_instant && cmd.expected_range_vector.is_none() {
                return Err(format_error(
                    i,
                    "expecting multiple values in instant evaluation not allowed. consider using 'expect range vector' directive to enable a range vector result for an instant query".into(),
                ));
            }
            series.push(ExpectedSeries {
                line: i + 1,
                labels,
                values,
                position: j,
            });
            j += 1;
        }
        if !series.is_empty() {
            cmd.expected = ExpectedResult::Series(series);
        }
        self.commands.push(Command::Eval(Box::new(cmd)));
        Ok(i)
    }

    fn parse_expect(&self, line: &str, i: usize) -> Result<Expectation, String> {
        let Some(caps) = self.patterns.expect.captures(line.trim()) else {
            return Err(
                "invalid expect statement, must match `expect <type> <match_type>: <string>` format"
                    .into(),
            );
        };
        let mode = caps.get(1).map_or("", |m| m.as_str());
        let kind = match mode {
            "fail" => ExpectKind::Fail,
            "ordered" => ExpectKind::Ordered,
            "warn" => ExpectKind::Warn,
            "no_warn" => ExpectKind::NoWarn,
            "info" => ExpectKind::Info,
            "no_info" => ExpectKind::NoInfo,
            other => return Err(format!("invalid expected error/annotation type {other}")),
        };
        let text = caps.get(3).map_or("", |m| m.as_str()).trim();
        let message = match caps.get(2).map(|m| m.as_str()) {
            None => MessageMatch::Any,
            Some("msg") => MessageMatch::Exact(text.to_string()),
            Some("regex") => MessageMatch::Regex(
                Regex::new(text).map_err(|_| format!("invalid regex {text} for {mode}"))?,
            ),
            Some(other) => return Err(format!("invalid token {other} after {mode}")),
        };
        Ok(Expectation {
            line: i + 1,
            kind,
            message,
        })
    }

    fn parse_expect_range_vector(&self, line: &str) -> Result<RangeVectorTimes, String> {
        let Some(caps) = self.patterns.expect_range.captures(line) else {
            return Err(format!(
                "invalid range vector definition {}",
                go_quote(line)
            ));
        };
        let field = |n: usize| caps.get(n).map_or("", |m| m.as_str());
        let (start_ms, end_ms, step_ms) = parse_range_times(field(1), field(2), field(3))?;
        Ok(RangeVectorTimes {
            start_ms,
            end_ms,
            step_ms,
        })
    }
}

/// `from`, `to` and `step` of a range, with upstream's messages.
fn parse_range_times(from: &str, to: &str, step: &str) -> Result<(i64, i64, i64), String> {
    let start = duration_ms(from)
        .map_err(|e| format!("invalid start timestamp definition {}: {e}", go_quote(from)))?;
    let end = duration_ms(to)
        .map_err(|e| format!("invalid end timestamp definition {}: {e}", go_quote(to)))?;
    if end < start {
        return Err(format!(
            "invalid test definition, end timestamp ({to}) is before start timestamp ({from})"
        ));
    }
    let step = duration_ms(step)
        .map_err(|e| format!("invalid step definition {}: {e}", go_quote(step)))?;
    Ok((start, end, step))
}

/// `expect string "..."`: a Go-quoted string (double quotes or backquotes).
fn parse_expected_string(line: &str) -> Result<String, String> {
    const REQUIRED: &str =
        "expected string literal not valid - a quoted string literal is required";
    const BAD: &str =
        "expected string literal not valid - check that the string is correctly quoted";
    if line == EXPECT_STRING_PREFIX {
        return Err(REQUIRED.into());
    }
    let s = line
        .strip_prefix(EXPECT_STRING_PREFIX)
        .and_then(|s| s.strip_prefix(' '))
        .unwrap_or("");
    if s.is_empty() {
        return Err(REQUIRED.into());
    }
    // The PromQL lexer checks the quoting and escapes; a single-quoted literal is a rune.
    let lexed = lex_expression(s);
    let whole_string = matches!(
        lexed.tokens.as_slice(),
        [t, e] if t.kind == TokenKind::String && t.start == 0 && t.end == s.len() && e.kind == TokenKind::Eof
    );
    if !whole_string {
        return Err(BAD.into());
    }
    let value = String::from_utf8(unquote(s)).map_err(|_| BAD.to_string())?;
    if s.starts_with('\'') && value.chars().count() != 1 {
        return Err(BAD.into());
    }
    Ok(value)
}

/// Upstream's `validateExpectedCmds`.
fn validate_expectations(cmd: &EvalCommand) -> Result<(), &'static str> {
    let has = |k| cmd.expects(k).next().is_some();
    if has(ExpectKind::Info) && has(ExpectKind::NoInfo) {
        return Err("invalid expect lines, info and no_info cannot be used together");
    }
    if has(ExpectKind::Warn) && has(ExpectKind::NoWarn) {
        return Err("invalid expect lines, warn and no_warn cannot be used together");
    }
    if cmd.expects(ExpectKind::Fail).count() > 1 {
        return Err("invalid expect lines, multiple expect fail lines are not allowed");
    }
    Ok(())
}

/// An `@st` line: `metric{labels}@st <sequence>` or a standalone `@st <sequence>`
/// (labels `None`).
fn parse_start_timestamp_line(
    line: &str,
    i: usize,
) -> Result<(Option<Labels>, Vec<Option<i64>>), ScriptError> {
    let Some(space) = line.find([' ', '\t']) else {
        return Err(line_error(i, "invalid @st line: missing value sequence"));
    };
    let metric = line[..space].strip_suffix("@st").unwrap_or(&line[..space]);
    let sequence = line[space + 1..].trim();
    let sts = parse_start_timestamp_sequence(sequence)
        .map_err(|e| line_error(i, format!("invalid @st sequence: {e}")))?;
    if metric.is_empty() {
        return Ok((None, sts));
    }
    let (labels, _) = parse_series_desc(&format!("{metric} _")).map_err(|e| {
        line_error(
            i,
            format!("invalid @st line metric {}: {e}", go_quote(metric)),
        )
    })?;
    Ok((Some(labels), sts))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_commands() {
        let script = parse_script(
            r#"
# comment
load 5m
	http_requests{job="a"} 0+10x3
	m@st _ -1m
	m 1 2

eval instant at 10m sum(http_requests)
	expect no_warn
	{} 20

eval range from 0 to 10m step 5m http_requests
	expect warn msg: something
	expect info regex: some.*
	http_requests{job="a"} 0 10 20

eval_fail instant at 0 foo{
"#,
        );
        let err = script.unwrap_err().to_string();
        assert_eq!(
            err,
            "17:28: parse error: unexpected end of input inside braces"
        );

        let script = parse_script(
            "load 1m\n  m 1 2\n\nclear\neval instant at 1m m\n  expect ordered\n  m 2\n\neval instant at 0 1\n  1\n\neval instant at 0 \"a\"\n  expect string \"a\"\n",
        )
        .unwrap();
        assert_eq!(script.commands.len(), 5);
        let evals: Vec<&EvalCommand> = script.evals().collect();
        assert!(evals[0].is_ordered());
        assert!(matches!(evals[1].expected, ExpectedResult::Scalar(v) if v == 1.0));
        assert_eq!(evals[2].expected_string.as_deref(), Some("a"));
    }

    #[test]
    fn rejects_bad_scripts() {
        assert!(parse_script("foo").is_err());
        assert!(parse_script("load x\n").is_err());
        assert!(parse_script("eval instant at 0 1\n  expect warn\n  expect no_warn\n").is_err());
        assert!(parse_script("eval instant at 0 m\n  m 1 2\n").is_err());
        assert!(parse_script("load 1m\n  m@st 1m\n").is_err());
        assert!(parse_script("load 1m\n  m@st 1m 2m\n  m 1\n").is_err());
    }
}
