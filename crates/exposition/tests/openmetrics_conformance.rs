//! Runs the OpenMetrics project's parser test cases (`../shared/conformance/openmetrics/
//! tests/testdata/parsers`, unedited): every good case must parse and validate, every
//! `bad_*` case must be rejected by the strict parser or the validator.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use hearth_exposition::{OpenMetricsOptions, OpenMetricsParser, OpenMetricsValidator};

fn cases_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/conformance/openmetrics/tests/testdata/parsers")
}

/// Parses strictly and validates; `Err` names the line and the problem.
fn check(input: &[u8]) -> Result<(), String> {
    let opts = OpenMetricsOptions {
        strict: true,
        ..Default::default()
    };
    let mut p = OpenMetricsParser::new(input, opts).map_err(|e| e.to_string())?;
    let mut v = OpenMetricsValidator::new();
    loop {
        let line = match p.next() {
            Ok(Some(e)) => {
                let r = v.entry(&e);
                r.err()
            }
            Ok(None) => break,
            Err(e) => return Err(e.to_string()),
        };
        if let Some(msg) = line {
            return Err(format!("line {}: {msg}", p.entry_line()));
        }
    }
    v.finish()
}

/// Leaves the pass count where `scripts/test` prints it at the end of the run.
fn record_conformance(name: &str, summary: &str) {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let _ = std::fs::create_dir_all(&dir);
    let _ = std::fs::write(
        dir.join(format!("conformance-{name}.txt")),
        format!("{summary}\n"),
    );
}

#[test]
fn openmetrics_parser_cases() {
    let dir = cases_dir();
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("conformance data missing at {}: {e}", dir.display()))
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    let (mut passed, mut failed) = (0, Vec::new());
    for name in &names {
        let case = dir.join(name);
        let meta: serde_json::Value =
            serde_json::from_slice(&std::fs::read(case.join("test.json")).unwrap()).unwrap();
        assert_eq!(
            meta["type"], "text",
            "{name}: only text cases exist upstream"
        );
        let should_parse = meta["shouldParse"].as_bool().unwrap();
        let input = std::fs::read(case.join(meta["file"].as_str().unwrap())).unwrap();
        let result = check(&input);
        match (should_parse, &result) {
            (true, Ok(())) | (false, Err(_)) => passed += 1,
            (true, Err(e)) => failed.push(format!("{name}: should parse, got error: {e}")),
            (false, Ok(())) => failed.push(format!("{name}: should be rejected, was accepted")),
        }
    }
    let summary = format!(
        "OpenMetrics parser conformance: {passed}/{} cases pass",
        names.len()
    );
    println!("{summary}");
    record_conformance("openmetrics", &summary);
    assert_eq!(names.len(), 211, "expected the 211 upstream cases");
    assert!(
        failed.is_empty(),
        "{} failing cases:\n{}",
        failed.len(),
        failed.join("\n")
    );
}

/// Prints why each bad case is rejected (run with `--ignored --nocapture` to review).
#[test]
#[ignore]
fn print_rejection_reasons() {
    let dir = cases_dir();
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    for name in names.iter().filter(|n| n.starts_with("bad_")) {
        let input = std::fs::read(dir.join(name).join("metrics")).unwrap();
        println!("{name}: {}", check(&input).err().unwrap_or_default());
    }
}
