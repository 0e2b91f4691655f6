//! The objects a Kubernetes discoverer watches, kept by kind and `namespace/name` as the
//! watch streams deliver them (upstream's informer stores).

#![allow(deprecated)] // core/v1 Endpoints: deprecated by Kubernetes 1.33, still served.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Endpoints, Namespace, Node, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::networking::v1::Ingress;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::meta::key_of;

/// A kind of watched object. The first six are also the SD roles.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    Endpoints,
    EndpointSlice,
    Node,
    Pod,
    Service,
    Ingress,
    Namespace,
}

impl Kind {
    pub const ROLES: [Kind; 6] = [
        Kind::Endpoints,
        Kind::EndpointSlice,
        Kind::Node,
        Kind::Pod,
        Kind::Service,
        Kind::Ingress,
    ];

    /// The role's name in configuration, meta labels and metrics.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Endpoints => "endpoints",
            Kind::EndpointSlice => "endpointslice",
            Kind::Node => "node",
            Kind::Pod => "pod",
            Kind::Service => "service",
            Kind::Ingress => "ingress",
            Kind::Namespace => "namespace",
        }
    }

    pub fn from_role(role: &str) -> Option<Kind> {
        Kind::ROLES.into_iter().find(|k| k.name() == role)
    }

    /// Whether objects of this kind live in namespaces.
    pub fn namespaced(self) -> bool {
        !matches!(self, Kind::Node | Kind::Namespace)
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// One watched object.
#[derive(Clone, Debug)]
pub enum Object {
    Endpoints(Box<Endpoints>),
    EndpointSlice(Box<EndpointSlice>),
    Node(Box<Node>),
    Pod(Box<Pod>),
    Service(Box<Service>),
    Ingress(Box<Ingress>),
    Namespace(Box<Namespace>),
}

impl Object {
    pub fn kind(&self) -> Kind {
        match self {
            Object::Endpoints(_) => Kind::Endpoints,
            Object::EndpointSlice(_) => Kind::EndpointSlice,
            Object::Node(_) => Kind::Node,
            Object::Pod(_) => Kind::Pod,
            Object::Service(_) => Kind::Service,
            Object::Ingress(_) => Kind::Ingress,
            Object::Namespace(_) => Kind::Namespace,
        }
    }

    pub fn meta(&self) -> &ObjectMeta {
        match self {
            Object::Endpoints(o) => &o.metadata,
            Object::EndpointSlice(o) => &o.metadata,
            Object::Node(o) => &o.metadata,
            Object::Pod(o) => &o.metadata,
            Object::Service(o) => &o.metadata,
            Object::Ingress(o) => &o.metadata,
            Object::Namespace(o) => &o.metadata,
        }
    }

    pub fn key(&self) -> Key {
        key_of(self.meta())
    }
}

/// `(namespace, name)`; the namespace is empty for nodes and namespaces.
pub type Key = (String, String);

/// Every watched object by kind and key.
#[derive(Default)]
pub struct Cache {
    stores: [BTreeMap<Key, Object>; 7],
}

impl Cache {
    pub fn store(&self, kind: Kind) -> &BTreeMap<Key, Object> {
        &self.stores[kind.index()]
    }

    pub fn store_mut(&mut self, kind: Kind) -> &mut BTreeMap<Key, Object> {
        &mut self.stores[kind.index()]
    }

    fn get(&self, kind: Kind, ns: &str, name: &str) -> Option<&Object> {
        self.store(kind).get(&(ns.to_string(), name.to_string()))
    }

    pub fn pod(&self, ns: &str, name: &str) -> Option<&Pod> {
        match self.get(Kind::Pod, ns, name) {
            Some(Object::Pod(p)) => Some(p),
            _ => None,
        }
    }

    pub fn service(&self, ns: &str, name: &str) -> Option<&Service> {
        match self.get(Kind::Service, ns, name) {
            Some(Object::Service(s)) => Some(s),
            _ => None,
        }
    }

    pub fn node(&self, name: &str) -> Option<&Node> {
        match self.get(Kind::Node, "", name) {
            Some(Object::Node(n)) => Some(n),
            _ => None,
        }
    }

    pub fn namespace(&self, name: &str) -> Option<&Namespace> {
        match self.get(Kind::Namespace, "", name) {
            Some(Object::Namespace(n)) => Some(n),
            _ => None,
        }
    }
}
