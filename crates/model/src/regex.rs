//! Label-matcher regular expressions with Prometheus (Go RE2) semantics.
//!
//! - Fully anchored: `foo` matches only `foo`, never `xfoox`.
//! - `.` matches a newline (`(?s)`), as Prometheus compiles `^(?s:<re>)$`.
//! - `\d \w \s \b` (and their negations) are ASCII-only as in Go; Rust's are Unicode-aware,
//!   so patterns are rewritten before compiling. `\Q...\E` (Go only) becomes escaped text.
//!
//! Most matchers in real queries are literals, prefixes (`foo.*`), suffixes, substrings or
//! alternations of literals (`a|b|c`, what Grafana's multi-value variables produce);
//! [`FastRegex`] recognises those from the parsed pattern and matches them without running
//! a regex engine. [`FastRegex::set_matches`] lets the index look alternations up directly.

use std::fmt;

use regex_syntax::hir::{Class, Hir, HirKind};

/// More literals than this in an alternation are matched with a hash set.
const SET_MATCH_HASH_THRESHOLD: usize = 16;
/// Alternations larger than this are not turned into a set (the regex engine copes).
const MAX_SET_MATCHES: usize = 256;
/// Compiled programs may be this large: Grafana variables produce huge alternations.
const REGEX_SIZE_LIMIT: usize = 64 << 20;

/// An invalid regular expression, with the reason in Go's wording where it is close.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("error parsing regexp: {reason}: `{pattern}`")]
pub struct RegexError {
    pub pattern: String,
    pub reason: String,
}

/// A compiled, anchored Prometheus regular expression.
#[derive(Clone)]
pub struct FastRegex {
    source: String,
    strategy: Strategy,
    /// Literal every match starts with, for index range scans.
    prefix: String,
}

#[derive(Clone)]
enum Strategy {
    /// Matches any string (`.*`).
    Any,
    /// Matches any non-empty string (`.+`).
    NonEmpty,
    /// Matches exactly one of a few literals.
    Literals(Vec<String>),
    /// Matches exactly one of many literals.
    LiteralSet(hashbrown::HashSet<String>),
    /// `prefix (.*|.+) suffix`, optionally with a required substring in between.
    Affix {
        prefix: String,
        contains: Option<String>,
        suffix: String,
        non_empty_middle: bool,
    },
    /// Any of several simpler strategies (`foo.*|.*bar`).
    Or(Vec<Strategy>),
    /// Everything else: the regex engine.
    Engine(regex::Regex),
}

/// Compiled regexes by pattern: dashboards send the same matchers over and over, and a
/// compiled engine costs tens of microseconds. Bounded; emptied when full.
static CACHE: std::sync::LazyLock<
    parking_lot::Mutex<hashbrown::HashMap<String, std::sync::Arc<FastRegex>>>,
> = std::sync::LazyLock::new(Default::default);
const CACHE_CAPACITY: usize = 4096;

impl FastRegex {
    /// Like [`FastRegex::new`], sharing compiled regexes between callers.
    pub fn cached(pattern: &str) -> Result<std::sync::Arc<FastRegex>, RegexError> {
        if let Some(re) = CACHE.lock().get(pattern) {
            return Ok(re.clone());
        }
        let re = std::sync::Arc::new(FastRegex::new(pattern)?);
        let mut cache = CACHE.lock();
        if cache.len() >= CACHE_CAPACITY {
            cache.clear();
        }
        cache.insert(pattern.to_string(), re.clone());
        Ok(re)
    }
}

impl FastRegex {
    pub fn new(pattern: &str) -> Result<FastRegex, RegexError> {
        let translated = translate_go_syntax(pattern).map_err(|reason| RegexError {
            pattern: pattern.to_string(),
            reason,
        })?;
        let hir = regex_syntax::ParserBuilder::new()
            .dot_matches_new_line(true)
            .build()
            .parse(&translated)
            .map_err(|e| RegexError {
                pattern: pattern.to_string(),
                reason: regex_syntax_reason(&e),
            })?;
        let strategy = match analyze(&hir) {
            Some(s) => s,
            None => Strategy::Engine(compile_anchored(pattern, &translated)?),
        };
        let prefix = literal_prefix(&hir);
        Ok(FastRegex {
            source: pattern.to_string(),
            strategy,
            prefix,
        })
    }

    /// The pattern as written by the user.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    pub fn is_match(&self, s: &str) -> bool {
        self.strategy.is_match(s)
    }

    /// The complete list of strings this regex matches, when it is a finite set of
    /// literals (`a|b|c`, `foo`). The index uses it to look values up directly.
    pub fn set_matches(&self) -> Option<Vec<&str>> {
        match &self.strategy {
            Strategy::Literals(v) => Some(v.iter().map(String::as_str).collect()),
            Strategy::LiteralSet(s) => {
                let mut v: Vec<&str> = s.iter().map(String::as_str).collect();
                v.sort_unstable();
                Some(v)
            }
            _ => None,
        }
    }

    /// A literal every matching string starts with (may be empty).
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Whether the regex matches every string (`.*`).
    pub fn matches_everything(&self) -> bool {
        matches!(self.strategy, Strategy::Any)
    }

    /// Whether the regex matches every non-empty string (`.+`).
    pub fn matches_every_non_empty(&self) -> bool {
        matches!(self.strategy, Strategy::NonEmpty)
    }

    /// Name of the strategy chosen, for tests and benchmarks.
    pub fn strategy_name(&self) -> &'static str {
        self.strategy.name()
    }
}

impl fmt::Debug for FastRegex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FastRegex({:?}, {})", self.source, self.strategy.name())
    }
}

impl Strategy {
    fn is_match(&self, s: &str) -> bool {
        match self {
            Strategy::Any => true,
            Strategy::NonEmpty => !s.is_empty(),
            Strategy::Literals(v) => v.iter().any(|l| l == s),
            Strategy::LiteralSet(set) => set.contains(s),
            Strategy::Affix {
                prefix,
                contains,
                suffix,
                non_empty_middle,
            } => {
                let min = prefix.len() + suffix.len() + usize::from(*non_empty_middle);
                if s.len() < min || !s.starts_with(prefix.as_str()) || !s.ends_with(suffix.as_str())
                {
                    return false;
                }
                let middle = &s[prefix.len()..s.len() - suffix.len()];
                if *non_empty_middle && middle.is_empty() {
                    return false;
                }
                contains
                    .as_ref()
                    .is_none_or(|c| middle.contains(c.as_str()))
            }
            Strategy::Or(v) => v.iter().any(|m| m.is_match(s)),
            Strategy::Engine(re) => re.is_match(s),
        }
    }

    fn name(&self) -> &'static str {
        match self {
            Strategy::Any => "any",
            Strategy::NonEmpty => "non-empty",
            Strategy::Literals(_) => "literals",
            Strategy::LiteralSet(_) => "literal-set",
            Strategy::Affix { .. } => "affix",
            Strategy::Or(_) => "or",
            Strategy::Engine(_) => "engine",
        }
    }
}

/// Compiles `pattern` anchored (`^(?s:...)$`) with Go RE2 syntax and its capture groups,
/// for callers that need submatches (relabeling's `$1` expansion) rather than a yes/no
/// answer. Errors read as [`FastRegex::new`]'s do.
pub fn compile_anchored_with_captures(pattern: &str) -> Result<regex::Regex, RegexError> {
    FastRegex::new(pattern)?;
    let translated = translate_go_syntax(pattern).map_err(|reason| RegexError {
        pattern: pattern.to_string(),
        reason,
    })?;
    compile_anchored(pattern, &translated)
}

/// Compiles `pattern` as Go's `regexp.Compile` does: unanchored, `.` not matching a
/// newline, ASCII `\d \w \s \b`. Template functions (`match`, `reReplaceAll`) need this
/// plain form rather than the anchored label-matcher form.
pub fn compile_go_regexp(pattern: &str) -> Result<regex::Regex, RegexError> {
    let err = |reason: String| RegexError {
        pattern: pattern.to_string(),
        reason,
    };
    let translated = translate_go_syntax(pattern).map_err(err)?;
    regex_syntax::ParserBuilder::new()
        .build()
        .parse(&translated)
        .map_err(|e| err(regex_syntax_reason(&e)))?;
    regex::RegexBuilder::new(&translated)
        .size_limit(REGEX_SIZE_LIMIT)
        .dfa_size_limit(REGEX_SIZE_LIMIT)
        .build()
        .map_err(|e| {
            err(match e {
                regex::Error::CompiledTooBig(_) => "expression too large".to_string(),
                other => other.to_string(),
            })
        })
}

fn compile_anchored(pattern: &str, translated: &str) -> Result<regex::Regex, RegexError> {
    regex::RegexBuilder::new(&format!("^(?s:(?:{translated}))$"))
        .size_limit(REGEX_SIZE_LIMIT)
        .dfa_size_limit(REGEX_SIZE_LIMIT)
        .build()
        .map_err(|e| RegexError {
            pattern: pattern.to_string(),
            reason: match e {
                regex::Error::CompiledTooBig(_) => "expression too large".to_string(),
                other => other.to_string(),
            },
        })
}

fn regex_syntax_reason(e: &regex_syntax::Error) -> String {
    match e {
        regex_syntax::Error::Parse(p) => go_reason(p.kind()),
        regex_syntax::Error::Translate(t) => t.kind().to_string(),
        _ => e.to_string(),
    }
}

/// Go's RE2 wording for the common parse errors, so messages read as in Prometheus.
fn go_reason(kind: &regex_syntax::ast::ErrorKind) -> String {
    use regex_syntax::ast::ErrorKind as K;
    match kind {
        K::GroupUnclosed => "missing closing )".into(),
        K::GroupUnopened => "unexpected )".into(),
        K::ClassUnclosed => "missing closing ]".into(),
        K::RepetitionMissing => "missing argument to repetition operator".into(),
        K::EscapeUnexpectedEof => "trailing backslash at end of expression".into(),
        K::RepetitionCountInvalid | K::RepetitionCountDecimalEmpty => "invalid repeat count".into(),
        K::ClassRangeInvalid => "invalid character class range".into(),
        K::EscapeUnrecognized => "invalid escape sequence".into(),
        K::GroupNameInvalid | K::GroupNameUnexpectedEof | K::GroupNameEmpty => {
            "invalid named capture".into()
        }
        K::FlagUnrecognized | K::FlagUnexpectedEof | K::FlagDanglingNegation => {
            "invalid or unsupported Perl syntax".into()
        }
        other => other.to_string(),
    }
}

const ASCII_DIGIT: &str = "0-9";
const ASCII_WORD: &str = "0-9A-Za-z_";
/// Go's `\s` is `[\t\n\f\r ]` (no vertical tab).
const ASCII_SPACE: &str = r"\t\n\x0C\r\x20";

/// Rewrites Go RE2 syntax that means something else (or nothing) in Rust's regex crate.
fn translate_go_syntax(p: &str) -> Result<String, String> {
    let mut out = String::with_capacity(p.len() + 8);
    let mut chars = p.chars().peekable();
    let mut in_class = false;
    let mut class_start = false;
    while let Some(c) = chars.next() {
        let at_class_start = class_start;
        class_start = false;
        match c {
            '\\' => {
                let Some(e) = chars.next() else {
                    return Err("trailing backslash at end of expression".into());
                };
                let (pos, neg) = match e {
                    'd' => (Some(ASCII_DIGIT), false),
                    'D' => (Some(ASCII_DIGIT), true),
                    'w' => (Some(ASCII_WORD), false),
                    'W' => (Some(ASCII_WORD), true),
                    's' => (Some(ASCII_SPACE), false),
                    'S' => (Some(ASCII_SPACE), true),
                    _ => (None, false),
                };
                if let Some(set) = pos {
                    match (in_class, neg) {
                        (true, false) => out.push_str(set),
                        (_, true) => {
                            out.push_str("[^");
                            out.push_str(set);
                            out.push(']');
                        }
                        (false, false) => {
                            out.push('[');
                            out.push_str(set);
                            out.push(']');
                        }
                    }
                    continue;
                }
                match e {
                    'b' if !in_class => out.push_str(r"(?-u:\b)"),
                    'B' if !in_class => out.push_str(r"(?-u:\B)"),
                    'Q' => {
                        // Literal text up to \E (or the end).
                        let mut lit = String::new();
                        while let Some(q) = chars.next() {
                            if q == '\\' && chars.peek() == Some(&'E') {
                                chars.next();
                                break;
                            }
                            lit.push(q);
                        }
                        if in_class {
                            for q in lit.chars() {
                                if q.is_ascii_punctuation() {
                                    out.push('\\');
                                }
                                out.push(q);
                            }
                        } else {
                            out.push_str(&regex_syntax::escape(&lit));
                        }
                    }
                    'C' => out.push_str("(?s:.)"),
                    'z' => out.push_str(r"\z"),
                    _ => {
                        out.push('\\');
                        out.push(e);
                    }
                }
            }
            '[' if !in_class => {
                in_class = true;
                class_start = true;
                out.push('[');
                if chars.peek() == Some(&'^') {
                    chars.next();
                    out.push('^');
                }
                // A `]` right after `[` or `[^` is a literal in both dialects.
                if chars.peek() == Some(&']') {
                    chars.next();
                    out.push_str(r"\]");
                }
            }
            '[' if in_class => {
                if chars.peek() == Some(&':') {
                    // POSIX class `[:alpha:]`: copy through its closing `:]`.
                    out.push('[');
                    let mut prev = '[';
                    for q in chars.by_ref() {
                        out.push(q);
                        if prev == ':' && q == ']' {
                            break;
                        }
                        prev = q;
                    }
                } else {
                    // Go treats a nested `[` as a literal; Rust would open a nested class.
                    out.push_str(r"\[");
                }
            }
            ']' if in_class && !at_class_start => {
                in_class = false;
                out.push(']');
            }
            '&' | '~' | '-' if in_class => {
                // Rust gives `&&`, `~~` and `--` meaning inside classes; Go does not.
                if c != '-' && chars.peek() == Some(&c) {
                    out.push('\\');
                    out.push(c);
                } else if c == '-' && chars.peek() == Some(&'-') {
                    out.push_str(r"\-");
                } else {
                    out.push(c);
                }
            }
            _ => out.push(c),
        }
    }
    Ok(out)
}

/// Picks a strategy that avoids the regex engine, if the pattern allows one.
fn analyze(hir: &Hir) -> Option<Strategy> {
    if let Some(lits) = literal_alternatives(hir) {
        return Some(literals_strategy(lits));
    }
    match hir.kind() {
        HirKind::Capture(c) => analyze(&c.sub),
        HirKind::Repetition(_) => match any_run(hir)? {
            false => Some(Strategy::Any),
            true => Some(Strategy::NonEmpty),
        },
        HirKind::Concat(parts) => analyze_concat(parts),
        HirKind::Alternation(alts) => {
            let subs: Option<Vec<Strategy>> = alts.iter().map(analyze).collect();
            Some(Strategy::Or(subs?))
        }
        _ => None,
    }
}

/// `lit? (.*|.+) (lit (.*|.+))? lit?` with at least one wildcard.
fn analyze_concat(parts: &[Hir]) -> Option<Strategy> {
    let parts: Vec<&Hir> = parts.iter().map(unwrap_capture).collect();
    let mut i = 0;
    let prefix = match parts.first().and_then(|h| literal(h)) {
        Some(l) => {
            i = 1;
            l
        }
        None => String::new(),
    };
    let first_run = any_run(parts.get(i)?)?;
    i += 1;
    let mut suffix = String::new();
    let mut contains = None;
    let mut non_empty = first_run;
    match parts.len() - i {
        0 => {}
        1 => suffix = literal(parts[i])?,
        2 => {
            contains = Some(literal(parts[i])?);
            non_empty |= any_run(parts[i + 1])?;
        }
        3 => {
            contains = Some(literal(parts[i])?);
            non_empty |= any_run(parts[i + 1])?;
            suffix = literal(parts[i + 2])?;
        }
        _ => return None,
    }
    if contains.is_some() && non_empty {
        // `.+foo.*` needs position-aware checks; leave it to the engine.
        return None;
    }
    Some(Strategy::Affix {
        prefix,
        contains,
        suffix,
        non_empty_middle: non_empty,
    })
}

fn unwrap_capture(h: &Hir) -> &Hir {
    match h.kind() {
        HirKind::Capture(c) => unwrap_capture(&c.sub),
        _ => h,
    }
}

/// `Some(false)` for `.*`, `Some(true)` for `.+` (with `.` matching anything).
fn any_run(h: &Hir) -> Option<bool> {
    let HirKind::Repetition(r) = unwrap_capture(h).kind() else {
        return None;
    };
    if r.max.is_some() || r.min > 1 || !is_any_char(&r.sub) {
        return None;
    }
    Some(r.min == 1)
}

fn is_any_char(h: &Hir) -> bool {
    match unwrap_capture(h).kind() {
        HirKind::Class(Class::Unicode(c)) => {
            let r = c.ranges();
            r.len() == 1 && r[0].start() == '\0' && r[0].end() == char::MAX
        }
        _ => false,
    }
}

fn literal(h: &Hir) -> Option<String> {
    match unwrap_capture(h).kind() {
        HirKind::Literal(l) => String::from_utf8(l.0.to_vec()).ok(),
        HirKind::Empty => Some(String::new()),
        HirKind::Concat(parts) => {
            let mut s = String::new();
            for p in parts {
                s.push_str(&literal(p)?);
            }
            Some(s)
        }
        HirKind::Class(Class::Unicode(c)) => {
            let r = c.ranges();
            (r.len() == 1 && r[0].start() == r[0].end()).then(|| r[0].start().to_string())
        }
        _ => None,
    }
}

/// All strings the pattern matches, when it is a small finite alternation of literals.
fn literal_alternatives(h: &Hir) -> Option<Vec<String>> {
    match unwrap_capture(h).kind() {
        HirKind::Alternation(alts) => {
            let mut out = Vec::new();
            for a in alts {
                out.extend(literal_alternatives(a)?);
                if out.len() > MAX_SET_MATCHES {
                    return None;
                }
            }
            Some(out)
        }
        HirKind::Class(Class::Unicode(c)) => {
            let mut out = Vec::new();
            for r in c.ranges() {
                for ch in r.start()..=r.end() {
                    out.push(ch.to_string());
                    if out.len() > SET_MATCH_HASH_THRESHOLD {
                        return None;
                    }
                }
            }
            Some(out)
        }
        _ => literal(h).map(|l| vec![l]),
    }
}

fn literals_strategy(mut lits: Vec<String>) -> Strategy {
    lits.sort_unstable();
    lits.dedup();
    if lits.len() > SET_MATCH_HASH_THRESHOLD {
        Strategy::LiteralSet(lits.into_iter().collect())
    } else {
        Strategy::Literals(lits)
    }
}

/// The literal text every match must start with.
fn literal_prefix(h: &Hir) -> String {
    match unwrap_capture(h).kind() {
        HirKind::Literal(_) => literal(h).unwrap_or_default(),
        HirKind::Concat(parts) => {
            let mut s = String::new();
            for p in parts {
                match literal(p) {
                    Some(l) => s.push_str(&l),
                    None => {
                        // A partial prefix of the next part may still be known.
                        s.push_str(&literal_prefix(p));
                        break;
                    }
                }
            }
            s
        }
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, s: &str) -> bool {
        FastRegex::new(p).unwrap().is_match(s)
    }

    #[test]
    fn anchored_and_dot_matches_newline() {
        assert!(m("foo", "foo"));
        assert!(!m("foo", "xfoo"));
        assert!(!m("foo", "foox"));
        assert!(m("a.c", "a\nc"));
        assert!(m(".*", "a\nb"));
        assert!(m("a|b", "b"));
        assert!(!m("a|b", "ab"));
        assert!(m("", ""));
        assert!(!m("", "a"));
    }

    #[test]
    fn ascii_classes_like_go() {
        assert!(m(r"\d+", "123"));
        assert!(!m(r"\d", "٣")); // Arabic-Indic digit: Unicode \d, not Go's
        assert!(!m(r"\w", "é"));
        assert!(m(r"\W", "é"));
        assert!(!m(r"\s", "\u{a0}"));
        assert!(m(r"[\d.]+", "1.5"));
        assert!(m(r"[^\d]", "x"));
        assert!(!m(r"[^\d]", "1"));
        assert!(m(r"a\b", "a"));
        assert!(m(r"\Q.*\E", ".*"));
        assert!(!m(r"\Q.*\E", "ab"));
        assert!(m(r"[]a]", "]"));
        assert!(m(r"[a-]", "-"));
        assert!(m(r"[[:alpha:]]+", "abc"));
        assert!(m(r"[a[]", "["));
        assert!(m(r"[&&]", "&"));
    }

    #[test]
    fn strategies() {
        let cases = [
            ("foo", "literals"),
            ("foo|bar|baz", "literals"),
            ("(foo|bar)", "literals"),
            ("foo.*", "affix"),
            (".*foo", "affix"),
            (".*foo.*", "affix"),
            ("foo.+bar", "affix"),
            (".*", "any"),
            (".+", "non-empty"),
            ("foo.*|bar", "or"),
            ("fo+", "engine"),
            ("[a-z]+", "engine"),
        ];
        for (p, want) in cases {
            assert_eq!(FastRegex::new(p).unwrap().strategy_name(), want, "{p}");
        }
        let many: Vec<String> = (0..100).map(|i| format!("value{i}")).collect();
        let re = FastRegex::new(&many.join("|")).unwrap();
        assert_eq!(re.strategy_name(), "literal-set");
        assert!(re.is_match("value42"));
        assert!(!re.is_match("value100"));
        assert_eq!(re.set_matches().unwrap().len(), 100);
    }

    #[test]
    fn fast_paths_agree_with_engine() {
        let patterns = [
            "foo.*",
            ".*foo",
            ".*foo.*",
            "foo.+",
            ".+foo",
            "fo.*o",
            "f.*o.*o",
            "a.*b.*c",
            "foo.*|.*bar",
            ".+",
            ".*",
            "(a|b)",
            "[ab]",
            "x.+y",
            "",
            "a|",
        ];
        let inputs = [
            "", "f", "fo", "foo", "fooo", "xfoo", "foox", "xfoox", "bar", "xbar", "a", "b", "ab",
            "abc", "axbxc", "xy", "xzy", "f\no", "foo\n",
        ];
        for p in patterns {
            let fast = FastRegex::new(p).unwrap();
            let slow = regex::Regex::new(&format!("^(?s:(?:{p}))$")).unwrap();
            for s in inputs {
                assert_eq!(
                    fast.is_match(s),
                    slow.is_match(s),
                    "pattern {p:?} input {s:?}"
                );
            }
        }
    }

    #[test]
    fn prefix_extraction() {
        assert_eq!(FastRegex::new("foo.*").unwrap().prefix(), "foo");
        assert_eq!(FastRegex::new("foo[0-9]+").unwrap().prefix(), "foo");
        assert_eq!(FastRegex::new("(foo)bar.*").unwrap().prefix(), "foobar");
        assert_eq!(FastRegex::new(".*foo").unwrap().prefix(), "");
        assert_eq!(FastRegex::new("a|b").unwrap().prefix(), "");
    }

    #[test]
    fn errors_read_like_go() {
        let e = FastRegex::new("(foo").unwrap_err();
        assert_eq!(
            e.to_string(),
            "error parsing regexp: missing closing ): `(foo`"
        );
        assert!(FastRegex::new("a)(b").is_err());
        assert!(FastRegex::new("*").is_err());
    }
}
