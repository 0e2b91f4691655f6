//! Target groups per role, built from a watched object and the objects it refers to,
//! with upstream's sources, `__address__` values and `__meta_kubernetes_*` labels.

#![allow(deprecated)] // core/v1 Endpoints: deprecated by Kubernetes 1.33, still served.

use std::collections::BTreeMap;

use hearth_model::Labels;
use k8s_openapi::api::core::v1::{
    Container, ContainerPort, Endpoints, Node, ObjectReference, Pod, Service,
};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::networking::v1::Ingress;

use super::cache::{Cache, Kind, Object};
use super::meta::{
    LabelMap, META, NAMESPACE_LABEL, add_namespace_meta, add_node_meta, add_object_meta,
    join_host_port, set,
};
use crate::target_group::{ADDRESS_LABEL, TargetGroup};

/// `attach_metadata`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Attach {
    pub node: bool,
    pub namespace: bool,
}

/// The group source upstream uses for an object of a role.
pub fn source(kind: Kind, ns: &str, name: &str) -> String {
    match kind {
        Kind::Pod => format!("pod/{ns}/{name}"),
        Kind::Service => format!("svc/{ns}/{name}"),
        Kind::Endpoints => format!("endpoints/{ns}/{name}"),
        Kind::EndpointSlice => format!("endpointslice/{ns}/{name}"),
        Kind::Ingress => format!("ingress/{ns}/{name}"),
        Kind::Node => format!("node/{name}"),
        Kind::Namespace => format!("namespace/{name}"),
    }
}

fn group(source: String, labels: LabelMap, targets: Vec<LabelMap>) -> TargetGroup {
    TargetGroup {
        targets: targets.into_iter().map(Labels::new).collect(),
        labels: Labels::new(labels),
        source,
    }
}

/// The group of one object of the role, or `None` when upstream sends nothing for it
/// (a node without any address).
pub fn build(obj: &Object, cache: &Cache, attach: Attach) -> Option<TargetGroup> {
    match obj {
        Object::Pod(p) => Some(pod_group(p, cache, attach)),
        Object::Node(n) => node_group(n),
        Object::Service(s) => Some(service_group(s, cache, attach)),
        Object::Endpoints(e) => Some(endpoints_group(e, cache, attach)),
        Object::EndpointSlice(e) => Some(endpointslice_group(e, cache, attach)),
        Object::Ingress(i) => Some(ingress_group(i, cache, attach)),
        Object::Namespace(_) => None,
    }
}

// ---- pod ----

fn pod_labels(pod: &Pod) -> LabelMap {
    let mut ls = LabelMap::new();
    let status = pod.status.as_ref();
    let spec = pod.spec.as_ref();
    set(
        &mut ls,
        "__meta_kubernetes_pod_ip",
        status.and_then(|s| s.pod_ip.clone()).unwrap_or_default(),
    );
    let ready = status
        .and_then(|s| s.conditions.as_ref())
        .and_then(|c| c.iter().find(|c| c.type_ == "Ready"))
        .map(|c| c.status.to_lowercase())
        .unwrap_or_else(|| "unknown".into());
    set(&mut ls, "__meta_kubernetes_pod_ready", ready);
    set(
        &mut ls,
        "__meta_kubernetes_pod_phase",
        status.and_then(|s| s.phase.clone()).unwrap_or_default(),
    );
    set(
        &mut ls,
        "__meta_kubernetes_pod_node_name",
        spec.and_then(|s| s.node_name.clone()).unwrap_or_default(),
    );
    set(
        &mut ls,
        "__meta_kubernetes_pod_host_ip",
        status.and_then(|s| s.host_ip.clone()).unwrap_or_default(),
    );
    set(
        &mut ls,
        "__meta_kubernetes_pod_uid",
        pod.metadata.uid.clone().unwrap_or_default(),
    );
    add_object_meta(&mut ls, &pod.metadata, "pod");
    let controller = pod
        .metadata
        .owner_references
        .iter()
        .flatten()
        .find(|r| r.controller == Some(true));
    if let Some(c) = controller {
        set(
            &mut ls,
            "__meta_kubernetes_pod_controller_kind",
            c.kind.clone(),
        );
        set(
            &mut ls,
            "__meta_kubernetes_pod_controller_name",
            c.name.clone(),
        );
    }
    ls
}

/// The pod's containers, then its init containers, each with whether it is an init one.
fn containers(pod: &Pod) -> Vec<(&Container, bool)> {
    let Some(spec) = &pod.spec else {
        return Vec::new();
    };
    spec.containers
        .iter()
        .map(|c| (c, false))
        .chain(spec.init_containers.iter().flatten().map(|c| (c, true)))
        .collect()
}

fn container_id(pod: &Pod, name: &str, init: bool) -> String {
    let status = pod.status.as_ref();
    let statuses = if init {
        status.and_then(|s| s.init_container_statuses.as_ref())
    } else {
        status.and_then(|s| s.container_statuses.as_ref())
    };
    statuses
        .into_iter()
        .flatten()
        .find(|s| s.name == name)
        .and_then(|s| s.container_id.clone())
        .unwrap_or_default()
}

fn pod_ip(pod: &Pod) -> &str {
    pod.status
        .as_ref()
        .and_then(|s| s.pod_ip.as_deref())
        .unwrap_or("")
}

fn pod_group(pod: &Pod, cache: &Cache, attach: Attach) -> TargetGroup {
    let (ns, name) = super::meta::key_of(&pod.metadata);
    let src = source(Kind::Pod, &ns, &name);
    let ip = pod_ip(pod);
    // A starting or evicted pod has no IP: its group is empty.
    if ip.is_empty() {
        return group(src, LabelMap::new(), Vec::new());
    }
    let mut labels = pod_labels(pod);
    set(&mut labels, NAMESPACE_LABEL, ns.clone());
    if attach.node {
        let node = pod.spec.as_ref().and_then(|s| s.node_name.as_deref());
        add_node_meta(&mut labels, node.and_then(|n| cache.node(n)));
    }
    if attach.namespace {
        add_namespace_meta(&mut labels, cache.namespace(&ns));
    }
    let mut targets = Vec::new();
    for (c, init) in containers(pod) {
        let mut base = LabelMap::new();
        set_container(&mut base, c, init);
        set(
            &mut base,
            "__meta_kubernetes_pod_container_id",
            container_id(pod, &c.name, init),
        );
        let ports = c.ports.as_deref().unwrap_or_default();
        if ports.is_empty() {
            // No port: the address is the bare pod IP; relabeling has to add one.
            let mut t = base;
            set(&mut t, ADDRESS_LABEL, ip);
            targets.push(t);
            continue;
        }
        for p in ports {
            let mut t = base.clone();
            set(&mut t, ADDRESS_LABEL, join_host_port(ip, p.container_port));
            set_container_port(&mut t, p);
            targets.push(t);
        }
    }
    group(src, labels, targets)
}

// ---- node ----

/// Upstream's address preference: internal IP, internal DNS, external IP, external DNS,
/// legacy host IP, host name.
fn node_address(node: &Node) -> (Option<String>, BTreeMap<String, String>) {
    let mut first: BTreeMap<String, String> = BTreeMap::new();
    for a in node
        .status
        .as_ref()
        .and_then(|s| s.addresses.as_ref())
        .into_iter()
        .flatten()
    {
        first
            .entry(a.type_.clone())
            .or_insert_with(|| a.address.clone());
    }
    let preferred = [
        "InternalIP",
        "InternalDNS",
        "ExternalIP",
        "ExternalDNS",
        "LegacyHostIP",
        "Hostname",
    ]
    .iter()
    .find_map(|t| first.get(*t).cloned());
    (preferred, first)
}

fn node_group(node: &Node) -> Option<TargetGroup> {
    let name = node.metadata.name.clone().unwrap_or_default();
    let (addr, all) = node_address(node);
    let Some(addr) = addr else {
        tracing::warn!(node = %name, "Unable to extract kubelet address: host address unknown");
        return None;
    };
    let mut labels = LabelMap::new();
    set(
        &mut labels,
        "__meta_kubernetes_node_provider_id",
        node.spec
            .as_ref()
            .and_then(|s| s.provider_id.clone())
            .unwrap_or_default(),
    );
    add_object_meta(&mut labels, &node.metadata, "node");
    let port = node
        .status
        .as_ref()
        .and_then(|s| s.daemon_endpoints.as_ref())
        .and_then(|d| d.kubelet_endpoint.as_ref())
        .map(|k| k.port)
        .unwrap_or(0);
    let mut t = LabelMap::new();
    set(&mut t, ADDRESS_LABEL, join_host_port(&addr, port));
    set(&mut t, "instance", name.clone());
    for (ty, a) in all {
        t.insert(
            format!("{META}node_address_{}", super::meta::sanitize(&ty)),
            a,
        );
    }
    Some(group(source(Kind::Node, "", &name), labels, vec![t]))
}

// ---- service ----

fn service_labels(svc: &Service) -> LabelMap {
    let mut ls = LabelMap::new();
    set(
        &mut ls,
        NAMESPACE_LABEL,
        svc.metadata.namespace.clone().unwrap_or_default(),
    );
    add_object_meta(&mut ls, &svc.metadata, "service");
    ls
}

fn service_group(svc: &Service, cache: &Cache, attach: Attach) -> TargetGroup {
    let (ns, name) = super::meta::key_of(&svc.metadata);
    let mut labels = service_labels(svc);
    if attach.namespace {
        add_namespace_meta(&mut labels, cache.namespace(&ns));
    }
    let spec = svc.spec.as_ref();
    let ty = spec.and_then(|s| s.type_.clone()).unwrap_or_default();
    let mut targets = Vec::new();
    for p in spec.and_then(|s| s.ports.as_ref()).into_iter().flatten() {
        let mut t = LabelMap::new();
        set(
            &mut t,
            ADDRESS_LABEL,
            join_host_port(&format!("{name}.{ns}.svc"), p.port),
        );
        set(
            &mut t,
            "__meta_kubernetes_service_port_name",
            p.name.clone().unwrap_or_default(),
        );
        set(
            &mut t,
            "__meta_kubernetes_service_port_number",
            p.port.to_string(),
        );
        set(
            &mut t,
            "__meta_kubernetes_service_port_protocol",
            p.protocol.clone().unwrap_or_default(),
        );
        set(&mut t, "__meta_kubernetes_service_type", ty.clone());
        if ty == "ExternalName" {
            set(
                &mut t,
                "__meta_kubernetes_service_external_name",
                spec.and_then(|s| s.external_name.clone())
                    .unwrap_or_default(),
            );
        } else {
            set(
                &mut t,
                "__meta_kubernetes_service_cluster_ip",
                spec.and_then(|s| s.cluster_ip.clone()).unwrap_or_default(),
            );
        }
        if ty == "LoadBalancer" {
            set(
                &mut t,
                "__meta_kubernetes_service_loadbalancer_ip",
                spec.and_then(|s| s.load_balancer_ip.clone())
                    .unwrap_or_default(),
            );
        }
        targets.push(t);
    }
    group(source(Kind::Service, &ns, &name), labels, targets)
}

// ---- endpoints and endpointslice: what they share ----

/// The pod an address refers to, if it refers to one that is known.
fn referenced_pod<'a>(cache: &'a Cache, r: Option<&ObjectReference>) -> Option<&'a Pod> {
    let r = r?;
    if r.kind.as_deref() != Some("Pod") {
        return None;
    }
    cache.pod(
        r.namespace.as_deref().unwrap_or_default(),
        r.name.as_deref().unwrap_or_default(),
    )
}

/// Adds the labels of the container port matching `port` (the first one found), as
/// upstream does for endpoints that point at pods.
fn add_container_port(t: &mut LabelMap, pod: &Pod, port: i32) {
    for (c, init) in containers(pod) {
        if let Some(cp) = c
            .ports
            .iter()
            .flatten()
            .find(|cp| cp.container_port == port)
        {
            set_container(t, c, init);
            set_container_port(t, cp);
            return;
        }
    }
}

/// The `__meta_kubernetes_pod_container_{name,image,init}` labels of a container.
fn set_container(t: &mut LabelMap, c: &Container, init: bool) {
    set(t, "__meta_kubernetes_pod_container_name", c.name.clone());
    set(
        t,
        "__meta_kubernetes_pod_container_image",
        c.image.clone().unwrap_or_default(),
    );
    set(t, "__meta_kubernetes_pod_container_init", init.to_string());
}

/// The `__meta_kubernetes_pod_container_port_{name,number,protocol}` labels of a port.
fn set_container_port(t: &mut LabelMap, cp: &ContainerPort) {
    set(
        t,
        "__meta_kubernetes_pod_container_port_name",
        cp.name.clone().unwrap_or_default(),
    );
    set(
        t,
        "__meta_kubernetes_pod_container_port_number",
        cp.container_port.to_string(),
    );
    set(
        t,
        "__meta_kubernetes_pod_container_port_protocol",
        cp.protocol.clone().unwrap_or_default(),
    );
}

/// Pods seen through endpoints, with the ports the endpoints already cover; their other
/// container ports become targets too.
#[derive(Default)]
struct SeenPods<'a> {
    pods: BTreeMap<(String, String), (&'a Pod, Vec<i32>)>,
}

impl<'a> SeenPods<'a> {
    fn saw(&mut self, pod: &'a Pod, port: i32) {
        let key = super::meta::key_of(&pod.metadata);
        self.pods
            .entry(key)
            .or_insert((pod, Vec::new()))
            .1
            .push(port);
    }

    fn remaining_targets(&self, targets: &mut Vec<LabelMap>) {
        for (pod, ports) in self.pods.values() {
            let ip = pod_ip(pod);
            if ip.is_empty() {
                continue;
            }
            for (c, init) in containers(pod) {
                for cp in c.ports.iter().flatten() {
                    if ports.contains(&cp.container_port) {
                        continue;
                    }
                    let mut t = pod_labels(pod);
                    set(&mut t, ADDRESS_LABEL, join_host_port(ip, cp.container_port));
                    set_container(&mut t, c, init);
                    set_container_port(&mut t, cp);
                    targets.push(t);
                }
            }
        }
    }
}

/// The group labels of an endpoints object or slice: its metadata, the service's and
/// the namespace's.
fn endpoint_group_labels(
    role: &str,
    meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
    service: Option<&str>,
    cache: &Cache,
    attach: Attach,
) -> LabelMap {
    let (ns, _) = super::meta::key_of(meta);
    let mut labels = LabelMap::new();
    set(&mut labels, NAMESPACE_LABEL, ns.clone());
    add_object_meta(&mut labels, meta, role);
    if let Some(svc) = service.and_then(|s| cache.service(&ns, s)) {
        labels.extend(service_labels(svc));
    }
    if attach.namespace {
        add_namespace_meta(&mut labels, cache.namespace(&ns));
    }
    labels
}

/// Node metadata for an endpoint address: the node it names, else the node its target
/// reference is.
fn endpoint_node<'a>(
    cache: &'a Cache,
    node_name: Option<&str>,
    target: Option<&ObjectReference>,
) -> Option<&'a Node> {
    if let Some(n) = node_name {
        return cache.node(n);
    }
    let t = target?;
    if t.kind.as_deref() == Some("Node") {
        return cache.node(t.name.as_deref().unwrap_or_default());
    }
    None
}

/// Adds the labels of the pod an address refers to (and returns it), or the target
/// reference's kind and name when it is not a known pod.
fn add_pod_or_target<'a>(
    t: &mut LabelMap,
    cache: &'a Cache,
    target: Option<&ObjectReference>,
    port: i32,
    prefix: &str,
) -> Option<&'a Pod> {
    match referenced_pod(cache, target) {
        Some(pod) => {
            t.extend(pod_labels(pod));
            add_container_port(t, pod, port);
            Some(pod)
        }
        None => {
            if let Some(r) = target {
                t.insert(
                    format!("{META}{prefix}_address_target_kind"),
                    r.kind.clone().unwrap_or_default(),
                );
                t.insert(
                    format!("{META}{prefix}_address_target_name"),
                    r.name.clone().unwrap_or_default(),
                );
            }
            None
        }
    }
}

// ---- endpoints ----

fn endpoints_group(eps: &Endpoints, cache: &Cache, attach: Attach) -> TargetGroup {
    let (ns, name) = super::meta::key_of(&eps.metadata);
    let labels = endpoint_group_labels("endpoints", &eps.metadata, Some(&name), cache, attach);
    let mut targets = Vec::new();
    let mut seen = SeenPods::default();
    for subset in eps.subsets.iter().flatten() {
        for port in subset.ports.iter().flatten() {
            let addresses = subset
                .addresses
                .iter()
                .flatten()
                .map(|a| (a, "true"))
                .chain(
                    subset
                        .not_ready_addresses
                        .iter()
                        .flatten()
                        .map(|a| (a, "false")),
                );
            for (addr, ready) in addresses {
                let mut t = LabelMap::new();
                set(&mut t, ADDRESS_LABEL, join_host_port(&addr.ip, port.port));
                set(
                    &mut t,
                    "__meta_kubernetes_endpoint_port_name",
                    port.name.clone().unwrap_or_default(),
                );
                set(
                    &mut t,
                    "__meta_kubernetes_endpoint_port_protocol",
                    port.protocol.clone().unwrap_or_default(),
                );
                set(&mut t, "__meta_kubernetes_endpoint_ready", ready);
                if let Some(n) = &addr.node_name {
                    set(&mut t, "__meta_kubernetes_endpoint_node_name", n.clone());
                }
                if let Some(h) = &addr.hostname {
                    set(&mut t, "__meta_kubernetes_endpoint_hostname", h.clone());
                }
                if attach.node {
                    add_node_meta(
                        &mut t,
                        endpoint_node(cache, addr.node_name.as_deref(), addr.target_ref.as_ref()),
                    );
                }
                if let Some(pod) = add_pod_or_target(
                    &mut t,
                    cache,
                    addr.target_ref.as_ref(),
                    port.port,
                    "endpoint",
                ) {
                    seen.saw(pod, port.port);
                }
                targets.push(t);
            }
        }
    }
    seen.remaining_targets(&mut targets);
    group(source(Kind::Endpoints, &ns, &name), labels, targets)
}

// ---- endpointslice ----

/// The label naming an EndpointSlice's service.
pub const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

fn endpointslice_group(eps: &EndpointSlice, cache: &Cache, attach: Attach) -> TargetGroup {
    let (ns, name) = super::meta::key_of(&eps.metadata);
    let service = eps
        .metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(SERVICE_NAME_LABEL))
        .map(String::as_str);
    let mut labels = endpoint_group_labels("endpointslice", &eps.metadata, service, cache, attach);
    set(
        &mut labels,
        "__meta_kubernetes_endpointslice_address_type",
        eps.address_type.clone(),
    );
    let mut targets = Vec::new();
    let mut seen = SeenPods::default();
    for ep in &eps.endpoints {
        let Some(address) = ep.addresses.first() else {
            continue;
        };
        for port in eps.ports.iter().flatten() {
            let number = port.port.unwrap_or(0);
            let mut t = LabelMap::new();
            set(&mut t, ADDRESS_LABEL, join_host_port(address, number));
            set(
                &mut t,
                "__meta_kubernetes_endpointslice_port_name",
                port.name.clone().unwrap_or_default(),
            );
            set(
                &mut t,
                "__meta_kubernetes_endpointslice_port_protocol",
                port.protocol.clone().unwrap_or_default(),
            );
            if let Some(p) = port.port {
                set(
                    &mut t,
                    "__meta_kubernetes_endpointslice_port",
                    p.to_string(),
                );
            }
            if let Some(ap) = &port.app_protocol {
                set(
                    &mut t,
                    "__meta_kubernetes_endpointslice_port_app_protocol",
                    ap.clone(),
                );
            }
            if let Some(c) = &ep.conditions {
                for (cond, v) in [
                    ("ready", c.ready),
                    ("serving", c.serving),
                    ("terminating", c.terminating),
                ] {
                    if let Some(v) = v {
                        t.insert(
                            format!("{META}endpointslice_endpoint_conditions_{cond}"),
                            v.to_string(),
                        );
                    }
                }
            }
            if let Some(h) = &ep.hostname {
                set(
                    &mut t,
                    "__meta_kubernetes_endpointslice_endpoint_hostname",
                    h.clone(),
                );
            }
            for (k, v) in ep.deprecated_topology.iter().flatten() {
                let ln = super::meta::sanitize(k);
                t.insert(
                    format!("{META}endpointslice_endpoint_topology_{ln}"),
                    v.clone(),
                );
                t.insert(
                    format!("{META}endpointslice_endpoint_topology_present_{ln}"),
                    "true".into(),
                );
            }
            if let Some(z) = &ep.zone {
                set(
                    &mut t,
                    "__meta_kubernetes_endpointslice_endpoint_zone",
                    z.clone(),
                );
            }
            if let Some(n) = &ep.node_name {
                set(
                    &mut t,
                    "__meta_kubernetes_endpointslice_endpoint_node_name",
                    n.clone(),
                );
            }
            if attach.node {
                add_node_meta(
                    &mut t,
                    endpoint_node(cache, ep.node_name.as_deref(), ep.target_ref.as_ref()),
                );
            }
            if let Some(pod) = add_pod_or_target(
                &mut t,
                cache,
                ep.target_ref.as_ref(),
                number,
                "endpointslice",
            ) {
                seen.saw(pod, number);
            }
            targets.push(t);
        }
    }
    seen.remaining_targets(&mut targets);
    group(source(Kind::EndpointSlice, &ns, &name), labels, targets)
}

// ---- ingress ----

/// Whether `host` matches a TLS host pattern (`*.example.com` matches one label).
fn matches_host_pattern(pattern: &str, host: &str) -> bool {
    if pattern == host {
        return true;
    }
    let p: Vec<&str> = pattern.split('.').collect();
    let h: Vec<&str> = host.split('.').collect();
    if p.first() != Some(&"*") || p.len() != h.len() {
        return false;
    }
    p[1..] == h[1..]
}

fn ingress_group(ing: &Ingress, cache: &Cache, attach: Attach) -> TargetGroup {
    let (ns, name) = super::meta::key_of(&ing.metadata);
    let mut labels = LabelMap::new();
    set(&mut labels, NAMESPACE_LABEL, ns.clone());
    add_object_meta(&mut labels, &ing.metadata, "ingress");
    let spec = ing.spec.as_ref();
    if let Some(class) = spec.and_then(|s| s.ingress_class_name.clone()) {
        set(&mut labels, "__meta_kubernetes_ingress_class_name", class);
    }
    if attach.namespace {
        add_namespace_meta(&mut labels, cache.namespace(&ns));
    }
    let tls_hosts: Vec<&str> = spec
        .and_then(|s| s.tls.as_ref())
        .into_iter()
        .flatten()
        .flat_map(|t| t.hosts.iter().flatten().map(String::as_str))
        .collect();
    let mut targets = Vec::new();
    for rule in spec.and_then(|s| s.rules.as_ref()).into_iter().flatten() {
        let host = rule.host.clone().unwrap_or_default();
        let scheme = if tls_hosts.iter().any(|p| matches_host_pattern(p, &host)) {
            "https"
        } else {
            "http"
        };
        let paths: Vec<String> = match &rule.http {
            None => vec!["/".into()],
            Some(http) => http
                .paths
                .iter()
                .map(|p| match p.path.as_deref() {
                    None | Some("") => "/".to_string(),
                    Some(p) => p.to_string(),
                })
                .collect(),
        };
        for path in paths {
            let mut t = LabelMap::new();
            set(&mut t, ADDRESS_LABEL, host.clone());
            set(&mut t, "__meta_kubernetes_ingress_scheme", scheme);
            set(&mut t, "__meta_kubernetes_ingress_host", host.clone());
            set(&mut t, "__meta_kubernetes_ingress_path", path);
            targets.push(t);
        }
    }
    group(source(Kind::Ingress, &ns, &name), labels, targets)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_host_patterns() {
        assert!(matches_host_pattern("*.example.com", "a.example.com"));
        assert!(!matches_host_pattern("*.example.com", "a.b.example.com"));
        assert!(matches_host_pattern("example.com", "example.com"));
        assert!(!matches_host_pattern("example.com", "other.com"));
    }
}
