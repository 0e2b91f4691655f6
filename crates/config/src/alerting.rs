//! `alerting`: alert relabeling and the Alertmanagers to send to (discovered like
//! scrape targets).

use std::path::Path;

use hearth_discovery::{HttpClientConfig, ModelDuration, ServiceDiscoveryConfigs};
use hearth_model::ValidationScheme;
use hearth_relabel::RelabelConfig;
use serde::{Deserialize, Serialize};

use crate::remote::UnsupportedAuth;
use crate::scrape::{RelabelList, check_static_targets, non_null_rules, serialize_rules};

/// `alerting`.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct AlertingConfig {
    #[serde(
        skip_serializing_if = "Vec::is_empty",
        serialize_with = "serialize_rules"
    )]
    pub alert_relabel_configs: Vec<RelabelConfig>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub alertmanagers: Vec<AlertmanagerConfig>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RawAlertingConfig {
    alert_relabel_configs: RelabelList,
    alertmanagers: Vec<AlertmanagerConfig>,
}

impl<'de> Deserialize<'de> for AlertingConfig {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = Option::<RawAlertingConfig>::deserialize(d)?.unwrap_or_default();
        Ok(AlertingConfig {
            alert_relabel_configs: non_null_rules(
                raw.alert_relabel_configs,
                "alert relabeling rule",
            )
            .map_err(serde::de::Error::custom)?,
            alertmanagers: raw.alertmanagers,
        })
    }
}

impl AlertingConfig {
    pub fn is_empty(&self) -> bool {
        self.alert_relabel_configs.is_empty() && self.alertmanagers.is_empty()
    }

    pub fn validate(&mut self, scheme: ValidationScheme) -> Result<(), String> {
        for rc in &mut self.alert_relabel_configs {
            rc.name_validation_scheme = Some(scheme);
            rc.validate(scheme).map_err(|e| e.to_string())?;
        }
        for am in &mut self.alertmanagers {
            for rc in am
                .alert_relabel_configs
                .iter_mut()
                .chain(am.relabel_configs.iter_mut())
            {
                rc.name_validation_scheme = Some(scheme);
                rc.validate(scheme).map_err(|e| e.to_string())?;
            }
        }
        Ok(())
    }

    pub fn set_directory(&mut self, dir: &Path) {
        for am in &mut self.alertmanagers {
            am.service_discovery.set_directory(dir);
            am.http_client.set_directory(dir);
        }
    }
}

/// An `alertmanagers` entry.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AlertmanagerConfig {
    #[serde(flatten)]
    pub http_client: HttpClientConfig,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub scheme: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub path_prefix: String,
    #[serde(skip_serializing_if = "ModelDuration::is_zero")]
    pub timeout: ModelDuration,
    pub api_version: String,
    #[serde(
        skip_serializing_if = "Vec::is_empty",
        serialize_with = "serialize_rules"
    )]
    pub relabel_configs: Vec<RelabelConfig>,
    #[serde(
        skip_serializing_if = "Vec::is_empty",
        serialize_with = "serialize_rules"
    )]
    pub alert_relabel_configs: Vec<RelabelConfig>,
    #[serde(flatten)]
    pub service_discovery: ServiceDiscoveryConfigs,
    #[serde(skip)]
    raw_relabel_configs: RelabelList,
    #[serde(skip)]
    raw_alert_relabel_configs: RelabelList,
    #[serde(skip)]
    unsupported_auth: UnsupportedAuth,
}

impl Default for AlertmanagerConfig {
    fn default() -> Self {
        AlertmanagerConfig {
            http_client: HttpClientConfig::default(),
            scheme: "http".into(),
            path_prefix: String::new(),
            timeout: ModelDuration::from_secs(10),
            api_version: "v2".into(),
            relabel_configs: Vec::new(),
            alert_relabel_configs: Vec::new(),
            service_discovery: ServiceDiscoveryConfigs::default(),
            raw_relabel_configs: Vec::new(),
            raw_alert_relabel_configs: Vec::new(),
            unsupported_auth: UnsupportedAuth,
        }
    }
}

hearth_discovery::deserialize_with_inline!(
    AlertmanagerConfig,
    fields {
        "scheme" => scheme,
        "path_prefix" => path_prefix,
        "timeout" => timeout,
        "api_version" => api_version,
        "relabel_configs" => raw_relabel_configs,
        "alert_relabel_configs" => raw_alert_relabel_configs,
    },
    inline { http_client: HttpClientConfig, service_discovery: ServiceDiscoveryConfigs, unsupported_auth: UnsupportedAuth }
);

impl AlertmanagerConfig {
    fn after_deserialize(&mut self) -> Result<(), String> {
        if self.api_version != "v2" {
            return Err(format!(
                "expected Alertmanager api version to be one of [v2] but got {}",
                self.api_version
            ));
        }
        self.http_client.validate()?;
        if self.raw_relabel_configs.is_empty() {
            check_static_targets(&self.service_discovery)?;
        }
        self.relabel_configs = non_null_rules(
            std::mem::take(&mut self.raw_relabel_configs),
            "Alertmanager target relabeling rule",
        )?;
        self.alert_relabel_configs = non_null_rules(
            std::mem::take(&mut self.raw_alert_relabel_configs),
            "Alertmanager alert relabeling rule",
        )?;
        Ok(())
    }
}
