//! `hearth tool check rules`: `promtool check rules` for hearth. Each file is parsed and
//! validated by `hearth-rules` (the same code the server loads rule files with); output
//! and exit codes follow promtool: `Checking FILE`, `  SUCCESS: N rules found` or
//! `  FAILED:` with one error per line on standard error; 0 all good, 1 any failure,
//! 3 duplicate rules with `--lint-fatal`.

use std::fmt::Write as _;
use std::io::Write;
use std::path::Path;

use hearth_rules::rulefmt::{self, ParseOptions, RuleGroups};

pub const SUCCESS: i32 = 0;
pub const FAILURE: i32 = 1;
pub const LINT_FAILURE: i32 = 3;

/// Options of `check rules`.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `--lint`: all, duplicate-rules, none.
    pub lint: String,
    /// `--lint-fatal`.
    pub lint_fatal: bool,
}

impl Options {
    fn lint_duplicates(&self) -> bool {
        self.lint
            .split(',')
            .any(|s| s == "all" || s == "duplicate-rules")
    }
}

/// Checks every file; returns the exit code.
pub fn run(files: &[String], opts: &Options, out: &mut dyn Write, err: &mut dyn Write) -> i32 {
    for setting in opts.lint.split(',') {
        if !matches!(setting, "all" | "duplicate-rules" | "none") {
            let _ = writeln!(
                err,
                "{setting:?} is not a valid lint option (all, duplicate-rules, none)"
            );
            return FAILURE;
        }
    }
    for f in files {
        if !Path::new(f).exists() {
            let _ = writeln!(err, "hearth: error: path '{f}' does not exist, try --help");
            return FAILURE;
        }
    }
    let mut failed = false;
    let mut lint_failed = false;
    for f in files {
        match report_file(f, opts, out, err) {
            Verdict::Ok => {}
            Verdict::Lint => lint_failed = true,
            Verdict::Failed => failed = true,
        }
    }
    if failed {
        FAILURE
    } else if lint_failed && opts.lint_fatal {
        LINT_FAILURE
    } else {
        SUCCESS
    }
}

/// The outcome of checking one file.
pub enum Verdict {
    Ok,
    /// Lint findings only.
    Lint,
    Failed,
}

/// Checks one file and prints promtool's report for it (`Checking FILE`, then
/// `  SUCCESS: N rules found` or `  FAILED:` and the errors on `err`, then a blank line).
pub fn report_file(f: &str, opts: &Options, out: &mut dyn Write, err: &mut dyn Write) -> Verdict {
    let _ = writeln!(out, "Checking {f}");
    let verdict = match check_file(Path::new(f), opts) {
        Ok(n) => {
            let _ = writeln!(out, "  SUCCESS: {n} rules found");
            Verdict::Ok
        }
        Err((errors, lint_only)) => {
            let _ = writeln!(err, "  FAILED:");
            for e in errors {
                let _ = writeln!(err, "{e}");
            }
            if lint_only {
                Verdict::Lint
            } else {
                Verdict::Failed
            }
        }
    };
    let _ = writeln!(out);
    verdict
}

/// Checks one rule file as promtool's `checkRules` does: the rule count, or the errors
/// and whether they are lint findings only.
pub fn check_file(path: &Path, opts: &Options) -> Result<usize, (Vec<String>, bool)> {
    let groups = rulefmt::parse_file(path, &ParseOptions::default())
        .map_err(|errs| (errs.iter().map(ToString::to_string).collect(), false))?;
    if opts.lint_duplicates()
        && let Some(msg) = duplicates_message(&groups)
    {
        return Err((vec![msg], true));
    }
    Ok(groups.rule_count())
}

/// promtool's `checkDuplicates`: rules with the same name and labels.
fn duplicates_message(groups: &RuleGroups) -> Option<String> {
    let mut rules: Vec<(&str, Vec<(&str, &str)>)> = groups
        .groups
        .iter()
        .flat_map(|g| &g.rules)
        .map(|r| {
            let name = if r.alert.is_empty() {
                &r.record
            } else {
                &r.alert
            };
            let labels = r
                .labels
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            (name.as_str(), labels)
        })
        .collect();
    rules.sort();
    let mut dups: Vec<&(&str, Vec<(&str, &str)>)> = Vec::new();
    for w in rules.windows(2) {
        if w[0] == w[1] && dups.last().is_none_or(|d| **d != w[0]) {
            dups.push(&w[1]);
        }
    }
    if dups.is_empty() {
        return None;
    }
    let mut msg = format!("lint error {} duplicate rule(s) found.\n", dups.len());
    for (metric, labels) in dups {
        let _ = writeln!(msg, "Metric: {metric}\nLabel(s):");
        for (k, v) in labels {
            let _ = writeln!(msg, "\t{k}: {v}");
        }
    }
    msg.push_str("Might cause inconsistency while recording expressions");
    Some(msg)
}
