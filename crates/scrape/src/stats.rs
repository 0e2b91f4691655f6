//! The scrape side's own metrics (upstream's `prometheus_target_*`): process-wide
//! counters, as upstream registers them once per process, bumped where pools are made,
//! reloaded and synced and where scrapes hit limits or storage rejects samples.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

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
static SYNCS: Mutex<BTreeMap<String, u64>> = Mutex::new(BTreeMap::new());

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

pub use hearth_discovery::self_metrics::SelfMetric as ScrapeMetric;

fn counter(name: &'static str, help: &'static str, c: &AtomicU64) -> ScrapeMetric {
    ScrapeMetric::counter(name, help, c.load(Ordering::Relaxed))
}

/// The process-wide counters, then the per-job ones; `targets` is each job's number of
/// active targets (`prometheus_target_scrape_pool_targets`).
pub(crate) fn samples(targets: &BTreeMap<String, usize>) -> Vec<ScrapeMetric> {
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
    ];
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
    for (job, n) in targets {
        out.push(
            ScrapeMetric::gauge(
                "prometheus_target_scrape_pool_targets",
                "Current number of targets in this scrape pool.",
                *n as f64,
            )
            .with("scrape_job", job.clone()),
        );
    }
    out
}
