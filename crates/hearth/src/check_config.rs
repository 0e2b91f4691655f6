//! `hearth tool check config`: `promtool check config` for hearth. Loads each
//! prometheus.yml as the server would, then (unless `--syntax-only`) checks the files it
//! names: rule files (fully, as `tool check rules` does), TLS and credential files, file SD target files. Output and exit codes
//! follow promtool: 0 all good, 1 any failure, 3 lint problems with `--lint-fatal`.

use std::io::Write;
use std::path::Path;

use hearth_config::{Config, HttpClientConfig, ScrapeConfig, ServiceDiscoveryConfigs};

pub const SUCCESS: i32 = 0;
pub const FAILURE: i32 = 1;

/// Options of `check config`.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub syntax_only: bool,
    /// `--lint`: all, duplicate-rules, none (applied to the rule files).
    pub lint: String,
    /// `--lint-fatal`: duplicate rules exit with 3.
    pub lint_fatal: bool,
    pub agent: bool,
}

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
    let mut failed = false;
    let mut lint_failed = false;
    for f in files {
        let _ = writeln!(out, "Checking {f}");
        match check_config_file(Path::new(f), opts, out) {
            Ok(rule_files) => {
                if !rule_files.is_empty() {
                    let _ = writeln!(out, "  SUCCESS: {} rule files found", rule_files.len());
                }
                let _ = writeln!(out, " SUCCESS: {f} is valid prometheus config file syntax");
                let _ = writeln!(out);
                if !opts.syntax_only {
                    let rule_opts = crate::check_rules::Options {
                        lint: opts.lint.clone(),
                        lint_fatal: opts.lint_fatal,
                    };
                    for rf in rule_files {
                        match crate::check_rules::report_file(&rf, &rule_opts, out, err) {
                            crate::check_rules::Verdict::Ok => {}
                            crate::check_rules::Verdict::Lint => lint_failed = true,
                            crate::check_rules::Verdict::Failed => failed = true,
                        }
                    }
                }
            }
            Err(e) => {
                let _ = writeln!(err, "  FAILED: {e}");
                let _ = writeln!(out);
                failed = true;
            }
        }
    }
    if failed {
        FAILURE
    } else if lint_failed && opts.lint_fatal {
        crate::check_rules::LINT_FAILURE
    } else {
        SUCCESS
    }
}

/// Loads one configuration and checks the files it refers to; returns the rule files.
fn check_config_file(
    path: &Path,
    opts: &Options,
    out: &mut dyn Write,
) -> Result<Vec<String>, String> {
    let cfg = Config::load_file(path).map_err(|e| e.to_string())?;
    if opts.agent {
        if !cfg.alerting.is_empty() {
            return Err("field alerting is not allowed in agent mode".into());
        }
        if !cfg.rule_files.is_empty() {
            return Err("field rule_files is not allowed in agent mode".into());
        }
        if !cfg.remote_read.is_empty() {
            return Err("field remote_read is not allowed in agent mode".into());
        }
    }
    let mut rule_files = Vec::new();
    if !opts.syntax_only {
        for pattern in &cfg.rule_files {
            let matches: Vec<String> = glob::glob(pattern)
                .map_err(|e| e.to_string())?
                .flatten()
                .map(|p| p.display().to_string())
                .collect();
            // An explicit file must exist; a glob may match nothing.
            if !pattern.contains('*') {
                if matches.is_empty() {
                    return Err(format!("{pattern:?} does not point to an existing file"));
                }
                check_file_exists(&matches[0])
                    .map_err(|e| format!("error checking rule file {:?}: {e}", matches[0]))?;
            }
            rule_files.extend(matches);
        }
    }
    let scrape_configs = cfg.all_scrape_configs().map_err(|e| e.to_string())?;
    if opts.syntax_only {
        return Ok(rule_files);
    }
    for sc in &scrape_configs {
        check_http_client_files(&sc.http_client)?;
        check_sd_files(&sc.service_discovery, Some(sc), out)?;
    }
    for am in &cfg.alerting.alertmanagers {
        check_http_client_files(&am.http_client)?;
        check_sd_files(&am.service_discovery, None, out)?;
    }
    Ok(rule_files)
}

fn check_file_exists(path: &str) -> Result<(), String> {
    if path.is_empty() {
        return Ok(());
    }
    std::fs::metadata(path)
        .map(|_| ())
        .map_err(|e| format!("stat {path}: {}", io_reason(&e)))
}

/// Go's wording for the common I/O errors.
fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file or directory".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => e.to_string(),
    }
}

fn check_http_client_files(c: &HttpClientConfig) -> Result<(), String> {
    if let Some(a) = &c.authorization {
        check_file_exists(&a.credentials_file).map_err(|e| {
            format!(
                "error checking authorization credentials or bearer token file {:?}: {e}",
                a.credentials_file
            )
        })?;
    }
    let tls = &c.tls_config;
    check_file_exists(&tls.cert_file)
        .map_err(|e| format!("error checking client cert file {:?}: {e}", tls.cert_file))?;
    check_file_exists(&tls.key_file)
        .map_err(|e| format!("error checking client key file {:?}: {e}", tls.key_file))?;
    Ok(())
}

fn check_sd_files(
    sd: &ServiceDiscoveryConfigs,
    scrape: Option<&ScrapeConfig>,
    out: &mut dyn Write,
) -> Result<(), String> {
    for k in &sd.kubernetes_sd_configs {
        check_http_client_files(&k.http_client)?;
    }
    for f in &sd.file_sd_configs {
        for pattern in &f.files {
            let files: Vec<_> = glob::glob(pattern)
                .map_err(|e| e.to_string())?
                .flatten()
                .collect();
            if files.is_empty() {
                let _ = writeln!(
                    out,
                    "  WARNING: file {pattern:?} for file_sd in scrape job {:?} does not exist",
                    scrape.map_or("", |s| s.job_name.as_str())
                );
                continue;
            }
            for file in files {
                let groups = hearth_discovery::file::read_target_file(&file)
                    .map_err(|e| format!("checking SD file {pattern:?}: {e}"))?;
                if scrape.is_some() {
                    check_target_groups(&groups)?;
                }
            }
        }
    }
    if scrape.is_some() {
        check_target_groups(&sd.static_configs)?;
    }
    Ok(())
}

/// Target addresses must be `host:port`-like (no URLs), as promtool checks.
fn check_target_groups(groups: &[hearth_discovery::TargetGroup]) -> Result<(), String> {
    for g in groups {
        for t in &g.targets {
            let addr = t.get_or_empty(hearth_discovery::ADDRESS_LABEL);
            if addr.contains('/') {
                return Err(format!("{addr:?} is not a valid hostname"));
            }
        }
    }
    Ok(())
}
