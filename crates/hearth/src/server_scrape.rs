//! The server's scraping: the discovery manager feeding the scrape manager, reconfigured
//! on every successful reload, and the targets API's view of it.
//!
//! [`LateTargets`] is what the HTTP API holds from the start: no targets until scraping
//! starts, which is once the data directory is open (as upstream, nothing is scraped
//! before the storage is ready).

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use hearth_config::Config;
use hearth_discovery::self_metrics::SelfMetric;
use hearth_discovery::{DiscoveryManager, DiscoveryMetrics};
use hearth_model::Labels;
use hearth_scrape::{GlobalUrlOptions, ScrapeManager, ScrapeOptions};
use hearth_tsdb::storage::Appendable;
use hearth_web::json::format_go_time;
use hearth_web::{ActiveTarget, DroppedTarget, MetricMetadata, TargetHealth, TargetsSource};
use tokio::task::JoinHandle;

/// Discovery and scraping, running.
pub struct ServerScrape {
    manager: Arc<ScrapeManager>,
    discovery: DiscoveryManager,
    runner: JoinHandle<()>,
}

impl ServerScrape {
    /// Starts scraping what `config` says into `storage`. Must run inside tokio.
    pub async fn start(storage: Arc<dyn Appendable>, config: &Config) -> ServerScrape {
        let opts = ScrapeOptions::default();
        let mut discovery = DiscoveryManager::new(&opts.user_agent);
        let manager = Arc::new(ScrapeManager::new(storage, opts));
        if let Err(e) = manager.apply_config(config).await {
            tracing::error!(err = %e, "applying the scrape configuration");
        }
        discovery.apply_config(&Config::scrape_discovery(&config.scrape_configs));
        let runner = manager.run(discovery.subscribe());
        ServerScrape {
            manager,
            discovery,
            runner,
        }
    }

    pub fn manager(&self) -> Arc<ScrapeManager> {
        self.manager.clone()
    }

    pub fn discovery_metrics(&self) -> DiscoveryMetrics {
        self.discovery.metrics()
    }

    /// A reloaded configuration: unchanged jobs keep their loops.
    pub async fn apply_config(&mut self, config: &Config) -> Result<(), String> {
        self.manager
            .apply_config(config)
            .await
            .map_err(|e| e.to_string())?;
        self.discovery
            .apply_config(&Config::scrape_discovery(&config.scrape_configs));
        Ok(())
    }

    /// Stops every loop (no staleness markers: the next start continues).
    pub async fn stop(self) {
        self.manager.stop().await;
        let _ = self.runner.await;
    }
}

/// The targets API's source: empty until scraping starts.
pub struct LateTargets {
    inner: OnceLock<Arc<ScrapeManager>>,
    discovery: OnceLock<DiscoveryMetrics>,
    url: GlobalUrlOptions,
}

impl LateTargets {
    pub fn new(url: GlobalUrlOptions) -> LateTargets {
        LateTargets {
            inner: OnceLock::new(),
            discovery: OnceLock::new(),
            url,
        }
    }

    pub fn set(&self, m: Arc<ScrapeManager>, discovery: DiscoveryMetrics) {
        let _ = self.inner.set(m);
        let _ = self.discovery.set(discovery);
    }

    /// The `prometheus_sd_*` and `prometheus_target_*` metrics, once scraping runs.
    pub fn metric_families(&self) -> Vec<hearth_exposition::MetricFamily> {
        let mut out: Vec<SelfMetric> = Vec::new();
        if let Some(d) = self.discovery.get() {
            out.extend(d.samples("scrape"));
        }
        if let Some(m) = self.inner.get() {
            out.extend(m.metric_samples());
        }
        crate::own_metrics::self_metric_families(&out)
    }
}

fn health(h: hearth_scrape::TargetHealth) -> TargetHealth {
    match h {
        hearth_scrape::TargetHealth::Up => TargetHealth::Up,
        hearth_scrape::TargetHealth::Down => TargetHealth::Down,
        hearth_scrape::TargetHealth::Unknown => TargetHealth::Unknown,
    }
}

fn metadata(m: hearth_scrape::MetricMetadata) -> MetricMetadata {
    MetricMetadata {
        metric: m.metric_family,
        metric_type: m.metric_type,
        help: m.help,
        unit: m.unit,
    }
}

impl TargetsSource for LateTargets {
    fn active(&self) -> Vec<ActiveTarget> {
        let Some(m) = self.inner.get() else {
            return Vec::new();
        };
        m.active_targets(&self.url)
            .into_iter()
            .map(|t| ActiveTarget {
                discovered_labels: t.discovered_labels,
                labels: t.labels,
                scrape_pool: t.scrape_pool,
                scrape_url: t.scrape_url,
                global_url: t.global_url,
                last_error: t.last_error,
                last_scrape: format_go_time(
                    t.last_scrape.map(hearth_model::sample::system_time_ms),
                ),
                last_scrape_duration: t.last_scrape_duration.as_secs_f64(),
                health: health(t.health),
                scrape_interval: t.scrape_interval,
                scrape_timeout: t.scrape_timeout,
            })
            .collect()
    }

    fn dropped(&self) -> Vec<DroppedTarget> {
        let Some(m) = self.inner.get() else {
            return Vec::new();
        };
        m.dropped_targets()
            .into_iter()
            .map(|t| DroppedTarget {
                discovered_labels: t.discovered_labels,
                scrape_pool: t.scrape_pool,
            })
            .collect()
    }

    fn dropped_counts(&self) -> BTreeMap<String, usize> {
        self.inner
            .get()
            .map(|m| m.dropped_target_counts())
            .unwrap_or_default()
    }

    fn metadata(&self, metric: Option<&str>) -> Vec<(Labels, Vec<MetricMetadata>)> {
        let Some(m) = self.inner.get() else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for targets in m.targets_active().into_values() {
            for t in targets {
                let list = match metric {
                    Some(name) => t.get_metadata(name).into_iter().collect(),
                    None => t.list_metadata(),
                };
                out.push((t.labels().clone(), list.into_iter().map(metadata).collect()));
            }
        }
        out
    }
}
