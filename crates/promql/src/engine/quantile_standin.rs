//! Quantile and fraction estimation over classic and native histograms.
//!
//! STAND-IN: this math belongs to the `histogram-math` branch
//! (`crates/promql/src/quantile.rs`); until it is merged this module keeps a minimal
//! private version so that the engine's histogram functions work. Switch the callers
//! to the real module and delete this file then.

use hearth_model::FloatHistogram;
use hearth_model::histogram::Bucket;

/// A classic histogram bucket: its `le` bound and cumulative count.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ClassicBucket {
    pub upper_bound: f64,
    pub count: f64,
}

/// What fixing a classic histogram's buckets required.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct BucketFix {
    pub forced_monotonicity: bool,
}

fn sort_and_coalesce(buckets: &mut Vec<ClassicBucket>) {
    buckets.sort_by(|a, b| {
        a.upper_bound
            .partial_cmp(&b.upper_bound)
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    let mut out: Vec<ClassicBucket> = Vec::with_capacity(buckets.len());
    for b in buckets.drain(..) {
        match out.last_mut() {
            Some(last) if last.upper_bound == b.upper_bound => last.count += b.count,
            _ => out.push(b),
        }
    }
    *buckets = out;
}

fn correct_precision_errors(buckets: &mut [ClassicBucket], tolerance: f64) {
    let Some(first) = buckets.first() else { return };
    let mut prev = first.count;
    for b in buckets.iter_mut().skip(1) {
        let curr = b.count;
        let delta = (curr - prev).abs();
        if delta == 0.0 {
            continue;
        }
        if delta / curr <= tolerance {
            b.count = prev;
        } else {
            prev = curr;
        }
    }
}

fn ensure_monotonic(buckets: &mut [ClassicBucket]) -> bool {
    let Some(first) = buckets.first() else {
        return false;
    };
    let mut forced = false;
    let mut max = first.count;
    for b in buckets.iter_mut().skip(1) {
        if b.count > max {
            max = b.count;
        } else if b.count < max {
            b.count = max;
            forced = true;
        }
    }
    forced
}

/// The `q` quantile of a classic histogram, interpolated linearly within buckets.
pub(crate) fn bucket_quantile(q: f64, buckets: &mut Vec<ClassicBucket>) -> (f64, BucketFix) {
    let none = BucketFix::default();
    if q.is_nan() {
        return (f64::NAN, none);
    }
    if q < 0.0 {
        return (f64::NEG_INFINITY, none);
    }
    if q > 1.0 {
        return (f64::INFINITY, none);
    }
    sort_and_coalesce(buckets);
    if buckets
        .last()
        .is_none_or(|b| b.upper_bound != f64::INFINITY)
    {
        return (f64::NAN, none);
    }
    correct_precision_errors(buckets, 1e-12);
    let forced = ensure_monotonic(buckets);
    let fix = BucketFix {
        forced_monotonicity: forced,
    };
    if buckets.len() < 2 {
        return (f64::NAN, none);
    }
    let n = buckets.len();
    let observations = buckets[n - 1].count;
    if observations == 0.0 {
        return (f64::NAN, none);
    }
    let mut rank = q * observations;
    let b = buckets[..n - 1].partition_point(|b| b.count < rank);
    if b == n - 1 {
        return (buckets[n - 2].upper_bound, fix);
    }
    if b == 0 && buckets[0].upper_bound <= 0.0 {
        return (buckets[0].upper_bound, fix);
    }
    let mut start = 0.0;
    let end = buckets[b].upper_bound;
    let mut count = buckets[b].count;
    if b > 0 {
        start = buckets[b - 1].upper_bound;
        count -= buckets[b - 1].count;
        rank -= buckets[b - 1].count;
    }
    (start + (end - start) * (rank / count), fix)
}

/// The fraction of a classic histogram's observations between `lower` and `upper`.
pub(crate) fn bucket_fraction(lower: f64, upper: f64, buckets: &mut Vec<ClassicBucket>) -> f64 {
    sort_and_coalesce(buckets);
    if buckets
        .last()
        .is_none_or(|b| b.upper_bound != f64::INFINITY)
        || lower.is_nan()
        || upper.is_nan()
    {
        return f64::NAN;
    }
    correct_precision_errors(buckets, 1e-12);
    ensure_monotonic(buckets);
    let n = buckets.len();
    let total = buckets[n - 1].count;
    if total == 0.0 {
        return f64::NAN;
    }
    if lower >= upper {
        return 0.0;
    }
    let rank_at = |v: f64| -> f64 {
        let mut prev_bound = 0.0f64;
        let mut prev_count = 0.0;
        for (i, b) in buckets.iter().enumerate() {
            if v <= b.upper_bound {
                if b.upper_bound.is_infinite() {
                    return if v.is_infinite() { b.count } else { prev_count };
                }
                let lo = if i == 0 {
                    prev_bound.min(b.upper_bound)
                } else {
                    prev_bound
                };
                if i == 0 && b.upper_bound <= 0.0 {
                    return if v < b.upper_bound { 0.0 } else { b.count };
                }
                if v <= lo {
                    return prev_count;
                }
                return prev_count + (b.count - prev_count) * (v - lo) / (b.upper_bound - lo);
            }
            prev_bound = b.upper_bound;
            prev_count = b.count;
        }
        total
    };
    (rank_at(upper) - rank_at(lower)) / total
}

/// All buckets of a native histogram in ascending order of their bounds: negative
/// buckets, the zero bucket, positive buckets.
pub(crate) fn all_buckets(h: &FloatHistogram) -> Vec<Bucket<f64>> {
    // Negative buckets come by increasing absolute value: reverse for ascending bounds.
    let mut out: Vec<Bucket<f64>> = h.negative_buckets().collect();
    out.reverse();
    if h.zero_count > 0.0 || (!h.uses_custom_buckets() && h.zero_threshold > 0.0) {
        out.push(Bucket {
            lower: -h.zero_threshold,
            upper: h.zero_threshold,
            lower_inclusive: true,
            upper_inclusive: true,
            count: h.zero_count,
            index: 0,
        });
    }
    out.extend(h.positive_buckets());
    out
}

/// The `q` quantile of a native histogram.
pub(crate) fn histogram_quantile(q: f64, h: &FloatHistogram) -> f64 {
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    if h.count == 0.0 || q.is_nan() {
        return f64::NAN;
    }
    let buckets = all_buckets(h);
    let forward = h.sum.is_nan() || q < 0.5;
    let mut rank = if forward {
        q * h.count
    } else {
        (1.0 - q) * h.count
    };
    let mut count = 0.0;
    let mut bucket = Bucket {
        lower: 0.0,
        upper: 0.0,
        lower_inclusive: false,
        upper_inclusive: false,
        count: 0.0,
        index: 0,
    };
    let iter: Box<dyn Iterator<Item = &Bucket<f64>>> = if forward {
        Box::new(buckets.iter())
    } else {
        Box::new(buckets.iter().rev())
    };
    for b in iter {
        bucket = *b;
        count += b.count;
        if count >= rank {
            break;
        }
    }
    if bucket.lower < 0.0 && bucket.upper > 0.0 {
        if h.negative_buckets.is_empty() && !h.positive_buckets.is_empty() {
            bucket.lower = 0.0;
        } else if h.positive_buckets.is_empty() && !h.negative_buckets.is_empty() {
            bucket.upper = 0.0;
        }
    }
    if count > h.count {
        count = h.count;
    }
    if count < rank {
        return bucket.upper;
    }
    if forward {
        rank -= count - bucket.count;
    } else {
        rank = count - rank;
    }
    bucket.lower + (bucket.upper - bucket.lower) * (rank / bucket.count)
}

/// The fraction of a native histogram's observations between `lower` and `upper`.
pub(crate) fn histogram_fraction(lower: f64, upper: f64, h: &FloatHistogram) -> f64 {
    if h.count == 0.0 || lower.is_nan() || upper.is_nan() {
        return f64::NAN;
    }
    if lower >= upper {
        return 0.0;
    }
    let (mut rank, mut lower_rank, mut upper_rank) = (0.0, 0.0, 0.0);
    let (mut lower_set, mut upper_set) = (false, false);
    for mut b in all_buckets(h) {
        if b.lower < 0.0 && b.upper > 0.0 {
            if h.negative_buckets.is_empty() && !h.positive_buckets.is_empty() {
                b.lower = 0.0;
            } else if h.positive_buckets.is_empty() && !h.negative_buckets.is_empty() {
                b.upper = 0.0;
            }
        }
        if !lower_set && b.lower >= lower {
            lower_rank = rank;
            lower_set = true;
        }
        if !upper_set && b.lower >= upper {
            upper_rank = rank;
            upper_set = true;
        }
        if lower_set && upper_set {
            break;
        }
        if !lower_set && b.lower < lower && b.upper > lower {
            lower_rank = rank + b.count * (lower - b.lower) / (b.upper - b.lower);
            lower_set = true;
        }
        if !upper_set && b.lower < upper && b.upper > upper {
            upper_rank = rank + b.count * (upper - b.lower) / (b.upper - b.lower);
            upper_set = true;
        }
        if lower_set && upper_set {
            break;
        }
        rank += b.count;
    }
    if !lower_set || lower_rank > h.count {
        lower_rank = h.count;
    }
    if !upper_set || upper_rank > h.count {
        upper_rank = h.count;
    }
    (upper_rank - lower_rank) / h.count
}
