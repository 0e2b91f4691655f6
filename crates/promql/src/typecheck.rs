//! The checks upstream runs on a syntactically valid tree (`checkAST`): argument counts
//! and types, operand types of operators, vector matching rules and selectors that would
//! select everything. It also settles two things the evaluator relies on: set operators
//! match many-to-many, and vector matching is dropped when a side is a scalar.

use hearth_model::METRIC_NAME;
use hearth_model::names::go_quote;

use crate::ast::*;
use crate::error::ParseErrorItem;

/// Checks `expr`, appending problems to `errors`. `input` is the query the positions
/// refer to.
pub(crate) fn check_ast(input: &str, expr: &mut Expr, errors: &mut Vec<ParseErrorItem>) {
    let mut checker = Checker { input, errors };
    checker.check(expr);
}

struct Checker<'a, 'e> {
    input: &'a str,
    errors: &'e mut Vec<ParseErrorItem>,
}

impl Checker<'_, '_> {
    fn error(&mut self, pos: PosRange, message: impl Into<String>) {
        self.errors.push(ParseErrorItem {
            pos,
            message: message.into(),
        });
    }

    fn expect_type(&mut self, e: &mut Expr, want: ValueType, context: &str) {
        let t = self.check(e);
        if t != want {
            self.error(
                e.pos(),
                format!(
                    "expected type {} in {context}, got {}",
                    want.documented(),
                    t.documented()
                ),
            );
        }
    }

    /// The operator's text between the operands, as upstream locates it for errors.
    fn operator_range(&self, b: &BinaryExpr) -> PosRange {
        let bytes = self.input.as_bytes();
        let is_space = |i: usize| bytes.get(i).is_some_and(|c| c.is_ascii_whitespace());
        let mut start = b.lhs.pos().end;
        while start < bytes.len() && is_space(start) {
            start += 1;
        }
        let mut end = b.rhs.pos().start.saturating_sub(1);
        while end > 0 && is_space(end) {
            end -= 1;
        }
        PosRange::new(start, end)
    }

    fn check(&mut self, e: &mut Expr) -> ValueType {
        let typ = e.value_type();
        let pos = e.pos();
        match e {
            Expr::Aggregate(a) => {
                self.expect_type(&mut a.expr, ValueType::Vector, "aggregation expression");
                let param_type = match a.op {
                    AggregateOp::Topk
                    | AggregateOp::Bottomk
                    | AggregateOp::Quantile
                    | AggregateOp::Limitk
                    | AggregateOp::LimitRatio => Some(ValueType::Scalar),
                    AggregateOp::CountValues => Some(ValueType::String),
                    _ => None,
                };
                if let (Some(want), Some(param)) = (param_type, a.param.as_mut()) {
                    self.expect_type(param, want, "aggregation parameter");
                }
            }
            Expr::Binary(b) => self.check_binary(b, pos),
            Expr::Call(c) => self.check_call(c),
            Expr::Paren(p) => {
                self.check(&mut p.expr);
            }
            Expr::Unary(u) => {
                let t = self.check(&mut u.expr);
                if t != ValueType::Scalar && t != ValueType::Vector {
                    self.error(
                        pos,
                        format!(
                            "unary expression only allowed on expressions of type scalar or instant vector, got {}",
                            go_quote(t.documented())
                        ),
                    );
                }
            }
            Expr::Subquery(s) => {
                let t = self.check(&mut s.expr);
                if t != ValueType::Vector {
                    self.error(
                        pos,
                        format!("subquery is only allowed on instant vector, got {t} instead"),
                    );
                }
            }
            Expr::MatrixSelector(m) => self.check_vector_selector(&m.vector_selector),
            Expr::VectorSelector(vs) => self.check_vector_selector(vs),
            Expr::NumberLiteral(_) | Expr::StringLiteral(_) => {}
        }
        typ
    }

    fn check_binary(&mut self, b: &mut BinaryExpr, pos: PosRange) {
        let lt = self.check(&mut b.lhs);
        let rt = self.check(&mut b.rhs);
        let op = b.op;
        if b.return_bool && !op.is_comparison() {
            let r = self.operator_range(b);
            self.error(r, "bool modifier can only be used on comparison operators");
        }
        if op.is_comparison()
            && !b.return_bool
            && b.lhs.value_type() == ValueType::Scalar
            && b.rhs.value_type() == ValueType::Scalar
        {
            let r = self.operator_range(b);
            self.error(r, "comparisons between scalars must use BOOL modifier");
        }
        if let Some(m) = &mut b.matching
            && op.is_set_operator()
            && m.card == Cardinality::OneToOne
        {
            m.card = Cardinality::ManyToMany;
        }
        if let Some(m) = &b.matching
            && m.on
        {
            let clashes: Vec<String> = m
                .matching_labels
                .iter()
                .filter(|l| m.include.contains(l))
                .cloned()
                .collect();
            for l in clashes {
                let r = self.operator_range(b);
                self.error(
                    r,
                    format!(
                        "label {} must not occur in ON and GROUP clause at once",
                        go_quote(&l)
                    ),
                );
            }
        }
        let operand_error = "binary expression must contain only scalar and instant vector types";
        if lt != ValueType::Scalar && lt != ValueType::Vector {
            self.error(b.lhs.pos(), operand_error);
        }
        if rt != ValueType::Scalar && rt != ValueType::Vector {
            self.error(b.rhs.pos(), operand_error);
        }
        if lt != ValueType::Vector || rt != ValueType::Vector {
            if let Some(m) = b.matching.take() {
                if !m.matching_labels.is_empty() {
                    self.error(pos, "vector matching only allowed between instant vectors");
                }
                if m.fill.is_some() {
                    self.error(
                        pos,
                        "filling in missing series only allowed between instant vectors",
                    );
                }
            }
        } else if op.is_set_operator()
            && let Some(m) = &b.matching
        {
            let (card, fill) = (m.card, m.fill.is_some());
            if matches!(card, Cardinality::OneToMany | Cardinality::ManyToOne) {
                self.error(
                    pos,
                    format!(
                        "no grouping allowed for {} operation",
                        go_quote(op.as_str())
                    ),
                );
            }
            if card != Cardinality::ManyToMany {
                self.error(pos, "set operations must always be many-to-many");
            }
            if fill {
                self.error(
                    pos,
                    "filling in missing series not allowed for set operators",
                );
            }
        }
        if (lt == ValueType::Scalar || rt == ValueType::Scalar) && op.is_set_operator() {
            self.error(
                pos,
                format!(
                    "set operator {} not allowed in binary scalar expression",
                    go_quote(op.as_str())
                ),
            );
        }
    }

    fn check_call(&mut self, c: &mut Call) {
        let func = c.func;
        let name = go_quote(func.name);
        let nargs = func.arg_types.len();
        let given = c.args.len();
        if func.variadic == 0 {
            if nargs != given {
                self.error(
                    c.pos,
                    format!("expected {nargs} argument(s) in call to {name}, got {given}"),
                );
            }
        } else {
            let required = nargs.saturating_sub(1);
            if required > given {
                self.error(
                    c.pos,
                    format!(
                        "expected at least {required} argument(s) in call to {name}, got {given}"
                    ),
                );
            } else if func.variadic > 0 {
                let max = required + func.variadic as usize;
                if max < given {
                    self.error(
                        c.pos,
                        format!(
                            "expected at most {max} argument(s) in call to {name}, got {given}"
                        ),
                    );
                }
            }
        }

        if func.name == "info" && given > 1 {
            let call_pos = c.pos;
            if let Some(arg) = c.args.get_mut(1) {
                let t = arg.value_type();
                if t != ValueType::Vector {
                    self.error(
                        call_pos,
                        format!(
                            "expected type instant vector in call to function {name}, got {}",
                            t.documented()
                        ),
                    );
                }
                let arg_pos = arg.pos();
                match arg {
                    Expr::VectorSelector(vs) if vs.name.is_some() => self.error(
                        arg_pos,
                        "expected label selectors only, got vector selector instead",
                    ),
                    Expr::VectorSelector(vs) => vs.bypass_empty_matcher_check = true,
                    _ => self.error(arg_pos, "expected label selectors only"),
                }
            }
        }

        for (i, arg) in c.args.iter_mut().enumerate() {
            let idx = if i >= nargs {
                if func.variadic == 0 {
                    break;
                }
                nargs.saturating_sub(1)
            } else {
                i
            };
            let t = self.check(arg);
            if let Some(&want) = func.arg_types.get(idx)
                && t != want
            {
                self.error(
                    arg.pos(),
                    format!(
                        "expected type {} in call to function {name}, got {}",
                        want.documented(),
                        t.documented()
                    ),
                );
            }
        }
    }

    fn check_vector_selector(&mut self, vs: &VectorSelector) {
        if let Some(name) = &vs.name {
            // The last matcher is the one for the name outside the braces.
            let inside = vs.matchers.len().saturating_sub(1);
            for m in &vs.matchers[..inside] {
                if m.name == METRIC_NAME {
                    self.error(
                        vs.pos,
                        format!(
                            "metric name must not be set twice: {} or {}",
                            go_quote(name),
                            go_quote(&m.value)
                        ),
                    );
                }
            }
            return;
        }
        if !vs.bypass_empty_matcher_check && vs.matchers.iter().all(|m| m.matches_empty()) {
            self.error(
                vs.pos,
                "vector selector must contain at least one non-empty matcher",
            );
        }
    }
}
