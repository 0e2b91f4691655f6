//! Canonical single-line text of an expression, exactly as upstream's `Expr.String()`
//! (`promql/parser/printer.go`): `sum by (job) (rate(x[5m]))`,
//! `a + on (b) group_left (c) d`, `x offset -5m @ 100.000`.
//!
//! Parsing the printed text gives the same tree again (positions and matcher order aside).

use std::fmt::{self, Write};

use hearth_model::duration::write_duration;
use hearth_model::names::write_label_name;

use crate::ast::*;
use crate::go_format::{
    escape_replacement_characters, format_float_f, format_float_fixed, format_float_g,
    go_quote_bytes,
};

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = String::new();
        write_expr(&mut s, self);
        f.write_str(&s)
    }
}

impl fmt::Display for DurationExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = String::new();
        write_duration_expr(&mut s, self);
        f.write_str(&s)
    }
}

impl Expr {
    /// The canonical text (same as `to_string()`).
    pub fn to_promql(&self) -> String {
        let mut s = String::new();
        write_expr(&mut s, self);
        s
    }
}

pub(crate) fn write_expr(out: &mut String, e: &Expr) {
    match e {
        Expr::Aggregate(a) => {
            write_aggregate_head(out, a);
            out.push('(');
            if let Some(p) = &a.param {
                write_expr(out, p);
                out.push_str(", ");
            }
            write_expr(out, &a.expr);
            out.push(')');
        }
        Expr::Binary(b) => {
            write_expr(out, &b.lhs);
            out.push(' ');
            write_binary_operator(out, b);
            out.push(' ');
            write_expr(out, &b.rhs);
        }
        Expr::Call(c) => {
            out.push_str(c.func.name);
            out.push('(');
            for (i, a) in c.args.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_expr(out, a);
            }
            out.push(')');
        }
        Expr::MatrixSelector(m) => {
            let vs = &m.vector_selector;
            write_selector_core(out, vs);
            out.push('[');
            write_duration_value(out, &m.range);
            out.push(']');
            if vs.anchored {
                out.push_str(" anchored");
            } else if vs.smoothed {
                out.push_str(" smoothed");
            }
            write_at(out, vs.at);
            write_offset(out, vs.offset.as_ref());
        }
        Expr::NumberLiteral(n) => write_number(out, n.val, n.duration),
        Expr::Paren(p) => {
            out.push('(');
            write_expr(out, &p.expr);
            out.push(')');
        }
        Expr::StringLiteral(s) => {
            out.push_str(&escape_replacement_characters(&go_quote_bytes(&s.val)))
        }
        Expr::Subquery(s) => {
            write_expr(out, &s.expr);
            write_subquery_suffix(out, s);
        }
        Expr::Unary(u) => {
            out.push_str(u.op.as_str());
            write_expr(out, &u.expr);
        }
        Expr::VectorSelector(vs) => {
            write_selector_core(out, vs);
            write_at(out, vs.at);
            if vs.anchored {
                out.push_str(" anchored");
            } else if vs.smoothed {
                out.push_str(" smoothed");
            }
            write_offset(out, vs.offset.as_ref());
        }
    }
}

/// `sum`, `sum by (a, b) `, `sum without () `: the part before the arguments.
pub(crate) fn write_aggregate_head(out: &mut String, a: &AggregateExpr) {
    out.push_str(a.op.as_str());
    if a.without {
        out.push_str(" without (");
        write_labels(out, &a.grouping);
        out.push_str(") ");
    } else if !a.grouping.is_empty() {
        out.push_str(" by (");
        write_labels(out, &a.grouping);
        out.push_str(") ");
    }
}

/// The operator with `bool`, matching and fill modifiers: `+ on (a) group_left (b)`.
pub(crate) fn write_binary_operator(out: &mut String, b: &BinaryExpr) {
    out.push_str(b.op.as_str());
    if b.return_bool {
        out.push_str(" bool");
    }
    let Some(m) = &b.matching else { return };
    let grouped = matches!(m.card, Cardinality::ManyToOne | Cardinality::OneToMany);
    if !m.matching_labels.is_empty() || m.on || grouped {
        out.push_str(if m.on { " on (" } else { " ignoring (" });
        write_labels(out, &m.matching_labels);
        out.push(')');
    }
    if grouped {
        out.push_str(if m.card == Cardinality::ManyToOne {
            " group_left ("
        } else {
            " group_right ("
        });
        write_labels(out, &m.include);
        out.push(')');
    }
    match m.fill {
        FillModifier::None => {}
        FillModifier::Both(v) => {
            let _ = write!(out, " fill ({})", format_float_g(v));
        }
        FillModifier::Sides { lhs, rhs } => {
            if let Some(v) = lhs {
                let _ = write!(out, " fill_left ({})", format_float_g(v));
            }
            if let Some(v) = rhs {
                let _ = write!(out, " fill_right ({})", format_float_g(v));
            }
        }
    }
}

fn write_labels(out: &mut String, labels: &[String]) {
    for (i, l) in labels.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        let mut name = String::new();
        write_label_name(&mut name, l);
        out.push_str(&escape_replacement_characters(&name));
    }
}

/// The metric name and matchers, sorted as upstream prints them, without modifiers.
fn write_selector_core(out: &mut String, vs: &VectorSelector) {
    let name = vs.name.as_deref().unwrap_or("");
    let mut matchers: Vec<String> = vs
        .matchers
        .iter()
        .filter(|m| {
            // The matcher of the name outside the braces is printed as the name.
            !(m.name == hearth_model::METRIC_NAME
                && m.op == hearth_model::MatchOp::Equal
                && m.value == name
                && !m.value.is_empty())
        })
        .map(|m| escape_replacement_characters(&m.to_string()))
        .collect();
    out.push_str(name);
    if !matchers.is_empty() {
        matchers.sort();
        out.push('{');
        out.push_str(&matchers.join(","));
        out.push('}');
    }
}

fn write_at(out: &mut String, at: Option<AtModifier>) {
    match at {
        Some(AtModifier::Timestamp(ms)) => {
            out.push_str(" @ ");
            out.push_str(&format_float_fixed(ms as f64 / 1000.0, 3));
        }
        Some(AtModifier::Start) => out.push_str(" @ start()"),
        Some(AtModifier::End) => out.push_str(" @ end()"),
        None => {}
    }
}

fn write_offset(out: &mut String, offset: Option<&DurationValue>) {
    match offset {
        Some(DurationValue::Expr(e)) => {
            out.push_str(" offset ");
            write_duration_expr(out, e);
        }
        Some(DurationValue::Fixed(ms)) if *ms > 0 => {
            out.push_str(" offset ");
            let _ = write_duration(out, *ms);
        }
        Some(DurationValue::Fixed(ms)) if *ms < 0 => {
            out.push_str(" offset -");
            let _ = write_duration(out, ms.saturating_neg());
        }
        _ => {}
    }
}

fn write_duration_value(out: &mut String, d: &DurationValue) {
    match d {
        DurationValue::Fixed(ms) => {
            let _ = write_duration(out, *ms);
        }
        DurationValue::Expr(e) => write_duration_expr(out, e),
    }
}

/// `[range:step] @ t offset o` of a subquery.
pub(crate) fn write_subquery_suffix(out: &mut String, s: &SubqueryExpr) {
    out.push('[');
    write_duration_value(out, &s.range);
    out.push(':');
    if let Some(step) = &s.step {
        write_duration_value(out, step);
    }
    out.push(']');
    write_at(out, s.at);
    write_offset(out, s.offset.as_ref());
}

/// A number literal: as a duration when written as one, else Go's shortest form.
fn write_number(out: &mut String, val: f64, duration: bool) {
    if !duration {
        out.push_str(&format_float_f(val));
        return;
    }
    // Rounded to whole milliseconds (upstream truncates, which can print `4s18ms` as
    // `4s17ms`), and `-0s` keeps its sign (upstream prints `0s`, and `1 / -0s` would
    // change meaning): both keep the printed text a fixed point.
    let ms = crate::ast::seconds_to_millis(val.abs());
    if val.is_sign_negative() {
        out.push('-');
    }
    let _ = write_duration(out, ms);
}

pub(crate) fn write_duration_expr(out: &mut String, e: &DurationExpr) {
    if e.wrapped {
        out.push('(');
    }
    match &e.kind {
        DurationExprKind::Number { value, duration } => write_number(out, *value, *duration),
        DurationExprKind::Step => out.push_str("step()"),
        DurationExprKind::Range => out.push_str("range()"),
        DurationExprKind::MinOf(a, b) | DurationExprKind::MaxOf(a, b) => {
            out.push_str(if matches!(e.kind, DurationExprKind::MinOf(..)) {
                "min_of("
            } else {
                "max_of("
            });
            write_duration_expr(out, a);
            out.push_str(", ");
            write_duration_expr(out, b);
            out.push(')');
        }
        DurationExprKind::Neg(inner) => {
            out.push('-');
            write_duration_expr(out, inner);
        }
        DurationExprKind::Binary { op, lhs, rhs } => {
            write_duration_expr(out, lhs);
            out.push(' ');
            out.push_str(op.as_str());
            out.push(' ');
            write_duration_expr(out, rhs);
        }
    }
    if e.wrapped {
        out.push(')');
    }
}
