//! `storage` (TSDB out-of-order window and retention, exemplar buffer), `tracing` and
//! `otlp`.

use std::collections::BTreeMap;
use std::path::Path;

use crate::omitempty::{is_false, is_zero_f64};
use hearth_discovery::{ModelDuration, TlsConfig};
use hearth_model::ValidationScheme;
use serde::{Deserialize, Serialize};

use crate::global::ByteSize;

/// `storage`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tsdb: Option<TsdbConfig>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exemplars: Option<ExemplarsConfig>,
}

impl StorageConfig {
    pub fn is_empty(&self) -> bool {
        self.tsdb.is_none() && self.exemplars.is_none()
    }
}

/// `storage.tsdb`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct TsdbConfig {
    #[serde(skip_serializing_if = "ModelDuration::is_zero")]
    pub out_of_order_time_window: ModelDuration,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retention: Option<TsdbRetentionConfig>,
}

/// `storage.tsdb.retention`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct TsdbRetentionConfig {
    #[serde(skip_serializing_if = "ModelDuration::is_zero")]
    pub time: ModelDuration,
    #[serde(skip_serializing_if = "ByteSize::is_zero")]
    pub size: ByteSize,
}

/// `storage.exemplars`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ExemplarsConfig {
    /// Zero or less disables exemplar storage.
    pub max_exemplars: i64,
}

impl Default for ExemplarsConfig {
    fn default() -> Self {
        ExemplarsConfig {
            max_exemplars: 100_000,
        }
    }
}

/// `tracing`: where hearth would send its own traces.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct TracingConfig {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub client_type: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub endpoint: String,
    #[serde(skip_serializing_if = "is_zero_f64")]
    pub sampling_fraction: f64,
    #[serde(skip_serializing_if = "is_false")]
    pub insecure: bool,
    #[serde(skip_serializing_if = "TlsConfig::is_zero")]
    pub tls_config: TlsConfig,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub compression: String,
    #[serde(skip_serializing_if = "ModelDuration::is_zero")]
    pub timeout: ModelDuration,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTracingConfig {
    #[serde(default = "default_client_type")]
    client_type: String,
    #[serde(default)]
    endpoint: String,
    #[serde(default)]
    sampling_fraction: f64,
    #[serde(default)]
    insecure: bool,
    #[serde(default)]
    tls_config: TlsConfig,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    #[serde(default)]
    compression: String,
    #[serde(default)]
    timeout: ModelDuration,
}

fn default_client_type() -> String {
    "grpc".into()
}

impl<'de> Deserialize<'de> for TracingConfig {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let Some(r) = Option::<RawTracingConfig>::deserialize(d)? else {
            return Ok(TracingConfig::default());
        };
        if r.client_type != "http" && r.client_type != "grpc" {
            return Err(D::Error::custom(format!(
                "expected tracing client type to be to be http or grpc, but got {}",
                r.client_type
            )));
        }
        for name in r.headers.keys() {
            if name.eq_ignore_ascii_case("authorization") {
                return Err(D::Error::custom(
                    "custom authorization header configuration is not yet supported",
                ));
            }
        }
        crate::remote::validate_headers(
            &r.headers
                .iter()
                .filter(|(k, _)| !k.eq_ignore_ascii_case("authorization"))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        )
        .map_err(D::Error::custom)?;
        if r.endpoint.is_empty() {
            return Err(D::Error::custom("tracing endpoint must be set"));
        }
        if !r.compression.is_empty() && r.compression != "gzip" {
            return Err(D::Error::custom(format!(
                "invalid compression type {} provided, valid options: gzip",
                r.compression
            )));
        }
        Ok(TracingConfig {
            client_type: r.client_type,
            endpoint: r.endpoint,
            sampling_fraction: r.sampling_fraction,
            insecure: r.insecure,
            tls_config: r.tls_config,
            headers: r.headers,
            compression: r.compression,
            timeout: r.timeout,
        })
    }
}

impl TracingConfig {
    pub fn is_empty(&self) -> bool {
        *self == TracingConfig::default()
    }

    pub fn set_directory(&mut self, dir: &Path) {
        self.tls_config.set_directory(dir);
    }
}

/// `otlp`: how the OTLP receiver maps OpenTelemetry metrics.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct OtlpConfig {
    #[serde(skip_serializing_if = "is_false")]
    pub promote_all_resource_attributes: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub promote_resource_attributes: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ignore_resource_attributes: Vec<String>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub translation_strategy: String,
    #[serde(skip_serializing_if = "is_false")]
    pub keep_identifying_resource_attributes: bool,
    #[serde(skip_serializing_if = "is_false")]
    pub convert_histograms_to_nhcb: bool,
    #[serde(skip_serializing_if = "is_false")]
    pub promote_scope_metadata: bool,
    #[serde(skip_serializing_if = "is_false")]
    pub label_name_underscore_sanitization: bool,
    #[serde(skip_serializing_if = "is_false")]
    pub label_name_preserve_multiple_underscores: bool,
}

impl Default for OtlpConfig {
    fn default() -> Self {
        OtlpConfig {
            promote_all_resource_attributes: false,
            promote_resource_attributes: Vec::new(),
            ignore_resource_attributes: Vec::new(),
            translation_strategy: "UnderscoreEscapingWithSuffixes".into(),
            keep_identifying_resource_attributes: false,
            convert_histograms_to_nhcb: false,
            promote_scope_metadata: false,
            label_name_underscore_sanitization: true,
            label_name_preserve_multiple_underscores: true,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawOtlpConfig {
    promote_all_resource_attributes: bool,
    promote_resource_attributes: Vec<String>,
    ignore_resource_attributes: Vec<String>,
    translation_strategy: String,
    keep_identifying_resource_attributes: bool,
    convert_histograms_to_nhcb: bool,
    promote_scope_metadata: bool,
    label_name_underscore_sanitization: bool,
    label_name_preserve_multiple_underscores: bool,
}

impl Default for RawOtlpConfig {
    fn default() -> Self {
        let d = OtlpConfig::default();
        RawOtlpConfig {
            promote_all_resource_attributes: d.promote_all_resource_attributes,
            promote_resource_attributes: d.promote_resource_attributes,
            ignore_resource_attributes: d.ignore_resource_attributes,
            translation_strategy: d.translation_strategy,
            keep_identifying_resource_attributes: d.keep_identifying_resource_attributes,
            convert_histograms_to_nhcb: d.convert_histograms_to_nhcb,
            promote_scope_metadata: d.promote_scope_metadata,
            label_name_underscore_sanitization: d.label_name_underscore_sanitization,
            label_name_preserve_multiple_underscores: d.label_name_preserve_multiple_underscores,
        }
    }
}

/// Upstream's `sanitizeAttributes`: trimmed, non-empty, unique.
fn sanitize_attributes(attrs: &mut [String], adjective: &str) -> Result<(), String> {
    let mut errors = Vec::new();
    let mut seen: Vec<String> = Vec::new();
    for a in attrs.iter_mut() {
        let t = a.trim().to_string();
        if t.is_empty() {
            errors.push(format!("empty {adjective} OTel resource attribute"));
            continue;
        }
        if seen.contains(&t) {
            errors.push(format!(
                "duplicated {adjective} OTel resource attribute {t:?}"
            ));
            continue;
        }
        seen.push(t.clone());
        *a = t;
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join("\n"))
    }
}

impl<'de> Deserialize<'de> for OtlpConfig {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let mut r = Option::<RawOtlpConfig>::deserialize(d)?.unwrap_or_default();
        if r.promote_all_resource_attributes {
            if !r.promote_resource_attributes.is_empty() {
                return Err(D::Error::custom(
                    "'promote_all_resource_attributes' and 'promote_resource_attributes' cannot be configured simultaneously",
                ));
            }
            sanitize_attributes(&mut r.ignore_resource_attributes, "ignored").map_err(|e| {
                D::Error::custom(format!("invalid 'ignore_resource_attributes': {e}"))
            })?;
        } else {
            if !r.ignore_resource_attributes.is_empty() {
                return Err(D::Error::custom(
                    "'ignore_resource_attributes' cannot be configured unless 'promote_all_resource_attributes' is true",
                ));
            }
            sanitize_attributes(&mut r.promote_resource_attributes, "promoted").map_err(|e| {
                D::Error::custom(format!("invalid 'promote_resource_attributes': {e}"))
            })?;
        }
        Ok(OtlpConfig {
            promote_all_resource_attributes: r.promote_all_resource_attributes,
            promote_resource_attributes: r.promote_resource_attributes,
            ignore_resource_attributes: r.ignore_resource_attributes,
            translation_strategy: r.translation_strategy,
            keep_identifying_resource_attributes: r.keep_identifying_resource_attributes,
            convert_histograms_to_nhcb: r.convert_histograms_to_nhcb,
            promote_scope_metadata: r.promote_scope_metadata,
            label_name_underscore_sanitization: r.label_name_underscore_sanitization,
            label_name_preserve_multiple_underscores: r.label_name_preserve_multiple_underscores,
        })
    }
}

impl OtlpConfig {
    /// Upstream checks the translation strategy after loading, against `global`.
    pub fn validate(&self, scheme: ValidationScheme) -> Result<(), String> {
        match self.translation_strategy.as_str() {
            "" | "UnderscoreEscapingWithSuffixes" | "UnderscoreEscapingWithoutSuffixes" => Ok(()),
            "NoTranslation" | "NoUTF8EscapingWithSuffixes"
                if scheme == ValidationScheme::Legacy =>
            {
                Err(format!(
                    "OTLP translation strategy {:?} is not allowed when UTF8 is disabled",
                    self.translation_strategy
                ))
            }
            "NoTranslation" | "NoUTF8EscapingWithSuffixes" => Ok(()),
            other => Err(format!("unsupported OTLP translation strategy {other:?}")),
        }
    }
}
