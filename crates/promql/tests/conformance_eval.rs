#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Upstream's 21 PromQL test scripts executed against the engine with every feature on
//! (as upstream's harness runs them). Prints the pass count per file, records the
//! summary in `target/tmp/conformance-promql.txt`, and fails when a file passes fewer
//! evals than `conformance-baseline.txt` records (raise the baseline as the engine
//! improves). `PROMQL_CONFORMANCE_VERBOSE=<file>` (or `all`) prints every failure.

use std::collections::BTreeMap;
use std::path::PathBuf;

use hearth_promql::promqltest::{harness_engine_options, parse_script, run_script};

fn conformance_dir() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/conformance/promql"
    ))
}

fn baseline() -> BTreeMap<String, usize> {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/conformance-baseline.txt"
    ))
    .unwrap();
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (file, count) = l.split_once(char::is_whitespace).unwrap();
            (file.to_string(), count.trim().parse().unwrap())
        })
        .collect()
}

#[test]
fn upstream_scripts_evaluate() {
    let verbose = std::env::var("PROMQL_CONFORMANCE_VERBOSE").unwrap_or_default();
    let mut files: Vec<PathBuf> = std::fs::read_dir(conformance_dir().join("testdata"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "test"))
        .collect();
    files.sort();
    assert_eq!(files.len(), 21);

    let baseline = baseline();
    let (mut total, mut passed) = (0, 0);
    let mut per_file = Vec::new();
    let mut regressions = Vec::new();
    for path in &files {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let script = parse_script(&std::fs::read_to_string(path).unwrap()).unwrap();
        let report = run_script(&script, harness_engine_options());
        if verbose == "all" || verbose == name {
            for f in &report.failures {
                println!("{name}:{}: {}\n    {}", f.line, f.expr, f.message);
            }
        }
        println!("{name:28} {:4}/{:4}", report.passed, report.evals);
        total += report.evals;
        passed += report.passed;
        per_file.push(format!(
            "{} {}/{}",
            name.trim_end_matches(".test"),
            report.passed,
            report.evals
        ));
        let expected = baseline.get(&name).copied().unwrap_or(report.evals);
        if report.passed < expected {
            regressions.push(format!(
                "{name}: {} passed, baseline {expected}",
                report.passed
            ));
        }
    }
    let summary = format!(
        "PromQL conformance: {passed}/{total} evals pass ({})",
        per_file.join(", ")
    );
    println!("{summary}");
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("conformance-promql.txt"), format!("{summary}\n")).unwrap();

    assert_eq!(total, 2195);
    assert!(
        regressions.is_empty(),
        "pass counts fell below the baseline:\n{}",
        regressions.join("\n")
    );
}
