//! The notifier to Alertmanagers (upstream's `notifier.Manager`, as of Prometheus 3.10+):
//! the [`Notifier`] the rule groups hand their alerts to, sending them over HTTP as
//! Alertmanager API v2 `postableAlert`s.
//!
//! - `alerting.alertmanagers`: one set per block (keyed `config-0`, `config-1`, … as
//!   [`hearth_config::Config::alertmanager_discovery`] keys its SD configurations), with
//!   an HTTP client built from the block's client configuration (auth, TLS, proxy). Its
//!   Alertmanagers come from service discovery: each target gets `__scheme__`
//!   (`scheme`) and `__alerts_path__` (`path_prefix` + `/api/v2/alerts`), then the
//!   block's `relabel_configs`; targets they drop are the "dropped" Alertmanagers.
//! - Every alert gets the external labels it does not have, then the global
//!   `alert_relabel_configs`, then each block's own `alert_relabel_configs`.
//! - Each Alertmanager has its own queue (`--alertmanager.notification-queue-capacity`,
//!   the oldest alerts dropped when full) and send loop, which posts batches of at most
//!   `--alertmanager.notification-batch-size` alerts with the block's `timeout`; a slow
//!   Alertmanager never holds up the others. A failed batch is dropped (and counted):
//!   rules send their alerts again every `--rules.alert.resend-delay`.
//! - Stopping (shutdown, or an Alertmanager that discovery removed) sends what is still
//!   queued when `--alertmanager.drain-notification-queue-on-shutdown` (the default) says
//!   so, and drops it otherwise.
//!
//! The counters behind upstream's `prometheus_notifications_*` metrics are in
//! [`SenderStats`].

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use hearth_config::{AlertmanagerConfig, Config};
use hearth_discovery::http_client::{EndpointClient, HttpClientError};
use hearth_discovery::oauth2::OAuth2Token;
use hearth_discovery::{TargetGroup, TargetSets};
use hearth_model::{Labels, LabelsBuilder};
use hearth_relabel::{RelabelConfig, process_builder};
use parking_lot::{Mutex, RwLock};
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

use crate::notifier::{Notifier, PostableAlert};
use crate::stats::{Histogram, HistogramSnapshot, Summary, SummarySnapshot};

/// Upstream's `DefaultMaxBatchSize`.
pub const DEFAULT_MAX_BATCH_SIZE: usize = 256;
/// `--alertmanager.notification-queue-capacity`'s default.
pub const DEFAULT_QUEUE_CAPACITY: usize = 10_000;

/// The label holding the path alerts are posted to.
pub const ALERTS_PATH_LABEL: &str = "__alerts_path__";

/// Buckets of `prometheus_notifications_latency_histogram_seconds`.
const LATENCY_BUCKETS: &[f64] = &[0.01, 0.1, 1.0, 10.0];

/// The sender's flags.
#[derive(Debug, Clone)]
pub struct SenderOptions {
    /// `--alertmanager.notification-queue-capacity`, per Alertmanager.
    pub queue_capacity: usize,
    /// `--alertmanager.notification-batch-size`.
    pub max_batch_size: usize,
    /// `--alertmanager.drain-notification-queue-on-shutdown`.
    pub drain_on_shutdown: bool,
    pub user_agent: String,
}

impl Default for SenderOptions {
    fn default() -> Self {
        SenderOptions {
            queue_capacity: DEFAULT_QUEUE_CAPACITY,
            max_batch_size: DEFAULT_MAX_BATCH_SIZE,
            drain_on_shutdown: true,
            user_agent: format!("hearth/{}", env!("CARGO_PKG_VERSION")),
        }
    }
}

/// What one Alertmanager's send loop counts (per `alertmanager` label upstream).
#[derive(Debug)]
pub struct AlertmanagerStats {
    /// `prometheus_notifications_sent_total`: alerts delivered.
    pub sent: AtomicU64,
    /// `prometheus_notifications_errors_total`: alerts of batches that failed.
    pub errors: AtomicU64,
    /// `prometheus_notifications_dropped_total`: alerts dropped (full queue, failed
    /// batch, not drained at shutdown).
    pub dropped: AtomicU64,
    /// `prometheus_notifications_queue_length`.
    pub queue_length: AtomicUsize,
    /// `prometheus_notifications_latency_seconds`.
    pub latency: Summary,
    /// `prometheus_notifications_latency_histogram_seconds`.
    pub latency_histogram: Histogram,
}

impl Default for AlertmanagerStats {
    fn default() -> Self {
        AlertmanagerStats {
            sent: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            queue_length: AtomicUsize::new(0),
            latency: Summary::default(),
            latency_histogram: Histogram::new(LATENCY_BUCKETS),
        }
    }
}

/// A snapshot of one Alertmanager's counters.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertmanagerSnapshot {
    pub url: String,
    pub sent: u64,
    pub errors: u64,
    pub dropped: u64,
    pub queue_length: usize,
    pub latency: SummarySnapshot,
    pub latency_histogram: HistogramSnapshot,
}

/// Everything `prometheus_notifications_*` reports.
#[derive(Debug, Clone, PartialEq)]
pub struct SenderStats {
    pub queue_capacity: usize,
    /// Active Alertmanagers over every set.
    pub alertmanagers_discovered: usize,
    /// One per distinct Alertmanager URL, sorted by URL.
    pub alertmanagers: Vec<AlertmanagerSnapshot>,
}

/// The notifier to Alertmanagers. Create it inside a tokio runtime; it spawns its
/// loops there.
pub struct NotifierManager {
    opts: SenderOptions,
    runtime: tokio::runtime::Handle,
    state: RwLock<State>,
    stopped: AtomicBool,
}

#[derive(Default)]
struct State {
    external_labels: Labels,
    relabel: Vec<RelabelConfig>,
    sets: BTreeMap<String, Arc<AlertmanagerSet>>,
}

/// A configuration checked and with its HTTP clients built, ready to be applied by
/// [`NotifierManager::commit`] (so a reload can fail before anything changed).
pub struct PreparedConfig {
    external_labels: Labels,
    relabel: Vec<RelabelConfig>,
    sets: Vec<(String, AlertmanagerConfig, SetClient)>,
}

/// A block's HTTP client and OAuth2 token source, shared by its Alertmanagers.
struct SetClient {
    client: reqwest::Client,
    oauth2: Option<Arc<OAuth2Token>>,
}

/// The Alertmanagers of one `alertmanagers` block.
struct AlertmanagerSet {
    cfg: Arc<AlertmanagerConfig>,
    client: SetClient,
    user_agent: String,
    inner: Mutex<SetInner>,
}

#[derive(Default)]
struct SetInner {
    active: Vec<String>,
    dropped: Vec<String>,
    loops: BTreeMap<String, Arc<SendLoop>>,
}

impl NotifierManager {
    /// A sender with no Alertmanagers until [`NotifierManager::commit`] and discovery
    /// give it some. Must be called inside a tokio runtime.
    pub fn new(opts: SenderOptions) -> NotifierManager {
        NotifierManager {
            opts,
            runtime: tokio::runtime::Handle::current(),
            state: RwLock::new(State::default()),
            stopped: AtomicBool::new(false),
        }
    }

    /// Checks `alerting` and builds every block's HTTP client; nothing changes yet.
    pub fn prepare(&self, config: &Config) -> Result<PreparedConfig, String> {
        let mut sets = Vec::new();
        for (i, am) in config.alerting.alertmanagers.iter().enumerate() {
            let err = |e: HttpClientError| format!("alertmanagers config-{i}: {e}");
            let client = SetClient {
                client: am
                    .http_client
                    .build_client(&self.opts.user_agent)
                    .map_err(err)?,
                oauth2: am
                    .http_client
                    .oauth2_token(&self.opts.user_agent)
                    .map_err(err)?,
            };
            sets.push((format!("config-{i}"), am.clone(), client));
        }
        Ok(PreparedConfig {
            external_labels: config.global.external_labels.0.clone(),
            relabel: config.alerting.alert_relabel_configs.clone(),
            sets,
        })
    }

    /// Applies a prepared configuration. A block whose configuration did not change
    /// keeps its Alertmanagers and queues; the send loops of blocks that are gone are
    /// stopped (draining as at shutdown).
    pub fn commit(&self, p: PreparedConfig) {
        let mut state = self.state.write();
        let mut old: Vec<Arc<AlertmanagerSet>> =
            std::mem::take(&mut state.sets).into_values().collect();
        let mut sets = BTreeMap::new();
        for (key, cfg, client) in p.sets {
            let inner = match old.iter().position(|s| *s.cfg == cfg) {
                Some(i) => std::mem::take(&mut *old.swap_remove(i).inner.lock()),
                None => SetInner::default(),
            };
            sets.insert(
                key,
                Arc::new(AlertmanagerSet {
                    cfg: Arc::new(cfg),
                    client,
                    user_agent: self.opts.user_agent.clone(),
                    inner: Mutex::new(inner),
                }),
            );
        }
        for set in old {
            let loops = std::mem::take(&mut set.inner.lock().loops);
            for l in loops.into_values() {
                self.runtime.spawn(l.stop());
            }
        }
        state.sets = sets;
        state.external_labels = p.external_labels;
        state.relabel = p.relabel;
    }

    /// [`NotifierManager::prepare`] and [`NotifierManager::commit`] in one.
    pub fn apply_config(&self, config: &Config) -> Result<(), String> {
        let p = self.prepare(config)?;
        self.commit(p);
        Ok(())
    }

    /// Takes discovery's `config-N → groups` map: each set's Alertmanagers become what
    /// its groups give; new ones get a send loop, gone ones have theirs stopped.
    pub fn sync(&self, sets: &TargetSets) {
        if self.stopped.load(Ordering::Relaxed) {
            return;
        }
        let state = self.state.read();
        for (key, groups) in sets {
            match state.sets.get(key) {
                Some(set) => set.sync(groups, self),
                None => {
                    tracing::error!(err = %format!("invalid id:{key}"), "couldn't sync alert manager set")
                }
            }
        }
    }

    /// Follows discovery's updates until stopped.
    pub fn run(self: &Arc<Self>, mut targets: watch::Receiver<Arc<TargetSets>>) -> JoinHandle<()> {
        let me = self.clone();
        self.runtime.spawn(async move {
            loop {
                let sets = targets.borrow_and_update().clone();
                me.sync(&sets);
                if targets.changed().await.is_err() || me.stopped.load(Ordering::Relaxed) {
                    return;
                }
            }
        })
    }

    /// Stops every send loop, sending what is queued first when draining is on; later
    /// alerts are ignored.
    pub async fn stop(&self) {
        self.stopped.store(true, Ordering::Relaxed);
        let loops: Vec<Arc<SendLoop>> = {
            let state = self.state.read();
            state
                .sets
                .values()
                .flat_map(|s| std::mem::take(&mut s.inner.lock().loops).into_values())
                .collect()
        };
        let stops: Vec<_> = loops
            .into_iter()
            .map(|l| self.runtime.spawn(l.stop()))
            .collect();
        for s in stops {
            let _ = s.await;
        }
    }

    /// URLs of the active Alertmanagers (`activeAlertmanagers`).
    pub fn active(&self) -> Vec<String> {
        let state = self.state.read();
        state
            .sets
            .values()
            .flat_map(|s| s.inner.lock().active.clone())
            .collect()
    }

    /// URLs of the Alertmanagers relabeling dropped (`droppedAlertmanagers`).
    pub fn dropped(&self) -> Vec<String> {
        let state = self.state.read();
        state
            .sets
            .values()
            .flat_map(|s| s.inner.lock().dropped.clone())
            .collect()
    }

    /// The counters behind `prometheus_notifications_*`.
    pub fn stats(&self) -> SenderStats {
        let state = self.state.read();
        let mut discovered = 0;
        let mut by_url: BTreeMap<String, AlertmanagerSnapshot> = BTreeMap::new();
        for set in state.sets.values() {
            let inner = set.inner.lock();
            discovered += inner.active.len();
            for (url, l) in &inner.loops {
                let s = &l.stats;
                let snap = AlertmanagerSnapshot {
                    url: url.clone(),
                    sent: s.sent.load(Ordering::Relaxed),
                    errors: s.errors.load(Ordering::Relaxed),
                    dropped: s.dropped.load(Ordering::Relaxed),
                    queue_length: s.queue_length.load(Ordering::Relaxed),
                    latency: s.latency.snapshot(&[0.5, 0.9, 0.99]),
                    latency_histogram: s.latency_histogram.snapshot(),
                };
                // Two blocks may name the same Alertmanager: one series, as upstream's
                // metric vectors keyed by URL.
                match by_url.get_mut(url) {
                    Some(e) => {
                        e.sent += snap.sent;
                        e.errors += snap.errors;
                        e.dropped += snap.dropped;
                        e.queue_length += snap.queue_length;
                    }
                    None => {
                        by_url.insert(url.clone(), snap);
                    }
                }
            }
        }
        SenderStats {
            queue_capacity: self.opts.queue_capacity,
            alertmanagers_discovered: discovered,
            alertmanagers: by_url.into_values().collect(),
        }
    }
}

impl Notifier for NotifierManager {
    fn send(&self, alerts: Vec<PostableAlert>) {
        if self.stopped.load(Ordering::Relaxed) {
            return;
        }
        let state = self.state.read();
        let alerts = relabel_alerts(&state.relabel, &state.external_labels, alerts);
        if alerts.is_empty() {
            return;
        }
        for set in state.sets.values() {
            set.send(&alerts);
        }
    }
}

/// Adds the external labels an alert does not have, then applies `cfgs`; alerts they
/// drop are left out (upstream's `relabelAlerts`).
pub fn relabel_alerts(
    cfgs: &[RelabelConfig],
    external_labels: &Labels,
    alerts: Vec<PostableAlert>,
) -> Vec<PostableAlert> {
    let mut b = LabelsBuilder::new();
    alerts
        .into_iter()
        .filter_map(|mut a| {
            b.reset(&a.labels);
            for l in external_labels.iter() {
                if a.labels.get_or_empty(&l.name).is_empty() {
                    b.set(&l.name, &l.value);
                }
            }
            if !process_builder(&mut b, cfgs) {
                return None;
            }
            a.labels = b.labels();
            Some(a)
        })
        .collect()
}

/// Go's `path.Join("/", prefix, "/api/v2/alerts")`: the cleaned path alerts are posted
/// to.
pub fn post_path(prefix: &str, api_version: &str) -> String {
    let joined = format!("/{prefix}/api/{api_version}/alerts");
    let mut parts: Vec<&str> = Vec::new();
    for seg in joined.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            s => parts.push(s),
        }
    }
    format!("/{}", parts.join("/"))
}

/// Go's `url.URL{Scheme, Host, Path}.String()` for an Alertmanager's labels.
fn alertmanager_url(labels: &Labels) -> String {
    let path = labels.get_or_empty(ALERTS_PATH_LABEL);
    let sep = if path.is_empty() || path.starts_with('/') {
        ""
    } else {
        "/"
    };
    format!(
        "{}://{}{sep}{path}",
        labels.get_or_empty("__scheme__"),
        labels.get_or_empty(hearth_discovery::ADDRESS_LABEL)
    )
}

/// Upstream's `AlertmanagerFromGroup`: the label sets of the group's Alertmanagers
/// after relabeling, and those relabeling dropped (as they were before it).
pub fn alertmanagers_from_group(
    tg: &TargetGroup,
    cfg: &AlertmanagerConfig,
) -> Result<(Vec<Labels>, Vec<Labels>), String> {
    let mut active = Vec::new();
    let mut dropped = Vec::new();
    let mut b = LabelsBuilder::new();
    for target in &tg.targets {
        b.reset(target);
        b.set("__scheme__", &cfg.scheme);
        b.set(
            ALERTS_PATH_LABEL,
            &post_path(&cfg.path_prefix, &cfg.api_version),
        );
        for l in tg.labels.iter() {
            if !target.has(&l.name) {
                b.set(&l.name, &l.value);
            }
        }
        let pre = b.labels();
        if !process_builder(&mut b, &cfg.relabel_configs) {
            dropped.push(pre);
            continue;
        }
        let lset = b.labels();
        let addr = lset.get_or_empty(hearth_discovery::ADDRESS_LABEL);
        if addr.contains('/') {
            return Err(format!(
                "{} is not a valid hostname",
                hearth_model::names::go_quote(addr)
            ));
        }
        active.push(lset);
    }
    Ok((active, dropped))
}

impl AlertmanagerSet {
    fn sync(&self, groups: &[TargetGroup], mgr: &NotifierManager) {
        let mut active = Vec::new();
        let mut dropped = Vec::new();
        for tg in groups {
            match alertmanagers_from_group(tg, &self.cfg) {
                Ok((a, d)) => {
                    active.extend(a.iter().map(alertmanager_url));
                    dropped.extend(d.iter().map(alertmanager_url));
                }
                Err(e) => tracing::error!(err = %e, "Creating discovered Alertmanagers failed"),
            }
        }
        let mut seen = std::collections::HashSet::new();
        active.retain(|u| seen.insert(u.clone()));

        let mut inner = self.inner.lock();
        for url in &active {
            if !inner.loops.contains_key(url) {
                let l = Arc::new(SendLoop::new(url, self, &mgr.opts));
                l.start(&mgr.runtime);
                inner.loops.insert(url.clone(), l);
            }
        }
        let gone: Vec<String> = inner
            .loops
            .keys()
            .filter(|u| !seen.contains(*u))
            .cloned()
            .collect();
        for url in gone {
            if let Some(l) = inner.loops.remove(&url) {
                mgr.runtime.spawn(l.stop());
            }
        }
        inner.active = active;
        inner.dropped = dropped;
    }

    fn send(&self, alerts: &[PostableAlert]) {
        let relabeled;
        let alerts = if self.cfg.alert_relabel_configs.is_empty() {
            alerts
        } else {
            relabeled = relabel_alerts(
                &self.cfg.alert_relabel_configs,
                &Labels::empty(),
                alerts.to_vec(),
            );
            if relabeled.is_empty() {
                return;
            }
            &relabeled
        };
        for l in self.inner.lock().loops.values() {
            l.add(alerts);
        }
    }
}

/// Resolves once the stop flag is set (or its sender is gone).
async fn stopped(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|s| *s).await.map(|_| ());
}

/// One Alertmanager's queue and the task sending it.
struct SendLoop {
    url: String,
    cfg: Arc<AlertmanagerConfig>,
    /// The Alertmanager's client and URL (`tls_config.server_name` applied).
    client: EndpointClient,
    oauth2: Option<Arc<OAuth2Token>>,
    capacity: usize,
    max_batch: usize,
    drain_on_shutdown: bool,
    queue: Mutex<VecDeque<PostableAlert>>,
    has_work: Notify,
    stop_tx: watch::Sender<bool>,
    task: Mutex<Option<JoinHandle<()>>>,
    stats: AlertmanagerStats,
}

impl SendLoop {
    fn new(url: &str, set: &AlertmanagerSet, opts: &SenderOptions) -> SendLoop {
        let client = set
            .cfg
            .http_client
            .endpoint_client_sharing(&set.client.client, &set.user_agent, url)
            .unwrap_or_else(|e| {
                tracing::error!(alertmanager = %url, err = %e, "cannot apply tls_config.server_name, sending without it");
                EndpointClient::unchanged(set.client.client.clone(), url)
            });
        SendLoop {
            url: url.to_string(),
            cfg: set.cfg.clone(),
            client,
            oauth2: set.client.oauth2.clone(),
            capacity: opts.queue_capacity.max(1),
            max_batch: opts.max_batch_size.max(1),
            drain_on_shutdown: opts.drain_on_shutdown,
            queue: Mutex::new(VecDeque::new()),
            has_work: Notify::new(),
            stop_tx: watch::channel(false).0,
            task: Mutex::new(None),
            stats: AlertmanagerStats::default(),
        }
    }

    fn start(self: &Arc<Self>, rt: &tokio::runtime::Handle) {
        let me = self.clone();
        let mut stop = self.stop_tx.subscribe();
        let task = rt.spawn(async move {
            loop {
                tokio::select! {
                    biased;
                    () = stopped(&mut stop) => return,
                    () = me.has_work.notified() => {
                        me.send_one_batch().await;
                        if me.queue_len() > 0 {
                            me.has_work.notify_one();
                        }
                    }
                }
            }
        });
        *self.task.lock() = Some(task);
    }

    /// Queues alerts, dropping the oldest beyond the capacity.
    fn add(&self, alerts: &[PostableAlert]) {
        if *self.stop_tx.borrow() {
            return;
        }
        let mut dropped = 0;
        let mut alerts = alerts;
        if alerts.len() > self.capacity {
            let d = alerts.len() - self.capacity;
            tracing::warn!(alertmanager = %self.url, count = d, "Alert batch larger than queue capacity, dropping alerts");
            dropped += d;
            alerts = &alerts[d..];
        }
        let mut q = self.queue.lock();
        let over = (q.len() + alerts.len()).saturating_sub(self.capacity);
        if over > 0 {
            tracing::warn!(alertmanager = %self.url, count = over, "Alert notification queue full, dropping alerts");
            dropped += over;
            q.drain(..over);
        }
        q.extend(alerts.iter().cloned());
        self.stats.queue_length.store(q.len(), Ordering::Relaxed);
        drop(q);
        if dropped > 0 {
            self.stats
                .dropped
                .fetch_add(dropped as u64, Ordering::Relaxed);
        }
        self.has_work.notify_one();
    }

    fn queue_len(&self) -> usize {
        self.queue.lock().len()
    }

    fn next_batch(&self) -> Vec<PostableAlert> {
        let mut q = self.queue.lock();
        let n = q.len().min(self.max_batch);
        let batch: Vec<PostableAlert> = q.drain(..n).collect();
        self.stats.queue_length.store(q.len(), Ordering::Relaxed);
        batch
    }

    async fn send_one_batch(&self) {
        let alerts = self.next_batch();
        if !self.send_all(&alerts).await {
            self.stats
                .dropped
                .fetch_add(alerts.len() as u64, Ordering::Relaxed);
        }
    }

    /// Posts one batch; `false` when it failed.
    async fn send_all(&self, alerts: &[PostableAlert]) -> bool {
        if alerts.is_empty() {
            return true;
        }
        let begin = Instant::now();
        let n = alerts.len() as u64;
        match self.post(alerts).await {
            Ok(()) => {
                let took = begin.elapsed().as_secs_f64();
                self.stats.latency.observe(took);
                self.stats.latency_histogram.observe(took);
                self.stats.sent.fetch_add(n, Ordering::Relaxed);
                true
            }
            Err(e) => {
                tracing::error!(alertmanager = %self.url, count = n, err = %e, "Error sending alerts");
                self.stats.errors.fetch_add(n, Ordering::Relaxed);
                false
            }
        }
    }

    async fn post(&self, alerts: &[PostableAlert]) -> Result<(), String> {
        let body = serde_json::to_vec(alerts).map_err(|e| e.to_string())?;
        let timeout = Duration::from_millis(u64::try_from(self.cfg.timeout.millis()).unwrap_or(0));
        let req = self
            .client
            .post()
            .header("Content-Type", "application/json")
            .body(body);
        let req = if timeout.is_zero() {
            req
        } else {
            req.timeout(timeout)
        };
        let req = self
            .cfg
            .http_client
            .authorize_with(req, self.oauth2.as_deref())
            .await
            .map_err(|e| e.to_string())?;
        let resp = req.send().await.map_err(|e| {
            let msg = e.to_string();
            if e.is_timeout() {
                format!("Post \"{}\": context deadline exceeded", self.url)
            } else {
                format!("Post \"{}\": {msg}", self.url)
            }
        })?;
        let status = resp.status();
        // The body is read so the connection can be reused.
        let _ = resp.bytes().await;
        if !status.is_success() {
            return Err(format!(
                "bad response status {} {}",
                status.as_u16(),
                status.canonical_reason().unwrap_or("")
            ));
        }
        Ok(())
    }

    /// Stops the loop, then sends what is queued (or drops it when draining is off).
    async fn stop(self: Arc<Self>) {
        self.stop_tx.send_replace(true);
        let task = self.task.lock().take();
        if let Some(t) = task {
            let _ = t.await;
        }
        if self.drain_on_shutdown {
            while self.queue_len() > 0 {
                self.send_one_batch().await;
            }
        } else {
            let n = std::mem::take(&mut *self.queue.lock()).len();
            if n > 0 {
                tracing::warn!(alertmanager = %self.url, count = n, "Alert notification queue not drained on shutdown, dropping alerts");
                self.stats.dropped.fetch_add(n as u64, Ordering::Relaxed);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn post_paths_like_go_path_join() {
        assert_eq!(post_path("", "v2"), "/api/v2/alerts");
        assert_eq!(post_path("/prefix/", "v2"), "/prefix/api/v2/alerts");
        assert_eq!(post_path("a/b", "v2"), "/a/b/api/v2/alerts");
        assert_eq!(post_path("../x", "v2"), "/x/api/v2/alerts");
    }

    fn alert(labels: &[(&str, &str)]) -> PostableAlert {
        PostableAlert {
            labels: Labels::new(labels.iter().copied()),
            annotations: Labels::empty(),
            starts_at_ms: Some(0),
            ends_at_ms: None,
            generator_url: String::new(),
        }
    }

    #[test]
    fn external_labels_do_not_override_and_relabeling_drops() {
        let ext = Labels::new([("cluster", "c1"), ("severity", "low")]);
        let cfgs: Vec<RelabelConfig> = serde_saphyr::from_str(
            "- source_labels: [alertname]\n  regex: Drop.*\n  action: drop\n",
        )
        .unwrap();
        let out = relabel_alerts(
            &cfgs,
            &ext,
            vec![
                alert(&[("alertname", "Up"), ("severity", "page")]),
                alert(&[("alertname", "DropMe")]),
            ],
        );
        assert_eq!(out.len(), 1);
        assert_eq!(
            out[0].labels,
            Labels::new([("alertname", "Up"), ("cluster", "c1"), ("severity", "page")])
        );
    }

    #[test]
    fn alertmanagers_from_groups_with_relabeling() {
        let cfg: AlertmanagerConfig = serde_saphyr::from_str(
            "path_prefix: /am\nstatic_configs:\n  - targets: ['a:9093']\nrelabel_configs:\n  - source_labels: [__address__]\n    regex: 'b:.*'\n    action: drop\n",
        )
        .unwrap();
        let tg = TargetGroup::from_addresses(
            ["a:9093", "b:9093"],
            Labels::new([("dc", "x")]),
            "0".into(),
        );
        let (active, dropped) = alertmanagers_from_group(&tg, &cfg).unwrap();
        assert_eq!(
            active.iter().map(alertmanager_url).collect::<Vec<_>>(),
            ["http://a:9093/am/api/v2/alerts"]
        );
        assert_eq!(
            dropped.iter().map(alertmanager_url).collect::<Vec<_>>(),
            ["http://b:9093/am/api/v2/alerts"]
        );
        assert_eq!(active[0].get("dc"), Some("x"));
        let bad = TargetGroup::from_addresses(["h/x:1"], Labels::empty(), "0".into());
        assert_eq!(
            alertmanagers_from_group(&bad, &cfg).unwrap_err(),
            "\"h/x:1\" is not a valid hostname"
        );
    }
}
