//! The multi-line form of an expression behind `/api/v1/format_query`, as upstream's
//! `Pretty(level)` (`promql/parser/prettier.go`): a node whose single-line text is longer
//! than 100 characters is split, its children indented by two spaces per level.

use crate::ast::*;
use crate::printer::{write_aggregate_head, write_binary_operator, write_subquery_suffix};

/// Lines longer than this are split.
pub const MAX_CHARACTERS_PER_LINE: usize = 100;

const INDENT: &str = "  ";

impl Expr {
    /// The prettified text of the expression at nesting `level` (0 for a whole query).
    pub fn pretty(&self, level: usize) -> String {
        let mut out = String::new();
        write_pretty(&mut out, self, level);
        out
    }
}

fn indent(out: &mut String, level: usize) {
    for _ in 0..level {
        out.push_str(INDENT);
    }
}

/// Upstream measures the length in bytes.
fn needs_split(text: &str) -> bool {
    text.len() > MAX_CHARACTERS_PER_LINE
}

fn write_pretty(out: &mut String, e: &Expr, level: usize) {
    let flat = e.to_promql();
    match e {
        Expr::Aggregate(a) if needs_split(&flat) => {
            indent(out, level);
            write_aggregate_head(out, a);
            out.push_str("(\n");
            if let Some(p) = &a.param {
                write_pretty(out, p, level + 1);
                out.push_str(",\n");
            }
            write_pretty(out, &a.expr, level + 1);
            out.push('\n');
            indent(out, level);
            out.push(')');
        }
        Expr::Binary(b) if needs_split(&flat) => {
            write_pretty(out, &b.lhs, level + 1);
            out.push('\n');
            indent(out, level);
            write_binary_operator(out, b);
            out.push('\n');
            write_pretty(out, &b.rhs, level + 1);
        }
        Expr::Call(c) if needs_split(&flat) => {
            indent(out, level);
            out.push_str(c.func.name);
            out.push_str("(\n");
            for (i, a) in c.args.iter().enumerate() {
                if i > 0 {
                    out.push_str(",\n");
                }
                write_pretty(out, a, level + 1);
            }
            out.push('\n');
            indent(out, level);
            out.push(')');
        }
        Expr::Paren(p) if needs_split(&flat) => {
            indent(out, level);
            out.push_str("(\n");
            write_pretty(out, &p.expr, level + 1);
            out.push('\n');
            indent(out, level);
            out.push(')');
        }
        Expr::Subquery(s) => {
            // As upstream: an unsplit subquery is not indented.
            if needs_split(&flat) {
                write_pretty(out, &s.expr, level);
                write_subquery_suffix(out, s);
            } else {
                out.push_str(&flat);
            }
        }
        Expr::Unary(u) => {
            let child = u.expr.pretty(level);
            indent(out, level);
            out.push_str(u.op.as_str());
            out.push_str(child.trim());
        }
        _ => {
            indent(out, level);
            out.push_str(&flat);
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::{ParserOptions, parse_expr};

    fn pretty(q: &str) -> String {
        parse_expr(q, &ParserOptions::all()).unwrap().pretty(0)
    }

    #[test]
    fn short_queries_stay_on_one_line() {
        assert_eq!(
            pretty("sum(rate(foo[5m])) by (job)"),
            "sum by (job) (rate(foo[5m]))"
        );
        assert_eq!(pretty("-foo"), "-foo");
    }

    #[test]
    fn long_queries_split() {
        let q = "sum by (job) (rate(http_requests_total{job=\"prometheus\", handler=\"/api/v1/query_range\", code=\"200\"}[5m]))";
        assert_eq!(
            pretty(q),
            "sum by (job) (\n  rate(http_requests_total{code=\"200\",handler=\"/api/v1/query_range\",job=\"prometheus\"}[5m])\n)"
        );
        let q = "a_very_long_metric_name_number_one_for_testing + on (instance) group_left (job) a_very_long_metric_name_number_two";
        assert_eq!(
            pretty(q),
            "  a_very_long_metric_name_number_one_for_testing\n+ on (instance) group_left (job)\n  a_very_long_metric_name_number_two"
        );
        let q = "topk(5, a_very_long_metric_name_number_one_for_testing_purposes{job=\"a_long_job_name_for_the_prettier_test\"})";
        assert_eq!(
            pretty(q),
            "topk(\n  5,\n  a_very_long_metric_name_number_one_for_testing_purposes{job=\"a_long_job_name_for_the_prettier_test\"}\n)"
        );
    }
}
