//! Binary operators: arithmetic, comparisons (filtering or `bool`), set operators and
//! the histogram trim operators, between scalars and instant vectors, with vector
//! matching (`on`/`ignoring`, `group_left`/`group_right`, `fill*`), as upstream's
//! `VectorBinop`, `VectorscalarBinop` and friends.

use std::sync::Arc;

use hearth_model::{
    CounterResetHint, FloatHistogram, HistogramOpError, Labels, LabelsBuilder, TrimSide,
};

use crate::ast::{BinaryOp, Cardinality, PosRange, ValueType, VectorMatching};

use super::annotations::{Annotation, HistogramOperation};
use super::error::{EXPR_EVAL, EvalError, exec};
use super::evaluator::{Evaluator, NodeHelper, drop_metadata_labels, is_metadata_label};
use super::labels_map::{LabelsKey, LabelsMap};
use super::plan::{BinaryNode, Node};
use super::value::{
    FPoint, InputSample, InputVector, Matrix, Sample, Series, Vector, matrix_samples,
};

/// The result of an operation on two sample values.
struct ElemResult {
    f: f64,
    h: Option<Arc<FloatHistogram>>,
    keep: bool,
}

/// A problem an operation on two values reports (it never fails the query).
enum ElemNote {
    Annotation(Annotation),
    IncompatibleSchema,
}

/// Operators that change what the metric means: their results lose the metric name.
pub(crate) fn changes_metric_schema(op: BinaryOp) -> bool {
    matches!(
        op,
        BinaryOp::Add
            | BinaryOp::Sub
            | BinaryOp::Mul
            | BinaryOp::Div
            | BinaryOp::Pow
            | BinaryOp::Mod
            | BinaryOp::Atan2
    )
}

fn btos(b: bool) -> f64 {
    if b { 1.0 } else { 0.0 }
}

/// Go's `math.Mod`: the result has the sign of the dividend, as Rust's `%`.
fn go_mod(a: f64, b: f64) -> f64 {
    a % b
}

/// Go's `math.Pow`, which differs from `powf` only in corner cases Rust already
/// matches (IEEE 754 `pow`).
fn go_pow(a: f64, b: f64) -> f64 {
    a.powf(b)
}

pub(crate) fn scalar_binop(op: BinaryOp, l: f64, r: f64) -> f64 {
    match op {
        BinaryOp::Add => l + r,
        BinaryOp::Sub => l - r,
        BinaryOp::Mul => l * r,
        BinaryOp::Div => l / r,
        BinaryOp::Pow => go_pow(l, r),
        BinaryOp::Mod => go_mod(l, r),
        BinaryOp::Eql => btos(l == r),
        BinaryOp::Neq => btos(l != r),
        BinaryOp::Gtr => btos(l > r),
        BinaryOp::Lss => btos(l < r),
        BinaryOp::Gte => btos(l >= r),
        BinaryOp::Lte => btos(l <= r),
        BinaryOp::Atan2 => l.atan2(r),
        // The parser never lets set or trim operators between scalars through.
        _ => f64::NAN,
    }
}

/// An arithmetic or comparison operator on two floats: the value and whether a
/// filtering comparison keeps it (`None` for operators floats do not take).
fn float_binop(op: BinaryOp, l: f64, r: f64) -> Option<(f64, bool)> {
    Some(match op {
        BinaryOp::Add => (l + r, true),
        BinaryOp::Sub => (l - r, true),
        BinaryOp::Mul => (l * r, true),
        BinaryOp::Div => (l / r, true),
        BinaryOp::Pow => (go_pow(l, r), true),
        BinaryOp::Mod => (go_mod(l, r), true),
        BinaryOp::Eql => (l, l == r),
        BinaryOp::Neq => (l, l != r),
        BinaryOp::Gtr => (l, l > r),
        BinaryOp::Lss => (l, l < r),
        BinaryOp::Gte => (l, l >= r),
        BinaryOp::Lte => (l, l <= r),
        BinaryOp::Atan2 => (l.atan2(r), true),
        _ => return None,
    })
}

/// The join signature ordinal of every series of `matrices` (equal label values on the
/// matched labels give equal ordinals), and the number of distinct signatures.
pub(crate) fn join_signatures(
    matrices: &[&Matrix],
    m: &VectorMatching,
) -> (Vec<Vec<usize>>, usize) {
    let mut names: Vec<&str> = m.matching_labels.iter().map(String::as_str).collect();
    if !m.on {
        names.push("__name__");
    }
    names.sort_unstable();
    let mut ordinals: LabelsMap<usize> = LabelsMap::default();
    let sigs = matrices
        .iter()
        .map(|mat| {
            mat.iter()
                .map(|s| {
                    let sig = if m.on {
                        s.metric.keep(&names)
                    } else {
                        s.metric.without(&names)
                    };
                    let next = ordinals.len();
                    *ordinals.entry(LabelsKey(sig)).or_insert(next)
                })
                .collect()
        })
        .collect();
    (sigs, ordinals.len())
}

fn incompatible(l: &str, op: BinaryOp, r: &str, pos: PosRange) -> ElemNote {
    ElemNote::Annotation(Annotation::incompatible_types_in_binop(
        l,
        op.as_str(),
        r,
        pos,
    ))
}

/// What one operation on two values gives (upstream's `vectorElemBinop`): the value
/// (`None` when the types do not combine), an info to report, and an error-level note
/// that makes a vector-vector operation drop the value.
struct ElemOutcome {
    res: Option<ElemResult>,
    info: Option<ElemNote>,
    err: Option<ElemNote>,
}

fn elem_binop(
    op: BinaryOp,
    lhs: f64,
    rhs: f64,
    hl: Option<&Arc<FloatHistogram>>,
    hr: Option<&Arc<FloatHistogram>>,
    pos: PosRange,
) -> ElemOutcome {
    let float = |f: f64, keep: bool| ElemOutcome {
        res: Some(ElemResult { f, h: None, keep }),
        info: None,
        err: None,
    };
    let hist = |h: FloatHistogram| ElemOutcome {
        res: Some(ElemResult {
            f: 0.0,
            h: Some(Arc::new(h)),
            keep: true,
        }),
        info: None,
        err: None,
    };
    let fail = |note: ElemNote| ElemOutcome {
        res: None,
        info: None,
        err: Some(note),
    };
    match (hl, hr) {
        (None, None) => match op {
            BinaryOp::Add => float(lhs + rhs, true),
            BinaryOp::Sub => float(lhs - rhs, true),
            BinaryOp::Mul => float(lhs * rhs, true),
            BinaryOp::Div => float(lhs / rhs, true),
            BinaryOp::Pow => float(go_pow(lhs, rhs), true),
            BinaryOp::Mod => float(go_mod(lhs, rhs), true),
            BinaryOp::Eql => float(lhs, lhs == rhs),
            BinaryOp::Neq => float(lhs, lhs != rhs),
            BinaryOp::Gtr => float(lhs, lhs > rhs),
            BinaryOp::Lss => float(lhs, lhs < rhs),
            BinaryOp::Gte => float(lhs, lhs >= rhs),
            BinaryOp::Lte => float(lhs, lhs <= rhs),
            BinaryOp::Atan2 => float(lhs.atan2(rhs), true),
            _ => fail(incompatible("float", op, "float", pos)),
        },
        (None, Some(hr)) => match op {
            BinaryOp::Mul => {
                let mut h = (**hr).clone();
                h.mul(lhs);
                h.compact(0);
                hist(h)
            }
            _ => fail(incompatible("float", op, "histogram", pos)),
        },
        (Some(hl), None) => match op {
            BinaryOp::Mul => {
                let mut h = (**hl).clone();
                h.mul(rhs);
                h.compact(0);
                hist(h)
            }
            BinaryOp::Div => {
                let mut h = (**hl).clone();
                h.div(rhs);
                h.compact(0);
                hist(h)
            }
            BinaryOp::TrimUpper => hist(hl.trim_buckets(rhs, TrimSide::KeepBelow)),
            BinaryOp::TrimLower => hist(hl.trim_buckets(rhs, TrimSide::KeepAbove)),
            _ => fail(incompatible("histogram", op, "float", pos)),
        },
        (Some(hl), Some(hr)) => match op {
            BinaryOp::Add | BinaryOp::Sub => {
                let mut h = (**hl).clone();
                let (res, hop) = if op == BinaryOp::Add {
                    (h.add(hr), HistogramOperation::Addition)
                } else {
                    (h.sub(hr), HistogramOperation::Subtraction)
                };
                match res {
                    Err(HistogramOpError::IncompatibleSchema) => fail(ElemNote::IncompatibleSchema),
                    // Upstream reports nothing for other errors; the value is dropped.
                    Err(_) => ElemOutcome {
                        res: None,
                        info: None,
                        err: None,
                    },
                    Ok(notes) => {
                        if op == BinaryOp::Sub {
                            h.counter_reset_hint = CounterResetHint::Gauge;
                        }
                        h.compact(0);
                        ElemOutcome {
                            res: Some(ElemResult {
                                f: 0.0,
                                h: Some(Arc::new(h)),
                                keep: true,
                            }),
                            info: notes.nhcb_bounds_reconciled.then(|| {
                                ElemNote::Annotation(Annotation::mismatched_custom_buckets(
                                    hop, pos,
                                ))
                            }),
                            err: notes.counter_reset_collision.then(|| {
                                ElemNote::Annotation(Annotation::histogram_counter_reset_collision(
                                    hop, pos,
                                ))
                            }),
                        }
                    }
                }
            }
            BinaryOp::Eql | BinaryOp::Neq => {
                let eq = hl.equals(hr);
                ElemOutcome {
                    res: Some(ElemResult {
                        f: 0.0,
                        h: Some(hl.clone()),
                        keep: if op == BinaryOp::Eql { eq } else { !eq },
                    }),
                    info: None,
                    err: None,
                }
            }
            _ => fail(incompatible("histogram", op, "histogram", pos)),
        },
    }
}

impl Evaluator<'_, '_> {
    /// Reports the last note of a step, as upstream reports only its `lastErr`.
    fn report(&self, note: Option<ElemNote>, node: &Node, op: BinaryOp) {
        match note {
            Some(ElemNote::Annotation(a)) => self.q.annotate(a),
            Some(ElemNote::IncompatibleSchema) => {
                self.q
                    .annotate(Annotation::incompatible_bucket_layout_in_binop(
                        op.as_str(),
                        node.pos,
                    ))
            }
            None => {}
        }
    }

    pub(crate) fn eval_binary(&self, node: &Node, b: &BinaryNode) -> Result<Matrix, EvalError> {
        let lt = b.lhs.vtype;
        let rt = b.rhs.vtype;
        let pos = node.pos;
        match (lt, rt) {
            (ValueType::Scalar, ValueType::Scalar) => {
                self.range_eval(&[&b.lhs, &b.rhs], None, |v, _, h| {
                    let l = v[0].first().map_or(f64::NAN, |s| s.f);
                    let r = v[1].first().map_or(f64::NAN, |s| s.f);
                    h.out
                        .push(Sample::float(Labels::empty(), 0, scalar_binop(b.op, l, r)));
                    Ok(std::mem::take(&mut h.out))
                })
            }
            (ValueType::Vector, ValueType::Vector) => {
                let default = VectorMatching {
                    card: if b.op.is_set_operator() {
                        Cardinality::ManyToMany
                    } else {
                        Cardinality::OneToOne
                    },
                    ..VectorMatching::default()
                };
                let matching = b.matching.as_ref().unwrap_or(&default);
                let step = |v: &[InputVector<'_>], sigs: &[Vec<usize>], h: &mut NodeHelper| match b
                    .op
                {
                    BinaryOp::And => Ok(vector_filter(&v[0], &sigs[1], &sigs[0], true, h)),
                    BinaryOp::Or => Ok(vector_or(&v[0], &v[1], &sigs[0], &sigs[1], h)),
                    BinaryOp::Unless => Ok(vector_filter(&v[0], &sigs[1], &sigs[0], false, h)),
                    _ => self.vector_binop(b, matching, &v[0], &v[1], &sigs[0], &sigs[1], h, node),
                };
                if !self.q.opts.vectorized
                    || float_binop(b.op, 0.0, 0.0).is_none()
                    || matching.fill.is_some()
                {
                    return self.range_eval(&[&b.lhs, &b.rhs], Some(matching), step);
                }
                let original = self.q.samples();
                let lhs = self.eval_matrix(&b.lhs)?;
                let rhs = self.eval_matrix(&b.rhs)?;
                match self.series_binop(b, matching, original, lhs, rhs)? {
                    Ok(result) => Ok(result),
                    Err((lhs, rhs)) => {
                        self.range_eval_matrices(original, vec![lhs, rhs], Some(matching), step)
                    }
                }
            }
            (ValueType::Vector, ValueType::Scalar) | (ValueType::Scalar, ValueType::Vector) => {
                let swap = lt == ValueType::Scalar;
                let step = |v: &[InputVector<'_>], _: &[Vec<usize>], h: &mut NodeHelper| {
                    let (vector, scalar) = if swap { (&v[1], &v[0]) } else { (&v[0], &v[1]) };
                    let sc = scalar.first().map_or(f64::NAN, |s| s.f);
                    Ok(self.vector_scalar_binop(b, vector, sc, swap, h, node, pos))
                };
                if !self.q.opts.vectorized || float_binop(b.op, 0.0, 0.0).is_none() {
                    return self.range_eval(&[&b.lhs, &b.rhs], None, step);
                }
                let original = self.q.samples();
                let lhs = self.eval_matrix(&b.lhs)?;
                let rhs = self.eval_matrix(&b.rhs)?;
                let (vector, scalar) = if swap { (rhs, lhs) } else { (lhs, rhs) };
                match self.series_scalar_binop(b, original, vector, scalar, swap)? {
                    Ok(result) => Ok(result),
                    Err((vector, scalar)) => {
                        let args = if swap {
                            vec![scalar, vector]
                        } else {
                            vec![vector, scalar]
                        };
                        self.range_eval_matrices(original, args, None, step)
                    }
                }
            }
            _ => Err(exec(format!(
                "operator {} not allowed between {} and {}",
                b.op,
                lt.documented(),
                rt.documented()
            ))),
        }
    }

    /// Arithmetic and comparisons between two vectors of floats, series by series: when
    /// every join signature has at most one series on the "one" side (and, one-to-one,
    /// on the other side too) and all result label sets differ, no step can fail or
    /// merge results, so each pair of matching series is joined once over its points
    /// (a merge by time) instead of matching samples at every step. The result is what
    /// [`vector_binop`](Self::vector_binop) step by step gives, series in the same
    /// order; `Err` hands the inputs back when that evaluation is needed.
    #[allow(clippy::type_complexity)]
    fn series_binop(
        &self,
        b: &BinaryNode,
        matching: &VectorMatching,
        original: usize,
        lhs: Matrix,
        rhs: Matrix,
    ) -> Result<Result<Matrix, (Matrix, Matrix)>, EvalError> {
        let floats_only = |m: &Matrix| m.iter().all(|s| s.histograms.is_empty());
        if !floats_only(&lhs) || !floats_only(&rhs) {
            return Ok(Err((lhs, rhs)));
        }
        let (sigs, num_sigs) = join_signatures(&[&lhs, &rhs], matching);
        let one_to_many = matching.card == Cardinality::OneToMany;
        let (many, one, many_sigs, one_sigs) = if one_to_many {
            (&rhs, &lhs, &sigs[1], &sigs[0])
        } else {
            (&lhs, &rhs, &sigs[0], &sigs[1])
        };
        const NONE: u32 = u32::MAX;
        let mut one_by_sig = vec![NONE; num_sigs];
        for (i, sig) in one_sigs.iter().enumerate() {
            if one_by_sig[*sig] != NONE {
                return Ok(Err((lhs, rhs)));
            }
            one_by_sig[*sig] = i as u32;
        }
        if matching.card == Cardinality::OneToOne {
            let mut seen = vec![false; num_sigs];
            for sig in many_sigs {
                if std::mem::replace(&mut seen[*sig], true) {
                    return Ok(Err((lhs, rhs)));
                }
            }
        }
        // The pairs of matching series and their result labels.
        let delayed = self.delayed();
        let mut builder = LabelsBuilder::new();
        let mut labels_seen: LabelsMap<()> = LabelsMap::default();
        let mut pairs: Vec<(usize, usize, Labels)> = Vec::new();
        for (i, s) in many.iter().enumerate() {
            let j = one_by_sig[many_sigs[i]];
            if j == NONE {
                continue;
            }
            let mut metric = build_result_metric(
                &s.metric,
                &one[j as usize].metric,
                b.op,
                matching,
                &mut builder,
            );
            if !delayed && b.return_bool {
                metric = drop_metadata_labels(&metric);
            }
            if labels_seen.insert(LabelsKey(metric.clone()), ()).is_some() {
                return Ok(Err((lhs, rhs)));
            }
            pairs.push((i, j as usize, metric));
        }
        drop(labels_seen);

        let steps = self.steps();
        // Per-step counts for the sample limit: not for absurd step counts.
        let points: usize = lhs.iter().chain(rhs.iter()).map(|s| s.floats.len()).sum();
        if steps > points.max(1 << 16) {
            return Ok(Err((lhs, rhs)));
        }
        let step_of = |t: i64| ((t - self.start) / self.interval) as usize;
        let mut gathered = vec![0usize; steps];
        for s in lhs.iter().chain(rhs.iter()) {
            for p in &s.floats {
                if let Some(n) = gathered.get_mut(step_of(p.t)) {
                    *n += 1;
                }
            }
        }
        let mut produced = vec![0usize; steps];
        let mut out: Matrix = Vec::with_capacity(pairs.len());
        for (k, (i, j, metric)) in pairs.into_iter().enumerate() {
            if k % 1024 == 0 {
                self.q.check_done(EXPR_EVAL)?;
            }
            let (a, c) = (&many[i].floats, &one[j].floats);
            let mut series = Series::new(metric);
            series.drop_name = b.return_bool;
            let (mut p, mut q) = (0, 0);
            while p < a.len() && q < c.len() {
                let (pa, pc) = (a[p], c[q]);
                if pa.t < pc.t {
                    p += 1;
                    continue;
                }
                if pa.t > pc.t {
                    q += 1;
                    continue;
                }
                p += 1;
                q += 1;
                let (fl, fr) = if one_to_many {
                    (pc.f, pa.f)
                } else {
                    (pa.f, pc.f)
                };
                let Some((mut f, keep)) = float_binop(b.op, fl, fr) else {
                    continue;
                };
                if b.return_bool {
                    f = btos(keep);
                } else if !keep {
                    continue;
                }
                if series.floats.is_empty() {
                    series.floats.reserve(a.len().min(c.len()));
                }
                series.floats.push(FPoint { t: pa.t, f });
                if let Some(n) = produced.get_mut(step_of(pa.t)) {
                    *n += 1;
                }
            }
            if !series.floats.is_empty() {
                out.push(series);
            }
        }
        // Step by step, results appear in the order of their first point.
        out.sort_by_key(|s| s.floats.first().map_or(i64::MAX, |p| p.t));
        self.account_steps(&gathered, &produced)?;
        self.q.set_samples(original + matrix_samples(&out))?;
        Ok(Ok(out))
    }

    /// Arithmetic and comparisons between a vector of floats and a scalar, series by
    /// series (`swap`: the scalar is on the left), when no two results have the same
    /// labels: what [`vector_scalar_binop`](Self::vector_scalar_binop) step by step
    /// gives, series in the same order; `Err` hands the inputs back otherwise.
    #[allow(clippy::type_complexity)]
    fn series_scalar_binop(
        &self,
        b: &BinaryNode,
        original: usize,
        vector: Matrix,
        scalar: Matrix,
        swap: bool,
    ) -> Result<Result<Matrix, (Matrix, Matrix)>, EvalError> {
        let steps = self.steps();
        let points: usize = vector.iter().map(|s| s.floats.len()).sum();
        if scalar.len() > 1
            || vector.iter().any(|s| !s.histograms.is_empty())
            || steps > points.max(1 << 16)
        {
            return Ok(Err((vector, scalar)));
        }
        let step_of = |t: i64| ((t - self.start) / self.interval) as usize;
        // The scalar at each step (NaN where it has no value), and the samples gathered.
        let mut values = vec![f64::NAN; steps];
        let mut gathered = vec![0usize; steps];
        for p in scalar.iter().flat_map(|s| &s.floats) {
            if let Some(v) = values.get_mut(step_of(p.t)) {
                *v = p.f;
            }
            if let Some(n) = gathered.get_mut(step_of(p.t)) {
                *n += 1;
            }
        }
        for p in vector.iter().flat_map(|s| &s.floats) {
            if let Some(n) = gathered.get_mut(step_of(p.t)) {
                *n += 1;
            }
        }
        let renames = changes_metric_schema(b.op) || b.return_bool;
        let delayed = self.delayed();
        let mut labels_seen: LabelsMap<()> = LabelsMap::default();
        let mut metrics = Vec::with_capacity(vector.len());
        for s in &vector {
            let metric = if renames && !delayed {
                drop_metadata_labels(&s.metric)
            } else {
                s.metric.clone()
            };
            if labels_seen.insert(LabelsKey(metric.clone()), ()).is_some() {
                return Ok(Err((vector, scalar)));
            }
            metrics.push(metric);
        }
        drop(labels_seen);
        let mut produced = vec![0usize; steps];
        let mut out: Matrix = Vec::with_capacity(vector.len());
        for (k, (s, metric)) in vector.iter().zip(metrics).enumerate() {
            if k % 1024 == 0 {
                self.q.check_done(EXPR_EVAL)?;
            }
            let mut series = Series::new(metric);
            series.drop_name = renames || s.drop_name;
            for p in &s.floats {
                let step = step_of(p.t);
                let sc = values.get(step).copied().unwrap_or(f64::NAN);
                let (fl, fr) = if swap { (sc, p.f) } else { (p.f, sc) };
                let Some((mut f, keep)) = float_binop(b.op, fl, fr) else {
                    continue;
                };
                // A comparison with the scalar on the left keeps the vector's value.
                if b.op.is_comparison() && swap {
                    f = fr;
                }
                if b.return_bool {
                    f = btos(keep);
                } else if !keep {
                    continue;
                }
                if series.floats.is_empty() {
                    series.floats.reserve(s.floats.len());
                }
                series.floats.push(FPoint { t: p.t, f });
                if let Some(n) = produced.get_mut(step) {
                    *n += 1;
                }
            }
            if !series.floats.is_empty() {
                out.push(series);
            }
        }
        // Step by step, results appear in the order of their first point.
        out.sort_by_key(|s| s.floats.first().map_or(i64::MAX, |p| p.t));
        self.account_steps(&gathered, &produced)?;
        self.q.set_samples(original + matrix_samples(&out))?;
        Ok(Ok(out))
    }

    #[allow(clippy::too_many_arguments)]
    fn vector_scalar_binop(
        &self,
        b: &BinaryNode,
        lhs: &[InputSample],
        scalar: f64,
        swap: bool,
        h: &mut NodeHelper,
        node: &Node,
        pos: PosRange,
    ) -> Vector {
        let mut out = std::mem::take(&mut h.out);
        let inputs = std::mem::take(&mut h.input_series);
        let series_index = inputs.get(usize::from(swap)).map_or(&[][..], |v| &v[..]);
        let mut last = None;
        for (k, s) in lhs.iter().enumerate() {
            let (mut lf, mut rf) = (s.f, scalar);
            let (mut lh, mut rh) = (s.h, None);
            if swap {
                std::mem::swap(&mut lf, &mut rf);
                std::mem::swap(&mut lh, &mut rh);
            }
            let outcome = elem_binop(b.op, lf, rf, lh, rh, pos);
            // Only an incompatible-types info skips the sample; warnings do not.
            let skip = outcome.res.is_none();
            if outcome.err.is_some() {
                last = outcome.err;
            }
            if skip {
                continue;
            }
            let Some(mut r) = outcome.res else { continue };
            // A comparison with the scalar on the left keeps the vector's value.
            if b.op.is_comparison() && swap {
                r.f = rf;
                r.h = rh.cloned();
            }
            if b.return_bool {
                r.f = btos(r.keep);
                r.h = None;
                r.keep = true;
            }
            if !r.keep {
                continue;
            }
            let mut sample = Sample {
                metric: s.metric.clone(),
                t: s.t,
                f: r.f,
                h: r.h,
                drop_name: s.drop_name,
            };
            if changes_metric_schema(b.op) || b.return_bool {
                if !self.delayed() {
                    sample.metric = drop_metadata_labels(&sample.metric);
                }
                sample.drop_name = true;
            }
            out.push(sample);
            if let Some(i) = series_index.get(k) {
                h.out_keys.push(u64::from(*i));
            }
        }
        h.input_series = inputs;
        self.report(last, node, b.op);
        out
    }

    /// Arithmetic and comparisons between two vectors (upstream's `VectorBinop`).
    #[allow(clippy::too_many_arguments)]
    fn vector_binop(
        &self,
        b: &BinaryNode,
        matching: &VectorMatching,
        lhs: &[InputSample],
        rhs: &[InputSample],
        lsigs: &[usize],
        rsigs: &[usize],
        h: &mut NodeHelper,
        node: &Node,
    ) -> Result<Vector, EvalError> {
        let mut out = std::mem::take(&mut h.out);
        let fill = matching.fill;
        if (lhs.is_empty() && rhs.is_empty())
            || ((lhs.is_empty() || rhs.is_empty()) && !fill.is_some())
        {
            return Ok(out);
        }
        let one_to_many = matching.card == Cardinality::OneToMany;
        let inputs = std::mem::take(&mut h.input_series);
        let none: &[u32] = &[];
        let (lidx, ridx) = (
            inputs.first().map_or(none, |v| &v[..]),
            inputs.get(1).map_or(none, |v| &v[..]),
        );
        // Work as many-to-one: for one-to-many swap the sides and swap back per value.
        let (lhs, rhs, lsigs, rsigs, lidx, ridx) = if one_to_many {
            (rhs, lhs, rsigs, lsigs, ridx, lidx)
        } else {
            (lhs, rhs, lsigs, rsigs, lidx, ridx)
        };
        // A result's labels depend only on its input series: key results by the pair
        // of series indexes (0 for a fill value).
        let side_key = |idx: &[u32], i: usize| idx.get(i).map_or(0, |v| u64::from(*v) + 1);
        // As upstream, the fill values are not swapped with the sides: with
        // `group_right`, `fill_right` fills the (swapped) left side.
        let (fill_for_rhs, fill_for_lhs) = (fill.rhs(), fill.lhs());

        // The "one" side by signature ordinal.
        let mut right: Vec<Option<usize>> = vec![None; h.num_sigs];
        for (i, rs) in rhs.iter().enumerate() {
            let sig = rsigs[i];
            if let Some(dup) = right[sig] {
                let one_side = if one_to_many { "left" } else { "right" };
                let matched = match_labels(rs.metric, matching);
                return Err(exec(format!(
                    "found duplicate series for the match group {matched} on the {one_side} hand-side of the operation: [{}, {}];many-to-many matching not allowed: matching labels must be unique on one side",
                    rs.metric, rhs[dup].metric
                )));
            }
            right[sig] = Some(i);
        }

        // Which signatures matched, and for many-to-one the result labels per signature.
        let mut m = MatchTracker {
            labels: vec![None; h.num_sigs],
            matched: vec![false; h.num_sigs],
            last: None,
        };
        let do_op = |ls: &InputSample,
                     rs: &InputSample,
                     sig: usize,
                     key: u64,
                     out: &mut Vector,
                     m: &mut MatchTracker,
                     h: &mut NodeHelper|
         -> Result<(), EvalError> {
            let last = &mut m.last;
            let (mut fl, mut fr) = (ls.f, rs.f);
            let (mut hl, mut hr) = (ls.h, rs.h);
            if one_to_many {
                std::mem::swap(&mut fl, &mut fr);
                std::mem::swap(&mut hl, &mut hr);
            }
            let outcome = elem_binop(b.op, fl, fr, hl, hr, node.pos);
            if outcome.err.is_some() {
                *last = outcome.err;
                return Ok(());
            }
            if outcome.info.is_some() {
                *last = outcome.info;
            }
            let Some(mut r) = outcome.res else {
                return Ok(());
            };
            if b.return_bool {
                r.h = None;
                r.f = btos(r.keep);
            }
            let mut metric = result_metric(ls.metric, rs.metric, key, b.op, matching, h);
            if !self.delayed() && b.return_bool {
                metric = drop_metadata_labels(&metric);
            }
            if matching.card == Cardinality::OneToOne {
                if m.matched[sig] {
                    return Err(exec(
                        "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)",
                    ));
                }
                m.matched[sig] = true;
            } else {
                m.matched[sig] = true;
                let seen = m.labels[sig].get_or_insert_with(Vec::new);
                if seen.contains(&metric) {
                    return Err(exec(
                        "multiple matches for labels: grouping labels must ensure unique matches",
                    ));
                }
                seen.push(metric.clone());
            }
            if !r.keep && !b.return_bool {
                return Ok(());
            }
            out.push(Sample {
                metric,
                t: ls.t,
                f: r.f,
                h: r.h,
                drop_name: b.return_bool,
            });
            h.out_keys.push(key);
            Ok(())
        };

        for (i, ls) in lhs.iter().enumerate() {
            let sig = lsigs[i];
            let lkey = side_key(lidx, i) << 32;
            match right[sig] {
                Some(ri) => {
                    let key = lkey | side_key(ridx, ri);
                    do_op(ls, &rhs[ri], sig, key, &mut out, &mut m, h)?
                }
                None => {
                    let Some(fv) = fill_for_rhs else { continue };
                    let fill_labels = match_labels(ls.metric, matching);
                    let filler = filler_sample(&fill_labels, ls.t, fv);
                    do_op(ls, &filler, sig, lkey, &mut out, &mut m, h)?;
                }
            }
        }
        if let Some(fv) = fill_for_lhs {
            for (sig, ri) in right.iter().enumerate() {
                let Some(ri) = *ri else { continue };
                if m.matched[sig] {
                    continue;
                }
                let rs = &rhs[ri];
                let fill_labels = match_labels(rs.metric, matching);
                let filler = filler_sample(&fill_labels, rs.t, fv);
                do_op(&filler, rs, sig, side_key(ridx, ri), &mut out, &mut m, h)?;
            }
        }
        h.input_series = inputs;
        self.report(m.last, node, b.op);
        Ok(out)
    }
}

/// Which join signatures a vector operation matched in the current step.
struct MatchTracker {
    /// Result labels per signature (many-to-one: must be unique).
    labels: Vec<Option<Vec<Labels>>>,
    matched: Vec<bool>,
    /// The last note to report (upstream's `lastErr`).
    last: Option<ElemNote>,
}

/// The stand-in for a series missing on one side, with a `fill` value.
fn filler_sample(labels: &Labels, t: i64, f: f64) -> InputSample<'_> {
    InputSample {
        metric: labels,
        t,
        f,
        h: None,
        drop_name: false,
    }
}

/// The labels a match is made on (upstream's `MatchLabels`).
fn match_labels(l: &Labels, m: &VectorMatching) -> Labels {
    if m.on {
        let names: Vec<&str> = m.matching_labels.iter().map(String::as_str).collect();
        l.keep(&names)
    } else {
        let mut names: Vec<&str> = m.matching_labels.iter().map(String::as_str).collect();
        names.push("__name__");
        l.without(&names)
    }
}

/// The labels of a binary operation's result (upstream's `resultMetric`), cached by
/// the key of the pair of input series.
fn result_metric(
    lhs: &Labels,
    rhs: &Labels,
    key: u64,
    op: BinaryOp,
    m: &VectorMatching,
    h: &mut NodeHelper,
) -> Labels {
    if let Some(l) = h.result_by_key.get(&key) {
        return l.clone();
    }
    let out = build_result_metric(lhs, rhs, op, m, &mut h.builder);
    h.result_by_key.insert(key, out.clone());
    out
}

fn build_result_metric(
    lhs: &Labels,
    rhs: &Labels,
    op: BinaryOp,
    m: &VectorMatching,
    b: &mut LabelsBuilder,
) -> Labels {
    b.reset(lhs);
    if changes_metric_schema(op) {
        b.retain(|l| !is_metadata_label(&l.name));
    }
    if m.card == Cardinality::OneToOne {
        if m.on {
            b.retain(|l| m.matching_labels.iter().any(|n| n == l.name.as_str()));
        } else {
            b.retain(|l| !m.matching_labels.iter().any(|n| n == l.name.as_str()));
        }
    }
    for name in &m.include {
        match rhs.get(name) {
            Some(v) => {
                b.set(name, v);
            }
            None => {
                b.del(name);
            }
        }
    }
    b.labels()
}

/// `and` (`keep_matched`) and `unless` (not): the left-hand samples whose join
/// signature does or does not occur on the right.
fn vector_filter(
    lhs: &[InputSample],
    rsigs: &[usize],
    lsigs: &[usize],
    keep_matched: bool,
    h: &mut NodeHelper,
) -> Vector {
    let mut out = std::mem::take(&mut h.out);
    if lhs.is_empty() {
        return out;
    }
    let mut matched = vec![false; h.num_sigs];
    for s in rsigs {
        matched[*s] = true;
    }
    for (i, s) in lhs.iter().enumerate() {
        if matched[lsigs[i]] == keep_matched {
            out.push(s.to_sample());
        }
    }
    out
}

fn vector_or(
    lhs: &[InputSample],
    rhs: &[InputSample],
    lsigs: &[usize],
    rsigs: &[usize],
    h: &mut NodeHelper,
) -> Vector {
    let mut out = std::mem::take(&mut h.out);
    if lhs.is_empty() {
        out.extend(rhs.iter().copied().map(InputSample::to_sample));
        return out;
    }
    if rhs.is_empty() {
        out.extend(lhs.iter().copied().map(InputSample::to_sample));
        return out;
    }
    let mut present = vec![false; h.num_sigs];
    for (i, s) in lhs.iter().enumerate() {
        present[lsigs[i]] = true;
        out.push(s.to_sample());
    }
    for (j, s) in rhs.iter().enumerate() {
        if !present[rsigs[j]] {
            out.push(s.to_sample());
        }
    }
    out
}
