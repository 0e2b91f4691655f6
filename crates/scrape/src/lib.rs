//! Scraping: the scrape manager, its pools and one loop per target.
//!
//! This crate owns turning discovered target groups into scrape targets (target
//! relabeling, `job`/`instance`, `__scheme__`/`__metrics_path__`/`__param_*`/
//! `__scrape_interval__`/`__scrape_timeout__`, dropped targets kept for the API), the
//! [`ScrapeManager`] (one pool per job, reconfigured by `apply_config` with upstream's
//! reload semantics), the scrape loop of each target (start offset spread by target hash,
//! timeout, content negotiation from `scrape_protocols`, gzip, limits, honor_labels,
//! honor_timestamps, metric relabeling, native histograms and their conversion from
//! classic ones, exemplars, `scrape_failure_log_file`), the per-target series cache and
//! metadata, staleness markers, the report series (`up`, `scrape_duration_seconds`, …)
//! and target health for the targets API.
//!
//! Invariants:
//! - one loop per distinct target (label hash + URL) per job; a loop whose target and
//!   config did not change is never restarted by a discovery update or a reload;
//! - a series that disappears from a scrape, and every series of a target that goes away
//!   (about two intervals later, unless the target came back), gets a staleness marker;
//!   a failed scrape appends `up=0` and staleness markers for the previous scrape's
//!   series; a scrape whose append fails (parse error, sample limit, label limits) is
//!   rolled back whole;
//! - steady state does no label building or relabeling: the raw series bytes of the
//!   exposition are the cache key ([`ScrapeCache`]).
//!
//! One deliberate difference from upstream: when an append fails and is rolled back,
//! *all* series of the previous scrape get staleness markers at once (upstream skips the
//! ones that were appended before the failure, and marks them only a scrape later).
//!
//! It never knows about PromQL, the HTTP API or how configuration files are loaded: it
//! reads a validated [`hearth_config::ScrapeConfig`], writes through
//! [`hearth_tsdb::storage::Appendable`], and exposes plain structs
//! ([`ActiveTarget`], [`DroppedTarget`], [`MetricMetadata`]) for the web layer.

mod cache;
mod error;
mod failure_log;
mod format;
mod ingest;
mod manager;
mod nhcb;
mod pool;
mod scrape_loop;
mod scraper;
pub mod stats;
mod target;

pub use cache::{MetadataStore, MetricMetadata, ScrapeCache};
pub use error::ScrapeError;
pub use format::{Format, accept_header, select_format};
pub use ingest::{AppendStats, IngestConfig, ScrapeReport, pick_schema};
pub use manager::ScrapeManager;
pub use stats::ScrapeMetric;
pub use target::{
    ActiveTarget, BuiltTarget, DroppedTarget, GlobalUrlOptions, Target, TargetHealth, TargetStatus,
    global_url, populate_discovered_labels, populate_labels, targets_from_group,
};

/// Server-wide scrape settings (flags, not prometheus.yml).
#[derive(Debug, Clone)]
pub struct ScrapeOptions {
    /// `User-Agent` of scrape requests.
    pub user_agent: String,
    /// Report `scrape_timeout_seconds`, `scrape_sample_limit` and `scrape_body_size_bytes`
    /// for every job (`--enable-feature=extra-scrape-metrics`).
    pub extra_metrics: bool,
    /// Send metric metadata to the storage (`--enable-feature=metadata-wal-records`).
    pub append_metadata: bool,
    /// This host's name; with the external labels it seeds the start offsets.
    pub hostname: String,
    /// Start scraping at once instead of at the target's offset (tests).
    pub skip_offsetting: bool,
}

impl Default for ScrapeOptions {
    fn default() -> Self {
        ScrapeOptions {
            user_agent: format!("hearth/{}", env!("CARGO_PKG_VERSION")),
            extra_metrics: false,
            append_metadata: false,
            hostname: hostname(),
            skip_offsetting: false,
        }
    }
}

/// The kernel's host name, empty when unknown.
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}
