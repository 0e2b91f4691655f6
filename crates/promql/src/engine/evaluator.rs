//! The evaluator: walks a [`Plan`](super::plan::Plan) over the steps of a query and
//! produces a matrix for every node (an instant query is a range query with one step),
//! as upstream's `evaluator`.
//!
//! Selectors read each series once across all steps ([`InstantCursor`],
//! [`RangeWindow`], or the whole series up front when the steps' windows leave no gap);
//! operators that combine series per step go through [`Evaluator::range_eval`], which
//! lines the argument matrices up step by step. Where that could neither fail nor merge
//! results, operators may instead work series by series (`EngineOptions::vectorized`):
//! float joins, range functions sliding over a loaded series, float folds.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use hearth_model::{CounterResetHint, Labels, LabelsBuilder, is_stale_nan};
use hearth_tsdb::storage::{
    Querier, Series as StorageSeries, StorageError, ValueType as ValueTypeS,
};

use crate::ast::{ValueType, VectorMatching};

use super::EngineOptions;
use super::annotations::{Annotation, Annotations};
use super::error::{ENV, EXPR_EVAL, EvalError, duplicate_labelset, exec};
use super::labels_map::{KeyMap, LabelsKey, LabelsMap};
use super::memory_series::HistogramStatsSeries;
use super::plan::{MatrixSelectorNode, Node, NodeKind, QueryParams, SelectorNode, SubqueryNode};
use super::series_reader::{InstantCursor, RangeWindow, RawValue};
use super::value::{
    FPoint, HPoint, InputSample, InputVector, Matrix, Sample, Series, Vector,
    matrix_has_duplicate_labelsets, matrix_samples, vector_has_duplicate_labelsets, vector_samples,
};

/// What evaluating a node gives: every expression but a string literal evaluates to a
/// matrix with a point per step (scalars are one series without labels).
pub(crate) enum Evaluated {
    Matrix(Matrix),
    String(String),
}

impl Evaluated {
    pub fn into_matrix(self) -> Matrix {
        match self {
            Evaluated::Matrix(m) => m,
            Evaluated::String(_) => Matrix::new(),
        }
    }
}

/// The series one selector selected, read by every operator that needs them.
pub(crate) type SelectedSeries = Vec<Box<dyn StorageSeries>>;

/// Per-query state shared by the evaluator and its sub-evaluators (subqueries,
/// step-invariant parts).
pub(crate) struct QueryState<'a> {
    pub querier: &'a dyn Querier,
    pub opts: &'a EngineOptions,
    /// The query as submitted (for `start()`, `end()`, `step()`, `range()`).
    pub params: QueryParams,
    series: RefCell<Vec<Option<Rc<SelectedSeries>>>>,
    annotations: RefCell<Annotations>,
    current_samples: Cell<usize>,
    pub peak_samples: Cell<usize>,
    pub total_samples: Cell<u64>,
    /// Samples read per step of the top-level query, when per-step stats are on.
    pub per_step: RefCell<Option<Vec<u64>>>,
    deadline: Option<Instant>,
    cancel: Option<&'a AtomicBool>,
}

impl<'a> QueryState<'a> {
    pub fn new(
        querier: &'a dyn Querier,
        opts: &'a EngineOptions,
        params: QueryParams,
        selectors: usize,
        deadline: Option<Instant>,
        cancel: Option<&'a AtomicBool>,
        per_step_stats: bool,
    ) -> Self {
        let steps = if params.interval == 0 {
            1
        } else {
            ((params.end - params.start) / params.interval + 1) as usize
        };
        QueryState {
            querier,
            opts,
            params,
            series: RefCell::new((0..selectors).map(|_| None).collect()),
            annotations: RefCell::new(Annotations::new()),
            current_samples: Cell::new(0),
            peak_samples: Cell::new(0),
            total_samples: Cell::new(0),
            // Per-step statistics are for graphs: not for absurd step counts.
            per_step: RefCell::new((per_step_stats && steps <= 1 << 20).then(|| vec![0; steps])),
            deadline,
            cancel,
        }
    }

    pub fn annotate(&self, a: Annotation) {
        self.annotations.borrow_mut().add(a);
    }

    pub fn take_annotations(&self) -> Annotations {
        std::mem::take(&mut *self.annotations.borrow_mut())
    }

    pub fn delayed_name_removal(&self) -> bool {
        self.opts.features.delayed_name_removal
    }

    /// Fails when the query timed out or was canceled.
    pub fn check_done(&self, env: &'static str) -> Result<(), EvalError> {
        if self.cancel.is_some_and(|c| c.load(Ordering::Relaxed)) {
            return Err(EvalError::Canceled(env));
        }
        if self.deadline.is_some_and(|d| Instant::now() >= d) {
            return Err(EvalError::Timeout(env));
        }
        Ok(())
    }

    pub fn samples(&self) -> usize {
        self.current_samples.get()
    }

    /// Sets the number of samples held and enforces `max_samples`.
    pub fn set_samples(&self, n: usize) -> Result<(), EvalError> {
        self.current_samples.set(n);
        self.update_peak();
        if n > self.opts.max_samples {
            return Err(EvalError::TooManySamples(ENV));
        }
        Ok(())
    }

    pub fn add_samples(&self, n: usize) -> Result<(), EvalError> {
        self.set_samples(self.current_samples.get() + n)
    }

    fn update_peak(&self) {
        if self.current_samples.get() > self.peak_samples.get() {
            self.peak_samples.set(self.current_samples.get());
        }
    }

    /// Whether samples read are counted per step (else only in total).
    pub fn per_step_stats(&self) -> bool {
        self.per_step.borrow().is_some()
    }

    /// Counts samples read from storage for the statistics.
    pub fn count_read(&self, ts: i64, n: usize) {
        self.total_samples.set(self.total_samples.get() + n as u64);
        if let Some(per_step) = self.per_step.borrow_mut().as_mut() {
            let p = &self.params;
            let idx = if p.interval == 0 {
                0
            } else {
                ((ts - p.start) / p.interval) as usize
            };
            if let Some(slot) = per_step.get_mut(idx) {
                *slot += n as u64;
            }
        }
    }

    /// The series of a selector, selected on first use.
    pub fn series(&self, sel: &SelectorNode) -> Result<Rc<SelectedSeries>, EvalError> {
        if let Some(Some(s)) = self.series.borrow().get(sel.id) {
            return Ok(s.clone());
        }
        let set = self
            .querier
            .select(false, Some(&sel.hints), &sel.matchers)
            .map_err(storage_error)?;
        for w in set.warnings {
            // Storage warnings have no position; upstream passes them through as-is.
            self.annotate(Annotation {
                kind: super::annotations::AnnotationKind::Warning,
                message: w,
                pos: Default::default(),
            });
        }
        let series: SelectedSeries = if sel.histogram_stats_only {
            set.series
                .into_iter()
                .map(|s| Box::new(HistogramStatsSeries(s)) as Box<dyn StorageSeries>)
                .collect()
        } else {
            set.series
        };
        let series = Rc::new(series);
        if let Some(slot) = self.series.borrow_mut().get_mut(sel.id) {
            *slot = Some(series.clone());
        }
        Ok(series)
    }
}

pub(crate) fn storage_error(e: StorageError) -> EvalError {
    match e {
        StorageError::Canceled => EvalError::Canceled(EXPR_EVAL),
        e => EvalError::Storage(format!("expanding series: {e}")),
    }
}

/// Scratch state of one node across its steps (upstream's `EvalNodeHelper`).
pub(crate) struct NodeHelper {
    /// The evaluation time of the current step.
    pub ts: i64,
    pub out: Vector,
    pub delayed_name_removal: bool,
    /// Number of distinct join signatures of a binary operation.
    pub num_sigs: usize,
    /// Result labels of binary operations by output key (see `out_keys`).
    pub result_by_key: KeyMap<Labels>,
    pub builder: LabelsBuilder,
    /// Per argument, the index of the input series of every gathered sample.
    pub input_series: Vec<Vec<u32>>,
    /// Optional, filled by the step function: for every output sample a key that
    /// determines its labels (the same key always means the same labels), so the
    /// output series are found without hashing label sets at every step.
    pub out_keys: Vec<u64>,
}

impl NodeHelper {
    pub fn new(delayed_name_removal: bool) -> NodeHelper {
        NodeHelper {
            ts: 0,
            out: Vector::new(),
            delayed_name_removal,
            num_sigs: 0,
            result_by_key: KeyMap::default(),
            builder: LabelsBuilder::new(),
            input_series: Vec::new(),
            out_keys: Vec::new(),
        }
    }
}

/// Evaluates nodes at the steps `start, start+interval, ..., end`.
#[derive(Clone, Copy)]
pub(crate) struct Evaluator<'q, 'a> {
    pub start: i64,
    pub end: i64,
    pub interval: i64,
    pub q: &'q QueryState<'a>,
}

/// The labels upstream calls metadata labels: dropped with the metric name.
pub(crate) fn is_metadata_label(name: &str) -> bool {
    matches!(name, "__name__" | "__type__" | "__unit__")
}

/// `labels.DropReserved(schema.IsMetadataLabel)`.
pub(crate) fn drop_metadata_labels(l: &Labels) -> Labels {
    if !l.iter().any(|l| is_metadata_label(&l.name)) {
        return l.clone();
    }
    Labels::from_sorted_unchecked(
        l.iter()
            .filter(|l| !is_metadata_label(&l.name))
            .cloned()
            .collect(),
    )
}

impl<'q, 'a> Evaluator<'q, 'a> {
    pub fn steps(&self) -> usize {
        ((self.end - self.start) / self.interval + 1) as usize
    }

    pub fn lookback(&self) -> i64 {
        self.q.params.lookback
    }

    pub fn delayed(&self) -> bool {
        self.q.delayed_name_removal()
    }

    fn with_range(&self, start: i64, end: i64, interval: i64) -> Evaluator<'q, 'a> {
        Evaluator {
            start,
            end,
            interval,
            q: self.q,
        }
    }

    /// Evaluates the whole query and applies delayed name removal.
    pub fn eval_top(&self, node: &Node) -> Result<Evaluated, EvalError> {
        let v = self.eval(node)?;
        if !self.delayed() {
            return Ok(v);
        }
        match v {
            Evaluated::Matrix(mut m) => {
                for s in &mut m {
                    if s.drop_name {
                        s.metric = drop_metadata_labels(&s.metric);
                    }
                }
                Ok(Evaluated::Matrix(merge_series_with_same_labelset(m)?))
            }
            v => Ok(v),
        }
    }

    pub fn eval(&self, node: &Node) -> Result<Evaluated, EvalError> {
        self.q.check_done(EXPR_EVAL)?;
        if self.end < self.start {
            return Ok(Evaluated::Matrix(Matrix::new()));
        }
        let m = match &node.kind {
            NodeKind::String { text, .. } => return Ok(Evaluated::String(text.clone())),
            NodeKind::Number(v) => {
                let v = *v;
                self.range_eval(&[], None, |_, _, h| {
                    h.out.push(Sample::float(Labels::empty(), 0, v));
                    Ok(std::mem::take(&mut h.out))
                })?
            }
            NodeKind::VectorSelector(sel) => {
                if sel.smoothed {
                    self.smooth_series(sel)?
                } else {
                    self.eval_series(sel)?
                }
            }
            NodeKind::MatrixSelector(ms) => {
                if self.start != self.end {
                    return Err(exec("cannot do range evaluation of matrix selector"));
                }
                self.matrix_selector(ms)?
            }
            NodeKind::Subquery(sq) => self.eval_subquery(sq)?,
            NodeKind::StepInvariant(inner) => self.eval_step_invariant(inner)?,
            NodeKind::Neg(inner) => self.eval_neg(inner)?,
            NodeKind::Call(c) => self.eval_call(node, c)?,
            NodeKind::Aggregate(a) => self.eval_aggregate(node, a)?,
            NodeKind::Binary(b) => self.eval_binary(node, b)?,
        };
        Ok(Evaluated::Matrix(m))
    }

    pub fn eval_matrix(&self, node: &Node) -> Result<Matrix, EvalError> {
        Ok(self.eval(node)?.into_matrix())
    }

    fn eval_neg(&self, inner: &Node) -> Result<Matrix, EvalError> {
        let mut m = self.eval_matrix(inner)?;
        let delayed = self.delayed();
        for s in &mut m {
            if !delayed {
                s.metric = drop_metadata_labels(&s.metric);
            }
            s.drop_name = true;
            for p in &mut s.floats {
                p.f = -p.f;
            }
            for p in &mut s.histograms {
                let mut h = (*p.h).clone();
                h.mul(-1.0);
                p.h = Arc::new(h);
            }
        }
        if !delayed {
            m = merge_series_with_same_labelset(m)?;
        }
        Ok(m)
    }

    fn eval_step_invariant(&self, inner: &Node) -> Result<Matrix, EvalError> {
        let sub = self.with_range(self.start, self.start, self.interval);
        let before = self.q.samples();
        let mut m = sub.eval_matrix(inner)?;
        if matches!(
            inner.kind,
            NodeKind::MatrixSelector(_) | NodeKind::Subquery(_)
        ) || self.start == self.end
        {
            return Ok(m);
        }
        let _ = before;
        for s in &mut m {
            if let Some(p) = s.floats.first().copied() {
                let mut ts = self.start + self.interval;
                while ts <= self.end {
                    s.floats.push(FPoint { t: ts, f: p.f });
                    self.q.add_samples(1)?;
                    ts += self.interval;
                }
            } else if let Some(p) = s.histograms.first().cloned() {
                let mut ts = self.start + self.interval;
                while ts <= self.end {
                    let point = HPoint {
                        t: ts,
                        h: p.h.clone(),
                    };
                    self.q.add_samples(point.size())?;
                    s.histograms.push(point);
                    ts += self.interval;
                }
            }
        }
        Ok(m)
    }

    /// Instant-vector selection over all steps (upstream's `evalSeries`).
    pub fn eval_series(&self, sel: &SelectorNode) -> Result<Matrix, EvalError> {
        self.select_instant(sel, false)
    }

    /// Like [`eval_series`](Self::eval_series); with `record_orig_t` the value of each
    /// point is the sample's own timestamp (used by `info()`).
    pub fn select_instant(
        &self,
        sel: &SelectorNode,
        record_orig_t: bool,
    ) -> Result<Matrix, EvalError> {
        let series = self.q.series(sel)?;
        self.instant_over_series(&series, |ts| sel.ref_time(ts), record_orig_t)
    }

    /// Instant-vector selection from `series`, reading at `ref_time(ts)` for each step.
    pub fn instant_over_series(
        &self,
        series: &[Box<dyn StorageSeries>],
        ref_time: impl Fn(i64) -> i64,
        record_orig_t: bool,
    ) -> Result<Matrix, EvalError> {
        let mut mat = Matrix::with_capacity(series.len());
        self.instant_series_into(series, ref_time, record_orig_t, &mut |s| {
            mat.push(s);
            Ok(())
        })?;
        Ok(mat)
    }

    /// Like [`instant_over_series`](Self::instant_over_series), handing each series
    /// with at least one point to `sink`.
    pub fn instant_series_into(
        &self,
        series: &[Box<dyn StorageSeries>],
        ref_time: impl Fn(i64) -> i64,
        record_orig_t: bool,
        sink: &mut dyn FnMut(Series) -> Result<(), EvalError>,
    ) -> Result<(), EvalError> {
        let lookback = self.lookback();
        let steps = self.steps();
        // When the steps' lookback windows leave no gap, a series of floats is read
        // whole up front and the steps slide over it.
        let (first_ref, last_ref) = (ref_time(self.start), ref_time(self.end));
        let preload =
            self.q.opts.vectorized && (first_ref == last_ref || self.interval <= lookback);
        let per_step = self.q.per_step_stats();
        let mut buf: Vec<FPoint> = Vec::new();
        for s in series.iter() {
            self.q.check_done(EXPR_EVAL)?;
            if preload
                && let Some(out) = self.instant_floats(
                    s.as_ref(),
                    &ref_time,
                    (first_ref - lookback, last_ref),
                    record_orig_t,
                    per_step,
                    &mut buf,
                )?
            {
                if !out.is_empty() {
                    sink(out)?;
                }
                continue;
            }
            let mut cursor = InstantCursor::without_start_timestamps(s.iterator());
            let mut out = Series::new(s.labels().clone());
            let mut ts = self.start;
            while ts <= self.end {
                if let Some(sample) = cursor.at(ref_time(ts), lookback).map_err(storage_error)? {
                    match &sample.v {
                        RawValue::Float(f) => {
                            self.q.add_samples(1)?;
                            self.q.count_read(ts, 1);
                            if out.floats.is_empty() {
                                out.floats.reserve(steps.min(MAX_RESERVE));
                            }
                            let f = if record_orig_t { sample.t as f64 } else { *f };
                            out.floats.push(FPoint { t: ts, f });
                        }
                        RawValue::Histogram(h) => {
                            if record_orig_t {
                                return Err(exec(format!(
                                    "this should be an info metric, with float samples: {}",
                                    out.metric
                                )));
                            }
                            let point = HPoint {
                                t: ts,
                                h: h.clone(),
                            };
                            self.q.add_samples(point.size())?;
                            self.q.count_read(ts, point.size());
                            out.histograms.push(point);
                        }
                    }
                }
                ts += self.interval;
            }
            if !out.is_empty() {
                sink(out)?;
            }
        }
        Ok(())
    }

    /// Instant selection from one series read whole, all its samples in `(mint, maxt]`
    /// into `buf`: the latest sample in each step's lookback window, unless stale.
    /// `None` when the series has histograms (the caller reads it step by step).
    fn instant_floats(
        &self,
        s: &dyn StorageSeries,
        ref_time: &impl Fn(i64) -> i64,
        (mint, maxt): (i64, i64),
        record_orig_t: bool,
        per_step: bool,
        buf: &mut Vec<FPoint>,
    ) -> Result<Option<Series>, EvalError> {
        buf.clear();
        let mut it = s.iterator();
        let mut vt = it.seek(mint + 1);
        loop {
            match vt {
                ValueTypeS::Float => {
                    let (t, f) = it.at();
                    if t > maxt {
                        break;
                    }
                    buf.push(FPoint { t, f });
                }
                ValueTypeS::None => {
                    if let Some(e) = it.err() {
                        return Err(storage_error(e));
                    }
                    break;
                }
                ValueTypeS::Histogram | ValueTypeS::FloatHistogram => {
                    if it.at_t() > maxt {
                        break;
                    }
                    return Ok(None);
                }
            }
            vt = it.next();
        }
        let lookback = self.lookback();
        let mut out = Series::new(s.labels().clone());
        let mut hi = 0;
        let mut ts = self.start;
        while ts <= self.end {
            let r = ref_time(ts);
            while hi < buf.len() && buf[hi].t <= r {
                hi += 1;
            }
            if hi > 0 {
                let p = buf[hi - 1];
                if p.t > r - lookback && !is_stale_nan(p.f) {
                    if out.floats.is_empty() {
                        out.floats.reserve(self.steps().min(MAX_RESERVE));
                    }
                    let f = if record_orig_t { p.t as f64 } else { p.f };
                    out.floats.push(FPoint { t: ts, f });
                    if per_step {
                        self.q.count_read(ts, 1);
                    }
                }
            }
            ts += self.interval;
        }
        let n = out.floats.len();
        self.q.add_samples(n)?;
        if !per_step {
            self.q.count_read(self.start, n);
        }
        Ok(Some(out))
    }

    /// A `smoothed` instant selector: values interpolated between the samples around
    /// each step (upstream's `smoothSeries`).
    fn smooth_series(&self, sel: &SelectorNode) -> Result<Matrix, EvalError> {
        let series = self.q.series(sel)?;
        let lb = self.lookback();
        let mut mat = Matrix::with_capacity(series.len());
        for s in series.iter() {
            self.q.check_done(EXPR_EVAL)?;
            let mut window = RangeWindow::new(s.iterator());
            let mut out = Series::new(s.labels().clone());
            let mut ts = self.start;
            while ts <= self.end {
                let t = sel.ref_time(ts);
                window.advance(t - lb, t + lb).map_err(storage_error)?;
                let name = s.labels().get("__name__").unwrap_or("");
                let hists = window.histograms();
                let floats = window.floats();
                if !hists.is_empty() && !floats.is_empty() {
                    self.q.annotate(Annotation::mixed_floats_histograms(
                        name,
                        Default::default(),
                    ));
                } else if !hists.is_empty() {
                    let i = hists.partition_point(|p| p.t < t);
                    let value = if i < hists.len() && hists[i].t == t {
                        Some(hists[i].h.clone())
                    } else if i > 0 && i < hists.len() {
                        let is_counter = hists[i].h.counter_reset_hint != CounterResetHint::Gauge;
                        match super::range_functions::interpolate_histogram(
                            &hists[i - 1],
                            &hists[i],
                            t,
                            is_counter,
                        ) {
                            Some(h) => Some(Arc::new(h)),
                            None => {
                                self.q
                                    .annotate(Annotation::mixed_exponential_custom_histograms(
                                        name,
                                        Default::default(),
                                    ));
                                None
                            }
                        }
                    } else if i > 0 {
                        Some(hists[i - 1].h.clone())
                    } else {
                        None
                    };
                    if let Some(h) = value {
                        out.histograms.push(HPoint { t: ts, h });
                    }
                } else if !floats.is_empty() {
                    let i = floats.partition_point(|p| p.t < t);
                    if i < floats.len() && floats[i].t == t {
                        out.floats.push(FPoint {
                            t: ts,
                            f: floats[i].f,
                        });
                    } else if i > 0 && i < floats.len() {
                        let f = interpolate(floats[i - 1], floats[i], t, false);
                        out.floats.push(FPoint { t: ts, f });
                    } else if i > 0 {
                        out.floats.push(FPoint {
                            t: ts,
                            f: floats[i - 1].f,
                        });
                    }
                }
                ts += self.interval;
            }
            if !out.is_empty() {
                mat.push(out);
            }
        }
        Ok(mat)
    }

    /// A range selector evaluated on its own (instant queries only).
    fn matrix_selector(&self, ms: &MatrixSelectorNode) -> Result<Matrix, EvalError> {
        let sel = &ms.selector;
        let series = self.q.series(sel)?;
        let lb = self.lookback();
        let maxt0 = sel.ref_time(self.start);
        let mint0 = maxt0 - ms.range;
        let (mut mint, mut maxt) = (mint0, maxt0);
        if sel.anchored {
            mint -= lb;
        } else if sel.smoothed {
            mint -= lb;
            maxt += lb;
        }
        let mut mat = Matrix::with_capacity(series.len());
        for s in series.iter() {
            self.q.check_done(EXPR_EVAL)?;
            let mut window = RangeWindow::new(s.iterator());
            window.advance(mint, maxt).map_err(storage_error)?;
            let mut out = Series::new(s.labels().clone());
            out.floats = window.floats().to_vec();
            out.histograms = window.histograms().to_vec();
            self.q.add_samples(out.total_samples())?;
            if sel.anchored || sel.smoothed {
                if !out.histograms.is_empty() {
                    return Err(exec("anchored modifier is not supported with histograms"));
                }
                if !out.floats.is_empty() {
                    out.floats = extend_floats(&out.floats, mint0, maxt0, sel.smoothed);
                }
            }
            let n = out.total_samples();
            self.q.count_read(self.start, n);
            if n > 0 {
                mat.push(out);
            }
        }
        Ok(mat)
    }

    /// The evaluator of a subquery's inner expression.
    pub fn subquery_evaluator(&self, sq: &SubqueryNode) -> Evaluator<'q, 'a> {
        let (outer_start, outer_end) = match sq.at {
            Some(t) => (t, t),
            None => (self.start, self.end),
        };
        let interval = sq.step.max(1);
        let first = outer_start - sq.offset - sq.range;
        // The first step after the range start that is a multiple of the step
        // (integer division truncates as Go's).
        let mut start = interval * (first / interval);
        if start <= first {
            start += interval;
        }
        self.with_range(start, outer_end - sq.offset, interval)
    }

    fn eval_subquery(&self, sq: &SubqueryNode) -> Result<Matrix, EvalError> {
        let sub = self.subquery_evaluator(sq);
        sub.eval_matrix(&sq.expr)
    }

    /// A subquery's result as the points range functions read: staleness markers left
    /// out (as reading stored series does) and counter reset hints cleared (a subquery
    /// may skip or repeat samples).
    pub fn subquery_points(&self, sq: &SubqueryNode) -> Result<Matrix, EvalError> {
        let mut m = self.eval_subquery(sq)?;
        for s in &mut m {
            if s.floats.iter().any(|p| is_stale_nan(p.f)) {
                s.floats.retain(|p| !is_stale_nan(p.f));
            }
            if s.histograms.iter().any(|p| is_stale_nan(p.h.sum)) {
                s.histograms.retain(|p| !is_stale_nan(p.h.sum));
            }
            for p in &mut s.histograms {
                if matches!(
                    p.h.counter_reset_hint,
                    CounterResetHint::CounterReset | CounterResetHint::NotCounterReset
                ) {
                    let mut h = (*p.h).clone();
                    h.counter_reset_hint = CounterResetHint::Unknown;
                    p.h = Arc::new(h);
                }
            }
        }
        Ok(m)
    }

    /// Evaluates `args` and calls `f` once per step with their instant vectors, then
    /// assembles the results into series (upstream's `rangeEval`). With `matching`,
    /// `f` also gets each sample's join signature ordinal.
    pub fn range_eval<F>(
        &self,
        args: &[&Node],
        matching: Option<&VectorMatching>,
        f: F,
    ) -> Result<Matrix, EvalError>
    where
        F: FnMut(&[InputVector<'_>], &[Vec<usize>], &mut NodeHelper) -> Result<Vector, EvalError>,
    {
        let original_samples = self.q.samples();
        let mut matrices: Vec<Matrix> = Vec::with_capacity(args.len());
        for a in args {
            if a.vtype == ValueType::String {
                matrices.push(Matrix::new());
            } else {
                matrices.push(self.eval_matrix(a)?);
            }
        }
        self.range_eval_matrices(original_samples, matrices, matching, f)
    }

    /// The sample accounting of [`range_eval_matrices`](Self::range_eval_matrices)
    /// for an operator that produced its result some other way: `gathered[k]` input
    /// samples and `produced[k]` result samples at step `k`. Fails as that would.
    pub fn account_steps(&self, gathered: &[usize], produced: &[usize]) -> Result<(), EvalError> {
        let mut temp = self.q.samples();
        for (g, p) in gathered.iter().zip(produced) {
            self.q.set_samples(temp)?;
            self.q.add_samples(*g)?;
            self.q.add_samples(*p)?;
            temp += p;
        }
        Ok(())
    }

    /// [`range_eval`](Self::range_eval) on already evaluated arguments;
    /// `original_samples` is what the query held before they were evaluated.
    pub fn range_eval_matrices<F>(
        &self,
        original_samples: usize,
        matrices: Vec<Matrix>,
        matching: Option<&VectorMatching>,
        mut f: F,
    ) -> Result<Matrix, EvalError>
    where
        F: FnMut(&[InputVector<'_>], &[Vec<usize>], &mut NodeHelper) -> Result<Vector, EvalError>,
    {
        let mut helper = NodeHelper::new(self.delayed());
        // Join signature ordinal of every input series.
        let mut series_sigs: Vec<Vec<usize>> = vec![Vec::new(); matrices.len()];
        if let Some(m) = matching {
            let all: Vec<&Matrix> = matrices.iter().collect();
            (series_sigs, helper.num_sigs) = super::binary::join_signatures(&all, m);
        }

        let mut vectors: Vec<InputVector<'_>> = matrices
            .iter()
            .map(|m| InputVector::with_capacity(m.len()))
            .collect();
        let mut sigs: Vec<Vec<usize>> = vec![Vec::new(); matrices.len()];
        helper.input_series = vec![Vec::new(); matrices.len()];
        let mut cursors: Vec<Vec<(usize, usize)>> =
            matrices.iter().map(|m| vec![(0, 0); m.len()]).collect();
        let mut temp_samples = self.q.samples();
        let steps = self.steps();
        let mut out: Vec<Series> = Vec::new();
        let mut last_ts: Vec<i64> = Vec::new();
        let mut index: LabelsMap<usize> = LabelsMap::default();
        let mut key_index: KeyMap<usize> = KeyMap::default();

        let mut ts = self.start;
        while ts <= self.end {
            self.q.check_done(EXPR_EVAL)?;
            self.q.set_samples(temp_samples)?;
            for (i, mat) in matrices.iter().enumerate() {
                vectors[i].clear();
                sigs[i].clear();
                helper.input_series[i].clear();
                let mut gathered = 0;
                for (si, s) in mat.iter().enumerate() {
                    let (fi, hi) = &mut cursors[i][si];
                    if let Some(p) = s.floats.get(*fi).filter(|p| p.t == ts) {
                        vectors[i].push(InputSample {
                            metric: &s.metric,
                            t: ts,
                            f: p.f,
                            h: None,
                            drop_name: s.drop_name,
                        });
                        *fi += 1;
                    } else if let Some(p) = s.histograms.get(*hi).filter(|p| p.t == ts) {
                        vectors[i].push(InputSample {
                            metric: &s.metric,
                            t: ts,
                            f: 0.0,
                            h: Some(&p.h),
                            drop_name: s.drop_name,
                        });
                        *hi += 1;
                    } else {
                        continue;
                    }
                    if matching.is_some() {
                        sigs[i].push(series_sigs[i][si]);
                    }
                    helper.input_series[i].push(si as u32);
                    gathered += 1;
                }
                self.q.add_samples(gathered)?;
            }
            helper.ts = ts;
            helper.out_keys.clear();
            let result = f(&vectors, &sigs, &mut helper)?;
            let keyed = helper.out_keys.len() == result.len();
            let n = vector_samples(&result);
            self.q.add_samples(n)?;
            temp_samples += n;

            if self.start == self.end {
                if !self.delayed() && vector_has_duplicate_labelsets(&result) {
                    return Err(duplicate_labelset());
                }
                let mat: Matrix = result
                    .into_iter()
                    .map(|s| sample_to_series(s, ts))
                    .collect();
                self.q
                    .set_samples(original_samples + matrix_samples(&mat))?;
                return Ok(mat);
            }
            for (k, s) in result.into_iter().enumerate() {
                // Find the output series: by key when the step function gave keys (the
                // labels are hashed once per key), by labels otherwise.
                let known = if keyed {
                    key_index.get(&helper.out_keys[k]).copied()
                } else {
                    None
                };
                let i = match known {
                    Some(i) => i,
                    None => {
                        let key = LabelsKey(s.metric.clone());
                        let i = match index.get(&key) {
                            Some(i) => *i,
                            None => {
                                let mut series = Series::new(s.metric.clone());
                                series.drop_name = s.drop_name;
                                out.push(series);
                                last_ts.push(i64::MIN);
                                index.insert(key, out.len() - 1);
                                out.len() - 1
                            }
                        };
                        if keyed {
                            key_index.insert(helper.out_keys[k], i);
                        }
                        i
                    }
                };
                if last_ts[i] == ts {
                    return Err(duplicate_labelset());
                }
                last_ts[i] = ts;
                push_point(&mut out[i], ts, s.f, s.h, steps);
            }
            ts += self.interval;
        }
        self.q
            .set_samples(original_samples + matrix_samples(&out))?;
        Ok(out)
    }
}

fn sample_to_series(s: Sample, ts: i64) -> Series {
    let mut series = Series::new(s.metric);
    series.drop_name = s.drop_name;
    match s.h {
        Some(h) => series.histograms.push(HPoint { t: ts, h }),
        None => series.floats.push(FPoint { t: ts, f: s.f }),
    }
    series
}

/// Most points reserved up front for a series: the step count of a query can be huge.
const MAX_RESERVE: usize = 5000;

pub(crate) fn push_point(
    s: &mut Series,
    ts: i64,
    f: f64,
    h: Option<Arc<hearth_model::FloatHistogram>>,
    steps: usize,
) {
    match h {
        Some(h) => {
            if s.histograms.is_empty() {
                s.histograms.reserve(steps.min(MAX_RESERVE));
            }
            s.histograms.push(HPoint { t: ts, h });
        }
        None => {
            if s.floats.is_empty() {
                s.floats.reserve(steps.min(MAX_RESERVE));
            }
            s.floats.push(FPoint { t: ts, f });
        }
    }
}

/// Merges series whose label sets became equal (after the metric name was dropped),
/// failing when they have points at the same time (upstream's
/// `mergeSeriesWithSameLabelset`).
pub(crate) fn merge_series_with_same_labelset(m: Matrix) -> Result<Matrix, EvalError> {
    if m.len() <= 1 || !matrix_has_duplicate_labelsets(&m) {
        return Ok(m);
    }
    let mut index: LabelsMap<usize> = LabelsMap::default();
    let mut merged: Matrix = Vec::with_capacity(m.len());
    for s in m {
        match index.get(&LabelsKey(s.metric.clone())) {
            Some(&i) => {
                let base = &mut merged[i];
                base.floats.extend(s.floats);
                base.histograms.extend(s.histograms);
            }
            None => {
                index.insert(LabelsKey(s.metric.clone()), merged.len());
                merged.push(s);
            }
        }
    }
    for s in &mut merged {
        s.floats.sort_by_key(|p| p.t);
        s.histograms.sort_by_key(|p| p.t);
        if s.floats.windows(2).any(|w| w[0].t == w[1].t)
            || s.histograms.windows(2).any(|w| w[0].t == w[1].t)
        {
            return Err(duplicate_labelset());
        }
    }
    Ok(merged)
}

/// Linear interpolation between two points; for counters, a drop means the counter
/// restarted from zero.
pub(crate) fn interpolate(p1: FPoint, p2: FPoint, t: i64, is_counter: bool) -> f64 {
    let mut y1 = p1.f;
    let y2 = p2.f;
    if is_counter && y2 < y1 {
        y1 = 0.0;
    }
    y1 + (y2 - y1) * (t - p1.t) as f64 / (p2.t - p1.t) as f64
}

fn pick_or_interpolate_left(
    floats: &[FPoint],
    first: usize,
    range_start: i64,
    smoothed: bool,
    is_counter: bool,
) -> f64 {
    if smoothed && floats[first].t < range_start && first + 1 < floats.len() {
        return interpolate(floats[first], floats[first + 1], range_start, is_counter);
    }
    floats[first].f
}

fn pick_or_interpolate_right(
    floats: &[FPoint],
    last: usize,
    range_end: i64,
    smoothed: bool,
    is_counter: bool,
) -> f64 {
    if smoothed && last > 0 && floats[last].t > range_end {
        return interpolate(floats[last - 1], floats[last], range_end, is_counter);
    }
    floats[last].f
}

/// The boundary values of an anchored or smoothed window: the sample at or before the
/// start (interpolated when smoothed) and at or after the end.
pub(crate) struct ExtendedBounds {
    pub first: usize,
    pub last: usize,
    pub left: f64,
    pub right: f64,
}

/// Finds the boundary samples of an anchored/smoothed window over `floats` (which
/// include the extra lookback samples); `None` when no sample is inside the range.
pub(crate) fn extended_bounds(
    floats: &[FPoint],
    mint: i64,
    maxt: i64,
    smoothed: bool,
    is_counter: bool,
) -> Option<ExtendedBounds> {
    if floats.is_empty() {
        return None;
    }
    let mut last = floats.len() - 1;
    // Go's sort.Search over [0, last): the first index with t > mint.
    let first = floats[..last]
        .partition_point(|p| p.t <= mint)
        .saturating_sub(1);
    if smoothed {
        last = floats[..last].partition_point(|p| p.t < maxt);
    }
    // No data inside the range: all of it before, or (smoothed) all after.
    if floats[last].t <= mint || floats[first].t > maxt {
        return None;
    }
    let left = pick_or_interpolate_left(floats, first, mint, smoothed, is_counter);
    let right = pick_or_interpolate_right(floats, last, maxt, smoothed, is_counter);
    Some(ExtendedBounds {
        first,
        last,
        left,
        right,
    })
}

/// The points of an anchored/smoothed range as a selector returns them: the samples
/// inside the range framed by points exactly at its start and end (upstream's
/// `extendFloats`).
pub(crate) fn extend_floats(
    floats: &[FPoint],
    mint: i64,
    maxt: i64,
    smoothed: bool,
) -> Vec<FPoint> {
    let Some(b) = extended_bounds(floats, mint, maxt, smoothed, false) else {
        return Vec::new();
    };
    let mut first = b.first;
    let mut last = b.last as i64;
    if floats[first].t <= mint {
        first += 1;
    }
    if floats[b.last].t >= maxt {
        last -= 1;
    }
    let mut out = Vec::with_capacity(floats.len() + 2);
    out.push(FPoint { t: mint, f: b.left });
    if last >= first as i64 {
        out.extend_from_slice(&floats[first..=last as usize]);
    }
    out.push(FPoint {
        t: maxt,
        f: b.right,
    });
    out
}
