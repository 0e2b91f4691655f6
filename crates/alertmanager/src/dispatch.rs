//! The routing tree and the dispatcher (upstream's `dispatch` package): each alert goes
//! to the aggregation group of every route it matches (first matching child wins unless
//! `continue`), groups wait `group_wait` before the first notification, then flush every
//! `group_interval`; a flush hands the group's alerts to the notification pipeline and
//! forgets the resolved ones it notified.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::{Notify, watch};
use tokio::time::Instant;

use crate::alert::{Alert, sort_alerts};
use crate::config;
use crate::labelset::{self, LabelSet};
use crate::matcher::{Matcher, matchers_string, matches_all};
use crate::notify::{GroupContext, Pipeline};
use crate::store::AlertStore;
use crate::time::{now, zero};

/// The options a route passes to its groups (inherited down the tree).
#[derive(Clone, Debug, PartialEq)]
pub struct RouteOpts {
    pub receiver: String,
    pub group_by: BTreeSet<String>,
    pub group_by_all: bool,
    pub group_wait: Duration,
    pub group_interval: Duration,
    pub repeat_interval: Duration,
    pub mute_time_intervals: Vec<String>,
    pub active_time_intervals: Vec<String>,
}

impl Default for RouteOpts {
    fn default() -> Self {
        RouteOpts {
            receiver: String::new(),
            group_by: BTreeSet::new(),
            group_by_all: false,
            group_wait: Duration::from_secs(30),
            group_interval: Duration::from_secs(300),
            repeat_interval: Duration::from_secs(4 * 3600),
            mute_time_intervals: Vec::new(),
            active_time_intervals: Vec::new(),
        }
    }
}

/// A node of the routing tree.
#[derive(Debug)]
pub struct Route {
    pub matchers: Vec<Matcher>,
    pub continue_: bool,
    pub opts: RouteOpts,
    pub routes: Vec<Arc<Route>>,
    /// Upstream's `Route.Key()`: the matchers of the path from the root.
    pub key: String,
    /// Position in a depth-first walk (distinguishes routes with equal keys).
    pub idx: usize,
}

impl Route {
    /// Builds the tree from the configuration's root route.
    pub fn new(cfg: &config::Route) -> Arc<Route> {
        let mut idx = 0;
        Route::build(cfg, None, &mut idx)
    }

    fn build(
        cfg: &config::Route,
        parent: Option<(&RouteOpts, &str)>,
        idx: &mut usize,
    ) -> Arc<Route> {
        let mut opts = parent.map_or_else(RouteOpts::default, |p| p.0.clone());
        if !cfg.receiver.is_empty() {
            opts.receiver = cfg.receiver.clone();
        }
        if let Some(g) = &cfg.group_by {
            opts.group_by = g.iter().cloned().collect();
            opts.group_by_all = false;
        } else if cfg.group_by_all {
            opts.group_by_all = true;
        }
        if let Some(d) = cfg.group_wait {
            opts.group_wait = d.to_std();
        }
        if let Some(d) = cfg.group_interval {
            opts.group_interval = d.to_std();
        }
        if let Some(d) = cfg.repeat_interval {
            opts.repeat_interval = d.to_std();
        }
        opts.mute_time_intervals = cfg.mute_time_intervals.clone();
        opts.active_time_intervals = cfg.active_time_intervals.clone();
        let matchers = cfg.all_matchers();
        let key = match parent {
            Some((_, pk)) => format!("{pk}/{}", matchers_string(&matchers)),
            None => matchers_string(&matchers),
        };
        let my_idx = *idx;
        *idx += 1;
        let routes = cfg
            .routes
            .iter()
            .map(|c| Route::build(c, Some((&opts, &key)), idx))
            .collect();
        Arc::new(Route {
            matchers,
            continue_: cfg.continue_,
            opts,
            routes,
            key,
            idx: my_idx,
        })
    }

    /// The routes an alert with these labels goes to (upstream's `Match`).
    pub fn matches(self: &Arc<Route>, ls: &LabelSet) -> Vec<Arc<Route>> {
        if !matches_all(&self.matchers, ls) {
            return Vec::new();
        }
        let mut all = Vec::new();
        for c in &self.routes {
            let m = c.matches(ls);
            let matched = !m.is_empty();
            all.extend(m);
            if matched && !c.continue_ {
                break;
            }
        }
        if all.is_empty() {
            all.push(self.clone());
        }
        all
    }

    /// The labels an alert is grouped by on this route.
    pub fn group_labels(&self, ls: &LabelSet) -> LabelSet {
        ls.iter()
            .filter(|(k, _)| self.opts.group_by_all || self.opts.group_by.contains(*k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }
}

struct GroupState {
    has_flushed: bool,
    next: Instant,
}

/// An aggregation group: the alerts of one route with the same group labels.
pub struct AggrGroup {
    pub labels: LabelSet,
    pub route: Arc<Route>,
    /// `routeKey:labels`, the `groupKey` of notifications.
    pub key: String,
    alerts: Mutex<HashMap<u64, Alert>>,
    state: Mutex<GroupState>,
    wake: Notify,
}

impl AggrGroup {
    fn new(route: Arc<Route>, labels: LabelSet) -> AggrGroup {
        let key = format!("{}:{}", route.key, labelset::to_string(&labels));
        let next = Instant::now() + route.opts.group_wait;
        AggrGroup {
            labels,
            route,
            key,
            alerts: Mutex::new(HashMap::new()),
            state: Mutex::new(GroupState {
                has_flushed: false,
                next,
            }),
            wake: Notify::new(),
        }
    }

    fn insert(&self, alert: Alert) {
        let early = !self.state.lock().has_flushed
            && crate::time::add(&alert.starts_at, self.route.opts.group_wait) < now();
        self.alerts.lock().insert(alert.fingerprint(), alert);
        if early {
            self.state.lock().next = Instant::now();
            self.wake.notify_one();
        }
    }

    pub fn alerts(&self) -> Vec<Alert> {
        let mut v: Vec<Alert> = self.alerts.lock().values().cloned().collect();
        sort_alerts(&mut v);
        v
    }

    pub fn contains(&self, fp: u64) -> bool {
        self.alerts.lock().contains_key(&fp)
    }

    fn is_empty(&self) -> bool {
        self.alerts.lock().is_empty()
    }

    /// Sends the group's alerts through the pipeline; on success forgets the resolved
    /// ones that were not updated meanwhile.
    async fn flush(&self, pipeline: &Pipeline) {
        let t = now();
        let mut resolved = Vec::new();
        let mut alerts: Vec<Alert> = self
            .alerts
            .lock()
            .values()
            .map(|a| {
                let mut a = a.clone();
                if a.resolved_at(&t) {
                    resolved.push(a.clone());
                } else {
                    // Firing alerts must not resolve while the notification is built.
                    a.ends_at = zero();
                }
                a
            })
            .collect();
        if alerts.is_empty() {
            return;
        }
        sort_alerts(&mut alerts);
        let ctx = GroupContext {
            receiver: self.route.opts.receiver.clone(),
            group_key: self.key.clone(),
            group_labels: self.labels.clone(),
            repeat_interval: self.route.opts.repeat_interval,
            group_interval: self.route.opts.group_interval,
            mute_time_intervals: self.route.opts.mute_time_intervals.clone(),
            active_time_intervals: self.route.opts.active_time_intervals.clone(),
        };
        if pipeline.exec(&ctx, alerts, t).await {
            let mut map = self.alerts.lock();
            for r in resolved {
                let fp = r.fingerprint();
                if map.get(&fp) == Some(&r) {
                    map.remove(&fp);
                }
            }
        }
    }
}

/// Groups by route and group-label fingerprint.
type GroupMap = HashMap<(usize, u64), Arc<AggrGroup>>;

/// The dispatcher.
pub struct Dispatcher {
    route: Arc<Route>,
    groups: Arc<Mutex<GroupMap>>,
    pipeline: Arc<Pipeline>,
    stop: watch::Sender<bool>,
}

impl Dispatcher {
    pub fn new(route: Arc<Route>, pipeline: Arc<Pipeline>) -> Arc<Dispatcher> {
        let (stop, _) = watch::channel(false);
        Arc::new(Dispatcher {
            route,
            groups: Arc::new(Mutex::new(HashMap::new())),
            pipeline,
            stop,
        })
    }

    pub fn route(&self) -> &Arc<Route> {
        &self.route
    }

    /// Takes every alert of the store, then each new one, until [`Dispatcher::stop`].
    pub fn start(self: &Arc<Dispatcher>, store: &AlertStore) {
        let (existing, mut rx) = store.subscribe();
        for a in existing {
            self.process(a);
        }
        let d = self.clone();
        let mut stop = self.stop.subscribe();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    a = rx.recv() => match a {
                        Some(a) => d.process(a),
                        None => return,
                    },
                    _ = stop.changed() => return,
                }
            }
        });
    }

    /// Stops every group (no further notifications).
    pub fn stop(&self) {
        let _ = self.stop.send(true);
    }

    fn process(self: &Arc<Dispatcher>, alert: Alert) {
        for route in self.route.matches(&alert.labels) {
            let labels = route.group_labels(&alert.labels);
            let fp = labelset::fingerprint(&labels);
            let mut groups = self.groups.lock();
            let key = (route.idx, fp);
            let ag = match groups.get(&key) {
                Some(ag) => ag.clone(),
                None => {
                    let ag = Arc::new(AggrGroup::new(route.clone(), labels));
                    groups.insert(key, ag.clone());
                    self.spawn_group(key, ag.clone());
                    ag
                }
            };
            ag.insert(alert.clone());
        }
    }

    fn spawn_group(&self, key: (usize, u64), ag: Arc<AggrGroup>) {
        let pipeline = self.pipeline.clone();
        let groups = self.groups.clone();
        let mut stop = self.stop.subscribe();
        tokio::spawn(async move {
            loop {
                let next = ag.state.lock().next;
                tokio::select! {
                    () = tokio::time::sleep_until(next) => {}
                    () = ag.wake.notified() => continue,
                    _ = stop.changed() => return,
                }
                {
                    let mut st = ag.state.lock();
                    if Instant::now() < st.next {
                        continue;
                    }
                    st.next = Instant::now() + ag.route.opts.group_interval;
                    st.has_flushed = true;
                }
                tokio::select! {
                    () = ag.flush(&pipeline) => {}
                    _ = stop.changed() => return,
                }
                let mut g = groups.lock();
                if ag.is_empty() {
                    g.remove(&key);
                    return;
                }
            }
        });
    }

    /// Every group, sorted by receiver and labels.
    pub fn groups(&self) -> Vec<Arc<AggrGroup>> {
        let mut v: Vec<Arc<AggrGroup>> = self.groups.lock().values().cloned().collect();
        v.sort_by(|a, b| {
            a.route
                .opts
                .receiver
                .cmp(&b.route.opts.receiver)
                .then_with(|| a.labels.cmp(&b.labels))
                .then_with(|| a.route.idx.cmp(&b.route.idx))
        });
        v
    }

    /// Whether any group still holds the alert (its resolution may not be sent yet).
    pub fn holds(&self, fp: u64) -> bool {
        self.groups.lock().values().any(|g| g.contains(fp))
    }

    pub fn group_count(&self) -> usize {
        self.groups.lock().len()
    }
}

/// The receivers the alert is routed to (for the API's `receivers`).
pub fn receivers_for(route: &Arc<Route>, ls: &LabelSet) -> Vec<String> {
    route
        .matches(ls)
        .iter()
        .map(|r| r.opts.receiver.clone())
        .collect()
}

#[cfg(test)]
mod tests;
