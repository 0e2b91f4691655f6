//! `hearth tool check metrics`: `promtool check metrics` for hearth. Reads an exposition
//! from standard input, reports parse errors with line and column, then promlint's
//! findings; exits 0 when clean, 1 on a parse error, 3 when only lint problems remain.

use std::collections::HashMap;
use std::io::Write;

use hearth_exposition::lint::lint;
use hearth_exposition::{
    Entry, FamilyCollector, MetricFamily, OpenMetricsOptions, OpenMetricsParser,
    OpenMetricsValidator, TextParser,
};
use hearth_model::MetricType;

pub const SUCCESS: i32 = 0;
pub const FAILURE: i32 = 1;
pub const LINT_PROBLEMS: i32 = 3;

/// Runs the check over `input`, writing as promtool does: errors and problems to `err`,
/// the `--extended` cardinality table to `out`. Returns the exit code.
pub fn run(
    input: &[u8],
    openmetrics: bool,
    extended: bool,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> i32 {
    let parsed = if openmetrics {
        collect_openmetrics(input)
    } else {
        collect_text(input)
    };
    let families = match parsed {
        Ok(f) => f,
        Err(e) => {
            let _ = writeln!(err, "error while linting: {e}");
            return FAILURE;
        }
    };
    let problems = lint(&lint_view(&families, openmetrics));
    for p in &problems {
        let _ = writeln!(err, "{} {}", p.metric, p.text);
    }
    if !problems.is_empty() {
        return LINT_PROBLEMS;
    }
    if extended {
        write_cardinality(&families, out);
    }
    SUCCESS
}

fn collect_text(input: &[u8]) -> Result<Vec<MetricFamily>, String> {
    let mut p = TextParser::new(input).map_err(|e| e.to_string())?;
    let mut c = FamilyCollector::new();
    let mut meta = MetadataOrder::default();
    while let Some(e) = p.next().map_err(|e| e.to_string())? {
        let checked = meta.check(&e);
        c.push(&e);
        checked.map_err(|m| format!("line {}: {m}", p.entry_line()))?;
    }
    Ok(c.finish())
}

fn collect_openmetrics(input: &[u8]) -> Result<Vec<MetricFamily>, String> {
    let opts = OpenMetricsOptions {
        strict: true,
        ..Default::default()
    };
    let mut p = OpenMetricsParser::new(input, opts).map_err(|e| e.to_string())?;
    let mut v = OpenMetricsValidator::new();
    let mut c = FamilyCollector::new();
    while let Some(e) = p.next().map_err(|e| e.to_string())? {
        let checked = v.entry(&e);
        c.push(&e);
        checked.map_err(|m| format!("line {}: {m}", p.entry_line()))?;
    }
    v.finish()?;
    Ok(c.finish())
}

/// The text parser client_golang uses (expfmt) rejects a second HELP or TYPE for a name
/// and a TYPE after samples; promtool reports those as parse errors.
#[derive(Default)]
struct MetadataOrder {
    /// Per family name: seen HELP, seen TYPE, seen samples.
    seen: HashMap<String, (bool, bool, bool)>,
    current: Option<(String, MetricType)>,
}

impl MetadataOrder {
    fn check(&mut self, e: &Entry<'_>) -> Result<(), String> {
        match e {
            Entry::Help { name, .. } => {
                let s = self.seen.entry(name.to_string()).or_default();
                if s.0 {
                    return Err(format!("second HELP line for metric name {name:?}"));
                }
                s.0 = true;
                self.current = Some((name.to_string(), MetricType::Unknown));
            }
            Entry::Type { name, metric_type } => {
                let s = self.seen.entry(name.to_string()).or_default();
                if s.1 || s.2 {
                    return Err(format!(
                        "second TYPE line for metric name {name:?}, or TYPE reported after samples"
                    ));
                }
                s.1 = true;
                self.current = Some((name.to_string(), *metric_type));
            }
            Entry::Sample(sample) => {
                let family = match &self.current {
                    Some((f, t))
                        if hearth_exposition::family::sample_suffixes(*t)
                            .iter()
                            .any(|suffix| sample.name.strip_suffix(suffix) == Some(f.as_str())) =>
                    {
                        f.clone()
                    }
                    _ => sample.name.to_string(),
                };
                self.seen.entry(family).or_default().2 = true;
            }
            _ => {}
        }
        Ok(())
    }
}

/// OpenMetrics names counter families without `_total`; promlint judges names as the
/// text format (and Prometheus' series) carry them, so lint the `_total` form.
fn lint_view(families: &[MetricFamily], openmetrics: bool) -> Vec<MetricFamily> {
    families
        .iter()
        .map(|f| {
            let mut f = f.clone();
            if openmetrics && f.metric_type == MetricType::Counter && !f.name.ends_with("_total") {
                f.name.push_str("_total");
            }
            f
        })
        .collect()
}

/// promtool's `--extended` table: series per metric name, largest first.
fn write_cardinality(families: &[MetricFamily], out: &mut dyn Write) {
    let mut per_name: HashMap<&str, usize> = HashMap::new();
    let mut total = 0usize;
    for s in families.iter().flat_map(|f| &f.samples) {
        *per_name.entry(s.name.as_str()).or_default() += 1;
        total += 1;
    }
    let mut rows: Vec<(&str, usize)> = per_name.into_iter().collect();
    rows.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let width = rows
        .iter()
        .map(|r| r.0.len())
        .max()
        .unwrap_or(0)
        .max("Metric".len());
    let _ = writeln!(out, "{:<width$}    Cardinality    Percentage", "Metric");
    for (name, n) in &rows {
        let pct = if total == 0 {
            0.0
        } else {
            *n as f64 * 100.0 / total as f64
        };
        let _ = writeln!(out, "{name:<width$}    {n:<11}    {pct:.2}");
    }
    let _ = writeln!(out, "{:<width$}    {total:<11}    100", "Total");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str, om: bool) -> (i32, String, String) {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let code = run(input.as_bytes(), om, true, &mut out, &mut err);
        (
            code,
            String::from_utf8(out).unwrap(),
            String::from_utf8(err).unwrap(),
        )
    }

    #[test]
    fn clean_input_exits_zero_with_stats() {
        let (code, out, err) = check(
            "# HELP a_total A.\n# TYPE a_total counter\na_total{x=\"1\"} 1\na_total{x=\"2\"} 1\n",
            false,
        );
        assert_eq!((code, err.as_str()), (SUCCESS, ""));
        assert!(out.contains("a_total    2"), "{out}");
    }

    #[test]
    fn parse_error_exits_one_with_position() {
        let (code, _, err) = check("a 1\nb{ 2\n", false);
        assert_eq!(code, FAILURE);
        assert!(
            err.starts_with("error while linting: line 2, column 4:"),
            "{err}"
        );
        let (code, _, err) = check("# HELP a x\n# HELP a y\n", false);
        assert_eq!(code, FAILURE);
        assert!(err.contains("line 2: second HELP line"), "{err}");
    }

    #[test]
    fn lint_problems_exit_three() {
        let (code, _, err) = check(
            "# HELP requests R.\n# TYPE requests counter\nrequests 1\n",
            false,
        );
        assert_eq!(code, LINT_PROBLEMS);
        assert_eq!(
            err,
            "requests counter metrics should have \"_total\" suffix\n"
        );
    }

    #[test]
    fn openmetrics_mode_is_strict_and_lints_total_names() {
        let (code, _, err) = check("# HELP a A.\n# TYPE a counter\na_total 1\n# EOF\n", true);
        assert_eq!((code, err.as_str()), (SUCCESS, ""));
        let (code, _, err) = check("# TYPE a counter\na_total -1\n# EOF\n", true);
        assert_eq!(code, FAILURE, "{err}");
        assert!(err.contains("cannot be negative"), "{err}");
    }
}
