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
        self.pretty_with_limit(level, MAX_CHARACTERS_PER_LINE)
    }

    /// [`Expr::pretty`] with another line length limit (upstream's tests use 10).
    pub fn pretty_with_limit(&self, level: usize, max_line: usize) -> String {
        let mut out = String::new();
        Prettier { max_line }.write(&mut out, self, level);
        out
    }
}

struct Prettier {
    max_line: usize,
}

fn indent(out: &mut String, level: usize) {
    for _ in 0..level {
        out.push_str(INDENT);
    }
}

impl Prettier {
    /// Upstream measures the length in bytes.
    fn needs_split(&self, text: &str) -> bool {
        text.len() > self.max_line
    }

    fn write(&self, out: &mut String, e: &Expr, level: usize) {
        let flat = e.to_promql();
        match e {
            Expr::Aggregate(a) if self.needs_split(&flat) => {
                indent(out, level);
                write_aggregate_head(out, a);
                out.push_str("(\n");
                if let Some(p) = &a.param {
                    self.write(out, p, level + 1);
                    out.push_str(",\n");
                }
                self.write(out, &a.expr, level + 1);
                out.push('\n');
                indent(out, level);
                out.push(')');
            }
            Expr::Binary(b) if self.needs_split(&flat) => {
                self.write(out, &b.lhs, level + 1);
                out.push('\n');
                indent(out, level);
                write_binary_operator(out, b);
                out.push('\n');
                self.write(out, &b.rhs, level + 1);
            }
            Expr::Call(c) if self.needs_split(&flat) => {
                indent(out, level);
                out.push_str(c.func.name);
                out.push_str("(\n");
                for (i, a) in c.args.iter().enumerate() {
                    if i > 0 {
                        out.push_str(",\n");
                    }
                    self.write(out, a, level + 1);
                }
                out.push('\n');
                indent(out, level);
                out.push(')');
            }
            Expr::Paren(p) if self.needs_split(&flat) => {
                indent(out, level);
                out.push_str("(\n");
                self.write(out, &p.expr, level + 1);
                out.push('\n');
                indent(out, level);
                out.push(')');
            }
            Expr::Subquery(s) => {
                // As upstream: an unsplit subquery is not indented.
                if self.needs_split(&flat) {
                    self.write(out, &s.expr, level);
                    write_subquery_suffix(out, s);
                } else {
                    out.push_str(&flat);
                }
            }
            Expr::Unary(u) => {
                let mut child = String::new();
                self.write(&mut child, &u.expr, level);
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

    /// Upstream's `prettier_test.go` cases, which use a limit of 10 characters.
    #[test]
    fn upstream_cases_with_short_lines() {
        let cases = [
            ("a + b", "a + b"),
            ("a == bool 1", "  a\n== bool\n  1"),
            ("a == 1024000", "  a\n==\n  1024000"),
            ("a + ignoring(job) b", "  a\n+ ignoring (job)\n  b"),
            ("foo_1 + foo_2", "  foo_1\n+\n  foo_2"),
            (
                "foo_1 + foo_2 + foo_3",
                "    foo_1\n  +\n    foo_2\n+\n  foo_3",
            ),
            ("foo + baar + foo_3", "  foo + baar\n+\n  foo_3"),
            (
                "foo_1 + ignoring(foo) foo_2 + ignoring(job) group_left foo_3 + on(instance) group_right foo_4",
                "      foo_1\n    + ignoring (foo)\n      foo_2\n  + ignoring (job) group_left ()\n    foo_3\n+ on (instance) group_right ()\n  foo_4",
            ),
            ("sum(foo)", "sum(foo)"),
            (
                r#"sum without(job,foo) (task:errors:rate10s{job="s"})"#,
                "sum without (job, foo) (\n  task:errors:rate10s{job=\"s\"}\n)",
            ),
            (
                r#"topk(10, ask:errors:rate10s{job="s"})"#,
                "topk(\n  10,\n  ask:errors:rate10s{job=\"s\"}\n)",
            ),
            ("(foo_1 + foo_2)", "(\n    foo_1\n  +\n    foo_2\n)"),
            ("-(foo_1 + foo_2)", "-(\n    foo_1\n  +\n    foo_2\n)"),
            ("rate(foo_1[5m])", "rate(\n  foo_1[5m]\n)"),
        ];
        for (q, want) in cases {
            let e = parse_expr(q, &ParserOptions::all()).unwrap();
            assert_eq!(e.pretty_with_limit(0, 10), want, "{q}");
        }
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
