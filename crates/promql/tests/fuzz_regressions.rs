#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Inputs the fuzzer (`crates/promql/fuzz`) found, kept so that they stay fixed: each
//! must parse (or fail) without panicking, and a parsed query must print to text that
//! parses back to the same tree.

use hearth_promql::{Expr, ParserOptions, parse_expr};

fn same_tree(a: &Expr, b: &Expr) -> bool {
    format!("{:?}", a.normalized()) == format!("{:?}", b.normalized())
}

fn check(input: &str) {
    let options = ParserOptions::all();
    let Ok(expr) = parse_expr(input, &options) else {
        return;
    };
    let printed = expr.to_string();
    let reparsed = parse_expr(&printed, &options)
        .unwrap_or_else(|e| panic!("{input:?} printed as {printed:?}: {e}"));
    assert!(
        same_tree(&expr, &reparsed),
        "{input:?} printed as {printed:?}"
    );
    assert_eq!(reparsed.to_string(), printed);
    let pretty = expr.pretty(0);
    let from_pretty = parse_expr(&pretty, &options).unwrap();
    assert!(
        same_tree(&expr, &from_pretty),
        "{input:?} prettified as {pretty:?}"
    );
}

#[test]
fn negative_zero_duration_keeps_its_sign() {
    check("changes(http_requests[-0m+35m])");
    assert_eq!(
        parse_expr("1 / -0s", &ParserOptions::all())
            .unwrap()
            .to_string(),
        "1 / -0s"
    );
}

/// Strings holding U+FFFD (from `\xff` or `\ufffd` escapes) print it escaped: the lexer
/// rejects a literal U+FFFD, as upstream does.
#[test]
fn replacement_character_is_printed_escaped() {
    for q in [
        r#"{a="\xff"}"#,
        r#"{"\ufffd"="x"}"#,
        r#"sum by ("\xff") ({a="b"})"#,
        r#"label_replace(x, "\ufffd", "\xff", "a", "b")"#,
    ] {
        check(q);
    }
    assert_eq!(
        parse_expr(r#"{a="\xff"}"#, &ParserOptions::all())
            .unwrap()
            .to_string(),
        r#"{a="\ufffd"}"#
    );
}

/// Hand-picked inputs at the edges of printing: folded signs, zero offsets, saturated
/// timestamps, keywords as names, nested durations.
#[test]
fn printing_edge_cases_round_trip() {
    for q in [
        "foo offset 0s offset 5m",
        "foo[5m:0s]",
        "foo offset -0s",
        "foo @ -0",
        "x @ 9e18",
        "x @ -9e18",
        "x @ 1.0005",
        "- -a",
        "- -1",
        "a--1",
        "-(1) ^ 2",
        "(-a) ^ 2",
        "1 + on() group_left a",
        "a + ignoring() group_left b",
        "sum by (AND, \"1a\", \"le\") (x)",
        "foo + offset",
        "rate(by[5m])",
        "x smoothed[5m]",
        "x[5m] @ 10 offset 5m anchored",
        "x[1h:(1m)] offset (1m)",
        "x offset +5m",
        "x offset -(5m)",
        "x offset (-5m)",
        "a + fill(1e-7) b",
        "a + fill(-0) b",
        "a + fill(5m) b",
        "a + fill_left(1) fill_right(1) b",
        "1e308 + 1e-300 + 5e-324",
        "1_000",
        r#""\u0000\a\b""#,
        "x[step() ^ 2 ^ 3 % 4]",
        "x[-(-(5m))]",
        "x offset max_of(-step(), (range()))",
    ] {
        check(q);
    }
}

/// Long queries that the prettifier splits still parse to the same tree.
#[test]
fn prettified_long_queries_round_trip() {
    let long = "a_fairly_long_metric_name_for_the_test{with=\"some\", labels=\"attached\"}";
    for q in [
        format!("-({long} + {long})"),
        format!("-{long} ^ {long}"),
        format!("sum by (job) (rate({long}[5m])) / on (job) group_left (x) count({long})"),
        format!("max_over_time(({long} + {long})[5m:1m] offset 1m)"),
        format!("topk(5, {long}) and on () {long}"),
    ] {
        check(&q);
    }
}

/// Histogram arithmetic in series descriptions must not trust the schema.
#[test]
fn series_histograms_with_invalid_schemas() {
    for input in [
        "{} {{schema:-100 z_bucket_w:1 buckets:[1]}}+{{schema:-100 buckets:[1] z_bucket_w:2}}x2",
        "{} {{schema:40 z_bucket_w:1 buckets:[1]}}+{{schema:40 buckets:[1] z_bucket_w:2}}x2",
        "{} {{schema:-9223372036854775808 buckets:[1]}}-{{schema:4294967296 buckets:[1] offset:-5}}x3",
        "{} {{schema:-53 custom_values:[1 2] buckets:[1]}}+{{schema:-53 custom_values:[1 2] buckets:[1] z_bucket_w:1}}x1",
    ] {
        let _ = hearth_promql::parse_series_desc(input);
    }
}
