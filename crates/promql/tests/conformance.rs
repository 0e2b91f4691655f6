#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The 21 upstream PromQL test scripts: every script reads completely, every `eval` query
//! parses, and printing every parsed query gives text that parses back to the same tree.

use std::path::PathBuf;

use hearth_promql::promqltest::{Command, ExpectedResult, parse_script};
use hearth_promql::{Expr, ParserOptions, parse_expr};

fn testdata_dir() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/conformance/promql/testdata"
    ))
}

fn test_files() -> Vec<(String, String)> {
    let mut files: Vec<(String, String)> = std::fs::read_dir(testdata_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "test"))
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read_to_string(&p).unwrap())
        })
        .collect();
    files.sort();
    files
}

/// Structural equality ignoring positions and matcher order; `Debug` also compares NaNs.
fn same_tree(a: &Expr, b: &Expr) -> bool {
    format!("{:?}", a.normalized()) == format!("{:?}", b.normalized())
}

#[test]
fn every_script_reads_and_counts_match_features_md() {
    let files = test_files();
    assert_eq!(files.len(), 21);
    let (mut evals, mut instant, mut range, mut loads, mut clears) = (0, 0, 0, 0, 0);
    let (mut load_series, mut expected_series) = (0, 0);
    for (name, text) in &files {
        let script = parse_script(text).unwrap_or_else(|e| panic!("{name}: {e}"));
        let (mut e, mut l, mut c, mut ls, mut es) = (0, 0, 0, 0, 0);
        for cmd in &script.commands {
            match cmd {
                Command::Eval(ev) => {
                    e += 1;
                    match ev.query {
                        hearth_promql::promqltest::EvalQuery::Instant { .. } => instant += 1,
                        hearth_promql::promqltest::EvalQuery::Range { .. } => range += 1,
                    }
                    if let ExpectedResult::Series(ss) = &ev.expected {
                        es += ss.len();
                    }
                }
                Command::Load(ld) => {
                    l += 1;
                    ls += ld.series.len();
                }
                Command::Clear(_) => c += 1,
            }
        }
        println!(
            "{name:28} evals {e:4}  loads {l:3}  clears {c:3}  load series {ls:4}  expected series {es:4}"
        );
        evals += e;
        loads += l;
        clears += c;
        load_series += ls;
        expected_series += es;
    }
    println!(
        "total: evals {evals} ({instant} instant, {range} range), loads {loads}, clears {clears}, load series lines {load_series}, expected series lines {expected_series}"
    );
    assert_eq!(evals, 2195);
    assert_eq!(instant, 1877);
    assert_eq!(range, 318);
}

/// Every `eval` line's query, parsed on its own (independently of the script reader).
#[test]
fn every_eval_query_parses() {
    let mut ok = 0;
    let mut failed = Vec::new();
    for (name, text) in test_files() {
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if !line.starts_with("eval") {
                continue;
            }
            let query = query_of(line);
            match parse_expr(query, &ParserOptions::all()) {
                Ok(_) => ok += 1,
                Err(e) => failed.push(format!("{name}:{}: {query}: {e}", n + 1)),
            }
        }
    }
    println!(
        "eval queries parsed: {ok}, failed to parse: {}",
        failed.len()
    );
    assert!(failed.is_empty(), "{failed:#?}");
    assert_eq!(ok, 2195);
}

/// The query part of an `eval` line.
fn query_of(line: &str) -> &str {
    let words: Vec<(usize, &str)> = line
        .split_whitespace()
        .map(|w| (w.as_ptr() as usize - line.as_ptr() as usize, w))
        .collect();
    // eval[_x] instant at <t> <query> | eval[_x] range from <a> to <b> step <s> <query>
    let skip = if words[1].1 == "instant" { 4 } else { 8 };
    &line[words[skip].0..]
}

#[test]
fn printing_is_a_fixed_point() {
    let mut checked = 0;
    for (name, text) in test_files() {
        let script = parse_script(&text).unwrap();
        for ev in script.evals() {
            let printed = ev.parsed.to_string();
            let reparsed = parse_expr(&printed, &ParserOptions::all()).unwrap_or_else(|e| {
                panic!(
                    "{name}:{}: {}\nprinted: {printed}\nerror: {e}",
                    ev.line, ev.expr
                )
            });
            assert!(
                same_tree(&ev.parsed, &reparsed),
                "{name}:{}: {}\nprinted: {printed}\n{:#?}\n{:#?}",
                ev.line,
                ev.expr,
                ev.parsed.normalized(),
                reparsed.normalized()
            );
            assert_eq!(reparsed.to_string(), printed, "{name}:{}", ev.line);
            // The prettified form parses to the same tree too.
            let pretty = ev.parsed.pretty(0);
            let from_pretty = parse_expr(&pretty, &ParserOptions::all()).unwrap();
            assert!(
                same_tree(&ev.parsed, &from_pretty),
                "{name}:{}: {pretty}",
                ev.line
            );
            checked += 1;
        }
    }
    println!("print -> parse round trips: {checked}");
    assert_eq!(checked, 2195);
}
