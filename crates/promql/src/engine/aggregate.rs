//! Aggregation operators (`sum`, `avg`, `count`, `min`, `max`, `group`, `stddev`,
//! `stdvar`, `quantile`, `topk`, `bottomk`, `limitk`, `limit_ratio`, `count_values`)
//! with `by`/`without`, as upstream's `rangeEvalAgg`, `aggregation` and
//! `aggregationK`.
//!
//! Input series are mapped to their group once (by the group's actual label values, so
//! hash collisions cannot merge groups); then every step folds the series' values into
//! per-group accumulators.

use std::sync::Arc;

use hearth_model::histogram_math::kahan_inc;
use hearth_model::{AddOutcome, CounterResetHint, FloatHistogram, HistogramOpError, Labels};

use crate::ast::AggregateOp;

use super::annotations::{Annotation, HistogramOperation};
use super::error::{EvalError, exec};
use super::evaluator::{Evaluator, drop_metadata_labels, push_point};
use super::histogram_sums::{HistogramMean, HistogramSum};
use super::labels_map::{LabelsKey, LabelsMap};
use super::plan::{AggregateNode, Node, NodeKind};
use super::sorting::{HeapOrder, go_sort_by, heap_fix, heap_push};
use super::value::{Matrix, Sample, Series, matrix_samples};

/// The largest float that converts to an `i64` without overflow.
const MAX_INT64: f64 = 9_223_372_036_854_774_784.0;
const MIN_INT64: f64 = -9_223_372_036_854_775_808.0;

/// The parameter of `topk`, `quantile`, ... over the steps (upstream's `fParams`).
pub(crate) struct Params {
    values: Vec<f64>,
    constant: Option<f64>,
    next: usize,
    pub min: f64,
    pub max: f64,
    pub has_nan: bool,
}

impl Params {
    fn none() -> Params {
        Params {
            values: Vec::new(),
            constant: None,
            next: 0,
            min: 0.0,
            max: 0.0,
            has_nan: false,
        }
    }

    pub fn next_value(&mut self) -> f64 {
        if let Some(c) = self.constant {
            return c;
        }
        let v = self.values.get(self.next).copied().unwrap_or(0.0);
        self.next += 1;
        v
    }
}

/// Go's `math.Max`/`math.Min`: NaN wins.
fn go_max(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.max(b)
    }
}

fn go_min(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.min(b)
    }
}

/// The running histogram of a `sum` or `avg` group.
enum HistogramAccumulator {
    Sum(HistogramSum),
    Mean(HistogramMean),
}

impl HistogramAccumulator {
    fn add(&mut self, h: &FloatHistogram) -> Result<AddOutcome, HistogramOpError> {
        match self {
            HistogramAccumulator::Sum(s) => s.add(h),
            HistogramAccumulator::Mean(m) => m.add(h),
        }
    }

    fn finish(self) -> Result<FloatHistogram, HistogramOpError> {
        match self {
            HistogramAccumulator::Sum(s) => s.finish(),
            HistogramAccumulator::Mean(m) => m.finish(),
        }
    }
}

/// Accumulator of one group at one step (upstream's `groupedAggregation`).
#[derive(Default)]
struct Group {
    float_value: f64,
    /// Boxed: groups are kept per step, and most hold floats.
    histogram_value: Option<Box<HistogramAccumulator>>,
    float_mean: f64,
    float_kahan_c: f64,
    group_count: f64,
    heap: Vec<Sample>,
    seen: bool,
    has_float: bool,
    has_histogram: bool,
    incompatible_histograms: bool,
    group_aggr_complete: bool,
    incremental_mean: bool,
    counter_reset_seen: bool,
    not_counter_reset_seen: bool,
    drop_name: bool,
}

impl Group {
    fn track_hint(&mut self, h: &FloatHistogram) {
        match h.counter_reset_hint {
            CounterResetHint::CounterReset => self.counter_reset_seen = true,
            CounterResetHint::NotCounterReset => self.not_counter_reset_seen = true,
            _ => {}
        }
    }
}

/// Per-series position in the input matrix as steps advance (upstream's `nextValues`).
struct InputCursor {
    fi: usize,
    hi: usize,
}

fn next_values<'m>(
    ts: i64,
    s: &'m Series,
    c: &mut InputCursor,
) -> Option<(f64, Option<&'m Arc<FloatHistogram>>)> {
    if let Some(p) = s.floats.get(c.fi).filter(|p| p.t == ts) {
        c.fi += 1;
        return Some((p.f, None));
    }
    if let Some(p) = s.histograms.get(c.hi).filter(|p| p.t == ts) {
        c.hi += 1;
        return Some((0.0, Some(&p.h)));
    }
    None
}

/// [`Evaluator::accumulate`] of a float into a group that already has a value, for
/// the operators that need nothing else; `false` when the general path must do it.
#[inline(always)]
fn accumulate_float(op: AggregateOp, group: &mut Group, f: f64, drop_name: bool) -> bool {
    if !group.seen || group.incompatible_histograms {
        return false;
    }
    match op {
        AggregateOp::Sum => {
            group.has_float = true;
            (group.float_value, group.float_kahan_c) =
                kahan_inc(f, group.float_value, group.float_kahan_c);
        }
        AggregateOp::Count => group.group_count += 1.0,
        AggregateOp::Group => {}
        AggregateOp::Max | AggregateOp::Min => {
            let v = group.float_value;
            let better = if op == AggregateOp::Max { v < f } else { v > f };
            if better || v.is_nan() {
                group.float_value = f;
            }
        }
        _ => return false,
    }
    if drop_name {
        group.drop_name = true;
    }
    true
}

/// The labels of an aggregation group.
fn grouping_labels(metric: &Labels, without: bool, grouping: &[String]) -> Labels {
    if without {
        let mut names: Vec<&str> = grouping.iter().map(String::as_str).collect();
        names.push("__name__");
        metric.without(&names)
    } else if grouping.is_empty() {
        Labels::empty()
    } else {
        let names: Vec<&str> = grouping.iter().map(String::as_str).collect();
        metric.keep(&names)
    }
}

impl Evaluator<'_, '_> {
    /// Evaluates the parameter of an aggregation.
    fn params(&self, param: Option<&Node>) -> Result<Params, EvalError> {
        let Some(p) = param else {
            return Ok(Params::none());
        };
        if matches!(p.kind, NodeKind::String { .. }) {
            return Ok(Params::none());
        }
        let constant = matches!(p.kind, NodeKind::Number(_));
        let m = self.eval_matrix(p)?;
        let Some(s) = m.into_iter().next() else {
            return Ok(Params::none());
        };
        let values: Vec<f64> = s.floats.iter().map(|p| p.f).collect();
        if constant {
            let c = values.first().copied().unwrap_or(0.0);
            return Ok(Params {
                values,
                constant: Some(c),
                next: 0,
                min: c,
                max: c,
                has_nan: c.is_nan(),
            });
        }
        let mut min = f64::MAX;
        let mut max = -f64::MAX;
        let mut has_nan = false;
        for v in &values {
            max = go_max(max, *v);
            min = go_min(min, *v);
            has_nan |= v.is_nan();
        }
        Ok(Params {
            values,
            constant: None,
            next: 0,
            min,
            max,
            has_nan,
        })
    }

    pub(crate) fn eval_aggregate(
        &self,
        node: &Node,
        a: &AggregateNode,
    ) -> Result<Matrix, EvalError> {
        if a.op == AggregateOp::CountValues {
            return self.eval_count_values(a);
        }
        let original = self.q.samples();
        if let Some(result) = self.streaming_aggregation(a)? {
            self.q.set_samples(original + matrix_samples(&result))?;
            return Ok(result);
        }
        let mut params = self.params(a.param.as_ref())?;
        let input = self.eval_matrix(&a.expr)?;
        let result = self.range_eval_agg(node, a, input, &mut params)?;
        self.q.set_samples(original + matrix_samples(&result))?;
        Ok(result)
    }

    /// `sum`, `avg`, `count`, `min`, `max`, `group`, `stddev` and `stdvar` of a selector
    /// or a function over a range selector, folded series by series as the input is
    /// produced, so that the input matrix is never held. Used when the groups are at
    /// most half as many as the input series (otherwise the per-group, per-step
    /// accumulators would outweigh the input); `None` when not applicable.
    fn streaming_aggregation(&self, a: &AggregateNode) -> Result<Option<Matrix>, EvalError> {
        if !matches!(
            a.op,
            AggregateOp::Sum
                | AggregateOp::Avg
                | AggregateOp::Count
                | AggregateOp::Min
                | AggregateOp::Max
                | AggregateOp::Group
                | AggregateOp::Stddev
                | AggregateOp::Stdvar
        ) {
            return Ok(None);
        }
        let (selector, call) = match &a.expr.kind {
            NodeKind::VectorSelector(sel) if !sel.smoothed => (sel.as_ref(), None),
            NodeKind::Call(c) => match c.matrix_arg() {
                Some(mi) if c.func.name != "absent_over_time" => match &c.args[mi].kind {
                    NodeKind::MatrixSelector(ms) => (&ms.selector, Some((c.as_ref(), mi))),
                    _ => return Ok(None),
                },
                _ => return Ok(None),
            },
            _ => return Ok(None),
        };
        let series = self.q.series(selector)?;
        let delayed = self.delayed();
        // Without delayed name removal, functions other than first/last_over_time drop
        // the name before grouping.
        let drops = call.is_some_and(|(c, _)| {
            !delayed && c.func.name != "last_over_time" && c.func.name != "first_over_time"
        });
        let mut estimate: LabelsMap<()> = LabelsMap::default();
        for s in series.iter() {
            let l = if drops {
                drop_metadata_labels(s.labels())
            } else {
                s.labels().clone()
            };
            estimate.insert(LabelsKey(grouping_labels(&l, a.without, &a.grouping)), ());
        }
        if estimate.len() * 2 > series.len() {
            return Ok(None);
        }

        let op = a.op;
        let expr_pos = a.expr.pos;
        let steps = self.steps();
        let held = self.q.samples();
        let mut group_index: LabelsMap<usize> = LabelsMap::default();
        let mut result: Matrix = Vec::new();
        let mut accumulators: Vec<Group> = Vec::new();
        let mut outputs: LabelsMap<()> = LabelsMap::default();
        let mut sink = |s: Series| -> Result<(), EvalError> {
            if drops && outputs.insert(LabelsKey(s.metric.clone()), ()).is_some() {
                return Err(super::error::duplicate_labelset());
            }
            let key = LabelsKey(grouping_labels(&s.metric, a.without, &a.grouping));
            let gi = match group_index.get(&key) {
                Some(i) => *i,
                None => {
                    result.push(Series::new(key.0.clone()));
                    accumulators.extend((0..steps).map(|_| Group::default()));
                    group_index.insert(key, result.len() - 1);
                    result.len() - 1
                }
            };
            let step_of = |t: i64| ((t - self.start) / self.interval) as usize;
            // The step of each point, found walking the steps (points are at steps,
            // in order) rather than dividing.
            let (mut k, mut tk) = (0, self.start);
            for p in &s.floats {
                if tk != p.t && p.t >= self.start {
                    if p.t > tk && p.t - tk <= 64 * self.interval {
                        while tk < p.t {
                            k += 1;
                            tk += self.interval;
                        }
                    } else {
                        k = step_of(p.t);
                        tk = self.start + k as i64 * self.interval;
                    }
                }
                let step = if tk == p.t { k } else { step_of(p.t) };
                if let Some(g) = accumulators.get_mut(gi * steps + step)
                    && !(self.q.opts.vectorized && accumulate_float(op, g, p.f, s.drop_name))
                {
                    self.accumulate(op, g, p.f, None, s.drop_name, &s.metric, expr_pos)?;
                }
            }
            for p in &s.histograms {
                if let Some(g) = accumulators.get_mut(gi * steps + step_of(p.t)) {
                    self.accumulate(op, g, 0.0, Some(&p.h), s.drop_name, &s.metric, expr_pos)?;
                }
            }
            // The series is folded in: it no longer takes memory.
            self.q.set_samples(held)
        };
        match call {
            None => {
                self.instant_series_into(&series, |ts| selector.ref_time(ts), false, &mut sink)?
            }
            Some((c, mi)) => self.range_function_series(c, mi, &mut sink)?,
        }
        for (gi, out) in result.iter_mut().enumerate() {
            for step in 0..steps {
                let Some(g) = accumulators.get_mut(gi * steps + step) else {
                    continue;
                };
                if !g.seen {
                    continue;
                }
                let ts = self.start + step as i64 * self.interval;
                if let Some((value, hist)) = self.finish_group(op, g, 0.0, expr_pos) {
                    push_point(out, ts, value, hist.map(Arc::new), steps);
                    out.drop_name = g.drop_name;
                }
            }
        }
        result.retain(|s| !s.is_empty());
        Ok(Some(result))
    }

    fn range_eval_agg(
        &self,
        node: &Node,
        a: &AggregateNode,
        input: Matrix,
        params: &mut Params,
    ) -> Result<Matrix, EvalError> {
        let k_op = matches!(
            a.op,
            AggregateOp::Topk
                | AggregateOp::Bottomk
                | AggregateOp::Limitk
                | AggregateOp::LimitRatio
        );
        let mut group_index: LabelsMap<usize> = LabelsMap::default();
        let mut series_to_group = Vec::with_capacity(input.len());
        let mut result: Matrix = Vec::new();
        for s in &input {
            let key = LabelsKey(grouping_labels(&s.metric, a.without, &a.grouping));
            let next = group_index.len();
            let idx = match group_index.get(&key) {
                Some(i) => *i,
                None => {
                    if !k_op {
                        result.push(Series::new(key.0.clone()));
                    }
                    group_index.insert(key, next);
                    next
                }
            };
            series_to_group.push(idx);
        }
        let mut groups: Vec<Group> = (0..group_index.len()).map(|_| Group::default()).collect();
        let param_pos = a.param.as_ref().map(|p| p.pos).unwrap_or_default();

        match a.op {
            AggregateOp::Topk | AggregateOp::Bottomk | AggregateOp::Limitk => {
                if params.max < 1.0 {
                    return Ok(Matrix::new());
                }
                if params.has_nan {
                    return Err(exec("Parameter value is NaN"));
                }
                if params.min <= MIN_INT64 {
                    return Err(exec(format!(
                        "Scalar value {} underflows int64",
                        hearth_model::float::format_go_g(params.min)
                    )));
                }
                if params.max >= MAX_INT64 {
                    return Err(exec(format!(
                        "Scalar value {} overflows int64",
                        hearth_model::float::format_go_g(params.max)
                    )));
                }
            }
            AggregateOp::LimitRatio => {
                if params.max == 0.0 && params.min == 0.0 {
                    return Ok(Matrix::new());
                }
                if params.has_nan {
                    return Err(exec("Ratio value is NaN"));
                }
                if params.max > 1.0 {
                    self.q
                        .annotate(Annotation::invalid_ratio(params.max, 1.0, param_pos));
                }
                if params.min < -1.0 {
                    self.q
                        .annotate(Annotation::invalid_ratio(params.min, -1.0, param_pos));
                }
            }
            AggregateOp::Quantile => {
                if params.has_nan {
                    self.q
                        .annotate(Annotation::invalid_quantile(f64::NAN, param_pos));
                }
                if params.max > 1.0 {
                    self.q
                        .annotate(Annotation::invalid_quantile(params.max, param_pos));
                }
                if params.min < 0.0 {
                    self.q
                        .annotate(Annotation::invalid_quantile(params.min, param_pos));
                }
            }
            _ => {}
        }

        let mut cursors: Vec<InputCursor> =
            input.iter().map(|_| InputCursor { fi: 0, hi: 0 }).collect();
        let mut k_series: Vec<Series> = Vec::new();
        let mut k_index: LabelsMap<usize> = LabelsMap::default();
        let temp_samples = self.q.samples();
        let steps = self.steps();
        let mut ts = self.start;
        while ts <= self.end {
            let param = params.next_value();
            self.q.check_done(super::error::EXPR_EVAL)?;
            self.q.set_samples(temp_samples)?;
            if k_op {
                let out = self.aggregation_k(
                    a,
                    node,
                    param,
                    &input,
                    &series_to_group,
                    &mut groups,
                    &mut cursors,
                    ts,
                )?;
                if self.start == self.end {
                    return Ok(out
                        .into_iter()
                        .map(|s| {
                            let mut series = Series::new(s.metric);
                            series.drop_name = s.drop_name;
                            push_point(&mut series, ts, s.f, s.h, 1);
                            series
                        })
                        .collect());
                }
                for s in out {
                    let key = LabelsKey(s.metric.clone());
                    let i = match k_index.get(&key) {
                        Some(i) => *i,
                        None => {
                            k_index.insert(key, k_series.len());
                            let mut series = Series::new(s.metric.clone());
                            series.drop_name = s.drop_name;
                            k_series.push(series);
                            k_series.len() - 1
                        }
                    };
                    push_point(&mut k_series[i], ts, s.f, s.h, steps);
                }
            } else {
                self.aggregation(
                    a,
                    param,
                    &input,
                    &mut result,
                    &series_to_group,
                    &mut groups,
                    &mut cursors,
                    ts,
                    steps,
                )?;
            }
            ts += self.interval;
        }
        if k_op {
            return Ok(k_series);
        }
        result.retain(|s| !s.is_empty());
        Ok(result)
    }

    /// One step of `sum`, `avg`, `count`, `min`, `max`, `group`, `stddev`, `stdvar`,
    /// `quantile`.
    #[allow(clippy::too_many_arguments)]
    fn aggregation(
        &self,
        a: &AggregateNode,
        q: f64,
        input: &Matrix,
        output: &mut Matrix,
        series_to_group: &[usize],
        groups: &mut [Group],
        cursors: &mut [InputCursor],
        ts: i64,
        steps: usize,
    ) -> Result<(), EvalError> {
        let op = a.op;
        let expr_pos = a.expr.pos;
        for g in groups.iter_mut() {
            g.seen = false;
        }
        for (si, s) in input.iter().enumerate() {
            let Some((f, h)) = next_values(ts, s, &mut cursors[si]) else {
                continue;
            };
            let group = &mut groups[series_to_group[si]];
            if self.q.opts.vectorized && h.is_none() && accumulate_float(op, group, f, s.drop_name)
            {
                continue;
            }
            self.accumulate(op, group, f, h, s.drop_name, &s.metric, expr_pos)?;
        }

        for (ri, g) in groups.iter_mut().enumerate() {
            if !g.seen {
                continue;
            }
            let Some((value, hist)) = self.finish_group(op, g, q, expr_pos) else {
                continue;
            };
            let Some(out) = output.get_mut(ri) else {
                continue;
            };
            push_point(out, ts, value, hist.map(Arc::new), steps);
            out.drop_name = g.drop_name;
        }
        Ok(())
    }

    /// Folds one sample into its group's accumulator.
    #[allow(clippy::too_many_arguments)]
    fn accumulate(
        &self,
        op: AggregateOp,
        group: &mut Group,
        f: f64,
        h: Option<&Arc<FloatHistogram>>,
        drop_name: bool,
        metric: &Labels,
        expr_pos: crate::ast::PosRange,
    ) -> Result<(), EvalError> {
        if !group.seen {
            *group = Group {
                seen: true,
                float_value: f,
                float_mean: f,
                group_count: 1.0,
                drop_name,
                ..Group::default()
            };
            match op {
                AggregateOp::Avg | AggregateOp::Sum => match h {
                    None => group.has_float = true,
                    Some(h) => {
                        group.histogram_value = Some(Box::new(if op == AggregateOp::Sum {
                            HistogramAccumulator::Sum(HistogramSum::new(h))
                        } else {
                            HistogramAccumulator::Mean(HistogramMean::new(h))
                        }));
                        group.has_histogram = true;
                        group.track_hint(h);
                    }
                },
                AggregateOp::Stdvar | AggregateOp::Stddev => {
                    if h.is_some() {
                        group.seen = false;
                        self.q
                            .annotate(Annotation::histogram_ignored_in_aggregation(
                                op.as_str(),
                                expr_pos,
                            ));
                    } else if f.is_nan() || f.is_infinite() {
                        group.float_value = f64::NAN;
                    } else {
                        group.float_value = 0.0;
                    }
                }
                AggregateOp::Quantile => {
                    if h.is_some() {
                        group.seen = false;
                        self.q
                            .annotate(Annotation::histogram_ignored_in_aggregation(
                                "quantile", expr_pos,
                            ));
                    }
                    group.heap = vec![Sample::float(Labels::empty(), 0, f)];
                }
                AggregateOp::Group => group.float_value = 1.0,
                AggregateOp::Min | AggregateOp::Max if h.is_some() => {
                    group.seen = false;
                    self.q
                        .annotate(Annotation::histogram_ignored_in_aggregation(
                            op.as_str(),
                            expr_pos,
                        ));
                }
                _ => {}
            }
            return Ok(());
        }
        if group.incompatible_histograms {
            return Ok(());
        }
        if drop_name {
            group.drop_name = true;
        }
        let metric_name = || metric.get("__name__").unwrap_or("").to_string();
        match op {
            AggregateOp::Sum | AggregateOp::Avg => {
                if op == AggregateOp::Avg {
                    group.group_count += 1.0;
                }
                match h {
                    Some(h) => {
                        group.has_histogram = true;
                        // After floats the result is invalid anyway.
                        let Some(acc) = group.histogram_value.as_mut() else {
                            return Ok(());
                        };
                        match h.counter_reset_hint {
                            CounterResetHint::CounterReset => group.counter_reset_seen = true,
                            CounterResetHint::NotCounterReset => {
                                group.not_counter_reset_seen = true
                            }
                            _ => {}
                        }
                        match acc.add(h) {
                            Err(e) => {
                                self.aggregation_error(e, &metric_name(), expr_pos);
                                group.incompatible_histograms = true;
                            }
                            Ok(notes) => {
                                if notes.nhcb_bounds_reconciled {
                                    self.q.annotate(Annotation::mismatched_custom_buckets(
                                        HistogramOperation::Aggregation,
                                        expr_pos,
                                    ));
                                }
                            }
                        }
                    }
                    None if op == AggregateOp::Sum => {
                        group.has_float = true;
                        (group.float_value, group.float_kahan_c) =
                            kahan_inc(f, group.float_value, group.float_kahan_c);
                    }
                    None => {
                        group.has_float = true;
                        if !group.incremental_mean {
                            let (nv, nc) = kahan_inc(f, group.float_value, group.float_kahan_c);
                            if !nv.is_infinite() {
                                group.float_value = nv;
                                group.float_kahan_c = nc;
                                return Ok(());
                            }
                            // The sum would overflow: continue with the incremental mean.
                            group.incremental_mean = true;
                            group.float_mean = group.float_value / (group.group_count - 1.0);
                            group.float_kahan_c /= group.group_count - 1.0;
                        }
                        let q = (group.group_count - 1.0) / group.group_count;
                        (group.float_mean, group.float_kahan_c) = kahan_inc(
                            f / group.group_count,
                            q * group.float_mean,
                            q * group.float_kahan_c,
                        );
                    }
                }
            }
            AggregateOp::Group => {}
            AggregateOp::Max | AggregateOp::Min => {
                if h.is_some() {
                    self.q
                        .annotate(Annotation::histogram_ignored_in_aggregation(
                            op.as_str(),
                            expr_pos,
                        ));
                    return Ok(());
                }
                let v = group.float_value;
                let better = if op == AggregateOp::Max { v < f } else { v > f };
                if better || v.is_nan() {
                    group.float_value = f;
                }
            }
            AggregateOp::Count => group.group_count += 1.0,
            AggregateOp::Stdvar | AggregateOp::Stddev => {
                if h.is_none() {
                    group.group_count += 1.0;
                    let delta = f - group.float_mean;
                    group.float_mean += delta / group.group_count;
                    group.float_value += delta * (f - group.float_mean);
                } else {
                    self.q
                        .annotate(Annotation::histogram_ignored_in_aggregation(
                            op.as_str(),
                            expr_pos,
                        ));
                }
            }
            AggregateOp::Quantile => {
                if h.is_some() {
                    self.q
                        .annotate(Annotation::histogram_ignored_in_aggregation(
                            "quantile", expr_pos,
                        ));
                    return Ok(());
                }
                group.heap.push(Sample::float(Labels::empty(), 0, f));
            }
            _ => return Err(exec(format!("expected aggregation operator but got {op}"))),
        }
        Ok(())
    }

    /// The value of a group at a step, `None` when it has none (mixed or incompatible
    /// samples).
    fn finish_group(
        &self,
        op: AggregateOp,
        g: &mut Group,
        q: f64,
        expr_pos: crate::ast::PosRange,
    ) -> Option<(f64, Option<FloatHistogram>)> {
        let mut hist: Option<FloatHistogram> = None;
        match op {
            AggregateOp::Avg | AggregateOp::Sum => {
                if g.has_float && g.has_histogram {
                    self.q
                        .annotate(Annotation::mixed_floats_histograms_aggregation(expr_pos));
                    return None;
                }
                if g.incompatible_histograms {
                    return None;
                }
                if g.has_histogram {
                    let acc = g.histogram_value.take()?;
                    match acc.finish() {
                        Ok(mut h) => {
                            h.compact(0);
                            hist = Some(h);
                        }
                        Err(e) => {
                            self.aggregation_error(e, "", expr_pos);
                            return None;
                        }
                    }
                } else if op == AggregateOp::Sum {
                    g.float_value += g.float_kahan_c;
                } else if g.incremental_mean {
                    g.float_value = g.float_mean + g.float_kahan_c;
                } else {
                    g.float_value = g.float_value / g.group_count + g.float_kahan_c / g.group_count;
                }
            }
            AggregateOp::Count => g.float_value = g.group_count,
            AggregateOp::Stdvar => g.float_value /= g.group_count,
            AggregateOp::Stddev => g.float_value = (g.float_value / g.group_count).sqrt(),
            AggregateOp::Quantile => {
                let mut values: Vec<f64> = g.heap.iter().map(|s| s.f).collect();
                g.float_value = crate::quantile::quantile(q, &mut values);
            }
            _ => {}
        }
        if g.counter_reset_seen && g.not_counter_reset_seen {
            self.q
                .annotate(Annotation::histogram_counter_reset_collision(
                    HistogramOperation::Aggregation,
                    expr_pos,
                ));
        }
        Some((g.float_value, hist))
    }

    fn aggregation_error(&self, e: HistogramOpError, metric_name: &str, pos: crate::ast::PosRange) {
        if matches!(e, HistogramOpError::IncompatibleSchema) {
            self.q
                .annotate(Annotation::mixed_exponential_custom_histograms(
                    metric_name,
                    pos,
                ));
        }
    }

    /// One step of `topk`, `bottomk`, `limitk`, `limit_ratio`: the selected samples,
    /// in output order.
    #[allow(clippy::too_many_arguments)]
    fn aggregation_k(
        &self,
        a: &AggregateNode,
        node: &Node,
        param: f64,
        input: &Matrix,
        series_to_group: &[usize],
        groups: &mut [Group],
        cursors: &mut [InputCursor],
        ts: i64,
    ) -> Result<Vec<Sample>, EvalError> {
        let op = a.op;
        let mut groups_remaining = groups.len();
        for g in groups.iter_mut() {
            g.seen = false;
        }
        let advance_rest = |from: usize, cursors: &mut [InputCursor]| {
            for (i, s) in input.iter().enumerate().skip(from) {
                let _ = next_values(ts, s, &mut cursors[i]);
            }
        };
        let order = if op == AggregateOp::Bottomk {
            HeapOrder::ReverseValue
        } else {
            HeapOrder::Value
        };
        for si in 0..input.len() {
            let s = &input[si];
            let Some((f, h)) = next_values(ts, s, &mut cursors[si]) else {
                continue;
            };
            // Most samples do not make a full top-k heap: skip them before making a
            // sample (the check below, early).
            if self.q.opts.vectorized
                && matches!(op, AggregateOp::Topk | AggregateOp::Bottomk)
                && h.is_none()
            {
                let group = &groups[series_to_group[si]];
                let k = (param as i64).min(input.len() as i64);
                if k >= 1 && group.seen && group.heap.len() as i64 >= k {
                    let top = group.heap[0].f;
                    let better = if op == AggregateOp::Topk {
                        top < f
                    } else {
                        top > f
                    };
                    let nan_replaced = top.is_nan() && !f.is_nan();
                    if !(better || nan_replaced) {
                        continue;
                    }
                }
            }
            let sample = Sample {
                metric: s.metric.clone(),
                t: ts,
                f,
                h: h.cloned(),
                drop_name: s.drop_name,
            };
            let mut k: i64 = 0;
            let mut r = 0.0;
            match op {
                AggregateOp::Topk | AggregateOp::Bottomk | AggregateOp::Limitk => {
                    k = (param as i64).min(input.len() as i64);
                    if k < 1 {
                        if ts != self.end {
                            advance_rest(si + 1, cursors);
                        }
                        return Ok(Vec::new());
                    }
                }
                _ => {
                    if param == 0.0 {
                        if ts != self.end {
                            advance_rest(si + 1, cursors);
                        }
                        return Ok(Vec::new());
                    }
                    r = param.clamp(-1.0, 1.0);
                }
            }
            let group = &mut groups[series_to_group[si]];
            if !group.seen {
                *group = Group {
                    seen: true,
                    ..Group::default()
                };
                match op {
                    AggregateOp::LimitRatio => {
                        if add_ratio_sample(r, &sample) {
                            heap_push(&mut group.heap, sample, order);
                        }
                    }
                    AggregateOp::Limitk => group.heap.push(sample),
                    _ => {
                        if sample.h.is_some() {
                            group.seen = false;
                            self.q
                                .annotate(Annotation::histogram_ignored_in_aggregation(
                                    op.as_str(),
                                    node.pos,
                                ));
                        } else {
                            heap_push(&mut group.heap, sample, order);
                        }
                    }
                }
                // LIMITK with k == 1 is complete after the first sample.
                if op == AggregateOp::Limitk
                    && group.heap.len() as i64 == k
                    && !group.group_aggr_complete
                {
                    group.group_aggr_complete = true;
                    groups_remaining -= 1;
                    if groups_remaining == 0 {
                        if ts != self.end {
                            advance_rest(si + 1, cursors);
                        }
                        break;
                    }
                }
                continue;
            }
            match op {
                AggregateOp::Topk | AggregateOp::Bottomk => {
                    if sample.h.is_some() {
                        self.q
                            .annotate(Annotation::histogram_ignored_in_aggregation(
                                op.as_str(),
                                node.pos,
                            ));
                    } else if (group.heap.len() as i64) < k {
                        heap_push(&mut group.heap, sample, order);
                    } else {
                        // The heap's top is the sample the next better one replaces.
                        let top = group.heap[0].f;
                        let better = if op == AggregateOp::Topk {
                            top < sample.f
                        } else {
                            top > sample.f
                        };
                        if better || (top.is_nan() && !sample.f.is_nan()) {
                            group.heap[0] = sample;
                            if k > 1 {
                                heap_fix(&mut group.heap, 0, order);
                            }
                        }
                    }
                }
                AggregateOp::Limitk => {
                    if (group.heap.len() as i64) < k {
                        heap_push(&mut group.heap, sample, order);
                    }
                    if !group.group_aggr_complete && group.heap.len() as i64 == k {
                        group.group_aggr_complete = true;
                        groups_remaining -= 1;
                        if groups_remaining == 0 {
                            if ts != self.end {
                                advance_rest(si + 1, cursors);
                            }
                            break;
                        }
                    }
                }
                AggregateOp::LimitRatio => {
                    if add_ratio_sample(r, &sample) {
                        heap_push(&mut group.heap, sample, order);
                    }
                }
                _ => return Err(exec(format!("expected aggregation operator but got {op}"))),
            }
        }

        let mut out = Vec::new();
        for g in groups.iter_mut() {
            if !g.seen {
                continue;
            }
            let mut heap = std::mem::take(&mut g.heap);
            match op {
                AggregateOp::Topk if heap.len() > 1 => {
                    // The heap keeps the smallest on top: sort descending.
                    go_sort_by(&mut heap, |a, b| HeapOrder::Value.less(b, a));
                }
                AggregateOp::Bottomk if heap.len() > 1 => {
                    go_sort_by(&mut heap, |a, b| HeapOrder::ReverseValue.less(b, a));
                }
                _ => {}
            }
            out.extend(heap);
        }
        Ok(out)
    }

    fn eval_count_values(&self, a: &AggregateNode) -> Result<Matrix, EvalError> {
        let Some(Node {
            kind: NodeKind::String { text, raw },
            ..
        }) = a.param.as_ref()
        else {
            return Err(exec("count_values needs a string parameter"));
        };
        if std::str::from_utf8(raw).is_err() || text.is_empty() {
            return Err(exec(format!(
                "invalid label name {}",
                crate::go_format::go_quote_bytes(raw)
            )));
        }
        let label = text.clone();
        let mut grouping = a.grouping.clone();
        if !a.without {
            grouping.push(label.clone());
            grouping.sort();
        }
        let without = a.without;
        self.range_eval(&[&a.expr], None, |v, _, h| {
            let mut counts: Vec<(Labels, f64)> = Vec::new();
            let mut index: LabelsMap<usize> = LabelsMap::default();
            for s in &v[0] {
                h.builder.reset(s.metric);
                let value = match &s.h {
                    None => hearth_model::float::format_go_f(s.f),
                    Some(hist) => hist.go_string(),
                };
                h.builder.set(&label, &value);
                let metric = h.builder.labels();
                let key = LabelsKey(grouping_labels(&metric, without, &grouping));
                match index.get(&key) {
                    Some(&i) => counts[i].1 += 1.0,
                    None => {
                        counts.push((key.0.clone(), 1.0));
                        index.insert(key, counts.len() - 1);
                    }
                }
            }
            let mut out = std::mem::take(&mut h.out);
            out.extend(counts.into_iter().map(|(l, c)| Sample::float(l, 0, c)));
            Ok(out)
        })
    }
}

/// Whether `limit_ratio(r, ...)` keeps the sample: a deterministic offset in [0, 1)
/// from the hash of its labels, compared with the ratio (upstream's
/// `HashRatioSampler`).
fn add_ratio_sample(ratio: f64, s: &Sample) -> bool {
    let offset = s.metric.hash() as f64 / u64::MAX as f64;
    (ratio >= 0.0 && offset < ratio) || (ratio < 0.0 && offset >= 1.0 + ratio)
}
