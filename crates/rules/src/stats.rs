//! Counters and summaries the rule manager and the sender keep about themselves, as
//! plain atomics: the binary reads them at every scrape and exposes them under
//! upstream's `prometheus_rule_*` and `prometheus_notifications_*` names.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// An `f64` behind an [`AtomicU64`].
#[derive(Debug, Default)]
pub struct AtomicF64(AtomicU64);

impl AtomicF64 {
    pub fn get(&self) -> f64 {
        f64::from_bits(self.0.load(Ordering::Relaxed))
    }

    pub fn set(&self, v: f64) {
        self.0.store(v.to_bits(), Ordering::Relaxed);
    }
}

/// How long observations count towards a summary's quantiles (client_golang's default
/// `MaxAge`).
const SUMMARY_MAX_AGE: Duration = Duration::from_secs(600);
/// At most this many recent observations are kept for the quantiles.
const SUMMARY_MAX_WINDOW: usize = 10_000;

#[derive(Debug, Default)]
struct SummaryInner {
    count: u64,
    sum: f64,
    window: VecDeque<(Instant, f64)>,
}

/// A summary as client_golang's: a count and sum over all time, quantiles over the
/// observations of the last 10 minutes (exact over a bounded window instead of
/// client_golang's streaming estimate).
#[derive(Debug, Default)]
pub struct Summary {
    inner: Mutex<SummaryInner>,
}

/// What a summary reports: `(quantile, value)` pairs (NaN without recent
/// observations), the sum and the count.
#[derive(Debug, Clone, PartialEq)]
pub struct SummarySnapshot {
    pub quantiles: Vec<(f64, f64)>,
    pub sum: f64,
    pub count: u64,
}

impl Summary {
    pub fn observe(&self, v: f64) {
        let now = Instant::now();
        let mut s = self.inner.lock();
        s.count += 1;
        s.sum += v;
        if s.window.len() >= SUMMARY_MAX_WINDOW {
            s.window.pop_front();
        }
        s.window.push_back((now, v));
    }

    pub fn snapshot(&self, quantiles: &[f64]) -> SummarySnapshot {
        let now = Instant::now();
        let mut s = self.inner.lock();
        while s
            .window
            .front()
            .is_some_and(|(t, _)| now.duration_since(*t) > SUMMARY_MAX_AGE)
        {
            s.window.pop_front();
        }
        let mut values: Vec<f64> = s.window.iter().map(|(_, v)| *v).collect();
        values.sort_by(f64::total_cmp);
        let quantiles = quantiles.iter().map(|&q| (q, rank(&values, q))).collect();
        SummarySnapshot {
            quantiles,
            sum: s.sum,
            count: s.count,
        }
    }
}

/// The `q` quantile of sorted `values` by nearest rank; NaN when empty.
fn rank(values: &[f64], q: f64) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    let n = values.len() as f64;
    let idx = ((q * n).ceil() as usize).clamp(1, values.len()) - 1;
    values[idx]
}

/// A classic histogram with fixed upper bounds.
#[derive(Debug)]
pub struct Histogram {
    bounds: &'static [f64],
    inner: Mutex<(Vec<u64>, f64, u64)>,
}

/// Cumulative bucket counts (`(le, count)`, `+Inf` last), sum and count.
#[derive(Debug, Clone, PartialEq)]
pub struct HistogramSnapshot {
    pub buckets: Vec<(f64, u64)>,
    pub sum: f64,
    pub count: u64,
}

impl Histogram {
    pub fn new(bounds: &'static [f64]) -> Histogram {
        Histogram {
            bounds,
            inner: Mutex::new((vec![0; bounds.len()], 0.0, 0)),
        }
    }

    pub fn observe(&self, v: f64) {
        let mut h = self.inner.lock();
        if let Some(i) = self.bounds.iter().position(|b| v <= *b) {
            h.0[i] += 1;
        }
        h.1 += v;
        h.2 += 1;
    }

    pub fn snapshot(&self) -> HistogramSnapshot {
        let h = self.inner.lock();
        let mut acc = 0;
        let mut buckets: Vec<(f64, u64)> = self
            .bounds
            .iter()
            .zip(&h.0)
            .map(|(b, c)| {
                acc += c;
                (*b, acc)
            })
            .collect();
        buckets.push((f64::INFINITY, h.2));
        HistogramSnapshot {
            buckets,
            sum: h.1,
            count: h.2,
        }
    }
}

/// What one rule group counts (upstream's per-`rule_group` series). Shared by the
/// group versions a reload replaces one another with, so counters continue.
#[derive(Debug, Default)]
pub struct GroupStats {
    /// `prometheus_rule_evaluations_total`.
    pub evaluations: AtomicU64,
    /// `prometheus_rule_evaluation_failures_total`.
    pub failures: AtomicU64,
    /// `prometheus_rule_group_iterations_total` (executed and missed).
    pub iterations: AtomicU64,
    /// `prometheus_rule_group_iterations_missed_total`.
    pub missed: AtomicU64,
    /// `prometheus_rule_group_last_duration_seconds`.
    pub last_duration: AtomicF64,
    /// `prometheus_rule_group_last_evaluation_timestamp_seconds` (wall clock at start).
    pub last_evaluation_timestamp: AtomicF64,
    /// `prometheus_rule_group_last_evaluation_samples`.
    pub last_samples: AtomicU64,
    /// `prometheus_rule_group_last_rule_duration_sum_seconds`.
    pub last_rule_duration_sum: AtomicF64,
    /// `prometheus_rule_group_last_restore_duration_seconds`.
    pub last_restore_duration: AtomicF64,
}

impl GroupStats {
    pub fn add(c: &AtomicU64, n: u64) {
        c.fetch_add(n, Ordering::Relaxed);
    }

    pub fn load(c: &AtomicU64) -> u64 {
        c.load(Ordering::Relaxed)
    }
}

/// What every group adds to (upstream's unlabeled summaries).
#[derive(Debug, Default)]
pub struct ManagerStats {
    /// `prometheus_rule_evaluation_duration_seconds` (0.5, 0.9, 0.99).
    pub rule_duration: Summary,
    /// `prometheus_rule_group_duration_seconds` (0.01, 0.05, 0.5, 0.9, 0.99).
    pub group_duration: Summary,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_quantiles_and_totals() {
        let s = Summary::default();
        assert!(s.snapshot(&[0.5]).quantiles[0].1.is_nan());
        for v in 1..=100 {
            s.observe(f64::from(v));
        }
        let snap = s.snapshot(&[0.5, 0.9, 0.99]);
        assert_eq!(snap.count, 100);
        assert_eq!(snap.sum, 5050.0);
        assert_eq!(snap.quantiles, vec![(0.5, 50.0), (0.9, 90.0), (0.99, 99.0)]);
    }

    #[test]
    fn histogram_is_cumulative() {
        let h = Histogram::new(&[0.1, 1.0]);
        for v in [0.05, 0.5, 0.7, 5.0] {
            h.observe(v);
        }
        let s = h.snapshot();
        assert_eq!(s.buckets, vec![(0.1, 1), (1.0, 3), (f64::INFINITY, 4)]);
        assert_eq!(s.count, 4);
    }
}
