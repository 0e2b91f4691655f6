//! Label matchers: `name="v"`, `name!="v"`, `name=~"re"`, `name!~"re"`.

use std::fmt;
use std::sync::Arc;

use crate::names::{write_go_quoted, write_label_name};
use crate::regex::{FastRegex, RegexError};

/// The comparison a matcher makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MatchOp {
    Equal,
    NotEqual,
    Regex,
    NotRegex,
}

impl MatchOp {
    pub fn as_str(self) -> &'static str {
        match self {
            MatchOp::Equal => "=",
            MatchOp::NotEqual => "!=",
            MatchOp::Regex => "=~",
            MatchOp::NotRegex => "!~",
        }
    }

    pub fn is_negative(self) -> bool {
        matches!(self, MatchOp::NotEqual | MatchOp::NotRegex)
    }
}

impl fmt::Display for MatchOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Selects series by comparing the value of one label (absent labels have value `""`).
#[derive(Clone)]
pub struct Matcher {
    pub op: MatchOp,
    pub name: String,
    pub value: String,
    re: Option<Arc<FastRegex>>,
}

impl Matcher {
    /// Builds a matcher; regex matchers fail on an invalid pattern.
    pub fn new(
        op: MatchOp,
        name: impl Into<String>,
        value: impl Into<String>,
    ) -> Result<Matcher, RegexError> {
        let value = value.into();
        let re = match op {
            MatchOp::Regex | MatchOp::NotRegex => Some(FastRegex::cached(&value)?),
            _ => None,
        };
        Ok(Matcher {
            op,
            name: name.into(),
            value,
            re,
        })
    }

    /// An equality matcher (cannot fail).
    pub fn equal(name: impl Into<String>, value: impl Into<String>) -> Matcher {
        Matcher {
            op: MatchOp::Equal,
            name: name.into(),
            value: value.into(),
            re: None,
        }
    }

    /// Whether a label value (`""` when the label is absent) satisfies the matcher.
    pub fn matches(&self, v: &str) -> bool {
        match (self.op, &self.re) {
            (MatchOp::Equal, _) => v == self.value,
            (MatchOp::NotEqual, _) => v != self.value,
            (MatchOp::Regex, Some(re)) => re.is_match(v),
            (MatchOp::NotRegex, Some(re)) => !re.is_match(v),
            // Unreachable by construction: regex ops always carry a compiled regex.
            (MatchOp::Regex | MatchOp::NotRegex, None) => false,
        }
    }

    /// Whether series without the label are selected.
    pub fn matches_empty(&self) -> bool {
        self.matches("")
    }

    /// The compiled regex of a `=~`/`!~` matcher.
    pub fn regex(&self) -> Option<&FastRegex> {
        self.re.as_deref()
    }

    /// For `=~` / `!~` matchers over a finite literal set, the literals.
    pub fn set_matches(&self) -> Option<Vec<&str>> {
        self.re.as_ref().and_then(|r| r.set_matches())
    }

    /// The literal prefix every matching value has (regex matchers only).
    pub fn prefix(&self) -> &str {
        self.re.as_ref().map_or("", |r| r.prefix())
    }

    pub fn write_to(&self, out: &mut String) {
        write_label_name(out, &self.name);
        out.push_str(self.op.as_str());
        write_go_quoted(out, &self.value);
    }
}

impl PartialEq for Matcher {
    fn eq(&self, o: &Matcher) -> bool {
        self.op == o.op && self.name == o.name && self.value == o.value
    }
}
impl Eq for Matcher {}

impl std::hash::Hash for Matcher {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.op.hash(state);
        self.name.hash(state);
        self.value.hash(state);
    }
}

impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = String::new();
        self.write_to(&mut s);
        f.write_str(&s)
    }
}

impl fmt::Debug for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Whether a label set satisfies every matcher.
pub fn matches_all(labels: &crate::Labels, matchers: &[Matcher]) -> bool {
    matchers
        .iter()
        .all(|m| m.matches(labels.get(&m.name).unwrap_or("")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::labels;

    #[test]
    fn semantics() {
        let l = labels!("__name__" => "up", "job" => "node");
        let ok = |op, n: &str, v: &str| matches_all(&l, &[Matcher::new(op, n, v).unwrap()]);
        assert!(ok(MatchOp::Equal, "job", "node"));
        assert!(ok(MatchOp::Equal, "missing", ""));
        assert!(!ok(MatchOp::NotEqual, "missing", ""));
        assert!(ok(MatchOp::Regex, "job", "no.*"));
        assert!(!ok(MatchOp::Regex, "job", "no"));
        assert!(ok(MatchOp::NotRegex, "job", "x|y"));
        assert!(ok(MatchOp::Regex, "missing", ".*"));
        assert!(!ok(MatchOp::Regex, "missing", ".+"));
    }

    #[test]
    fn display() {
        let m = Matcher::new(MatchOp::NotRegex, "a.b", "x\"y").unwrap();
        assert_eq!(m.to_string(), r#""a.b"!~"x\"y""#);
        assert_eq!(Matcher::equal("job", "n").to_string(), r#"job="n""#);
    }
}
