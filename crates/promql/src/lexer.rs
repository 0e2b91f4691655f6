//! The PromQL lexer: turns a query (or a series description) into tokens with byte
//! positions, with the token classes, context rules and error messages of upstream's
//! `lex.go`.
//!
//! Lexing is context-dependent, as upstream's is: inside `{...}` every word is an
//! identifier; inside `[...]` only numbers, durations, arithmetic and the duration
//! functions are tokens; series descriptions (`load` lines) have their own value and
//! histogram notation. The whole input is lexed up front; lexing stops at the first error,
//! which becomes the last token so that the parser reports it only if it gets that far.

use crate::go_format::{go_quote_rune, go_unicode_notation};

/// The kind of a token. The groups mirror upstream's item types because error messages
/// describe tokens by group (`<op:+>`, `<aggr:sum>`, `<by>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenKind {
    // Punctuation and literals.
    Eql,
    Blank,
    Colon,
    Comma,
    Duration,
    Eof,
    Error,
    Identifier,
    LeftBrace,
    LeftBracket,
    LeftParen,
    OpenHist,
    CloseHist,
    MetricIdentifier,
    Number,
    RightBrace,
    RightBracket,
    RightParen,
    Space,
    String,
    Times,
    // Histogram descriptors (series descriptions only).
    SumDesc,
    CountDesc,
    SchemaDesc,
    OffsetDesc,
    NegativeOffsetDesc,
    BucketsDesc,
    NegativeBucketsDesc,
    ZeroBucketDesc,
    ZeroBucketWidthDesc,
    CustomValuesDesc,
    CounterResetHintDesc,
    // Operators.
    Add,
    Div,
    Eqlc,
    EqlRegex,
    Gte,
    Gtr,
    Land,
    Lor,
    Lss,
    Lte,
    Lunless,
    Mod,
    Mul,
    Neq,
    NeqRegex,
    Pow,
    Sub,
    At,
    Atan2,
    /// `</`: drop histogram observations above the right-hand side.
    TrimUpper,
    /// `>/`: drop histogram observations below the right-hand side.
    TrimLower,
    // Aggregators.
    Avg,
    Bottomk,
    Count,
    CountValues,
    Group,
    Max,
    Min,
    Quantile,
    Stddev,
    Stdvar,
    Sum,
    Topk,
    Limitk,
    LimitRatio,
    // Keywords.
    Bool,
    By,
    GroupLeft,
    GroupRight,
    Ignoring,
    Offset,
    Smoothed,
    Anchored,
    On,
    Without,
    Fill,
    FillLeft,
    FillRight,
    // Preprocessors and duration functions.
    Start,
    End,
    Step,
    Range,
    MinOf,
    MaxOf,
    // Counter reset hints (series descriptions only).
    UnknownCounterReset,
    CounterReset,
    NotCounterReset,
    GaugeType,
}

impl TokenKind {
    pub fn is_operator(self) -> bool {
        use TokenKind::*;
        matches!(
            self,
            Add | Div
                | Eqlc
                | EqlRegex
                | Gte
                | Gtr
                | Land
                | Lor
                | Lss
                | Lte
                | Lunless
                | Mod
                | Mul
                | Neq
                | NeqRegex
                | Pow
                | Sub
                | At
                | Atan2
                | TrimUpper
                | TrimLower
        )
    }

    pub fn is_aggregator(self) -> bool {
        use TokenKind::*;
        matches!(
            self,
            Avg | Bottomk
                | Count
                | CountValues
                | Group
                | Max
                | Min
                | Quantile
                | Stddev
                | Stdvar
                | Sum
                | Topk
                | Limitk
                | LimitRatio
        )
    }

    /// Keywords in upstream's sense (printed as `<by>` in errors).
    pub fn is_keyword(self) -> bool {
        use TokenKind::*;
        matches!(
            self,
            Bool | By
                | GroupLeft
                | GroupRight
                | Ignoring
                | Offset
                | Smoothed
                | Anchored
                | On
                | Without
                | Fill
                | FillLeft
                | FillRight
        )
    }

    /// Kinds that upstream's error messages describe by their text alone (`"("`, `"start"`).
    fn has_fixed_text(self) -> bool {
        use TokenKind::*;
        matches!(
            self,
            OpenHist
                | CloseHist
                | LeftParen
                | RightParen
                | LeftBrace
                | RightBrace
                | LeftBracket
                | RightBracket
                | Comma
                | Eql
                | Colon
                | Blank
                | Times
                | Space
                | Start
                | End
                | Step
                | Range
                | MinOf
                | MaxOf
        ) || self.is_operator()
            || self.is_aggregator()
            || self.is_keyword()
    }

    /// The name of a token class in error messages (upstream's `ItemType.desc`).
    fn class_name(self) -> &'static str {
        match self {
            TokenKind::Error => "error",
            TokenKind::Eof => "end of input",
            TokenKind::Identifier => "identifier",
            TokenKind::MetricIdentifier => "metric identifier",
            TokenKind::String => "string",
            TokenKind::Number => "number",
            TokenKind::Duration => "duration",
            _ => "token",
        }
    }
}

/// One token: its kind and the byte range of its text in the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Token {
    pub kind: TokenKind,
    pub start: usize,
    pub end: usize,
}

impl Token {
    pub fn text<'a>(&self, input: &'a str) -> &'a str {
        input.get(self.start..self.end).unwrap_or("")
    }

    /// How upstream describes this token after "unexpected " in error messages.
    pub fn describe(&self, input: &str) -> String {
        let text = self.text(input);
        if self.kind == TokenKind::Eof {
            return "end of input".to_string();
        }
        if self.kind.has_fixed_text() {
            return self.display(text);
        }
        format!("{} {}", self.kind.class_name(), self.display(text))
    }

    /// Upstream's `Item.String()`.
    fn display(&self, text: &str) -> String {
        use crate::go_format::go_quote_truncated;
        use hearth_model::names::go_quote;
        match self.kind {
            TokenKind::Eof => "EOF".to_string(),
            TokenKind::Identifier | TokenKind::MetricIdentifier => go_quote(text),
            k if k.is_keyword() => format!("<{text}>"),
            k if k.is_operator() => format!("<op:{text}>"),
            k if k.is_aggregator() => format!("<aggr:{text}>"),
            _ if text.chars().count() > 10 => format!("{}...", go_quote_truncated(text, 10)),
            _ => go_quote(text),
        }
    }
}

/// The tokens of an input, ending with `Eof` or with an `Error` token whose message is
/// in `error`.
#[derive(Debug, Clone)]
pub struct Lexed {
    pub tokens: Vec<Token>,
    pub error: Option<String>,
}

/// Lexes a PromQL expression.
pub fn lex_expression(input: &str) -> Lexed {
    Lexer::new(input, false).run()
}

/// Lexes a series description (`metric{labels} 1+2x3 _ stale {{...}}`).
pub fn lex_series_description(input: &str) -> Lexed {
    Lexer::new(input, true).run()
}

/// Keywords of expressions, looked up case-insensitively.
fn keyword(lower: &str) -> Option<TokenKind> {
    use TokenKind::*;
    Some(match lower {
        "and" => Land,
        "or" => Lor,
        "unless" => Lunless,
        "atan2" => Atan2,
        "sum" => Sum,
        "avg" => Avg,
        "count" => Count,
        "min" => Min,
        "max" => Max,
        "group" => Group,
        "stddev" => Stddev,
        "stdvar" => Stdvar,
        "topk" => Topk,
        "bottomk" => Bottomk,
        "count_values" => CountValues,
        "quantile" => Quantile,
        "limitk" => Limitk,
        "limit_ratio" => LimitRatio,
        "offset" => Offset,
        "smoothed" => Smoothed,
        "anchored" => Anchored,
        "by" => By,
        "without" => Without,
        "on" => On,
        "ignoring" => Ignoring,
        "group_left" => GroupLeft,
        "group_right" => GroupRight,
        "fill" => Fill,
        "fill_left" => FillLeft,
        "fill_right" => FillRight,
        "bool" => Bool,
        "start" => Start,
        "end" => End,
        "step" => Step,
        "range" => Range,
        "inf" | "nan" => Number,
        _ => return None,
    })
}

/// Words allowed inside `[...]`.
fn duration_keyword(lower: &str) -> Option<TokenKind> {
    Some(match lower {
        "step" => TokenKind::Step,
        "range" => TokenKind::Range,
        "min_of" => TokenKind::MinOf,
        "max_of" => TokenKind::MaxOf,
        _ => return None,
    })
}

fn histogram_descriptor(lower: &str) -> Option<TokenKind> {
    use TokenKind::*;
    Some(match lower {
        "sum" => SumDesc,
        "count" => CountDesc,
        "schema" => SchemaDesc,
        "offset" => OffsetDesc,
        "n_offset" => NegativeOffsetDesc,
        "buckets" => BucketsDesc,
        "n_buckets" => NegativeBucketsDesc,
        "z_bucket" => ZeroBucketDesc,
        "z_bucket_w" => ZeroBucketWidthDesc,
        "custom_values" => CustomValuesDesc,
        "counter_reset_hint" => CounterResetHintDesc,
        _ => return None,
    })
}

fn counter_reset_hint(lower: &str) -> Option<TokenKind> {
    use TokenKind::*;
    Some(match lower {
        "unknown" => UnknownCounterReset,
        "reset" => CounterReset,
        "not_reset" => NotCounterReset,
        "gauge" => GaugeType,
        _ => return None,
    })
}

fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r')
}

fn is_alpha(c: char) -> bool {
    c == '_' || c.is_ascii_alphabetic()
}

fn is_alphanumeric(c: char) -> bool {
    is_alpha(c) || c.is_ascii_digit()
}

/// Where the lexer is; see the module documentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Statements,
    Braces,
    /// Inside `[...]` of an expression.
    Bracket,
    /// The values after the metric of a series description.
    ValueSequence,
    /// Inside `{{...}}` of a series description.
    Histogram,
    /// Inside `[...]` of a histogram description.
    Buckets,
}

/// What follows a `}}` directly: an expansion operator that belongs to the series value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PendingAfterHistogram {
    None,
    Times,
    Add,
    Sub,
}

struct Lexer<'a> {
    input: &'a str,
    pos: usize,
    start: usize,
    mode: Mode,
    series_desc: bool,
    paren_depth: i64,
    got_colon: bool,
    /// Whether any number was lexed inside brackets (upstream never resets it).
    got_duration: bool,
    /// Inside brackets, after the first number upstream lexes as at top level.
    bracket_after_number: bool,
    pending: PendingAfterHistogram,
    tokens: Vec<Token>,
    error: Option<String>,
}

impl<'a> Lexer<'a> {
    fn new(input: &'a str, series_desc: bool) -> Lexer<'a> {
        Lexer {
            input,
            pos: 0,
            start: 0,
            mode: Mode::Statements,
            series_desc,
            paren_depth: 0,
            got_colon: false,
            got_duration: false,
            bracket_after_number: false,
            pending: PendingAfterHistogram::None,
            tokens: Vec::with_capacity(input.len() / 3 + 2),
            error: None,
        }
    }

    fn run(mut self) -> Lexed {
        loop {
            let done = match self.mode {
                Mode::Statements => self.lex_statement(),
                Mode::Braces => self.lex_inside_braces(),
                Mode::Bracket => self.lex_bracket(),
                Mode::ValueSequence => self.lex_value_sequence(),
                Mode::Histogram => self.lex_histogram(),
                Mode::Buckets => self.lex_buckets(),
            };
            if done {
                break;
            }
        }
        Lexed {
            tokens: self.tokens,
            error: self.error,
        }
    }

    fn peek(&self) -> Option<char> {
        self.input[self.pos..].chars().next()
    }

    fn next(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    /// Consumes the next character if it is in `set`.
    fn accept(&mut self, set: &str) -> bool {
        match self.peek() {
            Some(c) if set.contains(c) => {
                self.pos += c.len_utf8();
                true
            }
            _ => false,
        }
    }

    fn accept_run(&mut self, set: &str) {
        while self.accept(set) {}
    }

    fn emit(&mut self, kind: TokenKind) {
        self.tokens.push(Token {
            kind,
            start: self.start,
            end: self.pos,
        });
        self.start = self.pos;
    }

    /// Records an error at the start of the current token and stops lexing.
    fn fail(&mut self, message: String) -> bool {
        self.fail_at(self.start, message)
    }

    /// Fails with `<what>: '<c>'`; the end of input shows as U+FFFD, as in Go.
    fn fail_char(&mut self, what: &str, c: Option<char>) -> bool {
        let q = go_quote_rune(c.unwrap_or('\u{FFFD}'));
        self.fail(format!("{what}: {q}"))
    }

    fn fail_at(&mut self, pos: usize, message: String) -> bool {
        self.tokens.push(Token {
            kind: TokenKind::Error,
            start: pos,
            end: self.input.len(),
        });
        self.error = Some(message);
        true
    }

    fn skip_spaces(&mut self) {
        while self.peek().is_some_and(is_space) {
            self.pos += 1;
        }
        self.start = self.pos;
    }

    fn skip_comment(&mut self) {
        while let Some(c) = self.peek() {
            if c == '\n' || c == '\r' {
                break;
            }
            self.pos += c.len_utf8();
        }
        self.start = self.pos;
    }

    /// Top-level expression tokens. Returns true when lexing is over.
    fn lex_statement(&mut self) -> bool {
        self.start = self.pos;
        if self.input[self.pos..].starts_with('#') {
            self.skip_comment();
            return false;
        }
        let Some(c) = self.next() else {
            if self.paren_depth != 0 {
                return self.fail("unclosed left parenthesis".into());
            }
            self.emit(TokenKind::Eof);
            return true;
        };
        if let Some(done) = self.lex_arithmetic(c) {
            return done;
        }
        match c {
            c if is_space(c) => self.skip_spaces(),
            '=' => match self.peek() {
                Some('=') => {
                    self.pos += 1;
                    self.emit(TokenKind::Eqlc);
                }
                Some('~') => return self.fail("unexpected character after '=': '~'".into()),
                _ => self.emit(TokenKind::Eql),
            },
            '!' => match self.next() {
                Some('=') => self.emit(TokenKind::Neq),
                other => {
                    return self.fail_char("unexpected character after '!'", other);
                }
            },
            '<' => {
                if self.accept("=") {
                    self.emit(TokenKind::Lte);
                } else if self.accept("/") {
                    self.emit(TokenKind::TrimUpper);
                } else {
                    self.emit(TokenKind::Lss);
                }
            }
            '>' => {
                if self.accept("=") {
                    self.emit(TokenKind::Gte);
                } else if self.accept("/") {
                    self.emit(TokenKind::TrimLower);
                } else {
                    self.emit(TokenKind::Gtr);
                }
            }
            c if c.is_ascii_digit()
                || (c == '.' && self.peek().is_some_and(|d| d.is_ascii_digit())) =>
            {
                self.pos = self.start;
                return self.lex_number_or_duration();
            }
            '"' | '\'' => return self.lex_string(c),
            '`' => return self.lex_raw_string(),
            c if is_alpha(c) || c == ':' => {
                self.pos = self.start;
                self.lex_keyword_or_identifier();
            }
            '{' => {
                self.emit(TokenKind::LeftBrace);
                self.mode = Mode::Braces;
            }
            '[' => {
                self.got_colon = false;
                self.bracket_after_number = false;
                self.emit(TokenKind::LeftBracket);
                self.skip_spaces();
                self.mode = Mode::Bracket;
            }
            ']' => return self.fail("unexpected right bracket ']'".into()),
            '@' => self.emit(TokenKind::At),
            c => return self.fail_char("unexpected character", Some(c)),
        }
        false
    }

    /// Tokens lexed alike at top level and inside brackets: arithmetic operators, commas
    /// and parentheses. `None` when `c` is none of them, else whether lexing is over.
    fn lex_arithmetic(&mut self, c: char) -> Option<bool> {
        let kind = match c {
            '+' => TokenKind::Add,
            '-' => TokenKind::Sub,
            '*' => TokenKind::Mul,
            '/' => TokenKind::Div,
            '%' => TokenKind::Mod,
            '^' => TokenKind::Pow,
            ',' => TokenKind::Comma,
            '(' => {
                self.paren_depth += 1;
                TokenKind::LeftParen
            }
            ')' => {
                self.paren_depth -= 1;
                if self.paren_depth < 0 {
                    // Upstream reports this after the parenthesis.
                    return Some(self.fail_at(self.pos, "unexpected right parenthesis ')'".into()));
                }
                TokenKind::RightParen
            }
            _ => return None,
        };
        self.emit(kind);
        Some(false)
    }

    /// Number or duration at `self.pos` (== `self.start`).
    fn lex_number_or_duration(&mut self) -> bool {
        if self.scan_number() {
            self.emit(TokenKind::Number);
            return false;
        }
        if self.accept_remaining_duration() {
            self.emit(TokenKind::Duration);
            return false;
        }
        let text = &self.input[self.start..self.pos];
        let message = format!(
            "bad number or duration syntax: {}",
            hearth_model::names::go_quote(text)
        );
        self.fail(message)
    }

    /// The rest of a duration after its first number (units, more number-unit pairs) and
    /// one following character, which must not be alphanumeric. Unit validity is checked
    /// when the duration is parsed, as upstream does.
    fn accept_remaining_duration(&mut self) -> bool {
        if !self.accept("smhdwy") {
            return false;
        }
        self.accept("s");
        while self.accept("0123456789") {
            self.accept_run("0123456789");
            if !self.accept("smhdw") {
                return false;
            }
            self.accept("s");
        }
        // The character after the duration must not continue a word; when it does, it is
        // part of the bad token's text in the error message, as upstream reports it.
        match self.peek() {
            Some(c) if is_alphanumeric(c) => {
                self.pos += c.len_utf8();
                false
            }
            _ => true,
        }
    }

    /// Scans a number (decimal, hex, with `.`, exponent and `_` separators as upstream's
    /// `scanNumber`). The scanned text is not necessarily a valid number: the parser
    /// reports that.
    fn scan_number(&mut self) -> bool {
        let initial = self.pos;
        let mut digits = "0123456789";
        let mut hex = false;
        // Hexadecimal is not allowed in series descriptions, where `x` means repetition.
        // `accept("0")` consumes the zero even when no `x` follows, as upstream's does.
        if !self.series_desc && self.accept("0") && self.accept("xX") {
            self.accept("_");
            digits = "0123456789abcdefABCDEF";
            hex = true;
        }
        self.accept(".");
        self.accept(digits);
        let mut dot_consumed = false;
        let mut exponent_consumed = false;
        while let Some(c) = self.peek() {
            if !(digits.contains(c) || "._eE".contains(c)) {
                break;
            }
            if c == '.' && dot_consumed {
                self.pos += 1;
                return false;
            }
            if (c == 'e' || c == 'E') && exponent_consumed {
                self.pos += 1;
                return false;
            }
            if self.accept(".") {
                dot_consumed = true;
                if self.accept("_.") {
                    return false;
                }
                // Fractional hexadecimal literals are not allowed.
                if hex {
                    return false;
                }
                continue;
            }
            if self.accept("eE") {
                exponent_consumed = true;
                self.accept("+-");
                if self.accept("._eE") || self.peek().is_none() {
                    return false;
                }
                continue;
            }
            if self.accept("_") {
                if self.accept("._eE") || self.peek().is_none() {
                    return false;
                }
                continue;
            }
            self.accept_run(digits);
        }
        if self.pos == initial {
            return false;
        }
        // A number must not run into letters, except `x` (repetition) in series values.
        match self.peek() {
            Some('x') if self.series_desc => true,
            Some(c) => !is_alphanumeric(c),
            None => true,
        }
    }

    fn lex_keyword_or_identifier(&mut self) {
        while self.peek().is_some_and(|c| is_alphanumeric(c) || c == ':') {
            self.pos += 1;
        }
        let word = &self.input[self.start..self.pos];
        let lower = word.to_ascii_lowercase();
        match keyword(&lower) {
            Some(k @ (TokenKind::Fill | TokenKind::FillLeft | TokenKind::FillRight)) => {
                // The fill modifiers are keywords only before `(`, so that existing
                // metrics named `fill` keep working.
                let rest = self.input[self.pos..].trim_start_matches(is_space);
                if rest.starts_with('(') {
                    self.emit(k);
                } else {
                    self.emit(TokenKind::Identifier);
                }
            }
            Some(k) => self.emit(k),
            None if word.contains(':') => self.emit(TokenKind::MetricIdentifier),
            None => self.emit(TokenKind::Identifier),
        }
        if self.series_desc && self.peek() != Some('{') {
            self.mode = Mode::ValueSequence;
        }
    }

    fn lex_string(&mut self, quote: char) -> bool {
        loop {
            match self.next() {
                Some('\\') => {
                    if let Some(message) = self.lex_escape(quote) {
                        return self.fail(message);
                    }
                }
                // Upstream rejects the replacement character because Go decodes invalid
                // UTF-8 to it.
                Some('\u{FFFD}') => return self.fail("invalid UTF-8 rune".into()),
                None | Some('\n') => return self.fail("unterminated quoted string".into()),
                Some(c) if c == quote => break,
                Some(_) => {}
            }
        }
        self.emit(TokenKind::String);
        false
    }

    /// Checks an escape sequence after the backslash; returns the error, if any.
    fn lex_escape(&mut self, quote: char) -> Option<String> {
        let c = self.next();
        let (mut n, base, max): (u32, u32, u32) = match c {
            Some('a' | 'b' | 'f' | 'n' | 'r' | 't' | 'v' | '\\') => return None,
            Some(c) if c == quote => return None,
            Some('0'..='7') => (3, 8, 255),
            Some('x') => (2, 16, 255),
            Some('u') => (4, 16, 0x10FFFF),
            Some('U') => (8, 16, 0x10FFFF),
            None => return Some("escape sequence not terminated".into()),
            Some(c) => {
                return Some(format!(
                    "unknown escape sequence {}",
                    go_unicode_notation(c)
                ));
            }
        };
        let mut ch = if base == 8 { c } else { self.next() };
        let mut value: u32 = 0;
        while n > 0 {
            let digit = ch.and_then(|c| c.to_digit(16)).unwrap_or(16);
            if digit >= base {
                return Some(match ch {
                    None => "escape sequence not terminated".into(),
                    Some(c) => format!(
                        "illegal character {} in escape sequence",
                        go_unicode_notation(c)
                    ),
                });
            }
            value = value.saturating_mul(base).saturating_add(digit);
            n -= 1;
            if n > 0 {
                ch = self.next();
            }
        }
        if value > max || (0xD800..0xE000).contains(&value) {
            return Some("escape sequence is an invalid Unicode code point".into());
        }
        None
    }

    fn lex_raw_string(&mut self) -> bool {
        loop {
            match self.next() {
                Some('\u{FFFD}') => return self.fail("invalid UTF-8 rune".into()),
                None => return self.fail("unterminated raw string".into()),
                Some('`') => break,
                Some(_) => {}
            }
        }
        self.emit(TokenKind::String);
        false
    }

    /// Inside `{...}`: label names, matchers and strings.
    fn lex_inside_braces(&mut self) -> bool {
        self.start = self.pos;
        if self.input[self.pos..].starts_with('#') {
            self.skip_comment();
            return false;
        }
        let Some(c) = self.next() else {
            return self.fail("unexpected end of input inside braces".into());
        };
        match c {
            c if is_space(c) => self.skip_spaces(),
            c if is_alpha(c) => {
                while self.peek().is_some_and(is_alphanumeric) {
                    self.pos += 1;
                }
                self.emit(TokenKind::Identifier);
            }
            ',' => self.emit(TokenKind::Comma),
            '"' | '\'' => return self.lex_string(c),
            '`' => return self.lex_raw_string(),
            '=' => {
                if self.accept("~") {
                    self.emit(TokenKind::EqlRegex);
                } else {
                    self.emit(TokenKind::Eql);
                }
            }
            '!' => match self.next() {
                Some('~') => self.emit(TokenKind::NeqRegex),
                Some('=') => self.emit(TokenKind::Neq),
                other => {
                    return self.fail_char("unexpected character after '!' inside braces", other);
                }
            },
            '{' => return self.fail("unexpected left brace '{'".into()),
            '}' => {
                self.emit(TokenKind::RightBrace);
                self.mode = if self.series_desc {
                    Mode::ValueSequence
                } else {
                    Mode::Statements
                };
            }
            c => {
                return self.fail_char("unexpected character inside braces", Some(c));
            }
        }
        false
    }

    /// Inside `[...]`: a range, a subquery range and step, as duration expressions.
    fn lex_bracket(&mut self) -> bool {
        self.start = self.pos;
        let Some(c) = self.next() else {
            if self.bracket_after_number {
                let message = if self.paren_depth != 0 {
                    "unclosed left parenthesis"
                } else {
                    "unclosed left bracket"
                };
                return self.fail(message.into());
            }
            return self.fail("unexpected end of input in duration expression".into());
        };
        if let Some(done) = self.lex_arithmetic(c) {
            return done;
        }
        match c {
            ']' => {
                self.emit(TokenKind::RightBracket);
                self.got_colon = false;
                self.mode = Mode::Statements;
            }
            ':' => {
                self.emit(TokenKind::Colon);
                if self.got_colon {
                    let message = if self.bracket_after_number {
                        "unexpected colon ':'"
                    } else {
                        "unexpected repeated colon in duration expression"
                    };
                    return self.fail(message.into());
                }
                if !self.got_duration {
                    return self
                        .fail("unexpected colon before duration in duration expression".into());
                }
                self.got_colon = true;
            }
            c if is_space(c) => self.skip_spaces(),
            c if c.is_ascii_digit()
                || (c == '.' && self.peek().is_some_and(|d| d.is_ascii_digit())) =>
            {
                self.pos = self.start;
                self.got_duration = true;
                self.bracket_after_number = true;
                return self.lex_number_or_duration();
            }
            c if is_alpha(c) => {
                while self.peek().is_some_and(is_alpha) {
                    self.pos += 1;
                }
                let word = self.input[self.start..self.pos].to_ascii_lowercase();
                match duration_keyword(&word) {
                    Some(k) => self.emit(k),
                    None if self.bracket_after_number => {
                        let q = go_quote_rune(c);
                        return self.fail(format!("unexpected character: {q}, expected ':'"));
                    }
                    None => {
                        return self
                            .fail_char("unexpected character in duration expression", Some(c));
                    }
                }
            }
            '[' if self.bracket_after_number => {
                return self.fail("unexpected left bracket '['".into());
            }
            c if self.bracket_after_number => {
                return self.fail_char("unexpected character", Some(c));
            }
            c => {
                return self.fail_char("unexpected character in duration expression", Some(c));
            }
        }
        false
    }

    /// The values of a series description.
    fn lex_value_sequence(&mut self) -> bool {
        self.start = self.pos;
        let Some(c) = self.next() else {
            self.mode = Mode::Statements;
            return false;
        };
        match c {
            '{' if self.peek() == Some('{') => {
                self.pos += 1;
                self.emit(TokenKind::OpenHist);
                self.mode = Mode::Histogram;
            }
            c if is_space(c) => {
                self.emit(TokenKind::Space);
                self.skip_spaces();
            }
            '+' => self.emit(TokenKind::Add),
            '-' => self.emit(TokenKind::Sub),
            'x' => self.emit(TokenKind::Times),
            '_' => self.emit(TokenKind::Blank),
            c if c.is_ascii_digit()
                || (c == '.' && self.peek().is_some_and(|d| d.is_ascii_digit())) =>
            {
                self.pos = self.start;
                return self.lex_series_number();
            }
            c if is_alpha(c) => {
                self.pos = self.start;
                self.lex_keyword_or_identifier();
            }
            c => {
                return self.fail_char("unexpected character in series sequence", Some(c));
            }
        }
        false
    }

    fn lex_series_number(&mut self) -> bool {
        if !self.scan_number() {
            let text = &self.input[self.start..self.pos];
            let message = format!("bad number syntax: {}", hearth_model::names::go_quote(text));
            return self.fail(message);
        }
        self.emit(TokenKind::Number);
        false
    }

    /// Inside `{{...}}` of a series description.
    fn lex_histogram(&mut self) -> bool {
        self.start = self.pos;
        let pending = std::mem::replace(&mut self.pending, PendingAfterHistogram::None);
        let kind = match pending {
            PendingAfterHistogram::Times => Some(TokenKind::Times),
            PendingAfterHistogram::Add => Some(TokenKind::Add),
            PendingAfterHistogram::Sub => Some(TokenKind::Sub),
            PendingAfterHistogram::None => None,
        };
        if let Some(kind) = kind {
            self.next();
            self.emit(kind);
            self.mode = Mode::ValueSequence;
            return false;
        }
        let Some(c) = self.next() else {
            return self.fail_char("histogram description incomplete unexpected", None);
        };
        match c {
            c if is_space(c) => {
                self.emit(TokenKind::Space);
                self.skip_spaces();
            }
            c if is_alpha(c) => {
                while self.peek().is_some_and(is_alpha) {
                    self.pos += 1;
                }
                let word = self.input[self.start..self.pos].to_ascii_lowercase();
                if let Some(k) = histogram_descriptor(&word) {
                    if self.peek() != Some(':') {
                        return self.fail("missing `:` for histogram descriptor".into());
                    }
                    self.emit(k);
                } else if word == "inf" || word == "nan" {
                    self.emit(TokenKind::Number);
                } else if let Some(k) = counter_reset_hint(&word) {
                    self.emit(k);
                } else {
                    let q = hearth_model::names::go_quote(&self.input[self.start..self.pos]);
                    return self.fail(format!("bad histogram descriptor found: {q}"));
                }
            }
            ':' => self.emit(TokenKind::Colon),
            '-' => self.emit(TokenKind::Sub),
            c if c.is_ascii_digit() => {
                self.pos = self.start;
                return self.lex_series_number();
            }
            '[' => {
                self.emit(TokenKind::LeftBracket);
                self.mode = Mode::Buckets;
            }
            '}' if self.peek() == Some('}') => {
                self.pos += 1;
                self.emit(TokenKind::CloseHist);
                match self.peek() {
                    Some('x') => self.pending = PendingAfterHistogram::Times,
                    Some('+') => self.pending = PendingAfterHistogram::Add,
                    Some('-') => self.pending = PendingAfterHistogram::Sub,
                    _ => self.mode = Mode::ValueSequence,
                }
            }
            c => {
                return self.fail_char("histogram description incomplete unexpected", Some(c));
            }
        }
        false
    }

    /// Inside `[...]` of a histogram description: bucket counts.
    fn lex_buckets(&mut self) -> bool {
        self.start = self.pos;
        let Some(c) = self.next() else {
            return self.fail_char("invalid character in buckets description", None);
        };
        match c {
            c if is_space(c) => {
                self.emit(TokenKind::Space);
                self.skip_spaces();
            }
            '-' => self.emit(TokenKind::Sub),
            c if c.is_ascii_digit() => {
                self.pos = self.start;
                return self.lex_series_number();
            }
            ']' => {
                self.emit(TokenKind::RightBracket);
                self.mode = Mode::Histogram;
            }
            c if is_alpha(c) => {
                while self.peek().is_some_and(is_alpha) {
                    self.pos += 1;
                }
                let word = self.input[self.start..self.pos].to_ascii_lowercase();
                if word == "inf" || word == "nan" {
                    self.emit(TokenKind::Number);
                } else {
                    return self.fail_char("invalid character in buckets description", Some(c));
                }
            }
            c => {
                return self.fail_char("invalid character in buckets description", Some(c));
            }
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(input: &str) -> Vec<TokenKind> {
        lex_expression(input)
            .tokens
            .iter()
            .map(|t| t.kind)
            .collect()
    }

    fn error(input: &str) -> (usize, String) {
        let lexed = lex_expression(input);
        let last = lexed.tokens.last().copied().unwrap();
        assert_eq!(last.kind, TokenKind::Error, "{input}");
        (last.start, lexed.error.unwrap())
    }

    #[test]
    fn basic_tokens() {
        use TokenKind::*;
        assert_eq!(
            kinds(r#"sum by (job) (rate(x{a=~"b"}[5m])) > bool 0x1F"#),
            vec![
                Sum,
                By,
                LeftParen,
                Identifier,
                RightParen,
                LeftParen,
                Identifier,
                LeftParen,
                Identifier,
                LeftBrace,
                Identifier,
                EqlRegex,
                String,
                RightBrace,
                LeftBracket,
                Duration,
                RightBracket,
                RightParen,
                RightParen,
                Gtr,
                Bool,
                Number,
                Eof
            ]
        );
        assert_eq!(
            kinds("a:b Inf NaN"),
            vec![MetricIdentifier, Number, Number, Eof]
        );
        assert_eq!(
            kinds("fill + fill(0) x"),
            vec![
                Identifier, Add, Fill, LeftParen, Number, RightParen, Identifier, Eof
            ]
        );
        assert_eq!(
            kinds("x[step()+1:max_of(1,2)]"),
            vec![
                Identifier,
                LeftBracket,
                Step,
                LeftParen,
                RightParen,
                Add,
                Number,
                Colon,
                MaxOf,
                LeftParen,
                Number,
                Comma,
                Number,
                RightParen,
                RightBracket,
                Eof
            ]
        );
        assert_eq!(kinds("# only a comment"), vec![Eof]);
    }

    #[test]
    fn errors_like_upstream() {
        assert_eq!(
            error("1 =~ 1"),
            (2, "unexpected character after '=': '~'".into())
        );
        assert_eq!(
            error("(1))"),
            (4, "unexpected right parenthesis ')'".into())
        );
        assert_eq!(error("((1)"), (4, "unclosed left parenthesis".into()));
        assert_eq!(
            error("2.5."),
            (0, r#"bad number or duration syntax: "2.5.""#.into())
        );
        assert_eq!(
            error("100..4"),
            (0, r#"bad number or duration syntax: "100..""#.into())
        );
        assert_eq!(
            error("0deadbeef"),
            (0, r#"bad number or duration syntax: "0de""#.into())
        );
        assert_eq!(
            error("foo[5mm]"),
            (4, r#"bad number or duration syntax: "5mm""#.into())
        );
        assert_eq!(
            error("foo[5m1]"),
            (4, r#"bad number or duration syntax: "5m1""#.into())
        );
        assert_eq!(
            error(r#""\c""#),
            (0, "unknown escape sequence U+0063 'c'".into())
        );
        assert_eq!(
            error(r#""\x.""#),
            (0, "illegal character U+002E '.' in escape sequence".into())
        );
        assert_eq!(error(r#""\"#), (0, "escape sequence not terminated".into()));
        assert_eq!(error("`\\``"), (3, "unterminated raw string".into()));
        assert_eq!(
            error("{"),
            (1, "unexpected end of input inside braces".into())
        );
        assert_eq!(
            error("foo{a*\"b\"}"),
            (5, "unexpected character inside braces: '*'".into())
        );
        assert_eq!(
            error("foo[\"5m\"]"),
            (
                4,
                "unexpected character in duration expression: '\"'".into()
            )
        );
        assert_eq!(
            error("foo[5s x 5s]"),
            (7, "unexpected character: 'x', expected ':'".into())
        );
        assert_eq!(
            error("foo{bar=\"baz\"}["),
            (15, "unexpected end of input in duration expression".into())
        );
        assert_eq!(error("."), (0, "unexpected character: '.'".into()));
    }

    #[test]
    fn series_descriptions() {
        use TokenKind::*;
        let k: Vec<TokenKind> = lex_series_description(r#"m{a="b"} 1+2x3 _ stale {{sum:1}}x2"#)
            .tokens
            .iter()
            .map(|t| t.kind)
            .collect();
        assert_eq!(
            k,
            vec![
                Identifier, LeftBrace, Identifier, Eql, String, RightBrace, Space, Number, Add,
                Number, Times, Number, Space, Blank, Space, Identifier, Space, OpenHist, SumDesc,
                Colon, Number, CloseHist, Times, Number, Eof
            ]
        );
    }
}
