//! The PromQL syntax tree: expression nodes with their byte position ranges, the operator
//! enums, vector matching, offsets, `@` modifiers and duration expressions.
//!
//! The shape follows upstream's `promql/parser/ast.go` so that the evaluator can follow
//! upstream's engine: the `offset`, `@`, `anchored` and `smoothed` of a range selector
//! live on its inner [`VectorSelector`]; a range selector's metric-name matcher is the
//! last of its matchers. Durations are milliseconds.

use std::fmt;

use hearth_model::Matcher;

use crate::functions::Function;

/// `Display` of the enums below: their `as_str()`.
macro_rules! display_as_str {
    ($($t:ty),*) => {
        $(impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        })*
    };
}

display_as_str!(
    ValueType,
    BinaryOp,
    UnaryOp,
    AggregateOp,
    Cardinality,
    DurationOp
);

/// A byte range `[start, end)` of the query text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct PosRange {
    pub start: usize,
    pub end: usize,
}

impl PosRange {
    pub fn new(start: usize, end: usize) -> PosRange {
        PosRange { start, end }
    }

    /// The range from the start of `self` to the end of `other`.
    pub fn to(self, other: PosRange) -> PosRange {
        PosRange::new(self.start, other.end)
    }
}

/// The type an expression evaluates to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ValueType {
    None,
    Vector,
    Scalar,
    Matrix,
    String,
}

impl ValueType {
    /// Upstream's internal name (`vector`, `matrix`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            ValueType::None => "none",
            ValueType::Vector => "vector",
            ValueType::Scalar => "scalar",
            ValueType::Matrix => "matrix",
            ValueType::String => "string",
        }
    }

    /// The name used in documentation and type errors (`instant vector`, `range vector`).
    pub fn documented(self) -> &'static str {
        match self {
            ValueType::Vector => "instant vector",
            ValueType::Matrix => "range vector",
            other => other.as_str(),
        }
    }
}

/// Binary operators, with upstream's precedence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BinaryOp {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Pow,
    Atan2,
    Eql,
    Neq,
    Gtr,
    Lss,
    Gte,
    Lte,
    And,
    Or,
    Unless,
    /// `</`, the histogram trim operator keeping observations up to the threshold.
    TrimUpper,
    /// `>/`, keeping observations from the threshold up.
    TrimLower,
}

impl BinaryOp {
    pub fn as_str(self) -> &'static str {
        match self {
            BinaryOp::Add => "+",
            BinaryOp::Sub => "-",
            BinaryOp::Mul => "*",
            BinaryOp::Div => "/",
            BinaryOp::Mod => "%",
            BinaryOp::Pow => "^",
            BinaryOp::Atan2 => "atan2",
            BinaryOp::Eql => "==",
            BinaryOp::Neq => "!=",
            BinaryOp::Gtr => ">",
            BinaryOp::Lss => "<",
            BinaryOp::Gte => ">=",
            BinaryOp::Lte => "<=",
            BinaryOp::And => "and",
            BinaryOp::Or => "or",
            BinaryOp::Unless => "unless",
            BinaryOp::TrimUpper => "</",
            BinaryOp::TrimLower => ">/",
        }
    }

    /// Higher binds tighter: `or` < `and unless` < comparisons and trims < `+ -` <
    /// `* / % atan2` < `^`.
    pub fn precedence(self) -> u8 {
        match self {
            BinaryOp::Or => 1,
            BinaryOp::And | BinaryOp::Unless => 2,
            BinaryOp::Eql
            | BinaryOp::Neq
            | BinaryOp::Gtr
            | BinaryOp::Lss
            | BinaryOp::Gte
            | BinaryOp::Lte
            | BinaryOp::TrimUpper
            | BinaryOp::TrimLower => 3,
            BinaryOp::Add | BinaryOp::Sub => 4,
            BinaryOp::Mul | BinaryOp::Div | BinaryOp::Mod | BinaryOp::Atan2 => 5,
            BinaryOp::Pow => 6,
        }
    }

    /// `^` is the only right-associative operator.
    pub fn is_right_associative(self) -> bool {
        self == BinaryOp::Pow
    }

    pub fn is_comparison(self) -> bool {
        matches!(
            self,
            BinaryOp::Eql
                | BinaryOp::Neq
                | BinaryOp::Gtr
                | BinaryOp::Lss
                | BinaryOp::Gte
                | BinaryOp::Lte
        )
    }

    pub fn is_set_operator(self) -> bool {
        matches!(self, BinaryOp::And | BinaryOp::Or | BinaryOp::Unless)
    }
}

/// Unary `+` and `-`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UnaryOp {
    Plus,
    Minus,
}

impl UnaryOp {
    pub fn as_str(self) -> &'static str {
        match self {
            UnaryOp::Plus => "+",
            UnaryOp::Minus => "-",
        }
    }
}

/// Aggregation operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AggregateOp {
    Sum,
    Avg,
    Count,
    Min,
    Max,
    Group,
    Stddev,
    Stdvar,
    Topk,
    Bottomk,
    CountValues,
    Quantile,
    Limitk,
    LimitRatio,
}

impl AggregateOp {
    pub fn as_str(self) -> &'static str {
        match self {
            AggregateOp::Sum => "sum",
            AggregateOp::Avg => "avg",
            AggregateOp::Count => "count",
            AggregateOp::Min => "min",
            AggregateOp::Max => "max",
            AggregateOp::Group => "group",
            AggregateOp::Stddev => "stddev",
            AggregateOp::Stdvar => "stdvar",
            AggregateOp::Topk => "topk",
            AggregateOp::Bottomk => "bottomk",
            AggregateOp::CountValues => "count_values",
            AggregateOp::Quantile => "quantile",
            AggregateOp::Limitk => "limitk",
            AggregateOp::LimitRatio => "limit_ratio",
        }
    }

    /// Whether the operator takes a parameter before the vector (`topk(5, x)`).
    pub fn has_param(self) -> bool {
        matches!(
            self,
            AggregateOp::Topk
                | AggregateOp::Bottomk
                | AggregateOp::CountValues
                | AggregateOp::Quantile
                | AggregateOp::Limitk
                | AggregateOp::LimitRatio
        )
    }

    /// Operators behind `promql-experimental-functions`.
    pub fn is_experimental(self) -> bool {
        matches!(self, AggregateOp::Limitk | AggregateOp::LimitRatio)
    }
}

/// How the two sides of a vector binary operation are matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Cardinality {
    OneToOne,
    ManyToOne,
    OneToMany,
    ManyToMany,
}

impl Cardinality {
    pub fn as_str(self) -> &'static str {
        match self {
            Cardinality::OneToOne => "one-to-one",
            Cardinality::ManyToOne => "many-to-one",
            Cardinality::OneToMany => "one-to-many",
            Cardinality::ManyToMany => "many-to-many",
        }
    }
}

/// The `fill`, `fill_left` and `fill_right` modifiers: values for series missing on one
/// side of a binary operation.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum FillModifier {
    #[default]
    None,
    /// `fill(v)`: the same value for both sides.
    Both(f64),
    /// `fill_left(a)` and/or `fill_right(b)`.
    Sides { lhs: Option<f64>, rhs: Option<f64> },
}

impl FillModifier {
    /// The value for series missing on the left-hand side.
    pub fn lhs(&self) -> Option<f64> {
        match *self {
            FillModifier::None => None,
            FillModifier::Both(v) => Some(v),
            FillModifier::Sides { lhs, .. } => lhs,
        }
    }

    /// The value for series missing on the right-hand side.
    pub fn rhs(&self) -> Option<f64> {
        match *self {
            FillModifier::None => None,
            FillModifier::Both(v) => Some(v),
            FillModifier::Sides { rhs, .. } => rhs,
        }
    }

    pub fn is_some(&self) -> bool {
        self.lhs().is_some() || self.rhs().is_some()
    }
}

/// Vector matching of a binary operation between two instant vectors.
#[derive(Debug, Clone, PartialEq)]
pub struct VectorMatching {
    pub card: Cardinality,
    /// The labels of `on(...)` or `ignoring(...)`.
    pub matching_labels: Vec<String>,
    /// `on` rather than `ignoring`.
    pub on: bool,
    /// The labels of `group_left(...)` / `group_right(...)`.
    pub include: Vec<String>,
    pub fill: FillModifier,
}

impl Default for VectorMatching {
    fn default() -> Self {
        VectorMatching {
            card: Cardinality::OneToOne,
            matching_labels: Vec::new(),
            on: false,
            include: Vec::new(),
            fill: FillModifier::None,
        }
    }
}

/// `@ <timestamp>`, `@ start()` or `@ end()`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AtModifier {
    /// Milliseconds since the epoch.
    Timestamp(i64),
    Start,
    End,
}

/// A duration that is either known at parse time or computed per query (it uses
/// `step()` or `range()`, or is written as an expression).
#[derive(Debug, Clone, PartialEq)]
pub enum DurationValue {
    /// Milliseconds; may be negative for offsets.
    Fixed(i64),
    Expr(DurationExpr),
}

/// Arithmetic on durations inside `[...]` and after `offset`.
#[derive(Debug, Clone, PartialEq)]
pub struct DurationExpr {
    pub kind: DurationExprKind,
    /// Written in parentheses (kept so that printing reproduces them).
    pub wrapped: bool,
    pub pos: PosRange,
}

#[derive(Debug, Clone, PartialEq)]
pub enum DurationExprKind {
    /// Seconds; `duration` when written as a duration (`5m`) rather than a number.
    Number {
        value: f64,
        duration: bool,
    },
    Neg(Box<DurationExpr>),
    Binary {
        op: DurationOp,
        lhs: Box<DurationExpr>,
        rhs: Box<DurationExpr>,
    },
    /// The query step (`step()`).
    Step,
    /// The query range, end minus start (`range()`).
    Range,
    MinOf(Box<DurationExpr>, Box<DurationExpr>),
    MaxOf(Box<DurationExpr>, Box<DurationExpr>),
}

/// Operators of duration expressions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DurationOp {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Pow,
}

impl DurationOp {
    pub fn as_str(self) -> &'static str {
        match self {
            DurationOp::Add => "+",
            DurationOp::Sub => "-",
            DurationOp::Mul => "*",
            DurationOp::Div => "/",
            DurationOp::Mod => "%",
            DurationOp::Pow => "^",
        }
    }

    pub(crate) fn precedence(self) -> u8 {
        match self {
            DurationOp::Add | DurationOp::Sub => 1,
            DurationOp::Mul | DurationOp::Div | DurationOp::Mod => 2,
            DurationOp::Pow => 3,
        }
    }
}

/// Why a duration expression cannot be evaluated; the messages are upstream's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationEvalError {
    #[error("division by zero")]
    DivisionByZero,
    #[error("modulo by zero")]
    ModuloByZero,
    #[error("duration must be greater than 0")]
    NotPositive,
    #[error("duration is out of range")]
    OutOfRange,
}

impl DurationExpr {
    /// Evaluates to seconds given the query step and range (both in milliseconds).
    pub fn eval_seconds(&self, step_ms: i64, range_ms: i64) -> Result<f64, DurationEvalError> {
        Ok(match &self.kind {
            DurationExprKind::Number { value, .. } => *value,
            DurationExprKind::Neg(e) => -e.eval_seconds(step_ms, range_ms)?,
            DurationExprKind::Step => step_ms as f64 / 1000.0,
            DurationExprKind::Range => range_ms as f64 / 1000.0,
            DurationExprKind::MinOf(a, b) | DurationExprKind::MaxOf(a, b) => {
                let smallest = matches!(self.kind, DurationExprKind::MinOf(..));
                let a = a.eval_seconds(step_ms, range_ms)?;
                let b = b.eval_seconds(step_ms, range_ms)?;
                go_min_max(a, b, smallest)
            }
            DurationExprKind::Binary { op, lhs, rhs } => {
                let l = lhs.eval_seconds(step_ms, range_ms)?;
                let r = rhs.eval_seconds(step_ms, range_ms)?;
                match op {
                    DurationOp::Add => l + r,
                    DurationOp::Sub => l - r,
                    DurationOp::Mul => l * r,
                    DurationOp::Div if r == 0.0 => return Err(DurationEvalError::DivisionByZero),
                    DurationOp::Div => l / r,
                    DurationOp::Mod if r == 0.0 => return Err(DurationEvalError::ModuloByZero),
                    DurationOp::Mod => l % r,
                    DurationOp::Pow => l.powf(r),
                }
            }
        })
    }

    /// Evaluates to milliseconds as upstream's engine does: ranges and steps must be
    /// positive (`allow_negative` is for offsets).
    pub fn eval_millis(
        &self,
        step_ms: i64,
        range_ms: i64,
        allow_negative: bool,
    ) -> Result<i64, DurationEvalError> {
        let secs = self.eval_seconds(step_ms, range_ms)?;
        if secs <= 0.0 && !allow_negative {
            return Err(DurationEvalError::NotPositive);
        }
        if !seconds_in_range(secs) {
            return Err(DurationEvalError::OutOfRange);
        }
        Ok(seconds_to_millis(secs))
    }
}

/// Go's `math.Min` (`smallest`) or `math.Max`: NaN wins, and -0 counts as smaller than +0.
fn go_min_max(a: f64, b: f64, smallest: bool) -> f64 {
    if a.is_nan() || b.is_nan() {
        return f64::NAN;
    }
    if a == b {
        return if a.is_sign_negative() == smallest {
            a
        } else {
            b
        };
    }
    if (a < b) == smallest { a } else { b }
}

/// Whether seconds fit a Go `time.Duration` (nanoseconds in an `i64`).
pub(crate) fn seconds_in_range(secs: f64) -> bool {
    secs <= (1u64 << 63) as f64 / 1e9 && secs >= -((1u64 << 63) as f64) / 1e9
}

/// Seconds to whole milliseconds, rounding as upstream's literals do.
pub(crate) fn seconds_to_millis(secs: f64) -> i64 {
    (secs * 1000.0).round() as i64
}

/// A PromQL expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Aggregate(Box<AggregateExpr>),
    Binary(Box<BinaryExpr>),
    Call(Box<Call>),
    MatrixSelector(Box<MatrixSelector>),
    NumberLiteral(NumberLiteral),
    Paren(Box<ParenExpr>),
    StringLiteral(StringLiteral),
    Subquery(Box<SubqueryExpr>),
    Unary(Box<UnaryExpr>),
    VectorSelector(Box<VectorSelector>),
}

/// `sum by (job) (x)`, `topk(5, x)`.
#[derive(Debug, Clone, PartialEq)]
pub struct AggregateExpr {
    pub op: AggregateOp,
    pub expr: Expr,
    pub param: Option<Expr>,
    pub grouping: Vec<String>,
    pub without: bool,
    pub pos: PosRange,
}

#[derive(Debug, Clone, PartialEq)]
pub struct BinaryExpr {
    pub op: BinaryOp,
    pub lhs: Expr,
    pub rhs: Expr,
    /// Present only when both sides are instant vectors.
    pub matching: Option<VectorMatching>,
    /// `bool`: comparisons return 0/1 instead of filtering.
    pub return_bool: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    pub func: &'static Function,
    pub args: Vec<Expr>,
    pub pos: PosRange,
}

/// `x[5m]`. The `offset`, `@`, `anchored` and `smoothed` are on the vector selector.
#[derive(Debug, Clone, PartialEq)]
pub struct MatrixSelector {
    pub vector_selector: VectorSelector,
    pub range: DurationValue,
    pub pos: PosRange,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SubqueryExpr {
    pub expr: Expr,
    pub range: DurationValue,
    /// `None` for the default step (`[5m:]`).
    pub step: Option<DurationValue>,
    pub offset: Option<DurationValue>,
    pub at: Option<AtModifier>,
    pub pos: PosRange,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NumberLiteral {
    pub val: f64,
    /// Written as a duration (`5m`), which is printed back as one.
    pub duration: bool,
    pub pos: PosRange,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ParenExpr {
    pub expr: Expr,
    pub pos: PosRange,
}

/// A string literal. Its bytes need not be UTF-8: escapes like `\xff` are Go's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StringLiteral {
    pub val: Vec<u8>,
    pub pos: PosRange,
}

impl StringLiteral {
    /// The value, when it is valid UTF-8.
    pub fn as_str(&self) -> Option<&str> {
        std::str::from_utf8(&self.val).ok()
    }

    /// The value with invalid UTF-8 replaced by U+FFFD.
    pub fn to_string_lossy(&self) -> String {
        String::from_utf8_lossy(&self.val).into_owned()
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct UnaryExpr {
    pub op: UnaryOp,
    pub expr: Expr,
    pub pos: PosRange,
}

/// `name{matchers}`, with its modifiers.
#[derive(Debug, Clone, PartialEq)]
pub struct VectorSelector {
    /// The metric name written outside the braces.
    pub name: Option<String>,
    /// All matchers; when `name` is set, its `__name__` matcher is the last.
    pub matchers: Vec<Matcher>,
    pub offset: Option<DurationValue>,
    pub at: Option<AtModifier>,
    pub anchored: bool,
    pub smoothed: bool,
    /// Set for the label selector argument of `info()`, which may match everything.
    pub bypass_empty_matcher_check: bool,
    pub pos: PosRange,
}

impl Expr {
    /// The type the expression evaluates to.
    pub fn value_type(&self) -> ValueType {
        match self {
            Expr::Aggregate(_) | Expr::VectorSelector(_) => ValueType::Vector,
            Expr::Call(c) => c.func.return_type,
            Expr::MatrixSelector(_) | Expr::Subquery(_) => ValueType::Matrix,
            Expr::NumberLiteral(_) => ValueType::Scalar,
            Expr::StringLiteral(_) => ValueType::String,
            Expr::Paren(p) => p.expr.value_type(),
            Expr::Unary(u) => u.expr.value_type(),
            Expr::Binary(b) => {
                if b.lhs.value_type() == ValueType::Scalar
                    && b.rhs.value_type() == ValueType::Scalar
                {
                    ValueType::Scalar
                } else {
                    ValueType::Vector
                }
            }
        }
    }

    /// Where the expression is in the query text.
    pub fn pos(&self) -> PosRange {
        match self {
            Expr::Aggregate(e) => e.pos,
            Expr::Binary(e) => e.lhs.pos().to(e.rhs.pos()),
            Expr::Call(e) => e.pos,
            Expr::MatrixSelector(e) => e.pos,
            Expr::NumberLiteral(e) => e.pos,
            Expr::Paren(e) => e.pos,
            Expr::StringLiteral(e) => e.pos,
            Expr::Subquery(e) => e.pos,
            Expr::Unary(e) => e.pos,
            Expr::VectorSelector(e) => e.pos,
        }
    }

    /// The direct children, in order.
    pub fn children(&self) -> Vec<&Expr> {
        match self {
            Expr::Aggregate(e) => match &e.param {
                Some(p) => vec![&e.expr, p],
                None => vec![&e.expr],
            },
            Expr::Binary(e) => vec![&e.lhs, &e.rhs],
            Expr::Call(e) => e.args.iter().collect(),
            Expr::Paren(e) => vec![&e.expr],
            Expr::Subquery(e) => vec![&e.expr],
            Expr::Unary(e) => vec![&e.expr],
            Expr::MatrixSelector(_)
            | Expr::NumberLiteral(_)
            | Expr::StringLiteral(_)
            | Expr::VectorSelector(_) => Vec::new(),
        }
    }

    /// A copy with every position set to zero and matchers in sorted order: two queries
    /// that mean the same have equal normalized trees.
    pub fn normalized(&self) -> Expr {
        let mut e = self.clone();
        e.normalize();
        e
    }

    fn normalize(&mut self) {
        match self {
            Expr::Aggregate(e) => {
                e.pos = PosRange::default();
                e.expr.normalize();
                if let Some(p) = &mut e.param {
                    p.normalize();
                }
            }
            Expr::Binary(e) => {
                e.lhs.normalize();
                e.rhs.normalize();
            }
            Expr::Call(e) => {
                e.pos = PosRange::default();
                e.args.iter_mut().for_each(Expr::normalize);
            }
            Expr::MatrixSelector(e) => {
                e.pos = PosRange::default();
                e.vector_selector.normalize();
                e.range.normalize();
            }
            Expr::NumberLiteral(e) => e.pos = PosRange::default(),
            Expr::Paren(e) => {
                e.pos = PosRange::default();
                e.expr.normalize();
            }
            Expr::StringLiteral(e) => e.pos = PosRange::default(),
            Expr::Subquery(e) => {
                e.pos = PosRange::default();
                e.expr.normalize();
                e.range.normalize();
                if let Some(s) = &mut e.step {
                    s.normalize();
                }
                if let Some(o) = &mut e.offset {
                    o.normalize();
                }
            }
            Expr::Unary(e) => {
                e.pos = PosRange::default();
                e.expr.normalize();
            }
            Expr::VectorSelector(e) => e.normalize(),
        }
    }
}

impl VectorSelector {
    fn normalize(&mut self) {
        self.pos = PosRange::default();
        self.matchers.sort_by_key(|m| m.to_string());
        if let Some(o) = &mut self.offset {
            o.normalize();
        }
    }
}

impl DurationValue {
    fn normalize(&mut self) {
        if let DurationValue::Expr(e) = self {
            e.normalize();
        }
    }
}

impl DurationExpr {
    fn normalize(&mut self) {
        self.pos = PosRange::default();
        match &mut self.kind {
            DurationExprKind::Neg(e) => e.normalize(),
            DurationExprKind::Binary { lhs, rhs, .. } => {
                lhs.normalize();
                rhs.normalize();
            }
            DurationExprKind::MinOf(a, b) | DurationExprKind::MaxOf(a, b) => {
                a.normalize();
                b.normalize();
            }
            DurationExprKind::Number { .. } | DurationExprKind::Step | DurationExprKind::Range => {}
        }
    }

    /// A literal number or duration, not in parentheses.
    pub(crate) fn as_plain_literal(&self) -> Option<f64> {
        match self.kind {
            DurationExprKind::Number { value, .. } if !self.wrapped => Some(value),
            _ => None,
        }
    }
}
