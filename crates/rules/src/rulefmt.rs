//! Rule files in Prometheus' format (upstream's `rulefmt`): groups of recording and
//! alerting rules, parsed with positions and validated as `promtool check rules` does.
//!
//! YAML goes through `serde-saphyr` with unknown fields rejected, as prometheus.yml does
//! (`hearth_config::ConfigError`: `file:line:column: field "x" not found`). Semantic
//! errors read as upstream's: `5:15: group "g", rule 1, "name": could not parse
//! expression: 1:17: parse error: ...`, one per problem, all of them reported.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::path::Path;

use hearth_config::{ConfigError, ModelDuration};
use hearth_model::names::ValidationScheme;
use hearth_promql::engine::Features;
use hearth_template::prometheus::{ALERT_TEMPLATE_PREFIX, PrometheusContext};
use serde::Deserialize;
use serde_saphyr::Spanned;

/// Largest rule file read (upstream has none; a guard against mistakes).
pub const MAX_RULE_FILE_BYTES: u64 = 64 << 20;

/// A parsed, validated rule file.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RuleGroups {
    pub groups: Vec<RuleGroup>,
}

impl RuleGroups {
    /// Number of rules in all groups.
    pub fn rule_count(&self) -> usize {
        self.groups.iter().map(|g| g.rules.len()).sum()
    }
}

/// One group as written.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RuleGroup {
    pub name: String,
    /// `interval` (ms) when written.
    pub interval_ms: Option<i64>,
    /// `query_offset` (ms) when written.
    pub query_offset_ms: Option<i64>,
    /// `limit`: 0 is no limit.
    pub limit: usize,
    /// Labels added to every rule of the group (rule labels win).
    pub labels: BTreeMap<String, String>,
    pub rules: Vec<Rule>,
}

/// One rule as written: `record` or `alert` is set, never both.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Rule {
    pub record: String,
    pub alert: String,
    pub expr: String,
    pub for_ms: i64,
    pub keep_firing_for_ms: i64,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
}

/// Why a rule file cannot be used: its name and upstream's message (which carries the
/// line and column where upstream gives one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleFileError {
    pub file: String,
    /// Line and column of YAML errors (printed `file:line:column:` as configuration
    /// errors are); semantic errors carry upstream's positions in the message.
    pub position: Option<(usize, usize)>,
    pub message: String,
}

impl fmt::Display for RuleFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.position {
            Some((l, c)) => write!(f, "{}:{l}:{c}: {}", self.file, self.message),
            None => write!(f, "{}: {}", self.file, self.message),
        }
    }
}

impl std::error::Error for RuleFileError {}

impl From<ConfigError> for RuleFileError {
    fn from(e: ConfigError) -> Self {
        RuleFileError {
            file: e.file,
            position: e.position,
            message: e.message,
        }
    }
}

/// How names are checked and expressions parsed.
#[derive(Debug, Clone, Copy)]
pub struct ParseOptions {
    /// Recording rule names and label names (Prometheus 3 default: UTF-8).
    pub name_validation: ValidationScheme,
    pub features: Features,
}

impl Default for ParseOptions {
    fn default() -> Self {
        ParseOptions {
            name_validation: ValidationScheme::Utf8,
            features: Features::default(),
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RawFile {
    groups: Vec<Spanned<RawGroup>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RawGroup {
    name: String,
    interval: Option<ModelDuration>,
    query_offset: Option<ModelDuration>,
    limit: usize,
    labels: BTreeMap<String, String>,
    rules: Vec<Spanned<RawRule>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RawRule {
    record: Option<Spanned<String>>,
    alert: Option<Spanned<String>>,
    expr: Option<Spanned<String>>,
    #[serde(rename = "for")]
    for_: ModelDuration,
    keep_firing_for: ModelDuration,
    labels: BTreeMap<String, String>,
    annotations: BTreeMap<String, String>,
}

fn pos<T>(s: Option<&Spanned<T>>) -> String {
    match s {
        Some(s) => format!("{}:{}", s.referenced.line(), s.referenced.column()),
        None => "0:0".to_string(),
    }
}

fn text(s: &Option<Spanned<String>>) -> String {
    s.as_ref().map(|s| s.value.clone()).unwrap_or_default()
}

/// Reads and parses a rule file.
pub fn parse_file(path: &Path, opts: &ParseOptions) -> Result<RuleGroups, Vec<RuleFileError>> {
    let name = path.display().to_string();
    let fail = |m: String| {
        vec![RuleFileError {
            file: name.clone(),
            position: None,
            message: m,
        }]
    };
    let meta = std::fs::metadata(path).map_err(|e| fail(io_message(&e)))?;
    if meta.len() > MAX_RULE_FILE_BYTES {
        return Err(fail(format!(
            "file is larger than {MAX_RULE_FILE_BYTES} bytes"
        )));
    }
    let content = std::fs::read_to_string(path).map_err(|e| fail(io_message(&e)))?;
    parse(&content, &name, opts)
}

fn io_message(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "open: no such file or directory".to_string(),
        _ => e.to_string(),
    }
}

/// Parses and validates rule file text; `file` names it in errors.
pub fn parse(
    content: &str,
    file: &str,
    opts: &ParseOptions,
) -> Result<RuleGroups, Vec<RuleFileError>> {
    let raw: RawFile = if content.trim().is_empty() {
        RawFile::default()
    } else {
        serde_saphyr::from_str::<Option<RawFile>>(content)
            .map_err(|e| vec![ConfigError::from_yaml(file, &e).into()])?
            .unwrap_or_default()
    };
    let mut errs: Vec<String> = Vec::new();
    let mut seen = HashSet::new();
    let mut out = RuleGroups::default();
    for g in raw.groups {
        let gpos = pos(Some(&g));
        let g = g.value;
        if g.name.is_empty() {
            errs.push(format!("{gpos}: Groupname must not be empty"));
        } else if !seen.insert(g.name.clone()) {
            errs.push(format!(
                "{gpos}: groupname: \"{}\" is repeated in the same file",
                g.name
            ));
        }
        for k in g.labels.keys() {
            if !opts.name_validation.is_valid_label_name(k) || k == "__name__" {
                errs.push(format!("invalid label name: {k}"));
            }
        }
        let mut rules = Vec::with_capacity(g.rules.len());
        for (i, r) in g.rules.into_iter().enumerate() {
            let r = r.value;
            let rule = Rule {
                record: text(&r.record),
                alert: text(&r.alert),
                expr: text(&r.expr),
                for_ms: r.for_.millis(),
                keep_firing_for_ms: r.keep_firing_for.millis(),
                labels: r.labels.clone(),
                annotations: r.annotations.clone(),
            };
            let rule_name = if rule.alert.is_empty() {
                &rule.record
            } else {
                &rule.alert
            };
            let prefix = |p: Option<String>| {
                let head = format!("group {:?}, rule {}, {:?}", g.name, i + 1, rule_name);
                match p {
                    Some(p) => format!("{p}: {head}"),
                    None => head,
                }
            };
            for (p, msg) in validate_rule(&r, &rule, opts) {
                errs.push(format!("{}: {msg}", prefix(p)));
            }
            rules.push(rule);
        }
        out.groups.push(RuleGroup {
            name: g.name,
            interval_ms: g.interval.map(|d| d.millis()),
            query_offset_ms: g.query_offset.map(|d| d.millis()),
            limit: g.limit,
            labels: g.labels,
            rules,
        });
    }
    if errs.is_empty() {
        Ok(out)
    } else {
        Err(errs
            .into_iter()
            .map(|message| RuleFileError {
                file: file.to_string(),
                position: None,
                message,
            })
            .collect())
    }
}

/// Upstream's `Rule.Validate`: (position prefix, message) per problem.
fn validate_rule(raw: &RawRule, r: &Rule, opts: &ParseOptions) -> Vec<(Option<String>, String)> {
    let mut out = Vec::new();
    let record_pos = || Some(pos(raw.record.as_ref()));
    if !r.record.is_empty() && !r.alert.is_empty() {
        out.push((
            Some(format!(
                "{}: {}",
                pos(raw.record.as_ref()),
                pos(raw.alert.as_ref())
            )),
            "only one of 'record' and 'alert' must be set".to_string(),
        ));
    }
    if r.record.is_empty() && r.alert.is_empty() {
        out.push((
            record_pos(),
            "one of 'record' or 'alert' must be set".to_string(),
        ));
    }
    let expr_pos = Some(pos(raw.expr.as_ref()));
    if r.expr.is_empty() {
        out.push((expr_pos, "field 'expr' must be set in rule".to_string()));
    } else if let Err(e) =
        hearth_promql::parser::parse_expr(&r.expr, &opts.features.parser_options())
    {
        out.push((expr_pos, format!("could not parse expression: {e}")));
    }
    if !r.record.is_empty() {
        if !r.annotations.is_empty() {
            out.push((
                record_pos(),
                "invalid field 'annotations' in recording rule".to_string(),
            ));
        }
        if r.for_ms != 0 {
            out.push((
                record_pos(),
                "invalid field 'for' in recording rule".to_string(),
            ));
        }
        if r.keep_firing_for_ms != 0 {
            out.push((
                record_pos(),
                "invalid field 'keep_firing_for' in recording rule".to_string(),
            ));
        }
        if !opts.name_validation.is_valid_metric_name(&r.record) {
            out.push((
                record_pos(),
                format!("invalid recording rule name: {}", r.record),
            ));
        }
    }
    for k in r.labels.keys() {
        if !opts.name_validation.is_valid_label_name(k) || k == "__name__" {
            out.push((None, format!("invalid label name: {k}")));
        }
    }
    for k in r.annotations.keys() {
        if !opts.name_validation.is_valid_label_name(k) {
            out.push((None, format!("invalid annotation name: {k}")));
        }
    }
    if !r.alert.is_empty() {
        for (what, map) in [("label", &r.labels), ("annotation", &r.annotations)] {
            for (k, v) in map {
                if let Err(e) = check_template(&r.alert, v) {
                    out.push((None, format!("{what} {k:?}: {e}")));
                }
            }
        }
    }
    out
}

/// Parses an alert label or annotation template as upstream's `ParseTest` does.
pub fn check_template(alert: &str, text: &str) -> Result<(), String> {
    let funcs = hearth_template::prometheus_funcs(&PrometheusContext::default());
    hearth_template::Template::parse(
        &format!("__alert_{alert}"),
        &format!("{ALERT_TEMPLATE_PREFIX}{text}"),
        funcs,
    )
    .map(|_| ())
    .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(text: &str) -> Vec<String> {
        match parse(text, "f.yml", &ParseOptions::default()) {
            Ok(_) => Vec::new(),
            Err(e) => e.into_iter().map(|e| e.to_string()).collect(),
        }
    }

    #[test]
    fn parses_groups_and_rules() {
        let g = parse(
            "groups:\n- name: a\n  interval: 30s\n  query_offset: 1m\n  limit: 3\n  labels: {team: x}\n  rules:\n  - record: r\n    expr: up\n  - alert: A\n    expr: up == 0\n    for: 5m\n    keep_firing_for: 1m\n    labels: {s: p}\n    annotations: {d: '{{ $value }}'}\n",
            "f",
            &ParseOptions::default(),
        )
        .unwrap();
        assert_eq!(g.rule_count(), 2);
        let grp = &g.groups[0];
        assert_eq!(grp.interval_ms, Some(30_000));
        assert_eq!(grp.query_offset_ms, Some(60_000));
        assert_eq!(grp.limit, 3);
        assert_eq!(grp.rules[1].for_ms, 300_000);
        assert_eq!(grp.rules[1].keep_firing_for_ms, 60_000);
        assert!(
            parse("", "f", &ParseOptions::default())
                .unwrap()
                .groups
                .is_empty()
        );
    }

    #[test]
    fn upstream_messages() {
        assert_eq!(
            errors(
                "groups:\n  - name: g1\n    rules:\n      - record: job:up:sum\n        expr: sum by (job) (up\n"
            ),
            [
                "f.yml: 5:15: group \"g1\", rule 1, \"job:up:sum\": could not parse expression: 1:17: parse error: unclosed left parenthesis"
            ]
        );
        assert_eq!(
            errors("groups:\n  - name: g1\n    rules: []\n  - name: g1\n    rules: []\n"),
            ["f.yml: 4:5: groupname: \"g1\" is repeated in the same file"]
        );
        assert_eq!(
            errors(
                "groups:\n  - name: g1\n    rules:\n      - alert: X\n        record: y\n        expr: up\n      - expr: up\n"
            ),
            [
                "f.yml: 5:17: 4:16: group \"g1\", rule 1, \"X\": only one of 'record' and 'alert' must be set",
                "f.yml: 0:0: group \"g1\", rule 2, \"\": one of 'record' or 'alert' must be set"
            ]
        );
        assert_eq!(
            errors(
                "groups:\n  - name: g1\n    rules:\n      - alert: X\n        expr: up\n        labels: {__name__: x}\n        annotations:\n          a: \"{{ $labels.x \"\n"
            ),
            [
                "f.yml: group \"g1\", rule 1, \"X\": invalid label name: __name__",
                "f.yml: group \"g1\", rule 1, \"X\": annotation \"a\": template: __alert_X:1: unclosed action"
            ]
        );
        let e = errors(
            "groups:\n  - name: g1\n    rules:\n      - record: a\n        expr: up\n        exprr: 1\n",
        );
        assert_eq!(e.len(), 1);
        assert!(
            e[0].starts_with("f.yml:6:9: field \"exprr\" not found"),
            "{e:?}"
        );
        assert_eq!(
            errors("groups:\n  - rules: []\n"),
            ["f.yml: 2:5: Groupname must not be empty"]
        );
    }

    #[test]
    fn legacy_names() {
        let opts = ParseOptions {
            name_validation: ValidationScheme::Legacy,
            ..ParseOptions::default()
        };
        let e = parse(
            "groups:\n  - name: g1\n    rules:\n      - record: \"1abc\"\n        expr: up\n",
            "f",
            &opts,
        )
        .unwrap_err();
        assert_eq!(
            e[0].to_string(),
            "f: 4:17: group \"g1\", rule 1, \"1abc\": invalid recording rule name: 1abc"
        );
    }
}
