#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Parser behaviour against upstream's `parse_test.go` and `printer_test.go`: error
//! messages with positions, precedence, modifiers, feature switches, printed forms.

use hearth_promql::*;

fn parse(q: &str) -> Expr {
    parse_expr(q, &ParserOptions::all()).unwrap_or_else(|e| panic!("{q}: {e}"))
}

fn error(q: &str) -> (usize, usize, String) {
    let e = parse_expr(q, &ParserOptions::all()).expect_err(q);
    let first = &e.errors[0];
    (first.pos.start, first.pos.end, first.message.clone())
}

/// Upstream's error cases: input, position range and message of the first error.
#[test]
fn errors_like_upstream() {
    let huge = "9".repeat(309);
    let huge_message =
        format!("error parsing number: strconv.ParseFloat: parsing \"{huge}\": value out of range");
    let cases: Vec<(&str, usize, usize, &str)> = vec![
        ("", 0, 0, "no expression found in input"),
        ("# just a comment\n\n", 0, 0, "no expression found in input"),
        ("1+", 2, 2, "unexpected end of input"),
        (".", 0, 1, "unexpected character: '.'"),
        ("2.5.", 0, 4, r#"bad number or duration syntax: "2.5.""#),
        ("100..4", 0, 6, r#"bad number or duration syntax: "100..""#),
        ("0deadbeef", 0, 9, r#"bad number or duration syntax: "0de""#),
        ("1 /", 3, 3, "unexpected end of input"),
        ("*1", 0, 1, "unexpected <op:*>"),
        ("(1))", 4, 4, "unexpected right parenthesis ')'"),
        ("((1)", 4, 4, "unclosed left parenthesis"),
        (&huge, 0, 309, &huge_message),
        ("(", 1, 1, "unclosed left parenthesis"),
        (
            "1 and 1",
            0,
            7,
            r#"set operator "and" not allowed in binary scalar expression"#,
        ),
        (
            "1 == 1",
            2,
            3,
            "comparisons between scalars must use BOOL modifier",
        ),
        (
            "1 or 1",
            0,
            6,
            r#"set operator "or" not allowed in binary scalar expression"#,
        ),
        (
            "1 unless 1",
            0,
            10,
            r#"set operator "unless" not allowed in binary scalar expression"#,
        ),
        ("1 !~ 1", 2, 6, "unexpected character after '!': '~'"),
        ("1 =~ 1", 2, 6, "unexpected character after '=': '~'"),
        (
            r#"-"string""#,
            0,
            9,
            r#"unary expression only allowed on expressions of type scalar or instant vector, got "string""#,
        ),
        (
            "-test[5m]",
            0,
            9,
            r#"unary expression only allowed on expressions of type scalar or instant vector, got "range vector""#,
        ),
        ("*test", 0, 1, "unexpected <op:*>"),
        ("@@", 0, 1, "unexpected <op:@>"),
        (
            "1 offset 1d",
            0,
            1,
            "offset modifier must be preceded by an instant vector selector or range vector selector or a subquery",
        ),
        (
            "foo offset 1s offset 2s",
            0,
            13,
            "offset may not be set multiple times",
        ),
        ("a - on(b) ignoring(c) d", 10, 18, "unexpected <ignoring>"),
        (
            "foo and 1",
            0,
            9,
            r#"set operator "and" not allowed in binary scalar expression"#,
        ),
        (
            "1 or on(bar) foo",
            0,
            16,
            "vector matching only allowed between instant vectors",
        ),
        (
            "foo == on(bar) 10",
            0,
            17,
            "vector matching only allowed between instant vectors",
        ),
        (
            "foo + group_left(baz) bar",
            6,
            16,
            "unexpected <group_left>",
        ),
        (
            "foo and on(bar) group_left(baz) bar",
            0,
            35,
            r#"no grouping allowed for "and" operation"#,
        ),
        (
            "foo unless on(bar) group_right(baz) bar",
            0,
            39,
            r#"no grouping allowed for "unless" operation"#,
        ),
        (
            r#"http_requests{group="production"} + on(instance) group_left(job,instance) cpu_count{type="smp"}"#,
            34,
            72,
            r#"label "instance" must not occur in ON and GROUP clause at once"#,
        ),
        (
            "foo + bool bar",
            4,
            9,
            "bool modifier can only be used on comparison operators",
        ),
        (
            "foo + bool 10",
            4,
            9,
            "bool modifier can only be used on comparison operators",
        ),
        (
            "foo and bool 10",
            4,
            11,
            "bool modifier can only be used on comparison operators",
        ),
        (
            "foo @ +Inf",
            0,
            3,
            "timestamp out of bounds for @ modifier: +Inf",
        ),
        (
            "foo @ -Inf",
            0,
            3,
            "timestamp out of bounds for @ modifier: -Inf",
        ),
        (
            "foo @ NaN",
            0,
            3,
            "timestamp out of bounds for @ modifier: NaN",
        ),
        (
            "foo @ 9223372036854775808.000000",
            0,
            3,
            "timestamp out of bounds for @ modifier: 9223372036854775808.000000",
        ),
        ("{", 1, 1, "unexpected end of input inside braces"),
        ("}", 0, 1, "unexpected character: '}'"),
        ("some{", 5, 5, "unexpected end of input inside braces"),
        ("some}", 4, 5, "unexpected character: '}'"),
        (
            "some_metric{a=b}",
            14,
            15,
            r#"unexpected identifier "b" in label matching, expected string"#,
        ),
        (
            r#"some_metric{a:b="b"}"#,
            13,
            20,
            "unexpected character inside braces: ':'",
        ),
        (
            r#"foo{a*"b"}"#,
            5,
            10,
            "unexpected character inside braces: '*'",
        ),
        (
            r#"foo{a>="b"}"#,
            5,
            11,
            "unexpected character inside braces: '>'",
        ),
        (
            "foo{gibberish}",
            13,
            14,
            r#"unexpected "}" in label matching, expected label matching operator"#,
        ),
        ("foo{1}", 4, 6, "unexpected character inside braces: '1'"),
        (
            "{}",
            0,
            2,
            "vector selector must contain at least one non-empty matcher",
        ),
        (
            r#"{x=""}"#,
            0,
            6,
            "vector selector must contain at least one non-empty matcher",
        ),
        (
            r#"{x=~".*"}"#,
            0,
            9,
            "vector selector must contain at least one non-empty matcher",
        ),
        (
            r#"{x!~".+"}"#,
            0,
            9,
            "vector selector must contain at least one non-empty matcher",
        ),
        (
            r#"{x!="a"}"#,
            0,
            8,
            "vector selector must contain at least one non-empty matcher",
        ),
        (
            r#"foo{__name__="bar"}"#,
            0,
            19,
            r#"metric name must not be set twice: "foo" or "bar""#,
        ),
        (
            "foo{__name__= =}",
            14,
            15,
            r#"unexpected "=" in label matching, expected string"#,
        ),
        (
            "foo{,}",
            4,
            5,
            r#"unexpected "," in label matching, expected identifier or "}""#,
        ),
        (
            r#"foo{__name__ == "bar"}"#,
            14,
            15,
            r#"unexpected "=" in label matching, expected string"#,
        ),
        (
            r#"foo{__name__="bar" lol}"#,
            19,
            22,
            r#"unexpected identifier "lol" in label matching, expected "," or "}""#,
        ),
        (
            r#"foo{"a"=}"#,
            8,
            9,
            r#"unexpected "}" in label matching, expected string"#,
        ),
        ("foo[5mm]", 4, 8, r#"bad number or duration syntax: "5mm""#),
        ("foo[5m1]", 4, 8, r#"bad number or duration syntax: "5m1""#),
        (
            "foo[5m:1m1]",
            7,
            11,
            r#"bad number or duration syntax: "1m1""#,
        ),
        (
            "foo[5y1hs]",
            4,
            9,
            r#"unknown unit "hs" in duration "5y1hs""#,
        ),
        ("foo[5m1h]", 4, 8, r#"not a valid duration string: "5m1h""#),
        ("foo[5m1m]", 4, 8, r#"not a valid duration string: "5m1m""#),
        ("foo[0m]", 4, 6, "duration must be greater than 0"),
        (
            r#"foo["5m"]"#,
            4,
            9,
            r#"unexpected character in duration expression: '"'"#,
        ),
        (
            "foo[]",
            4,
            5,
            r#"unexpected "]" in subquery or range selector, expected number, duration, step(), or range()"#,
        ),
        ("foo[-1]", 4, 6, "duration must be greater than 0"),
        (
            "some_metric[5m] OFFSET 1mm",
            23,
            26,
            r#"bad number or duration syntax: "1mm""#,
        ),
        (
            "some_metric[5m] OFFSET",
            22,
            22,
            "unexpected end of input in offset, expected number, duration, step(), or range()",
        ),
        (
            "some_metric OFFSET 1m[5m]",
            21,
            25,
            "no offset modifiers allowed before range",
        ),
        (
            "some_metric[5m] @",
            17,
            17,
            "unexpected end of input in @, expected timestamp",
        ),
        (
            "some_metric @ 1234 [5m]",
            19,
            23,
            "no @ modifiers allowed before range",
        ),
        (
            "some_metric @ start() [5m]",
            22,
            26,
            "no @ modifiers allowed before range",
        ),
        (
            "some_metric @ end()[5m]",
            19,
            23,
            "no @ modifiers allowed before range",
        ),
        (
            "some_metric offset step()[5m]",
            25,
            29,
            "no offset modifiers allowed before range",
        ),
        (
            "(foo + bar)[5m]",
            11,
            15,
            "ranges only allowed for vector selectors",
        ),
        (
            r#"sum by ("foo)(some_metric{})"#,
            8,
            28,
            "unterminated quoted string",
        ),
        (
            "sum without(==)(some_metric)",
            12,
            14,
            "unexpected <op:==> in grouping opts, expected label",
        ),
        (
            "sum without(,)(some_metric)",
            12,
            13,
            r#"unexpected "," in grouping opts, expected label"#,
        ),
        (
            "sum without(foo,,)(some_metric)",
            16,
            17,
            r#"unexpected "," in grouping opts, expected label"#,
        ),
        (
            "sum some_metric by (test)",
            4,
            15,
            r#"unexpected identifier "some_metric""#,
        ),
        (
            "sum (some_metric) by test",
            21,
            25,
            r#"unexpected identifier "test" in grouping opts, expected "(""#,
        ),
        (
            "sum () by (test)",
            0,
            16,
            "no arguments for aggregate expression provided",
        ),
        (
            "MIN keep_common (some_metric)",
            4,
            15,
            r#"unexpected identifier "keep_common""#,
        ),
        (
            "MIN (some_metric) keep_common",
            18,
            29,
            r#"unexpected identifier "keep_common""#,
        ),
        (
            "sum (some_metric) without (test) by (test)",
            33,
            35,
            "unexpected <by>",
        ),
        (
            "sum without (test) (some_metric) by (test)",
            33,
            35,
            "unexpected <by>",
        ),
        (
            "topk(some_metric)",
            0,
            17,
            "wrong number of arguments for aggregate expression provided, expected 2, got 1",
        ),
        (
            "topk(some_metric,)",
            16,
            17,
            "trailing commas not allowed in function call args",
        ),
        (
            "topk(some_metric, other_metric)",
            5,
            16,
            "expected type scalar in aggregation parameter, got instant vector",
        ),
        (
            "count_values(5, other_metric)",
            13,
            14,
            "expected type string in aggregation parameter, got scalar",
        ),
        (
            "rate(some_metric[5m]) @ 1234",
            0,
            21,
            "@ modifier must be preceded by an instant vector selector or range vector selector or a subquery",
        ),
        (
            "floor()",
            0,
            7,
            r#"expected 1 argument(s) in call to "floor", got 0"#,
        ),
        (
            "floor(some_metric, other_metric)",
            0,
            32,
            r#"expected 1 argument(s) in call to "floor", got 2"#,
        ),
        (
            "floor(1)",
            6,
            7,
            r#"expected type instant vector in call to function "floor", got scalar"#,
        ),
        (
            "hour(some_metric, some_metric, some_metric)",
            0,
            43,
            r#"expected at most 1 argument(s) in call to "hour", got 3"#,
        ),
        (
            "time(some_metric)",
            0,
            17,
            r#"expected 0 argument(s) in call to "time", got 1"#,
        ),
        (
            "non_existent_function_far_bar()",
            0,
            29,
            r#"unknown function with name "non_existent_function_far_bar""#,
        ),
        (
            "rate(some_metric)",
            5,
            16,
            r#"expected type range vector in call to function "rate", got instant vector"#,
        ),
        ("-=", 1, 2, r#"unexpected "=""#),
        ("++-++-+-+-<", 10, 11, "unexpected <op:<>"),
        ("e-+=/(0)", 3, 4, r#"unexpected "=""#),
        ("a>b()", 2, 3, r#"unknown function with name "b""#),
        (
            "rate(avg)",
            5,
            8,
            r#"expected type range vector in call to function "rate", got instant vector"#,
        ),
        ("`\\``", 3, 4, "unterminated raw string"),
        ("\"\\", 0, 2, "escape sequence not terminated"),
        (r#""\c""#, 0, 4, "unknown escape sequence U+0063 'c'"),
        (
            r#""\x.""#,
            0,
            5,
            "illegal character U+002E '.' in escape sequence",
        ),
        (
            r#"foo{bar="baz"}["#,
            15,
            15,
            "unexpected end of input in duration expression",
        ),
        (
            "test[5d] OFFSET 10s [10m:5s]",
            0,
            28,
            "subquery is only allowed on instant vector, got matrix instead",
        ),
        (
            r#"(foo + bar{nm="val"})[5m:][10m:5s]"#,
            0,
            34,
            "subquery is only allowed on instant vector, got matrix instead",
        ),
        (
            "rate(food[1m])[1h] offset 1h",
            14,
            18,
            "ranges only allowed for vector selectors",
        ),
        (
            "rate(food[1m])[1h] @ 100",
            14,
            18,
            "ranges only allowed for vector selectors",
        ),
        (
            r#"info(rate(http_request_counter_total{}[5m]), target_info{foo="bar"})"#,
            45,
            67,
            "expected label selectors only, got vector selector instead",
        ),
        (
            r#"info(http_request_counter_total{namespace="zzz"}, {foo="bar"} == 1)"#,
            50,
            66,
            "expected label selectors only",
        ),
        (
            "foo[step]",
            8,
            9,
            r#"unexpected "]" in subquery or range selector, expected number, duration, step(), or range()"#,
        ),
        ("foo[step()/0d]", 10, 11, "division by zero"),
        ("foo[5s/0d]", 6, 7, "division by zero"),
        ("foo offset (4d/0)", 14, 15, "division by zero"),
        ("foo[5s%0d]", 6, 7, "modulo by zero"),
        ("foo offset 9.5e10", 11, 17, "duration out of range"),
        ("foo[9.5e10]", 4, 10, "duration out of range"),
        ("sum(", 4, 4, "unclosed left parenthesis"),
        ("sum(rate(", 9, 9, "unclosed left parenthesis"),
        (
            "foo[5s x 5s]",
            7,
            12,
            "unexpected character: 'x', expected ':'",
        ),
        (
            "foo[5s s 5s]",
            7,
            12,
            "unexpected character: 's', expected ':'",
        ),
        (
            "1[5m] smoothed",
            1,
            5,
            "ranges only allowed for vector selectors",
        ),
        (
            "1[5m] anchored",
            1,
            5,
            "ranges only allowed for vector selectors",
        ),
    ];
    let mut failures = Vec::new();
    for (q, start, end, message) in cases {
        let got = error(q);
        if got != (start, end, message.to_string()) {
            failures.push(format!(
                "{q:?}: want {start}..{end} {message:?}, got {got:?}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn error_text_has_line_and_column() {
    let e = parse_expr("sum(rate(foo[5m]))\n  + bar{", &ParserOptions::all()).unwrap_err();
    assert_eq!(
        e.to_string(),
        "2:9: parse error: unexpected end of input inside braces"
    );
    let e = parse_expr("foo + bool bar", &ParserOptions::all()).unwrap_err();
    assert_eq!(
        e.to_string(),
        "1:5: parse error: bool modifier can only be used on comparison operators"
    );
}

/// An s-expression of the tree, to see how operators grouped.
fn sexpr(e: &Expr) -> String {
    match e {
        Expr::Binary(b) => format!("({} {} {})", b.op, sexpr(&b.lhs), sexpr(&b.rhs)),
        Expr::Unary(u) => format!("({} {})", u.op.as_str(), sexpr(&u.expr)),
        Expr::Paren(p) => format!("[{}]", sexpr(&p.expr)),
        other => other.to_string(),
    }
}

#[test]
fn precedence_like_upstream() {
    let cases = [
        ("-1^2", "(- (^ 1 2))"),
        ("-1*2", "(* -1 2)"),
        ("-1+2", "(+ -1 2)"),
        ("-1^-2", "(- (^ 1 -2))"),
        ("+1 + -2 * 1", "(+ 1 (* -2 1))"),
        ("1 + 2/(3*1)", "(+ 1 (/ 2 [(* 3 1)]))"),
        ("1 < bool 2 - 1 * 2", "(< 1 (- 2 (* 1 2)))"),
        (
            "foo + bar or bla and blub",
            "(or (+ foo bar) (and bla blub))",
        ),
        (
            "foo and bar unless baz or qux",
            "(or (unless (and foo bar) baz) qux)",
        ),
        ("a ^ b ^ c", "(^ a (^ b c))"),
        ("a - b - c", "(- (- a b) c)"),
        ("a / b * c % d atan2 e", "(atan2 (% (* (/ a b) c) d) e)"),
        ("a == b != c", "(!= (== a b) c)"),
        ("-a ^ b * c", "(* (- (^ a b)) c)"),
        ("2 ^ -a ^ b", "(^ 2 (- (^ a b)))"),
        ("a + b offset 5m", "(+ a b offset 5m)"),
        ("-a offset 5m", "(- a offset 5m)"),
        ("a + b @ 10", "(+ a b @ 10.000)"),
        (
            "a + max_over_time(b[5m:] @ 10) > 1",
            "(> (+ a max_over_time(b[5m:] @ 10.000)) 1)",
        ),
        ("a </ 1 + 2", "(</ a (+ 1 2))"),
        ("a >/ b and c", "(and (>/ a b) c)"),
        ("sum + 1", "(+ sum 1)"),
        ("a or and", "(or a and)"),
    ];
    for (q, want) in cases {
        assert_eq!(sexpr(&parse(q)), want, "{q}");
    }
    let e = parse("bar + on(foo) bla / on(baz, buz) group_right(test) blub");
    let m = binary(&binary(&e).rhs).matching.as_ref().unwrap();
    assert_eq!(m.card, Cardinality::OneToMany);
    assert_eq!(m.matching_labels, ["baz", "buz"]);
    assert_eq!(m.include, ["test"]);
    assert!(m.on);
}

/// Upstream's `printer_test.go` expectations (3.x spacing), plus hearth's own.
#[test]
fn printer_like_upstream() {
    let cases = [
        (
            r#"sum by() (task:errors:rate10s{job="s"})"#,
            r#"sum(task:errors:rate10s{job="s"})"#,
        ),
        (
            r#"sum by(code) (task:errors:rate10s{job="s"})"#,
            r#"sum by (code) (task:errors:rate10s{job="s"})"#,
        ),
        (
            r#"sum without() (task:errors:rate10s{job="s"})"#,
            r#"sum without () (task:errors:rate10s{job="s"})"#,
        ),
        (
            r#"sum without(instance) (task:errors:rate10s{job="s"})"#,
            r#"sum without (instance) (task:errors:rate10s{job="s"})"#,
        ),
        (
            r#"topk(5, task:errors:rate10s{job="s"})"#,
            r#"topk(5, task:errors:rate10s{job="s"})"#,
        ),
        (
            r#"count_values("value", task:errors:rate10s{job="s"})"#,
            r#"count_values("value", task:errors:rate10s{job="s"})"#,
        ),
        ("a - on() c", "a - on () c"),
        ("a - on(b) c", "a - on (b) c"),
        ("a - on(b) group_left(x) c", "a - on (b) group_left (x) c"),
        (
            "a - on(b) group_left(x, y) c",
            "a - on (b) group_left (x, y) c",
        ),
        ("a - on(b) group_left c", "a - on (b) group_left () c"),
        ("a - on(b) group_left() (c)", "a - on (b) group_left () (c)"),
        ("a - ignoring(b) c", "a - ignoring (b) c"),
        ("a - ignoring() c", "a - c"),
        ("up > bool 0", "up > bool 0"),
        ("a offset 1m", "a offset 1m"),
        ("a offset -7m", "a offset -7m"),
        (r#"a{c="d"}[5m] offset 1m"#, r#"a{c="d"}[5m] offset 1m"#),
        ("a[5m] offset 1m", "a[5m] offset 1m"),
        ("a[12m] offset -3m", "a[12m] offset -3m"),
        ("a[1h:5m] offset 1m", "a[1h:5m] offset 1m"),
        (r#"{__name__="a"}"#, r#"{__name__="a"}"#),
        (r#"a{b!="c"}[1m]"#, r#"a{b!="c"}[1m]"#),
        (r#"a{b=~"c"}[1m]"#, r#"a{b=~"c"}[1m]"#),
        (r#"a{b!~"c"}[1m]"#, r#"a{b!~"c"}[1m]"#),
        ("a @ 10", "a @ 10.000"),
        ("a[1m] @ 10", "a[1m] @ 10.000"),
        ("a @ start()", "a @ start()"),
        ("a @ end()", "a @ end()"),
        ("a[1m] @ start()", "a[1m] @ start()"),
        ("a[1m] @ end()", "a[1m] @ end()"),
        // UTF-8 names are quoted; a quoted metric name prints as a `__name__` matcher.
        (r#"{"some.metric"}"#, r#"{__name__="some.metric"}"#),
        (r#"foo{"a.b"="c", x="y"}"#, r#"foo{"a.b"="c",x="y"}"#),
        (
            r#"sum by ("foo.bar", baz) ({"x.y"})"#,
            r#"sum by ("foo.bar", baz) ({__name__="x.y"})"#,
        ),
        // Hearth's own: modifiers, literals and duration expressions.
        ("foo offset 100", "foo offset 1m40s"),
        ("foo offset (100 + 2)", "foo offset (100 + 2)"),
        ("foo offset -(5)", "foo offset -(5)"),
        (
            "foo[5m+1m:step()*2] offset -min_of(step(), 1s)",
            "foo[5m + 1m:step() * 2] offset -min_of(step(), 1s)",
        ),
        ("foo[((1h))]", "foo[(1h)]"),
        ("foo[-10s+15s]", "foo[-10s + 15s]"),
        ("foo[300]", "foo[5m]"),
        ("foo[4.018]", "foo[4s18ms]"),
        ("metric @ 100 smoothed", "metric @ 100.000 smoothed"),
        (
            "metric offset -100 smoothed",
            "metric smoothed offset -1m40s",
        ),
        (
            "foo[5m] anchored @ 1 offset 1m",
            "foo[5m] anchored @ 1.000 offset 1m",
        ),
        ("a + fill(0) b", "a + fill (0) b"),
        (
            "a + on(x) group_left fill_left(5) fill_right(-Inf) b",
            "a + on (x) group_left () fill_left (5) fill_right (-Inf) b",
        ),
        ("a == bool fill(NaN) b", "a == bool fill (NaN) b"),
        ("a </ 1.5", "a </ 1.5"),
        (
            "0x1F + .5 + 5. + 1e3 + Inf - NaN",
            "31 + 0.5 + 5 + 1000 + +Inf - NaN",
        ),
        ("5m", "5m"),
        ("-5m", "-5m"),
        (
            r#"label_replace(x, 'single', "\x41\u00e9", "\xff", `raw\n`)"#,
            r#"label_replace(x, "single", "Aé", "\xff", "raw\\n")"#,
        ),
        (
            "start() + end() + step() + range()",
            "start() + end() + step() + range()",
        ),
        ("min_of(1, 2)", "min_of(1, 2)"),
        ("sum(rate(x[5m])) by (job)", "sum by (job) (rate(x[5m]))"),
        ("SUM BY (Job) (x)", "sum by (Job) (x)"),
        ("x AND y", "x and y"),
    ];
    let mut failures = Vec::new();
    for (q, want) in cases {
        let got = parse(q).to_string();
        if got != want {
            failures.push(format!("{q:?}: want {want:?}, got {got:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn selector(e: &Expr) -> &VectorSelector {
    match e {
        Expr::VectorSelector(vs) => vs,
        other => panic!("not a vector selector: {other}"),
    }
}

fn matrix(e: &Expr) -> &MatrixSelector {
    match e {
        Expr::MatrixSelector(m) => m,
        other => panic!("not a range selector: {other}"),
    }
}

fn binary(e: &Expr) -> &BinaryExpr {
    match e {
        Expr::Binary(b) => b,
        other => panic!("not a binary expression: {other}"),
    }
}

fn call(e: &Expr) -> &Call {
    match e {
        Expr::Call(c) => c,
        other => panic!("not a call: {other}"),
    }
}

fn duration_expr(d: Option<&DurationValue>) -> &DurationExpr {
    match d {
        Some(DurationValue::Expr(e)) => e,
        other => panic!("not a duration expression: {other:?}"),
    }
}

#[test]
fn selectors_and_modifiers() {
    let e = parse(r#"foo:bar{a="bc", b!~"x"}"#);
    let vs = selector(&e);
    assert_eq!(vs.name.as_deref(), Some("foo:bar"));
    assert_eq!(vs.matchers.len(), 3);
    assert_eq!(vs.matchers[2].to_string(), r#"__name__="foo:bar""#);
    assert_eq!(vs.pos, PosRange::new(0, 23));

    // Keywords name metrics where no keyword fits.
    for q in [
        r#"offset{step="1s"}[5m]"#,
        r#"anchored{job="test"}"#,
        "start",
        "end",
        "min",
        "sum(sum)",
    ] {
        parse(q);
    }
    assert_eq!(call(&parse("start()")).func.name, "start");

    let e = parse("foo[5m] offset -1m @ 10.5 anchored");
    let m = matrix(&e);
    assert_eq!(m.range, DurationValue::Fixed(300_000));
    assert_eq!(
        m.vector_selector.offset,
        Some(DurationValue::Fixed(-60_000))
    );
    assert_eq!(m.vector_selector.at, Some(AtModifier::Timestamp(10_500)));
    assert!(m.vector_selector.anchored);
    assert_eq!(m.pos, PosRange::new(0, 25));

    let Expr::Subquery(s) = parse("rate(x[1m])[5m:] @ end() offset step()") else {
        panic!("not a subquery")
    };
    assert_eq!(s.step, None);
    assert_eq!(s.at, Some(AtModifier::End));
    assert_eq!(
        duration_expr(s.offset.as_ref()).kind,
        DurationExprKind::Step
    );

    // The rounding of @ timestamps is upstream's.
    for (q, ms) in [
        ("foo @ 3.3333", 3333),
        ("foo @ 3.3335", 3334),
        ("foo @ -3.3e1", -33000),
        ("foo @ 0xA", 10_000),
        ("foo @ 1m", 60_000),
    ] {
        assert_eq!(
            selector(&parse(q)).at,
            Some(AtModifier::Timestamp(ms)),
            "{q}"
        );
    }

    // Set operators match many-to-many; matching is dropped when a side is a scalar.
    let e = parse("a or b");
    assert_eq!(
        binary(&e).matching.as_ref().unwrap().card,
        Cardinality::ManyToMany
    );
    assert!(binary(&parse("a + 1")).matching.is_none());

    let e = parse("a + fill_right(1) fill_left(2) b");
    let fill = binary(&e).matching.as_ref().unwrap().fill;
    assert_eq!((fill.lhs(), fill.rhs()), (Some(2.0), Some(1.0)));

    // `fill` is a metric name unless `(` follows.
    let e = parse("fill + fill(0) fill");
    assert_eq!(binary(&e).lhs.to_string(), "fill");
    assert_eq!(binary(&e).rhs.to_string(), "fill");

    let e = parse(r#"info(x, {__name__="target_info"})"#);
    assert!(selector(&call(&e).args[1]).bypass_empty_matcher_check);
}

#[test]
fn feature_switches() {
    let default = ParserOptions::default();
    let cases = [
        (
            "mad_over_time(x[5m])",
            r#"function "mad_over_time" is not enabled"#,
        ),
        (
            "limitk(1, x)",
            "limitk() is experimental and must be enabled with --enable-feature=promql-experimental-functions",
        ),
        (
            "x[5m] anchored",
            "anchored modifier is experimental and not enabled",
        ),
        (
            "x smoothed",
            "smoothed modifier is experimental and not enabled",
        ),
        (
            "a + fill(0) b",
            "binop fill modifiers are experimental and not enabled",
        ),
    ];
    for (q, message) in cases {
        let e = parse_expr(q, &default).unwrap_err();
        assert_eq!(e.message(), message, "{q}");
        assert!(parse_expr(q, &ParserOptions::all()).is_ok(), "{q}");
    }
    let no_durations = ParserOptions {
        experimental_duration_expr: false,
        ..ParserOptions::all()
    };
    let e = parse_expr("x[5m+1m]", &no_durations).unwrap_err();
    assert_eq!(
        e.message(),
        "experimental duration expression is not enabled"
    );
    assert!(parse_expr("x[5m] offset 1m", &no_durations).is_ok());
}

#[test]
fn metric_selectors() {
    let m = parse_metric_selector(r#"up{job="x"}"#).unwrap();
    assert_eq!(m.len(), 2);
    assert!(parse_metric_selector("up + 1").is_err());
    assert!(parse_metric_selector(r#"{__name__=~"a.*"}"#).is_ok());
}

#[test]
fn duration_expressions_evaluate() {
    let e = parse("x[max_of(min_of(step()+1,1h),1ms)]");
    let range = duration_expr(Some(&matrix(&e).range));
    assert_eq!(range.eval_millis(5_000, 10_000, false), Ok(6_000));
    // `+8000` applies to the selector, not to the offset.
    let e = parse("x offset -(min_of(step(), 2s)-5)+8000");
    let offset = duration_expr(selector(&binary(&e).lhs).offset.as_ref());
    assert_eq!(offset.eval_millis(5_000, 0, true), Ok(3_000));
    let e = parse("x[5s/(0)]");
    let range = duration_expr(Some(&matrix(&e).range));
    assert_eq!(
        range.eval_millis(1, 1, false),
        Err(DurationEvalError::DivisionByZero)
    );
}

/// Deep nesting is an error, never a stack overflow.
#[test]
fn deep_nesting_is_rejected() {
    let run = || {
        let ok = format!("{}1{}", "(".repeat(150), ")".repeat(150));
        assert!(parse_expr(&ok, &ParserOptions::all()).is_ok());
        for q in [
            format!("{}1{}", "(".repeat(100_000), ")".repeat(100_000)),
            format!("{}1", "-".repeat(100_000)),
            format!("x{}", "[1m:]".repeat(100_000)),
            format!("2{}", "^2".repeat(100_000)),
            format!("x[{}1m{}]", "(".repeat(100_000), ")".repeat(100_000)),
            format!("{}x)", "sum(".repeat(100_000)),
        ] {
            let e = parse_expr(&q, &ParserOptions::all()).unwrap_err();
            assert!(e.message().contains("nesting too deep"), "{}", e.message());
        }
    };
    // The test thread's stack is small; check the limit holds within it.
    std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(run)
        .unwrap()
        .join()
        .unwrap();
}

#[test]
fn series_and_script_types_are_exported() {
    let (labels, values) = parse_series_desc(r#"m{a="b"} 1 _ stale"#).unwrap();
    assert_eq!(labels.len(), 2);
    assert_eq!(values.len(), 3);
    assert!(matches!(values[2], Some(SeriesValue::Stale)));
}
