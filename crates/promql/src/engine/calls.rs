//! Function calls: dispatch to range-vector functions (evaluated per series over
//! sliding windows), instant-vector functions (per step), and the functions that work
//! on series rather than samples (`label_replace`, `label_join`, `info`,
//! `timestamp`/`start_timestamp` of a selector, `absent_over_time`).

use std::collections::HashSet;
use std::rc::Rc;

use hearth_model::Labels;

use super::annotations::Annotation;
use super::error::{EXPR_EVAL, EvalError, duplicate_labelset, exec};
use super::evaluator::{
    Evaluator, SelectedSeries, drop_metadata_labels, merge_series_with_same_labelset, push_point,
    storage_error,
};
use super::instant_functions::{self, absent_labels};
use super::plan::{CallNode, Node, NodeKind, SelectorNode};
use super::range_functions::{
    self, ANCHORED_SAFE, Output, RangeFunction, SMOOTHED_SAFE, Window, float_extrapolated,
};
use super::series_reader::{InstantCursor, RangeWindow};
use super::value::{FPoint, Matrix, Sample, Series, matrix_has_duplicate_labelsets};

/// How [`Evaluator::float_windows`] computes a function.
#[derive(Clone, Copy)]
enum Kernel {
    /// `rate` (counter, rate), `increase` (counter) and `delta`.
    Rate(bool, bool),
    /// `max_over_time` and friends, from a sliding-window extreme.
    Extreme(Extreme),
    /// The range function on each window.
    Generic,
}

/// The functions that pick one point of a window by comparing values, as
/// `compare_over_time` does: the first maximum or minimum, or the time of the last
/// one; NaN only when all are NaN (then the last point).
#[derive(Clone, Copy)]
enum Extreme {
    Max,
    Min,
    TsOfMax,
    TsOfMin,
}

impl Extreme {
    /// Whether a later (non-NaN) value `new` makes an earlier `old` never the pick.
    fn supersedes(self, new: f64, old: f64) -> bool {
        match self {
            Extreme::Max => new > old,
            Extreme::Min => new < old,
            Extreme::TsOfMax => new >= old,
            Extreme::TsOfMin => new <= old,
        }
    }

    fn timestamp(self) -> bool {
        matches!(self, Extreme::TsOfMax | Extreme::TsOfMin)
    }
}

/// One loaded series of floats, for [`Evaluator::float_windows`].
struct FloatSeries<'a> {
    floats: &'a [FPoint],
    /// Indexes `i` of `floats` with `floats[i].f < floats[i - 1].f`.
    resets: &'a [u32],
    metric: &'a Labels,
}

/// The series a range function reads: stored ones, or a subquery's result.
enum ArgSeries {
    Stored(Rc<SelectedSeries>),
    Evaluated(Matrix),
}

/// Where a range function's windows come from.
struct MatrixArg<'n> {
    series: ArgSeries,
    range: i64,
    offset: i64,
    at: Option<i64>,
    /// The selector, when the argument is a range selector (not a subquery).
    selector: Option<&'n SelectorNode>,
}

fn unwrap_step_invariant(n: &Node) -> &Node {
    match &n.kind {
        NodeKind::StepInvariant(inner) => inner,
        _ => n,
    }
}

impl Evaluator<'_, '_> {
    pub(crate) fn eval_call(&self, node: &Node, c: &CallNode) -> Result<Matrix, EvalError> {
        let name = c.func.name;
        if name == "timestamp" || name == "start_timestamp" {
            if let Some(NodeKind::VectorSelector(sel)) =
                c.args.first().map(|a| &unwrap_step_invariant(a).kind)
            {
                return self.timestamp_of_selector(sel, name == "start_timestamp");
            }
            if name == "start_timestamp" {
                // Start timestamps exist only on stored samples.
                let _ = self.eval_matrix(&c.args[0])?;
                return Ok(Matrix::new());
            }
        }
        match name {
            "label_replace" => return self.eval_label_replace(c),
            "label_join" => return self.eval_label_join(c),
            "info" => return self.eval_info(c),
            _ => {}
        }
        if let Some(mi) = c.matrix_arg() {
            return self.eval_range_function(node, c, mi);
        }
        let args: Vec<&Node> = c.args.iter().collect();
        self.range_eval(&args, None, |v, _, h| {
            instant_functions::call(self, name, v, c, h)
        })
    }

    /// `timestamp(selector)` and `start_timestamp(selector)`: the time (or start time)
    /// of the sample the selector sees at each step.
    fn timestamp_of_selector(&self, sel: &SelectorNode, start: bool) -> Result<Matrix, EvalError> {
        let series = self.q.series(sel)?;
        let lookback = self.lookback();
        let mut cursors: Vec<InstantCursor> = series
            .iter()
            .map(|s| InstantCursor::new(s.iterator()))
            .collect();
        let delayed = self.delayed();
        self.range_eval(&[], None, |_, _, h| {
            let mut out = std::mem::take(&mut h.out);
            for (i, s) in series.iter().enumerate() {
                let Some(sample) = cursors[i]
                    .at(sel.ref_time(h.ts), lookback)
                    .map_err(storage_error)?
                else {
                    continue;
                };
                self.q.add_samples(1)?;
                self.q.count_read(h.ts, 1);
                // An unknown start timestamp reads as 0.
                let t = if start { sample.st } else { sample.t };
                let metric = if delayed {
                    s.labels().clone()
                } else {
                    drop_metadata_labels(s.labels())
                };
                out.push(Sample {
                    metric,
                    t: 0,
                    f: t as f64 / 1000.0,
                    h: None,
                    drop_name: true,
                });
            }
            Ok(out)
        })
    }

    fn matrix_arg<'n>(&self, n: &'n Node) -> Result<MatrixArg<'n>, EvalError> {
        match &n.kind {
            NodeKind::MatrixSelector(ms) => Ok(MatrixArg {
                series: ArgSeries::Stored(self.q.series(&ms.selector)?),
                range: ms.range,
                offset: ms.selector.offset,
                at: ms.selector.at,
                selector: Some(&ms.selector),
            }),
            NodeKind::Subquery(sq) => Ok(MatrixArg {
                series: ArgSeries::Evaluated(self.subquery_points(sq)?),
                range: sq.range,
                offset: sq.offset,
                at: sq.at,
                selector: None,
            }),
            _ => Err(exec("expected a range vector argument")),
        }
    }

    /// A function over a range vector: every series, every step, one window each.
    fn eval_range_function(
        &self,
        _node: &Node,
        c: &CallNode,
        mi: usize,
    ) -> Result<Matrix, EvalError> {
        let name = c.func.name;
        let arg_node = &c.args[mi];
        let mut mat = Matrix::new();
        self.range_function_series(c, mi, &mut |out| {
            let n = out.total_samples();
            self.q.add_samples(n)?;
            mat.push(out);
            Ok(())
        })?;
        if name == "absent_over_time" {
            return Ok(self.absent_over_time(mat, arg_node));
        }
        if !self.delayed() && matrix_has_duplicate_labelsets(&mat) {
            return Err(duplicate_labelset());
        }
        Ok(mat)
    }

    /// Evaluates a range-vector function series by series, handing each result series
    /// (with at least one point) to `sink`.
    pub(crate) fn range_function_series(
        &self,
        c: &CallNode,
        mi: usize,
        sink: &mut dyn FnMut(Series) -> Result<(), EvalError>,
    ) -> Result<(), EvalError> {
        let name = c.func.name;
        // The scalar arguments, one value per step.
        let mut scalars: Vec<Vec<f64>> = Vec::new();
        for (i, a) in c.args.iter().enumerate() {
            if i == mi {
                continue;
            }
            let m = self.eval_matrix(a)?;
            scalars.push(
                m.first()
                    .map(|s| s.floats.iter().map(|p| p.f).collect())
                    .unwrap_or_default(),
            );
        }
        let arg_node = &c.args[mi];
        let arg = self.matrix_arg(arg_node)?;
        let (anchored, smoothed) = arg
            .selector
            .map_or((false, false), |s| (s.anchored, s.smoothed));
        if anchored && !ANCHORED_SAFE.contains(&name) {
            return Err(exec(format!(
                "anchored modifier can only be used with: {} - not with {name}",
                ANCHORED_SAFE.join(", ")
            )));
        }
        if smoothed && !SMOOTHED_SAFE.contains(&name) {
            return Err(exec(format!(
                "smoothed modifier can only be used with: {} - not with {name}",
                SMOOTHED_SAFE.join(", ")
            )));
        }
        let Some(function) = range_functions::lookup(name) else {
            return Err(exec(format!("unknown range function {name}")));
        };
        let lookback = self.lookback();
        // last_over_time and first_over_time act like an offset: they keep the name.
        let drop_name = name != "last_over_time" && name != "first_over_time";
        let counter_fn = name == "rate" || name == "increase";
        let delayed = self.delayed();
        // The metric name last reported as not looking like a counter.
        let mut non_counter_reported: Option<Labels> = None;
        let MatrixArg {
            series,
            range,
            offset,
            at,
            ..
        } = arg;
        let (stored, mut evaluated) = match series {
            ArgSeries::Stored(s) => (Some(s), Matrix::new()),
            ArgSeries::Evaluated(m) => (None, m),
        };
        let count = stored.as_ref().map_or(evaluated.len(), |s| s.len());
        let mut window = RangeWindow::default();
        // The bounds of the windows at `ts`.
        let bounds = |ts: i64| {
            let range_end = at.unwrap_or(ts) - offset;
            let mut maxt = range_end;
            let mut mint = maxt - range;
            if anchored {
                mint -= lookback;
            } else if smoothed {
                mint -= lookback;
                maxt += lookback;
            }
            (mint, maxt)
        };
        // When consecutive windows leave no gap, each series is read whole up front.
        let (first_mint, _) = bounds(self.start);
        let (_, last_maxt) = bounds(self.end);
        let (mint0, maxt0) = bounds(self.start);
        let preload = self.q.opts.vectorized
            && at.is_none()
            && (self.start == self.end || self.interval <= maxt0 - mint0);
        for si in 0..count {
            self.q.check_done(EXPR_EVAL)?;
            let (metric, series_drop_name) = match &stored {
                Some(series) => {
                    let s = &series[si];
                    if preload {
                        window
                            .preload(s.iterator(), first_mint, last_maxt)
                            .map_err(storage_error)?;
                    } else {
                        window.reuse(s.iterator());
                    }
                    (s.labels(), false)
                }
                None => {
                    let s = &mut evaluated[si];
                    window.load_points(
                        std::mem::take(&mut s.floats),
                        std::mem::take(&mut s.histograms),
                    );
                    (&s.metric, s.drop_name)
                }
            };
            let mut out = Series::new(if !delayed && drop_name {
                drop_metadata_labels(metric)
            } else {
                metric.clone()
            });
            out.drop_name = drop_name || series_drop_name;
            if let (true, false, false, None, Some((floats, resets))) = (
                self.q.opts.vectorized,
                anchored,
                smoothed,
                at,
                window.loaded_floats(),
            ) {
                self.float_windows(
                    FloatSeries {
                        floats,
                        resets,
                        metric,
                    },
                    c,
                    &scalars,
                    &bounds,
                    range,
                    offset,
                    function,
                    &mut out,
                )?;
            } else {
                self.windows(
                    &mut window,
                    metric,
                    c,
                    &scalars,
                    &bounds,
                    (range, offset, at),
                    function,
                    &mut out,
                )?;
            }
            if !out.is_empty() {
                if counter_fn
                    && !out.floats.is_empty()
                    && non_counter_reported.as_ref().is_none_or(|l| {
                        l.get("__name__") != metric.get("__name__")
                            || l.get("__type__") != metric.get("__type__")
                    })
                {
                    self.possible_non_counter_info(metric, arg_node);
                    non_counter_reported = Some(metric.clone());
                }
                sink(out)?;
            }
        }
        Ok(())
    }

    /// The windows of one series over the steps, read as the steps advance.
    #[allow(clippy::too_many_arguments)]
    fn windows(
        &self,
        window: &mut RangeWindow,
        metric: &Labels,
        c: &CallNode,
        scalars: &[Vec<f64>],
        bounds: &dyn Fn(i64) -> (i64, i64),
        (range, offset, at): (i64, i64, Option<i64>),
        function: RangeFunction,
        out: &mut Series,
    ) -> Result<(), EvalError> {
        let name = c.func.name;
        let arg_node = &c.args[c.matrix_arg().unwrap_or(0)];
        let (anchored, smoothed) = match &arg_node.kind {
            NodeKind::MatrixSelector(ms) => (ms.selector.anchored, ms.selector.smoothed),
            _ => (false, false),
        };
        let use_sts = self.q.opts.features.use_start_timestamps;
        let steps = self.steps();
        let mut step_scalars = vec![0.0; scalars.len()];
        let mut ts = self.start;
        let mut step = 0;
        while ts <= self.end {
            for (j, sc) in scalars.iter().enumerate() {
                step_scalars[j] = sc.get(step).copied().unwrap_or(0.0);
            }
            let range_end = at.unwrap_or(ts) - offset;
            if ts == self.start || at.is_none() {
                let (mint, maxt) = bounds(ts);
                window.advance(mint, maxt).map_err(storage_error)?;
            }
            if !window.is_empty() {
                // Start timestamps only matter when some sample in the window has one.
                let sts = use_sts && window.has_start_timestamps();
                let w = Window {
                    floats: window.floats(),
                    hists: window.histograms(),
                    float_sts: if sts {
                        window.float_start_timestamps()
                    } else {
                        &[]
                    },
                    hist_sts: if sts {
                        window.histogram_start_timestamps()
                    } else {
                        &[]
                    },
                    float_resets: Some(window.float_resets()),
                    metric,
                    ts,
                    range,
                    range_end,
                    anchored,
                    smoothed,
                    scalars: &step_scalars,
                    pos: arg_node.pos,
                };
                self.q.count_read(ts, w.floats.len() + w.hists.len());
                if sts && (name == "rate" || name == "increase" || name == "irate") {
                    check_start_timestamp_overlap(&w, self);
                }
                match function(&w, self.q)? {
                    Some(Output::Float(f)) => push_point(out, ts, f, None, steps),
                    Some(Output::Histogram(h)) => {
                        push_point(out, ts, 0.0, Some(std::sync::Arc::new(h)), steps)
                    }
                    None => {}
                }
            }
            ts += self.interval;
            step += 1;
        }
        Ok(())
    }

    /// The windows of one loaded series of floats without start timestamps over the
    /// steps (no `@`, `anchored` or `smoothed`): two indexes slide over its points,
    /// and `rate`, `increase` and `delta` take the counter resets noted while reading.
    #[allow(clippy::too_many_arguments)]
    fn float_windows(
        &self,
        series: FloatSeries,
        c: &CallNode,
        scalars: &[Vec<f64>],
        bounds: &dyn Fn(i64) -> (i64, i64),
        range: i64,
        offset: i64,
        function: RangeFunction,
        out: &mut Series,
    ) -> Result<(), EvalError> {
        let FloatSeries {
            floats,
            resets,
            metric,
        } = series;
        let kernel = match c.func.name {
            "rate" => Kernel::Rate(true, true),
            "increase" => Kernel::Rate(true, false),
            "delta" => Kernel::Rate(false, false),
            "max_over_time" => Kernel::Extreme(Extreme::Max),
            "min_over_time" => Kernel::Extreme(Extreme::Min),
            "ts_of_max_over_time" => Kernel::Extreme(Extreme::TsOfMax),
            "ts_of_min_over_time" => Kernel::Extreme(Extreme::TsOfMin),
            _ => Kernel::Generic,
        };
        // For `Extreme`: indexes of the points that can still be the window's extreme
        // (its NaNs left out), the extreme first.
        let mut candidates: Vec<usize> = Vec::new();
        let mut first_candidate = 0;
        let pos = c.args[c.matrix_arg().unwrap_or(0)].pos;
        let steps = self.steps();
        let per_step = self.q.per_step_stats();
        let mut step_scalars = vec![0.0; scalars.len()];
        let mut read = 0;
        let (mut lo, mut hi, mut rlo, mut rhi) = (0, 0, 0, 0);
        let mut ts = self.start;
        let mut step = 0;
        while ts <= self.end {
            let (mint, maxt) = bounds(ts);
            while lo < floats.len() && floats[lo].t <= mint {
                lo += 1;
            }
            hi = hi.max(lo);
            while hi < floats.len() && floats[hi].t <= maxt {
                if let Kernel::Extreme(e) = kernel {
                    let f = floats[hi].f;
                    if !f.is_nan() {
                        while candidates.len() > first_candidate
                            && candidates
                                .last()
                                .is_some_and(|i| e.supersedes(f, floats[*i].f))
                        {
                            candidates.pop();
                        }
                        candidates.push(hi);
                    }
                }
                hi += 1;
            }
            if lo < hi {
                while rlo < resets.len() && resets[rlo] as usize <= lo {
                    rlo += 1;
                }
                rhi = rhi.max(rlo);
                while rhi < resets.len() && (resets[rhi] as usize) < hi {
                    rhi += 1;
                }
                let wf = &floats[lo..hi];
                let range_end = ts - offset;
                let value = match kernel {
                    Kernel::Extreme(e) => {
                        while candidates.get(first_candidate).is_some_and(|i| *i < lo) {
                            first_candidate += 1;
                        }
                        // Only NaNs: the scan ends on the last.
                        let i = candidates.get(first_candidate).copied().unwrap_or(hi - 1);
                        Some(Output::Float(if e.timestamp() {
                            floats[i].t as f64 / 1000.0
                        } else {
                            floats[i].f
                        }))
                    }
                    Kernel::Rate(is_counter, is_rate) => {
                        let mut result = wf[wf.len() - 1].f - wf[0].f;
                        if is_counter {
                            // The additions of `extrapolated_rate`, in its order.
                            for r in &resets[rlo..rhi] {
                                result += floats[*r as usize - 1].f;
                            }
                        }
                        float_extrapolated(
                            wf,
                            result,
                            range_end - range,
                            range_end,
                            range,
                            is_counter,
                            is_rate,
                        )
                        .map(Output::Float)
                    }
                    Kernel::Generic => {
                        for (j, sc) in scalars.iter().enumerate() {
                            step_scalars[j] = sc.get(step).copied().unwrap_or(0.0);
                        }
                        let w = Window {
                            floats: wf,
                            hists: &[],
                            float_sts: &[],
                            hist_sts: &[],
                            float_resets: Some((&resets[rlo..rhi], lo)),
                            metric,
                            ts,
                            range,
                            range_end,
                            anchored: false,
                            smoothed: false,
                            scalars: &step_scalars,
                            pos,
                        };
                        function(&w, self.q)?
                    }
                };
                if per_step {
                    self.q.count_read(ts, hi - lo);
                } else {
                    read += hi - lo;
                }
                match value {
                    Some(Output::Float(f)) => push_point(out, ts, f, None, steps),
                    Some(Output::Histogram(h)) => {
                        push_point(out, ts, 0.0, Some(std::sync::Arc::new(h)), steps)
                    }
                    None => {}
                }
            }
            ts += self.interval;
            step += 1;
        }
        self.q.count_read(self.start, read);
        Ok(())
    }

    /// The info that `rate`/`increase` was applied to something that does not look
    /// like a counter.
    fn possible_non_counter_info(&self, metric: &Labels, arg: &Node) {
        let Some(name) = metric.get("__name__") else {
            return;
        };
        if self.q.opts.features.type_and_unit_labels {
            let t = metric.get_or_empty("__type__");
            if t != "counter" && t != "histogram" {
                self.q
                    .annotate(Annotation::possible_non_counter_label(name, t, arg.pos));
            }
        } else if !["_total", "_sum", "_count", "_bucket"]
            .iter()
            .any(|s| name.ends_with(s))
        {
            self.q
                .annotate(Annotation::possible_non_counter(name, arg.pos));
        }
    }

    /// `absent_over_time`: 1 at the steps where no input series had samples.
    fn absent_over_time(&self, mat: Matrix, arg: &Node) -> Matrix {
        let steps = self.steps();
        if mat.iter().any(|s| s.len() == steps) {
            return Matrix::new();
        }
        let mut found: HashSet<i64> = HashSet::new();
        for s in &mat {
            found.extend(s.floats.iter().map(|p| p.t));
            found.extend(s.histograms.iter().map(|p| p.t));
        }
        if found.len() == steps {
            return Matrix::new();
        }
        let mut out = Series::new(absent_labels(arg));
        out.drop_name = true;
        let mut ts = self.start;
        while ts <= self.end {
            if !found.contains(&ts) {
                out.floats.push(FPoint { t: ts, f: 1.0 });
            }
            ts += self.interval;
        }
        vec![out]
    }

    fn eval_label_replace(&self, c: &CallNode) -> Result<Matrix, EvalError> {
        let dst = c.string_arg(1).unwrap_or_default();
        let repl = c.string_arg(2).unwrap_or_default();
        let src = c.string_arg(3).unwrap_or_default();
        let re_str = c.string_arg(4).unwrap_or_default();
        let re = hearth_model::compile_anchored_with_captures(re_str).map_err(|_| {
            exec(format!(
                "invalid regular expression in label_replace(): {re_str}"
            ))
        })?;
        if c.label_name_arg(1).is_none() {
            return Err(exec(format!(
                "invalid destination label name in label_replace(): {dst}"
            )));
        }
        let mut m = self.eval_matrix(&c.args[0])?;
        for s in &mut m {
            let src_val = s.metric.get_or_empty(src).to_string();
            if let Some(caps) = re.captures(&src_val) {
                let mut res = String::new();
                caps.expand(repl, &mut res);
                let mut b = s.metric.builder();
                b.set(dst, &res);
                s.metric = b.labels();
                if dst == "__name__" {
                    s.drop_name = false;
                }
            }
        }
        merge_series_with_same_labelset(m)
    }

    fn eval_label_join(&self, c: &CallNode) -> Result<Matrix, EvalError> {
        let dst = c.string_arg(1).unwrap_or_default();
        let sep = c.string_arg(2).unwrap_or_default();
        let mut srcs = Vec::new();
        for i in 3..c.args.len() {
            let src = c.string_arg(i).unwrap_or_default();
            if c.label_name_arg(i).is_none() {
                return Err(exec(format!(
                    "invalid source label name in label_join(): {src}"
                )));
            }
            srcs.push(src);
        }
        if dst.is_empty() {
            return Err(exec(format!(
                "invalid destination label name in label_join(): {dst}"
            )));
        }
        let mut m = self.eval_matrix(&c.args[0])?;
        for s in &mut m {
            let joined: Vec<&str> = srcs.iter().map(|n| s.metric.get_or_empty(n)).collect();
            let value = joined.join(sep);
            let mut b = s.metric.builder();
            b.set(dst, &value);
            s.metric = b.labels();
            if dst == "__name__" {
                s.drop_name = false;
            }
        }
        merge_series_with_same_labelset(m)
    }
}

/// Warns when a sample's start time lies before the previous sample without pointing
/// at the previous start (overlapping cumulative intervals).
fn check_start_timestamp_overlap(w: &Window, ev: &Evaluator) {
    let overlaps = |ts: &mut dyn Iterator<Item = i64>, sts: &[i64]| {
        let mut prev: Option<(i64, i64)> = None;
        for (t, st) in ts.zip(sts.iter().copied()) {
            if let Some((prev_t, prev_st)) = prev
                && st != 0
                && st < prev_t
                && st != prev_st
            {
                return true;
            }
            prev = Some((t, st));
        }
        false
    };
    if overlaps(&mut w.floats.iter().map(|p| p.t), w.float_sts)
        || overlaps(&mut w.hists.iter().map(|p| p.t), w.hist_sts)
    {
        ev.q.annotate(Annotation::start_timestamp_overlap(
            w.metric.get("__name__").unwrap_or(""),
            w.pos,
        ));
    }
}
