//! The scrape side's own metrics (upstream's `prometheus_target_*`): process-wide
//! counters, as upstream registers them once per process, bumped where pools are made,
//! reloaded and synced and where scrapes hit limits or storage rejects samples; the
//! scrape interval and sync duration summaries.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use hearth_discovery::self_metrics::Summary;
use parking_lot::Mutex;

pub(crate) static POOLS: AtomicU64 = AtomicU64::new(0);
pub(crate) static POOLS_FAILED: AtomicU64 = AtomicU64::new(0);
pub(crate) static RELOADS: AtomicU64 = AtomicU64::new(0);
pub(crate) static RELOADS_FAILED: AtomicU64 = AtomicU64::new(0);
pub(crate) static SAMPLE_LIMIT: AtomicU64 = AtomicU64::new(0);
pub(crate) static BODY_SIZE_LIMIT: AtomicU64 = AtomicU64::new(0);
pub(crate) static DUPLICATE_TIMESTAMP: AtomicU64 = AtomicU64::new(0);
pub(crate) static OUT_OF_ORDER: AtomicU64 = AtomicU64::new(0);
pub(crate) static OUT_OF_BOUNDS: AtomicU64 = AtomicU64::new(0);
pub(crate) static LABEL_LIMITS: AtomicU64 = AtomicU64::new(0);
pub(crate) static TARGET_LIMIT: AtomicU64 = AtomicU64::new(0);
pub(crate) static CACHE_FLUSH_FORCED: AtomicU64 = AtomicU64::new(0);
pub(crate) static EXEMPLAR_OUT_OF_ORDER: AtomicU64 = AtomicU64::new(0);
static SYNCS: Mutex<BTreeMap<String, u64>> = Mutex::new(BTreeMap::new());
/// Per job: `prometheus_target_sync_length_seconds` and `_sync_failed_total`.
static SYNC_LENGTH: Mutex<BTreeMap<String, (std::sync::Arc<Summary>, u64)>> =
    Mutex::new(BTreeMap::new());
/// Per configured interval (Go's form, `15s`): `prometheus_target_interval_length_seconds`.
static INTERVAL_LENGTH: Mutex<BTreeMap<String, std::sync::Arc<Summary>>> =
    Mutex::new(BTreeMap::new());

/// Upstream's objectives for the interval and sync summaries.
const QUANTILES: [f64; 5] = [0.01, 0.05, 0.5, 0.9, 0.99];

pub(crate) fn inc(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

pub(crate) fn add(c: &AtomicU64, n: u64) {
    if n > 0 {
        c.fetch_add(n, Ordering::Relaxed);
    }
}

pub(crate) fn synced(job: &str) {
    *SYNCS.lock().entry(job.to_string()).or_default() += 1;
}

/// A pool's sync took `took` and could not build `failures` targets.
pub(crate) fn sync_done(job: &str, took: Duration, failures: usize) {
    let summary = {
        let mut m = SYNC_LENGTH.lock();
        let e = m.entry(job.to_string()).or_default();
        e.1 += failures as u64;
        std::sync::Arc::clone(&e.0)
    };
    summary.observe(took.as_secs_f64());
}

/// The summary of the actual time between scrapes of loops with this interval.
pub(crate) fn interval_summary(interval: Duration) -> std::sync::Arc<Summary> {
    let key = hearth_template::gotime::format_duration(
        i64::try_from(interval.as_nanos()).unwrap_or(i64::MAX),
    );
    std::sync::Arc::clone(INTERVAL_LENGTH.lock().entry(key).or_default())
}

pub use hearth_discovery::self_metrics::SelfMetric as ScrapeMetric;

fn counter(name: &'static str, help: &'static str, c: &AtomicU64) -> ScrapeMetric {
    ScrapeMetric::counter(name, help, c.load(Ordering::Relaxed))
}

/// A per-job gauge: name, help and how to read it.
type PerJobGauge = (&'static str, &'static str, fn(&JobUsage) -> usize);

/// What the manager knows of one job for its metrics.
#[derive(Default)]
pub(crate) struct JobUsage {
    pub targets: usize,
    pub metadata_entries: usize,
    pub metadata_bytes: usize,
}

/// The process-wide counters, then the per-job ones (`jobs`: each running job's active
/// targets and metadata cache use).
pub(crate) fn samples(jobs: &BTreeMap<String, JobUsage>) -> Vec<ScrapeMetric> {
    let mut out = vec![
        counter(
            "prometheus_target_scrape_pools_total",
            "Total number of scrape pool creation attempts.",
            &POOLS,
        ),
        counter(
            "prometheus_target_scrape_pools_failed_total",
            "Total number of scrape pool creations that failed.",
            &POOLS_FAILED,
        ),
        counter(
            "prometheus_target_scrape_pool_reloads_total",
            "Total number of scrape pool reloads.",
            &RELOADS,
        ),
        counter(
            "prometheus_target_scrape_pool_reloads_failed_total",
            "Total number of failed scrape pool reloads.",
            &RELOADS_FAILED,
        ),
        counter(
            "prometheus_target_scrapes_exceeded_sample_limit_total",
            "Total number of scrapes that hit the sample limit and were rejected.",
            &SAMPLE_LIMIT,
        ),
        counter(
            "prometheus_target_scrapes_exceeded_body_size_limit_total",
            "Total number of scrapes that hit the body size limit",
            &BODY_SIZE_LIMIT,
        ),
        counter(
            "prometheus_target_scrapes_sample_duplicate_timestamp_total",
            "Total number of samples rejected due to duplicate timestamps but different values.",
            &DUPLICATE_TIMESTAMP,
        ),
        counter(
            "prometheus_target_scrapes_sample_out_of_order_total",
            "Total number of samples rejected due to not being out of the expected order.",
            &OUT_OF_ORDER,
        ),
        counter(
            "prometheus_target_scrapes_sample_out_of_bounds_total",
            "Total number of samples rejected due to timestamp falling outside of the time bounds.",
            &OUT_OF_BOUNDS,
        ),
        counter(
            "prometheus_target_scrape_pool_exceeded_label_limits_total",
            "Total number of times scrape pools hit the label limits, during sync or config reload.",
            &LABEL_LIMITS,
        ),
        counter(
            "prometheus_target_scrape_pool_exceeded_target_limit_total",
            "Total number of times scrape pools hit the target limit, during sync or config reload.",
            &TARGET_LIMIT,
        ),
        counter(
            "prometheus_target_scrapes_cache_flush_forced_total",
            "How many times a scrape cache was flushed due to getting big while scrapes are failing.",
            &CACHE_FLUSH_FORCED,
        ),
        counter(
            "prometheus_target_scrapes_exemplar_out_of_order_total",
            "Total number of exemplar rejected due to not being out of the expected order.",
            &EXEMPLAR_OUT_OF_ORDER,
        ),
    ];
    for (interval, s) in INTERVAL_LENGTH.lock().iter() {
        out.push(
            ScrapeMetric::summary(
                "prometheus_target_interval_length_seconds",
                "Actual intervals between scrapes.",
                s.snapshot(&QUANTILES),
            )
            .with("interval", interval.clone()),
        );
    }
    let sync = SYNC_LENGTH.lock();
    for (job, (s, _)) in sync.iter() {
        out.push(
            ScrapeMetric::summary(
                "prometheus_target_sync_length_seconds",
                "Actual interval to sync the scrape pool.",
                s.snapshot(&QUANTILES),
            )
            .with("scrape_job", job.clone()),
        );
    }
    for (job, (_, failed)) in sync.iter() {
        out.push(
            ScrapeMetric::counter(
                "prometheus_target_sync_failed_total",
                "Total number of target sync failures.",
                *failed,
            )
            .with("scrape_job", job.clone()),
        );
    }
    drop(sync);
    for (job, n) in SYNCS.lock().iter() {
        out.push(
            ScrapeMetric::counter(
                "prometheus_target_scrape_pool_sync_total",
                "Total number of syncs that were executed on a scrape pool.",
                *n,
            )
            .with("scrape_job", job.clone()),
        );
    }
    let per_job: [PerJobGauge; 3] = [
        (
            "prometheus_target_scrape_pool_targets",
            "Current number of targets in this scrape pool.",
            |u| u.targets,
        ),
        (
            "prometheus_target_metadata_cache_entries",
            "Total number of metric metadata entries in the cache",
            |u| u.metadata_entries,
        ),
        (
            "prometheus_target_metadata_cache_bytes",
            "The number of bytes that are currently used for storing metric metadata in the cache",
            |u| u.metadata_bytes,
        ),
    ];
    for (name, help, value) in per_job {
        for (job, u) in jobs {
            out.push(
                ScrapeMetric::gauge(name, help, value(u) as f64).with("scrape_job", job.clone()),
            );
        }
    }
    out
}
