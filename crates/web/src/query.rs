//! `/api/v1/query`, `/api/v1/query_range`, `/api/v1/query_exemplars`,
//! `/api/v1/format_query` and `/api/v1/parse_query`.
//!
//! Queries run on the blocking pool (the engine evaluates on its caller's thread). A
//! query is canceled when its client goes away; a `timeout` parameter cancels it at its
//! deadline and reports upstream's timeout error.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::extract::State;
use hearth_promql::engine::{QueryStats, Value};
use hearth_promql::{EvalError, Expr, QueryError, QueryOptions, QueryResult};

use crate::json;
use crate::params::{self, Form, MAX_TIME_MS, MIN_TIME_MS};
use crate::response::{ApiError, ApiResult, ApiSuccess, ErrorType};
use crate::server::Web;

/// Upstream's limit of points per series of a range query.
pub const MAX_POINTS_PER_SERIES: i128 = 11_000;

/// Runs `f` on the blocking pool; a panic becomes an internal error.
pub(crate) async fn blocking<F>(f: F) -> ApiResult
where
    F: FnOnce() -> ApiResult + Send + 'static,
{
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r,
        Err(e) => Err(ApiError::internal(format!("handler failed: {e}"))),
    }
}

/// Sets the cancel flag when dropped: the handler future is dropped when the client
/// disconnects, and the evaluation stops at its next check.
struct CancelOnDrop(Arc<AtomicBool>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Release);
    }
}

/// A query to evaluate.
enum Span {
    Instant(i64),
    Range { start: i64, end: i64, step: i64 },
}

pub async fn query(State(web): State<Arc<Web>>, form: Form) -> ApiResult {
    let limit = params::limit_param(&form)?;
    let t = params::time_param(&form, "time", hearth_model::sample::now_ms())?;
    run(web, form, Span::Instant(t), limit).await
}

pub async fn query_range(State(web): State<Arc<Web>>, form: Form) -> ApiResult {
    let limit = params::limit_param(&form)?;
    let start = params::parse_time(form.value("start"))
        .map_err(|e| ApiError::invalid_param("start", &e))?;
    let end =
        params::parse_time(form.value("end")).map_err(|e| ApiError::invalid_param("end", &e))?;
    if end < start {
        return Err(ApiError::invalid_param(
            "end",
            "end timestamp must not be before start time",
        ));
    }
    let step_ns = params::parse_duration_ns(form.value("step"))
        .map_err(|e| ApiError::invalid_param("step", &e))?;
    if step_ns <= 0 {
        return Err(ApiError::invalid_param(
            "step",
            "zero or negative query resolution step widths are not accepted. Try a positive integer",
        ));
    }
    if (i128::from(end) - i128::from(start)) * 1_000_000 / step_ns > MAX_POINTS_PER_SERIES {
        return Err(ApiError::bad_data(
            "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)",
        ));
    }
    let step = params::ns_to_ms(step_ns).max(1);
    run(web, form, Span::Range { start, end, step }, limit).await
}

async fn run(web: Arc<Web>, form: Form, span: Span, limit: usize) -> ApiResult {
    let timeout = match form.get("timeout").filter(|s| !s.is_empty()) {
        Some(s) => {
            let ns =
                params::parse_duration_ns(s).map_err(|e| ApiError::invalid_param("timeout", &e))?;
            Some(Duration::from_nanos(u64::try_from(ns).unwrap_or(0)))
        }
        None => None,
    };
    let mut opts = QueryOptions::default();
    if let Some(s) = form.get("lookback_delta").filter(|s| !s.is_empty()) {
        let ns = params::parse_duration_ns(s).map_err(|e| {
            ApiError::bad_data(format!("error parsing lookback delta duration: {e}"))
        })?;
        opts.lookback_delta_ms = Some(params::ns_to_ms(ns));
    }
    let stats_param = form.value("stats").to_string();
    opts.per_step_stats = stats_param == "all";
    let cancel = Arc::new(AtomicBool::new(false));
    opts.cancel = Some(cancel.clone());
    let _guard = CancelOnDrop(cancel.clone());
    let timed_out = Arc::new(AtomicBool::new(false));
    let timer = timeout.map(|d| {
        let (cancel, timed_out) = (cancel.clone(), timed_out.clone());
        tokio::spawn(async move {
            tokio::time::sleep(d).await;
            timed_out.store(true, Ordering::Release);
            cancel.store(true, Ordering::Release);
        })
    });
    let query = form.value("query").to_string();
    let timed_out2 = timed_out.clone();
    let result = blocking(move || {
        let expr = web
            .engine
            .parse(&query)
            .map_err(|e| ApiError::invalid_param("query", &e.to_string()))?;
        let storage = web.storage.clone();
        let res = match span {
            Span::Instant(t) => web.engine.instant_query_expr(&*storage, &expr, t, &opts),
            Span::Range { start, end, step } => web
                .engine
                .range_query_expr(&*storage, &expr, start, end, step, &opts),
        };
        render(res, &query, &stats_param, limit, &timed_out2)
    })
    .await;
    if let Some(t) = timer {
        t.abort();
    }
    result
}

/// The answer of a finished query.
fn render(
    res: QueryResult,
    query: &str,
    stats_param: &str,
    limit: usize,
    timed_out: &AtomicBool,
) -> ApiResult {
    let mut value = match res.value {
        Ok(v) => v,
        Err(e) => return Err(query_error(e, timed_out.load(Ordering::Acquire))),
    };
    let (mut warnings, infos) = res.annotations.as_strings(query, 10, 10);
    if limit > 0 {
        let truncated = match &mut value {
            Value::Vector(v) if v.len() > limit => {
                v.truncate(limit);
                true
            }
            Value::Matrix(m) if m.len() > limit => {
                m.truncate(limit);
                true
            }
            _ => false,
        };
        if truncated {
            warnings.push("results truncated due to limit".to_string());
        }
    }
    let mut out = String::with_capacity(256);
    out.push_str("{\"resultType\":\"");
    out.push_str(value.type_name());
    out.push_str("\",\"result\":");
    json::write_result(&mut out, &value);
    if !stats_param.is_empty() {
        out.push_str(",\"stats\":");
        write_stats(&mut out, &res.stats);
    }
    out.push('}');
    Ok(ApiSuccess {
        data: Some(out),
        warnings,
        infos,
    })
}

/// Maps an engine error to upstream's error type; a cancellation caused by the
/// `timeout` parameter is a timeout.
fn query_error(e: QueryError, timed_out: bool) -> ApiError {
    match e {
        QueryError::Parse(p) => ApiError::invalid_param("query", &p.to_string()),
        QueryError::Eval(e) => match e {
            EvalError::Canceled(at) if timed_out => {
                ApiError::new(ErrorType::Timeout, EvalError::Timeout(at).to_string())
            }
            EvalError::Timeout(_) => ApiError::new(ErrorType::Timeout, e.to_string()),
            EvalError::Canceled(_) => ApiError::new(ErrorType::Canceled, e.to_string()),
            EvalError::Storage(_) => ApiError::new(ErrorType::Internal, e.to_string()),
            EvalError::BadData(m) => ApiError::invalid_param("query", &m),
            EvalError::TooManySamples(_) | EvalError::Execution(_) => {
                ApiError::new(ErrorType::Execution, e.to_string())
            }
        },
    }
}

/// `stats` as upstream's `stats.QueryStats`.
fn write_stats(out: &mut String, s: &QueryStats) {
    let t = &s.timings;
    let timings = [
        ("evalTotalTime", t.eval_total_time),
        ("resultSortTime", t.result_sort_time),
        ("queryPreparationTime", t.query_preparation_time),
        ("innerEvalTime", t.inner_eval_time),
        ("execQueueTime", t.exec_queue_time),
        ("execTotalTime", t.exec_total_time),
    ];
    out.push_str("{\"timings\":{");
    for (i, (k, v)) in timings.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push('"');
        out.push_str(k);
        out.push_str("\":");
        out.push_str(&json::go_json_float(*v));
    }
    out.push_str("},\"samples\":{");
    if let Some(steps) = s
        .samples
        .total_queryable_samples_per_step
        .as_ref()
        .filter(|s| !s.is_empty())
    {
        out.push_str("\"totalQueryableSamplesPerStep\":[");
        for (i, (t, n)) in steps.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push('[');
            out.push_str(&json::go_json_float(*t as f64 / 1000.0));
            out.push(',');
            out.push_str(&n.to_string());
            out.push(']');
        }
        out.push_str("],");
    }
    out.push_str("\"totalQueryableSamples\":");
    out.push_str(&s.samples.total_queryable_samples.to_string());
    out.push_str(",\"peakSamples\":");
    out.push_str(&s.samples.peak_samples.to_string());
    out.push_str("}}");
}

fn parse_param(web: &Web, form: &Form) -> Result<Expr, ApiError> {
    web.engine
        .parse(form.value("query"))
        .map_err(|e| ApiError::invalid_param("query", &e.to_string()))
}

pub async fn format_query(State(web): State<Arc<Web>>, form: Form) -> ApiResult {
    parse_param(&web, &form).map(|expr| ApiSuccess::data(&expr.pretty(0)))
}

pub async fn parse_query(State(web): State<Arc<Web>>, form: Form) -> ApiResult {
    parse_param(&web, &form).map(|expr| ApiSuccess::raw(crate::ast_json::translate(&expr)))
}

/// Every selector's matchers in `e` (upstream's `parser.ExtractSelectors`).
pub(crate) fn extract_selectors(e: &Expr, out: &mut Vec<Vec<hearth_model::Matcher>>) {
    match e {
        Expr::VectorSelector(vs) => out.push(vs.matchers.clone()),
        Expr::MatrixSelector(ms) => out.push(ms.vector_selector.matchers.clone()),
        _ => {
            for c in e.children() {
                extract_selectors(c, out);
            }
        }
    }
}

pub async fn query_exemplars(State(web): State<Arc<Web>>, form: Form) -> ApiResult {
    let start = params::time_param(&form, "start", MIN_TIME_MS)?;
    let end = params::time_param(&form, "end", MAX_TIME_MS)?;
    if end < start {
        return Err(ApiError::bad_data(
            "end timestamp must not be before start timestamp",
        ));
    }
    let expr = web
        .engine
        .parse(form.value("query"))
        .map_err(|e| ApiError::bad_data(e.to_string()))?;
    let mut selectors = Vec::new();
    extract_selectors(&expr, &mut selectors);
    if selectors.is_empty() {
        return Ok(ApiSuccess::no_content());
    }
    let Some(source) = web.components.exemplars.clone() else {
        return Ok(ApiSuccess::raw("[]".to_string()));
    };
    blocking(move || {
        let res = source
            .exemplars(start, end, &selectors)
            .map_err(|e| ApiError::new(ErrorType::Execution, e))?;
        let mut out = String::from("[");
        for (i, s) in res.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str("{\"seriesLabels\":");
            json::write_labels(&mut out, &s.series_labels);
            out.push_str(",\"exemplars\":[");
            for (j, e) in s.exemplars.iter().enumerate() {
                if j > 0 {
                    out.push(',');
                }
                out.push_str("{\"labels\":");
                json::write_labels(&mut out, &e.labels);
                out.push_str(",\"value\":");
                json::write_value(&mut out, e.value);
                out.push_str(",\"timestamp\":");
                json::write_timestamp(&mut out, e.timestamp.unwrap_or(0));
                out.push('}');
            }
            out.push_str("]}");
        }
        out.push(']');
        Ok(ApiSuccess::raw(out))
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_errors_map_to_upstream_types() {
        let t = |e: EvalError, timed_out| query_error(QueryError::Eval(e), timed_out);
        let e = t(EvalError::Canceled("expression evaluation"), true);
        assert_eq!(
            (e.typ, e.message.as_str()),
            (
                ErrorType::Timeout,
                "query timed out in expression evaluation"
            )
        );
        assert_eq!(t(EvalError::Canceled("x"), false).typ, ErrorType::Canceled);
        assert_eq!(t(EvalError::Timeout("x"), false).typ, ErrorType::Timeout);
        assert_eq!(
            t(EvalError::TooManySamples("query execution"), false).typ,
            ErrorType::Execution
        );
        assert_eq!(
            t(EvalError::Storage("x".into()), false).typ,
            ErrorType::Internal
        );
        assert_eq!(
            t(EvalError::BadData("bad".into()), false).message,
            "invalid parameter \"query\": bad"
        );
    }
}
