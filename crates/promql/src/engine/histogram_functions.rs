//! Histogram functions over instant vectors: the native histogram statistics
//! (`histogram_count`, `_sum`, `_avg`, `_stddev`, `_stdvar`) and the quantile and
//! fraction estimation over native histograms and classic `le` bucket series
//! (`histogram_quantile`, `histogram_quantiles`, `histogram_fraction`).

use std::collections::HashMap;
use std::sync::Arc;

use hearth_model::{FloatHistogram, Labels};

use super::annotations::Annotation;
use super::error::EvalError;
use super::evaluator::{Evaluator, NodeHelper, drop_metadata_labels};
use super::instant_functions::float_from_histogram;
use super::plan::CallNode;
use super::value::{InputSample, InputVector, Sample, Vector};
use crate::quantile::{self, ClassicBucket, QuantileNaNInfo};

/// The native histogram statistics.
pub(crate) fn simple(name: &str, vals: &[InputVector], h: &mut NodeHelper) -> Vector {
    let mut out = std::mem::take(&mut h.out);
    for s in vals.first().map_or(&[][..], |v| &v[..]) {
        let Some(hist) = s.h else { continue };
        let f = match name {
            "histogram_count" => hist.count,
            "histogram_sum" => hist.sum,
            "histogram_avg" => quantile::histogram_avg(hist),
            "histogram_stddev" => quantile::histogram_stddev(hist),
            _ => quantile::histogram_stdvar(hist),
        };
        out.push(float_from_histogram(s, f, h));
    }
    out
}

/// The input of a histogram function split into native histograms and classic
/// histograms (bucket series grouped by their labels without `le`), as upstream's
/// `resetHistograms`.
struct SplitHistograms {
    natives: Vec<(Labels, Arc<FloatHistogram>)>,
    classics: Vec<(Labels, Vec<ClassicBucket>)>,
}

fn split_histograms(
    ev: &Evaluator,
    input: &[InputSample],
    arg_pos: crate::ast::PosRange,
) -> SplitHistograms {
    let delayed = ev.delayed();
    let mut classics: Vec<(Labels, Vec<ClassicBucket>)> = Vec::new();
    let mut index: HashMap<Labels, usize> = HashMap::new();
    let mut natives: Vec<(Labels, Arc<FloatHistogram>)> = Vec::new();
    for s in input {
        if let Some(h) = s.h {
            natives.push((s.metric.clone(), h.clone()));
            continue;
        }
        let le = s.metric.get("le").unwrap_or("");
        let Ok(upper) = hearth_model::float::parse_go_float(le) else {
            let name = if delayed {
                s.metric.get("__name__").unwrap_or("")
            } else {
                ""
            };
            ev.q.annotate(Annotation::bad_bucket_label(name, le, arg_pos));
            continue;
        };
        let sig = s.metric.without(&["le"]);
        let i = match index.get(&sig) {
            Some(i) => *i,
            None => {
                let metric = if delayed {
                    sig.clone()
                } else {
                    sig.without_metric_name()
                };
                index.insert(sig, classics.len());
                classics.push((metric, Vec::new()));
                classics.len() - 1
            }
        };
        classics[i].1.push(ClassicBucket {
            upper_bound: upper,
            count: s.f,
        });
    }
    // A native histogram and classic buckets of the same series: neither is used.
    natives.retain(|(metric, _)| {
        if let Some(&i) = index.get(metric)
            && !classics[i].1.is_empty()
        {
            let name = if delayed {
                metric.get("__name__").unwrap_or("")
            } else {
                ""
            };
            ev.q.annotate(Annotation::mixed_classic_native_histograms(name, arg_pos));
            classics[i].1.clear();
            return false;
        }
        true
    });
    SplitHistograms { natives, classics }
}

fn output_metric(metric: &Labels, h: &NodeHelper) -> Labels {
    if h.delayed_name_removal {
        metric.clone()
    } else {
        drop_metadata_labels(metric)
    }
}

fn validate_quantile(ev: &Evaluator, q: f64, pos: crate::ast::PosRange) {
    if q.is_nan() || !(0.0..=1.0).contains(&q) {
        ev.q.annotate(Annotation::invalid_quantile(q, pos));
    }
}

/// Computes the quantiles `qs` of every histogram in the input; with `label`, each
/// result carries its quantile in that label.
fn quantiles(
    ev: &Evaluator,
    input: &[InputSample],
    qs: &[f64],
    label: Option<&str>,
    quantile_pos: crate::ast::PosRange,
    vector_pos: crate::ast::PosRange,
    h: &mut NodeHelper,
) -> Vector {
    let mut split = split_histograms(ev, input, vector_pos);
    let mut out = std::mem::take(&mut h.out);
    let with_label = |metric: Labels, q: f64| -> Labels {
        match label {
            Some(l) => {
                let mut b = metric.builder();
                b.set(l, &hearth_model::float::format_openmetrics(q));
                b.labels()
            }
            None => metric,
        }
    };
    for &q in qs {
        for (metric, hist) in &split.natives {
            let r = quantile::histogram_quantile(q, hist);
            if let Some(info) = r.info {
                let name = metric.get("__name__").unwrap_or("");
                ev.q.annotate(match info {
                    QuantileNaNInfo::ResultIsNaN => {
                        Annotation::native_histogram_quantile_nan_result(name, quantile_pos)
                    }
                    QuantileNaNInfo::ResultSkewedHigher => {
                        Annotation::native_histogram_quantile_nan_skew(name, quantile_pos)
                    }
                });
            }
            out.push(Sample {
                metric: with_label(output_metric(metric, h), q),
                t: 0,
                f: r.value,
                h: None,
                drop_name: true,
            });
        }
        for (metric, buckets) in &mut split.classics {
            if buckets.is_empty() {
                continue;
            }
            let mut b = buckets.clone();
            let r = quantile::bucket_quantile(q, &mut b);
            let v = r.value;
            if r.fix.forced_monotonic {
                let name = if ev.delayed() {
                    metric.get("__name__").unwrap_or("")
                } else {
                    ""
                };
                ev.q.annotate(Annotation::histogram_quantile_forced_monotonicity(
                    name, vector_pos,
                ));
            }
            out.push(Sample {
                metric: with_label(output_metric(metric, h), q),
                t: 0,
                f: v,
                h: None,
                drop_name: true,
            });
        }
    }
    out
}

pub(crate) fn histogram_quantile(
    ev: &Evaluator,
    vals: &[InputVector],
    c: &CallNode,
    h: &mut NodeHelper,
) -> Result<Vector, EvalError> {
    let (Some(qv), Some(input)) = (vals.first().and_then(|v| v.first()), vals.get(1)) else {
        return Ok(std::mem::take(&mut h.out));
    };
    let q = qv.f;
    let qpos = c.args.first().map(|a| a.pos).unwrap_or_default();
    let vpos = c.args.get(1).map(|a| a.pos).unwrap_or_default();
    validate_quantile(ev, q, qpos);
    Ok(quantiles(ev, input, &[q], None, qpos, vpos, h))
}

pub(crate) fn histogram_quantiles(
    ev: &Evaluator,
    vals: &[InputVector],
    c: &CallNode,
    h: &mut NodeHelper,
) -> Result<Vector, EvalError> {
    let Some(input) = vals.first() else {
        return Ok(std::mem::take(&mut h.out));
    };
    let label = c.string_arg(1).unwrap_or("quantile").to_string();
    let mut qs = Vec::new();
    for (i, v) in vals.iter().enumerate().skip(2) {
        let q = v.first().map_or(f64::NAN, |s| s.f);
        validate_quantile(ev, q, c.args.get(i).map(|a| a.pos).unwrap_or_default());
        qs.push(q);
    }
    let vpos = c.args.first().map(|a| a.pos).unwrap_or_default();
    Ok(quantiles(ev, input, &qs, Some(&label), vpos, vpos, h))
}

pub(crate) fn histogram_fraction(
    ev: &Evaluator,
    vals: &[InputVector],
    c: &CallNode,
    h: &mut NodeHelper,
) -> Result<Vector, EvalError> {
    let (Some(lo), Some(hi), Some(input)) = (
        vals.first().and_then(|v| v.first()),
        vals.get(1).and_then(|v| v.first()),
        vals.get(2),
    ) else {
        return Ok(std::mem::take(&mut h.out));
    };
    let (lower, upper) = (lo.f, hi.f);
    let vpos = c.args.get(2).map(|a| a.pos).unwrap_or_default();
    let mut split = split_histograms(ev, input, vpos);
    let mut out = std::mem::take(&mut h.out);
    for (metric, hist) in &split.natives {
        let r = quantile::histogram_fraction(lower, upper, hist);
        if r.nan_observations {
            let name = metric.get("__name__").unwrap_or("");
            let pos = c.args.first().map(|a| a.pos).unwrap_or_default();
            ev.q.annotate(Annotation::native_histogram_fraction_nans(name, pos));
        }
        out.push(Sample {
            metric: output_metric(metric, h),
            t: 0,
            f: r.value,
            h: None,
            drop_name: true,
        });
    }
    for (metric, buckets) in &mut split.classics {
        if buckets.is_empty() {
            continue;
        }
        out.push(Sample {
            metric: output_metric(metric, h),
            t: 0,
            f: quantile::bucket_fraction(lower, upper, buckets),
            h: None,
            drop_name: true,
        });
    }
    Ok(out)
}
