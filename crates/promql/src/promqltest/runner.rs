//! Running a test script against the engine, as upstream's harness (`promqltest`'s
//! `test.exec`) does: `load` and `clear` change the storage; every `eval` runs its query
//! and checks the result, the expected failure and the annotations.
//!
//! Like upstream, an instant `eval` also runs with every selector pinned by `@` to the
//! evaluation time at several other evaluation times, and as a range query around the
//! evaluation time whose middle step must give the same result.

use std::fmt::Write as _;
use std::sync::LazyLock;
use std::time::Duration;

use hearth_model::float::format_go_g;
use hearth_model::{FloatHistogram, Labels, Span};
use hearth_tsdb::mem_storage::MemStorage;
use regex::Regex;

use crate::ast::{AtModifier, Expr};
use crate::engine::{
    AnnotationKind, Annotations, Engine, EngineOptions, Features, QueryError, QueryOptions,
    QueryResult, Value,
};
pub use crate::quantile::almost_equal;
use crate::series::SeriesValue;

use super::loader::load;
use super::script::{
    Command, EvalCommand, EvalQuery, ExpectKind, ExpectedResult, ExpectedSeries, LegacyModifier,
    Script,
};

/// Relative tolerance of float comparisons (upstream's `defaultEpsilon`).
const EPSILON: f64 = 0.000_001;
/// Upstream's `DefaultMaxSamplesPerQuery` for the built-in tests.
const HARNESS_MAX_SAMPLES: usize = 10_000;

/// The engine configuration upstream's harness uses: every feature on, 5m lookback,
/// 1m default subquery step, 10000 samples at most.
pub fn harness_engine_options() -> EngineOptions {
    EngineOptions {
        lookback_delta_ms: crate::engine::DEFAULT_LOOKBACK_DELTA_MS,
        default_subquery_step_ms: 60_000,
        max_samples: HARNESS_MAX_SAMPLES,
        timeout: Duration::from_secs(100),
        max_concurrent_queries: 1,
        enable_per_step_stats: false,
        features: Features::all(),
        vectorized: true,
    }
}

/// An `eval` that did not give what it expects.
#[derive(Debug, Clone)]
pub struct EvalFailure {
    pub line: usize,
    pub expr: String,
    pub message: String,
    /// What the query gives at the eval's own time or range: one line per series, the
    /// scalar or string, or `error: ...`.
    pub got: String,
}

/// The outcome of running a script.
#[derive(Debug, Clone, Default)]
pub struct ScriptReport {
    /// Number of `eval` commands.
    pub evals: usize,
    pub passed: usize,
    pub failures: Vec<EvalFailure>,
}

/// Runs every command of `script`.
pub fn run_script(script: &Script, options: EngineOptions) -> ScriptReport {
    let runner = Runner {
        engine: Engine::new(options),
        storage: MemStorage::new(),
    };
    let mut report = ScriptReport::default();
    let mut load_error: Option<String> = None;
    for cmd in &script.commands {
        match cmd {
            Command::Clear(_) => runner.storage.clear(),
            Command::Load(l) => {
                if let Err(e) = load(&runner.storage, l) {
                    load_error = Some(format!("load at line {} failed: {e}", l.line));
                }
            }
            Command::Eval(e) => {
                report.evals += 1;
                let outcome = match &load_error {
                    Some(err) => Err(err.clone()),
                    None => runner.eval(e),
                };
                match outcome {
                    Ok(()) => report.passed += 1,
                    Err(message) => report.failures.push(EvalFailure {
                        line: e.line,
                        expr: e.expr.clone(),
                        got: runner.describe_result(e),
                        message,
                    }),
                }
            }
        }
    }
    report
}

struct Runner {
    engine: Engine,
    storage: MemStorage,
}

static QUERY_CONTEXT_FUNCS: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r"(start|end|range|step)\(\)").ok());

impl Runner {
    /// The result of the eval's query (not its `@` or range-mode variants), as text.
    fn describe_result(&self, cmd: &EvalCommand) -> String {
        let opts = QueryOptions::default();
        let res = match cmd.query {
            EvalQuery::Range {
                start_ms,
                end_ms,
                step_ms,
            } => self.engine.range_query_expr(
                &self.storage,
                &cmd.parsed,
                start_ms,
                end_ms,
                step_ms,
                &opts,
            ),
            EvalQuery::Instant { at_ms } => {
                let t = cmd.expected_range_vector.map_or(at_ms, |rv| rv.end_ms);
                self.engine
                    .instant_query_expr(&self.storage, &cmd.parsed, t, &opts)
            }
        };
        match res.value {
            Err(e) => format!("error: {e}"),
            Ok(Value::Scalar { v, .. }) => format_go_g(v),
            Ok(Value::String { v, .. }) => format!("{v:?}"),
            Ok(Value::Vector(v)) if v.is_empty() => "(empty vector)".to_string(),
            Ok(Value::Matrix(m)) if m.is_empty() => "(empty matrix)".to_string(),
            Ok(Value::Vector(v)) => v
                .iter()
                .map(|s| match &s.h {
                    Some(h) => format!("{} {}", s.metric, histogram_text(h)),
                    None => format!("{} {}", s.metric, format_go_g(s.f)),
                })
                .collect::<Vec<_>>()
                .join("\n"),
            Ok(Value::Matrix(m)) => m
                .iter()
                .map(|s| format!("{} {}", s.metric, series_text(s)))
                .collect::<Vec<_>>()
                .join("\n"),
        }
    }

    fn eval(&self, cmd: &EvalCommand) -> Result<(), String> {
        match cmd.query {
            EvalQuery::Range {
                start_ms,
                end_ms,
                step_ms,
            } => self.eval_range(cmd, start_ms, end_ms, step_ms),
            EvalQuery::Instant { at_ms } => self.eval_instant(cmd, at_ms),
        }
    }

    fn eval_range(&self, cmd: &EvalCommand, start: i64, end: i64, step: i64) -> Result<(), String> {
        let res = self.engine.range_query_expr(
            &self.storage,
            &cmd.parsed,
            start,
            end,
            step,
            &QueryOptions::default(),
        );
        let Some(value) = checked_value(cmd, res)? else {
            return Ok(());
        };
        compare_result(cmd, &value, start, end, step)
    }

    fn eval_instant(&self, cmd: &EvalCommand, at_ms: i64) -> Result<(), String> {
        let (eval_time, start, end, step) = match cmd.expected_range_vector {
            Some(rv) => (rv.end_ms, rv.start_ms, rv.end_ms, rv.step_ms),
            None => (at_ms, at_ms, at_ms, 0),
        };
        let mut queries = vec![(cmd.parsed.clone(), eval_time)];
        queries.extend(at_modifier_cases(&cmd.parsed, eval_time));
        for (expr, t) in queries {
            self.run_instant_query(cmd, &expr, t, start, end, step)
                .map_err(|e| {
                    if t == eval_time && expr == cmd.parsed {
                        e
                    } else {
                        format!("{e} (query {expr} at {})", format_go_g(t as f64 / 1000.0))
                    }
                })?;
        }
        Ok(())
    }

    fn run_instant_query(
        &self,
        cmd: &EvalCommand,
        expr: &Expr,
        t: i64,
        start: i64,
        end: i64,
        step: i64,
    ) -> Result<(), String> {
        let res: QueryResult =
            self.engine
                .instant_query_expr(&self.storage, expr, t, &QueryOptions::default());
        let Some(value) = checked_value(cmd, res)? else {
            return Ok(());
        };
        compare_result(cmd, &value, start, end, step)?;

        if cmd.exclude_from_range_query()
            || QUERY_CONTEXT_FUNCS
                .as_ref()
                .is_some_and(|re| re.is_match(&cmd.expr))
        {
            return Ok(());
        }
        let range = self.engine.range_query_expr(
            &self.storage,
            expr,
            t - 60_000,
            t + 60_000,
            60_000,
            &QueryOptions::default(),
        );
        let rvalue = range
            .value
            .map_err(|e| format!("error evaluating query in range mode: {e}"))?;
        if cmd.is_ordered() {
            return Ok(());
        }
        let Value::Matrix(m) = rvalue else {
            return Err("range mode did not return a matrix".to_string());
        };
        assert_matrix_sorted(&m)?;
        let mut vec = Vec::new();
        for s in &m {
            if let Some(p) = s.floats.iter().find(|p| p.t == t) {
                vec.push(crate::engine::Sample::float(s.metric.clone(), p.t, p.f));
            }
            if let Some(p) = s.histograms.iter().find(|p| p.t == t) {
                vec.push(crate::engine::Sample {
                    metric: s.metric.clone(),
                    t: p.t,
                    f: 0.0,
                    h: Some(p.h.clone()),
                    drop_name: false,
                });
            }
        }
        let as_value = if matches!(value, Value::Scalar { .. }) {
            match vec.first() {
                Some(s) => Value::Scalar { t, v: s.f },
                None => return Err("range mode returned no value for a scalar".to_string()),
            }
        } else {
            Value::Vector(vec)
        };
        compare_result(cmd, &as_value, start, end, step).map_err(|e| format!("range mode: {e}"))
    }
}

/// The instant query with every selector not inside a subquery pinned to `t` by `@`,
/// at other evaluation times (upstream's `atModifierTestCases`); none when the query
/// uses a function whose result depends on the evaluation time.
pub fn at_modifier_cases(expr: &Expr, t: i64) -> Vec<(Expr, i64)> {
    let mut e = expr.clone();
    let mut unsafe_fn = false;
    pin_selectors(&mut e, t, &mut unsafe_fn);
    if unsafe_fn {
        return Vec::new();
    }
    let times: Vec<i64> = if t == 0 {
        vec![-1000, 0, 1000]
    } else {
        vec![-10 * t, 0, t / 5, t, 10 * t]
    };
    times.into_iter().map(|et| (e.clone(), et)).collect()
}

fn pin_selectors(e: &mut Expr, t: i64, unsafe_fn: &mut bool) {
    match e {
        Expr::VectorSelector(vs) => {
            if vs.at.is_none() {
                vs.at = Some(AtModifier::Timestamp(t));
            }
        }
        Expr::MatrixSelector(ms) => {
            if ms.vector_selector.at.is_none() {
                ms.vector_selector.at = Some(AtModifier::Timestamp(t));
            }
        }
        // Inside a subquery (now pinned) nothing changes.
        Expr::Subquery(sq) => {
            if sq.at.is_none() {
                sq.at = Some(AtModifier::Timestamp(t));
            }
        }
        Expr::Call(c) => {
            if crate::engine::AT_MODIFIER_UNSAFE_FUNCTIONS.contains(&c.func.name) {
                *unsafe_fn = true;
            }
            for a in &mut c.args {
                pin_selectors(a, t, unsafe_fn);
            }
        }
        Expr::Aggregate(a) => {
            pin_selectors(&mut a.expr, t, unsafe_fn);
            if let Some(p) = &mut a.param {
                pin_selectors(p, t, unsafe_fn);
            }
        }
        Expr::Binary(b) => {
            pin_selectors(&mut b.lhs, t, unsafe_fn);
            pin_selectors(&mut b.rhs, t, unsafe_fn);
        }
        Expr::Paren(p) => pin_selectors(&mut p.expr, t, unsafe_fn),
        Expr::Unary(u) => pin_selectors(&mut u.expr, t, unsafe_fn),
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) => {}
    }
}

/// The value of a query whose eval expects a result, after its annotations are checked;
/// `None` when the eval expects a failure and the query failed as expected.
fn checked_value(cmd: &EvalCommand, res: QueryResult) -> Result<Option<Value>, String> {
    match res.value {
        Err(e) if cmd.is_fail() => check_expected_failure(cmd, &e).map(|()| None),
        Err(e) => Err(format!("error evaluating query: {e}")),
        Ok(_) if cmd.is_fail() => Err("expected error evaluating query but got none".to_string()),
        Ok(v) => {
            check_annotations(cmd, &res.annotations)?;
            Ok(Some(v))
        }
    }
}

fn check_expected_failure(cmd: &EvalCommand, err: &QueryError) -> Result<(), String> {
    let msg = err.to_string();
    if let Some(expected) = &cmd.expected_fail_message
        && expected != &msg
    {
        return Err(format!("expected error {expected:?}, but got: {msg}"));
    }
    if let Some(re) = &cmd.expected_fail_regexp
        && !re.is_match(&msg)
    {
        return Err(format!(
            "expected error matching pattern {:?}, but got: {msg}",
            re.as_str()
        ));
    }
    if let Some(e) = cmd.expects(ExpectKind::Fail).next()
        && !e.message.matches(&msg)
    {
        return Err(format!(
            "expected error matching {:?}, but got: {msg}",
            e.message
        ));
    }
    Ok(())
}

fn check_annotations(cmd: &EvalCommand, annos: &Annotations) -> Result<(), String> {
    let warnings: Vec<&str> = annos
        .iter()
        .filter(|a| a.kind == AnnotationKind::Warning)
        .map(|a| a.message.as_str())
        .collect();
    let infos: Vec<&str> = annos
        .iter()
        .filter(|a| a.kind == AnnotationKind::Info)
        .map(|a| a.message.as_str())
        .collect();
    let all = || {
        annos
            .iter()
            .map(|a| a.message.clone())
            .collect::<Vec<_>>()
            .join("; ")
    };
    if cmd.legacy == Some(LegacyModifier::Warn) && warnings.is_empty() {
        return Err("expected warnings but got none".to_string());
    }
    if cmd.legacy == Some(LegacyModifier::Info) && infos.is_empty() {
        return Err("expected info annotations but got none".to_string());
    }
    for (kind, actual, name) in [
        (ExpectKind::Warn, &warnings, "warn"),
        (ExpectKind::Info, &infos, "info"),
    ] {
        let expected: Vec<_> = cmd.expects(kind).collect();
        if expected.is_empty() {
            continue;
        }
        if actual.is_empty() {
            return Err(format!("expected {name} annotations but none were found"));
        }
        for e in &expected {
            if !actual.iter().any(|a| e.message.matches(a)) {
                return Err(format!(
                    "expected {name} annotation matching {:?} but no matching annotation was found, found: [{}]",
                    e.message,
                    all()
                ));
            }
        }
        for a in actual.iter() {
            if !expected.iter().any(|e| e.message.matches(a)) {
                return Err(format!("unexpected {name} annotation {a:?} found"));
            }
        }
    }
    if cmd.expects(ExpectKind::NoWarn).next().is_some() && !warnings.is_empty() {
        return Err(format!("unexpected warning annotations: [{}]", all()));
    }
    if cmd.expects(ExpectKind::NoInfo).next().is_some() && !infos.is_empty() {
        return Err(format!("unexpected info annotations: [{}]", all()));
    }
    Ok(())
}

fn assert_matrix_sorted(m: &[crate::engine::Series]) -> Result<(), String> {
    for w in m.windows(2) {
        if w[0].metric > w[1].metric {
            return Err(format!(
                "matrix results should always be sorted by labels, but {} sorts after {}",
                w[0].metric, w[1].metric
            ));
        }
    }
    Ok(())
}

fn expected_series(cmd: &EvalCommand) -> &[ExpectedSeries] {
    match &cmd.expected {
        ExpectedResult::Series(s) => s,
        _ => &[],
    }
}

fn find_expected<'c>(cmd: &'c EvalCommand, l: &Labels) -> Option<&'c ExpectedSeries> {
    expected_series(cmd).iter().find(|e| &e.labels == l)
}

fn histogram_text(h: &FloatHistogram) -> String {
    h.to_string()
}

fn series_text(s: &crate::engine::Series) -> String {
    let mut out = format!("{} float points [", s.floats.len());
    for (i, p) in s.floats.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        let _ = write!(out, "{p}");
    }
    let _ = write!(out, "] and {} histogram points [", s.histograms.len());
    for (i, p) in s.histograms.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        let _ = write!(out, "{} @[{}]", histogram_text(&p.h), p.t);
    }
    out.push(']');
    out
}

/// Compares a result with the expected values (upstream's `compareResult`).
fn compare_result(
    cmd: &EvalCommand,
    value: &Value,
    start: i64,
    end: i64,
    step: i64,
) -> Result<(), String> {
    let expect_scalar = matches!(cmd.expected, ExpectedResult::Scalar(_));
    match value {
        Value::Matrix(m) => {
            if cmd.is_ordered() {
                return Err("expected ordered result, but query returned a matrix".to_string());
            }
            if expect_scalar {
                return Err("expected scalar result, but got a matrix".to_string());
            }
            assert_matrix_sorted(m)?;
            for s in m {
                let Some(exp) = find_expected(cmd, &s.metric) else {
                    return Err(format!(
                        "unexpected metric {} in result, has {}",
                        s.metric,
                        series_text(s)
                    ));
                };
                let mut floats: Vec<(i64, f64)> = Vec::new();
                let mut hists: Vec<(i64, &crate::series::HistogramValue)> = Vec::new();
                for (i, v) in exp.values.iter().enumerate() {
                    let t = start + i as i64 * step;
                    if t > end {
                        return Err(format!(
                            "expected {} points for {}, but query time range cannot return this many points",
                            exp.values.len(),
                            exp.labels
                        ));
                    }
                    match v {
                        None => {}
                        Some(SeriesValue::Histogram(h)) => hists.push((t, h)),
                        Some(v) => floats.push((t, v.as_f64().unwrap_or(f64::NAN))),
                    }
                }
                if floats.len() != s.floats.len() || hists.len() != s.histograms.len() {
                    return Err(format!(
                        "expected {} float points and {} histogram points for {}, but got {}",
                        floats.len(),
                        hists.len(),
                        exp.labels,
                        series_text(s)
                    ));
                }
                for (i, (t, f)) in floats.iter().enumerate() {
                    let a = s.floats[i];
                    if a.t != *t {
                        return Err(format!(
                            "expected float value at index {i} for {} to have timestamp {t}, but it had timestamp {} (result has {})",
                            exp.labels,
                            a.t,
                            series_text(s)
                        ));
                    }
                    if !almost_equal(a.f, *f, EPSILON) {
                        return Err(format!(
                            "expected float value at index {i} (t={t}) for {} to be {}, but got {} (result has {})",
                            exp.labels,
                            format_go_g(*f),
                            format_go_g(a.f),
                            series_text(s)
                        ));
                    }
                }
                for (i, (t, h)) in hists.iter().enumerate() {
                    let a = &s.histograms[i];
                    if a.t != *t {
                        return Err(format!(
                            "expected histogram value at index {i} for {} to have timestamp {t}, but it had timestamp {} (result has {})",
                            exp.labels,
                            a.t,
                            series_text(s)
                        ));
                    }
                    if !histograms_match(&h.histogram, &a.h, h.counter_reset_hint_set) {
                        return Err(format!(
                            "expected histogram value at index {i} (t={t}) for {} to be {}, but got {} (result has {})",
                            exp.labels,
                            histogram_text(&h.histogram),
                            histogram_text(&a.h),
                            series_text(s)
                        ));
                    }
                }
            }
            for e in expected_series(cmd) {
                if !m.iter().any(|s| s.metric == e.labels) {
                    return Err(format!("expected metric {} not found", e.labels));
                }
            }
            Ok(())
        }
        Value::Vector(v) => {
            if expect_scalar {
                return Err("expected scalar result, but got a vector".to_string());
            }
            for (pos, s) in v.iter().enumerate() {
                let Some(exp) = find_expected(cmd, &s.metric) else {
                    return Err(match &s.h {
                        Some(h) => format!(
                            "unexpected metric {} in result, has value {}",
                            s.metric,
                            histogram_text(h)
                        ),
                        None => format!(
                            "unexpected metric {} in result, has value {}",
                            s.metric,
                            format_go_g(s.f)
                        ),
                    });
                };
                if cmd.is_ordered() && exp.position != pos + 1 {
                    return Err(format!(
                        "expected metric {} at position {} but was at {}",
                        s.metric,
                        exp.position,
                        pos + 1
                    ));
                }
                let exp0 = exp.values.first().cloned().flatten();
                match (&exp0, &s.h) {
                    (Some(SeriesValue::Histogram(eh)), Some(h)) => {
                        if !histograms_match(&eh.histogram, h, eh.counter_reset_hint_set) {
                            return Err(format!(
                                "expected {} for {} but got {}",
                                histogram_text(&eh.histogram),
                                s.metric,
                                histogram_text(h)
                            ));
                        }
                    }
                    (Some(SeriesValue::Histogram(eh)), None) => {
                        return Err(format!(
                            "expected histogram {} for {} but got float value {}",
                            histogram_text(&eh.histogram),
                            s.metric,
                            format_go_g(s.f)
                        ));
                    }
                    (_, Some(h)) => {
                        return Err(format!(
                            "expected float value for {} but got histogram {}",
                            s.metric,
                            histogram_text(h)
                        ));
                    }
                    (e, None) => {
                        let ef = e.as_ref().and_then(SeriesValue::as_f64).unwrap_or(0.0);
                        if !almost_equal(ef, s.f, EPSILON) {
                            return Err(format!(
                                "expected {} for {} but got {}",
                                format_go_g(ef),
                                s.metric,
                                format_go_g(s.f)
                            ));
                        }
                    }
                }
            }
            for e in expected_series(cmd) {
                if !v.iter().any(|s| s.metric == e.labels) {
                    return Err(format!("expected metric {} not found", e.labels));
                }
            }
            Ok(())
        }
        Value::Scalar { v, .. } => {
            let ExpectedResult::Scalar(exp) = cmd.expected else {
                return Err(format!(
                    "expected vector or matrix result, but got scalar {}",
                    format_go_g(*v)
                ));
            };
            if !almost_equal(exp, *v, EPSILON) {
                return Err(format!(
                    "expected scalar {} but got {}",
                    format_go_g(exp),
                    format_go_g(*v)
                ));
            }
            Ok(())
        }
        Value::String { v, .. } => {
            let exp = cmd.expected_string.as_deref().unwrap_or_default();
            if exp != v {
                return Err(format!("expected string \"{exp}\" but got \"{v}\""));
            }
            Ok(())
        }
    }
}

/// Upstream's `compareNativeHistogram` on compacted copies.
fn histograms_match(exp: &FloatHistogram, cur: &FloatHistogram, hint_set: bool) -> bool {
    let mut exp = exp.clone();
    let mut cur = cur.clone();
    exp.compact(0);
    cur.compact(0);
    if exp.schema != cur.schema
        || !almost_equal(exp.count, cur.count, EPSILON)
        || !almost_equal(exp.sum, cur.sum, EPSILON)
    {
        return false;
    }
    if exp.uses_custom_buckets() && exp.custom_values != cur.custom_values {
        return false;
    }
    if exp.zero_threshold != cur.zero_threshold
        || !almost_equal(exp.zero_count, cur.zero_count, EPSILON)
    {
        return false;
    }
    if !spans_match(&exp.negative_spans, &cur.negative_spans)
        || !buckets_match(&exp.negative_buckets, &cur.negative_buckets)
        || !spans_match(&exp.positive_spans, &cur.positive_spans)
        || !buckets_match(&exp.positive_buckets, &cur.positive_buckets)
    {
        return false;
    }
    !hint_set || exp.counter_reset_hint == cur.counter_reset_hint
}

fn buckets_match(a: &[f64], b: &[f64]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| almost_equal(*x, *y, EPSILON))
}

/// Span lists describing the same buckets, ignoring empty spans.
fn spans_match(a: &[Span], b: &[Span]) -> bool {
    let norm = |s: &[Span]| -> Vec<Span> {
        let mut out: Vec<Span> = Vec::new();
        let mut carry = 0;
        for sp in s {
            if sp.length == 0 {
                carry += sp.offset;
                continue;
            }
            out.push(Span {
                offset: sp.offset + carry,
                length: sp.length,
            });
            carry = 0;
        }
        out
    };
    norm(a) == norm(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(script: &str) -> ScriptReport {
        run_script(
            &super::super::parse_script(script).unwrap(),
            harness_engine_options(),
        )
    }

    #[test]
    fn detects_wrong_results_and_annotations() {
        let r = report(
            "load 1m\n  metric{a=\"x\"} 1 2 3\n\n\
             eval instant at 2m metric\n  metric{a=\"x\"} 3\n\n\
             eval instant at 2m metric\n  metric{a=\"x\"} 4\n\n\
             eval instant at 2m metric\n  metric{a=\"y\"} 3\n\n\
             eval range from 0 to 2m step 1m metric\n  metric{a=\"x\"} 1 2 3\n\n\
             eval range from 0 to 2m step 1m metric\n  metric{a=\"x\"} 1 2 4\n\n\
             eval instant at 2m rate(metric[2m])\n  expect no_info\n  {a=\"x\"} 0.016666666666666666\n\n\
             eval instant at 2m metric\n  expect fail\n",
        );
        assert_eq!(r.evals, 7);
        assert_eq!(r.passed, 2, "{:#?}", r.failures);
        let lines: Vec<usize> = r.failures.iter().map(|f| f.line).collect();
        assert_eq!(lines, [7, 10, 16, 19, 23]);
    }

    #[test]
    fn almost_equal_like_upstream() {
        assert!(almost_equal(f64::NAN, f64::NAN, EPSILON));
        assert!(almost_equal(1.0, 1.0 + 1e-9, EPSILON));
        assert!(!almost_equal(1.0, 1.001, EPSILON));
        assert!(!almost_equal(0.0, 1e-300, EPSILON));
    }
}
