#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Kubernetes SD against a fake API server on loopback that speaks the list+watch
//! protocol: per role, the target groups and labels upstream produces for the same
//! objects (cases in the spirit of upstream's discovery/kubernetes/*_test.go), updates
//! and deletions, dependent objects (services and pods behind endpoints, nodes and
//! namespaces for attach_metadata), namespaces and selectors, and watch resumption
//! (bookmarks, reconnects, 410 Gone relists). Waits are bounded, never asserted.

#[path = "support/fake_apiserver.rs"]
mod fake_apiserver;

use std::collections::BTreeMap;
use std::time::Duration;

use fake_apiserver::FakeApiServer;
use hearth_discovery::{Discoverer, KubernetesDiscoverer, KubernetesSdConfig, TargetGroup};
use hearth_model::Labels;
use serde_json::{Value, json};
use tokio::sync::mpsc;

type Groups = BTreeMap<String, TargetGroup>;

struct Running {
    rx: mpsc::Receiver<Vec<TargetGroup>>,
    groups: Groups,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn config(yaml: &str) -> KubernetesSdConfig {
    serde_saphyr::from_str(yaml).unwrap()
}

fn start(cfg: KubernetesSdConfig) -> Running {
    let d = KubernetesDiscoverer::new(cfg, "hearth-test").unwrap();
    let (tx, rx) = mpsc::channel(16);
    let task = tokio::spawn(Box::new(d).run(tx));
    Running {
        rx,
        groups: Groups::new(),
        task,
    }
}

impl Running {
    /// Receives updates until `done` holds for the merged groups (a group without
    /// targets and labels removes its source); panics after a generous deadline.
    async fn until(&mut self, what: &str, done: impl Fn(&Groups) -> bool) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while !done(&self.groups) {
            let msg = tokio::time::timeout_at(deadline, self.rx.recv())
                .await
                .unwrap_or_else(|_| panic!("timed out waiting for {what}; have {:#?}", self.groups))
                .expect("discoverer stopped");
            for g in msg {
                if g.targets.is_empty() && g.labels.is_empty() {
                    self.groups.remove(&g.source);
                } else {
                    self.groups.insert(g.source.clone(), g);
                }
            }
        }
    }

    async fn group(&mut self, source: &str) -> TargetGroup {
        self.until(source, |g| g.contains_key(source)).await;
        self.groups[source].clone()
    }
}

fn labels(pairs: &[(&str, &str)]) -> Labels {
    Labels::new(pairs.iter().copied())
}

fn meta(ns: &str, name: &str) -> Value {
    if ns.is_empty() {
        json!({"name": name, "uid": format!("uid-{name}")})
    } else {
        json!({"name": name, "namespace": ns, "uid": format!("uid-{name}")})
    }
}

fn pod(ns: &str, name: &str, ip: &str) -> Value {
    let mut m = meta(ns, name);
    m["labels"] = json!({"app.kubernetes.io/name": "web"});
    m["annotations"] = json!({"prometheus.io/scrape": "true"});
    m["ownerReferences"] = json!([
        {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-1", "uid": "rs", "controller": true}
    ]);
    json!({
        "apiVersion": "v1", "kind": "Pod", "metadata": m,
        "spec": {
            "nodeName": "node-1",
            "containers": [
                {"name": "app", "image": "app:1", "ports": [
                    {"name": "http", "containerPort": 8080, "protocol": "TCP"},
                    {"name": "metrics", "containerPort": 9102, "protocol": "TCP"}]},
                {"name": "sidecar", "image": "side:2"}
            ],
            "initContainers": [
                {"name": "init", "image": "init:3", "ports": [{"containerPort": 7000, "protocol": "UDP"}]}
            ]
        },
        "status": {
            "phase": "Running", "podIP": ip, "hostIP": "10.0.0.1",
            "conditions": [{"type": "Ready", "status": "True"}],
            "containerStatuses": [{"name": "app", "containerID": "containerd://abc", "image": "app:1",
                "imageID": "", "ready": true, "restartCount": 0}]
        }
    })
}

fn node(name: &str) -> Value {
    let mut m = meta("", name);
    m["labels"] = json!({"topology.kubernetes.io/zone": "z1"});
    m["annotations"] = json!({"note": "n"});
    json!({
        "apiVersion": "v1", "kind": "Node", "metadata": m,
        "spec": {"providerID": "aws:///z1/i-1"},
        "status": {
            "addresses": [{"type": "Hostname", "address": name}, {"type": "InternalIP", "address": "10.0.0.1"},
                          {"type": "InternalIP", "address": "10.0.0.2"}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}}
        }
    })
}

fn service(ns: &str, name: &str) -> Value {
    let mut m = meta(ns, name);
    m["labels"] = json!({"team": "a"});
    json!({
        "apiVersion": "v1", "kind": "Service", "metadata": m,
        "spec": {"type": "ClusterIP", "clusterIP": "10.96.0.10", "ports": [
            {"name": "http", "port": 80, "protocol": "TCP"},
            {"name": "metrics", "port": 9102, "protocol": "TCP"}]}
    })
}

#[tokio::test]
async fn pod_role_targets_updates_and_deletion() {
    let api = FakeApiServer::start().await;
    api.apply("pods", pod("default", "web-a", "10.1.0.5"));
    // A pod without an IP yet has no group at all.
    api.apply("pods", pod("default", "pending", ""));
    let mut d = start(config(&format!("role: pod\napi_server: {}\n", api.url())));
    let g = d.group("pod/default/web-a").await;
    assert!(!d.groups.contains_key("pod/default/pending"));
    assert_eq!(
        g.labels,
        labels(&[
            ("__meta_kubernetes_namespace", "default"),
            ("__meta_kubernetes_pod_name", "web-a"),
            ("__meta_kubernetes_pod_ip", "10.1.0.5"),
            ("__meta_kubernetes_pod_ready", "true"),
            ("__meta_kubernetes_pod_phase", "Running"),
            ("__meta_kubernetes_pod_node_name", "node-1"),
            ("__meta_kubernetes_pod_host_ip", "10.0.0.1"),
            ("__meta_kubernetes_pod_uid", "uid-web-a"),
            ("__meta_kubernetes_pod_label_app_kubernetes_io_name", "web"),
            (
                "__meta_kubernetes_pod_labelpresent_app_kubernetes_io_name",
                "true"
            ),
            (
                "__meta_kubernetes_pod_annotation_prometheus_io_scrape",
                "true"
            ),
            (
                "__meta_kubernetes_pod_annotationpresent_prometheus_io_scrape",
                "true"
            ),
            ("__meta_kubernetes_pod_controller_kind", "ReplicaSet"),
            ("__meta_kubernetes_pod_controller_name", "web-1"),
        ])
    );
    let app = |port: &str, name: &str| {
        labels(&[
            ("__address__", &format!("10.1.0.5:{port}")),
            ("__meta_kubernetes_pod_container_name", "app"),
            ("__meta_kubernetes_pod_container_id", "containerd://abc"),
            ("__meta_kubernetes_pod_container_image", "app:1"),
            ("__meta_kubernetes_pod_container_init", "false"),
            ("__meta_kubernetes_pod_container_port_number", port),
            ("__meta_kubernetes_pod_container_port_name", name),
            ("__meta_kubernetes_pod_container_port_protocol", "TCP"),
        ])
    };
    assert_eq!(
        g.targets,
        vec![
            app("8080", "http"),
            app("9102", "metrics"),
            // No ports: the bare pod IP.
            labels(&[
                ("__address__", "10.1.0.5"),
                ("__meta_kubernetes_pod_container_name", "sidecar"),
                ("__meta_kubernetes_pod_container_image", "side:2"),
                ("__meta_kubernetes_pod_container_init", "false"),
            ]),
            labels(&[
                ("__address__", "10.1.0.5:7000"),
                ("__meta_kubernetes_pod_container_name", "init"),
                ("__meta_kubernetes_pod_container_image", "init:3"),
                ("__meta_kubernetes_pod_container_init", "true"),
                ("__meta_kubernetes_pod_container_port_number", "7000"),
                ("__meta_kubernetes_pod_container_port_protocol", "UDP"),
            ]),
        ]
    );

    // MODIFIED: the pod gets its IP.
    api.apply("pods", pod("default", "pending", "10.1.0.6"));
    let g = d.group("pod/default/pending").await;
    assert_eq!(g.targets[0].get("__address__"), Some("10.1.0.6:8080"));

    // DELETED: the source's group goes.
    api.delete("pods", "default", "web-a");
    d.until("deletion of web-a", |g| {
        !g.contains_key("pod/default/web-a")
    })
    .await;
    assert!(d.groups.contains_key("pod/default/pending"));
}

#[tokio::test]
async fn node_role_prefers_the_internal_ip_and_sets_instance() {
    let api = FakeApiServer::start().await;
    api.apply("nodes", node("node-1"));
    api.apply(
        "nodes",
        json!({"apiVersion": "v1", "kind": "Node", "metadata": meta("", "no-address"), "status": {}}),
    );
    let mut d = start(config(&format!("role: node\napi_server: {}\n", api.url())));
    let g = d.group("node/node-1").await;
    assert_eq!(
        g.labels,
        labels(&[
            ("__meta_kubernetes_node_name", "node-1"),
            ("__meta_kubernetes_node_provider_id", "aws:///z1/i-1"),
            (
                "__meta_kubernetes_node_label_topology_kubernetes_io_zone",
                "z1"
            ),
            (
                "__meta_kubernetes_node_labelpresent_topology_kubernetes_io_zone",
                "true"
            ),
            ("__meta_kubernetes_node_annotation_note", "n"),
            ("__meta_kubernetes_node_annotationpresent_note", "true"),
        ])
    );
    assert_eq!(
        g.targets,
        vec![labels(&[
            ("__address__", "10.0.0.1:10250"),
            ("instance", "node-1"),
            ("__meta_kubernetes_node_address_InternalIP", "10.0.0.1"),
            ("__meta_kubernetes_node_address_Hostname", "node-1"),
        ])]
    );
    // A node without addresses is skipped, as upstream.
    assert!(!d.groups.contains_key("node/no-address"));
}

#[tokio::test]
async fn service_role_per_port_targets_by_type() {
    let api = FakeApiServer::start().await;
    api.apply("services", service("default", "web"));
    api.apply(
        "services",
        json!({"apiVersion": "v1", "kind": "Service", "metadata": meta("default", "ext"),
               "spec": {"type": "ExternalName", "externalName": "db.example.com",
                        "ports": [{"port": 5432, "protocol": "TCP"}]}}),
    );
    api.apply(
        "services",
        json!({"apiVersion": "v1", "kind": "Service", "metadata": meta("default", "lb"),
               "spec": {"type": "LoadBalancer", "clusterIP": "10.96.0.11", "loadBalancerIP": "1.2.3.4",
                        "ports": [{"name": "https", "port": 443, "protocol": "TCP"}]}}),
    );
    let mut d = start(config(&format!(
        "role: service\napi_server: {}\n",
        api.url()
    )));
    let g = d.group("svc/default/web").await;
    assert_eq!(
        g.labels,
        labels(&[
            ("__meta_kubernetes_namespace", "default"),
            ("__meta_kubernetes_service_name", "web"),
            ("__meta_kubernetes_service_label_team", "a"),
            ("__meta_kubernetes_service_labelpresent_team", "true"),
        ])
    );
    assert_eq!(
        g.targets[1],
        labels(&[
            ("__address__", "web.default.svc:9102"),
            ("__meta_kubernetes_service_port_name", "metrics"),
            ("__meta_kubernetes_service_port_number", "9102"),
            ("__meta_kubernetes_service_port_protocol", "TCP"),
            ("__meta_kubernetes_service_type", "ClusterIP"),
            ("__meta_kubernetes_service_cluster_ip", "10.96.0.10"),
        ])
    );
    let g = d.group("svc/default/ext").await;
    assert_eq!(
        g.targets,
        vec![labels(&[
            ("__address__", "ext.default.svc:5432"),
            ("__meta_kubernetes_service_port_number", "5432"),
            ("__meta_kubernetes_service_port_protocol", "TCP"),
            ("__meta_kubernetes_service_type", "ExternalName"),
            ("__meta_kubernetes_service_external_name", "db.example.com"),
        ])]
    );
    let g = d.group("svc/default/lb").await;
    assert_eq!(
        g.targets[0].get("__meta_kubernetes_service_loadbalancer_ip"),
        Some("1.2.3.4")
    );
}

fn endpoints(ns: &str, name: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Endpoints", "metadata": meta(ns, name),
        "subsets": [{
            "addresses": [
                {"ip": "10.1.0.5", "nodeName": "node-1",
                 "targetRef": {"kind": "Pod", "name": "web-a", "namespace": ns}},
                {"ip": "10.9.9.9", "hostname": "ext-host",
                 "targetRef": {"kind": "Node", "name": "node-9"}}
            ],
            "notReadyAddresses": [{"ip": "10.1.0.7"}],
            "ports": [{"name": "metrics", "port": 9102, "protocol": "TCP"}]
        }]
    })
}

#[tokio::test]
async fn endpoints_role_joins_pods_and_services() {
    let api = FakeApiServer::start().await;
    api.apply("pods", pod("default", "web-a", "10.1.0.5"));
    api.apply("services", service("default", "web"));
    api.apply("endpoints", endpoints("default", "web"));
    let mut d = start(config(&format!(
        "role: endpoints\napi_server: {}\n",
        api.url()
    )));
    let g = d.group("endpoints/default/web").await;
    assert_eq!(
        g.labels.get("__meta_kubernetes_endpoints_name"),
        Some("web")
    );
    assert_eq!(g.labels.get("__meta_kubernetes_service_name"), Some("web"));
    assert_eq!(
        g.labels.get("__meta_kubernetes_service_label_team"),
        Some("a")
    );
    assert_eq!(g.targets.len(), 5, "{:#?}", g.targets);
    // The pod's address: endpoint labels, pod labels and the matching container port.
    let t = &g.targets[0];
    for (n, v) in [
        ("__address__", "10.1.0.5:9102"),
        ("__meta_kubernetes_endpoint_ready", "true"),
        ("__meta_kubernetes_endpoint_port_name", "metrics"),
        ("__meta_kubernetes_endpoint_port_protocol", "TCP"),
        ("__meta_kubernetes_endpoint_node_name", "node-1"),
        ("__meta_kubernetes_pod_name", "web-a"),
        ("__meta_kubernetes_pod_container_name", "app"),
        ("__meta_kubernetes_pod_container_port_name", "metrics"),
        ("__meta_kubernetes_pod_container_port_number", "9102"),
        ("__meta_kubernetes_pod_container_init", "false"),
    ] {
        assert_eq!(t.get(n), Some(v), "{n} in {t:?}");
    }
    assert_eq!(
        t.get("__meta_kubernetes_endpoint_address_target_kind"),
        None
    );
    // An address pointing at a node carries its target reference instead.
    let t = &g.targets[1];
    assert_eq!(t.get("__address__"), Some("10.9.9.9:9102"));
    assert_eq!(
        t.get("__meta_kubernetes_endpoint_hostname"),
        Some("ext-host")
    );
    assert_eq!(
        t.get("__meta_kubernetes_endpoint_address_target_kind"),
        Some("Node")
    );
    assert_eq!(
        t.get("__meta_kubernetes_endpoint_address_target_name"),
        Some("node-9")
    );
    assert_eq!(t.get("__meta_kubernetes_pod_name"), None);
    // Not ready.
    assert_eq!(g.targets[2].get("__address__"), Some("10.1.0.7:9102"));
    assert_eq!(
        g.targets[2].get("__meta_kubernetes_endpoint_ready"),
        Some("false")
    );
    // The pod's container ports no endpoint port covers become targets too.
    let extra: Vec<&str> = g.targets[3..]
        .iter()
        .map(|t| t.get("__address__").unwrap())
        .collect();
    assert_eq!(extra, ["10.1.0.5:8080", "10.1.0.5:7000"]);
    assert_eq!(g.targets[3].get("__meta_kubernetes_endpoint_ready"), None);
    assert_eq!(
        g.targets[3].get("__meta_kubernetes_pod_ready"),
        Some("true")
    );

    // A change of the service alone updates the endpoints' group.
    let mut svc = service("default", "web");
    svc["metadata"]["labels"] = json!({"team": "b"});
    api.apply("services", svc);
    d.until("the service's new label", |g| {
        g.get("endpoints/default/web")
            .is_some_and(|g| g.labels.get("__meta_kubernetes_service_label_team") == Some("b"))
    })
    .await;
}

#[tokio::test]
async fn endpointslice_role_labels() {
    let api = FakeApiServer::start().await;
    api.apply("pods", pod("default", "web-a", "10.1.0.5"));
    api.apply("services", service("default", "web"));
    let mut m = meta("default", "web-abc");
    m["labels"] = json!({"kubernetes.io/service-name": "web"});
    api.apply(
        "endpointslices",
        json!({
            "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "metadata": m,
            "addressType": "IPv4",
            "endpoints": [
                {"addresses": ["10.1.0.5"], "conditions": {"ready": true, "serving": true, "terminating": false},
                 "hostname": "web-a", "nodeName": "node-1", "zone": "z1",
                 "targetRef": {"kind": "Pod", "name": "web-a", "namespace": "default"}},
                {"addresses": ["10.1.0.8"], "conditions": {"ready": false}}
            ],
            "ports": [{"name": "metrics", "port": 9102, "protocol": "TCP", "appProtocol": "http"}]
        }),
    );
    let mut d = start(config(&format!(
        "role: endpointslice\napi_server: {}\n",
        api.url()
    )));
    let g = d.group("endpointslice/default/web-abc").await;
    for (n, v) in [
        ("__meta_kubernetes_namespace", "default"),
        ("__meta_kubernetes_endpointslice_name", "web-abc"),
        ("__meta_kubernetes_endpointslice_address_type", "IPv4"),
        (
            "__meta_kubernetes_endpointslice_label_kubernetes_io_service_name",
            "web",
        ),
        ("__meta_kubernetes_service_name", "web"),
    ] {
        assert_eq!(g.labels.get(n), Some(v), "{n}");
    }
    let t = &g.targets[0];
    for (n, v) in [
        ("__address__", "10.1.0.5:9102"),
        ("__meta_kubernetes_endpointslice_port", "9102"),
        ("__meta_kubernetes_endpointslice_port_name", "metrics"),
        ("__meta_kubernetes_endpointslice_port_protocol", "TCP"),
        ("__meta_kubernetes_endpointslice_port_app_protocol", "http"),
        (
            "__meta_kubernetes_endpointslice_endpoint_conditions_ready",
            "true",
        ),
        (
            "__meta_kubernetes_endpointslice_endpoint_conditions_serving",
            "true",
        ),
        (
            "__meta_kubernetes_endpointslice_endpoint_conditions_terminating",
            "false",
        ),
        ("__meta_kubernetes_endpointslice_endpoint_hostname", "web-a"),
        (
            "__meta_kubernetes_endpointslice_endpoint_node_name",
            "node-1",
        ),
        ("__meta_kubernetes_endpointslice_endpoint_zone", "z1"),
        ("__meta_kubernetes_pod_name", "web-a"),
        ("__meta_kubernetes_pod_container_port_name", "metrics"),
    ] {
        assert_eq!(t.get(n), Some(v), "{n} in {t:?}");
    }
    let t = &g.targets[1];
    assert_eq!(t.get("__address__"), Some("10.1.0.8:9102"));
    assert_eq!(
        t.get("__meta_kubernetes_endpointslice_endpoint_conditions_ready"),
        Some("false")
    );
    assert_eq!(
        t.get("__meta_kubernetes_endpointslice_endpoint_conditions_serving"),
        None
    );
    // Plus the pod's two uncovered container ports.
    assert_eq!(g.targets.len(), 4);
}

#[tokio::test]
async fn ingress_role_schemes_and_paths() {
    let api = FakeApiServer::start().await;
    api.apply(
        "ingresses",
        json!({
            "apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": meta("default", "site"),
            "spec": {
                "ingressClassName": "nginx",
                "tls": [{"hosts": ["*.example.com"]}],
                "rules": [
                    {"host": "a.example.com", "http": {"paths": [
                        {"path": "/", "pathType": "Prefix", "backend": {"service": {"name": "s", "port": {"number": 80}}}},
                        {"path": "/metrics", "pathType": "Prefix", "backend": {"service": {"name": "s", "port": {"number": 80}}}}]}},
                    {"host": "plain.test"}
                ]
            }
        }),
    );
    let mut d = start(config(&format!(
        "role: ingress\napi_server: {}\n",
        api.url()
    )));
    let g = d.group("ingress/default/site").await;
    assert_eq!(
        g.labels.get("__meta_kubernetes_ingress_class_name"),
        Some("nginx")
    );
    assert_eq!(g.labels.get("__meta_kubernetes_ingress_name"), Some("site"));
    let t = |addr: &str, scheme: &str, path: &str| {
        labels(&[
            ("__address__", addr),
            ("__meta_kubernetes_ingress_scheme", scheme),
            ("__meta_kubernetes_ingress_host", addr),
            ("__meta_kubernetes_ingress_path", path),
        ])
    };
    assert_eq!(
        g.targets,
        vec![
            t("a.example.com", "https", "/"),
            t("a.example.com", "https", "/metrics"),
            t("plain.test", "http", "/"),
        ]
    );
}

#[tokio::test]
async fn namespaces_selectors_and_attached_metadata() {
    let api = FakeApiServer::start().await;
    api.apply("pods", pod("team-a", "web-a", "10.1.0.5"));
    let mut other = pod("team-a", "batch", "10.1.0.6");
    other["metadata"]["labels"] = json!({"app.kubernetes.io/name": "batch"});
    api.apply("pods", other);
    api.apply("pods", pod("team-b", "web-b", "10.2.0.5"));
    api.apply("nodes", node("node-1"));
    let mut ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": meta("", "team-a")});
    ns["metadata"]["labels"] = json!({"owner": "alice"});
    api.apply("namespaces", ns.clone());
    let mut d = start(config(&format!(
        "role: pod\napi_server: {}\nnamespaces: {{names: [team-a]}}\n\
         selectors: [{{role: pod, label: app.kubernetes.io/name=web}}]\n\
         attach_metadata: {{node: true, namespace: true}}\n",
        api.url()
    )));
    let g = d.group("pod/team-a/web-a").await;
    assert_eq!(g.labels.get("__meta_kubernetes_node_name"), Some("node-1"));
    assert_eq!(
        g.labels.get("__meta_kubernetes_node_provider_id"),
        Some("aws:///z1/i-1")
    );
    assert_eq!(
        g.labels
            .get("__meta_kubernetes_node_label_topology_kubernetes_io_zone"),
        Some("z1")
    );
    assert_eq!(
        g.labels.get("__meta_kubernetes_namespace_label_owner"),
        Some("alice")
    );
    assert_eq!(
        g.labels
            .get("__meta_kubernetes_namespace_labelpresent_owner"),
        Some("true")
    );
    assert_eq!(
        d.groups.len(),
        1,
        "only team-a's web pod: {:?}",
        d.groups.keys()
    );
    let reqs = api.requests();
    assert!(
        reqs.iter()
            .any(|r| r.starts_with("/api/v1/namespaces/team-a/pods")
                && r.contains("labelSelector=app.kubernetes.io%2Fname%3Dweb")),
        "{reqs:#?}"
    );

    // A node change reaches its pods; so does a namespace change.
    let mut n = node("node-1");
    n["metadata"]["labels"] = json!({"topology.kubernetes.io/zone": "z2"});
    api.apply("nodes", n);
    d.until("the node's new zone", |g| {
        g["pod/team-a/web-a"]
            .labels
            .get("__meta_kubernetes_node_label_topology_kubernetes_io_zone")
            == Some("z2")
    })
    .await;
    ns["metadata"]["labels"] = json!({"owner": "bob"});
    api.apply("namespaces", ns);
    d.until("the namespace's new owner", |g| {
        g["pod/team-a/web-a"]
            .labels
            .get("__meta_kubernetes_namespace_label_owner")
            == Some("bob")
    })
    .await;
}

#[tokio::test]
async fn watches_resume_after_bookmarks_and_relist_after_410() {
    let api = FakeApiServer::start().await;
    api.apply("pods", pod("default", "web-a", "10.1.0.5"));
    let mut d = start(config(&format!("role: pod\napi_server: {}\n", api.url())));
    d.group("pod/default/web-a").await;
    api.apply("pods", pod("default", "web-b", "10.1.0.6"));
    d.group("pod/default/web-b").await;
    let bookmark = api.bookmark("pods", "Pod", "v1");

    // A dropped watch resumes from the bookmark's resourceVersion.
    api.disconnect_watches();
    let watches = || -> Vec<String> {
        api.requests()
            .into_iter()
            .filter(|r| r.contains("watch=true"))
            .collect()
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while watches().len() < 2 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no new watch: {:#?}",
            api.requests()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let resumed = &watches()[1];
    assert!(
        resumed.contains(&format!("resourceVersion={bookmark}")),
        "watch not resumed from bookmark {bookmark}: {resumed}"
    );
    api.apply("pods", pod("default", "web-c", "10.1.0.7"));
    d.group("pod/default/web-c").await;

    // History compacted while a pod went away unseen: the 410 makes the client relist,
    // and the relist drops it.
    api.delete_silently("pods", "default", "web-a");
    api.compact();
    api.disconnect_watches();
    d.until("web-a gone after the relist", |g| {
        !g.contains_key("pod/default/web-a")
    })
    .await;
    assert!(d.groups.contains_key("pod/default/web-b"));
    assert!(d.groups.contains_key("pod/default/web-c"));
}

#[tokio::test]
async fn unsupported_client_settings_are_refused_up_front() {
    let cfg = config(
        "role: pod\napi_server: http://127.0.0.1:1\noauth2: {client_id: a, token_url: http://127.0.0.1:1/t}\n",
    );
    let err = KubernetesDiscoverer::new(cfg, "t").err().unwrap();
    assert!(err.to_string().contains("oauth2"), "{err}");
}
