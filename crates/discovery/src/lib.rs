//! Service discovery.
//!
//! This crate owns target groups ([`TargetGroup`]), the [`Discoverer`] trait, the
//! providers hearth implements (static, file, HTTP, DNS), the [`DiscoveryManager`] that
//! runs them per job and publishes `job → groups` updates, and the configuration types
//! SD shares with the rest of prometheus.yml: the SD config blocks
//! ([`ServiceDiscoveryConfigs`]), the HTTP client configuration ([`HttpClientConfig`],
//! [`Secret`]), durations as written in files ([`ModelDuration`]) and Go's inline YAML
//! embedding ([`inline_fields`]).
//!
//! Kubernetes SD ([`kubernetes`]) watches the API server through the `kube` crate.
//!
//! It knows nothing of scraping, relabeling or the rest of prometheus.yml.

pub mod discoverer;
pub mod dns;
pub mod file;
pub mod http;
pub mod http_client;
pub mod inline_fields;
pub mod kubernetes;
pub mod manager;
pub mod model_duration;
pub mod oauth2;
pub mod sd_config;
pub mod self_metrics;
pub mod target_group;

pub use discoverer::{Discoverer, GroupSender, StaticDiscoverer};
pub use dns::DnsDiscoverer;
pub use file::FileDiscoverer;
pub use http::HttpDiscoverer;
pub use http_client::{ConfigUrl, HttpClientConfig, Secret, TlsConfig};
pub use kubernetes::KubernetesDiscoverer;
pub use manager::{DiscoveryManager, DiscoveryMetrics, TargetSets};
pub use model_duration::ModelDuration;
pub use sd_config::{
    DnsSdConfig, FileSdConfig, HttpSdConfig, KubernetesSdConfig, SdConfig, ServiceDiscoveryConfigs,
};
pub use target_group::{ADDRESS_LABEL, TargetGroup};
