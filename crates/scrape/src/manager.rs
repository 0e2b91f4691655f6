//! The scrape manager (upstream's `scrape.Manager`): one pool per job, fed by the
//! discovery manager's `job → target groups` updates and reconfigured by
//! [`ScrapeManager::apply_config`].

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use hearth_config::{Config, ScrapeConfig};
use hearth_discovery::{TargetGroup, TargetSets};
use hearth_model::Labels;
use hearth_tsdb::storage::Appendable;
use parking_lot::RwLock;
use tokio::sync::{Mutex, watch};
use tokio::task::JoinHandle;

use crate::ScrapeOptions;
use crate::error::ScrapeError;
use crate::pool::{PoolEnv, PoolView, ScrapePool};
use crate::target::{ActiveTarget, DroppedTarget, GlobalUrlOptions, Target};

struct State {
    configs: HashMap<String, Arc<ScrapeConfig>>,
    pools: HashMap<String, Arc<Mutex<ScrapePool>>>,
    target_sets: HashMap<String, Vec<TargetGroup>>,
    offset_seed: u64,
}

/// Runs the scrape loops of every job.
pub struct ScrapeManager {
    env: Arc<PoolEnv>,
    shutdown: watch::Sender<bool>,
    state: Mutex<State>,
    view: RwLock<BTreeMap<String, PoolView>>,
}

/// FNV-1a 64 of the host name followed by the external labels (upstream's
/// `setOffsetSeed`), so that HA pairs scrape a target at different moments.
fn offset_seed(hostname: &str, external_labels: &Labels) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let labels = external_labels.to_string();
    for &b in hostname.as_bytes().iter().chain(labels.as_bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

impl ScrapeManager {
    /// A manager appending to `appendable`. Must be used inside a tokio runtime.
    pub fn new(appendable: Arc<dyn Appendable>, opts: ScrapeOptions) -> ScrapeManager {
        let (shutdown, rx) = watch::channel(false);
        let seed = offset_seed(&opts.hostname, &Labels::empty());
        ScrapeManager {
            env: Arc::new(PoolEnv {
                appendable,
                opts,
                shutdown: rx,
                next_loop_id: AtomicU64::new(1),
            }),
            shutdown,
            state: Mutex::new(State {
                configs: HashMap::new(),
                pools: HashMap::new(),
                target_sets: HashMap::new(),
                offset_seed: seed,
            }),
            view: RwLock::new(BTreeMap::new()),
        }
    }

    /// Applies a loaded prometheus.yml: its scrape configs (with `scrape_config_files`)
    /// and external labels.
    pub async fn apply_config(&self, cfg: &Config) -> Result<(), ScrapeError> {
        let configs = cfg
            .all_scrape_configs()
            .map_err(|e| ScrapeError::Config(e.to_string()))?;
        self.apply_scrape_configs(configs, &cfg.global.external_labels.0)
            .await
    }

    /// Upstream's `ApplyConfig`: pools of removed jobs stop (their targets get staleness
    /// markers), pools whose config changed restart their loops (handing caches over when
    /// possible) and rebuild their targets, and pools whose config is unchanged are not
    /// touched: their loops keep running without a gap.
    pub async fn apply_scrape_configs(
        &self,
        configs: Vec<ScrapeConfig>,
        external_labels: &Labels,
    ) -> Result<(), ScrapeError> {
        let mut st = self.state.lock().await;
        st.offset_seed = offset_seed(&self.env.opts.hostname, external_labels);
        st.configs = configs
            .into_iter()
            .map(|c| (c.job_name.clone(), Arc::new(c)))
            .collect();
        let mut failed = Vec::new();
        let jobs: Vec<String> = st.pools.keys().cloned().collect();
        let mut tasks: Vec<JoinHandle<Option<String>>> = Vec::new();
        for job in jobs {
            let Some(pool) = st.pools.get(&job).cloned() else {
                continue;
            };
            match st.configs.get(&job).cloned() {
                None => {
                    st.pools.remove(&job);
                    tasks.push(tokio::spawn(async move {
                        pool.lock().await.stop(true).await;
                        None
                    }));
                }
                Some(cfg) => {
                    let groups = st.target_sets.get(&job).cloned();
                    tasks.push(tokio::spawn(async move {
                        let mut p = pool.lock().await;
                        if *p.config == *cfg {
                            return None;
                        }
                        crate::stats::inc(&crate::stats::RELOADS);
                        if let Err(e) = p.reload(cfg).await {
                            crate::stats::inc(&crate::stats::RELOADS_FAILED);
                            return Some(format!("{job}: {e}"));
                        }
                        if let Some(groups) = groups {
                            p.sync(&groups).await;
                        }
                        None
                    }));
                }
            }
        }
        for t in tasks {
            if let Ok(Some(e)) = t.await {
                tracing::error!(err = %e, "error reloading scrape pool");
                failed.push(e);
            }
        }
        // Jobs new to the config start with the targets last discovered for them.
        let sets = st.target_sets.clone();
        self.sync_locked(&mut st, &sets, true).await;
        drop(st);
        if failed.is_empty() {
            Ok(())
        } else {
            Err(ScrapeError::Config(format!(
                "failed to apply the new configuration: {}",
                failed.join("; ")
            )))
        }
    }

    /// Applies one discovery update: every job's complete list of target groups.
    pub async fn sync(&self, sets: &TargetSets) {
        let mut st = self.state.lock().await;
        st.target_sets = sets.clone().into_iter().collect();
        self.sync_locked(&mut st, sets, false).await;
    }

    /// Syncs the pools of `sets` (creating missing pools for configured jobs); with
    /// `only_new`, only pools created now.
    async fn sync_locked(
        &self,
        st: &mut State,
        sets: &HashMap<String, Vec<TargetGroup>>,
        only_new: bool,
    ) {
        let mut tasks = Vec::new();
        for (job, groups) in sets {
            let pool = match st.pools.get(job) {
                Some(_) if only_new => continue,
                Some(p) => Arc::clone(p),
                None => {
                    let Some(cfg) = st.configs.get(job) else {
                        continue;
                    };
                    crate::stats::inc(&crate::stats::POOLS);
                    match ScrapePool::new(Arc::clone(cfg), Arc::clone(&self.env), st.offset_seed) {
                        Ok(p) => {
                            let p = Arc::new(Mutex::new(p));
                            st.pools.insert(job.clone(), Arc::clone(&p));
                            p
                        }
                        Err(e) => {
                            crate::stats::inc(&crate::stats::POOLS_FAILED);
                            tracing::error!(scrape_pool = %job, err = %e, "error creating new scrape pool");
                            continue;
                        }
                    }
                }
            };
            let groups = groups.clone();
            let job = job.clone();
            tasks.push(tokio::spawn(async move {
                crate::stats::synced(&job);
                pool.lock().await.sync(&groups).await;
            }));
        }
        for t in tasks {
            let _ = t.await;
        }
        let mut view = BTreeMap::new();
        for (job, p) in &st.pools {
            view.insert(job.clone(), p.lock().await.view());
        }
        *self.view.write() = view;
    }

    /// Consumes the discovery manager's updates until it or this manager stops.
    pub fn run(self: &Arc<Self>, mut updates: watch::Receiver<Arc<TargetSets>>) -> JoinHandle<()> {
        let me = Arc::clone(self);
        let mut shutdown = self.shutdown.subscribe();
        tokio::spawn(async move {
            loop {
                let sets = Arc::clone(&updates.borrow_and_update());
                me.sync(&sets).await;
                tokio::select! {
                    r = updates.changed() => if r.is_err() { return },
                    _ = shutdown.wait_for(|v| *v) => return,
                }
            }
        })
    }

    /// Stops every loop without staleness markers (the server is shutting down and will
    /// continue where it left off).
    pub async fn stop(&self) {
        let _ = self.shutdown.send(true);
        let mut st = self.state.lock().await;
        for (_, p) in st.pools.drain() {
            p.lock().await.stop(false).await;
        }
        self.view.write().clear();
    }

    /// Names of the running pools (jobs), sorted.
    /// The `prometheus_target_*` metrics (see [`crate::stats`]).
    pub fn metric_samples(&self) -> Vec<crate::stats::ScrapeMetric> {
        let jobs = self
            .targets_active()
            .into_iter()
            .map(|(job, targets)| {
                let mut u = crate::stats::JobUsage {
                    targets: targets.len(),
                    ..Default::default()
                };
                for t in &targets {
                    let (entries, bytes) = t.metadata_usage();
                    u.metadata_entries += entries;
                    u.metadata_bytes += bytes;
                }
                (job, u)
            })
            .collect();
        crate::stats::samples(&jobs)
    }

    pub fn scrape_pools(&self) -> Vec<String> {
        self.view.read().keys().cloned().collect()
    }

    /// Active targets by pool, each sorted by URL.
    pub fn targets_active(&self) -> BTreeMap<String, Vec<Arc<Target>>> {
        self.view
            .read()
            .iter()
            .map(|(k, v)| (k.clone(), v.active.clone()))
            .collect()
    }

    /// `/api/v1/targets`' active targets, by pool then URL.
    pub fn active_targets(&self, opts: &GlobalUrlOptions) -> Vec<ActiveTarget> {
        self.view
            .read()
            .values()
            .flat_map(|v| v.active.iter().map(|t| t.active_info(opts)))
            .collect()
    }

    /// Targets dropped by relabeling (at most `keep_dropped_targets` per pool).
    pub fn dropped_targets(&self) -> Vec<DroppedTarget> {
        self.view
            .read()
            .iter()
            .flat_map(|(job, v)| {
                v.dropped.iter().map(move |l| DroppedTarget {
                    discovered_labels: l.clone(),
                    scrape_pool: job.clone(),
                })
            })
            .collect()
    }

    /// Number of dropped targets per pool, whether kept or not.
    pub fn dropped_target_counts(&self) -> BTreeMap<String, usize> {
        self.view
            .read()
            .iter()
            .map(|(k, v)| (k.clone(), v.dropped_count))
            .collect()
    }

    /// The config each running pool uses.
    pub fn scrape_config(&self, job: &str) -> Option<Arc<ScrapeConfig>> {
        self.view.read().get(job).map(|v| Arc::clone(&v.config))
    }

    /// Loop identities of a pool as `(loop id, target URL)`; a loop keeps its id for
    /// its whole life, so tests (and debugging) can tell a kept loop from a restart.
    pub fn loop_ids(&self, job: &str) -> Vec<(u64, String)> {
        self.view
            .read()
            .get(job)
            .map(|v| v.loop_ids.clone())
            .unwrap_or_default()
    }
}

impl Drop for ScrapeManager {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
    }
}
