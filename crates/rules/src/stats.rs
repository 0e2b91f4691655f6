//! Counters and summaries the rule manager and the sender keep about themselves, as
//! plain atomics: the binary reads them at every scrape and exposes them under
//! upstream's `prometheus_rule_*` and `prometheus_notifications_*` names.

use std::sync::atomic::{AtomicU64, Ordering};

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

pub use hearth_discovery::self_metrics::{Summary, SummarySnapshot};

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
