//! `hearth tool test rules` on the unit-test files in `testdata/rules_unit` next to
//! Debian's `promtool test rules` (Prometheus 2.42) where installed: a file promtool
//! passes is passed by hearth and one it fails fails with the same report (exit code,
//! standard output and standard error identical). Without promtool the comparison is
//! printed as SKIPPED and only hearth's own answers are checked.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/testdata/rules_unit")
}

fn run(program: &str, base: &[&str], file: &str) -> (i32, String, String) {
    let out = Command::new(program)
        .current_dir(testdata())
        .args(base)
        .arg(file)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn same_verdicts_and_reports_as_promtool() {
    let hearth = |f| run(env!("CARGO_BIN_EXE_hearth"), &["tool", "test", "rules"], f);
    let pass = hearth("pass.yml");
    assert_eq!(pass.0, 0, "{}{}", pass.1, pass.2);
    assert_eq!(pass.1, "Unit Testing:  pass.yml\n  SUCCESS\n\n");
    let fail = hearth("fail.yml");
    assert_eq!(fail.0, 1);
    assert!(
        fail.2
            .contains("    name: my test,\n    alertname: InstanceDown, time: 5m, \n"),
        "{}",
        fail.2
    );
    assert!(
        fail.2
            .contains("got: {__name__=\"job:up:sum\", job=\"a\"} 1E+00"),
        "{}",
        fail.2
    );

    let available = Command::new("promtool")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !available {
        eprintln!(
            "SKIPPED: promtool not installed (apt-get install -y prometheus); compared nothing"
        );
        return;
    }
    for f in ["pass.yml", "fail.yml"] {
        let p = run("promtool", &["test", "rules"], f);
        assert_eq!(hearth(f), p, "{f}");
    }
}
