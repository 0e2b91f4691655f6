//! The quantile and fraction math of PromQL, exactly as upstream computes it
//! (`promql/quantile.go`, the variance part of `promql/functions.go`):
//!
//! - classic histograms (buckets from `le` labels): [`bucket_quantile`] and
//!   [`bucket_fraction`];
//! - native histograms: [`histogram_quantile`], [`histogram_fraction`],
//!   [`histogram_stdvar`], [`histogram_stddev`] and [`histogram_avg`];
//! - the `quantile` aggregation and `quantile_over_time`: [`quantile`].
//!
//! Functions return plain values plus small structs saying which annotation upstream
//! would emit; they know nothing of the engine. Logarithms and powers of two go through
//! [`hearth_model::histogram_gomath`] so results are bit-identical to upstream's (on
//! amd64, where Go fuses no multiply-adds).

use std::cmp::Ordering;

use hearth_model::FloatHistogram;
use hearth_model::histogram_gomath::{exp2, log2};
use hearth_model::histogram_math::kahan_inc;

/// Relative difference between neighbouring classic buckets that [`bucket_quantile`]
/// treats as floating-point noise (upstream's `smallDeltaTolerance`).
pub const SMALL_DELTA_TOLERANCE: f64 = 1e-12;

/// One bucket of a classic histogram: the cumulative count of observations at or below
/// `upper_bound` (the `le` label).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClassicBucket {
    pub upper_bound: f64,
    pub count: f64,
}

/// What [`bucket_quantile`] had to repair in its input.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MonotonicityFix {
    /// A count decreased with a higher bound and was raised: upstream's info
    /// "input to histogram_quantile needed to be fixed for monotonicity".
    pub forced_monotonic: bool,
    /// A numerically insignificant difference between neighbours was ignored (silently).
    pub fixed_precision: bool,
    /// The lowest upper bound whose count was raised (`+Inf` if none, 0 when the check
    /// did not run).
    pub min_bucket: f64,
    /// The highest upper bound whose count was raised (`-Inf` if none, 0 when the check
    /// did not run).
    pub max_bucket: f64,
    /// The largest decrease that was removed.
    pub max_diff: f64,
}

impl Default for MonotonicityFix {
    fn default() -> Self {
        MonotonicityFix {
            forced_monotonic: false,
            fixed_precision: false,
            min_bucket: 0.0,
            max_bucket: 0.0,
            max_diff: 0.0,
        }
    }
}

/// The result of [`bucket_quantile`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BucketQuantile {
    pub value: f64,
    pub fix: MonotonicityFix,
}

/// The φ-quantile of a classic histogram (upstream's `BucketQuantile`). Sorts `buckets`
/// by upper bound, merges equal bounds, ignores tiny relative differences
/// ([`SMALL_DELTA_TOLERANCE`]) and forces the counts to be monotonic, then interpolates
/// linearly within the bucket holding the rank. The lowest bucket is taken to start at
/// 0 if its bound is positive (otherwise its bound is the answer); a quantile in the
/// `+Inf` bucket is the second-highest bound.
///
/// NaN for NaN `q`, no `+Inf` bucket, fewer than two buckets, no observations or no
/// buckets at all; `-Inf` for `q < 0`, `+Inf` for `q > 1`.
pub fn bucket_quantile(q: f64, buckets: &mut [ClassicBucket]) -> BucketQuantile {
    let mut result = BucketQuantile {
        value: f64::NAN,
        fix: MonotonicityFix::default(),
    };
    if q.is_nan() {
        return result;
    }
    if q < 0.0 {
        result.value = f64::NEG_INFINITY;
        return result;
    }
    if q > 1.0 {
        result.value = f64::INFINITY;
        return result;
    }
    let buckets = match sort_and_coalesce(buckets) {
        Some(b) => b,
        None => return result,
    };
    result.fix = ensure_monotonic_and_ignore_small_deltas(buckets, SMALL_DELTA_TOLERANCE);
    let n = buckets.len();
    if n < 2 {
        return result;
    }
    let observations = buckets[n - 1].count;
    if observations == 0.0 {
        return result;
    }
    let mut rank = q * observations;
    let b = buckets[..n - 1].partition_point(|b| b.count < rank);
    if b == n - 1 {
        result.value = buckets[n - 2].upper_bound;
        return result;
    }
    if b == 0 && buckets[0].upper_bound <= 0.0 {
        result.value = buckets[0].upper_bound;
        return result;
    }
    let bucket_end = buckets[b].upper_bound;
    let mut count = buckets[b].count;
    let mut bucket_start = 0.0;
    if b > 0 {
        bucket_start = buckets[b - 1].upper_bound;
        count -= buckets[b - 1].count;
        rank -= buckets[b - 1].count;
    }
    result.value = bucket_start + (bucket_end - bucket_start) * (rank / count);
    result
}

/// Sorts by upper bound and merges equal bounds; `None` without a `+Inf` bucket (or
/// without buckets).
fn sort_and_coalesce(buckets: &mut [ClassicBucket]) -> Option<&mut [ClassicBucket]> {
    // A total order, so NaN bounds cannot make the sort misbehave; upstream's order
    // for them is unspecified.
    buckets.sort_by(|a, b| a.upper_bound.total_cmp(&b.upper_bound));
    if buckets.last()?.upper_bound != f64::INFINITY {
        return None;
    }
    let mut kept = 0;
    for i in 1..buckets.len() {
        if buckets[i].upper_bound == buckets[kept].upper_bound {
            buckets[kept].count += buckets[i].count;
        } else {
            kept += 1;
            buckets[kept] = buckets[i];
        }
    }
    Some(&mut buckets[..=kept])
}

/// Makes cumulative counts monotonic (upstream's `ensureMonotonicAndIgnoreSmallDeltas`):
/// differences within `tolerance` (relative) are ignored in either direction, then any
/// remaining decrease is raised to the last accepted count.
fn ensure_monotonic_and_ignore_small_deltas(
    buckets: &mut [ClassicBucket],
    tolerance: f64,
) -> MonotonicityFix {
    let mut fix = MonotonicityFix {
        min_bucket: f64::INFINITY,
        max_bucket: f64::NEG_INFINITY,
        ..MonotonicityFix::default()
    };
    let Some(first) = buckets.first() else {
        return fix;
    };
    let mut prev = first.count;
    for b in buckets.iter_mut().skip(1) {
        let curr = b.count;
        if curr == prev {
            continue;
        }
        if almost_equal(prev, curr, tolerance) {
            b.count = prev;
            fix.fixed_precision = true;
            continue;
        }
        if curr < prev {
            b.count = prev;
            fix.forced_monotonic = true;
            fix.min_bucket = fix.min_bucket.min(b.upper_bound);
            fix.max_bucket = fix.max_bucket.max(b.upper_bound);
            fix.max_diff = fix.max_diff.max(prev - curr);
            continue;
        }
        prev = curr;
    }
    fix
}

/// Whether `a` and `b` differ by at most the relative `epsilon` (upstream's
/// `util/almost.Equal`; NaN equals NaN).
pub fn almost_equal(a: f64, b: f64, epsilon: f64) -> bool {
    const MIN_NORMAL: f64 = f64::MIN_POSITIVE;
    if a.is_nan() && b.is_nan() {
        return true;
    }
    if a == b {
        return true;
    }
    let abs_sum = a.abs() + b.abs();
    let diff = (a - b).abs();
    if a == 0.0 || b == 0.0 || abs_sum < MIN_NORMAL {
        return diff < epsilon * MIN_NORMAL;
    }
    diff / abs_sum.min(f64::MAX) < epsilon
}

/// The fraction of a classic histogram's observations between `lower` and `upper`
/// (upstream's `BucketFraction`), interpolating linearly within buckets. The lowest
/// bucket starts at 0 if its bound is positive, else at `-Inf` (and then counts whole).
/// NaN without a `+Inf` bucket, without observations or for a NaN bound; 0 when
/// `lower >= upper`.
pub fn bucket_fraction(lower: f64, upper: f64, buckets: &mut [ClassicBucket]) -> f64 {
    let Some(buckets) = sort_and_coalesce(buckets) else {
        return f64::NAN;
    };
    let count = buckets[buckets.len() - 1].count;
    if count == 0.0 || lower.is_nan() || upper.is_nan() {
        return f64::NAN;
    }
    if lower >= upper {
        return 0.0;
    }
    let (mut rank, mut lower_rank, mut upper_rank) = (0.0, 0.0, 0.0);
    let (mut lower_set, mut upper_set) = (false, false);
    let mut lower_bound = if buckets[0].upper_bound <= 0.0 {
        f64::NEG_INFINITY
    } else {
        0.0
    };
    for (i, b) in buckets.iter().enumerate() {
        if i > 0 {
            lower_bound = buckets[i - 1].upper_bound;
        }
        let upper_bound = b.upper_bound;
        // Counts are cumulative: the bucket's own share is `b.count - rank`.
        let interpolate = |v: f64| {
            if lower_bound == f64::NEG_INFINITY {
                return b.count;
            }
            rank + (b.count - rank) * (v - lower_bound) / (upper_bound - lower_bound)
        };
        if !lower_set && lower_bound >= lower {
            lower_rank = rank;
            lower_set = true;
        }
        if !upper_set && lower_bound >= upper {
            upper_rank = rank;
            upper_set = true;
        }
        if lower_set && upper_set {
            break;
        }
        if !lower_set && lower_bound < lower && upper_bound > lower {
            lower_rank = interpolate(lower);
            lower_set = true;
        }
        if !upper_set && lower_bound < upper && upper_bound > upper {
            upper_rank = interpolate(upper);
            upper_set = true;
        }
        if lower_set && upper_set {
            break;
        }
        rank = b.count;
    }
    if !lower_set || lower_rank > count {
        lower_rank = count;
    }
    if !upper_set || upper_rank > count {
        upper_rank = count;
    }
    (upper_rank - lower_rank) / count
}

/// The info annotation [`histogram_quantile`] reports for a histogram with NaN
/// observations (count above the buckets' total and a NaN sum).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuantileNaNInfo {
    /// The rank lies above all buckets, among the NaN observations, so the result is NaN:
    /// "input to histogram_quantile has NaN observations, result is NaN".
    ResultIsNaN,
    /// The NaN observations counted as +Inf and pushed the result up:
    /// "input to histogram_quantile has NaN observations, result is skewed higher".
    ResultSkewedHigher,
}

/// The result of [`histogram_quantile`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HistogramQuantile {
    pub value: f64,
    pub info: Option<QuantileNaNInfo>,
}

/// The φ-quantile of a native histogram (upstream's `HistogramQuantile`).
///
/// Interpolates exponentially within standard exponential buckets (the quantile in the
/// middle of the (1,2] bucket is √2) and linearly within custom buckets and the zero
/// bucket. The zero bucket counts only its positive half when there are no negative
/// buckets, and vice versa. Custom buckets: the lowest bucket starts at 0 if its bound
/// is positive, otherwise its bound is the answer; the overflow bucket's answer is its
/// lower bound.
///
/// NaN observations (NaN sum) count as +Inf: a rank among them gives NaN, a rank below
/// them is reported as skewed. NaN for an empty histogram or NaN `q`; `-Inf` for
/// `q < 0`, `+Inf` for `q > 1`.
pub fn histogram_quantile(q: f64, h: &FloatHistogram) -> HistogramQuantile {
    let mut result = HistogramQuantile {
        value: f64::NAN,
        info: None,
    };
    if q < 0.0 {
        result.value = f64::NEG_INFINITY;
        return result;
    }
    if q > 1.0 {
        result.value = f64::INFINITY;
        return result;
    }
    if h.count == 0.0 || q.is_nan() {
        return result;
    }
    let custom = h.uses_custom_buckets();
    // NaN observations are in the count but in no bucket, so only counting from below
    // finds the rank then; otherwise walk from the nearer end.
    let forward = h.sum.is_nan() || q < 0.5;
    let (mut it, mut rank) = if forward {
        (h.all_bucket_iter(), q * h.count)
    } else {
        (h.all_reverse_bucket_iter(), (1.0 - q) * h.count)
    };
    let mut bucket = hearth_model::Bucket {
        lower: 0.0,
        upper: 0.0,
        lower_inclusive: false,
        upper_inclusive: false,
        count: 0.0,
        index: 0,
    };
    let mut count = 0.0;
    for b in it.by_ref() {
        bucket = b;
        if bucket.count == 0.0 {
            continue;
        }
        count += bucket.count;
        if count >= rank {
            break;
        }
    }
    if !custom && bucket.lower < 0.0 && bucket.upper > 0.0 {
        if h.negative_buckets.is_empty() && !h.positive_buckets.is_empty() {
            bucket.lower = 0.0;
        } else if h.positive_buckets.is_empty() && !h.negative_buckets.is_empty() {
            bucket.upper = 0.0;
        }
    } else if custom {
        if bucket.lower == f64::NEG_INFINITY {
            if bucket.upper <= 0.0 {
                result.value = bucket.upper;
                return result;
            }
            bucket.lower = 0.0;
        } else if bucket.upper == f64::INFINITY {
            result.value = bucket.lower;
            return result;
        }
    }
    // Rounding may overshoot the histogram's own count.
    if count > h.count {
        count = h.count;
    }
    if count < rank {
        if h.sum.is_nan() {
            result.info = Some(QuantileNaNInfo::ResultIsNaN);
            return result;
        }
        // Only precision problems or malformed histograms get here.
        result.value = bucket.upper;
        return result;
    }
    if forward {
        rank -= count - bucket.count;
    } else {
        rank = count - rank;
    }
    if h.sum.is_nan() {
        // Upstream reuses the bucket variable here, so the interpolation below uses the
        // last bucket; replicated for identical results.
        for b in it {
            bucket = b;
            count += bucket.count;
        }
        if count < h.count {
            result.info = Some(QuantileNaNInfo::ResultSkewedHigher);
        }
    }
    let fraction = rank / bucket.count;
    result.value = if custom || (bucket.lower <= 0.0 && bucket.upper >= 0.0) {
        bucket.lower + (bucket.upper - bucket.lower) * fraction
    } else {
        // Bucket bounds are evenly spaced on a logarithmic scale.
        let log_lower = log2(bucket.lower.abs());
        let log_upper = log2(bucket.upper.abs());
        if bucket.lower > 0.0 {
            exp2(log_lower + (log_upper - log_lower) * fraction)
        } else {
            -exp2(log_upper + (log_lower - log_upper) * (1.0 - fraction))
        }
    };
    result
}

/// The result of [`histogram_fraction`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HistogramFraction {
    pub value: f64,
    /// The histogram has NaN observations, which no fraction includes: upstream's info
    /// "input to histogram_fraction has NaN observations, which are excluded from all
    /// fractions".
    pub nan_observations: bool,
}

/// The fraction of a native histogram's observations between `lower` and `upper`
/// (upstream's `HistogramFraction`), roughly the inverse of [`histogram_quantile`] and
/// interpolating the same way. `-Inf` and `+Inf` are valid bounds; NaN observations are
/// outside every range. NaN for an empty histogram or a NaN bound; 0 when
/// `lower >= upper`.
pub fn histogram_fraction(lower: f64, upper: f64, h: &FloatHistogram) -> HistogramFraction {
    let mut result = HistogramFraction {
        value: f64::NAN,
        nan_observations: false,
    };
    if h.count == 0.0 || lower.is_nan() || upper.is_nan() {
        return result;
    }
    if lower >= upper {
        result.value = 0.0;
        return result;
    }
    let custom = h.uses_custom_buckets();
    let only_positive = h.negative_buckets.is_empty() && !h.positive_buckets.is_empty();
    let only_negative = h.positive_buckets.is_empty() && !h.negative_buckets.is_empty();
    let (mut count, mut rank, mut lower_rank, mut upper_rank) = (0.0, 0.0, 0.0, 0.0);
    let (mut lower_set, mut upper_set) = (false, false);
    let mut it = h.all_bucket_iter();
    for mut b in it.by_ref() {
        count += b.count;
        let mut zero_bucket = false;
        if b.lower <= 0.0 && b.upper >= 0.0 {
            zero_bucket = true;
            if only_positive {
                b.lower = 0.0;
            } else if only_negative {
                b.upper = 0.0;
            }
        }
        let linear = custom || zero_bucket;
        let interpolate = |v: f64| {
            if linear {
                if b.lower == f64::NEG_INFINITY {
                    return b.count;
                }
                return rank + b.count * (v - b.lower) / (b.upper - b.lower);
            }
            let log_lower = log2(b.lower.abs());
            let log_upper = log2(b.upper.abs());
            let log_v = log2(v.abs());
            let fraction = if v > 0.0 {
                (log_v - log_lower) / (log_upper - log_lower)
            } else {
                1.0 - ((log_v - log_upper) / (log_lower - log_upper))
            };
            rank + b.count * fraction
        };
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
            lower_rank = interpolate(lower);
            lower_set = true;
        }
        if !upper_set && b.lower < upper && b.upper > upper {
            upper_rank = interpolate(upper);
            upper_set = true;
        }
        if lower_set && upper_set {
            break;
        }
        rank += b.count;
    }
    if h.sum.is_nan() {
        // Ranks above the buckets' total lie among the NaN observations.
        count += it.map(|b| b.count).sum::<f64>();
        result.nan_observations = count < h.count;
    } else {
        count = h.count;
    }
    if !lower_set || lower_rank > count {
        lower_rank = count;
    }
    if !upper_set || upper_rank > count {
        upper_rank = count;
    }
    result.value = (upper_rank - lower_rank) / h.count;
    result
}

/// The arithmetic mean of the observations (`histogram_avg`).
pub fn histogram_avg(h: &FloatHistogram) -> f64 {
    h.sum / h.count
}

/// The estimated variance of the observations (`histogram_stdvar`): every observation
/// is taken to be at its bucket's mean — geometric for exponential buckets, arithmetic
/// for custom buckets, 0 in the zero bucket — around the histogram's mean
/// `sum / count`, summed with Kahan compensation as upstream does.
pub fn histogram_stdvar(h: &FloatHistogram) -> f64 {
    let mean = h.sum / h.count;
    let custom = h.uses_custom_buckets();
    let (mut variance, mut compensation) = (0.0, 0.0);
    for b in h.all_bucket_iter() {
        if b.count == 0.0 {
            continue;
        }
        let value = if custom {
            (b.upper + b.lower) / 2.0
        } else if b.lower <= 0.0 && b.upper >= 0.0 {
            0.0
        } else {
            let geometric = (b.upper * b.lower).sqrt();
            if b.upper < 0.0 { -geometric } else { geometric }
        };
        let delta = value - mean;
        (variance, compensation) = kahan_inc(b.count * delta * delta, variance, compensation);
    }
    (variance + compensation) / h.count
}

/// The estimated standard deviation of the observations (`histogram_stddev`), the
/// square root of [`histogram_stdvar`].
pub fn histogram_stddev(h: &FloatHistogram) -> f64 {
    histogram_stdvar(h).sqrt()
}

/// The φ-quantile of sample values (the `quantile` aggregation and
/// `quantile_over_time`): sorts `values` (NaN first) and interpolates linearly between
/// the two nearest ranks. NaN for no values or NaN `q`; `-Inf` for `q < 0`, `+Inf` for
/// `q > 1`.
pub fn quantile(q: f64, values: &mut [f64]) -> f64 {
    if values.is_empty() || q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    values.sort_by(|a, b| match (a.is_nan(), b.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Less,
        (false, true) => Ordering::Greater,
        (false, false) => a.partial_cmp(b).unwrap_or(Ordering::Equal),
    });
    let n = values.len() as f64;
    let rank = q * (n - 1.0);
    let lower_index = rank.floor().max(0.0);
    let upper_index = (n - 1.0).min(lower_index + 1.0);
    let weight = rank - rank.floor();
    let lower = values
        .get(lower_index as usize)
        .copied()
        .unwrap_or(f64::NAN);
    let upper = values
        .get(upper_index as usize)
        .copied()
        .unwrap_or(f64::NAN);
    lower * (1.0 - weight) + upper * weight
}

#[cfg(test)]
mod tests;
