//! Samples of hearth's own SD and scrape metrics (upstream's `prometheus_sd_*`, and the
//! scrape crate's `prometheus_target_*`), in a form the binary exposes at `/metrics`;
//! the [`Summary`] they (and the rule manager) keep; and the process-wide counters of the
//! file, DNS and HTTP mechanisms.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// The value of one own-metric sample.
#[derive(Clone, Debug, PartialEq)]
pub enum SelfValue {
    Counter(f64),
    Gauge(f64),
    Summary(SummarySnapshot),
}

/// One sample of an own metric (for a summary, its quantiles, sum and count).
#[derive(Clone, Debug, PartialEq)]
pub struct SelfMetric {
    pub name: &'static str,
    pub help: &'static str,
    pub labels: Vec<(&'static str, String)>,
    pub value: SelfValue,
}

impl SelfMetric {
    pub fn counter(name: &'static str, help: &'static str, value: u64) -> SelfMetric {
        SelfMetric {
            name,
            help,
            labels: Vec::new(),
            value: SelfValue::Counter(value as f64),
        }
    }

    pub fn gauge(name: &'static str, help: &'static str, value: f64) -> SelfMetric {
        SelfMetric {
            name,
            help,
            labels: Vec::new(),
            value: SelfValue::Gauge(value),
        }
    }

    pub fn summary(name: &'static str, help: &'static str, value: SummarySnapshot) -> SelfMetric {
        SelfMetric {
            name,
            help,
            labels: Vec::new(),
            value: SelfValue::Summary(value),
        }
    }

    pub fn with(mut self, name: &'static str, value: impl Into<String>) -> SelfMetric {
        self.labels.push((name, value.into()));
        self
    }

    /// The counter's or gauge's value (a summary's count).
    pub fn number(&self) -> f64 {
        match &self.value {
            SelfValue::Counter(v) | SelfValue::Gauge(v) => *v,
            SelfValue::Summary(s) => s.count as f64,
        }
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
    pub const fn new() -> Summary {
        Summary {
            inner: Mutex::new(SummaryInner {
                count: 0,
                sum: 0.0,
                window: VecDeque::new(),
            }),
        }
    }

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

/// The process-wide counters of the file, DNS and HTTP mechanisms (upstream registers
/// them once per process).
pub(crate) static FILE_READ_ERRORS: AtomicU64 = AtomicU64::new(0);
pub(crate) static FILE_SCAN_DURATION: Summary = Summary::new();
pub(crate) static DNS_LOOKUPS: AtomicU64 = AtomicU64::new(0);
pub(crate) static DNS_LOOKUP_FAILURES: AtomicU64 = AtomicU64::new(0);
pub(crate) static HTTP_FAILURES: AtomicU64 = AtomicU64::new(0);

pub(crate) fn inc(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

/// The samples of the mechanisms' process-wide metrics.
pub(crate) fn mechanism_samples() -> Vec<SelfMetric> {
    let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
    vec![
        SelfMetric::counter(
            "prometheus_sd_file_read_errors_total",
            "The number of File-SD read errors.",
            load(&FILE_READ_ERRORS),
        ),
        SelfMetric::summary(
            "prometheus_sd_file_scan_duration_seconds",
            "The duration of the File-SD scan in seconds.",
            FILE_SCAN_DURATION.snapshot(&[0.5, 0.9, 0.99]),
        ),
        SelfMetric::counter(
            "prometheus_sd_dns_lookups_total",
            "The number of DNS-SD lookups.",
            load(&DNS_LOOKUPS),
        ),
        SelfMetric::counter(
            "prometheus_sd_dns_lookup_failures_total",
            "The number of DNS-SD lookup failures.",
            load(&DNS_LOOKUP_FAILURES),
        ),
        SelfMetric::counter(
            "prometheus_sd_http_failures_total",
            "Number of HTTP service discovery refresh failures.",
            load(&HTTP_FAILURES),
        ),
    ]
}
