//! Labels every Kubernetes role shares: object metadata (name, labels, annotations),
//! namespace and node metadata (`attach_metadata`), label name sanitising and Go's
//! `net.JoinHostPort`.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Namespace, Node};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

/// Labels being built for one target or group; empty values are dropped when they
/// become [`hearth_model::Labels`], as upstream's label builder drops them.
pub type LabelMap = BTreeMap<String, String>;

/// Every Kubernetes SD meta label starts with this.
pub const META: &str = "__meta_kubernetes_";

/// `__meta_kubernetes_namespace`.
pub const NAMESPACE_LABEL: &str = "__meta_kubernetes_namespace";

/// Upstream's `strutil.SanitizeLabelName`: every byte outside `[A-Za-z0-9_]` becomes `_`.
pub fn sanitize(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Go's `net.JoinHostPort`: IPv6 hosts get brackets.
pub fn join_host_port(host: &str, port: impl std::fmt::Display) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

pub fn set(ls: &mut LabelMap, name: &str, value: impl Into<String>) {
    ls.insert(name.to_string(), value.into());
}

fn add_map(ls: &mut LabelMap, prefix: &str, kind: &str, map: Option<&BTreeMap<String, String>>) {
    for (k, v) in map.into_iter().flatten() {
        let ln = sanitize(k);
        ls.insert(format!("{META}{prefix}_{kind}_{ln}"), v.clone());
        ls.insert(format!("{META}{prefix}_{kind}present_{ln}"), "true".into());
    }
}

/// `__meta_kubernetes_<role>_name`, `_label_*`, `_labelpresent_*`, `_annotation_*` and
/// `_annotationpresent_*`.
pub fn add_object_meta(ls: &mut LabelMap, meta: &ObjectMeta, role: &str) {
    ls.insert(
        format!("{META}{role}_name"),
        meta.name.clone().unwrap_or_default(),
    );
    add_map(ls, role, "label", meta.labels.as_ref());
    add_map(ls, role, "annotation", meta.annotations.as_ref());
}

/// `attach_metadata.namespace`: the namespace's labels and annotations (its name is
/// already `__meta_kubernetes_namespace`).
pub fn add_namespace_meta(ls: &mut LabelMap, ns: Option<&Namespace>) {
    let Some(ns) = ns else { return };
    add_map(ls, "namespace", "label", ns.metadata.labels.as_ref());
    add_map(
        ls,
        "namespace",
        "annotation",
        ns.metadata.annotations.as_ref(),
    );
}

/// `attach_metadata.node`: the node's name, labels, annotations and provider ID.
pub fn add_node_meta(ls: &mut LabelMap, node: Option<&Node>) {
    let Some(node) = node else { return };
    let provider = node
        .spec
        .as_ref()
        .and_then(|s| s.provider_id.clone())
        .unwrap_or_default();
    ls.insert(format!("{META}node_provider_id"), provider);
    add_object_meta(ls, &node.metadata, "node");
}

/// The `namespace/name` key of a namespaced object (`/name` for cluster-scoped ones).
pub fn key_of(meta: &ObjectMeta) -> (String, String) {
    (
        meta.namespace.clone().unwrap_or_default(),
        meta.name.clone().unwrap_or_default(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitizes_and_joins_like_go() {
        assert_eq!(sanitize("app.kubernetes.io/name"), "app_kubernetes_io_name");
        assert_eq!(join_host_port("10.0.0.1", 80), "10.0.0.1:80");
        assert_eq!(join_host_port("fd00::1", 80), "[fd00::1]:80");
    }
}
