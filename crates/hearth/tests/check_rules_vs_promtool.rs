//! `hearth tool check rules` on the rule files in `testdata/rules`, next to Debian's
//! `promtool` (Prometheus 2.42) where it is installed: exit codes and standard output
//! must be identical, and standard error too except for YAML syntax and unknown-field
//! errors, which hearth reports as `file:line:column: ...` like the rest of its
//! configuration ([`OWN_YAML_ERRORS`]). Without promtool the comparison is printed as
//! SKIPPED and only hearth's own answers (`*.good.yml` pass, `*.bad.yml` fail) are
//! checked.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// Files whose error text differs on purpose (hearth's YAML errors carry columns).
const OWN_YAML_ERRORS: &[&str] = &["unknown_field.bad.yml", "not_yaml.bad.yml"];

fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/testdata/rules")
}

struct Outcome {
    code: i32,
    stdout: String,
    stderr: String,
}

fn run(program: &str, base: &[&str], args: &[&str]) -> Outcome {
    let out = Command::new(program)
        .current_dir(testdata())
        .args(base)
        .args(args)
        .output()
        .unwrap();
    Outcome {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn hearth(args: &[&str]) -> Outcome {
    run(
        env!("CARGO_BIN_EXE_hearth"),
        &["tool", "check", "rules"],
        args,
    )
}

fn promtool_available() -> bool {
    Command::new("promtool")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

fn files() -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(testdata())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".yml"))
        .collect();
    v.sort();
    v
}

#[test]
fn hearth_answers() {
    for f in files() {
        let o = hearth(&[&f]);
        let want = if f.ends_with(".bad.yml") { 1 } else { 0 };
        assert_eq!(o.code, want, "{f}: {}{}", o.stdout, o.stderr);
        if f.ends_with(".good.yml") {
            assert!(o.stdout.contains("  SUCCESS: "), "{f}: {}", o.stdout);
        }
    }
    let o = hearth(&["alerts.good.yml"]);
    assert_eq!(
        o.stdout,
        "Checking alerts.good.yml\n  SUCCESS: 4 rules found\n\n"
    );
    let o = hearth(&["unknown_field.bad.yml"]);
    assert_eq!(
        o.stderr,
        "  FAILED:\nunknown_field.bad.yml:6:9: field \"exprr\" not found; did you mean \"expr\"?\n"
    );
    assert_eq!(
        hearth(&["--lint-fatal", "duplicate_rules.lint.yml"]).code,
        3
    );
    assert_eq!(hearth(&["--lint=none", "duplicate_rules.lint.yml"]).code, 0);
    assert_eq!(hearth(&["no_such_file.yml"]).code, 1);
}

#[test]
fn same_answers_as_promtool() {
    if !promtool_available() {
        eprintln!(
            "SKIPPED: promtool not installed (apt-get install -y prometheus); compared nothing"
        );
        return;
    }
    let mut compared = 0;
    for f in files() {
        // Prometheus 2.42 does not know group `labels` (3.x); our fixtures avoid it.
        for extra in [&[][..], &["--lint-fatal"][..], &["--lint=none"][..]] {
            let mut args: Vec<&str> = extra.to_vec();
            args.push(&f);
            let h = hearth(&args);
            let p = run("promtool", &["check", "rules"], &args);
            assert_eq!(
                h.code, p.code,
                "{args:?}: exit codes\nhearth: {}\npromtool: {}",
                h.stderr, p.stderr
            );
            assert_eq!(h.stdout, p.stdout, "{args:?}: stdout");
            if !OWN_YAML_ERRORS.contains(&f.as_str()) {
                assert_eq!(h.stderr, p.stderr, "{args:?}: stderr");
            }
            compared += 1;
        }
    }
    // Several files at once: one report per file, the worst exit code.
    let all = files();
    let args: Vec<&str> = all.iter().map(String::as_str).collect();
    let h = hearth(&args);
    let p = run("promtool", &["check", "rules"], &args);
    assert_eq!(h.code, p.code);
    assert_eq!(h.stdout, p.stdout);
    eprintln!("compared {} invocations with promtool", compared + 1);
}
