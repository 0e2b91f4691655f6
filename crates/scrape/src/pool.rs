//! A scrape pool: the loops of one job (upstream's `scrapePool`). `sync` turns target
//! groups into targets and starts, keeps or stops loops by target identity; `reload`
//! restarts every loop with a new config, handing over caches when the change cannot
//! alter the series.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use hashbrown::HashMap;
use hearth_config::ScrapeConfig;
use hearth_discovery::http_client::EndpointClient;
use hearth_discovery::{HttpClientConfig, TargetGroup};
use hearth_model::{Labels, LabelsBuilder};
use hearth_tsdb::storage::Appendable;
use parking_lot::Mutex;
use tokio::sync::watch;

use crate::ScrapeOptions;
use crate::cache::ScrapeCache;
use crate::error::ScrapeError;
use crate::failure_log::FailureLog;
use crate::format::accept_header;
use crate::ingest::IngestConfig;
use crate::scrape_loop::{LoopHandle, LoopShared, ScrapeLoop};
use crate::scraper::TargetScraper;
use crate::target::{BuiltTarget, Target, targets_from_group};

/// What every pool of a manager shares.
pub(crate) struct PoolEnv {
    pub appendable: Arc<dyn Appendable>,
    pub opts: ScrapeOptions,
    pub shutdown: watch::Receiver<bool>,
    pub next_loop_id: AtomicU64,
}

/// A pool as the API sees it.
#[derive(Clone)]
pub(crate) struct PoolView {
    pub config: Arc<ScrapeConfig>,
    pub active: Vec<Arc<Target>>,
    pub dropped: Vec<Labels>,
    pub dropped_count: usize,
    pub loop_ids: Vec<(u64, String)>,
}

pub(crate) struct ScrapePool {
    pub config: Arc<ScrapeConfig>,
    failure_log: Option<Arc<FailureLog>>,
    client: reqwest::Client,
    /// The job's OAuth2 token source, shared by its targets.
    oauth2: Option<Arc<hearth_discovery::oauth2::OAuth2Token>>,
    http: Arc<HttpClientConfig>,
    env: Arc<PoolEnv>,
    pub offset_seed: u64,
    loops: HashMap<u64, LoopHandle>,
    dropped: Vec<Labels>,
    dropped_count: usize,
}

type OAuth2Source = Option<Arc<hearth_discovery::oauth2::OAuth2Token>>;

fn build_client(
    cfg: &ScrapeConfig,
    env: &PoolEnv,
) -> Result<(reqwest::Client, OAuth2Source), ScrapeError> {
    let err =
        |e: hearth_discovery::http_client::HttpClientError| ScrapeError::Client(e.to_string());
    let client = cfg
        .http_client
        .build_client(&env.opts.user_agent)
        .map_err(err)?;
    let oauth2 = cfg
        .http_client
        .oauth2_token(&env.opts.user_agent)
        .map_err(err)?;
    Ok((client, oauth2))
}

/// The job's `scrape_failure_log_file`, if set and writable (else logged and skipped).
fn open_failure_log(cfg: &ScrapeConfig) -> Option<Arc<FailureLog>> {
    let path = &cfg.scrape_failure_log_file;
    if path.is_empty() {
        return None;
    }
    match FailureLog::open(std::path::Path::new(path)) {
        Ok(l) => Some(Arc::new(l)),
        Err(e) => {
            tracing::error!(scrape_pool = %cfg.job_name, file = %path, err = %e, "cannot open the scrape failure log");
            None
        }
    }
}

/// Upstream's `reusableCache`: configs equal but for interval, timeout, sample limit
/// and HTTP client settings, none of which can change a series.
fn reusable_cache(a: &ScrapeConfig, b: &ScrapeConfig) -> bool {
    let zero = |c: &ScrapeConfig| {
        let mut z = c.clone();
        z.scrape_interval = Default::default();
        z.scrape_timeout = Default::default();
        z.sample_limit = 0;
        z.http_client = HttpClientConfig::default();
        z
    };
    zero(a) == zero(b)
}

impl ScrapePool {
    pub fn new(
        config: Arc<ScrapeConfig>,
        env: Arc<PoolEnv>,
        offset_seed: u64,
    ) -> Result<ScrapePool, ScrapeError> {
        let (client, oauth2) = build_client(&config, &env)?;
        Ok(ScrapePool {
            oauth2,
            failure_log: open_failure_log(&config),
            http: Arc::new(config.http_client.clone()),
            config,
            client,
            env,
            offset_seed,
            loops: HashMap::new(),
            dropped: Vec::new(),
            dropped_count: 0,
        })
    }

    fn new_loop(&self, target: Arc<Target>, cache: Option<Arc<Mutex<ScrapeCache>>>) -> LoopHandle {
        let cfg = &self.config;
        let (interval, timeout, own_error) = match target
            .interval_and_timeout(cfg.scrape_interval.to_std(), cfg.scrape_timeout.to_std())
        {
            Ok((i, t)) => (i, t, None),
            Err(e) => (
                cfg.scrape_interval.to_std(),
                cfg.scrape_timeout.to_std(),
                Some(ScrapeError::TargetConfig(e)),
            ),
        };
        let cache = cache.unwrap_or_default();
        target.set_metadata_store(Arc::clone(cache.lock().metadata()));
        let mut icfg = IngestConfig::new(cfg, target.labels().clone(), timeout);
        icfg.append_metadata = self.env.opts.append_metadata;
        icfg.extra_metrics |= self.env.opts.extra_metrics;
        let escaping = if cfg.metric_name_escaping_scheme.is_empty() {
            "allow-utf-8"
        } else {
            cfg.metric_name_escaping_scheme.as_str()
        };
        let (endpoint, own_error) = match self.http.endpoint_client_sharing(
            &self.client,
            &self.env.opts.user_agent,
            target.url(),
        ) {
            Ok(e) => (e, own_error),
            Err(e) => (
                EndpointClient::unchanged(self.client.clone(), target.url()),
                Some(ScrapeError::Client(e.to_string())),
            ),
        };
        let scraper = TargetScraper {
            endpoint,
            oauth2: self.oauth2.clone(),
            http: Arc::clone(&self.http),
            url: target.url().to_string(),
            accept: accept_header(&cfg.scrape_protocols, escaping),
            accept_encoding: if cfg.enable_compression {
                "gzip"
            } else {
                "identity"
            },
            timeout,
            body_size_limit: cfg.body_size_limit.0,
        };
        let shared = Arc::new(LoopShared {
            cache,
            forced_error: Mutex::new(own_error.clone()),
            no_end_staleness: AtomicBool::new(false),
        });
        let l = ScrapeLoop {
            target,
            scraper,
            cfg: icfg,
            interval,
            appendable: Arc::clone(&self.env.appendable),
            shared,
            offset_seed: self.offset_seed,
            skip_offsetting: self.env.opts.skip_offsetting,
            buf: Vec::new(),
            failure_log: self
                .failure_log
                .as_ref()
                .map(|l| (Arc::clone(l), cfg.job_name.clone())),
        };
        let id = self.env.next_loop_id.fetch_add(1, Ordering::Relaxed);
        let mut h = LoopHandle::new(id, l, self.env.shutdown.clone());
        h.own_error = own_error;
        h
    }

    fn target_limit_error(&self) -> Option<ScrapeError> {
        let limit = self.config.target_limit;
        (limit > 0 && self.loops.len() as u64 > limit).then(|| {
            crate::stats::inc(&crate::stats::TARGET_LIMIT);
            ScrapeError::TargetLimit {
                targets: self.loops.len(),
                limit,
            }
        })
    }

    /// Upstream's `Sync`: builds the targets of `groups`, starts loops for new targets,
    /// stops the loops of targets that are gone (they write staleness markers), and
    /// returns once those have stopped scraping.
    pub async fn sync(&mut self, groups: &[TargetGroup]) {
        let sync_start = std::time::Instant::now();
        let mut failed = 0;
        let mut lb = LabelsBuilder::new();
        let mut all = Vec::new();
        self.dropped.clear();
        self.dropped_count = 0;
        let keep = self.config.keep_dropped_targets;
        for g in groups {
            let (built, failures) = targets_from_group(g, &self.config, &mut lb);
            failed += failures.len();
            for f in failures {
                tracing::error!(scrape_pool = %self.config.job_name, err = %f, "Creating target failed");
            }
            for b in built {
                match b {
                    BuiltTarget::Active(t) => all.push(t),
                    BuiltTarget::Dropped(l) => {
                        if keep == 0 || (self.dropped.len() as u64) < keep {
                            self.dropped.push(l);
                        }
                        self.dropped_count += 1;
                    }
                }
            }
        }
        let mut unique = HashSet::new();
        let mut started = Vec::new();
        for t in all {
            let hash = t.hash();
            unique.insert(hash);
            if let Some(l) = self.loops.get(&hash) {
                l.target.set_discovered_labels(t.discovered_labels());
                continue;
            }
            let h = self.new_loop(Arc::new(t), None);
            self.loops.insert(hash, h);
            started.push(hash);
        }
        let mut removed: Vec<LoopHandle> = self
            .loops
            .extract_if(|h, _| !unique.contains(h))
            .map(|(_, l)| l)
            .collect();
        for l in &removed {
            l.signal_stop();
        }
        for l in &mut removed {
            l.wait_stopped().await;
        }
        let forced = self.target_limit_error();
        for l in self.loops.values() {
            l.set_forced_error(forced.clone());
        }
        for hash in started {
            if let Some(l) = self.loops.get_mut(&hash) {
                l.start();
            }
        }
        crate::stats::sync_done(&self.config.job_name, sync_start.elapsed(), failed);
    }

    /// Upstream's `reload`: every loop restarts with `config`; targets stay until the
    /// next sync. Fails (keeping the old config) when the HTTP client cannot be built.
    pub async fn reload(&mut self, config: Arc<ScrapeConfig>) -> Result<(), ScrapeError> {
        let (client, oauth2) = build_client(&config, &self.env)?;
        self.oauth2 = oauth2;
        let reuse = reusable_cache(&self.config, &config);
        if config.scrape_failure_log_file != self.config.scrape_failure_log_file {
            self.failure_log = open_failure_log(&config);
        }
        self.http = Arc::new(config.http_client.clone());
        self.config = config;
        self.client = client;
        let mut old: Vec<(u64, LoopHandle)> = self.loops.drain().collect();
        for (_, l) in &old {
            if reuse {
                l.shared.no_end_staleness.store(true, Ordering::Release);
            }
            l.signal_stop();
        }
        let mut fresh = Vec::with_capacity(old.len());
        for (hash, l) in &mut old {
            l.wait_stopped().await;
            let cache = reuse.then(|| Arc::clone(&l.shared.cache));
            fresh.push((*hash, self.new_loop(Arc::clone(&l.target), cache)));
        }
        self.loops.extend(fresh);
        let forced = self.target_limit_error();
        for l in self.loops.values_mut() {
            l.set_forced_error(forced.clone());
            l.start();
        }
        Ok(())
    }

    /// Stops every loop. With `staleness`, each writes its end-of-run staleness markers
    /// (the job was removed); without, the server is shutting down.
    pub async fn stop(&mut self, staleness: bool) {
        let mut loops: Vec<LoopHandle> = self.loops.drain().map(|(_, l)| l).collect();
        for l in &loops {
            if !staleness {
                l.shared.no_end_staleness.store(true, Ordering::Release);
            }
            l.signal_stop();
        }
        for l in &mut loops {
            l.wait_stopped().await;
        }
    }

    pub fn view(&self) -> PoolView {
        let mut active: Vec<Arc<Target>> =
            self.loops.values().map(|l| Arc::clone(&l.target)).collect();
        active.sort_by(|a, b| a.url().cmp(b.url()));
        let mut loop_ids: Vec<(u64, String)> = self
            .loops
            .values()
            .map(|l| (l.id, l.target.url().to_string()))
            .collect();
        loop_ids.sort_by(|a, b| a.1.cmp(&b.1));
        PoolView {
            config: Arc::clone(&self.config),
            active,
            dropped: self.dropped.clone(),
            dropped_count: self.dropped_count,
            loop_ids,
        }
    }
}
