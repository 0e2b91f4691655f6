//! `hearth tool check config` on hearth-config's fixtures, next to Debian's `promtool`
//! (Prometheus 2.42) where it is installed: exit codes must agree except where 2.42 and
//! Prometheus 3 differ ([`NEWER_UPSTREAM`]), and on a directory with rule files and file
//! SD targets the standard output must be identical. Without promtool the comparison is
//! printed as SKIPPED and only hearth's own answers are checked. The table is written to
//! `target/tmp/conformance-check-config.txt`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Fixtures where promtool 2.42 answers differently from Prometheus 3, and why.
const NEWER_UPSTREAM: &[(&str, &str)] = &[
    (
        "conf.good.yml",
        "3.x fields (scrape_protocols, metric_name_*, scrape_failure_log_file, rule_query_offset, otlp, runtime, ...) are unknown to 2.42",
    ),
    (
        "prometheus-kubernetes.yml",
        "Debian's 2.42 build has no kubernetes_sd_configs",
    ),
    (
        "alertmanager_api.bad.yml",
        "Alertmanager api_version v1 was removed in 3.0; 2.42 accepts it",
    ),
];

fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/tests/testdata")
}

fn hearth() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_hearth"));
    c.args(["tool", "check", "config"]);
    c
}

fn promtool() -> Option<Command> {
    let ok = Command::new("promtool")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    ok.then(|| {
        let mut c = Command::new("promtool");
        c.args(["check", "config"]);
        c
    })
}

struct Outcome {
    code: i32,
    stdout: String,
    stderr: String,
}

fn run(mut cmd: Command, dir: &Path, args: &[&str]) -> Outcome {
    let out = cmd.current_dir(dir).args(args).output().unwrap();
    Outcome {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[test]
fn fixtures_agree_with_promtool() {
    let dir = testdata();
    let mut fixtures: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".yml"))
        .collect();
    fixtures.sort();
    let upstream = promtool();
    if upstream.is_none() {
        println!(
            "SKIPPED: promtool (Debian package prometheus) is not installed; checking hearth alone"
        );
    }
    let mut report = String::from("fixture\thearth\tpromtool 2.42\tnote\n");
    let mut disagreements = Vec::new();
    for f in &fixtures {
        let ours = run(hearth(), &dir, &["--syntax-only", f]);
        let want = if f.ends_with(".bad.yml") { 1 } else { 0 };
        assert_eq!(ours.code, want, "{f}: {}{}", ours.stdout, ours.stderr);
        if want == 1 {
            assert!(
                ours.stderr.starts_with(&format!("  FAILED: {f}:")),
                "{f}: {}",
                ours.stderr
            );
        } else {
            assert_eq!(
                ours.stdout,
                format!("Checking {f}\n SUCCESS: {f} is valid prometheus config file syntax\n\n")
            );
        }
        let Some(_) = &upstream else {
            writeln!(report, "{f}\t{}\tSKIPPED\t", ours.code).unwrap();
            continue;
        };
        let theirs = run(promtool().unwrap(), &dir, &["--syntax-only", f]);
        let note = NEWER_UPSTREAM
            .iter()
            .find(|(n, _)| n == f)
            .map(|(_, why)| *why);
        writeln!(
            report,
            "{f}\t{}\t{}\t{}",
            ours.code,
            theirs.code,
            note.unwrap_or("")
        )
        .unwrap();
        match note {
            Some(_) => {}
            None if theirs.code != ours.code => disagreements.push(format!(
                "{f}: hearth {} promtool {}: {}",
                ours.code, theirs.code, theirs.stderr
            )),
            None => {}
        }
    }
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/tmp");
    let _ = std::fs::create_dir_all(&out);
    let _ = std::fs::write(
        out.join("conformance-check-config.txt"),
        format!(
            "hearth tool check config vs promtool check config (--syntax-only), exit codes:\n{report}"
        ),
    );
    println!("{report}");
    assert!(disagreements.is_empty(), "{disagreements:#?}");
}

#[test]
fn referenced_files_are_checked_like_promtool() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(
        d.join("prometheus.yml"),
        "global:\n  scrape_interval: 15s\nrule_files: [\"rules.yml\", \"more/*.yml\"]\nscrape_configs:\n  - job_name: a\n    static_configs: [{targets: [\"x:1\"]}]\n  - job_name: b\n    file_sd_configs: [{files: [\"targets/*.json\", \"absent.yml\"]}]\n",
    )
    .unwrap();
    std::fs::write(d.join("rules.yml"), "groups:\n- name: g\n  rules:\n  - record: x\n    expr: up\n  - alert: Down\n    expr: up == 0\n    for: 5m\n").unwrap();
    std::fs::create_dir(d.join("more")).unwrap();
    std::fs::write(d.join("more/extra.yml"), "groups: []\n").unwrap();
    std::fs::create_dir(d.join("targets")).unwrap();
    std::fs::write(
        d.join("targets/t.json"),
        r#"[{"targets": ["h:9100"], "labels": {"env": "prod"}}]"#,
    )
    .unwrap();

    let ours = run(hearth(), d, &["prometheus.yml"]);
    assert_eq!(ours.code, 0, "{}{}", ours.stdout, ours.stderr);
    assert!(
        ours.stdout.contains("  SUCCESS: 2 rule files found\n"),
        "{}",
        ours.stdout
    );
    assert!(
        ours.stdout
            .contains("Checking rules.yml\n  SUCCESS: 2 rules found\n"),
        "{}",
        ours.stdout
    );

    // A rule file that is named but missing, and a broken one.
    std::fs::write(d.join("missing.yml"), "rule_files: [\"nope.yml\"]\n").unwrap();
    let missing = run(hearth(), d, &["missing.yml"]);
    assert_eq!(missing.code, 1);
    assert_eq!(
        missing.stderr,
        "  FAILED: \"nope.yml\" does not point to an existing file\n"
    );
    std::fs::write(
        d.join("bad_rules.yml"),
        "groups:\n- name: g\n  rules:\n  - record: x\n    exprr: up\n",
    )
    .unwrap();
    std::fs::write(d.join("p2.yml"), "rule_files: [\"bad_rules.yml\"]\n").unwrap();
    let bad = run(hearth(), d, &["p2.yml"]);
    assert_eq!(bad.code, 1);
    assert!(
        bad.stderr
            .contains("bad_rules.yml:5:5: field \"exprr\" not found"),
        "{}",
        bad.stderr
    );
    // A TLS file that does not exist fails the full check, not the syntax check.
    std::fs::write(
        d.join("tls.yml"),
        "scrape_configs:\n  - job_name: a\n    tls_config: {cert_file: c.pem, key_file: k.pem}\n",
    )
    .unwrap();
    assert_eq!(run(hearth(), d, &["tls.yml"]).code, 1);
    assert_eq!(run(hearth(), d, &["--syntax-only", "tls.yml"]).code, 0);

    let Some(_) = promtool() else {
        println!("SKIPPED: promtool is not installed; hearth's output was checked alone");
        return;
    };
    for args in [
        &["prometheus.yml"][..],
        &["--syntax-only", "prometheus.yml"],
        &["missing.yml"],
        &["tls.yml"],
        &["prometheus.yml", "missing.yml"],
    ] {
        let ours = run(hearth(), d, args);
        let theirs = run(promtool().unwrap(), d, args);
        assert_eq!(
            ours.code, theirs.code,
            "{args:?}: {}{}",
            theirs.stdout, theirs.stderr
        );
        // promtool 2.42 names absent file SD targets by mechanism only ("for file");
        // Prometheus 3 adds the job. Compare the rest line by line.
        let strip = |s: &str| -> String {
            s.lines()
                .filter(|l| !l.contains("WARNING"))
                .collect::<Vec<_>>()
                .join("\n")
        };
        assert_eq!(strip(&ours.stdout), strip(&theirs.stdout), "{args:?}");
    }
}
