//! Running Debian's `prometheus` package programs from tests: whether one is installed
//! (saying loudly when it is not, so a skipped test is visible), and promtool's output.
#![allow(dead_code)]

use std::process::Command;

/// Whether `program --version` runs; prints a SKIPPED line when it does not.
pub fn installed(program: &str) -> bool {
    let ok = Command::new(program)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        println!("SKIPPED: {program} not installed (apt-get install prometheus)");
        eprintln!("SKIPPED: {program} not installed (apt-get install prometheus)");
    }
    ok
}

/// Runs `promtool args...`, asserting success; returns its stdout.
pub fn promtool(args: &[&str]) -> String {
    let out = Command::new("promtool")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("promtool {args:?}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "promtool {args:?}: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}
