//! A fake Kubernetes API server on loopback for tests: it answers list requests with
//! the objects it holds and streams watch events as newline-delimited JSON (ADDED,
//! MODIFIED, DELETED, BOOKMARK, and ERROR 410 for a compacted resourceVersion), resuming
//! from the resourceVersion a watch asks for. Shared by the discovery crate's tests and
//! the binary's end-to-end test (included with `#[path]`).

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio::sync::watch;

#[derive(Clone)]
struct LoggedEvent {
    rv: u64,
    resource: String,
    namespace: String,
    kind: &'static str,
    object: Value,
}

#[derive(Default)]
struct ApiState {
    rv: u64,
    /// resource → "namespace/name" → object.
    objects: BTreeMap<String, BTreeMap<String, Value>>,
    log: Vec<LoggedEvent>,
    /// Watches asking for an older resourceVersion get 410 Gone.
    compacted: u64,
    /// Bumped to end every open watch.
    epoch: u64,
    requests: Vec<String>,
}

/// The fake server; it stops when dropped.
pub struct FakeApiServer {
    pub addr: SocketAddr,
    state: Arc<Mutex<ApiState>>,
    tick: watch::Sender<u64>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeApiServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[derive(Clone)]
struct Shared {
    state: Arc<Mutex<ApiState>>,
    tick: watch::Sender<u64>,
}

/// `(resource, namespace)` of a request path: `/api/v1/pods` → `("pods", "")`,
/// `/apis/discovery.k8s.io/v1/namespaces/a/endpointslices` → `("endpointslices", "a")`.
fn parse_path(path: &str) -> (String, String) {
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    if let Some(i) = segs.iter().position(|s| *s == "namespaces")
        && segs.len() == i + 3
    {
        return (segs[i + 2].to_string(), segs[i + 1].to_string());
    }
    (
        segs.last().copied().unwrap_or_default().to_string(),
        String::new(),
    )
}

fn namespace_of(obj: &Value) -> String {
    obj["metadata"]["namespace"]
        .as_str()
        .unwrap_or("")
        .to_string()
}

fn name_of(obj: &Value) -> String {
    obj["metadata"]["name"].as_str().unwrap_or("").to_string()
}

/// `a=b,c=d` equality selectors only.
fn selects(selector: &str, obj: &Value) -> bool {
    selector.split(',').filter(|s| !s.is_empty()).all(|term| {
        let Some((k, v)) = term.split_once('=') else {
            return true;
        };
        obj["metadata"]["labels"][k.trim_end_matches('=')].as_str() == Some(v)
    })
}

fn in_scope(ns: &str, obj_ns: &str) -> bool {
    ns.is_empty() || ns == obj_ns
}

async fn handle(
    State(shared): State<Shared>,
    uri: Uri,
    Query(q): Query<BTreeMap<String, String>>,
) -> Response {
    let (resource, ns) = parse_path(uri.path());
    let selector = q.get("labelSelector").cloned().unwrap_or_default();
    shared.state.lock().unwrap().requests.push(uri.to_string());
    if q.get("watch").map(String::as_str) != Some("true") {
        let st = shared.state.lock().unwrap();
        let items: Vec<Value> = st
            .objects
            .get(&resource)
            .map(|m| {
                m.values()
                    .filter(|o| in_scope(&ns, &namespace_of(o)) && selects(&selector, o))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        let body = json!({
            "kind": "List", "apiVersion": "v1",
            "metadata": {"resourceVersion": st.rv.to_string()},
            "items": items,
        });
        return (StatusCode::OK, axum::Json(body)).into_response();
    }
    let since: u64 = q
        .get("resourceVersion")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let (epoch, gone) = {
        let st = shared.state.lock().unwrap();
        (st.epoch, since < st.compacted)
    };
    if gone {
        let line = json!({"type": "ERROR", "object": {
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": "too old resource version", "reason": "Expired", "code": 410}});
        return Response::new(Body::from(format!("{line}\n")));
    }
    let rx = shared.tick.subscribe();
    let stream = futures_util::stream::unfold(
        (since, rx, shared.state.clone()),
        move |(mut since, mut rx, state)| {
            let resource = resource.clone();
            let ns = ns.clone();
            let selector = selector.clone();
            async move {
                loop {
                    rx.borrow_and_update();
                    {
                        // Events already logged go out before a disconnect closes
                        // the stream, so a test knows what the client saw.
                        let st = state.lock().unwrap();
                        let next = st.log.iter().find(|e| {
                            e.rv > since
                                && e.resource == resource
                                && (e.kind == "BOOKMARK" || in_scope(&ns, &e.namespace))
                                && (e.kind == "BOOKMARK" || selects(&selector, &e.object))
                        });
                        if let Some(e) = next {
                            since = e.rv;
                            let line = json!({"type": e.kind, "object": e.object});
                            return Some((
                                Ok::<_, std::io::Error>(format!("{line}\n")),
                                (since, rx, state.clone()),
                            ));
                        }
                        if st.epoch != epoch {
                            return None;
                        }
                    }
                    if rx.changed().await.is_err() {
                        return None;
                    }
                }
            }
        },
    );
    Response::new(Body::from_stream(stream))
}

impl FakeApiServer {
    pub async fn start() -> FakeApiServer {
        let state = Arc::new(Mutex::new(ApiState::default()));
        let (tick, _) = watch::channel(0);
        let shared = Shared {
            state: state.clone(),
            tick: tick.clone(),
        };
        let app = axum::Router::new().fallback(handle).with_state(shared);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeApiServer {
            addr,
            state,
            tick,
            task,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn record(&self, resource: &str, kind: &'static str, mut object: Value) -> u64 {
        let mut st = self.state.lock().unwrap();
        st.rv += 1;
        let rv = st.rv;
        object["metadata"]["resourceVersion"] = json!(rv.to_string());
        let ns = namespace_of(&object);
        if kind != "BOOKMARK" {
            let key = format!("{ns}/{}", name_of(&object));
            let store = st.objects.entry(resource.to_string()).or_default();
            if kind == "DELETED" {
                store.remove(&key);
            } else {
                store.insert(key, object.clone());
            }
        }
        st.log.push(LoggedEvent {
            rv,
            resource: resource.to_string(),
            namespace: ns,
            kind,
            object,
        });
        drop(st);
        self.tick.send_modify(|t| *t += 1);
        rv
    }

    /// Adds or replaces an object of `resource` (`pods`, `endpointslices`, ...): an
    /// ADDED or MODIFIED event.
    pub fn apply(&self, resource: &str, object: Value) -> u64 {
        let key = format!("{}/{}", namespace_of(&object), name_of(&object));
        let exists = self
            .state
            .lock()
            .unwrap()
            .objects
            .get(resource)
            .is_some_and(|m| m.contains_key(&key));
        self.record(resource, if exists { "MODIFIED" } else { "ADDED" }, object)
    }

    /// Deletes an object: a DELETED event carrying its last state.
    pub fn delete(&self, resource: &str, namespace: &str, name: &str) -> u64 {
        let key = format!("{namespace}/{name}");
        let last = self
            .state
            .lock()
            .unwrap()
            .objects
            .get(resource)
            .and_then(|m| m.get(&key).cloned());
        let Some(last) = last else {
            panic!("fake API server has no {resource} {key}");
        };
        self.record(resource, "DELETED", last)
    }

    /// A BOOKMARK event for `resource` carrying the current resourceVersion.
    pub fn bookmark(&self, resource: &str, kind: &str, api_version: &str) -> u64 {
        self.record(
            resource,
            "BOOKMARK",
            json!({"kind": kind, "apiVersion": api_version, "metadata": {}}),
        )
    }

    /// Ends every open watch (clients reconnect with their last resourceVersion).
    pub fn disconnect_watches(&self) {
        self.state.lock().unwrap().epoch += 1;
        self.tick.send_modify(|t| *t += 1);
    }

    /// Forgets history: watches from an older resourceVersion get 410 Gone and relist.
    pub fn compact(&self) {
        let mut st = self.state.lock().unwrap();
        st.compacted = st.rv;
    }

    /// Changes objects without any watch event (what a client misses while it is
    /// disconnected from a compacted history).
    pub fn delete_silently(&self, resource: &str, namespace: &str, name: &str) {
        let mut st = self.state.lock().unwrap();
        st.rv += 1;
        if let Some(m) = st.objects.get_mut(resource) {
            m.remove(&format!("{namespace}/{name}"));
        }
    }

    /// Every request URI seen so far.
    pub fn requests(&self) -> Vec<String> {
        self.state.lock().unwrap().requests.clone()
    }
}
