//! The PromQL parser: recursive descent with precedence climbing over the lexer's tokens,
//! producing the syntax tree of [`crate::ast`], then upstream's type checks (`checkAST`).
//!
//! It accepts what upstream's yacc grammar (`generated_parser.y`) accepts, reports the
//! first problem with upstream's wording where that wording is stable, and never panics:
//! nesting deeper than [`MAX_NESTING`] is rejected instead of exhausting the stack.

use hearth_model::names::go_quote;
use hearth_model::{MatchOp, Matcher, parse_duration};

use crate::ast::*;
use crate::error::{ParseError, ParseErrorItem};
use crate::functions::get_function;
use crate::go_format::format_float_fixed;
use crate::lexer::{Token, TokenKind, lex_expression};
use crate::literals::{parse_number, unquote, unquote_lossy};

/// Feature switches of the parser, named after upstream's `parser.Options`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParserOptions {
    /// `promql-experimental-functions`: experimental functions and `limitk`/`limit_ratio`.
    pub enable_experimental_functions: bool,
    /// `promql-duration-expr`: arithmetic, `step()`, `range()`, `min_of()`, `max_of()` in
    /// ranges and offsets. On by default since Prometheus 3.14.
    pub experimental_duration_expr: bool,
    /// `promql-extended-range-selectors`: the `anchored` and `smoothed` modifiers.
    pub enable_extended_range_selectors: bool,
    /// `promql-binop-fill-modifiers`: `fill()`, `fill_left()`, `fill_right()`.
    pub enable_binop_fill_modifiers: bool,
}

impl Default for ParserOptions {
    /// Prometheus' defaults: only duration expressions are on.
    fn default() -> Self {
        ParserOptions {
            enable_experimental_functions: false,
            experimental_duration_expr: true,
            enable_extended_range_selectors: false,
            enable_binop_fill_modifiers: false,
        }
    }
}

impl ParserOptions {
    /// Everything on, as upstream's test harness runs the `.test` files.
    pub fn all() -> Self {
        ParserOptions {
            enable_experimental_functions: true,
            experimental_duration_expr: true,
            enable_extended_range_selectors: true,
            enable_binop_fill_modifiers: true,
        }
    }
}

/// Deepest nesting of parentheses, calls, unary operators and subqueries accepted. Real
/// queries stay far below; the limit keeps hostile input from exhausting the stack.
pub const MAX_NESTING: usize = 200;

/// Parses and type-checks a PromQL expression.
pub fn parse_expr(input: &str, options: &ParserOptions) -> Result<Expr, ParseError> {
    let mut p = Parser::new(input, *options);
    let parsed = p.parse_top();
    let mut expr = match parsed {
        Ok(e) if p.cur.errors.is_empty() => e,
        _ => return Err(p.cur.into_error()),
    };
    crate::typecheck::check_ast(input, &mut expr, &mut p.cur.errors);
    if p.cur.errors.is_empty() {
        Ok(expr)
    } else {
        Err(p.cur.into_error())
    }
}

/// Parses a series selector such as the `match[]` arguments of the HTTP API
/// (`up{job="x"}`, `{__name__=~"a.*"}`) into its matchers.
pub fn parse_metric_selector(input: &str) -> Result<Vec<Matcher>, ParseError> {
    let mut p = Parser::new(input, ParserOptions::all());
    let result = p.parse_metric_selector_top();
    match result {
        Ok(m) if p.cur.errors.is_empty() => Ok(m),
        _ => Err(p.cur.into_error()),
    }
}

/// Stops parsing; the reason has been recorded in [`TokenCursor::errors`].
#[derive(Debug)]
pub(crate) struct Abort;

pub(crate) type PResult<T> = Result<T, Abort>;

/// A position in a token stream plus the errors found so far; shared by the expression
/// and series-description parsers.
pub(crate) struct TokenCursor<'a> {
    pub input: &'a str,
    tokens: Vec<Token>,
    lex_error: Option<String>,
    idx: usize,
    /// End of the last consumed token.
    pub last_end: usize,
    pub errors: Vec<ParseErrorItem>,
}

impl<'a> TokenCursor<'a> {
    pub fn new(input: &'a str, lexed: crate::lexer::Lexed) -> TokenCursor<'a> {
        TokenCursor {
            input,
            tokens: lexed.tokens,
            lex_error: lexed.error,
            idx: 0,
            last_end: 0,
            errors: Vec::new(),
        }
    }

    /// The current token; the last one (end of input or a lexer error) repeats forever.
    pub fn peek(&self) -> Token {
        self.peek_at(0)
    }

    pub fn peek_at(&self, n: usize) -> Token {
        let i = (self.idx + n).min(self.tokens.len().saturating_sub(1));
        self.tokens.get(i).copied().unwrap_or(Token {
            kind: TokenKind::Eof,
            start: self.input.len(),
            end: self.input.len(),
        })
    }

    pub fn advance(&mut self) -> Token {
        let t = self.peek();
        if self.idx + 1 < self.tokens.len() {
            self.idx += 1;
        }
        self.last_end = t.end;
        t
    }

    pub fn text(&self, t: Token) -> &'a str {
        t.text(self.input)
    }

    /// Records a problem and goes on parsing.
    pub fn error(&mut self, pos: PosRange, message: impl Into<String>) {
        self.errors.push(ParseErrorItem {
            pos,
            message: message.into(),
        });
    }

    /// Records that the current token is not what the grammar allows here.
    pub fn unexpected(&mut self, context: &str, expected: &str) -> Abort {
        let t = self.peek();
        if t.kind == TokenKind::Error {
            let message = self.lex_error.clone().unwrap_or_default();
            self.error(PosRange::new(t.start, t.end), message);
            return Abort;
        }
        let mut message = format!("unexpected {}", t.describe(self.input));
        if !context.is_empty() {
            message.push_str(" in ");
            message.push_str(context);
        }
        if !expected.is_empty() {
            message.push_str(", expected ");
            message.push_str(expected);
        }
        self.error(PosRange::new(t.start, t.end), message);
        Abort
    }

    /// Consumes a token of `kind` or fails with an "unexpected" error.
    pub fn expect(&mut self, kind: TokenKind, context: &str, expected: &str) -> PResult<Token> {
        if self.peek().kind == kind {
            Ok(self.advance())
        } else {
            Err(self.unexpected(context, expected))
        }
    }

    pub fn into_error(self) -> ParseError {
        let mut errors = self.errors;
        if errors.is_empty() {
            // Every abort records its reason; this only guards against a parser bug.
            errors.push(ParseErrorItem {
                pos: PosRange::default(),
                message: "unexpected error".into(),
            });
        }
        ParseError::new(self.input, errors)
    }

    /// The value of a number token, reporting Go's error text on failure.
    pub fn number_value(&mut self, t: Token) -> f64 {
        match parse_number(self.text(t)) {
            Ok(v) => v,
            Err(e) => {
                self.error(
                    PosRange::new(t.start, t.end),
                    format!("error parsing number: {e}"),
                );
                0.0
            }
        }
    }

    /// The value in seconds of a duration token.
    pub fn duration_seconds(&mut self, t: Token) -> f64 {
        match parse_duration(self.text(t)) {
            Ok(ms) => ms as f64 / 1000.0,
            Err(e) => {
                self.error(PosRange::new(t.start, t.end), e.to_string());
                0.0
            }
        }
    }
}

fn range_of(t: Token) -> PosRange {
    PosRange::new(t.start, t.end)
}

/// Tokens that may name a metric (upstream's `metric_identifier`).
pub(crate) fn is_metric_identifier(kind: TokenKind) -> bool {
    use TokenKind::*;
    matches!(
        kind,
        Avg | Bottomk
            | By
            | Count
            | CountValues
            | Group
            | Identifier
            | Land
            | Lor
            | Lunless
            | Max
            | MetricIdentifier
            | Min
            | Offset
            | Quantile
            | Stddev
            | Stdvar
            | Sum
            | Topk
            | Without
            | Start
            | End
            | Limitk
            | LimitRatio
            | Step
            | Range
            | Anchored
            | Smoothed
    )
}

/// Tokens that may be a label name in grouping lists (upstream's `maybe_label`).
fn is_maybe_label(kind: TokenKind) -> bool {
    use TokenKind::*;
    is_metric_identifier(kind)
        || matches!(kind, Bool | GroupLeft | GroupRight | Ignoring | On | Atan2)
}

fn binary_op(kind: TokenKind) -> Option<BinaryOp> {
    use TokenKind::*;
    Some(match kind {
        Add => BinaryOp::Add,
        Sub => BinaryOp::Sub,
        Mul => BinaryOp::Mul,
        Div => BinaryOp::Div,
        Mod => BinaryOp::Mod,
        Pow => BinaryOp::Pow,
        Atan2 => BinaryOp::Atan2,
        Eqlc => BinaryOp::Eql,
        Neq => BinaryOp::Neq,
        Gtr => BinaryOp::Gtr,
        Lss => BinaryOp::Lss,
        Gte => BinaryOp::Gte,
        Lte => BinaryOp::Lte,
        Land => BinaryOp::And,
        Lor => BinaryOp::Or,
        Lunless => BinaryOp::Unless,
        TrimUpper => BinaryOp::TrimUpper,
        TrimLower => BinaryOp::TrimLower,
        _ => return None,
    })
}

fn aggregate_op(kind: TokenKind) -> Option<AggregateOp> {
    use TokenKind::*;
    Some(match kind {
        Sum => AggregateOp::Sum,
        Avg => AggregateOp::Avg,
        Count => AggregateOp::Count,
        Min => AggregateOp::Min,
        Max => AggregateOp::Max,
        Group => AggregateOp::Group,
        Stddev => AggregateOp::Stddev,
        Stdvar => AggregateOp::Stdvar,
        Topk => AggregateOp::Topk,
        Bottomk => AggregateOp::Bottomk,
        CountValues => AggregateOp::CountValues,
        Quantile => AggregateOp::Quantile,
        Limitk => AggregateOp::Limitk,
        LimitRatio => AggregateOp::LimitRatio,
        _ => return None,
    })
}

fn duration_op(kind: TokenKind) -> Option<DurationOp> {
    use TokenKind::*;
    Some(match kind {
        Add => DurationOp::Add,
        Sub => DurationOp::Sub,
        Mul => DurationOp::Mul,
        Div => DurationOp::Div,
        Mod => DurationOp::Mod,
        Pow => DurationOp::Pow,
        _ => return None,
    })
}

/// Legacy label name check for unquoted grouping labels (upstream's `isLabel`).
fn is_label(s: &str) -> bool {
    hearth_model::names::is_legacy_label_name(s)
}

const POW_PRECEDENCE: u8 = 6;
const DURATION_POW_PRECEDENCE: u8 = 3;

/// Where a duration expression is, for error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DurationContext {
    Brackets,
    Offset,
}

impl DurationContext {
    fn name(self) -> &'static str {
        match self {
            DurationContext::Brackets => "subquery or range selector",
            DurationContext::Offset => "offset",
        }
    }
}

const DURATION_EXPECTED: &str = "number, duration, step(), or range()";

/// `bool`, `on`/`ignoring`, `group_left`/`group_right` and fill modifiers of an operator.
struct BinaryModifiers {
    return_bool: bool,
    matching: VectorMatching,
}

/// Which extended range-selector modifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Extended {
    Anchored,
    Smoothed,
}

impl Extended {
    fn name(self) -> &'static str {
        match self {
            Extended::Anchored => "anchored",
            Extended::Smoothed => "smoothed",
        }
    }
}

/// Where `offset` and `@` go for an expression that may carry them, and the end position
/// they extend.
struct ModifierSlots<'e> {
    offset: &'e mut Option<DurationValue>,
    at: &'e mut Option<AtModifier>,
    end: &'e mut usize,
}

/// The modifier slots of a vector selector (its own), a range selector (its vector
/// selector's) or a subquery; other expressions take no modifiers.
fn modifier_slots(e: &mut Expr) -> Option<ModifierSlots<'_>> {
    match e {
        Expr::VectorSelector(vs) => Some(ModifierSlots {
            offset: &mut vs.offset,
            at: &mut vs.at,
            end: &mut vs.pos.end,
        }),
        Expr::MatrixSelector(m) => Some(ModifierSlots {
            offset: &mut m.vector_selector.offset,
            at: &mut m.vector_selector.at,
            end: &mut m.pos.end,
        }),
        Expr::Subquery(s) => Some(ModifierSlots {
            offset: &mut s.offset,
            at: &mut s.at,
            end: &mut s.pos.end,
        }),
        _ => None,
    }
}

struct Parser<'a> {
    cur: TokenCursor<'a>,
    opts: ParserOptions,
    depth: usize,
}

impl<'a> Parser<'a> {
    fn new(input: &'a str, opts: ParserOptions) -> Parser<'a> {
        Parser {
            cur: TokenCursor::new(input, lex_expression(input)),
            opts,
            depth: 0,
        }
    }

    fn parse_top(&mut self) -> PResult<Expr> {
        if self.cur.peek().kind == TokenKind::Eof {
            self.cur
                .error(PosRange::default(), "no expression found in input");
            return Err(Abort);
        }
        let e = self.parse_expr()?;
        if self.cur.peek().kind != TokenKind::Eof {
            return Err(self.cur.unexpected("", ""));
        }
        Ok(e)
    }

    fn parse_metric_selector_top(&mut self) -> PResult<Vec<Matcher>> {
        let t = self.cur.peek();
        let vs = if t.kind == TokenKind::LeftBrace || is_metric_identifier(t.kind) {
            self.parse_vector_selector(t.kind != TokenKind::LeftBrace)?
        } else {
            return Err(self.cur.unexpected("", ""));
        };
        if self.cur.peek().kind != TokenKind::Eof {
            return Err(self.cur.unexpected("", ""));
        }
        Ok(vs.matchers)
    }

    fn enter(&mut self) -> PResult<()> {
        self.depth += 1;
        if self.depth > MAX_NESTING {
            let t = self.cur.peek();
            self.cur.error(
                range_of(t),
                format!("expression nesting too deep (more than {MAX_NESTING} levels)"),
            );
            return Err(Abort);
        }
        Ok(())
    }

    fn parse_expr(&mut self) -> PResult<Expr> {
        self.parse_binary(1)
    }

    /// Binary operators of at least `min_precedence`, by precedence climbing.
    fn parse_binary(&mut self, min_precedence: u8) -> PResult<Expr> {
        self.enter()?;
        let result = self.parse_binary_inner(min_precedence);
        self.depth -= 1;
        result
    }

    fn parse_binary_inner(&mut self, min_precedence: u8) -> PResult<Expr> {
        let mut lhs = self.parse_unary()?;
        while let Some(op) = binary_op(self.cur.peek().kind) {
            if op.precedence() < min_precedence {
                break;
            }
            self.cur.advance();
            let modifiers = self.parse_binary_modifiers()?;
            let next = if op.is_right_associative() {
                op.precedence()
            } else {
                op.precedence() + 1
            };
            let rhs = self.parse_binary(next)?;
            lhs = self.new_binary(lhs, op, modifiers, rhs);
        }
        Ok(lhs)
    }

    fn new_binary(&mut self, lhs: Expr, op: BinaryOp, m: BinaryModifiers, rhs: Expr) -> Expr {
        if m.matching.fill.is_some() && !self.opts.enable_binop_fill_modifiers {
            self.cur.error(
                lhs.pos().to(rhs.pos()),
                "binop fill modifiers are experimental and not enabled",
            );
        }
        Expr::Binary(Box::new(BinaryExpr {
            op,
            lhs,
            rhs,
            matching: Some(m.matching),
            return_bool: m.return_bool,
        }))
    }

    fn parse_binary_modifiers(&mut self) -> PResult<BinaryModifiers> {
        let mut m = BinaryModifiers {
            return_bool: false,
            matching: VectorMatching::default(),
        };
        if self.cur.peek().kind == TokenKind::Bool {
            self.cur.advance();
            m.return_bool = true;
        }
        let t = self.cur.peek();
        if matches!(t.kind, TokenKind::On | TokenKind::Ignoring) {
            self.cur.advance();
            m.matching.on = t.kind == TokenKind::On;
            m.matching.matching_labels = self.parse_grouping_labels()?.0;
            let g = self.cur.peek();
            if matches!(g.kind, TokenKind::GroupLeft | TokenKind::GroupRight) {
                self.cur.advance();
                m.matching.card = if g.kind == TokenKind::GroupLeft {
                    Cardinality::ManyToOne
                } else {
                    Cardinality::OneToMany
                };
                if self.cur.peek().kind == TokenKind::LeftParen {
                    m.matching.include = self.parse_grouping_labels()?.0;
                }
            }
        }
        m.matching.fill = self.parse_fill_modifiers()?;
        Ok(m)
    }

    fn parse_fill_modifiers(&mut self) -> PResult<FillModifier> {
        let mut fill = FillModifier::None;
        loop {
            let t = self.cur.peek();
            match (t.kind, fill) {
                (TokenKind::Fill, FillModifier::None) => {
                    self.cur.advance();
                    fill = FillModifier::Both(self.parse_fill_value()?);
                }
                (TokenKind::FillLeft, FillModifier::None) => {
                    self.cur.advance();
                    let v = self.parse_fill_value()?;
                    fill = FillModifier::Sides {
                        lhs: Some(v),
                        rhs: None,
                    };
                }
                (TokenKind::FillRight, FillModifier::None) => {
                    self.cur.advance();
                    let v = self.parse_fill_value()?;
                    fill = FillModifier::Sides {
                        lhs: None,
                        rhs: Some(v),
                    };
                }
                (TokenKind::FillLeft, FillModifier::Sides { lhs: None, rhs }) => {
                    self.cur.advance();
                    let v = self.parse_fill_value()?;
                    fill = FillModifier::Sides { lhs: Some(v), rhs };
                }
                (TokenKind::FillRight, FillModifier::Sides { lhs, rhs: None }) => {
                    self.cur.advance();
                    let v = self.parse_fill_value()?;
                    fill = FillModifier::Sides { lhs, rhs: Some(v) };
                }
                (TokenKind::Fill | TokenKind::FillLeft | TokenKind::FillRight, _) => {
                    return Err(self.cur.unexpected("", ""));
                }
                _ => return Ok(fill),
            }
        }
    }

    /// `(number)` after a fill keyword.
    fn parse_fill_value(&mut self) -> PResult<f64> {
        self.cur
            .expect(TokenKind::LeftParen, "fill modifier", "\"(\"")?;
        let v = self.parse_signed_number("fill modifier", "number")?;
        self.cur
            .expect(TokenKind::RightParen, "fill modifier", "\")\"")?;
        Ok(v)
    }

    /// An optionally signed number or duration (in seconds).
    fn parse_signed_number(&mut self, context: &str, expected: &str) -> PResult<f64> {
        let sign = match self.cur.peek().kind {
            TokenKind::Add => {
                self.cur.advance();
                1.0
            }
            TokenKind::Sub => {
                self.cur.advance();
                -1.0
            }
            _ => 1.0,
        };
        let t = self.cur.peek();
        let v = match t.kind {
            TokenKind::Number => {
                self.cur.advance();
                self.cur.number_value(t)
            }
            TokenKind::Duration => {
                self.cur.advance();
                self.cur.duration_seconds(t)
            }
            _ => return Err(self.cur.unexpected(context, expected)),
        };
        Ok(sign * v)
    }

    /// `(label, ...)` of `by`, `without`, `on`, `ignoring`, `group_left`, `group_right`.
    /// Returns the labels and the closing parenthesis.
    fn parse_grouping_labels(&mut self) -> PResult<(Vec<String>, Token)> {
        const CONTEXT: &str = "grouping opts";
        self.cur.expect(TokenKind::LeftParen, CONTEXT, "\"(\"")?;
        let mut labels = Vec::new();
        if self.cur.peek().kind == TokenKind::RightParen {
            return Ok((labels, self.cur.advance()));
        }
        loop {
            let t = self.cur.peek();
            if t.kind == TokenKind::String {
                self.cur.advance();
                labels.push(unquote_lossy(self.cur.text(t)));
            } else if is_maybe_label(t.kind) && is_label(self.cur.text(t)) {
                self.cur.advance();
                labels.push(self.cur.text(t).to_string());
            } else {
                return Err(self.cur.unexpected(CONTEXT, "label"));
            }
            match self.cur.peek().kind {
                TokenKind::Comma => {
                    self.cur.advance();
                    if self.cur.peek().kind == TokenKind::RightParen {
                        return Ok((labels, self.cur.advance()));
                    }
                }
                TokenKind::RightParen => return Ok((labels, self.cur.advance())),
                _ => return Err(self.cur.unexpected(CONTEXT, "\",\" or \")\"")),
            }
        }
    }

    fn parse_unary(&mut self) -> PResult<Expr> {
        let t = self.cur.peek();
        let op = match t.kind {
            TokenKind::Add => UnaryOp::Plus,
            TokenKind::Sub => UnaryOp::Minus,
            _ => return self.parse_postfix(),
        };
        self.cur.advance();
        // Unary operators bind like `*`: looser than `^`, tighter than the rest.
        let operand = self.parse_binary(POW_PRECEDENCE)?;
        Ok(match operand {
            Expr::NumberLiteral(mut n) => {
                if op == UnaryOp::Minus {
                    n.val = -n.val;
                }
                n.pos.start = t.start;
                Expr::NumberLiteral(n)
            }
            expr => {
                let pos = PosRange::new(t.start, expr.pos().end);
                Expr::Unary(Box::new(UnaryExpr { op, expr, pos }))
            }
        })
    }

    /// A primary expression and the modifiers that follow it: ranges, subqueries,
    /// `offset`, `@`, `anchored`, `smoothed`.
    fn parse_postfix(&mut self) -> PResult<Expr> {
        let mut e = self.parse_primary()?;
        let depth_before = self.depth;
        loop {
            e = match self.cur.peek().kind {
                TokenKind::LeftBracket => {
                    // Each subquery nests the tree one level deeper.
                    self.enter()?;
                    self.parse_range_or_subquery(e)?
                }
                TokenKind::Offset => self.parse_offset(e)?,
                TokenKind::At => self.parse_at(e)?,
                TokenKind::Anchored => self.set_extended(e, Extended::Anchored),
                TokenKind::Smoothed => self.set_extended(e, Extended::Smoothed),
                _ => break,
            };
        }
        self.depth = depth_before;
        Ok(e)
    }

    fn parse_primary(&mut self) -> PResult<Expr> {
        let t = self.cur.peek();
        let next = self.cur.peek_at(1).kind;
        match t.kind {
            TokenKind::Number => {
                self.cur.advance();
                let val = self.cur.number_value(t);
                Ok(Expr::NumberLiteral(NumberLiteral {
                    val,
                    duration: false,
                    pos: range_of(t),
                }))
            }
            TokenKind::Duration => {
                self.cur.advance();
                let val = self.cur.duration_seconds(t);
                Ok(Expr::NumberLiteral(NumberLiteral {
                    val,
                    duration: true,
                    pos: range_of(t),
                }))
            }
            TokenKind::String => {
                self.cur.advance();
                Ok(Expr::StringLiteral(StringLiteral {
                    val: unquote(self.cur.text(t)),
                    pos: range_of(t),
                }))
            }
            TokenKind::LeftParen => {
                self.cur.advance();
                let expr = self.parse_expr()?;
                let close = self.cur.expect(TokenKind::RightParen, "", "")?;
                Ok(Expr::Paren(Box::new(ParenExpr {
                    expr,
                    pos: PosRange::new(t.start, close.end),
                })))
            }
            TokenKind::LeftBrace => Ok(Expr::VectorSelector(Box::new(
                self.parse_vector_selector(false)?,
            ))),
            TokenKind::Identifier if next == TokenKind::LeftParen => {
                let name = self.cur.text(t);
                self.parse_call(t, name)
            }
            TokenKind::Start | TokenKind::End | TokenKind::Step | TokenKind::Range
                if next == TokenKind::LeftParen =>
            {
                let name = match t.kind {
                    TokenKind::Start => "start",
                    TokenKind::End => "end",
                    TokenKind::Step => "step",
                    _ => "range",
                };
                self.parse_call(t, name)
            }
            k if aggregate_op(k).is_some()
                && matches!(
                    next,
                    TokenKind::LeftParen | TokenKind::By | TokenKind::Without
                ) =>
            {
                self.parse_aggregate()
            }
            k if is_metric_identifier(k) => Ok(Expr::VectorSelector(Box::new(
                self.parse_vector_selector(true)?,
            ))),
            _ => Err(self.cur.unexpected("", "")),
        }
    }

    fn parse_call(&mut self, name_token: Token, name: &str) -> PResult<Expr> {
        self.cur.advance();
        let (args, close) = self.parse_call_body()?;
        let Some(func) = get_function(name) else {
            self.cur.error(
                range_of(name_token),
                format!("unknown function with name {}", go_quote(name)),
            );
            return Err(Abort);
        };
        if func.experimental && !self.opts.enable_experimental_functions {
            self.cur.error(
                range_of(name_token),
                format!("function {} is not enabled", go_quote(name)),
            );
        }
        Ok(Expr::Call(Box::new(Call {
            func,
            args,
            pos: PosRange::new(name_token.start, close.end),
        })))
    }

    /// `(expr, ...)`; returns the arguments and the closing parenthesis.
    fn parse_call_body(&mut self) -> PResult<(Vec<Expr>, Token)> {
        self.cur.expect(TokenKind::LeftParen, "", "")?;
        let mut args = Vec::new();
        if self.cur.peek().kind == TokenKind::RightParen {
            return Ok((args, self.cur.advance()));
        }
        loop {
            args.push(self.parse_expr()?);
            match self.cur.peek().kind {
                TokenKind::Comma => {
                    let comma = self.cur.advance();
                    if self.cur.peek().kind == TokenKind::RightParen {
                        self.cur.error(
                            range_of(comma),
                            "trailing commas not allowed in function call args",
                        );
                        return Ok((args, self.cur.advance()));
                    }
                }
                TokenKind::RightParen => return Ok((args, self.cur.advance())),
                _ => return Err(self.cur.unexpected("", "")),
            }
        }
    }

    fn parse_aggregate(&mut self) -> PResult<Expr> {
        let op_token = self.cur.advance();
        let Some(op) = aggregate_op(op_token.kind) else {
            return Err(self.cur.unexpected("", ""));
        };
        let mut grouping: Option<(Vec<String>, bool)> = None;
        let t = self.cur.peek();
        if matches!(t.kind, TokenKind::By | TokenKind::Without) {
            self.cur.advance();
            grouping = Some((
                self.parse_grouping_labels()?.0,
                t.kind == TokenKind::Without,
            ));
        }
        if self.cur.peek().kind != TokenKind::LeftParen {
            return Err(self.cur.unexpected("aggregation", ""));
        }
        let (args, close) = self.parse_call_body()?;
        let mut end = close.end;
        let t = self.cur.peek();
        if grouping.is_none() && matches!(t.kind, TokenKind::By | TokenKind::Without) {
            self.cur.advance();
            let (labels, close) = self.parse_grouping_labels()?;
            end = close.end;
            grouping = Some((labels, t.kind == TokenKind::Without));
        }
        let pos = PosRange::new(op_token.start, end);
        if args.is_empty() {
            self.cur
                .error(pos, "no arguments for aggregate expression provided");
            return Err(Abort);
        }
        let mut desired = 1;
        if op.has_param() {
            if op.is_experimental() && !self.opts.enable_experimental_functions {
                self.cur.error(
                    pos,
                    format!(
                        "{op}() is experimental and must be enabled with --enable-feature=promql-experimental-functions"
                    ),
                );
                return Err(Abort);
            }
            desired = 2;
        }
        if args.len() != desired {
            self.cur.error(
                pos,
                format!(
                    "wrong number of arguments for aggregate expression provided, expected {desired}, got {}",
                    args.len()
                ),
            );
            return Err(Abort);
        }
        let mut args = args.into_iter();
        let param = if desired == 2 { args.next() } else { None };
        let Some(expr) = args.next() else {
            return Err(Abort);
        };
        let (grouping, without) = grouping.unwrap_or_default();
        Ok(Expr::Aggregate(Box::new(AggregateExpr {
            op,
            expr,
            param,
            grouping,
            without,
            pos,
        })))
    }

    /// `name`, `name{...}` or `{...}`.
    fn parse_vector_selector(&mut self, has_name: bool) -> PResult<VectorSelector> {
        let first = self.cur.peek();
        let mut end = first.end;
        let name = if has_name {
            self.cur.advance();
            Some(self.cur.text(first).to_string())
        } else {
            None
        };
        let mut matchers = Vec::new();
        if self.cur.peek().kind == TokenKind::LeftBrace {
            let (m, close) = self.parse_label_matchers()?;
            matchers = m;
            end = close.end;
        }
        if let Some(name) = &name {
            matchers.push(Matcher::equal(hearth_model::METRIC_NAME, name.as_str()));
        }
        Ok(VectorSelector {
            name,
            matchers,
            offset: None,
            at: None,
            anchored: false,
            smoothed: false,
            bypass_empty_matcher_check: false,
            pos: PosRange::new(first.start, end),
        })
    }

    /// `{matcher, ...}`; returns the matchers and the closing brace.
    fn parse_label_matchers(&mut self) -> PResult<(Vec<Matcher>, Token)> {
        const CONTEXT: &str = "label matching";
        self.cur.advance();
        let mut matchers = Vec::new();
        if self.cur.peek().kind == TokenKind::RightBrace {
            return Ok((matchers, self.cur.advance()));
        }
        loop {
            let label = self.cur.peek();
            let name = match label.kind {
                TokenKind::Identifier => self.cur.text(label).to_string(),
                TokenKind::String => unquote_lossy(self.cur.text(label)),
                _ => return Err(self.cur.unexpected(CONTEXT, "identifier or \"}\"")),
            };
            self.cur.advance();
            let op = match self.cur.peek().kind {
                TokenKind::Eql => Some(MatchOp::Equal),
                TokenKind::Neq => Some(MatchOp::NotEqual),
                TokenKind::EqlRegex => Some(MatchOp::Regex),
                TokenKind::NeqRegex => Some(MatchOp::NotRegex),
                _ => None,
            };
            match op {
                Some(op) => {
                    self.cur.advance();
                    let value = self.cur.peek();
                    if value.kind != TokenKind::String {
                        return Err(self.cur.unexpected(CONTEXT, "string"));
                    }
                    self.cur.advance();
                    let v = unquote_lossy(self.cur.text(value));
                    match Matcher::new(op, name, v) {
                        Ok(m) => matchers.push(m),
                        Err(e) => self
                            .cur
                            .error(PosRange::new(label.start, value.end), e.to_string()),
                    }
                }
                // A quoted name alone selects the metric (`{"my.metric"}`).
                None if label.kind == TokenKind::String => {
                    matchers.push(Matcher::equal(hearth_model::METRIC_NAME, name));
                }
                None => return Err(self.cur.unexpected(CONTEXT, "label matching operator")),
            }
            match self.cur.peek().kind {
                TokenKind::Comma => {
                    self.cur.advance();
                    if self.cur.peek().kind == TokenKind::RightBrace {
                        return Ok((matchers, self.cur.advance()));
                    }
                }
                TokenKind::RightBrace => return Ok((matchers, self.cur.advance())),
                _ => return Err(self.cur.unexpected(CONTEXT, "\",\" or \"}\"")),
            }
        }
    }

    /// `[range]` or `[range:step]` after an expression.
    fn parse_range_or_subquery(&mut self, e: Expr) -> PResult<Expr> {
        let open = self.cur.advance();
        let range = self.parse_duration_expr(DurationContext::Brackets, 1)?;
        let t = self.cur.peek();
        match t.kind {
            TokenKind::RightBracket => {
                let close = self.cur.advance();
                let brackets = PosRange::new(open.start, close.end);
                let vs = match e {
                    Expr::VectorSelector(vs) => vs,
                    _ => {
                        self.cur
                            .error(brackets, "ranges only allowed for vector selectors");
                        return Err(Abort);
                    }
                };
                if vs.offset.is_some() {
                    self.cur
                        .error(brackets, "no offset modifiers allowed before range");
                    return Err(Abort);
                }
                if vs.at.is_some() {
                    self.cur
                        .error(brackets, "no @ modifiers allowed before range");
                    return Err(Abort);
                }
                let range = self.positive_duration(range);
                let pos = PosRange::new(vs.pos.start, close.end);
                Ok(Expr::MatrixSelector(Box::new(MatrixSelector {
                    vector_selector: *vs,
                    range,
                    pos,
                })))
            }
            TokenKind::Colon => {
                self.cur.advance();
                let step = if self.cur.peek().kind == TokenKind::RightBracket {
                    None
                } else {
                    let step = self.parse_duration_expr(DurationContext::Brackets, 1)?;
                    self.subquery_step(step)
                };
                let close =
                    self.cur
                        .expect(TokenKind::RightBracket, "subquery selector", "\"]\"")?;
                let range = self.positive_duration(range);
                let pos = PosRange::new(e.pos().start, close.end);
                Ok(Expr::Subquery(Box::new(SubqueryExpr {
                    expr: e,
                    range,
                    step,
                    offset: None,
                    at: None,
                    pos,
                })))
            }
            _ => Err(self.cur.unexpected("subquery or range", "\":\" or \"]\"")),
        }
    }

    /// A range: a literal must be positive; anything else is evaluated per query.
    fn positive_duration(&mut self, de: DurationExpr) -> DurationValue {
        match de.as_plain_literal() {
            Some(secs) => {
                let ms = seconds_to_millis(secs);
                if ms <= 0 {
                    self.cur.error(de.pos, "duration must be greater than 0");
                }
                DurationValue::Fixed(ms)
            }
            None => self.duration_expression(de),
        }
    }

    /// A subquery step: zero means the default step.
    fn subquery_step(&mut self, de: DurationExpr) -> Option<DurationValue> {
        match de.as_plain_literal() {
            Some(secs) => {
                let ms = seconds_to_millis(secs);
                if ms < 0 {
                    self.cur.error(de.pos, "duration must be greater than 0");
                }
                (ms != 0).then_some(DurationValue::Fixed(ms))
            }
            None => Some(self.duration_expression(de)),
        }
    }

    fn duration_expression(&mut self, de: DurationExpr) -> DurationValue {
        if !self.opts.experimental_duration_expr {
            self.cur
                .error(de.pos, "experimental duration expression is not enabled");
        }
        DurationValue::Expr(de)
    }

    /// A duration expression with operators of at least `min_precedence`.
    fn parse_duration_expr(
        &mut self,
        ctx: DurationContext,
        min_precedence: u8,
    ) -> PResult<DurationExpr> {
        self.enter()?;
        let result = self.parse_duration_expr_inner(ctx, min_precedence);
        self.depth -= 1;
        result
    }

    fn parse_duration_expr_inner(
        &mut self,
        ctx: DurationContext,
        min_precedence: u8,
    ) -> PResult<DurationExpr> {
        let mut lhs = self.parse_duration_unary(ctx)?;
        loop {
            let t = self.cur.peek();
            let Some(op) = duration_op(t.kind) else { break };
            if op.precedence() < min_precedence {
                break;
            }
            self.cur.advance();
            let next = if op == DurationOp::Pow {
                op.precedence()
            } else {
                op.precedence() + 1
            };
            let rhs = self.parse_duration_expr(ctx, next)?;
            if rhs.as_plain_literal() == Some(0.0) {
                match op {
                    DurationOp::Div => self.cur.error(range_of(t), "division by zero"),
                    DurationOp::Mod => self.cur.error(range_of(t), "modulo by zero"),
                    _ => {}
                }
            }
            let pos = lhs.pos.to(rhs.pos);
            lhs = DurationExpr {
                kind: DurationExprKind::Binary {
                    op,
                    lhs: Box::new(lhs),
                    rhs: Box::new(rhs),
                },
                wrapped: false,
                pos,
            };
        }
        Ok(lhs)
    }

    fn parse_duration_unary(&mut self, ctx: DurationContext) -> PResult<DurationExpr> {
        let t = self.cur.peek();
        if !matches!(t.kind, TokenKind::Add | TokenKind::Sub) {
            return self.parse_duration_atom(ctx);
        }
        self.cur.advance();
        let operand = self.parse_duration_expr(ctx, DURATION_POW_PRECEDENCE)?;
        Ok(self.apply_duration_sign(t, operand))
    }

    /// `+x` is `x`; `-literal` folds into the literal; anything else is negated.
    fn apply_duration_sign(&mut self, sign: Token, operand: DurationExpr) -> DurationExpr {
        let pos = PosRange::new(sign.start, operand.pos.end);
        if let (Some(value), DurationExprKind::Number { duration, .. }) =
            (operand.as_plain_literal(), &operand.kind)
        {
            let mut value = if sign.kind == TokenKind::Sub {
                -value
            } else {
                value
            };
            if !seconds_in_range(value) {
                self.cur.error(range_of(sign), "duration out of range");
                value = 0.0;
            }
            return DurationExpr {
                kind: DurationExprKind::Number {
                    value,
                    duration: *duration,
                },
                wrapped: false,
                pos,
            };
        }
        if sign.kind == TokenKind::Add {
            return operand;
        }
        DurationExpr {
            kind: DurationExprKind::Neg(Box::new(operand)),
            wrapped: false,
            pos,
        }
    }

    /// A number, duration, `step()`, `range()`, `min_of(a, b)`, `max_of(a, b)` or a
    /// parenthesized duration expression.
    fn parse_duration_atom(&mut self, ctx: DurationContext) -> PResult<DurationExpr> {
        let t = self.cur.peek();
        let literal = |p: &mut Self, value: f64, duration: bool| {
            let value = if seconds_in_range(value) {
                value
            } else {
                p.cur.error(range_of(t), "duration out of range");
                0.0
            };
            DurationExpr {
                kind: DurationExprKind::Number { value, duration },
                wrapped: false,
                pos: range_of(t),
            }
        };
        match t.kind {
            TokenKind::Number => {
                self.cur.advance();
                let v = self.cur.number_value(t);
                Ok(literal(self, v, false))
            }
            TokenKind::Duration => {
                self.cur.advance();
                let v = self.cur.duration_seconds(t);
                Ok(literal(self, v, true))
            }
            TokenKind::Step | TokenKind::Range => {
                self.cur.advance();
                self.cur
                    .expect(TokenKind::LeftParen, ctx.name(), DURATION_EXPECTED)?;
                let close =
                    self.cur
                        .expect(TokenKind::RightParen, ctx.name(), DURATION_EXPECTED)?;
                Ok(DurationExpr {
                    kind: if t.kind == TokenKind::Step {
                        DurationExprKind::Step
                    } else {
                        DurationExprKind::Range
                    },
                    wrapped: false,
                    pos: PosRange::new(t.start, close.end),
                })
            }
            TokenKind::MinOf | TokenKind::MaxOf | TokenKind::Identifier
                if self.min_max_kind(t).is_some() =>
            {
                let is_min = self.min_max_kind(t) == Some(true);
                self.cur.advance();
                self.cur
                    .expect(TokenKind::LeftParen, ctx.name(), DURATION_EXPECTED)?;
                let a = self.parse_duration_expr(ctx, 1)?;
                self.cur.expect(TokenKind::Comma, ctx.name(), "\",\"")?;
                let b = self.parse_duration_expr(ctx, 1)?;
                let close = self
                    .cur
                    .expect(TokenKind::RightParen, ctx.name(), "\")\"")?;
                let (a, b) = (Box::new(a), Box::new(b));
                Ok(DurationExpr {
                    kind: if is_min {
                        DurationExprKind::MinOf(a, b)
                    } else {
                        DurationExprKind::MaxOf(a, b)
                    },
                    wrapped: false,
                    pos: PosRange::new(t.start, close.end),
                })
            }
            TokenKind::LeftParen => {
                self.cur.advance();
                let mut inner = self.parse_duration_expr(ctx, 1)?;
                let close = self
                    .cur
                    .expect(TokenKind::RightParen, ctx.name(), "\")\"")?;
                inner.wrapped = true;
                inner.pos = PosRange::new(t.start, close.end);
                Ok(inner)
            }
            _ => Err(self.cur.unexpected(ctx.name(), DURATION_EXPECTED)),
        }
    }

    /// Whether a token starts `min_of(` (Some(true)) or `max_of(` (Some(false)). Outside
    /// brackets these are lexed as identifiers.
    fn min_max_kind(&self, t: Token) -> Option<bool> {
        match t.kind {
            TokenKind::MinOf => Some(true),
            TokenKind::MaxOf => Some(false),
            TokenKind::Identifier => match self.cur.text(t).to_ascii_lowercase().as_str() {
                "min_of" => Some(true),
                "max_of" => Some(false),
                _ => None,
            },
            _ => None,
        }
    }

    /// `offset <duration>` after an expression. The duration is one term: a signed
    /// number or duration, `step()`, `range()`, `min_of()`, `max_of()` or an expression
    /// in parentheses, so that `x offset 5m + 1` adds 1 to `x offset 5m`.
    fn parse_offset(&mut self, e: Expr) -> PResult<Expr> {
        self.cur.advance();
        let sign = self.cur.peek();
        let de = if matches!(sign.kind, TokenKind::Add | TokenKind::Sub) {
            self.cur.advance();
            let operand = self.parse_duration_atom(DurationContext::Offset)?;
            self.apply_duration_sign(sign, operand)
        } else {
            self.parse_duration_atom(DurationContext::Offset)?
        };
        let end = de.pos.end;
        let value = match de.as_plain_literal() {
            Some(secs) => DurationValue::Fixed(seconds_to_millis(secs)),
            None => self.duration_expression(de),
        };
        Ok(self.add_offset(e, value, end))
    }

    fn add_offset(&mut self, mut e: Expr, value: DurationValue, end: usize) -> Expr {
        let e_pos = e.pos();
        let Some(slots) = modifier_slots(&mut e) else {
            self.cur.error(
                e_pos,
                "offset modifier must be preceded by an instant vector selector or range vector selector or a subquery",
            );
            return e;
        };
        if slots.offset.is_some() {
            self.cur
                .error(e_pos, "offset may not be set multiple times");
            return e;
        }
        // A zero offset is no offset, as upstream treats it.
        if value != DurationValue::Fixed(0) {
            *slots.offset = Some(value);
        }
        *slots.end = end;
        e
    }

    /// `@ <timestamp>`, `@ start()`, `@ end()` after an expression.
    fn parse_at(&mut self, e: Expr) -> PResult<Expr> {
        const CONTEXT: &str = "@";
        self.cur.advance();
        let t = self.cur.peek();
        let (modifier, end) = match t.kind {
            TokenKind::Start | TokenKind::End => {
                self.cur.advance();
                self.cur
                    .expect(TokenKind::LeftParen, CONTEXT, "timestamp")?;
                let close = self
                    .cur
                    .expect(TokenKind::RightParen, CONTEXT, "timestamp")?;
                let m = if t.kind == TokenKind::Start {
                    AtModifier::Start
                } else {
                    AtModifier::End
                };
                (m, close.end)
            }
            _ => {
                let ts = self.parse_signed_number(CONTEXT, "timestamp")?;
                let end = self.cur.last_end;
                if !ts.is_finite() || ts >= i64::MAX as f64 || ts <= i64::MIN as f64 {
                    self.cur.error(
                        e.pos(),
                        format!(
                            "timestamp out of bounds for @ modifier: {}",
                            format_float_fixed(ts, 6)
                        ),
                    );
                }
                (AtModifier::Timestamp((ts * 1000.0).round() as i64), end)
            }
        };
        Ok(self.set_at(e, modifier, end))
    }

    fn set_at(&mut self, mut e: Expr, modifier: AtModifier, end: usize) -> Expr {
        let e_pos = e.pos();
        let Some(slots) = modifier_slots(&mut e) else {
            self.cur.error(
                e_pos,
                "@ modifier must be preceded by an instant vector selector or range vector selector or a subquery",
            );
            return e;
        };
        if slots.at.is_some() {
            self.cur
                .error(e_pos, "@ <timestamp> may not be set multiple times");
            return e;
        }
        *slots.at = Some(modifier);
        *slots.end = end;
        e
    }

    /// `anchored` or `smoothed` after an expression.
    fn set_extended(&mut self, mut e: Expr, which: Extended) -> Expr {
        self.cur.advance();
        let e_pos = e.pos();
        let name = which.name();
        if !self.opts.enable_extended_range_selectors {
            self.cur.error(
                e_pos,
                format!("{name} modifier is experimental and not enabled"),
            );
            return e;
        }
        let vs = match &mut e {
            Expr::VectorSelector(vs) => vs.as_mut(),
            Expr::MatrixSelector(m) => &mut m.vector_selector,
            Expr::Subquery(_) => {
                self.cur.error(
                    e_pos,
                    format!("{name} modifier is not supported for subqueries"),
                );
                return e;
            }
            _ => {
                self.cur
                    .error(e_pos, format!("{name} modifier not implemented"));
                return e;
            }
        };
        let conflict = match which {
            Extended::Anchored => {
                vs.anchored = true;
                vs.smoothed
            }
            Extended::Smoothed => {
                vs.smoothed = true;
                vs.anchored
            }
        };
        if conflict {
            self.cur.error(
                e_pos,
                "anchored and smoothed modifiers cannot be used together",
            );
        }
        e
    }
}
