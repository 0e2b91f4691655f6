//! Functions over range vectors, evaluated per series and step on the samples of the
//! step's window: `rate`, `increase`, `delta` (with extrapolation, and the anchored and
//! smoothed variants), `irate`, `idelta`, `deriv`, `predict_linear`, `resets`,
//! `changes`, the `*_over_time` family and `double_exponential_smoothing`, as
//! upstream's `functions.go`.

use std::sync::Arc;

use hearth_model::histogram_math::kahan_inc;
use hearth_model::{AddOutcome, CounterResetHint, FloatHistogram, HistogramOpError, Labels};

use crate::ast::PosRange;

use super::annotations::{Annotation, HistogramOperation};
use super::error::{EvalError, exec};
use super::evaluator::{QueryState, extended_bounds};
use super::histogram_sums::{HistogramMean, HistogramSum};
use super::value::{FPoint, HPoint};

/// One window of one series, and what a function needs to know about it.
pub(crate) struct Window<'w> {
    pub floats: &'w [FPoint],
    pub hists: &'w [HPoint],
    /// Start timestamps per float and histogram (0 when unknown); empty when start
    /// timestamps are not used.
    pub float_sts: &'w [i64],
    pub hist_sts: &'w [i64],
    /// Where the float counter resets are, when known: indexes `r` with
    /// `floats[r - base].f < floats[r - base - 1].f`, as `(indexes, base)`.
    pub float_resets: Option<(&'w [u32], usize)>,
    pub metric: &'w Labels,
    /// The evaluation time of the step.
    pub ts: i64,
    /// The window is `(range_end - range, range_end]`.
    pub range: i64,
    pub range_end: i64,
    pub anchored: bool,
    pub smoothed: bool,
    /// The scalar arguments for this step, in argument order.
    pub scalars: &'w [f64],
    /// Where the range-vector argument is in the query.
    pub pos: PosRange,
}

impl Window<'_> {
    fn metric_name(&self) -> &str {
        self.metric.get("__name__").unwrap_or("")
    }

    fn range_start(&self) -> i64 {
        self.range_end - self.range
    }
}

/// A function's value for one window.
pub(crate) enum Output {
    Float(f64),
    Histogram(FloatHistogram),
}

type FnResult = Result<Option<Output>, EvalError>;

fn float(f: f64) -> FnResult {
    Ok(Some(Output::Float(f)))
}

/// A range-vector function: its value for one window.
pub(crate) type RangeFunction = fn(&Window, &QueryState) -> FnResult;

/// The implementation of range function `name` (looked up once per call, not per
/// window).
pub(crate) fn lookup(name: &str) -> Option<RangeFunction> {
    let f: RangeFunction = match name {
        "rate" => |w, q| extrapolated_rate(w, q, true, true),
        "increase" => |w, q| extrapolated_rate(w, q, true, false),
        "delta" => |w, q| extrapolated_rate(w, q, false, false),
        "irate" => |w, q| instant_value(w, q, true),
        "idelta" => |w, q| instant_value(w, q, false),
        "avg_over_time" => avg_over_time,
        "sum_over_time" => sum_over_time,
        "count_over_time" => |w, _| float((w.floats.len() + w.hists.len()) as f64),
        "present_over_time" | "absent_over_time" => |_, _| float(1.0),
        "first_over_time" => |w, _| Ok(first_over_time(w)),
        "last_over_time" => |w, _| Ok(last_over_time(w)),
        "ts_of_first_over_time" => |w, _| {
            let tf = w.floats.first().map_or(i64::MAX, |p| p.t);
            let th = w.hists.first().map_or(i64::MAX, |p| p.t);
            float(tf.min(th) as f64 / 1000.0)
        },
        "ts_of_last_over_time" => |w, _| {
            let tf = w.floats.last().map_or(0, |p| p.t);
            let th = w.hists.last().map_or(0, |p| p.t);
            float(tf.max(th) as f64 / 1000.0)
        },
        "max_over_time" => |w, q| compare_over_time(w, q, |cur, m| cur > m || m.is_nan(), false),
        "min_over_time" => |w, q| compare_over_time(w, q, |cur, m| cur < m || m.is_nan(), false),
        "ts_of_max_over_time" => {
            |w, q| compare_over_time(w, q, |cur, m| cur >= m || m.is_nan(), true)
        }
        "ts_of_min_over_time" => {
            |w, q| compare_over_time(w, q, |cur, m| cur <= m || m.is_nan(), true)
        }
        "quantile_over_time" => quantile_over_time,
        "stddev_over_time" => |w, q| variance_over_time(w, q, true),
        "stdvar_over_time" => |w, q| variance_over_time(w, q, false),
        "mad_over_time" => mad_over_time,
        "changes" => |w, _| changes_or_resets(w, true),
        "resets" => |w, _| changes_or_resets(w, false),
        "deriv" => deriv,
        "predict_linear" => predict_linear,
        "double_exponential_smoothing" => double_exponential_smoothing,
        _ => return None,
    };
    Some(f)
}

/// Functions that accept `anchored` range selectors.
pub(crate) const ANCHORED_SAFE: &[&str] = &["changes", "delta", "increase", "rate", "resets"];
/// Functions that accept `smoothed` range selectors.
pub(crate) const SMOOTHED_SAFE: &[&str] = &["delta", "increase", "rate"];

/// A start timestamp that says something: before its sample's time (0 otherwise:
/// unknown, an empty interval or invalid).
pub(crate) fn effective_start(st: i64, t: i64) -> i64 {
    if st != 0 && st < t { st } else { 0 }
}

/// Whether a start timestamp shows a counter reset between two samples (upstream's
/// `isStartTimestampReset`, with start timestamps at or after their sample ignored).
pub(crate) fn is_start_timestamp_reset(
    prev_st: i64,
    prev_t: i64,
    curr_st: i64,
    curr_t: i64,
) -> bool {
    let prev_st = effective_start(prev_st, prev_t);
    let curr_st = effective_start(curr_st, curr_t);
    if curr_st == 0 {
        return false;
    }
    if curr_st < prev_t {
        return false;
    }
    if curr_st > prev_t {
        return true;
    }
    // The start points at the previous sample: a delta (reset) when the previous start
    // is known, a cumulative series with unknown start otherwise.
    prev_st != 0
}

/// The anchored and smoothed variants of `rate`, `increase` and `delta`.
fn extended_rate(w: &Window, q: &QueryState, is_counter: bool, is_rate: bool) -> FnResult {
    if !w.hists.is_empty() {
        if !w.floats.is_empty() {
            q.annotate(Annotation::mixed_floats_histograms(w.metric_name(), w.pos));
            return Ok(None);
        }
        return extended_histogram_rate(w, q, is_counter, is_rate);
    }
    let f = w.floats;
    let range_start = w.range_start();
    let range_end = w.range_end;
    let Some(b) = extended_bounds(f, range_start, range_end, w.smoothed, is_counter) else {
        return Ok(None);
    };
    let mut result = b.right - b.left;
    if is_counter {
        let mut first = b.first;
        let mut last = b.last as i64;
        if f[first].t <= range_start {
            first += 1;
        }
        if f[b.last].t >= range_end {
            last -= 1;
        }
        let inside: &[FPoint] = if last >= first as i64 {
            &f[first..=last as usize]
        } else {
            &[]
        };
        let mut correction = 0.0;
        let mut prev = b.left;
        for p in inside {
            if p.f < prev {
                correction += prev;
            }
            prev = p.f;
        }
        if b.right < prev {
            correction += prev;
        }
        result += correction;
    }
    if is_rate {
        result /= w.range as f64 / 1000.0;
    }
    float(result)
}

/// Linear interpolation between two histograms at `t`; for counters a reset between
/// them means the counter restarted from zero. `None` when the histograms do not
/// combine (exponential and custom buckets).
pub(crate) fn interpolate_histogram(
    p1: &HPoint,
    p2: &HPoint,
    t: i64,
    is_counter: bool,
) -> Option<FloatHistogram> {
    if p1.h.uses_custom_buckets() != p2.h.uses_custom_buckets() {
        return None;
    }
    let fraction = (t - p1.t) as f64 / (p2.t - p1.t) as f64;
    if is_counter && p2.h.detect_reset(&p1.h) {
        let mut h = (*p2.h).clone();
        h.mul(fraction);
        return Some(h);
    }
    let mut diff = (*p2.h).clone();
    diff.sub(&p1.h).ok()?;
    diff.mul(fraction);
    let mut h = (*p1.h).clone();
    h.add(&diff).ok()?;
    h.counter_reset_hint = p2.h.counter_reset_hint;
    Some(h)
}

/// The anchored and smoothed variants of `rate`, `increase` and `delta` over native
/// histograms: as for floats, with counter resets detected between histograms.
fn extended_histogram_rate(
    w: &Window,
    q: &QueryState,
    is_counter: bool,
    is_rate: bool,
) -> FnResult {
    let h = w.hists;
    let name = w.metric_name();
    let (start, end) = (w.range_start(), w.range_end);
    let mut last = h.len() - 1;
    let mut first = h[..last]
        .partition_point(|p| p.t <= start)
        .saturating_sub(1);
    if w.smoothed {
        last = h[..last].partition_point(|p| p.t < end);
    }
    // No data inside the range: all of it before, or (smoothed) all after.
    if h[last].t <= start || h[first].t > end {
        return Ok(None);
    }
    let custom = h[first].h.uses_custom_buckets();
    if h[first..=last]
        .iter()
        .any(|p| p.h.uses_custom_buckets() != custom)
    {
        q.annotate(Annotation::mixed_exponential_custom_histograms(name, w.pos));
        return Ok(None);
    }
    if is_counter {
        if h[first..=last]
            .iter()
            .any(|p| p.h.counter_reset_hint == CounterResetHint::Gauge)
        {
            q.annotate(Annotation::native_histogram_not_counter(name, w.pos));
        }
    } else if h[first].h.counter_reset_hint != CounterResetHint::Gauge
        || h[last].h.counter_reset_hint != CounterResetHint::Gauge
    {
        q.annotate(Annotation::native_histogram_not_gauge(name, w.pos));
    }
    // Interpolated boundaries, and whether the interpolation crossed a counter reset
    // (then the boundary already starts from zero after the reset).
    let left_interpolated = w.smoothed && h[first].t < start && first + 1 < h.len();
    let right_interpolated = w.smoothed && last > 0 && h[last].t > end;
    let left_reset = left_interpolated && is_counter && h[first + 1].h.detect_reset(&h[first].h);
    let right_reset = right_interpolated && is_counter && h[last].h.detect_reset(&h[last - 1].h);
    let left = if left_interpolated {
        interpolate_histogram(&h[first], &h[first + 1], start, is_counter)
    } else {
        Some((*h[first].h).clone())
    };
    let right = if right_interpolated {
        interpolate_histogram(&h[last - 1], &h[last], end, is_counter)
    } else {
        Some((*h[last].h).clone())
    };
    let (Some(left), Some(right)) = (left, right) else {
        q.annotate(Annotation::mixed_exponential_custom_histograms(name, w.pos));
        return Ok(None);
    };
    let mut result = right.clone();
    if result.sub(&left).is_err() {
        q.annotate(Annotation::mixed_exponential_custom_histograms(name, w.pos));
        return Ok(None);
    }
    if is_counter {
        let reset_after_left = first + 1;
        if h[first].t <= start {
            first += 1;
        }
        let mut inner_last = last as i64;
        if h[last].t >= end {
            inner_last -= 1;
        }
        let inner_range = if inner_last >= first as i64 {
            first..inner_last as usize + 1
        } else {
            0..0
        };
        let mut corrections: Vec<&FloatHistogram> = Vec::new();
        let mut prev: &FloatHistogram = &left;
        for i in inner_range.clone() {
            let p = &h[i];
            // The reset the left boundary was interpolated across is in `left` already.
            if !(left_reset && i == reset_after_left) && p.h.detect_reset(prev) {
                corrections.push(prev);
            }
            prev = &p.h;
        }
        if right_interpolated {
            // A reset interpolated across on the right counts the value before it,
            // unless the left boundary came from the same reset.
            if right_reset {
                if !(left_reset && reset_after_left == last) {
                    corrections.push(prev);
                }
            } else if right.detect_reset(prev) {
                corrections.push(prev);
            }
        } else if !inner_range.contains(&last) && right.detect_reset(prev) {
            // The right boundary is the last sample itself: compared only when it was not
            // among the inner samples already.
            corrections.push(prev);
        }
        for c in corrections {
            if result.add(c).is_err() {
                q.annotate(Annotation::mixed_exponential_custom_histograms(name, w.pos));
                return Ok(None);
            }
        }
    }
    if is_rate {
        result.div(w.range as f64 / 1000.0);
    }
    result.counter_reset_hint = CounterResetHint::Gauge;
    result.compact(0);
    Ok(Some(Output::Histogram(result)))
}

/// `rate`, `increase` and `delta`: the change over the window, extrapolated towards the
/// window's edges (upstream's `extrapolatedRate`).
fn extrapolated_rate(w: &Window, q: &QueryState, is_counter: bool, is_rate: bool) -> FnResult {
    if w.anchored || w.smoothed {
        return extended_rate(w, q, is_counter, is_rate);
    }
    let range_start = w.range_start();
    let range_end = w.range_end;
    if !w.hists.is_empty() && !w.floats.is_empty() {
        q.annotate(Annotation::mixed_floats_histograms(w.metric_name(), w.pos));
        return Ok(None);
    }
    // With a start timestamp inside the range on the first sample, the counter is
    // taken to be zero then, instead of extrapolating towards the range start.
    let (first_t, first_st) = match (w.floats.first(), w.hists.first()) {
        (Some(p), _) => (p.t, w.float_sts.first().copied().unwrap_or(0)),
        (None, Some(p)) => (p.t, w.hist_sts.first().copied().unwrap_or(0)),
        (None, None) => return Ok(None),
    };
    let zero_start = effective_start(first_st, first_t);
    let from_zero = is_counter && zero_start != 0 && zero_start > range_start;
    let n = w.floats.len().max(w.hists.len());
    if n < 2 && !from_zero {
        return Ok(None);
    }
    let mut result_float = 0.0;
    let mut result_hist: Option<FloatHistogram> = None;
    let last_t;
    if !w.hists.is_empty() {
        last_t = w.hists[n - 1].t;
        match histogram_rate(
            w.hists,
            w.hist_sts,
            is_counter,
            from_zero,
            w.metric_name(),
            w.pos,
            q,
        ) {
            Some(h) => result_hist = Some(h),
            None => return Ok(None),
        }
    } else {
        last_t = w.floats[n - 1].t;
        let base = if from_zero { 0.0 } else { w.floats[0].f };
        result_float = w.floats[n - 1].f - base;
        if is_counter && let (Some((resets, base)), true) = (w.float_resets, w.float_sts.is_empty())
        {
            // The same additions in the same order as the scan below.
            for r in resets {
                result_float += w.floats[*r as usize - base - 1].f;
            }
        } else if is_counter {
            let sts = w.float_sts;
            for i in 1..n {
                let prev = w.floats[i - 1];
                let cur = w.floats[i];
                if cur.f < prev.f
                    || (i < sts.len()
                        && is_start_timestamp_reset(sts[i - 1], prev.t, sts[i], cur.t))
                {
                    result_float += prev.f;
                }
            }
        }
    }
    if result_hist.is_none() && !from_zero {
        return Ok(float_extrapolated(
            w.floats,
            result_float,
            range_start,
            range_end,
            w.range,
            is_counter,
            is_rate,
        )
        .map(Output::Float));
    }
    let samples_minus_one = n - 1;

    if from_zero {
        let sampled_interval = (last_t - zero_start) as f64 / 1000.0;
        let mut duration_to_end = (range_end - last_t) as f64 / 1000.0;
        if samples_minus_one == 0 {
            duration_to_end = 0.0;
        } else {
            let average_between = (last_t - first_t) as f64 / 1000.0 / samples_minus_one as f64;
            if duration_to_end >= average_between * 1.1 {
                duration_to_end = average_between / 2.0;
            }
        }
        let mut factor = (sampled_interval + duration_to_end) / sampled_interval;
        if is_rate {
            factor /= w.range as f64 / 1000.0;
        }
        return match result_hist {
            Some(mut h) => {
                h.mul(factor);
                Ok(Some(Output::Histogram(h)))
            }
            None => float(result_float * factor),
        };
    }

    let mut duration_to_start = (first_t - range_start) as f64 / 1000.0;
    let mut duration_to_end = (range_end - last_t) as f64 / 1000.0;
    let sampled_interval = (last_t - first_t) as f64 / 1000.0;
    let average_between = sampled_interval / samples_minus_one as f64;
    let threshold = average_between * 1.1;
    if duration_to_start >= threshold {
        duration_to_start = average_between / 2.0;
    }
    if is_counter {
        // Counters cannot go below zero: do not extrapolate past the zero point.
        let mut duration_to_zero = duration_to_start;
        if result_float > 0.0 && !w.floats.is_empty() && w.floats[0].f >= 0.0 {
            duration_to_zero = sampled_interval * (w.floats[0].f / result_float);
        } else if let Some(h) = &result_hist
            && h.count > 0.0
            && !w.hists.is_empty()
            && w.hists[0].h.count >= 0.0
        {
            duration_to_zero = sampled_interval * (w.hists[0].h.count / h.count);
        }
        if duration_to_zero < duration_to_start {
            duration_to_start = duration_to_zero;
        }
    }
    if duration_to_end >= threshold {
        duration_to_end = average_between / 2.0;
    }
    let mut factor = (sampled_interval + duration_to_start + duration_to_end) / sampled_interval;
    if is_rate {
        factor /= w.range as f64 / 1000.0;
    }
    match result_hist {
        Some(mut h) => {
            h.mul(factor);
            Ok(Some(Output::Histogram(h)))
        }
        None => float(result_float * factor),
    }
}

/// `rate`, `increase` or `delta` of a window of floats without start timestamps,
/// given `result` = last − first value plus, for counters, the values before each
/// reset: extrapolated towards the range's ends (upstream's `extrapolatedRate`).
#[inline]
pub(crate) fn float_extrapolated(
    floats: &[FPoint],
    result: f64,
    range_start: i64,
    range_end: i64,
    range: i64,
    is_counter: bool,
    is_rate: bool,
) -> Option<f64> {
    let n = floats.len();
    if n < 2 {
        return None;
    }
    let (first, last_t) = (floats[0], floats[n - 1].t);
    let mut duration_to_start = (first.t - range_start) as f64 / 1000.0;
    let mut duration_to_end = (range_end - last_t) as f64 / 1000.0;
    let sampled_interval = (last_t - first.t) as f64 / 1000.0;
    let average_between = sampled_interval / (n - 1) as f64;
    let threshold = average_between * 1.1;
    if duration_to_start >= threshold {
        duration_to_start = average_between / 2.0;
    }
    if is_counter {
        // Counters cannot go below zero: do not extrapolate past the zero point.
        let mut duration_to_zero = duration_to_start;
        if result > 0.0 && first.f >= 0.0 {
            duration_to_zero = sampled_interval * (first.f / result);
        }
        if duration_to_zero < duration_to_start {
            duration_to_start = duration_to_zero;
        }
    }
    if duration_to_end >= threshold {
        duration_to_end = average_between / 2.0;
    }
    let mut factor = (sampled_interval + duration_to_start + duration_to_end) / sampled_interval;
    if is_rate {
        factor /= range as f64 / 1000.0;
    }
    Some(result * factor)
}

/// The change between the first and last histogram, corrected for counter resets
/// (upstream's `histogramRate`); `None` when the histograms do not combine.
fn histogram_rate(
    points: &[HPoint],
    sts: &[i64],
    is_counter: bool,
    from_zero: bool,
    metric_name: &str,
    pos: PosRange,
    q: &QueryState,
) -> Option<FloatHistogram> {
    let first = points.first()?;
    let last = points.last()?;
    let mut prev: FloatHistogram = (*first.h).clone();
    let mut using_custom = prev.uses_custom_buckets();
    if is_counter
        && (prev.counter_reset_hint == CounterResetHint::Gauge
            || last.h.counter_reset_hint == CounterResetHint::Gauge)
    {
        q.annotate(Annotation::native_histogram_not_counter(metric_name, pos));
    }
    let zero = |like: &FloatHistogram| FloatHistogram {
        schema: like.schema,
        custom_values: like.custom_values.clone(),
        ..FloatHistogram::default()
    };
    if from_zero {
        prev = zero(&first.h);
    } else if is_counter && points.len() > 1 {
        // A reset between the first two samples: the first one does not matter.
        let second = &points[1].h;
        let st_reset =
            sts.len() > 1 && is_start_timestamp_reset(sts[0], points[0].t, sts[1], points[1].t);
        if st_reset || second.detect_reset(&prev) {
            prev = FloatHistogram {
                schema: second.schema,
                custom_values: second.custom_values.clone(),
                ..FloatHistogram::default()
            };
            using_custom = second.uses_custom_buckets();
        }
    }
    if last.h.uses_custom_buckets() != using_custom {
        q.annotate(Annotation::mixed_exponential_custom_histograms(
            metric_name,
            pos,
        ));
        return None;
    }
    let mut min_schema = last.h.schema.min(prev.schema);
    for p in points.get(1..points.len() - 1).unwrap_or(&[]) {
        if !is_counter {
            continue;
        }
        if p.h.counter_reset_hint == CounterResetHint::Gauge {
            q.annotate(Annotation::native_histogram_not_counter(metric_name, pos));
        }
        min_schema = min_schema.min(p.h.schema);
        if p.h.uses_custom_buckets() != using_custom {
            q.annotate(Annotation::mixed_exponential_custom_histograms(
                metric_name,
                pos,
            ));
            return None;
        }
    }
    let Ok(mut h) = last.h.copy_to_schema(min_schema) else {
        q.annotate(Annotation::mixed_exponential_custom_histograms(
            metric_name,
            pos,
        ));
        return None;
    };
    match h.sub(&prev) {
        Err(HistogramOpError::IncompatibleSchema) => {
            q.annotate(Annotation::mixed_exponential_custom_histograms(
                metric_name,
                pos,
            ));
            return None;
        }
        Err(_) => {}
        Ok(notes) => {
            if notes.nhcb_bounds_reconciled {
                q.annotate(Annotation::mismatched_custom_buckets(
                    HistogramOperation::Subtraction,
                    pos,
                ));
            }
        }
    }
    if is_counter {
        // Resets between the real samples; a start from zero counts from the first.
        let mut prev_h: &FloatHistogram = if from_zero { &first.h } else { &prev };
        for i in 1..points.len() {
            let curr = &points[i].h;
            let st_reset = i < sts.len()
                && is_start_timestamp_reset(sts[i - 1], points[i - 1].t, sts[i], points[i].t);
            if st_reset || curr.detect_reset(prev_h) {
                match h.add(prev_h) {
                    Err(HistogramOpError::IncompatibleSchema) => {
                        q.annotate(Annotation::mixed_exponential_custom_histograms(
                            metric_name,
                            pos,
                        ));
                        return None;
                    }
                    Err(_) => {}
                    Ok(notes) => {
                        if notes.nhcb_bounds_reconciled {
                            q.annotate(Annotation::mismatched_custom_buckets(
                                HistogramOperation::Addition,
                                pos,
                            ));
                        }
                    }
                }
            }
            prev_h = curr;
        }
    } else if first.h.counter_reset_hint != CounterResetHint::Gauge
        || last.h.counter_reset_hint != CounterResetHint::Gauge
    {
        q.annotate(Annotation::native_histogram_not_gauge(metric_name, pos));
    }
    h.counter_reset_hint = CounterResetHint::Gauge;
    h.compact(0);
    Some(h)
}

/// `irate` and `idelta`: from the last two samples (upstream's `instantValue`).
fn instant_value(w: &Window, q: &QueryState, is_rate: bool) -> FnResult {
    if w.floats.len() + w.hists.len() < 2 {
        return Ok(None);
    }
    #[derive(Clone)]
    struct S {
        t: i64,
        f: f64,
        h: Option<Arc<FloatHistogram>>,
        st: i64,
    }
    let mut ss: Vec<S> = Vec::with_capacity(2);
    for i in w.floats.len().saturating_sub(2)..w.floats.len() {
        ss.push(S {
            t: w.floats[i].t,
            f: w.floats[i].f,
            h: None,
            st: w.float_sts.get(i).copied().unwrap_or(0),
        });
    }
    for i in w.hists.len().saturating_sub(2)..w.hists.len() {
        let s = S {
            t: w.hists[i].t,
            f: 0.0,
            h: Some(w.hists[i].h.clone()),
            st: w.hist_sts.get(i).copied().unwrap_or(0),
        };
        match ss.len() {
            0 => ss.push(s),
            1 => {
                if s.t < ss[0].t {
                    ss.insert(0, s);
                } else {
                    ss.push(s);
                }
            }
            _ => {
                if s.t < ss[0].t {
                    // Older than both: not needed.
                } else if s.t > ss[1].t {
                    ss[0] = ss[1].clone();
                    ss[1] = s;
                } else {
                    ss[0] = s;
                }
            }
        }
    }
    let (s0, s1) = (&ss[0], &ss[1]);
    let sampled_interval = s1.t - s0.t;
    if sampled_interval == 0 {
        return Ok(None);
    }
    let metric_name = w.metric_name();
    let mut out = match (&s0.h, &s1.h) {
        (None, None) => {
            let mut f = s1.f;
            if !is_rate || !(s1.f < s0.f || is_start_timestamp_reset(s0.st, s0.t, s1.st, s1.t)) {
                f = s1.f - s0.f;
            }
            Output::Float(f)
        }
        (Some(h0), Some(h1)) => {
            let mut res = (**h1).clone();
            if is_rate
                && (h1.counter_reset_hint == CounterResetHint::Gauge
                    || h0.counter_reset_hint == CounterResetHint::Gauge)
            {
                q.annotate(Annotation::native_histogram_not_counter(metric_name, w.pos));
            }
            if !is_rate
                && (h1.counter_reset_hint != CounterResetHint::Gauge
                    || h0.counter_reset_hint != CounterResetHint::Gauge)
            {
                q.annotate(Annotation::native_histogram_not_gauge(metric_name, w.pos));
            }
            if !is_rate
                || (!is_start_timestamp_reset(s0.st, s0.t, s1.st, s1.t) && !h1.detect_reset(h0))
            {
                match res.sub(h0) {
                    Err(HistogramOpError::IncompatibleSchema) => {
                        q.annotate(Annotation::mixed_exponential_custom_histograms(
                            metric_name,
                            w.pos,
                        ));
                        return Ok(None);
                    }
                    Err(_) => {}
                    Ok(notes) => {
                        if notes.nhcb_bounds_reconciled {
                            q.annotate(Annotation::mismatched_custom_buckets(
                                HistogramOperation::Subtraction,
                                w.pos,
                            ));
                        }
                    }
                }
            }
            res.counter_reset_hint = CounterResetHint::Gauge;
            res.compact(0);
            Output::Histogram(res)
        }
        _ => {
            q.annotate(Annotation::mixed_floats_histograms(metric_name, w.pos));
            return Ok(None);
        }
    };
    if is_rate {
        let secs = sampled_interval as f64 / 1000.0;
        match &mut out {
            Output::Float(f) => *f /= secs,
            Output::Histogram(h) => {
                h.div(secs);
            }
        }
    }
    Ok(Some(out))
}

fn first_over_time(w: &Window) -> Option<Output> {
    let f = w.floats.first();
    let h = w.hists.first();
    match (f, h) {
        (Some(f), None) => Some(Output::Float(f.f)),
        (Some(f), Some(h)) if f.t < h.t => Some(Output::Float(f.f)),
        (_, Some(h)) => Some(Output::Histogram((*h.h).clone())),
        (None, None) => None,
    }
}

fn last_over_time(w: &Window) -> Option<Output> {
    let f = w.floats.last();
    let h = w.hists.last();
    match (f, h) {
        (Some(f), None) => Some(Output::Float(f.f)),
        (Some(f), Some(h)) if h.t < f.t => Some(Output::Float(f.f)),
        (_, Some(h)) => Some(Output::Histogram((*h.h).clone())),
        (None, None) => None,
    }
}

fn avg_over_time(w: &Window, q: &QueryState) -> FnResult {
    if !w.floats.is_empty() && !w.hists.is_empty() {
        q.annotate(Annotation::mixed_floats_histograms(w.metric_name(), w.pos));
        return Ok(None);
    }
    if w.floats.is_empty() {
        return fold_histograms(
            w,
            q,
            HistogramMean::new,
            HistogramMean::add,
            HistogramMean::finish,
        );
    }
    let mut sum = w.floats[0].f;
    let mut count = 1.0;
    let (mut mean, mut c) = (0.0, 0.0);
    let mut incremental = false;
    for (i, p) in w.floats[1..].iter().enumerate() {
        count = (i + 2) as f64;
        if !incremental {
            let (ns, nc) = kahan_inc(p.f, sum, c);
            if !ns.is_infinite() {
                sum = ns;
                c = nc;
                continue;
            }
            incremental = true;
            mean = sum / (count - 1.0);
            c /= count - 1.0;
        }
        let qf = (count - 1.0) / count;
        (mean, c) = kahan_inc(p.f / count, qf * mean, qf * c);
    }
    if incremental {
        return float(mean + c);
    }
    float(sum / count + c / count)
}

/// Tracks counter reset hints over histograms that are summed or averaged.
#[derive(Default)]
struct HintTracker {
    reset: bool,
    not_reset: bool,
    reconciled: bool,
}

impl HintTracker {
    fn track(&mut self, h: &FloatHistogram) {
        match h.counter_reset_hint {
            CounterResetHint::CounterReset => self.reset = true,
            CounterResetHint::NotCounterReset => self.not_reset = true,
            _ => {}
        }
    }

    fn report(&self, q: &QueryState, pos: PosRange) {
        if self.reset && self.not_reset {
            q.annotate(Annotation::histogram_counter_reset_collision(
                HistogramOperation::Aggregation,
                pos,
            ));
        }
        if self.reconciled {
            q.annotate(Annotation::mismatched_custom_buckets(
                HistogramOperation::Aggregation,
                pos,
            ));
        }
    }
}

/// The histograms of a window folded into one (a sum or a mean), with the counter
/// reset and custom bucket annotations of the fold.
fn fold_histograms<A>(
    w: &Window,
    q: &QueryState,
    start: impl FnOnce(&FloatHistogram) -> A,
    add: impl Fn(&mut A, &FloatHistogram) -> Result<AddOutcome, HistogramOpError>,
    finish: impl FnOnce(A) -> Result<FloatHistogram, HistogramOpError>,
) -> FnResult {
    let Some(first) = w.hists.first() else {
        return Ok(None);
    };
    let mut tracker = HintTracker::default();
    tracker.track(&first.h);
    let mut acc = start(&first.h);
    for p in &w.hists[1..] {
        tracker.track(&p.h);
        match add(&mut acc, &p.h) {
            Err(e) => return histogram_sum_error(w, q, e, &tracker),
            Ok(n) => tracker.reconciled |= n.nhcb_bounds_reconciled,
        }
    }
    tracker.report(q, w.pos);
    match finish(acc) {
        Ok(h) => Ok(Some(Output::Histogram(h))),
        Err(e) => histogram_sum_error(w, q, e, &tracker),
    }
}

/// An incompatible histogram in `sum_over_time`/`avg_over_time`: no result.
fn histogram_sum_error(
    w: &Window,
    q: &QueryState,
    e: HistogramOpError,
    tracker: &HintTracker,
) -> FnResult {
    tracker.report(q, w.pos);
    if matches!(e, HistogramOpError::IncompatibleSchema) {
        q.annotate(Annotation::mixed_exponential_custom_histograms(
            w.metric_name(),
            w.pos,
        ));
    }
    Ok(None)
}

fn sum_over_time(w: &Window, q: &QueryState) -> FnResult {
    if !w.floats.is_empty() && !w.hists.is_empty() {
        q.annotate(Annotation::mixed_floats_histograms(w.metric_name(), w.pos));
        return Ok(None);
    }
    if w.floats.is_empty() {
        return fold_histograms(
            w,
            q,
            HistogramSum::new,
            HistogramSum::add,
            HistogramSum::finish,
        );
    }
    let (mut sum, mut c) = (0.0, 0.0);
    for p in w.floats {
        (sum, c) = kahan_inc(p.f, sum, c);
    }
    if sum.is_infinite() {
        return float(sum);
    }
    float(sum + c)
}

fn ignore_mixed(w: &Window, q: &QueryState) -> bool {
    if w.floats.is_empty() {
        return true;
    }
    if !w.hists.is_empty() {
        q.annotate(Annotation::histogram_ignored_in_mixed_range(
            w.metric_name(),
            w.pos,
        ));
    }
    false
}

fn compare_over_time(
    w: &Window,
    q: &QueryState,
    better: impl Fn(f64, f64) -> bool,
    return_ts: bool,
) -> FnResult {
    if ignore_mixed(w, q) {
        return Ok(None);
    }
    let mut best = w.floats[0].f;
    let mut best_t = w.floats[0].t;
    for p in w.floats {
        if better(p.f, best) {
            best = p.f;
            best_t = p.t;
        }
    }
    if return_ts {
        return float(best_t as f64 / 1000.0);
    }
    float(best)
}

fn quantile_over_time(w: &Window, q: &QueryState) -> FnResult {
    let Some(&qv) = w.scalars.first() else {
        return Ok(None);
    };
    if w.floats.is_empty() {
        return Ok(None);
    }
    if qv.is_nan() || !(0.0..=1.0).contains(&qv) {
        q.annotate(Annotation::invalid_quantile(qv, w.pos));
    }
    if !w.hists.is_empty() {
        q.annotate(Annotation::histogram_ignored_in_mixed_range(
            w.metric_name(),
            w.pos,
        ));
    }
    let mut values: Vec<f64> = w.floats.iter().map(|p| p.f).collect();
    float(crate::quantile::quantile(qv, &mut values))
}

fn variance_over_time(w: &Window, q: &QueryState, stddev: bool) -> FnResult {
    if ignore_mixed(w, q) {
        return Ok(None);
    }
    let mut count = 0.0;
    let (mut mean, mut c_mean) = (0.0, 0.0);
    let (mut aux, mut c_aux) = (0.0, 0.0);
    for p in w.floats {
        count += 1.0;
        let delta = p.f - (mean + c_mean);
        (mean, c_mean) = kahan_inc(delta / count, mean, c_mean);
        (aux, c_aux) = kahan_inc(delta * (p.f - (mean + c_mean)), aux, c_aux);
    }
    let variance = (aux + c_aux) / count;
    float(if stddev { variance.sqrt() } else { variance })
}

fn mad_over_time(w: &Window, q: &QueryState) -> FnResult {
    if ignore_mixed(w, q) {
        return Ok(None);
    }
    // A NaN sample makes the deviation undefined rather than being skipped.
    if w.floats.iter().any(|p| p.f.is_nan()) {
        return float(f64::NAN);
    }
    let mut values: Vec<f64> = w.floats.iter().map(|p| p.f).collect();
    let median = crate::quantile::quantile(0.5, &mut values);
    let mut devs: Vec<f64> = w.floats.iter().map(|p| (p.f - median).abs()).collect();
    float(crate::quantile::quantile(0.5, &mut devs))
}

/// Where to start reading the window: with `anchored`, at the last sample (float or
/// histogram) at or before the window start (upstream's `pickFirstSampleIndex` over
/// both kinds); `None` when an anchored window has no sample inside.
fn first_sample_indexes(w: &Window) -> Option<(usize, usize)> {
    if !w.anchored {
        return Some((0, 0));
    }
    let range_start = w.range_start();
    let last_f = w.floats.last().map(|p| p.t);
    let last_h = w.hists.last().map(|p| p.t);
    let last = last_f.max(last_h)?;
    if last <= range_start {
        return None;
    }
    let anchor_f = w
        .floats
        .iter()
        .rev()
        .find(|p| p.t <= range_start)
        .map(|p| p.t);
    let anchor_h = w
        .hists
        .iter()
        .rev()
        .find(|p| p.t <= range_start)
        .map(|p| p.t);
    let Some(anchor) = anchor_f.max(anchor_h) else {
        return Some((0, 0));
    };
    Some((
        w.floats.partition_point(|p| p.t < anchor),
        w.hists.partition_point(|p| p.t < anchor),
    ))
}

fn changes_or_resets(w: &Window, changes: bool) -> FnResult {
    if w.floats.is_empty() && w.hists.is_empty() {
        return Ok(None);
    }
    let Some((mut fi, mut hi)) = first_sample_indexes(w) else {
        return Ok(None);
    };
    let (floats, hists) = (w.floats, w.hists);
    let mut count = 0;
    let mut prev: Option<(f64, Option<&Arc<FloatHistogram>>)> = None;
    let mut prev_t = 0;
    let mut prev_st = 0;
    while fi < floats.len() || hi < hists.len() {
        let take_float = hi >= hists.len() || (fi < floats.len() && floats[fi].t < hists[hi].t);
        let (cur, t, st) = if take_float {
            let p = floats[fi];
            let st = w.float_sts.get(fi).copied().unwrap_or(0);
            fi += 1;
            ((p.f, None), p.t, st)
        } else {
            let p = &hists[hi];
            let st = w.hist_sts.get(hi).copied().unwrap_or(0);
            hi += 1;
            ((0.0, Some(&p.h)), p.t, st)
        };
        if let Some(p) = prev {
            let changed = match (p.1, cur.1) {
                (None, None) => {
                    if changes {
                        cur.0 != p.0 && !(cur.0.is_nan() && p.0.is_nan())
                    } else {
                        cur.0 < p.0 || is_start_timestamp_reset(prev_st, prev_t, st, t)
                    }
                }
                (Some(a), Some(b)) => {
                    if changes {
                        !b.equals(a)
                    } else {
                        b.detect_reset(a) || is_start_timestamp_reset(prev_st, prev_t, st, t)
                    }
                }
                _ => true,
            };
            if changed {
                count += 1;
            }
        }
        prev = Some(cur);
        prev_t = t;
        prev_st = st;
    }
    float(count as f64)
}

/// Least-squares fit of the samples: slope per second and the value at
/// `intercept_time`.
fn linear_regression(samples: &[FPoint], intercept_time: i64) -> (f64, f64) {
    let mut n = 0.0;
    let (mut sum_x, mut c_x) = (0.0, 0.0);
    let (mut sum_y, mut c_y) = (0.0, 0.0);
    let (mut sum_xy, mut c_xy) = (0.0, 0.0);
    let (mut sum_x2, mut c_x2) = (0.0, 0.0);
    let init_y = samples[0].f;
    let mut const_y = true;
    for (i, s) in samples.iter().enumerate() {
        if const_y && i > 0 && s.f != init_y {
            const_y = false;
        }
        n += 1.0;
        let x = (s.t - intercept_time) as f64 / 1e3;
        (sum_x, c_x) = kahan_inc(x, sum_x, c_x);
        (sum_y, c_y) = kahan_inc(s.f, sum_y, c_y);
        (sum_xy, c_xy) = kahan_inc(x * s.f, sum_xy, c_xy);
        (sum_x2, c_x2) = kahan_inc(x * x, sum_x2, c_x2);
    }
    if const_y {
        if init_y.is_infinite() {
            return (f64::NAN, f64::NAN);
        }
        return (0.0, init_y);
    }
    sum_x += c_x;
    sum_y += c_y;
    sum_xy += c_xy;
    sum_x2 += c_x2;
    let cov_xy = sum_xy - sum_x * sum_y / n;
    let var_x = sum_x2 - sum_x * sum_x / n;
    let slope = cov_xy / var_x;
    let intercept = sum_y / n - slope * sum_x / n;
    (slope, intercept)
}

/// Fewer than two floats: no result, with an info when histograms were dropped.
fn too_few_floats(w: &Window, q: &QueryState) -> bool {
    if w.floats.len() < 2 {
        if w.floats.len() == 1 && !w.hists.is_empty() {
            q.annotate(Annotation::histogram_ignored_in_mixed_range(
                w.metric_name(),
                w.pos,
            ));
        }
        return true;
    }
    false
}

fn deriv(w: &Window, q: &QueryState) -> FnResult {
    if too_few_floats(w, q) {
        return Ok(None);
    }
    let (slope, _) = linear_regression(w.floats, w.floats[0].t);
    if !w.hists.is_empty() {
        q.annotate(Annotation::histogram_ignored_in_mixed_range(
            w.metric_name(),
            w.pos,
        ));
    }
    float(slope)
}

fn predict_linear(w: &Window, q: &QueryState) -> FnResult {
    let Some(&duration) = w.scalars.first() else {
        return Ok(None);
    };
    if too_few_floats(w, q) {
        return Ok(None);
    }
    let (slope, intercept) = linear_regression(w.floats, w.ts);
    if !w.hists.is_empty() {
        q.annotate(Annotation::histogram_ignored_in_mixed_range(
            w.metric_name(),
            w.pos,
        ));
    }
    float(slope * duration + intercept)
}

fn double_exponential_smoothing(w: &Window, q: &QueryState) -> FnResult {
    let (Some(&sf), Some(&tf)) = (w.scalars.first(), w.scalars.get(1)) else {
        return Ok(None);
    };
    if sf <= 0.0 || sf >= 1.0 {
        return Err(exec(format!(
            "invalid smoothing factor. Expected: 0 < sf < 1, got: {}",
            crate::go_format::format_float_fixed(sf, 6)
        )));
    }
    if tf <= 0.0 || tf >= 1.0 {
        return Err(exec(format!(
            "invalid trend factor. Expected: 0 < tf < 1, got: {}",
            crate::go_format::format_float_fixed(tf, 6)
        )));
    }
    let l = w.floats.len();
    if l < 2 {
        if l == 1 && !w.hists.is_empty() {
            q.annotate(Annotation::histogram_ignored_in_mixed_range(
                w.metric_name(),
                w.pos,
            ));
        }
        return Ok(None);
    }
    let mut s0 = 0.0;
    let mut s1 = w.floats[0].f;
    let mut b = w.floats[1].f - w.floats[0].f;
    for i in 1..l {
        let x = sf * w.floats[i].f;
        b = if i == 1 {
            b
        } else {
            tf * (s1 - s0) + (1.0 - tf) * b
        };
        let y = (1.0 - sf) * (s1 + b);
        s0 = s1;
        s1 = x + y;
    }
    if !w.hists.is_empty() {
        q.annotate(Annotation::histogram_ignored_in_mixed_range(
            w.metric_name(),
            w.pos,
        ));
    }
    float(s1)
}
