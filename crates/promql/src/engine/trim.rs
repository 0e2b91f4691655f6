//! The histogram trim operators `</` (keep observations up to a value) and `>/` (keep
//! observations from a value up), interpolating within the bucket that contains the
//! trim point, as upstream's `trimHistogram`.

use hearth_model::FloatHistogram;
use hearth_model::histogram::Bucket;

fn handle_infinity_buckets(is_upper_trim: bool, b: &Bucket<f64>, rhs: f64) -> (f64, f64) {
    if b.lower == f64::NEG_INFINITY {
        if is_upper_trim {
            if rhs >= b.upper {
                return (b.count, 0.0);
            }
            if rhs >= 0.0 && b.upper > rhs && b.upper.is_finite() {
                // Only custom buckets start at -Inf with a finite upper bound: treat the
                // lower bound as 0 and interpolate linearly.
                return (b.count * rhs / b.upper, (rhs + b.upper) / 2.0);
            }
            return (0.0, b.upper);
        }
        if rhs <= b.lower {
            return (b.count, 0.0);
        }
        if rhs >= 0.0 && b.upper > rhs && b.upper.is_finite() {
            return (b.count * (1.0 - rhs / b.upper), rhs / 2.0);
        }
        return (0.0, b.upper);
    }
    // The bucket reaches +Inf.
    if is_upper_trim {
        return (0.0, b.lower);
    }
    if rhs <= b.lower {
        return (b.count, 0.0);
    }
    (0.0, b.lower)
}

/// The part of the bucket's count at or below `rhs`.
fn compute_split(b: &Bucket<f64>, rhs: f64, is_positive: bool, is_linear: bool) -> f64 {
    if rhs <= b.lower {
        return 0.0;
    }
    if rhs >= b.upper {
        return b.count;
    }
    let fraction = if is_linear {
        (rhs - b.lower) / (b.upper - b.lower)
    } else {
        let log_lower = b.lower.abs().log2();
        let log_upper = b.upper.abs().log2();
        let log_v = rhs.abs().log2();
        if is_positive {
            (log_v - log_lower) / (log_upper - log_lower)
        } else {
            1.0 - ((log_v - log_upper) / (log_lower - log_upper))
        }
    };
    b.count * fraction
}

fn compute_midpoint(b: &Bucket<f64>, product: f64, is_linear: bool, is_positive: bool) -> f64 {
    if is_linear {
        return (b.lower + b.upper) / 2.0;
    }
    if is_positive {
        product.sqrt()
    } else {
        -product.sqrt()
    }
}

fn compute_bucket_trim(
    b: &Bucket<f64>,
    rhs: f64,
    is_upper_trim: bool,
    is_positive: bool,
    is_custom: bool,
) -> (f64, f64) {
    if b.lower == f64::NEG_INFINITY || b.upper == f64::INFINITY {
        return handle_infinity_buckets(is_upper_trim, b, rhs);
    }
    let under = compute_split(b, rhs, is_positive, is_custom);
    if is_upper_trim {
        let product = b.lower.abs() * rhs.abs();
        return (under, compute_midpoint(b, product, is_custom, is_positive));
    }
    let product = rhs.abs() * b.upper.abs();
    (
        b.count - under,
        compute_midpoint(b, product, is_custom, is_positive),
    )
}

/// Trims `h` in place at `rhs`: `is_upper_trim` keeps observations below `rhs` (`</`),
/// otherwise those above (`>/`); count and sum follow.
pub(crate) fn trim_histogram(h: &mut FloatHistogram, rhs: f64, is_upper_trim: bool) {
    let mut updated_count = 0.0;
    let orig_sum = h.sum;
    let mut removed_sum = 0.0;
    let (mut has_positive, mut has_negative) = (false, false);
    let is_custom = h.uses_custom_buckets();

    let positive: Vec<Bucket<f64>> = h.positive_buckets().collect();
    for (i, bucket) in positive.iter().enumerate() {
        if bucket.count == 0.0 {
            continue;
        }
        if is_custom {
            if bucket.upper <= 0.0 {
                has_negative = true;
            } else {
                if bucket.lower < 0.0 {
                    has_negative = true;
                }
                has_positive = true;
            }
        } else {
            has_positive = true;
        }
        let (keep, mut midpoint) = compute_bucket_trim(bucket, rhs, is_upper_trim, true, is_custom);
        let (entirely_kept, partially) = if is_upper_trim {
            (bucket.upper <= rhs, bucket.lower < rhs)
        } else {
            (bucket.lower >= rhs, bucket.upper > rhs)
        };
        if entirely_kept {
            updated_count += bucket.count;
        } else if partially {
            removed_sum += (bucket.count - keep) * midpoint;
            updated_count += keep;
            if let Some(c) = h.positive_buckets.get_mut(i) {
                *c = keep;
            }
        } else {
            if !is_custom {
                midpoint = (bucket.lower * bucket.upper).sqrt();
            }
            removed_sum += bucket.count * midpoint;
            if let Some(c) = h.positive_buckets.get_mut(i) {
                *c = 0.0;
            }
        }
    }

    let negative: Vec<Bucket<f64>> = h.negative_buckets().collect();
    for (i, bucket) in negative.iter().enumerate() {
        if bucket.count == 0.0 {
            continue;
        }
        has_negative = true;
        let (keep, mut midpoint) =
            compute_bucket_trim(bucket, rhs, is_upper_trim, false, is_custom);
        let (entirely_kept, partially) = if is_upper_trim {
            (bucket.upper <= rhs, bucket.lower < rhs)
        } else {
            (bucket.lower >= rhs, bucket.upper > rhs)
        };
        if entirely_kept {
            updated_count += bucket.count;
        } else if partially {
            removed_sum += (bucket.count - keep) * midpoint;
            if let Some(c) = h.negative_buckets.get_mut(i) {
                *c = keep;
            }
            updated_count += keep;
        } else {
            midpoint = (bucket.lower * bucket.upper).sqrt();
            removed_sum += bucket.count * midpoint;
            if let Some(c) = h.negative_buckets.get_mut(i) {
                *c = 0.0;
            }
        }
    }

    if h.zero_count > 0.0 {
        let zero = Bucket {
            lower: -h.zero_threshold,
            upper: h.zero_threshold,
            lower_inclusive: true,
            upper_inclusive: true,
            count: h.zero_count,
            index: 0,
        };
        let mut keep = compute_split(&zero, rhs, true, true);
        if !is_upper_trim {
            keep = h.zero_count - keep;
        }
        h.zero_count = keep;
        updated_count += keep;
    }

    let mut new_sum = 0.0;
    if updated_count != 0.0 {
        new_sum = orig_sum - removed_sum;
        if !has_negative && new_sum < 0.0 {
            new_sum = 0.0;
        }
        if !has_positive && new_sum > 0.0 {
            new_sum = 0.0;
        }
    }
    h.count = updated_count;
    h.sum = new_sum;
    h.compact(0);
}
