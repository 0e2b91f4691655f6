//! Any input: parsing never panics; when it succeeds, the printed query (and the
//! prettified one) parses back to the same tree, and printing is a fixed point.
#![no_main]

use hearth_promql::{Expr, ParserOptions, parse_expr};
use libfuzzer_sys::fuzz_target;

fn same_tree(a: &Expr, b: &Expr) -> bool {
    format!("{:?}", a.normalized()) == format!("{:?}", b.normalized())
}

fuzz_target!(|data: &[u8]| {
    let Ok(input) = std::str::from_utf8(data) else {
        return;
    };
    let options = ParserOptions::all();
    let Ok(expr) = parse_expr(input, &options) else {
        return;
    };
    let printed = expr.to_string();
    let reparsed = match parse_expr(&printed, &options) {
        Ok(e) => e,
        Err(e) => panic!("printed query does not parse: {input:?} -> {printed:?}: {e}"),
    };
    assert!(
        same_tree(&expr, &reparsed),
        "different tree after printing: {input:?} -> {printed:?}"
    );
    assert_eq!(reparsed.to_string(), printed, "printing is not a fixed point: {input:?}");
    let pretty = expr.pretty(0);
    match parse_expr(&pretty, &options) {
        Ok(e) => assert!(same_tree(&expr, &e), "prettified differs: {input:?} -> {pretty:?}"),
        Err(e) => panic!("prettified query does not parse: {input:?} -> {pretty:?}: {e}"),
    }
});
