//! Service-discovery configurations as prometheus.yml writes them (`static_configs`,
//! `file_sd_configs`, `http_sd_configs`, `dns_sd_configs`, `kubernetes_sd_configs`), with
//! upstream's defaults and validation, and the inline set a scrape or alertmanager config
//! carries ([`ServiceDiscoveryConfigs`]).

use std::path::Path;
use std::sync::LazyLock;

use serde::de::MapAccess;
use serde::{Deserialize, Serialize};

use crate::http_client::{ConfigUrl, HttpClientConfig, join_dir};
use crate::inline_fields::{InlineFields, next_value_or_default};
use crate::model_duration::ModelDuration;
use crate::target_group::TargetGroup;

/// `file_sd_configs` entry.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FileSdConfig {
    #[serde(default)]
    pub files: Vec<String>,
    #[serde(default = "FileSdConfig::default_refresh_interval")]
    pub refresh_interval: ModelDuration,
}

static FILE_SD_NAME: LazyLock<Option<regex::Regex>> =
    LazyLock::new(|| regex::Regex::new(r"^[^*]*(\*[^/]*)?\.(json|yml|yaml|JSON|YML|YAML)$").ok());

impl FileSdConfig {
    fn default_refresh_interval() -> ModelDuration {
        ModelDuration::from_secs(300)
    }

    pub fn validate(&self) -> Result<(), String> {
        if self.files.is_empty() {
            return Err("file service discovery config must contain at least one path name".into());
        }
        for name in &self.files {
            if !FILE_SD_NAME.as_ref().is_some_and(|re| re.is_match(name)) {
                return Err(format!(
                    "path name {name:?} is not valid for file discovery"
                ));
            }
        }
        Ok(())
    }
}

/// `http_sd_configs` entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct HttpSdConfig {
    #[serde(flatten)]
    pub http_client: HttpClientConfig,
    pub refresh_interval: ModelDuration,
    pub url: String,
}

impl Default for HttpSdConfig {
    fn default() -> Self {
        HttpSdConfig {
            http_client: HttpClientConfig::default(),
            refresh_interval: ModelDuration::from_secs(60),
            url: String::new(),
        }
    }
}

crate::deserialize_with_inline!(
    HttpSdConfig,
    fields { "refresh_interval" => refresh_interval, "url" => url },
    inline { http_client: HttpClientConfig }
);

impl HttpSdConfig {
    fn after_deserialize(&mut self) -> Result<(), String> {
        if self.url.is_empty() {
            return Err("URL is missing".into());
        }
        let u = ConfigUrl::parse(&self.url)?;
        if u.url.scheme() != "http" && u.url.scheme() != "https" {
            return Err("URL scheme must be 'http' or 'https'".into());
        }
        if u.url.host_str().is_none_or(str::is_empty) {
            return Err("host is missing in URL".into());
        }
        self.http_client.validate()
    }
}

/// `dns_sd_configs` entry.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DnsSdConfig {
    #[serde(default)]
    pub names: Vec<String>,
    #[serde(default = "DnsSdConfig::default_refresh_interval")]
    pub refresh_interval: ModelDuration,
    #[serde(rename = "type", default = "DnsSdConfig::default_type")]
    pub record_type: String,
    /// Ignored for SRV records, which carry their own port.
    #[serde(default)]
    pub port: u16,
}

impl DnsSdConfig {
    fn default_refresh_interval() -> ModelDuration {
        ModelDuration::from_secs(30)
    }

    fn default_type() -> String {
        "SRV".into()
    }

    pub fn validate(&self) -> Result<(), String> {
        if self.names.is_empty() {
            return Err("DNS-SD config must contain at least one SRV record name".into());
        }
        match self.record_type.to_uppercase().as_str() {
            "SRV" => Ok(()),
            "A" | "AAAA" | "MX" | "NS" if self.port == 0 => {
                Err("a port is required in DNS-SD configs for all record types except SRV".into())
            }
            "A" | "AAAA" | "MX" | "NS" => Ok(()),
            _ => Err(format!("invalid DNS-SD records type {}", self.record_type)),
        }
    }
}

/// `kubernetes_sd_configs` entry. Parsed and validated so that configurations using it
/// load; the Kubernetes provider itself is not implemented yet.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct KubernetesSdConfig {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_server: Option<ConfigUrl>,
    pub role: String,
    pub kubeconfig_file: String,
    #[serde(flatten)]
    pub http_client: HttpClientConfig,
    #[serde(skip_serializing_if = "KubernetesNamespaces::is_empty")]
    pub namespaces: KubernetesNamespaces,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub selectors: Vec<KubernetesSelector>,
    #[serde(skip_serializing_if = "KubernetesAttachMetadata::is_empty")]
    pub attach_metadata: KubernetesAttachMetadata,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct KubernetesNamespaces {
    pub own_namespace: bool,
    pub names: Vec<String>,
}

impl KubernetesNamespaces {
    fn is_empty(&self) -> bool {
        !self.own_namespace && self.names.is_empty()
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct KubernetesSelector {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub role: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub label: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub field: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct KubernetesAttachMetadata {
    pub node: bool,
    pub namespace: bool,
}

impl KubernetesAttachMetadata {
    fn is_empty(&self) -> bool {
        !self.node && !self.namespace
    }
}

crate::deserialize_with_inline!(
    KubernetesSdConfig,
    fields {
        "api_server" => api_server, "role" => role, "kubeconfig_file" => kubeconfig_file,
        "namespaces" => namespaces, "selectors" => selectors,
        "attach_metadata" => attach_metadata,
    },
    inline { http_client: HttpClientConfig }
);

const KUBERNETES_ROLES: &[&str] = &[
    "endpoints",
    "endpointslice",
    "service",
    "pod",
    "node",
    "ingress",
];

impl KubernetesSdConfig {
    fn after_deserialize(&mut self) -> Result<(), String> {
        if self.role.is_empty() {
            return Err(
                "role missing (one of: pod, service, endpoints, endpointslice, node, ingress)"
                    .into(),
            );
        }
        if !KUBERNETES_ROLES.contains(&self.role.as_str()) {
            return Err(format!("unknown Kubernetes SD role {:?}", self.role));
        }
        self.http_client.validate()?;
        let custom_client = !self.http_client.is_default();
        if self.api_server.is_some() && !self.kubeconfig_file.is_empty() {
            return Err("cannot use 'kubeconfig_file' and 'api_server' simultaneously".into());
        }
        if !self.kubeconfig_file.is_empty() && custom_client {
            return Err(
                "cannot use a custom HTTP client configuration together with 'kubeconfig_file'"
                    .into(),
            );
        }
        if self.api_server.is_none() && custom_client {
            return Err("to use custom HTTP client configuration please provide the 'api_server' URL explicitly".into());
        }
        if self.api_server.is_some() && self.namespaces.own_namespace {
            return Err(
                "cannot use 'api_server' and 'namespaces.own_namespace' simultaneously".into(),
            );
        }
        if !self.kubeconfig_file.is_empty() && self.namespaces.own_namespace {
            return Err(
                "cannot use 'kubeconfig_file' and 'namespaces.own_namespace' simultaneously".into(),
            );
        }
        let allowed: &[&str] = match self.role.as_str() {
            "pod" => &["pod", "node"],
            "service" => &["service"],
            "endpointslice" => &["pod", "service", "endpointslice"],
            "endpoints" => &["pod", "service", "endpoints"],
            "node" => &["node"],
            _ => &["ingress"],
        };
        let mut seen: Vec<&str> = Vec::new();
        for s in &self.selectors {
            if !s.role.is_empty() && !KUBERNETES_ROLES.contains(&s.role.as_str()) {
                return Err(format!("unknown Kubernetes SD role {:?}", s.role));
            }
            if seen.contains(&s.role.as_str()) {
                return Err(format!("duplicated selector role: {}", s.role));
            }
            seen.push(&s.role);
            if !allowed.contains(&s.role.as_str()) {
                return Err(format!(
                    "{} role supports only {} selectors",
                    self.role,
                    allowed.join(", ")
                ));
            }
        }
        Ok(())
    }
}

/// Upstream SD mechanisms hearth does not implement: naming one is an error that says
/// so, rather than "unknown field".
const UNSUPPORTED_SD_CONFIGS: &[&str] = &[
    "azure_sd_configs",
    "consul_sd_configs",
    "digitalocean_sd_configs",
    "docker_sd_configs",
    "dockerswarm_sd_configs",
    "ec2_sd_configs",
    "eureka_sd_configs",
    "gce_sd_configs",
    "hetzner_sd_configs",
    "ionos_sd_configs",
    "kuma_sd_configs",
    "lightsail_sd_configs",
    "linode_sd_configs",
    "marathon_sd_configs",
    "nerve_sd_configs",
    "nomad_sd_configs",
    "openstack_sd_configs",
    "ovhcloud_sd_configs",
    "puppetdb_sd_configs",
    "scaleway_sd_configs",
    "serverset_sd_configs",
    "stackit_sd_configs",
    "triton_sd_configs",
    "uyuni_sd_configs",
    "vultr_sd_configs",
];

/// The SD lists inline in a scrape or alertmanager config. Printed in upstream's order
/// (alphabetical by key).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ServiceDiscoveryConfigs {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dns_sd_configs: Vec<DnsSdConfig>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub file_sd_configs: Vec<FileSdConfig>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub http_sd_configs: Vec<HttpSdConfig>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub kubernetes_sd_configs: Vec<KubernetesSdConfig>,
    /// One entry per `static_configs` item.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub static_configs: Vec<TargetGroup>,
}

/// One provider's configuration, as the discovery manager runs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SdConfig {
    Static(Vec<TargetGroup>),
    File(FileSdConfig),
    Http(HttpSdConfig),
    Dns(DnsSdConfig),
    Kubernetes(KubernetesSdConfig),
}

impl SdConfig {
    /// The mechanism's name as upstream's `Config.Name()` gives it.
    pub fn name(&self) -> &'static str {
        match self {
            SdConfig::Static(_) => "static",
            SdConfig::File(_) => "file",
            SdConfig::Http(_) => "http",
            SdConfig::Dns(_) => "dns",
            SdConfig::Kubernetes(_) => "kubernetes",
        }
    }
}

impl InlineFields for ServiceDiscoveryConfigs {
    const FIELDS: &'static [&'static str] = &[
        "static_configs",
        "file_sd_configs",
        "http_sd_configs",
        "dns_sd_configs",
        "kubernetes_sd_configs",
    ];

    fn read_field<'de, A: MapAccess<'de>>(
        &mut self,
        key: &str,
        map: &mut A,
    ) -> Result<bool, A::Error> {
        fn checked<E: serde::de::Error, T>(
            v: Vec<T>,
            check: impl Fn(&T) -> Result<(), String>,
        ) -> Result<Vec<T>, E> {
            for c in &v {
                check(c).map_err(E::custom)?;
            }
            Ok(v)
        }
        match key {
            "static_configs" => self.static_configs = next_value_or_default(map)?,
            "file_sd_configs" => {
                self.file_sd_configs = checked(next_value_or_default(map)?, FileSdConfig::validate)?
            }
            "http_sd_configs" => self.http_sd_configs = next_value_or_default(map)?,
            "dns_sd_configs" => {
                self.dns_sd_configs = checked(next_value_or_default(map)?, DnsSdConfig::validate)?
            }
            "kubernetes_sd_configs" => self.kubernetes_sd_configs = next_value_or_default(map)?,
            other if UNSUPPORTED_SD_CONFIGS.contains(&other) => {
                return Err(serde::de::Error::custom(format!(
                    "{other} is not supported by hearth yet (supported: static_configs, file_sd_configs, http_sd_configs, dns_sd_configs, kubernetes_sd_configs)"
                )));
            }
            _ => return Ok(false),
        }
        Ok(true)
    }
}

impl ServiceDiscoveryConfigs {
    /// Every provider configuration, static groups as one provider as upstream does.
    pub fn configs(&self) -> Vec<SdConfig> {
        let mut out = Vec::new();
        if !self.static_configs.is_empty() {
            out.push(SdConfig::Static(self.static_configs.clone()));
        }
        out.extend(self.file_sd_configs.iter().cloned().map(SdConfig::File));
        out.extend(self.http_sd_configs.iter().cloned().map(SdConfig::Http));
        out.extend(self.dns_sd_configs.iter().cloned().map(SdConfig::Dns));
        out.extend(
            self.kubernetes_sd_configs
                .iter()
                .cloned()
                .map(SdConfig::Kubernetes),
        );
        out
    }

    pub fn is_empty(&self) -> bool {
        *self == ServiceDiscoveryConfigs::default()
    }

    pub fn set_directory(&mut self, dir: &Path) {
        for f in &mut self.file_sd_configs {
            for name in &mut f.files {
                join_dir(dir, name);
            }
        }
        for h in &mut self.http_sd_configs {
            h.http_client.set_directory(dir);
        }
        for k in &mut self.kubernetes_sd_configs {
            join_dir(dir, &mut k.kubeconfig_file);
            k.http_client.set_directory(dir);
        }
    }
}
