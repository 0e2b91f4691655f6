//! `scrape_configs` entries: fields, defaults, the validation that needs only the entry
//! (at parse time) and the one that needs `global` ([`ScrapeConfig::validate`]).

use std::collections::BTreeMap;
use std::path::Path;

use crate::omitempty::{is_false, is_zero_f64, is_zero_u64};
use hearth_discovery::http_client::join_dir;
use hearth_discovery::{HttpClientConfig, ModelDuration, ServiceDiscoveryConfigs};
use hearth_model::ValidationScheme;
use hearth_relabel::RelabelConfig;
use serde::{Serialize, Serializer};

use crate::global::{
    ByteSize, DEFAULT_PROTO_FIRST_SCRAPE_PROTOCOLS, DEFAULT_SCRAPE_PROTOCOLS, ESCAPING_SCHEMES,
    GlobalConfig, ScrapeProtocol, ValidationSchemeSetting, validate_scrape_protocols,
};

/// A `relabel_configs` list where a null entry is an error naming the list.
pub(crate) type RelabelList = Vec<Option<RelabelConfig>>;

pub(crate) fn non_null_rules(list: RelabelList, what: &str) -> Result<Vec<RelabelConfig>, String> {
    list.into_iter()
        .map(|r| r.ok_or_else(|| format!("empty or null {what}")))
        .collect()
}

pub(crate) fn serialize_rules<S: Serializer>(v: &[RelabelConfig], s: S) -> Result<S::Ok, S::Error> {
    v.serialize(s)
}

/// A `scrape_configs` entry.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ScrapeConfig {
    pub job_name: String,
    #[serde(skip_serializing_if = "is_false")]
    pub honor_labels: bool,
    pub honor_timestamps: bool,
    pub track_timestamps_staleness: bool,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub params: BTreeMap<String, Vec<String>>,
    #[serde(skip_serializing_if = "ModelDuration::is_zero")]
    pub scrape_interval: ModelDuration,
    #[serde(skip_serializing_if = "ModelDuration::is_zero")]
    pub scrape_timeout: ModelDuration,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub scrape_protocols: Vec<ScrapeProtocol>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fallback_scrape_protocol: Option<ScrapeProtocol>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scrape_native_histograms: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub always_scrape_classic_histograms: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub convert_classic_histograms_to_nhcb: Option<bool>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub scrape_failure_log_file: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub metrics_path: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub scheme: String,
    pub enable_compression: bool,
    #[serde(skip_serializing_if = "ByteSize::is_zero")]
    pub body_size_limit: ByteSize,
    #[serde(skip_serializing_if = "is_zero_u64")]
    pub sample_limit: u64,
    #[serde(skip_serializing_if = "is_zero_u64")]
    pub target_limit: u64,
    #[serde(skip_serializing_if = "is_zero_u64")]
    pub label_limit: u64,
    #[serde(skip_serializing_if = "is_zero_u64")]
    pub label_name_length_limit: u64,
    #[serde(skip_serializing_if = "is_zero_u64")]
    pub label_value_length_limit: u64,
    #[serde(skip_serializing_if = "is_zero_u64")]
    pub native_histogram_bucket_limit: u64,
    #[serde(skip_serializing_if = "is_zero_f64")]
    pub native_histogram_min_bucket_factor: f64,
    #[serde(skip_serializing_if = "is_zero_u64")]
    pub keep_dropped_targets: u64,
    /// As written; [`ScrapeConfig::validate`] fills it from `global` when empty.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub metric_name_validation_scheme: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub metric_name_escaping_scheme: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extra_scrape_metrics: Option<bool>,
    #[serde(flatten)]
    pub http_client: HttpClientConfig,
    #[serde(
        skip_serializing_if = "Vec::is_empty",
        serialize_with = "serialize_rules"
    )]
    pub relabel_configs: Vec<RelabelConfig>,
    #[serde(
        skip_serializing_if = "Vec::is_empty",
        serialize_with = "serialize_rules"
    )]
    pub metric_relabel_configs: Vec<RelabelConfig>,
    #[serde(flatten)]
    pub service_discovery: ServiceDiscoveryConfigs,
    #[serde(skip)]
    raw_relabel_configs: RelabelList,
    #[serde(skip)]
    raw_metric_relabel_configs: RelabelList,
}

impl Default for ScrapeConfig {
    /// Upstream's `DefaultScrapeConfig`.
    fn default() -> Self {
        ScrapeConfig {
            job_name: String::new(),
            honor_labels: false,
            honor_timestamps: true,
            track_timestamps_staleness: false,
            params: BTreeMap::new(),
            scrape_interval: ModelDuration(0),
            scrape_timeout: ModelDuration(0),
            scrape_protocols: Vec::new(),
            fallback_scrape_protocol: None,
            scrape_native_histograms: None,
            always_scrape_classic_histograms: None,
            convert_classic_histograms_to_nhcb: None,
            scrape_failure_log_file: String::new(),
            metrics_path: "/metrics".into(),
            scheme: "http".into(),
            enable_compression: true,
            body_size_limit: ByteSize(0),
            sample_limit: 0,
            target_limit: 0,
            label_limit: 0,
            label_name_length_limit: 0,
            label_value_length_limit: 0,
            native_histogram_bucket_limit: 0,
            native_histogram_min_bucket_factor: 0.0,
            keep_dropped_targets: 0,
            metric_name_validation_scheme: String::new(),
            metric_name_escaping_scheme: String::new(),
            extra_scrape_metrics: None,
            http_client: HttpClientConfig::default(),
            relabel_configs: Vec::new(),
            metric_relabel_configs: Vec::new(),
            service_discovery: ServiceDiscoveryConfigs::default(),
            raw_relabel_configs: Vec::new(),
            raw_metric_relabel_configs: Vec::new(),
        }
    }
}

hearth_discovery::deserialize_with_inline!(
    ScrapeConfig,
    fields {
        "job_name" => job_name,
        "honor_labels" => honor_labels,
        "honor_timestamps" => honor_timestamps,
        "track_timestamps_staleness" => track_timestamps_staleness,
        "params" => params,
        "scrape_interval" => scrape_interval,
        "scrape_timeout" => scrape_timeout,
        "scrape_protocols" => scrape_protocols,
        "fallback_scrape_protocol" => fallback_scrape_protocol,
        "scrape_native_histograms" => scrape_native_histograms,
        "always_scrape_classic_histograms" => always_scrape_classic_histograms,
        "convert_classic_histograms_to_nhcb" => convert_classic_histograms_to_nhcb,
        "scrape_failure_log_file" => scrape_failure_log_file,
        "metrics_path" => metrics_path,
        "scheme" => scheme,
        "enable_compression" => enable_compression,
        "body_size_limit" => body_size_limit,
        "sample_limit" => sample_limit,
        "target_limit" => target_limit,
        "label_limit" => label_limit,
        "label_name_length_limit" => label_name_length_limit,
        "label_value_length_limit" => label_value_length_limit,
        "native_histogram_bucket_limit" => native_histogram_bucket_limit,
        "native_histogram_min_bucket_factor" => native_histogram_min_bucket_factor,
        "keep_dropped_targets" => keep_dropped_targets,
        "metric_name_validation_scheme" => metric_name_validation_scheme,
        "metric_name_escaping_scheme" => metric_name_escaping_scheme,
        "extra_scrape_metrics" => extra_scrape_metrics,
        "relabel_configs" => raw_relabel_configs,
        "metric_relabel_configs" => raw_metric_relabel_configs,
    },
    inline { http_client: HttpClientConfig, service_discovery: ServiceDiscoveryConfigs }
);

/// Upstream's `CheckTargetAddress`: a URL is not a target.
pub(crate) fn check_static_targets(sd: &ServiceDiscoveryConfigs) -> Result<(), String> {
    for g in &sd.static_configs {
        for t in &g.targets {
            let addr = t.get_or_empty(hearth_discovery::ADDRESS_LABEL);
            if addr.contains('/') {
                return Err(format!("{addr:?} is not a valid hostname"));
            }
        }
    }
    Ok(())
}

impl ScrapeConfig {
    /// Upstream's `ScrapeConfig.UnmarshalYAML`: checks that need only this entry.
    fn after_deserialize(&mut self) -> Result<(), String> {
        if self.job_name.is_empty() {
            return Err("job_name is empty".into());
        }
        self.http_client.validate()?;
        if self.raw_relabel_configs.is_empty() {
            check_static_targets(&self.service_discovery)?;
        }
        self.relabel_configs = non_null_rules(
            std::mem::take(&mut self.raw_relabel_configs),
            "target relabeling rule in scrape config",
        )?;
        self.metric_relabel_configs = non_null_rules(
            std::mem::take(&mut self.raw_metric_relabel_configs),
            "metric relabeling rule in scrape config",
        )?;
        Ok(())
    }

    /// Upstream's `ScrapeConfig.Validate(global)`: fills the values inherited from
    /// `global` and checks what depends on them.
    pub fn validate(&mut self, global: &GlobalConfig) -> Result<(), String> {
        let job = self.job_name.clone();
        if self.scrape_interval.is_zero() {
            self.scrape_interval = global.scrape_interval;
        }
        if self.scrape_timeout > self.scrape_interval {
            return Err(format!(
                "scrape timeout greater than scrape interval for scrape config with job name {job:?}"
            ));
        }
        if self.scrape_timeout.is_zero() {
            self.scrape_timeout = global.scrape_timeout.min(self.scrape_interval);
        }
        if self.body_size_limit.is_zero() {
            self.body_size_limit = global.body_size_limit;
        }
        let inherit = |own: &mut u64, global: u64| {
            if *own == 0 {
                *own = global;
            }
        };
        inherit(&mut self.sample_limit, global.sample_limit);
        inherit(&mut self.target_limit, global.target_limit);
        inherit(&mut self.label_limit, global.label_limit);
        inherit(
            &mut self.label_name_length_limit,
            global.label_name_length_limit,
        );
        inherit(
            &mut self.label_value_length_limit,
            global.label_value_length_limit,
        );
        inherit(&mut self.keep_dropped_targets, global.keep_dropped_targets);
        if self.scrape_failure_log_file.is_empty() {
            self.scrape_failure_log_file = global.scrape_failure_log_file.clone();
        }
        if self.scrape_native_histograms.is_none() {
            self.scrape_native_histograms = global.scrape_native_histograms;
        }
        if self.extra_scrape_metrics.is_none() {
            self.extra_scrape_metrics = Some(global.extra_scrape_metrics);
        }
        if self.scrape_protocols.is_empty() {
            self.scrape_protocols = match &global.scrape_protocols {
                Some(p) => p.clone(),
                None if self.scrape_native_histograms == Some(true) => {
                    DEFAULT_PROTO_FIRST_SCRAPE_PROTOCOLS.to_vec()
                }
                None => DEFAULT_SCRAPE_PROTOCOLS.to_vec(),
            };
        }
        validate_scrape_protocols(&self.scrape_protocols)
            .map_err(|e| format!("{e} for scrape config with job name {job:?}"))?;

        let local_unset = self.metric_name_validation_scheme.is_empty();
        let scheme = if local_unset {
            self.metric_name_validation_scheme =
                global.metric_name_validation_scheme.as_str().into();
            global.metric_name_validation_scheme
        } else {
            ValidationSchemeSetting(self.metric_name_validation_scheme.clone())
                .scheme()
                .ok_or_else(|| {
                    format!(
                        "unknown scrape config name validation method specified, must be either '', 'legacy' or 'utf8', got {}",
                        self.metric_name_validation_scheme
                    )
                })?
        };
        let global_escaping = match global.metric_name_escaping_scheme.as_str() {
            "" if global.metric_name_validation_scheme == ValidationScheme::Legacy => "underscores",
            "" => "allow-utf-8",
            s if ESCAPING_SCHEMES.contains(&s) => s,
            s => {
                return Err(format!(
                    "unknown global name escaping method specified, must be one of 'allow-utf-8', 'underscores', 'dots', or 'values', got {s:?}"
                ));
            }
        };
        if self.metric_name_escaping_scheme.is_empty() {
            self.metric_name_escaping_scheme = if local_unset {
                global_escaping.into()
            } else if scheme == ValidationScheme::Legacy {
                "underscores".into()
            } else {
                "allow-utf-8".into()
            };
        }
        match self.metric_name_escaping_scheme.as_str() {
            "allow-utf-8" if scheme != ValidationScheme::Utf8 => {
                return Err(
                    "utf8 metric names requested but validation scheme is not set to UTF8".into(),
                );
            }
            s if ESCAPING_SCHEMES.contains(&s) => {}
            s => {
                return Err(format!(
                    "unknown scrape config name escaping method specified, must be one of 'allow-utf-8', 'underscores', 'dots', or 'values', got {s:?}"
                ));
            }
        }
        if self.convert_classic_histograms_to_nhcb.is_none() {
            self.convert_classic_histograms_to_nhcb =
                Some(global.convert_classic_histograms_to_nhcb);
        }
        if self.always_scrape_classic_histograms.is_none() {
            self.always_scrape_classic_histograms = Some(global.always_scrape_classic_histograms);
        }
        for rc in self
            .relabel_configs
            .iter_mut()
            .chain(self.metric_relabel_configs.iter_mut())
        {
            rc.name_validation_scheme = Some(scheme);
            rc.validate(scheme).map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    /// The name validation scheme in force (after [`ScrapeConfig::validate`]).
    pub fn validation_scheme(&self) -> ValidationScheme {
        ValidationSchemeSetting(self.metric_name_validation_scheme.clone())
            .scheme()
            .unwrap_or_default()
    }

    pub fn set_directory(&mut self, dir: &Path) {
        self.service_discovery.set_directory(dir);
        self.http_client.set_directory(dir);
        join_dir(dir, &mut self.scrape_failure_log_file);
    }
}

/// A file named by `scrape_config_files`.
#[derive(serde::Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct ScrapeConfigFile {
    pub scrape_configs: Vec<serde_saphyr::Spanned<Option<ScrapeConfig>>>,
}
