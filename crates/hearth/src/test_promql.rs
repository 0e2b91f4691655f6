//! `hearth tool test-promql FILE...`: runs PromQL test scripts (upstream's `.test`
//! format: `load`, `clear`, `eval` with expected results) against hearth's engine, as
//! upstream's `promqltest` harness does, with every PromQL feature enabled. Prints each
//! failing `eval` with its file and line, then `N passed, M failed`.

use std::io::Write;
use std::path::PathBuf;

use hearth_promql::promqltest::{harness_engine_options, parse_script, run_script};

/// Runs the scripts; returns the exit code (0 when every eval passed, 1 otherwise).
pub fn run(files: &[PathBuf], out: &mut dyn Write) -> i32 {
    let (mut passed, mut failed) = (0usize, 0usize);
    let mut broken_files = 0;
    for path in files {
        let name = path.display();
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) => {
                let _ = writeln!(out, "{name}: cannot read: {e}");
                broken_files += 1;
                continue;
            }
        };
        let script = match parse_script(&text) {
            Ok(s) => s,
            Err(e) => {
                let _ = writeln!(out, "{name}: {e}");
                broken_files += 1;
                continue;
            }
        };
        let report = run_script(&script, harness_engine_options());
        for f in &report.failures {
            let _ = writeln!(out, "{name}:{}: {}\n    {}", f.line, f.expr, f.message);
        }
        passed += report.passed;
        failed += report.failures.len();
    }
    let _ = writeln!(out, "{passed} passed, {failed} failed");
    if failed > 0 || broken_files > 0 { 1 } else { 0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_failures_with_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.test");
        std::fs::write(
            &path,
            "load 1m\n  up{job=\"a\"} 1 2\n\neval instant at 1m up\n  up{job=\"a\"} 2\n\neval instant at 1m up\n  up{job=\"a\"} 3\n",
        )
        .unwrap();
        let mut out = Vec::new();
        assert_eq!(run(&[path], &mut out), 1);
        let out = String::from_utf8(out).unwrap();
        assert!(out.contains("x.test:7: up"), "{out}");
        assert!(out.ends_with("1 passed, 1 failed\n"), "{out}");
    }
}
