//! The discovery manager: runs one provider per distinct SD configuration (jobs with
//! identical configurations share it, as upstream), keeps every provider's latest groups
//! per job, and publishes the whole `job → groups` map at most once per update interval
//! (upstream's 5 s `updatert`), so bursts of updates reach the scrape manager as one.
//! [`DiscoveryMetrics`] reads its `prometheus_sd_*` metrics.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::discoverer::{Discoverer, StaticDiscoverer};
use crate::dns::DnsDiscoverer;
use crate::file::FileDiscoverer;
use crate::http::HttpDiscoverer;
use crate::kubernetes::KubernetesDiscoverer;
use crate::sd_config::{SdConfig, ServiceDiscoveryConfigs};
use crate::self_metrics::SelfMetric;
use crate::target_group::TargetGroup;

/// Every job's target groups, as published by the manager.
pub type TargetSets = HashMap<String, Vec<TargetGroup>>;

/// Makes the discoverer for one configuration; an error is logged and the configuration
/// skipped (its jobs still appear, with no targets), as upstream.
pub type DiscovererFactory = dyn Fn(&SdConfig) -> Result<Box<dyn Discoverer>, String> + Send + Sync;

/// Upstream's `updatert`.
pub const DEFAULT_UPDATE_INTERVAL: Duration = Duration::from_secs(5);

/// The built-in mechanisms: static, file, HTTP, DNS and Kubernetes.
pub fn default_discoverer(cfg: &SdConfig, user_agent: &str) -> Result<Box<dyn Discoverer>, String> {
    Ok(match cfg {
        SdConfig::Static(groups) => Box::new(StaticDiscoverer::new(groups.clone())),
        SdConfig::File(c) => Box::new(FileDiscoverer::new(c.clone())),
        SdConfig::Http(c) => {
            Box::new(HttpDiscoverer::new(c.clone(), user_agent).map_err(|e| e.to_string())?)
        }
        SdConfig::Dns(c) => Box::new(DnsDiscoverer::new(c.clone()).map_err(|e| e.to_string())?),
        SdConfig::Kubernetes(c) => {
            Box::new(KubernetesDiscoverer::new(c.clone(), user_agent).map_err(|e| e.to_string())?)
        }
    })
}

struct Provider {
    id: usize,
    config: SdConfig,
    task: JoinHandle<()>,
}

#[derive(Default)]
struct State {
    /// (job, provider id) → source → group.
    targets: HashMap<(String, usize), BTreeMap<String, TargetGroup>>,
    /// Jobs each provider feeds.
    subs: HashMap<usize, BTreeSet<String>>,
    /// Every configured job, so jobs without targets are published too.
    jobs: BTreeSet<String>,
    /// Something changed since the last publication.
    dirty: bool,
    /// Updates received from providers; publications; configurations without provider.
    received_updates: u64,
    publications: u64,
    failed_configs: usize,
}

impl State {
    fn update(&mut self, provider: usize, groups: Vec<TargetGroup>) {
        let Some(subs) = self.subs.get(&provider) else {
            return;
        };
        for job in subs.clone() {
            let pool = self.targets.entry((job, provider)).or_default();
            for g in &groups {
                if g.targets.is_empty() && g.labels.is_empty() {
                    pool.remove(&g.source);
                } else {
                    pool.insert(g.source.clone(), g.clone());
                }
            }
        }
        self.dirty = true;
        self.received_updates += 1;
    }

    fn all_groups(&self) -> TargetSets {
        let mut out: TargetSets = self.jobs.iter().map(|j| (j.clone(), Vec::new())).collect();
        let mut keys: Vec<&(String, usize)> = self.targets.keys().collect();
        keys.sort();
        for key in keys {
            if let (Some(list), Some(groups)) = (out.get_mut(&key.0), self.targets.get(key)) {
                list.extend(groups.values().cloned());
            }
        }
        out
    }
}

/// Runs service discovery for a set of jobs and publishes their target groups.
pub struct DiscoveryManager {
    state: Arc<Mutex<State>>,
    providers: Vec<Provider>,
    next_id: usize,
    factory: Arc<DiscovererFactory>,
    published: watch::Receiver<Arc<TargetSets>>,
    publisher: JoinHandle<()>,
}

impl DiscoveryManager {
    /// A manager with the built-in mechanisms, publishing every 5 s at most. Must be
    /// created inside a tokio runtime.
    pub fn new(user_agent: &str) -> DiscoveryManager {
        let ua = user_agent.to_string();
        Self::with_factory(
            Arc::new(move |cfg: &SdConfig| default_discoverer(cfg, &ua)),
            DEFAULT_UPDATE_INTERVAL,
        )
    }

    /// A manager with custom discoverers and publication interval.
    pub fn with_factory(
        factory: Arc<DiscovererFactory>,
        update_interval: Duration,
    ) -> DiscoveryManager {
        let state = Arc::new(Mutex::new(State::default()));
        let (tx, published) = watch::channel(Arc::new(TargetSets::new()));
        let publisher = tokio::spawn(publish_loop(state.clone(), tx, update_interval));
        DiscoveryManager {
            state,
            providers: Vec::new(),
            next_id: 0,
            factory,
            published,
            publisher,
        }
    }

    /// The published `job → groups` map; `changed()` fires after each publication.
    pub fn subscribe(&self) -> watch::Receiver<Arc<TargetSets>> {
        self.published.clone()
    }

    /// A handle on this manager's `prometheus_sd_*` metrics.
    pub fn metrics(&self) -> DiscoveryMetrics {
        DiscoveryMetrics {
            state: self.state.clone(),
        }
    }

    /// Number of running providers (identical configurations share one).
    pub fn provider_count(&self) -> usize {
        self.providers.len()
    }

    /// Applies a new set of jobs: unchanged providers keep running (and their targets),
    /// providers no job needs any more stop, new configurations start.
    pub fn apply_config(&mut self, jobs: &BTreeMap<String, ServiceDiscoveryConfigs>) {
        // Distinct configurations and the jobs using each.
        let mut wanted: Vec<(SdConfig, BTreeSet<String>)> = Vec::new();
        for (job, sd) in jobs {
            let mut configs = sd.configs();
            if configs.is_empty() {
                // As upstream: a job without SD still exists, with one empty group.
                configs.push(SdConfig::Static(vec![TargetGroup::default()]));
            }
            for cfg in configs {
                match wanted.iter_mut().find(|(c, _)| *c == cfg) {
                    Some((_, subs)) => {
                        subs.insert(job.clone());
                    }
                    None => wanted.push((cfg, BTreeSet::from([job.clone()]))),
                }
            }
        }

        let mut state = self.state.lock();
        state.jobs = jobs.keys().cloned().collect();
        let mut kept = Vec::new();
        for p in self.providers.drain(..) {
            let Some(pos) = wanted.iter().position(|(c, _)| *c == p.config) else {
                p.task.abort();
                state.subs.remove(&p.id);
                state.targets.retain(|(_, id), _| *id != p.id);
                continue;
            };
            let (_, new_subs) = wanted.swap_remove(pos);
            let old_subs = state.subs.get(&p.id).cloned().unwrap_or_default();
            // New jobs of a running provider start with what it already found.
            let reference = old_subs
                .iter()
                .find_map(|j| state.targets.get(&(j.clone(), p.id)).cloned());
            state
                .targets
                .retain(|(job, id), _| *id != p.id || new_subs.contains(job));
            if let Some(reference) = reference {
                for job in new_subs.difference(&old_subs) {
                    state.targets.insert((job.clone(), p.id), reference.clone());
                }
            }
            state.subs.insert(p.id, new_subs);
            kept.push(p);
        }
        self.providers = kept;

        state.failed_configs = 0;
        for (cfg, subs) in wanted {
            let discoverer = match (self.factory)(&cfg) {
                Ok(d) => d,
                Err(err) => {
                    state.failed_configs += 1;
                    tracing::error!(mechanism = cfg.name(), err = %err, "Cannot create service discovery");
                    continue;
                }
            };
            let id = self.next_id;
            self.next_id += 1;
            state.subs.insert(id, subs);
            let task = tokio::spawn(run_provider(id, discoverer, self.state.clone()));
            self.providers.push(Provider {
                id,
                config: cfg,
                task,
            });
        }
        state.dirty = true;
    }
}

/// Reads a manager's `prometheus_sd_*` metrics (and the process-wide Kubernetes ones).
#[derive(Clone)]
pub struct DiscoveryMetrics {
    state: Arc<Mutex<State>>,
}

impl DiscoveryMetrics {
    /// The samples, `name` being the manager's name label (`scrape` or `notify`).
    pub fn samples(&self, name: &str) -> Vec<SelfMetric> {
        let st = self.state.lock();
        let mut out = Vec::new();
        for job in &st.jobs {
            let n: usize = st
                .targets
                .iter()
                .filter(|((j, _), _)| j == job)
                .flat_map(|(_, groups)| groups.values())
                .map(|g| g.targets.len())
                .sum();
            out.push(
                SelfMetric::gauge(
                    "prometheus_sd_discovered_targets",
                    "Current number of discovered targets.",
                    n as f64,
                )
                .with("config", job.clone())
                .with("name", name),
            );
        }
        out.push(
            SelfMetric::gauge(
                "prometheus_sd_failed_configs",
                "Current number of service discovery configurations that failed to load.",
                st.failed_configs as f64,
            )
            .with("name", name),
        );
        out.push(
            SelfMetric::counter(
                "prometheus_sd_received_updates_total",
                "Total number of update events received from the SD providers.",
                st.received_updates,
            )
            .with("name", name),
        );
        out.push(
            SelfMetric::counter(
                "prometheus_sd_updates_total",
                "Total number of update events sent to the SD consumers.",
                st.publications,
            )
            .with("name", name),
        );
        drop(st);
        for (role, event, n) in crate::kubernetes::events_total() {
            out.push(
                SelfMetric::counter(
                    "prometheus_sd_kubernetes_events_total",
                    "The number of Kubernetes events handled.",
                    n,
                )
                .with("event", event)
                .with("role", role),
            );
        }
        out.push(SelfMetric::counter(
            "prometheus_sd_kubernetes_failures_total",
            "The number of failed WATCH/LIST requests.",
            crate::kubernetes::failures_total(),
        ));
        out.extend(crate::self_metrics::mechanism_samples());
        out
    }
}

impl Drop for DiscoveryManager {
    fn drop(&mut self) {
        for p in &self.providers {
            p.task.abort();
        }
        self.publisher.abort();
    }
}

async fn run_provider(id: usize, discoverer: Box<dyn Discoverer>, state: Arc<Mutex<State>>) {
    let (tx, mut rx) = mpsc::channel(1);
    let run = discoverer.run(tx);
    let update = async move {
        while let Some(groups) = rx.recv().await {
            state.lock().update(id, groups);
        }
    };
    tokio::join!(run, update);
}

async fn publish_loop(
    state: Arc<Mutex<State>>,
    tx: watch::Sender<Arc<TargetSets>>,
    interval: Duration,
) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let sets = {
            let mut s = state.lock();
            if !s.dirty {
                continue;
            }
            s.dirty = false;
            s.publications += 1;
            s.all_groups()
        };
        tx.send_replace(Arc::new(sets));
    }
}
