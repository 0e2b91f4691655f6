//! prometheus.yml.
//!
//! This crate owns the whole configuration file with upstream's structure, field names,
//! defaults and validation ([`Config`]: `global`, `runtime`, `alerting`, `rule_files`,
//! `scrape_config_files`, `scrape_configs`, `storage`, `tracing`, `remote_write`,
//! `remote_read`, `otlp`), loading it from a file with positions in every error
//! ([`Config::load_file`], [`ConfigError`]), the files it refers to
//! (`scrape_config_files`, rule file globs), and the effective configuration as YAML in
//! upstream's shape with secrets as `<secret>` ([`Config::to_yaml`], what
//! `/api/v1/status/config` serves).
//!
//! Relabel rules come from `hearth-relabel`; SD blocks, the HTTP client configuration and
//! durations from `hearth-discovery`. It never starts anything: the scrape manager, the
//! rule manager and the notifier consume the loaded [`Config`].

mod alerting;
mod error;
mod global;
mod load;
mod omitempty;
mod remote;
mod scrape;
mod storage;

pub use alerting::{AlertingConfig, AlertmanagerConfig};
pub use error::{ConfigError, reword_unknown_field};
pub use global::{
    ByteSize, DEFAULT_PROTO_FIRST_SCRAPE_PROTOCOLS, DEFAULT_SCRAPE_PROTOCOLS, GlobalConfig,
    LabelMap, RuntimeConfig, ScrapeProtocol,
};
pub use hearth_discovery::http_client::{
    Authorization, BasicAuth, HttpClientConfig, OAuth2, ProxyConfig, Secret, TlsConfig, TlsVersion,
};
pub use hearth_discovery::{ModelDuration, ServiceDiscoveryConfigs};
pub use hearth_relabel::RelabelConfig;
pub use load::{Config, expand_env};
pub use remote::{MetadataConfig, QueueConfig, RemoteReadConfig, RemoteWriteConfig};
pub use scrape::ScrapeConfig;
pub use storage::{
    ExemplarsConfig, OtlpConfig, StorageConfig, TracingConfig, TsdbConfig, TsdbRetentionConfig,
};
