//! The evaluation plan: the parsed expression turned into what the evaluator walks, for
//! one query's start, end and step (upstream's `PreprocessExpr` and `populateSeries`
//! preparation).
//!
//! Building the plan resolves everything that depends on the query but not on data:
//! duration expressions (`step()`, `range()`), `@ start()`/`@ end()`, sorted grouping
//! labels, the time range and hints each selector reads with, and which subtrees are
//! step-invariant (they are evaluated once and repeated for every step). The AST itself
//! is never changed.

use hearth_model::Matcher;
use hearth_tsdb::storage::SelectHints;

use crate::ast::{
    AggregateOp, AtModifier, BinaryOp, DurationValue, Expr, PosRange, UnaryOp, ValueType,
    VectorMatching,
};
use crate::functions::Function;

use super::error::EvalError;

/// The query a plan is built for (milliseconds; `interval` is 0 for instant queries).
#[derive(Debug, Clone, Copy)]
pub(crate) struct QueryParams {
    pub start: i64,
    pub end: i64,
    pub interval: i64,
    pub lookback: i64,
}

/// A planned expression node.
#[derive(Debug)]
pub(crate) struct Node {
    pub kind: NodeKind,
    pub pos: PosRange,
    pub vtype: ValueType,
}

#[derive(Debug)]
pub(crate) enum NodeKind {
    Number(f64),
    /// A string literal: its text (invalid UTF-8 replaced) and its bytes.
    String {
        text: String,
        raw: Vec<u8>,
    },
    VectorSelector(Box<SelectorNode>),
    MatrixSelector(Box<MatrixSelectorNode>),
    Subquery(Box<SubqueryNode>),
    Call(Box<CallNode>),
    Aggregate(Box<AggregateNode>),
    Binary(Box<BinaryNode>),
    /// Unary minus (unary plus plans to its operand).
    Neg(Box<Node>),
    /// A subtree whose value is the same at every step: evaluated once.
    StepInvariant(Box<Node>),
}

/// A vector selector with its offset and `@` resolved.
#[derive(Debug)]
pub(crate) struct SelectorNode {
    /// Index of the selector's series in the query's series table.
    pub id: usize,
    pub matchers: Vec<Matcher>,
    /// Milliseconds (negative offsets look forward).
    pub offset: i64,
    /// `@` time in milliseconds (`start()`/`end()` resolved).
    pub at: Option<i64>,
    pub anchored: bool,
    pub smoothed: bool,
    /// Only `histogram_count`/`_sum`/`_avg` look at its histograms: read just their
    /// count and sum (upstream's `SkipHistogramBuckets`).
    pub histogram_stats_only: bool,
    /// What the selector reads: its time range and context for the storage.
    pub hints: SelectHints,
}

impl SelectorNode {
    /// The time the selector reads at for evaluation time `ts`.
    pub fn ref_time(&self, ts: i64) -> i64 {
        self.at.unwrap_or(ts) - self.offset
    }
}

#[derive(Debug)]
pub(crate) struct MatrixSelectorNode {
    pub selector: SelectorNode,
    /// Milliseconds.
    pub range: i64,
}

#[derive(Debug)]
pub(crate) struct SubqueryNode {
    pub expr: Node,
    pub range: i64,
    /// The subquery's resolution; the default step when none was written.
    pub step: i64,
    pub offset: i64,
    pub at: Option<i64>,
}

#[derive(Debug)]
pub(crate) struct CallNode {
    pub func: &'static Function,
    pub args: Vec<Node>,
}

impl CallNode {
    /// The index of the range-vector argument (a range selector or subquery), if any.
    pub fn matrix_arg(&self) -> Option<usize> {
        self.args
            .iter()
            .position(|a| matches!(a.kind, NodeKind::MatrixSelector(_) | NodeKind::Subquery(_)))
    }

    /// Whether the string literal argument at `i` is a valid label name (non-empty
    /// UTF-8).
    pub fn label_name_arg(&self, i: usize) -> Option<&str> {
        match &self.args.get(i)?.kind {
            NodeKind::String { text, raw }
                if !raw.is_empty() && std::str::from_utf8(raw).is_ok() =>
            {
                Some(text)
            }
            _ => None,
        }
    }

    /// The string literal argument at `i`.
    pub fn string_arg(&self, i: usize) -> Option<&str> {
        match &self.args.get(i)?.kind {
            NodeKind::String { text, .. } => Some(text),
            _ => None,
        }
    }
}

#[derive(Debug)]
pub(crate) struct AggregateNode {
    pub op: AggregateOp,
    pub expr: Node,
    pub param: Option<Node>,
    /// Sorted.
    pub grouping: Vec<String>,
    pub without: bool,
}

#[derive(Debug)]
pub(crate) struct BinaryNode {
    pub op: BinaryOp,
    pub lhs: Node,
    pub rhs: Node,
    pub matching: Option<VectorMatching>,
    pub return_bool: bool,
}

/// A planned query.
#[derive(Debug)]
pub(crate) struct Plan {
    pub root: Node,
    /// Number of selectors (the size of the series table).
    pub selectors: usize,
    /// The time range all selectors together read (upstream's `FindMinMaxTime`).
    pub mint: i64,
    pub maxt: i64,
}

/// The largest time (ms, either sign) a query may use: about 36 million years, far
/// enough from the ends of `i64` that adding ranges and offsets cannot overflow.
pub(crate) const MAX_TIME_MS: u64 = 1 << 60;
/// The longest range, offset or step (ms), about 35,000 years.
pub(crate) const MAX_DURATION_MS: u64 = 1 << 50;

/// Functions whose result depends on the evaluation time even when their arguments do
/// not (upstream's `AtModifierUnsafeFunctions`, plus the query-context functions).
pub(crate) const AT_MODIFIER_UNSAFE_FUNCTIONS: &[&str] = &[
    "day_of_month",
    "day_of_week",
    "day_of_year",
    "days_in_month",
    "end",
    "hour",
    "minute",
    "month",
    "predict_linear",
    "range",
    "start",
    "step",
    "time",
    "timestamp",
    "year",
];

/// What the selectors below a node inherit from the subqueries and calls above it.
#[derive(Clone, Default)]
struct PathContext {
    subquery_offset: i64,
    subquery_range: i64,
    subquery_at: Option<i64>,
    /// The resolution of the innermost subquery above.
    subquery_step: Option<i64>,
    /// The nearest function or aggregation above, not across a binary operator.
    func: Option<String>,
    /// Grouping of the aggregation directly above.
    grouping: Option<(bool, Vec<String>)>,
    /// A `histogram_count`, `histogram_sum` or `histogram_avg` is above.
    under_histogram_stats: bool,
    /// A subquery, `histogram_quantile` or `histogram_fraction` is above: histograms
    /// are needed whole.
    needs_whole_histograms: bool,
}

/// Builds plans.
pub(crate) struct Planner<'a> {
    params: QueryParams,
    default_subquery_step: &'a dyn Fn(i64) -> i64,
    next_id: usize,
    mint: i64,
    maxt: i64,
}

impl<'a> Planner<'a> {
    pub fn new(params: QueryParams, default_subquery_step: &'a dyn Fn(i64) -> i64) -> Self {
        Planner {
            params,
            default_subquery_step,
            next_id: 0,
            mint: i64::MAX,
            maxt: i64::MIN,
        }
    }

    pub fn plan(mut self, expr: &Expr) -> Result<Plan, EvalError> {
        let (root, _, wrap) = self.build(expr, &PathContext::default())?;
        let root = if wrap { step_invariant(root) } else { root };
        let (mint, maxt) = if self.maxt == i64::MIN {
            (0, 0)
        } else {
            (self.mint, self.maxt)
        };
        Ok(Plan {
            root,
            selectors: self.next_id,
            mint,
            maxt,
        })
    }

    /// Duration expressions see the step and the query range (both 0 for instant
    /// queries).
    fn duration(&self, d: &DurationValue, allow_negative: bool) -> Result<i64, EvalError> {
        let ms = match d {
            DurationValue::Fixed(ms) => *ms,
            DurationValue::Expr(e) => {
                let secs = e
                    .eval_seconds(self.params.interval, self.params.end - self.params.start)
                    .map_err(|e| EvalError::BadData(e.to_string()))?;
                if secs <= 0.0 && !allow_negative {
                    return Err(EvalError::BadData(
                        "duration must be greater than 0".to_string(),
                    ));
                }
                if !secs.is_finite() || secs.abs() * 1000.0 > MAX_DURATION_MS as f64 {
                    return Err(EvalError::BadData("duration is out of range".to_string()));
                }
                // Go converts the millisecond float to a Duration by truncation.
                (secs * 1000.0) as i64
            }
        };
        // Bounded so that times plus ranges and offsets cannot overflow.
        if ms.unsigned_abs() > MAX_DURATION_MS {
            return Err(EvalError::BadData("duration is out of range".to_string()));
        }
        Ok(ms)
    }

    fn at(&self, at: &Option<AtModifier>) -> Result<Option<i64>, EvalError> {
        let t = at.map(|a| match a {
            AtModifier::Timestamp(t) => t,
            AtModifier::Start => self.params.start,
            AtModifier::End => self.params.end,
        });
        // Far enough from the ends of i64 that offsets and ranges cannot overflow.
        if t.is_some_and(|t| t.unsigned_abs() > MAX_TIME_MS) {
            return Err(EvalError::BadData(
                "timestamp out of bounds for @ modifier".to_string(),
            ));
        }
        Ok(t)
    }

    /// Returns the node, whether it is step-invariant and whether it should be wrapped
    /// as such by its parent (upstream's `preprocessExprHelper`).
    fn build(&mut self, e: &Expr, path: &PathContext) -> Result<(Node, bool, bool), EvalError> {
        let vtype = e.value_type();
        match e {
            Expr::NumberLiteral(n) => Ok((
                Node {
                    kind: NodeKind::Number(n.val),
                    pos: n.pos,
                    vtype,
                },
                true,
                false,
            )),
            Expr::StringLiteral(s) => Ok((
                Node {
                    kind: NodeKind::String {
                        text: s.to_string_lossy(),
                        raw: s.val.clone(),
                    },
                    pos: s.pos,
                    vtype,
                },
                true,
                false,
            )),
            Expr::Paren(p) => self.build(&p.expr, path),
            Expr::Unary(u) => {
                let (inner, inv, wrap) = self.build(&u.expr, path)?;
                if u.op == UnaryOp::Plus {
                    return Ok((inner, inv, wrap));
                }
                Ok((
                    Node {
                        kind: NodeKind::Neg(Box::new(inner)),
                        pos: u.pos,
                        vtype,
                    },
                    inv,
                    wrap,
                ))
            }
            Expr::VectorSelector(vs) => {
                let sel = self.selector(vs, path, 0)?;
                let at = sel.at.is_some();
                Ok((
                    Node {
                        kind: NodeKind::VectorSelector(Box::new(sel)),
                        pos: vs.pos,
                        vtype,
                    },
                    at,
                    at,
                ))
            }
            Expr::MatrixSelector(ms) => {
                let range = self.duration(&ms.range, false)?;
                let sel = self.selector(&ms.vector_selector, path, range)?;
                let at = sel.at.is_some();
                // Functions over range vectors read them directly: never wrapped.
                Ok((
                    Node {
                        kind: NodeKind::MatrixSelector(Box::new(MatrixSelectorNode {
                            selector: sel,
                            range,
                        })),
                        pos: ms.pos,
                        vtype,
                    },
                    at,
                    false,
                ))
            }
            Expr::Subquery(sq) => {
                let range = self.duration(&sq.range, false)?;
                let step = match &sq.step {
                    Some(s) => self.duration(s, false)?,
                    None => (self.default_subquery_step)(range),
                };
                let offset = match &sq.offset {
                    Some(o) => self.duration(o, true)?,
                    None => 0,
                };
                let at = self.at(&sq.at)?;
                let mut inner_path = path.clone();
                inner_path.subquery_offset += offset;
                inner_path.subquery_range += range;
                if let Some(a) = at {
                    // `@` on a subquery resets what is inherited from above.
                    inner_path.subquery_offset = offset;
                    inner_path.subquery_range = range;
                    inner_path.subquery_at = Some(a);
                }
                inner_path.subquery_step = Some(step);
                inner_path.grouping = None;
                inner_path.needs_whole_histograms = true;
                let (inner, inv, _) = self.build(&sq.expr, &inner_path)?;
                // The inside of a subquery is evaluated once w.r.t. its own start when
                // it does not change with time.
                let inner = if inv { step_invariant(inner) } else { inner };
                Ok((
                    Node {
                        kind: NodeKind::Subquery(Box::new(SubqueryNode {
                            expr: inner,
                            range,
                            step,
                            offset,
                            at,
                        })),
                        pos: sq.pos,
                        vtype,
                    },
                    at.is_some(),
                    at.is_some(),
                ))
            }
            Expr::Call(c) => {
                let mut child_path = path.clone();
                child_path.func = Some(c.func.name.to_string());
                child_path.grouping = None;
                match c.func.name {
                    "histogram_count" | "histogram_sum" | "histogram_avg" => {
                        child_path.under_histogram_stats = true
                    }
                    "histogram_quantile" | "histogram_fraction" => {
                        child_path.needs_whole_histograms = true
                    }
                    _ => {}
                }
                let mut invariant = !AT_MODIFIER_UNSAFE_FUNCTIONS.contains(&c.func.name);
                let mut args = Vec::with_capacity(c.args.len());
                let mut wraps = Vec::with_capacity(c.args.len());
                for a in &c.args {
                    let (n, inv, wrap) = self.build(a, &child_path)?;
                    invariant &= inv;
                    // Range-vector arguments are read by the function itself.
                    wraps.push(wrap && n.vtype != ValueType::Matrix);
                    args.push(n);
                }
                if !invariant {
                    args = args
                        .into_iter()
                        .zip(wraps)
                        .map(|(n, w)| if w { step_invariant(n) } else { n })
                        .collect();
                }
                Ok((
                    Node {
                        kind: NodeKind::Call(Box::new(CallNode { func: c.func, args })),
                        pos: c.pos,
                        vtype,
                    },
                    invariant,
                    invariant,
                ))
            }
            Expr::Aggregate(a) => {
                let mut grouping = a.grouping.clone();
                grouping.sort();
                let mut child_path = path.clone();
                child_path.func = Some(a.op.as_str().to_string());
                child_path.grouping = Some((!a.without, grouping.clone()));
                let param = match &a.param {
                    Some(p) => {
                        let mut param_path = path.clone();
                        param_path.func = Some(a.op.as_str().to_string());
                        param_path.grouping = None;
                        Some(self.build(p, &param_path)?.0)
                    }
                    None => None,
                };
                let (inner, inv, wrap) = self.build(&a.expr, &child_path)?;
                Ok((
                    Node {
                        kind: NodeKind::Aggregate(Box::new(AggregateNode {
                            op: a.op,
                            expr: inner,
                            param,
                            grouping,
                            without: a.without,
                        })),
                        pos: a.pos,
                        vtype,
                    },
                    inv,
                    wrap,
                ))
            }
            Expr::Binary(b) => {
                let mut child_path = path.clone();
                child_path.func = None;
                child_path.grouping = None;
                // Trimming works on the buckets.
                if matches!(b.op, BinaryOp::TrimUpper | BinaryOp::TrimLower) {
                    child_path.needs_whole_histograms = true;
                }
                let (lhs, inv_l, wrap_l) = self.build(&b.lhs, &child_path)?;
                let (rhs, inv_r, wrap_r) = self.build(&b.rhs, &child_path)?;
                let pos = e.pos();
                if inv_l && inv_r {
                    return Ok((
                        Node {
                            kind: NodeKind::Binary(Box::new(BinaryNode {
                                op: b.op,
                                lhs,
                                rhs,
                                matching: b.matching.clone(),
                                return_bool: b.return_bool,
                            })),
                            pos,
                            vtype,
                        },
                        true,
                        true,
                    ));
                }
                let lhs = if wrap_l { step_invariant(lhs) } else { lhs };
                let rhs = if wrap_r { step_invariant(rhs) } else { rhs };
                Ok((
                    Node {
                        kind: NodeKind::Binary(Box::new(BinaryNode {
                            op: b.op,
                            lhs,
                            rhs,
                            matching: b.matching.clone(),
                            return_bool: b.return_bool,
                        })),
                        pos,
                        vtype,
                    },
                    false,
                    false,
                ))
            }
        }
    }

    /// Resolves a selector and records the time range it reads (upstream's
    /// `getTimeRangesForSelector`); `range` is the range of an enclosing range selector.
    fn selector(
        &mut self,
        vs: &crate::ast::VectorSelector,
        path: &PathContext,
        range: i64,
    ) -> Result<SelectorNode, EvalError> {
        let offset = match &vs.offset {
            Some(o) => self.duration(o, true)?,
            None => 0,
        };
        let at = self.at(&vs.at)?;
        let lookback = self.params.lookback;
        let (mut start, mut end) = match path.subquery_at {
            Some(t) => (t, t),
            None => (self.params.start, self.params.end),
        };
        if let Some(t) = at {
            start = t;
            end = t;
        } else {
            start = start - path.subquery_offset - path.subquery_range;
            end -= path.subquery_offset;
        }
        if range == 0 {
            // Samples exactly the lookback delta before the evaluation time are out.
            start -= lookback - 1;
            if vs.smoothed {
                end += lookback;
            }
        } else if vs.anchored {
            start -= lookback + range - 1;
        } else if vs.smoothed {
            start -= lookback + range - 1;
            end += lookback;
        } else {
            start -= range - 1;
        }
        start -= offset;
        end -= offset;
        self.mint = self.mint.min(start);
        self.maxt = self.maxt.max(end);

        let (by, grouping) = match &path.grouping {
            Some((by, g)) => (*by, g.clone()),
            None => (false, Vec::new()),
        };
        let hints = SelectHints {
            start,
            end,
            step: path.subquery_step.unwrap_or(self.params.interval),
            func: path.func.clone().unwrap_or_default(),
            grouping,
            by,
            range,
        };
        let id = self.next_id;
        self.next_id += 1;
        Ok(SelectorNode {
            id,
            matchers: vs.matchers.clone(),
            offset,
            at,
            anchored: vs.anchored,
            smoothed: vs.smoothed,
            histogram_stats_only: path.under_histogram_stats && !path.needs_whole_histograms,
            hints,
        })
    }
}

fn step_invariant(n: Node) -> Node {
    let pos = n.pos;
    let vtype = n.vtype;
    Node {
        kind: NodeKind::StepInvariant(Box::new(n)),
        pos,
        vtype,
    }
}
