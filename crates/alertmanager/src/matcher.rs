//! Alertmanager's label matchers (`pkg/labels`): `name="v"`, `name!="v"`, `name=~"re"`,
//! `name!~"re"`, their order, printing, and the parser for the matcher strings of
//! `matchers:` in alertmanager.yml, `filter=` in the API and amtool's arguments.
//!
//! The parser accepts both of upstream's syntaxes, as upstream's default fallback mode
//! does: the UTF-8 one (`{"service name"="x", env=~"prod|staging"}`, names and values
//! quoted or bare) and the classic one (bare values that run to the next comma).
//! Regexes are Go RE2, anchored as `^(?:re)$` (`.` does not match a newline here, unlike
//! PromQL's matchers).

use std::cmp::Ordering;
use std::fmt;

use crate::labelset::{LabelSet, write_name};

/// The comparison a matcher makes (ordered as upstream's `MatchType`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MatchType {
    Equal,
    NotEqual,
    Regexp,
    NotRegexp,
}

impl MatchType {
    pub fn as_str(self) -> &'static str {
        match self {
            MatchType::Equal => "=",
            MatchType::NotEqual => "!=",
            MatchType::Regexp => "=~",
            MatchType::NotRegexp => "!~",
        }
    }

    pub fn is_regex(self) -> bool {
        matches!(self, MatchType::Regexp | MatchType::NotRegexp)
    }

    pub fn is_equal(self) -> bool {
        matches!(self, MatchType::Equal | MatchType::Regexp)
    }

    pub fn from_flags(is_regex: bool, is_equal: bool) -> MatchType {
        match (is_regex, is_equal) {
            (false, true) => MatchType::Equal,
            (false, false) => MatchType::NotEqual,
            (true, true) => MatchType::Regexp,
            (true, false) => MatchType::NotRegexp,
        }
    }
}

/// One matcher.
#[derive(Clone)]
pub struct Matcher {
    pub kind: MatchType,
    pub name: String,
    pub value: String,
    re: Option<regex::Regex>,
}

impl Matcher {
    /// Builds a matcher; regex matchers fail with Go's message on a bad pattern.
    pub fn new(
        kind: MatchType,
        name: impl Into<String>,
        value: impl Into<String>,
    ) -> Result<Matcher, String> {
        let value = value.into();
        let re = if kind.is_regex() {
            Some(compile_anchored(&value)?)
        } else {
            None
        };
        Ok(Matcher {
            kind,
            name: name.into(),
            value,
            re,
        })
    }

    pub fn matches(&self, v: &str) -> bool {
        match self.kind {
            MatchType::Equal => v == self.value,
            MatchType::NotEqual => v != self.value,
            MatchType::Regexp => self.re.as_ref().is_some_and(|r| r.is_match(v)),
            MatchType::NotRegexp => !self.re.as_ref().is_some_and(|r| r.is_match(v)),
        }
    }

    /// Whether the label set satisfies the matcher (absent labels are `""`).
    pub fn matches_set(&self, ls: &LabelSet) -> bool {
        self.matches(ls.get(&self.name).map_or("", String::as_str))
    }
}

/// `^(?:re)$` with Go's RE2 syntax.
pub fn compile_anchored(re: &str) -> Result<regex::Regex, String> {
    hearth_model::compile_go_regexp(&format!("^(?:{re})$")).map_err(|e| e.to_string())
}

impl PartialEq for Matcher {
    fn eq(&self, o: &Matcher) -> bool {
        self.kind == o.kind && self.name == o.name && self.value == o.value
    }
}
impl Eq for Matcher {}

impl PartialOrd for Matcher {
    fn partial_cmp(&self, o: &Matcher) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}

/// Upstream's `Matchers.Less`: name, value, then type.
impl Ord for Matcher {
    fn cmp(&self, o: &Matcher) -> Ordering {
        self.name
            .cmp(&o.name)
            .then_with(|| self.value.cmp(&o.value))
            .then_with(|| self.kind.cmp(&o.kind))
    }
}

impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = String::new();
        write_name(&mut s, &self.name);
        s.push_str(self.kind.as_str());
        hearth_model::names::write_go_quoted(&mut s, &self.value);
        f.write_str(&s)
    }
}

impl fmt::Debug for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Whether every matcher matches.
pub fn matches_all(ms: &[Matcher], ls: &LabelSet) -> bool {
    ms.iter().all(|m| m.matches_set(ls))
}

/// `{a="b",c=~"d"}` (upstream's `Matchers.String()`).
pub fn matchers_string(ms: &[Matcher]) -> String {
    let parts: Vec<String> = ms.iter().map(ToString::to_string).collect();
    format!("{{{}}}", parts.join(","))
}

/// Parses one matcher string (`foo="bar"`, `{a=b, c!~"d.*"}`), which may hold several
/// comma-separated matchers.
pub fn parse_matchers(input: &str) -> Result<Vec<Matcher>, String> {
    let mut p = Parser { s: input, pos: 0 };
    p.skip_ws();
    let braced = p.eat('{');
    let mut out = Vec::new();
    loop {
        p.skip_ws();
        if p.at_end() {
            if braced {
                return Err(p.err("missing closing '}'"));
            }
            break;
        }
        if braced && p.eat('}') {
            p.skip_ws();
            if !p.at_end() {
                return Err(p.err("unexpected input after '}'"));
            }
            break;
        }
        out.push(p.matcher(braced)?);
        p.skip_ws();
        if p.eat(',') {
            continue;
        }
        if braced && p.peek() == Some('}') {
            continue;
        }
        if !p.at_end() {
            return Err(p.err("expected a comma"));
        }
    }
    Ok(out)
}

/// Parses exactly one matcher.
pub fn parse_matcher(input: &str) -> Result<Matcher, String> {
    let mut ms = parse_matchers(input)?;
    if ms.len() != 1 {
        return Err(format!(
            "expected exactly one matcher in {input:?}, found {}",
            ms.len()
        ));
    }
    Ok(ms.remove(0))
}

struct Parser<'a> {
    s: &'a str,
    pos: usize,
}

impl Parser<'_> {
    fn rest(&self) -> &str {
        &self.s[self.pos..]
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn at_end(&self) -> bool {
        self.pos >= self.s.len()
    }

    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.pos += c.len_utf8();
            true
        } else {
            false
        }
    }

    fn skip_ws(&mut self) {
        while let Some(c) = self.peek() {
            if c.is_whitespace() {
                self.pos += c.len_utf8();
            } else {
                break;
            }
        }
    }

    fn err(&self, what: &str) -> String {
        format!("{}:{}: {what}: {:?}", self.pos, self.s.len(), self.s)
    }

    fn matcher(&mut self, braced: bool) -> Result<Matcher, String> {
        let name = if self.peek() == Some('"') {
            self.quoted()?
        } else {
            let start = self.pos;
            while let Some(c) = self.peek() {
                if c.is_whitespace() || "=!~,{}\"".contains(c) {
                    break;
                }
                self.pos += c.len_utf8();
            }
            self.s[start..self.pos].to_string()
        };
        if name.is_empty() {
            return Err(self.err("expected a label name"));
        }
        self.skip_ws();
        let kind = if self.rest().starts_with("=~") {
            self.pos += 2;
            MatchType::Regexp
        } else if self.rest().starts_with("!~") {
            self.pos += 2;
            MatchType::NotRegexp
        } else if self.rest().starts_with("!=") {
            self.pos += 2;
            MatchType::NotEqual
        } else if self.eat('=') {
            MatchType::Equal
        } else {
            return Err(self.err("expected one of '=', '!=', '=~' or '!~'"));
        };
        self.skip_ws();
        let value = if self.peek() == Some('"') {
            self.quoted()?
        } else {
            // Classic bare value: up to the next comma (or the closing brace).
            let rest = self.rest();
            let mut end = rest.find(',').unwrap_or(rest.len());
            if braced && end == rest.len() {
                end = rest.trim_end().strip_suffix('}').map_or(end, str::len);
            }
            let v = rest[..end].trim().to_string();
            if v.contains('"') {
                return Err(self.err("unexpected '\"' in an unquoted value"));
            }
            self.pos += end;
            v
        };
        Matcher::new(kind, name, value).map_err(|e| format!("{e}: {:?}", self.s))
    }

    /// A Go double-quoted string.
    fn quoted(&mut self) -> Result<String, String> {
        let start = self.pos;
        self.pos += 1;
        let mut out = String::new();
        loop {
            let Some(c) = self.peek() else {
                self.pos = start;
                return Err(self.err("unterminated quoted string"));
            };
            self.pos += c.len_utf8();
            match c {
                '"' => return Ok(out),
                '\\' => {
                    let Some(e) = self.peek() else {
                        return Err(self.err("unterminated escape"));
                    };
                    self.pos += e.len_utf8();
                    match e {
                        'n' => out.push('\n'),
                        't' => out.push('\t'),
                        'r' => out.push('\r'),
                        'a' => out.push('\u{7}'),
                        'b' => out.push('\u{8}'),
                        'f' => out.push('\u{c}'),
                        'v' => out.push('\u{b}'),
                        '\\' | '"' | '\'' => out.push(e),
                        'x' | 'u' | 'U' => {
                            let n = match e {
                                'x' => 2,
                                'u' => 4,
                                _ => 8,
                            };
                            let hex = self.rest().get(..n).unwrap_or("");
                            let v = u32::from_str_radix(hex, 16)
                                .ok()
                                .filter(|_| hex.len() == n)
                                .and_then(char::from_u32)
                                .ok_or_else(|| self.err("invalid escape"))?;
                            self.pos += n;
                            out.push(v);
                        }
                        _ => return Err(self.err("invalid escape")),
                    }
                }
                c => out.push(c),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ls(p: &[(&str, &str)]) -> LabelSet {
        p.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn parses_both_syntaxes() {
        let ms = parse_matchers(r#"{foo="bar", baz=~"qu+x", "service name"!="a,b"}"#).unwrap();
        assert_eq!(
            ms.iter().map(ToString::to_string).collect::<Vec<_>>(),
            [r#"foo="bar""#, r#"baz=~"qu+x""#, r#""service name"!="a,b""#]
        );
        let ms = parse_matchers("foo=bar baz, severity !~ warn|info").unwrap();
        assert_eq!(ms[0].value, "bar baz");
        assert_eq!(ms[1].kind, MatchType::NotRegexp);
        assert_eq!(parse_matchers("{a=b}").unwrap()[0].value, "b");
        assert_eq!(parse_matchers("{}").unwrap().len(), 0);
        assert!(parse_matchers("foo").is_err());
        assert!(parse_matchers("{foo=bar").is_err());
        assert!(parse_matchers(r#"a=~"(""#).is_err());
        assert!(parse_matchers("=bar").is_err());
    }

    #[test]
    fn matching_semantics() {
        let m = parse_matcher("job=~nod.").unwrap();
        assert!(m.matches_set(&ls(&[("job", "node")])));
        assert!(!m.matches_set(&ls(&[("job", "xnode")])));
        let m = parse_matcher("x!~\"a.*\"").unwrap();
        assert!(m.matches_set(&ls(&[])));
        assert!(!m.matches_set(&ls(&[("x", "abc")])));
        let m = parse_matcher("x!=\"\"").unwrap();
        assert!(!m.matches_set(&ls(&[])));
        // Go's `.` does not match a newline in Alertmanager's matchers.
        let m = parse_matcher("x=~\"a.b\"").unwrap();
        assert!(!m.matches("a\nb"));
    }

    #[test]
    fn printed_matchers_parse_back() {
        for text in [
            r#"a="b\"c""#,
            "\"x y\"=~\"a|\\\\d\"",
            "a!=\"\\n\\t\\u00e9\u{1}\"",
            "{a=b,c!~d}",
            "é=ü",
        ] {
            for m in parse_matchers(text).unwrap() {
                assert_eq!(
                    parse_matchers(&m.to_string()).unwrap(),
                    vec![m.clone()],
                    "{m}"
                );
            }
        }
    }

    #[test]
    fn order_and_printing() {
        let mut ms = parse_matchers(r#"b="1",a=~"2",a="2""#).unwrap();
        ms.sort();
        assert_eq!(matchers_string(&ms), r#"{a="2",a=~"2",b="1"}"#);
    }
}
