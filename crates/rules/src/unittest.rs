//! Upstream's rule unit tests (`promtool test rules`): a file names rule files and test
//! groups with input series in PromQL series notation, expected alerts at evaluation
//! times (`alert_rule_test`) and expected query results (`promql_expr_test`). Rules are
//! evaluated from time 0 every `evaluation_interval` on an in-memory storage; failures
//! are reported in promtool's wording.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use hearth_config::{ConfigError, ModelDuration};
use hearth_model::{HistogramValue, Labels, format_duration};
use hearth_promql::engine::{Engine, EngineOptions, Features};
use hearth_promql::series::SeriesValue;
use hearth_tsdb::mem_storage::MemStorage;
use hearth_tsdb::storage::Appendable;
use serde::Deserialize;

use crate::api::format_e;
use crate::group::{Group, GroupOptions};
use crate::rule::{AlertState, EvalEnv, Rule};
use crate::rulefmt::{self, ParseOptions};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UnitTestFile {
    #[serde(default)]
    rule_files: Vec<String>,
    #[serde(default)]
    evaluation_interval: Option<ModelDuration>,
    #[serde(default)]
    group_eval_order: Vec<String>,
    #[serde(default)]
    tests: Vec<TestGroup>,
    #[serde(default)]
    fuzzy_compare: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TestGroup {
    #[serde(default)]
    interval: Option<ModelDuration>,
    #[serde(default)]
    input_series: Vec<InputSeries>,
    #[serde(default)]
    alert_rule_test: Vec<AlertTestCase>,
    #[serde(default)]
    promql_expr_test: Vec<PromqlTestCase>,
    #[serde(default)]
    external_labels: BTreeMap<String, String>,
    #[serde(default)]
    external_url: String,
    #[serde(default)]
    name: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InputSeries {
    series: String,
    #[serde(default)]
    values: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AlertTestCase {
    eval_time: ModelDuration,
    alertname: String,
    #[serde(default)]
    exp_alerts: Vec<ExpAlert>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpAlert {
    #[serde(default)]
    exp_labels: BTreeMap<String, String>,
    #[serde(default)]
    exp_annotations: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PromqlTestCase {
    expr: String,
    eval_time: ModelDuration,
    #[serde(default)]
    exp_samples: Vec<ExpSample>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpSample {
    labels: String,
    #[serde(default)]
    value: f64,
}

/// Runs the tests of one file: `Ok(())` when they all pass, the failures otherwise
/// (already indented as promtool prints them; a named test group's name leads its
/// first failure).
pub fn run_file(path: &Path) -> Result<(), Vec<String>> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| vec![e.to_string()])?;
    let file: UnitTestFile = serde_saphyr::from_str(&text)
        .map_err(|e| vec![ConfigError::from_yaml(&name, &e).to_string()])?;
    let dir = path.parent().unwrap_or(Path::new("."));
    let eval_interval = file
        .evaluation_interval
        .map_or(60_000, |d| d.millis())
        .max(1);
    let mut rule_paths: Vec<PathBuf> = Vec::new();
    for rf in &file.rule_files {
        let pattern = dir.join(rf).display().to_string();
        let matched: Vec<PathBuf> = glob_paths(&pattern);
        if matched.is_empty() && !rf.contains('*') {
            rule_paths.push(dir.join(rf));
        }
        rule_paths.extend(matched);
    }
    let mut errs = Vec::new();
    for tg in &file.tests {
        let mut e = run_group(
            tg,
            &rule_paths,
            eval_interval,
            &file.group_eval_order,
            file.fuzzy_compare,
        );
        if let Some(first) = e.first_mut()
            && !tg.name.is_empty()
        {
            *first = format!("    name: {},\n{first}", tg.name);
        }
        errs.append(&mut e);
    }
    if errs.is_empty() { Ok(()) } else { Err(errs) }
}

fn glob_paths(pattern: &str) -> Vec<PathBuf> {
    if !pattern.contains(['*', '?', '[']) {
        return Vec::new();
    }
    let Some((dir, file_pat)) = pattern.rsplit_once('/') else {
        return Vec::new();
    };
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = entries
        .flatten()
        .filter(|e| simple_glob(file_pat, &e.file_name().to_string_lossy()))
        .map(|e| e.path())
        .collect();
    out.sort();
    out
}

/// `*` and `?` matching of one path element.
fn simple_glob(p: &str, s: &str) -> bool {
    let (p, s): (Vec<char>, Vec<char>) = (p.chars().collect(), s.chars().collect());
    let (mut pi, mut si, mut star, mut mark) = (0, 0, None, 0);
    while si < s.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == s[si]) {
            pi += 1;
            si += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = si;
            pi += 1;
        } else if let Some(st) = star {
            pi = st + 1;
            mark += 1;
            si = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

fn load_series(storage: &MemStorage, tg: &TestGroup, interval: i64) -> Result<(), String> {
    let mut app = storage.appender();
    for s in &tg.input_series {
        let desc = format!("{} {}", s.series, s.values);
        let (labels, values) =
            hearth_promql::parse_series_desc(&desc).map_err(|e| e.to_string())?;
        for (i, v) in values.into_iter().enumerate() {
            let t = i as i64 * interval;
            let res = match v {
                None => continue,
                Some(SeriesValue::Histogram(h)) => app
                    .append_histogram(None, &labels, t, &HistogramValue::Float(h.histogram))
                    .map(|_| ()),
                Some(v) => app
                    .append(None, &labels, t, v.as_f64().unwrap_or(f64::NAN))
                    .map(|_| ()),
            };
            res.map_err(|e| format!("{desc}: {e}"))?;
        }
    }
    app.commit().map_err(|e| e.to_string())
}

type Got = Vec<(Labels, Labels)>;

fn alerts_string(la: &Got) -> String {
    if la.is_empty() {
        return "[]".to_string();
    }
    let mut s = "[".to_string();
    for (i, (l, a)) in la.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        let _ = write!(s, "\n{i}:\n  Labels:{l}\n  Annotations:{a}");
    }
    s.push_str("\n]");
    s.replace('\n', "\n            ")
}

fn run_group(
    tg: &TestGroup,
    rule_files: &[PathBuf],
    eval_interval: i64,
    order: &[String],
    fuzzy: bool,
) -> Vec<String> {
    let interval = tg.interval.map_or(eval_interval, |d| d.millis()).max(1);
    let storage = MemStorage::new();
    if let Err(e) = load_series(&storage, tg, interval) {
        return vec![format!("    {e}")];
    }
    let engine = Arc::new(Engine::new(EngineOptions {
        features: Features::all(),
        ..EngineOptions::default()
    }));
    let env = EvalEnv {
        engine: engine.clone(),
        queryable: Arc::new(storage.clone()),
        external_labels: Labels::new(tg.external_labels.iter()),
        external_url: tg.external_url.clone(),
    };
    let opts = Arc::new(GroupOptions::new(env.clone(), Arc::new(storage.clone())));
    let mut groups: Vec<Group> = Vec::new();
    let parse = ParseOptions {
        features: Features::all(),
        ..ParseOptions::default()
    };
    for f in rule_files {
        match rulefmt::parse_file(f, &parse) {
            Ok(rg) => {
                for g in &rg.groups {
                    groups.push(Group::new(
                        g,
                        &f.display().to_string(),
                        interval,
                        0,
                        false,
                        opts.clone(),
                    ));
                }
            }
            Err(e) => return e.iter().map(|e| format!("    {e}")).collect(),
        }
    }
    if !order.is_empty() {
        groups.sort_by_key(|g| {
            order
                .iter()
                .position(|n| *n == g.name)
                .unwrap_or(usize::MAX)
        });
    }

    let mut alert_times: Vec<i64> = tg
        .alert_rule_test
        .iter()
        .map(|a| a.eval_time.millis())
        .collect();
    alert_times.sort_unstable();
    alert_times.dedup();
    let maxt = alert_times
        .iter()
        .copied()
        .chain(tg.promql_expr_test.iter().map(|p| p.eval_time.millis()))
        .max()
        .unwrap_or(0);
    let mut errs = Vec::new();
    let mut curr = 0;
    let mut ts = 0;
    while ts <= maxt {
        let mut eval_errs = Vec::new();
        for g in &mut groups {
            g.eval(ts);
            for r in &g.rules {
                if let Some(e) = &r.status().last_error
                    && r.status().last_evaluation_ms == Some(ts)
                {
                    eval_errs.push(format!(
                        "    rule: {}, time: {}, err: {e}",
                        r.name(),
                        format_duration(ts)
                    ));
                }
            }
        }
        if !eval_errs.is_empty() {
            return eval_errs;
        }
        while curr < alert_times.len()
            && ts <= alert_times[curr]
            && alert_times[curr] < ts + eval_interval
        {
            let t = alert_times[curr];
            let mut got: BTreeMap<&str, Got> = BTreeMap::new();
            for g in &groups {
                for r in &g.rules {
                    if let Rule::Alerting(ar) = r {
                        let e = got.entry(ar.name.as_str()).or_default();
                        for a in ar.active_alerts() {
                            if a.state == AlertState::Firing {
                                e.push((a.labels.clone(), a.annotations.clone()));
                            }
                        }
                    }
                }
            }
            for tc in tg
                .alert_rule_test
                .iter()
                .filter(|a| a.eval_time.millis() == t)
            {
                let mut got_alerts = got.get(tc.alertname.as_str()).cloned().unwrap_or_default();
                let mut exp: Got = tc
                    .exp_alerts
                    .iter()
                    .map(|a| {
                        let mut l = a.exp_labels.clone();
                        l.insert("alertname".to_string(), tc.alertname.clone());
                        (Labels::new(l.iter()), Labels::new(a.exp_annotations.iter()))
                    })
                    .collect();
                got_alerts.sort();
                exp.sort();
                if got_alerts != exp {
                    errs.push(format!(
                        "    alertname: {}, time: {}, \n        exp:{}, \n        got:{}",
                        tc.alertname,
                        format_duration(t),
                        alerts_string(&exp),
                        alerts_string(&got_alerts)
                    ));
                }
            }
            curr += 1;
        }
        ts += eval_interval;
    }

    for tc in &tg.promql_expr_test {
        let t = tc.eval_time.millis();
        let got = match env.query(&tc.expr, t) {
            Ok(v) => v,
            Err(e) => {
                errs.push(format!(
                    "    expr: {:?}, time: {}, err: {e}",
                    tc.expr,
                    format_duration(t)
                ));
                continue;
            }
        };
        let mut got: Vec<(Labels, f64)> = got.into_iter().map(|s| (s.metric, s.f)).collect();
        let mut exp = Vec::new();
        let mut bad = false;
        for s in &tc.exp_samples {
            match hearth_promql::parse_metric(&s.labels) {
                Ok(l) => exp.push((l, s.value)),
                Err(e) => {
                    errs.push(format!(
                        "    expr: {:?}, time: {}, err: {e}",
                        tc.expr,
                        format_duration(t)
                    ));
                    bad = true;
                }
            }
        }
        if bad {
            continue;
        }
        got.sort_by(|a, b| a.0.cmp(&b.0));
        exp.sort_by(|a, b| a.0.cmp(&b.0));
        let equal = got.len() == exp.len()
            && got.iter().zip(&exp).all(|(g, e)| {
                g.0 == e.0
                    && (g.1 == e.1
                        || (g.1.is_nan() && e.1.is_nan())
                        || (fuzzy && almost_equal(g.1, e.1)))
            });
        if !equal {
            errs.push(format!(
                "    expr: {:?}, time: {},\n        exp: {}\n        got: {}",
                tc.expr,
                format_duration(t),
                samples_string(&exp),
                samples_string(&got)
            ));
        }
    }
    errs
}

fn almost_equal(a: f64, b: f64) -> bool {
    let eps = 1e-9;
    (a - b).abs() <= eps * a.abs().max(b.abs()).max(f64::MIN_POSITIVE)
}

fn samples_string(s: &[(Labels, f64)]) -> String {
    if s.is_empty() {
        return "nil".to_string();
    }
    s.iter()
        .map(|(l, v)| format!("{l} {}", format_e(*v).to_uppercase()))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(simple_glob("*.yml", "a.yml"));
        assert!(!simple_glob("*.yml", "a.yaml"));
        assert!(simple_glob("r?.yml", "r1.yml"));
    }
}
