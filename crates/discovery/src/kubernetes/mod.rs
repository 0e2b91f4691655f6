//! Kubernetes service discovery (`kubernetes_sd_configs`): roles node, pod, service,
//! endpoints, endpointslice and ingress, through the `kube` crate's list+watch
//! (`kube::runtime::watcher`: paged lists, watches resumed from the last
//! resourceVersion or bookmark, relists after `410 Gone`, backoff on errors).
//!
//! One discoverer watches the role's objects and those its targets take labels from
//! (services and pods for endpoints and endpointslices, nodes and namespaces for
//! `attach_metadata`), in each configured namespace, and keeps them in a [`Cache`]. After
//! every object of every watch has been listed once, it sends the groups of all the
//! role's objects; then, on each batch of events, the groups the events change (an
//! object's deletion sends its source with no targets).

pub mod cache;
pub mod client;
pub mod meta;
pub mod targets;

use std::collections::{BTreeSet, HashMap};
use std::fmt::Debug;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};

use futures_util::{FutureExt, Stream, StreamExt};
use kube::api::Api;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use serde::de::DeserializeOwned;

pub use cache::{Cache, Key, Kind, Object};
pub use client::KubernetesError;
pub use targets::Attach;

use crate::discoverer::{Discoverer, DiscovererFuture, GroupSender};
use crate::sd_config::KubernetesSdConfig;
use crate::target_group::TargetGroup;

// ---- metrics (process-wide, as upstream's) ----

const EVENT_NAMES: [&str; 3] = ["add", "delete", "update"];
static EVENTS: [[AtomicU64; 3]; 6] = [const { [const { AtomicU64::new(0) }; 3] }; 6];
static FAILURES: AtomicU64 = AtomicU64::new(0);

fn count_event(kind: Kind, event: usize) {
    if let Some(pos) = Kind::ROLES.iter().position(|k| *k == kind) {
        EVENTS[pos][event].fetch_add(1, Ordering::Relaxed);
    }
}

/// `prometheus_sd_kubernetes_events_total{role, event}`: every (role, event) pair, as
/// upstream initialises them all.
pub fn events_total() -> Vec<(&'static str, &'static str, u64)> {
    let mut out = Vec::new();
    for (i, role) in Kind::ROLES.iter().enumerate() {
        for (j, ev) in EVENT_NAMES.iter().enumerate() {
            out.push((role.name(), *ev, EVENTS[i][j].load(Ordering::Relaxed)));
        }
    }
    out
}

/// `prometheus_sd_kubernetes_failures_total`: failed list/watch requests.
pub fn failures_total() -> u64 {
    FAILURES.load(Ordering::Relaxed)
}

// ---- the discoverer ----

/// One `kubernetes_sd_configs` entry.
pub struct KubernetesDiscoverer {
    config: KubernetesSdConfig,
    role: Kind,
    user_agent: String,
}

impl KubernetesDiscoverer {
    pub fn new(
        config: KubernetesSdConfig,
        user_agent: &str,
    ) -> Result<KubernetesDiscoverer, KubernetesError> {
        let role =
            Kind::from_role(&config.role).ok_or(KubernetesError::Unsupported("this role"))?;
        client::check_supported(&config.http_client)?;
        Ok(KubernetesDiscoverer {
            config,
            role,
            user_agent: user_agent.to_string(),
        })
    }
}

impl Discoverer for KubernetesDiscoverer {
    fn run(self: Box<Self>, updates: GroupSender) -> DiscovererFuture {
        Box::pin(async move {
            let (client, own_ns) = match client::connect(&self.config, &self.user_agent).await {
                Ok(c) => c,
                Err(err) => {
                    FAILURES.fetch_add(1, Ordering::Relaxed);
                    tracing::error!(role = self.role.name(), err = %err, "Cannot create Kubernetes discovery");
                    return;
                }
            };
            let plan = WatchPlan::new(&self.config, self.role, &own_ns);
            let streams = plan.streams(&client);
            let attach = Attach {
                node: self.config.attach_metadata.node
                    && matches!(self.role, Kind::Pod | Kind::Endpoints | Kind::EndpointSlice),
                namespace: self.config.attach_metadata.namespace && self.role != Kind::Node,
            };
            run_watches(self.role, attach, plan.scopes, streams, updates).await;
        })
    }
}

/// What one discoverer watches: `(kind, namespace)` per stream (`None`: every namespace,
/// or a cluster-scoped kind), with the label and field selectors of the kind's role.
pub struct WatchPlan {
    pub scopes: Vec<(Kind, Option<String>)>,
    selectors: HashMap<Kind, (String, String)>,
}

impl WatchPlan {
    pub fn new(cfg: &KubernetesSdConfig, role: Kind, own_namespace: &str) -> WatchPlan {
        let mut kinds = vec![role];
        match role {
            Kind::Endpoints | Kind::EndpointSlice => kinds.extend([Kind::Service, Kind::Pod]),
            _ => {}
        }
        if cfg.attach_metadata.node
            && matches!(role, Kind::Pod | Kind::Endpoints | Kind::EndpointSlice)
        {
            kinds.push(Kind::Node);
        }
        if cfg.attach_metadata.namespace && role != Kind::Node {
            kinds.push(Kind::Namespace);
        }
        let mut namespaces: Vec<String> = cfg.namespaces.names.clone();
        if cfg.namespaces.own_namespace {
            namespaces.push(own_namespace.to_string());
        }
        namespaces.sort();
        namespaces.dedup();
        let mut scopes = Vec::new();
        for kind in kinds {
            if !kind.namespaced() || namespaces.is_empty() {
                scopes.push((kind, None));
            } else {
                scopes.extend(namespaces.iter().map(|ns| (kind, Some(ns.clone()))));
            }
        }
        let selectors = cfg
            .selectors
            .iter()
            .filter_map(|s| {
                Kind::from_role(&s.role).map(|k| (k, (s.label.clone(), s.field.clone())))
            })
            .collect();
        WatchPlan { scopes, selectors }
    }

    fn streams(&self, client: &kube::Client) -> ChangeStream {
        let streams: Vec<ChangeStream> = self
            .scopes
            .iter()
            .enumerate()
            .map(|(id, (kind, ns))| {
                let mut wc = watcher::Config::default();
                if let Some((label, field)) = self.selectors.get(kind) {
                    if !label.is_empty() {
                        wc = wc.labels(label);
                    }
                    if !field.is_empty() {
                        wc = wc.fields(field);
                    }
                }
                let c = client.clone();
                let ns = ns.as_deref();
                match kind {
                    Kind::Pod => watch(api(c, ns), wc, id, |o| Object::Pod(Box::new(o))),
                    Kind::Service => watch(api(c, ns), wc, id, |o| Object::Service(Box::new(o))),
                    #[allow(deprecated)]
                    Kind::Endpoints => {
                        watch(api(c, ns), wc, id, |o| Object::Endpoints(Box::new(o)))
                    }
                    Kind::EndpointSlice => {
                        watch(api(c, ns), wc, id, |o| Object::EndpointSlice(Box::new(o)))
                    }
                    Kind::Ingress => watch(api(c, ns), wc, id, |o| Object::Ingress(Box::new(o))),
                    Kind::Node => watch(Api::all(c), wc, id, |o| Object::Node(Box::new(o))),
                    Kind::Namespace => {
                        watch(Api::all(c), wc, id, |o| Object::Namespace(Box::new(o)))
                    }
                }
            })
            .collect();
        futures_util::stream::select_all(streams).boxed()
    }
}

fn api<K>(client: kube::Client, ns: Option<&str>) -> Api<K>
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>,
    K::DynamicType: Default,
{
    match ns {
        Some(ns) => Api::namespaced(client, ns),
        None => Api::all(client),
    }
}

/// Events of all watches, each with the index of its scope.
pub type ChangeStream =
    Pin<Box<dyn Stream<Item = (usize, Result<Event<Object>, watcher::Error>)> + Send>>;

fn watch<K>(api: Api<K>, config: watcher::Config, id: usize, wrap: fn(K) -> Object) -> ChangeStream
where
    K: kube::Resource + Clone + DeserializeOwned + Debug + Send + 'static,
    K::DynamicType: Default,
{
    watcher::watcher(api, config)
        .default_backoff()
        .map(move |r| {
            let ev = r.map(|ev| match ev {
                Event::Apply(o) => Event::Apply(wrap(o)),
                Event::Delete(o) => Event::Delete(wrap(o)),
                Event::Init => Event::Init,
                Event::InitApply(o) => Event::InitApply(wrap(o)),
                Event::InitDone => Event::InitDone,
            });
            (id, ev)
        })
        .boxed()
}

/// The event loop: keeps the cache, and once every watch has listed, sends the groups
/// each batch of events changes.
pub async fn run_watches(
    role: Kind,
    attach: Attach,
    scopes: Vec<(Kind, Option<String>)>,
    mut streams: ChangeStream,
    updates: GroupSender,
) {
    let mut state = WatchState {
        role,
        attach,
        scopes,
        cache: Cache::default(),
        relists: HashMap::new(),
        listed: BTreeSet::new(),
        dirty: BTreeSet::new(),
        sent: HashMap::new(),
        synced: false,
    };
    loop {
        let next = tokio::select! {
            n = streams.next() => n,
            _ = updates.closed() => return,
        };
        let Some(first) = next else { return };
        state.handle(first);
        // Take whatever else is ready, so a burst becomes one update.
        while let Some(Some(more)) = streams.next().now_or_never() {
            state.handle(more);
        }
        let groups = state.changed_groups();
        if !groups.is_empty() && updates.send(groups).await.is_err() {
            return;
        }
    }
}

struct WatchState {
    role: Kind,
    attach: Attach,
    scopes: Vec<(Kind, Option<String>)>,
    cache: Cache,
    /// Objects of a relist in progress, per scope.
    relists: HashMap<usize, Vec<Object>>,
    /// Scopes that completed a list.
    listed: BTreeSet<usize>,
    /// Keys of the role's objects whose group may have changed.
    dirty: BTreeSet<Key>,
    /// The last group sent per source.
    sent: HashMap<String, TargetGroup>,
    synced: bool,
}

impl WatchState {
    fn handle(&mut self, (id, event): (usize, Result<Event<Object>, watcher::Error>)) {
        let event = match event {
            Ok(e) => e,
            Err(err) => {
                FAILURES.fetch_add(1, Ordering::Relaxed);
                let kind = self.scopes.get(id).map(|s| s.0.name()).unwrap_or("?");
                tracing::warn!(role = self.role.name(), kind, err = %err, "Kubernetes watch failed; retrying");
                return;
            }
        };
        match event {
            Event::Apply(o) => self.upsert(o),
            Event::Delete(o) => self.remove(o.kind(), o.key()),
            Event::Init => {
                self.relists.insert(id, Vec::new());
            }
            Event::InitApply(o) => self.relists.entry(id).or_default().push(o),
            Event::InitDone => {
                let listed = self.relists.remove(&id).unwrap_or_default();
                if let Some((kind, ns)) = self.scopes.get(id).cloned() {
                    let keep: BTreeSet<Key> = listed.iter().map(Object::key).collect();
                    let gone: Vec<Key> = self
                        .cache
                        .store(kind)
                        .keys()
                        .filter(|k| ns.as_ref().is_none_or(|ns| &k.0 == ns) && !keep.contains(*k))
                        .cloned()
                        .collect();
                    for k in gone {
                        self.remove(kind, k);
                    }
                }
                for o in listed {
                    self.upsert(o);
                }
                self.listed.insert(id);
            }
        }
    }

    fn upsert(&mut self, o: Object) {
        let kind = o.kind();
        let key = o.key();
        let old = self.cache.store_mut(kind).insert(key.clone(), o);
        count_event(kind, if old.is_some() { 2 } else { 0 });
        self.mark(kind, &key);
    }

    fn remove(&mut self, kind: Kind, key: Key) {
        if self.cache.store_mut(kind).remove(&key).is_some() {
            count_event(kind, 1);
        }
        self.mark(kind, &key);
    }

    /// Marks the role's objects whose group depends on `kind`'s object `key`.
    fn mark(&mut self, kind: Kind, key: &Key) {
        let role = self.role;
        if kind == role {
            self.dirty.insert(key.clone());
            return;
        }
        let main = self.cache.store(role);
        let affected: Vec<Key> = match kind {
            // Namespace and node metadata, and a pod's labels in endpoints, reach every
            // object of the namespace or on the node; finding exactly those is not worth
            // the index: rebuilding unchanged groups sends nothing.
            Kind::Namespace => main.keys().filter(|k| k.0 == key.1).cloned().collect(),
            Kind::Node if role == Kind::Pod => main
                .iter()
                .filter(|(_, o)| match o {
                    Object::Pod(p) => {
                        p.spec.as_ref().and_then(|s| s.node_name.as_deref()) == Some(&key.1)
                    }
                    _ => false,
                })
                .map(|(k, _)| k.clone())
                .collect(),
            Kind::Node => main.keys().cloned().collect(),
            Kind::Pod => main.keys().filter(|k| k.0 == key.0).cloned().collect(),
            Kind::Service if role == Kind::Endpoints => vec![key.clone()],
            Kind::Service => main
                .iter()
                .filter(|(k, o)| {
                    k.0 == key.0
                        && o.meta()
                            .labels
                            .as_ref()
                            .and_then(|l| l.get(targets::SERVICE_NAME_LABEL))
                            == Some(&key.1)
                })
                .map(|(k, _)| k.clone())
                .collect(),
            _ => Vec::new(),
        };
        self.dirty.extend(affected);
    }

    fn changed_groups(&mut self) -> Vec<TargetGroup> {
        if !self.synced {
            if self.listed.len() < self.scopes.len() {
                return Vec::new();
            }
            // First complete view: every object of the role.
            self.synced = true;
            self.dirty
                .extend(self.cache.store(self.role).keys().cloned());
        }
        let mut out = Vec::new();
        for key in std::mem::take(&mut self.dirty) {
            let src = targets::source(self.role, &key.0, &key.1);
            let group = match self.cache.store(self.role).get(&key) {
                Some(o) => match targets::build(o, &self.cache, self.attach) {
                    Some(g) => g,
                    None => continue,
                },
                None => TargetGroup {
                    source: src.clone(),
                    ..TargetGroup::default()
                },
            };
            let empty = group.targets.is_empty() && group.labels.is_empty();
            match self.sent.get(&src) {
                Some(prev) if *prev == group => continue,
                None if empty => continue,
                _ => {}
            }
            if empty {
                self.sent.remove(&src);
            } else {
                self.sent.insert(src, group.clone());
            }
            out.push(group);
        }
        out
    }
}
