//! Trimming observations off a histogram: PromQL's `h </ x` (keep what lies below `x`)
//! and `h >/ x` (keep what lies above `x`), upstream's `FloatHistogram.TrimBuckets`.
//!
//! Buckets wholly on the kept side survive, buckets wholly on the other side are
//! emptied, and the bucket containing the threshold keeps an interpolated share:
//! linear for custom buckets and the zero bucket, exponential for standard buckets.
//! Buckets with an infinite bound are treated conservatively (usually dropped whole).
//! When anything was removed, the count becomes the kept total and the sum is
//! re-estimated from each kept bucket's representative value (geometric mean for
//! exponential buckets, arithmetic mean otherwise), and the histogram is compacted.

use crate::histogram::{Bucket, FloatHistogram};
use crate::histogram_gomath::log2;

/// Which side of the threshold a trim keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrimSide {
    /// `</`: removes observations above the threshold.
    KeepBelow,
    /// `>/`: removes observations below the threshold.
    KeepAbove,
}

impl FloatHistogram {
    /// A copy of `self` with the observations beyond `threshold` removed (see the module
    /// docs). The counter-reset hint is kept.
    pub fn trim_buckets(&self, threshold: f64, side: TrimSide) -> FloatHistogram {
        let mut out = self.clone();
        let upper_trim = side == TrimSide::KeepBelow;
        let custom = self.uses_custom_buckets();
        let mut kept_count = 0.0;
        let mut kept_sum = 0.0;
        let mut trimmed = false;
        let mut has_positive = false;
        let mut has_negative = false;

        for positive in [true, false] {
            let counts = if positive {
                &mut out.positive_buckets
            } else {
                &mut out.negative_buckets
            };
            for (pos, bucket) in self.side_iter(positive, self.schema, 0.0).enumerate() {
                if bucket.count == 0.0 {
                    continue;
                }
                if positive {
                    has_positive = true;
                } else {
                    has_negative = true;
                }
                let wholly_kept = if upper_trim {
                    bucket.upper <= threshold
                } else {
                    bucket.lower >= threshold
                };
                let partly_kept = if upper_trim {
                    bucket.lower < threshold
                } else {
                    bucket.upper > threshold
                };
                if wholly_kept {
                    kept_count += bucket.count;
                    kept_sum +=
                        midpoint(bucket.lower, bucket.upper, positive, custom) * bucket.count;
                } else if partly_kept {
                    let (keep, mid) = bucket_trim(&bucket, threshold, upper_trim, positive, custom);
                    kept_count += keep;
                    kept_sum += mid * keep;
                    if let Some(c) = counts.get_mut(pos)
                        && *c != keep
                    {
                        *c = keep;
                        trimmed = true;
                    }
                } else {
                    if let Some(c) = counts.get_mut(pos) {
                        *c = 0.0;
                    }
                    trimmed = true;
                }
            }
        }

        if out.zero_count > 0.0
            && let Some(zero) = out.zero_bucket()
        {
            let (keep, mid) =
                zero_bucket_trim(&zero, threshold, has_negative, has_positive, upper_trim);
            if out.zero_count != keep {
                out.zero_count = keep;
                trimmed = true;
            }
            kept_sum += mid * keep;
            kept_count += keep;
        }

        if trimmed {
            out.count = kept_count;
            out.sum = kept_sum;
            out.compact(0);
        }
        out
    }
}

/// The representative value of a kept interval: the arithmetic mean for linear
/// (custom) buckets, the geometric mean for exponential ones; an infinite bound falls
/// back to the finite one (halved when it is a positive upper bound), zero if both are
/// infinite.
fn midpoint(lower: f64, upper: f64, positive: bool, linear: bool) -> f64 {
    if lower.is_infinite() {
        if upper.is_infinite() {
            return 0.0;
        }
        if upper > 0.0 {
            return upper / 2.0;
        }
        return upper;
    }
    if upper.is_infinite() {
        return lower;
    }
    if linear {
        return (lower + upper) / 2.0;
    }
    let geometric = (lower * upper).abs().sqrt();
    if positive { geometric } else { -geometric }
}

/// The share of the bucket's count at or below `threshold`.
fn split(b: &Bucket<f64>, threshold: f64, positive: bool, linear: bool) -> f64 {
    if threshold <= b.lower {
        return 0.0;
    }
    if threshold >= b.upper {
        return b.count;
    }
    let fraction = if linear {
        (threshold - b.lower) / (b.upper - b.lower)
    } else {
        let log_lower = log2(b.lower.abs());
        let log_upper = log2(b.upper.abs());
        let log_value = log2(threshold.abs());
        if positive {
            (log_value - log_lower) / (log_upper - log_lower)
        } else {
            1.0 - ((log_value - log_upper) / (log_lower - log_upper))
        }
    };
    b.count * fraction
}

/// Kept count and representative value of the bucket that contains the threshold.
fn bucket_trim(
    b: &Bucket<f64>,
    threshold: f64,
    upper_trim: bool,
    positive: bool,
    linear: bool,
) -> (f64, f64) {
    if b.lower == f64::NEG_INFINITY || b.upper == f64::INFINITY {
        return infinite_bucket_trim(b, threshold, upper_trim);
    }
    let below = split(b, threshold, positive, linear);
    if upper_trim {
        (below, midpoint(b.lower, threshold, positive, linear))
    } else {
        (
            b.count - below,
            midpoint(threshold, b.upper, positive, linear),
        )
    }
}

/// Buckets with an infinite bound have no known distribution, so they are mostly kept
/// or dropped whole (upstream's `handleInfinityBuckets`).
fn infinite_bucket_trim(b: &Bucket<f64>, threshold: f64, upper_trim: bool) -> (f64, f64) {
    let finite_or_zero = |x: f64| if x.is_infinite() { 0.0 } else { x };
    if b.lower == f64::NEG_INFINITY {
        if upper_trim {
            if threshold >= b.upper {
                return (b.count, 0.0);
            }
            if threshold > 0.0 && b.upper > 0.0 && b.upper != f64::INFINITY {
                // The lowest custom bucket with a positive bound starts at zero.
                return (b.count * threshold / b.upper, threshold / 2.0);
            }
            if b.upper <= 0.0 {
                return (b.count, threshold);
            }
            return (0.0, finite_or_zero(b.upper));
        }
        if threshold <= b.lower {
            return (b.count, 0.0);
        }
        if threshold >= 0.0 && b.upper > threshold && b.upper != f64::INFINITY {
            return (
                b.count * (1.0 - threshold / b.upper),
                (threshold + b.upper) / 2.0,
            );
        }
        return (0.0, finite_or_zero(b.upper));
    }
    // Upper bound +Inf.
    if upper_trim {
        return (0.0, finite_or_zero(b.lower));
    }
    if threshold >= b.lower {
        return (b.count, threshold);
    }
    (0.0, finite_or_zero(b.lower))
}

/// Kept count and representative value of the zero bucket, which is taken to lie on
/// the populated side(s) of zero only.
fn zero_bucket_trim(
    zero: &Bucket<f64>,
    threshold: f64,
    has_negative: bool,
    has_positive: bool,
    upper_trim: bool,
) -> (f64, f64) {
    let mut lower = zero.lower;
    let mut upper = zero.upper;
    if has_negative && !has_positive {
        upper = 0.0;
    }
    if has_positive && !has_negative {
        lower = 0.0;
    }
    let (fraction, mid) = if upper_trim {
        if threshold <= lower {
            return (0.0, 0.0);
        }
        if threshold >= upper {
            return (zero.count, (lower + upper) / 2.0);
        }
        (
            (threshold - lower) / (upper - lower),
            (lower + threshold) / 2.0,
        )
    } else {
        if threshold <= lower {
            return (zero.count, (lower + upper) / 2.0);
        }
        if threshold >= upper {
            return (0.0, 0.0);
        }
        (
            (upper - threshold) / (upper - lower),
            (threshold + upper) / 2.0,
        )
    };
    (zero.count * fraction, mid)
}
