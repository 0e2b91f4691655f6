//! The PromQL evaluation engine: instant and range queries over any storage behind the
//! `Queryable` interface, with upstream Prometheus 3.14's semantics, annotations, error
//! texts, feature flags and limits.
//!
//! - [`Engine::instant_query`] / [`Engine::range_query`] parse, plan and evaluate a
//!   query and return a [`QueryResult`]: the value (or error), the annotations
//!   (warnings and infos) and the statistics of the `stats=all` API parameter.
//! - [`EngineOptions`] holds the limits (`max_samples`, timeout, concurrency), the
//!   lookback delta, the default subquery step and the [`Features`] (upstream's
//!   `--enable-feature` names).
//!
//! Invariants: the engine reads data only through `hearth_tsdb::storage` (never head or
//! block internals); a range query selects every series once and iterates its samples
//! once across all steps; no input (query or stored data) can make it panic.

mod aggregate;
mod annotations;
mod binary;
mod calls;
mod error;
mod evaluator;
mod histogram_functions;
mod histogram_sums;
mod info;
mod instant_functions;
mod labels_map;
mod memory_series;
mod plan;
mod range_functions;
mod series_reader;
mod sorting;
mod value;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use hearth_tsdb::storage::Queryable;

use crate::ast::{Expr, ValueType};
use crate::error::ParseError;
use crate::parser::{ParserOptions, parse_expr};

pub use annotations::{Annotation, AnnotationKind, Annotations};
pub use error::EvalError;
pub use value::{FPoint, HPoint, Matrix, Sample, Series, Value, Vector};

use evaluator::{Evaluated, Evaluator, QueryState};
pub(crate) use plan::AT_MODIFIER_UNSAFE_FUNCTIONS;
use plan::{Planner, QueryParams};

/// Upstream's default lookback delta.
pub const DEFAULT_LOOKBACK_DELTA_MS: i64 = 5 * 60 * 1000;

/// Feature flags that change PromQL, by their `--enable-feature` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Features {
    /// `promql-experimental-functions`.
    pub experimental_functions: bool,
    /// `promql-extended-range-selectors` (`anchored`, `smoothed`).
    pub extended_range_selectors: bool,
    /// `promql-binop-fill-modifiers`.
    pub binop_fill_modifiers: bool,
    /// `promql-delayed-name-removal`: the metric name is dropped at the end of the
    /// query rather than by each function.
    pub delayed_name_removal: bool,
    /// `type-and-unit-labels`: `rate` checks `__type__` instead of name suffixes.
    pub type_and_unit_labels: bool,
    /// `use-start-timestamps`: `rate`, `increase`, `irate` and `resets` detect
    /// counter resets from start timestamps.
    pub use_start_timestamps: bool,
}

impl Features {
    /// Every feature on, as upstream's PromQL test harness runs.
    pub fn all() -> Features {
        Features {
            experimental_functions: true,
            extended_range_selectors: true,
            binop_fill_modifiers: true,
            delayed_name_removal: true,
            type_and_unit_labels: false,
            use_start_timestamps: true,
        }
    }

    /// Enables a feature by its upstream flag name; `false` for names that are not
    /// PromQL features (the caller decides whether that is an error).
    pub fn enable(&mut self, flag: &str) -> bool {
        match flag {
            "promql-experimental-functions" => self.experimental_functions = true,
            "promql-extended-range-selectors" => self.extended_range_selectors = true,
            "promql-binop-fill-modifiers" => self.binop_fill_modifiers = true,
            "promql-delayed-name-removal" => self.delayed_name_removal = true,
            "type-and-unit-labels" => self.type_and_unit_labels = true,
            "use-start-timestamps" => self.use_start_timestamps = true,
            // Default-on (or always-on) in 3.x; accepted for compatibility.
            "promql-duration-expr" | "promql-at-modifier" | "promql-negative-offset" => {}
            _ => return false,
        }
        true
    }

    /// What the parser accepts with these features.
    pub fn parser_options(&self) -> ParserOptions {
        ParserOptions {
            enable_experimental_functions: self.experimental_functions,
            experimental_duration_expr: true,
            enable_extended_range_selectors: self.extended_range_selectors,
            enable_binop_fill_modifiers: self.binop_fill_modifiers,
        }
    }
}

/// Engine configuration (upstream's `EngineOpts` and the `--query.*` flags).
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// How far back an instant selector looks for a sample (`--query.lookback-delta`).
    pub lookback_delta_ms: i64,
    /// The step of subqueries written without one (`[5m:]`): the global evaluation
    /// interval.
    pub default_subquery_step_ms: i64,
    /// Most samples a query may hold in memory at once (`--query.max-samples`).
    pub max_samples: usize,
    /// Longest a query may run, queueing included (`--query.timeout`).
    pub timeout: Duration,
    /// Most queries evaluated at once; others wait (`--query.max-concurrency`).
    pub max_concurrent_queries: usize,
    /// Whether `stats=all` may report samples per step.
    pub enable_per_step_stats: bool,
    pub features: Features,
    /// Evaluate series by series where that gives exactly what step-by-step evaluation
    /// gives (range functions sliding over a series read once, joins matching series
    /// once, float folds). On by default; off only to check the two against each other.
    pub vectorized: bool,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            lookback_delta_ms: DEFAULT_LOOKBACK_DELTA_MS,
            default_subquery_step_ms: 60_000,
            max_samples: 50_000_000,
            timeout: Duration::from_secs(120),
            max_concurrent_queries: 20,
            enable_per_step_stats: false,
            features: Features::default(),
            vectorized: true,
        }
    }
}

/// Per-query options.
#[derive(Debug, Clone, Default)]
pub struct QueryOptions {
    /// Overrides the engine's lookback delta when set (the API's `lookback_delta`).
    pub lookback_delta_ms: Option<i64>,
    /// Collect samples per step (only when the engine allows it).
    pub per_step_stats: bool,
    /// Set to cancel the query while it runs.
    pub cancel: Option<Arc<AtomicBool>>,
}

/// Why a query failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum QueryError {
    #[error("{0}")]
    Parse(ParseError),
    #[error("{0}")]
    Eval(EvalError),
}

/// Time spent in the phases of a query (seconds), as the API's `stats` reports.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct QueryTimings {
    pub eval_total_time: f64,
    pub result_sort_time: f64,
    pub query_preparation_time: f64,
    pub inner_eval_time: f64,
    pub exec_queue_time: f64,
    pub exec_total_time: f64,
}

/// Samples a query touched.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SampleStats {
    /// Samples read from storage (histograms by weight).
    pub total_queryable_samples: u64,
    /// Most samples held in memory at once.
    pub peak_samples: u64,
    /// `(timestamp ms, samples)` per step, when per-step statistics were asked for.
    pub total_queryable_samples_per_step: Option<Vec<(i64, u64)>>,
}

/// The statistics of one query (upstream's `stats.Statistics`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct QueryStats {
    pub timings: QueryTimings,
    pub samples: SampleStats,
}

/// The outcome of a query.
#[derive(Debug, Clone)]
pub struct QueryResult {
    pub value: Result<Value, QueryError>,
    pub annotations: Annotations,
    pub stats: QueryStats,
}

/// A counting semaphore bounding concurrent queries.
struct Slots {
    free: Mutex<usize>,
    released: Condvar,
}

impl Slots {
    /// Waits for a slot until `deadline`; `false` when it passed first.
    fn acquire(&self, deadline: Instant) -> bool {
        let Ok(mut free) = self.free.lock() else {
            return false;
        };
        while *free == 0 {
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            match self.released.wait_timeout(free, deadline - now) {
                Ok((guard, _)) => free = guard,
                Err(_) => return false,
            }
        }
        *free -= 1;
        true
    }

    fn release(&self) {
        if let Ok(mut free) = self.free.lock() {
            *free += 1;
        }
        self.released.notify_one();
    }
}

/// Releases a query slot when dropped.
struct SlotGuard<'a>(&'a Slots);

impl Drop for SlotGuard<'_> {
    fn drop(&mut self) {
        self.0.release();
    }
}

/// The query engine. Cheap to share between threads; queries run on the caller's
/// thread, at most `max_concurrent_queries` at a time.
pub struct Engine {
    opts: EngineOptions,
    slots: Slots,
}

/// What to evaluate: a query at one time, or over a range.
#[derive(Debug, Clone, Copy)]
enum Span {
    Instant(i64),
    Range { start: i64, end: i64, step: i64 },
}

impl Engine {
    pub fn new(opts: EngineOptions) -> Engine {
        let slots = Slots {
            free: Mutex::new(opts.max_concurrent_queries.max(1)),
            released: Condvar::new(),
        };
        Engine { opts, slots }
    }

    pub fn options(&self) -> &EngineOptions {
        &self.opts
    }

    /// Parses a query with the engine's features.
    pub fn parse(&self, query: &str) -> Result<Expr, ParseError> {
        parse_expr(query, &self.opts.features.parser_options())
    }

    /// Evaluates `query` at `time_ms`.
    pub fn instant_query(
        &self,
        storage: &dyn Queryable,
        query: &str,
        time_ms: i64,
        opts: &QueryOptions,
    ) -> QueryResult {
        match self.parse(query) {
            Ok(e) => self.exec(storage, &e, Span::Instant(time_ms), opts),
            Err(e) => failed(QueryError::Parse(e)),
        }
    }

    /// Evaluates `query` at `start, start+step, ..., end` (milliseconds).
    pub fn range_query(
        &self,
        storage: &dyn Queryable,
        query: &str,
        start_ms: i64,
        end_ms: i64,
        step_ms: i64,
        opts: &QueryOptions,
    ) -> QueryResult {
        match self.parse(query) {
            Ok(e) => self.range_query_expr(storage, &e, start_ms, end_ms, step_ms, opts),
            Err(e) => failed(QueryError::Parse(e)),
        }
    }

    /// Evaluates a parsed expression at `time_ms`.
    pub fn instant_query_expr(
        &self,
        storage: &dyn Queryable,
        expr: &Expr,
        time_ms: i64,
        opts: &QueryOptions,
    ) -> QueryResult {
        self.exec(storage, expr, Span::Instant(time_ms), opts)
    }

    /// Evaluates a parsed expression over a range.
    pub fn range_query_expr(
        &self,
        storage: &dyn Queryable,
        expr: &Expr,
        start_ms: i64,
        end_ms: i64,
        step_ms: i64,
        opts: &QueryOptions,
    ) -> QueryResult {
        let t = expr.value_type();
        if t != ValueType::Vector && t != ValueType::Scalar {
            return failed(QueryError::Eval(EvalError::BadData(format!(
                "invalid expression type \"{}\" for range query, must be Scalar or instant Vector",
                t.documented()
            ))));
        }
        if step_ms <= 0 {
            return failed(QueryError::Eval(EvalError::BadData(
                "zero or negative query resolution step widths are not accepted. Try a positive integer".to_string(),
            )));
        }
        if end_ms < start_ms {
            return failed(QueryError::Eval(EvalError::BadData(
                "end timestamp must not be before start time".to_string(),
            )));
        }
        self.exec(
            storage,
            expr,
            Span::Range {
                start: start_ms,
                end: end_ms,
                step: step_ms,
            },
            opts,
        )
    }

    fn exec(
        &self,
        storage: &dyn Queryable,
        expr: &Expr,
        span: Span,
        opts: &QueryOptions,
    ) -> QueryResult {
        // Times beyond this cannot be offset or looked back from without overflow.
        let (first, last) = match span {
            Span::Instant(t) => (t, t),
            Span::Range { start, end, .. } => (start, end),
        };
        if first.unsigned_abs() > plan::MAX_TIME_MS || last.unsigned_abs() > plan::MAX_TIME_MS {
            return failed(QueryError::Eval(EvalError::BadData(
                "query time out of the supported range".to_string(),
            )));
        }
        let started = Instant::now();
        let deadline = started + self.opts.timeout;
        let mut stats = QueryStats::default();
        if !self.slots.acquire(deadline) {
            return failed(QueryError::Eval(EvalError::Timeout("query queue")));
        }
        let _slot = SlotGuard(&self.slots);
        let queued = started.elapsed();
        stats.timings.exec_queue_time = queued.as_secs_f64();

        let mut result = self.exec_eval(storage, expr, span, opts, deadline, &mut stats);
        stats.timings.exec_total_time = started.elapsed().as_secs_f64();
        stats.timings.eval_total_time = (started.elapsed() - queued).as_secs_f64();
        result.stats = stats;
        result
    }

    fn exec_eval(
        &self,
        storage: &dyn Queryable,
        expr: &Expr,
        span: Span,
        opts: &QueryOptions,
        deadline: Instant,
        stats: &mut QueryStats,
    ) -> QueryResult {
        // The query may have waited for its slot until its deadline, or been canceled
        // meanwhile (upstream checks here too, in "query execution").
        if opts
            .cancel
            .as_ref()
            .is_some_and(|c| c.load(Ordering::Relaxed))
        {
            return failed(QueryError::Eval(EvalError::Canceled(error::ENV)));
        }
        if Instant::now() >= deadline {
            return failed(QueryError::Eval(EvalError::Timeout(error::ENV)));
        }
        let prep_start = Instant::now();
        // Bounded so that subtracting it from any valid time cannot overflow.
        let lookback = opts
            .lookback_delta_ms
            .filter(|l| *l > 0)
            .unwrap_or(self.opts.lookback_delta_ms)
            .clamp(1, 1 << 50);
        let (start, end, interval) = match span {
            Span::Instant(t) => (t, t, 0),
            Span::Range { start, end, step } => (start, end, step),
        };
        let params = QueryParams {
            start,
            end,
            interval,
            lookback,
        };
        let default_step = self.opts.default_subquery_step_ms;
        let step_fn = move |_range: i64| default_step;
        let plan = match Planner::new(params, &step_fn).plan(expr) {
            Ok(p) => p,
            Err(e) => return failed(QueryError::Eval(e)),
        };
        let querier = match storage.querier(plan.mint, plan.maxt) {
            Ok(q) => q,
            Err(e) => return failed(QueryError::Eval(EvalError::Storage(e.to_string()))),
        };
        let per_step = opts.per_step_stats && self.opts.enable_per_step_stats;
        let state = QueryState::new(
            querier.as_ref(),
            &self.opts,
            params,
            plan.selectors,
            Some(deadline),
            opts.cancel.as_deref(),
            per_step,
        );
        if matches!(span, Span::Range { .. }) {
            warn_sort_in_range_query(expr, &state);
        }
        stats.timings.query_preparation_time = prep_start.elapsed().as_secs_f64();

        let eval_start = Instant::now();
        let ev = Evaluator {
            start,
            end,
            interval: if interval == 0 { 1 } else { interval },
            q: &state,
        };
        let evaluated = ev.eval_top(&plan.root);
        stats.timings.inner_eval_time = eval_start.elapsed().as_secs_f64();
        stats.samples.total_queryable_samples = state.total_samples.get();
        stats.samples.peak_samples = state.peak_samples.get() as u64;
        if let Some(per_step) = state.per_step.borrow().as_ref() {
            let step = if interval == 0 { 1 } else { interval };
            stats.samples.total_queryable_samples_per_step = Some(
                per_step
                    .iter()
                    .enumerate()
                    .map(|(i, n)| (start + i as i64 * step, *n))
                    .collect(),
            );
        }
        let annotations = state.take_annotations();
        let evaluated = match evaluated {
            Ok(v) => v,
            Err(e) => {
                return QueryResult {
                    value: Err(QueryError::Eval(e)),
                    annotations,
                    stats: QueryStats::default(),
                };
            }
        };
        let sort_start = Instant::now();
        let value = match (span, evaluated) {
            (_, Evaluated::String(s)) => Value::String { t: start, v: s },
            (Span::Instant(t), Evaluated::Matrix(m)) => match expr.value_type() {
                ValueType::Scalar => Value::Scalar {
                    t,
                    v: m.first()
                        .and_then(|s| s.floats.first())
                        .map_or(f64::NAN, |p| p.f),
                },
                ValueType::Matrix => {
                    let mut m = m;
                    m.sort_by(|a, b| a.metric.cmp(&b.metric));
                    Value::Matrix(m)
                }
                _ => Value::Vector(
                    m.into_iter()
                        .filter_map(|s| {
                            let h = s.histograms.first().map(|p| p.h.clone());
                            let f = s.floats.first().map(|p| p.f);
                            if h.is_none() && f.is_none() {
                                return None;
                            }
                            Some(Sample {
                                metric: s.metric,
                                t,
                                f: f.unwrap_or(0.0),
                                h,
                                drop_name: s.drop_name,
                            })
                        })
                        .collect(),
                ),
            },
            (Span::Range { .. }, Evaluated::Matrix(mut m)) => {
                m.sort_by(|a, b| a.metric.cmp(&b.metric));
                Value::Matrix(m)
            }
        };
        stats.timings.result_sort_time = sort_start.elapsed().as_secs_f64();
        QueryResult {
            value: Ok(value),
            annotations,
            stats: stats.clone(),
        }
    }
}

fn failed(e: QueryError) -> QueryResult {
    QueryResult {
        value: Err(e),
        annotations: Annotations::new(),
        stats: QueryStats::default(),
    }
}

/// Range query results are always ordered by labels: sorting functions only warn.
fn warn_sort_in_range_query(e: &Expr, state: &QueryState) {
    if let Expr::Call(c) = e
        && matches!(
            c.func.name,
            "sort" | "sort_desc" | "sort_by_label" | "sort_by_label_desc"
        )
    {
        state.annotate(Annotation::sort_in_range_query(c.pos));
    }
    for child in e.children() {
        warn_sort_in_range_query(child, state);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_bound_concurrency() {
        let slots = Slots {
            free: Mutex::new(1),
            released: Condvar::new(),
        };
        let soon = || Instant::now() + Duration::from_millis(20);
        assert!(slots.acquire(soon()));
        assert!(!slots.acquire(soon()), "the only slot is taken");
        slots.release();
        assert!(slots.acquire(soon()));
    }
}
