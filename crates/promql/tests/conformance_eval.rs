#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Upstream's 21 PromQL test scripts executed against the engine with every feature on
//! (as upstream's harness runs them). Prints the pass count per file, records the
//! summary in `target/tmp/conformance-promql.txt`, and fails when a file, or the whole
//! suite, passes fewer evals than [`BASELINE`] records (a ratchet: raise it as the
//! engine improves, never lower it). `PROMQL_CONFORMANCE_VERBOSE=<file>` (or `all`)
//! prints every failure.

use std::path::PathBuf;

use hearth_promql::promqltest::{harness_engine_options, parse_script, run_script};

fn conformance_dir() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/conformance/promql"
    ))
}

/// Evals of each upstream script that must keep passing. At 2195/2195 every count is
/// the file's eval count.
const BASELINE: &[(&str, usize)] = &[
    ("aggregators.test", 160),
    ("at_modifier.test", 71),
    ("collision.test", 2),
    ("duration_expression.test", 59),
    ("extended_vectors.test", 169),
    ("fill-modifier.test", 46),
    ("functions.test", 431),
    ("histograms.test", 185),
    ("info.test", 42),
    ("limit.test", 37),
    ("literals.test", 25),
    ("name_label_dropping.test", 30),
    ("native_histograms.test", 522),
    ("operators.test", 213),
    ("range_queries.test", 18),
    ("selectors.test", 31),
    ("staleness.test", 17),
    ("start_timestamps.test", 26),
    ("subquery.test", 34),
    ("trig_functions.test", 19),
    ("type_and_unit.test", 58),
];

/// Evals of the whole suite that must keep passing (the sum of [`BASELINE`]).
const BASELINE_TOTAL: usize = 2195;

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

    let (mut total, mut passed) = (0, 0);
    let mut per_file = Vec::new();
    let mut regressions = Vec::new();
    for path in &files {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let script = parse_script(&std::fs::read_to_string(path).unwrap()).unwrap();
        let report = run_script(&script, harness_engine_options());
        if verbose == "all" || verbose == name {
            for f in &report.failures {
                println!(
                    "{name}:{}: {}\n    {}\n    got: {}",
                    f.line, f.expr, f.message, f.got
                );
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
        let expected = BASELINE
            .iter()
            .find(|(f, _)| *f == name)
            .map_or(report.evals, |(_, n)| *n);
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
    assert_eq!(
        BASELINE.iter().map(|(_, n)| n).sum::<usize>(),
        BASELINE_TOTAL
    );
    assert!(
        passed >= BASELINE_TOTAL,
        "{passed}/{total} evals pass, baseline {BASELINE_TOTAL}"
    );
    assert!(
        regressions.is_empty(),
        "pass counts fell below the baseline:\n{}",
        regressions.join("\n")
    );
}
